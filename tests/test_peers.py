"""Optional cross-check against JAX's forward mode on the pure (no in-place
writes, no Python control flow on values) numpy cases of the corpus.

The corpus function is re-created with its numpy globals bound to
``jax.numpy`` and differentiated with ``jax.jvp``; fwdcompile must agree.
Skipped when JAX is not installed.
"""

import types

import numpy as np
import pytest

import harness
import oracle

fwdcompile = pytest.importorskip("fwdcompile")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = pytest.importorskip("jax.numpy")

PURE = [c for c in harness.CASES if c.module == "arrays" and c.complex_ok]


def _jaxify(fn):
    """fn with every global that is numpy (or a numpy function) swapped for JAX's."""
    scope = dict(fn.__globals__)
    for name, value in fn.__globals__.items():
        if value is np:
            scope[name] = jnp
        elif getattr(value, "__module__", None) == "numpy" or isinstance(value, np.ufunc):
            replacement = getattr(jnp, getattr(value, "__name__", ""), None)
            if replacement is not None:
                scope[name] = replacement
    return types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)


@pytest.mark.parametrize("case", PURE, ids=[c.name for c in PURE])
def test_agrees_with_jax_jvp(case):
    args = harness.make_args(case)
    active = harness.active_positions(case, args)
    tangents = harness.make_tangents(case, args, active)
    jfn = _jaxify(case.fn)

    def restricted(*act):
        full = list(args)
        for i, a in zip(active, act):
            full[i] = a
        return jfn(*full, **case.kwargs)

    try:
        _, jax_tangent = jax.jvp(restricted, tuple(jnp.asarray(args[i]) for i in active),
                                 tuple(jnp.asarray(t) for t in tangents))
    except Exception as exc:  # the peer cannot run this code (e.g. in-place writes)
        pytest.skip(f"JAX cannot trace {case.name}: {type(exc).__name__}")
    jax_tangent = jax.tree_util.tree_map(np.asarray, jax_tangent)
    if isinstance(jax_tangent, list):
        jax_tangent = tuple(jax_tangent)

    _, dval = harness.compiled(case).jvp(*harness.fresh(args), tangents=harness.fresh(tangents),
                                         **case.kwargs)
    ok, worst = oracle.close(dval, jax_tangent, rtol=1e-10)
    assert ok, f"fwdcompile and jax.jvp disagree: {worst}"
