"""The types of the native backend, defined once.

Contract: the LLVM types every module of the backend (and sampling.py's
kernels) emits: ``F64`` (double), ``I64``, ``I32``, ``I8``, ``I1`` and
``VOID``, the pointers ``F64P`` (``double*``), ``I64P`` and ``I8P`` (a
``PyObject*`` or any untyped address; llvmlite still models typed pointers),
and :class:`ArrayType`, the Python-side type of an array variable that the
lowering's type inference assigns (float64, float32, int64 or bool, 1 to
``MAX_RANK`` dimensions, or a list of floats), and :func:`data_pointer`, the
LLVM type of an array's data pointer.
Scalars are the Python types ``float``, ``int`` and ``bool``; :func:`ll`
gives their LLVM type.  :func:`kind_slots` is the out-buffer layout of
returned values, shared by the lowering (lower.py, arrays.py) and the reader
(jit.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

F64, I64, I32, I8, I1 = ir.DoubleType(), ir.IntType(64), ir.IntType(32), ir.IntType(8), \
    ir.IntType(1)
VOID = ir.VoidType()
F32 = ir.FloatType()
F64P, I64P, I8P, F32P = F64.as_pointer(), I64.as_pointer(), I8.as_pointer(), F32.as_pointer()

_SCALARS = {float: F64, int: I64, bool: I1}

MAX_RANK = 4  # arrays of 1 to 4 dimensions (CNN activations: batch, channels, h, w)


def kind_slots(kind):
    """How many 8-byte slots of a kernel's out buffer a returned leaf of
    ``kind`` takes: one for a number ("int", "float", "float32", "float64"),
    and for an array ("array<n>", "array<n>f32") ``2 + 2 n``: its memory block, data
    pointer, ``n`` dimensions and ``n`` strides in elements.  The count
    depends on the rank only, so a reader knowing the kinds (jit.Kernel, a
    caller of a helper) finds every field without padding."""
    return 2 + 2 * kind_rank(kind) if kind.startswith("array") else 1


def kind_rank(kind):
    """The rank of an "array<n>[f32]" kind."""
    return int(kind[5])


def ll(t):
    """The LLVM type of the scalar type ``t`` (``float``, ``int`` or ``bool``)."""
    return _SCALARS[t]


@dataclass(frozen=True)
class ArrayType:
    """The type of an array variable of ``ndim`` dimensions: float64, float32
    (``single``: stored in single precision, computed in double, see
    arrays.py), int64 (``integer``: index arrays, read element by element or
    used to gather) or bool (``boolean``: masks, one byte per element).
    ``listed``: a Python list of floats built with ``append`` (lists.py),
    stored as a float64 vector that grows."""
    ndim: int
    integer: bool = False
    single: bool = False
    boolean: bool = False
    listed: bool = False

    @property
    def dtype(self):
        return "int64" if self.integer else "float32" if self.single else \
            "bool" if self.boolean else "float64"

    @property
    def floating(self):
        return not (self.integer or self.boolean)

    def with_ndim(self, ndim):
        """The same dtype with ``ndim`` dimensions."""
        return ArrayType(ndim, self.integer, self.single, self.boolean)

    def __repr__(self):
        return "list[float]" if self.listed else f"{self.dtype}[{', '.join(':' * self.ndim)}]"


def data_pointer(t):
    """The LLVM type of the data pointer of an array of type ``t`` (an int64
    array's is double*, reinterpreted where it is read)."""
    return F32P if t.single else I8P if t.boolean else F64P
