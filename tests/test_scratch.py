"""The convolutions' scratch arrays: reuse by shape, views never taken, caps kept."""
import numpy as np

from minicnn.functional import scratch


def test_take_reuses_what_was_given_by_shape_and_dtype():
    pool = scratch.ScratchArrays()
    first = pool.take((2, 3), np.float32)
    pool.give(first)
    assert pool.take((2, 3), np.float32) is first          # reused
    assert pool.take((2, 3), np.float32) is not first      # the spare was handed out once
    pool.give(first)
    assert pool.take((2, 3), np.float64) is not first      # another dtype: a new array
    assert pool.take((3, 2), np.float32) is not first      # another shape: a new array


def test_views_and_foreign_arrays_are_not_kept():
    pool = scratch.ScratchArrays()
    base = np.zeros((4, 4))
    pool.give(base[:2])              # a view of someone's array: never reused
    pool.give(base.T)                # not C-contiguous
    assert pool.take((2, 4), base.dtype) is not base[:2].base
    assert pool._bytes == 0


def test_caps_per_shape_and_in_bytes(monkeypatch):
    monkeypatch.setattr(scratch, "PER_SHAPE", 2)
    monkeypatch.setattr(scratch, "MAX_BYTES", 3 * 8 * 10)
    pool = scratch.ScratchArrays()
    arrays = [np.empty(10) for _ in range(3)]
    for array in arrays:
        pool.give(array)
    assert pool._bytes == 2 * 80                          # the third exceeded PER_SHAPE
    pool.give(np.empty(20))                               # 160 bytes more: over MAX_BYTES
    assert pool._bytes == 2 * 80
    pool.clear()
    assert pool._bytes == 0 and pool.take((10,), np.float64) is not arrays[0]
