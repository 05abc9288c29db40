"""Load generated source as a real Python function.

Contract: :func:`load` compiles the generated function inside a small
factory, ``def __fwdcompile_factory__(<bindings>): <function>; return it``,
executed with the user's module globals as its globals.  So the generated
code reads module globals live, exactly as the user's function does, while
the names only it needs (the reserved aliases ``_np``, ``_math``, ``_rt``,
the JVPs of helpers, custom rules, and the user's closure variables) are
closure cells and never touch the user's module.  The text is registered in
``linecache`` under a deterministic pseudo file name, so tracebacks,
``inspect.getsource`` and ``pdb`` show the generated code.
"""

from __future__ import annotations

import linecache
import math
import textwrap

import numpy as np

from .. import runtime

FACTORY = "__fwdcompile_factory__"


def base_namespace(aliases=None):
    """The reserved module aliases, spelled as ``aliases`` maps them."""
    aliases = aliases or {}
    modules = {"_np": np, "_math": math, "_rt": runtime}
    return {aliases.get(k, k): v for k, v in modules.items()}


def load(source, name, filename, module_globals, bindings, aliases=None):
    bindings = {**base_namespace(aliases), **bindings}
    params = ", ".join(sorted(bindings))
    text = f"def {FACTORY}({params}):\n{textwrap.indent(source, '    ')}    return {name}\n"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    code = compile(text, filename, "exec")
    scope = {}
    exec(code, module_globals, scope)  # the text is ours, generated from the user's function
    return scope[FACTORY](**bindings)
