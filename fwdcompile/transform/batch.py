"""Vector mode: tangents that carry K directions along a leading axis.

Contract: in a batched JVP every tangent has shape ``(K,) + primal.shape``
(``(K,)`` for a scalar), so one run of the primal serves K directions.  The
transform builds each tangent expression as for one direction and then calls
:func:`batch_expression`, which makes it correct for K at once:

* ``elementwise`` expressions (partials times tangents, sums of tangents,
  ``where``/``maximum``) are fine under numpy broadcasting once every tangent
  is *lifted* to the rank of the result: ``_rt.lift(d_a, z)`` inserts unit
  axes after the K axis, so a scalar's ``(K,)`` tangent broadcasts against an
  ``(n,)`` array as ``(K, 1)`` and never misaligns with a primal axis;
* ``matmul`` products become ``_rt.matmul_left``/``_rt.matmul_right``, which
  handle the K axis for every rank;
* ``contraction`` products take the K axis as one more index of the
  differentiated operand: ``_np.einsum('Kij,jk->Kik', d_a, b)`` for a
  constant subscripts string, else ``_rt.beinsum``, ``_rt.btensordot``,
  ``_rt.bdot``, ``_rt.binner``, ``_rt.bouter``;
* ``axis`` functions (softmax along an axis) use their rule's K-direction
  template, told the tangent's axis (``_rt.baxis``);
* everything else (linear algebra, most templates) is evaluated direction by
  direction: ``_np.stack([<expression> for d_x_k in d_x])``.

Which of these applies to a call is declared on its rule (``rule.batching``,
see ``rules/registry.py``); :mod:`.tangent_space` applies it.

Subscripts are written ``d_x[:, idx]`` by the transform itself where the
index is statically simple, else ``d_x[_rt.bindex(idx, _K)]`` (a tuple-valued
name, index arrays separated by a slice); C-order reshapes are
``_rt.breshape(d_x, value)``.  Constructs
whose tangent is a container (lists, dicts, tuple-valued variables) raise
:class:`BatchUnsupported`; the API then falls back to one JVP per direction.
"""

from __future__ import annotations

import gast

from ..rules.registry import add_terms, call_from_bound
from ..runtime.batched import einsum_batched_subscripts
from ..syntax import nodes, trees
from .predicates import Z
from .scalars import names_holding


def tangent_leaves(node, tangent_names):
    """Tangent variable names read by an expression, in first-use order."""
    seen = []
    for n in _ordered_names(node):
        if n in tangent_names and n not in seen:
            seen.append(n)
    return seen


def _ordered_names(node):
    out = []

    class _Visit(gast.NodeVisitor):
        def visit_Name(self, name):
            if isinstance(name.ctx, gast.Load):
                out.append(name.id)

    _Visit().visit(node)
    return out


def per_direction(expr, leaves):
    """``_np.stack([expr(d_a_k, d_b_k) for d_a_k, d_b_k in zip(d_a, d_b)])``."""
    names = {leaf: f"{leaf}_k" for leaf in leaves}
    body = trees.substitute(expr, {leaf: nodes.name(k) for leaf, k in names.items()})
    if len(leaves) == 1:
        target = nodes.name(names[leaves[0]], True)
        iterable = nodes.name(leaves[0])
    else:
        target = nodes.tup([nodes.name(names[leaf], True) for leaf in leaves], store=True)
        iterable = nodes.call("zip", [nodes.name(leaf) for leaf in leaves])
    comp = gast.comprehension(target=target, iter=iterable, ifs=[], is_async=0)
    return nodes.call("_np.stack", [gast.ListComp(elt=body, generators=[comp])])


def subscript(d_value, index, original=None, ints=frozenset()):
    """``d_x[idx]`` for K directions: ``d_x[:, idx]`` where that is right
    whatever the index holds at run time, else ``d_x[_rt.bindex(idx, _K)]``.

    ``index`` is the index as generated (cheap parts inline, the rest in
    temporaries), ``original`` the index as written, which tells what those
    temporaries hold; ``ints`` are the names known to hold integers.  A name
    may hold a tuple (``idx = np.triu_indices(3, 1)``: one entry per axis, not
    an index of the second axis), and index arrays separated by a slice
    (``x[0, :, rows]``) put their axes first, before the direction axis."""
    original = index if original is None else original
    if not _static_index(original, ints):
        return nodes.subscript(d_value, nodes.call("_rt.bindex", [_index_value(index),
                                                                 nodes.name("_K")]))
    whole = gast.Slice(lower=None, upper=None, step=None)
    elts = index.elts if isinstance(index, gast.Tuple) else [index]
    return nodes.subscript(d_value, nodes.tup([whole] + [trees.clone(e) for e in elts]))


def _index_value(index):
    """An index as an expression: ``0, :, rows`` -> ``(0, slice(None), rows)``."""
    if isinstance(index, gast.Tuple):
        return nodes.tup([_index_value(e) for e in index.elts])
    if isinstance(index, gast.Slice):
        parts = [nodes.const(None) if p is None else trees.clone(p)
                 for p in (index.lower, index.upper, index.step)]
        if index.step is None:  # slice(a) would be the stop: keep slice(a, None)
            parts.pop()
            if index.upper is None and index.lower is None:
                parts.pop()
        return nodes.call("slice", parts)
    return trees.clone(index)


_SEPARATOR, _INT, _ARRAY, _UNKNOWN = "separator", "int", "array", "unknown"


def _entry_kind(node, ints):
    """What one entry of an index is at run time, as far as the syntax tells."""
    if isinstance(node, gast.Slice):
        return _SEPARATOR
    if isinstance(node, gast.Constant):
        if node.value is None or node.value is Ellipsis:
            return _SEPARATOR
        return _INT if isinstance(node.value, int) and not isinstance(node.value, bool) \
            else _UNKNOWN
    if is_int(node, ints):
        return _INT
    if isinstance(node, (gast.List, gast.ListComp, gast.Compare, gast.Tuple)):
        return _ARRAY
    if isinstance(node, (gast.Call, gast.BinOp, gast.UnaryOp, gast.Attribute, gast.Subscript)):
        return _ARRAY  # an array or a tuple (an index array within an index tuple)
    return _UNKNOWN  # a name: anything, a slice or None included


def _static_index(index, ints):
    """Whether ``d[:, <entries of index>]`` indexes K tangents as ``index`` the value."""
    if not isinstance(index, gast.Tuple):
        if isinstance(index, gast.BinOp) and isinstance(index.op, _MASK_OPS):
            return True  # mask & mask
        return _entry_kind(index, ints) != _UNKNOWN \
            and not (isinstance(index, (gast.Call, gast.Attribute, gast.Subscript,
                                        gast.BinOp)) and not is_int(index, ints))
    kinds = [_entry_kind(e, ints) for e in index.elts]
    if any(isinstance(e, gast.Starred) for e in index.elts):
        return False
    if not any(k in (_ARRAY, _UNKNOWN) for k in kinds):
        return True  # basic indexing only
    # index arrays stay where they are when the entries that may be index
    # arrays or integers are adjacent, and no name among them may turn out a slice
    run = [i for i, k in enumerate(kinds) if k != _SEPARATOR]
    if run[-1] - run[0] + 1 != len(run):
        return False
    return all(kinds[i] != _UNKNOWN for i in run[1:-1])


_MASK_OPS = (gast.BitAnd, gast.BitOr, gast.BitXor)
_INT_CALLS = {"len", "int", "round"}
_INT_OPS = (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)


def is_int(node, ints):
    """Whether ``node`` certainly evaluates to an integer."""
    if isinstance(node, gast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, gast.Name):
        return node.id in ints
    if isinstance(node, gast.BinOp):
        return isinstance(node.op, _INT_OPS) and is_int(node.left, ints) \
            and is_int(node.right, ints)
    if isinstance(node, gast.UnaryOp):
        return isinstance(node.op, (gast.USub, gast.UAdd)) and is_int(node.operand, ints)
    if isinstance(node, gast.Call):
        return isinstance(node.func, gast.Name) and node.func.id in _INT_CALLS \
            and len(node.args) == 1 and not node.keywords
    if isinstance(node, gast.Attribute):
        return node.attr in ("ndim", "size")
    if isinstance(node, gast.Subscript):  # x.shape[0]
        return isinstance(node.value, gast.Attribute) and node.value.attr == "shape" \
            and is_int(node.slice, ints)
    return False


def int_names(fdef):
    """Local names that hold integers wherever they are bound: loop counters
    over ``range``, ``enumerate`` counters, ``n = len(x)``, ``i += 1``."""
    params = [a.id for a in fdef.args.args + fdef.args.kwonlyargs + fdef.args.posonlyargs]
    params += [a.id for a in (fdef.args.vararg, fdef.args.kwarg) if a is not None]
    return names_holding(fdef, params, is_int)


def matmul_terms(left, right, d_left, d_right):
    """Tangent of ``left @ right`` with K directions on the tangents."""
    terms = []
    if d_left is not None:
        terms.append(nodes.call("_rt.matmul_left", [d_left, trees.clone(right)]))
    if d_right is not None:
        terms.append(nodes.call("_rt.matmul_right", [trees.clone(left), d_right]))
    total = terms[0]
    for term in terms[1:]:
        total = nodes.binop(total, gast.Add(), term)
    return total


def batched_reduction(rule, batching, bound, d_bound):
    """A direct K-direction tangent for a rule declared ``batching="reduction"``
    (``_rt.breduce`` of the rule's own function), ``"extremum"`` (max/min) or
    ``"reshape"`` (C order), with no loop over directions; None to use the
    general path (other arguments, or a list of tangents)."""
    if batching == "reshape":
        d = d_bound.get("a")
        order = bound.get("order")
        if d is None or isinstance(d, (list, tuple)) or (
                order is not None and not (isinstance(order, gast.Constant)
                                           and order.value == "C")):
            return None
        return nodes.call("_rt.breshape", [d, nodes.name(Z)])
    extra = set(k for k in bound if isinstance(k, str) and not k.startswith("__")) \
        - {"a", "axis", "keepdims"}
    d = d_bound.get("a")
    if d is None or isinstance(d, (list, tuple)) or extra:
        return None
    keywords = [(k, trees.clone(bound[k])) for k in ("axis", "keepdims") if k in bound]
    if batching == "reduction":
        return nodes.call("_rt.breduce", [nodes.dotted(rule.qualname), d], keywords)
    return nodes.call("_rt.bmax_jvp", [trees.clone(bound["a"]), nodes.name(Z), d], keywords)


def batched_contraction(rule, bound, d_bound):
    """The K-direction tangent of a rule declared ``batching="contraction"``:
    one term per differentiated operand, each a single call with the
    direction axis as one more index of that operand; None to evaluate
    direction by direction (``out=``, operands written as list literals)."""
    if "out" in bound:
        return None
    if rule.qualname == "_np.einsum":
        return _einsum_terms(rule, bound, d_bound.get("operands"))
    helper = _PRODUCTS.get(rule.qualname)
    first, second = list(rule.sig.parameters)[:2]
    terms = []
    for i, p in enumerate((first, second)):
        d = d_bound.get(p)
        if d is None:
            continue
        if isinstance(d, (list, tuple)) or helper is None:
            return None
        args = [trees.clone(bound[first]), trees.clone(bound[second])]
        args[i] = d
        if rule.qualname == "_np.tensordot":
            args.append(trees.clone(bound["axes"]) if "axes" in bound else nodes.const(2))
        terms.append(nodes.call(helper, args + [nodes.const(i)]))
    return add_terms(terms)


_PRODUCTS = {"_np.tensordot": "_rt.btensordot", "_np.dot": "_rt.bdot",
             "_np.inner": "_rt.binner", "_np.outer": "_rt.bouter"}


def _einsum_terms(rule, bound, ds):
    """``einsum``: a constant subscripts string is rewritten here (the operand's
    subscripts and the output get the direction label), anything else goes
    through ``_rt.beinsum``, which does the same at run time.  A product of
    several operands is evaluated with ``optimize=True`` unless the call says
    otherwise (the same sums, in the order of numpy's contraction path)."""
    operands = bound.get("operands")
    if not operands or ds is None or any(isinstance(d, (list, tuple)) for d in ds) \
            or any(isinstance(o, gast.Starred) for o in operands):
        return None
    spelled = operands[0]
    constant = isinstance(spelled, gast.Constant) and isinstance(spelled.value, str)
    terms = []
    for i, d in enumerate(ds):
        if d is None:
            continue
        new = dict(bound)
        if "optimize" not in bound and len(operands) > 2:
            # a product over K directions: numpy's contraction path (BLAS via
            # tensordot) instead of its one C loop, which is slower than K calls
            new["optimize"] = nodes.const(True)
        ops = [trees.clone(o) for o in operands]
        ops[i] = d
        if constant:
            spec = einsum_batched_subscripts(spelled.value, i - 1)
            if spec is None:
                return None
            new["operands"] = tuple([nodes.const(spec)] + ops[1:])
            terms.append(call_from_bound(rule.qualname, rule.sig, new))
        else:
            new["operands"] = tuple([nodes.const(i)] + ops)
            terms.append(call_from_bound("_rt.beinsum", rule.sig, new))
    return add_terms(terms)


def batched_axis(rule, bound, d_bound):
    """The K-direction tangent of a rule declared ``batching="axis"``: its
    ``batched=`` template, or for a linear function along one axis (cumsum,
    diff) the same call on the tangent along the tangent's axis (a literal
    axis shifted here, else ``_rt.balong``); None to evaluate direction by
    direction (``out=``)."""
    if getattr(rule, "batched", None) is not None:
        return rule.jvp(bound, d_bound, nodes.name(Z), batched=True)
    first = next(iter(rule.sig.parameters))
    d = d_bound.get(first)
    if d is None or "out" in bound or any(d_bound.get(p) is not None for p in rule.linear
                                          if p != first):
        return None
    axis = bound.get("axis", nodes.const(rule.sig.parameters["axis"].default))
    options = [(k, trees.clone(v)) for k, v in bound.items()
               if isinstance(k, str) and not k.startswith("__") and k not in (first, "axis")]
    literal = trees.constant_value(axis, (int,))
    if literal is None:
        return nodes.call("_rt.balong", [nodes.dotted(rule.qualname), d, trees.clone(axis)],
                          options)
    return nodes.call(rule.qualname, [d], options + [("axis", nodes.const(
        literal + 1 if literal >= 0 else literal))])
