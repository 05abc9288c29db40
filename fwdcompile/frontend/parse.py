"""Parse a live function into gast and resolve the names it uses.

Contract: :func:`parse_function` returns a :class:`ParsedFunction` holding the
``FunctionDef`` (decorators removed), the original file name and line/column
offsets (so every error points into the user's file), and a :class:`Scope`
that maps any non-local name or dotted attribute chain (``np.linalg.norm``,
``math.exp``, a closure variable, a builtin) to the live Python object.  It
is two pipeline stages (fwdcompile/pipeline.py): :func:`read_function`
(``parse``) and :func:`lift_function` (``lift``).
"""

from __future__ import annotations

import builtins
import inspect
import linecache
import textwrap
from dataclasses import dataclass, field

import gast

from ..syntax import nodes, trees
from .specialise import BINDINGS, LOCATION
from .lift import lift_nested

from ..errors import NameResolutionError, SourceUnavailable, UnsupportedSyntax

LOCAL = object()  # resolve() result for names bound inside the function


@dataclass
class Location:
    filename: str
    line_offset: int          # add to a node's lineno to get the file's line number
    col_offset: int           # add to a node's col_offset to undo the dedent
    lines: list = field(default_factory=list)      # dedented lines, as parsed
    raw_lines: list = field(default_factory=list)  # the file's lines, for messages

    def of(self, node):
        """Keyword arguments locating ``node`` for a :class:`FwdcompileError`."""
        lineno = getattr(node, "lineno", None)
        if lineno is None:
            return dict(filename=self.filename)
        col = getattr(node, "col_offset", None)
        idx = lineno - 1
        text = self.raw_lines[idx] if 0 <= idx < len(self.raw_lines) else None
        return dict(filename=self.filename, lineno=lineno + self.line_offset,
                    col=None if col is None else col + self.col_offset, source_line=text)

    def segment(self, node):
        """The original source text of a statement, on one line."""
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if start is None:
            return None
        if end is None or end == start:
            end_col = getattr(node, "end_col_offset", None)
            return self.lines[start - 1][node.col_offset:end_col].strip()
        chunk = self.lines[start - 1:end]
        chunk[0] = chunk[0][node.col_offset:]
        return " ".join(line.strip() for line in chunk)


class Scope:
    """Resolves names that are not local to the function to live objects."""

    def __init__(self, fn, local_names, nested=None):
        self.fn = fn
        self.nested = dict(nested or {})  # helpers defined inside: name -> NestedFunction
        self.globals = fn.__globals__
        closure = {}
        if fn.__closure__:
            for var, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    closure[var] = cell.cell_contents
                except ValueError:  # empty cell: defined later in the enclosing scope
                    pass
        self.closure = closure
        self.locals = set(local_names)

    def lookup(self, ident):
        """(found, value) for a free name: closure, then globals, then builtins."""
        if ident in self.closure:
            return True, self.closure[ident]
        if ident in self.globals:
            return True, self.globals[ident]
        if hasattr(builtins, ident):
            return True, getattr(builtins, ident)
        return False, None

    def resolve(self, node):
        """The object an expression such as ``np.linalg.norm`` names, ``LOCAL``
        when it starts from a local variable, or ``None`` when it is not a
        plain name/attribute chain."""
        if isinstance(node, gast.Name):
            if node.id in self.nested:
                return self.nested[node.id]
            if node.id in self.locals:
                return LOCAL
            found, value = self.lookup(node.id)
            return value if found else None
        if isinstance(node, gast.Attribute):
            base = self.resolve(node.value)
            if base is LOCAL or base is None:
                return base
            return getattr(base, node.attr, None)
        return None

    def closure_values(self, names):
        """The closure variables among ``names`` (globals are read live)."""
        return {ident: self.closure[ident] for ident in names
                if ident in self.closure and ident not in self.locals}


@dataclass
class ParsedFunction:
    fn: object
    node: gast.FunctionDef
    loc: Location
    scope: Scope
    params: list
    local_names: set
    nested: dict = field(default_factory=dict)  # NestedFunction -> its ParsedFunction


def _source(fn):
    """(lines, first line number, file name) of ``fn``'s definition.  Reads the
    file through linecache directly; ``inspect.getsourcelines`` first scans
    every loaded module to find the function's, which costs milliseconds."""
    code = fn.__code__
    filename = code.co_filename
    lines = linecache.getlines(filename, fn.__globals__)
    start = code.co_firstlineno
    if lines and 0 < start <= len(lines) and not filename.startswith("<"):
        try:
            block = inspect.getblock(lines[start - 1:])
        except Exception:  # a tokenizer error: let inspect try its own way
            block = None
        if block and block[0].lstrip().startswith(("def ", "@", "async def ")):
            return block, start, filename
    try:
        lines, start = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or filename
    except (OSError, TypeError) as exc:
        raise SourceUnavailable(
            f"cannot read the source of {getattr(fn, '__qualname__', fn)!r}: {exc}",
            hint="define the function in a .py file (or register its derivative with "
                 "fwdcompile.custom_jvp)") from None
    return lines, start, filename


def parse_function(fn):
    """Read, dedent and parse ``fn``, and lift its helpers; see the module docstring."""
    return lift_function(*read_function(fn))


def read_function(fn):
    """``(fn, FunctionDef, Location)``: the unwrapped function, its parsed
    definition (decorators removed, literal unpacking spelled out) and where
    it is; helpers defined inside are still there (see :func:`lift_function`)."""
    fn = inspect.unwrap(fn)
    if not inspect.isfunction(fn):
        raise SourceUnavailable(f"{fn!r} is not a Python function",
                                hint="fwdcompile differentiates plain `def` functions")
    lines, start, filename = _source(fn)
    raw = "".join(lines)
    dedented = textwrap.dedent(raw)
    col_offset = _indent(lines[0]) - _indent(dedented.splitlines()[0]) if lines else 0
    loc = Location(filename, start - 1, col_offset, dedented.splitlines(), raw.splitlines())
    try:
        tree = gast.parse(dedented)
    except SyntaxError as exc:  # e.g. a lambda in the middle of a larger expression
        raise SourceUnavailable(f"cannot parse the source of {fn.__qualname__}: {exc.msg}",
                                filename=filename, lineno=start, source_line=lines[0],
                                col=_indent(lines[0]),
                                hint="define the function with `def` at module level") from None
    if fn.__name__ == "<lambda>":
        node = _lambda_as_def(tree, fn)
        if node is None:
            raise UnsupportedSyntax("cannot tell which lambda on this line is the function",
                                    filename=filename, lineno=start, source_line=lines[0],
                                    col=_indent(lines[0]),
                                    hint="write the function with `def`")
    else:
        node = tree.body[0] if tree.body else None
    if isinstance(node, gast.AsyncFunctionDef):
        raise UnsupportedSyntax("async functions are not supported", **loc.of(node),
                                hint="differentiate a plain `def` function; await in the caller")
    if not isinstance(node, gast.FunctionDef):
        raise UnsupportedSyntax(f"{fn.__qualname__} is not defined by a `def` statement",
                                filename=filename, lineno=start, source_line=lines[0],
                                col=_indent(lines[0]) if lines else None,
                                hint="write the function with `def`")
    node.decorator_list = []
    _expand_literal_unpacking(node)
    return fn, node, loc


def lift_function(fn, node, loc):
    """The :class:`ParsedFunction` of a definition read by :func:`read_function`,
    its helpers lifted (frontend/lift.py) and its names resolvable."""
    nested = lift_nested(node, loc, fn)
    params = [a.id for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
    local_names = trees.local_stores(node)
    scope = Scope(fn, local_names, nested)
    scope.closure.update(getattr(node, BINDINGS, {}))  # what desugar.py spelled out
    parsed = ParsedFunction(fn, node, loc, scope, params, local_names)
    parsed.nested = {f: parse_nested(f, parsed) for f in nested.values()}
    return parsed


def parse_nested(fn, outer):
    """The ParsedFunction of a helper lifted out of ``outer`` (see lift.py)."""
    node = fn.node
    params = [a.id for a in node.args.args]
    local_names = trees.local_stores(node)
    scope = Scope(outer.fn, local_names, outer.scope.nested)
    scope.closure.update(getattr(outer.node, BINDINGS, {}))
    # a helper's copy specialised on a function argument keeps its own lines (desugar.py)
    return ParsedFunction(fn, node, getattr(node, LOCATION, outer.loc), scope, params,
                          local_names)


def _lambda_as_def(tree, fn):
    """``sq = lambda t: t * t`` -> ``def sq(t): return t * t`` (the one lambda on
    its line with the function's parameters), or None when that is ambiguous."""
    params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    found = []
    for stmt in tree.body:
        for node in trees.walk(stmt):
            if isinstance(node, gast.Lambda) and \
                    tuple(a.id for a in node.args.args) == tuple(params):
                name = "lambda_"
                if isinstance(stmt, gast.Assign) and stmt.value is node \
                        and isinstance(stmt.targets[0], gast.Name):
                    name = stmt.targets[0].id
                found.append(nodes.lambda_to_def(node, name))
    return found[0] if len(found) == 1 else None


def _expand_literal_unpacking(fdef):
    """``f(*[a, b])`` -> ``f(a, b)`` and ``f(**{"k": v})`` -> ``f(k=v)``: unpacking
    of literals is spelled out so every argument can carry its own tangent."""
    for call in trees.walk(fdef):
        if not isinstance(call, gast.Call):
            continue
        args = []
        for arg in call.args:
            if isinstance(arg, gast.Starred) and isinstance(arg.value, (gast.List, gast.Tuple)) \
                    and not any(isinstance(e, gast.Starred) for e in arg.value.elts):
                args.extend(arg.value.elts)
            else:
                args.append(arg)
        call.args = args
        keywords = []
        for kw in call.keywords:
            value = kw.value
            if kw.arg is None and isinstance(value, gast.Dict) and all(
                    isinstance(k, gast.Constant) and isinstance(k.value, str)
                    and k.value.isidentifier() for k in value.keys):
                keywords.extend(gast.keyword(arg=k.value, value=v)
                                for k, v in zip(value.keys, value.values))
            else:
                keywords.append(kw)
        call.keywords = keywords


def _indent(line):
    return len(line) - len(line.lstrip())


def check_free_names(parsed):
    """Every name read but not bound locally must resolve now, not at call time."""
    nodes = sorted((n for n in trees.walk_own(parsed.node) if hasattr(n, "lineno")),
                   key=lambda n: (n.lineno, n.col_offset))  # report the first in the file
    for sub in nodes:
        if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Load) \
                and sub.id not in parsed.local_names and sub.id not in parsed.scope.nested:
            found, _ = parsed.scope.lookup(sub.id)
            if not found:
                raise NameResolutionError(
                    f"name {sub.id!r} is not defined", **parsed.loc.of(sub),
                    hint="define it at module level before the function is differentiated")
        if isinstance(sub, gast.Attribute) and isinstance(sub.ctx, gast.Load):
            _check_module_attribute(parsed, sub)


def _check_module_attribute(parsed, node):
    """``np.not_a_function``: an attribute missing from a module is a typo, reported
    now (only modules: other objects may gain attributes before the call)."""
    base = parsed.scope.resolve(node.value)
    if inspect.ismodule(base) and not hasattr(base, node.attr):
        raise NameResolutionError(
            f"module {base.__name__!r} has no attribute {node.attr!r}", **parsed.loc.of(node),
            hint="check the spelling, or define the function before it is differentiated")
