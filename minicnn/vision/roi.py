"""RoI max pooling (Fast R-CNN): ``roi_pool`` and the layer ``RoIPool`` --
torchvision.ops.roi_pool's arguments, bin rounding and gradient.

Every region of interest (a box on the image) is cut out of the feature map and max-pooled
to a fixed (OH, OW) grid, so regions of any size feed the same fully-connected head.

For one box (x1, y1, x2, y2) in image coordinates, with ``round`` half away from zero:
    start = round(x1 * spatial_scale),  end = round(x2 * spatial_scale)
    roi_w = max(end - start + 1, 1)                     (a malformed box becomes 1 cell)
    bin j covers columns [start + floor(j * roi_w / OW), start + ceil((j+1) * roi_w / OW))
clipped to [0, W]; the same for rows. An empty bin (all outside the map) gives 0.

This is the readable reference: plain loops over boxes and bins, vectorised over channels.
"""
import math

import numpy as np

from kernels.backend import get_array_module

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..nn.module import Module
from .boxes import to_host, unwrap

__all__ = ["roi_pool", "RoIPool"]


def _round_half_away(value):
    """C's std::round: 2.5 -> 3, -2.5 -> -3 (NumPy's round would give 2, -2)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _bin_edges(start, roi_size, bin_count, limit, dtype):
    """[(lo, hi)] of every bin along one axis, offset by ``start`` and clipped to [0, limit].

    bin_size = roi_size / bin_count (in the input's dtype, as torchvision's kernel),
    lo = floor(i * bin_size), hi = ceil((i + 1) * bin_size).
    """
    bin_size = dtype.type(roi_size) / dtype.type(bin_count)
    edges = []
    for i in range(bin_count):
        low = int(math.floor(dtype.type(i) * bin_size)) + start
        high = int(math.ceil(dtype.type(i + 1) * bin_size)) + start
        edges.append((min(max(low, 0), limit), min(max(high, 0), limit)))
    return edges


def _scatter_add(xp, target, index, values):
    """target[index] += values, adding repeated indices (overlapping boxes may choose the
    same element): np.add.at on the CPU, cupyx.scatter_add on the GPU."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


class RoIPoolFunction(Function):
    """out[k, c, i, j] = max of x[batch_k, c] over bin (i, j) of box k  (K, C, OH, OW);
    d x[batch_k, c, argmax] += d out[k, c, i, j] (empty bins send nothing back)."""

    @staticmethod
    def forward(ctx, x, rois, output_size, spatial_scale):
        xp = get_array_module(x)
        height, width = x.shape[2:]
        out_h, out_w = output_size
        dtype = x.dtype
        scale = dtype.type(spatial_scale)
        rois_host = to_host(rois)
        out = xp.zeros((rois.shape[0], x.shape[1], out_h, out_w), dtype=dtype)
        argmax = xp.full(out.shape, -1, dtype=np.int64)      # flat index h*W + w in the plane
        for k, roi in enumerate(rois_host):
            batch = int(roi[0])
            x1, y1, x2, y2 = (_round_half_away(dtype.type(v) * scale) for v in roi[1:])
            roi_w, roi_h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
            rows = _bin_edges(y1, roi_h, out_h, height, dtype)
            cols = _bin_edges(x1, roi_w, out_w, width, dtype)
            for i, (top, bottom) in enumerate(rows):
                for j, (left, right) in enumerate(cols):
                    if bottom <= top or right <= left:
                        continue                             # empty bin: out 0, argmax -1
                    region = x[batch, :, top:bottom, left:right]          # (C, h, w)
                    flat = region.reshape(region.shape[0], -1)            # (C, h*w)
                    best = flat.argmax(axis=1)               # the first maximum, row-major
                    out[k, :, i, j] = flat[xp.arange(flat.shape[0]), best]
                    row, col = top + best // (right - left), left + best % (right - left)
                    argmax[k, :, i, j] = row * width + col
        ctx.save_for_backward(argmax, rois[:, 0].astype(np.int64))
        ctx.input_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad_out):
        argmax, batch = ctx.saved_tensors
        xp = get_array_module(grad_out)
        n, c, height, width = ctx.input_shape
        grad_x = xp.zeros((n, c, height * width), dtype=grad_out.dtype)
        batch_index = xp.broadcast_to(batch[:, None, None, None], grad_out.shape)
        channel_index = xp.broadcast_to(xp.arange(c)[None, :, None, None], grad_out.shape)
        filled = argmax >= 0                                 # bins that chose an element
        where = (batch_index[filled], channel_index[filled], argmax[filled])
        _scatter_add(xp, grad_x, where, grad_out[filled])
        return grad_x.reshape(ctx.input_shape), None, None, None


def _output_pair(op, output_size):
    pair = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(pair) != 2 or min(int(v) for v in pair) < 1:
        raise ValueError(f"{op}: output_size must be a positive int or a pair (OH, OW), "
                         f"got {output_size!r}")
    return int(pair[0]), int(pair[1])


def _rois_array(op, boxes, batch_size, dtype):
    """(K, 5) rows (batch_index, x1, y1, x2, y2) from a (K, 5) array/Tensor or a list of
    (Ki, 4) arrays/Tensors, one per image (torchvision's two box formats)."""
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != batch_size:
            raise ValueError(f"{op}: got a list of {len(boxes)} box arrays for a batch of "
                             f"{batch_size} images; expected one (Ki, 4) array per image")
        parts = []
        for image, per_image in enumerate(boxes):
            array, _ = unwrap(op, per_image, f"boxes[{image}]")
            array = to_host(array)
            if array.ndim != 2 or array.shape[1] != 4:
                raise ValueError(f"{op}: expected boxes[{image}] of shape (Ki, 4), "
                                 f"got shape {tuple(array.shape)}")
            parts.append(np.concatenate([np.full((len(array), 1), image), array], axis=1))
        rois = np.concatenate(parts, axis=0) if parts else np.zeros((0, 5))
    else:
        rois, _ = unwrap(op, boxes, "boxes")
        rois = to_host(rois)
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ValueError(f"{op}: expected boxes of shape (K, 5) as (batch_index, x1, y1, "
                             f"x2, y2) or a list of (Ki, 4) tensors, got shape "
                             f"{tuple(rois.shape)}")
    batch = rois[:, 0]
    if rois.shape[0] and (batch.min() < 0 or batch.max() >= batch_size
                          or np.any(batch != np.floor(batch))):
        raise ValueError(f"{op}: batch indices in boxes[:, 0] must be integers in "
                         f"[0, {batch_size}), got values {np.unique(batch)[:5].tolist()}")
    return rois.astype(dtype)


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """Max-pool every box's region of ``input`` to ``output_size``:
    (N, C, H, W) -> (K, C, OH, OW), differentiable with respect to ``input``.

    ``boxes``: a (K, 5) Tensor/array of rows (batch_index, x1, y1, x2, y2), or a list of N
    (Ki, 4) xyxy Tensors/arrays, one per image (rows then in list order). Coordinates are in
    image pixels; ``spatial_scale`` maps them to the feature map (1/16 for a stride-16
    backbone). Bin rounding as in the module docstring, exactly torchvision's. Within a bin
    the first maximum (row-major) wins; backward sends each output gradient to it.

    >>> x = mc.arange(16.).reshape(1, 1, 4, 4)
    >>> roi_pool(x, [mc.tensor([[0., 0., 3., 3.]])], 2)      # [[[[5., 7.], [13., 15.]]]]
    """
    op = "roi_pool"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a minicnn Tensor as input, got {type(input).__name__}")
    if input.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {input.shape}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected a float32 or float64 input, got {input.dtype}")
    out_size = _output_pair(op, output_size)
    rois = _rois_array(op, boxes, input.shape[0], input.dtype)
    rois = get_array_module(input.data).asarray(rois)
    return RoIPoolFunction.apply(input, rois, out_size, float(spatial_scale))


class RoIPool(Module):
    """``roi_pool`` as a layer: forward(input (N, C, H, W), boxes) -> (K, C, OH, OW).

    >>> pool = RoIPool(output_size=7, spatial_scale=1 / 16)
    >>> pool(features, [boxes_image0, boxes_image1]).shape     # (K0 + K1, C, 7, 7)
    """

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self):
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
