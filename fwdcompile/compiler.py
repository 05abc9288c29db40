"""Compatibility names for the pipeline driver, which is now fwdcompile/pipeline.py.

api.py and native.py still import ``compiler``; new code imports
:mod:`fwdcompile.pipeline` (the stages, :func:`compile_jvp`, :func:`check`)
and :mod:`fwdcompile.cache` (the caches and ``LOCK``).  This module goes
away once they do.
"""

from __future__ import annotations

from .cache import LOCK
from .pipeline import Compiled, check, checking, clear_cache, compile_jvp

__all__ = ["LOCK", "Compiled", "check", "checking", "clear_cache", "compile_jvp"]
