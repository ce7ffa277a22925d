"""Bounding boxes: ``box_area``, ``box_iou``, ``box_convert``, ``nms``, ``batched_nms`` --
torchvision.ops' names, arguments and semantics.

A set of boxes is an ``(N, 4)`` array in ``(x1, y1, x2, y2)`` ("xyxy") with ``x1 <= x2``
and ``y1 <= y2``, unless a format says otherwise. Every function takes a NumPy (or CuPy)
array or a minicnn Tensor and returns the kind of its first argument. They are bookkeeping,
not layers: no autograd graph is recorded (a Tensor result is a fresh leaf) -- box_area
and box_iou work on the raw arrays.

Intersection over union of boxes a and b:
    IoU(a, b) = area(a & b) / (area(a) + area(b) - area(a & b))      in [0, 1]
"""
import numpy as np

from kernels.backend import get_array_module

from ..autograd.tensor import Tensor

__all__ = ["box_area", "box_iou", "box_convert", "nms", "batched_nms"]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


# ----------------------------------------------------------------------------- helpers

def unwrap(op, value, name):
    """(raw array, was_a_tensor): a Tensor gives its array, anything else np.asarray."""
    if isinstance(value, Tensor):
        return value.data, True
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value, False
    try:
        return np.asarray(value), False
    except (TypeError, ValueError) as error:
        raise TypeError(f"{op}: {name} must be an array or a minicnn Tensor, "
                        f"got {type(value).__name__}") from error


def wrap(array, as_tensor):
    """The result in the kind the caller passed: a (leaf) Tensor or the raw array."""
    return Tensor(array) if as_tensor else array


def check_boxes(op, boxes, name="boxes"):
    """An (N, 4) array of numbers, else a ValueError naming ``op`` and the shape."""
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{op}: expected {name} of shape (N, 4) as (x1, y1, x2, y2), "
                         f"got shape {tuple(boxes.shape)}")
    if boxes.dtype == bool or not np.issubdtype(boxes.dtype, np.number):
        raise TypeError(f"{op}: expected {name} with a numeric dtype, got {boxes.dtype}")


def as_float(array):
    """Integer boxes are upcast to float64 before division (as torchvision's _upcast)."""
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def to_host(array):
    """A NumPy copy of a NumPy or CuPy array (the greedy loops run on the CPU)."""
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else array


# ----------------------------------------------------------------------------- area and IoU

def _area(boxes):
    """(N, 4) raw array -> (N,) areas (x2 - x1) * (y2 - y1)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_area(boxes):
    """Areas of ``boxes`` (N, 4) xyxy -> (N,), ``(x2 - x1) * (y2 - y1)``.

    Works on the raw array (no gradient is recorded).

    >>> box_area(np.array([[0, 0, 2, 3]]))           # array([6])
    """
    array, is_tensor = unwrap("box_area", boxes, "boxes")
    check_boxes("box_area", array)
    return wrap(_area(array), is_tensor)


def iou_matrix(boxes1, boxes2):
    """Raw (N, 4), (M, 4) -> (N, M) IoU; two empty boxes give 0/0 = nan, as torchvision."""
    xp = get_array_module(boxes1)
    boxes1, boxes2 = as_float(boxes1), as_float(boxes2)
    top_left = xp.maximum(boxes1[:, None, :2], boxes2[None, :, :2])          # (N, M, 2)
    bottom_right = xp.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])      # (N, M, 2)
    sides = xp.clip(bottom_right - top_left, 0, None)                        # no overlap -> 0
    inter = sides[..., 0] * sides[..., 1]
    union = _area(boxes1)[:, None] + _area(boxes2)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def box_iou(boxes1, boxes2):
    """Pairwise intersection over union: ``boxes1`` (N, 4), ``boxes2`` (M, 4) xyxy -> (N, M).

    ``iou[i, j] = area(b1_i & b2_j) / (area(b1_i) + area(b2_j) - area(b1_i & b2_j))``.
    Integer boxes give float64. Works on the raw arrays (no gradient is recorded); two
    zero-area boxes give nan (0 / 0), as torchvision.ops.box_iou.

    >>> box_iou(np.array([[0., 0, 2, 2]]), np.array([[1., 1, 3, 3]]))   # [[1/7]]
    """
    first, is_tensor = unwrap("box_iou", boxes1, "boxes1")
    second, _ = unwrap("box_iou", boxes2, "boxes2")
    check_boxes("box_iou", first, "boxes1")
    check_boxes("box_iou", second, "boxes2")
    return wrap(iou_matrix(first, second), is_tensor)


# ----------------------------------------------------------------------------- formats

def box_convert(boxes, in_fmt, out_fmt):
    """Change box coordinates between formats; (N, 4) -> (N, 4).

    * ``"xyxy"``: corners (x1, y1, x2, y2);
    * ``"xywh"``: top-left corner, width, height (x1, y1, w, h), as COCO;
    * ``"cxcywh"``: centre, width, height (cx, cy, w, h), as YOLO.

    >>> box_convert(np.array([[1., 2, 5, 8]]), "xyxy", "cxcywh")      # [[3, 5, 4, 6]]
    """
    op = "box_convert"
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"{op}: {name} must be one of {BOX_FORMATS}, got {fmt!r}")
    array, is_tensor = unwrap(op, boxes, "boxes")
    check_boxes(op, array)
    xp = get_array_module(array)
    a, b, c, d = (array[:, i] for i in range(4))
    if in_fmt == "xywh":            # (x1, y1, w, h) -> corners
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":        # (cx, cy, w, h) -> corners: x1 = cx - w/2, x2 = cx + w/2
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":       # centre = (x1 + x2)/2, size = x2 - x1
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return wrap(xp.stack([a, b, c, d], axis=1), is_tensor)


# ----------------------------------------------------------------------------- NMS

def _check_scores(op, boxes, scores):
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"{op}: expected scores of shape (N,) = ({boxes.shape[0]},) for "
                         f"boxes of shape {tuple(boxes.shape)}, got shape {tuple(scores.shape)}")


def _greedy_nms(boxes, scores, iou_threshold):
    """Raw NumPy arrays -> int64 indices of the kept boxes, by decreasing score.

    Walk the boxes from the highest score down; keep a box unless its IoU with an
    already-kept box is > iou_threshold. Equal scores keep their input order (stable sort).
    """
    order = np.argsort(-scores, kind="stable")
    iou = iou_matrix(boxes, boxes)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold     # nan (empty boxes) never suppresses
    return np.array(keep, dtype=np.int64)


def nms(boxes, scores, iou_threshold):
    """Non-maximum suppression: ``boxes`` (N, 4) xyxy, ``scores`` (N,) -> int64 indices (K,)
    of the boxes kept, sorted by decreasing score.

    Greedy, as torchvision.ops.nms: the highest-scoring box is kept and every box whose IoU
    with it is ``> iou_threshold`` is discarded; repeat with the best remaining box. Boxes
    with equal scores are visited in input order.

    >>> nms(np.array([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]]),
    ...     np.array([0.9, 0.8, 0.7]), 0.5)                      # array([0, 2])
    """
    op = "nms"
    array, is_tensor = unwrap(op, boxes, "boxes")
    score_array, _ = unwrap(op, scores, "scores")
    check_boxes(op, array)
    _check_scores(op, array, score_array)
    xp = get_array_module(array)
    keep = _greedy_nms(to_host(as_float(array)), to_host(score_array), float(iou_threshold))
    return wrap(xp.asarray(keep), is_tensor)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS within each category: boxes of different ``idxs`` never suppress each other.

    ``boxes`` (N, 4) xyxy, ``scores`` (N,), ``idxs`` (N,) integer categories -> int64
    indices (K,) of the kept boxes, sorted by decreasing score over all categories
    (torchvision.ops.batched_nms; equal scores in input order, as ``nms``). Runs ``nms``
    once per category, then merges.
    """
    op = "batched_nms"
    array, is_tensor = unwrap(op, boxes, "boxes")
    score_array, _ = unwrap(op, scores, "scores")
    categories, _ = unwrap(op, idxs, "idxs")
    check_boxes(op, array)
    _check_scores(op, array, score_array)
    if categories.shape != score_array.shape:
        raise ValueError(f"{op}: expected idxs of shape (N,) = ({array.shape[0]},), "
                         f"got shape {tuple(categories.shape)}")
    xp = get_array_module(array)
    array, score_array = to_host(as_float(array)), to_host(score_array)
    categories = to_host(categories)
    keep = []
    for category in np.unique(categories):
        members = np.flatnonzero(categories == category)          # positions in the input
        kept = _greedy_nms(array[members], score_array[members], float(iou_threshold))
        keep.append(members[kept])
    keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
    keep = keep[np.argsort(-score_array[keep], kind="stable")]     # equal scores: input order
    return wrap(xp.asarray(keep.astype(np.int64)), is_tensor)
