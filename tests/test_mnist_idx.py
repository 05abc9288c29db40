"""examples/mnist_idx.py: MNIST's IDX files, built tiny in tmp_path."""

from __future__ import annotations

import gzip
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import mnist_idx  # noqa: E402
from mnist_idx import IDXError, load_mnist, read_idx, write_idx  # noqa: E402


def _raw_idx(array, code):
    return (bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
            + array.tobytes())


def test_reads_hand_built_images_and_labels(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_raw_idx(images, 0x08))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_raw_idx(labels, 0x08))
    X, y = load_mnist(tmp_path, "train")
    assert X.dtype == np.uint8 and X.shape == (3, 4, 5)
    np.testing.assert_array_equal(X, images)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [7, 0, 9])


def test_header_is_big_endian(tmp_path):
    # 0x00000803, then 2, 1, 1 as big-endian uint32: a hand-written header
    raw = bytes.fromhex("00000803" "00000002" "00000001" "00000001") + bytes([5, 250])
    path = tmp_path / "x.idx"
    path.write_bytes(raw)
    np.testing.assert_array_equal(read_idx(path), np.array([[[5]], [[250]]], dtype=np.uint8))


def test_gzipped_test_split_and_dotted_names(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28)).astype(np.uint8)
    labels = np.array([1, 2], dtype=np.uint8)
    (tmp_path / "t10k-images.idx3-ubyte.gz").write_bytes(gzip.compress(_raw_idx(images, 8)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    X, y = load_mnist(tmp_path, "test")
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, [1, 2])


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_round_trip_every_type(tmp_path, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == "u1":
        a = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx", a)
    b = read_idx(tmp_path / "a.idx")
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_wrong_magic_number_is_a_clear_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(12))
    with pytest.raises(IDXError, match=r"not an IDX file: magic number 0x12340803"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x42\x01" + bytes(8))   # unknown type code
    with pytest.raises(IDXError, match="magic number 0x00004201"):
        read_idx(path)


def test_truncated_files_are_clear_errors(tmp_path):
    images = np.zeros((4, 3, 3), dtype=np.uint8)
    raw = _raw_idx(images, 8)
    path = tmp_path / "img.idx"
    path.write_bytes(raw[:-5])
    with pytest.raises(IDXError, match=r"truncated: shape \(4, 3, 3\) of uint8 needs 52 "
                                       r"bytes, the file has 47"):
        read_idx(path)
    path.write_bytes(raw[:9])  # inside the header
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(path)
    path.write_bytes(raw[:2])
    with pytest.raises(IDXError, match="too short"):
        read_idx(path)
    path.write_bytes(gzip.compress(raw)[:-6])  # a cut-off gzip stream
    with pytest.raises(IDXError, match="gzip"):
        read_idx(path)


def test_trailing_bytes_and_mismatched_counts(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(_raw_idx(np.zeros(3, dtype=np.uint8), 8) + b"xx")
    with pytest.raises(IDXError, match="2 bytes after the data"):
        read_idx(path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, dtype=np.uint8))
    with pytest.raises(IDXError, match="3 train images but 2 labels"):
        load_mnist(tmp_path)


def test_missing_directory_or_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte"):
        mnist_idx.find_idx(tmp_path, "train", "images")
