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

    def __init__(self, message, *, filename=None, lineno=None, col=None,
                 source_line=None, hint=None):
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col = col
        self.source_line = source_line
        self.hint = hint
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
                           self.col, self.source_line, self.hint))


def _rebuild(cls, message, filename, lineno, col, source_line, hint):
    return cls(message, filename=filename, lineno=lineno, col=col,
               source_line=source_line, hint=hint)


class UnsupportedSyntax(FwdcompileError):
    """A construct outside the supported subset of Python."""


class NoDerivativeRule(FwdcompileError):
    """A call to a function with no derivative rule and no readable source."""


class SourceUnavailable(FwdcompileError):
    """The source of a function cannot be read (a lambda, a C function, a REPL)."""


class NameResolutionError(FwdcompileError):
    """A name used by the function is not defined anywhere it can see."""


class InternalError(FwdcompileError):
    """A bug in fwdcompile; the message says where it happened. Please report it."""


class TangentCheckFailed(InternalError):
    """Checking mode (``check=True`` or ``FWDCOMPILE_CHECK=1``) found a tangent
    whose shape or dtype differs from its value's: a bug in fwdcompile."""
