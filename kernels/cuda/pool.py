"""Pooling on the GPU: launchers for ``maxpool.cu`` and ``avgpool.cu``.

Same contract as ``kernels.reference.pool`` (docs/kernels.md); the arrays are CuPy arrays,
indices are int64 flat positions ``h*W + w`` inside one ``(H, W)`` plane.
"""
import numpy as np

from . import checks
from .launch import get_kernel, ints, launch, require_cupy

MAX_SOURCE = "maxpool.cu"
AVG_SOURCE = "avgpool.cu"


def _int64_contiguous(cupy, indices):
    """Indices as a C-contiguous int64 array (the kernels read ``long long``)."""
    return cupy.ascontiguousarray(indices.astype(np.int64, copy=False))


# ----------------------------------------------------------------------------- max-pool

def maxpool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Max over each window, with the flat index of the element chosen.

    x (N, C, H, W) -> out (N, C, OH, OW), indices (N, C, OH, OW) int64 in [0, H*W).
    Ties keep the first maximum in scan order; the first NaN wins; a window with no
    input pixel gives -inf and index -1 (as the reference).
    """
    op = "maxpool2d_forward"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "x", x, 4)
    out_h, out_w = checks.pool_geometry(op, x.shape, kernel_size, stride, padding,
                                        dilation, ceil_mode)
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    x = cupy.ascontiguousarray(x)
    out = cupy.empty((n, c, out_h, out_w), dtype=x.dtype)
    indices = cupy.empty((n, c, out_h, out_w), dtype=np.int64)
    kernel = get_kernel(MAX_SOURCE, "maxpool2d_forward", x.dtype, op)
    launch(kernel, out.size, x, out, indices,
           *ints(n, c, height, width, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w))
    return out, indices


def maxpool2d_backward(grad_out, indices, input_shape):
    """Scatter-add each output gradient onto the element its window chose.

    grad_out, indices (N, C, OH, OW) -> grad_x (N, C, H, W) = 0, then
    grad_x.plane[indices] += grad_out (atomicAdd: windows that chose the same pixel add up;
    the float sum order is not fixed, so float32 results may differ in the last bit).
    """
    op = "maxpool2d_backward"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "grad_out", grad_out, 4)
    checks.check_index_array(cupy, op, "indices", indices, 4)
    checks.check_shape(op, "indices", indices, grad_out.shape)
    n, c, height, width = checks.check_input_shape(op, input_shape)
    if tuple(grad_out.shape[:2]) != (n, c):
        raise ValueError(f"{op}: grad_out must have (N, C) = {(n, c)} of input_shape, "
                         f"got shape {tuple(grad_out.shape)}")
    grad_out = cupy.ascontiguousarray(grad_out)
    indices = _int64_contiguous(cupy, indices)
    grad_x = cupy.zeros((n, c, height, width), dtype=grad_out.dtype)
    out_hw = grad_out.shape[2] * grad_out.shape[3]
    kernel = get_kernel(MAX_SOURCE, "maxpool2d_backward", grad_out.dtype, op)
    launch(kernel, grad_out.size, grad_out, indices, grad_x,
           *ints(n * c, out_hw, height * width))
    return grad_x


def maxunpool2d(x, indices, output_size):
    """Put every value back where max-pool found it, zeros elsewhere ("bed of nails").

    x, indices (N, C, h, w), output_size (OH, OW) -> out (N, C, OH, OW);
    out.plane[indices] = x. Indices outside [0, OH*OW) are skipped; with repeated indices
    one write wins (which one is not fixed on the GPU).
    """
    op = "maxunpool2d"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "x", x, 4)
    checks.check_index_array(cupy, op, "indices", indices, 4)
    checks.check_shape(op, "indices", indices, x.shape)
    if len(output_size) != 2 or min(int(size) for size in output_size) < 0:
        raise ValueError(f"{op}: output_size must be (OH, OW), got {output_size!r}")
    out_h, out_w = (int(size) for size in output_size)
    n, c, in_h, in_w = x.shape
    x = cupy.ascontiguousarray(x)
    indices = _int64_contiguous(cupy, indices)
    out = cupy.zeros((n, c, out_h, out_w), dtype=x.dtype)
    kernel = get_kernel(MAX_SOURCE, "maxunpool2d", x.dtype, op)
    launch(kernel, x.size, x, indices, out, *ints(n * c, in_h * in_w, out_h * out_w))
    return out


def maxunpool2d_backward(grad_out, indices):
    """Gather: grad_x (N, C, h, w) = grad_out.plane[indices] (0 outside the plane).

    grad_out (N, C, OH, OW), indices (N, C, h, w).
    """
    op = "maxunpool2d_backward"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "grad_out", grad_out, 4)
    checks.check_index_array(cupy, op, "indices", indices, 4)
    if tuple(indices.shape[:2]) != tuple(grad_out.shape[:2]):
        raise ValueError(f"{op}: indices must have shape (N, C, h, w) with (N, C) = "
                         f"{tuple(grad_out.shape[:2])}, got {tuple(indices.shape)}")
    n, c, out_h, out_w = grad_out.shape
    in_h, in_w = indices.shape[2], indices.shape[3]
    grad_out = cupy.ascontiguousarray(grad_out)
    indices = _int64_contiguous(cupy, indices)
    grad_x = cupy.empty((n, c, in_h, in_w), dtype=grad_out.dtype)
    kernel = get_kernel(MAX_SOURCE, "maxunpool2d_backward", grad_out.dtype, op)
    launch(kernel, grad_x.size, grad_out, indices, grad_x,
           *ints(n * c, in_h * in_w, out_h * out_w))
    return grad_x


# ----------------------------------------------------------------------------- average pool

def avgpool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    """Mean over each window, PyTorch's divisor rule.

    x (N, C, H, W) -> out (N, C, OH, OW);
    out[n, c, oh, ow] = sum_{i,j} xpad[n, c, oh*sh + i, ow*sw + j] / divisor(oh, ow).
    """
    op = "avgpool2d_forward"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "x", x, 4)
    override = checks.divisor_code(op, divisor_override)
    out_h, out_w = checks.pool_geometry(op, x.shape, kernel_size, stride, padding,
                                        (1, 1), ceil_mode)
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    x = cupy.ascontiguousarray(x)
    out = cupy.empty((n, c, out_h, out_w), dtype=x.dtype)
    kernel = get_kernel(AVG_SOURCE, "avgpool2d_forward", x.dtype, op)
    launch(kernel, out.size, x, out,
           *ints(n, c, height, width, kh, kw, sh, sw, ph, pw, out_h, out_w,
                 1 if count_include_pad else 0, override))
    return out


def avgpool2d_backward(grad_out, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override):
    """Adjoint of avgpool2d_forward, as a deterministic gather per input pixel.

    grad_out (N, C, OH, OW) -> grad_x (N, C, H, W): every input pixel of window (oh, ow)
    receives grad_out[n, c, oh, ow] / divisor(oh, ow); overlapping windows add up.
    """
    op = "avgpool2d_backward"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "grad_out", grad_out, 4)
    override = checks.divisor_code(op, divisor_override)
    n, c, height, width = checks.check_input_shape(op, input_shape)
    out_h, out_w = checks.pool_geometry(op, (n, c, height, width), kernel_size, stride,
                                        padding, (1, 1), ceil_mode)
    checks.check_shape(op, "grad_out", grad_out, (n, c, out_h, out_w))
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    grad_out = cupy.ascontiguousarray(grad_out)
    grad_x = cupy.empty((n, c, height, width), dtype=grad_out.dtype)
    kernel = get_kernel(AVG_SOURCE, "avgpool2d_backward", grad_out.dtype, op)
    launch(kernel, grad_x.size, grad_out, grad_x,
           *ints(n, c, height, width, kh, kw, sh, sw, ph, pw, out_h, out_w,
                 1 if count_include_pad else 0, override))
    return grad_x
