"""kernels.cpu.memory: reused blocks for large arrays, never handed out while an array uses them."""
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from kernels.cpu import memory


@pytest.fixture
def pool(monkeypatch):
    """An empty pool of its own, with a small threshold so the tests' arrays are pooled."""
    monkeypatch.setattr(memory, "_blocks", {})
    monkeypatch.setattr(memory, "MIN_BYTES", 1024)
    monkeypatch.setattr(memory, "MAX_BYTES", 1 << 20)
    return memory


def test_empty_keeps_np_empty_contract(pool):
    a = pool.empty((16, 32), np.float32)
    assert a.shape == (16, 32) and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % pool.ALIGN == 0
    assert pool.empty(300, np.float64).shape == (300,)
    assert pool.empty_like(a).shape == a.shape
    small = pool.empty((4,), np.float32)  # under MIN_BYTES: a plain NumPy array
    assert small.flags.owndata
    with pytest.raises(ValueError):
        pool.empty((-1, 4), np.float32)


def test_a_free_block_is_reused_for_any_shape_of_its_size(pool):
    a = pool.empty((16, 32), np.float32)
    address = a.ctypes.data
    del a
    b = pool.empty((32, 16), np.int32)  # 2 KiB again
    assert b.ctypes.data == address
    assert pool.kept_bytes() == (2048, 2048)


KEPT = {"array": lambda a: a, "view": lambda a: a[3:], "transpose": lambda a: a.T,
        "reshape": lambda a: a.reshape(4, 128), "element-view": lambda a: a[5, 5:6]}


@pytest.mark.parametrize("keep", sorted(KEPT))
def test_a_block_in_use_is_never_handed_out(pool, keep):
    a = pool.empty((16, 32), np.float32)
    a[...] = 7.0
    kept = KEPT[keep](a)  # only this (the array or a view of it) refers to the block now
    del a
    b = pool.empty((16, 32), np.float32)
    b[...] = -1.0
    assert not np.shares_memory(b, kept)
    assert np.all(kept == 7.0)


def test_release_hands_back_only_free_blocks(pool):
    used = pool.empty((16, 32), np.float32)
    used[...] = 3.0
    free = pool.empty((16, 32), np.float32)
    del free
    assert pool.kept_bytes() == (4096, 2048)
    assert pool.release() == 2048
    assert pool.kept_bytes() == (2048, 2048)
    assert np.all(used == 3.0)
    assert mc.empty_cache() == 0  # the public name; nothing else free


def test_past_max_bytes_arrays_are_plain(pool, monkeypatch):
    monkeypatch.setattr(memory, "MAX_BYTES", 4096)
    kept = [pool.empty((16, 32), np.float32) for _ in range(3)]
    assert [a.flags.owndata for a in kept] == [False, False, True]
    assert pool.kept_bytes() == (4096, 4096)


def test_free_blocks_of_other_sizes_make_room_at_max_bytes(pool, monkeypatch):
    monkeypatch.setattr(memory, "MAX_BYTES", 6144)
    used, free = pool.empty((16, 32), np.float32), pool.empty((16, 32), np.float32)  # 2 x 2 KiB
    used[...] = 5.0
    del free
    new = pool.empty((24, 32), np.float32)  # 3 KiB: 4 + 3 > 6 KiB until the free block goes
    new[...] = -1.0
    assert not new.flags.owndata  # made in a kept block
    assert pool.kept_bytes() == (2048 + 3072, 2048 + 3072)
    assert np.all(used == 5.0)


def test_threads_never_share_a_block(pool):
    failures = []

    def work(value):
        for _ in range(200):
            a = pool.empty((16, 32), np.float64)
            a[...] = value
            b = pool.empty((16, 32), np.float64)
            b[...] = -value
            if not (np.all(a == value) and np.all(b == -value)):
                failures.append(value)
            del a, b
    workers = [threading.Thread(target=work, args=(v,)) for v in range(1, 5)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures
    assert pool.kept_bytes()[0] <= 8 * 16 * 32 * 8  # at most two blocks per thread


def _train_losses(steps=3):
    mc.manual_seed(0)
    model = mc.nn.Sequential(mc.nn.Conv2d(3, 8, 3, padding=1), mc.nn.BatchNorm2d(8), mc.nn.ReLU(),
                             mc.nn.MaxPool2d(2), mc.nn.Conv2d(8, 8, 3, padding=1), mc.nn.ReLU(),
                             mc.nn.Flatten(), mc.nn.Linear(8 * 8 * 8, 10))
    opt = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = mc.randn(16, 3, 16, 16)
    y = mc.tensor(np.arange(16) % 10)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.data.copy() for p in model.parameters()]


def test_training_with_reused_memory_equals_training_without(pool, monkeypatch):
    monkeypatch.setattr(memory, "MIN_BYTES", 256)  # every activation and column array pooled
    with_pool = _train_losses()
    assert pool.kept_bytes()[0] > 0
    monkeypatch.setattr(memory, "MAX_BYTES", 0)
    monkeypatch.setattr(memory, "_blocks", {})
    without = _train_losses()
    assert with_pool[0] == without[0]
    for a, b in zip(with_pool[1], without[1]):
        np.testing.assert_array_equal(a, b)


def test_binary_equals_the_ufunc_and_reuses_memory_for_same_shapes(pool):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((16, 32)), rng.standard_normal((16, 32))
    for ufunc in (np.add, np.subtract, np.multiply):
        result = pool.binary(ufunc, a, b)
        np.testing.assert_array_equal(result, ufunc(a, b))
        assert not result.flags.owndata  # made in a block
    broadcast = pool.binary(np.add, a, b[:1])                  # shapes differ: NumPy's own
    np.testing.assert_array_equal(broadcast, a + b[:1])
    mixed = pool.binary(np.add, a.astype(np.float32), b)       # dtypes differ: NumPy's promotion
    assert mixed.dtype == np.float64 and mixed.flags.owndata


def test_the_limit_comes_from_minicnn_pool_mb(monkeypatch):
    monkeypatch.setenv("MINICNN_POOL_MB", "64")
    assert memory._default_max_bytes() == 64 << 20
    monkeypatch.setenv("MINICNN_POOL_MB", "0")
    assert memory._default_max_bytes() == 0
    monkeypatch.setenv("MINICNN_POOL_MB", "lots")
    with pytest.raises(ValueError, match="MINICNN_POOL_MB must be a number of MiB.*'lots'"):
        memory._default_max_bytes()
    monkeypatch.delenv("MINICNN_POOL_MB")
    assert 0 < memory._default_max_bytes() <= 1 << 30


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["new", "drop", "view"]), st.integers(0, 7),
                          st.sampled_from([256, 512, 768]), st.sampled_from(["f4", "f8", "i8"])),
                max_size=40))
def test_no_array_in_use_ever_loses_its_values(ops):
    """Random sequences of allocations, views and drops: every array still held keeps the
    value written into it, whatever was allocated since."""
    saved = (memory._blocks, memory.MIN_BYTES, memory.MAX_BYTES)
    memory._blocks, memory.MIN_BYTES, memory.MAX_BYTES = {}, 1024, 32 << 10
    try:
        held = []  # (array or view, the value its elements hold)
        for serial, (op, pick, count, dtype) in enumerate(ops):
            if op == "new" or not held:
                array = memory.empty((count // 8, 8), dtype)
                array[...] = serial
                held.append((array, serial))
            elif op == "drop":
                held.pop(pick % len(held))
            else:  # keep only a view of a held array
                array, value = held.pop(pick % len(held))
                held.append((array[1:].T, value))
            for array, value in held:
                assert np.all(array == value)
    finally:
        memory._blocks, memory.MIN_BYTES, memory.MAX_BYTES = saved
