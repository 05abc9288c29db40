"""The structures stage: parameters passed as pytrees become named leaves.

Contract: :func:`specialize` takes the parsed function and the structure
(a :class:`fwdcompile.tree.PyTreeDef`) of each differentiated parameter that
receives a container (dict, list, tuple, NamedTuple, dataclass), and returns
a copy of the parsed function in which

* every read of a leaf reached by constant keys is a local named after its
  path (``params["W1"]`` -> ``params_W1``, ``layers[0][1]`` ->
  ``layers_0_1``, ``p.W`` -> ``p_W``), bound once at the top of the
  function by a *marked* read (``params_W1 = params['W1']``); keys may go
  through local names bound to a part of the structure (``layer =
  layers[0]``), tuple unpacking (``W, b = layers[0]``) and the variables of
  unrolled loops;
* ``len(...)`` of a structure is a constant;
* a ``for`` loop over a structure (directly, or through ``enumerate``,
  ``.items()``, ``.values()``, ``.keys()``, or ``range(len(...))`` whose
  body indexes the structure with the loop variable) is unrolled: its body
  repeated once per item, in order, the loop variables assigned before each
  copy;
* a structure (or part of one) passed whole to the user's own function is a
  marked read too, carrying its structure, so that the helper is compiled
  for it (pipeline.Linker).

Any other use of a list, tuple or dict structure as a value
(``np.stack(layers)``, ``sum(weights)``, returned) is the literal of its
leaves (``[layers_0, layers_1]``), which the transform differentiates like
any such literal; a NamedTuple or dataclass used that way is a located
:class:`UnsupportedSyntax`.

The mark (``syntax.nodes.STRUCTURE`` on a Subscript, Attribute or Name:
the structure of the value it reads) is what the transform reads to take a
tangent container apart with plain reads (``d_params['W1']``) in both
tangent spaces: a tangent of a structure is a structure of tangents, with
K directions on each leaf's leading axis in vector mode.
"""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass

import gast
import numpy as np

from ..errors import UnsupportedSyntax
from ..syntax import nodes, trees
from ..syntax.nodes import RESOLVED, STRUCTURE
from .calls import UserCall, resolved
from .specialise import QUIET

_HINT = ("read its leaves (params['W'], params.W, W, b = layers[0]), loop over it, or pass "
         "it to a function of your own")


@dataclass(frozen=True)
class Part:
    """A part of a parameter's structure: the parameter and the path to it."""

    root: str
    path: tuple  # (("item", key) | ("attr", name), ...)
    tdef: object  # PyTreeDef

    def child(self, step):
        """The part one step further, or None when ``step`` does not reach one."""
        kind, key = step
        t = self.tdef
        if t.is_leaf or t.kind == "none":
            return None
        if t.kind == "dict":
            if kind != "item" or key not in t.meta:
                return None
            return Part(self.root, self.path + (step,), t.children[t.meta.index(key)])
        named = isinstance(t.kind, type)
        if kind == "attr":
            if not named or key not in t.meta:
                return None
            return Part(self.root, self.path + (step,), t.children[t.meta.index(key)])
        is_tuple = t.kind in ("list", "tuple") or (named and hasattr(t.kind, "_fields"))
        if not is_tuple or type(key) is not int or not -len(t.children) <= key < len(t.children):
            return None
        key %= len(t.children)
        step = ("attr", t.meta[key]) if named else ("item", key)
        return Part(self.root, self.path + (step,), t.children[key])

    def items(self):
        """``[(key, part)]`` in iteration order: what ``for x in part`` yields
        (the keys of a dict, the items of a sequence)."""
        t = self.tdef
        if t.kind == "dict":
            return [(k, self.child(("item", k))) for k in t.meta]
        if t.kind in ("list", "tuple") or hasattr(t.kind, "_fields"):
            return [(i, self.child(("item", i))) for i in range(len(t.children))]
        return None


def specialize(parsed, structures):
    """A copy of ``parsed`` specialized for ``structures`` (parameter -> PyTreeDef)."""
    node = trees.clone(parsed.node)
    rewriter = _Rewriter(parsed, node, dict(structures))
    body = rewriter.block(node.body, {})
    node.body = rewriter.prologue() + body  # the leaves the body reads, bound first
    out = copy.copy(parsed)
    out.node = node
    out.local_names = set(parsed.local_names) | set(rewriter.leaf_names.values())
    out.scope = copy.copy(parsed.scope)
    out.scope.locals = set(parsed.scope.locals) | set(rewriter.leaf_names.values())
    return out


class _Rewriter:
    def __init__(self, parsed, node, structures):
        self.parsed = parsed
        self.loc = parsed.loc
        self.structures = structures
        self.leaf_names = {}  # (root, path) -> local name
        self.taken = set(parsed.local_names) | {n.id for n in trees.walk(node)
                                                 if isinstance(n, gast.Name)}
        for n in trees.walk_own(node):
            if isinstance(n, gast.Name) and n.id in structures and isinstance(n.ctx, gast.Store):
                self.error(n, f"the parameter {n.id!r} holds a structure of parameters and "
                           "is assigned here", "use another name for the new value")

    def error(self, node, message, hint=_HINT):
        raise UnsupportedSyntax(message, **self.loc.of(node), hint=hint)

    # ------------------------------------------------------------ leaves
    def leaf_name(self, part):
        key = (part.root, part.path)
        if key not in self.leaf_names:
            words = [part.root] + [re.sub(r"\W", "_", str(k)).strip("_") or "k"
                                   for _, k in part.path]
            base = "_".join(words)
            ident, k = base, 1
            while ident in self.taken:
                k += 1
                ident = f"{base}_{k}"
            self.taken.add(ident)
            self.leaf_names[key] = ident
        return self.leaf_names[key]

    def read(self, part):
        """The marked read of ``part`` from its parameter: ``params['enc']['W']``."""
        node = nodes.name(part.root)
        setattr(node, STRUCTURE, self.structures[part.root])
        walked = Part(part.root, (), self.structures[part.root])
        for step in part.path:
            kind, key = step
            walked = walked.child(step)
            node = nodes.subscript(node, nodes.const(key)) if kind == "item" \
                else nodes.attr(node, key)
            setattr(node, STRUCTURE, walked.tdef)
        return node

    def prologue(self):
        """``params_W1 = params['W1']`` for every leaf read, in flattening order."""
        order = {}
        for root, tdef in self.structures.items():
            for i, path in enumerate(_leaf_paths(Part(root, (), tdef))):
                order[(root, path)] = (list(self.structures).index(root), i)
        out = []
        for key in sorted(self.leaf_names, key=order.__getitem__):
            root, path = key
            # not located: the generated code shows no user statement above it
            out.append(nodes.assign(nodes.name(self.leaf_names[key], True),
                                    self.read(Part(root, path, None))))
        return out

    def literal(self, part, at):
        """``part`` rebuilt from its leaves: a leaf's local, or a list, tuple or
        dict literal of them (``np.stack(layers)``, ``sum(weights)``), which
        the transform differentiates like any such literal."""
        t = part.tdef
        if t.is_leaf:
            return nodes.name(self.leaf_name(part))
        items = part.items()
        if items is None or t.kind not in ("list", "tuple", "dict"):
            self.error(at, f"a structure of parameters ({t}) is used as a value here", _HINT)
        values = [self.literal(child, at) for _, child in items]
        if t.kind == "dict":
            return gast.Dict(keys=[nodes.const(k) for k, _ in items], values=values)
        return (gast.List if t.kind == "list" else gast.Tuple)(elts=values, ctx=gast.Load())

    # ------------------------------------------------------------ static reads
    def part(self, node, env):
        """The part of a structure ``node`` reads, or None."""
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            bound = env.get(node.id)
            if isinstance(bound, Part):
                return bound
            if node.id in self.structures and node.id not in env:
                return Part(node.id, (), self.structures[node.id])
            return None
        if isinstance(node, gast.Subscript):
            base = self.part(node.value, env)
            if base is None or base.tdef.is_leaf:  # params['W'][0]: an element of a leaf
                return None
            if isinstance(node.slice, gast.Slice):  # layers[1:]: see sliced()
                return None
            key = _constant(node.slice, env)
            if key is _NONE:
                self.error(node, "this subscript of a structure of parameters has no "
                           "constant key in it", "index with a constant (params['W'], "
                           "layers[0]) or a loop variable over it (for W, b in layers:)")
            found = base.child(("item", key))
            if found is None:
                self.error(node, f"the structure of parameters ({base.tdef}) has no item "
                           f"{key!r}", _HINT)
            return found
        if isinstance(node, gast.Attribute):
            base = self.part(node.value, env)
            if base is None or base.tdef.is_leaf:  # params['W'].T: an attribute of a leaf
                return None
            if base.tdef.kind == "dict" and node.attr in ("items", "values", "keys", "get"):
                return None  # params.values() outside a loop: a method of the dict literal
            found = base.child(("attr", node.attr))
            if found is None:
                self.error(node, f"the structure of parameters has no field .{node.attr}",
                           _HINT)
            return found
        return None

    # ------------------------------------------------------------ expressions
    def expr(self, node, env):
        """``node`` with every leaf read a local, ``len`` of a structure a
        constant and structures passed to helpers marked."""
        part = self.part(node, env)
        if part is not None:
            return trees.copy_location(self.literal(part, node), node)
        items = self.sliced(node, env)
        if items is not None:  # layers[1:] used as a value: the list of its parts
            kind = gast.Tuple if self.part(node.value, env).tdef.kind == "tuple" else gast.List
            return trees.copy_location(kind(elts=[self.literal(p, node) for p in items],
                                             ctx=gast.Load()), node)
        if isinstance(node, gast.Name) and isinstance(env.get(node.id), _Const):
            return trees.copy_location(nodes.const(env[node.id].value), node)
        if isinstance(node, gast.Call):
            return self.call(node, env)
        for field, value in gast.iter_fields(node):
            if isinstance(value, gast.AST):
                setattr(node, field, self.expr(value, env))
            elif isinstance(value, list):
                setattr(node, field, [self.expr(v, env) if isinstance(v, gast.AST) else v
                                      for v in value])
        return node

    def call(self, node, env):
        func = node.func
        if isinstance(func, gast.Name) and func.id == "len" and len(node.args) == 1 \
                and not node.keywords and func.id not in self.parsed.local_names:
            items = self.sequence(node.args[0], env)
            if items is not None:
                return trees.copy_location(nodes.const(len(items)), node)
        kind = resolved(node)
        if isinstance(kind, UserCall):  # a helper: structures passed whole, marked
            def argument(a):
                inner = a.value if isinstance(a, gast.Starred) else a
                part = self.part(inner, env)
                if part is None or part.tdef.is_leaf:
                    return self.expr(a, env)
                return trees.copy_location(self.read(part), inner)
            node.args = [argument(a) for a in node.args]
            for kw in node.keywords:
                kw.value = argument(kw.value)
            if kind.receiver is None:
                node.func = self.expr(node.func, env)
            return node
        node.func = self.expr(node.func, env)
        node.args = [self.expr(a, env) for a in node.args]
        for kw in node.keywords:
            kw.value = self.expr(kw.value, env)
        return node

    # ------------------------------------------------------------ statements
    def block(self, body, env):
        out = []
        for stmt in body:
            out.extend(self.stmt(stmt, env))
        return out

    def stmt(self, stmt, env):
        if isinstance(stmt, gast.Assign):
            return self.assign(stmt, env)
        if isinstance(stmt, gast.For):
            unrolled = self.unroll(stmt, env)
            if unrolled is not None:
                return unrolled
            stmt.iter = self.expr(stmt.iter, env)
            return self.branching(stmt, env, [stmt.body, stmt.orelse], stmt.target)
        if isinstance(stmt, (gast.If, gast.While)):
            stmt.test = self.expr(stmt.test, env)
            return self.branching(stmt, env, [stmt.body, stmt.orelse])
        if isinstance(stmt, (gast.FunctionDef, gast.ClassDef)):
            return [stmt]  # a helper defined inside: lifted, takes what it reads as arguments
        if isinstance(stmt, (gast.AugAssign, gast.AnnAssign)):
            self.store_target(stmt.target, env)
        for field, value in gast.iter_fields(stmt):
            if isinstance(value, gast.expr) and field != "target":
                setattr(stmt, field, self.expr(value, env))
            elif isinstance(value, list) and value and isinstance(value[0], gast.expr):
                setattr(stmt, field, [self.expr(v, env) for v in value])
            elif isinstance(value, list) and value and isinstance(value[0], gast.stmt):
                setattr(stmt, field, self.block(value, env))  # `with`: its body runs once
            elif isinstance(value, list) and value and isinstance(value[0], gast.withitem):
                for item in value:
                    item.context_expr = self.expr(item.context_expr, env)
        if isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
            env.pop(stmt.target.id, None)
        return [stmt]

    def branching(self, stmt, env, blocks, target=None):
        """A statement whose blocks may run or not: names they bind lose
        what is known about them, inside (a loop runs again) and after."""
        assigned = set()
        for block in blocks:
            for s in block:
                assigned |= {n.id for n in trees.walk(s) if isinstance(n, gast.Name)
                             and isinstance(n.ctx, gast.Store)}
        if target is not None:
            assigned |= {n.id for n in trees.walk(target) if isinstance(n, gast.Name)}
        for name in assigned:
            env.pop(name, None)
        inner = [dict(env) for _ in blocks]
        for block, scope in zip(blocks, inner):
            block[:] = self.block(block, scope)
        return [stmt]

    def store_target(self, target, env):
        """A store into a structure (``params['W'] = ...``) is refused; a store
        into a leaf's elements (``params['W'][0] = ...``) writes the leaf."""
        if isinstance(target, (gast.Subscript, gast.Attribute)):
            part = self.part(target.value, env)
            if part is not None and not part.tdef.is_leaf:
                self.error(target, "assigning into a structure of parameters is not "
                           "supported", "compute the new value in a local variable")
            target.value = self.expr(target.value, env)
            if isinstance(target, gast.Subscript):
                target.slice = self.expr(target.slice, env)

    def assign(self, stmt, env):
        for target in stmt.targets:
            self.store_target(target, env)
        part = self.part(stmt.value, env) if len(stmt.targets) == 1 else None
        if part is not None and not part.tdef.is_leaf:
            return self.bind(stmt.targets[0], part, env, stmt)
        stmt.value = self.expr(stmt.value, env)
        for target in stmt.targets:
            for name in trees.walk(target):
                if isinstance(name, gast.Name) and isinstance(name.ctx, gast.Store):
                    env.pop(name.id, None)
        return [stmt]

    def bind(self, target, part, env, at):
        """Statements binding ``target`` to ``part``: a name bound to a
        structure is only known here (``env``); the names bound to leaves are
        assigned their locals in one statement (``W, b = layers_0_0, layers_0_1``)."""
        pairs = []
        self.collect(target, part, env, pairs)
        if not pairs:
            return []
        if len(pairs) == 1:
            stmt = nodes.assign(pairs[0][0], pairs[0][1])
        else:
            stmt = nodes.assign(nodes.tup([t for t, _ in pairs], store=True),
                                nodes.tup([v for _, v in pairs]))
        if getattr(at, QUIET, False):
            setattr(stmt, QUIET, True)
        return [trees.copy_location(stmt, at)]

    def collect(self, target, part, env, pairs):
        if isinstance(part, _Const):  # a key or an index of an unrolled loop
            if not isinstance(target, gast.Name):
                self.error(target, "a key of a structure can only be assigned to a name",
                           _HINT)
            env[target.id] = part
            pairs.append((target, nodes.const(part.value)))
            return
        if isinstance(part, tuple):  # enumerate(...), .items(): unpacked
            if not isinstance(target, (gast.Tuple, gast.List)) or \
                    len(target.elts) != len(part):
                self.error(target, f"unpack each item into {len(part)} names", _HINT)
            for element, item in zip(target.elts, part):
                self.collect(element, item, env, pairs)
            return
        if isinstance(target, gast.Name) and not part.tdef.is_leaf:
            env[target.id] = part
            return
        if part.tdef.is_leaf:
            for name in trees.walk(target):
                if isinstance(name, gast.Name):
                    env.pop(name.id, None)
            pairs.append((target, nodes.name(self.leaf_name(part))))
            return
        if not isinstance(target, (gast.Tuple, gast.List)):
            self.error(target, "a structure of parameters can only be assigned to names",
                       _HINT)
        items = part.items()
        if items is None or part.tdef.kind == "dict" or len(items) != len(target.elts) \
                or any(isinstance(e, gast.Starred) for e in target.elts):
            self.error(target, f"cannot unpack this structure of parameters "
                       f"({part.tdef}) into {len(target.elts)} names", _HINT)
        for element, (_, child) in zip(target.elts, items):
            self.collect(element, child, env, pairs)

    # ------------------------------------------------------------ loops
    def unroll(self, loop, env):
        """The statements of ``loop`` unrolled over a structure, or None when
        it does not iterate over one."""
        items = self.loop_items(loop, env)
        if items is None:
            return None
        for s in loop.body:
            for n in trees.walk(s):
                if isinstance(n, (gast.Break, gast.Continue)) and _owned_by(n, loop):
                    self.error(n, "`break` and `continue` are not supported in a loop over "
                               "a structure of parameters (it is unrolled)",
                               "compute a mask or a condition instead")
        # the bindings of each copy read `for W, b in layers` in the generated code
        # (a loop made from a comprehension has its statement's comment already)
        header = trees.copy_location(gast.Pass(), loop)
        if getattr(loop, QUIET, False):
            setattr(header, QUIET, True)
        else:
            header.end_lineno = getattr(loop.iter, "end_lineno", None)
            header.end_col_offset = getattr(loop.iter, "end_col_offset", None)
        out = []
        for value in items:
            out += self.bind(trees.clone(loop.target), value, env, header)
            out += self.block(trees.clone(loop.body), env)
        return out + self.block(loop.orelse, env)

    def loop_items(self, loop, env):
        """What each iteration of ``loop`` binds its target to (a Part, a
        _Const, or a tuple of them to unpack), or None when the loop does not
        iterate over a structure."""
        it, target = loop.iter, loop.target
        items = self.sequence(it, env)
        if items is not None:
            return items
        if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) \
                and it.func.id == "range" and len(it.args) == 1 and not it.keywords \
                and isinstance(target, gast.Name):
            n = trees.constant_value(self.expr(it.args[0], env), (int,))
            if n is not None and self.indexes_structure(loop, target.id, env):
                return [_Const(i) for i in range(n)]
        return None

    def sequence(self, node, env):
        """The items iterating ``node`` yields, when it iterates a structure:
        the structure itself (a dict's keys), ``.keys()``, ``.values()``,
        ``.items()`` of a dict, or ``enumerate`` of one of those; else None."""
        items = self.sliced(node, env)
        if items is not None:
            return items
        part = self.part(node, env)
        if part is not None:
            items = part.items()
            if items is None:
                self.error(node, "this structure of parameters cannot be iterated over", _HINT)
            if part.tdef.kind == "dict":
                return [_Const(k) for k, _ in items]
            return [child for _, child in items]
        if not isinstance(node, gast.Call) or node.keywords:
            return None
        func = node.func
        if isinstance(func, gast.Attribute) and not node.args \
                and func.attr in ("items", "values", "keys"):
            part = self.part(func.value, env)
            if part is None:
                return None
            if part.tdef.kind != "dict":
                self.error(node, f".{func.attr}() of a structure that is not a dict", _HINT)
            pairs = part.items()
            if func.attr == "keys":
                return [_Const(k) for k, _ in pairs]
            if func.attr == "values":
                return [child for _, child in pairs]
            return [(_Const(k), child) for k, child in pairs]
        if isinstance(func, gast.Name) and func.id == "enumerate" and len(node.args) == 1:
            inner = self.sequence(node.args[0], env)
            if inner is None:
                return None
            return [(_Const(i), item) for i, item in enumerate(inner)]
        if isinstance(func, gast.Name) and func.id == "zip" and node.args:
            inner = [self.sequence(a, env) for a in node.args]
            if any(i is None for i in inner):
                if any(i is not None for i in inner):
                    self.error(node, "zip of a structure of parameters with a value that is "
                               "not one", "zip parts of the structure only, or index the "
                               "other value with enumerate's counter")
                return None
            return list(zip(*inner))
        return None

    def sliced(self, node, env):
        """The items of ``layers[1:]`` (a constant slice of a list or tuple
        structure), or None."""
        if not (isinstance(node, gast.Subscript) and isinstance(node.slice, gast.Slice)):
            return None
        base = self.part(node.value, env)
        if base is None or base.tdef.is_leaf:
            return None
        bounds = [None if b is None else _constant(b, env)
                  for b in (node.slice.lower, node.slice.upper, node.slice.step)]
        items = base.items()
        if items is None or base.tdef.kind == "dict" or any(
                b is _NONE or (b is not None and type(b) is not int) for b in bounds):
            self.error(node, "a slice of a structure of parameters needs constant bounds "
                       "on a list or tuple", _HINT)
        return [child for _, child in items][slice(*bounds)]

    def indexes_structure(self, loop, name, env):
        """Whether the body of ``loop`` indexes a structure with ``name``."""
        for s in loop.body:
            for n in trees.walk(s):
                if isinstance(n, gast.Subscript) and isinstance(n.slice, gast.Name) \
                        and n.slice.id == name and _root(n.value) is not None:
                    root = _root(n.value)
                    if root in self.structures or isinstance(env.get(root), Part):
                        return True
        return False


def reads_like_structure(parsed, params, parse=None, seen=None):
    """Whether the function reads one of ``params`` the way code reads a
    structure of parameters (``p["W"]``, ``layer.W`` for a field no array
    has, ``p.items()``, ``a, b = p``, ``for a, b in p``), itself or in a
    helper it passes one to (``parse(fn)`` reads a helper; its calls are
    resolved once a compilation has run): compiling it for arrays may fail
    where compiling it for the structure it receives works."""
    params = set(params)
    seen = set() if seen is None else seen
    local = params | set(parsed.local_names)

    def is_param(n):
        return isinstance(n, gast.Name) and n.id in params

    called = {id(n.func) for n in trees.walk_own(parsed.node) if isinstance(n, gast.Call)}
    for n in trees.walk_own(parsed.node):
        if isinstance(n, gast.Subscript) and is_param(n.value) \
                and isinstance(n.slice, gast.Constant) and isinstance(n.slice.value, str):
            return True
        if isinstance(n, gast.Attribute) and isinstance(n.value, gast.Name) \
                and n.value.id in local and not hasattr(np.ndarray, n.attr) \
                and id(n) not in called:  # a field read, not a method (rows.append)
            return True
        if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) \
                and is_param(n.func.value) and n.func.attr in ("items", "values", "keys"):
            return True  # params.items(): a dict's
        if isinstance(n, gast.Assign) and is_param(n.value) \
                and isinstance(n.targets[0], (gast.Tuple, gast.List)):
            return True
        if isinstance(n, gast.For) and is_param(n.iter) \
                and isinstance(n.target, (gast.Tuple, gast.List)):
            return True  # for W, b in layers (for row in X is an array's rows)
        kind = getattr(n, RESOLVED, None) if isinstance(n, gast.Call) else None
        if parse is not None and isinstance(kind, UserCall) and kind.receiver is None \
                and kind.fn not in seen:
            passed = _passed_params(n, kind.fn, is_param)
            if passed:
                seen.add(kind.fn)
                try:
                    helper = parse(kind.fn)
                except Exception:  # a helper without source: its own error says so
                    continue
                if reads_like_structure(helper, passed, parse, seen):
                    return True
    return False


def _passed_params(call, fn, is_param):
    """The parameters of ``fn`` that ``call`` passes one of ``params`` to."""
    try:
        bound = inspect.signature(fn).bind(*call.args, **{k.arg: k.value for k in
                                                          call.keywords if k.arg})
    except (TypeError, ValueError):
        return set()
    return {p for p, v in bound.arguments.items() if isinstance(v, gast.AST) and is_param(v)}


class _Const:
    """A loop variable's value in one unrolled copy of a loop body."""

    def __init__(self, value):
        self.value = value


_NONE = object()


def _constant(node, env):
    """The constant key ``node`` spells (a literal, a negated one, or a
    variable of an unrolled loop), else _NONE."""
    if isinstance(node, gast.Constant) and type(node.value) in (int, str):
        return node.value
    if isinstance(node, gast.Name) and isinstance(env.get(node.id), _Const):
        return env[node.id].value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) \
            and isinstance(node.operand, gast.Constant) and type(node.operand.value) is int:
        return -node.operand.value
    return _NONE


def _root(node):
    while isinstance(node, (gast.Subscript, gast.Attribute)):
        node = node.value
    return node.id if isinstance(node, gast.Name) else None


def _owned_by(jump, loop):
    """Whether ``break``/``continue`` ``jump`` belongs to ``loop`` (not to a
    loop nested in its body)."""
    for s in loop.body:
        for n in trees.walk(s):
            if isinstance(n, (gast.For, gast.While)) and any(
                    m is jump for b in (n.body, n.orelse) for st in b for m in trees.walk(st)):
                return False
    return True


def _leaf_paths(part):
    if part.tdef.is_leaf:
        return [part.path]
    out = []
    t = part.tdef
    steps = [("item", k) for k in t.meta] if t.kind == "dict" else \
        [("attr", k) for k in t.meta] if isinstance(t.kind, type) else \
        [("item", i) for i in range(len(t.children))]
    for step in steps:
        out += _leaf_paths(part.child(step))
    return out
