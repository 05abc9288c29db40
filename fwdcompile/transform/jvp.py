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

from dataclasses import dataclass, field

import gast

from ..errors import BatchUnsupported, FwdcompileError, InternalError, UnsupportedSyntax
from ..frontend.activity import (iteration_pairs, loop_target_activity, target_names,
                                 ufunc_at)
from ..frontend.desugar import QUIET
from ..frontend.calls import Method, RuleCall, UserCall, resolved
from ..rules.registry import zero_like
from ..syntax import nodes, trees
from .assign import AssignMixin
from .expressions import ExpressionMixin, Joint
from .naming import Namer
from .predicates import all_names, call_inputs, cheap, is_docstring
from .scalars import scalar_names
from .simplify import fold
from .tangent_space import KDirections, OneDirection


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
    tangent_params: tuple = ()  # names of the tangent parameters, in wrt order
    # what simplify may do (fwdcompile/pipeline.py): remove the names the function owns
    # when dead (temporaries and tangents, not the parameters nor their tangents), and
    # inline temporaries and their tangents
    owned: set = field(default_factory=set)
    inlinable: set = field(default_factory=set)
    spelling: dict = field(default_factory=dict)  # how the code spells _np, _math, _rt
    scalars: set = field(default_factory=set)  # names (and their tangents) holding scalars

    @property
    def owned_tangents(self):
        return self.tangent_names & self.owned


def function_namer(parsed, name, reserved):
    """The :class:`Namer` of one generated function ``name``: it avoids every
    name of the user's function and the spellings ``reserved`` of the reserved
    aliases.  The pipeline makes it before the activity analysis, so helper
    linking and the transform share it."""
    namer = Namer(set(parsed.local_names) | all_names(parsed.node) | {"_", "_K"}
                  | set(reserved))
    namer.taken.add(name)
    return namer


class Transformer(AssignMixin, ExpressionMixin):
    def __init__(self, parsed, wrt, activity, expr_activity, helpers, name, batched=False,
                 namer=None):
        self.parsed = parsed
        self.loc = parsed.loc
        self.scope = parsed.scope
        self.wrt = list(wrt)
        self.act = activity
        self.scalar_names = set(scalar_names(parsed))  # cannot broadcast a tangent
        self.last_rule = None  # the rule of the call being transformed
        self.last_receiver = False
        self.string_names = set()  # names holding strings made from differentiated values
        self.expr_activity = expr_activity
        self.helpers = helpers  # (fn, active params) -> (name in namespace, out_activity)
        self.name = name
        # the reserved aliases are built as _np/_math/_rt and renamed at the
        # end where the function has variables of those names (syntax/nodes.py)
        self.spelling = nodes.alias_spelling(all_names(parsed.node))
        self.namer = namer if namer is not None else \
            function_namer(parsed, name, self.spelling.values())
        # what a tangent is: the one place the transform looks at `batched`
        self.space = KDirections(self) if batched else OneDirection(self)
        self.namespace = {}
        self.comments = {}
        self.temps = set()
        self.out = []
        self.memo = {}
        self.active_memo = {}
        self.returns = []
        self.current = parsed.node
        # names whose tangent is zero here, in straight-line code (`h = X`
        # before a loop unrolled over layers): their tangent is still assigned
        # (a zero, dropped when unread) but reads of it compute nothing
        self.known_zero = set()
        self.zeroed_now = set()  # marked zero by the statement being transformed

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
        return nodes.name(self.namer.tangent(ident))

    def emit(self, stmt):
        self.out.append(stmt)

    def lift_into(self, tangent, target):
        """A tangent stored into a slice takes the slice's rank (K directions)."""
        if isinstance(target, gast.Subscript):
            return self.space.store(tangent, trees.as_load(target))
        return tangent

    def zero(self, atom):
        """A zero tangent standing alone (a returned or assigned value)."""
        return self.space.zero(atom)

    def temp(self, node):
        ident = self.namer.temp(node)
        self.temps.add(ident)
        return ident

    def comment(self, node):
        text = None if getattr(node, QUIET, False) else self.loc.segment(node)
        if text:
            marker = f"__fc_comment_{len(self.comments)}__"
            self.comments[marker] = text
            self.emit(nodes.expr_stmt(nodes.name(marker)))

    def block(self, stmts):
        saved, self.out = self.out, []
        # what a block learns about zero tangents stays in it: an if's body
        # and its else both start from what held before the if
        zero = set(self.known_zero)
        for stmt in stmts:
            self.statement(stmt)
        result, self.out = self.out, saved
        self.known_zero = zero
        return result or [gast.Pass()]

    # ------------------------------------------------------------------ entry
    def run(self):
        fdef = self.parsed.node
        body = []
        self.out = body
        body.extend(self.space.prologue([self.namer.tangent(p) for p in self.wrt]))
        for p in self.parsed.params:
            if self.active_name(p) and p not in self.wrt:
                self.emit(nodes.assign(nodes.name(self.namer.tangent(p), True),
                                       self.zero(nodes.name(p))))
                self.mark_zero(p)
        for stmt in fdef.body:
            if is_docstring(stmt):
                continue
            self.statement(stmt)
        if not _always_returns(body):
            body.append(nodes.ret(nodes.tup([nodes.const(None), nodes.const(None)])))
            self.returns.append(None)
        args = trees.clone(fdef.args)
        # tangents follow the parameters; keyword-only only when defaults or
        # keyword-only parameters make positional tangents impossible
        positional = not (args.defaults or args.kwonlyargs or args.posonlyargs)
        for p in self.wrt:
            if positional:
                args.args.append(nodes.param(self.namer.tangent(p)))
            else:
                args.kwonlyargs.append(nodes.param(self.namer.tangent(p)))
                args.kw_defaults.append(None)
        self.positional_tangents = positional
        node = gast.FunctionDef(name=self.name, args=args, body=body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        gast.copy_location(node, fdef)
        tangents = self.namer.tangents
        tangent_params = tuple(self.namer.tangent(p) for p in self.wrt)
        tangent_names = set(tangents.values())
        owned = (tangent_names | self.temps) - set(self.parsed.params) - set(tangent_params)
        inlinable = self.temps | {tangents[t] for t in self.temps if t in tangents}
        trees.spell_aliases(node, self.spelling)
        scalars = set(self.scalar_names) | {tangents[n] for n in self.scalar_names
                                            if n in tangents} | {"_K", "_"}
        return JvpFunction(node, self.name, self._out_activity(), self.namespace, self.comments,
                           tangent_names, self.temps, positional, tangent_params, owned,
                           inlinable, self.spelling, scalars)

    def _out_activity(self):
        flags = [r for r in self.returns if r is not None]
        if not flags:
            return False
        if all(isinstance(f, tuple) for f in flags) and len({len(f) for f in flags}) == 1:
            return tuple(any(col) for col in zip(*flags))
        return any(any(f) if isinstance(f, tuple) else f for f in flags)

    # ------------------------------------------------------------------ statements
    def mark_zero(self, ident):
        """``ident``'s tangent is zero from here on in straight-line code;
        never for a name whose memory anything writes in place (its tangent
        is written in place too)."""
        if not self.written(ident):
            self.known_zero.add(ident)
            self.zeroed_now.add(ident)

    def statement(self, stmt):
        # a name a statement assigns is no longer known zero unless the
        # statement said so (mark_zero); a block's names lose it inside the
        # block too (the next iteration, the other branch)
        assigned = {n.id for n in trees.walk(stmt) if isinstance(n, gast.Name)
                    and isinstance(n.ctx, gast.Store)}
        compound = isinstance(stmt, (gast.If, gast.For, gast.While, gast.With, gast.Try))
        if compound:
            self.known_zero -= assigned
        saved, self.zeroed_now = self.zeroed_now, set()
        try:
            self._statement(stmt)
            self.known_zero -= assigned if compound else assigned - self.zeroed_now
        finally:
            self.zeroed_now = saved | self.zeroed_now

    def _statement(self, stmt):
        saved = self.current
        self.current = stmt
        self.memo = {}
        self.active_memo = {}
        out, start = self.out, len(self.out)
        try:
            method = getattr(self, "stmt_" + type(stmt).__name__, None)
            if method is None:
                self.emit(stmt)
            else:
                method(stmt)
            for node in out[start:]:  # where each generated statement comes from
                if not hasattr(node, "fc_origin"):
                    node.fc_origin = self.loc.of(stmt)
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
        for sub in trees.walk(node):
            if isinstance(sub, gast.Call):
                kind = resolved(sub)
                if isinstance(kind, UserCall) and \
                        self.expr_activity._any_arg(sub, self.act.active) and \
                        self.expr_activity.helper_writes(kind.fn, sub, self.act.active):
                    return True
        return False

    def stmt_Expr(self, stmt):
        value = stmt.value
        if not isinstance(value, gast.Call) or not self.active(call_inputs(value)):
            if self.writes_through_call(value):
                raise self.error(UnsupportedSyntax, "a helper that writes into its arguments "
                                 "must be called as its own statement here", value,
                                 hint="call it on a line of its own")
            self.emit(stmt)
            return
        at = ufunc_at(stmt, self.scope)
        if at is not None:
            self.stmt_ufunc_at(stmt, *at)
            return
        kind = resolved(value)
        if isinstance(kind, UserCall):
            self.comment(stmt)
            op = self.compute(value)
            self.emit(nodes.expr_stmt(op.call if isinstance(op, Joint) else op.primal))
            return
        if isinstance(kind, Method) and kind.name == "append" \
                and isinstance(kind.receiver, gast.Name) and len(value.args) == 1 \
                and self.active_name(kind.receiver.id):
            self.space.unsupported("lists of tangents")
            self.comment(stmt)
            atom, tangent = self.emit_expr(value.args[0])
            self.emit(nodes.expr_stmt(nodes.call(nodes.attr(kind.receiver, "append"), [atom])))
            self.emit(nodes.expr_stmt(nodes.call(nodes.attr(self.d(kind.receiver.id), "append"),
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

    def stmt_ufunc_at(self, stmt, ufunc, target, index, value):
        """``np.add.at(a, idx, b)``: the same unbuffered update of ``a``'s tangent
        by ``b``'s (``np.subtract.at`` likewise); both are linear."""
        if not isinstance(target, gast.Name):
            raise self.error(UnsupportedSyntax, "`.at(...)` into a differentiated value needs "
                             "a plain variable as its first argument", target,
                             hint="bind the array to a name first")
        self.comment(stmt)
        index = self.static(index)
        atom, d_value = self.emit_expr(value)
        self.emit(nodes.expr_stmt(nodes.call(trees.clone(stmt.value.func),
                                             [trees.clone(target), trees.clone(index), atom])))
        if d_value is None or not self.active_name(target.id):
            return
        self.emit(nodes.expr_stmt(self.space.ufunc_at("_np." + ufunc.__name__,
                                                      self.d(target.id), index, d_value)))

    def stmt_AnnAssign(self, stmt):
        self.stmt_Assign(nodes.assign([stmt.target], stmt.value), original=stmt)

    def stmt_Assign(self, stmt, original=None):
        original = original or stmt
        targets = stmt.targets
        names = {n for t in targets for n in target_names(t)}
        if not any(self.active_name(n) for n in names):
            if not self.writes_through_call(stmt.value):
                self.emit(original)
                return
            # `r = helper(x, out)`: r needs no tangent, but what the helper
            # writes into `out` does, so the helper's JVP runs all the same
            value = stmt.value
            if len(targets) != 1 or not isinstance(value, gast.Call) \
                    or not isinstance(resolved(value), UserCall):
                raise self.error(UnsupportedSyntax, "a helper that writes into its arguments "
                                 "must be called as its own statement here", value,
                                 hint="assign its result on a line of its own: "
                                      "`r = helper(...)`")
            self.comment(original)
            joint = self.compute(value)
            self.emit(nodes.assign(targets, nodes.subscript(joint.call, nodes.const(0))))
            return
        self.comment(original)
        if len(targets) > 1:  # a = b = value
            atom, tangent = self.emit_expr(stmt.value)
            first = None  # the targets share one object, so they share one tangent
            for target in targets:
                if first is not None and isinstance(target, gast.Name) \
                        and self.active_name(target.id):
                    self.emit(nodes.assign(target, trees.clone(atom)))
                    self.emit(nodes.assign(nodes.name(self.namer.tangent(target.id), True),
                                           self.d(first)))
                    continue
                self.assign_atom(target, atom, tangent)
                if first is None and isinstance(target, gast.Name) \
                        and self.active_name(target.id):
                    first = target.id
            return
        self.assign(targets[0], stmt.value)

    def stmt_AugAssign(self, stmt):
        target = stmt.target
        base = trees.base_name(target)
        if base is None or not self.active_name(base):
            self.emit(stmt)
            return
        op = stmt.op
        if not isinstance(op, (gast.Add, gast.Sub, gast.Mult, gast.Div)):
            # x **= y and friends: rebinding is what numpy does for these anyway
            self.comment(stmt)
            self.assign(target, nodes.binop(trees.as_load(target), op, stmt.value))
            return
        self.comment(stmt)
        target = self.fixed_target(target)
        atom, d_val = self.emit_expr(stmt.value)
        self.space.aug_assign(target, op, atom,
                              self.space.increment_of(d_val, trees.as_load(target)))

    def increment(self, base, load, d_val):
        """``<base>_inc = x * d_e``, the product-rule term of ``x *= e``, saved
        before ``d_x`` is scaled in place (``d_e`` may share memory with it)."""
        if d_val is None:
            return None
        ident = self.namer.fresh(f"{base}_inc")
        self.temps.add(ident)
        self.emit(nodes.assign(nodes.name(ident, True),
                               fold(nodes.binop(trees.clone(load), gast.Mult(), d_val))))
        return nodes.name(ident)

    def stmt_Return(self, stmt):
        value = stmt.value
        if value is None:
            self.returns.append(None)
            self.emit(nodes.ret(nodes.tup([nodes.const(None), nodes.const(None)])))
            return
        if not self.active(value):
            self.returns.append(tuple(False for _ in value.elts)
                                if isinstance(value, gast.Tuple) else False)
            zero = self.zero_tuple(value) if isinstance(value, gast.Tuple) else None
            if zero is None:
                tmp = value if cheap(value) else None
                if tmp is None:
                    ident = self.temp(value)
                    self.emit(nodes.assign(nodes.name(ident, True), value))
                    tmp = nodes.name(ident)
                self.emit(nodes.ret(nodes.tup([tmp, self.zero(tmp)])))
            else:
                self.emit(nodes.ret(nodes.tup([zero[0], zero[1]])))
            return
        self.comment(stmt)
        if isinstance(value, gast.Tuple):
            atoms, tangents = [], []
            for elt in value.elts:
                atom, tangent = self.emit_expr(elt)
                atoms.append(atom)
                tangents.append(tangent)
            self.returns.append(tuple(t is not None for t in tangents))
            self.emit(nodes.ret(nodes.tup([
                nodes.tup(atoms),
                nodes.tup([t if t is not None else self.zero(a)
                           for a, t in zip(atoms, tangents)])])))
            return
        atom, tangent = self.emit_expr(value)
        self.returns.append(tangent is not None)
        self.emit(nodes.ret(nodes.tup([atom, tangent if tangent is not None
                                       else self.zero(atom)])))

    def zero_tuple(self, value):
        atoms = []
        for elt in value.elts:
            if cheap(elt):
                atoms.append(elt)
            else:
                ident = self.temp(elt)
                self.emit(nodes.assign(nodes.name(ident, True), elt))
                atoms.append(nodes.name(ident))
        return nodes.tup(atoms), nodes.tup([self.zero(a) for a in atoms])

    def stmt_If(self, stmt):
        self.emit(nodes.if_(stmt.test, self.block(stmt.body),
                            self.block(stmt.orelse) if stmt.orelse else []))

    def stmt_With(self, stmt):
        """``with np.errstate(...)`` (the fence allows no other): the block's
        primal and tangent statements both run inside it."""
        self.emit(gast.With(items=stmt.items, body=self.block(stmt.body), type_comment=None))

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
        target = nodes.tup([stmt.target, tangent_target], store=True)
        loop_iter = nodes.call("zip", [primal_iter, tangent_iter])
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
                return nodes.call("enumerate", [rebuild(it.args[0], target.elts[1])]
                                  + list(it.args[1:]))
            return nodes.call("zip", [rebuild(a, e) for a, e in zip(it.args, target.elts)])

        primal_iter = rebuild(stmt.iter, stmt.target)
        d_seqs = [self.space.split(d) for d in d_seqs]  # the value's first axis
        if len(d_seqs) == 1:
            return primal_iter, d_seqs[0], t_targets[0]
        return primal_iter, nodes.call("zip", d_seqs), nodes.tup(t_targets, store=True)

    def loop_target(self, target):
        if isinstance(target, (gast.Tuple, gast.List)):
            return nodes.tup([self.loop_target(e) for e in target.elts], store=True)
        if isinstance(target, gast.Name):
            return nodes.name(self.namer.tangent(target.id) if self.active_name(target.id)
                              else "_", store=True)
        raise self.error(UnsupportedSyntax, "this loop target is not supported", target,
                         hint="loop over names, e.g. `for i, x in enumerate(xs)`")



def _always_returns(stmts):
    """Whether every path through ``stmts`` ends in a return (if/elif/else
    chains whose branches all return need no fall-through ``return None``)."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, gast.Return):
        return True
    if isinstance(last, gast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False
