"""``minicnn.data``: datasets, the DataLoader, transforms, the real and offline loaders, and
procedural shapes for segmentation/detection (``ShapesSegmentation``, ``ShapesDetection``).

    from minicnn.data import DataLoader, TensorDataset, OfflineMNIST, transforms
    loader = DataLoader(OfflineMNIST(train=True), batch_size=64, shuffle=True)
"""
from .dataset import Dataset, TensorDataset, Subset, ConcatDataset, random_split  # noqa: F401
from .loader import DataLoader, default_collate  # noqa: F401
from . import transforms  # noqa: F401

# the dataset files (parsed, never unpickled) and the offline MNIST subset
from .datasets import MNIST, FashionMNIST, CIFAR10, ImageArrayDataset  # noqa: F401
from .offline_mnist import OfflineMNIST, load_offline_mnist  # noqa: F401
from .idx import read_idx, write_idx  # noqa: F401

# procedurally generated shapes for segmentation and detection (offline, seeded)
from .synthetic import ShapesSegmentation, ShapesDetection, SHAPE_CLASSES, detection_collate  # noqa: F401

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "transforms",
    "MNIST", "FashionMNIST", "CIFAR10", "ImageArrayDataset",
    "OfflineMNIST", "load_offline_mnist", "read_idx", "write_idx",
    "ShapesSegmentation", "ShapesDetection", "SHAPE_CLASSES", "detection_collate",
]
