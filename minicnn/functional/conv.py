"""Convolutions: ``conv2d`` and ``conv_transpose2d``, each one im2col and one batched GEMM.

conv2d, with ``cols = im2col(x)`` of shape (N, C_in*kh*kw, OH*OW) and
``W2 = weight.reshape(C_out, C_in*kh*kw)`` (per group: a slice of both axes)::

    forward      out[n]  = W2 @ cols[n] + bias               (N, C_out, OH*OW)
    backward     grad_W  = sum_n grad_out[n] @ cols[n]^T      (reuses the saved cols)
                 grad_x  = col2im(W2^T @ grad_out[n])         (the adjoint of im2col)
                 grad_b  = grad_out summed over n, oh, ow

conv_transpose2d is the adjoint (the transpose) of conv2d: its forward is conv2d's
``grad_x`` formula and the gradient wrt its input is conv2d's forward. The loops that move
data (im2col, col2im) are kernels chosen by ``kernels.backend.for_array``; every matrix
product goes to BLAS through ``matmul``. Argument checks live in ``conv_checks.py``.
"""
from kernels.backend import for_array, get_array_module

from ..autograd.function import Function
from .conv_checks import conv2d_geometry, conv_transpose2d_geometry

__all__ = ["conv2d", "conv_transpose2d"]


# ----- the three GEMMs, with groups as a batch axis ------------------------------------------
# Shapes: weight_g (G, P, Q); data (N, G*Q, L) or (N, G*P, L). ``matmul`` broadcasts weight_g
# over n, so the BLAS sees N*G products of (P x Q) @ (Q x L) and nothing is copied.

def _grouped(array, groups):
    """(N, G*R, L) -> (N, G, R, L), a view."""
    n, rows, length = array.shape
    return array.reshape(n, groups, rows // groups, length)


def _weight_times(weight_g, data):
    """out[n, g] = weight_g[g] @ data[n, g]:  (G, P, Q) x (N, G*Q, L) -> (N, G*P, L)."""
    xp = get_array_module(data)
    groups, rows = weight_g.shape[0], weight_g.shape[1]
    out = xp.matmul(weight_g, _grouped(data, groups))
    return out.reshape(data.shape[0], groups * rows, data.shape[2])


def _weight_t_times(weight_g, data):
    """out[n, g] = weight_g[g]^T @ data[n, g]:  (G, P, Q) x (N, G*P, L) -> (N, G*Q, L)."""
    return _weight_times(weight_g.transpose(0, 2, 1), data)


def _outer_sum(left, right, groups):
    """grad_weight[g] = sum_n left[n, g] @ right[n, g]^T:  (N, G*P, L), (N, G*Q, L) -> (G, P, Q).

    One GEMM per sample, accumulated: the contraction over (n, l) cannot be one GEMM without
    first copying ``right`` (as big as the im2col matrix) into an (L, N)-major layout.
    """
    xp = get_array_module(left)
    left_g, right_g = _grouped(left, groups), _grouped(right, groups)
    right_t = right_g.transpose(0, 1, 3, 2)  # (N, G, L, Q): a view, BLAS reads it transposed
    total = xp.matmul(left_g[0], right_t[0])
    step = xp.empty_like(total)
    for n in range(1, left.shape[0]):
        xp.matmul(left_g[n], right_t[n], out=step)
        total += step
    return total


def _add_bias(out, bias):
    """out (N, C, L) += bias[c], in place on a fresh array."""
    if bias is not None:
        out += bias.reshape(1, -1, 1)
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
        kernels = for_array(x)
        x4 = x.reshape((1,) + x.shape) if geo.unbatched else x
        if geo.extra_h or geo.extra_w:  # asymmetric "same": the extra zeros go bottom/right
            x4 = _pad_bottom_right(x4, geo.extra_h, geo.extra_w)
        if geo.pointwise:  # 1x1 kernel, stride 1, no padding: the columns are the pixels
            cols = x4.reshape(x4.shape[0], x4.shape[1], -1)
        else:
            cols = kernels.im2col(x4, geo.kernel_size, geo.stride, geo.padding, geo.dilation)
        weight_g = weight.reshape(groups, weight.shape[0] // groups, -1)  # (G, C_out/G, C_in/G*kh*kw)
        out = _add_bias(_weight_times(weight_g, cols), bias)              # (N, C_out, OH*OW)
        ctx.geo, ctx.groups, ctx.padded_shape = geo, groups, x4.shape
        ctx.save_for_backward(weight, cols if ctx.needs_input_grad[1] else None)
        out = out.reshape(x4.shape[0], weight.shape[0], geo.out_h, geo.out_w)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, cols = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        n = ctx.padded_shape[0]
        grad = grad_out.reshape(n, weight.shape[0], geo.out_h * geo.out_w)  # (N, C_out, L)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            weight_g = weight.reshape(groups, weight.shape[0] // groups, -1)
            grad_cols = _weight_t_times(weight_g, grad)                         # (N, C_in*kh*kw, L)
            if geo.pointwise:
                grad_x = grad_cols.reshape(ctx.padded_shape)
            else:
                grad_x = for_array(grad_cols).col2im(grad_cols, ctx.padded_shape, geo.kernel_size,
                                                     geo.stride, geo.padding, geo.dilation)
            grad_x = grad_x[:, :, :geo.in_h, :geo.in_w]  # drop the extra "same" zeros, if any
            grad_x = grad_x.reshape(geo.input_shape)
        if ctx.needs_input_grad[1]:
            grad_w = _outer_sum(grad, cols, groups).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
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

    With ``W2 = weight.reshape(C_in, C_out/G*kh*kw)`` (per group)::

        forward     y       = col2im(W2^T @ x[n]) + bias
        backward    cols    = im2col(grad_y)
                    grad_x  = W2 @ cols[n]                (= conv2d(grad_y, weight))
                    grad_W  = sum_n x[n] @ cols[n]^T
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, groups, dilation):
        geo = conv_transpose2d_geometry(x, weight, bias, stride, padding, output_padding,
                                        groups, dilation)
        x4 = x.reshape((1,) + x.shape) if geo.unbatched else x
        n = x4.shape[0]
        x3 = x4.reshape(n, x4.shape[1], -1)                                  # (N, C_in, H*W)
        weight_g = weight.reshape(groups, weight.shape[0] // groups, -1)  # (G, C_in/G, C_out/G*kh*kw)
        cols = _weight_t_times(weight_g, x3)                                 # (N, C_out*kh*kw, H*W)
        out = for_array(cols).col2im(cols, (n, geo.c_out) + geo.col_hw, geo.kernel_size,
                                     geo.stride, geo.col_padding, geo.dilation)
        if geo.uses_canvas:  # output_padding >= stride: crop/extend the uncropped canvas
            out = _from_canvas(out, geo)
        out = _add_bias(out.reshape(n, geo.c_out, -1), bias)
        ctx.geo, ctx.groups = geo, groups
        ctx.save_for_backward(weight, x3 if ctx.needs_input_grad[1] else None)
        out = out.reshape(n, geo.c_out, geo.out_h, geo.out_w)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, x3 = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        grad_y = grad_out.reshape((1,) + grad_out.shape) if geo.unbatched else grad_out
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if geo.uses_canvas:
                grad_y = _to_canvas(grad_y, geo)
            cols = for_array(grad_y).im2col(grad_y, geo.kernel_size, geo.stride,
                                            geo.col_padding, geo.dilation)   # (N, C_out*kh*kw, H*W)
            if ctx.needs_input_grad[0]:
                weight_g = weight.reshape(groups, weight.shape[0] // groups, -1)
                grad_x = _weight_times(weight_g, cols).reshape(geo.input_shape)
            if ctx.needs_input_grad[1]:
                grad_w = _outer_sum(x3, cols, groups).reshape(weight.shape)
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
