"""The error contract, swept: hundreds of generated programs outside (or at
the edge of) the supported subset.

Every program is written to a real .py file (fwdcompile reads source with
``inspect``), imported, and pushed through the decorator (wrt inferred and
explicit), ``jvp``, ``jvp(batched=True)`` and ``forward_grad``.  Each step
either works, and then gives the derivative that central finite differences
give, or raises a :class:`fwdcompile.FwdcompileError` carrying the file, the
line, the source line, a column (so a caret) and a hint.  Any other
exception is a failure, unless the plain function raises it too (a
generator used as a number, say).

Programs are built systematically: each construct of ``CONSTRUCTS`` is
placed at the top of the function, inside a loop, inside a branch, inside a
module-level helper and inside a helper defined in the function, with a
scalar argument, and at the top and in a helper with an array argument;
``PROGRAMS`` adds whole programs (parameters, decorators, closures,
recursion, callables without source).  ``test_generated_program_count``
says how many there are.
"""

import importlib.util
import itertools
import linecache
import os
import tempfile
import textwrap

import numpy as np
import pytest

import fwdcompile
from fwdcompile import FwdcompileError, InternalError, SourceUnavailable, forward_gradient

_TMP = tempfile.mkdtemp(prefix="fwdcompile_contract_")
_COUNTER = itertools.count()

PRELUDE = '''\
import copy
import functools
import io
import math
import operator

import numpy as np

G = 1.5
_SINK = io.StringIO()


class Box:
    def __init__(self, v=0.0):
        self.v = v

    def scale(self, t):
        return t * self.v


class Scale:
    def __call__(self, t):
        return t * 2.0


SCALE = Scale()
BOX = Box(2.0)
_ns = {}
exec("def from_exec(t):\\n    return t * 2.0\\n", _ns)
from_exec = _ns["from_exec"]


def _mul(a, b):
    return a * b


_partial = functools.partial(_mul, 2.0)


@functools.lru_cache(maxsize=None)
def cached(t):
    return t * 2.0


def _deco(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        return fn(*a, **k)
    return wrapper


def _deco_nowraps(fn):
    def wrapper(*a, **k):
        return fn(*a, **k)
    return wrapper


@_deco
def wrapped(t):
    return t * 2.0


@_deco_nowraps
def wrapped_nowraps(t):
    return t * 2.0


def _rec(t, k):
    if k == 0:
        return t
    return _rec(t * 1.5, k - 1)


def _gen(t, k):
    for i in range(k):
        yield t * i


'''

# (name, statements): statements read the differentiated argument ``x``, the
# integer ``n`` (2) and ``y`` (``x * 1.0`` before them), and leave a number
# or array in ``y``; ``$s`` is a scalar expression of ``x``
CONSTRUCTS = [
    # statements outside the fence
    ("try_except", "try:\n    y = y * 2.0\nexcept ValueError:\n    y = x\n"),
    ("try_finally", "try:\n    y = y * 2.0\nfinally:\n    pass\n"),
    ("with", "with np.errstate(all='ignore'):\n    y = y * 2.0\n"),
    ("class_def", "class Local:\n    k = 2.0\ny = y * Local.k\n"),
    ("global_stmt", "global G\ny = y * G\n"),
    ("del", "z = y * 2.0\ndel z\n"),
    ("match", "match n:\n    case 2:\n        y = y * 2.0\n    case _:\n        y = y * 3.0\n"),
    ("import_inside", "import cmath\ny = y * cmath.pi\n"),
    ("yield", "yield y\n"),
    ("yield_from", "yield from [y]\n"),
    ("for_else", "for i in range(n):\n    y = y * 1.1\nelse:\n    y = y * 2.0\n"),
    ("while_else", "k = 0\nwhile k < n:\n    k += 1\nelse:\n    y = y * 2.0\n"),
    ("bare_annotation", "z: float\ny = y * 2.0\n"),
    ("star_target", "a, *rest = [y, y, 2.0]\ny = a * rest[1]\n"),
    ("attr_store", "b = Box()\nb.v = y * 2.0\ny = b.v\n"),
    ("attr_chain", "b = Box()\nc = Box()\nb.v = c.v = y\ny = b.v + c.v\n"),
    ("walrus", "if (z := $s * 2.0) > -1e9:\n    y = y * z\n"),
    # expressions and calls
    ("lambda_default", "g = lambda t, k=2.0: t * k\ny = g(y)\n"),
    ("lambda_inline", "y = (lambda t: t * 2.0)(y)\n"),
    ("lambda_key", "y = y * sorted([$s, 1.0], key=lambda t: -t)[0]\n"),
    ("lambda_closure", "g = lambda t: t * y\ny = g(2.0)\n"),
    ("star_call", "pair = (y, 2.0)\ny = _mul(*pair)\n"),
    ("dstar_call", "kw = {'a': y, 'b': 2.0}\ny = _mul(**kw)\n"),
    ("set_comp", "st = {$s * i for i in range(n)}\ny = y * max(st)\n"),
    ("dict_comp", "d = {i: $s * i for i in range(n)}\ny = y * d[1]\n"),
    ("list_comp", "ys = [$s * i for i in range(n)]\ny = y * ys[1]\n"),
    ("genexp_sum", "y = y * sum($s * i for i in range(n))\n"),
    ("fstring_len", "label = f'{$s:.3f}'\ny = y * len(label)\n"),
    ("fstring_float", "y = y * float(f'{$s}')\n"),
    ("str_float", "y = y * float(str($s))\n"),
    ("percent_format", "y = y * float('%r' % $s)\n"),
    ("format_method", "y = y * float('{}'.format($s))\n"),
    ("format_builtin", "y = y * float(format($s, '.17g'))\n"),
    ("repr_float", "y = y * float(repr($s))\n"),
    ("int_of", "y = y * int($s + 1.0)\n"),
    ("round_of", "y = y * round($s)\n"),
    ("round_digits", "y = y * round($s, 1)\n"),
    ("bool_of", "y = y * bool($s)\n"),
    ("compare_value", "c = $s > 0.5\ny = y * c\n"),
    ("compare_chain", "y = y * (0.0 < $s < 1.0)\n"),
    ("compare_add", "y = y + ($s > 0.5)\n"),
    ("boolop_and", "z = $s > 0.0 and $s\ny = y * z\n"),
    ("boolop_or", "z = $s or 1.0\ny = y * z\n"),
    ("ternary", "y = y * 2.0 if $s > 0.0 else y\n"),
    ("dict_key", "d = {$s: 2.0}\ny = y * d[$s]\n"),
    ("dict_value", "d = {'a': y}\ny = d['a'] * 2.0\n"),
    ("set_literal_len", "st = {$s, 5.0}\ny = y * len(st)\n"),
    ("set_literal_max", "st = {$s, -5.0}\ny = y * max(st)\n"),
    ("len_list", "L = [y, y * 2.0]\ny = y * len(L)\n"),
    ("setattr", "b = Box()\nsetattr(b, 'v', y * 2.0)\ny = b.v\n"),
    ("getattr_call", "y = getattr(np, 'sin')(y)\n"),
    ("local_fn_var", "g = np.sin\ny = g(y)\n"),
    ("fn_choice", "g = _mul if n > 0 else operator.mul\ny = g(y, 2.0)\n"),
    ("unknown_fsum", "y = y * math.fsum([$s, 1.0])\n"),
    ("unknown_i0", "y = y * np.i0($s)\n"),
    ("unknown_operator", "y = operator.mul(y, 2.0)\n"),
    ("unknown_reduce", "y = functools.reduce(operator.mul, [y, 2.0])\n"),
    ("map_builtin", "y = y * list(map(math.sin, [$s]))[0]\n"),
    ("complex_builtin", "y = y * complex($s, 0.0).real\n"),
    ("complex_intermediate", "y = (y * 1j).imag * 2.0\n"),
    ("vectorize", "y = y * np.vectorize(math.sin)($s)\n"),
    ("from_exec", "y = from_exec(y)\n"),
    ("partial", "y = _partial(y)\n"),
    ("callable_instance", "y = Scale()(y)\n"),
    ("callable_global", "y = SCALE(y)\n"),
    ("lru_cached", "y = y * cached($s)\n"),
    ("decorated_wraps", "y = wrapped(y)\n"),
    ("decorated_nowraps", "y = wrapped_nowraps(y)\n"),
    ("recursion", "y = _rec(y, n)\n"),
    ("generator_loop", "for v in _gen(y, n):\n    y = y + v\n"),
    ("generator_sum", "y = sum(_gen(y, n))\n"),
    ("generator_next", "y = next(_gen(y, n)) + y\n"),
    ("user_method_global", "y = BOX.scale(y)\n"),
    ("user_method_local", "b = Box(2.0)\ny = b.scale(y)\n"),
    ("class_call_attr", "y = Box(y).v * 2.0\n"),
    ("unbound_method", "y = y * float.__mul__(float($s), 2.0)\n"),
    ("method_ratio", "p, q = float($s).as_integer_ratio()\ny = y * (p / q)\n"),
    ("method_hex", "y = y * float.fromhex(float($s).hex())\n"),
    ("method_astype", "y = np.asarray(y).astype(float) * 2.0\n"),
    ("method_dunder", "y = y.__mul__(2.0)\n"),
    ("method_round", "y = np.asarray(y).round(12) * 2.0\n"),
    ("print_diff", "print($s, file=_SINK)\ny = y * 2.0\n"),
    ("raise_untaken", "if n < 0:\n    raise ValueError(f'{$s}')\ny = y * 2.0\n"),
    ("assert_diff", "assert $s > -1e9, 'bad'\ny = y * 2.0\n"),
    ("isinstance", "if isinstance(y, (float, np.ndarray)):\n    y = y * 2.0\n"),
    ("type_call", "y = y * type($s)(2.0)\n"),
    ("hash_of", "y = y * (hash($s) * 0.0 + 1.0)\n"),
    ("index_by_diff", "L = [1.0, 2.0, 3.0]\ny = y * L[int($s)]\n"),
    ("ann_assign", "z: float = y * 2.0\ny = z\n"),
    ("enumerate_diff", "for i, v in enumerate([y, y]):\n    y = y + v * i\n"),
    ("zip_diff", "for a, b in zip([y], [2.0]):\n    y = a * b\n"),
    ("while_break", "k = 0\nwhile $s * k < 10.0:\n    k += 1\n    y = y * 1.1\n"
                    "    if k > 3:\n        break\n"),
    ("alias_inplace", "z = y\nz *= 2.0\ny = y + z\n"),
    ("eval_call", "y = eval('y * 2.0')\n"),
    ("exec_call", "exec('pass')\ny = y * 2.0\n"),
    ("locals_call", "y = locals()['y'] * 2.0\n"),
    ("copy_call", "y = copy.copy(y) * 2.0\n"),
    ("np_copyto", "z = np.zeros_like(np.asarray(y, dtype=float))\nnp.copyto(z, y)\ny = z * 2.0\n"),
    ("out_kwarg", "z = np.zeros_like(np.asarray(y, dtype=float))\n"
                  "np.multiply(y, 2.0, out=z)\ny = z * 1.0\n"),
    ("slice_store", "z = np.zeros(3)\nz[0:1] = $s\ny = y * z[0]\n"),
    ("np_array_list", "z = np.array([$s, 2.0])\ny = y * z[0] * z[1]\n"),
    ("divmod_diff", "a, b = divmod($s, 0.5)\ny = y * b\n"),
    ("sorted_diff", "y = y * sorted([$s, 5.0])[0]\n"),
    ("min_builtin", "y = y * min($s, 5.0)\n"),
    ("sum_list", "y = sum([y, y])\n"),
    ("any_list", "if any([$s > 0.0]):\n    y = y * 2.0\n"),
    ("reversed_list", "y = list(reversed([y, 2.0]))[1] * y\n"),
    ("tuple_builtin", "y = tuple([y, 2.0])[0] * 2.0\n"),
    ("list_append", "L = []\nL.append(y)\nL.append(y * 2.0)\ny = L[1]\n"),
    ("list_pop", "L = [y, y * 2.0]\ny = L.pop()\n"),
    ("list_extend", "L = [y]\nL.extend([y * 2.0])\ny = L[-1]\n"),
    ("dict_store", "d = {}\nd['a'] = y * 2.0\ny = d['a']\n"),
    ("dict_get", "d = {'a': y * 2.0}\ny = d.get('a')\n"),
    ("dict_setdefault", "d = {}\ny = d.setdefault('a', y * 2.0)\n"),
    ("np_where", "y = np.where($s > 0, y, 0.0)\n"),
    ("math_pow", "y = math.pow($s, 2.0) * y\n"),
    # helpers defined inside the function, in ways lifting does not take
    ("nested_default", "def g(t, k=2.0):\n    return t * k\ny = g(y)\n"),
    ("nested_decorated", "@_deco\ndef g(t):\n    return t * 2.0\ny = g(y)\n"),
    ("nested_star", "def g(*ts):\n    return ts[0] * 2.0\ny = g(y)\n"),
    ("nested_as_value", "def g(t):\n    return t * 2.0\ny = list(map(g, [y]))[0]\n"),
    ("nested_nonlocal", "def g():\n    nonlocal y\n    y = y * 2.0\ng()\n"),
    ("nested_recursion", "def g(t, k):\n    if k == 0:\n        return t\n"
                         "    return g(t * 1.5, k - 1)\ny = g(y, n)\n"),
    ("nested_generator", "def g(t):\n    yield t * 2.0\ny = next(g(y))\n"),
    ("nested_async", "async def g(t):\n    return t\ny = y * 2.0\n"),
]

CONTEXTS = ("top", "loop", "branch", "helper", "nested")
ARRAY_CONTEXTS = ("top", "helper")


def _indent(text, level):
    return textwrap.indent(text, "    " * level)


def _program(body, context):
    """The source of ``f(x, n)`` with ``body`` placed in ``context``."""
    if context == "top":
        inner = "y = x * 1.0\n" + body
    elif context == "loop":
        inner = "y = x * 1.0\nfor _i in range(n):\n" + _indent(body, 1)
    elif context == "branch":
        inner = "y = x * 1.0\nif n > 1:\n" + _indent(body, 1) + "else:\n    y = x * 2.0\n"
    elif context == "helper":
        return ("def _helper(x, n):\n" + _indent("y = x * 1.0\n" + body + "return y\n", 1)
                + "\n\ndef f(x, n):\n    y = _helper(x, n)\n    return np.sum(y * x)\n")
    else:
        nested = "def inner(x, n):\n" + _indent("y = x * 1.0\n" + body + "return y\n", 1)
        inner = nested + "y = inner(x, n)\n"
    return "def f(x, n):\n" + _indent(inner + "return np.sum(y * x)\n", 1)


SCALAR = (0.7, 0.6)  # argument, tangent
ARRAY = (np.array([0.7, 1.3, 0.4]), np.array([0.3, -0.5, 0.8]))

# whole programs: (name, source defining f, arguments, tangents of the float ones)
PROGRAMS = [
    ("star_args", "def f(*xs):\n    return xs[0] * 2.0\n", (0.7,), (0.6,)),
    ("star_kwargs", "def f(x, **kw):\n    return x * 2.0\n", (0.7,), (0.6,)),
    ("kwonly", "def f(x, *, k=2.0):\n    return x * k\n", (0.7,), (0.6,)),
    ("posonly", "def f(x, /, k=2.0):\n    return x * k\n", (0.7,), (0.6,)),
    ("default_global", "K = 3.0\n\n\ndef f(x, k=K):\n    return x * k\n", (0.7,), (0.6,)),
    ("default_expr", "def f(x, k=2.0 * G):\n    return x * k\n", (0.7,), (0.6,)),
    ("default_array", "def f(x, w=np.ones(3)):\n    return np.sum(x * w)\n",
     (ARRAY[0],), (ARRAY[1],)),
    ("default_list", "def f(x, w=[1.0, 2.0]):\n    return x * w[1]\n", (0.7,), (0.6,)),
    ("default_function", "def f(x, g=math.sin):\n    return g(x)\n", (0.7,), (0.6,)),
    ("kwonly_default_expr", "def f(x, *, k=G * 2.0):\n    return x * k\n", (0.7,), (0.6,)),
    ("async_def", "async def f(x):\n    return x * 2.0\n", (0.7,), (0.6,)),
    ("async_await", "async def _g(t):\n    return t\n\n\nasync def f(x):\n"
                    "    return await _g(x)\n", (0.7,), (0.6,)),
    ("generator_fn", "def f(x):\n    yield x * 2.0\n", (0.7,), (0.6,)),
    ("direct_recursion", "def f(x, n):\n    if n == 0:\n        return x\n"
                         "    return f(x * 1.5, n - 1)\n", (0.7, 2), (0.6,)),
    ("mutual_recursion", "def _a(x, n):\n    if n == 0:\n        return x\n"
                         "    return _b(x * 1.5, n - 1)\n\n\ndef _b(x, n):\n"
                         "    return _a(x * 2.0, n)\n\n\ndef f(x, n):\n    return _a(x, n)\n",
     (0.7, 2), (0.6,)),
    ("closure_float", "def _make(k):\n    def fun(x):\n        return x * k\n    return fun\n\n\n"
                      "f = _make(2.0)\n", (0.7,), (0.6,)),
    ("closure_array", "def _make(w):\n    def fun(x):\n        return np.sum(x * w)\n"
                      "    return fun\n\n\nf = _make(np.ones(3))\n", (ARRAY[0],), (ARRAY[1],)),
    ("closure_default", "def _make(k):\n    def fun(x, k=k):\n        return x * k\n"
                        "    return fun\n\n\nf = _make(2.0)\n", (0.7,), (0.6,)),
    ("closure_default_array", "def _make(w):\n    def fun(x, w=w):\n"
                              "        return np.sum(x * w)\n    return fun\n\n\n"
                              "f = _make(np.full(3, 2.0))\n", (ARRAY[0],), (ARRAY[1],)),
    ("closure_kwonly_default", "def _make(k):\n    def fun(x, *, k=k):\n        return x * k\n"
                               "    return fun\n\n\nf = _make(2.0)\n", (0.7,), (0.6,)),
    ("closure_default_and_cell", "def _make(k, c):\n    def fun(x, k=k):\n"
                                 "        return x * k + c * x\n    return fun\n\n\n"
                                 "f = _make(2.0, 3.0)\n", (0.7,), (0.6,)),
    ("closure_late_cell", "def _make():\n    def fun(x):\n        return x * k\n    k = 2.0\n"
                          "    return fun\n\n\nf = _make()\n", (0.7,), (0.6,)),
    ("closure_empty_cell", "def _make():\n    def fun(x):\n        return x * k\n"
                           "    f = fun\n    k = 2.0\n    del k\n    return f\n\n\n"
                           "f = _make()\n", (0.7,), (0.6,)),
    ("closure_of_function", "def _make(g):\n    def fun(x):\n        return g(x) * 2.0\n"
                            "    return fun\n\n\nf = _make(math.sin)\n", (0.7,), (0.6,)),
    ("closure_of_lambda", "def _make():\n    g = lambda t: t * 3.0\n    def fun(x):\n"
                          "        return g(x) * 2.0\n    return fun\n\n\nf = _make()\n",
     (0.7,), (0.6,)),
    ("closure_of_nested", "def _make():\n    def g(t):\n        return t * 3.0\n    def fun(x):\n"
                          "        return g(x) * 2.0\n    return fun\n\n\nf = _make()\n",
     (0.7,), (0.6,)),
    ("lambda_fn", "f = lambda x: x * 2.0\n", (0.7,), (0.6,)),
    ("lambda_fn_default", "f = lambda x, k=2.0: x * k\n", (0.7,), (0.6,)),
    ("lambda_fn_closure", "def _make(k):\n    return lambda x: x * k\n\n\nf = _make(2.0)\n",
     (0.7,), (0.6,)),
    ("lambda_fn_closure_default", "def _make(k):\n    return lambda x, k=k: x * k\n\n\n"
                                  "f = _make(2.0)\n", (0.7,), (0.6,)),
    ("lambda_fn_star", "f = lambda *xs: xs[0] * 2.0\n", (0.7,), (0.6,)),
    ("partial_fn", "f = functools.partial(_mul, 2.0)\n", (0.7,), (0.6,)),
    ("exec_fn", "f = from_exec\n", (0.7,), (0.6,)),
    ("builtin_fn", "f = math.sin\n", (0.7,), (0.6,)),
    ("ufunc_fn", "f = np.sin\n", (0.7,), (0.6,)),
    ("callable_instance_fn", "f = Scale()\n", (0.7,), (0.6,)),
    ("lru_cache_fn", "@functools.lru_cache(maxsize=None)\ndef f(x):\n    return x * 2.0\n",
     (0.7,), (0.6,)),
    ("wraps_decorated_fn", "@_deco\ndef f(x):\n    return x * 2.0\n", (0.7,), (0.6,)),
    ("nowraps_decorated_fn", "@_deco_nowraps\ndef f(x):\n    return x * 2.0\n", (0.7,), (0.6,)),
    ("staticmethod_fn", "class _C:\n    @staticmethod\n    def m(x):\n        return x * 2.0\n\n\n"
                        "f = _C.m\n", (0.7,), (0.6,)),
    ("classmethod_fn", "class _C:\n    k = 2.0\n\n    @classmethod\n    def m(cls, x):\n"
                       "        return x * cls.k\n\n\nf = _C.m\n", (0.7,), (0.6,)),
    ("bound_method_fn", "f = BOX.scale\n", (0.7,), (0.6,)),
    ("class_body_fn", "class _C:\n    def m(self, x):\n        return x * 2.0\n\n\n"
                      "f = _C().m\n", (0.7,), (0.6,)),
    ("nested_in_loop", "def f(x):\n    y = x\n    for _ in range(2):\n        def g(t):\n"
                       "            return t * 2.0\n        y = g(y)\n    return y\n",
     (0.7,), (0.6,)),
    ("nested_in_branch", "def f(x):\n    if x > 0:\n        def g(t):\n            return t * 2.0\n"
                         "        return g(x)\n    return x\n", (0.7,), (0.6,)),
    ("nested_defined_late", "def f(x):\n    y = g(x) if False else x\n    def g(t):\n"
                            "        return t * 2.0\n    return g(y)\n", (0.7,), (0.6,)),
    ("nested_class_method", "def f(x):\n    class L:\n        def m(self, t):\n"
                            "            return t\n    return L().m(x)\n", (0.7,), (0.6,)),
    ("helper_kwonly_call", "def _h(t, *, k=2.0):\n    return t * k\n\n\ndef f(x):\n"
                           "    return _h(x, k=3.0)\n", (0.7,), (0.6,)),
    ("helper_star_params", "def _h(*ts):\n    return ts[0] * 2.0\n\n\ndef f(x):\n"
                           "    return _h(x, x)\n", (0.7,), (0.6,)),
    ("helper_kwargs_params", "def _h(t, **kw):\n    return t * kw['k']\n\n\ndef f(x):\n"
                             "    return _h(x, k=2.0)\n", (0.7,), (0.6,)),
    ("helper_default_closure", "def _make(k):\n    def h(t, k=k):\n        return t * k\n"
                               "    return h\n\n\n_h = _make(2.0)\n\n\ndef f(x):\n"
                               "    return _h(x) + _h(x, 3.0)\n", (0.7,), (0.6,)),
    ("helper_lambda_global", "_h = lambda t: t * 2.0\n\n\ndef f(x):\n    return _h(x)\n",
     (0.7,), (0.6,)),
    ("helper_lambda_default", "_h = lambda t, k=2.0: t * k\n\n\ndef f(x):\n    return _h(x)\n",
     (0.7,), (0.6,)),
    ("helper_returns_fn", "def _h(k):\n    return lambda t: t * k\n\n\ndef f(x):\n"
                          "    return _h(2.0)(x)\n", (0.7,), (0.6,)),
    ("helper_global_write", "def _h(t):\n    global G\n    G = t\n    return t\n\n\ndef f(x):\n"
                           "    return _h(x) * 2.0\n", (0.7,), (0.6,)),
    ("int_param_wrt", "def f(x, n):\n    return x * n\n", (0.7, 2), (0.6,)),
    ("return_nothing", "def f(x):\n    y = x * 2.0\n", (0.7,), (0.6,)),
    ("return_string", "def f(x):\n    return str(x)\n", (0.7,), (0.6,)),
    ("return_dict", "def f(x):\n    return {'a': x * 2.0}\n", (0.7,), (0.6,)),
    ("return_list", "def f(x):\n    return [x, x * 2.0]\n", (0.7,), (0.6,)),
    ("return_bool", "def f(x):\n    return x > 0.5\n", (0.7,), (0.6,)),
    ("return_int", "def f(x):\n    return int(x)\n", (0.7,), (0.6,)),
    ("return_complex", "def f(x):\n    return x * 1j\n", (0.7,), (0.6,)),
    ("return_generator", "def f(x):\n    return (x * i for i in range(2))\n", (0.7,), (0.6,)),
    ("docstring_only", "def f(x):\n    \"\"\"Nothing.\"\"\"\n", (0.7,), (0.6,)),
    ("shadow_builtin", "def f(x):\n    abs = 2.0\n    return x * abs\n", (0.7,), (0.6,)),
    ("shadow_alias", "def f(x):\n    _np = 2.0\n    _rt = 3.0\n    return x * _np * _rt\n",
     (0.7,), (0.6,)),
    ("shadow_module", "def f(x):\n    np = 2.0\n    return x * np\n", (0.7,), (0.6,)),
    ("param_named_like_tangent", "def f(x, d_x):\n    return x * d_x\n", (0.7, 2.0), (0.6, 0.1)),
    ("undefined_name", "def f(x):\n    return x * undefined_thing\n", (0.7,), (0.6,)),
    ("undefined_attr", "def f(x):\n    return np.not_a_function(x)\n", (0.7,), (0.6,)),
    ("undefined_attr_chain", "def f(x):\n    return np.linalg.nope.deeper(x)\n", (0.7,), (0.6,)),
    ("module_attr_store", "def f(x):\n    np.foo = x\n    return x\n", (0.7,), (0.6,)),
    ("subscript_of_call_store", "def f(x):\n    _h()[0] = x\n    return x\n\n\ndef _h():\n"
                                "    return [0.0]\n", (0.7,), (0.6,)),
    ("aug_attr", "def f(x):\n    BOX.v += x\n    return x\n", (0.7,), (0.6,)),
    ("aug_subscript_of_attr", "def f(x):\n    b = Box(np.zeros(2))\n    b.v[0] += x\n"
                              "    return b.v[0]\n", (0.7,), (0.6,)),
    ("empty_loop_body_diff", "def f(x):\n    for _ in range(0):\n        x = x * 2.0\n"
                             "    return x\n", (0.7,), (0.6,)),
]


def _load(source):
    name = f"fwdcontract_{os.getpid()}_{next(_COUNTER)}"
    path = os.path.join(_TMP, name + ".py")
    with open(path, "w") as fh:
        fh.write(PRELUDE + source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def _cases():
    out = []
    for (name, body), context in itertools.product(CONSTRUCTS, CONTEXTS):
        scalar = body.replace("$s", "x")
        out.append((f"{name}-{context}-scalar", _program(scalar, context), (SCALAR[0], 2),
                    (SCALAR[1],)))
    for (name, body), context in itertools.product(CONSTRUCTS, ARRAY_CONTEXTS):
        array = body.replace("$s", "x[0]")
        out.append((f"{name}-{context}-array", _program(array, context), (ARRAY[0], 2),
                    (ARRAY[1],)))
    out.extend(PROGRAMS)
    return out


CASES = _cases()

# wrong derivatives the sweep finds (silently, no error): reported, to be fixed in
# rules/ or transform/; keyed by construct (every context of it)
def _fresh(values):
    return tuple(v.copy() if isinstance(v, np.ndarray) else v for v in values)


def _check_located(exc, path, step):
    """The contract for an error about the user's code: the file (the program's,
    or the library file fwdcompile differentiated into), the line, the source
    line, a column and so a caret, and a hint.  Only an object decorated
    without any source (``forward_gradient(math.sin)``) cannot be located."""
    problems = []
    if isinstance(exc, InternalError):
        problems.append("InternalError")
    unlocatable = isinstance(exc, SourceUnavailable) and step.startswith("decorate")
    if exc.filename is None or exc.lineno is None:
        if not unlocatable:
            problems.append("a location")
    else:
        lines = linecache.getlines(exc.filename)
        if exc.filename != path and not os.path.isfile(exc.filename):
            problems.append(f"a real file (filename {exc.filename!r})")
        elif not 0 < exc.lineno <= len(lines):
            problems.append(f"a line inside the file (lineno {exc.lineno})")
        elif (exc.source_line or "").rstrip("\n") != lines[exc.lineno - 1].rstrip("\n"):
            problems.append(f"its line as source_line ({exc.source_line!r} for {exc.lineno})")
        if exc.col is None or "^" not in str(exc):
            problems.append("a column/caret")
    if not (isinstance(exc.hint, str) and exc.hint.strip() and "hint:" in str(exc)):
        problems.append("a hint")
    if problems:
        return f"{step}: {type(exc).__name__} without {', '.join(problems)}: {exc}"
    return None


def _is_number(value):
    if isinstance(value, (str, bytes)):
        return False
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return array.dtype.kind in "fiub" and bool(np.all(np.isfinite(array)))


def _finite_difference(fn, args, tangents, h=1e-6):
    floats = [i for i, a in enumerate(args) if isinstance(a, (float, np.ndarray))]
    plus, minus = list(_fresh(args)), list(_fresh(args))
    for i, t in zip(floats, tangents):
        plus[i] = plus[i] + h * t
        minus[i] = minus[i] - h * t
    return (np.asarray(fn(*plus), dtype=float) - np.asarray(fn(*minus), dtype=float)) / (2 * h)


def run_program(source, args, tangents):
    """(crash reports, wrong-derivative reports) of one program."""
    module, path = _load(source)
    fn = module.f
    crashes, wrong = [], []
    try:
        with np.errstate(all="ignore"):
            plain = fn(*_fresh(args))
        plain_error = None
        if hasattr(plain, "close") and hasattr(plain, "send"):  # a coroutine or generator
            plain.close()
    except Exception as exc:  # the program itself fails: the same error may come back
        plain, plain_error = None, type(exc)

    def attempt(step, thunk):
        try:
            with np.errstate(all="ignore"):
                return True, thunk()
        except FwdcompileError as exc:
            report = _check_located(exc, path, step)
            if report:
                crashes.append(report)
        except ValueError as exc:  # documented: forward_grad of a non-scalar function
            if not (step == "forward_grad" and "forward_grad needs" in str(exc)) and \
                    (plain_error is None or not isinstance(exc, plain_error)):
                crashes.append(f"{step}: {type(exc).__name__}: {exc}")
        except Exception as exc:
            if plain_error is None or not isinstance(exc, plain_error):
                crashes.append(f"{step}: {type(exc).__name__}: {exc}")
        return False, None

    reference = None
    if plain_error is None and _is_number(plain):
        try:
            with np.errstate(all="ignore"):
                reference = _finite_difference(fn, args, tangents)
        except Exception:
            reference = None

    def check_tangent(step, tangent):
        if reference is None or not _is_number(tangent):
            return
        if not np.allclose(np.asarray(tangent, dtype=float), reference, rtol=1e-4, atol=1e-6):
            wrong.append(f"{step}: tangent {tangent!r}, finite differences {reference!r}")

    ok, decorated = attempt("decorate", lambda: forward_gradient(fn))
    if ok:
        ok, result = attempt("jvp", lambda: decorated.jvp(*_fresh(args), tangents=tangents))
        if ok:
            check_tangent("jvp", result[1])
        stacked = tuple(np.stack([np.asarray(t, dtype=float), 2.0 * np.asarray(t, dtype=float)])
                        for t in tangents)
        ok, result = attempt("jvp batched", lambda: decorated.jvp(
            *_fresh(args), tangents=stacked, batched=True))
        if ok and _is_number(result[1]):
            check_tangent("jvp batched", np.asarray(result[1])[0])
        attempt("forward_grad", lambda: decorated.forward_grad(*_fresh(args), rng=0))
    wrt = tuple(range(len(tangents)))
    ok, explicit = attempt("decorate wrt", lambda: forward_gradient(wrt=wrt)(fn))
    if ok:
        ok, result = attempt("jvp wrt", lambda: explicit.jvp(*_fresh(args), tangents=tangents))
        if ok:
            check_tangent("jvp wrt", result[1])
    return crashes, wrong


@pytest.mark.parametrize("name, source, args, tangents", CASES, ids=[c[0] for c in CASES])
def test_error_contract(name, source, args, tangents):
    crashes, wrong = run_program(source, args, tangents)
    assert not crashes, "\n".join(crashes) + "\n\n" + source
    assert not wrong, "\n".join(wrong) + "\n\n" + source


def test_generated_program_count():
    assert len(CASES) >= 300, len(CASES)
    assert len(CASES) == len(CONSTRUCTS) * (len(CONTEXTS) + len(ARRAY_CONTEXTS)) + len(PROGRAMS)


# --------------------------------------------------------------------------
# regressions found by the sweep
# --------------------------------------------------------------------------

CLOSURE_DEFAULTS = """
def make(k):
    def fun(x, k=k):
        return x * k
    return fun


def make_kwonly(k):
    def fun(x, *, k=k):
        return x * k
    return fun


def make_array(w):
    def fun(x, w=w):
        return np.sum(x * w)
    return fun
"""


@pytest.mark.parametrize("wrt", [None, ("x",), (0,), ("x", "k")])
def test_closure_default_is_the_default_value(wrt):
    module, _ = _load(CLOSURE_DEFAULTS)
    f = forward_gradient(module.make(2.0), wrt=wrt)
    if wrt == ("x", "k"):  # both differentiated: k must be passed, with its tangent
        assert f.jvp(1.0, 3.0, tangents=(1.0, 0.5)) == (3.0, 3.5)
        value, tangent = f.jvp(1.0, 3.0, tangents=(np.array([1.0, 0.0]), np.array([0.5, 1.0])),
                               batched=True)
        assert value == 3.0
        np.testing.assert_allclose(tangent, [3.5, 1.0])
        return
    assert f.jvp(1.0, tangents=(1.0,)) == (2.0, 2.0)
    # the default overridden (inferred wrt: a float k is differentiated too)
    assert f.jvp(1.0, 4.0, tangents=(1.0, 0.0) if wrt is None else (1.0,)) == (4.0, 4.0)
    value, tangent = f.jvp(1.0, tangents=(np.array([1.0, 3.0]),), batched=True)
    assert value == 2.0
    np.testing.assert_allclose(tangent, [2.0, 6.0])
    assert "k=2.0" in f.source  # the value, not the enclosing variable


def test_closure_default_keyword_only_and_array():
    module, _ = _load(CLOSURE_DEFAULTS)
    assert forward_gradient(module.make_kwonly(2.0)).jvp(1.0, tangents=(1.0,)) == (2.0, 2.0)
    w = np.array([1.0, 2.0])
    f = forward_gradient(module.make_array(w), wrt="x")
    value, tangent = f.jvp(np.ones(2), tangents=(np.array([1.0, 0.5]),))
    assert value == 3.0 and tangent == 2.0
    value, tangent = f.jvp(np.ones(2), tangents=(np.eye(2),), batched=True)
    np.testing.assert_allclose(tangent, [1.0, 2.0])


def test_a_helper_taking_star_args_is_a_located_error_not_a_zero_tangent():
    # of the same module: compiled for the call's arguments (frontend/desugar.py)
    module, path = _load("def _h(*ts):\n    return ts[0] * 2.0\n\n\n"
                         "def f(x):\n    return _h(x, x)\n")
    assert forward_gradient(module.f).jvp(0.5, tangents=(1.0,)) == (1.0, 2.0)
    # of another module: a located error, never a zero tangent
    module, path = _load("from usercode.higher_order import first_doubled\n\n\n"
                         "def f(x):\n    return first_doubled(x, x)\n")
    with pytest.raises(fwdcompile.UnsupportedSyntax) as info:
        forward_gradient(module.f).jvp(0.5, tangents=(1.0,))
    assert info.value.filename.endswith("higher_order.py") and "*args" in str(info.value)


def test_a_helper_without_source_is_located_at_the_call():
    module, path = _load("def f(x):\n    return from_exec(x) * 2.0\n")
    with pytest.raises(SourceUnavailable) as info:
        forward_gradient(module.f).jvp(0.5, tangents=(1.0,))
    assert info.value.filename == path and "from_exec(x)" in info.value.source_line


@pytest.mark.parametrize("call", ["eval('x * 2.0')", "locals()['x'] * 2.0"])
def test_eval_and_locals_are_rejected(call):
    module, path = _load(f"def f(x):\n    return {call}\n")
    with pytest.raises(fwdcompile.UnsupportedSyntax) as info:
        forward_gradient(module.f)
    assert info.value.filename == path and info.value.hint


def test_module_attribute_typo_is_reported_at_decoration():
    module, _ = _load("def f(x):\n    return np.sine(x)\n")
    with pytest.raises(fwdcompile.NameResolutionError, match="sine"):
        forward_gradient(module.f)


def test_async_function_is_located():
    module, path = _load("async def f(x):\n    return x\n")
    with pytest.raises(fwdcompile.UnsupportedSyntax, match="async") as info:
        forward_gradient(module.f)
    assert info.value.col is not None and info.value.hint


# --------------------------------------------------------------------------
# bad input to jvp: a clear ValueError/TypeError naming the parameter, or the
# documented behaviour
# --------------------------------------------------------------------------

INPUTS = """
def arr(w, x, n):
    return np.sum(w * np.sin(x)) * n


def sca(a, b):
    return a * math.exp(b)
"""

_W, _X = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3])
_ONES = np.ones(3)

# (id, function, arguments, tangents, batched, error type or None, words in the message)
BAD_INPUTS = [
    ("too_few", "arr", (_W, _X, 2), (_ONES,), False, ValueError, "expected 2"),
    ("too_many", "arr", (_W, _X, 2), (_ONES,) * 3, False, ValueError, "expected 2"),
    ("bare_array", "arr", (_W, _X, 2), _ONES, False, ValueError, "expected 2"),
    ("none", "arr", (_W, _X, 2), None, False, ValueError, "expected 2"),
    ("none_entry", "arr", (_W, _X, 2), (None, _ONES), False, ValueError, "'w'"),
    ("wrong_shape", "arr", (_W, _X, 2), (_ONES, np.ones(4)), False, ValueError, "'x'"),
    ("zero_d_for_array", "arr", (_W, _X, 2), (np.array(1.0), _ONES), False, ValueError, "'w'"),
    ("int_array", "arr", (_W, _X, 2), (_ONES, np.array([1, 0, 0])), False, ValueError, "'x'"),
    ("bool_array", "arr", (_W, _X, 2), (_ONES, np.ones(3, bool)), False, ValueError, "'x'"),
    ("string", "arr", (_W, _X, 2), ("abc", _ONES), False, ValueError, "'w'"),
    ("object", "arr", (_W, _X, 2), (object(), _ONES), False, ValueError, "'w'"),
    ("ragged_list", "arr", (_W, _X, 2), ([1.0, [2.0]], _ONES), False, ValueError, "'w'"),
    ("list_wrong_length", "arr", (_W, _X, 2), ([1.0, 1.0], _ONES), False, ValueError, "'w'"),
    ("dict_unknown", "arr", (_W, _X, 2), {"w": _ONES, "q": 1.0}, False, ValueError, "'q'"),
    ("dict_missing", "arr", (_W, _X, 2), {"w": _ONES}, False, ValueError, "'x'"),
    ("lists", "arr", (_W, _X, 2), ([1.0, 1.0, 1.0], [0.0, 1.0, 0.0]), False, None, ""),
    ("dict", "arr", (_W, _X, 2), {"w": _ONES, "x": _ONES}, False, None, ""),
    ("nan_tangent", "arr", (_W, _X, 2), (np.full(3, np.nan), _ONES), False, None, "nan"),
    ("inf_tangent", "arr", (_W, _X, 2), (np.full(3, np.inf), _ONES), False, None, "nan"),
    ("nan_argument", "arr", (np.full(3, np.nan), _X, 2), (_ONES, _ONES), False, None, "nan"),
    ("complex_tangent", "arr", (_W, _X, 2), (_ONES * 1j, _ONES), False, None, "complex"),
    ("batched_k_mismatch", "arr", (_W, _X, 2), (np.ones((2, 3)), np.ones((3, 3))), True,
     ValueError, "directions"),
    ("batched_not_batched", "arr", (_W, _X, 2), (_ONES, _ONES), True, ValueError, "(K,)"),
    ("batched_int", "arr", (_W, _X, 2), (np.ones((2, 3), int), np.ones((2, 3))), True,
     ValueError, "'w'"),
    ("batched_none", "arr", (_W, _X, 2), (None, np.ones((2, 3))), True, ValueError, "'w'"),
    ("batched_string", "arr", (_W, _X, 2), ("ab", np.ones((2, 3))), True, ValueError, "'w'"),
    ("batched_dict", "arr", (_W, _X, 2), {"w": np.ones((2, 3)), "x": np.ones((2, 3))}, True,
     None, ""),
    ("batched_dict_unknown", "arr", (_W, _X, 2), {"q": np.ones((2, 3))}, True, ValueError,
     "'q'"),
    ("batched_nan", "arr", (_W, _X, 2), (np.full((2, 3), np.nan), np.ones((2, 3))), True,
     None, "nan"),
    ("scalar_bool", "sca", (1.0, 2.0), (True, 0.0), False, ValueError, "'a'"),
    ("scalar_string", "sca", (1.0, 2.0), ("1.0", 0.0), False, ValueError, "'a'"),
    ("scalar_array", "sca", (1.0, 2.0), (np.ones(1), 0.0), False, ValueError, "'a'"),
    ("scalar_bare_float", "sca", (1.0, 2.0), 1.0, False, ValueError, "expected 2"),
    ("scalar_int", "sca", (1.0, 2.0), (1, 0), False, None, ""),
    ("scalar_complex", "sca", (1.0, 2.0), (1j, 0.0), False, None, "complex"),
    ("scalar_nan", "sca", (1.0, 2.0), (float("nan"), 0.0), False, None, "nan"),
    ("scalar_inf_argument", "sca", (1.0, float("inf")), (1.0, 0.0), False, None, "nan"),
    ("scalar_batched_unbatched", "sca", (1.0, 2.0), (1.0, 0.0), True, ValueError, "(K,)"),
    ("int_arguments_with_tangents", "sca", (1, 2), (1.0, 0.0), False, ValueError,
     "expected 0"),
]


@pytest.mark.parametrize("warm", [False, True], ids=["first_call", "after_a_good_call"])
@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_jvp_inputs(case, warm):
    _, fname, args, tangents, batched, error, words = case
    module, _ = _load(INPUTS)
    f = forward_gradient(getattr(module, fname))
    if warm:  # the per-call fast paths must check as much as the first call
        good = tuple(np.ones(np.shape(a)) if np.ndim(a) else 1.0
                     for a in args if isinstance(a, (float, np.ndarray)))
        f.jvp(*args, tangents=good)
        f.jvp(*args, tangents=good)
    if error is not None:
        with pytest.raises(error) as info:
            f.jvp(*args, tangents=tangents, batched=batched)
        assert not isinstance(info.value, FwdcompileError)
        assert fname in str(info.value) and words in str(info.value), str(info.value)
        return
    with np.errstate(all="ignore"):
        value, tangent = f.jvp(*args, tangents=tangents, batched=batched)
    if words == "nan":  # documented: non-finite values propagate, IEEE style, no error
        assert not np.all(np.isfinite(tangent))
    elif words == "complex":  # documented: a complex direction gives a complex tangent
        assert np.iscomplexobj(tangent)
    else:
        assert np.all(np.isfinite(np.asarray(tangent, dtype=float)))
