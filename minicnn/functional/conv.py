"""Convolutions: ``conv2d`` and ``conv_transpose2d``, as im2col / col2im plus matrix products.

conv2d, with ``cols = im2col(x)`` of shape (N, C_in*kh*kw, OH*OW) and
``W2 = weight.reshape(C_out, C_in/G*kh*kw)`` (per group G: a block of rows of both)::

    forward      out[n]  = W2 @ cols[n] + bias               (N, C_out, OH*OW)
    backward     grad_W  = sum_n grad_out[n] @ cols[n]^T      (cols recomputed from x)
                 grad_x  = col2im(W2^T @ grad_out[n])         (col2im is im2col's adjoint)
                 grad_b  = grad_out summed over n, oh, ow

conv_transpose2d is the adjoint (the transpose) of conv2d: its forward is conv2d's
``grad_x`` formula and the gradient wrt its input is conv2d's forward. The loops that move
data (im2col, col2im) are kernels chosen by ``kernels.backend.for_array`` (NumPy, Numba or
CUDA); every matrix product goes to BLAS through ``matmul``. Argument checks and output
sizes live in ``conv_checks.py``.

The batch is processed in chunks (``batch_chunks``): the column matrix of a whole batch is
9x the input for a 3x3 kernel (75 MB for a ResNet-20 layer at batch 128), and writing and
re-reading that from main memory cost more than the GEMMs. A chunk's columns (about
``CHUNK_BYTES``) stay in the CPU's cache from im2col to the GEMM that reads them. The
backward recomputes each chunk's columns from the saved input (a cheap copy in cache
instead of a batch-sized array held in memory). Outputs and the chunks' column arrays come
from ``kernels.cpu.memory``, which reuses memory from call to call (fresh arrays cost page
faults). On the GPU
the whole batch is one chunk (its memory is large and every call costs a launch).
"""
import numpy as np

from kernels.backend import for_array, get_array_module
from kernels.cpu import map_chunks, memory

from ..autograd.function import Function
from . import winograd
from .conv_checks import conv2d_geometry, conv_transpose2d_geometry

__all__ = ["conv2d", "conv_transpose2d"]

CHUNK_BYTES = 3 << 19  # 1.5 MiB of columns per chunk: measured best on 2 cores with 2 MB of L2 each
POOL_FROM_CHUNKS = 2  # any convolution of 2+ chunks goes to the pool (threads.py)


def batch_chunks(xp, n, bytes_per_image):
    """Slices of ``range(n)`` whose column matrices take about CHUNK_BYTES (one slice on a GPU)."""
    if xp is not np:
        return [slice(0, n)]
    step = max(1, int(CHUNK_BYTES // max(1, bytes_per_image)))
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def chunk_runner(xp, n):
    """``run(function, bytes_per_image)``: ``function(part)`` for each of ``batch_chunks``'s
    slices of a batch of ``n`` (on the thread pool when there are threads and chunks enough)."""
    def run(function, bytes_per_image):
        return map_chunks(function, batch_chunks(xp, n, bytes_per_image), POOL_FROM_CHUNKS)
    return run


# ----- the GEMMs ------------------------------------------------------------------------------
# Groups are a batch axis of ``matmul``: a (G*P, Q) matrix is viewed as G blocks (G, P, Q), and
# the images of a chunk broadcast against them, so BLAS runs one (P x K) @ (K x L) product per
# image and group, reading the columns where im2col wrote them and writing the output in place.

def _blocks(matrix, groups, transpose=False):
    """(G*P, Q) -> (G, P, Q), or its per-block transpose (G, Q, P): views, no copy."""
    blocks = matrix.reshape(groups, matrix.shape[0] // groups, matrix.shape[1])
    return blocks.transpose(0, 2, 1) if transpose else blocks


def per_image_matmul(weight_2d, data, groups, transpose=False, out=None):
    """out[n] = W @ data[n] per group, W = weight_2d or its transpose (per block).

    weight_2d (G*P, Q); data (N, G*Q, L) (or (N, G*P, L) with ``transpose``) -> (N, G*P', L),
    written into ``out`` when given (a C-contiguous array of that shape).
    """
    xp = get_array_module(data)
    n, rows, length = data.shape
    blocks = _blocks(weight_2d, groups, transpose)
    out4 = None if out is None else out.reshape(n, groups, blocks.shape[1], length)
    result = xp.matmul(blocks, data.reshape(n, groups, rows // groups, length), out=out4)
    return result.reshape(n, -1, length)


def per_image_outer_sum(left, right, groups):
    """sum_n left[n] @ right[n]^T per group: (N, G*P, L), (N, G*Q, L) -> (G*P, Q).

    Computed as the transpose of sum_n right[n] @ left[n]^T: with the larger operand (the
    columns) as BLAS's untransposed left factor this ran 1.3-2x faster (OpenBLAS, 1 thread).
    """
    xp = get_array_module(left)
    n = left.shape[0]
    left_t = left.reshape(n, groups, left.shape[1] // groups, -1).transpose(0, 1, 3, 2)
    right_g = right.reshape(n, groups, right.shape[1] // groups, -1)
    total_t = xp.matmul(right_g, left_t).sum(axis=0)  # (G, Q, P)
    return total_t.transpose(0, 2, 1).reshape(-1, total_t.shape[1])


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
        xp = get_array_module(x4)
        n, length = x4.shape[0], geo.out_h * geo.out_w
        ctx.geo, ctx.groups = geo, groups
        ctx.save_for_backward(weight, x4 if ctx.needs_input_grad[1] else None)
        ctx.winograd = winograd.applies(geo, groups, x4, weight.shape[0])
        if ctx.winograd:  # 3x3, stride 1: see winograd.py
            out = winograd.conv2d_forward(x4, weight, geo, chunk_runner(xp, n))
            out = _add_bias(out, bias, 1)
            return out[0] if geo.unbatched else out
        weight_2d = weight.reshape(weight.shape[0], -1)               # (C_out, C_in/G*kh*kw)
        out = _empty(xp, (n, weight.shape[0], length), x4.dtype)

        cols_bytes = x4.shape[1] * weight[0, 0].size * length * x4.itemsize  # one image's

        def forward_chunk(part):
            cols = _columns(x4[part], geo)
            per_image_matmul(weight_2d, cols, groups, out=out[part])
        ctx.cols_bytes = cols_bytes  # the backward cuts the batch into the same chunks
        chunk_runner(xp, n)(forward_chunk, cols_bytes)
        _add_bias(out, bias, 1)
        out = out.reshape(n, weight.shape[0], geo.out_h, geo.out_w)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, x4 = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        xp = get_array_module(grad_out)
        n = grad_out.size // (weight.shape[0] * geo.out_h * geo.out_w)
        grad = xp.ascontiguousarray(grad_out).reshape(n, weight.shape[0], -1)  # (N, C_out, L)
        weight_2d = weight.reshape(weight.shape[0], -1)
        need_x, need_w, need_b = ctx.needs_input_grad
        if ctx.winograd:
            grad4 = grad.reshape(n, weight.shape[0], geo.out_h, geo.out_w)
            grad_x, grad_w = winograd.conv2d_backward(grad4, x4, weight, geo, need_x, need_w,
                                                      chunk_runner(xp, n))
            grad_b = grad.sum(axis=(0, 2)) if need_b else None
            return (grad_x.reshape(geo.input_shape) if need_x else None), grad_w, grad_b
        padded_shape = (n, geo.input_shape[-3], geo.in_h + geo.extra_h, geo.in_w + geo.extra_w)
        grad_x = _empty(xp, padded_shape, grad.dtype) if need_x else None
        grad_w = grad_b = None

        def backward_chunk(part):
            """Writes the chunk's grad_x; returns its share of grad_w."""
            grad_w_part = None
            if need_w:                                   # the chunk's columns, recomputed
                cols = _columns(x4[part], geo)
                grad_w_part = per_image_outer_sum(grad[part], cols, groups)
                del cols  # its memory, still in cache, is free for grad_cols
            if need_x:                                   # grad_cols (chunk, C_in*kh*kw, L)
                grad_cols = per_image_matmul(weight_2d, grad[part], groups, transpose=True,
                                             out=_column_rows(grad[part], weight_2d.shape[1] * groups))
                _columns_adjoint(grad_cols, geo, out=grad_x[part])
            return grad_w_part
        if need_x or need_w:
            grad_w_parts = chunk_runner(xp, n)(backward_chunk, ctx.cols_bytes)
            grad_w = sum(grad_w_parts[1:], grad_w_parts[0]) if need_w else None
        if need_x:
            grad_x = grad_x[:, :, :geo.in_h, :geo.in_w]  # drop the extra "same" zeros, if any
            grad_x = grad_x.reshape(geo.input_shape)
        if need_w:
            grad_w = grad_w.reshape(weight.shape)
        if need_b:
            grad_b = grad.sum(axis=(0, 2))
        return grad_x, grad_w, grad_b


def _columns(x4, geo):
    """im2col of a (padded) chunk (n, C, H, W) -> (n, C*kh*kw, OH*OW), into reused memory;
    for a 1x1 kernel the columns are the pixels themselves (a view, no copy)."""
    if geo.pointwise:  # 1x1 kernel, stride 1, no padding
        return x4.reshape(x4.shape[0], x4.shape[1], -1)
    kh, kw = geo.kernel_size
    shape = (x4.shape[0], x4.shape[1] * kh * kw, geo.out_h * geo.out_w)
    return for_array(x4).im2col(x4, geo.kernel_size, geo.stride, geo.padding, geo.dilation,
                                out=_take(x4, shape))


def _columns_adjoint(cols, geo, out):
    """col2im of a chunk's columns into ``out`` (n, C, H, W): the adjoint of ``_columns``."""
    if geo.pointwise:
        out[...] = cols.reshape(out.shape)
        return out
    return for_array(cols).col2im(cols, out.shape, geo.kernel_size, geo.stride, geo.padding,
                                  geo.dilation, out=out)


def _empty(xp, shape, dtype):
    """An output array: ``memory.empty`` for NumPy (reused memory), ``cupy.empty`` on a GPU."""
    return memory.empty(shape, dtype) if xp is np else xp.empty(shape, dtype=dtype)


def _take(like, shape):
    """An array of ``shape`` in ``like``'s dtype, on ``like``'s device."""
    return _empty(get_array_module(like), shape, like.dtype)


def _column_rows(chunk, rows):
    """Columns (n, rows, L) for a chunk (n, C, L) of the batch."""
    return _take(chunk, (chunk.shape[0], rows, chunk.shape[2]))


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
        xp = get_array_module(x4)
        n = x4.shape[0]
        x3 = xp.ascontiguousarray(x4).reshape(n, x4.shape[1], -1)        # (N, C_in, H*W)
        weight_2d = weight.reshape(weight.shape[0], -1)                   # (C_in, C_out/G*kh*kw)
        canvas = _empty(xp, (n, geo.c_out) + geo.col_hw, x3.dtype)

        def forward_chunk(part):
            cols = per_image_matmul(weight_2d, x3[part], groups, transpose=True,
                                    out=_column_rows(x3[part], weight_2d.shape[1] * groups))
            for_array(cols).col2im(cols, canvas[part].shape, geo.kernel_size, geo.stride,
                                   geo.col_padding, geo.dilation, out=canvas[part])
        chunk_runner(xp, n)(forward_chunk, weight_2d.shape[1] * groups * x3.shape[2] * x3.itemsize)
        # output_padding >= stride: the output is a crop/extension of the canvas
        out = _add_bias(_from_canvas(canvas, geo) if geo.uses_canvas else canvas, bias, 1)
        ctx.geo, ctx.groups = geo, groups
        ctx.save_for_backward(weight, x3 if ctx.needs_input_grad[1] else None)
        return out[0] if geo.unbatched else out

    @staticmethod
    def backward(ctx, grad_out):
        weight, x3 = ctx.saved_tensors
        geo, groups = ctx.geo, ctx.groups
        grad_y = grad_out.reshape((1,) + grad_out.shape) if geo.unbatched else grad_out
        xp = get_array_module(grad_y)
        n = grad_y.shape[0]
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = grad_w = grad_b = None
        if need_x or need_w:
            if geo.uses_canvas:
                grad_y = _to_canvas(grad_y, geo)
            weight_2d = weight.reshape(weight.shape[0], -1)
            length = geo.input_shape[-1] * geo.input_shape[-2]
            if need_x:
                grad_x = _empty(xp, (n, weight.shape[0], length), grad_y.dtype)

            def backward_chunk(part):
                """Writes the chunk's grad_x; returns its share of grad_w."""
                chunk = grad_y[part]                                    # (n, C_out*kh*kw, H*W):
                cols = for_array(chunk).im2col(chunk, geo.kernel_size, geo.stride, geo.col_padding,
                                               geo.dilation, out=_take(chunk, (
                                                   chunk.shape[0], weight_2d.shape[1] * groups, length)))
                if need_x:
                    per_image_matmul(weight_2d, cols, groups, out=grad_x[part])
                return per_image_outer_sum(x3[part], cols, groups) if need_w else None
            grad_w_parts = chunk_runner(xp, n)(backward_chunk,
                                               weight_2d.shape[1] * groups * length * grad_y.itemsize)
            grad_w = sum(grad_w_parts[1:], grad_w_parts[0]) if need_w else None
            grad_x = None if grad_x is None else grad_x.reshape(geo.input_shape)
            grad_w = None if grad_w is None else grad_w.reshape(weight.shape)
        if need_b:
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
