"""Pooling kernels in readable NumPy: max-pool (with indices), max-unpool, average-pool.

Every function works on raw NCHW arrays and follows docs/kernels.md. The idea used
throughout: pad the input, then visit the ``kh*kw`` window offsets ``(i, j)`` one at a
time; for a fixed offset, the element each output position sees is one strided slice

    xpad[:, :, i*dh : i*dh + (OH-1)*sh + 1 : sh,  j*dw : j*dw + (OW-1)*sw + 1 : sw]

of shape (N, C, OH, OW). So the loops run over the (small) window, never over pixels.

Indices are flat positions ``h*W + w`` inside one unpadded ``(H, W)`` plane, int64, as
PyTorch's ``return_indices``. A window with no real input element (possible only with a
large dilation) yields ``-inf`` and index ``-1``; backward and unpool skip such indices.
"""
import numpy as np

from kernels.backend import FLOAT_DTYPES
from kernels.shapes import pool_output_size


# ----------------------------------------------------------------------------- checks
# Shared with kernels/cpu/pool.py, so both backends refuse bad input with the same words.

def check_float_array(op, name, array, ndim):
    """Raise TypeError/ValueError unless ``array`` is a float32/float64 array of ``ndim`` dims."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{op}: {name} must have {ndim} dims, got shape {array.shape}")


def check_same_shape(op, name, array, expected_shape):
    """Raise ValueError unless ``array.shape == expected_shape``."""
    if tuple(array.shape) != tuple(expected_shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(expected_shape)}, "
                         f"got {tuple(array.shape)}")


def pool_geometry(op, input_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Check the window parameters and return the output size ``(OH, OW)``.

    PyTorch's rules: kernel, stride, dilation >= 1; 0 <= padding <= kernel // 2;
    the output must not be empty.
    """
    height, width = input_shape[-2], input_shape[-1]
    if height < 1 or width < 1:
        raise ValueError(f"{op}: input height and width must be >= 1, got shape {tuple(input_shape)}")
    for name, pair_value, low in (("kernel_size", kernel_size, 1), ("stride", stride, 1),
                                  ("padding", padding, 0), ("dilation", dilation, 1)):
        if len(pair_value) != 2 or min(pair_value) < low:
            raise ValueError(f"{op}: {name} must be a pair of ints >= {low}, got {pair_value}")
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding must be at most half the kernel size, "
                         f"got padding={padding} for kernel_size={kernel_size}")
    out_h = pool_output_size(height, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
    out_w = pool_output_size(width, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{op}: output size ({out_h}, {out_w}) is too small for input "
                         f"{tuple(input_shape)} with kernel_size={kernel_size}, "
                         f"padding={padding}, dilation={dilation}")
    return out_h, out_w


# ----------------------------------------------------------------------------- helpers

def _padded_length(size, kernel, stride, padding, dilation, out_size):
    """Length the padded axis needs so every window fits, ceil_mode's last one included."""
    needed = (out_size - 1) * stride + dilation * (kernel - 1) + 1
    return max(size + 2 * padding, needed)


def _window_slice(offset, dilation, stride, out_size):
    """Rows (or columns) of the padded input that window offset ``offset`` reads."""
    start = offset * dilation
    return slice(start, start + (out_size - 1) * stride + 1, stride)


# ----------------------------------------------------------------------------- max-pool

def maxpool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Max over each window, with the flat index of the element chosen.

    x (N, C, H, W) -> out (N, C, OH, OW), indices (N, C, OH, OW) int64 in [0, H*W)
    (-1 where a window holds padding only, possible with dilation).
    out[n, c, oh, ow] = max_{i,j} xpad[n, c, oh*sh + i*dh, ow*sw + j*dw], padding = -inf.
    Ties keep the first maximum in scan order (i, then j); a NaN wins (the first NaN).
    """
    op = "maxpool2d_forward"
    check_float_array(op, "x", x, 4)
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    out_h, out_w = pool_geometry(op, x.shape, kernel_size, stride, padding, dilation, ceil_mode)

    # Pad with -inf, and remember the flat index of every padded position (-1 = padding).
    padded_h = _padded_length(height, kh, sh, ph, dh, out_h)
    padded_w = _padded_length(width, kw, sw, pw, dw, out_w)
    xpad = np.full((n, c, padded_h, padded_w), -np.inf, dtype=x.dtype)
    xpad[:, :, ph:ph + height, pw:pw + width] = x
    flat_index = np.full((padded_h, padded_w), -1, dtype=np.int64)
    flat_index[ph:ph + height, pw:pw + width] = np.arange(height * width).reshape(height, width)

    out = np.full((n, c, out_h, out_w), -np.inf, dtype=x.dtype)
    indices = np.full((n, c, out_h, out_w), -1, dtype=np.int64)
    for i in range(kh):                      # window rows, top to bottom
        rows = _window_slice(i, dh, sh, out_h)
        for j in range(kw):                  # then columns, left to right
            cols = _window_slice(j, dw, sw, out_w)
            value = xpad[:, :, rows, cols]           # (N, C, OH, OW)
            where = flat_index[rows, cols]           # (OH, OW)
            # A real element beats an empty window; a strictly larger one beats the best
            # so far (so ties keep the first); the first NaN beats any number.
            better = ((indices < 0) | (value > out)
                      | (np.isnan(value) & ~np.isnan(out)))
            take = (where >= 0) & better
            out = np.where(take, value, out)
            indices = np.where(take, where, indices)
    return out, indices


def as_plane_rows(array):
    """(N, C, H, W) -> (N*C, H*W): one row per plane (a view when array is contiguous)."""
    n, c, height, width = array.shape
    return array.reshape(n * c, height * width)


def _plane_numbers(num_planes, per_plane):
    """Row number of each entry when (N, C, ...) is viewed as (N*C, per_plane)."""
    return np.repeat(np.arange(num_planes), per_plane).reshape(num_planes, per_plane)


def check_maxpool_backward_args(op, grad_out, indices, input_shape):
    """Check maxpool2d_backward's arguments (both backends use this); returns (N, C, H, W)."""
    check_float_array(op, "grad_out", grad_out, 4)
    check_same_shape(op, "indices", indices, grad_out.shape)
    n, c, height, width = input_shape
    if tuple(grad_out.shape[:2]) != (n, c):
        raise ValueError(f"{op}: grad_out must have (N, C) = {(n, c)} of input_shape, "
                         f"got shape {grad_out.shape}")
    return n, c, height, width


def maxpool2d_backward(grad_out, indices, input_shape):
    """Send each output gradient back to the element its window chose.

    grad_out, indices (N, C, OH, OW) -> grad_x (N, C, H, W);
    grad_x.plane[indices] += grad_out (scatter-ADD: overlapping windows both count).
    """
    op = "maxpool2d_backward"
    n, c, height, width = check_maxpool_backward_args(op, grad_out, indices, input_shape)
    planes = n * c
    grad_rows = as_plane_rows(grad_out)
    index_rows = as_plane_rows(indices).astype(np.int64)
    plane_of = _plane_numbers(planes, index_rows.shape[1])
    valid = (index_rows >= 0) & (index_rows < height * width)   # skip empty windows' -1

    grad_x = np.zeros((planes, height * width), dtype=grad_out.dtype)
    np.add.at(grad_x, (plane_of[valid], index_rows[valid]), grad_rows[valid])
    return grad_x.reshape(n, c, height, width)


def maxunpool2d(x, indices, output_size):
    """Put every value back where max-pool found it, zeros elsewhere ("bed of nails").

    x, indices (N, C, h, w), output_size (OH, OW) -> out (N, C, OH, OW);
    out.plane[indices] = x. Indices outside [0, OH*OW) are skipped.
    """
    op = "maxunpool2d"
    check_float_array(op, "x", x, 4)
    check_same_shape(op, "indices", indices, x.shape)
    n, c = x.shape[:2]
    out_h, out_w = output_size
    planes = n * c
    index_rows = as_plane_rows(indices).astype(np.int64)
    plane_of = _plane_numbers(planes, index_rows.shape[1])
    valid = (index_rows >= 0) & (index_rows < out_h * out_w)

    out = np.zeros((planes, out_h * out_w), dtype=x.dtype)
    out[plane_of[valid], index_rows[valid]] = as_plane_rows(x)[valid]
    return out.reshape(n, c, out_h, out_w)


def maxunpool2d_backward(grad_out, indices):
    """Gather: the gradient of a placed value is the gradient where it was placed.

    grad_out (N, C, OH, OW), indices (N, C, h, w) -> grad_x (N, C, h, w);
    grad_x = grad_out.plane[indices] (0 for indices outside the plane).
    """
    op = "maxunpool2d_backward"
    check_float_array(op, "grad_out", grad_out, 4)
    if indices.ndim != 4 or indices.shape[:2] != grad_out.shape[:2]:
        raise ValueError(f"{op}: indices must have shape (N, C, h, w) with (N, C) = "
                         f"{grad_out.shape[:2]}, got {indices.shape}")
    n, c, out_h, out_w = grad_out.shape
    planes = n * c
    index_rows = as_plane_rows(indices).astype(np.int64)
    plane_of = _plane_numbers(planes, index_rows.shape[1])
    valid = (index_rows >= 0) & (index_rows < out_h * out_w)

    grad_x = np.zeros(index_rows.shape, dtype=grad_out.dtype)
    grad_x[valid] = as_plane_rows(grad_out)[plane_of[valid], index_rows[valid]]
    return grad_x.reshape(indices.shape)


# ----------------------------------------------------------------------------- average pool

def avgpool_divisor_counts(size, kernel, stride, padding, out_size, count_include_pad):
    """Per-axis count of the window positions the divisor counts, PyTorch's rule.

    A window starts at o*stride - padding. With count_include_pad it is clipped to the
    padded input [-padding, size + padding); without, to the real input [0, size).
    The 2-D divisor is count_h[oh] * count_w[ow]. Returns int64 (out_size,).
    """
    start = np.arange(out_size) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    if not count_include_pad:
        start = np.maximum(start, 0)
        end = np.minimum(end, size)
    return end - start


def avgpool_divisor(input_shape, kernel_size, stride, padding, out_shape,
                    count_include_pad, divisor_override):
    """The (OH, OW) divisor of every output position (int64)."""
    if divisor_override is not None:
        return np.full(out_shape, int(divisor_override), dtype=np.int64)
    counts_h = avgpool_divisor_counts(input_shape[-2], kernel_size[0], stride[0], padding[0],
                                      out_shape[0], count_include_pad)
    counts_w = avgpool_divisor_counts(input_shape[-1], kernel_size[1], stride[1], padding[1],
                                      out_shape[1], count_include_pad)
    return counts_h[:, None] * counts_w[None, :]


def check_divisor_override(op, divisor_override):
    """PyTorch refuses a zero (or negative) divisor_override."""
    if divisor_override is not None and int(divisor_override) <= 0:
        raise ValueError(f"{op}: divisor_override must be a positive int, got {divisor_override}")


def avgpool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    """Mean over each window.

    x (N, C, H, W) -> out (N, C, OH, OW);
    out[n, c, oh, ow] = sum_{i,j} xpad[n, c, oh*sh + i, ow*sw + j] / divisor[oh, ow],
    zero padding, divisor from ``avgpool_divisor``.
    """
    op = "avgpool2d_forward"
    check_float_array(op, "x", x, 4)
    check_divisor_override(op, divisor_override)
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    out_h, out_w = pool_geometry(op, x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)

    padded_h = _padded_length(height, kh, sh, ph, 1, out_h)
    padded_w = _padded_length(width, kw, sw, pw, 1, out_w)
    xpad = np.zeros((n, c, padded_h, padded_w), dtype=x.dtype)
    xpad[:, :, ph:ph + height, pw:pw + width] = x

    window_sum = np.zeros((n, c, out_h, out_w), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            window_sum += xpad[:, :, _window_slice(i, 1, sh, out_h), _window_slice(j, 1, sw, out_w)]
    divisor = avgpool_divisor(x.shape, kernel_size, stride, padding, (out_h, out_w),
                              count_include_pad, divisor_override)
    return window_sum / divisor.astype(x.dtype)


def avgpool2d_backward(grad_out, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override):
    """Adjoint of avgpool2d_forward.

    grad_out (N, C, OH, OW) -> grad_x (N, C, H, W): every input pixel of window (oh, ow)
    receives grad_out[n, c, oh, ow] / divisor[oh, ow] (overlapping windows add up).
    """
    op = "avgpool2d_backward"
    check_float_array(op, "grad_out", grad_out, 4)
    check_divisor_override(op, divisor_override)
    n, c, height, width = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    out_h, out_w = pool_geometry(op, input_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    check_same_shape(op, "grad_out", grad_out, (n, c, out_h, out_w))

    divisor = avgpool_divisor(input_shape, kernel_size, stride, padding, (out_h, out_w),
                              count_include_pad, divisor_override)
    grad_share = grad_out / divisor.astype(grad_out.dtype)
    padded_h = _padded_length(height, kh, sh, ph, 1, out_h)
    padded_w = _padded_length(width, kw, sw, pw, 1, out_w)
    grad_pad = np.zeros((n, c, padded_h, padded_w), dtype=grad_out.dtype)
    for i in range(kh):
        for j in range(kw):
            grad_pad[:, :, _window_slice(i, 1, sh, out_h), _window_slice(j, 1, sw, out_w)] += grad_share
    return grad_pad[:, :, ph:ph + height, pw:pw + width].copy()
