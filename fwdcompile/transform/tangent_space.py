"""Tangent spaces: what a tangent is, for one direction or for K at once.

Contract: the transform (``jvp.py``, ``assign.py``, ``expressions.py``) builds
every tangent through ``self.space``, a :class:`OneDirection` or a
:class:`KDirections`, and never asks which one it has.  A space answers:

===================  ==========================================  ==============================
operation            one direction                               K directions (leading axis)
===================  ==========================================  ==============================
``prologue``         nothing                                     ``_K = _rt.batch_size(d_x, ...)``
``zero``             ``_rt.zeros_like(x)`` / ``0.0``             ``_rt.bzeros(_K, x)``
``unsupported``      nothing                                     raise :class:`BatchUnsupported`
``read``             ``d_x[i]``                                  ``d_x[:, i]`` / ``_rt.bindex``
``store_target``     ``d_x[i] = ...``                            ``d_x[:, i] = ...``
``store``            the tangent                                 ``_rt.lift(d, x[i])``
``rule_tangent``     the rule's expression                       by ``rule.batching``
``attribute``        ``d_x.T``                                   ``_rt.btranspose(d_x)``
``method``           (the transform's own)                       ``_rt.breduce``, ``_rt.breshape``
``batch``            ``_rt.broadcast`` where data may widen it   lift, per direction, ``_rt.fit``
``finish``           a private copy where needed                 likewise
``aug_assign``       ``d_x += d_e`` in place                     ``_rt.inplace_batched_*``
``split``            the tangent                                 ``_rt.bsplit`` (first value axis)
``ufunc_at``         ``_np.add.at(d_x, i, d_e)``                 ``_rt.ufunc_at_batched``
``joint_call``       ``rule(primals, tangents, **kw)``           ``_rt.custom_batched``
===================  ==========================================  ==============================

``compute`` returns a :class:`TangentOp`: the primal, the tangent built for
one direction, and how that tangent batches (``"elementwise"``: correct under
broadcasting once each tangent is lifted to the result's rank; ``"exact"``:
already right for the space; ``"per_direction"``: evaluated direction by
direction).  :meth:`TangentSpace.batch` turns it into the space's tangent.

K directions, readable: a tangent is lifted (``_rt.lift``) only where it is
combined with another array operand, and fitted to the value's shape
(``_rt.fit``) only where a data operand may widen the result, where it is a
bare name or a selection, or where it is computed direction by direction;
matrix products, reductions and reshapes are exact already.
"""

from __future__ import annotations

import gast

from ..errors import BatchUnsupported
from ..rules.registry import KEYWORDS, TangentOp, zero_like
from ..syntax import nodes, trees
from . import batch
from .predicates import Z
from .simplify import fold


class TangentSpace:
    """The operations the transform needs from a tangent space (see module doc)."""

    batched = False
    finish_reads_result = False  # finish() may read the result: assign it first
    stores_through_temps = False  # a value stored into a slice goes via a named tangent
    named_intermediates = False  # every intermediate tangent keeps its own statement

    def __init__(self, host):
        self.host = host  # the Transformer: namer, holds_scalar, may_broadcast, emit

    def zero_of(self, value, like):
        """The zero tangent of ``like`` when it is assigned ``value``."""
        return self.zero(like)


class OneDirection(TangentSpace):
    """A tangent has its value's shape."""

    def prologue(self, tangent_params):
        return []

    def zero(self, atom):
        return zero_like(atom)

    def zero_of(self, value, like):
        return nodes.const(0.0) if trees.is_number(value) else self.zero(like)

    def unsupported(self, what):
        pass

    def read(self, d_value, index, original):
        return nodes.subscript(d_value, trees.clone(index))

    def store_target(self, base, index, original):
        return nodes.subscript(base, index, store=True)

    def store(self, tangent, value):
        return tangent

    def attribute(self, d_value, attr):
        return TangentOp(None, nodes.attr(d_value, attr), "exact")

    def method(self, rule, d_receiver, args, keywords):
        return None

    def rule_tangent(self, rule, bound, d_bound):
        return TangentOp(None, rule.jvp(bound, d_bound, nodes.name(Z)), "elementwise")

    def batch(self, op):
        if self.host.may_broadcast(op.primal, op.tangent):
            op.tangent = nodes.call("_rt.broadcast", [op.tangent, nodes.name(Z)])
        return op

    def core(self, tangent):
        """The tangent inside the space's shape wrapper, if any."""
        if isinstance(tangent, gast.Call) and trees.alias_call(tangent, "_rt", ("broadcast",)):
            return tangent.args[0]
        return tangent

    def finish(self, tangent, z, private):
        if not private:
            return tangent
        if isinstance(tangent, gast.Call) and trees.alias_call(tangent, "_rt", ("broadcast",)):
            tangent.args.append(nodes.const(True))
            return tangent
        return nodes.call("_rt.copy", [tangent])

    def aug_assign(self, target, op, atom, d_val):
        inplace_aug_assign(self.host, target, op, atom, d_val)

    def increment_of(self, d_val, load):
        return d_val

    def split(self, tangent):
        return tangent

    def ufunc_at(self, spelled, d_target, index, d_value):
        return nodes.call(spelled + ".at", [d_target, trees.clone(index), d_value])

    def joint_call(self, ident, args, tangents, keywords=()):
        return nodes.call(ident, [nodes.tup(args), nodes.tup(tangents)], list(keywords))


class KDirections(TangentSpace):
    """A tangent carries K directions on a leading axis: ``(K,) + shape``."""

    batched = True
    finish_reads_result = True
    stores_through_temps = True
    named_intermediates = True  # one runtime helper per statement, not nested calls

    def __init__(self, host):
        super().__init__(host)
        self._int_names = None

    @property
    def int_names(self):
        """Names that hold integers wherever they are bound (for indexing)."""
        if self._int_names is None:
            self._int_names = batch.int_names(self.host.parsed.node)
        return self._int_names

    def prologue(self, tangent_params):
        return [nodes.assign(nodes.name("_K", True), nodes.call(
            "_rt.batch_size", [nodes.name(p) for p in tangent_params]))]

    def zero(self, atom):
        return nodes.call("_rt.bzeros", [nodes.name("_K"), trees.clone(atom)])

    def unsupported(self, what):
        raise BatchUnsupported(what)

    def read(self, d_value, index, original):
        # a selection may be a scalar, whose tangent must not stay a view
        return nodes.call("_rt.fit", [batch.subscript(d_value, index, original, self.int_names),
                                      nodes.name(Z)])

    def store_target(self, base, index, original):
        if isinstance(index, gast.Constant) and isinstance(index.value, str):
            self.unsupported("dicts of tangents")  # d["a"] = x: no K axis to index
        return trees.as_store(batch.subscript(base, index, original, self.int_names))

    def store(self, tangent, value):
        """K tangents stored into a slice get the slice's rank (numpy's store
        broadcasts the rest)."""
        if isinstance(tangent, gast.Call) and trees.alias_call(tangent, "_rt", ("fit",)) \
                and len(tangent.args) == 2:
            tangent = tangent.args[0]
        return nodes.call("_rt.lift", [tangent, trees.clone(value)])

    def attribute(self, d_value, attr):
        if attr == "T":
            return TangentOp(None, nodes.call("_rt.btranspose", [d_value]), "exact")
        if attr == "mT":
            return TangentOp(None, nodes.attr(d_value, attr), "per_direction")
        return TangentOp(None, _fitted(nodes.attr(d_value, attr)), "exact")

    def method(self, rule, d_receiver, args, keywords):
        """A LINEAR method in one call for K, as its declaration's ``batching``
        says (rules/methods.py): ``x.sum()``/``x.mean()``, C-order reshapes."""
        batching = rule.batching if rule is not None else None
        if batching == "reduction" and not args and set(keywords) <= {"axis", "keepdims"}:
            return TangentOp(None, nodes.call(
                "_rt.breduce", [nodes.dotted(f"_np.{rule.name}"), d_receiver],
                list(trees.clone(keywords).items())), "exact")
        if (batching == "reshape" and args or batching == "ravel" and not args) \
                and not keywords:  # not x.ravel("F")
            return TangentOp(None, nodes.call(
                "_rt.breshape", [d_receiver, nodes.name(Z)]
                + ([] if rule.view_of_first_arg else [nodes.const(True)])), "exact")
        return None

    def rule_tangent(self, rule, bound, d_bound):
        """The K-direction tangent of a rule's call, as its ``batching`` says."""
        batching = rule.batching_for(bound)
        if batching == "unsupported":
            self.unsupported("functions returning tuples of tangents")
        if batching == "contraction":
            fast = batch.batched_contraction(rule, bound, d_bound)
            if fast is not None:
                return TangentOp(None, fast, "exact")
            batching = "per_direction"
        if any(isinstance(t, (list, tuple)) for t in d_bound.values()):
            batching = "per_direction"  # list literals: one tangent per element
        if batching == "axis":
            fast = batch.batched_axis(rule, bound, d_bound)
            if fast is not None:
                return TangentOp(None, fast, "exact")
            batching = "per_direction"
        if rule.zeros_batched and any(d_bound.get(k) is not None for k in bound
                                      if k != KEYWORDS):
            for k in bound:
                if k != KEYWORDS and d_bound.get(k) is None:
                    d_bound[k] = self.zero(bound[k])
        if batching in ("reduction", "extremum", "reshape"):
            fast = batch.batched_reduction(rule, batching, bound, d_bound)
            if fast is not None:
                return TangentOp(None, fast, "exact")
            batching = "per_direction"
        if batching == "matmul":
            first, second = list(rule.sig.parameters)[:2]
            if d_bound.get(first) is None and d_bound.get(second) is None:
                return TangentOp(None, None, "exact")
            return TangentOp(None, batch.matmul_terms(bound[first], bound[second],
                                                      d_bound.get(first), d_bound.get(second)),
                             "exact")
        return TangentOp(None, rule.jvp(bound, d_bound, nodes.name(Z)), batching)

    def batch(self, op):
        tangent_names = set(self.host.namer.tangents.values())
        leaves = batch.tangent_leaves(op.tangent, tangent_names)
        if not leaves or op.batching == "exact":
            return op
        if op.batching == "per_direction":
            op.tangent = _fitted(batch.per_direction(op.tangent, leaves))
            return op
        fresh = _fresh(op.tangent)
        wide = self.host.may_broadcast(op.primal, op.tangent)
        lifted = {leaf: nodes.call("_rt.lift", [nodes.name(leaf), nodes.name(Z)])
                  for leaf in leaves if not _selection(op.tangent)
                  and not self._alone(leaf, op.primal)}
        if lifted:
            op.tangent = trees.substitute(op.tangent, lifted)
        if wide or not fresh:
            op.tangent = _fitted(op.tangent)
        return op

    def _alone(self, leaf, primal):
        """Whether the value of tangent ``leaf`` is the only array operand of
        ``primal``: then the result has its rank and its tangent needs no lift."""
        operands = _operands(primal, self.host.last_receiver)
        if operands is None:
            return False
        arrays = [o for o in operands if not self.host.holds_scalar(o)]
        value = self.host.primal_of.get(leaf)
        return bool(arrays) and all(isinstance(o, gast.Name) and o.id == value
                                    for o in arrays)

    def core(self, tangent):
        if isinstance(tangent, gast.Call) and (trees.alias_call(tangent, "_rt", ("lift",))
                                               or trees.alias_call(tangent, "_rt", ("fit",))):
            return tangent.args[0]
        return tangent

    def finish(self, tangent, z, private):
        if not private:
            return tangent
        if isinstance(tangent, gast.Call) and trees.alias_call(tangent, "_rt", ("fit",)) \
                and len(tangent.args) == 2:
            tangent.args.append(nodes.const(True))
            return tangent
        return nodes.call("_rt.fit", [tangent, trees.clone(z), nodes.const(True)])

    def increment_of(self, d_val, load):
        if d_val is None:
            return None
        return nodes.call("_rt.lift", [d_val, trees.clone(load)])

    def aug_assign(self, target, op, atom, d_val):
        """``x op= e``: a name's tangent is updated through the runtime, which
        writes in place only when the value itself is an array (a scalar's
        tangent is an array here, and updating it in place would leak into its
        aliases); a slice's tangent is updated in place, as one direction."""
        host = self.host
        if not isinstance(target, gast.Name):
            inplace_aug_assign(host, target, op, atom, d_val)
            return
        t_target = host.tangent_target(target)
        t_load, t_store = trees.as_load(t_target), trees.as_store(t_target)
        load = trees.as_load(target)

        def update(name, value):
            host.emit(nodes.assign(trees.clone(t_store), nodes.call(
                f"_rt.inplace_batched_{name}", [trees.clone(t_load), value, trees.clone(load)])))

        if isinstance(op, (gast.Add, gast.Sub)):
            if d_val is not None:
                update("add" if isinstance(op, gast.Add) else "sub", d_val)
            elif not host.holds_scalar(atom):  # s += X: d_s takes the new shape of s
                host.emit(nodes.aug_assign(target, op, atom))
                host.emit(nodes.assign(trees.clone(t_store), nodes.call(
                    "_rt.fit", [trees.clone(t_load), trees.clone(load)])))
                return
        elif isinstance(op, gast.Mult):
            increment = host.increment(target.id, load, d_val)
            update("mul", trees.clone(atom))
            if increment is not None:
                update("add", increment)
        else:
            if d_val is not None:
                update("sub", nodes.binop(nodes.binop(trees.clone(load), gast.Div(),
                                                      trees.clone(atom)), gast.Mult(), d_val))
            update("div", trees.clone(atom))
        host.emit(nodes.aug_assign(target, op, atom))

    def split(self, tangent):
        """Iterate (or unpack) the value's first axis, not the directions."""
        return nodes.call("_rt.bsplit", [tangent])

    def ufunc_at(self, spelled, d_target, index, d_value):
        return nodes.call("_rt.ufunc_at_batched", [nodes.dotted(spelled), d_target,
                                                   trees.clone(index), d_value])

    def joint_call(self, ident, args, tangents, keywords=()):
        return nodes.call("_rt.custom_batched", [nodes.name(ident), nodes.tup(args),
                                                 nodes.tup(tangents)], list(keywords))


def _fitted(tangent):
    """``_rt.fit(tangent, z)``: exactly the result's shape (and a copy for a
    scalar result, whose tangent must not stay a view of another)."""
    return nodes.call("_rt.fit", [tangent, nodes.name(Z)])


def _selection(tangent):
    """A tangent that is one of some tangents (``d_x``, ``d_x if c else d_y``):
    fitted to the result, which lifts the one chosen."""
    if isinstance(tangent, gast.Name):
        return True
    if isinstance(tangent, gast.IfExp):
        return _selection(tangent.body) and _selection(tangent.orelse)
    return isinstance(tangent, gast.Call) and trees.alias_call(tangent, "_rt", ("bzeros",))


def _fresh(tangent):
    """Arithmetic, or ``_np.where``: a new array of the broadcast shape of its
    operands (anything else may be a view or of another shape: it is fitted)."""
    if isinstance(tangent, gast.BinOp):
        return True
    if isinstance(tangent, gast.UnaryOp):
        return isinstance(tangent.op, (gast.USub, gast.UAdd))
    return trees.alias_call(tangent, "_np", ("where",))


def _operands(primal, receiver):
    """The operands of an operation (None: not a plain list of them)."""
    if isinstance(primal, gast.BinOp):
        return [primal.left, primal.right]
    if isinstance(primal, gast.UnaryOp):
        return [primal.operand]
    if isinstance(primal, gast.Call):
        operands = list(primal.args) + [k.value for k in primal.keywords]
        if receiver:
            operands.append(primal.func.value)
        if any(isinstance(o, (gast.List, gast.Tuple, gast.Starred)) for o in operands):
            return None
        return operands
    return None


def inplace_aug_assign(host, target, op, atom, d_val):
    """``x op= e`` with the tangent updated in place (``d_x += d_e``; for
    ``*=`` and ``/=`` the product and quotient rules)."""
    t_target = host.tangent_target(target)
    t_load, t_store = trees.as_load(t_target), trees.as_store(t_target)
    load = trees.as_load(target)
    if isinstance(op, (gast.Add, gast.Sub)):
        host.emit(nodes.aug_assign(target, op, atom))
        if d_val is not None:
            host.emit(nodes.aug_assign(t_store, type(op)(), d_val))
        elif isinstance(target, gast.Name) and not host.holds_scalar(atom):
            # s += X with data X: a scalar s becomes an array, so must d_s
            host.emit(nodes.assign(trees.clone(t_store), nodes.call(
                "_rt.broadcast", [trees.clone(t_load), trees.clone(load)])))
        return
    if isinstance(op, gast.Mult):
        # d(x * e) = d_x * e + x * d_e; x * d_e is taken before d_x is scaled
        # in place, because d_e may share memory with d_x (x *= x, aliases)
        increment = host.increment(trees.base_name(t_target), load, d_val)
        host.emit(nodes.aug_assign(t_store, gast.Mult(), trees.clone(atom)))
        if increment is not None:
            host.emit(nodes.aug_assign(trees.as_store(t_load), gast.Add(), increment))
    else:
        if d_val is not None:
            term = nodes.binop(nodes.binop(load, gast.Div(), trees.clone(atom)),
                               gast.Mult(), d_val)
            host.emit(nodes.aug_assign(t_store, gast.Sub(), fold(term)))
        host.emit(nodes.aug_assign(trees.as_store(t_load), gast.Div(), trees.clone(atom)))
    host.emit(nodes.aug_assign(target, op, atom))
