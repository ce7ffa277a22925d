"""Convolutions: ``conv2d`` and ``conv_transpose2d``, as im2col / col2im plus matrix products.

conv2d, with ``cols = im2col(x)`` of shape (N, C_in*kh*kw, OH*OW) and
``W2 = weight.reshape(C_out, C_in/G*kh*kw)`` (per group G: a block of rows of both)::

    forward      out[n]  = W2 @ cols[n] + bias               (N, C_out, OH*OW)
    backward     grad_W  = sum_n grad_out[n] @ cols[n]^T      (the cols saved by forward)
                 grad_x  = col2im(W2^T @ grad_out[n])         (col2im is im2col's adjoint)
                 grad_b  = grad_out summed over n, oh, ow

conv_transpose2d is the adjoint (the transpose) of conv2d: its forward is conv2d's
``grad_x`` formula and the gradient wrt its input is conv2d's forward. The loops that move
data (im2col, col2im) are kernels chosen by ``kernels.backend.for_array`` (NumPy, Numba or
CUDA); every matrix product goes to BLAS through ``matmul``, in one of two layouts (see
"the GEMMs" below). Argument checks and output sizes live in ``conv_checks.py``.
"""
from kernels.backend import for_array, get_array_module

from ..autograd.function import Function
from .conv_checks import conv2d_geometry, conv_transpose2d_geometry

__all__ = ["conv2d", "conv_transpose2d"]


# ----- the GEMMs ------------------------------------------------------------------------------
# Groups are a batch axis of ``matmul``: a (G*P, Q) matrix is viewed as G blocks (G, P, Q).
# The images of the batch are handled in one of two layouts (``use_folded_layout``):
#  * per image: cols (N, K, L) as im2col returns it; ``matmul`` broadcasts the weight over n,
#    so BLAS runs N*G products of (P x K) @ (K x L), and nothing is copied;
#  * folded: cols copied once to (K, N*L), the batch beside the pixels, so each product is
#    ONE GEMM per group, and grad_weight contracts over all N*L columns at once.
# Small weights (first layers, depthwise) make memory-bound products: the per-image layout
# saves the copies. Large weights make compute-bound products: one big GEMM keeps BLAS near
# its peak and synchronises its threads once instead of N times (measured on 2 cores, this
# matters most on a busy machine, where N multi-threaded calls can be 5x slower).

FOLD_FROM = 4096  # fold the batch when a group's weight matrix has at least this many entries


def use_folded_layout(weight, groups):
    """True for the folded layout: weight (C_out, C_in/G, kh, kw) has >= FOLD_FROM entries per group."""
    return weight.size // groups >= FOLD_FROM


def _blocks(matrix, groups, transpose=False):
    """(G*P, Q) -> (G, P, Q), or its per-block transpose (G, Q, P): views, no copy."""
    blocks = matrix.reshape(groups, matrix.shape[0] // groups, matrix.shape[1])
    return blocks.transpose(0, 2, 1) if transpose else blocks


def per_image_matmul(weight_2d, data, groups, transpose=False):
    """out[n] = W @ data[n] per group, W = weight_2d or its transpose (per block).

    weight_2d (G*P, Q); data (N, G*Q, L) (or (N, G*P, L) with ``transpose``) -> (N, G*P', L).
    """
    xp = get_array_module(data)
    n, rows, length = data.shape
    out = xp.matmul(_blocks(weight_2d, groups, transpose),
                    data.reshape(n, groups, rows // groups, length))
    return out.reshape(n, -1, length)


def per_image_outer_sum(left, right, groups):
    """sum_n left[n] @ right[n]^T per group: (N, G*P, L), (N, G*Q, L) -> (G*P, Q).

    One GEMM per image, accumulated (BLAS reads right[n]^T as a transposed view).
    """
    xp = get_array_module(left)
    n = left.shape[0]
    left_g = left.reshape(n, groups, left.shape[1] // groups, -1)
    right_t = right.reshape(n, groups, right.shape[1] // groups, -1).transpose(0, 1, 3, 2)
    total = xp.matmul(left_g[0], right_t[0])
    step = xp.empty_like(total)
    for image in range(1, n):
        xp.matmul(left_g[image], right_t[image], out=step)
        total += step
    return total.reshape(-1, total.shape[2])


def fold_batch(array):
    """(N, R, L) -> (R, N*L), C-contiguous: out[r, n*L + l] = array[n, r, l]."""
    xp = get_array_module(array)
    n, rows, length = array.shape
    return xp.ascontiguousarray(array.transpose(1, 0, 2)).reshape(rows, n * length)


def unfold_batch(array, n):
    """(R, N*L) -> (N, R, L), C-contiguous: the inverse of ``fold_batch``."""
    xp = get_array_module(array)
    return xp.ascontiguousarray(array.reshape(array.shape[0], n, -1).transpose(1, 0, 2))


def folded_matmul(a, b, groups, transpose_a=False, transpose_b=False):
    """Per group: op(a_g) @ op(b_g) for (G*rows, cols) matrices; returns (G*rows', cols')."""
    xp = get_array_module(a)
    out = xp.matmul(_blocks(a, groups, transpose_a), _blocks(b, groups, transpose_b))
    return out.reshape(-1, out.shape[2])


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
        if geo.pointwise:  # 1x1 kernel, stride 1, no padding: the columns are the pixels
            cols = x4.reshape(n, x4.shape[1], -1)
        else:
            cols = for_array(x4).im2col(x4, geo.kernel_size, geo.stride, geo.padding, geo.dilation)
        weight_2d = weight.reshape(weight.shape[0], -1)         # (C_out, C_in/G*kh*kw)
        folded = use_folded_layout(weight, groups)
        if folded:
            cols = fold_batch(cols)                             # (C_in*kh*kw, N*L)
            out = unfold_batch(_add_bias(folded_matmul(weight_2d, cols, groups), bias, 0), n)
        else:                                                   # cols (N, C_in*kh*kw, L)
            out = _add_bias(per_image_matmul(weight_2d, cols, groups), bias, 1)
        ctx.geo, ctx.groups, ctx.padded_shape, ctx.folded = geo, groups, x4.shape, folded
        ctx.save_for_backward(weight, cols if ctx.needs_input_grad[1] else None)
        out = out.reshape(n, weight.shape[0], geo.out_h, geo.out_w)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, cols = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        n = ctx.padded_shape[0]
        grad = grad_out.reshape(n, weight.shape[0], geo.out_h * geo.out_w)  # (N, C_out, L)
        weight_2d = weight.reshape(weight.shape[0], -1)
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = grad_w = grad_b = grad_cols = None
        if ctx.folded:                                                   # cols (C_in*kh*kw, N*L)
            grad_rows = fold_batch(grad)                                 # (C_out, N*L)
            if need_x:
                grad_cols_rows = folded_matmul(weight_2d, grad_rows, groups, transpose_a=True)
                grad_cols = unfold_batch(grad_cols_rows, n)
            if need_w:
                grad_w = folded_matmul(grad_rows, cols, groups, transpose_b=True)
        else:                                                            # cols (N, C_in*kh*kw, L)
            if need_x:
                grad_cols = per_image_matmul(weight_2d, grad, groups, transpose=True)
            if need_w:
                grad_w = per_image_outer_sum(grad, cols, groups)
        if need_x:                                                       # grad_cols (N, C_in*kh*kw, L)
            if geo.pointwise:
                grad_x = grad_cols.reshape(ctx.padded_shape)
            else:
                grad_x = for_array(grad_cols).col2im(grad_cols, ctx.padded_shape, geo.kernel_size,
                                                     geo.stride, geo.padding, geo.dilation)
            grad_x = grad_x[:, :, :geo.in_h, :geo.in_w]  # drop the extra "same" zeros, if any
            grad_x = grad_x.reshape(geo.input_shape)
        if need_w:
            grad_w = grad_w.reshape(weight.shape)
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
        x3 = x4.reshape(n, x4.shape[1], -1)                               # (N, C_in, H*W)
        weight_2d = weight.reshape(weight.shape[0], -1)                   # (C_in, C_out/G*kh*kw)
        folded = use_folded_layout(weight, groups)
        if folded:
            x3 = fold_batch(x3)                                           # (C_in, N*H*W)
            cols = unfold_batch(folded_matmul(weight_2d, x3, groups, transpose_a=True), n)
        else:
            cols = per_image_matmul(weight_2d, x3, groups, transpose=True)
        out = for_array(cols).col2im(cols, (n, geo.c_out) + geo.col_hw, geo.kernel_size,
                                     geo.stride, geo.col_padding, geo.dilation)
        del cols                                                          # (N, C_out*kh*kw, H*W)
        if geo.uses_canvas:  # output_padding >= stride: crop/extend the uncropped canvas
            out = _from_canvas(out, geo)
        out = _add_bias(out, bias, 1)
        ctx.geo, ctx.groups, ctx.folded = geo, groups, folded
        ctx.save_for_backward(weight, x3 if ctx.needs_input_grad[1] else None)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, x3 = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        grad_y = grad_out.reshape((1,) + grad_out.shape) if geo.unbatched else grad_out
        n = grad_y.shape[0]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if geo.uses_canvas:
                grad_y = _to_canvas(grad_y, geo)
            cols = for_array(grad_y).im2col(grad_y, geo.kernel_size, geo.stride,
                                            geo.col_padding, geo.dilation)   # (N, C_out*kh*kw, H*W)
            weight_2d = weight.reshape(weight.shape[0], -1)
            if ctx.folded:                                                   # x3 is (C_in, N*H*W)
                cols = fold_batch(cols)                                      # (C_out*kh*kw, N*H*W)
                if ctx.needs_input_grad[0]:
                    grad_x = unfold_batch(folded_matmul(weight_2d, cols, groups), n)
                if ctx.needs_input_grad[1]:
                    grad_w = folded_matmul(x3, cols, groups, transpose_b=True)
            else:                                                            # x3 is (N, C_in, H*W)
                if ctx.needs_input_grad[0]:
                    grad_x = per_image_matmul(weight_2d, cols, groups)
                if ctx.needs_input_grad[1]:
                    grad_w = per_image_outer_sum(x3, cols, groups)
            grad_x = None if grad_x is None else grad_x.reshape(geo.input_shape)
            grad_w = None if grad_w is None else grad_w.reshape(weight.shape)
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
