"""A fast, reproducible sampler of random directions for forward gradients.

Contract: ``DirectionSampler(seed).normal(shape, step)`` returns standard
normal float64 numbers that depend only on ``(seed, step, offset, index)``:
a *counter-based* generator, so a direction can be regenerated instead of
stored (as MeZO does), and no state is carried between calls.
``rademacher`` returns +1.0/-1.0 from the same stream's bits, and
:func:`directions` draws one direction for several parameter arrays at once,
each from its own non-overlapping counter range.

How: each pair of numbers hashes two counters with SplitMix64's finalizer
(Steele, Lea and Flood 2014; the generator behind Java's SplittableRandom),
turns the two 53-bit results into uniforms u1 in (0, 1] and u2 in [0, 1), and
applies the Box-Muller transform r = sqrt(-2 log u1), (r cos 2πu2, r sin 2πu2).
``log``, ``sin`` and ``cos`` are fdlibm's polynomial kernels written out as
plain arithmetic, so LLVM vectorizes the whole loop (libm calls would not
vectorize).  The kernel is compiled once per process through llvmlite,
imported lazily; where that is impossible the same arithmetic runs in numpy
(same numbers to about 1e-15, about 30× slower), and :attr:`backend` says
which is in use.  Rademacher signs come from a second compiled loop that
writes 64 signs per hashed word, bit for bit what the numpy path gives.
Measured (``python benchmarks/bench_sampling.py``, Intel Xeon, 2 cores, two
threads): about 1 ns per normal against 10.5 ns for numpy's
``standard_normal``, and 0.3 ns per sign.  The loop is vectorized (512-bit
where the CPU has AVX-512) and interleaved four vectors deep, so that the
long dependency chains of the log and sin/cos polynomials overlap.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

Shape = tuple[int, ...]
Distribution = Literal["normal", "rademacher"]

__all__ = ["DirectionSampler", "directions"]

_GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_MASK = (1 << 64) - 1

# fdlibm constants (e_log.c, k_sin.c, k_cos.c)
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01)
_S = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
      2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_C = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
      -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
_SQRT2 = 1.4142135623730951
_HALF_PI = 1.5707963267948966


def _mix(z):
    z = (z ^ (z >> 30)) * _M1 & _MASK
    z = (z ^ (z >> 27)) * _M2 & _MASK
    return z ^ (z >> 31)


def _key(seed, step, offset):
    """A 64-bit stream key for (seed, step, offset); distinct inputs, distinct keys."""
    k = _mix((int(seed) * _GOLDEN + 0x632BE59BD9B4E019) & _MASK)
    k = _mix((k + int(step) * _GOLDEN + 0x8CB92BA72F3D8DD7) & _MASK)
    return _mix((k + int(offset) * _GOLDEN + 0x5851F42D4C957F2D) & _MASK)


# ---------------------------------------------------------------- numpy reference

def _normals_numpy(n, key):
    pairs = (n + 1) // 2
    with np.errstate(over="ignore"):
        c = np.arange(2 * pairs, dtype=np.uint64) * np.uint64(_GOLDEN) + np.uint64(key)
        z = c
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
        z = z ^ (z >> np.uint64(31))
    bits = z >> np.uint64(11)
    u1 = (bits[0::2].astype(np.float64) + 1.0) * 2.0 ** -53      # (0, 1]
    u2 = bits[1::2].astype(np.float64) * 2.0 ** -53              # [0, 1)
    r = np.sqrt(-2.0 * _log(u1))
    s, co = _sincos_turns(u2)
    out = np.empty(2 * pairs)
    out[0::2] = r * co
    out[1::2] = r * s
    return out[:n]


def _log(x):
    """fdlibm's log for x in (0, 1], as array arithmetic."""
    bits = x.view(np.uint64)
    e = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    m = ((bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000)).view(np.float64)
    big = m > _SQRT2
    m = np.where(big, 0.5 * m, m)
    k = (e + big).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    t2 = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    R = t2 + t1
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + R) + k * _LN2_LO)) - f)


def _sincos_turns(u):
    """(sin 2πu, cos 2πu) for u in [0, 1): quadrant from 4u, fdlibm kernels."""
    t = 4.0 * u
    q = np.floor(t + 0.5)
    x = (t - q) * _HALF_PI
    z = x * x
    sin_x = x + x * z * (_S[0] + z * (_S[1] + z * (_S[2] + z * (_S[3] + z * (_S[4] + z * _S[5])))))
    cos_x = 1.0 - 0.5 * z + z * z * (_C[0] + z * (_C[1] + z * (_C[2] + z * (_C[3] + z * (
        _C[4] + z * _C[5])))))
    qi = q.astype(np.int64) & 3
    sin = np.select([qi == 0, qi == 1, qi == 2], [sin_x, cos_x, -sin_x], -cos_x)
    cos = np.select([qi == 0, qi == 1, qi == 2], [cos_x, -sin_x, -cos_x], sin_x)
    return sin, cos


# ---------------------------------------------------------------- llvmlite kernel

_KERNEL = None
_LOCK = threading.Lock()
_PARALLEL_PAIRS = 1 << 16  # below this a second thread costs more than it saves
_INTERLEAVE = 4  # vectors in flight per loop iteration (measured: 2 and 8 are slower)


class _Kernels:
    """The compiled samplers: ``normals(out, start, stop, key)`` fills pairs
    ``start`` to ``stop``; ``signs(out, start, stop, key)`` fills 64 numbers
    per word from word ``start`` to ``stop``."""

    def __init__(self, normals, signs, engine):
        self.normals, self.signs, self.engine = normals, signs, engine  # engine: keep alive


def _build_signs(module, fnty, mix):
    """``void signs(double* out, i64 start, i64 stop, i64 key)``: +1.0 or -1.0
    from the bits of word w = mix(w * golden + key), in numpy's
    ``unpackbits`` order (bytes little-endian, bits most significant first)
    so that the numpy path gives the same numbers."""
    from llvmlite import ir

    from .backends.llvm.types import F64 as f64, I64 as i64

    fn = ir.Function(module, fnty, name="fwdcompile_signs")
    out, start, stop, key = fn.args
    out.add_attribute("noalias")
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", stop, start), loop, done)
    b.position_at_end(loop)
    w = b.phi(i64)
    w.add_incoming(start, entry)
    z = mix(b, b.add(b.mul(w, i64(_GOLDEN)), key))
    base = b.shl(w, i64(6))
    for k in range(64):
        bit = b.and_(b.lshr(z, i64((k >> 3 << 3) + 7 - (k & 7))), i64(1))
        value = b.fsub(ir.Constant(f64, 1.0), b.fmul(ir.Constant(f64, 2.0), b.uitofp(bit, f64)))
        b.store(value, b.gep(out, [b.add(base, i64(k))]))
    nxt = b.add(w, i64(1))
    w.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, stop), loop, done)
    b.position_at_end(done)
    b.ret_void()


def _build_kernel():
    """Compile the samplers (:class:`_Kernels`); None if impossible."""
    try:
        import ctypes

        from llvmlite import ir

        from .backends.llvm import engine
        from .backends.llvm.types import F64 as f64, F64P, I64 as i64, VOID
    except ImportError:
        return None
    module = ir.Module(name="fwdcompile_sampling")
    tm = engine.target_machine(3)
    engine.prepare(module, tm)
    fnty = ir.FunctionType(VOID, [F64P, i64, i64, i64])
    fn = ir.Function(module, fnty, name="fwdcompile_normals")
    out, start, pairs, key = fn.args
    out.add_attribute("noalias")
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    done = fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", pairs, start), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(start, entry)
    flags = ("contract",)
    sqrt = module.declare_intrinsic("llvm.sqrt", [f64])
    floor = module.declare_intrinsic("llvm.floor", [f64])

    def c(v):
        return ir.Constant(f64, v)

    def mix(z, b=b):
        z = b.mul(b.xor(z, b.lshr(z, i64(30))), i64(_M1))
        z = b.mul(b.xor(z, b.lshr(z, i64(27))), i64(_M2))
        return b.xor(z, b.lshr(z, i64(31)))

    def fmul(x, y):
        return b.fmul(x, y, flags=flags)

    def fadd(x, y):
        return b.fadd(x, y, flags=flags)

    def fsub(x, y):
        return b.fsub(x, y, flags=flags)

    def poly(z, coeffs):
        acc = c(coeffs[-1])
        for coef in reversed(coeffs[:-1]):
            acc = fadd(c(coef), fmul(z, acc))
        return acc

    two_i = b.shl(i, i64(1))
    h1 = mix(b.add(b.mul(two_i, i64(_GOLDEN)), key))
    h2 = mix(b.add(b.mul(b.add(two_i, i64(1)), i64(_GOLDEN)), key))
    scale = c(2.0 ** -53)
    u1 = fmul(fadd(b.uitofp(b.lshr(h1, i64(11)), f64), c(1.0)), scale)
    u2 = fmul(b.uitofp(b.lshr(h2, i64(11)), f64), scale)
    # log(u1), fdlibm e_log.c for u1 in (0, 1]
    bits = b.bitcast(u1, i64)
    e = b.sub(b.and_(b.lshr(bits, i64(52)), i64(0x7FF)), i64(1023))
    m = b.bitcast(b.or_(b.and_(bits, i64(0x000FFFFFFFFFFFFF)), i64(0x3FF0000000000000)), f64)
    big = b.fcmp_ordered(">", m, c(_SQRT2))
    m = b.select(big, fmul(m, c(0.5)), m)
    k = b.sitofp(b.add(e, b.zext(big, i64)), f64)
    f = fsub(m, c(1.0))
    s = b.fdiv(f, fadd(c(2.0), f))
    z = fmul(s, s)
    w = fmul(z, z)
    t1 = fmul(w, fadd(c(_LG[1]), fmul(w, fadd(c(_LG[3]), fmul(w, c(_LG[5]))))))
    t2 = fmul(z, fadd(c(_LG[0]), fmul(w, fadd(c(_LG[2]), fmul(w, fadd(c(_LG[4]),
                                                                      fmul(w, c(_LG[6]))))))))
    R = fadd(t2, t1)
    hfsq = fmul(c(0.5), fmul(f, f))
    inner = fsub(hfsq, fadd(fmul(s, fadd(hfsq, R)), fmul(k, c(_LN2_LO))))
    logu = fsub(fmul(k, c(_LN2_HI)), fsub(inner, f))
    r = b.call(sqrt, [fmul(c(-2.0), logu)])
    # sin and cos of 2π u2 (k_sin.c, k_cos.c after quadrant reduction)
    t = fmul(c(4.0), u2)
    q = b.call(floor, [fadd(t, c(0.5))])
    x = fmul(fsub(t, q), c(_HALF_PI))
    zz = fmul(x, x)
    sin_x = fadd(x, fmul(fmul(x, zz), poly(zz, _S)))
    cos_x = fadd(fsub(c(1.0), fmul(c(0.5), zz)), fmul(fmul(zz, zz), poly(zz, _C)))
    qi = b.and_(b.fptosi(q, i64), i64(3))
    neg_sin, neg_cos = b.fneg(sin_x), b.fneg(cos_x)
    is0, is1, is2 = (b.icmp_signed("==", qi, i64(v)) for v in (0, 1, 2))
    sin = b.select(is0, sin_x, b.select(is1, cos_x, b.select(is2, neg_sin, neg_cos)))
    cos = b.select(is0, cos_x, b.select(is1, neg_sin, b.select(is2, neg_cos, sin_x)))
    b.store(fmul(r, cos), b.gep(out, [two_i]))
    b.store(fmul(r, sin), b.gep(out, [b.add(two_i, i64(1))]))
    nxt = b.add(i, i64(1))
    i.add_incoming(nxt, loop)
    backedge = b.cbranch(b.icmp_signed("<", nxt, pairs), loop, done)
    backedge.set_metadata("fwdcompile.backedge", module.add_metadata([]))
    b.position_at_end(done)
    b.ret_void()
    _build_signs(module, fnty, lambda builder, z: mix(z, builder))

    text = str(module)
    if "avx512dq" in engine.host_features():
        # full-width vectors: native 64-bit multiplies for the hash (LLVM prefers
        # 256-bit vectors on this CPU family by default)
        text = text.replace('i64 %".3", i64 %".4")', 'i64 %".3", i64 %".4") #0', 1)
        text += '\nattributes #0 = { "prefer-vector-width"="512" "min-legal-vector-width"="512" }\n'
    # interleave the vectorized loop: the log and sin/cos polynomials are long
    # dependency chains, and independent vectors in flight hide their latency
    marker = re.search(r'!fwdcompile.backedge (!\d+)', text)
    if marker is not None:  # (without it the kernel is the same, only slower)
        text = text.replace(f"!fwdcompile.backedge {marker.group(1)}", "!llvm.loop !900")
        text += ('\n!900 = distinct !{!900, !901}\n'
                 f'!901 = !{{!"llvm.loop.interleave.count", i32 {_INTERLEAVE}}}\n')
    # an unresolved symbol raises (engine.UnresolvedSymbol): _kernel falls back to numpy
    # (through the disk cache: a later process loads the machine code)
    jitted = engine.build_cached(text, tm, 3, vectorize=True)[0]
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                             ctypes.c_int64)
    return _Kernels(proto(jitted.get_function_address("fwdcompile_normals")),
                    proto(jitted.get_function_address("fwdcompile_signs")), jitted)


def _kernel():
    global _KERNEL
    with _LOCK:
        if _KERNEL is None:
            try:
                _KERNEL = _build_kernel() or False
            except Exception:  # any failure to JIT: the numpy path gives the same numbers
                _KERNEL = False
        return _KERNEL or None


# ---------------------------------------------------------------- public API

class DirectionSampler:
    """Counter-based directions keyed by ``(seed, step, offset)``; see the module doc."""

    def __init__(self, seed: int = 0, use_llvm: bool = True) -> None:
        self.seed = int(seed)
        self.use_llvm = use_llvm
        self.step = 0  # the next step used by stream(): forward_grad draws advance it

    def stream(self, distribution: Distribution = "normal") -> Callable[[Shape, int], Any]:
        """``draw(shape, offset, out=None)`` for the next step (what
        ``forward_grad`` and ``minimize`` use)."""
        if distribution not in ("normal", "rademacher"):
            raise ValueError(f"distribution must be 'normal' or 'rademacher', got "
                             f"{distribution!r}")
        step = self.step
        self.step += 1
        method = self.normal if distribution == "normal" else self.rademacher

        def draw(shape, offset, out=None):
            if out is not None:
                return method(shape, step=step, offset=offset, out=out)
            v = method(shape, step=step, offset=offset)
            return float(v) if shape == () else v

        return draw

    @property
    def backend(self) -> str:
        return "llvm" if self.use_llvm and _kernel() is not None else "numpy"

    def normal(self, shape: Shape, step: int = 0, offset: int = 0,
               out: np.ndarray | None = None) -> np.ndarray:
        """Standard normal float64 numbers of ``shape`` for this step (written
        into ``out``, a C-contiguous float64 array of that shape, if given:
        reusing a buffer spares a large model the page faults of a new one)."""
        n = _size(shape)
        if out is not None:
            _check_out(out, shape)
            if self.use_llvm and _kernel() is not None and n % 2 == 0:
                _fill(_kernel().normals, out, n // 2, _key(self.seed, step, offset),
                      n // 2 >= _PARALLEL_PAIRS)
            else:
                out[...] = self.normal(shape, step, offset)
            return out
        key = _key(self.seed, step, offset)
        kernel = _kernel() if self.use_llvm else None
        if kernel is None:
            return _normals_numpy(n, key).reshape(shape)
        pairs = (n + 1) // 2
        out = np.empty(2 * pairs)
        _fill(kernel.normals, out, pairs, key, pairs >= _PARALLEL_PAIRS)
        return out[:n].reshape(shape)

    def rademacher(self, shape: Shape, step: int = 0, offset: int = 0,
                   out: np.ndarray | None = None) -> np.ndarray:
        """+1.0 or -1.0, one bit of the counter-based stream each (written into
        ``out``, a C-contiguous float64 array of that shape, if given)."""
        n = _size(shape)
        key = _key(self.seed, step, offset)
        kernel = _kernel() if self.use_llvm else None
        if out is not None:
            _check_out(out, shape)
            flat = out.reshape(-1)
            full = n // 64 if kernel is not None else 0  # whole words the kernel writes
            if kernel is not None and full:
                _fill(kernel.signs, flat, full, key, 64 * full >= 2 * _PARALLEL_PAIRS)
            if n > 64 * full:
                flat[64 * full:] = _signs_numpy(key, full, n - 64 * full)
            return out
        if kernel is None:
            return _signs_numpy(key, 0, n).reshape(shape)
        words = (n + 63) // 64
        out = np.empty(64 * words)
        _fill(kernel.signs, out, words, key, 64 * words >= 2 * _PARALLEL_PAIRS)
        return out[:n].reshape(shape)


_SIGNS = np.array([1.0, -1.0])


def rademacher(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Rademacher directions from a numpy Generator (not counter-based):
    entries +1.0 or -1.0 with equal probability, one random bit each: about
    4x faster than ``rng.integers(0, 2, shape) * 2 - 1`` and 6x faster than
    drawing normals (measured at 1.86 million entries)."""
    n = int(np.prod(shape, dtype=np.int64))
    bits = np.unpackbits(np.frombuffer(rng.bytes((n + 7) // 8), dtype=np.uint8), count=n)
    return _SIGNS[bits].reshape(shape)


def _signs_numpy(key, first_word, count):
    """``count`` signs from word ``first_word`` on, as the compiled kernel draws them."""
    words = (count + 63) // 64
    with np.errstate(over="ignore"):
        z = np.arange(first_word, first_word + words, dtype=np.uint64) * np.uint64(_GOLDEN) \
            + np.uint64(key)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
        z = z ^ (z >> np.uint64(31))
    bits = np.unpackbits(z.view(np.uint8), count=count)
    return np.array([1.0, -1.0])[bits]


def _size(shape):
    if isinstance(shape, tuple):
        return math.prod(shape)
    return int(np.prod(shape, dtype=np.int64))


def _check_out(out, shape):
    if not (isinstance(out, np.ndarray) and out.dtype == np.float64
            and out.flags.c_contiguous and out.shape == tuple(shape)):
        raise ValueError(f"out must be a C-contiguous float64 array of shape {tuple(shape)}")


def _fill(kernel, out, count, key, parallel):
    """Run ``kernel`` over items ``0..count`` of ``out``; with ``parallel``, half
    on a second thread (the ctypes call releases the GIL: both cores fill)."""
    signed_key = key - (1 << 64) if key >= 1 << 63 else key  # the same bits, as int64
    if not parallel:
        kernel(out.ctypes.data, 0, count, signed_key)
        return
    half = count // 2
    worker = threading.Thread(target=kernel, args=(out.ctypes.data, half, count, signed_key))
    worker.start()
    kernel(out.ctypes.data, 0, half, signed_key)
    worker.join()


def directions(seed: int, step: int, shapes: Sequence[Shape],
               distribution: Distribution = "normal",
               out: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """One direction over several parameter arrays: a tuple, one array per shape,
    each drawn from its own counter range (offset = its position), written
    into ``out`` (C-contiguous float64 arrays of those shapes) if given."""
    if distribution not in ("normal", "rademacher"):
        raise ValueError(f"distribution must be 'normal' or 'rademacher', got {distribution!r}")
    sampler = DirectionSampler(seed)
    draw = sampler.normal if distribution == "normal" else sampler.rademacher
    if out is not None:
        if len(out) != len(shapes):
            raise ValueError(f"out takes one array per shape: {len(shapes)}, got {len(out)}")
        return tuple(draw(shape, step, offset, out=o)
                     for offset, (shape, o) in enumerate(zip(shapes, out)))
    return tuple(draw(shape, step, offset) for offset, shape in enumerate(shapes))
