"""Activity analysis: which variables need a tangent.

Contract: :func:`analyze` returns an :class:`Activity` whose ``active`` set
holds every local name that is *varied* (depends differentiably on a ``wrt``
parameter) and *useful* (can reach a returned value).  Only active names get
a tangent variable; everything else is a compile-time zero.

The analysis is flow-insensitive (one fact per name for the whole function),
which is conservative and needs no fixpoint over loops.  Names that may
alias one array (``b = a``, ``b = a[1:]``, ``b = a.T``, ``u, v = v, u``,
``for row in A``) are merged into one class and share their facts, so an
in-place write through one name is seen by the others.  Integer and boolean
results (comparisons, ``len``, ``//``, ``floor``, index functions) are never
varied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast
import numpy as np

from ..syntax import trees
from .parse import LOCAL
from ..rules.methods import NONDIFF, attribute_rule, method_rule
from .calls import Method, RuleCall, UserCall, is_index_object, resolved


class _Classes:
    """Union-find over names that may alias one object."""

    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def members(self, x):
        root = self.find(x)
        return {n for n in list(self.parent) if self.find(n) == root}


@dataclass
class Activity:
    varied: set = field(default_factory=set)
    useful: set = field(default_factory=set)
    active: set = field(default_factory=set)
    mutated: set = field(default_factory=set)  # names written in place (x[i] = ..., x += ...)
    written_params: tuple = ()  # parameters whose array receives differentiated values
    classes: _Classes = field(default_factory=_Classes)


def target_names(target):
    if isinstance(target, gast.Name):
        return [target.id]
    if isinstance(target, (gast.Tuple, gast.List)):
        return [n for elt in target.elts for n in target_names(elt)]
    name = trees.base_name(target)
    return [name] if name else []


def read_names(node):
    return {n.id for n in trees.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)}


class ExprActivity:
    """Decides whether an expression's value carries a tangent, given a set of
    names that do.  Shared by the analysis and the transform."""

    def __init__(self, scope, helper_outputs, helper_writes=None):
        self.scope = scope
        self.helper_outputs = helper_outputs  # (fn, call, names) -> bool or tuple of bools
        # (fn, call, names) -> the call's argument nodes the helper writes varied data into
        self.helper_writes = helper_writes or (lambda fn, call, names: ())

    def __call__(self, node, names):
        return any(self.elements(node, names)) if isinstance(node, gast.AST) else False

    def elements(self, node, names):
        """Activity of a value, element-wise when it is a tuple (a tuple literal
        or a helper returning a tuple): a tuple of bools, or a 1-tuple."""
        if isinstance(node, gast.Tuple):
            return tuple(self(e, names) for e in node.elts)
        if isinstance(node, gast.Call):
            kind = resolved(node)
            if isinstance(kind, UserCall):
                if not self._any_arg(node, names):
                    return (False,)
                if any(isinstance(a, gast.Starred) for a in node.args) or any(
                        k.arg is None for k in node.keywords):
                    return (True,)  # *args/**kwargs: the transform explains the limit
                out = self.helper_outputs(kind.fn, node, names)
                return out if isinstance(out, tuple) else (out,)
        return (self.single(node, names),)

    def _any_arg(self, call, names):
        args = list(call.args) + [k.value for k in call.keywords]
        if isinstance(call.func, gast.Attribute):  # the receiver of obj.method(...)
            kind = resolved(call)
            if isinstance(kind, UserCall) and kind.receiver is not None:
                args.append(kind.receiver)
        return any(self(a, names) for a in args)

    def single(self, node, names):
        if isinstance(node, gast.Name):
            return node.id in names
        if isinstance(node, (gast.Constant, gast.Compare)):
            return False
        if isinstance(node, (gast.JoinedStr, gast.Set)):
            # active so that the transform reports them: a string of a value
            # drops its derivative (float(f"{x}")), a set has no order to pair
            # values with tangents
            return any(self(v, names) for v in trees.walk(node)
                       if isinstance(v, gast.Name))
        if isinstance(node, gast.Dict):
            return any(self(v, names) for v in node.values)
        if isinstance(node, gast.UnaryOp):
            return not isinstance(node.op, (gast.Not, gast.Invert)) and self(node.operand, names)
        if isinstance(node, gast.BinOp):
            if isinstance(node.op, (gast.FloorDiv, gast.BitAnd, gast.BitOr, gast.BitXor,
                                    gast.LShift, gast.RShift)):
                return False
            return self(node.left, names) or self(node.right, names)
        if isinstance(node, gast.BoolOp):  # `a or b` returns one of its operands
            return any(self(v, names) for v in node.values)
        if isinstance(node, gast.IfExp):
            return self(node.body, names) or self(node.orelse, names)
        if isinstance(node, gast.Subscript):
            if self(node.value, names):
                return True
            # np.r_[x, y] is built from its index: active when that is (the
            # transform differentiates np.r_/np.c_ and rejects other such objects)
            return is_index_object(node, self.scope) and self(node.slice, names)
        if isinstance(node, gast.Attribute):
            declared = attribute_rule(node.attr)
            if declared is not None and declared.kind == NONDIFF:
                return False
            return self(node.value, names)
        if isinstance(node, (gast.List, gast.Tuple)):
            return any(self(e, names) for e in node.elts)
        if isinstance(node, gast.Starred):
            return self(node.value, names)
        if isinstance(node, (gast.ListComp, gast.GeneratorExp, gast.SetComp, gast.DictComp)):
            # active when an element depends on a differentiated value, given
            # which loop variables draw from differentiated sequences
            inner = set(names)
            for gen in node.generators:
                bound = set(target_names(gen.target))
                inner = (inner | bound) if self(gen.iter, inner) else (inner - bound)
            elts = [node.key, node.value] if isinstance(node, gast.DictComp) else [node.elt]
            return any(self(e, inner) for e in elts)
        if isinstance(node, gast.Call):
            return self._call(node, names)
        return bool(read_names(node) & names)

    def _call(self, call, names):
        kind = resolved(call)
        args_active = self._any_arg(call, names)
        if isinstance(kind, Method):
            if kind.name == "astype":  # unknown dtypes count as floating: the transform asks
                return self(kind.receiver, names) and float_dtype(call, self.scope) is not False
            declared = method_rule(kind.name)
            if declared is not None and declared.kind == NONDIFF:
                return False
            return self(kind.receiver, names) or args_active
        if isinstance(kind, RuleCall):
            if kind.rule.kind == "nondiff" and kind.rule.zero_derivative:
                return False
            # a function taking no derivatives (np.arange) given one is active,
            # so that the transform reaches its rule and reports the misuse
            return args_active
        if isinstance(kind, UserCall):
            return any(self.elements(call, names))
        return args_active


def float_dtype(call, scope):
    """Whether ``x.astype(dtype)`` keeps a floating dtype (then it is linear):
    True or False when the dtype is a literal or a resolvable name, else None."""
    if not call.args:
        return None
    arg = call.args[0]
    value = arg.value if isinstance(arg, gast.Constant) else scope.resolve(arg)
    if value is None or value is LOCAL:
        return None
    try:
        return np.dtype(value).kind in "fc"
    except TypeError:
        return None


def may_alias(value, scope):
    """Names whose memory the value of ``value`` may share: through indexing,
    and the methods, attributes and functions declared ``view_of_first_arg``
    (rules/methods.py, and the rules' combinators)."""
    if isinstance(value, gast.Name):
        return {value.id}
    if isinstance(value, gast.Subscript):
        return may_alias(value.value, scope)
    if isinstance(value, gast.Attribute):
        declared = attribute_rule(value.attr)
        if declared is not None and declared.view_of_first_arg:
            return may_alias(value.value, scope)
    if isinstance(value, gast.IfExp):
        return may_alias(value.body, scope) | may_alias(value.orelse, scope)
    if isinstance(value, gast.Call):
        kind = resolved(value)
        if isinstance(kind, Method):
            declared = method_rule(kind.name)
            if declared is not None and declared.view_of_first_arg:
                return may_alias(kind.receiver, scope)
        elif isinstance(kind, RuleCall) and kind.rule.view_of_first_arg and value.args:
            return may_alias(value.args[0], scope)
    return set()


def ufunc_at(stmt, scope):
    """``(ufunc, a, index, b)`` for a statement ``np.add.at(a, index, b)`` (or
    ``np.subtract.at``): an in-place write into ``a``, linear in ``a`` and
    ``b``; else None."""
    if scope is None or not isinstance(stmt, gast.Expr) or not isinstance(stmt.value, gast.Call):
        return None
    call = stmt.value
    func = call.func
    if not isinstance(func, gast.Attribute) or func.attr != "at" or call.keywords \
            or len(call.args) != 3 or any(isinstance(a, gast.Starred) for a in call.args):
        return None
    ufunc = scope.resolve(func.value)
    if ufunc is not np.add and ufunc is not np.subtract:
        return None
    return (ufunc,) + tuple(call.args)


def _flows(body, scope=None):
    """Yield (statement, targets, value) for every binding in a block, recursively."""
    for stmt in body:
        if isinstance(stmt, (gast.Assign, gast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
            for target in targets:
                yield stmt, target, stmt.value
        elif isinstance(stmt, gast.AugAssign):
            yield stmt, stmt.target, stmt
        elif isinstance(stmt, gast.For):
            yield stmt, stmt.target, stmt
        elif _is_append(stmt):  # values.append(x) makes `values` carry x's tangent
            yield stmt, stmt.value.func.value, stmt.value.args[0]
        elif ufunc_at(stmt, scope) is not None:  # np.add.at(a, idx, b): a carries b's tangent
            yield stmt, stmt.value.args[0], stmt.value.args[2]
        for block in ("body", "orelse"):
            if isinstance(stmt, (gast.If, gast.For, gast.While, gast.With)):
                yield from _flows(getattr(stmt, block, []), scope)


def _is_append(stmt):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call) \
        and isinstance(stmt.value.func, gast.Attribute) and stmt.value.func.attr == "append" \
        and isinstance(stmt.value.func.value, gast.Name) and len(stmt.value.args) == 1 \
        and not stmt.value.keywords


def iteration_pairs(it, target):
    """Split ``for target in it`` into (sub-target, iterable) pairs through
    ``enumerate`` and ``zip``; the iterable is None for enumerate's counter."""
    if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and not it.keywords \
            and isinstance(target, (gast.Tuple, gast.List)):
        if it.func.id == "enumerate" and len(target.elts) == 2 and len(it.args) in (1, 2):
            return [(target.elts[0], None)] + iteration_pairs(it.args[0], target.elts[1])
        if it.func.id == "zip" and len(target.elts) == len(it.args):
            return [pair for arg, elt in zip(it.args, target.elts)
                    for pair in iteration_pairs(arg, elt)]
    return [(target, it)]


def loop_target_activity(stmt, expr_activity, names):
    """Pairs (target leaf, varied) for the names bound by a for loop."""
    out = []
    for sub_target, iterable in iteration_pairs(stmt.iter, stmt.target):
        varied = iterable is not None and expr_activity(iterable, names)
        out.extend((leaf, varied) for leaf in trees.leaves(sub_target))
    return out


def analyze(parsed, wrt, expr_activity):
    """Compute the active names of ``parsed`` when the parameters ``wrt`` carry tangents."""
    act = Activity()
    scope = parsed.scope
    flows = list(_flows(parsed.node.body, scope))
    classes = act.classes

    for stmt, target, value in flows:
        if isinstance(stmt, (gast.Assign, gast.AnnAssign)):
            if isinstance(target, gast.Name):
                for other in may_alias(value, scope):
                    classes.union(target.id, other)
                if isinstance(stmt, gast.Assign):  # a = b = np.zeros(3): one object
                    for other in stmt.targets:
                        if isinstance(other, gast.Name) and other is not target:
                            classes.union(target.id, other.id)
            elif isinstance(target, (gast.Tuple, gast.List)):
                if isinstance(value, gast.Tuple) and len(value.elts) == len(target.elts):
                    for t, v in zip(target.elts, value.elts):
                        if isinstance(t, gast.Name):
                            for other in may_alias(v, scope):
                                classes.union(t.id, other)
                # y[0], y[2] = y[2], y[0] writes into y as y[0] = ... does
                for leaf in trees.leaves(target):
                    if isinstance(leaf, gast.Starred):
                        leaf = leaf.value
                    name = trees.base_name(leaf)
                    if name is not None and not isinstance(leaf, gast.Name):
                        act.mutated.add(name)
            else:
                name = trees.base_name(target)
                if name is not None and not isinstance(target, gast.Name):
                    act.mutated.add(name)
        elif isinstance(stmt, (gast.AugAssign, gast.Expr)):
            name = trees.base_name(target)
            if name:
                act.mutated.add(name)
        elif isinstance(stmt, gast.For):
            for leaf in trees.leaves(target):
                if isinstance(leaf, gast.Name):
                    for other in may_alias(stmt.iter, scope):
                        classes.union(leaf.id, other)

    def close(names):
        out = set()
        for n in names:
            out |= classes.members(n) if n in classes.parent else {n}
        return out

    calls = {}
    for sub in trees.walk(parsed.node):
        if isinstance(sub, gast.Call):
            kind = resolved(sub)
            if isinstance(kind, UserCall):
                calls[sub] = kind.fn
    varied = close(set(wrt))
    changed = True
    while changed:
        changed = False
        new = set()
        for stmt, target, value in flows:
            if isinstance(stmt, gast.For):
                for leaf, is_varied in loop_target_activity(stmt, expr_activity, varied):
                    if is_varied:
                        new.update(target_names(leaf))
            elif isinstance(stmt, gast.AugAssign):
                if not isinstance(stmt.op, gast.FloorDiv) and expr_activity(stmt.value, varied):
                    new.update(target_names(target))
            elif isinstance(target, (gast.Tuple, gast.List)):
                flags = expr_activity.elements(value, varied)
                if len(flags) == len(target.elts):
                    for elt, flag in zip(target.elts, flags):
                        if flag:
                            new.update(target_names(elt))
                elif any(flags):
                    new.update(target_names(target))
            elif expr_activity(value, varied):
                new.update(target_names(target))
        for call in calls:  # helpers that write differentiated values into their arguments
            if expr_activity._any_arg(call, varied):
                for arg in expr_activity.helper_writes(calls[call], call, varied):
                    name = trees.base_name(arg)
                    if name is not None:
                        new.add(name)
        new = close(new) - varied
        if new:
            varied |= new
            changed = True

    # what a helper writes into an argument is a mutation of it, as `x[i] = ...` is
    helper_written = {}
    for call, fn in calls.items():
        helper_written[call] = [name for name in (trees.base_name(arg) for arg in
                                                  expr_activity.helper_writes(fn, call, varied))
                                if name is not None]
        act.mutated.update(helper_written[call])

    useful = set()
    for sub in trees.walk(parsed.node):
        if isinstance(sub, gast.Return) and sub.value is not None:
            useful |= read_names(sub.value)
        if isinstance(sub, gast.Expr) and isinstance(sub.value, gast.Call):
            useful |= read_names(sub.value)  # a helper call may write into its arguments
    # a parameter written in place is an output too: the caller sees its array
    written = {m for n in act.mutated for m in (classes.members(n) if n in classes.parent
                                                 else {n})}
    useful |= {p for p in parsed.params if p in written}
    useful = close(useful)
    changed = True
    while changed:
        changed = False
        new = set()
        for call, names in helper_written.items():
            if close(set(names)) & useful:  # what it writes is needed: so is what it reads
                new |= read_names(call)
        for stmt, target, value in flows:
            if not set(target_names(target)) & useful:
                continue
            if isinstance(stmt, gast.For):
                new |= read_names(stmt.iter)
            elif isinstance(stmt, gast.AugAssign):
                new |= read_names(stmt.value) | read_names(stmt.target)
            else:
                new |= read_names(value)
                if not isinstance(target, (gast.Name, gast.Tuple, gast.List)):
                    new |= read_names(target)
        new = close(new) - useful
        if new:
            useful |= new
            changed = True

    act.varied, act.useful = varied, useful
    act.active = varied & useful
    act.written_params = tuple(p for p in parsed.params if p in written and p in varied)
    return act
