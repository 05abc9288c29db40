"""Assignments in the tangent transform: targets, ordering, zeros, tuples.

Contract: :class:`AssignMixin` turns ``target = value`` (names, subscripts,
tuples, conditional expressions) into the primal store and the matching
tangent store.  The tangent is written after the primal unless it needs the
target's old value, and through a temporary when it needs both.  Tangent
arrays mirror the aliasing of values, and a tangent that would alias an
array written in place is copied.
"""

from __future__ import annotations

import gast

from ..errors import UnsupportedSyntax
from ..frontend.activity import read_names
from ..syntax import nodes, trees
from .expressions import Joint, makes_string
from .predicates import Z, cheap
from .simplify import fold


class AssignMixin:
    def tangent_target(self, target):
        """``d_x`` for ``x``; ``d_a[i]`` for ``a[i]``."""
        if isinstance(target, gast.Name):
            return nodes.name(self.namer.tangent(target.id), True)
        if isinstance(target, gast.Subscript):
            base = trees.as_load(self.tangent_target(target.value))
            return self.space.store_target(base, self.static_index(target.slice),
                                           getattr(target, "fc_index", target.slice))
        raise self.error(UnsupportedSyntax, "this assignment target is not supported", target)

    def fixed_target(self, target):
        """A subscript target whose index is evaluated once, before the store
        (``y[y < 0] = 0`` must not recompute its mask after writing)."""
        if isinstance(target, gast.Subscript):
            fixed = nodes.subscript(self.fixed_target(target.value) if isinstance(
                target.value, gast.Subscript) else target.value,
                self.static_index(target.slice), store=True)
            fixed.fc_index = getattr(target, "fc_index", target.slice)  # the index as written
            return fixed
        if isinstance(target, (gast.Tuple, gast.List)):
            return type(target)(elts=[self.fixed_target(e) for e in target.elts],
                                ctx=target.ctx)
        return target

    def assign(self, target, value):
        target = self.fixed_target(target)
        if isinstance(target, (gast.Tuple, gast.List)):
            self.assign_tuple(target, value)
            return
        if isinstance(value, gast.IfExp) and self.active(value):
            self.assign_ifexp(target, value)
            return
        if not self.active(value):
            self.emit(nodes.assign(target, value))
            self.zero_tangent(target, value)
            return
        if isinstance(target, gast.Name) and makes_string(value):
            # label = f"{x:.3f}": fine to print or measure; using it where a
            # derivative would flow on is reported (expressions.emit_expr)
            self.emit(nodes.assign(target, value))
            self.string_names.add(target.id)
            return
        if isinstance(value, gast.Name):
            self.emit_expr(value)  # reports a string made from a differentiated value
            self.emit(nodes.assign(target, value))
            self.emit(nodes.assign(self.tangent_target(target),
                                   self.lift_into(self.d(value.id), target)))
            if isinstance(target, gast.Name) and value.id in self.known_zero:
                self.mark_zero(target.id)
            return
        if self.space.stores_through_temps and isinstance(target, gast.Subscript):
            # K directions: the tangent gets its own name, then the slice's rank
            atom, tangent = self.emit_expr(value)
            self.assign_atom(target, atom, tangent)
            return
        op = self.compute(value)
        if isinstance(op, Joint):
            self.assign_joint(target, op)
            return
        self.assign_op(target, op.primal, op.tangent, value)

    def assign_joint(self, target, op):
        """``target, d_target = helper_jvp(...)``; in vector mode a value stored
        into a subscript goes through a temporary, so that its tangent is
        lifted to the slice's rank (a scalar's (K,) into a row is (K, 1))."""
        stores = []

        def through_temps(leaf):
            if isinstance(leaf, (gast.Tuple, gast.List)):
                return nodes.tup([through_temps(e) for e in leaf.elts], store=True)
            base = trees.base_name(leaf)
            if not (self.space.stores_through_temps and isinstance(leaf, gast.Subscript)) \
                    or base is None or not self.active_name(base):
                return leaf
            ident = self.temp(leaf)
            self.temps.discard(ident)
            self.act.active.add(ident)
            stores.append((leaf, ident))
            return nodes.name(ident, True)

        target = through_temps(target)
        tangent = self.unpack_target(target) if isinstance(target, (gast.Tuple, gast.List)) \
            else self.tangent_target(target)
        self.emit(nodes.assign(nodes.tup([target, tangent], store=True), op.call))
        for leaf, ident in stores:
            self.assign_atom(leaf, nodes.name(ident), self.d(ident))

    def assign_op(self, target, primal, tangent, value):
        base = trees.base_name(target)
        load = trees.as_load(target)
        if tangent is None:
            self.emit(nodes.assign(target, primal))
            self.zero_tangent(target, primal)
            return
        if isinstance(target, gast.Subscript):
            tangent = self.space.store(tangent, nodes.name(Z))
        reads = read_names(tangent)
        if base in reads:  # the tangent needs the old value of the target
            # (and the result: in vector mode `finish` fits the tangent to it,
            # so `h = h.reshape(...)` must not fit to the old h)
            if Z in reads or self.space.finish_reads_result:
                ident = self.temp(primal)
                self.emit(nodes.assign(nodes.name(ident, True), primal))
                self.emit(nodes.assign(self.tangent_target(target),
                                       self.finish(tangent, nodes.name(ident))))
                self.emit(nodes.assign(target, nodes.name(ident)))
            else:
                self.emit(nodes.assign(self.tangent_target(target), self.finish(tangent, load)))
                self.emit(nodes.assign(target, primal))
            return
        self.emit(nodes.assign(target, primal))
        self.emit(nodes.assign(self.tangent_target(target), self.finish(tangent, load)))

    def finish(self, tangent, z):
        tangent = trees.substitute(tangent, {Z: z}, copy=False)  # built for this statement
        tangent = fold(tangent)
        core = self.space.core(tangent)
        private = False
        if isinstance(core, gast.Name):
            source = self.primal_of.get(core.id)
            target = trees.base_name(z) if isinstance(z, (gast.Name, gast.Subscript)) else None
            # a fresh primal (x + c) whose tangent would alias another array that
            # is written in place: copy, so the write stays private
            # a parameter may be the same array as another one the function writes
            # into (g(a, a) with u += ... inside g): its tangent too, so copy it
            private = source is not None and (
                self.written(source) or (target is not None and self.written(target))
                or (source in self.parsed.params and bool(self.act.written_params)))
        return self.space.finish(tangent, z, private)

    @property
    def primal_of(self):
        return {t: p for p, t in self.namer.tangents.items()}

    def written(self, ident):
        classes = self.act.classes
        members = classes.members(ident) if ident in classes.parent else {ident}
        return bool(members & self.act.mutated)

    def zero_tangent(self, target, value):
        base = trees.base_name(target)
        if base is None or not self.active_name(base):
            return
        if isinstance(target, gast.Name):
            self.mark_zero(target.id)
        if isinstance(target, gast.Subscript):
            zero = nodes.const(0.0)
        elif isinstance(value, gast.List) and not value.elts:
            self.space.unsupported("lists of tangents")
            zero = gast.List(elts=[], ctx=gast.Load())
        elif isinstance(value, gast.Dict) and not value.keys:  # d = {}; d["a"] = x
            self.space.unsupported("dicts of tangents")
            zero = gast.Dict(keys=[], values=[])
        else:
            zero = self.space.zero_of(value, trees.as_load(target))
        self.emit(nodes.assign(self.tangent_target(target), zero))

    def assign_atom(self, target, atom, tangent):
        target = self.fixed_target(target)
        self.emit(nodes.assign(target, trees.clone(atom)))
        if tangent is not None:
            self.emit(nodes.assign(self.tangent_target(target),
                                   self.lift_into(trees.clone(tangent), target)))
        else:
            self.zero_tangent(target, atom)

    def assign_tuple(self, target, value):
        if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts) \
                and all(not isinstance(e, gast.Starred) for e in value.elts):
            atoms, tangents = [], []
            for elt in value.elts:
                atom, tangent = self.emit_expr(elt)
                atoms.append(atom)
                tangents.append(tangent)
            self.emit(nodes.assign(target, nodes.tup(atoms)))
            t_targets, t_values = [], []
            for elt, atom, tangent in zip(target.elts, atoms, tangents):
                if isinstance(elt, (gast.Tuple, gast.List)):
                    raise self.error(UnsupportedSyntax, "nested tuple targets with a tuple "
                                     "value are not supported", elt,
                                     hint="unpack in two statements")
                base = trees.base_name(elt)
                if base is None or not self.active_name(base):
                    continue
                t_targets.append(self.tangent_target(elt))
                if tangent is not None:  # (K,) for a scalar stored into a row: (K, 1)
                    t_values.append(self.lift_into(tangent, elt))
                elif isinstance(elt, gast.Subscript):
                    t_values.append(nodes.const(0.0))
                else:
                    t_values.append(self.space.zero_of(atom, trees.as_load(elt)))
            if len(t_targets) == 1:
                self.emit(nodes.assign(t_targets[0], t_values[0]))
            elif t_targets:
                self.emit(nodes.assign(nodes.tup(t_targets, store=True), nodes.tup(t_values)))
            return
        if isinstance(value, gast.Call) and self.active(value):
            op = self.compute(value)
            if isinstance(op, Joint):
                self.assign_joint(target, op)
                return
            primal, tangent = op.primal, op.tangent
            if tangent is not None and Z in read_names(tangent):  # the rule reads the result
                ident = self.temp(primal)
                self.emit(nodes.assign(nodes.name(ident, True), primal))
                self.emit(nodes.assign(target, nodes.name(ident)))
                self.emit(nodes.assign(self.unpack_target(target), self.unpacked(
                    fold(trees.substitute(tangent, {Z: nodes.name(ident)})))))
                return
            self.emit(nodes.assign(target, primal))
            if tangent is not None:
                self.emit(nodes.assign(self.unpack_target(target), self.unpacked(fold(tangent))))
            return
        atom, tangent = self.emit_expr(value)
        self.emit(nodes.assign(target, atom))
        if tangent is not None:
            self.emit(nodes.assign(self.unpack_target(target), self.unpacked(tangent)))
        else:
            for leaf in trees.leaves(target):
                self.zero_tangent(leaf, leaf)

    def unpacked(self, tangent):
        """The tangent of an array being unpacked (``x, v = state``): in vector
        mode along the value's first axis, not the K directions."""
        return self.space.split(tangent)

    def unpack_target(self, target):
        if isinstance(target, (gast.Tuple, gast.List)):
            return nodes.tup([self.unpack_target(e) for e in target.elts], store=True)
        base = trees.base_name(target)
        if base is None or not self.active_name(base):
            return nodes.name("_", True)
        return self.tangent_target(target)

    def assign_ifexp(self, target, value):
        """``t = a if c else b`` -> an if statement, so only one branch runs."""
        test = value.test
        if not cheap(test):
            ident = self.temp(test)
            self.emit(nodes.assign(nodes.name(ident, True), test))
            test = nodes.name(ident)
        body = self._branch(target, value.body)
        orelse = self._branch(target, value.orelse)
        self.emit(nodes.if_(test, body, orelse))

    def _branch(self, target, value):
        saved, self.out = self.out, []
        memo, self.memo = self.memo, {}
        zero = self.known_zero
        self.known_zero = set(zero)  # a branch's zero is not known after the if
        self.assign(trees.clone(target), value)
        result, self.out, self.memo = self.out, saved, memo
        self.known_zero = zero - {n.id for n in trees.walk(target) if isinstance(n, gast.Name)}
        self.zeroed_now -= {n.id for n in trees.walk(target) if isinstance(n, gast.Name)}
        return result
