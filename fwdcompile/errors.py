"""Every error a user of fwdcompile can see.

All of them derive from :class:`FwdcompileError`. Errors about the user's
source carry its location (file, line, column), the offending line, a caret
under the column, and a hint saying what to do instead.  Errors about call
arguments (tangent shapes, dtypes) are plain ``ValueError``/``TypeError``
raised by :mod:`fwdcompile.api`, because that is what Python users expect.
"""

from __future__ import annotations


class FwdcompileError(Exception):
    """Base class of the errors fwdcompile raises about a user's function."""

    default_hint: str | None = None  # said when the raise site has nothing more specific
    # the pipeline stage that raised it ("fence", "jvp", ...; fwdcompile/pipeline.py sets
    # it); not part of the message, so a located error reads the same from every stage
    stage: str | None = None

    def __init__(self, message, *, filename=None, lineno=None, col=None,
                 source_line=None, hint=None):
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col = col
        self.source_line = source_line
        self.hint = hint or self.default_hint
        super().__init__(self._format())

    def _format(self):
        parts = []
        if self.filename is not None and self.lineno is not None:
            where = f"{self.filename}:{self.lineno}"
            if self.col is not None:
                where += f":{self.col + 1}"
            parts.append(f"{where}: {self.message}")
        else:
            parts.append(self.message)
        if self.source_line is not None:
            text = self.source_line.rstrip("\n")
            stripped = text.lstrip()
            parts.append("    " + stripped)
            if self.col is not None:
                offset = max(self.col - (len(text) - len(stripped)), 0)
                parts.append("    " + " " * offset + "^")
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.filename, self.lineno,
                           self.col, self.source_line, self.hint, self.stage))


def _rebuild(cls, message, filename, lineno, col, source_line, hint, stage=None):
    error = cls(message, filename=filename, lineno=lineno, col=col,
                source_line=source_line, hint=hint)
    error.stage = stage
    return error


class UnsupportedSyntax(FwdcompileError):
    """A construct outside the supported subset of Python."""

    default_hint = ("rewrite it with the supported subset (see docs/errors.md), or move it "
                    "out of the differentiated function")


class NoDerivativeRule(FwdcompileError):
    """A call to a function with no derivative rule and no readable source."""

    default_hint = ("register a rule with @fwdcompile.custom_jvp(fn), call a module-level "
                    "function instead, or pass the value as data (leave it out of wrt)")


class SourceUnavailable(FwdcompileError):
    """The source of a function cannot be read (a lambda, a C function, a REPL)."""

    default_hint = ("define the function with `def` in a .py file, or register its "
                    "derivative with fwdcompile.custom_jvp")


class NameResolutionError(FwdcompileError):
    """A name used by the function is not defined anywhere it can see."""

    default_hint = "define it at module level before the function is differentiated"


class InternalError(FwdcompileError):
    """A bug in fwdcompile; the message says where it happened. Please report it."""

    default_hint = "this is a bug in fwdcompile: please report it with the function"


class TangentCheckFailed(InternalError):
    """Checking mode (``check=True`` or ``FWDCOMPILE_CHECK=1``) found a tangent
    whose shape or dtype differs from its value's: a bug in fwdcompile or in a
    ``custom_jvp`` rule."""


class LazyUnsupported(Exception):
    """Internal, never seen by users: the generated code uses a tangent of a
    structure in a way that cannot draw its directions where they are used
    (transform/lazy.py), so forward_grad hands it stored directions (the same
    numbers)."""


class BatchUnsupported(Exception):
    """Internal, never seen by users: the vector-mode transform cannot express
    a construct with K directions (transform/batch.py), so the API falls back
    to one JVP per direction.  Defined here so that the API need not import
    the transform to catch it."""
