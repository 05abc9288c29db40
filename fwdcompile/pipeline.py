"""The compiler's pipeline, declared as data.

Contract: :data:`STAGES` lists every stage in the order it runs.  Each
:class:`Stage` has a name, a one-line description and a function that reads
and extends one :class:`Unit` (the function being compiled).  The first five
(:data:`FRONT`) need no knowledge of which arguments carry tangents; they run
once per function in :func:`check`, which the decorator calls, so syntax
errors surface at decoration time.  The rest (:data:`BACK`, from ``resolve``,
which reads the rule registry as it is when the function is compiled) run once per
``(function, wrt, batched, checked)`` in :func:`compile_jvp`, which returns a
:class:`Compiled`: the loaded ``<name>_jvp`` function, its source (with the
sources of the helpers it calls) and how long each stage took.

The runner (:func:`run`)

* times every stage with ``time.perf_counter`` (``Compiled.timings``); time
  spent compiling a called helper inside a stage is the helper's, and is
  added up in ``Compiled.helper_timings`` instead;
* prints the code after the stages named in ``FWDCOMPILE_DUMP``
  (``FWDCOMPILE_DUMP=jvp,remove_dead`` or ``all``) to stderr, under a header
  naming the stage and the function;
* tags every :class:`~fwdcompile.errors.FwdcompileError` with the stage that
  raised it (``error.stage``; the message is unchanged), and turns any other
  exception (a bug) into an :class:`~fwdcompile.errors.InternalError` whose
  message names the stage.

Calls to the user's other functions are linked by a :class:`Linker`, which
compiles each helper (recursively, through :func:`compile_jvp`) for the
arguments active at the call.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import gast

from . import cache
from .cache import COMPILED, FRONT_TIMINGS, IN_PROGRESS, LOCK, PARSED
from .codegen.load import load
from .errors import (BatchUnsupported, FwdcompileError, InternalError, LazyUnsupported,
                     SourceUnavailable, UnsupportedSyntax)
from .frontend import fence
from .frontend.desugar import desugar
from .frontend.activity import ExprActivity, analyze
from .frontend.calls import call_arguments, is_pure_call
from .frontend.resolve import global_dependencies, resolve, resolve_built
from .frontend.structures import reads_like_structure, specialize
from .frontend.parse import check_free_names, lift_function, read_function
from .syntax import nodes, trees
from .syntax.source import line_origins, to_source
from .transform.checks import insert_checks
from .transform.jvp import Transformer, function_namer
from .transform.lazy import lazy_tangents
from .transform.release import release
from .transform.reuse import reuse_buffers
from .transform.simplify import forward_substitute, remove_dead

__all__ = ["STAGES", "FRONT", "BACK", "Stage", "Unit", "Compiled", "Linker", "check",
           "compile_jvp", "clear_cache", "checking", "run", "dumping", "LOCK"]


# ---------------------------------------------------------------- what flows through

@dataclass
class Unit:
    """One function on its way through the pipeline: what each stage reads and adds."""

    fn: Any                      # the function as given (the caches' key)
    wrt: tuple = ()
    name: str | None = None      # of the generated function
    batched: bool = False
    checked: bool = False
    structures: tuple = ()       # (parameter, PyTreeDef) of the wrt parameters given containers
    lazy: bool = False           # directions drawn where used (transform/lazy.py)
    function: Any = None         # parse: the unwrapped function
    node: Any = None             # parse: its FunctionDef
    loc: Any = None              # parse: where it is in the user's file
    parsed: Any = None           # lift: the ParsedFunction
    spelled: dict = field(default_factory=dict)  # activity: reserved alias -> its spelling
    namer: Any = None            # activity: the generated function's Namer
    linker: Any = None           # activity: links the helpers it calls
    activity: Any = None         # activity: which names carry tangents
    result: Any = None           # jvp: the JvpFunction, simplified in place by later stages
    defaults: dict = field(default_factory=dict)  # defaults: names bound to default values
    source: str | None = None    # unparse
    origins: dict = field(default_factory=dict)  # unparse: generated line -> user statement
    direction_param: Any = None  # lazy: the parameter taking the directions
    compiled: Any = None         # load: the Compiled
    timings: dict = field(default_factory=dict)  # stage -> seconds spent on this function
    helper_timings: dict = field(default_factory=dict)  # stage -> seconds on helpers meanwhile

    def title(self):
        fn = self.function or self.fn
        text = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        if self.name is not None:
            text += f" wrt={','.join(self.wrt) or '-'}" + (" batched" if self.batched else "") \
                + (" checked" if self.checked else "")
        return text


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
    # stage -> seconds spent on this function; parse .. names ran once for the function
    # and are shared by every wrt
    timings: dict = field(default_factory=dict)
    structures: tuple = ()  # (parameter, PyTreeDef) it was specialized for
    # (module globals, name, object): the globals its code (or a helper's) calls that
    # it was derived from; rebinding one makes it stale (see is_current)
    depends: tuple = ()
    direction_param: str | None = None  # lazy: the keyword taking direction(like, offset)
    # stage -> seconds spent on the helpers compiled while this function was (every
    # compile, also those the activity analysis asked for; nothing for cached ones)
    helper_timings: dict = field(default_factory=dict)

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

    @property
    def all_timings(self):
        """Stage -> seconds, this function's and its helpers' together."""
        total = dict.fromkeys(STAGE_NAMES, 0.0)
        for timings in (self.timings, self.helper_timings):
            for stage, seconds in timings.items():
                total[stage] += seconds
        return {stage: seconds for stage, seconds in total.items()
                if stage in self.timings or stage in self.helper_timings}


@dataclass(frozen=True)
class Stage:
    """A named step of the pipeline; ``run(unit)`` does its work on ``unit``."""

    name: str
    description: str
    run: Callable[[Unit], None]
    when: Callable[[Unit], bool] | None = None  # runs only where this says so
    show: Callable[[Unit], str] | None = None   # the code FWDCOMPILE_DUMP prints after it

    def applies(self, unit: Unit) -> bool:
        return self.when is None or bool(self.when(unit))


# ---------------------------------------------------------------- reserved aliases
# The compiler builds the reserved aliases as _np, _math, _rt (Name nodes marked as
# aliases, syntax/nodes.py); where the user's own code uses one of those names the
# generated function spells it _np_2, ...  The transform renames its own marks; the
# unparse stage renames the ones reuse and checks added after it.

def spell_reserved(node):
    """Reserved alias -> its spelling in the function generated from ``node``."""
    return nodes.alias_spelling({n.id for n in trees.walk(node) if isinstance(n, gast.Name)})


# ---------------------------------------------------------------- helper linking

class Linker:
    """Links the calls a function makes to the JVPs of the user functions it calls.

    A helper is compiled (recursively, through :func:`compile_jvp`, so cached)
    for the parameters whose arguments are active at the call, widened by the
    parameters it writes into.  The activity analysis asks what flows out of
    a call (:meth:`activity_of`) and which arguments it writes
    (:meth:`writes_of`); the transform asks for the JVP to call
    (:meth:`jvp_of`), which gets a fresh name from the caller's ``namer`` and
    is recorded in :attr:`used` for the generated code's namespace."""

    def __init__(self, parsed, namer, batched=False, checked=False):
        self.parsed = parsed
        self.namer = namer
        self.batched = batched
        self.checked = checked
        self.expr_activity = ExprActivity(parsed.scope, self.activity_of, self.writes_of)
        self.used = []  # (name in the generated namespace, Compiled), first call first
        self._linked = {}  # (helper, active parameters) -> Compiled

    def compile(self, helper, active, call, name=None, batched=False):
        if helper in IN_PROGRESS:
            raise UnsupportedSyntax(f"recursive call to {helper.__qualname__} is not supported",
                                    **self.parsed.loc.of(call),
                                    hint="rewrite the recursion as a loop")
        try:
            return compile_jvp(helper, active, name, include_written=True, batched=batched,
                               check=self.checked,
                               structures=self.structures_of(helper, active, call))
        except SourceUnavailable as exc:
            if exc.lineno is not None:
                raise
            # the helper has no file (exec, a REPL): point at the call
            error = SourceUnavailable(exc.message, **self.parsed.loc.of(call), hint=exc.hint)
            error.stage = exc.stage
            raise error from None

    def activity_of(self, helper, call, names):
        """Which outputs of ``helper`` called at ``call`` carry tangents when
        ``names`` do (False when no argument is active)."""
        active = self.active_params(helper, call, names)
        if not active:
            return False
        return self.compile(helper, active, call).out_activity

    def writes_of(self, helper, call, names):
        """The argument ASTs of ``call`` that ``helper`` writes differentiated values into."""
        active = self.active_params(helper, call, names)
        if not active:
            return ()
        compiled = self.compile(helper, active, call)
        args, keywords = call_arguments(call)
        bound = inspect.signature(helper).bind(*args, **keywords)
        return tuple(bound.arguments[p] for p in compiled.writes if p in bound.arguments)

    def structures_of(self, helper, active, call):
        """(parameter, PyTreeDef) for the ``active`` parameters of ``helper``
        that ``call`` passes a parameter structure (frontend/structures.py)."""
        args, keywords = call_arguments(call)
        try:
            bound = inspect.signature(helper).bind(*args, **keywords)
        except TypeError:
            return ()
        return tuple((p, getattr(v, nodes.STRUCTURE)) for p, v in bound.arguments.items()
                     if p in active and not getattr(getattr(v, nodes.STRUCTURE, None),
                                                    "is_leaf", True))

    def jvp_of(self, helper, active, call):
        """``(name, out_activity, tangent_params, wrt)`` of the JVP the generated code
        calls for ``helper`` with tangents on the parameters ``active``."""
        key = (helper, active, self.structures_of(helper, active, call))
        if key not in self._linked:
            name = self.namer.fresh(f"{check(helper).node.name}_jvp")
            self._linked[key] = self.compile(helper, active, call, name, self.batched)
            self.used.append((name, self._linked[key]))
        compiled = self._linked[key]
        return compiled.name, compiled.out_activity, compiled.tangent_params, compiled.wrt

    def active_params(self, helper, call, names):
        """The parameters of ``helper`` whose arguments at ``call`` are active."""
        sig = inspect.signature(helper)
        args, keywords = call_arguments(call)
        try:
            bound = sig.bind(*args, **keywords)
        except TypeError:
            return ()
        expr_activity = self.expr_activity

        def active(param, value):
            kind = sig.parameters[param].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:  # a tuple of argument ASTs
                return any(expr_activity(v, names) for v in value)
            if kind is inspect.Parameter.VAR_KEYWORD:  # a dict of them
                return any(expr_activity(v, names) for v in value.values())
            return expr_activity(value, names)

        # a helper taking *args is active too: compiling it raises the fence's located error
        return tuple(p for p, v in bound.arguments.items() if active(p, v))


# ---------------------------------------------------------------- the stages

def _parse(unit):
    unit.function, unit.node, unit.loc = read_function(unit.fn)


def _desugar(unit):
    desugar(unit.node, unit.function, unit.loc, read_function)


def _lift(unit):
    unit.parsed = lift_function(unit.function, unit.node, unit.loc)


def _fence(unit):
    fence.check(unit.parsed)


def _names(unit):
    check_free_names(unit.parsed)
    for nested in unit.parsed.nested.values():  # helpers defined inside
        check_free_names(nested)


def _resolve(unit):
    resolve(unit.parsed)


def _structures(unit):
    unit.parsed = specialize(unit.parsed, dict(unit.structures))


def _activity(unit):
    parsed = unit.parsed
    unit.spelled = spell_reserved(parsed.node)
    unit.namer = function_namer(parsed, unit.name, unit.spelled.values())
    unit.linker = Linker(parsed, unit.namer, unit.batched, unit.checked)
    unit.activity = analyze(parsed, unit.wrt, unit.linker.expr_activity)


def _jvp(unit):
    transformer = Transformer(unit.parsed, unit.wrt, unit.activity, unit.linker.expr_activity,
                              unit.linker.jvp_of, unit.name, unit.batched, namer=unit.namer)
    unit.result = transformer.run()


def _lazy(unit):
    unit.direction_param = unit.namer.fresh("direction")
    lazy_tangents(unit.result.node, unit.wrt, unit.result.tangent_params, unit.structures,
                  unit.direction_param)


def _remove_dead(unit):
    remove_dead(unit.result.node, unit.result.owned)


def _forward_substitute(unit):
    result = unit.result
    resolve_built(result.node, unit.parsed.scope)  # the calls the transform built
    forward_substitute(result.node, result.inlinable, is_pure_call, result.tangent_names)


def _reuse(unit):
    result = unit.result
    reuse_buffers(result.node, result.owned_tangents - set(unit.parsed.params),
                  result.tangent_names)


def _checks(unit):
    sites_name = unit.namer.fresh("_check_sites")
    unit.result.namespace[sites_name] = insert_checks(
        unit.result.node, unit.namer.tangents, unit.parsed.params, unit.batched, sites_name)


def _release(unit):
    release(unit.result.node, unit.result.scalars)


def _defaults(unit):
    unit.defaults = _bind_defaults(unit.result.node, unit.parsed.fn, unit.namer)


def _unparse(unit):
    trees.spell_aliases(unit.result.node, unit.spelled)  # the _rt calls reuse and checks added
    unit.source = to_source(unit.result.node, unit.result.comments)
    unit.origins = line_origins(unit.result.node, unit.source)


def _load(unit):
    parsed, result, fn, wrt = unit.parsed, unit.result, unit.parsed.fn, unit.wrt
    filename = f"<fwdcompile {fn.__module__}.{fn.__qualname__} wrt={','.join(wrt) or '-'}" \
        f"{' batched' if unit.batched else ''}{' checked' if unit.checked else ''}>"
    names = {n.id for n in trees.walk(result.node) if isinstance(n, gast.Name)}
    namespace = parsed.scope.closure_values(names)
    namespace.update(result.namespace)
    namespace.update(unit.defaults)
    for ident, compiled in unit.linker.used:
        namespace[ident] = compiled.fn
    generated = load(unit.source, unit.name, filename, parsed.scope.globals, namespace,
                     unit.spelled)
    generated.__defaults__ = fn.__defaults__
    if fn.__kwdefaults__:
        generated.__kwdefaults__ = dict(fn.__kwdefaults__)
    unit.compiled = Compiled(generated, unit.name, wrt, result.out_activity, unit.source,
                             result.tangent_params, unit.activity.written_params,
                             result.positional_tangents, [c for _, c in unit.linker.used],
                             unit.origins, unit.timings, unit.structures,
                             _depends(unit), unit.direction_param, unit.helper_timings)


def _depends(unit):
    own = tuple((unit.parsed.scope.globals, name, obj)
                for name, obj in global_dependencies(unit.parsed))
    helpers = tuple(d for _, c in unit.linker.used for d in c.depends)
    seen, out = set(), []
    for g, name, obj in own + helpers:
        if (id(g), name) not in seen:
            seen.add((id(g), name))
            out.append((g, name, obj))
    return tuple(out)


def is_current(compiled):
    """Whether every global ``compiled`` was derived from still holds the
    object it held then."""
    return all(g.get(name) is obj for g, name, obj in compiled.depends)


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


# what FWDCOMPILE_DUMP prints after each stage

def _show_user(unit):
    return to_source(unit.parsed.node if unit.parsed is not None else unit.node)


def _show_activity(unit):
    act = unit.activity

    def names(s):
        return ", ".join(sorted(s)) or "-"

    return (f"# wrt: {', '.join(unit.wrt) or '-'}\n# varied: {names(act.varied)}\n"
            f"# useful: {names(act.useful)}\n# active (carry a tangent): {names(act.active)}\n"
            f"# parameters written with differentiated values: {names(act.written_params)}\n")


def _show_generated(unit):
    return to_source(unit.result.node, unit.result.comments)


def _show_source(unit):
    return unit.source


FRONT = (
    Stage("parse", "read the source, dedent, parse with gast; spell out literal unpacking",
          _parse, show=_show_user),
    Stage("desugar", "comprehensions become loops filling a list; dict(a=...) a literal",
          _desugar, show=_show_user),
    Stage("lift", "lambda lifting: inner helpers take the outer variables they read",
          _lift, show=_show_user),
    Stage("fence", "the whitelist of supported syntax; anything else is a located error",
          _fence, show=_show_user),
    Stage("names", "every free name and module attribute must resolve now",
          _names, show=_show_user),
)
BACK = (
    Stage("resolve", "what every call refers to (rule, method, helper), stored on the call",
          _resolve, show=_show_user),
    Stage("structures", "parameters given as pytrees: leaves become locals, loops over them "
          "unrolled", _structures, when=lambda unit: bool(unit.structures), show=_show_user),
    Stage("activity", "which names carry tangents; link (compile) the helpers they reach",
          _activity, show=_show_activity),
    Stage("jvp", "primal and tangent statements from the rules (K directions if batched)",
          _jvp, show=_show_generated),
    Stage("lazy", "lazy directions only: each tangent drawn just before its first use",
          _lazy, when=lambda unit: unit.lazy, show=_show_generated),
    Stage("remove_dead", "drop temporaries and tangents that nothing reads",
          _remove_dead, show=_show_generated),
    Stage("forward_substitute", "inline temporaries read once",
          _forward_substitute, show=_show_generated),
    Stage("reuse", "vector mode only: arithmetic on a dead tangent reuses its memory",
          _reuse, when=lambda unit: unit.batched, show=_show_generated),
    Stage("checks", "checking mode only: assert every tangent's shape and dtype",
          _checks, when=lambda unit: unit.checked, show=_show_generated),
    Stage("release", "del each array and tangent after its last use (peak memory)",
          _release, show=_show_generated),
    Stage("defaults", "spell default values without evaluating the user's expressions",
          _defaults, show=_show_generated),
    Stage("unparse", "readable source, a comment per user statement; the line map",
          _unparse, show=_show_source),
    Stage("load", "compile it in a factory binding _np/_math/_rt, helpers, closures",
          _load, show=_show_source),
)
STAGES = FRONT + BACK
STAGE_NAMES = tuple(stage.name for stage in STAGES)


# ---------------------------------------------------------------- the runner

_local = threading.local()  # .frames: [unit, seconds of nested stages] per running stage
_dump_override: list = []  # (stage names, stream) pushed by dumping()


@contextlib.contextmanager
def dumping(stages, stream=None):
    """Dump the code after ``stages`` (names, or ``{"all"}``) to ``stream``
    (default stderr) while the block runs, whatever ``FWDCOMPILE_DUMP`` says."""
    _check_stage_names(stages)
    _dump_override.append((set(stages), stream))
    try:
        yield
    finally:
        _dump_override.pop()


def _dump_request():
    if _dump_override:
        return _dump_override[-1]
    text = os.environ.get("FWDCOMPILE_DUMP", "").strip()
    if not text:
        return set(), None
    stages = {s.strip() for s in text.split(",") if s.strip()}
    _check_stage_names(stages, warn=True)
    return stages, None


def _check_stage_names(stages, warn=False):
    unknown = set(stages) - set(STAGE_NAMES) - {"all"}
    if unknown:
        message = f"unknown stage(s) {', '.join(sorted(unknown))}; the stages are " \
            f"{', '.join(STAGE_NAMES)} (or all)"
        if not warn:
            raise ValueError(message)
        warnings.warn(f"FWDCOMPILE_DUMP: {message}", stacklevel=4)


def run(stages, unit):
    """Run the ``stages`` that apply to ``unit`` in order (see the module docstring)."""
    dump, stream = _dump_request()
    for stage in stages:
        if not stage.applies(unit):
            continue
        _run_stage(stage, unit)
        if stage.name in dump or "all" in dump:
            _dump(stage, unit, stream)
    return unit


def _run_stage(stage, unit):
    frames = _local.__dict__.setdefault("frames", [])
    frame = [unit, 0.0]
    frames.append(frame)
    start = time.perf_counter()
    try:
        stage.run(unit)
    except FwdcompileError as exc:
        if exc.stage is None:
            exc.stage = stage.name
        raise
    except (BatchUnsupported, LazyUnsupported):  # not errors: the caller falls back
        raise
    except Exception as exc:  # a bug in fwdcompile: say where
        raise _internal_error(stage, unit, exc) from exc
    finally:
        elapsed = time.perf_counter() - start
        frames.pop()
        own = elapsed - frame[1]
        unit.timings[stage.name] = unit.timings.get(stage.name, 0.0) + own
        for outer, _ in frames:  # the functions whose stages compiled this one
            if outer is not unit:
                outer.helper_timings[stage.name] = outer.helper_timings.get(stage.name, 0.0) \
                    + own
        if frames:
            frames[-1][1] += elapsed


def _internal_error(stage, unit, exc):
    where = {}
    if unit.loc is not None or unit.parsed is not None:
        loc = unit.parsed.loc if unit.parsed is not None else unit.loc
        where = loc.of(unit.parsed.node if unit.parsed is not None else unit.node)
    error = InternalError(f"fwdcompile's {stage.name} stage failed on {unit.title()} "
                          f"({type(exc).__name__}: {exc})", **where,
                          hint="please report this with the function's source")
    error.stage = stage.name
    return error


def _dump(stage, unit, stream):
    text = stage.show(unit) if stage.show is not None else ""
    stream = stream or sys.stderr
    print(f"# ---- fwdcompile: after {stage.name}: {unit.title()} ----", file=stream)
    print(text, file=stream, end="" if text.endswith("\n") else "\n")


# ---------------------------------------------------------------- entry points

def check(fn):
    """Parse, desugar, lift, fence and name-check ``fn`` (cached); raises the located
    errors of those stages."""
    with LOCK:
        parsed = PARSED.get(fn)
        if parsed is None:
            unit = run(FRONT, Unit(fn))
            parsed = unit.parsed
            for nested_fn, nested in parsed.nested.items():  # helpers defined inside
                PARSED[nested_fn] = nested
            PARSED[fn] = parsed
            FRONT_TIMINGS[fn] = unit.timings
        return parsed


def may_take_structures(fn, params):
    """Whether ``fn`` reads one of ``params`` like a structure of parameters
    (a pytree), so that compiling it for arrays says nothing about the call
    that passes one (frontend/structures.py)."""
    return reads_like_structure(check(fn), params, check)


def clear_cache(disk: bool = False) -> None:
    """Forget every parsed and compiled function (rules registered later apply);
    ``disk=True`` also removes the native kernels kept on disk for every
    process (backends/llvm/disk_cache.py; ``fwdcompile cache clear``)."""
    cache.clear()
    if disk:
        from .backends.llvm import disk_cache
        disk_cache.clear()


def checking() -> bool:
    """Whether checking mode is on for the whole process (``FWDCOMPILE_CHECK=1``)."""
    return os.environ.get("FWDCOMPILE_CHECK", "").strip().lower() in ("1", "true", "yes", "on")


def compile_jvp(fn, wrt, name=None, include_written=False, batched=False, check=None,
                structures=(), lazy=False):
    """The generated ``<name>_jvp`` of ``fn`` for tangents on the parameters ``wrt``.

    ``include_written`` widens ``wrt`` by the parameters the function writes
    differentiated values into (``out[i] = ...``), until all are included: a
    helper that does so must receive that argument's tangent too, so that the
    caller sees the write.

    ``batched`` generates the vector-mode variant, whose tangents carry K
    directions on a leading axis (see transform/batch.py); it raises
    ``BatchUnsupported`` for code it cannot express that way.

    ``check`` (default: :func:`checking`) generates code that asserts the
    shape and dtype of every tangent (transform/checks.py).

    ``structures`` pairs each parameter in ``wrt`` that receives a container
    (a pytree) with its :class:`fwdcompile.tree.PyTreeDef`: the code is
    specialized for that structure (frontend/structures.py).

    ``lazy`` generates the variant taking no tangents but a ``direction``
    callable, each direction drawn where it is used (transform/lazy.py); it
    raises ``LazyUnsupported`` for code that passes a tangent structure on."""
    check = checking() if check is None else bool(check)
    structures = tuple(sorted(structures))
    compiled = _compile_jvp(fn, tuple(wrt), name, batched, check, structures, lazy)
    while include_written and set(compiled.writes) - set(compiled.wrt):
        params = list(inspect.signature(fn).parameters)
        wrt = tuple(p for p in params if p in set(compiled.wrt) | set(compiled.writes))
        compiled = _compile_jvp(fn, wrt, name, batched, check, structures, lazy)
    return compiled


def _compile_jvp(fn, wrt, name, batched=False, checked=False, structures=(), lazy=False):
    name = name or f"{check(fn).node.name}_jvp" + ("_batched" if batched else "")
    with LOCK:
        key = (fn, wrt, name, batched, checked, structures, lazy)
        if key in COMPILED:
            if is_current(COMPILED[key]):
                return COMPILED[key]
            del COMPILED[key]  # a global it calls was rebound: compile again
        parsed = check(fn)
        unit = Unit(fn, wrt, name, batched, checked, structures, lazy, function=parsed.fn,
                    node=parsed.node,
                    loc=parsed.loc, parsed=parsed, timings=dict(FRONT_TIMINGS.get(fn, {})))
        IN_PROGRESS.add(fn)
        try:
            run(BACK, unit)
        finally:
            IN_PROGRESS.discard(fn)
        COMPILED[key] = unit.compiled
        return unit.compiled
