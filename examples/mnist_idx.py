"""Read MNIST's IDX files (``train-images-idx3-ubyte`` and friends, optionally
gzipped) from a directory you give; no download, numpy only.

    from mnist_idx import load_mnist
    Xtr, ytr = load_mnist("~/data/mnist", "train")   # uint8 (60000, 28, 28), int64 (60000,)
    Xte, yte = load_mnist("~/data/mnist", "test")

The IDX format (LeCun et al.): two zero bytes, a type code (0x08 unsigned
byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64),
the number of dimensions, then each dimension as a big-endian uint32, then
the data, big-endian, in C order.  A file with another magic number, or
shorter than its header says, raises :class:`IDXError` naming the file.
Shared by ``examples/digits.py --mnist`` and ``examples/cnn_digits.py --mnist``.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

__all__ = ["IDXError", "read_idx", "find_idx", "load_mnist", "write_idx"]

_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {np.dtype(t).newbyteorder("=").str: c for c, t in _TYPES.items()}

# the names the files have on the MNIST page (and with a dot, as some mirrors spell them)
_NAMES = {("train", "images"): "train-images-idx3-ubyte",
          ("train", "labels"): "train-labels-idx1-ubyte",
          ("test", "images"): "t10k-images-idx3-ubyte",
          ("test", "labels"): "t10k-labels-idx1-ubyte"}


class IDXError(ValueError):
    """A file that is not a well-formed IDX file."""


def _read_bytes(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IDXError(f"{path}: a damaged or truncated gzip file ({exc})") from None
    return raw


def read_idx(path) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzipped or not), in
    native byte order."""
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise IDXError(f"{path}: not an IDX file: magic number 0x{raw[:4].hex()} (expected "
                       "0x0000 then a type code 08/09/0b/0c/0d/0e and the number of "
                       "dimensions, e.g. 0x00000803 for images)")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header: {ndim} dimensions need {header} bytes, "
                       f"the file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) < expected:
        raise IDXError(f"{path}: truncated: shape {shape} of {dtype.name} needs {expected} "
                       f"bytes, the file has {len(raw)}")
    if len(raw) > expected:
        raise IDXError(f"{path}: {len(raw) - expected} bytes after the data of shape "
                       f"{shape}: not an IDX file of that shape")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in .gz);
    for tests and for making small files."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("=").str)
    if code is None:
        raise ValueError(f"IDX has no type for {array.dtype}")
    big = array.astype(_TYPES[code], copy=False)
    raw = (bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
           + np.ascontiguousarray(big).tobytes())
    path = os.fspath(path)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(raw) if path.endswith(".gz") else raw)


def find_idx(directory, split: str, what: str) -> str:
    """The path of MNIST's ``split`` ("train" or "test") ``what`` ("images" or
    "labels") file in ``directory``, gzipped or not."""
    directory = os.path.expanduser(os.fspath(directory))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory!r} is not a directory (give the directory "
                                "holding train-images-idx3-ubyte etc.)")
    name = _NAMES[(split, what)]
    candidates = [name, name.replace("-idx", ".idx")]
    for candidate in candidates:
        for suffix in ("", ".gz"):
            path = os.path.join(directory, candidate + suffix)
            if os.path.isfile(path):
                return path
    raise FileNotFoundError(f"no {name} (or {name}.gz) in {directory!r}")


def load_mnist(directory, split: str = "train"):
    """``(images, labels)`` of MNIST's ``split`` from the IDX files in
    ``directory``: images as stored (uint8, (n, rows, cols)), labels as int64."""
    images = read_idx(find_idx(directory, split, "images"))
    labels = read_idx(find_idx(directory, split, "labels"))
    if images.ndim != 3 or labels.ndim != 1:
        raise IDXError(f"{directory}: expected images of 3 dimensions and labels of 1, got "
                       f"{images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise IDXError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels.astype(np.int64)
