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

_MARKER = re.compile(r"^(\s*)(__fc_comment_\d+__)$")


def to_source(node, comments=None):
    comments = comments or {}
    tree = gast.gast_to_ast(node)
    ast.fix_missing_locations(tree)
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


def expr_source(node):
    """One expression as source text, for error messages."""
    try:
        return ast.unparse(gast.gast_to_ast(node))
    except Exception:  # a malformed node must not hide the error being reported
        return "<expression>"
