"""Numba versions of ``kernels.reference.conv.im2col`` and ``col2im`` (same arguments, same results).

These two loops are the hot path of ``conv2d``: ``im2col`` runs in every forward,
``col2im`` in every backward (and in ``conv_transpose2d``'s forward). They are written for
memory bandwidth:

* every thread owns whole rows of the result (a ``cols`` row in ``im2col``, an image plane
  in ``col2im``), so there are no write races and no atomics;
* the innermost loop runs along ``ow``, contiguous in ``cols`` and, for stride 1, in the
  input row too (im2col has a unit-stride branch: a plain copy LLVM vectorises);
* padding is handled by computing, once per kernel tap, the range of ``ow`` that lands
  inside the input row, instead of an ``if`` per element.

The Python wrappers validate and normalise the arguments (shared with the reference), make
the arrays C-contiguous, reshape them to 2-D/3-D, allocate the result, and call the
compiled loop. All integer arguments are Python ints, so each loop compiles once per dtype
(float32, float64).
"""
import numpy as np
from numba import njit, prange

from kernels.reference.conv import check_float_array, col2im_geometry, conv_geometry


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


@njit(cache=True, parallel=True)
def _im2col_loop(x3, cols2, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """x3 (N*C, H, W) -> cols2 (N*C*kh*kw, OH*OW); one cols row per (n, c, i, j), in parallel.

    cols2[(n*C + c)*kh*kw + i*kw + j, oh*OW + ow] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]
    (Plain element indexing, no slices: Numba compiles it to tight loops.)
    """
    height, width = x3.shape[1], x3.shape[2]
    taps = kh * kw
    for row in prange(cols2.shape[0]):
        plane = row // taps  # n*C + c
        i = (row % taps) // kw
        j = row % kw
        left = j * dw - pw  # input column read by ow = 0
        ow_lo, ow_hi = _inside_range(left, sw, width, out_w)
        for oh in range(out_h):
            base = oh * out_w
            ih = oh * sh + i * dh - ph
            if ih < 0 or ih >= height:  # the whole window row lies in the padding
                for ow in range(out_w):
                    cols2[row, base + ow] = 0
                continue
            for ow in range(ow_lo):  # left padding
                cols2[row, base + ow] = 0
            if sw == 1:  # unit stride: a straight copy LLVM can vectorise
                for ow in range(ow_lo, ow_hi):
                    cols2[row, base + ow] = x3[plane, ih, ow + left]
            else:
                for ow in range(ow_lo, ow_hi):
                    cols2[row, base + ow] = x3[plane, ih, ow * sw + left]
            for ow in range(ow_hi, out_w):  # right padding
                cols2[row, base + ow] = 0


@njit(cache=True, parallel=True)
def _col2im_loop(cols2, x3, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """cols2 (N*C*kh*kw, OH*OW) -> x3 (N*C, H, W); one image plane per (n, c), in parallel.

    Each plane (small, it stays in cache) is zeroed, then every tap (i, j) in order adds its
    cols row, read front to back: x[n, c, oh*sh + i*dh - ph, ow*sw + j*dw - pw] += cols[...].
    """
    height, width = x3.shape[1], x3.shape[2]
    taps = kh * kw
    for plane in prange(x3.shape[0]):
        for ih in range(height):
            for iw in range(width):
                x3[plane, ih, iw] = 0
        for i in range(kh):
            oh_lo, oh_hi = _inside_range(i * dh - ph, sh, height, out_h)  # rows not in padding
            for j in range(kw):
                left = j * dw - pw
                ow_lo, ow_hi = _inside_range(left, sw, width, out_w)
                row = plane * taps + i * kw + j
                for oh in range(oh_lo, oh_hi):
                    ih = oh * sh + i * dh - ph
                    base = oh * out_w
                    for ow in range(ow_lo, ow_hi):  # (a unit-stride branch does not pay here)
                        x3[plane, ih, ow * sw + left] += cols2[row, base + ow]


def im2col(x, kernel_size, stride, padding, dilation):
    """Numba ``im2col``: x (N, C, H, W) -> cols (N, C*kh*kw, OH*OW). See the reference."""
    check_float_array("im2col", "x", x)
    geometry = conv_geometry("im2col", x.shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = geometry
    n, c, h, w = x.shape
    x3 = np.ascontiguousarray(x).reshape(n * c, h, w)
    cols = np.empty((n, c * kh * kw, out_h * out_w), dtype=x.dtype)
    if cols.size:
        _im2col_loop(x3, cols.reshape(n * c * kh * kw, out_h * out_w),
                     kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)
    return cols


def col2im(cols, input_shape, kernel_size, stride, padding, dilation):
    """Numba ``col2im``: cols (N, C*kh*kw, OH*OW) -> x (N, C, H, W), overlaps summed. See the reference."""
    geometry = col2im_geometry(cols, input_shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = geometry
    n, c, h, w = (int(size) for size in input_shape)
    x = np.empty((n, c, h, w), dtype=cols.dtype)
    if x.size:
        cols2 = np.ascontiguousarray(cols).reshape(n * c * kh * kw, out_h * out_w)
        _col2im_loop(cols2, x.reshape(n * c, h, w), kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)
    return x
