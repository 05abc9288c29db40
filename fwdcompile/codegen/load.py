"""Load generated source as a real Python function.

Contract: :func:`load` compiles the source under a deterministic pseudo file
name (``<fwdcompile: module.qualname_jvp>``), registers it in ``linecache``
so that tracebacks, ``inspect.getsource`` and ``pdb`` show the generated
code, executes it in a namespace holding the user's free names, the
reserved aliases ``_np``, ``_math``, ``_rt`` and any helpers, and returns
the function object.
"""

from __future__ import annotations

import linecache
import math

import numpy as np

from .. import runtime


def base_namespace(aliases=None):
    """The reserved module aliases, spelled as ``aliases`` maps them."""
    aliases = aliases or {}
    modules = {"_np": np, "_math": math, "_rt": runtime}
    return {aliases.get(k, k): v for k, v in modules.items()}


def load(source, name, filename, namespace, aliases=None):
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    scope = base_namespace(aliases)
    scope.update(namespace)
    exec(code, scope)  # the source is ours, generated from the user's own function
    return scope[name]
