"""Scratch arrays for the convolutions' column matrices, reused from call to call.

A convolution's chunks need a fresh (n, C*kh*kw, OH*OW) array for their columns, the same
shapes at every training step. Allocating them anew hands memory back to the operating
system and takes it again, and every first touch of a page is a page fault: in a LeNet-5
training step that made the im2col calls ~4x slower than the copy itself (a step took
9.4-12 ms with fresh arrays, 7.1 ms with reused ones). ``take`` hands out a spare array of
the shape asked for (or a new one), ``give`` returns it once its values are no longer
needed. Thread-safe (the convolution chunks may run on a thread pool); CPU arrays only
(CuPy has its own memory pool). At most ``PER_SHAPE`` spares per shape and ``MAX_BYTES``
in all are kept; the rest is left to the garbage collector.
"""
import threading

import numpy as np

PER_SHAPE = 4
MAX_BYTES = 64 << 20


class ScratchArrays:
    """A small free list of NumPy arrays, by (shape, dtype)."""

    def __init__(self):
        self._spares = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, shape, dtype):
        """An uninitialised C-contiguous array of ``shape`` and ``dtype`` (a spare if any)."""
        key = (tuple(shape), np.dtype(dtype))
        with self._lock:
            spares = self._spares.get(key)
            if spares:
                array = spares.pop()
                self._bytes -= array.nbytes
                return array
        return np.empty(shape, dtype=dtype)

    def give(self, array):
        """Keep ``array`` (no longer used by the caller) for a later ``take`` of its shape."""
        if type(array) is not np.ndarray or array.base is not None or not array.flags.c_contiguous:
            return  # a view (e.g. the input itself for a 1x1 kernel) is not ours to reuse
        key = (array.shape, array.dtype)
        with self._lock:
            spares = self._spares.setdefault(key, [])
            if len(spares) < PER_SHAPE and self._bytes + array.nbytes <= MAX_BYTES:
                spares.append(array)
                self._bytes += array.nbytes

    def clear(self):
        with self._lock:
            self._spares.clear()
            self._bytes = 0


columns = ScratchArrays()  # the convolutions' column matrices
