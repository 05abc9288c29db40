"""Command line: ``fwdcompile`` / ``python -m fwdcompile``.

``demo``
    the main job end to end: a plain numpy function, the Python fwdcompile
    generates for it, its JVP checked against central finite differences,
    and a few steps of forward gradient descent.
``show TARGET [--wrt NAME ...] [--batched]``
    print the generated source of a function, ``TARGET`` being
    ``package.module:function`` or ``path/to/file.py:function``.
``show TARGET [--wrt NAME ...] [--batched] --timings``
    compile it afresh and print how long each pipeline stage took
    (fwdcompile/pipeline.py), for the function and the helpers it calls.
``show TARGET [--wrt NAME ...] [--batched] --stage NAME``
    print the code after one pipeline stage (``all``: after every stage),
    for the function and each helper it calls; ``FWDCOMPILE_DUMP=NAME,...``
    does the same to stderr for any program.
``show TARGET --backend llvm --signature TYPE ... [--asm]``
    compile the native kernel for one type per parameter (``float``, ``int``,
    ``bool``, ``'float64[:]'``, ``'float64[:, :]'``) and print its optimized
    LLVM IR, or its assembly with ``--asm``.
``show TARGET --backend llvm --signature TYPE ... --timings``
    compile the native kernel and print the time each step took (lowering,
    optimizing, code generation, or loading it from the disk cache) and
    whether the disk cache had it.
``cache info`` / ``cache clear``
    where the compiled native kernels are kept on disk (how many, how big),
    or remove them all (docs/native-backend.md, "Compiled kernels on disk").
``check TARGET --args EXPR [--wrt NAME ...] [--points N] [--backend llvm]``
    run :func:`fwdcompile.check_grads` (single-direction and vector-mode JVPs
    of each parameter against Ridders' extrapolated central differences, or
    the complex step) at random points near the arguments ``EXPR`` (a Python
    expression giving a tuple, evaluated with ``np`` available) and print the
    largest relative error.

Errors go to stderr with exit status 1 (a fwdcompile error in the user's
code) or 2 (bad command-line usage).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import forward_gradient


def rosenbrock(x):
    """The n-dimensional Rosenbrock function, written as plain numpy."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def demo(out=None):
    out = out or sys.stdout
    import inspect

    f = forward_gradient(rosenbrock)
    rng = np.random.default_rng(0)
    x = np.array([-1.0, 0.5, 0.8, 1.2])
    v = rng.standard_normal(x.shape)

    print("The function:\n", file=out)
    print(inspect.getsource(rosenbrock), file=out)
    value, dvalue = f.jvp(x, tangents=(v,))
    print("The generated value-and-tangent code (f.source):\n", file=out)
    print(f.source, file=out)

    h = 1e-6
    fd = (rosenbrock(x + h * v) - rosenbrock(x - h * v)) / (2 * h)
    print(f"f(x)               = {value:.12g}", file=out)
    print(f"JVP  grad f(x) . v = {dvalue:.12g}", file=out)
    print(f"central difference = {fd:.12g}   (relative difference "
          f"{abs(dvalue - fd) / max(abs(fd), 1e-300):.1e})\n", file=out)

    print("Forward gradient descent, g = (grad f . v) v with v ~ N(0, I):\n", file=out)
    print(f"{'step':>6} {'f(x)':>14}", file=out)
    lr = 2e-4
    for step in range(0, 201):
        value, g = f.forward_grad(x, rng=rng)
        if step % 40 == 0:
            print(f"{step:>6} {value:>14.6g}", file=out)
        x = x - lr * g
    return 0


def load_target(target):
    """The function named by ``module.path:function`` or ``file.py:function``."""
    import importlib
    import importlib.util
    import os

    if ":" not in target:
        raise SystemExit("fwdcompile: expected MODULE:FUNCTION or FILE.py:FUNCTION, "
                         f"got {target!r}")
    where, _, name = target.rpartition(":")
    if where.endswith(".py") or os.sep in where:
        if not os.path.exists(where):
            raise SystemExit(f"fwdcompile: no such file: {where}")
        spec = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(where))[0], where)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's module failed to import: say so, briefly
            raise SystemExit(f"fwdcompile: cannot import {where}: {type(exc).__name__}: {exc}"
                             + ("\nhint: use the dotted module name (package.module:function)"
                                if isinstance(exc, ImportError) else "")) from None
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise SystemExit(f"fwdcompile: cannot import {where}: {type(exc).__name__}: "
                             f"{exc}") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise SystemExit(f"fwdcompile: {where} has no attribute {name!r}")
        obj = getattr(obj, part)
    return getattr(obj, "__fwdcompile_function__", obj)


def show(args, out=None):
    out = out or sys.stdout
    if getattr(args, "backend", "python") == "llvm":
        if not args.signature:
            print("fwdcompile: show --backend llvm needs --signature, one type per parameter "
                  "(float, int, bool, 'float64[:]' or 'float64[:, :]')", file=sys.stderr)
            return 2
        f = forward_gradient(load_target(args.target), backend="llvm")
        try:
            f.compile(*args.signature, wrt=args.wrt or None)
        except TypeError as exc:
            print(f"fwdcompile: {exc}", file=sys.stderr)
            return 2
        if args.timings:
            print(native_timing_table(f.llvm_timings), file=out)
            return 0
        print(f.llvm_asm if args.asm else f.llvm_ir, file=out, end="")
        return 0
    f = forward_gradient(load_target(args.target), wrt=args.wrt or None)
    if args.timings or args.stage:
        return show_stages(f, args, out)
    if args.batched:
        try:
            print(f.batched_source, file=out, end="")
        except ValueError as exc:  # vector mode runs one JVP per direction here
            print(f"fwdcompile: {exc}", file=sys.stderr)
            return 1
    else:
        print(f.source, file=out, end="")
    return 0


def show_stages(f, args, out):
    """``show --stage`` and ``show --timings``: one fresh run of the pipeline."""
    import contextlib

    from . import pipeline

    fn = f.__fwdcompile_function__
    wrt = tuple(args.wrt or f._default_wrt())
    pipeline.clear_cache()  # run (and time) every stage, not the cached result
    dumping = pipeline.dumping([args.stage], out) if args.stage else contextlib.nullcontext()
    with dumping:
        pipeline.check(fn)
        compiled = pipeline.compile_jvp(fn, wrt, batched=args.batched)
    if args.timings:
        print(timing_table(compiled), file=out)
    return 0


def timing_table(compiled):
    """The per-stage times of a :class:`~fwdcompile.pipeline.Compiled`, as text."""
    from .pipeline import STAGES

    def ms(seconds):
        return f"{seconds * 1e3:8.2f} ms"

    rows = [f"{'stage':<19} {'this function':>13} {'helpers':>11}   what it does"]
    own_total = helper_total = 0.0
    for stage in STAGES:
        own = compiled.timings.get(stage.name)
        helper = compiled.helper_timings.get(stage.name)
        if own is None and helper is None:
            rows.append(f"{stage.name:<19} {'not run':>13} {'':>11}   {stage.description}")
            continue
        own_total += own or 0.0
        helper_total += helper or 0.0
        rows.append(f"{stage.name:<19} {ms(own or 0.0):>13} {ms(helper or 0.0):>11}   "
                    f"{stage.description}")
    rows.append(f"{'total':<19} {ms(own_total):>13} {ms(helper_total):>11}   "
                f"{(own_total + helper_total) * 1e3:.2f} ms in all, "
                f"{len(compiled.helpers)} helper(s) called")
    return "\n".join(rows)


def native_timing_table(timings):
    """``f.llvm_timings`` as text: milliseconds per step, and the cache's answer."""
    rows = [f"{'native step':<19} {'time':>11}"]
    total = 0.0
    for step, seconds in timings.items():
        if step != "cache":
            total += seconds
            rows.append(f"{step:<19} {seconds * 1e3:8.2f} ms")
    rows.append(f"{'total':<19} {total * 1e3:8.2f} ms   disk cache: {timings['cache']}")
    return "\n".join(rows)


def cache_command(args, out=None):
    """``fwdcompile cache info|clear``: the compiled kernels kept on disk."""
    from .backends.llvm import disk_cache

    out = out or sys.stdout
    if args.action == "clear":
        print(f"removed {disk_cache.clear()} kernel file(s) from "
              f"{disk_cache.directory() or '(the cache is off: FWDCOMPILE_CACHE=0)'}", file=out)
        return 0
    info = disk_cache.info()
    if not info["enabled"]:
        print("the disk cache is off (FWDCOMPILE_CACHE=0)", file=out)
        return 0
    print(f"{info['directory']}: {info['files']} kernel file(s), "
          f"{info['bytes'] / 2 ** 20:.2f} MiB", file=out)
    return 0


def check(args, out=None):
    """``fwdcompile check``: :func:`fwdcompile.check_grads` at random points near
    the arguments (single-direction and vector-mode JVPs of each parameter
    against Ridders' differences or the complex step)."""
    from .gradcheck import check_grads

    out = out or sys.stdout
    fn = load_target(args.target)
    f = forward_gradient(fn, wrt=args.wrt or None, backend=getattr(args, "backend", "python"))
    base = eval(args.args, {"np": np, "__builtins__": __builtins__})  # the user's own expression
    base = base if isinstance(base, tuple) else (base,)
    rng = np.random.default_rng(args.seed)
    worst = 0.0
    print(f"{'point':>5} {'rel. error':>11}   against", file=out)
    for k in range(args.points):
        point = tuple(a + 0.1 * rng.standard_normal(np.shape(a)) if _is_float(a) else a
                      for a in base)
        try:
            report = check_grads(f, point, directions=2, seed=int(rng.integers(2 ** 31)))
        except AssertionError as exc:
            print(f"{k:>5} {'FAILED':>11}   {exc}", file=out)
            worst = float("inf")
            continue
        worst = max(worst, report.max_relative_error)
        print(f"{k:>5} {report.max_relative_error:>11.2e}   {report.method} "
              f"({', '.join(report.worst)})", file=out)
    print(f"largest relative error: {worst:.2e} (the reference is good to about 1e-9)",
          file=out)
    return 0 if worst < 1e-5 else 1


def _is_float(a):
    return isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f")


def main(argv=None):
    from .errors import FwdcompileError
    from .pipeline import STAGE_NAMES

    parser = argparse.ArgumentParser(prog="fwdcompile",
                                     description="Forward-mode differentiation of numeric Python.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="show a function, its generated derivative code, a checked "
                                "JVP and a few steps of forward gradient descent")
    p_show = sub.add_parser("show", help="print the generated source of a function")
    p_show.add_argument("target", help="module:function or path/to/file.py:function")
    p_show.add_argument("--wrt", nargs="+", help="the parameters to differentiate")
    p_show.add_argument("--batched", action="store_true", help="the vector-mode variant")
    p_show.add_argument("--timings", action="store_true",
                        help="compile afresh and print the time each pipeline stage took "
                             "(with --backend llvm: each native compilation step)")
    p_show.add_argument("--stage", choices=STAGE_NAMES + ("all",), metavar="STAGE",
                        help="print the code after this pipeline stage instead "
                             f"({', '.join(STAGE_NAMES)} or all)")
    p_show.add_argument("--backend", choices=("python", "llvm"), default="python",
                        help="llvm: print the native kernel's IR instead of Python")
    p_show.add_argument("--signature", nargs="+", metavar="TYPE",
                        help="with --backend llvm: one type per parameter, e.g. "
                             "'float64[:]' int")
    p_show.add_argument("--asm", action="store_true",
                        help="with --backend llvm: print assembly instead of IR")
    p_check = sub.add_parser("check", help="compare the JVP with finite differences")
    p_check.add_argument("target", help="module:function or path/to/file.py:function")
    p_check.add_argument("--args", required=True,
                         help="a Python expression for the arguments, e.g. '(np.ones(3), 2)'")
    p_check.add_argument("--wrt", nargs="+", help="the parameters to differentiate")
    p_check.add_argument("--points", type=int, default=3, help="random points (default 3)")
    p_check.add_argument("--seed", type=int, default=0)
    p_check.add_argument("--backend", choices=("python", "llvm"), default="python",
                         help="check the native backend's JVP instead")
    p_cache = sub.add_parser("cache", help="the compiled native kernels kept on disk")
    p_cache.add_argument("action", choices=("info", "clear"),
                         help="info: where they are, how many; clear: remove them")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return demo()
        if args.command == "show":
            return show(args)
        if args.command == "check":
            return check(args)
        if args.command == "cache":
            return cache_command(args)
    except FwdcompileError as exc:
        print(f"fwdcompile: {exc}", file=sys.stderr)
        return 1
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
