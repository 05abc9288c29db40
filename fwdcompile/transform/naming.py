"""Deterministic, readable names for generated code.

Contract: a :class:`Namer` is seeded with every name the user's function
binds or reads, and hands out names that collide with none of them:
``d_x`` for the tangent of ``x``, temporaries named after what they hold
(``exp_z``, ``x_times_y``, ``W_T``), and numeric suffixes (``_2``, ``_3``) on
collision.  The same input always gives the same names; nothing is random.
"""

from __future__ import annotations

import builtins
import re

import gast

_OP_WORDS = {gast.Add: "plus", gast.Sub: "minus", gast.Mult: "times", gast.Div: "over",
             gast.Pow: "pow", gast.MatMult: "matmul", gast.Mod: "mod", gast.FloorDiv: "floordiv"}
_OP_NOUNS = {gast.Add: "total", gast.Sub: "diff", gast.Mult: "prod", gast.Div: "ratio",
             gast.Pow: "power", gast.MatMult: "matmul", gast.Mod: "rem", gast.FloorDiv: "quot"}
_MAX = 20


class Namer:
    def __init__(self, taken):
        # never shadow a builtin: generated code may call sum(), abs(), zip()
        self.taken = set(taken) | set(dir(builtins))
        self.tangents = {}

    def fresh(self, base):
        base = _clean(base) or "t"
        candidate, k = base, 1
        while candidate in self.taken:
            k += 1
            candidate = f"{base}_{k}"
        self.taken.add(candidate)
        return candidate

    def tangent(self, ident):
        """The tangent variable of ``ident``; stable for the whole function."""
        if ident not in self.tangents:
            self.tangents[ident] = self.fresh("d_" + ident)
        return self.tangents[ident]

    def temp(self, node):
        return self.fresh(describe(node))


def describe(node):
    """A short name for what an expression computes."""
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Constant):
        return "c"
    if isinstance(node, gast.Call):
        func = node.func
        fname = func.attr if isinstance(func, gast.Attribute) else \
            func.id if isinstance(func, gast.Name) else "call"
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and not _is_module_like(func.value.id):
            return _short(f"{func.value.id}_{fname}", fname)
        if node.args and isinstance(node.args[0], gast.Name):
            return _short(f"{fname}_{node.args[0].id}", fname)
        return fname
    if isinstance(node, gast.BinOp):
        word = _OP_WORDS.get(type(node.op), "op")
        noun = _OP_NOUNS.get(type(node.op), "t")
        left = node.left.id if isinstance(node.left, gast.Name) else None
        right = node.right.id if isinstance(node.right, gast.Name) else None
        if left and right:
            return _short(f"{left}_{word}_{right}", noun, 14)
        if isinstance(node.op, gast.Pow) and left and _atom_word(node.right) == "2":
            return _short(f"{left}_sq", noun, 14)
        return noun
    if isinstance(node, gast.UnaryOp):
        inner = _atom_word(node.operand)
        return _short(f"neg_{inner}", "neg") if inner else "neg"
    if isinstance(node, gast.Subscript):
        base = _atom_word(node.value) or "item"
        index = node.slice
        if isinstance(index, gast.Slice) or (isinstance(index, gast.Tuple) and any(
                isinstance(e, gast.Slice) for e in index.elts)):
            return base + "_sl"
        word = _atom_word(index)
        return _short(f"{base}_{word}", base + "_at") if word else base + "_at"
    if isinstance(node, gast.Attribute):
        base = _atom_word(node.value)
        return _short(f"{base}_{node.attr}", node.attr) if base else node.attr
    if isinstance(node, gast.IfExp):
        return "select"
    if isinstance(node, (gast.List, gast.Tuple)):
        return "items"
    return "t"


def _atom_word(node):
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        text = repr(node.value)
        return text.replace(".", "p").replace("-", "m") if len(text) <= 5 else None
    return None


def _is_module_like(ident):
    return ident in ("np", "numpy", "math", "onp", "jnp", "sp", "scipy")


def _short(text, fallback, limit=_MAX):
    return text if len(text) <= limit else fallback


def _clean(text):
    text = re.sub(r"\W", "_", text)
    if text and text[0].isdigit():
        text = "_" + text
    return text
