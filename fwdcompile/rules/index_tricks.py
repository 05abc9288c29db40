"""Subscripts of numpy's index-trick objects: ``np.r_[...]``, ``np.c_[...]``.

``np.r_[a, b]`` and ``np.c_[a, b]`` build an array from their pieces; both
are linear in the pieces, so the tangent is the same subscript applied to the
pieces' tangents (zeros for pieces that carry none).  Supported pieces are
arrays and scalars, and ranges such as ``0:3`` or ``0:1:5j`` (data).  A
directive string (``np.r_['-1', a, b]``, ``'r'``, ``'0,2'``) with a
differentiated piece is rejected where it is written, as is a differentiated
value in any subscript of another non-array object (``np.s_``, ``np.ogrid``,
``np.mgrid``, ``np.index_exp``): those never silently lose a derivative.
"""

from __future__ import annotations

import gast
import numpy as np

from ..errors import NoDerivativeRule, UnsupportedSyntax
from ..syntax import nodes, trees
from ..syntax.source import expr_source
from .registry import TangentOp, zero_like

_CONCATENATORS = {id(np.r_): "_np.r_", id(np.c_): "_np.c_"}


def compute(mixin, node):
    """The TangentOp of an active subscript of an index object (see module doc)."""
    obj = mixin.scope.resolve(node.value)
    spelled = _CONCATENATORS.get(id(obj))
    if spelled is None:
        raise mixin.error(NoDerivativeRule, f"`{expr_source(node.value)}[...]` has no derivative "
                          "rule, but a differentiated value is used inside it", node,
                          hint="build the array with np.concatenate / np.stack / "
                               "np.linspace instead")
    pieces = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
    atoms, tangents = [], []
    for piece in pieces:
        if isinstance(piece, gast.Constant) and isinstance(piece.value, str):
            raise mixin.error(UnsupportedSyntax, f"a directive string in "
                              f"`{expr_source(node.value)}[{piece.value!r}, ...]` is not supported "
                              "with differentiated values", piece,
                              hint="use np.concatenate(..., axis=) or np.stack(..., axis=)")
        if isinstance(piece, gast.Slice):  # a range: data, computed on its own
            atoms.append(mixin.static(nodes.subscript(trees.clone(node.value),
                                                      trees.clone(piece))))
            tangents.append(None)
            continue
        atom, tangent = mixin.emit_expr(piece)
        atoms.append(atom)
        tangents.append(tangent)
    primal = nodes.subscript(trees.clone(node.value),
                             nodes.tup(atoms) if len(atoms) > 1 else atoms[0])
    if all(t is None for t in tangents):
        return TangentOp(primal, None)
    # per direction in vector mode: pieces keep their ranks
    parts = [t if t is not None else zero_like(a) for a, t in zip(atoms, tangents)]
    return TangentOp(primal, nodes.subscript(nodes.dotted(spelled),
                                             nodes.tup(parts) if len(parts) > 1 else parts[0]),
                     "per_direction")
