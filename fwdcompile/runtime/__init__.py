"""Helpers that generated code calls as ``_rt.<name>``: this package is ``_rt``.

Contract: generated code reaches every helper as an attribute of this one
namespace (codegen/load.py binds ``_rt`` to it), so the names below are the
interface between the transform and the runtime, and generated sources
(tests/golden) depend on them.  The helpers live by job:

- :mod:`.tangents`: zero tangents, copies and widening, both modes
  (``zeros_like``, ``copy``, ``broadcast``);
- :mod:`.rules`: tangent rules clearer as a few lines of numpy than as a
  template (``max_jvp``, ``prod_jvp``, ``norm_jvp``, ``pow_dx``, ...);
- :mod:`.batched`: vector mode, K directions on a leading axis (``lift``,
  ``fit``, ``bzeros``, ``b*``, ``matmul_*``, ``inplace_batched_*``);
- :mod:`.reuse`: vector mode's buffer reuse (``reuse_*``), with its one
  tunable :data:`REUSE_MIN_SIZE`, read here at each call;
- :mod:`.checks`: checking mode (``check_tangent``, ``check_return``);
- :mod:`.lowered`: which helpers the native backend also implements in IR
  (:data:`NATIVE`, filled by the ``@lowered_natively`` decorator on them);
- :mod:`.facts`: what passes over generated code may assume about a helper
  (``@returns_fresh``, ``@updates_first``, declared on the helpers).

- :mod:`.scipy_rules`: the helpers of the scipy rules (``_rt.scipy_rules.<name>``),
  imported on first use (:func:`__getattr__`), as they import scipy.

Every helper takes primal values and tangents and returns a tangent; none
keeps state.  Importing this package imports numpy only.
"""

from __future__ import annotations

from .batched import (balong, batch_size, baxis, bdot, beinsum, bindex, binner, bmax_jvp, bouter,
                      breduce, breshape, bsplit, btensordot, btranspose, bzeros, custom_batched,
                      fit, inplace_batched_add, inplace_batched_div, inplace_batched_mul,
                      inplace_batched_sub, lift, matmul_left, matmul_right, ufunc_at_batched)
from .checks import check_return, check_tangent
from .lowered import NATIVE, Lowering, lowered_natively
from .reuse import reuse_add, reuse_div, reuse_mul, reuse_sub, reuse_where
from .rules import (angle_jvp, cholesky_jvp, clip_jvp, cumprod_jvp, digamma, eigh_jvp,
                    eigvalsh_jvp, interp_jvp, lstsq_jvp, matrix_power_jvp, max_jvp,
                    nan_to_num_jvp, norm_jvp, pad_jvp, partition_jvp, pinv_jvp, polyval_jvp,
                    pow_dx, pow_dy, prod_jvp, qr_jvp, select_max, select_min, sinc_derivative,
                    sort_jvp, std_jvp, svd_jvp, var_jvp)
from .tangents import broadcast, copy, zeros_like

# Buffer reuse (transform/reuse.py): below this many elements a fresh array
# is cheaper than the checks.  reuse.py reads it from here at each call.
REUSE_MIN_SIZE = 4096

__all__ = [
    "NATIVE", "REUSE_MIN_SIZE", "Lowering", "angle_jvp", "nan_to_num_jvp", "batch_size",
    "balong", "baxis", "bdot", "beinsum", "bindex", "binner", "bmax_jvp", "bouter", "btensordot",
    "breduce", "breshape", "broadcast", "bsplit", "btranspose", "bzeros", "check_return",
    "check_tangent", "cholesky_jvp", "clip_jvp", "copy", "cumprod_jvp", "custom_batched",
    "digamma", "eigh_jvp", "eigvalsh_jvp", "fit", "inplace_batched_add", "inplace_batched_div",
    "inplace_batched_mul", "inplace_batched_sub", "interp_jvp", "lift", "lowered_natively",
    "lstsq_jvp", "matmul_left", "matmul_right", "matrix_power_jvp", "max_jvp", "norm_jvp",
    "pad_jvp", "partition_jvp", "pinv_jvp", "polyval_jvp", "pow_dx", "pow_dy", "prod_jvp",
    "qr_jvp", "svd_jvp", "reuse_add", "reuse_div", "reuse_mul", "reuse_sub", "reuse_where",
    "select_max", "select_min", "sinc_derivative", "sort_jvp", "std_jvp", "ufunc_at_batched",
    "var_jvp", "zeros_like",
]


def __getattr__(name):
    """``_rt.scipy_rules``: imported when generated code first uses it, so that
    importing fwdcompile never imports scipy (an optional dependency)."""
    if name == "scipy_rules":
        import importlib
        return importlib.import_module(".scipy_rules", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
