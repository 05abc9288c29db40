"""The pipeline driver: parse -> fence -> activity -> jvp -> simplify -> unparse -> load.

Contract: :func:`check` runs the stages that need no knowledge of which
arguments carry tangents (parse, name resolution, fence) and is what the
decorator calls.  :func:`compile_jvp` produces, once per ``(function, wrt)``
pair, a :class:`Compiled` holding the loaded ``<name>_jvp`` function and its
source (with the sources of the helpers it calls).  Helpers called by the
function are compiled recursively for the arguments that are active at the
call, and cached the same way.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import gast

from .codegen.load import load
from .errors import SourceUnavailable, UnsupportedSyntax
from .frontend import fence
from .frontend.activity import ExprActivity, analyze
from .frontend.parse import check_free_names, parse_function
from .syntax import nodes, trees
from .syntax.source import line_origins, to_source
from .transform.jvp import Transformer
from .frontend.calls import Method, RuleCall, call_arguments, classify_call
from .rules.registry import CustomRule
from .transform.checks import insert_checks
from .transform.reuse import reuse_buffers
from .transform.simplify import forward_substitute, remove_dead

LOCK = threading.RLock()  # held while ASTs are built or parsed (CPython is not thread-safe there)
_PARSED: dict[Any, Any] = {}  # function -> its parsed, analysed form
_COMPILED: dict[Any, Any] = {}  # (function, wrt, variant) -> compiled JVP
_IN_PROGRESS: set[Any] = set()  # functions being compiled (recursion guard)


@dataclass
class Compiled:
    fn: object                 # the generated function
    name: str
    wrt: tuple
    out_activity: object
    own_source: str
    tangent_params: tuple = ()  # keyword names of the tangent parameters, in wrt order
    writes: tuple = ()  # parameters the function writes differentiated values into
    positional_tangents: bool = False  # tangents may be passed after the arguments
    helpers: list = field(default_factory=list)  # Compiled of the helpers it calls
    origins: dict = field(default_factory=dict)  # generated line -> the user's statement

    @property
    def source(self):
        """This function's generated source followed by its helpers', each once."""
        seen, parts = set(), []

        def visit(c):
            if id(c) in seen:
                return
            seen.add(id(c))
            parts.append(c.own_source)
            for h in c.helpers:
                visit(h)

        visit(self)
        return "\n\n".join(parts)


def check(fn):
    """Parse and fence ``fn`` (cached); raises the located errors of those stages."""
    with LOCK:
        parsed = _PARSED.get(fn)
        if parsed is None:
            parsed = parse_function(fn)
            fence.check(parsed)
            check_free_names(parsed)
            for nested_fn, nested in parsed.nested.items():  # helpers defined inside
                check_free_names(nested)
                _PARSED[nested_fn] = nested
            _PARSED[fn] = parsed
        return parsed


def clear_cache() -> None:
    """Forget every parsed and compiled function (rules registered later apply)."""
    with LOCK:
        _PARSED.clear()
        _COMPILED.clear()


def checking() -> bool:
    """Whether checking mode is on for the whole process (``FWDCOMPILE_CHECK=1``)."""
    return os.environ.get("FWDCOMPILE_CHECK", "").strip().lower() in ("1", "true", "yes", "on")


def compile_jvp(fn, wrt, name=None, helper=False, batched=False, check=None):
    """The generated ``<name>_jvp`` of ``fn`` for tangents on the parameters ``wrt``.

    A helper that writes differentiated values into an argument array
    (``out[i] = ...``) must receive that argument's tangent too, so for
    helpers the parameters it writes join ``wrt`` until all are included.

    ``batched`` generates the vector-mode variant, whose tangents carry K
    directions on a leading axis (see transform/batch.py); it raises
    ``BatchUnsupported`` for code it cannot express that way.

    ``check`` (default: :func:`checking`) generates code that asserts the
    shape and dtype of every tangent (transform/checks.py)."""
    check = checking() if check is None else bool(check)
    compiled = _compile_jvp(fn, tuple(wrt), name, batched, check)
    while helper and set(compiled.writes) - set(compiled.wrt):
        params = list(inspect.signature(fn).parameters)
        wrt = tuple(p for p in params if p in set(compiled.wrt) | set(compiled.writes))
        compiled = _compile_jvp(fn, wrt, name, batched, check)
    return compiled


def _compile_jvp(fn, wrt, name, batched=False, checked=False):
    name = name or f"{check(fn).node.name}_jvp" + ("_batched" if batched else "")
    with LOCK:
        key = (fn, wrt, name, batched, checked)
        if key in _COMPILED:
            return _COMPILED[key]
        parsed = check(fn)
        _IN_PROGRESS.add(fn)
        try:
            compiled = _compile(parsed, wrt, name, batched, checked)
        finally:
            _IN_PROGRESS.discard(fn)
        _COMPILED[key] = compiled
        return compiled


def _bind_active(fn, call, names, expr_activity):
    sig = inspect.signature(fn)
    args, keywords = call_arguments(call, expr_activity.scope)
    try:
        bound = sig.bind(*args, **keywords)
    except TypeError:
        return ()
    def active(param, value):
        kind = sig.parameters[param].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:  # a tuple of argument ASTs
            return any(expr_activity(v, names) for v in value)
        if kind is inspect.Parameter.VAR_KEYWORD:  # a dict of them
            return any(expr_activity(v, names) for v in value.values())
        return expr_activity(value, names)

    # a helper taking *args is active too: compiling it raises the fence's located error
    return tuple(p for p, v in bound.arguments.items() if active(p, v))


def _compile(parsed, wrt, name, batched=False, checked=False):
    helpers_used = []
    helper_names = {}

    def compile_helper(helper, active, call, helper_name=None, in_batch=False):
        if helper in _IN_PROGRESS:
            raise UnsupportedSyntax(f"recursive call to {helper.__qualname__} is not supported",
                                    **parsed.loc.of(call),
                                    hint="rewrite the recursion as a loop")
        try:
            return compile_jvp(helper, active, helper_name, helper=True, batched=in_batch,
                               check=checked)
        except SourceUnavailable as exc:
            if exc.lineno is not None:
                raise
            # the helper has no file (exec, a REPL): point at the call
            raise SourceUnavailable(exc.message, **parsed.loc.of(call), hint=exc.hint) from None

    def helper_outputs(helper, call, names):
        active = _bind_active(helper, call, names, expr_activity)
        if not active:
            return False
        return compile_helper(helper, active, call).out_activity

    def helper_writes(helper, call, names):
        active = _bind_active(helper, call, names, expr_activity)
        if not active:
            return ()
        compiled = compile_helper(helper, active, call)
        args, keywords = call_arguments(call, parsed.scope)
        bound = inspect.signature(helper).bind(*args, **keywords)
        return tuple(bound.arguments[p] for p in compiled.writes if p in bound.arguments)

    expr_activity = ExprActivity(parsed.scope, helper_outputs, helper_writes)
    activity = analyze(parsed, wrt, expr_activity)

    def helpers(helper, active, call):
        key = (helper, active)
        if key not in helper_names:
            helper_name = transformer.namer.fresh(f"{check(helper).node.name}_jvp")
            helper_names[key] = compile_helper(helper, active, call, helper_name, batched)
            helpers_used.append((helper_name, helper_names[key]))
        compiled = helper_names[key]
        return compiled.name, compiled.out_activity, compiled.tangent_params, compiled.wrt

    transformer = Transformer(parsed, wrt, activity, expr_activity, helpers, name, batched)
    result = transformer.run()
    return _finish(parsed, wrt, name, transformer, result, activity, helpers_used,
                   result.spelling, checked)


def _finish(parsed, wrt, name, transformer, result, activity, helpers_used, spelled,
            checked=False):
    fn = parsed.fn
    removable = (result.tangent_names | result.temp_names) - set(parsed.params) \
        - {transformer.namer.tangent(p) for p in wrt}
    remove_dead(result.node, removable)
    temps = result.temp_names
    inlinable = temps | {transformer.namer.tangents[t] for t in temps
                         if t in transformer.namer.tangents}

    def is_pure_call(call):
        kind = classify_call(call, parsed.scope)
        if isinstance(kind, Method):
            return True  # array methods we differentiate never write
        return isinstance(kind, RuleCall) and not isinstance(kind.rule, CustomRule)

    forward_substitute(result.node, inlinable, is_pure_call, result.tangent_names)
    if transformer.batched:
        reuse_buffers(result.node, (result.tangent_names & removable) - set(parsed.params),
                      result.tangent_names)
    if checked:
        sites_name = transformer.namer.fresh("_check_sites")
        result.namespace[sites_name] = insert_checks(
            result.node, transformer.namer.tangents, parsed.params, transformer.batched,
            sites_name)
    defaults = _bind_defaults(result.node, fn, transformer.namer)
    trees.spell_aliases(result.node, spelled)  # the _rt calls reuse and checks added
    source = to_source(result.node, result.comments)
    filename = f"<fwdcompile {fn.__module__}.{fn.__qualname__} wrt={','.join(wrt) or '-'}" \
        f"{' batched' if transformer.batched else ''}{' checked' if checked else ''}>"
    names = {n.id for n in trees.walk(result.node) if isinstance(n, gast.Name)}
    namespace = parsed.scope.closure_values(names)
    namespace.update(result.namespace)
    namespace.update(defaults)
    for ident, compiled in helpers_used:
        namespace[ident] = compiled.fn
    generated = load(source, name, filename, parsed.scope.globals, namespace, spelled)
    generated.__defaults__ = fn.__defaults__
    if fn.__kwdefaults__:
        generated.__kwdefaults__ = dict(fn.__kwdefaults__)
    tangent_params = tuple(transformer.namer.tangent(p) for p in wrt)
    return Compiled(generated, name, wrt, result.out_activity, source, tangent_params,
                    activity.written_params, result.positional_tangents,
                    [c for _, c in helpers_used], line_origins(result.node, source))



def _bind_defaults(fdef, fn, namer):
    """Spell the generated function's default values without evaluating the
    user's default expressions again: ``def fun(x, k=k)`` inside ``make(k)``
    reads ``make``'s ``k``, which the generated code cannot see.  Numbers,
    strings, booleans and None are written as constants (readable, and the
    native backend fills them in); any other value becomes a name bound in
    the factory.  The values are those the function object holds, which the
    generated function gets as its ``__defaults__`` anyway.  Returns the
    names to bind."""
    args = fdef.args
    bindings = {}

    def spelled(param, value):
        if value is None or type(value) in (bool, int, str) or \
                (type(value) is float and math.isfinite(value)):
            return nodes.const(value)
        ident = namer.fresh(f"{param}_default")
        bindings[ident] = value
        return nodes.name(ident)

    positional = args.posonlyargs + args.args
    values = fn.__defaults__ or ()
    if len(values) == len(args.defaults):
        params = positional[len(positional) - len(values):]
        args.defaults = [d if isinstance(d, gast.Constant) else spelled(p.id, v)
                         for p, d, v in zip(params, args.defaults, values)]
    kwvalues = fn.__kwdefaults__ or {}
    args.kw_defaults = [d if d is None or isinstance(d, gast.Constant) or p.id not in kwvalues
                        else spelled(p.id, kwvalues[p.id])
                        for p, d in zip(args.kwonlyargs, args.kw_defaults)]
    return bindings
