"""minicnn.data: Dataset, TensorDataset, Subset, ConcatDataset, random_split, DataLoader,
default_collate."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset,
                          default_collate, random_split)


class ListDataset(Dataset):
    """A plain per-sample dataset (no fast path): sample i = (image_i float32 (1, 2, 2), label i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full((1, 2, 2), i, dtype=np.float32), i


def labels_of(loader):
    """The labels of one epoch, batch by batch."""
    return [batch[1].numpy().tolist() for batch in loader]


# ----- batch counts and coverage --------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 17), drop_last=st.booleans(),
       shuffle=st.booleans(), fast=st.booleans())
def test_batch_counts_and_every_sample_once(n, batch_size, drop_last, shuffle, fast):
    dataset = TensorDataset(np.arange(n), np.arange(n)) if fast else ListDataset(n)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=0)
    expected_batches = n // batch_size if drop_last else math.ceil(n / batch_size)
    assert len(loader) == expected_batches
    batches = labels_of(loader)
    assert len(batches) == expected_batches
    sizes = [len(b) for b in batches]
    assert all(s == batch_size for s in sizes[:-1])
    seen = [label for b in batches for label in b]
    if drop_last:
        assert sizes == [batch_size] * (n // batch_size)
        assert len(set(seen)) == len(seen) == (n // batch_size) * batch_size
    else:
        assert sorted(seen) == list(range(n))
    if not shuffle:
        assert seen == list(range(len(seen)))


def test_shuffle_reproducible_with_seed_and_new_order_each_epoch():
    dataset = TensorDataset(np.arange(50))
    first = DataLoader(dataset, batch_size=10, shuffle=True, seed=3)
    second = DataLoader(dataset, batch_size=10, shuffle=True, seed=3)
    epochs_a = [[b[0].numpy().tolist() for b in first] for _ in range(3)]
    epochs_b = [[b[0].numpy().tolist() for b in second] for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1]  # reshuffled every epoch
    # the order is numpy's permutation from default_rng(seed), drawn once per epoch
    rng = np.random.default_rng(3)
    assert np.concatenate(epochs_a[0]).tolist() == rng.permutation(50).tolist()
    assert np.concatenate(epochs_a[1]).tolist() == rng.permutation(50).tolist()


def test_shuffle_reproducible_with_manual_seed():
    loader = DataLoader(ListDataset(30), batch_size=7, shuffle=True)
    mc.manual_seed(123)
    a = labels_of(loader)
    mc.manual_seed(123)
    b = labels_of(loader)
    mc.manual_seed(124)
    c = labels_of(loader)
    assert a == b and a != c


def test_fast_path_equals_per_sample_path():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((23, 3, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 10, 23)

    class Forwarding(Dataset):  # same samples, but hides the TensorDataset from the loader
        def __init__(self, inner):
            self.inner = inner

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            return self.inner[i]

    dataset = TensorDataset(images, labels)
    fast = DataLoader(dataset, batch_size=5, shuffle=True, seed=1)
    slow = DataLoader(Forwarding(dataset), batch_size=5, shuffle=True, seed=1)
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.dtype == sx.dtype == np.float32 and fy.dtype == sy.dtype == np.int64
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())


def test_subset_of_tensor_dataset_batches():
    data = np.arange(20) * 10
    subset = Subset(TensorDataset(data), [5, 2, 19, 0])
    batches = [b[0].numpy().tolist() for b in DataLoader(subset, batch_size=3)]
    assert batches == [[50, 20, 190], [0]]


# ----- collate ------------------------------------------------------------------------------------
def test_default_collate_dtypes_and_structures():
    images = [np.ones((3, 2, 2), dtype=np.float32) * i for i in range(4)]
    batch = default_collate([(img, i) for i, img in enumerate(images)])
    assert isinstance(batch, tuple) and len(batch) == 2
    assert batch[0].shape == (4, 3, 2, 2) and batch[0].dtype == np.float32
    assert batch[1].dtype == np.int64 and batch[1].numpy().tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(batch[0].numpy()[2], images[2])

    assert default_collate([0.5, 1.5]).dtype == np.float32
    assert default_collate([np.float64(0.5), np.float64(1.0)]).dtype == np.float64
    assert default_collate([np.int32(1), np.int32(2)]).dtype == np.int64
    assert default_collate([True, False]).dtype == np.bool_
    assert default_collate([mc.tensor([1.0, 2.0]), mc.tensor([3.0, 4.0])]).shape == (2, 2)
    assert default_collate(["a", "b"]) == ["a", "b"]

    dicts = default_collate([{"x": np.zeros(2, np.float32), "y": 1}, {"x": np.ones(2, np.float32), "y": 2}])
    assert dicts["x"].shape == (2, 2) and dicts["y"].numpy().tolist() == [1, 2]
    nested = default_collate([(np.zeros(1), (1, 2.0)), (np.ones(1), (3, 4.0))])
    assert nested[1][0].numpy().tolist() == [1, 3] and nested[1][1].dtype == np.float32


def test_default_collate_errors():
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros((3, 4)), np.zeros((3, 5))])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])


def test_custom_collate_and_device():
    loader = DataLoader(ListDataset(5), batch_size=2, collate_fn=lambda samples: [s[1] for s in samples])
    assert list(loader) == [[0, 1], [2, 3], [4]]
    on_cpu = DataLoader(TensorDataset(np.zeros((4, 2), np.float32)), batch_size=4, device="cpu")
    (batch,) = next(iter(on_cpu))
    assert batch.device == "cpu" and batch.shape == (4, 2)


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ListDataset(3), batch_size=0)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(ListDataset(3), shuffle=True, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(object())


# ----- TensorDataset, Subset, ConcatDataset, random_split ---------------------------------------
def test_tensor_dataset_items_and_length_check():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    dataset = TensorDataset(x, mc.tensor([0, 1, 2, 3]))
    assert len(dataset) == 4
    item_x, item_y = dataset[2]
    np.testing.assert_array_equal(item_x.numpy(), x[2])
    assert item_y.item() == 2
    with pytest.raises(ValueError, match=r"dimension 0.*\(4, 3\).*\(5,\)"):
        TensorDataset(x, np.zeros(5))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_concat_dataset():
    both = ConcatDataset([ListDataset(3), ListDataset(2)])
    assert len(both) == 5
    assert [both[i][1] for i in range(5)] == [0, 1, 2, 0, 1]
    assert both[-1][1] == 1
    with pytest.raises(IndexError):
        both[5]


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(0, 12), min_size=1, max_size=4), seed=st.integers(0, 99))
def test_random_split_partitions(lengths, seed):
    total = sum(lengths)
    parts = random_split(ListDataset(total), lengths, seed=seed)
    assert [len(p) for p in parts] == lengths
    seen = sorted(p[i][1] for p in parts for i in range(len(p)))
    assert seen == list(range(total))
    again = random_split(ListDataset(total), lengths, seed=seed)
    assert [p.indices for p in parts] == [p.indices for p in again]


def test_random_split_fractions_and_errors():
    parts = random_split(ListDataset(10), [0.7, 0.3], seed=0)
    assert [len(p) for p in parts] == [7, 3]
    parts = random_split(ListDataset(11), [0.5, 0.5], seed=0)  # remainder to the first subset
    assert [len(p) for p in parts] == [6, 5]
    mc.manual_seed(5)
    a = random_split(ListDataset(10), [5, 5])
    mc.manual_seed(5)
    b = random_split(ListDataset(10), [5, 5])
    assert a[0].indices == b[0].indices
    with pytest.raises(ValueError, match="sum to"):
        random_split(ListDataset(10), [3, 4])


# ----- with the real offline data -------------------------------------------------------------
def test_loader_over_offline_mnist():
    from minicnn.data import OfflineMNIST

    loader = DataLoader(OfflineMNIST(train=False), batch_size=100, shuffle=True, seed=0)
    images, labels = next(iter(loader))
    assert images.shape == (100, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (100,) and labels.dtype == np.int64
    assert 0.0 <= images.numpy().min() and images.numpy().max() <= 1.0
