"""Convolution layers: ``Conv2d`` and ``ConvTranspose2d``, as in ``torch.nn``.

Both hold ``weight`` and (unless ``bias=False``) ``bias`` and call ``F.conv2d`` /
``F.conv_transpose2d``. Shapes, initialisation, state-dict keys and ``repr`` are PyTorch's.
"""
import math

import numpy as np

from .. import functional as F
from ..autograd.dtypes import default_float, resolve_dtype
from ..autograd.factories import empty
from ..autograd.ops import getitem
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: argument checks, parameters, init, repr."""

    def __init__(self, name, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        if not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups != 0:
            raise ValueError(f"{name}: in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups != 0:
            raise ValueError(f"{name}: out_channels={out_channels} must be divisible by groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, f"{name}: kernel_size")
        self.stride = _pair(stride, f"{name}: stride")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _pair(padding, f"{name}: padding")
        self.dilation = _pair(dilation, f"{name}: dilation")
        self.transposed = transposed
        self.output_padding = _pair(output_padding, f"{name}: output_padding")
        self.groups = int(groups)
        self.padding_mode = padding_mode
        dtype = resolve_dtype(dtype) or default_float
        if transposed:  # (C_in, C_out/groups, kH, kW)
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:           # (C_out, C_in/groups, kH, kW)
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(self.out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: W ~ kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)),
        b ~ U(+-1/sqrt(fan_in)) with fan_in = weight.shape[1] * kH * kW."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv2d(_ConvNd):
    """2-D convolution layer: (N, C_in, H, W) -> (N, C_out, OH, OW) (or unbatched (C, H, W)).

    Parameters: ``weight`` (out_channels, in_channels/groups, kH, kW), ``bias``
    (out_channels,). ``padding`` is an int, a pair, "valid" or "same"; ``padding_mode``
    "zeros" (default), "reflect", "replicate" or "circular" (copies edge pixels instead).

        OH = floor((H + 2*padding - dilation*(kH-1) - 1) / stride) + 1

    Example::

        >>> conv = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        >>> conv(mc.randn(8, 3, 32, 32)).shape
        (8, 16, 32, 32)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, False, 0, groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        if self.padding_mode == "zeros":
            return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)
        return F.conv2d(self._pad_by_mode(input), self.weight, self.bias, self.stride, 0,
                        self.dilation, self.groups)

    def _pad_by_mode(self, input):
        """Pad H and W by copying pixels (reflect/replicate/circular): a differentiable
        gather with the index arrays that ``np.pad`` builds on ``arange``."""
        if input.ndim not in (3, 4):
            raise ValueError(f"Conv2d: expected a 4-D input (N, C, H, W) or a 3-D input (C, H, W), "
                             f"got shape {tuple(input.shape)}")
        rows = self._source_indices(input.shape[-2], 0)
        cols = self._source_indices(input.shape[-1], 1)
        return getitem(input, (Ellipsis, rows[:, None], cols[None, :]))

    def _source_indices(self, size, axis):
        """For each padded position along ``axis``, the input position it copies."""
        if self.padding == "valid":
            before = after = 0
        elif self.padding == "same":  # the extra zero of an even span goes after, as in F.conv2d
            total = self.dilation[axis] * (self.kernel_size[axis] - 1)
            before, after = total // 2, total - total // 2
        else:
            before = after = self.padding[axis]
        return np.pad(np.arange(size), (before, after), mode=_NUMPY_PAD_MODE[self.padding_mode])


class ConvTranspose2d(_ConvNd):
    """Transposed convolution layer (learned upsampling): (N, C_in, H, W) -> (N, C_out, OH, OW).

    Parameters: ``weight`` (in_channels, out_channels/groups, kH, kW) -- note C_in first, as
    in PyTorch -- and ``bias`` (out_channels,).

        OH = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1

    ``forward(input, output_size=None)``: ``output_size`` ((OH, OW), or the full shape)
    picks the output_padding that gives that size, as PyTorch does.

    Example::

        >>> up = nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1)
        >>> up(mc.randn(2, 64, 16, 16)).shape
        (2, 32, 32, 32)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'ConvTranspose2d: only "zeros" padding mode is supported, got {padding_mode!r}')
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair of ints, got {padding!r}")
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, True, output_padding, groups, bias, padding_mode, device, dtype)

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)

    def _output_padding(self, input, output_size):
        """output_padding from a requested output size: size - smallest size, which must be
        in [smallest, smallest + stride - 1] per axis (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        output_size = tuple(int(s) for s in output_size)
        if len(output_size) == input.ndim:  # the full shape: keep (OH, OW)
            output_size = output_size[-2:]
        if len(output_size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must have 2 or {input.ndim} elements "
                             f"(got {len(output_size)})")
        smallest, largest = [], []
        for axis in range(2):
            size = input.shape[input.ndim - 2 + axis]
            low = ((size - 1) * self.stride[axis] - 2 * self.padding[axis]
                   + self.dilation[axis] * (self.kernel_size[axis] - 1) + 1)
            smallest.append(low)
            largest.append(low + self.stride[axis] - 1)
        for axis in range(2):
            if not smallest[axis] <= output_size[axis] <= largest[axis]:
                raise ValueError(
                    f"ConvTranspose2d: requested an output size of {output_size}, but valid sizes "
                    f"range from {tuple(smallest)} to {tuple(largest)} (for an input of spatial "
                    f"size {tuple(input.shape[-2:])})")
        return tuple(output_size[axis] - smallest[axis] for axis in range(2))
