"""Pooling: ``max_pool2d``, ``max_unpool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d``,
``adaptive_max_pool2d`` -- PyTorch's names, arguments, defaults and semantics.

Inputs are ``(N, C, H, W)`` (or unbatched ``(C, H, W)``). The window loops live in the
kernels (``kernels.backend.for_array(x)`` picks NumPy, Numba or CUDA); this file checks
the arguments, records the op for autograd and says in words what went wrong.

Output size along one axis (PyTorch's rule, ``kernels.shapes.pool_output_size``):
    out = floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1   (ceil with ceil_mode)
"""
import numpy as np

from kernels.backend import for_array, get_array_module
from kernels.shapes import pair, pool_output_size

from ..autograd.function import Function
from ..autograd.ops import reshape
from ..autograd.tensor import Tensor

__all__ = ["max_pool2d", "max_unpool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d"]


# ----------------------------------------------------------------------------- checks

def _check_input(op, input):
    """A float Tensor of shape (N, C, H, W) or (C, H, W); returns True when batched."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a minicnn Tensor as input, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D input (C, H, W), "
                         f"got shape {input.shape}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected a float32 or float64 input, got {input.dtype}")
    if min(input.shape[-2:]) < 1:
        raise ValueError(f"{op}: input height and width must be >= 1, got shape {input.shape}")
    return input.ndim == 4


def _batched(input, batched):
    """(C, H, W) -> (1, C, H, W) so the kernels always see 4-D."""
    return input if batched else reshape(input, (1,) + input.shape)


def _unbatched(output, batched):
    return output if batched else reshape(output, output.shape[1:])


def _window_pairs(op, kernel_size, stride, padding, dilation=1):
    """Normalise to (h, w) pairs; stride None (or []) means stride = kernel_size."""
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else pair(stride, "stride")
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    for name, value, low in (("kernel_size", kernel, 1), ("stride", stride, 1),
                             ("padding", padding, 0), ("dilation", dilation, 1)):
        if min(value) < low:
            raise ValueError(f"{op}: {name} must be >= {low}, got {name}={value}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half of kernel_size, got "
                         f"padding={padding} for kernel_size={kernel}")
    return kernel, stride, padding, dilation


def _output_size(op, input_shape, kernel, stride, padding, dilation, ceil_mode):
    """(OH, OW) of the pooling, or a ValueError that shows the formula with the numbers."""
    sizes = []
    for axis, name in ((0, "height"), (1, "width")):
        size = input_shape[2 + axis]
        out = pool_output_size(size, kernel[axis], stride[axis], padding[axis],
                               dilation[axis], ceil_mode)
        if out < 1:
            rounding = "ceil" if ceil_mode else "floor"
            raise ValueError(
                f"{op}: the window is larger than the padded input (shape {tuple(input_shape)}): "
                f"output {name} = {rounding}((size + 2*padding - dilation*(kernel_size-1) - 1) "
                f"/ stride) + 1 = {rounding}(({size} + 2*{padding[axis]} - {dilation[axis]}*"
                f"({kernel[axis]}-1) - 1) / {stride[axis]}) + 1 = {out}, but it must be >= 1")
        sizes.append(out)
    return tuple(sizes)


# ----------------------------------------------------------------------------- max-pool

class MaxPool2d(Function):
    """out = max over each window (N, C, OH, OW), with the flat index h*W + w of the winner;
    d input = each output gradient added to the element its window chose (ties: the first)."""
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        out, indices = for_array(x).maxpool2d_forward(x, kernel_size, stride, padding,
                                                      dilation, ceil_mode)
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape
        return out, indices

    @staticmethod
    def backward(ctx, grad_out):
        (indices,) = ctx.saved_tensors
        return for_array(grad_out).maxpool2d_backward(grad_out, indices, ctx.input_shape)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over ``kernel_size`` windows: (N, C, H, W) -> (N, C, OH, OW).

    Padding counts as -inf (never chosen). With ``return_indices`` also returns the int64
    indices ``h*W + w`` of the chosen elements within each (H, W) plane, as PyTorch, for
    ``max_unpool2d``.

    >>> x = mc.arange(16.).reshape(1, 1, 4, 4)
    >>> F.max_pool2d(x, 2)                      # tensor([[[[ 5.,  7.], [13., 15.]]]])
    """
    op = "max_pool2d"
    batched = _check_input(op, input)
    kernel, stride, padding, dilation = _window_pairs(op, kernel_size, stride, padding, dilation)
    x = _batched(input, batched)
    _output_size(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    out, indices = MaxPool2d.apply(x, kernel, stride, padding, dilation, bool(ceil_mode))
    out = _unbatched(out, batched)
    if not return_indices:
        return out
    return out, Tensor(indices.data if batched else indices.data[0])


# ----------------------------------------------------------------------------- max-unpool

class MaxUnpool2d(Function):
    """out (N, C, OH, OW) = zeros with out.plane[indices] = x ("bed of nails");
    d x = d out gathered at the same indices."""
    @staticmethod
    def forward(ctx, x, indices, output_size):
        ctx.save_for_backward(indices)
        return for_array(x).maxunpool2d(x, indices, output_size)

    @staticmethod
    def backward(ctx, grad_out):
        (indices,) = ctx.saved_tensors
        return for_array(grad_out).maxunpool2d_backward(grad_out, indices), None


def _unpool_output_size(op, input_shape, kernel, stride, padding, output_size):
    """PyTorch's rule: default (in - 1)*stride - 2*padding + kernel per axis; a given
    ``output_size`` ((H, W) or a full shape) must lie strictly within default +- stride."""
    default = tuple((input_shape[2 + a] - 1) * stride[a] - 2 * padding[a] + kernel[a]
                    for a in range(2))
    if output_size is None:
        size = default
    else:
        size = tuple(int(s) for s in output_size)
        if len(size) in (3, 4):                 # a full shape: keep (H, W)
            size = size[-2:]
        if len(size) != 2:
            raise ValueError(f"{op}: output_size must be (H, W) or a full (N, C, H, W) shape, "
                             f"got {tuple(output_size)}")
        for axis in range(2):
            low, high = default[axis] - stride[axis], default[axis] + stride[axis]
            if not low < size[axis] < high:
                raise ValueError(f"{op}: invalid output_size {size}: dim {axis} must be between "
                                 f"{low} and {high} (exclusive) for input shape "
                                 f"{tuple(input_shape)}, kernel_size={kernel}, stride={stride}, "
                                 f"padding={padding}")
    if min(size) < 1:
        raise ValueError(f"{op}: output size {size} must be positive (input shape "
                         f"{tuple(input_shape)}, kernel_size={kernel}, stride={stride}, "
                         f"padding={padding})")
    return size


def _check_indices_fit(op, indices, plane_size, out_h, out_w):
    """Every index must be a position of an (out_h, out_w) plane: 0 <= index < out_h*out_w."""
    if indices.size == 0 or (int(indices.min()) >= 0 and int(indices.max()) < plane_size):
        return                                   # two reductions, no temporary arrays
    xp = get_array_module(indices)
    bad = (indices < 0) | (indices >= plane_size)
    count = int(bad.sum())
    if count:
        position = tuple(int(i) for i in xp.argwhere(bad)[0])
        value = int(indices[position])
        raise ValueError(f"{op}: index {value} at position {position} does not fit an output "
                         f"plane of size {out_h}x{out_w} = {plane_size} (valid indices are 0 to "
                         f"{plane_size - 1}; {count} of {indices.size} indices are out of range). "
                         "Pass the output_size that max_pool2d's input had.")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool2d``: every value goes back to the position its index
    names, zeros elsewhere. (N, C, h, w) -> (N, C, OH, OW).

    OH = (h - 1)*stride - 2*padding + kernel_size unless ``output_size`` says otherwise
    (needed when the pooled input had an odd size).
    """
    op = "max_unpool2d"
    batched = _check_input(op, input)
    index_array = indices.data if isinstance(indices, Tensor) else indices
    if not hasattr(index_array, "dtype") or not np.issubdtype(index_array.dtype, np.integer):
        raise TypeError(f"{op}: indices must be an integer tensor (from max_pool2d with "
                        f"return_indices=True), got {getattr(index_array, 'dtype', type(indices))}")
    if tuple(index_array.shape) != input.shape:
        raise ValueError(f"{op}: indices must have the shape of the input {input.shape}, "
                         f"got {tuple(index_array.shape)}")
    kernel, stride, padding, _ = _window_pairs(op, kernel_size, stride, padding)
    x = _batched(input, batched)
    index_array = index_array if batched else index_array[None]
    out_h, out_w = _unpool_output_size(op, x.shape, kernel, stride, padding, output_size)
    _check_indices_fit(op, index_array, out_h * out_w, out_h, out_w)
    out = MaxUnpool2d.apply(x, Tensor(index_array.astype(np.int64, copy=False)), (out_h, out_w))
    return _unbatched(out, batched)


# ----------------------------------------------------------------------------- average pool

class AvgPool2d(Function):
    """out = sum over each window / divisor (PyTorch's divisor rule, see docs/kernels.md);
    d input = each output gradient / divisor, added to every pixel of its window."""
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        ctx.input_shape = x.shape
        ctx.params = (kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
        return for_array(x).avgpool2d_forward(x, *ctx.params)

    @staticmethod
    def backward(ctx, grad_out):
        return for_array(grad_out).avgpool2d_backward(grad_out, ctx.input_shape, *ctx.params)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over ``kernel_size`` windows: (N, C, H, W) -> (N, C, OH, OW).

    Zero padding; the divisor is ``divisor_override`` if given, else the window's size
    counting padding (``count_include_pad=True``) or only real pixels.
    """
    op = "avg_pool2d"
    batched = _check_input(op, input)
    kernel, stride, padding, _ = _window_pairs(op, kernel_size, stride, padding)
    if divisor_override is not None and int(divisor_override) <= 0:
        raise ValueError(f"{op}: divisor_override must be a positive int, got {divisor_override}")
    x = _batched(input, batched)
    _output_size(op, x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    divisor = None if divisor_override is None else int(divisor_override)
    out = AvgPool2d.apply(x, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad),
                          divisor)
    return _unbatched(out, batched)


# ----------------------------------------------------------------------------- adaptive pools

def _adaptive_output_size(op, input_shape, output_size):
    """An int or an (OH, OW) pair; None in it keeps that input size."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
        sizes = tuple(input_shape[2 + a] if output_size[a] is None else int(output_size[a])
                      for a in range(2))
    else:
        sizes = (int(output_size), int(output_size))
    if min(sizes) < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return sizes


def _adaptive_windows(in_size, out_size):
    """Window i covers [floor(i*in/out), ceil((i+1)*in/out)), PyTorch's rule."""
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size))
            for i in range(out_size)]


def _averaging_matrix(xp, in_size, out_size, dtype):
    """A (out, in) matrix whose row i averages window i: A[i, start:end] = 1/(end - start)."""
    matrix = np.zeros((out_size, in_size))
    for i, (start, end) in enumerate(_adaptive_windows(in_size, out_size)):
        matrix[i, start:end] = 1.0 / (end - start)
    return xp.asarray(matrix.astype(dtype))


class AdaptiveAvgPool2d(Function):
    """Averages over windows are separable: out = A_h @ x @ A_w^T per (n, c) plane, with the
    averaging matrices A_h (OH, H), A_w (OW, W);  d x = A_h^T @ d out @ A_w."""
    @staticmethod
    def forward(ctx, x, output_size):
        xp = get_array_module(x)
        height, width = x.shape[2:]
        ctx.global_mean = output_size == (1, 1)
        if ctx.global_mean:                        # fast path: the mean of each plane
            ctx.input_shape = x.shape
            return x.mean(axis=(2, 3), keepdims=True)
        rows = _averaging_matrix(xp, height, output_size[0], x.dtype)     # (OH, H)
        cols = _averaging_matrix(xp, width, output_size[1], x.dtype)      # (OW, W)
        ctx.save_for_backward(rows, cols)
        return xp.matmul(xp.matmul(rows, x), cols.T)

    @staticmethod
    def backward(ctx, grad_out):
        xp = get_array_module(grad_out)
        if ctx.global_mean:                        # every pixel gets grad / (H*W)
            n, c, height, width = ctx.input_shape
            share = grad_out / grad_out.dtype.type(height * width)
            return xp.broadcast_to(share, ctx.input_shape).copy()
        rows, cols = ctx.saved_tensors
        return xp.matmul(xp.matmul(rows.T, grad_out), cols)


def adaptive_avg_pool2d(input, output_size):
    """Average-pool to a fixed ``output_size`` whatever the input size: (N, C, H, W) ->
    (N, C, OH, OW); output 1 is the global average pool of ResNet's head."""
    op = "adaptive_avg_pool2d"
    batched = _check_input(op, input)
    x = _batched(input, batched)
    out = AdaptiveAvgPool2d.apply(x, _adaptive_output_size(op, x.shape, output_size))
    return _unbatched(out, batched)


class AdaptiveMaxPool2d(Function):
    """out = max over each adaptive window with its flat index h*W + w (ties: the first in
    scan order); d input = scatter-add by the indices, max_pool2d's own backward."""
    @staticmethod
    def forward(ctx, x, output_size):
        xp = get_array_module(x)
        n, c, height, width = x.shape
        out = xp.empty((n, c) + output_size, dtype=x.dtype)
        indices = xp.empty((n, c) + output_size, dtype=np.int64)
        for i, (h0, h1) in enumerate(_adaptive_windows(height, output_size[0])):
            for j, (w0, w1) in enumerate(_adaptive_windows(width, output_size[1])):
                window = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)      # (N, C, window size)
                best = window.argmax(axis=2)                           # first max (or NaN)
                out[:, :, i, j] = xp.take_along_axis(window, best[:, :, None], axis=2)[:, :, 0]
                indices[:, :, i, j] = (h0 + best // (w1 - w0)) * width + w0 + best % (w1 - w0)
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape
        return out, indices

    backward = MaxPool2d.backward  # the same scatter-add by the saved indices


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max-pool to a fixed ``output_size``: (N, C, H, W) -> (N, C, OH, OW), optionally with
    the flat indices as ``max_pool2d``."""
    op = "adaptive_max_pool2d"
    batched = _check_input(op, input)
    x = _batched(input, batched)
    out, indices = AdaptiveMaxPool2d.apply(x, _adaptive_output_size(op, x.shape, output_size))
    out = _unbatched(out, batched)
    if not return_indices:
        return out
    return out, Tensor(indices.data if batched else indices.data[0])
