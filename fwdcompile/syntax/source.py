"""Turn a generated gast function into readable, deterministic source.

Contract: :func:`to_source` unparses with the standard library's
``ast.unparse`` (see docs/design-decisions.md for why not astunparse) and
replaces the comment markers left by the transform (``__fc_comment_N__``
expression statements) with ``# <original statement>`` lines at the right
indentation.
"""

from __future__ import annotations

import ast
import re

import gast

from .trees import walk

_MARKER = re.compile(r"^(\s*)(__fc_comment_\d+__)$")


def to_source(node, comments=None):
    comments = comments or {}
    tree = gast.gast_to_ast(node)
    for n in walk(tree):  # unparse reads statements' lineno (for type comments), nothing else
        if isinstance(n, ast.stmt) and not hasattr(n, "lineno"):
            n.lineno = 0
    text = ast.unparse(tree)
    lines = []
    for line in text.splitlines():
        match = _MARKER.match(line)
        if match:
            indent, marker = match.groups()
            lines.append(f"{indent}# {comments.get(marker, '')}".rstrip())
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def line_origins(node, source):
    """``{generated line: location of the user's statement it comes from}``,
    from the statements the transform tagged with ``fc_origin`` (a location
    dict for :class:`fwdcompile.errors.FwdcompileError`).  The generated tree
    and ``source`` parsed back have the same statements, but for the comment
    markers; when they do not line up the map is left empty."""
    origins = {}

    def pair(generated, parsed):
        generated = [s for s in generated if not (
            isinstance(s, gast.Expr) and isinstance(s.value, gast.Name)
            and _MARKER.match(s.value.id))]
        if len(generated) != len(parsed):
            raise ValueError("the generated statements do not line up")
        for g, p in zip(generated, parsed):
            where = getattr(g, "fc_origin", None)
            if where is not None:
                for line in range(p.lineno, (p.end_lineno or p.lineno) + 1):
                    origins[line] = where  # nested statements overwrite below
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(g, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], gast.stmt):
                    pair(inner, getattr(p, field))

    try:
        pair([node], ast.parse(source).body)  # line numbers only: no gast needed
    except (ValueError, SyntaxError, AttributeError):
        origins.clear()
    return origins


def expr_source(node):
    """One expression as source text, for error messages."""
    try:
        return ast.unparse(gast.gast_to_ast(node))
    except Exception:  # a malformed node must not hide the error being reported
        return "<expression>"
