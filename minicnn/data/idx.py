"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by raw data:

    bytes 0-1   zero
    byte  2     dtype code (0x08 = unsigned byte, the only one MNIST uses)
    byte  3     number of dimensions d (3 for images, 1 for labels)
    next 4*d    each dimension as a big-endian uint32
    then        product(dims) data bytes, row-major

so the magic number (the first 4 bytes as a big-endian int) is 0x00000803 for an image file
(N, 28, 28) and 0x00000801 for a label file (N,). Files may be gzip-compressed (``.gz``).
Every check below fails with a ValueError naming the file, what was expected and what was
found; nothing is ever unpickled.
"""

import gzip
import os

import numpy as np

UBYTE_CODE = 0x08
IMAGES_MAGIC = 0x00000803  # ubyte, 3 dimensions
LABELS_MAGIC = 0x00000801  # ubyte, 1 dimension


def _read_bytes(path):
    """Return the file's content, decompressed when the name ends in .gz."""
    path = os.fspath(path)
    if path.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read()
        except (OSError, EOFError) as error:  # bad gzip header or truncated stream
            raise ValueError(f"IDX file {path!r}: cannot decompress gzip data ({error})") from error
    with open(path, "rb") as handle:
        return handle.read()


def parse_idx(raw, name="<bytes>", expected_ndim=None):
    """Parse IDX bytes -> uint8 array of shape dims.

    raw: the file content; name: used in error messages; expected_ndim: if given, the
    number of dimensions the caller needs (3 for images, 1 for labels).
    """
    if len(raw) < 4:
        raise ValueError(f"IDX file {name!r}: expected at least a 4-byte header, got {len(raw)} bytes")
    magic = int.from_bytes(raw[0:4], "big")
    zero_bytes, dtype_code, ndim = raw[0:2], raw[2], raw[3]
    if zero_bytes != b"\x00\x00":
        raise ValueError(
            f"IDX file {name!r}: bad magic number 0x{magic:08x}: the first two bytes must be zero"
        )
    if dtype_code != UBYTE_CODE:
        raise ValueError(
            f"IDX file {name!r}: bad magic number 0x{magic:08x}: expected dtype code 0x08 "
            f"(unsigned byte), got 0x{dtype_code:02x}"
        )
    if expected_ndim is not None and ndim != expected_ndim:
        expected_magic = 0x00000800 + expected_ndim
        raise ValueError(
            f"IDX file {name!r}: bad magic number: expected 0x{expected_magic:08x} "
            f"({expected_ndim} dimensions), got 0x{magic:08x} ({ndim} dimensions)"
        )
    if ndim == 0:
        raise ValueError(f"IDX file {name!r}: expected at least 1 dimension, got 0")

    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(
            f"IDX file {name!r}: truncated header: expected {header_size} bytes for "
            f"{ndim} dimensions, got {len(raw)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_size = header_size + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected_size:
        problem = "truncated" if len(raw) < expected_size else "trailing bytes"
        raise ValueError(
            f"IDX file {name!r}: {problem}: dims {dims} need {expected_size} bytes "
            f"(header {header_size} + data), got {len(raw)}"
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
    return data.reshape(dims).copy()  # copy: a writable array that owns its memory


def read_idx(path, expected_ndim=None):
    """Read an IDX file (optionally .gz) -> uint8 array of its dims."""
    return parse_idx(_read_bytes(path), name=os.fspath(path), expected_ndim=expected_ndim)


def read_idx_images(path, image_shape=None):
    """Read an image file -> uint8 (N, H, W); image_shape=(H, W) if the caller needs one."""
    images = read_idx(path, expected_ndim=3)
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        raise ValueError(
            f"IDX file {os.fspath(path)!r}: expected images of shape {tuple(image_shape)}, "
            f"got {images.shape[1:]} (dims {images.shape})"
        )
    return images


def read_idx_labels(path, num_classes=None):
    """Read a label file -> uint8 (N,); with num_classes, check every label is < num_classes."""
    labels = read_idx(path, expected_ndim=1)
    if num_classes is not None and labels.size > 0 and labels.max() >= num_classes:
        raise ValueError(
            f"IDX file {os.fspath(path)!r}: expected labels in 0..{num_classes - 1}, "
            f"got a label {int(labels.max())}"
        )
    return labels


def write_idx(path, array):
    """Write a uint8 array (any number of dims >= 1) as an IDX file; gzip if path ends in .gz."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx: expected a uint8 array, got dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx: expected 1..255 dimensions, got shape {array.shape}")
    header = bytes([0, 0, UBYTE_CODE, array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    content = header + np.ascontiguousarray(array).tobytes()
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(content)
