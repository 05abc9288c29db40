"""The tangent transform: from a user function to its primal-and-tangent twin.

Contract: :func:`transform` takes a parsed, fenced function, the parameters
that carry tangents and the activity of every name, and returns a
:class:`JvpFunction`: a ``gast.FunctionDef`` named ``<name>_jvp`` with the
original parameters plus keyword-only tangent parameters ``d_<p>``, which
returns ``(value, tangent)``.

Each statement is processed once.  Inactive statements are copied as they
are.  Active expressions are flattened on the fly into one operation per
statement (A-normal form); only sub-expressions that carry a tangent, or
that a tangent rule needs, become temporaries, and each temporary is named
after what it holds.  A tangent that is statically zero is ``None`` here and
produces no code; where a zero must exist at run time (an active variable
assigned a constant) it is written ``0.0`` or ``_rt.zeros_like(x)``.

Aliasing is mirrored: when two primal names share an array, their tangents
share one too, so in-place writes (``out[i] = ...``, ``x += ...``) stay
consistent.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import gast

from ..codegen.unparse import expr_source
from ..errors import FwdcompileError, InternalError, NoDerivativeRule, UnsupportedSyntax
from ..frontend.activity import (iteration_pairs, loop_target_activity, read_names,
                                 target_names)
from ..frontend.calls import (LINEAR_ATTRIBUTES, LINEAR_METHODS, METHOD_FUNCTIONS,
                              NONDIFF_ATTRIBUTES, NONDIFF_METHODS, Method, RuleCall, UserCall,
                              classify_call)
from ..rules import lookup
from ..rules.registry import KEYWORDS, substitute, tangent_or_zero, zero_like
from . import build
from . import batch
from .batch import BatchUnsupported
from .naming import Namer
from .simplify import fold

Z = "__z__"  # placeholder for the result inside a tangent expression


@dataclass
class JvpFunction:
    node: gast.FunctionDef
    name: str
    out_activity: object            # bool, or tuple of bools for tuple returns
    namespace: dict = field(default_factory=dict)   # extra names the code needs
    comments: dict = field(default_factory=dict)    # marker name -> comment text
    tangent_names: set = field(default_factory=set)
    temp_names: set = field(default_factory=set)
    positional_tangents: bool = False  # f_jvp(x, y, d_x, d_y) rather than (..., *, d_x, d_y)


@dataclass
class Joint:
    """A call computing value and tangent together: ``z, d_z = call``."""
    call: gast.AST
    out_activity: object = True


class Transformer:
    def __init__(self, parsed, wrt, activity, expr_activity, helpers, name, batched=False):
        self.parsed = parsed
        self.loc = parsed.loc
        self.scope = parsed.scope
        self.wrt = list(wrt)
        self.act = activity
        self.expr_activity = expr_activity
        self.helpers = helpers  # (fn, active params) -> (name in namespace, out_activity)
        self.name = name
        taken = set(parsed.local_names) | _all_names(parsed.node) | {"_"} \
            | {build.alias(r) for r in build.RESERVED}
        self.namer = Namer(taken | {"_K"})
        self.namer.taken.add(name)
        self.batched = batched  # tangents carry K directions on a leading axis
        self.tangent_kind = "fallback"
        self.namespace = {}
        self.comments = {}
        self.temps = set()
        self.out = []
        self.memo = {}
        self.active_memo = {}
        self.returns = []
        self.current = parsed.node

    # ------------------------------------------------------------------ helpers
    def error(self, cls, message, node=None, hint=None):
        node = node if node is not None and hasattr(node, "lineno") else self.current
        return cls(message, **self.loc.of(node), hint=hint)

    def active_name(self, ident):
        return ident in self.act.active

    def active(self, node):
        key = id(node)
        if key not in self.active_memo:  # expressions are asked about repeatedly
            self.active_memo[key] = (node, self.expr_activity(node, self.act.active))
        return self.active_memo[key][1]

    def d(self, ident):
        return build.name(self.namer.tangent(ident))

    def emit(self, stmt):
        self.out.append(stmt)

    def lift_into(self, tangent, target):
        """K-direction tangents stored into a slice get the slice's rank."""
        if self.batched and isinstance(target, gast.Subscript):
            return build.call("_rt.lift", [tangent, build.as_load(target)])
        return tangent

    def zero(self, atom):
        """A zero tangent standing alone (a returned or assigned value)."""
        if self.batched:
            return build.call("_rt.bzeros", [build.name("_K"), build.clone(atom)])
        return zero_like(atom)

    def no_batch(self, what, node=None):
        if self.batched:
            raise BatchUnsupported(what)

    def temp(self, node):
        ident = self.namer.temp(node)
        self.temps.add(ident)
        return ident

    def comment(self, node):
        text = self.loc.segment(node)
        if text:
            marker = f"__fc_comment_{len(self.comments)}__"
            self.comments[marker] = text
            self.emit(build.expr_stmt(build.name(marker)))

    def block(self, stmts):
        saved, self.out = self.out, []
        for stmt in stmts:
            self.statement(stmt)
        result, self.out = self.out, saved
        return result or [gast.Pass()]

    # ------------------------------------------------------------------ entry
    def run(self):
        fdef = self.parsed.node
        body = []
        self.out = body
        if self.batched:
            self.emit(build.assign(build.name("_K", True), build.call(
                "_rt.batch_size", [build.name(self.namer.tangent(p)) for p in self.wrt])))
        for p in self.parsed.params:
            if self.active_name(p) and p not in self.wrt:
                self.emit(build.assign(build.name(self.namer.tangent(p), True),
                                       self.zero(build.name(p))))
        for stmt in fdef.body:
            if _is_docstring(stmt):
                continue
            self.statement(stmt)
        if not body or not isinstance(body[-1], gast.Return):
            body.append(build.ret(build.tup([build.const(None), build.const(None)])))
            self.returns.append(None)
        args = build.clone(fdef.args)
        # tangents follow the parameters; keyword-only only when defaults or
        # keyword-only parameters make positional tangents impossible
        positional = not (args.defaults or args.kwonlyargs or args.posonlyargs)
        for p in self.wrt:
            if positional:
                args.args.append(build.param(self.namer.tangent(p)))
            else:
                args.kwonlyargs.append(build.param(self.namer.tangent(p)))
                args.kw_defaults.append(None)
        self.positional_tangents = positional
        node = gast.FunctionDef(name=self.name, args=args, body=body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        gast.copy_location(node, fdef)
        return JvpFunction(node, self.name, self._out_activity(), self.namespace, self.comments,
                           set(self.namer.tangents.values()), self.temps, positional)

    def _out_activity(self):
        flags = [r for r in self.returns if r is not None]
        if not flags:
            return False
        if all(isinstance(f, tuple) for f in flags) and len({len(f) for f in flags}) == 1:
            return tuple(any(col) for col in zip(*flags))
        return any(any(f) if isinstance(f, tuple) else f for f in flags)

    # ------------------------------------------------------------------ statements
    def statement(self, stmt):
        saved = self.current
        self.current = stmt
        self.memo = {}
        self.active_memo = {}
        try:
            method = getattr(self, "stmt_" + type(stmt).__name__, None)
            if method is None:
                self.emit(stmt)
            else:
                method(stmt)
        except (FwdcompileError, BatchUnsupported):
            raise
        except Exception as exc:  # a bug in fwdcompile: say where it happened
            raise self.error(InternalError, f"fwdcompile failed on this statement "
                             f"({type(exc).__name__}: {exc})", stmt,
                             hint="please report this with the function's source") from exc
        finally:
            self.current = saved

    def writes_through_call(self, node):
        """Whether ``node`` calls a helper that writes differentiated values into
        one of its arguments: such a call needs its JVP even if its result does not."""
        for sub in build.walk(node):
            if isinstance(sub, gast.Call):
                kind = classify_call(sub, self.scope)
                if isinstance(kind, UserCall) and \
                        self.expr_activity._any_arg(sub, self.act.active) and \
                        self.expr_activity.helper_writes(kind.fn, sub, self.act.active):
                    return True
        return False

    def stmt_Expr(self, stmt):
        value = stmt.value
        if not isinstance(value, gast.Call) or not self.active(_call_inputs(value)):
            if self.writes_through_call(value):
                raise self.error(UnsupportedSyntax, "a helper that writes into its arguments "
                                 "must be called as its own statement here", value,
                                 hint="call it on a line of its own")
            self.emit(stmt)
            return
        kind = classify_call(value, self.scope)
        if isinstance(kind, UserCall):
            self.comment(stmt)
            self.emit(build.expr_stmt(self.compute(value).call))
            return
        if isinstance(kind, Method) and kind.name == "append" \
                and isinstance(kind.receiver, gast.Name) and len(value.args) == 1 \
                and self.active_name(kind.receiver.id):
            self.no_batch("lists of tangents")
            self.comment(stmt)
            atom, tangent = self.emit_expr(value.args[0])
            self.emit(build.expr_stmt(build.call(build.attr(kind.receiver, "append"), [atom])))
            self.emit(build.expr_stmt(build.call(build.attr(self.d(kind.receiver.id), "append"),
                                                 [tangent if tangent is not None
                                                  else zero_like(atom)])))
            return
        if isinstance(kind, RuleCall) and kind.rule.kind == "nondiff":
            self.emit(stmt)  # print(x), and the like
            return
        raise self.error(UnsupportedSyntax, "this call's result is discarded but it receives "
                         "differentiated values; if it writes into an array, fwdcompile cannot "
                         "follow the write", value,
                         hint="assign the result instead (y = f(x)), or use indexing "
                              "(out[i] = ...) for in-place updates")

    def stmt_AnnAssign(self, stmt):
        self.stmt_Assign(build.assign([stmt.target], stmt.value), original=stmt)

    def stmt_Assign(self, stmt, original=None):
        original = original or stmt
        targets = stmt.targets
        names = {n for t in targets for n in target_names(t)}
        if not any(self.active_name(n) for n in names) and not self.writes_through_call(stmt.value):
            self.emit(original)
            return
        self.comment(original)
        if len(targets) > 1:  # a = b = value
            atom, tangent = self.emit_expr(stmt.value)
            for target in targets:
                self.assign_atom(target, atom, tangent)
            return
        self.assign(targets[0], stmt.value)

    def stmt_AugAssign(self, stmt):
        target = stmt.target
        base = _base(target)
        if base is None or not self.active_name(base):
            self.emit(stmt)
            return
        op = stmt.op
        if not isinstance(op, (gast.Add, gast.Sub, gast.Mult, gast.Div)):
            # x **= y and friends: rebinding is what numpy does for these anyway
            self.comment(stmt)
            self.assign(target, build.binop(build.as_load(target), op, stmt.value))
            return
        self.comment(stmt)
        target = self.fixed_target(target)
        atom, d_val = self.emit_expr(stmt.value)
        if d_val is not None and self.batched:
            d_val = build.call("_rt.lift", [d_val, build.as_load(target)])
        t_target = self.tangent_target(target)
        t_load = build.as_load(t_target)
        t_store = build.as_store(t_target)
        load = build.as_load(target)
        if self.batched and isinstance(target, gast.Name):
            self.batched_aug_assign(target, op, atom, d_val, t_store, t_load, load)
            return
        if isinstance(op, (gast.Add, gast.Sub)):
            self.emit(build.aug_assign(target, op, atom))
            if d_val is not None:
                self.emit(build.aug_assign(t_store, type(op)(), d_val))
            return
        if isinstance(op, gast.Mult):
            # d(x * e) = d_x * e + x * d_e; x * d_e is taken before d_x is scaled
            # in place, because d_e may share memory with d_x (x *= x, aliases)
            increment = None
            if d_val is not None:
                ident = self.namer.fresh(f"{_base(t_target)}_inc")
                self.temps.add(ident)
                self.emit(build.assign(build.name(ident, True),
                                       fold(build.binop(load, gast.Mult(), d_val))))
                increment = build.name(ident)
            self.emit(build.aug_assign(t_store, gast.Mult(), build.clone(atom)))
            if increment is not None:
                self.emit(build.aug_assign(build.as_store(t_load), gast.Add(), increment))
        else:
            if d_val is not None:
                term = build.binop(build.binop(load, gast.Div(), build.clone(atom)),
                                   gast.Mult(), d_val)
                self.emit(build.aug_assign(t_store, gast.Sub(), fold(term)))
            self.emit(build.aug_assign(build.as_store(t_load), gast.Div(), build.clone(atom)))
        self.emit(build.aug_assign(target, op, atom))

    def batched_aug_assign(self, target, op, atom, d_val, t_store, t_load, load):
        """``x op= e`` with K-direction tangents: a scalar's tangent is an array
        here, so updating it in place would leak into its aliases; the runtime
        updates in place only when the value itself is an array."""
        def update(name, value):
            self.emit(build.assign(build.clone(t_store), build.call(
                f"_rt.inplace_{name}", [build.clone(t_load), value, build.clone(load)])))

        if isinstance(op, (gast.Add, gast.Sub)):
            if d_val is not None:
                update("add" if isinstance(op, gast.Add) else "sub", d_val)
        elif isinstance(op, gast.Mult):
            increment = None
            if d_val is not None:
                ident = self.namer.fresh(f"{target.id}_inc")
                self.temps.add(ident)
                self.emit(build.assign(build.name(ident, True),
                                       build.binop(build.clone(load), gast.Mult(), d_val)))
                increment = build.name(ident)
            update("mul", build.clone(atom))
            if increment is not None:
                update("add", increment)
        else:
            if d_val is not None:
                update("sub", build.binop(build.binop(build.clone(load), gast.Div(),
                                                      build.clone(atom)), gast.Mult(), d_val))
            update("div", build.clone(atom))
        self.emit(build.aug_assign(target, op, atom))

    def stmt_Return(self, stmt):
        value = stmt.value
        if value is None:
            self.returns.append(None)
            self.emit(build.ret(build.tup([build.const(None), build.const(None)])))
            return
        if not self.active(value):
            self.returns.append(tuple(False for _ in value.elts)
                                if isinstance(value, gast.Tuple) else False)
            zero = self.zero_tuple(value) if isinstance(value, gast.Tuple) else None
            if zero is None:
                tmp = value if _cheap(value) else None
                if tmp is None:
                    ident = self.temp(value)
                    self.emit(build.assign(build.name(ident, True), value))
                    tmp = build.name(ident)
                self.emit(build.ret(build.tup([tmp, self.zero(tmp)])))
            else:
                self.emit(build.ret(build.tup([zero[0], zero[1]])))
            return
        self.comment(stmt)
        if isinstance(value, gast.Tuple):
            atoms, tangents = [], []
            for elt in value.elts:
                atom, tangent = self.emit_expr(elt)
                atoms.append(atom)
                tangents.append(tangent)
            self.returns.append(tuple(t is not None for t in tangents))
            self.emit(build.ret(build.tup([
                build.tup(atoms),
                build.tup([t if t is not None else self.zero(a) for a, t in zip(atoms, tangents)])])))
            return
        atom, tangent = self.emit_expr(value)
        self.returns.append(tangent is not None)
        self.emit(build.ret(build.tup([atom, tangent if tangent is not None
                                       else self.zero(atom)])))

    def zero_tuple(self, value):
        atoms = []
        for elt in value.elts:
            if _cheap(elt):
                atoms.append(elt)
            else:
                ident = self.temp(elt)
                self.emit(build.assign(build.name(ident, True), elt))
                atoms.append(build.name(ident))
        return build.tup(atoms), build.tup([self.zero(a) for a in atoms])

    def stmt_If(self, stmt):
        self.emit(build.if_(stmt.test, self.block(stmt.body),
                            self.block(stmt.orelse) if stmt.orelse else []))

    def stmt_While(self, stmt):
        self.emit(gast.While(test=stmt.test, body=self.block(stmt.body), orelse=[]))

    def stmt_For(self, stmt):
        leaves = loop_target_activity(stmt, self.expr_activity, self.act.active)
        if not any(flag and self.active_name(leaf.id) for leaf, flag in leaves
                   if isinstance(leaf, gast.Name)):
            self.emit(gast.For(target=stmt.target, iter=stmt.iter, body=self.block(stmt.body),
                               orelse=[], type_comment=None))
            return
        primal_iter, tangent_iter, tangent_target = self.loop_tangents(stmt)
        target = build.tup([stmt.target, tangent_target], store=True)
        loop_iter = build.call("zip", [primal_iter, tangent_iter])
        self.emit(gast.For(target=target, iter=loop_iter, body=self.block(stmt.body),
                           orelse=[], type_comment=None))

    def loop_tangents(self, stmt):
        """Iterate values and tangents side by side: ``for x, d_x in zip(xs, d_xs)``;
        through enumerate/zip only the sequences that carry tangents are paired."""
        d_seqs, t_targets = [], []

        def rebuild(it, target):
            pairs = iteration_pairs(it, target)
            if len(pairs) == 1 and pairs[0][1] is it:
                seq, d_seq = self.emit_expr(it)
                if d_seq is not None:
                    d_seqs.append(d_seq)
                    t_targets.append(self.loop_target(target))
                return seq
            if it.func.id == "enumerate":
                return build.call("enumerate", [rebuild(it.args[0], target.elts[1])]
                                  + list(it.args[1:]))
            return build.call("zip", [rebuild(a, e) for a, e in zip(it.args, target.elts)])

        primal_iter = rebuild(stmt.iter, stmt.target)
        if self.batched:  # iterate the value's first axis, not the directions
            d_seqs = [build.call("_rt.bsplit", [d]) for d in d_seqs]
        if len(d_seqs) == 1:
            return primal_iter, d_seqs[0], t_targets[0]
        return primal_iter, build.call("zip", d_seqs), build.tup(t_targets, store=True)

    def loop_target(self, target):
        if isinstance(target, (gast.Tuple, gast.List)):
            return build.tup([self.loop_target(e) for e in target.elts], store=True)
        if isinstance(target, gast.Name):
            return build.name(self.namer.tangent(target.id) if self.active_name(target.id)
                              else "_", store=True)
        raise self.error(UnsupportedSyntax, "this loop target is not supported", target,
                         hint="loop over names, e.g. `for i, x in enumerate(xs)`")

    # ------------------------------------------------------------------ assignment
    def tangent_target(self, target):
        """``d_x`` for ``x``; ``d_a[i]`` for ``a[i]``."""
        if isinstance(target, gast.Name):
            return build.name(self.namer.tangent(target.id), True)
        if isinstance(target, gast.Subscript):
            base = build.as_load(self.tangent_target(target.value))
            if self.batched:
                return build.as_store(batch.subscript(base, self.static_index(target.slice)))
            return build.subscript(base, self.static_index(target.slice), store=True)
        raise self.error(UnsupportedSyntax, "this assignment target is not supported", target)

    def fixed_target(self, target):
        """A subscript target whose index is evaluated once, before the store
        (``y[y < 0] = 0`` must not recompute its mask after writing)."""
        if isinstance(target, gast.Subscript):
            return build.subscript(self.fixed_target(target.value) if isinstance(
                target.value, gast.Subscript) else target.value,
                self.static_index(target.slice), store=True)
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
            self.emit(build.assign(target, value))
            self.zero_tangent(target, value)
            return
        if isinstance(value, gast.Name):
            self.emit(build.assign(target, value))
            self.emit(build.assign(self.tangent_target(target),
                                   self.lift_into(self.d(value.id), target)))
            return
        op = self.compute(value)
        if isinstance(op, Joint):
            self.emit(build.assign(build.tup([target, self.tangent_target(target)], store=True),
                                   op.call))
            return
        primal, tangent = op
        self.assign_op(target, primal, tangent, value)

    def assign_op(self, target, primal, tangent, value):
        base = _base(target)
        load = build.as_load(target)
        if tangent is None:
            self.emit(build.assign(target, primal))
            self.zero_tangent(target, primal)
            return
        if self.batched and isinstance(target, gast.Subscript):
            tangent = build.call("_rt.lift", [tangent, build.name(Z)])
        reads = read_names(tangent)
        if base in reads:  # the tangent needs the old value of the target
            if Z in reads:
                ident = self.temp(primal)
                self.emit(build.assign(build.name(ident, True), primal))
                self.emit(build.assign(self.tangent_target(target),
                                       self.finish(tangent, build.name(ident))))
                self.emit(build.assign(target, build.name(ident)))
            else:
                self.emit(build.assign(self.tangent_target(target), self.finish(tangent, load)))
                self.emit(build.assign(target, primal))
            return
        self.emit(build.assign(target, primal))
        self.emit(build.assign(self.tangent_target(target), self.finish(tangent, load)))

    def finish(self, tangent, z):
        tangent = substitute(tangent, {Z: z}, in_place=True)  # built for this statement
        tangent = fold(tangent)
        core = tangent
        if self.batched and isinstance(core, gast.Call) and _is_rt_call(core, "lift"):
            core = core.args[0]
        private = False
        if isinstance(core, gast.Name):
            source = self.primal_of.get(core.id)
            target = _base(z) if isinstance(z, (gast.Name, gast.Subscript)) else None
            # a fresh primal (x + c) whose tangent would alias another array that
            # is written in place: copy, so the write stays private
            private = source is not None and (self.written(source) or
                                              (target is not None and self.written(target)))
        if self.batched:
            if isinstance(tangent, gast.Call) and _is_rt_call(tangent, "fit") and not private:
                return tangent
            args = [tangent, build.clone(z)] + ([build.const(True)] if private else [])
            return build.call("_rt.fit", args)
        if private:
            return build.call("_rt.copy", [tangent])
        return tangent

    @property
    def primal_of(self):
        return {t: p for p, t in self.namer.tangents.items()}

    def written(self, ident):
        classes = self.act.classes
        members = classes.members(ident) if ident in classes.parent else {ident}
        return bool(members & self.act.mutated)

    def zero_tangent(self, target, value):
        base = _base(target)
        if base is None or not self.active_name(base):
            return
        if isinstance(target, gast.Subscript) or (_is_number(value) and not self.batched):
            zero = build.const(0.0)
        elif isinstance(value, gast.List) and not value.elts:
            self.no_batch("lists of tangents")
            zero = gast.List(elts=[], ctx=gast.Load())
        else:
            zero = self.zero(build.as_load(target))
        self.emit(build.assign(self.tangent_target(target), zero))

    def assign_atom(self, target, atom, tangent):
        target = self.fixed_target(target)
        self.emit(build.assign(target, build.clone(atom)))
        if tangent is not None:
            self.emit(build.assign(self.tangent_target(target),
                                   self.lift_into(build.clone(tangent), target)))
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
            self.emit(build.assign(target, build.tup(atoms)))
            t_targets, t_values = [], []
            for elt, atom, tangent in zip(target.elts, atoms, tangents):
                if isinstance(elt, (gast.Tuple, gast.List)):
                    raise self.error(UnsupportedSyntax, "nested tuple targets with a tuple "
                                     "value are not supported", elt,
                                     hint="unpack in two statements")
                base = _base(elt)
                if base is None or not self.active_name(base):
                    continue
                t_targets.append(self.tangent_target(elt))
                if tangent is not None:
                    t_values.append(tangent)
                elif isinstance(elt, gast.Subscript) or (_is_number(atom) and not self.batched):
                    t_values.append(build.const(0.0))
                else:
                    t_values.append(self.zero(build.as_load(elt)))
            if len(t_targets) == 1:
                self.emit(build.assign(t_targets[0], t_values[0]))
            elif t_targets:
                self.emit(build.assign(build.tup(t_targets, store=True), build.tup(t_values)))
            return
        if isinstance(value, gast.Call) and self.active(value):
            op = self.compute(value)
            if isinstance(op, Joint):
                self.emit(build.assign(build.tup([target, self.unpack_target(target)],
                                                 store=True), op.call))
                return
            primal, tangent = op
            self.emit(build.assign(target, primal))
            if tangent is not None:
                self.emit(build.assign(self.unpack_target(target), fold(tangent)))
            return
        atom, tangent = self.emit_expr(value)
        self.emit(build.assign(target, atom))
        if tangent is not None:
            self.emit(build.assign(self.unpack_target(target), tangent))
        else:
            for leaf in _leaf_targets(target):
                self.zero_tangent(leaf, leaf)

    def unpack_target(self, target):
        if isinstance(target, (gast.Tuple, gast.List)):
            return build.tup([self.unpack_target(e) for e in target.elts], store=True)
        base = _base(target)
        if base is None or not self.active_name(base):
            return build.name("_", True)
        return self.tangent_target(target)

    def assign_ifexp(self, target, value):
        """``t = a if c else b`` -> an if statement, so only one branch runs."""
        test = value.test
        if not _cheap(test):
            ident = self.temp(test)
            self.emit(build.assign(build.name(ident, True), test))
            test = build.name(ident)
        body = self._branch(target, value.body)
        orelse = self._branch(target, value.orelse)
        self.emit(build.if_(test, body, orelse))

    def _branch(self, target, value):
        saved, self.out = self.out, []
        memo, self.memo = self.memo, {}
        self.assign(build.clone(target), value)
        result, self.out, self.memo = self.out, saved, memo
        return result

    # ------------------------------------------------------------------ expressions
    def emit_expr(self, node):
        """Flatten ``node`` to an atom; returns (atom, tangent or None)."""
        if not self.active(node):
            if _cheap(node):
                return node, None
            ident = self.temp(node)
            self.emit(build.assign(build.name(ident, True), node))
            return build.name(ident), None
        if isinstance(node, gast.Name):
            return node, self.d(node.id)
        key = _pure_key(node, self.scope)
        if key is not None and key in self.memo:
            atom, tangent = self.memo[key]
            return build.clone(atom), build.clone(tangent)
        if isinstance(node, gast.IfExp):
            ident = self.temp(node)
            self.temps.discard(ident)
            self.act.active.add(ident)
            self.assign_ifexp(build.name(ident, True), node)
            return build.name(ident), self.d(ident)
        op = self.compute(node)
        ident = self.temp(node if isinstance(op, Joint) else op[0])
        target = build.name(ident, True)
        if isinstance(op, Joint):  # a tuple-valued helper gets a tuple tangent
            if isinstance(op.out_activity, tuple):
                self.no_batch("tuple-valued tangents used as values")
            self.act.active.add(ident)
            self.emit(build.assign(build.tup([target, self.d(ident)], store=True), op.call))
            return self.remember(node, build.name(ident), self.d(ident))
        primal, tangent = op
        self.emit(build.assign(target, primal))
        if tangent is None:
            return self.remember(node, build.name(ident), None)
        self.act.active.add(ident)
        d_ident = self.d(ident)
        self.emit(build.assign(build.as_store(d_ident), self.finish(tangent, build.name(ident))))
        return self.remember(node, build.name(ident), d_ident)

    def remember(self, node, atom, tangent):
        """Within one statement, an identical pure sub-expression is computed once."""
        key = _pure_key(node, self.scope)
        if key is not None:
            self.memo[key] = (atom, tangent)
        return build.clone(atom), build.clone(tangent)

    def static(self, node):
        """An argument that carries no tangent, kept inline when cheap."""
        if self.active(node):
            raise self.error(UnsupportedSyntax, "this value is used where no derivative can "
                             "flow (an index, a shape or an option)", node)
        if _cheap(node):
            return node
        ident = self.temp(node)
        self.emit(build.assign(build.name(ident, True), node))
        return build.name(ident)

    def static_index(self, index):
        if isinstance(index, gast.Tuple):
            return build.tup([self.static_index(e) for e in index.elts])
        if isinstance(index, gast.Slice):
            return gast.Slice(*(None if p is None else self.static(p)
                                for p in (index.lower, index.upper, index.step)))
        return self.static(index)

    def compute(self, node):
        """(primal expression over atoms, tangent expression or None), or a Joint;
        in vector mode the tangent is made correct for K directions here."""
        self.tangent_kind = "fallback"
        op = self._compute(node)
        if not self.batched or isinstance(op, Joint) or op[1] is None:
            return op
        primal, tangent = op
        return primal, batch.batch_expression(tangent, self.tangent_kind, build.name(Z),
                                              set(self.namer.tangents.values()))

    def _compute(self, node):
        if isinstance(node, gast.BinOp):
            left, d_left = self.emit_expr(node.left)
            right, d_right = self.emit_expr(node.right)
            primal = build.binop(left, node.op, right)
            if self.batched and isinstance(node.op, gast.MatMult):
                self.tangent_kind = "exact"
                return primal, batch.matmul_terms(left, right, d_left, d_right)
            self.tangent_kind = "elementwise"
            rule = lookup(type(node.op))
            if rule is None:
                raise self.error(NoDerivativeRule, f"the operator `{_op_symbol(node.op)}` has "
                                 "no derivative rule", node)
            return primal, rule.jvp({"x": left, "y": right}, {"x": d_left, "y": d_right},
                                    build.name(Z))
        if isinstance(node, gast.UnaryOp):
            operand, d_operand = self.emit_expr(node.operand)
            self.tangent_kind = "elementwise"
            rule = lookup(type(node.op))
            primal = gast.UnaryOp(op=node.op, operand=operand)
            return primal, rule.jvp({"x": operand}, {"x": d_operand}, build.name(Z))
        if isinstance(node, gast.Subscript):
            value, d_value = self.emit_expr(node.value)
            index = self.static_index(node.slice)
            self.tangent_kind = "exact"
            if d_value is None:
                tangent = None
            elif self.batched:
                tangent = batch.subscript(d_value, index)
            else:
                tangent = build.subscript(d_value, build.clone(index))
            return build.subscript(value, index), tangent
        if isinstance(node, gast.Attribute):
            value, d_value = self.emit_expr(node.value)
            primal = build.attr(value, node.attr)
            if node.attr in NONDIFF_ATTRIBUTES or d_value is None:
                return primal, None
            if node.attr in LINEAR_ATTRIBUTES:
                self.tangent_kind = "exact"
                if self.batched and node.attr == "T":
                    return primal, build.call("_rt.btranspose", [d_value])
                if self.batched and node.attr == "mT":
                    self.tangent_kind = "fallback"
                return primal, build.attr(d_value, node.attr)
            raise self.error(UnsupportedSyntax, f"the attribute `.{node.attr}` of a "
                             "differentiated value is not supported", node)
        if isinstance(node, (gast.List, gast.Tuple, gast.Dict)):
            self.no_batch("containers of tangents")
        if isinstance(node, (gast.List, gast.Tuple)):
            atoms, tangents = self.atoms(node.elts)
            primal = type(node)(elts=atoms, ctx=gast.Load())
            return primal, tangent_or_zero(primal, tangents)
        if isinstance(node, gast.Dict):  # {"W": W, "b": b}: a dict of tangents
            if any(k is None for k in node.keys):
                raise self.error(UnsupportedSyntax, "`**` in a dict of differentiated values "
                                 "is not supported", node)
            keys = [self.static(k) for k in node.keys]
            atoms, tangents = self.atoms(node.values)
            zeros = [t if t is not None else zero_like(a) for a, t in zip(atoms, tangents)]
            return (gast.Dict(keys=keys, values=atoms),
                    gast.Dict(keys=[build.clone(k) for k in keys], values=zeros))
        if isinstance(node, gast.Call):
            return self.compute_call(node)
        if isinstance(node, gast.BoolOp):
            raise self.error(UnsupportedSyntax, "`and`/`or` on differentiated values is not "
                             "supported (it returns one of its operands)", node,
                             hint="use `a if condition else b`")
        if isinstance(node, (gast.ListComp, gast.GeneratorExp, gast.SetComp, gast.DictComp)):
            raise self.error(UnsupportedSyntax, "comprehensions over differentiated values are "
                             "not supported", node,
                             hint="write a for loop, or use a numpy expression")
        if isinstance(node, gast.Starred):
            raise self.error(UnsupportedSyntax, "`*` unpacking of differentiated values is not "
                             "supported", node)
        raise self.error(UnsupportedSyntax, f"`{type(node).__name__}` cannot carry a "
                         "derivative", node)

    def atoms(self, elts):
        atoms, tangents = [], []
        for elt in elts:
            if isinstance(elt, gast.Starred):
                raise self.error(UnsupportedSyntax, "`*` unpacking of differentiated values is "
                                 "not supported", elt)
            atom, tangent = self.emit_expr(elt)
            atoms.append(atom)
            tangents.append(tangent)
        return atoms, tangents

    def call_args(self, call, literal_lists):
        """Flatten a call's arguments; list literals stay literal for linear rules."""
        args, d_args = [], []
        for arg in call.args:
            if isinstance(arg, gast.Starred):
                if self.active(arg):
                    raise self.error(UnsupportedSyntax, "`*args` in a call with "
                                     "differentiated values is not supported", arg,
                                     hint="pass the arguments one by one: f(pair[0], pair[1])")
                args.append(arg)
                d_args.append(None)
                continue
            if literal_lists and isinstance(arg, (gast.List, gast.Tuple)) and self.active(arg):
                atoms, tangents = self.atoms(arg.elts)
                args.append(type(arg)(elts=atoms, ctx=gast.Load()))
                d_args.append(tangents)
                continue
            atom, tangent = self.emit_expr(arg)
            args.append(atom)
            d_args.append(tangent)
        keywords, d_keywords = {}, {}
        for kw in call.keywords:
            if kw.arg is None:
                raise self.error(UnsupportedSyntax, "`**kwargs` in a call is not supported",
                                 kw.value, hint="pass the keywords one by one: f(a=kw['a'])")
            if literal_lists and isinstance(kw.value, (gast.List, gast.Tuple)) \
                    and self.active(kw.value):
                atoms, tangents = self.atoms(kw.value.elts)
                keywords[kw.arg] = type(kw.value)(elts=atoms, ctx=gast.Load())
                d_keywords[kw.arg] = tangents
                continue
            atom, tangent = self.emit_expr(kw.value)
            keywords[kw.arg] = atom
            d_keywords[kw.arg] = tangent
        return args, d_args, keywords, d_keywords

    def compute_call(self, call):
        kind = classify_call(call, self.scope)
        if isinstance(kind, Method):
            return self.compute_method(call, kind)
        if isinstance(kind, UserCall):
            return self.compute_user_call(call, kind.fn, kind.receiver)
        if isinstance(kind, RuleCall):
            return self.apply_rule(call, kind.rule, kind.obj, call.func)
        raise self.error(NoDerivativeRule, f"no derivative rule for `{expr_source(call.func)}`"
                         " and its source is not available", call,
                         hint="register one with @fwdcompile.custom_jvp(fn), or pass the "
                              "value as data (not in wrt)")

    def apply_rule(self, call, rule, obj, func, receiver=None):
        linear_kind = rule.__class__.__name__ in ("LinearRule", "MultilinearRule")
        args, d_args, keywords, d_keywords = self.call_args(call, literal_lists=linear_kind)
        if receiver is not None:
            args, d_args = [receiver[0]] + args, [receiver[1]] + d_args
        if rule.kind == "joint":
            return self.custom_call(call, rule, args, d_args, keywords, func, receiver)
        try:
            bound = rule.bind(args, keywords)
            d_bound = rule.bind(d_args, d_keywords)
            d_bound.pop(KEYWORDS, None)
        except TypeError as exc:
            raise self.error(UnsupportedSyntax, f"cannot match this call to the derivative "
                             f"rule of {rule.name}: {exc}", call) from None
        if "out" in bound and not _is_none(bound["out"]):
            raise self.error(UnsupportedSyntax, "`out=` arguments are not supported", call,
                             hint="assign the result instead")
        if rule.kind == "nondiff":
            if not rule.zero_derivative and any(_has_tangent(t) for t in d_bound.values()):
                raise self.error(NoDerivativeRule, f"{rule.name} takes no differentiated "
                                 "arguments (they are sizes, ranges or options)", call)
            tangent = None
        else:
            allowed = rule.differentiable()
            for pname, tangent in d_bound.items():
                if _has_tangent(tangent) and allowed is not None and pname not in allowed:
                    raise self.error(NoDerivativeRule, f"argument `{pname}` of {rule.name} "
                                     "has no derivative rule, but it carries a derivative here",
                                     call, hint="pass it as data, or register a rule with "
                                                "fwdcompile.custom_jvp")
            if self.batched:
                self.tangent_kind = batch.rule_kind(rule)
                if type(rule).__name__ == "SelectRule" and len(args) == 1:
                    self.tangent_kind = "fallback"  # max(iterable)
                if rule.name in batch.TUPLE_VALUED:
                    self.no_batch("functions returning tuples of tangents")
                if any(isinstance(t, (list, tuple)) for t in d_bound.values()) \
                        and self.tangent_kind != "fallback":
                    self.tangent_kind = "fallback"
            fast = batch.batched_reduction(rule, bound, d_bound) if self.batched else None
            if fast is not None:
                self.tangent_kind = "exact"
                tangent = fast
            elif self.batched and self.tangent_kind == "matmul":
                self.tangent_kind = "exact"
                first, second = list(rule.sig.parameters)[:2]
                tangent = batch.matmul_terms(bound[first], bound[second],
                                             d_bound.get(first), d_bound.get(second)) \
                    if (d_bound.get(first) is not None or d_bound.get(second) is not None) \
                    else None
            else:
                tangent = rule.jvp(bound, d_bound, build.name(Z))
        if receiver is not None:
            primal = build.call(build.attr(receiver[0], call.func.attr), args[1:],
                                list(keywords.items()))
        else:
            primal = build.call(func, args, list(keywords.items()))
        return primal, tangent

    def custom_call(self, call, rule, args, d_args, keywords, func, receiver):
        if keywords:
            raise self.error(UnsupportedSyntax, "keyword arguments to a function with a "
                             "custom_jvp rule are not supported", call)
        ident = self.namer.fresh(f"{getattr(rule.function, '__name__', 'rule')}_jvp_rule")
        self.namespace[ident] = rule.jvp_function
        if self.batched:
            tangents = [t if t is not None else self.zero(a) for a, t in zip(args, d_args)]
            return Joint(build.call("_rt.custom_batched", [build.name(ident), build.tup(args),
                                                           build.tup(tangents)]))
        tangents = [t if t is not None else zero_like(a) for a, t in zip(args, d_args)]
        return Joint(build.call(ident, [build.tup(args), build.tup(tangents)]))

    def compute_method(self, call, kind):
        name = kind.name
        receiver, d_receiver = self.emit_expr(kind.receiver)
        if name in METHOD_FUNCTIONS:
            rule = lookup(METHOD_FUNCTIONS[name])
            return self.apply_rule(call, rule, None, None, receiver=(receiver, d_receiver))
        args, d_args, keywords, d_keywords = self.call_args(call, literal_lists=False)
        primal = build.call(build.attr(receiver, name), args, list(keywords.items()))
        if any(t is not None for t in d_args + list(d_keywords.values())):
            raise self.error(NoDerivativeRule, f"the arguments of `.{name}()` cannot carry a "
                             "derivative", call)
        if d_receiver is None or name in NONDIFF_METHODS:
            return primal, None
        self.tangent_kind = "exact" if name == "astype" else "fallback"
        if self.batched and name in ("sum", "mean") and d_receiver is not None \
                and not args and set(keywords) <= {"axis", "keepdims"}:
            self.tangent_kind = "exact"
            return primal, build.call("_rt.breduce", [build.dotted(f"_np.{name}"), d_receiver],
                                      list(build.clone(keywords).items()))
        if name == "get" and len(args) == 2:  # d.get(key, default): the default's tangent is 0
            return primal, build.call(build.attr(d_receiver, name),
                                      [build.clone(args[0]), zero_like(args[1])])
        if name in LINEAR_METHODS or name == "astype":
            return primal, build.call(build.attr(d_receiver, name), build.clone(args),
                                      list(build.clone(keywords).items()))
        raise self.error(NoDerivativeRule, f"the method `.{name}()` has no derivative rule",
                         call, hint="use the numpy function instead, e.g. np.sum(x), "
                                    "or register a rule with fwdcompile.custom_jvp")

    def compute_user_call(self, call, fn, receiver=None):
        sig = inspect.signature(fn)
        args, d_args, keywords, d_keywords = self.call_args(call, literal_lists=False)
        if receiver is not None:  # model.loss(w) -> loss_jvp(model, w, d_w=d_w)
            args, d_args = [self.static(receiver)] + args, [None] + d_args
        try:
            bound = sig.bind(*args, **keywords)
            d_bound = sig.bind(*d_args, **d_keywords)
        except TypeError as exc:
            raise self.error(UnsupportedSyntax, f"cannot match this call to "
                             f"{fn.__qualname__}: {exc}", call) from None
        active = tuple(p for p in sig.parameters if d_bound.arguments.get(p) is not None)
        name, out_activity, tangent_params = self.helpers(fn, active, call)
        kw = list(keywords.items()) + [(tp, d_bound.arguments[p])
                                       for p, tp in zip(active, tangent_params)]
        return Joint(build.call(name, args, kw), out_activity)


# ---------------------------------------------------------------------- small predicates

def _is_rt_call(node, name):
    func = node.func
    return isinstance(func, gast.Attribute) and func.attr == name \
        and isinstance(func.value, gast.Name) and build.is_alias(func.value.id)


def _call_inputs(call):
    """The receiver and arguments of a call, as one tuple expression."""
    parts = list(call.args) + [k.value for k in call.keywords]
    if isinstance(call.func, gast.Attribute):
        parts.append(call.func.value)
    return build.tup(parts)


def _pure_key(node, scope):
    """A structural key for a side-effect-free expression, or None."""
    for sub in build.walk(node):
        if isinstance(sub, gast.Call):
            kind = classify_call(sub, scope)
            if not isinstance(kind, (RuleCall, Method)) or getattr(kind, "rule", None) is None \
                    and not isinstance(kind, Method):
                return None
        if isinstance(sub, (gast.IfExp, gast.ListComp, gast.GeneratorExp, gast.SetComp,
                            gast.DictComp)):
            return None
    return build.structure(node)


def _all_names(node):
    return {n.id for n in build.walk(node) if isinstance(n, gast.Name)}


def _is_docstring(stmt):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant) \
        and isinstance(stmt.value.value, str)


def _base(target):
    while isinstance(target, gast.Subscript):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def _leaf_targets(target):
    if isinstance(target, (gast.Tuple, gast.List)):
        return [leaf for elt in target.elts for leaf in _leaf_targets(elt)]
    return [target]


def _is_number(node):
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
        node = node.operand
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float, complex)) \
        and not isinstance(node.value, bool)


def _is_none(node):
    return isinstance(node, gast.Constant) and node.value is None


def _has_tangent(t):
    if isinstance(t, (list, tuple)):
        return any(_has_tangent(x) for x in t)
    return t is not None


def _cheap(node, budget=8):
    """Cheap to evaluate twice and side-effect free: names, constants,
    attributes and small arithmetic on them, slices."""
    count = 0
    for sub in build.walk(node):
        count += 1
        if isinstance(sub, (gast.Call, gast.ListComp, gast.GeneratorExp, gast.SetComp,
                            gast.DictComp, gast.Dict, gast.Set, gast.List, gast.IfExp,
                            gast.BoolOp, gast.Compare, gast.Starred, gast.JoinedStr)):
            return False
    return count <= budget


def _op_symbol(op):
    return {gast.BitAnd: "&", gast.BitOr: "|", gast.BitXor: "^", gast.LShift: "<<",
            gast.RShift: ">>"}.get(type(op), type(op).__name__)


def transform(parsed, wrt, activity, expr_activity, helpers, name):
    return Transformer(parsed, wrt, activity, expr_activity, helpers, name).run()
