"""Spelling out calls the rest of the pipeline cannot follow, as calls it can.

Contract: :func:`spell_calls` rewrites a ``FunctionDef`` in place (part of the
``desugar`` stage, frontend/desugar.py), using a :class:`Names` of it:

* ``dict(a=e1, b=e2)`` (the builtin) becomes ``{"a": e1, "b": e2}``.
* ``g = functools.partial(helper, a, scale=s)`` at the top of the body,
  where ``g`` is only called, becomes ``g_a = a`` and ``g_scale = s`` (the
  values, computed where the partial was made; constants, and names the
  function never assigns, stay inline) and
  every ``g(x)`` becomes ``helper(g_a, x, scale=g_scale)`` (the call's
  keywords win, as with a partial).  A partial object at module level (or in
  a closure) called by the function is spelled out the same way; its
  function and non-constant arguments are bound to new names
  (:data:`BINDINGS` on the ``FunctionDef``, which the scope adds to the
  closure variables).
* ``layer = Dense(W, b)`` at the top of the body, for a class of this
  module whose ``__init__`` only sets attributes: see :func:`_inline_objects`.
* ``f(*xs)``, where ``xs`` is bound once, to a tuple literal, becomes
  ``f(xs[0], xs[1])``, so each argument carries its own tangent.
* A call to a helper of the same module that passes it a function,
  ``apply(lambda z: z * z, x)``, ``apply(sq, x)``, ``apply(np.sin, x)``, or
  fills its ``*args`` (``def fwd(*args): return f(*args)``), calls a copy of
  the helper made for it, added at the top of the body:
  ``def apply_sq(x): return sq(x)`` (a lambda becomes ``def f_lambda(z)``
  there too, named after the parameter); ``*args`` becomes one parameter
  per argument, ``args_0, args_1``, and ``args`` in the body their tuple.
  frontend/lift.py then lifts these like helpers written there (a lambda
  reads the outer variables' values at the call).  The copy keeps the
  helper's own file and lines (:data:`LOCATION` on its ``FunctionDef``).

Where a rewrite does not apply (another module, a name bound again in an
inner scope, an ``__init__`` doing more than setting attributes), the code
stays as written and the later stages report it with a located error.
"""

from __future__ import annotations

import builtins
import functools
import inspect

import gast
import numpy as np

from ..errors import FwdcompileError, UnsupportedSyntax
from ..syntax import nodes, trees
from ..syntax.nodes import QUIET

BINDINGS = "fc_bindings"  # on the FunctionDef: new name -> value (a global partial's parts)
LOCATION = "fc_location"  # on a specialised helper's copy: the Location of its source
_SPECIALISE_DEPTH = 8  # helpers passing the function on to helpers, at most this deep


def spell_calls(fdef, names, read):
    """Rewrite ``fdef`` in place (see the module docstring).  ``read(f)`` is
    ``(f, FunctionDef, Location)`` of a helper's source (frontend/parse.py
    ``read_function``)."""
    for i, stmt in enumerate(fdef.body):  # `f = lambda t: ...` as a def, as lift does
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], gast.Name) and isinstance(stmt.value, gast.Lambda):
            fdef.body[i] = nodes.lambda_to_def(stmt.value, stmt.targets[0].id, at=stmt)
            names.local_functions.add(stmt.targets[0].id)
    _spell_dicts(fdef, names)
    _spell_partials(fdef, names)
    _spell_star_tuples(fdef, names)
    _inline_objects(fdef, names, read)
    _specialise(fdef, names, read)


def _spell_dicts(tree, state):
    """Every ``dict(a=...)`` of the builtin in ``tree`` becomes ``{"a": ...}``."""
    for node in trees.walk(tree):
        if isinstance(node, gast.Call) and state.is_builtin(node.func, "dict") \
                and not node.args and node.keywords \
                and all(k.arg is not None for k in node.keywords):
            _become_dict(node)


def _store_counts(tree):
    """How many times each name is assigned in ``tree``."""
    stores = {}
    for n in trees.walk(tree):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
            stores[n.id] = stores.get(n.id, 0) + 1
    return stores


def _become_dict(call):
    """Turn the ``dict(a=...)`` Call node into a Dict node in place."""
    keys = [nodes.const(k.arg) for k in call.keywords]
    values = [k.value for k in call.keywords]
    call.__class__ = gast.Dict
    for f in ("func", "args", "keywords"):
        delattr(call, f)
    call.keys, call.values = keys, values


def is_docstring(stmt):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant) \
        and isinstance(stmt.value.value, str)


def _is_constant(value):
    return value is None or type(value) in (bool, int, float, str)


def _spell_partials(fdef, state):
    """``functools.partial`` objects made at the top of the body, or found in
    the globals, called by name (see the module docstring)."""
    local = {}  # name -> (function expression, args, keywords)
    stores = _store_counts(fdef)
    body = []
    for stmt in fdef.body:
        made = _local_partial(stmt, state, stores)
        if made is None:
            body.append(stmt)
            continue
        ident, call = made
        args, keywords = [], {}
        params = _param_names(state.global_value(call.args[0]))
        for i, arg in enumerate(call.args[1:]):
            base = params[i] if i < len(params) else f"arg{i}"
            args.append(_stable(arg, f"{ident}_{base}", stmt, body, state, stores))
        for kw in call.keywords:
            keywords[kw.arg] = _stable(kw.value, f"{ident}_{kw.arg}", stmt, body, state, stores)
        local[ident] = (call.args[0], args, keywords)
    fdef.body = body
    bindings = getattr(fdef, BINDINGS, {})
    calls = [n for n in trees.walk(fdef) if isinstance(n, gast.Call)
             and isinstance(n.func, gast.Name)]
    for call in calls:
        ident = call.func.id
        if ident in local:
            func, args, keywords = local[ident]
            _spell_call(call, trees.clone(func), [trees.clone(a) for a in args],
                        {k: trees.clone(v) for k, v in keywords.items()})
            continue
        value = state.global_value(ident)
        if not isinstance(value, functools.partial) or not callable(value.func):
            continue
        func_name = getattr(value.func, "__name__", None)
        if state.global_value(func_name or "") is not value.func:  # not a global by its name
            func_name = state.fresh(f"{ident}_func", numbered=False)
            bindings[func_name] = value.func

        def spelled(v, base):
            if _is_constant(v):
                return nodes.const(v)
            bound = state.fresh(base, numbered=False)
            bindings[bound] = v
            return nodes.name(bound)

        params = _param_names(value.func)
        _spell_call(call, nodes.name(func_name),
                    [spelled(v, f"{ident}_{params[i] if i < len(params) else f'arg{i}'}")
                     for i, v in enumerate(value.args)],
                    {k: spelled(v, f"{ident}_{k}") for k, v in value.keywords.items()})
    if bindings:
        setattr(fdef, BINDINGS, bindings)
    uses = {n.id for n in trees.walk(fdef) if isinstance(n, gast.Name)}
    for ident in local:
        if ident in uses:
            for n in trees.walk(fdef):
                if isinstance(n, gast.Name) and n.id == ident:
                    raise UnsupportedSyntax(
                        f"the partial `{ident}` is used as a value here; only calls to it "
                        "are supported", **state.loc.of(n),
                        hint="call it (`g(x)`), or call the function with all its arguments")


def _local_partial(stmt, state, stores):
    """``(name, partial call)`` for ``name = functools.partial(f, ...)`` whose
    name is bound only there, else None."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name) and isinstance(stmt.value, gast.Call)
            and stmt.targets[0].id not in state.local_functions):
        return None
    call, ident = stmt.value, stmt.targets[0].id
    if stores.get(ident) != 1 or ident in state.shadowed or not call.args \
            or state.global_value(call.func) is not functools.partial:
        return None
    if any(isinstance(a, gast.Starred) for a in call.args) or \
            any(k.arg is None for k in call.keywords):
        raise UnsupportedSyntax("`*`/`**` in a functools.partial(...) is not supported",
                                **state.loc.of(call), hint="pass the arguments one by one")
    if not isinstance(call.args[0], (gast.Name, gast.Attribute)):
        raise UnsupportedSyntax("the function of a functools.partial(...) must be a name",
                                **state.loc.of(call.args[0]),
                                hint="define the function at module level and name it here")
    return ident, call


def _param_names(fn):
    """The positional parameters of ``fn``, or () when it has no signature."""
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _emit_for(stmt, body, new):
    """Append ``new``, written for ``stmt``, located there (the first carries
    the statement's comment, the others are quiet)."""
    if getattr(stmt, "fc_emitted", False):
        setattr(new, QUIET, True)
    stmt.fc_emitted = True
    body.append(trees.copy_location(new, stmt))


def _spell_call(call, func, args, keywords):
    """Turn ``call`` into a call of ``func`` with ``args`` first and
    ``keywords`` unless the call gives them itself."""
    given = {k.arg for k in call.keywords}
    call.func = func
    call.args = args + call.args
    call.keywords = [gast.keyword(arg=k, value=v) for k, v in keywords.items()
                     if k not in given] + call.keywords


def _spell_star_tuples(fdef, state):
    """``f(*xs)`` -> ``f(xs[0], ..., xs[n-1])`` where ``xs`` is bound once, to
    a tuple literal of n elements without ``*``."""
    tuples, stores = {}, _store_counts(fdef)
    for n in trees.walk(fdef):
        if isinstance(n, gast.Assign) and len(n.targets) == 1 \
                and isinstance(n.targets[0], gast.Name) and isinstance(n.value, gast.Tuple) \
                and not any(isinstance(e, gast.Starred) for e in n.value.elts):
            tuples[n.targets[0].id] = len(n.value.elts)
    for call in trees.walk(fdef):
        if not isinstance(call, gast.Call):
            continue
        args = []
        for arg in call.args:
            if isinstance(arg, gast.Starred) and isinstance(arg.value, gast.Name) \
                    and arg.value.id in tuples and stores.get(arg.value.id) == 1 \
                    and arg.value.id not in state.shadowed:
                args.extend(nodes.subscript(nodes.name(arg.value.id), nodes.const(i))
                            for i in range(tuples[arg.value.id]))
            else:
                args.append(arg)
        call.args = args


def _inline_objects(fdef, state, read):
    """``layer = Dense(W, b)`` at the top of the body, of a class of this
    module whose ``__init__`` only sets attributes: the attributes become
    variables (``layer_W``), ``layer.W`` reads them, and ``layer(x)`` /
    ``layer.forward(x)`` call copies of the methods taking them as
    parameters (``Dense_call(x, self_W, self_b)``)."""
    stores = _store_counts(fdef)
    written = {n.value.id for n in trees.walk(fdef) if isinstance(n, gast.Attribute)
               and isinstance(n.ctx, gast.Store) and isinstance(n.value, gast.Name)}
    objects = {}  # name -> (class, {attribute: expression})
    body = []
    for stmt in fdef.body:
        made = _construction(stmt, state, stores, read)
        if made is None or made[0] in written:  # `obj.a = ...`: the fence says no
            body.append(stmt)
            continue
        ident, cls, call = made
        init, loc = read(cls.__init__)[1:]
        sig = inspect.signature(cls.__init__)
        try:
            bound = sig.bind(None, *call.args, **{k.arg: k.value for k in call.keywords})
        except TypeError:
            body.append(stmt)  # Python reports it when the function runs
            continue
        values = {}
        for name, param in list(sig.parameters.items())[1:]:
            value = bound.arguments.get(name)
            if value is None:
                if not _is_constant(param.default):
                    raise UnsupportedSyntax(f"`{name}` of {cls.__name__}(...) must be passed "
                                            "here (its default is not a number or a string)",
                                            **state.loc.of(call), hint=f"pass {name}=...")
                value = nodes.const(param.default)
            values[name] = _stable(value, f"{ident}_{name}", stmt, body, state, stores)
        attributes = {}
        for line in init.body:
            if is_docstring(line) or isinstance(line, gast.Pass):
                continue
            target = line.targets[0]
            value = trees.substitute(line.value, values)
            for n in trees.walk(value):  # its lines are __init__'s: errors point at `stmt`
                for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
                    if hasattr(n, attr):
                        delattr(n, attr)
            attributes[target.attr] = _stable(value, f"{ident}_{target.attr}", stmt, body,
                                              state, stores)
        objects[ident] = (cls, attributes)
    fdef.body = body
    if objects:
        _rewrite_object_uses(fdef, objects, state, read)


def _construction(stmt, state, stores, read):
    """``(name, class, call)`` for ``name = C(...)`` with a class C of this
    module whose ``__init__`` only sets attributes, else None."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name) and isinstance(stmt.value, gast.Call)):
        return None
    cls = state.global_value(stmt.value.func)
    ident = stmt.targets[0].id
    if not inspect.isclass(cls) or stores.get(ident) != 1 or ident in state.shadowed \
            or not inspect.isfunction(cls.__dict__.get("__init__")) \
            or cls.__init__.__globals__ is not state.fn.__globals__:
        return None
    if any(isinstance(a, gast.Starred) for a in stmt.value.args) or \
            any(k.arg is None for k in stmt.value.keywords):
        return None
    init = cls.__init__
    self_name = init.__code__.co_varnames[0] if init.__code__.co_argcount else None
    try:
        node = read(init)[1]
    except FwdcompileError:
        return None
    for line in node.body:
        if is_docstring(line) or isinstance(line, gast.Pass):
            continue
        if not (isinstance(line, gast.Assign) and len(line.targets) == 1
                and isinstance(line.targets[0], gast.Attribute)
                and isinstance(line.targets[0].value, gast.Name)
                and line.targets[0].value.id == self_name
                and not any(isinstance(n, gast.Name) and n.id == self_name
                            for n in trees.walk(line.value))):
            return None
    return ident, cls, stmt.value


def _stable(value, base, stmt, body, state, stores):
    """``value`` itself when it cannot change later in the function (a
    constant, or a name never assigned there), else a new variable assigned
    it now."""
    if isinstance(value, gast.Constant) or trees.is_number(value) or (
            isinstance(value, gast.Name) and not stores.get(value.id)):
        return value
    ident = state.fresh(base, numbered=False)
    _emit_for(stmt, body, nodes.assign(nodes.name(ident, True), value))
    return nodes.name(ident)


def _rewrite_object_uses(fdef, objects, state, read):
    """``obj.attr`` -> its variable; ``obj(...)``, ``obj.m(...)`` -> the method's copy."""
    copies = {}  # (class, method) -> name of the copy

    def method_copy(cls, method, at):
        key = (cls, method)
        if key not in copies:
            fn = inspect.getattr_static(cls, method, None)
            if not inspect.isfunction(fn):
                raise UnsupportedSyntax(f"{cls.__name__}.{method} is not a plain method",
                                        **state.loc.of(at),
                                        hint="call a function of the arrays instead")
            copies[key] = state.fresh(f"{cls.__name__}_{method.strip('_')}", numbered=False)
            fdef.body.insert(0, _copy_method(cls, fn, copies[key], attrs, state, read,
                                             method_copy))
        return copies[key]

    for ident, (cls, attributes) in objects.items():
        attrs = sorted(attributes)
        for n in trees.walk(fdef):
            if not isinstance(n, gast.Call):
                continue
            func = n.func
            if isinstance(func, gast.Name) and func.id == ident:
                method = "__call__"
            elif isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                    and func.value.id == ident and func.attr not in attributes:
                method = func.attr
            else:
                continue
            n.func = nodes.name(method_copy(cls, method, n))
            n.args = n.args + [trees.clone(attributes[a]) for a in attrs]
        for n in trees.walk(fdef):
            for field, value in gast.iter_fields(n):
                if isinstance(value, gast.Attribute) and isinstance(value.value, gast.Name) \
                        and value.value.id == ident and value.attr in attributes:
                    setattr(n, field, trees.clone(attributes[value.attr]))
                elif isinstance(value, list):
                    value[:] = [trees.clone(attributes[v.attr])
                                if isinstance(v, gast.Attribute) and isinstance(v.value, gast.Name)
                                and v.value.id == ident and v.attr in attributes else v
                                for v in value]
        for n in trees.walk(fdef):
            if isinstance(n, gast.Name) and n.id == ident and isinstance(n.ctx, gast.Load):
                raise UnsupportedSyntax(
                    f"the {cls.__name__} object `{ident}` is used here other than by reading "
                    "its attributes or calling its methods", **state.loc.of(n),
                    hint="read its attributes (`layer.W`) and call its methods (`layer(x)`) "
                         "in this function, or write the computation as a function of the "
                         "arrays")


def _copy_method(cls, fn, name, attrs, state, read, method_copy):
    """``def <Class>_<method>(<params>, self_<a>, ...)``: the method with the
    instance's attributes as parameters."""
    _, node, loc = read(fn)
    params = [a.id for a in node.args.posonlyargs + node.args.args]
    if not params or node.args.vararg or node.args.kwarg or node.args.kwonlyargs \
            or node.args.defaults:
        raise UnsupportedSyntax(f"{cls.__name__}.{fn.__name__} takes defaults, keyword-only "
                                "or variable arguments", **loc.of(node),
                                hint="give the method plain parameters")
    self_name, params = params[0], params[1:]
    slots = {a: f"self_{a}" for a in attrs}
    for n in trees.walk(node):
        if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) \
                and isinstance(n.func.value, gast.Name) and n.func.value.id == self_name \
                and n.func.attr not in slots:
            n.func = nodes.name(method_copy(cls, n.func.attr, n))
            n.args = n.args + [nodes.name(slots[a]) for a in attrs]
    for n in trees.walk(node):
        for field, value in gast.iter_fields(n):
            items = value if isinstance(value, list) else [value]
            for i, v in enumerate(items):
                if isinstance(v, gast.Attribute) and isinstance(v.value, gast.Name) \
                        and v.value.id == self_name:
                    if v.attr in slots:
                        new = nodes.name(slots[v.attr])
                    elif _is_constant(getattr(cls, v.attr, object)):
                        new = nodes.const(getattr(cls, v.attr))
                    else:
                        raise UnsupportedSyntax(f"`{self_name}.{v.attr}` is not an attribute "
                                                f"{cls.__name__}.__init__ sets, nor a number",
                                                **loc.of(v), hint="set it in __init__")
                    if isinstance(value, list):
                        value[i] = new
                    else:
                        setattr(n, field, new)
    for n in trees.walk(node):
        if isinstance(n, gast.Name) and n.id == self_name and isinstance(n.ctx, gast.Load):
            raise UnsupportedSyntax(f"`{self_name}` is used here other than by reading its "
                                    "attributes or calling its methods", **loc.of(n),
                                    hint="read the attributes you need")
    node.args = gast.arguments(args=[nodes.param(p) for p in params + list(slots.values())],
                               posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                               kwarg=None, defaults=[])
    _rename_own(node, state)
    return _finish_copy(node, name, loc, state)


def _specialise(fdef, state, read):
    """Copies of the helpers that receive a function or ``*args`` (see the
    module docstring)."""
    made = {}  # (helper, function expressions, number of *args) -> name of the copy
    added = []
    todo = [(fdef, 0)]
    while todo:
        scope_node, depth = todo.pop()
        calls = sorted((n for n in trees.walk(scope_node) if isinstance(n, gast.Call)),
                       key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
        for call in calls:
            found = _specialised_arguments(call, state)
            if found is None:
                continue
            helper, arguments, functions, varargs = found
            if depth >= _SPECIALISE_DEPTH:
                raise UnsupportedSyntax("functions passed from helper to helper this deep are "
                                        "not supported", **state.loc.of(call),
                                        hint="call the function by name inside the helper")
            for param, value in list(functions.items()):
                if isinstance(value, gast.Lambda):  # a def at the top, named after the parameter
                    name = state.fresh(f"{param}_lambda", numbered=False)
                    state.local_functions.add(name)
                    added.append(nodes.lambda_to_def(value, name))
                    functions[param] = nodes.name(name)
            key = (helper, tuple(sorted((p, gast.dump(v)) for p, v in functions.items())),
                   varargs)
            if key not in made:
                copy, name = _copy_helper(helper, list(arguments), functions, varargs, call,
                                          state, read)
                made[key] = name
                added.append(copy)
                todo.append((copy, depth + 1))
            call.func = nodes.name(made[key])
            call.args = [v for p, v in arguments.items() if p not in functions]
            call.keywords = []
    fdef.body[:0] = added


def _specialised_arguments(call, state):
    """``(helper, {param: argument}, {param: function argument}, *args)`` when
    ``call`` passes a function, or fills ``*args``, of a helper of this
    module, else None.  The arguments are in the helper's order, ``*args``
    spelled out as ``args_0, args_1, ...``; ``*args`` is ``(name, count)`` or None."""
    helper = state.global_value(call.func)
    target = inspect.unwrap(helper) if callable(helper) else None
    if not inspect.isfunction(target) or target is state.fn \
            or target.__globals__ is not state.fn.__globals__ or target.__closure__:
        return None
    if any(isinstance(a, gast.Starred) for a in call.args) or \
            any(k.arg is None for k in call.keywords):
        return None
    sig = inspect.signature(target)
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    try:
        bound = sig.bind(*call.args, **{k.arg: k.value for k in call.keywords})
    except TypeError:
        return None
    functions = {p: v for p, v in bound.arguments.items()
                 if not isinstance(v, tuple) and _is_function(v, state)}
    varargs = next(((p.name, len(bound.arguments.get(p.name, ()))) for p in params
                    if p.kind is p.VAR_POSITIONAL), None)
    if not functions and varargs is None:
        return None
    arguments = {}
    for name, param in sig.parameters.items():
        if param.kind is param.VAR_POSITIONAL:
            for i, value in enumerate(bound.arguments.get(name, ())):
                arguments[f"{name}_{i}"] = value
        elif name in bound.arguments:
            arguments[name] = bound.arguments[name]
        elif _is_constant(param.default):
            arguments[name] = nodes.const(param.default)
        else:
            raise UnsupportedSyntax(
                f"`{name}` of {target.__name__} must be passed here (its default is not a "
                "number or a string), since the helper is compiled for this call",
                **state.loc.of(call), hint=f"pass {name}=... explicitly")
    return target, arguments, functions, varargs


def _is_function(node, state):
    if isinstance(node, gast.Lambda):
        return True
    if isinstance(node, gast.Name) and node.id in state.local_functions:
        return True
    value = state.global_value(node) if isinstance(node, (gast.Name, gast.Attribute)) else None
    return value is not None and (inspect.isroutine(value) or isinstance(value, np.ufunc)
                                  or inspect.isfunction(inspect.unwrap(value)))


def _copy_helper(helper, params, functions, varargs, call, state, read):
    """``def <helper>_<function>(...)``: ``helper``'s definition with the
    parameters ``params`` (``*args`` spelled out), the function parameters
    replaced by ``functions``."""
    _, node, loc = read(helper)
    reads = {n.id for n in trees.walk(node) if isinstance(n, gast.Name)
             and isinstance(n.ctx, gast.Load)} - trees.local_stores(node)
    if varargs is not None:
        reads.discard(varargs[0])
    clash = sorted(reads & (state.local | state.local_functions))
    if clash:
        raise UnsupportedSyntax(
            f"{helper.__name__} is compiled inside {state.fn.__name__} for this call, where "
            f"`{clash[0]}` is a local variable, but {helper.__name__} reads the global "
            f"`{clash[0]}`", **state.loc.of(call), hint="rename the local variable")
    callees = set()  # called, or passed on to a helper of this module (copied in turn)
    for n in trees.walk(node):
        if isinstance(n, gast.Call):
            callees.add(id(n.func))
            target = inspect.unwrap(state.global_value(n.func) or len)
            if inspect.isfunction(target) and target.__globals__ is state.fn.__globals__:
                callees.update(id(a) for a in n.args)
                callees.update(id(k.value) for k in n.keywords)
    for n in trees.walk(node):
        if isinstance(n, (gast.FunctionDef, gast.Lambda)) and n is not node:
            raise UnsupportedSyntax(
                f"{helper.__name__} defines a function inside, so it cannot be compiled for "
                "the function passed here", **state.loc.of(call),
                hint=f"define that function at module level, next to {helper.__name__}")
        local = isinstance(functions.get(getattr(n, "id", None)), gast.Name) \
            and functions[n.id].id in state.local_functions
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and local \
                and id(n) not in callees:
            raise UnsupportedSyntax(
                f"{helper.__name__} uses its parameter `{n.id}` other than by calling it, "
                "which a function defined inside the caller cannot be", **state.loc.of(call),
                hint="define the function at module level and pass it by name")
    fixed = set(functions) | ({varargs[0]} if varargs else set())
    for n in trees.walk(node):
        if isinstance(n, gast.Name) and n.id in fixed and isinstance(n.ctx, gast.Store):
            raise UnsupportedSyntax(f"{helper.__name__} assigns to its parameter `{n.id}`",
                                    **loc.of(n), hint="use another name")
    kept = [p for p in params if p not in functions]
    node.args = gast.arguments(args=[nodes.param(p) for p in kept], posonlyargs=[], vararg=None,
                               kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    if varargs is not None:  # args -> (args_0, args_1); f(*(a, b)) -> f(a, b)
        name, count = varargs
        trees.substitute(node, {name: nodes.tup([nodes.name(f"{name}_{i}")
                                                 for i in range(count)])}, copy=False)
        _expand_starred_tuples(node)
    _rename_own(node, state, set(functions))
    spelled = [f.id if isinstance(f, gast.Name) else f.attr for f in functions.values()]
    name = state.fresh("_".join([helper.__name__] + (spelled or [str(len(kept))])),
                       numbered=False)
    trees.substitute(node, dict(functions), copy=False)
    return _finish_copy(node, name, loc, state), name


def _rename_own(node, state, keep=frozenset()):
    """Rename the variables of a copied definition that the caller has too:
    they must not hide the outer ones its lifted calls pass on."""
    own = (trees.local_stores(node) - set(keep)) & (state.local | state.local_functions)
    renames = {v: state.fresh(f"{v}_") for v in sorted(own)}
    for n in trees.walk(node):
        if isinstance(n, gast.Name) and n.id in renames:
            n.id = renames[n.id]


def _finish_copy(node, name, loc, state):
    node.name = name
    node.decorator_list = []
    _spell_dicts(node, state)
    setattr(node, LOCATION, loc)
    state.local_functions.add(name)
    return node


def _expand_starred_tuples(tree):
    for call in trees.walk(tree):
        if isinstance(call, gast.Call):
            args = []
            for arg in call.args:
                if isinstance(arg, gast.Starred) and isinstance(arg.value, gast.Tuple):
                    args.extend(arg.value.elts)
                else:
                    args.append(arg)
            call.args = args


class Names:
    """What the rewrites know of the function: its names, and what a free
    name refers to."""

    def __init__(self, fdef, fn, loc):
        self.fn = fn
        self.loc = loc
        self.local_functions = {s.name for s in fdef.body if isinstance(s, gast.FunctionDef)}
        self.taken = {n.id for n in trees.walk(fdef) if isinstance(n, gast.Name)}
        self.local = trees.local_stores(fdef)
        # names bound in an inner scope too (a parameter of a def or lambda inside, a
        # comprehension's variable): a call of such a name may not mean the outer one
        self.shadowed = set()
        for n in trees.walk(fdef):
            if isinstance(n, (gast.FunctionDef, gast.Lambda)) and n is not fdef:
                self.shadowed |= {a.id for a in n.args.posonlyargs + n.args.args
                                  + n.args.kwonlyargs + [n.args.vararg, n.args.kwarg]
                                  if a is not None}
            elif isinstance(n, gast.comprehension):
                self.shadowed |= {t.id for t in trees.walk(n.target)
                                  if isinstance(t, gast.Name)}

    def global_value(self, node):
        """The global, closure or builtin object a name (or ``a.b`` chain of
        them) that the function never binds refers to, else None."""
        if isinstance(node, str):
            node = nodes.name(node)
        if isinstance(node, gast.Attribute):
            base = self.global_value(node.value)
            return None if base is None else getattr(base, node.attr, None)
        if not isinstance(node, gast.Name) or node.id in self.local \
                or node.id in self.local_functions or node.id in self.shadowed:
            return None
        code = self.fn.__code__
        if node.id in code.co_freevars and self.fn.__closure__:
            cell = self.fn.__closure__[code.co_freevars.index(node.id)]
            try:
                return cell.cell_contents
            except ValueError:
                return None
        if node.id in self.fn.__globals__:
            return self.fn.__globals__[node.id]
        return getattr(builtins, node.id, None)

    def is_builtin(self, func, ident):
        """Whether ``func`` is the name ``ident`` and means the builtin."""
        return isinstance(func, gast.Name) and func.id == ident \
            and self.global_value(func) is getattr(builtins, ident)

    def fresh(self, base, numbered=True):
        """A new name: ``base`` followed by the first free number (``base``
        itself first when not ``numbered``)."""
        if not numbered and base not in self.taken:
            self.taken.add(base)
            return base
        k = 0
        while f"{base}{k}" in self.taken:
            k += 1
        self.taken.add(f"{base}{k}")
        return f"{base}{k}"
