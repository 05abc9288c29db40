"""The calculus table: one module per family of functions, one registry.

Importing this package fills the registry; :func:`lookup` finds the rule for
a function object or operator class.  Array methods and attributes, which
have no object to key them by, are declared by name in :mod:`.methods`.
"""

from . import builtin_fns, math_fns, methods, numpy_fns, operators, scipy_fns  # noqa: F401

try:  # scipy is optional: its rules exist only where it imports
    import scipy
except ImportError:
    scipy = None
if scipy is not None:
    scipy_fns.register()
from .registry import (CustomRule, LinearRule, MultilinearRule, NonDiffRule, PartialsRule, Rule,
                       TemplateRule, custom_jvp, defjvp, deflinear, defmultilinear, defnondiff,
                       deftemplate, lookup)

__all__ = ["Rule", "PartialsRule", "LinearRule", "MultilinearRule", "TemplateRule",
           "NonDiffRule", "CustomRule", "custom_jvp", "defjvp", "deflinear", "defmultilinear",
           "defnondiff", "deftemplate", "lookup"]
