"""Pooling kernels compiled with Numba: the same functions as kernels/reference/pool.py.

Each public function checks its input with the reference's checks, views the batch as
``N*C`` independent planes ``(P, H, W)``, allocates the result and calls an ``@njit`` loop
that runs over the planes (one plane is a few KB: it stays in cache while it is worked on).
Inside a plane the loops are the textbook ones, written so that a window visits only its
in-bounds taps (no padded copy of the input is made).
"""
import numpy as np
from numba import njit

from kernels.reference.pool import (as_plane_rows, avgpool_divisor, check_divisor_override,
                                    check_float_array, check_maxpool_backward_args,
                                    check_same_shape, pool_geometry)

from . import memory
from .indexing import _u


@njit(cache=True)
def _tap_ranges(out_size, size, kernel, stride, padding, dilation):
    """For each output o along one axis, the taps [first[o], stop[o]) of its window that
    land inside the input: 0 <= o*stride - padding + t*dilation < size. int64 (out_size,)."""
    first = np.empty(out_size, dtype=np.int64)
    stop = np.empty(out_size, dtype=np.int64)
    for o in range(out_size):
        start = o * stride - padding
        tap = 0
        while tap < kernel and start + tap * dilation < 0:
            tap += 1
        end = kernel
        while end > tap and start + (end - 1) * dilation >= size:
            end -= 1
        first[o] = tap
        stop[o] = end
    return first, stop


# ----------------------------------------------------------------------------- max-pool
# "better" below is the one comparison rule of reference.maxpool2d_forward, written without
# branches (a mispredicted branch per tap would cost more than the whole comparison):
#   best is a number and value is not <= best  <=>  value > best, or value is the first NaN.

@njit(cache=True, nogil=True)
def _maxpool_forward_planes(x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    """x (P, H, W) -> out, indices (P, OH, OW); matches reference.maxpool2d_forward."""
    planes, height, width = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    i_first, i_stop = _tap_ranges(out_h, height, kh, sh, ph, dh)
    j_first, j_stop = _tap_ranges(out_w, width, kw, sw, pw, dw)
    for p in range(planes):
        for oh in range(out_h):
            h_start = oh * sh - ph
            for ow in range(out_w):
                w_start = ow * sw - pw
                best = -np.inf
                best_index = -1                      # stays -1 if the window is all padding
                for i in range(i_first[oh], i_stop[oh]):       # scan order: rows,
                    h = h_start + i * dh
                    for j in range(j_first[ow], j_stop[ow]):   # then columns
                        w = w_start + j * dw
                        value = x[p, h, w]
                        better = (best_index < 0) | ((best == best) & ~(value <= best))
                        best = value if better else best
                        best_index = h * width + w if better else best_index
                out[p, oh, ow] = best
                indices[p, oh, ow] = best_index


@njit(cache=True, nogil=True)
def _maxpool_2x2_planes(x, out, indices):
    """The 2x2 stride-2 window without padding (most CNNs' pooling), taps written out.

    Same rule as _maxpool_forward_planes; constant trip counts let LLVM unroll and
    vectorise it (about 20x faster than the general loop). x (P, H, W) -> (P, OH, OW).
    """
    planes, height, width = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    for p in range(planes):
        for oh in range(out_h):
            for ow in range(out_w):
                top = 2 * oh
                left = 2 * ow
                best = x[p, top, left]
                best_index = top * width + left
                for i in range(2):
                    for j in range(2):
                        value = x[p, top + i, left + j]
                        better = (best == best) & ~(value <= best)
                        best = value if better else best
                        best_index = (top + i) * width + left + j if better else best_index
                out[p, oh, ow] = best
                indices[p, oh, ow] = best_index


@njit(cache=True, nogil=True)
def _scatter_planes(values, indices, out, accumulate):
    """out (P, S) = 0, then out[p, indices[p, k]] += values[p, k] (accumulate) or = values[p, k].

    values, indices (P, K). Indices outside [0, S) are skipped (never written out of bounds).
    One kernel for max-pool's backward (+=) and max-unpool (=): half the compile time.
    """
    planes, size = out.shape
    count = values.shape[1]
    for p in range(planes):
        for s in range(size):
            out[p, s] = 0
        for k in range(count):
            index = indices[p, k]
            if 0 <= index < size:
                if accumulate:
                    out[p, index] += values[p, k]
                else:
                    out[p, index] = values[p, k]


@njit(cache=True, nogil=True)
def _gather_planes(source, indices, out):
    """out[p, k] = source[p, indices[p, k]] (P, K); 0 for bad indices."""
    planes, size = source.shape
    count = indices.shape[1]
    for p in range(planes):
        for k in range(count):
            index = indices[p, k]
            if 0 <= index < size:
                out[p, k] = source[p, index]
            else:
                out[p, k] = 0


def _as_planes(array, dtype=None):
    """(N, C, H, W) -> C-contiguous (N*C, H*W) view or copy."""
    return as_plane_rows(np.ascontiguousarray(array, dtype=dtype))


def maxpool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """x (N, C, H, W) -> out, indices (N, C, OH, OW); see reference.maxpool2d_forward."""
    check_float_array("maxpool2d_forward", "x", x, 4)
    out_h, out_w = pool_geometry("maxpool2d_forward", x.shape, kernel_size, stride, padding,
                                 dilation, ceil_mode)
    n, c, height, width = x.shape
    x_planes = np.ascontiguousarray(x).reshape(n * c, height, width)
    out = memory.empty((n * c, out_h, out_w), x.dtype)
    indices = memory.empty((n * c, out_h, out_w), np.int64)
    plain_2x2 = (tuple(kernel_size) == (2, 2) and tuple(stride) == (2, 2)
                 and tuple(padding) == (0, 0) and tuple(dilation) == (1, 1)
                 and out_h == height // 2 and out_w == width // 2)   # ceil_mode may add one
    if plain_2x2:
        _maxpool_2x2_planes(x_planes, out, indices)
    else:
        _maxpool_forward_planes(x_planes, out, indices, kernel_size[0], kernel_size[1],
                                stride[0], stride[1], padding[0], padding[1],
                                dilation[0], dilation[1])
    return out.reshape(n, c, out_h, out_w), indices.reshape(n, c, out_h, out_w)


def maxpool2d_backward(grad_out, indices, input_shape):
    """grad_out, indices (N, C, OH, OW) -> grad_x (N, C, H, W); scatter-add by indices."""
    op = "maxpool2d_backward"
    n, c, height, width = check_maxpool_backward_args(op, grad_out, indices, input_shape)
    grad_x = memory.empty((n * c, height * width), grad_out.dtype)
    _scatter_planes(_as_planes(grad_out), _as_planes(indices, np.int64), grad_x, True)
    return grad_x.reshape(n, c, height, width)


def maxunpool2d(x, indices, output_size):
    """x, indices (N, C, h, w) -> out (N, C, OH, OW) zeros with out.plane[indices] = x."""
    check_float_array("maxunpool2d", "x", x, 4)
    check_same_shape("maxunpool2d", "indices", indices, x.shape)
    n, c = x.shape[:2]
    out_h, out_w = int(output_size[0]), int(output_size[1])
    out = memory.empty((n * c, out_h * out_w), x.dtype)
    _scatter_planes(_as_planes(x), _as_planes(indices, np.int64), out, False)
    return out.reshape(n, c, out_h, out_w)


def maxunpool2d_backward(grad_out, indices):
    """grad_out (N, C, OH, OW), indices (N, C, h, w) -> grad_x = grad_out.plane[indices]."""
    op = "maxunpool2d_backward"
    check_float_array(op, "grad_out", grad_out, 4)
    if indices.ndim != 4 or indices.shape[:2] != grad_out.shape[:2]:
        raise ValueError(f"{op}: indices must have shape (N, C, h, w) with (N, C) = "
                         f"{grad_out.shape[:2]}, got {indices.shape}")
    index_planes = _as_planes(indices, np.int64)
    grad_x = memory.empty(index_planes.shape, grad_out.dtype)
    _gather_planes(_as_planes(grad_out), index_planes, grad_x)
    return grad_x.reshape(indices.shape)


# ----------------------------------------------------------------------------- average pool

# Average pool works one output row at a time and tap by tap: for tap (i, j) every output
# column ow whose tap lies inside the input adds x[h, ow*sw + j - pw] to its sum. The inner
# loop then runs over a whole row of outputs, instead of over a window of 2 or 3 taps.

@njit(cache=True)
def _output_ranges(out_size, size, kernel, stride, padding):
    """For each tap t along one axis, the outputs [first[t], stop[t]) whose tap t is inside
    the input: 0 <= o*stride - padding + t < size. int64 (kernel,)."""
    first = np.empty(kernel, dtype=np.int64)
    stop = np.empty(kernel, dtype=np.int64)
    for tap in range(kernel):
        offset = tap - padding
        o = 0
        while o < out_size and o * stride + offset < 0:
            o += 1
        end = out_size
        while end > o and (end - 1) * stride + offset >= size:
            end -= 1
        first[tap] = o
        stop[tap] = end
    return first, stop


@njit(cache=True, nogil=True)
def _avgpool_forward_planes(x, divisor, out, kh, kw, sh, sw, ph, pw):
    """x (P, H, W), divisor (OH, OW) -> out (P, OH, OW) window sums / divisor."""
    planes, height, width = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    ow_first, ow_stop = _output_ranges(out_w, width, kw, sw, pw)
    for p in range(planes):
        total = np.empty(out_w)                      # one row of sums, float64
        for oh in range(out_h):
            total[:] = 0.0
            for i in range(kh):
                h = oh * sh - ph + i
                if h < 0 or h >= height:
                    continue
                for j in range(kw):
                    for ow in range(ow_first[j], ow_stop[j]):  # ow*sw + j - pw >= 0 here
                        total[_u(ow)] += x[_u(p), _u(h), _u(ow * sw + j - pw)]
            for ow in range(out_w):
                out[p, oh, ow] = total[ow] / divisor[oh, ow]


@njit(cache=True, nogil=True)
def _avgpool_backward_planes(grad_out, divisor, grad_x, kh, kw, sh, sw, ph, pw):
    """grad_out (P, OH, OW) -> grad_x (P, H, W): each window's pixels += grad / divisor."""
    planes, height, width = grad_x.shape
    out_h, out_w = grad_out.shape[1], grad_out.shape[2]
    ow_first, ow_stop = _output_ranges(out_w, width, kw, sw, pw)
    for p in range(planes):
        share = np.empty(out_w, dtype=grad_x.dtype)  # one row of grad / divisor
        grad_x[p] = 0
        for oh in range(out_h):
            for ow in range(out_w):
                share[ow] = grad_out[p, oh, ow] / divisor[oh, ow]
            for i in range(kh):
                h = oh * sh - ph + i
                if h < 0 or h >= height:
                    continue
                for j in range(kw):
                    for ow in range(ow_first[j], ow_stop[j]):  # ow*sw + j - pw >= 0 here
                        grad_x[_u(p), _u(h), _u(ow * sw + j - pw)] += share[_u(ow)]


def avgpool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    """x (N, C, H, W) -> out (N, C, OH, OW); see reference.avgpool2d_forward."""
    op = "avgpool2d_forward"
    check_float_array(op, "x", x, 4)
    check_divisor_override(op, divisor_override)
    out_h, out_w = pool_geometry(op, x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    n, c, height, width = x.shape
    divisor = avgpool_divisor(x.shape, kernel_size, stride, padding, (out_h, out_w),
                              count_include_pad, divisor_override).astype(x.dtype)
    out = memory.empty((n * c, out_h, out_w), x.dtype)
    _avgpool_forward_planes(np.ascontiguousarray(x).reshape(n * c, height, width), divisor, out,
                            kernel_size[0], kernel_size[1], stride[0], stride[1],
                            padding[0], padding[1])
    return out.reshape(n, c, out_h, out_w)


def avgpool2d_backward(grad_out, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override):
    """grad_out (N, C, OH, OW) -> grad_x (N, C, H, W); see reference.avgpool2d_backward."""
    op = "avgpool2d_backward"
    check_float_array(op, "grad_out", grad_out, 4)
    check_divisor_override(op, divisor_override)
    n, c, height, width = input_shape
    out_h, out_w = pool_geometry(op, input_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    check_same_shape(op, "grad_out", grad_out, (n, c, out_h, out_w))
    divisor = avgpool_divisor(input_shape, kernel_size, stride, padding, (out_h, out_w),
                              count_include_pad, divisor_override).astype(grad_out.dtype)
    grad_x = memory.empty((n * c, height, width), grad_out.dtype)
    _avgpool_backward_planes(np.ascontiguousarray(grad_out).reshape(n * c, out_h, out_w),
                             divisor, grad_x, kernel_size[0], kernel_size[1],
                             stride[0], stride[1], padding[0], padding[1])
    return grad_x.reshape(n, c, height, width)
