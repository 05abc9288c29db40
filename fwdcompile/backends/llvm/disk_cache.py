"""Compiled kernels on disk: a second process pays no LLVM optimization or codegen.

Contract: :func:`lookup` and :func:`store` keep MCJIT object code (plus the
optimized IR, for ``f.llvm_ir``) in one file per kernel under
:func:`directory`, keyed by :func:`key`: a SHA-256 of the IR text the kernel
is compiled from (before optimization; it already holds everything the
lowering read: the generated source, the argument types, ``wrt``,
``boundscheck``, constants folded from globals, every helper, the thread
count and size threshold of parallel loops: parallel.py), the
optimization level, and :func:`environment` (fwdcompile's version, a hash of
the compiling code, llvmlite, LLVM, numpy and Python versions, the target
triple, the CPU name and its feature string), and ``vecmath.describe()``
(vector math on or off, the glibc version and the libmvec instruction sets
used: ``FWDCOMPILE_VECMATH=0`` or another host gives other machine code; the
IR is keyed after vecmath.py tagged its calls).  A kernel whose IR changes in
any way gets another key, so a stale or foreign kernel is never loaded.

Process-specific addresses the call wrappers compare against (``id`` of
``numpy.ndarray``, of numpy scalar types, of interned keyword names) are
turned by :func:`relocatable` into external symbols named after the object
(``fwdc.obj.numpy.float64``, ``fwdc.str.<hex>``) and bound to this process's
objects with ``llvm.add_symbol``; IR with an address it cannot name is
compiled but not written.

Safety: files are written to a temporary file in the same directory and
renamed into place (``os.replace``), so readers in other processes see a
whole file or none; every file carries a header with its key and a SHA-256 of
its payload, and a file that is truncated, corrupt, foreign or unreadable is
ignored (the kernel is compiled and the file rewritten), never raised.  The
directory is ``$FWDCOMPILE_CACHE_DIR``, else ``$XDG_CACHE_HOME/fwdcompile``,
else ``~/.cache/fwdcompile``; ``FWDCOMPILE_CACHE=0`` switches the cache off
(nothing is read or written).  After each write the least recently used
files are removed beyond :data:`MAX_BYTES` (``FWDCOMPILE_CACHE_MAX_MB``).
:data:`STATS` counts hits, misses, writes and rejected files in this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

FORMAT = 1  # bump when the file layout or the engine's settings change
MAGIC = b"FWDCKRN\x00"
SUFFIX = ".kernel"
MAX_BYTES = 256 * 2 ** 20
STATS = {"hits": 0, "misses": 0, "writes": 0, "rejected": 0}
_LOCK = threading.Lock()
_NAMED: dict = {}  # symbol -> the object whose address it stands for (kept alive)
_ENVIRONMENT: list = []
_ADDRESS = re.compile(r"inttoptr \(i64 (-?\d+) to (i8\*|ptr)\)")


def enabled():
    """Whether the disk cache is on (``FWDCOMPILE_CACHE`` is not 0/false/no/off)."""
    return os.environ.get("FWDCOMPILE_CACHE", "1").strip().lower() not in ("0", "false",
                                                                            "no", "off")


def directory():
    """Where kernels are kept (see the module doc), or None when the cache is off."""
    if not enabled():
        return None
    explicit = os.environ.get("FWDCOMPILE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fwdcompile"


def environment():
    """Everything outside the IR that decides the machine code, as text."""
    if not _ENVIRONMENT:
        import llvmlite
        import llvmlite.binding as llvm
        import numpy

        from . import engine
        engine.init()
        code = hashlib.sha256()
        for name in ("engine.py", "disk_cache.py", "vecmath.py"):
            code.update(Path(__file__).with_name(name).read_bytes())
        package = sys.modules.get("fwdcompile")
        _ENVIRONMENT.append("\n".join([
            f"format {FORMAT}",
            f"fwdcompile {getattr(package, '__version__', '?')} {code.hexdigest()}",
            f"llvmlite {llvmlite.__version__} llvm {llvm.llvm_version_info}",
            f"numpy {numpy.__version__}",
            f"python {sys.implementation.cache_tag} {sys.version} {sys.platform}",
            f"triple {llvm.get_process_triple()}",
            f"cpu {llvm.get_host_cpu_name()} {engine.host_features()}",
        ]))
    return _ENVIRONMENT[0]


def _known_objects(strings):
    """``{address: (symbol, object)}`` for the objects wrappers may compare against."""
    import numpy as np
    objects, names = {}, {}
    for t in set(np.sctypeDict.values()) | {np.ndarray}:
        names.setdefault(f"fwdc.obj.numpy.{t.__name__}", []).append(t)
    for symbol, same in names.items():
        if len(same) == 1:  # two types of one name: neither is named (their IR stays unnamed)
            objects[id(same[0])] = (symbol, same[0])
    for text in strings:
        s = sys.intern(str(text))
        objects[id(s)] = (f"fwdc.str.{s.encode('utf-8', 'surrogatepass').hex()}", s)
    return objects


def relocatable(text, strings=()):
    """``(text, symbols, portable)``: IR ``text`` with the addresses of known
    objects (numpy's types, the interned ``strings``) replaced by external
    symbols, ``{symbol: address}`` to bind them with (:func:`bind`), and
    whether no address is left that has no name (if one is, the IR is
    specific to this process and is not written to disk)."""
    known = _known_objects(strings)
    used = {}

    def name(match):
        found = known.get(int(match.group(1)))
        if found is None:
            return match.group(0)
        used[found[0]] = found[1]
        return f'@"{found[0]}"'

    text = _ADDRESS.sub(name, text)
    portable = _ADDRESS.search(text) is None
    text += "".join(f'\n@"{symbol}" = external global i8' for symbol in sorted(used))
    _NAMED.update(used)
    return text, {symbol: id(obj) for symbol, obj in used.items()}, portable


def bind(symbols):
    """Make MCJIT resolve each symbol to its object in this process."""
    import llvmlite.binding as llvm
    for symbol, address in symbols.items():
        llvm.add_symbol(symbol, address)


def key(text, opt, vectorize=False):
    """The SHA-256 (hex) naming the kernel compiled from IR ``text``."""
    from . import vecmath

    digest = hashlib.sha256()
    for part in (environment(), vecmath.describe(), f"opt {opt} vectorize {bool(vectorize)}",
                 text):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _path(root, digest):
    return root / "kernels" / digest[:2] / (digest + SUFFIX)


def lookup(digest):
    """``(object code, optimized IR)`` stored under ``digest``, or None (a miss;
    a file that is not a whole, matching entry counts as one)."""
    root = directory()
    if root is None:
        return None
    path = _path(root, digest)
    try:
        data = path.read_bytes()
    except OSError:
        return _count("misses")
    entry = _decode(data, digest)
    if entry is None:
        _count("rejected")
        return _count("misses")
    try:
        os.utime(path)  # recently used: kept longest when the size bound evicts
    except OSError:
        pass
    _count("hits")
    return entry


def _decode(data, digest):
    try:
        if not data.startswith(MAGIC):
            return None
        size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "little")
        start = len(MAGIC) + 4
        header = json.loads(data[start:start + size].decode())
        payload = data[start + size:]
        if header.get("key") != digest or header.get("format") != FORMAT \
                or hashlib.sha256(payload).hexdigest() != header.get("sha256") \
                or len(payload) != header["object"] + header["ir"]:
            return None
        obj = payload[:header["object"]]
        return obj, payload[header["object"]:].decode()
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def store(digest, obj, ir_text):
    """Write the entry atomically; any failure (a read-only disk, a full one)
    only means the next process compiles again."""
    root = directory()
    if root is None:
        return
    ir_bytes = ir_text.encode()
    payload = bytes(obj) + ir_bytes
    header = json.dumps({"format": FORMAT, "key": digest, "object": len(obj),
                         "ir": len(ir_bytes),
                         "sha256": hashlib.sha256(payload).hexdigest()}).encode()
    path = _path(root, digest)
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in (root / "kernels", path.parent):  # each private to the user
            folder.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + len(header).to_bytes(4, "little") + header + payload)
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise
    except OSError:
        return
    _count("writes")
    _evict(root)


def _entries(root):
    found = []
    for path in (root / "kernels").glob(f"*/*{SUFFIX}"):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((stat.st_mtime, stat.st_size, path))
    return found


def _evict(root):
    limit = MAX_BYTES
    try:
        limit = int(float(os.environ.get("FWDCOMPILE_CACHE_MAX_MB", "")) * 2 ** 20)
    except ValueError:
        pass
    entries = sorted(_entries(root))
    total = sum(size for _, size, _ in entries)
    for _, size, path in entries:  # oldest first
        if total <= limit:
            break
        _unlink(path)
        total -= size


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def clear():
    """Remove every kernel file (and leftover temporary file); the number removed."""
    root = directory()
    if root is None:
        return 0
    removed = 0
    for path in list((root / "kernels").glob("*/*")):
        if path.name.endswith(SUFFIX):
            _unlink(path)
            removed += 1
    return removed


def info():
    """``{"directory", "enabled", "files", "bytes"}`` for the cache in use."""
    root = directory()
    entries = _entries(root) if root is not None else []
    return {"directory": str(root) if root is not None else None, "enabled": root is not None,
            "files": len(entries), "bytes": sum(size for _, size, _ in entries)}


def _count(what):
    with _LOCK:
        STATS[what] += 1
