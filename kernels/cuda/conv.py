"""im2col / col2im on the GPU: launchers for ``im2col.cu``.

Same contract as ``kernels.reference.conv`` (docs/kernels.md); the arrays are CuPy arrays.
"""
from . import checks
from .launch import get_kernel, ints, launch, require_cupy

SOURCE = "im2col.cu"


def im2col(x, kernel_size, stride, padding, dilation, out=None):
    """Unfold the kernel windows of ``x`` into columns (matches kernels.reference.im2col).

    x    : (N, C, H, W) float32 or float64 cupy array
    cols : (N, C*kh*kw, OH*OW), C-contiguous, same dtype (into ``out`` if given), where
           cols[n, (c*kh + i)*kw + j, oh*OW + ow] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]
    """
    op = "im2col"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "x", x, 4)
    out_h, out_w = checks.conv_geometry(op, x.shape, kernel_size, stride, padding, dilation)
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    x = cupy.ascontiguousarray(x)
    cols = checks.check_out(op, out, (n, c * kh * kw, out_h * out_w), x.dtype, cupy)
    kernel = get_kernel(SOURCE, "im2col", x.dtype, op)
    launch(kernel, cols.size, x, cols,
           *ints(n, c, height, width, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w))
    return cols


def col2im(cols, input_shape, kernel_size, stride, padding, dilation, out=None):
    """Fold columns back onto the image, summing overlaps (matches kernels.reference.col2im).

    cols        : (N, C*kh*kw, OH*OW) float32 or float64 cupy array
    input_shape : (N, C, H, W)
    returns x   : (N, C, H, W); each pixel gathers, in a fixed order, every column entry
                  im2col read from it (deterministic: no atomics).
    """
    op = "col2im"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "cols", cols, 3)
    n, c, height, width = checks.check_input_shape(op, input_shape)
    out_h, out_w = checks.conv_geometry(op, (n, c, height, width),
                                        kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    checks.check_shape(op, "cols", cols, (n, c * kh * kw, out_h * out_w))
    cols = cupy.ascontiguousarray(cols)
    x = checks.check_out(op, out, (n, c, height, width), cols.dtype, cupy)
    kernel = get_kernel(SOURCE, "col2im", cols.dtype, op)
    launch(kernel, x.size, cols, x,
           *ints(n, c, height, width, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w))
    return x
