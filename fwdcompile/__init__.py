"""fwdcompile: a source-to-source forward-mode differentiation compiler for numeric Python.

The public API is the names below; everything else is internal.
"""

from .api import ForwardGradient, forward_gradient, jvp
from .pipeline import clear_cache
from .errors import (FwdcompileError, InternalError, NameResolutionError, NoDerivativeRule,
                     SourceUnavailable, UnsupportedSyntax)
from .rules.registry import custom_jvp
from . import tree
from .jacobian import jacfwd
from .gradcheck import CheckReport, check_grads

__version__ = "0.1.0"

__all__ = ["forward_gradient", "jvp", "custom_jvp", "jacfwd", "check_grads", "CheckReport",
           "ForwardGradient", "clear_cache", "tree",
           "FwdcompileError", "UnsupportedSyntax", "NoDerivativeRule", "SourceUnavailable",
           "NameResolutionError", "InternalError", "__version__"]
