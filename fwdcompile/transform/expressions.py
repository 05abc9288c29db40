"""Expressions in the tangent transform: flattening and derivative rules.

Contract: :class:`ExpressionMixin` flattens a differentiated expression into
one operation per statement (``emit_expr``), keeping inactive sub-expressions
inline when they are cheap, and computes each operation's tangent from the
rule registry (``compute``): operators, calls with rules, array methods,
attributes, subscripts, calls to the user's own functions (``Joint``: value
and tangent from one call) and ``custom_jvp`` rules.
"""

from __future__ import annotations

import builtins
import inspect
from dataclasses import dataclass

import gast

from ..errors import NoDerivativeRule, UnsupportedSyntax
from ..frontend.activity import float_dtype
from ..frontend.calls import (LINEAR_ATTRIBUTES, LINEAR_METHODS, METHOD_FUNCTIONS,
                              NONDIFF_ATTRIBUTES, NONDIFF_METHODS, Method, RuleCall, UserCall,
                              is_index_object, resolved)
from ..rules import index_tricks, lookup
from ..rules.methods import method_rule
from ..rules.registry import (KEYWORDS, LinearRule, MultilinearRule, PartialsRule, SelectRule,
                              TemplateRule, tangent_or_zero, zero_like)
from ..syntax import nodes, trees
from ..syntax.source import expr_source
from .predicates import Z, cheap, has_tangent, is_none, op_symbol, pure_key
from .scalars import scalar_expr
from .tangent_space import TangentOp


# rules whose operands broadcast against each other (elementwise, linear maps
# applied to some of the operands); see ExpressionMixin.may_broadcast
BROADCASTING = (PartialsRule, TemplateRule, LinearRule, MultilinearRule, SelectRule)


def _formats_string(node):
    """``"%.3f" % x``: string formatting, not the modulo of numbers."""
    return isinstance(node.op, gast.Mod) and isinstance(node.left, gast.Constant) \
        and isinstance(node.left.value, (str, bytes))


_TO_STRING = (builtins.str, builtins.repr, builtins.format, builtins.ascii)


def makes_string(node):
    """An expression turning values into a string: f-strings, ``%``, ``str(x)``,
    ``"{}".format(x)``.  Assigned to a name, the string carries no derivative,
    and the transform rejects the name where a derivative could flow on."""
    if isinstance(node, gast.JoinedStr):
        return True
    if isinstance(node, gast.BinOp):
        return _formats_string(node)
    if isinstance(node, gast.Call):
        if isinstance(node.func, gast.Attribute) and node.func.attr == "format" \
                and isinstance(node.func.value, gast.Constant) \
                and isinstance(node.func.value.value, str):
            return True
        kind = resolved(node)
        return isinstance(kind, RuleCall) and kind.obj in _TO_STRING
    return False


@dataclass
class Joint:
    """A call computing value and tangent together: ``z, d_z = call``."""
    call: gast.AST
    out_activity: object = True


class ExpressionMixin:
    def emit_expr(self, node):
        """Flatten ``node`` to an atom; returns (atom, tangent or None)."""
        if not self.active(node):
            if cheap(node):
                return node, None
            ident = self.temp(node)
            if scalar_expr(node, self.scalar_names, self.scope):  # math.sin(t) * 0.5
                self.scalar_names.add(ident)
            self.emit(nodes.assign(nodes.name(ident, True), node))
            return nodes.name(ident), None
        if isinstance(node, gast.Name):
            if node.id in self.string_names:
                raise self.error(UnsupportedSyntax, f"`{node.id}` is a string made from a "
                                 "differentiated value, and a string drops its derivative",
                                 node, hint="format inside print(...), or convert numbers "
                                            "directly (float(x), not float(str(x)))")
            if node.id in self.known_zero:  # zero here (transform/jvp.py): no arithmetic
                return node, None
            return node, self.d(node.id)
        if makes_string(node):
            raise self.error(UnsupportedSyntax, "a string made from a differentiated value "
                             "drops its derivative", node,
                             hint="format inside print(...), or convert numbers directly "
                                  "(float(x), not float(str(x)))")
        key = pure_key(node)
        if key is not None and key in self.memo:
            atom, tangent = self.memo[key]
            return trees.clone(atom), trees.clone(tangent)
        if isinstance(node, gast.IfExp):
            ident = self.temp(node)
            self.temps.discard(ident)
            self.act.active.add(ident)
            self.assign_ifexp(nodes.name(ident, True), node)
            return nodes.name(ident), self.d(ident)
        op = self.compute(node)
        ident = self.temp(node if isinstance(op, Joint) else op.primal)
        target = nodes.name(ident, True)
        if isinstance(op, Joint):  # a tuple-valued helper gets a tuple tangent
            if isinstance(op.out_activity, tuple):
                self.space.unsupported("tuple-valued tangents used as values")
            self.act.active.add(ident)
            self.emit(nodes.assign(nodes.tup([target, self.d(ident)], store=True), op.call))
            return self.remember(node, nodes.name(ident), self.d(ident))
        primal, tangent = op.primal, op.tangent
        self.emit(nodes.assign(target, primal))
        if tangent is None:
            return self.remember(node, nodes.name(ident), None)
        self.act.active.add(ident)
        d_ident = self.d(ident)
        stmt = nodes.assign(trees.as_store(d_ident), self.finish(tangent, nodes.name(ident)))
        stmt.fc_named = self.space.named_intermediates  # not inlined by forward_substitute
        self.emit(stmt)
        return self.remember(node, nodes.name(ident), d_ident)

    def remember(self, node, atom, tangent):
        """Within one statement, an identical pure sub-expression is computed once."""
        key = pure_key(node)
        if key is not None:
            self.memo[key] = (atom, tangent)
        return trees.clone(atom), trees.clone(tangent)

    def static(self, node):
        """An argument that carries no tangent, kept inline when cheap."""
        if self.active(node):
            raise self.error(UnsupportedSyntax, "this value is used where no derivative can "
                             "flow (an index, a shape or an option)", node)
        if cheap(node):
            return node
        ident = self.temp(node)
        self.emit(nodes.assign(nodes.name(ident, True), node))
        return nodes.name(ident)

    def structure_read(self, node):
        """A read of a parameter passed as a structure (frontend/structures.py):
        its tangent is the same read of the tangent structure, whose leaves
        carry the K directions in vector mode."""
        if isinstance(node.value, (gast.Subscript, gast.Attribute)):
            inner = self.structure_read(node.value)
            value, d_value = inner.primal, inner.tangent
        else:
            value = node.value
            d_value = self.d(value.id) if self.active(value) else None
        if isinstance(node, gast.Subscript):
            primal = nodes.subscript(trees.clone(value), trees.clone(node.slice))
            tangent = None if d_value is None else \
                nodes.subscript(d_value, trees.clone(node.slice))
        else:
            primal = nodes.attr(trees.clone(value), node.attr)
            tangent = None if d_value is None else nodes.attr(d_value, node.attr)
        return TangentOp(primal, tangent, "exact")

    def static_index(self, index):
        if isinstance(index, gast.Tuple):
            return nodes.tup([self.static_index(e) for e in index.elts])
        if isinstance(index, gast.Slice):
            return gast.Slice(*(None if p is None else self.static(p)
                                for p in (index.lower, index.upper, index.step)))
        return self.static(index)

    def compute(self, node):
        """A TangentOp (primal expression over atoms, tangent expression or
        None), or a Joint; the tangent space makes the tangent right for it
        (one direction: widened where data may broadcast the result)."""
        op = self._compute(node)
        if isinstance(op, Joint) or op.tangent is None:
            return op
        return self.space.batch(op)

    def may_broadcast(self, primal, tangent):
        """Whether the result may be larger than ``tangent``: an operand that
        carries no tangent (data) can broadcast the result (``X + b`` with only
        ``b`` differentiated), and a tangent must have its value's shape.  The
        tangent has the full shape when it mentions the result, or every operand
        either through its value or its tangent; numbers and names known to hold
        scalars cannot broadcast anything."""
        if isinstance(primal, gast.BinOp):
            operands = [primal.left, primal.right]
        elif isinstance(primal, gast.Call) and isinstance(self.last_rule, BROADCASTING):
            operands = list(primal.args) + [k.value for k in primal.keywords]
            if isinstance(primal.func, gast.Attribute) and self.last_receiver:
                operands.append(primal.func.value)
        else:
            return False
        present = {trees.structure(sub) for sub in trees.walk(tangent)}
        if trees.structure(nodes.name(Z)) in present:
            return False
        while any(isinstance(o, (gast.List, gast.Tuple)) for o in operands):  # [x, Y]
            operands = [e for o in operands for e in
                        (o.elts if isinstance(o, (gast.List, gast.Tuple)) else [o])]
        for operand in operands:
            if self.holds_scalar(operand):
                continue
            if isinstance(operand, gast.Name) and operand.id in self.namer.tangents \
                    and trees.structure(self.d(operand.id)) in present:
                continue
            if trees.structure(operand) not in present:
                return True
        return False

    def holds_scalar(self, atom):
        """A number, or an expression that always gives one (transform/scalars.py)."""
        if trees.is_number(atom) or isinstance(atom, gast.Constant):
            return True
        return scalar_expr(atom, self.scalar_names, self.scope)

    def _compute(self, node):
        self.last_rule, self.last_receiver = None, False
        if isinstance(node, gast.BinOp) and not _formats_string(node):
            left, d_left = self.emit_expr(node.left)
            right, d_right = self.emit_expr(node.right)
            primal = nodes.binop(left, node.op, right)
            rule = lookup(type(node.op))
            if rule is None:
                raise self.error(NoDerivativeRule, f"the operator `{op_symbol(node.op)}` has "
                                 "no derivative rule", node)
            return self.rule_op(primal, rule, {"x": left, "y": right},
                                {"x": d_left, "y": d_right})
        if isinstance(node, gast.UnaryOp):
            operand, d_operand = self.emit_expr(node.operand)
            rule = lookup(type(node.op))
            primal = gast.UnaryOp(op=node.op, operand=operand)
            return self.rule_op(primal, rule, {"x": operand}, {"x": d_operand})
        if isinstance(node, gast.Subscript) and is_index_object(node, self.scope):
            return index_tricks.compute(self, node)  # np.r_[x, y], np.c_[...]
        if isinstance(node, (gast.Subscript, gast.Attribute)) \
                and hasattr(node, nodes.STRUCTURE):
            return self.structure_read(node)
        if isinstance(node, gast.Subscript):
            value, d_value = self.emit_expr(node.value)
            index = self.static_index(node.slice)
            tangent = None if d_value is None else self.space.read(d_value, index, node.slice)
            return TangentOp(nodes.subscript(value, index), tangent)
        if isinstance(node, gast.Attribute):
            value, d_value = self.emit_expr(node.value)
            primal = nodes.attr(value, node.attr)
            if node.attr in NONDIFF_ATTRIBUTES or d_value is None:
                return TangentOp(primal, None)
            if node.attr in LINEAR_ATTRIBUTES:
                op = self.space.attribute(d_value, node.attr)
                op.primal = primal
                return op
            raise self.error(UnsupportedSyntax, f"the attribute `.{node.attr}` of a "
                             "differentiated value is not supported", node)
        if isinstance(node, (gast.List, gast.Tuple, gast.Dict)):
            self.space.unsupported("containers of tangents")
        if isinstance(node, (gast.List, gast.Tuple)):
            atoms, tangents = self.atoms(node.elts)
            primal = type(node)(elts=atoms, ctx=gast.Load())
            return TangentOp(primal, tangent_or_zero(primal, tangents))
        if isinstance(node, gast.Dict):  # {"W": W, "b": b}: a dict of tangents
            if any(k is None for k in node.keys):
                raise self.error(UnsupportedSyntax, "`**` in a dict of differentiated values "
                                 "is not supported", node)
            keys = [self.static(k) for k in node.keys]
            atoms, tangents = self.atoms(node.values)
            zeros = [t if t is not None else zero_like(a) for a, t in zip(atoms, tangents)]
            return TangentOp(gast.Dict(keys=keys, values=atoms),
                             gast.Dict(keys=[trees.clone(k) for k in keys], values=zeros))
        if isinstance(node, gast.Call):
            return self.compute_call(node)
        if isinstance(node, gast.Set):
            raise self.error(UnsupportedSyntax, "a set of differentiated values is not "
                             "supported (it has no order to pair values with tangents)", node,
                             hint="use a list or a tuple")
        if isinstance(node, gast.BoolOp):
            raise self.error(UnsupportedSyntax, "`and`/`or` on differentiated values is not "
                             "supported (it returns one of its operands)", node,
                             hint="use `a if condition else b`")
        if isinstance(node, (gast.ListComp, gast.GeneratorExp, gast.SetComp, gast.DictComp)):
            raise self.error(UnsupportedSyntax, "comprehensions over differentiated values are "
                             "not supported here (in a `while` condition, a branch of `a if c "
                             "else b`, the right of `and`/`or`, a lambda, or a generator kept "
                             "in a variable)", node,
                             hint="compute it in a statement of its own before this one "
                                  "(`terms = [...]`), or write a for loop")
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
        kind = resolved(call)
        if isinstance(kind, Method):
            return self.compute_method(call, kind)
        if isinstance(kind, UserCall):
            return self.compute_user_call(call, kind.fn, kind.receiver)
        if isinstance(kind, RuleCall):
            return self.apply_rule(call, kind.rule, kind.obj, call.func)
        unsupported = _unsupported_callee(call.func, kind)
        if unsupported is not None:
            raise self.error(UnsupportedSyntax, unsupported[0], call, hint=unsupported[1])
        raise self.error(NoDerivativeRule, f"no derivative rule for `{expr_source(call.func)}`"
                         " and its source is not available", call,
                         hint="register one with @fwdcompile.custom_jvp(fn), or pass the "
                              "value as data (not in wrt)")

    def apply_rule(self, call, rule, obj, func, receiver=None):
        self.last_rule, self.last_receiver = rule, receiver is not None
        args, d_args, keywords, d_keywords = self.call_args(call, literal_lists=rule.literal_lists)
        if receiver is not None:
            args, d_args = [receiver[0]] + args, [receiver[1]] + d_args
        if rule.kind == "joint":
            return self.custom_call(call, rule, args, d_args, keywords, d_keywords)
        try:
            bound = rule.bind(args, keywords)
            d_bound = rule.bind(d_args, d_keywords)
            d_bound.pop(KEYWORDS, None)
        except TypeError as exc:
            raise self.error(UnsupportedSyntax, f"cannot match this call to the derivative "
                             f"rule of {rule.name}: {exc}", call) from None
        if "out" in bound and not is_none(bound["out"]):
            raise self.error(UnsupportedSyntax, "`out=` arguments are not supported", call,
                             hint="assign the result instead")
        problem = rule.check(bound, d_bound)
        if problem is not None:
            raise self.error(NoDerivativeRule, problem, call,
                             hint="pass that argument as data (not in wrt), or register a "
                                  "rule with fwdcompile.custom_jvp")
        tangent, batching = None, "exact"
        if rule.kind != "nondiff":
            allowed = rule.differentiable()
            for pname, tangent in d_bound.items():
                if has_tangent(tangent) and allowed is not None and pname not in allowed:
                    raise self.error(NoDerivativeRule, f"argument `{pname}` of {rule.name} "
                                     "has no derivative rule, but it carries a derivative here",
                                     call, hint="pass it as data, or register a rule with "
                                                "fwdcompile.custom_jvp")
            op = self.space.rule_tangent(rule, bound, d_bound)
            tangent, batching = op.tangent, op.batching
        if receiver is not None:
            primal = nodes.call(nodes.attr(receiver[0], call.func.attr), args[1:],
                                list(keywords.items()))
        else:
            primal = nodes.call(func, args, list(keywords.items()))
        return TangentOp(primal, tangent, batching)

    def rule_op(self, primal, rule, bound, d_bound):
        """An operator's TangentOp from its rule (``x``, ``y``: the operands)."""
        op = self.space.rule_tangent(rule, bound, d_bound)
        op.primal = primal
        return op

    def custom_call(self, call, rule, args, d_args, keywords, d_keywords):
        """``rule(primals, tangents, **keywords)``: keyword arguments reach the
        rule as keywords, constants that carry no derivative."""
        for name, tangent in d_keywords.items():
            if has_tangent(tangent):
                raise self.error(NoDerivativeRule, f"the keyword argument `{name}=` of "
                                 f"{rule.name} carries a derivative, but a custom_jvp rule "
                                 "receives keyword arguments as constants", call,
                                 hint="pass it positionally, so that it is in the rule's "
                                      "primals and tangents")
        problem = rule.keyword_problem(tuple(keywords))
        if problem is not None:
            raise self.error(UnsupportedSyntax, problem, call,
                             hint="give the rule a parameter of that name, or **kwargs")
        ident = self.namer.fresh(f"{getattr(rule.function, '__name__', 'rule')}_jvp_rule")
        self.namespace[ident] = rule.jvp_function
        tangents = [t if t is not None else self.zero(a) for a, t in zip(args, d_args)]
        return Joint(self.space.joint_call(ident, args, tangents, list(keywords.items())))

    def compute_method(self, call, kind):
        name = kind.name
        receiver, d_receiver = self.emit_expr(kind.receiver)
        if name in METHOD_FUNCTIONS:
            rule = lookup(METHOD_FUNCTIONS[name])
            return self.apply_rule(call, rule, None, None, receiver=(receiver, d_receiver))
        args, d_args, keywords, d_keywords = self.call_args(call, literal_lists=False)
        primal = nodes.call(nodes.attr(receiver, name), args, list(keywords.items()))
        if any(t is not None for t in d_args + list(d_keywords.values())):
            raise self.error(NoDerivativeRule, f"the arguments of `.{name}()` cannot carry a "
                             "derivative", call)
        if d_receiver is None or name in NONDIFF_METHODS:
            return TangentOp(primal, None)
        op = self.space.method(method_rule(name), d_receiver, args, keywords)
        if op is not None:  # x.sum(), x.reshape(...) in one call for K directions
            op.primal = primal
            return op
        if name == "get" and len(args) == 2:  # d.get(key, default): the default's tangent is 0
            return TangentOp(primal, nodes.call(nodes.attr(d_receiver, name),
                                                [trees.clone(args[0]), zero_like(args[1])]),
                             "per_direction")
        if name == "astype" and float_dtype(call, self.scope) is None:
            raise self.error(UnsupportedSyntax, "cannot tell whether this `.astype(...)` keeps "
                             "a floating dtype", call,
                             hint="write the dtype literally, e.g. x.astype(float)")
        if name in LINEAR_METHODS or name == "astype":
            return TangentOp(primal, nodes.call(nodes.attr(d_receiver, name), trees.clone(args),
                                                list(trees.clone(keywords).items())),
                             "exact" if name == "astype" else "per_direction")
        raise self.error(NoDerivativeRule, f"the method `.{name}()` has no derivative rule",
                         call, hint="use the numpy function instead, e.g. np.sum(x), "
                                    "or register a rule with fwdcompile.custom_jvp")

    def zero_arguments(self, call):
        """Whether the active names ``call`` reads are all known zero here
        (transform/jvp.py ``known_zero``) and none is written in place."""
        names = {n.id for n in trees.walk(call) if isinstance(n, gast.Name)
                 and self.active_name(n.id)}
        return bool(names) and names <= self.known_zero

    def compute_user_call(self, call, fn, receiver=None):
        sig = inspect.signature(fn)
        args, d_args, keywords, d_keywords = self.call_args(call, literal_lists=False)
        if receiver is not None:  # model.loss(w) -> loss_jvp(model, w, d_w=d_w)
            args, d_args = [self.static(receiver)] + args, [None] + d_args
        try:
            bound = sig.bind(*args, **keywords)  # a call that cannot bind is reported here
            d_bound = sig.bind(*d_args, **d_keywords)
        except TypeError as exc:
            raise self.error(UnsupportedSyntax, f"cannot match this call to "
                             f"{fn.__qualname__}: {exc}", call) from None
        active = tuple(p for p in sig.parameters if d_bound.arguments.get(p) is not None)
        if not active and self.zero_arguments(call):
            # every active argument's tangent is known zero here: the plain call
            primal = nodes.call(trees.clone(call.func), args[1:] if receiver is not None
                                else args, list(keywords.items()))
            return TangentOp(primal, None)
        name, out_activity, tangent_params, helper_wrt = self.helpers(fn, active, call)
        # the helper also takes tangents for the arguments it writes into; one this
        # caller does not differentiate gets zeros (what the helper adds is unused)
        kw = list(keywords.items())
        for p, tp in zip(helper_wrt, tangent_params):
            tangent = d_bound.arguments.get(p)
            if tangent is None:
                if not isinstance(bound.arguments.get(p), gast.AST):
                    raise self.error(UnsupportedSyntax, f"{fn.__qualname__} writes into its "
                                     f"argument `{p}`, which this call does not pass as one "
                                     "value", call, hint="pass that argument by name")
                tangent = self.zero(bound.arguments[p])
            kw.append((tp, tangent))
        return Joint(nodes.call(name, args, kw), out_activity)


def _unsupported_callee(func, kind):
    """(message, hint) for calling a function held in a variable or a class, else None."""
    spelled = expr_source(func)
    if isinstance(func, gast.Name) and getattr(kind, "obj", False) is None:
        return (f"`{spelled}` holds a function passed in or assigned at run time; fwdcompile "
                "differentiates calls to functions it can name when compiling",
                "call the function by its name here, or pass it to this helper from a function "
                "in the same module (the helper is then compiled for that function: "
                "docs/supported-python.md), or register a rule with fwdcompile.custom_jvp")
    if inspect.isclass(getattr(kind, "obj", None)):
        return (f"creating a `{spelled}` object from differentiated values here is not "
                "supported: only `name = Class(...)` at the top of the body, of a class of "
                "this module whose __init__ only sets attributes (`self.W = W`), is",
                f"make __init__ only set attributes, or write the computation as a function "
                f"of the arrays (`def {spelled.lower()}_apply(W, b, x): ...`), or create the "
                "object at module level and call its methods (`model.loss(w)` on a "
                "module-level object is differentiated with `model` as data)")
    return None
