"""The derivative-rule registry and the combinators that fill it.

A rule is looked up by the *object* a call resolves to (``numpy.sin``,
``math.exp``, a user's C function) or, for operators, by the gast operator
class (``gast.Mult``).  Rules never see values: they receive the call's bound
arguments as small AST atoms (names, constants), the tangent AST of each
argument or ``None`` when that tangent is statically zero, and the name of
the result, and they return the tangent *expression*.  Statically zero
tangents therefore produce no code at all.

The combinators mirror JAX's ``defjvp``/``deflinear``/``defbilinear`` and
DiffRules' one-partial-per-argument table:

``defjvp(f, sig, *partials)``
    ``d_z = sum(partial_i * d_arg_i)``; each partial is a Python expression
    over the parameter names and ``z`` (the result), e.g. ``"_np.cos(x)"``.
``deflinear(f, sig, linear=...)``
    ``d_z = f(d_x, <other arguments unchanged>)``.
``defmultilinear(f, sig, factors=...)``
    the product rule: ``d_z = f(d_x, y) + f(x, d_y)``.
``deftemplate(f, sig, expr)``
    a whole tangent expression over the parameters, their tangents ``d_x``
    and ``z`` (zero tangents become ``0.0``), for selections such as
    ``maximum``.
``defnondiff(f)``
    the result carries no tangent (integers, booleans, shapes, piecewise
    constants such as ``floor``).
``custom_jvp(f)``
    a user rule computed at run time: ``rule(primals, tangents, **keywords) -> (z, d_z)``.

Each rule also declares how it batches in vector mode (``rule.batching``, see
:data:`BATCHING`): every combinator takes ``batching=`` and has a default
(``defjvp``: elementwise unless a partial is a linear map of ``d``;
``deflinear``/``defmultilinear``/``deftemplate``: per direction).  The
transform's vector mode (``transform/tangent_space.py``) reads nothing else.

The combinators also take the function's other facts as keywords, so that
everything about one function is declared in one place:
``view_of_first_arg=True`` (its result may share memory with its first
argument: ``reshape``) and ``fresh_result=True`` (it always returns a new
array: ``where``).

In templates ``_np`` is numpy, ``_math`` is math and ``_rt`` is
:mod:`fwdcompile.runtime`; generated code binds these reserved aliases so it
never depends on the names a user chose.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gast

from ..syntax import nodes, trees

# how a rule's one-direction tangent becomes correct for K directions on a
# leading axis (transform/tangent_space.py, KDirections.apply_rule)
BATCHING = {
    "elementwise": "the one-direction form holds under broadcasting once every "
                   "tangent is lifted to the result's rank",
    "matmul": "a product of the first two parameters: _rt.matmul_left/_rt.matmul_right",
    "reduction": "a linear reduction of `a` over axis/keepdims: _rt.breduce(<function>, d_a)",
    "extremum": "max/min of `a` over axis/keepdims: _rt.bmax_jvp",
    "reshape": "a C-order reshape of `a`: _rt.breshape",
    "contraction": "a product contracting axes (einsum, tensordot, dot, inner, outer): one "
                   "call per term, the K axis one more index of the differentiated operand: "
                   "einsum('ij,Kjk->Kik', a, d_b), _rt.beinsum, _rt.btensordot, _rt.bdot",
    "axis": "a function along `axis` (None: every axis): the rule's `batched=` template, "
            "told the tangent's axis (_rt.baxis: positive axes +1, None: all but the first)",
    "per_direction": "evaluated direction by direction: _np.stack([... for d_k in d])",
    "unsupported": "the tangent is a tuple: the whole JVP falls back to one run per direction",
}



@dataclass
class TangentOp:
    """One operation as the transform builds it: its primal expression, its
    tangent expression (None: a zero tangent) and how that tangent batches
    (``"elementwise"``, ``"exact"``: already right for the tangent space, or
    ``"per_direction"``; see transform/tangent_space.py)."""
    primal: Any
    tangent: Any
    batching: str = "exact"


_REGISTRY: dict = {}
_BUILTIN: dict = {}  # the rules fwdcompile ships, even where a custom_jvp replaced one
KEYWORDS = "__keywords__"


def lookup(obj):
    try:
        return _REGISTRY.get(obj)  # numpy ufuncs and builtins are hashable
    except TypeError:  # unhashable callables cannot carry rules
        return None


def register(obj, rule, *, view_of_first_arg=False, fresh_result=False):
    """Make ``rule`` the rule of ``obj``, with the facts every combinator takes
    as keywords (see :class:`Rule`)."""
    rule.view_of_first_arg = bool(view_of_first_arg)
    rule.fresh_result = bool(fresh_result)
    _REGISTRY[obj] = rule
    if not isinstance(rule, CustomRule):
        _BUILTIN[obj] = rule
    return rule


def _signature(sig):
    """``"x, y, axis=None"`` -> an inspect.Signature used to bind calls."""
    namespace = {}
    exec(f"def _f({sig}): pass", namespace)  # the signature text comes from our own tables
    return inspect.signature(namespace["_f"])


def parse_expr(text):
    """A rule's expression written as text; its ``_np``/``_math``/``_rt`` are
    the reserved aliases (marked, see syntax/nodes.py)."""
    return nodes.mark_aliases(gast.parse(text, mode="eval").body)


def instantiate(template, mapping):
    """A copy of a rule's expression with its parameters replaced by ``mapping``."""
    return trees.substitute(template, mapping)


@dataclass
class Rule(abc.ABC):
    """Base of all rules. ``sig`` binds call arguments; ``name`` is for messages."""

    name: str
    sig: inspect.Signature | None
    qualname: str | None = None  # how generated code spells the function, e.g. "_np.sum"
    batching: str = "per_direction"  # vector mode, one of BATCHING

    kind = "expr"
    # Facts about the function besides its derivative, set by the combinators'
    # keywords (register): its result may share memory with its first argument
    # (np.reshape: the activity analysis merges the names), and it always
    # returns a new array nobody else holds (np.where: vector mode's buffer
    # reuse may write into it).
    view_of_first_arg = False
    fresh_result = False
    literal_lists = False  # list literal arguments keep one tangent per element
    zeros_batched = False  # vector mode: arguments without a tangent get K zero tangents

    def __post_init__(self):
        if self.batching not in BATCHING:
            raise ValueError(f"{self.name}: unknown batching {self.batching!r}")

    def batching_for(self, bound):
        """How this call batches (``bound``: its arguments); most rules batch
        the same way for every call."""
        return self.batching

    def bind(self, args, keywords):
        """Bind AST arguments; returns an ordered dict name -> AST (tuple for *args).
        The key KEYWORDS remembers which were passed by keyword."""
        bound = self.sig.bind(*args, **keywords)
        out = dict(bound.arguments)
        out[KEYWORDS] = frozenset(keywords)
        return out

    def differentiable(self):
        """Names of the parameters that may carry a tangent."""
        return ()

    def check(self, bound, tangents):
        """A message when this call cannot be differentiated as written (the
        transform reports it at the call, as a NoDerivativeRule), else None.
        ``tangents`` maps parameter names to tangent ASTs or None."""
        return None

    @abc.abstractmethod
    def jvp(self, bound, tangents, z):
        """The tangent expression of the result, or None when it is zero."""


@dataclass
class PartialsRule(Rule):
    partials: dict = field(default_factory=dict)  # param name -> template AST
    zeros: tuple = ()  # parameters whose partial is identically zero (no code)

    def differentiable(self):
        return tuple(self.partials) + tuple(self.zeros)

    def jvp(self, bound, tangents, z):
        mapping = {k: v for k, v in bound.items() if isinstance(v, gast.AST)}
        mapping["z"] = z
        terms = []
        for pname, template in self.partials.items():
            d = tangents.get(pname)
            if d is None:
                continue
            if trees.mentions(template, "d"):  # a linear map of the tangent, e.g. solve(a, d)
                terms.append(instantiate(template, {**mapping, "d": d}))
            else:
                terms.append(scale(instantiate(template, mapping), d))
        return add_terms(terms)


@dataclass
class PowerRule(PartialsRule):
    """``x ** y``: a numeric exponent gives the inline ``c * x ** (c - 1)``; a
    variable one goes through ``_rt.pow_dx``/``_rt.pow_dy``, which are exact at
    ``x == 0`` (where ``y * x ** (y - 1)`` would divide by zero for ``y == 0``
    and ``z * log(x)`` would be ``0 * -inf``)."""

    def differentiable(self):
        return ("x", "y")

    def jvp(self, bound, tangents, z):
        x, y = bound["x"], bound["y"]
        terms = []
        if tangents.get("x") is not None:
            n = trees.constant_value(y)
            if n is not None:
                partial = parse_expr(f"{n!r} * x ** ({n!r} - 1)")
                terms.append(scale(instantiate(partial, {"x": x}), tangents["x"]))
            else:
                terms.append(scale(nodes.call("_rt.pow_dx", [trees.clone(x), trees.clone(y)]),
                                   tangents["x"]))
        if tangents.get("y") is not None:
            terms.append(scale(nodes.call("_rt.pow_dy", [trees.clone(x), trees.clone(z)]),
                               tangents["y"]))
        return add_terms(terms)


@dataclass
class LogRule(PartialsRule):
    """``log(x)`` and ``log(x, base)``."""

    module: str = "_math"  # the alias whose log divides by log(base): _math or _np

    def differentiable(self):
        return ("x", "base")

    def jvp(self, bound, tangents, z):
        x, base = bound["x"], bound.get("base")
        terms = []
        if base is None:
            if tangents.get("x") is not None:
                terms.append(nodes.binop(tangents["x"], gast.Div(), trees.clone(x)))
            return add_terms(terms)
        log_base = nodes.call(f"{self.module}.log", [trees.clone(base)])
        if tangents.get("x") is not None:
            terms.append(nodes.binop(tangents["x"], gast.Div(),
                                     nodes.binop(trees.clone(x), gast.Mult(), log_base)))
        if tangents.get("base") is not None:
            terms.append(nodes.neg(nodes.binop(
                nodes.binop(trees.clone(z), gast.Mult(), tangents["base"]), gast.Div(),
                nodes.binop(trees.clone(base), gast.Mult(), trees.clone(log_base)))))
        return add_terms(terms)


@dataclass
class SelectRule(Rule):
    """Builtin ``max``/``min``: the tangent of the selected argument (the first
    one on ties); ``max(a, b)`` is written inline, other forms use ``_rt``."""

    largest: bool = True
    zeros_batched = True  # max(x, y) with y data: y's zero tangent has K directions too

    def bind(self, args, keywords):
        if keywords:
            raise TypeError("keyword arguments (key=, default=) are not supported")
        return {f"arg{i}": a for i, a in enumerate(args)}

    def batching_for(self, bound):
        # max(iterable): the helper selects among the iterable's elements
        return "per_direction" if len([k for k in bound if k != KEYWORDS]) == 1 \
            else self.batching

    def differentiable(self):
        return None

    def jvp(self, bound, tangents, z):
        names = [k for k in bound if k != KEYWORDS]
        if all(tangents.get(k) is None for k in names):
            return None
        args = [bound[k] for k in names]
        ds = [tangents.get(k) if tangents.get(k) is not None else nodes.const(0.0)
              for k in names]
        if len(args) == 2:
            op = gast.GtE() if self.largest else gast.LtE()
            test = gast.Compare(left=trees.clone(args[0]), ops=[op],
                                comparators=[trees.clone(args[1])])
            return nodes.ifexp(test, ds[0], ds[1])
        helper = "_rt.select_max" if self.largest else "_rt.select_min"
        return nodes.call(helper, [nodes.tup([trees.clone(a) for a in args]), nodes.tup(ds)])


@dataclass
class LinearRule(Rule):
    linear: tuple = ()
    literal_lists = True

    def differentiable(self):
        return self.linear

    def jvp(self, bound, tangents, z):
        if all(tangents.get(p) is None for p in self.linear):
            return None
        new = dict(bound)
        for p in self.linear:
            if p in new:
                new[p] = tangent_or_zero(bound[p], tangents.get(p))
        return call_from_bound(self.qualname, self.sig, new)


@dataclass
class MultilinearRule(Rule):
    factors: tuple = ()
    operator: type | None = None  # gast.Mult / gast.MatMult: emit ``x * y``, not a call
    list_factors: tuple = ()  # factors that are lists of factors (multi_dot's arrays)
    literal_lists = True

    def _emit(self, bound):
        if self.operator is not None:
            return nodes.binop(trees.clone(bound["x"]), self.operator(),
                               trees.clone(bound["y"]))
        return call_from_bound(self.qualname, self.sig, bound)

    def differentiable(self):
        return self.factors

    def check(self, bound, tangents):
        for p in self.list_factors:
            if tangents.get(p) is not None and not isinstance(tangents[p], (tuple, list)):
                return (f"`{self.qualname.replace('_np.', 'numpy.')}` is multilinear in the "
                        f"elements of `{p}`: pass them as a list literal, [a, b, c]")
        return None

    def jvp(self, bound, tangents, z):
        x, y = bound.get("x"), bound.get("y")
        if self.operator is gast.Mult and isinstance(x, gast.Name) and isinstance(y, gast.Name) \
                and x.id == y.id and tangents.get("x") is not None:
            # x * x: one term, 2 * x * d_x
            return nodes.binop(nodes.binop(nodes.const(2), gast.Mult(), trees.clone(x)),
                               gast.Mult(), tangents["x"])
        terms = []
        for p in self.factors:
            d = tangents.get(p)
            if d is None:
                continue
            if isinstance(d, list) and p not in self.list_factors:  # linear in the list
                new = dict(bound)
                new[p] = tangent_or_zero(bound[p], d)
                terms.append(self._emit(new))
                continue
            if isinstance(d, (tuple, list)):  # *operands, or a list literal of factors
                literal = bound[p]                # (multi_dot): one term per active one
                elements = literal.elts if isinstance(literal, (gast.List, gast.Tuple)) \
                    else literal
                for i, di in enumerate(d):
                    if di is None:
                        continue
                    if isinstance(di, list):  # an operand written as a list literal
                        di = tangent_or_zero(elements[i], di)
                    new = dict(bound)
                    if isinstance(literal, (gast.List, gast.Tuple)):
                        elts = [trees.clone(e) for e in literal.elts]
                        elts[i] = di
                        new[p] = type(literal)(elts=elts, ctx=gast.Load())
                    else:
                        ops = list(literal)
                        ops[i] = di
                        new[p] = tuple(ops)
                    terms.append(self._emit(new))
                continue
            new = dict(bound)
            new[p] = d
            terms.append(self._emit(new))
        return add_terms(terms)


@dataclass
class TemplateRule(Rule):
    template: gast.AST | None = None
    diff: tuple = ()
    batched: gast.AST | None = None  # the K-direction template (batching "axis")

    def __post_init__(self):
        super().__post_init__()
        if (self.batching == "axis") != (self.batched is not None):
            raise ValueError(f"{self.name}: batching 'axis' goes with a batched= template")

    def differentiable(self):
        return self.diff

    def jvp(self, bound, tangents, z, batched=False):
        """The tangent; ``batched``: for K directions, from the ``batched`` template."""
        if all(tangents.get(p) is None for p in self.diff):
            return None
        mapping = {k: v for k, v in bound.items() if isinstance(v, gast.AST)}
        for p in self.sig.parameters:
            if self.sig.parameters[p].kind in (inspect.Parameter.VAR_POSITIONAL,
                                               inspect.Parameter.VAR_KEYWORD):
                continue
            if p not in mapping:
                default = self.sig.parameters[p].default
                mapping[p] = nodes.const(None if default is inspect.Parameter.empty else default)
        for p in self.diff:
            d = tangents.get(p)
            mapping["d_" + p] = d if d is not None else nodes.const(0.0)
        mapping["z"] = z
        if not batched:
            return _drop_default_keywords(instantiate(self.template, mapping), self.sig)
        return _fold_axes(_drop_default_keywords(instantiate(self.batched, mapping), self.sig))


def _fold_axes(node):
    """``_rt.baxis(-1, z)`` -> ``-1``, ``_rt.baxis(1, z)`` -> ``2``: a literal
    axis is written as the tangent's axis."""
    class _Fold(gast.NodeTransformer):
        def visit_Call(self, call):
            self.generic_visit(call)
            axis = trees.constant_value(call.args[0], (int,)) if call.args else None
            if type(axis) is int and trees.alias_call(call, "_rt", ("baxis",)):
                return nodes.const(axis + 1 if axis >= 0 else axis)
            return call
    return _Fold().visit(node)


@dataclass
class NormRule(TemplateRule):
    """numpy.linalg.norm: the runtime helper covers every order numpy accepts;
    an order written literally that numpy would reject for the axes written
    literally is reported at the call when the function is transformed."""

    def check(self, bound, tangents):
        ord_node, axis_node = bound.get("ord"), bound.get("axis")
        if ord_node is None or tangents.get("x") is None:
            return None
        ord_value = _literal(ord_node)
        if ord_value is _NOT_LITERAL or ord_value is None:
            return None
        axis = _literal(axis_node) if axis_node is not None else None
        matrix = isinstance(axis, tuple) and len(axis) == 2
        vector = type(axis) is int
        if isinstance(ord_value, str):
            ok = ord_value in ("fro", "nuc") and not vector
        elif type(ord_value) in (int, float):
            ok = not matrix or ord_value in (1, -1, 2, -2)
        else:
            ok = False
        if ok:
            return None
        kind = "matrices" if matrix else "vectors" if vector else "any array"
        return (f"numpy.linalg.norm has no derivative rule for ord={ord_value!r} on {kind} "
                "(vectors: any number, inf, -inf; matrices: None, 'fro', 'nuc', 1, -1, 2, "
                "-2, inf, -inf)")


_NOT_LITERAL = object()


def _literal(node):
    """The value of a literal AST (numbers, strings, None, tuples of them)."""
    number = trees.constant_value(node)
    if number is not None:
        return number
    if isinstance(node, gast.Constant):
        return node.value
    if isinstance(node, gast.Tuple):
        values = tuple(_literal(e) for e in node.elts)
        return _NOT_LITERAL if _NOT_LITERAL in values else values
    return _NOT_LITERAL


@dataclass
class NonDiffRule(Rule):
    """The result has no tangent.

    ``zero_derivative=True`` says active inputs are fine because the result is
    piecewise constant in every argument (floor, sign, argmax, comparisons,
    shape queries).  Otherwise a differentiated argument is an error, since the
    result would depend on it differentiably (or it is a size, a range or an
    option): ``reason`` says which, in the message."""

    zero_derivative: bool = True
    reason: str = "they are sizes, ranges or options"
    kind = "nondiff"

    def check(self, bound, tangents):
        if self.zero_derivative or not any(_carries(t) for t in tangents.values()):
            return None
        return f"{self.name} takes no differentiated arguments ({self.reason})"

    def jvp(self, bound, tangents, z):
        return None


def _carries(tangent):
    if isinstance(tangent, (list, tuple)):
        return any(_carries(t) for t in tangent)
    if isinstance(tangent, dict):
        return any(_carries(t) for t in tangent.values())
    return tangent is not None


@dataclass
class CustomRule(Rule):
    """A user rule evaluated at run time: ``rule(primals, tangents, **keywords) -> (z, d_z)``."""

    function: object = None
    jvp_function: object = None
    kind = "joint"

    def bind(self, args, keywords):
        if keywords:
            raise TypeError("keyword arguments reach custom_jvp rules as keywords, "
                            "not in primals")
        return {f"arg{i}": a for i, a in enumerate(args)}

    def keyword_problem(self, names):
        """Why ``rule(primals, tangents, **{name: ...})`` cannot be called, or None."""
        try:
            sig = inspect.signature(self.jvp_function)
        except (TypeError, ValueError):  # no signature to read: the call will tell
            return None
        params = sig.parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                           p.KEYWORD_ONLY)}
        missing = [n for n in names if n not in accepted]
        if not missing:
            return None
        rule_name = getattr(self.jvp_function, "__qualname__", repr(self.jvp_function))
        return (f"{self.name} is called with the keyword argument(s) "
                f"{', '.join(m + '=' for m in missing)} but its custom_jvp rule "
                f"{rule_name}{sig} does not accept them")

    def differentiable(self):
        return None  # every argument

    def jvp(self, bound, tangents, z):
        return None  # computed jointly with the primal, see transform.jvp


# ---------------------------------------------------------------- expression helpers

def _drop_default_keywords(node, sig):
    """``f(a, axis=None)`` -> ``f(a)`` when None is the rule's default for ``axis``."""
    for sub in trees.walk(node):
        if isinstance(sub, gast.Call):
            kept = []
            for kw in sub.keywords:
                param = sig.parameters.get(kw.arg)
                if param is not None and isinstance(kw.value, gast.Constant) \
                        and param.default is not inspect.Parameter.empty \
                        and type(kw.value.value) is type(param.default) \
                        and kw.value.value == param.default:
                    continue
                kept.append(kw)
            sub.keywords = kept
    return node


def scale(partial, d):
    """``partial * d`` with the obvious simplifications (1, -1, 1/y)."""
    number = trees.constant_value(partial)
    if number == 1 and type(partial) is gast.Constant:
        return d
    if number == -1:
        return nodes.neg(d)
    if isinstance(partial, gast.BinOp) and isinstance(partial.op, gast.Div) \
            and type(partial.left) is gast.Constant and trees.constant_value(partial.left) == 1:
        return nodes.binop(d, gast.Div(), partial.right)
    if isinstance(partial, gast.UnaryOp) and isinstance(partial.op, gast.USub):
        return nodes.neg(scale(partial.operand, d))
    if isinstance(partial, gast.BinOp) and isinstance(partial.op, (gast.Mult, gast.Div)) \
            and isinstance(partial.left, gast.UnaryOp) and isinstance(partial.left.op, gast.USub):
        # (-a / b) * d  ->  -(a / b * d), so that sums read `p - q`
        return nodes.neg(nodes.binop(nodes.binop(partial.left.operand, partial.op, partial.right),
                                     gast.Mult(), d))
    return nodes.binop(partial, gast.Mult(), d)


def add_terms(terms):
    """Sum tangent terms; ``a + -b`` is written ``a - b``; no terms -> None (zero)."""
    if not terms:
        return None
    total = terms[0]
    for term in terms[1:]:
        if isinstance(term, gast.UnaryOp) and isinstance(term.op, gast.USub):
            total = nodes.binop(total, gast.Sub(), term.operand)
        else:
            total = nodes.binop(total, gast.Add(), term)
    return total


def zero_like(atom):
    """A zero tangent standing in for an inactive argument of a linear function."""
    if isinstance(atom, gast.Constant):
        return nodes.const(0.0)
    return nodes.call("_rt.zeros_like", [trees.clone(atom)])


def tangent_or_zero(primal, tangent):
    """Tangent of one linear argument; list literals are handled element-wise."""
    if isinstance(tangent, (list, tuple)) and isinstance(primal, (gast.List, gast.Tuple)):
        elts = [t if t is not None else zero_like(p) for p, t in zip(primal.elts, tangent)]
        return type(primal)(elts=elts, ctx=gast.Load())
    if isinstance(tangent, tuple) and isinstance(primal, tuple):  # *args
        return tuple(t if t is not None else zero_like(p) for p, t in zip(primal, tangent))
    if tangent is None:
        return zero_like(primal)
    return tangent


def call_from_bound(qualname, sig, bound):
    """Rebuild a call from bound arguments, spelling them as the user did
    (positionally while possible, then by keyword)."""
    args, keywords = [], []
    positional_ok = True
    by_keyword = bound.get(KEYWORDS, frozenset())
    for pname, param in sig.parameters.items():
        if pname in by_keyword:
            positional_ok = False
        if pname not in bound:
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                positional_ok = False
            continue
        value = bound[pname]
        if param.kind == param.VAR_POSITIONAL:
            args.extend(trees.clone(v) for v in value)
        elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD) and positional_ok:
            args.append(trees.clone(value))
        elif param.kind == param.VAR_KEYWORD:
            keywords.extend((k, trees.clone(v)) for k, v in value.items())
        else:
            keywords.append((pname, trees.clone(value)))
    return nodes.call(qualname, args, keywords)


# ---------------------------------------------------------------- combinators

def _label(fn):
    mod = getattr(fn, "__module__", None) or ""
    return f"{mod}.{getattr(fn, '__name__', repr(fn))}".lstrip(".")


def defjvp(fn, sig, *partials, qualname=None, batching=None, **facts):
    """One partial derivative template per parameter of ``sig`` (``None``: no tangent).
    Batches elementwise, unless a partial is a linear map of its tangent ``d``."""
    signature = _signature(sig)
    names = list(signature.parameters)
    table, zeros = {}, []
    for pname, text in zip(names, partials):
        if text == "0":
            zeros.append(pname)
        elif text is not None:
            table[pname] = parse_expr(text)
    if batching is None:
        batching = "per_direction" if any(trees.mentions(t, "d") for t in table.values()) \
            else "elementwise"
    return register(fn, PartialsRule(_label(fn), signature, qualname, batching,
                                     partials=table, zeros=tuple(zeros)), **facts)


def defpower(fn, qualname=None):
    """``fn(x, y) = x ** y`` with the exponent's tangent and exact zeros at x == 0."""
    return register(fn, PowerRule(_label(fn), _signature("x, y"), qualname, "elementwise"))


def deflog(fn, module):
    return register(fn, LogRule(_label(fn), _signature("x, base=None"), None, "elementwise",
                                module=module))


def defselect(fn, largest):
    return register(fn, SelectRule(_label(fn), None, None, "elementwise", largest=largest))


def deflinear(fn, sig, qualname, linear=None, batching="per_direction", **facts):
    signature = _signature(sig)
    linear = tuple(linear.split()) if isinstance(linear, str) else \
        (linear or (next(iter(signature.parameters)),))
    return register(fn, LinearRule(_label(fn), signature, qualname, batching, linear=linear),
                    **facts)


def defmultilinear(fn, sig, qualname, factors=None, batching="per_direction",
                   list_factors="", **facts):
    """``list_factors``: parameters whose list-literal elements are the factors
    (``multi_dot([a, b, c])``); a list passed otherwise is reported."""
    signature = _signature(sig)
    factors = tuple(factors.split()) if isinstance(factors, str) else \
        (factors or tuple(signature.parameters)[:2])
    operator = fn if isinstance(fn, type) and issubclass(fn, gast.operator) else None
    return register(fn, MultilinearRule(_label(fn), signature, qualname, batching,
                                        factors=factors, operator=operator,
                                        list_factors=tuple(list_factors.split())), **facts)


def deftemplate(fn, sig, template, diff, batching="per_direction", batched=None, **facts):
    """``batched``: the tangent's template for K directions on a leading axis
    of every tangent (with ``batching="axis"``)."""
    signature = _signature(sig)
    return register(fn, TemplateRule(_label(fn), signature, None, batching,
                                     template=parse_expr(template), diff=tuple(diff.split()),
                                     batched=parse_expr(batched) if batched else None),
                    **facts)


def defnorm(fn, sig, template):
    return register(fn, NormRule(_label(fn), _signature(sig), None,
                                 template=parse_expr(template), diff=("x",)))


def defnondiff(fn, sig="*args, **kwargs", zero_derivative=True, reason=None):
    """``zero_derivative=True`` only for functions piecewise constant in every
    argument; give ``reason`` (shown in the error) for the others."""
    rule = NonDiffRule(_label(fn), _signature(sig), None, zero_derivative=zero_derivative)
    if reason is not None:
        rule.reason = reason
    return register(fn, rule)


JvpRule = TypeVar("JvpRule", bound=Callable[[tuple, tuple], tuple])


def custom_jvp(fn: Callable[..., Any]) -> Callable[[JvpRule], JvpRule]:
    """Register a run-time JVP rule for ``fn`` (any callable, e.g. a C function).

    Use as a decorator::

        @fwdcompile.custom_jvp(scipy.special.gamma)
        def gamma_jvp(primals, tangents):
            (x,), (dx,) = primals, tangents
            z = scipy.special.gamma(x)
            return z, z * scipy.special.digamma(x) * dx

    ``primals`` and ``tangents`` are tuples with one entry per positional
    argument of the call; the tangent of an argument that carries no
    derivative is passed as zeros of its shape.  Keyword arguments of the
    call are passed to the rule as keyword arguments, unchanged:
    ``fn(x, order=2)`` calls ``rule((x,), (dx,), order=2)``.  They are
    constants: a keyword argument that carries a derivative is an error
    (pass it positionally), and a rule that does not accept a keyword the
    call uses is reported when the calling function is transformed.

    The rule must return ``(value, tangent)``; for a function returning a
    tuple, ``tangent`` is a tuple of the same length (one tangent per
    element).  In vector mode (``jvp(..., batched=True)``, ``forward_grad``
    with several directions) the rule is called once per direction, with
    one direction's tangents, and the tangents it returns are stacked on a
    leading axis; a tangent whose structure differs from the value's (an
    array for a tuple value, a tuple of another length) raises ``TypeError``.
    Registering a rule for a function replaces any built-in rule for it,
    and functions transformed afterwards use it.
    """
    if not callable(fn):
        raise TypeError(f"custom_jvp needs a callable, got {fn!r}")

    def decorator(jvp_function: JvpRule) -> JvpRule:
        if not callable(jvp_function):
            raise TypeError("custom_jvp(...) must decorate a function(primals, tangents)")
        register(fn, CustomRule(_label(fn), None, None, function=fn,
                                jvp_function=jvp_function))
        return jvp_function

    return decorator
