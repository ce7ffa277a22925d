"""``DataLoader``: batches from a dataset, shuffled per epoch, collated into Tensors.

    loader = DataLoader(train_set, batch_size=64, shuffle=True, seed=0)
    for images, labels in loader:        # images (64, C, H, W) float32, labels (64,) int64
        ...

Loading happens in this process (no worker processes). For a ``TensorDataset`` (or a
``Subset`` of one) with the default collate, each batch is sliced out of the stored arrays
with one fancy-indexing call -- no Python loop over samples.
"""
import math

import numpy as np

from kernels.backend import get_array_module, is_cupy_array
from minicnn.autograd.random import default_generator
from minicnn.autograd.tensor import Tensor

from .dataset import Subset, TensorDataset


def default_collate(batch):
    """Merge a list of samples into one batch, field by field.

    - arrays / Tensors of shape S -> one Tensor (B, *S), dtype kept (float32 images stay float32)
    - Python ints and NumPy integers -> int64 Tensor (B,)  (class labels)
    - Python floats -> float32 Tensor (B,), NumPy floats keep their dtype; bools -> bool (B,)
    - tuples / lists of fields -> a tuple / list of collated fields; dicts -> dict per key
    - strings -> the list of strings
    """
    first = batch[0]
    if isinstance(first, Tensor) or isinstance(first, np.ndarray) or is_cupy_array(first):
        arrays = [s.data if isinstance(s, Tensor) else s for s in batch]
        shapes = {tuple(a.shape) for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: cannot stack samples of different shapes {sorted(shapes)} "
                             "into one batch; resize them (e.g. a transform) or pass a collate_fn")
        return Tensor(get_array_module(arrays[0]).stack(arrays))
    if isinstance(first, (bool, np.bool_)):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(first, (int, np.integer)):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(first, np.floating):
        return Tensor(np.array(batch, dtype=first.dtype))
    if isinstance(first, float):
        return Tensor(np.array(batch, dtype=np.float32))
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, dict):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise ValueError("default_collate: samples in a batch have different numbers of fields")
        fields = [default_collate(list(column)) for column in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: don't know how to batch samples of type {type(first).__name__}; "
                    "expected arrays, Tensors, numbers, strings, or tuples/lists/dicts of those")


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a ``Dataset`` (``len(ds)`` and ``ds[i]``).
        batch_size (int): samples per batch.
        shuffle (bool): a new random order every epoch (every ``iter(loader)``).
        drop_last (bool): skip the last batch when it is smaller than ``batch_size``.
        seed (int, optional): shuffle with ``np.random.default_rng(seed)`` created once here, so
            the sequence of epoch orders is reproducible; without it the order comes from
            minicnn's generator (``mc.manual_seed`` makes it reproducible).
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        device: move every Tensor of a batch there (``"cuda"``) with ``Tensor.to``.
        generator: a ``numpy.random.Generator`` to shuffle with (instead of ``seed``).
        num_workers, pin_memory: accepted for PyTorch compatibility; loading is always in
            this process.

    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 collate_fn=None, device=None, generator=None, num_workers=0, pin_memory=False):
        if int(batch_size) != batch_size or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give either seed= or generator=, not both")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: the dataset must define __len__ and __getitem__, "
                            f"got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.device = device
        self.num_workers = num_workers
        self.generator = generator if generator is not None else (
            np.random.default_rng(seed) if seed is not None else None)

    def __len__(self):
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _epoch_order(self):
        """The sample indices of one epoch: 0..n-1, or a fresh permutation when shuffling."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self.generator if self.generator is not None else default_generator()
        return rng.permutation(n)

    def __iter__(self):
        order = self._epoch_order()
        sliced = self._sliceable_arrays()
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            if sliced is not None:
                arrays, index_map = sliced
                rows = indices if index_map is None else index_map[indices]
                batch = tuple(Tensor(array[_on_device_of(array, rows)]) for array in arrays)
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in indices])
            yield self._to_device(batch)

    def _sliceable_arrays(self):
        """(arrays, index_map) when batches can be sliced straight from a TensorDataset, else None.

        ``index_map`` translates loader indices to rows of the arrays (for a Subset), or is None.
        """
        if self.collate_fn is not default_collate:
            return None
        dataset, index_map = self.dataset, None
        if isinstance(dataset, Subset) and isinstance(dataset.dataset, TensorDataset):
            dataset, index_map = dataset.dataset, np.asarray(dataset.indices, dtype=np.int64)
        if not isinstance(dataset, TensorDataset):
            return None
        return [t.data for t in dataset.tensors], index_map

    def _to_device(self, batch):
        if self.device is None:
            return batch
        return _move(batch, self.device)

    def __repr__(self):
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, {len(self)} batches)")


def _on_device_of(array, rows):
    """Row indices usable on ``array``'s device (CuPy arrays want CuPy indices)."""
    return get_array_module(array).asarray(rows)


def _move(batch, device):
    """Every Tensor inside ``batch`` (nested tuples/lists/dicts) moved to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, tuple):
        return tuple(_move(b, device) for b in batch)
    if isinstance(batch, list):
        return [_move(b, device) for b in batch]
    if isinstance(batch, dict):
        return {key: _move(value, device) for key, value in batch.items()}
    return batch
