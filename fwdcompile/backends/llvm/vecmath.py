"""Vectorized transcendental functions for native kernels, from glibc's libmvec.

Contract: :func:`tag` takes the IR text of a module (as lower.py prints it,
before parsing) and returns it with every scalar call of a math function
libmvec implements (``call double @"llvm.exp.f64"(double %x)``, the libm
``@"expm1"``, ...; :data:`FUNCTIONS`) marked with LLVM's
``"vector-function-abi-variant"`` call attribute, naming the vector versions
this host can run (``_ZGVeN8v_exp`` with AVX-512F, ``_ZGVdN4v_exp`` with
AVX2, ``_ZGVbN2v_exp`` with SSE), declared in the module and kept alive in
``@llvm.compiler.used`` until the loop vectorizer has seen them.  A loop
that computes such a call per element then vectorizes with calls of the
vector version (4 or 8 elements per call), instead of one libm call per
element that also keeps the loop around it scalar.  A call the vectorizer
does not widen (outside a loop, or a loop that does not vectorize) stays the
scalar libm call.  ``llvmlite.ir`` cannot express string call attributes, so
this is a text edit (see the notes on llvmlite, section 5 "Math functions").

When it applies (:func:`plan`): Linux on x86-64, with ``libmvec.so.1``
loadable (glibc; not musl, macOS or Windows) and holding the symbol of every
variant advertised (exp, log, sin, cos and pow since glibc 2.22; tanh, tan,
the inverse and hyperbolic functions, exp2, log2, log10, expm1, log1p, erf,
erfc, cbrt, atan2 and hypot since 2.35: each variant is looked up by name,
so an older glibc advertises only what it has), and ``FWDCOMPILE_VECMATH``
not ``0``/``false``/``no``/``off``.  Only variants of an instruction set the
host CPU has (LLVM's host features) are advertised: a vector call the CPU
cannot execute would be a SIGILL.  Otherwise :func:`tag` returns the text
unchanged and every call stays scalar libm.

Accuracy: glibc documents its vector functions at up to 4 ULP (the scalar
libm functions are within 1-2 ULP), special values (NaN, +-inf, -0.0,
overflow, underflow) as the scalar functions give them; tests/test_vecmath.py
measures every function against the scalar libm over wide ranges and
asserts the bound.  Results can therefore differ in the last bits from the
Python backend and from numpy (which has its own SIMD implementations).

The disk cache (disk_cache.py) keys kernels by the tagged text and by
:func:`describe`, so a kernel compiled with other variants (another CPU,
another glibc, the switch off) is never loaded.  float32 arrays are computed
in double precision (arrays.py widens every element), so only the double
variants are used.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import re
import sys

# IR callee -> (libmvec base name, number of arguments)
FUNCTIONS = {f"llvm.{name}.f64": (name, 1)
             for name in ("exp", "log", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
                          "cosh", "tanh", "exp2", "log2", "log10")}
FUNCTIONS.update({"llvm.pow.f64": ("pow", 2), "llvm.atan2.f64": ("atan2", 2)})
FUNCTIONS.update({name: (name, 1) for name in ("asinh", "acosh", "atanh", "expm1", "log1p",
                                                "erf", "erfc", "cbrt")})
FUNCTIONS["hypot"] = ("hypot", 2)

# (LLVM feature, VFABI ISA letter, doubles per vector), widest first
ISAS = (("+avx512f", "e", 8), ("+avx2", "d", 4), ("+sse2", "b", 2))

LIBRARY = "libmvec.so.1"
_ATTRIBUTE_BASE = 7000  # attribute group numbers (llvmlite prints none of its own)
_CALL = re.compile(r'(= call (?:[a-z]+ )*double @"?([\w.]+)"?\((double [^()]*)\))')


def enabled():
    """Whether ``FWDCOMPILE_VECMATH`` allows vector math (it does unless 0/false/no/off)."""
    return os.environ.get("FWDCOMPILE_VECMATH", "1").strip().lower() not in ("0", "false",
                                                                             "no", "off")


def glibc_version():
    """The C library's version (``"2.36"``) when it is glibc, else None."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    except (AttributeError, ValueError, OSError):
        return None
    return version if name == "glibc" else None


def variants(base, arity, isa, lanes):
    """The libmvec symbol of ``base`` for ISA letter ``isa`` (``_ZGVdN4vv_pow``)."""
    return f"_ZGV{isa}N{lanes}{'v' * arity}_{base}"


@functools.lru_cache(maxsize=None)
def _available(features):
    """``{callee: [(isa, lanes, symbol), ...]}`` this host can use, or {} (see the module doc)."""
    if not sys.platform.startswith("linux") \
            or platform.machine().lower() not in ("x86_64", "amd64") or glibc_version() is None:
        return {}
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError:
        return {}
    import llvmlite.binding as llvm
    try:
        if llvm.load_library_permanently(LIBRARY) is not None:  # pragma: no cover
            return {}
    except RuntimeError:
        return {}
    have = set(features.split(","))
    isas = [(isa, lanes) for feature, isa, lanes in ISAS if feature in have]
    found = {}
    for callee, (base, arity) in FUNCTIONS.items():
        usable = [(isa, lanes, variants(base, arity, isa, lanes)) for isa, lanes in isas]
        usable = [(isa, lanes, symbol) for isa, lanes, symbol in usable
                  if hasattr(lib, symbol) and llvm.address_of_symbol(symbol)]
        if usable:
            found[callee] = usable
    return found


def plan():
    """``{callee: [(isa, lanes, symbol), ...]}`` for this process: empty when
    vector math is off or not available here."""
    if not enabled():
        return {}
    from . import engine
    engine.init()
    return _available(engine.host_features())


def describe():
    """What decides the vector calls in machine code, as text (for the disk cache key)."""
    chosen = plan()
    if not chosen:
        return "vecmath off" if not enabled() else "vecmath unavailable"
    isas = sorted({isa for entries in chosen.values() for isa, _, _ in entries})
    return (f"vecmath glibc {glibc_version()} isa {''.join(isas)}; "
            + ",".join(sorted(chosen)))


def tag(text):
    """IR ``text`` with its vectorizable math calls tagged (see the module doc)."""
    chosen = plan()
    if not chosen or "llvm.compiler.used" in text:
        return text
    groups = {}

    def mark(match):
        callee = match.group(2)
        if callee not in chosen:
            return match.group(0)
        if callee not in groups:
            groups[callee] = _ATTRIBUTE_BASE + len(groups)
        return f"{match.group(1)} #{groups[callee]}"

    text = _CALL.sub(mark, text)
    if not groups:
        return text
    lines, used = [""], []
    for callee, number in groups.items():
        arity = FUNCTIONS[callee][1]
        mapping = []
        for _isa, lanes, symbol in chosen[callee]:
            vector = f"<{lanes} x double>"
            lines.append(f'declare {vector} @"{symbol}"({", ".join([vector] * arity)})')
            used.append(f'ptr @"{symbol}"')
            mapping.append(f"_ZGV_LLVM_N{lanes}{'v' * arity}_{callee}({symbol})")
        # memory(none): libm's errno is never read, and a call that may write
        # memory would keep the loop scalar
        lines.append(f'attributes #{number} = {{ nounwind willreturn memory(none) '
                     f'"vector-function-abi-variant"="{",".join(mapping)}" }}')
    lines.append(f'@"llvm.compiler.used" = appending global [{len(used)} x ptr] '
                 f'[{", ".join(used)}], section "llvm.metadata"')
    return text + "\n".join(lines) + "\n"
