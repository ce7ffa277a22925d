"""Datasets: ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``, ``random_split``.

A dataset is anything with ``len(ds)`` and ``ds[i] -> sample`` (a sample is usually
``(image, label)``), as in ``torch.utils.data``. The ``DataLoader`` turns samples into batches.
"""
import math

import numpy as np

from minicnn.autograd.random import default_generator
from minicnn.autograd.tensor import Tensor


class Dataset:
    """Base class: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are slices along the first dimension of equally long arrays or Tensors.

    ``TensorDataset(images, labels)`` with images (N, C, H, W) and labels (N,) gives
    ``ds[i] == (images[i], labels[i])`` as Tensors. NumPy arrays are wrapped without copying;
    Python lists become Tensors (ints -> int64, floats -> float32).

    The ``DataLoader`` slices whole batches out of ``self.tensors`` at once (no per-sample loop).
    """

    def __init__(self, *tensors):
        if len(tensors) == 0:
            raise ValueError("TensorDataset: needs at least one array or Tensor")
        wrapped = []
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                array = t if hasattr(t, "shape") else _list_to_array(t, i)
                t = Tensor(array)
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a 0-d value; every argument needs a "
                                 "first (sample) dimension")
            wrapped.append(t)
        lengths = [t.shape[0] for t in wrapped]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(t.shape) for t in wrapped)
            raise ValueError(f"TensorDataset: all arguments must have the same size in dimension 0 "
                             f"(the number of samples), got shapes {shapes}")
        self.tensors = tuple(wrapped)

    def __getitem__(self, index):
        return tuple(Tensor(t.data[index]) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def __repr__(self):
        shapes = ", ".join(str(t.shape) for t in self.tensors)
        return f"TensorDataset({shapes})"


def _list_to_array(values, position):
    array = np.asarray(values)
    if array.dtype == np.float64:
        array = array.astype(np.float32)  # Python floats -> float32, as mc.tensor
    if array.dtype == object:
        raise TypeError(f"TensorDataset: argument {position} could not be turned into an array")
    return array


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(ds, [3, 1])[0] == ds[3]``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)

    def __repr__(self):
        return f"Subset({self.dataset!r}, {len(self)} samples)"


class ConcatDataset(Dataset):
    """Several datasets one after another: indices ``0..len(a)-1`` are ``a``, then ``b``..."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset: index out of range for {len(self)} samples")
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = 0 if which == 0 else self.cumulative_sizes[which - 1]
        return self.datasets[which][index - start]


def random_split(dataset, lengths, seed=None, generator=None):
    """Split ``dataset`` at random into non-overlapping ``Subset``s of the given lengths.

    ``lengths`` are counts that sum to ``len(dataset)``, or fractions that sum to 1 (the
    remainder of the rounding goes to the first subsets one by one, as in PyTorch).
    ``seed`` (an int) or ``generator`` (a ``numpy.random.Generator``) fix the split; by
    default minicnn's generator is used, so ``mc.manual_seed`` makes it reproducible.
    """
    total = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= total:  # fractions, as in PyTorch
        if any(not 0 <= f <= 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [int(np.floor(total * f)) for f in lengths]
        for i in range(total - sum(counts)):  # hand out the remainder round-robin
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(n) != n or n < 0 for n in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions, got {lengths}")
    if sum(lengths) != total:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, "
                         f"but the dataset has {total} samples")
    if generator is None:
        generator = np.random.default_rng(seed) if seed is not None else default_generator()
    order = generator.permutation(total)
    subsets = []
    start = 0
    for n in lengths:
        subsets.append(Subset(dataset, order[start:start + int(n)]))
        start += int(n)
    return subsets
