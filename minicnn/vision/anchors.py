"""Anchors and detection targets: ``make_anchors``, ``encode_boxes``, ``decode_boxes``,
``sliding_windows``, ``assign_anchors``, ``yolo_targets``.

Boxes are ``(N, 4)`` in (x1, y1, x2, y2) pixels of the input image. These functions build
training targets; they record no autograd graph. A result is a Tensor (a leaf) when the
boxes it is computed from are one: ``gt`` for encode_boxes, ``deltas`` for decode_boxes,
``anchors`` for assign_anchors; make_anchors, sliding_windows and yolo_targets give NumPy.

The Faster R-CNN box parametrisation (Ren et al. 2015, torchvision's BoxCoder) of a box
g relative to an anchor a, both as centre (x, y) and size (w, h), with weights (wx, wy, ww, wh):
    dx = wx (gx - ax) / aw,  dy = wy (gy - ay) / ah,  dw = ww log(gw / aw),  dh = wh log(gh / ah)
"""
import math

import numpy as np

from kernels.backend import get_array_module

from .boxes import as_float, check_boxes, iou_matrix, to_host, unwrap, wrap

__all__ = ["make_anchors", "encode_boxes", "decode_boxes", "sliding_windows",
           "assign_anchors", "yolo_targets"]

# decode never takes exp of more than log(1000/16): a box at most 62.5x its anchor
# (torchvision's bbox_xform_clip), so a wild prediction cannot overflow.
DEFAULT_SCALE_CLIP = math.log(1000.0 / 16)


def _pair(op, value, name):
    """An int/float or a pair -> a pair of positive numbers."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"{op}: {name} must be a positive number or a pair of them, "
                         f"got {value!r}")
    return pair


# ----------------------------------------------------------------------------- anchors

def make_anchors(feature_size, stride, sizes=(32, 64, 128), aspect_ratios=(0.5, 1.0, 2.0)):
    """Anchor boxes for every cell of an (H, W) feature map -> (H*W*A, 4) xyxy float64,
    A = len(sizes) * len(aspect_ratios).

    Convention (stated because detectors differ):

    * ``feature_size``: H and W of the feature map (an int or (H, W)); ``stride``: pixels
      of the image per feature cell (an int or (stride_y, stride_x));
    * cell (i, j) covers image pixels [j*sx, (j+1)*sx) x [i*sy, (i+1)*sy), and its anchors
      are centred at the middle of that area: cx = (j + 0.5)*sx, cy = (i + 0.5)*sy
      (torchvision's AnchorGenerator centres them at the corner j*sx instead);
    * an anchor of size s and aspect ratio r = h / w (torchvision's convention) has
      w = s / sqrt(r), h = s * sqrt(r), so its area is s^2 for every ratio; no rounding;
    * order: row i, then column j, then ratio, then size (the size varies fastest), i.e.
      row ``((i*W + j)*len(aspect_ratios) + r)*len(sizes) + s``, as torchvision.

    >>> make_anchors(1, 16, sizes=[8], aspect_ratios=[1.0])      # [[4., 4., 12., 12.]]
    """
    op = "make_anchors"
    height, width = (int(v) for v in _pair(op, feature_size, "feature_size"))
    stride_y, stride_x = _pair(op, stride, "stride")
    sizes = np.asarray(sizes, dtype=np.float64).ravel()
    ratios = np.asarray(aspect_ratios, dtype=np.float64).ravel()
    if sizes.size == 0 or ratios.size == 0 or sizes.min() <= 0 or ratios.min() <= 0:
        raise ValueError(f"{op}: sizes and aspect_ratios must be non-empty and positive, "
                         f"got sizes={list(sizes)}, aspect_ratios={list(ratios)}")
    widths = (sizes[None, :] / np.sqrt(ratios)[:, None]).ravel()     # (A,), ratio-major
    heights = (sizes[None, :] * np.sqrt(ratios)[:, None]).ravel()
    base = np.stack([-widths, -heights, widths, heights], axis=1) / 2  # (A, 4) about (0, 0)
    centre_x = (np.arange(width) + 0.5) * stride_x
    centre_y = (np.arange(height) + 0.5) * stride_y
    cy, cx = np.meshgrid(centre_y, centre_x, indexing="ij")            # (H, W) each
    shifts = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)     # (H*W, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def sliding_windows(image_size, window, stride):
    """Every ``window`` position on an image, as OverFeat / a classifier slid over it:
    (K, 4) xyxy float64 windows, K = KH * KW, row-major (top row first).

    ``image_size`` (H, W), ``window`` (h, w) and ``stride`` (sy, sx) (ints or pairs). Window
    (i, j) spans [j*sx, j*sx + w) x [i*sy, i*sy + h); only windows fully inside the image:
    KH = floor((H - h) / sy) + 1 -- the output size of a conv with this kernel and stride,
    which is why a fully-convolutional net evaluates all windows in one pass.
    """
    op = "sliding_windows"
    image_h, image_w = _pair(op, image_size, "image_size")
    window_h, window_w = _pair(op, window, "window")
    stride_y, stride_x = _pair(op, stride, "stride")
    if window_h > image_h or window_w > image_w:
        raise ValueError(f"{op}: window {(window_h, window_w)} is larger than the image "
                         f"{(image_h, image_w)}")
    tops = np.arange(int((image_h - window_h) // stride_y) + 1) * stride_y
    lefts = np.arange(int((image_w - window_w) // stride_x) + 1) * stride_x
    y1, x1 = np.meshgrid(tops, lefts, indexing="ij")
    corners = np.stack([x1, y1, x1 + window_w, y1 + window_h], axis=-1)
    return corners.reshape(-1, 4).astype(np.float64)


# ----------------------------------------------------------------------------- box coding

def _centres(boxes):
    """xyxy (N, 4) -> centre x, centre y, width, height (each (N,))."""
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights, widths, heights


def _check_pair(op, anchors, other, other_name):
    check_boxes(op, anchors, "anchors")
    check_boxes(op, other, other_name)
    if anchors.shape[0] != other.shape[0]:
        raise ValueError(f"{op}: anchors {tuple(anchors.shape)} and {other_name} "
                         f"{tuple(other.shape)} must have the same number of rows")


def encode_boxes(anchors, gt, weights=(1.0, 1.0, 1.0, 1.0)):
    """Regression targets of boxes ``gt`` (N, 4) relative to ``anchors`` (N, 4), both xyxy
    -> deltas (N, 4) = (dx, dy, dw, dh), the formula of the module docstring.

    Anchors and boxes need positive width and height (log of the size ratio).
    ``weights`` (wx, wy, ww, wh) scale the targets (torchvision uses (10, 10, 5, 5) in the
    RoI heads and (1, 1, 1, 1) in the RPN).
    """
    op = "encode_boxes"
    anchor_array, _ = unwrap(op, anchors, "anchors")
    gt_array, is_tensor = unwrap(op, gt, "gt")
    _check_pair(op, anchor_array, gt_array, "gt")
    xp = get_array_module(anchor_array)
    wx, wy, ww, wh = (float(w) for w in weights)
    ax, ay, aw, ah = _centres(as_float(anchor_array))
    gx, gy, gw, gh = _centres(as_float(gt_array))
    deltas = xp.stack([wx * (gx - ax) / aw, wy * (gy - ay) / ah,
                       ww * xp.log(gw / aw), wh * xp.log(gh / ah)], axis=1)
    return wrap(deltas, is_tensor)


def decode_boxes(anchors, deltas, weights=(1.0, 1.0, 1.0, 1.0), scale_clip=DEFAULT_SCALE_CLIP):
    """Boxes (N, 4) xyxy from ``anchors`` (N, 4) xyxy and ``deltas`` (N, 4) (dx, dy, dw, dh):
    the inverse of ``encode_boxes`` (decode(anchors, encode(anchors, gt)) == gt).

    x = ax + (dx / wx) aw,  w = aw exp(dw / ww)  (dw / ww clipped at ``scale_clip``), and
    the corners are x -+ w / 2.
    """
    op = "decode_boxes"
    anchor_array, _ = unwrap(op, anchors, "anchors")
    delta_array, is_tensor = unwrap(op, deltas, "deltas")
    _check_pair(op, anchor_array, delta_array, "deltas")
    xp = get_array_module(anchor_array)
    wx, wy, ww, wh = (float(w) for w in weights)
    ax, ay, aw, ah = _centres(as_float(anchor_array))
    delta_array = as_float(delta_array)
    cx = ax + delta_array[:, 0] / wx * aw
    cy = ay + delta_array[:, 1] / wy * ah
    w = aw * xp.exp(xp.minimum(delta_array[:, 2] / ww, scale_clip))
    h = ah * xp.exp(xp.minimum(delta_array[:, 3] / wh, scale_clip))
    boxes = xp.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
    return wrap(boxes, is_tensor)


# ----------------------------------------------------------------------------- assignment

def assign_anchors(anchors, gt_boxes, fg_iou=0.7, bg_iou=0.3):
    """Label anchors for training a region proposal network (Faster R-CNN's rule).

    ``anchors`` (A, 4), ``gt_boxes`` (G, 4) xyxy -> ``labels`` (A,) int64 and ``matched``
    (A,) int64:

    * max IoU with any gt ``>= fg_iou`` -> 1 (foreground); ``< bg_iou`` -> 0 (background);
      in between -> -1 (ignored by the loss);
    * and, so that no gt is left without an anchor, for every gt the anchor(s) with its
      highest IoU (all ties) are foreground too -- when that IoU is > 0 (torchvision's
      Matcher would also mark every zero-IoU anchor of a gt that overlaps none);
    * ``matched[a]`` = the gt with the highest IoU for anchor a (the regression target;
      meaningful where labels == 1), as torchvision; -1 for every anchor when G == 0
      (then all anchors are background).
    """
    op = "assign_anchors"
    if not 0 <= bg_iou <= fg_iou <= 1:
        raise ValueError(f"{op}: need 0 <= bg_iou <= fg_iou <= 1, got bg_iou={bg_iou}, "
                         f"fg_iou={fg_iou}")
    anchor_array, is_tensor = unwrap(op, anchors, "anchors")
    gt_array, _ = unwrap(op, gt_boxes, "gt_boxes")
    check_boxes(op, anchor_array, "anchors")
    check_boxes(op, gt_array, "gt_boxes")
    xp = get_array_module(anchor_array)
    anchor_array, gt_array = to_host(anchor_array), to_host(gt_array)
    count = anchor_array.shape[0]
    if gt_array.shape[0] == 0:
        labels, matched = np.zeros(count, np.int64), np.full(count, -1, np.int64)
        return wrap(xp.asarray(labels), is_tensor), wrap(xp.asarray(matched), is_tensor)
    iou = np.nan_to_num(iou_matrix(anchor_array, gt_array))      # (A, G); empty boxes -> 0
    matched = iou.argmax(axis=1).astype(np.int64)                # best gt per anchor
    best = iou.max(axis=1)
    labels = np.full(count, -1, dtype=np.int64)
    labels[best < bg_iou] = 0
    labels[best >= fg_iou] = 1
    best_per_gt = iou.max(axis=0)                                # (G,)
    is_best_for_a_gt = (iou == best_per_gt[None, :]) & (best_per_gt[None, :] > 0)
    labels[is_best_for_a_gt.any(axis=1)] = 1
    return wrap(xp.asarray(labels), is_tensor), wrap(xp.asarray(matched), is_tensor)


def yolo_targets(gt_boxes, gt_labels, grid_size, image_size, num_classes):
    """YOLO (v1-style) grid targets for one image: (S_h, S_w, 5 + num_classes) float64.

    ``gt_boxes`` (G, 4) xyxy pixels, ``gt_labels`` (G,) ints in [0, num_classes),
    ``grid_size`` S (int or (S_h, S_w)), ``image_size`` (H, W) (or an int). The cell
    responsible for a box is the one containing its centre, row = floor(cy / (H / S_h))
    (clipped into the grid); its vector is

        (x_offset, y_offset, w, h, objectness = 1, one-hot class)

    with x_offset = cx / (W / S_w) - col in [0, 1) (the centre within the cell) and w, h
    the box size divided by the image size. Cells without a box are all zero. YOLOv1 has
    one box per cell: when two centres fall in one cell, the first box in the list wins.
    """
    op = "yolo_targets"
    boxes, _ = unwrap(op, gt_boxes, "gt_boxes")
    labels, _ = unwrap(op, gt_labels, "gt_labels")
    check_boxes(op, boxes, "gt_boxes")
    boxes, labels = to_host(as_float(boxes)), to_host(labels).astype(np.int64).ravel()
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(f"{op}: expected gt_labels of shape ({boxes.shape[0]},) for gt_boxes "
                         f"of shape {tuple(boxes.shape)}, got shape {tuple(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{op}: gt_labels must lie in [0, {num_classes}), got "
                         f"{labels.min()}..{labels.max()}")
    rows, cols = (int(v) for v in _pair(op, grid_size, "grid_size"))
    image_h, image_w = _pair(op, image_size, "image_size")
    cell_h, cell_w = image_h / rows, image_w / cols
    target = np.zeros((rows, cols, 5 + num_classes))
    cx, cy, widths, heights = _centres(boxes)
    for k in range(boxes.shape[0]):
        row = min(max(int(math.floor(cy[k] / cell_h)), 0), rows - 1)
        col = min(max(int(math.floor(cx[k] / cell_w)), 0), cols - 1)
        if target[row, col, 4] == 1:             # the cell already holds an earlier box
            continue
        target[row, col, :5] = (cx[k] / cell_w - col, cy[k] / cell_h - row,
                                widths[k] / image_w, heights[k] / image_h, 1.0)
        target[row, col, 5 + labels[k]] = 1.0
    return target
