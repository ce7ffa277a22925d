"""Resizing: ``interpolate`` with ``mode='nearest'`` or ``'bilinear'``, PyTorch's rules.

Both modes are separable: every output row reads one (nearest) or two (bilinear) input
rows, every output column one or two input columns. So the forward gathers along H, then
along W, and the backward is the transpose of that linear map. Written as matrices,
    out = A_h @ x @ A_w^T   (per (n, c) plane; A_h (OH, H), A_w (OW, W))
    d x = A_h^T @ d out @ A_w
where row o of A holds the interpolation weights of output position o. The backward
multiplies by these small matrices (BLAS), which adds up -- scatter-adds -- every
contribution an input pixel made.

Source positions (PyTorch's; computed in float32 for nearest and in the input's dtype for
bilinear, as PyTorch does, so that borderline cases round the same way):
    nearest:  src = min(floor(dst * scale), in - 1)
    bilinear, align_corners=True:   src = dst * (in - 1) / (out - 1)
    bilinear, align_corners=False:  src = max((dst + 0.5) * scale - 0.5, 0)
with scale = 1/scale_factor when a scale_factor is given, else in/out.
"""
import math

import numpy as np

from kernels.backend import get_array_module

from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["interpolate"]

MODES = ("nearest", "bilinear")


def _scale(in_size, out_size, scale_factor, dtype):
    """in/out, or 1/scale_factor when given (PyTorch's compute_scales_value), in ``dtype``."""
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(in_size) / dtype.type(out_size)


def _nearest_taps(in_size, out_size, scale_factor):
    """Source index of each output position: min(floor(dst * scale), in - 1), computed in
    float32 whatever the input dtype, exactly as PyTorch (it decides ties like 23*14/46)."""
    dtype = np.dtype(np.float32)
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst
    if out_size == 2 * in_size:          # PyTorch's exact shortcut
        return dst // 2
    scale = _scale(in_size, out_size, scale_factor, dtype)
    src = np.floor(dst.astype(dtype) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _bilinear_taps(in_size, out_size, scale_factor, align_corners, dtype):
    """For each output position: the two source indices i0, i1 and weights l0, l1 (l0 + l1 = 1).

    src is the real-valued source position; i0 = floor(src), i1 = i0 + 1 (clamped to the
    last index), l1 = src - i0, l0 = 1 - l1.
    """
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst, dst, np.ones(out_size, dtype), np.zeros(out_size, dtype)
    if align_corners:
        scale = dtype.type(in_size - 1) / dtype.type(out_size - 1) if out_size > 1 else dtype.type(0)
        src = dst.astype(dtype) * scale
    else:
        scale = _scale(in_size, out_size, scale_factor, dtype)
        src = (dst.astype(dtype) + dtype.type(0.5)) * scale - dtype.type(0.5)
        src = np.maximum(src, dtype.type(0))                # clamp at 0, as PyTorch
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    l1 = np.clip(src - i0.astype(dtype), 0, 1).astype(dtype)
    return i0, i1, (dtype.type(1) - l1).astype(dtype), l1


def _taps(in_size, out_size, scale_factor, mode, align_corners, dtype):
    """(indices, weights) pairs: one pair for nearest, two for bilinear."""
    if mode == "nearest":
        index = _nearest_taps(in_size, out_size, scale_factor)
        return [(index, np.ones(out_size, dtype))]
    i0, i1, l0, l1 = _bilinear_taps(in_size, out_size, scale_factor, align_corners, dtype)
    return [(i0, l0), (i1, l1)]


def _matrix(taps, in_size, out_size, dtype):
    """The (out, in) interpolation matrix: A[o, index[o]] += weight[o] for every tap."""
    matrix = np.zeros((out_size, in_size), dtype=dtype)
    for index, weight in taps:
        np.add.at(matrix, (np.arange(out_size), index), weight)
    return matrix


class Interpolate(Function):
    """x (N, C, H, W) -> out (N, C, OH, OW); see the module docstring for the math."""
    @staticmethod
    def forward(ctx, x, size, scales, mode, align_corners):
        xp = get_array_module(x)
        dtype = x.dtype
        height, width = x.shape[2:]
        rows = _taps(height, size[0], scales[0], mode, align_corners, dtype)
        cols = _taps(width, size[1], scales[1], mode, align_corners, dtype)
        # Along H: blend the chosen input rows -> (N, C, OH, W).
        blended = sum(x[:, :, xp.asarray(index), :] * xp.asarray(weight)[:, None]
                      for index, weight in rows)
        # Along W: blend the chosen columns -> (N, C, OH, OW).
        out = sum(blended[:, :, :, xp.asarray(index)] * xp.asarray(weight)
                  for index, weight in cols)
        ctx.taps = (rows, cols)
        ctx.input_size = (height, width)
        return out.astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_out):
        xp = get_array_module(grad_out)
        (rows, cols), (height, width) = ctx.taps, ctx.input_size
        out_h, out_w = grad_out.shape[2:]
        row_matrix = xp.asarray(_matrix(rows, height, out_h, grad_out.dtype))    # (OH, H)
        col_matrix = xp.asarray(_matrix(cols, width, out_w, grad_out.dtype))     # (OW, W)
        return xp.matmul(xp.matmul(row_matrix.T, grad_out), col_matrix)


def _pair_or_none(op, name, value, cast):
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be a number or a pair for a 4-D input "
                             f"(N, C, H, W), got {value!r}")
        return cast(value[0]), cast(value[1])
    return cast(value), cast(value)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the H and W axes of ``input`` (N, C, H, W) to ``size`` (OH, OW), or by
    ``scale_factor`` (OH = floor(H * scale_factor)).

    ``mode``: 'nearest' (copy the nearest pixel) or 'bilinear' (blend the 4 nearest).
    ``align_corners`` (bilinear only, default False): True maps the corner pixel centres
    onto each other; False treats pixels as areas, as PyTorch.

    >>> F.interpolate(mc.ones(1, 3, 4, 4), scale_factor=2).shape      # (1, 3, 8, 8)
    """
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a minicnn Tensor as input, got {type(input).__name__}")
    if mode not in MODES:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported; choose one of {MODES}")
    if input.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) for mode {mode!r}, "
                         f"got shape {input.shape}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected a float32 or float64 input, got {input.dtype}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners option can only be set with the interpolating "
                         f"modes (bilinear), not with mode {mode!r}")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size or scale_factor, got size={size!r}, "
                         f"scale_factor={scale_factor!r}")

    height, width = input.shape[2:]
    if size is not None:
        out_size = _pair_or_none(op, "size", size, int)
        scales = (None, None)
    else:
        scales = _pair_or_none(op, "scale_factor", scale_factor, float)
        out_size = (math.floor(height * scales[0]), math.floor(width * scales[1]))
        if recompute_scale_factor:           # PyTorch: then the kernel uses in/out
            scales = (None, None)
    if min(out_size) < 1:
        raise ValueError(f"{op}: the output size {out_size} must be positive (input shape "
                         f"{input.shape}, size={size!r}, scale_factor={scale_factor!r})")
    return Interpolate.apply(input, out_size, scales, mode, bool(align_corners))
