"""Numba versions of ``kernels.reference.conv.im2col`` and ``col2im`` (same arguments, same results).

These two loops are the hot path of ``conv2d``: ``im2col`` runs in every forward,
``col2im`` in every backward (and in ``conv_transpose2d``'s forward). The layout is one
row per output pixel: ``cols (N, OH*OW, C*kh*kw)``. They are written for memory bandwidth:

* every thread owns whole blocks of the result (the OW rows of one output row ``(n, oh)``
  in ``im2col``, an image plane in ``col2im``), so there are no write races and no atomics;
* im2col's innermost loop runs along ``ow``: it reads the input row contiguously and writes
  with stride ``C*kh*kw`` into the block of OW rows, which is small and stays in cache;
* padding is handled by computing, once per kernel tap, the range of ``ow`` that lands
  inside the input row, instead of an ``if`` per element;
* small arrays run a serial copy of the loop: a parallel launch on a few thousand elements
  costs more than the work (and stalls when the machine is busy).

The Python wrappers validate and normalise the arguments (shared with the reference), make
the arrays C-contiguous, reshape them, allocate the result, and call the compiled loop.
All integer arguments are Python ints, so each loop compiles once per dtype.
"""
import numpy as np
from numba import njit, prange

from kernels.reference.conv import check_float_array, col2im_geometry, conv_geometry

PARALLEL_FROM = 32768  # use the parallel loops from this many cols entries on


@njit(cache=True)
def _inside_range(offset, stride, size, out_size):
    """Output positions ``o`` in ``[0, out_size)`` with ``0 <= o*stride + offset < size``.

    Returned as the bounds ``(lo, hi)`` of ``range(lo, hi)``: the outputs whose input lies
    inside the image, not in the padding. (``//`` floors, as in Python, for negatives too.)
    """
    lo = -(offset // stride)  # ceil(-offset / stride): first o past the left/top padding
    hi = (size - 1 - offset) // stride + 1  # one past the last o before the right/bottom padding
    lo = min(max(lo, 0), out_size)
    hi = min(max(hi, lo), out_size)
    return lo, hi


@njit(cache=True)
def _im2col_block(x4, cols3, block, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """Fill the OW rows of output row ``block = n*OH + oh``: cols3 (N*OH, OW, C*kh*kw).

    cols3[n*OH + oh, ow, (c*kh + i)*kw + j] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]
    """
    channels, height, width = x4.shape[1], x4.shape[2], x4.shape[3]
    n = block // out_h
    oh = block % out_h
    for c in range(channels):
        for i in range(kh):
            ih = oh * sh + i * dh - ph
            for j in range(kw):
                k = (c * kh + i) * kw + j
                if ih < 0 or ih >= height:  # the whole window row lies in the padding
                    for ow in range(out_w):
                        cols3[block, ow, k] = 0
                    continue
                left = j * dw - pw  # input column read by ow = 0
                ow_lo, ow_hi = _inside_range(left, sw, width, out_w)
                for ow in range(ow_lo):  # left padding
                    cols3[block, ow, k] = 0
                for ow in range(ow_lo, ow_hi):
                    cols3[block, ow, k] = x4[n, c, ih, ow * sw + left]
                for ow in range(ow_hi, out_w):  # right padding
                    cols3[block, ow, k] = 0


@njit(cache=True, parallel=True)
def _im2col_parallel(x4, cols3, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """x4 (N, C, H, W) -> cols3 (N*OH, OW, C*kh*kw), output rows in parallel."""
    for block in prange(cols3.shape[0]):
        _im2col_block(x4, cols3, block, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)


@njit(cache=True)
def _im2col_serial(x4, cols3, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """``_im2col_parallel`` on one thread (small arrays)."""
    for block in range(cols3.shape[0]):
        _im2col_block(x4, cols3, block, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)


@njit(cache=True)
def _col2im_plane(cols3, x4, plane, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """Sum image plane ``plane = n*C + c`` of x4 (N, C, H, W) from cols3 (N, OH*OW, C*kh*kw).

    The plane (small, it stays in cache) is zeroed, then every tap (i, j) in order adds
    x[n, c, oh*sh + i*dh - ph, ow*sw + j*dw - pw] += cols[n, oh*OW + ow, (c*kh + i)*kw + j].
    """
    channels, height, width = x4.shape[1], x4.shape[2], x4.shape[3]
    n = plane // channels
    c = plane % channels
    for ih in range(height):
        for iw in range(width):
            x4[n, c, ih, iw] = 0
    for i in range(kh):
        oh_lo, oh_hi = _inside_range(i * dh - ph, sh, height, out_h)  # rows not in padding
        for j in range(kw):
            left = j * dw - pw
            ow_lo, ow_hi = _inside_range(left, sw, width, out_w)
            k = (c * kh + i) * kw + j
            for oh in range(oh_lo, oh_hi):
                ih = oh * sh + i * dh - ph
                base = oh * out_w
                for ow in range(ow_lo, ow_hi):
                    x4[n, c, ih, ow * sw + left] += cols3[n, base + ow, k]


@njit(cache=True, parallel=True)
def _col2im_parallel(cols3, x4, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """cols3 (N, OH*OW, C*kh*kw) -> x4 (N, C, H, W); one image plane per (n, c), in parallel."""
    for plane in prange(x4.shape[0] * x4.shape[1]):
        _col2im_plane(cols3, x4, plane, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)


@njit(cache=True)
def _col2im_serial(cols3, x4, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """``_col2im_parallel`` on one thread (small arrays)."""
    for plane in range(x4.shape[0] * x4.shape[1]):
        _col2im_plane(cols3, x4, plane, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)


def im2col(x, kernel_size, stride, padding, dilation):
    """Numba ``im2col``: x (N, C, H, W) -> cols (N, OH*OW, C*kh*kw). See the reference."""
    check_float_array("im2col", "x", x)
    geometry = conv_geometry("im2col", x.shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = geometry
    n, c, h, w = x.shape
    x4 = np.ascontiguousarray(x)
    cols = np.empty((n, out_h * out_w, c * kh * kw), dtype=x.dtype)
    if cols.size:
        loop = _im2col_parallel if cols.size >= PARALLEL_FROM else _im2col_serial
        loop(x4, cols.reshape(n * out_h, out_w, c * kh * kw),
             kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)
    return cols


def col2im(cols, input_shape, kernel_size, stride, padding, dilation):
    """Numba ``col2im``: cols (N, OH*OW, C*kh*kw) -> x (N, C, H, W), overlaps summed."""
    geometry = col2im_geometry(cols, input_shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = geometry
    n, c, h, w = (int(size) for size in input_shape)
    x = np.empty((n, c, h, w), dtype=cols.dtype)
    if x.size:
        cols3 = np.ascontiguousarray(cols)
        loop = _col2im_parallel if cols3.size >= PARALLEL_FROM else _col2im_serial
        loop(cols3, x, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)
    return x
