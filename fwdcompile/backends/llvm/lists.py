"""Python lists of floats in the native backend, built with ``append``.

Contract: :class:`ListLowering` (mixed into the lowering) lowers the lists
that code (and the Python backend's tangent code) builds in a loop:
``vals = []``, ``vals.append(x)`` with ``x`` a float (a Python float or a
numpy float64: a list of float32 or int items makes another array), then
``len(vals)``, ``vals[i]`` and ``vals[i] = x`` (bounds-checked), ``sum``,
``min``, ``max``, ``np.array(vals)`` (a new float64 array), numpy
reductions, and ``for v in vals``.  A list is a float64 vector
(types.ArrayType ``listed``) whose block grows by doubling
(``fwdcompile_realloc``, memory.py); its capacity is a hidden variable
``<name>.capacity`` (no user name has a dot).  Whatever a list does that
an array does differently is refused (and runs in numpy): arithmetic
(``vals * 2`` repeats a list), slices (copies), a second name for the same
list (``w = vals``, a list in a tuple, passed to a helper or returned:
appending through one name is seen through the
other, and a grown block moves), appending inside a loop over the list.
"""

from __future__ import annotations

import gast
from llvmlite import ir

from .arrays import Arr
from .errors import LoweringError
from .types import F64P, I64, I64P, I8P

_FIRST = 8  # elements room is made for at first


class ListLowering:
    """Lists of floats; see the module docstring."""

    def new_list(self, name):
        """``name = []``."""
        block = self.allocate((ir.Constant(I64, _FIRST),))
        self.store_array(name, Arr(block.owner, block.data, (ir.Constant(I64, 0),),
                                   block.strides))
        self.store(self.capacity(name), ir.Constant(I64, _FIRST))

    def capacity(self, name):
        hidden = f"{name}.capacity"
        self.types[hidden] = int
        self.local_names.add(hidden)
        return hidden

    def is_append(self, node):
        """Whether ``node`` is ``vals.append(x)`` on a list variable."""
        return isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) \
            and node.func.attr == "append" and isinstance(node.func.value, gast.Name) \
            and getattr(self.types.get(node.func.value.id), "listed", False)

    def append(self, call):
        """``vals.append(x)``: the block doubles when it is full."""
        name = call.func.value.id
        if len(call.args) != 1 or call.keywords:
            raise LoweringError("list.append takes one value", call)
        item = call.args[0]
        if self.expr_type(item) is not float or self.number_dtype(item) not in (None,
                                                                               "float64"):
            raise LoweringError("a list lowers with float items only (np.array of other "
                                "items makes another dtype)", call)
        x = self.expr(item)  # before the block may move: it may read the list
        b = self.builder
        owner, data, shape, _ = self.array_slots(name, self.types[name])
        room = self.slot(self.capacity(name))
        n = b.load(shape[0])
        with b.if_then(b.icmp_signed("==", n, b.load(room)), likely=False):
            grown = b.mul(b.load(room), ir.Constant(I64, 2))
            nbytes = b.mul(b.add(grown, ir.Constant(I64, 1)), ir.Constant(I64, 8))
            block = b.bitcast(b.call(self.libc("fwdcompile_realloc", I8P, [I8P, I64]),
                                     [b.bitcast(b.load(owner), I8P), nbytes]), I64P)
            b.store(block, owner)  # the count in its first word moves with it
            b.store(b.bitcast(b.gep(block, [ir.Constant(I64, 1)]), F64P), data)
            b.store(grown, room)
        self.store_element(x, b.gep(b.load(data), [n]))
        b.store(b.add(n, ir.Constant(I64, 1)), shape[0])

    def appends_to(self, stmts, name):
        """Whether ``stmts`` append to the list ``name``."""
        return any(self.is_append(n) and n.func.value.id == name
                   for s in stmts for n in gast.walk(s))
