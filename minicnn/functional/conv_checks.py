"""Argument checks and output-size arithmetic for ``conv2d`` and ``conv_transpose2d``.

Each op calls one function here before any work: it refuses bad input with a message that
names the op and the expected and received shapes/dtypes/devices, and returns the
geometry (normalised ``(h, w)`` pairs and output sizes) the op needs.
"""
from dataclasses import dataclass

import numpy as np

from kernels.shapes import conv_output_size, pair

from ..autograd.device import device_of


@dataclass(frozen=True)
class Conv2dGeometry:
    """Everything conv2d needs about its shapes. ``padding`` is the symmetric part; the
    asymmetric "same" case adds ``extra_h``/``extra_w`` zeros at the bottom/right."""
    input_shape: tuple      # as given: (N, C, H, W) or unbatched (C, H, W)
    unbatched: bool
    in_h: int
    in_w: int
    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    extra_h: int
    extra_w: int
    out_h: int
    out_w: int
    pointwise: bool         # 1x1 kernel, stride 1, no padding: im2col is a reshape


@dataclass(frozen=True)
class ConvTranspose2dGeometry:
    """Everything conv_transpose2d needs. ``col_hw``/``col_padding`` are the image size and
    padding handed to col2im/im2col: the output itself, or -- when output_padding >= stride
    (possible only with dilation > stride) -- the uncropped "canvas" (``uses_canvas``)."""
    input_shape: tuple
    unbatched: bool
    c_out: int
    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out_h: int
    out_w: int
    col_hw: tuple
    col_padding: tuple
    uses_canvas: bool


def _check_arrays(op, x, weight, bias):
    """Types, ranks, dtypes and devices of input/weight/bias; returns ``unbatched``."""
    for name, array in (("input", x), ("weight", weight), ("bias", bias)):
        if array is None and name == "bias":
            continue
        if not (hasattr(array, "shape") and hasattr(array, "dtype")):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(array).__name__}")
        if np.dtype(array.dtype) not in (np.float32, np.float64):
            raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {array.dtype}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or an unbatched 3-D input "
                         f"(C, H, W), got an input of shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight, got a weight of shape {tuple(weight.shape)}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} does not match weight dtype {weight.dtype}; "
                        "convert one of them with .to(dtype)")
    if bias is not None and bias.dtype != weight.dtype:
        raise TypeError(f"{op}: bias dtype {bias.dtype} does not match weight dtype {weight.dtype}")
    devices = {device_of(a) for a in (x, weight, bias) if a is not None}
    if len(devices) > 1:
        raise RuntimeError(f"{op}: input is on {device_of(x)} but weight is on {device_of(weight)}"
                           + ("" if bias is None else f" and bias on {device_of(bias)}")
                           + "; move them to one device with .to(device)")
    return x.ndim == 3


def _check_groups(op, groups, in_channels, out_channels, x_shape, w_shape):
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if in_channels % groups:
        raise ValueError(f"{op}: in_channels = {in_channels} (input shape {x_shape}) is not "
                         f"divisible by groups = {groups}")
    if out_channels % groups:
        raise ValueError(f"{op}: out_channels = {out_channels} (weight shape {w_shape}) is not "
                         f"divisible by groups = {groups}")


def _check_bias(op, bias, out_channels, w_shape):
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: expected bias of shape ({out_channels},) for weight of shape "
                         f"{w_shape}, got {tuple(bias.shape)}")


def _pairs(op, stride, dilation):
    stride, dilation = pair(stride, f"{op}: stride"), pair(dilation, f"{op}: dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: stride and dilation must be >= 1, got stride={stride}, "
                         f"dilation={dilation}")
    return stride, dilation


def _same_padding(op, stride, kernel_size, dilation):
    """PyTorch's padding="same": total d*(k-1) per axis, left = total // 2, the rest right."""
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride}); give the padding as numbers")
    totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
    left = tuple(total // 2 for total in totals)
    extra = tuple(total - 2 * lo for total, lo in zip(totals, left))
    return left, extra


def conv2d_geometry(x, weight, bias, stride, padding, dilation, groups):
    """Validate conv2d's arguments; return a ``Conv2dGeometry``."""
    op = "conv2d"
    unbatched = _check_arrays(op, x, weight, bias)
    x_shape, w_shape = tuple(x.shape), tuple(weight.shape)
    channels, in_h, in_w = x_shape[-3:]
    out_channels = w_shape[0]
    _check_groups(op, groups, channels, out_channels, x_shape, w_shape)
    if channels != w_shape[1] * groups:
        raise ValueError(f"{op}: input of shape {x_shape} has {channels} channels, but weight of "
                         f"shape {w_shape} with groups={groups} expects "
                         f"weight.shape[1] * groups = {w_shape[1] * groups}")
    _check_bias(op, bias, out_channels, w_shape)
    kernel_size = (w_shape[2], w_shape[3])
    stride, dilation = _pairs(op, stride, dilation)
    extra = (0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            padding, extra = _same_padding(op, stride, kernel_size, dilation)
        else:
            raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    padding = pair(padding, f"{op}: padding")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")
    out_hw = []
    for axis, (name, size) in enumerate((("height", in_h), ("width", in_w))):
        k, s, p, d = kernel_size[axis], stride[axis], padding[axis], dilation[axis]
        out = conv_output_size(size + extra[axis], k, s, p, d)
        if out < 1:
            raise ValueError(
                f"{op}: the kernel does not fit the padded input (shape {x_shape}, weight "
                f"{w_shape}): output {name} = floor((size + 2*padding - dilation*(kernel-1) - 1)"
                f" / stride) + 1 = floor(({size} + 2*{p} - {d}*({k}-1) - 1) / {s}) + 1 = {out} < 1")
        out_hw.append(out)
    pointwise = kernel_size == (1, 1) and stride == (1, 1) and padding == (0, 0)
    return Conv2dGeometry(x_shape, unbatched, in_h, in_w, kernel_size, stride, padding, dilation,
                          extra[0], extra[1], out_hw[0], out_hw[1], pointwise)


def transposed_output_size(size, kernel, stride, padding, dilation, output_padding):
    """OH = (H - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose2d_geometry(x, weight, bias, stride, padding, output_padding, groups, dilation):
    """Validate conv_transpose2d's arguments; return a ``ConvTranspose2dGeometry``."""
    op = "conv_transpose2d"
    unbatched = _check_arrays(op, x, weight, bias)
    x_shape, w_shape = tuple(x.shape), tuple(weight.shape)
    channels, in_h, in_w = x_shape[-3:]
    out_channels = w_shape[1] * (groups if isinstance(groups, (int, np.integer)) else 1)
    _check_groups(op, groups, channels, out_channels, x_shape, w_shape)
    if channels != w_shape[0]:
        raise ValueError(f"{op}: input of shape {x_shape} has {channels} channels, but weight of "
                         f"shape {w_shape} expects weight.shape[0] = {w_shape[0]} "
                         "(the layout is (C_in, C_out/groups, kH, kW))")
    _check_bias(op, bias, out_channels, w_shape)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair of ints, got {padding!r}")
    kernel_size = (w_shape[2], w_shape[3])
    stride, dilation = _pairs(op, stride, dilation)
    padding = pair(padding, f"{op}: padding")
    output_padding = pair(output_padding, f"{op}: output_padding")
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{op}: padding and output_padding must be >= 0, got "
                         f"padding={padding}, output_padding={output_padding}")
    for axis in range(2):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, "
                             f"got output_padding={output_padding}, stride={stride}, dilation={dilation}")
    out_hw, canvas_hw = [], []
    for axis, (name, size) in enumerate((("height", in_h), ("width", in_w))):
        k, s, p, d = kernel_size[axis], stride[axis], padding[axis], dilation[axis]
        op_ = output_padding[axis]
        out = transposed_output_size(size, k, s, p, d, op_)
        if out < 1:
            raise ValueError(
                f"{op}: output {name} = (size-1)*stride - 2*padding + dilation*(kernel-1) + "
                f"output_padding + 1 = ({size}-1)*{s} - 2*{p} + {d}*({k}-1) + {op_} + 1 = {out} < 1 "
                f"for input shape {x_shape} and weight {w_shape}")
        out_hw.append(out)
        canvas_hw.append(transposed_output_size(size, k, s, 0, d, 0))
    uses_canvas = output_padding[0] >= stride[0] or output_padding[1] >= stride[1]
    col_hw = tuple(canvas_hw) if uses_canvas else tuple(out_hw)
    col_padding = (0, 0) if uses_canvas else padding
    return ConvTranspose2dGeometry(x_shape, unbatched, out_channels, kernel_size, stride, padding,
                                   dilation, out_hw[0], out_hw[1], col_hw, col_padding, uses_canvas)
