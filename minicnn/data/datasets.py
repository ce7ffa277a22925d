"""MNIST, Fashion-MNIST and CIFAR-10, loaded from the official files (like torchvision).

Every dataset follows the same protocol: ``len(ds)`` and ``ds[i] -> (image, label)``, where
``image`` is a float32 NumPy array (C, H, W) with values in [0, 1] (then passed through
``transform`` if one is given) and ``label`` is a Python int. As in torchvision, ``.data``
holds the raw uint8 images ((N, 28, 28) for MNIST, (N, 32, 32, 3) for CIFAR-10) and
``.targets`` the int64 labels (N,).

Files live under ``root`` (default: ``minicnn.data.download.data_root()``, i.e.
$MINICNN_DATA or ~/.cache/minicnn):

    <root>/MNIST/train-images-idx3-ubyte.gz ...       (the four official .gz files)
    <root>/FashionMNIST/train-images-idx3-ubyte.gz ...
    <root>/cifar-10-batches-bin/data_batch_1.bin ...  (extracted from cifar-10-binary.tar.gz)

With ``download=True`` missing files are fetched and checked against the checksums below.
Nothing is ever unpickled: IDX and CIFAR binary files are parsed by ``idx.py``/``cifar.py``.
"""

import os
import tarfile

import numpy as np

from ..atomic import atomic_write
from . import cifar, idx
from .download import data_root, download_from_mirrors


class ImageArrayDataset:
    """Images held in memory as uint8, served as float32 (C, H, W) in [0, 1].

    Subclasses set ``self.data`` (uint8) and ``self.targets`` (int64 (N,)) and may override
    ``_image_chw(i)`` when their ``.data`` layout is not (N, H, W).
    """

    def __init__(self, data, targets, transform=None, target_transform=None):
        self.data = data
        self.targets = np.asarray(targets, dtype=np.int64)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.targets)

    def _image_chw(self, index):
        """Grayscale (N, H, W) storage -> one (1, H, W) uint8 image."""
        return self.data[index][np.newaxis, :, :]

    def __getitem__(self, index):
        # image = pixel / 255, float32 in [0, 1], layout (C, H, W)
        image = self._image_chw(index).astype(np.float32) / np.float32(255.0)
        label = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __repr__(self):
        return f"{type(self).__name__}(size={len(self)})"


def _missing_files_error(dataset_name, folder, missing):
    names = ", ".join(missing)
    return FileNotFoundError(
        f"{dataset_name}: files not found in {folder}: {names}. "
        f"Pass download=True to fetch them, or copy the official files there."
    )


class MNIST(ImageArrayDataset):
    """The MNIST handwritten digits: 60,000 train / 10,000 test images (1, 28, 28), 10 classes."""

    folder_name = "MNIST"
    mirrors = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
    )
    # name -> (sha256, md5). MD5s as in torchvision; SHA-256s as used by several independent
    # projects that fetch these files (both cross-checked, not computed here).
    resources = {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    }
    classes = tuple(str(digit) for digit in range(10))

    def __init__(self, root=None, train=True, download=False, transform=None,
                 target_transform=None):
        root = data_root() if root is None else os.fspath(root)
        self.root = root
        self.train = train
        folder = os.path.join(root, self.folder_name)
        prefix = "train" if train else "t10k"
        image_file = f"{prefix}-images-idx3-ubyte.gz"
        label_file = f"{prefix}-labels-idx1-ubyte.gz"
        if download:
            for name in (image_file, label_file):
                sha256, md5 = self.resources[name]
                download_from_mirrors(self.mirrors, name, sha256=sha256, md5=md5, root=folder)
        missing = [n for n in (image_file, label_file) if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise _missing_files_error(type(self).__name__, folder, missing)

        images = idx.read_idx_images(os.path.join(folder, image_file), image_shape=(28, 28))
        labels = idx.read_idx_labels(os.path.join(folder, label_file), num_classes=10)
        if len(images) != len(labels):
            raise ValueError(
                f"{type(self).__name__}: {image_file} has {len(images)} images but "
                f"{label_file} has {len(labels)} labels"
            )
        super().__init__(images, labels, transform, target_transform)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same IDX files and sizes as MNIST, 10 clothing classes."""

    folder_name = "FashionMNIST"
    mirrors = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # torchvision's mirror
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    )
    # name -> (sha256, md5). Only the official MD5s (torchvision, the Fashion-MNIST README)
    # could be verified; SHA-256 is left None rather than guessed.
    resources = {
        "train-images-idx3-ubyte.gz": (None, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte.gz": (None, "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte.gz": (None, "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte.gz": (None, "bb300cfdad3c16e7a12a480ee83cd310"),
    }
    classes = (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )


class CIFAR10(ImageArrayDataset):
    """CIFAR-10: 50,000 train / 10,000 test colour images (3, 32, 32), 10 classes.

    ``.data`` is (N, 32, 32, 3) uint8 as in torchvision; items come out as (3, 32, 32).
    """

    archive_name = "cifar-10-binary.tar.gz"
    mirrors = ("https://www.cs.toronto.edu/~kriz/",)
    # The MD5 published on https://www.cs.toronto.edu/~kriz/cifar.html; no official SHA-256.
    archive_md5 = "c32a1d4ab5d03f1284b67883e8d87530"
    folder_name = "cifar-10-batches-bin"
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)
    classes = cifar.CLASSES

    def __init__(self, root=None, train=True, download=False, transform=None,
                 target_transform=None):
        root = data_root() if root is None else os.fspath(root)
        self.root = root
        self.train = train
        folder = os.path.join(root, self.folder_name)
        names = self.train_files if train else self.test_files
        if download and not all(os.path.isfile(os.path.join(folder, n)) for n in names):
            archive = download_from_mirrors(self.mirrors, self.archive_name, md5=self.archive_md5,
                                            root=root)
            extract_cifar10_binaries(archive, root)
        missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise _missing_files_error(type(self).__name__, folder, missing)

        images_chw, labels = cifar.read_cifar10_batches([os.path.join(folder, n) for n in names])
        # (N, 3, 32, 32) -> (N, 32, 32, 3): torchvision's layout for .data
        images_hwc = np.ascontiguousarray(images_chw.transpose(0, 2, 3, 1))
        super().__init__(images_hwc, labels, transform, target_transform)

    def _image_chw(self, index):
        """(H, W, C) storage -> one (3, H, W) uint8 image."""
        return self.data[index].transpose(2, 0, 1)


def extract_cifar10_binaries(archive_path, root):
    """Extract only the six expected .bin members of cifar-10-binary.tar.gz into root.

    Members are looked up by their exact names and copied as plain bytes, so a crafted
    archive cannot write outside ``root`` (no path traversal, no links).
    """
    folder = os.path.join(root, CIFAR10.folder_name)
    os.makedirs(folder, exist_ok=True)
    wanted = CIFAR10.train_files + CIFAR10.test_files
    with tarfile.open(archive_path, "r:gz") as archive:
        for name in wanted:
            try:
                member = archive.getmember(f"{CIFAR10.folder_name}/{name}")
            except KeyError:
                raise ValueError(f"CIFAR10: {archive_path} has no member {CIFAR10.folder_name}/{name}") from None
            if not member.isfile():
                raise ValueError(f"CIFAR10: {archive_path}: {member.name} is not a regular file")
            source = archive.extractfile(member)
            with atomic_write(os.path.join(folder, name), suffix=".part") as target:
                target.write(source.read())
