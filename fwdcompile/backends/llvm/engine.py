"""Turn LLVM IR into machine code in this process: the one JIT pipeline.

Contract: every native code fwdcompile runs (the kernels of jit.py and the
direction samplers of sampling.py) is compiled by the same four steps, each
a function here:

- :func:`target_machine` (after :func:`init`, once per process): the host's
  CPU name and features, ``reloc="static"``, ``codemodel="jitdefault"``,
  ``jit=True`` (numba's settings on x86).  One machine per engine: MCJIT
  takes ownership of it.  :func:`prepare` gives an ``llvmlite.ir`` module the
  process triple and the machine's data layout before it is printed;
- :func:`parse`: the IR text parsed and verified, or :class:`IRRejected`;
- :func:`optimize`: the new pass manager at ``speed_level=opt``, with loop and
  SLP vectorization switched on when asked (``vectorize=True``; llvmlite's
  default leaves SLP off);
- :func:`load`: an MCJIT engine for the module, refused with
  :class:`UnresolvedSymbol` when a declared function or global is not in the
  process (MCJIT would leave it NULL, and the first call would segfault;
  the check runs once the engine exists, because creating it loads the
  process's symbols), then finalized.

:func:`build` runs parse, optimize and load in that order;
:func:`build_cached` does the same through the disk cache of compiled code
(disk_cache.py): a kernel compiled by an earlier process is parsed, not
optimized, and MCJIT loads its stored object code.  Both first tag the
math calls with their libmvec vector versions (vecmath.py; a text edit,
nothing when vector math is off or unavailable), so loops over ``exp``,
``tanh``, ... vectorize.  The callers keep
what is theirs: the lowering and the wrappers (jit.py), the text edits for
loop metadata and vector width (sampling.py), their locks and what they do
when compilation fails.  See docs/native-backend.md and the notes on
llvmlite 0.45+ (``llvm.initialize()`` raises; the legacy pass manager is gone).
"""

from __future__ import annotations

import threading
import time

import llvmlite.binding as llvm

_INIT_LOCK = threading.Lock()
_READY = False


class IRRejected(RuntimeError):
    """LLVM's parser or verifier refused the IR text (a lowering gap, not a crash)."""


class UnresolvedSymbol(RuntimeError):
    """The module declares a symbol this process does not provide."""


def init():
    """Register the native target and its assembly printer (once per process)."""
    global _READY
    if not _READY:
        with _INIT_LOCK:
            if not _READY:
                llvm.initialize_native_target()
                llvm.initialize_native_asmprinter()
                _READY = True


def host_features():
    """The host CPU's feature string (``+avx2,+avx512f,...``)."""
    return llvm.get_host_cpu_features().flatten()


def target_machine(opt):
    """A target machine for this host at optimization level ``opt``."""
    init()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=host_features(), opt=opt,
                                        reloc="static", codemodel="jitdefault", jit=True)


def prepare(module, tm):
    """Give the ``llvmlite.ir`` ``module`` the process triple and ``tm``'s data layout."""
    module.triple = llvm.get_process_triple()
    module.data_layout = str(tm.target_data)


def parse(text):
    """The module of IR ``text``, parsed and verified (:class:`IRRejected` if not)."""
    init()
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as exc:
        raise IRRejected(str(exc)) from exc
    return mod


def optimize(mod, tm, opt, vectorize=False):
    """Run the new pass manager's ``speed_level=opt`` pipeline over ``mod``;
    ``vectorize``: switch loop and SLP vectorization on."""
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    if vectorize:
        pto.loop_vectorization = True
        pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


def unresolved(mod):
    """The external functions and globals ``mod`` declares that this process
    does not provide (meaningful once an engine exists: see :func:`load`)."""
    externals = [f.name for f in mod.functions
                 if f.is_declaration and not f.name.startswith("llvm.")]
    externals += [g.name for g in mod.global_variables if g.is_declaration]
    return [name for name in externals if not llvm.address_of_symbol(name)]


def load(mod, tm, object_code=None, notify=None):
    """An MCJIT engine holding ``mod``'s machine code, finalized; it takes
    ownership of ``tm``.  :class:`UnresolvedSymbol` before any code could run
    when a symbol is missing.  ``object_code``: the object file MCJIT loads
    instead of generating code for ``mod`` (from the disk cache);
    ``notify``: called with the object file MCJIT generated."""
    engine = llvm.create_mcjit_compiler(mod, tm)
    if object_code is not None or notify is not None:
        engine.set_object_cache(
            None if notify is None else lambda _module, buffer: notify(buffer),
            None if object_code is None else lambda _module: object_code)
    missing = unresolved(mod)
    if missing:
        raise UnresolvedSymbol(f"fwdcompile: the native symbol {missing[0]!r} is not "
                               "available in this process")
    engine.finalize_object()
    return engine


def build(text, tm, opt, vectorize=False):
    """``(engine, module)`` for IR ``text``: its math calls tagged with their
    vector versions (vecmath.py), then :func:`parse`, :func:`optimize`,
    :func:`load`."""
    from . import vecmath

    mod = parse(vecmath.tag(text))
    optimize(mod, tm, opt, vectorize)
    return load(mod, tm), mod


def build_cached(text, tm, opt, strings=(), timings=None, vectorize=False):
    """``(engine, module, optimized IR text, cache status)`` for IR ``text``,
    through the disk cache (disk_cache.py): on a hit the module is parsed
    but neither optimized nor compiled (MCJIT loads the stored object code);
    on a miss it is built as :func:`build` does and the object code written.
    ``strings``: names whose interned objects the IR compares against.
    The status is ``"hit"``, ``"miss"``, ``"off"`` (the cache is off) or
    ``"process-specific"`` (the IR holds an address the cache cannot name).
    ``timings`` (a dict) receives the seconds spent parsing, optimizing,
    generating code (or loading it from disk); ``vectorize``: see :func:`optimize`."""
    from . import disk_cache, vecmath

    timings = {} if timings is None else timings
    clock = time.perf_counter
    start = clock()
    text = vecmath.tag(text)
    timings["vector math"] = clock() - start
    start = clock()
    digest, status = None, "off"
    if disk_cache.directory() is not None:
        text, symbols, portable = disk_cache.relocatable(text, strings)
        disk_cache.bind(symbols)
        if portable:
            digest = disk_cache.key(text, opt, vectorize)
        else:
            status = "process-specific"
    cached = disk_cache.lookup(digest) if digest is not None else None
    timings["cache lookup"] = clock() - start
    start = clock()
    mod = parse(text)
    timings["parse IR"] = clock() - start
    start = clock()
    if cached is not None:
        engine = load(mod, tm, object_code=cached[0])
        timings["load object code"] = clock() - start
        return engine, mod, cached[1], "hit"
    optimize(mod, tm, opt, vectorize)
    timings["optimize"] = clock() - start
    start = clock()
    objects: list = []
    engine = load(mod, tm, notify=objects.append if digest is not None else None)
    timings["codegen"] = clock() - start
    optimized = str(mod)
    if digest is not None:
        status = "miss"
        if objects:
            start = clock()
            disk_cache.store(digest, objects[0], optimized)
            timings["cache write"] = clock() - start
    return engine, mod, optimized, status
