"""Reused memory for large arrays: activations, their gradients, convolution columns.

Why: a training step allocates the same large arrays at every step. The C allocator hands
much of that memory back to the operating system at the end of a step and takes it again at
the next, and the first touch of every page taken again is a page fault that the operating
system pays by zeroing the page: ~38,000 faults and ~50 ms of a 430 ms ResNet-20 step
(batch 128) on the machine this was written on, and ~4x the cost of the copy in LeNet-5's
im2col.

``empty(shape, dtype)`` keeps ``np.empty``'s contract (an uninitialised C-contiguous array).
Arrays of ``MIN_BYTES`` or more are made in *blocks* (``bytearray`` objects) that this module
keeps. A block is free again exactly when nothing outside this module refers to it: an array
made in it has the block as its ``.base``, and every view of that array refers to the array,
so the block's reference count says whether any array still uses it. Nothing is handed out
twice while in use, whatever the caller does with the arrays (keeps them, views them, saves
them for backward), and no caller has to give memory back.

At most ``MAX_BYTES`` are kept in blocks, in use or free (``MINICNN_POOL_MB`` sets it; ``0``
turns reuse off). A new block that would pass it first makes room by handing back the free
blocks of other sizes (the shapes in use have changed); if that is not enough, ``empty``
falls back to ``np.empty``. ``release()`` (``minicnn.empty_cache()``) hands every free block
back to the allocator. Thread-safe.
"""
import math
import os
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 17  # 128 KiB: smaller arrays come from the C allocator's heap, never unmapped
ALIGN = 64  # arrays start on a cache line (the C allocator gives 16 bytes)


def _default_max_bytes():
    """``MINICNN_POOL_MB`` MiB, else 1 GiB or a quarter of the memory, whichever is less."""
    setting = os.environ.get("MINICNN_POOL_MB", "").strip()
    if setting:
        try:
            return max(0, int(float(setting) * 2**20))
        except ValueError:
            raise ValueError(f"MINICNN_POOL_MB must be a number of MiB (0 turns memory reuse "
                             f"off), got {setting!r}") from None
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        memory = 4 << 30
    return min(1 << 30, memory // 4)


MAX_BYTES = _default_max_bytes()

_blocks = {}  # block size in bytes -> [(bytearray, offset of its first aligned byte), ...]
_lock = threading.Lock()


def _refcount(pairs, index):
    """The reference count of the block ``pairs[index][0]``, seen from this function."""
    return sys.getrefcount(pairs[index][0])


# What _refcount sees for a block that only its (block, offset) pair refers to: measured,
# not assumed, because how many references the interpreter itself holds varies by version.
_FREE = _refcount([(bytearray(1), 0)], 0)


def empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, like ``np.empty``; from
    a free block of the same size when it is large."""
    dtype = np.dtype(dtype)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    nbytes = dtype.itemsize * math.prod(shape)
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    found = _free_block(nbytes)
    if found is None:
        return np.empty(shape, dtype=dtype)
    block, offset = found
    return np.ndarray(shape, dtype=dtype, buffer=block, offset=offset)


def empty_like(array):
    """``empty(array.shape, array.dtype)``."""
    return empty(array.shape, array.dtype)


def binary(ufunc, a, b):
    """``ufunc(a, b)`` (e.g. ``np.add``); for two NumPy arrays of one shape and dtype the
    result is written into ``empty`` memory, otherwise NumPy (or CuPy) allocates it."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape and a.dtype == b.dtype:
        return ufunc(a, b, out=empty(a.shape, a.dtype))
    return ufunc(a, b)


def _free_block(nbytes):
    """(block, offset): ``nbytes`` from ``offset`` that no array uses -- a kept block, or a new
    one when none is free and MAX_BYTES allows; None otherwise."""
    with _lock:
        pairs = _blocks.setdefault(nbytes, [])
        for index in range(len(pairs)):
            if _refcount(pairs, index) == _FREE:
                return pairs[index]
        if _kept_bytes() + nbytes > MAX_BYTES:
            _release_free()
            if _kept_bytes() + nbytes > MAX_BYTES:
                return None
        block = bytearray(nbytes + ALIGN)
        offset = -np.frombuffer(block, np.uint8).ctypes.data % ALIGN
        pairs.append((block, offset))
        return pairs[-1]


def _kept_bytes():
    return sum(nbytes * len(pairs) for nbytes, pairs in _blocks.items())


def release():
    """Hand every free block back to the allocator; returns the number of bytes handed back."""
    with _lock:
        return _release_free()


def _release_free():
    released = 0
    for nbytes, pairs in _blocks.items():
        in_use = [pair for index, pair in enumerate(pairs) if _refcount(pairs, index) > _FREE]
        released += nbytes * (len(pairs) - len(in_use))
        pairs[:] = in_use
    return released


def kept_bytes():
    """(bytes kept in blocks, bytes of those that arrays use now)."""
    with _lock:
        used = sum(nbytes for nbytes, pairs in _blocks.items()
                   for index in range(len(pairs)) if _refcount(pairs, index) > _FREE)
        return _kept_bytes(), used
