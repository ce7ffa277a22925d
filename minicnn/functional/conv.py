"""Convolutions: ``conv2d`` and ``conv_transpose2d``, as im2col / col2im plus matrix products.

im2col lays the batch out with one row per output pixel: ``cols (N, OH*OW, C_in*kh*kw)``,
i.e. a matrix ``cols2 (N*L, K)``, L = OH*OW, K = C_in*kh*kw. With
``W2 = weight.reshape(C_out, K/G)`` (per group G: a block of W2's rows and of cols2's
columns), every product is ONE GEMM over the whole batch (small weights: one per image,
see ``PER_IMAGE_BELOW``)::

    forward      out_rows = cols2 @ W2^T                        (N*L, C_out), + bias
    backward     grad_W   = grad_rows^T @ cols2                 (the cols saved by forward)
                 grad_x   = col2im(grad_rows @ W2)              (col2im is im2col's adjoint)
                 grad_b   = grad_out summed over n, oh, ow

where ``rows`` is the (N*L, C) "one row per pixel" view of an (N, C, OH, OW) tensor: the
output is computed in it and copied once to (N, C_out, OH, OW), and grad_out is copied once
into it (both are kh*kw times smaller than cols).

conv_transpose2d is the adjoint (the transpose) of conv2d: its forward is conv2d's
``grad_x`` formula and the gradient wrt its input is conv2d's forward. The loops that move
data (im2col, col2im) are kernels chosen by ``kernels.backend.for_array`` (NumPy, Numba or
CUDA); every matrix product goes to BLAS through ``matmul``. Argument checks and output
sizes live in ``conv_checks.py``.
"""
from kernels.backend import for_array, get_array_module

from ..autograd.function import Function
from .conv_checks import conv2d_geometry, conv_transpose2d_geometry

__all__ = ["conv2d", "conv_transpose2d"]


# ----- the GEMMs ------------------------------------------------------------------------------
# Groups are a batch axis of ``matmul``. A group's block of columns of a (R, G*Q) matrix is a
# strided view (row stride G*Q): BLAS reads it through its leading dimension, no copy.

def weight_blocks(weight_2d, groups):
    """(G*P, Q) -> (G, P, Q): the groups' blocks of rows, a view."""
    return weight_2d.reshape(groups, weight_2d.shape[0] // groups, weight_2d.shape[1])


def column_blocks(matrix, groups):
    """(R, G*Q) -> (G, R, Q): the groups' blocks of columns, a (strided) view."""
    rows = matrix.shape[0]
    return matrix.reshape(rows, groups, matrix.shape[1] // groups).transpose(1, 0, 2)


def merge_column_blocks(blocks):
    """(G, R, Q) -> (R, G*Q), C-contiguous: the inverse of ``column_blocks`` (a copy if G > 1)."""
    xp = get_array_module(blocks)
    groups, rows, width = blocks.shape
    if groups == 1:
        return blocks[0]
    return xp.ascontiguousarray(blocks.transpose(1, 0, 2)).reshape(rows, groups * width)


def channels_to_rows(array, groups):
    """(N, G*P, L) -> (G, N*L, P), C-contiguous: out[g, n*L + l, p] = array[n, g*P + p, l]."""
    xp = get_array_module(array)
    n, channels, length = array.shape
    blocks = array.reshape(n, groups, channels // groups, length).transpose(1, 0, 3, 2)
    return xp.ascontiguousarray(blocks).reshape(groups, n * length, channels // groups)


def rows_to_channels(rows, n):
    """(G, N*L, P) -> (N, G*P, L), C-contiguous: the inverse of ``channels_to_rows``."""
    xp = get_array_module(rows)
    groups, total, width = rows.shape
    blocks = rows.reshape(groups, n, total // n, width).transpose(1, 0, 3, 2)
    return xp.ascontiguousarray(blocks).reshape(n, groups * width, total // n)


# Small weights (first layers, depthwise) make thin, memory-bound products: one big GEMM
# over N*L rows gains nothing there, and multi-threaded BLAS calls stall on a busy machine.
# Below PER_IMAGE_BELOW weight entries per group the N*L rows are split into N images,
# N small products that BLAS runs on one thread each (``matmul`` broadcasts the weight).
PER_IMAGE_BELOW = 4096


def per_image(weight, groups):
    """True when weight (C_out, C_in/G, kh, kw) has fewer than PER_IMAGE_BELOW entries per group."""
    return weight.size // groups < PER_IMAGE_BELOW


def rows_matmul(rows, weights, n, split):
    """rows (G, N*L, P) @ weights (G, P, Q) -> (G, N*L, Q); ``split``: as N products of L rows."""
    xp = get_array_module(rows)
    if not split:
        return xp.matmul(rows, weights)
    groups, total, width = rows.shape
    out = xp.matmul(rows.reshape(groups, n, total // n, width), weights[:, None])
    return out.reshape(groups, total, weights.shape[2])


def rows_outer(left, right, n, split):
    """left^T @ right: (G, N*L, P), (G, N*L, Q) -> (G, P, Q); ``split``: per image, summed."""
    xp = get_array_module(left)
    if not split:
        return xp.matmul(left.transpose(0, 2, 1), right)
    groups, total, _ = left.shape
    left_n = left.reshape(groups, n, total // n, left.shape[2]).transpose(0, 1, 3, 2)
    right_n = right.reshape(groups, n, total // n, right.shape[2])
    return xp.matmul(left_n, right_n).sum(axis=1)


def _add_bias(out, bias, channel_axis):
    """out += bias along ``channel_axis`` (in place: ``out`` is a fresh array)."""
    if bias is not None:
        shape = [1] * out.ndim
        shape[channel_axis] = -1
        out += bias.reshape(shape)
    return out


def _pad_bottom_right(x, extra_h, extra_w):
    """Zero rows below and columns right of x (N, C, H, W) (only "same" with an even kernel)."""
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))


# ----- conv2d ---------------------------------------------------------------------------------

class Conv2d(Function):
    """The autograd Function behind ``conv2d`` (see the module docstring for the math)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        geo = conv2d_geometry(x, weight, bias, stride, padding, dilation, groups)
        x4 = x.reshape((1,) + x.shape) if geo.unbatched else x
        if geo.extra_h or geo.extra_w:  # asymmetric "same": the extra zeros go bottom/right
            x4 = _pad_bottom_right(x4, geo.extra_h, geo.extra_w)
        n = x4.shape[0]
        if geo.pointwise:  # 1x1 kernel, stride 1, no padding: the rows are the pixels
            cols_g = channels_to_rows(x4.reshape(n, x4.shape[1], -1), groups)
        else:
            cols = for_array(x4).im2col(x4, geo.kernel_size, geo.stride, geo.padding, geo.dilation)
            cols_g = column_blocks(cols.reshape(-1, cols.shape[2]), groups)  # (G, N*L, K/G)
        w_g = weight_blocks(weight.reshape(weight.shape[0], -1), groups)     # (G, C_out/G, K/G)
        split = per_image(weight, groups)
        out_rows = rows_matmul(cols_g, w_g.transpose(0, 2, 1), n, split)    # (G, N*L, C_out/G)
        out = _add_bias(rows_to_channels(out_rows, n), bias, 1)              # (N, C_out, L)
        ctx.geo, ctx.groups, ctx.padded_shape = geo, groups, x4.shape
        ctx.save_for_backward(weight, cols_g if ctx.needs_input_grad[1] else None)
        out = out.reshape(n, weight.shape[0], geo.out_h, geo.out_w)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, cols_g = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        n = ctx.padded_shape[0]
        grad = grad_out.reshape(n, weight.shape[0], geo.out_h * geo.out_w)  # (N, C_out, L)
        w_g = weight_blocks(weight.reshape(weight.shape[0], -1), groups)    # (G, C_out/G, K/G)
        need_x, need_w, need_b = ctx.needs_input_grad
        split = per_image(weight, groups)
        grad_x = grad_w = grad_b = None
        if need_x or need_w:
            grad_rows = channels_to_rows(grad, groups)                      # (G, N*L, C_out/G)
        if need_x:
            grad_cols_g = rows_matmul(grad_rows, w_g, n, split)             # (G, N*L, K/G)
            if geo.pointwise:
                grad_x = rows_to_channels(grad_cols_g, n).reshape(ctx.padded_shape)
            else:
                grad_cols = merge_column_blocks(grad_cols_g)                # (N*L, K)
                grad_cols = grad_cols.reshape(n, -1, grad_cols.shape[1])    # (N, L, K)
                grad_x = for_array(grad_cols).col2im(grad_cols, ctx.padded_shape, geo.kernel_size,
                                                     geo.stride, geo.padding, geo.dilation)
            grad_x = grad_x[:, :, :geo.in_h, :geo.in_w]  # drop the extra "same" zeros, if any
            grad_x = grad_x.reshape(geo.input_shape)
        if need_w:
            grad_w = rows_outer(grad_rows, cols_g, n, split).reshape(weight.shape)
        if need_b:
            grad_b = grad.sum(axis=(0, 2))
        return grad_x, grad_w, grad_b


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch) of an image batch.

    input  : (N, C_in, H, W), or unbatched (C_in, H, W)
    weight : (C_out, C_in/groups, kH, kW);  bias: (C_out,) or None
    stride, dilation: int or (h, w); padding: int, (h, w), "valid" (= 0) or "same"
    (stride 1 only; for an even span the extra zero goes bottom/right, as in PyTorch)
    returns (N, C_out, OH, OW),  OH = floor((H + 2*pad - dilation*(kH-1) - 1) / stride) + 1

        out[n, o, i, j] = bias[o] + sum_{c,u,v} weight[o, c, u, v] * xpad[n, g*C_in/G + c, i*s + u*d, j*s + v*d]

    where g is o's group. Example::

        >>> x = mc.randn(8, 3, 32, 32); w = mc.randn(16, 3, 3, 3)
        >>> F.conv2d(x, w, padding=1).shape
        (8, 16, 32, 32)
    """
    return Conv2d.apply(input, weight, bias, stride=stride, padding=padding,
                        dilation=dilation, groups=groups)


# ----- conv_transpose2d ---------------------------------------------------------------------

class ConvTranspose2d(Function):
    """The autograd Function behind ``conv_transpose2d``: conv2d's input-gradient as a forward.

    With ``W2 = weight.reshape(C_in, C_out/G*kh*kw)`` (per group) and ``x_rows`` the
    (N*H*W, C_in) one-row-per-pixel view of x::

        forward     y       = col2im(x_rows @ W2) + bias
        backward    cols2   = im2col(grad_y)                   (N*H*W, C_out*kh*kw)
                    grad_x  = cols2 @ W2^T                     (= conv2d(grad_y, weight))
                    grad_W  = x_rows^T @ cols2
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, groups, dilation):
        geo = conv_transpose2d_geometry(x, weight, bias, stride, padding, output_padding,
                                        groups, dilation)
        x4 = x.reshape((1,) + x.shape) if geo.unbatched else x
        n = x4.shape[0]
        x_rows = channels_to_rows(x4.reshape(n, x4.shape[1], -1), groups)  # (G, N*H*W, C_in/G)
        w_g = weight_blocks(weight.reshape(weight.shape[0], -1), groups)   # (G, C_in/G, K/G)
        cols_g = rows_matmul(x_rows, w_g, n, per_image(weight, groups))    # (G, N*H*W, K/G)
        cols = merge_column_blocks(cols_g)                                 # (N*H*W, C_out*kh*kw)
        del cols_g
        cols = cols.reshape(n, -1, cols.shape[1])
        out = for_array(cols).col2im(cols, (n, geo.c_out) + geo.col_hw, geo.kernel_size,
                                     geo.stride, geo.col_padding, geo.dilation)
        del cols
        if geo.uses_canvas:  # output_padding >= stride: crop/extend the uncropped canvas
            out = _from_canvas(out, geo)
        out = _add_bias(out, bias, 1)
        ctx.geo, ctx.groups = geo, groups
        ctx.save_for_backward(weight, x_rows if ctx.needs_input_grad[1] else None)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, x_rows = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        grad_y = grad_out.reshape((1,) + grad_out.shape) if geo.unbatched else grad_out
        n = grad_y.shape[0]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if geo.uses_canvas:
                grad_y = _to_canvas(grad_y, geo)
            cols = for_array(grad_y).im2col(grad_y, geo.kernel_size, geo.stride,
                                            geo.col_padding, geo.dilation)   # (N, H*W, C_out*kh*kw)
            cols_g = column_blocks(cols.reshape(-1, cols.shape[2]), groups)  # (G, N*H*W, K/G)
            w_g = weight_blocks(weight.reshape(weight.shape[0], -1), groups)
            split = per_image(weight, groups)
            if ctx.needs_input_grad[0]:
                grad_x_rows = rows_matmul(cols_g, w_g.transpose(0, 2, 1), n, split)
                grad_x = rows_to_channels(grad_x_rows, n).reshape(geo.input_shape)
            if ctx.needs_input_grad[1]:
                grad_w = rows_outer(x_rows, cols_g, n, split).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(axis=(0, 2, 3) if grad_out.ndim == 4 else (1, 2))
        return grad_x, grad_w, grad_b


def _from_canvas(canvas, geo):
    """The output window of the uncropped canvas: rows [ph, ph + OH), zeros past its end."""
    xp = get_array_module(canvas)
    (ph, pw), (out_h, out_w) = geo.padding, (geo.out_h, geo.out_w)
    out = xp.zeros(canvas.shape[:2] + (out_h, out_w), dtype=canvas.dtype)
    rows = max(0, min(out_h, canvas.shape[2] - ph))
    cols = max(0, min(out_w, canvas.shape[3] - pw))
    out[:, :, :rows, :cols] = canvas[:, :, ph:ph + rows, pw:pw + cols]
    return out


def _to_canvas(grad_y, geo):
    """The adjoint of ``_from_canvas``: grad_y placed at rows [ph, ...) of a zero canvas."""
    xp = get_array_module(grad_y)
    (ph, pw), (canvas_h, canvas_w) = geo.padding, geo.col_hw
    canvas = xp.zeros(grad_y.shape[:2] + (canvas_h, canvas_w), dtype=grad_y.dtype)
    rows = max(0, min(geo.out_h, canvas_h - ph))
    cols = max(0, min(geo.out_w, canvas_w - pw))
    canvas[:, :, ph:ph + rows, pw:pw + cols] = grad_y[:, :, :rows, :cols]
    return canvas


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution ("deconvolution"): the adjoint of ``conv2d``, used to upsample.

    input  : (N, C_in, H, W), or unbatched (C_in, H, W)
    weight : (C_in, C_out/groups, kH, kW)  (PyTorch's layout: C_in first);  bias: (C_out,)
    output_padding: extra rows/cols on the bottom/right, < max(stride, dilation)
    returns (N, C_out, OH, OW),  OH = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1

    Every input pixel scatters ``x[n, c, i, j] * weight[c, :, :, :]`` onto the output at
    ``(i*stride - padding + u*dilation, j*stride - padding + v*dilation)``. Example::

        >>> x = mc.randn(4, 64, 16, 16); w = mc.randn(64, 32, 4, 4)
        >>> F.conv_transpose2d(x, w, stride=2, padding=1).shape
        (4, 32, 32, 32)
    """
    return ConvTranspose2d.apply(input, weight, bias, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups, dilation=dilation)
