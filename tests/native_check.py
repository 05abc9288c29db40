"""A shared check for functions that must run natively (test_llvm_gathers.py,
test_llvm_masks.py, test_llvm_mixed_dtypes.py): for every non-empty subset
of the differentiated parameters as ``wrt``, the native backend runs the
statements asked for natively, gives the Python backend's value and
tangent (and their dtypes), in single-direction and in vector mode, and the
tangent matches finite differences (tests/oracle.py, independent of both
backends)."""

import itertools

import numpy as np

import oracle
from fwdcompile import forward_gradient

RNG = np.random.default_rng(11)


def subsets(names):
    return [s for r in range(1, len(names) + 1) for s in itertools.combinations(names, r)]


def placement_native(f, lines):
    """Whether the generated lines containing each of ``lines`` run natively
    (every statement, when ``lines`` is None)."""
    placement = f.llvm_placement
    if "runs in one native kernel" in placement:
        return True
    if lines is None:
        return False
    marks = [row for row in placement.splitlines() if "|" in row]
    return all(any(text in row and row.rsplit("|", 1)[1].strip().startswith("native")
                   for row in marks) for text in lines)


def assert_same(got, want, rtol):
    """Equal within ``rtol``, leaf by leaf, with the same types and dtypes."""
    got_leaves, want_leaves = oracle.leaves(got), oracle.leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert np.asarray(g).dtype == np.asarray(w).dtype, (type(g), type(w))
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


def check(fn, args, params, lines=None, rtol=1e-11, fd_rtol=1e-6, k=3):
    """Check ``fn`` at ``args`` for every subset of ``params`` (see the module doc)."""
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    for wrt in subsets(params):
        positions = [names.index(n) for n in wrt]
        tangents = tuple(float(RNG.normal()) if isinstance(args[i], float)  # as users pass
                         else RNG.normal(size=np.shape(args[i])).astype(args[i].dtype)
                         for i in positions)
        native = forward_gradient(fn, wrt=wrt, backend="llvm")
        python = forward_gradient(fn, wrt=wrt)
        want = python.jvp(*args, tangents=tangents)
        for _ in range(2):  # the first call may settle a partition; the second runs it
            got = native.jvp(*args, tangents=tangents)
            assert_same(got, want, rtol)
        assert placement_native(native, lines), native.llvm_placement
        fd, _ = oracle.jvp_reference(fn, args, positions, tangents)
        for g, d in zip(oracle.leaves(got[1]), oracle.leaves(fd)):
            np.testing.assert_allclose(g, d, rtol=fd_rtol, atol=fd_rtol)
        stacked = tuple(RNG.normal(size=(k,) + np.shape(args[i])).astype(
            np.asarray(args[i]).dtype) for i in positions)
        value, batched = native.jvp(*args, tangents=stacked, batched=True)
        assert_same(value, want[0], rtol)
        for j in range(k):
            one = native.jvp(*args, tangents=tuple(s[j] for s in stacked))[1]
            for b, o in zip(oracle.leaves(batched), oracle.leaves(one)):
                np.testing.assert_allclose(np.asarray(b)[j], o, rtol=max(rtol, 1e-9),
                                           atol=max(rtol, 1e-9) * 1e-2)
