"""Read the CIFAR-10 *binary* version (cifar-10-binary.tar.gz), never the pickled one.

Each file (data_batch_1.bin .. data_batch_5.bin, test_batch.bin) is a sequence of
3073-byte records:

    byte 0        the label 0..9
    bytes 1-3072  the 32x32 image, channel-major: 1024 red, 1024 green, 1024 blue bytes,
                  each plane row-major

so a record reshapes directly to (3, 32, 32) -- already the (C, H, W) layout minicnn uses.
A file whose length is not a multiple of 3073, or with a label >= 10, is refused with a
ValueError naming the file.
"""

import os

import numpy as np

IMAGE_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32  # 3072
RECORD_BYTES = 1 + IMAGE_BYTES  # 3073
NUM_CLASSES = 10

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


def parse_cifar10_batch(raw, name="<bytes>"):
    """Parse one binary batch -> (images uint8 (N, 3, 32, 32), labels uint8 (N,))."""
    if len(raw) == 0 or len(raw) % RECORD_BYTES != 0:
        raise ValueError(
            f"CIFAR-10 file {name!r}: expected a positive multiple of {RECORD_BYTES} bytes "
            f"(1 label + {IMAGE_BYTES} pixels per record), got {len(raw)} bytes"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    if labels.max() >= NUM_CLASSES:
        bad_record = int(np.argmax(labels >= NUM_CLASSES))
        raise ValueError(
            f"CIFAR-10 file {name!r}: expected labels in 0..{NUM_CLASSES - 1}, got "
            f"{int(labels[bad_record])} in record {bad_record}"
        )
    images = records[:, 1:].reshape(-1, *IMAGE_SHAPE).copy()
    return images, labels


def read_cifar10_batch(path):
    """Read one .bin file -> (images uint8 (N, 3, 32, 32), labels uint8 (N,))."""
    with open(path, "rb") as handle:
        raw = handle.read()
    return parse_cifar10_batch(raw, name=os.fspath(path))


def read_cifar10_batches(paths):
    """Read and concatenate several .bin files in the given order."""
    images_list, labels_list = [], []
    for path in paths:
        images, labels = read_cifar10_batch(path)
        images_list.append(images)
        labels_list.append(labels)
    return np.concatenate(images_list), np.concatenate(labels_list)


def write_cifar10_batch(path, images, labels):
    """Write (N, 3, 32, 32) uint8 images and (N,) labels as a binary batch (for tests)."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"write_cifar10_batch: expected uint8 images (N, 3, 32, 32), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"write_cifar10_batch: expected labels of shape ({images.shape[0]},), got {labels.shape}"
        )
    records = np.empty((images.shape[0], RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = labels.astype(np.uint8)
    records[:, 1:] = images.reshape(images.shape[0], IMAGE_BYTES)
    with open(path, "wb") as handle:
        handle.write(records.tobytes())
