"""Detection and segmentation metrics: ``average_precision``, ``mean_average_precision``,
``confusion_matrix``, ``pixel_accuracy``, ``mean_iou``.

Inputs may be NumPy arrays, lists or minicnn Tensors; results are Python floats or NumPy
arrays (metrics are evaluated on the CPU and never differentiated).

Detection. Sort the detections of one class by decreasing score; after the first k,
    precision_k = TP_k / k,   recall_k = TP_k / num_gt.
AP is the area under the *interpolated* precision-recall curve (PASCAL VOC 2010+, "all
points"): p_interp(r) = max over r' >= r of precision(r'), and
    AP = sum over k of (recall_k - recall_{k-1}) * p_interp(recall_k),   recall_0 = 0.
"""
import numpy as np

from ..autograd.tensor import Tensor
from .boxes import check_boxes, iou_matrix, to_host

__all__ = ["average_precision", "mean_average_precision", "confusion_matrix",
           "pixel_accuracy", "mean_iou"]


def _numpy(value):
    """A NumPy array from an array, a list or a (CPU or GPU) Tensor."""
    if isinstance(value, Tensor):
        value = value.data
    return np.asarray(to_host(value))


# ----------------------------------------------------------------------------- detection

def average_precision(scores, is_true_positive, num_gt):
    """AP of one class: ``scores`` (D,) of its detections, ``is_true_positive`` (D,) bools
    (did the detection match a ground truth), ``num_gt`` ground truths of the class.

    VOC 2010+ all-points rule (module docstring). Equal scores keep their input order.
    Returns a float in [0, 1]; 0.0 when there are ground truths but no true positive, nan
    when ``num_gt == 0`` (AP is undefined; ``mean_average_precision`` skips such classes).

    >>> average_precision([0.9, 0.8, 0.7], [True, False, True], num_gt=2)
    0.8333...       # p = 1, 1/2, 2/3 at r = 1/2, 1/2, 1 -> 1/2 * 1 + 1/2 * 2/3
    """
    op = "average_precision"
    scores = _numpy(scores).astype(np.float64).ravel()
    hits = _numpy(is_true_positive).astype(bool).ravel()
    if scores.shape != hits.shape:
        raise ValueError(f"{op}: scores {scores.shape} and is_true_positive {hits.shape} "
                         "must have the same length")
    if num_gt < 0 or hits.sum() > num_gt:
        raise ValueError(f"{op}: num_gt={num_gt} must be >= 0 and at least the number of "
                         f"true positives ({int(hits.sum())})")
    if num_gt == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    true_positives = np.cumsum(hits[order])                      # TP_k
    precision = true_positives / np.arange(1, len(order) + 1)    # TP_k / k
    recall = true_positives / num_gt                             # TP_k / num_gt
    # p_interp: running max from the right (precision can only rise when recall rises)
    interpolated = np.maximum.accumulate(precision[::-1])[::-1]
    recall_steps = np.diff(np.concatenate([[0.0], recall]))      # recall_k - recall_{k-1}
    return float(np.sum(recall_steps * interpolated))


def _match_class(detections, ground_truths, label, iou_threshold):
    """(scores, is_true_positive, num_gt) of one class over all images.

    Greedy by decreasing score over all images: a detection is a true positive when the
    unmatched ground truth of its image and class with the highest IoU has IoU >=
    iou_threshold; that ground truth is then used up (each matched at most once).
    """
    entries = []                                  # (score, image, box) of this class
    for image, det in enumerate(detections):
        keep = det["labels"] == label
        entries += [(s, image, b) for s, b in zip(det["scores"][keep], det["boxes"][keep])]
    gt_boxes = [gt["boxes"][gt["labels"] == label] for gt in ground_truths]
    used = [np.zeros(len(boxes), dtype=bool) for boxes in gt_boxes]
    num_gt = sum(len(boxes) for boxes in gt_boxes)
    order = sorted(range(len(entries)), key=lambda i: -entries[i][0])   # stable
    scores, hits = [], []
    for i in order:
        score, image, box = entries[i]
        candidates = gt_boxes[image]
        hit = False
        if len(candidates):
            iou = np.nan_to_num(iou_matrix(box[None].astype(np.float64), candidates)[0])
            iou[used[image]] = -1.0               # a ground truth counts once
            best = int(iou.argmax())
            if iou[best] >= iou_threshold:
                used[image][best] = hit = True
        scores.append(score)
        hits.append(hit)
    return np.array(scores, dtype=np.float64), np.array(hits, dtype=bool), num_gt


def _as_records(op, items, name, with_scores):
    """Each per-image dict as NumPy arrays, with its shapes checked."""
    keys = ("boxes", "scores", "labels") if with_scores else ("boxes", "labels")
    records = []
    for image, item in enumerate(items):
        missing = [key for key in keys if key not in item]
        if missing:
            raise ValueError(f"{op}: {name}[{image}] lacks the keys {missing}; expected a dict "
                             f"with {list(keys)}")
        record = {key: _numpy(item[key]) for key in keys}
        if record["boxes"].size == 0:
            record["boxes"] = record["boxes"].reshape(0, 4)        # an empty list -> (0, 4)
        check_boxes(op, record["boxes"], f"{name}[{image}]['boxes']")
        for key in keys[1:]:
            if record[key].shape != (len(record["boxes"]),):
                raise ValueError(f"{op}: {name}[{image}]['{key}'] must have shape "
                                 f"({len(record['boxes'])},) to match its boxes, got "
                                 f"{record[key].shape}")
        records.append(record)
    return records


def mean_average_precision(detections, ground_truths, iou_threshold=0.5, num_classes=None,
                           return_per_class=False):
    """mAP at one IoU threshold (PASCAL VOC style) over a data set.

    ``detections``: a list with one dict per image, ``boxes`` (D, 4) xyxy, ``scores``
    (D,), ``labels`` (D,) ints; ``ground_truths``: the same list of dicts with ``boxes``
    (G, 4) and ``labels`` (G,). Classes are 0 .. num_classes-1 (default: the largest label
    seen + 1). Per class, detections are matched greedily by decreasing score (see
    ``_match_class``: IoU >= iou_threshold, each ground truth once), then
    ``average_precision`` is taken. The mean is over classes that have ground truths
    (no "difficult" flags, no COCO area ranges).

    Returns the mAP as a float (nan if no class has a ground truth), or
    ``(map, per_class_ap)`` with ``return_per_class`` (nan for classes without ground truth).
    """
    op = "mean_average_precision"
    if len(detections) != len(ground_truths):
        raise ValueError(f"{op}: got detections for {len(detections)} images and ground "
                         f"truths for {len(ground_truths)}; expected one dict per image each")
    detections = _as_records(op, detections, "detections", with_scores=True)
    ground_truths = _as_records(op, ground_truths, "ground_truths", with_scores=False)
    if num_classes is None:
        labels = [r["labels"] for r in detections + ground_truths if r["labels"].size]
        num_classes = int(max(label.max() for label in labels)) + 1 if labels else 0
    per_class = np.full(num_classes, np.nan)
    for label in range(num_classes):
        scores, hits, num_gt = _match_class(detections, ground_truths, label, iou_threshold)
        per_class[label] = average_precision(scores, hits, num_gt)
    present = ~np.isnan(per_class)
    mean = float(per_class[present].mean()) if present.any() else float("nan")
    return (mean, per_class) if return_per_class else mean


# ----------------------------------------------------------------------------- segmentation

def _labels(op, pred, target, num_classes, ignore_index):
    """Flat (pred, target) class indices of the counted pixels.

    ``pred`` may be labels of the target's shape, or scores with one more axis (the class
    axis 1, (N, C, H, W) for a (N, H, W) target), reduced by argmax.
    """
    pred, target = _numpy(pred), _numpy(target)
    if pred.ndim == target.ndim + 1:
        pred = pred.argmax(axis=1)
    if pred.shape != target.shape:
        raise ValueError(f"{op}: expected pred of the target's shape {target.shape} (labels) "
                         f"or with a class axis 1 (scores), got shape {pred.shape}")
    pred, target = pred.ravel().astype(np.int64), target.ravel().astype(np.int64)
    counted = target != ignore_index if ignore_index is not None else np.ones_like(target, bool)
    pred, target = pred[counted], target[counted]
    for name, values in (("target", target), ("pred", pred)):
        if num_classes is not None and values.size and (values.min() < 0
                                                         or values.max() >= num_classes):
            raise ValueError(f"{op}: {name} labels must lie in [0, {num_classes}) (apart "
                             f"from ignore_index={ignore_index}), got {values.min()}.."
                             f"{values.max()}")
    return pred, target


def confusion_matrix(pred, target, num_classes, ignore_index=None):
    """(num_classes, num_classes) int64 counts: ``cm[t, p]`` = pixels of true class t
    predicted as p (rows: truth, columns: prediction). Pixels whose target equals
    ``ignore_index`` are not counted. Shapes of ``pred``: see ``_labels``.

    >>> confusion_matrix([0, 1, 1], [0, 0, 1], num_classes=2)   # [[1, 1], [0, 1]]
    """
    return _confusion("confusion_matrix", pred, target, num_classes, ignore_index)


def _confusion(op, pred, target, num_classes, ignore_index):
    """The confusion matrix, with errors naming the public function ``op``."""
    pred, target = _labels(op, pred, target, num_classes, ignore_index)
    counts = np.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def pixel_accuracy(pred, target, ignore_index=None):
    """Fraction of the counted pixels (target != ignore_index) whose predicted class is
    right: trace(cm) / sum(cm). nan when no pixel is counted."""
    pred, target = _labels("pixel_accuracy", pred, target, None, ignore_index)
    return float((pred == target).mean()) if target.size else float("nan")


def mean_iou(pred, target, num_classes, ignore_index=None, return_per_class=False):
    """Mean intersection over union of the classes, from the confusion matrix cm:

        IoU_c = cm[c, c] / (sum_p cm[c, p] + sum_t cm[t, c] - cm[c, c])

    A class absent from both pred and target (0 / 0) has IoU nan and is left out of the
    mean. Returns a float (nan if every class is absent), or ``(mean, per_class)``.
    """
    cm = _confusion("mean_iou", pred, target, num_classes, ignore_index).astype(np.float64)
    inter = np.diag(cm)
    union = cm.sum(axis=1) + cm.sum(axis=0) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = inter / union
    present = union > 0
    mean = float(per_class[present].mean()) if present.any() else float("nan")
    return (mean, per_class) if return_per_class else mean
