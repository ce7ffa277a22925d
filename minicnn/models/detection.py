"""A YOLO-style single-shot detector (Redmon et al., "You Only Look Once", 2016), small
enough to train on the CPU: ``TinyYOLO`` / ``tiny_yolo``, its loss ``yolo_loss``, the
targets of a batch ``yolo_batch_targets`` and ``decode_predictions`` (boxes, scores, labels
after non-maximum suppression).

YOLOv1 cuts the image into an S x S grid; the cell holding a box's centre is responsible
for it and predicts, with one box per cell (as ``minicnn.vision.yolo_targets``):

    channels  raw output     prediction                                             target
    0, 1      tx, ty         centre offset in the cell = sigmoid(tx), sigmoid(ty)   x, y in [0, 1)
    2, 3      tw, th         sqrt(w), sqrt(h) = sigmoid(tw), sigmoid(th)            sqrt of w, h
    4         to             objectness = sigmoid(to)                               1 or 0
    5..4+C    class logits   p(class | object) = softmax of the C logits            one-hot

(w, h are the box's size divided by the image's.)

Width and height go through a sigmoid that predicts their *square root*: YOLOv1's loss on
sqrt(w) (an error on a small box costs more than the same error on a big one) becomes a plain
squared error between numbers in (0, 1): no sqrt of a prediction, no exp that can overflow,
and a box never exceeds the image. Decoding squares it back: w = sigmoid(tw)^2.

Class labels are 0..C-1 (``yolo_targets``'s convention); ``ShapesDetection`` numbers its
shapes 1..C, so pass ``first_label=1`` to ``yolo_batch_targets`` and add 1 to decoded labels.
"""
import numpy as np

from .. import functional as F
from .. import nn
from ..autograd.tensor import Tensor
from ..vision import batched_nms, yolo_targets
from .fcn import _check_positive

__all__ = ["TinyYOLO", "tiny_yolo", "yolo_loss", "yolo_batch_targets", "decode_predictions"]

BACKBONE_STRIDE = 8  # three 2x2 max-pools


def conv_bn_leaky(in_channels, out_channels, kernel_size=3):
    """conv (padding k//2, no bias: BN's beta is the bias) -> BatchNorm2d -> LeakyReLU(0.1),
    YOLO's unit; keeps H and W."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                                   bias=False),
                         nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.1))


class TinyYOLO(nn.Module):
    """A small YOLOv1: (N, in_channels, H, W) -> (N, S, S, 5 + num_classes), S = grid_size.

    With b = base:

        features   conv-BN-leaky in_channels -> b,  max-pool 2     (H/2)
                   conv-BN-leaky b -> 2b,           max-pool 2     (H/4)
                   conv-BN-leaky 2b -> 4b,          max-pool 2     (H/8)
        grid       AdaptiveMaxPool2d(S)                            (S x S; the identity when H/8 = S)
        neck       conv-BN-leaky 4b -> 8b at S x S (3x3: each cell sees its neighbours)
        head       1x1 conv 8b -> 5 + num_classes (with bias: these are the raw outputs)

    The head gives (N, 5 + C, S, S); ``forward`` permutes it to (N, S, S, 5 + C), the layout
    of ``yolo_targets`` (cell (row, col) first, its vector last). Inputs need H, W >= 8 S;
    with H, W multiples of 8 S the grid's cells are exactly the targets' cells.
    """

    def __init__(self, num_classes, in_channels=3, grid_size=8, base=16):
        super().__init__()
        _check_positive("TinyYOLO", num_classes=num_classes, in_channels=in_channels,
                        grid_size=grid_size, base=base)
        self.num_classes, self.grid_size = int(num_classes), int(grid_size)
        b = int(base)
        self.features = nn.Sequential(
            conv_bn_leaky(in_channels, b), nn.MaxPool2d(2),
            conv_bn_leaky(b, 2 * b), nn.MaxPool2d(2),
            conv_bn_leaky(2 * b, 4 * b), nn.MaxPool2d(2),
        )
        self.grid = nn.AdaptiveMaxPool2d(self.grid_size)
        self.neck = conv_bn_leaky(4 * b, 8 * b)
        self.head = nn.Conv2d(8 * b, 5 + self.num_classes, kernel_size=1)

    def forward(self, x):
        """x: (N, C_in, H, W) -> raw predictions (N, S, S, 5 + num_classes)."""
        if x.ndim != 4:
            raise ValueError(f"TinyYOLO: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
        smallest = BACKBONE_STRIDE * self.grid_size
        if min(x.shape[-2:]) < smallest:
            raise ValueError(f"TinyYOLO: input height and width must be at least 8 * grid_size = "
                             f"{smallest}, got {x.shape[-2]}x{x.shape[-1]}")
        x = self.grid(self.features(x))               # (N, 4b, S, S)
        x = self.head(self.neck(x))                   # (N, 5 + C, S, S)
        return x.permute(0, 2, 3, 1)                  # (N, S, S, 5 + C)


def tiny_yolo(num_classes, in_channels=3, grid_size=8, base=16):
    """A small YOLOv1-style detector; see :class:`TinyYOLO`."""
    return TinyYOLO(num_classes, in_channels, grid_size, base)


# ----------------------------------------------------------------------------- targets

def yolo_batch_targets(targets, grid_size, image_size, num_classes, first_label=0):
    """Stack ``yolo_targets`` over a batch: a list of dicts with ``boxes`` (G, 4) xyxy pixels
    and ``labels`` (G,) (as ``detection_collate`` gives) -> (N, S, S, 5 + num_classes)
    float64. Labels ``first_label .. first_label + num_classes - 1`` become 0..C-1."""
    grids = [yolo_targets(np.asarray(t["boxes"], dtype=np.float64).reshape(-1, 4),
                          np.asarray(t["labels"]).astype(np.int64) - first_label,
                          grid_size, image_size, num_classes) for t in targets]
    if not grids:
        raise ValueError("yolo_batch_targets: got an empty list of targets")
    return np.stack(grids)


# ----------------------------------------------------------------------------- loss

def _check_layout(op, predictions, targets):
    if predictions.ndim != 4 or predictions.shape[-1] < 6:
        raise ValueError(f"{op}: expected predictions of shape (N, S, S, 5 + C) with C >= 1, "
                         f"got shape {tuple(predictions.shape)}")
    if targets is not None and tuple(targets.shape) != tuple(predictions.shape):
        raise ValueError(f"{op}: expected targets of the predictions' shape "
                         f"{tuple(predictions.shape)} (see yolo_targets), got {tuple(targets.shape)}")


def yolo_loss(predictions, targets, lambda_coord=5.0, lambda_noobj=0.5):
    """The YOLOv1 loss of raw ``predictions`` (N, S, S, 5 + C) (a Tensor, e.g. TinyYOLO's
    output) against ``targets`` (N, S, S, 5 + C) from ``yolo_targets`` -> a 0-d Tensor,
    summed over cells and averaged over the N images. With 1_obj = targets[..., 4] (the
    responsible cells), sigma the sigmoid and BCE(z, y) = -y log sigma(z) - (1-y) log(1-sigma(z)):

        lambda_coord * sum 1_obj [(sigma(tx) - x)^2 + (sigma(ty) - y)^2
                                  + (sigma(tw) - sqrt w)^2 + (sigma(th) - sqrt h)^2]
      + sum 1_obj BCE(to, 1) + lambda_noobj * sum (1 - 1_obj) BCE(to, 0)
      + sum 1_obj CE(class logits, class)

    YOLOv1 regresses the confidence to the IoU with squared error; here objectness is a
    logistic classification (as YOLOv3), stable for any logit via BCE-with-logits.
    """
    op = "yolo_loss"
    if not isinstance(predictions, Tensor):
        raise TypeError(f"{op}: predictions must be a minicnn Tensor (the model's output), "
                        f"got {type(predictions).__name__}")
    target_array = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    _check_layout(op, predictions, target_array)
    if lambda_coord < 0 or lambda_noobj < 0:
        raise ValueError(f"{op}: lambda_coord and lambda_noobj must be >= 0, got "
                         f"{lambda_coord} and {lambda_noobj}")
    target_array = target_array.astype(predictions.dtype)
    batch = predictions.shape[0]
    has_object = target_array[..., 4]                                   # (N, S, S), 1 or 0
    # coordinates: sigmoid(tx, ty) vs offsets; sigmoid(tw, th) vs sqrt(w, h)
    coords = F.sigmoid(predictions[..., 0:4])                           # (N, S, S, 4)
    wanted = np.concatenate([target_array[..., 0:2], np.sqrt(target_array[..., 2:4])], axis=-1)
    coord_error = ((coords - Tensor(wanted)) ** 2).sum(dim=-1)          # (N, S, S)
    coord_loss = (coord_error * Tensor(has_object)).sum()
    # objectness: BCE-with-logits, weight 1 in responsible cells, lambda_noobj elsewhere
    weight = has_object + lambda_noobj * (1.0 - has_object)
    object_loss = F.binary_cross_entropy_with_logits(predictions[..., 4], Tensor(has_object),
                                                     weight=Tensor(weight), reduction="sum")
    # classes: -sum_c onehot_c log softmax_c, non-zero only in responsible cells
    log_probs = F.log_softmax(predictions[..., 5:], dim=-1)             # (N, S, S, C)
    class_loss = -(log_probs * Tensor(target_array[..., 5:])).sum()
    return (lambda_coord * coord_loss + object_loss + class_loss) / batch


# ----------------------------------------------------------------------------- decoding

def _sigmoid(x):
    """1 / (1 + e^-x) on a NumPy array without overflow: e^-|x| never exceeds 1."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def decode_predictions(predictions, image_size, score_threshold=0.3, iou_threshold=0.5):
    """Detections from raw ``predictions`` (N, S, S, 5 + C) (a Tensor or an array) -> a list
    of N dicts ``{"boxes": (K, 4) float64 xyxy pixels, "scores": (K,), "labels": (K,) int64}``,
    sorted by decreasing score (the format of ``mean_average_precision``).

    Cell (row, col) of an image of ``image_size`` (H, W) (or an int) decodes to
        cx = (col + sigma(tx)) W / S,  cy = (row + sigma(ty)) H / S,
        w = sigma(tw)^2 W,             h = sigma(th)^2 H,
    clipped to the image; its score is YOLOv1's class-specific confidence
    sigma(to) * max_c softmax_c and its label the argmax. Cells scoring below
    ``score_threshold`` are dropped, then ``batched_nms`` (per class) at ``iou_threshold``.
    """
    op = "decode_predictions"
    raw = predictions.data if isinstance(predictions, Tensor) else np.asarray(predictions)
    _check_layout(op, raw, None)
    raw = np.asarray(raw.get() if hasattr(raw, "get") else raw, dtype=np.float64)  # CuPy -> host
    height, width = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    if height <= 0 or width <= 0:
        raise ValueError(f"{op}: image_size must be positive, got {image_size!r}")
    rows, cols = raw.shape[1], raw.shape[2]
    grid_y, grid_x = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")   # (S, S)
    centre_x = (grid_x + _sigmoid(raw[..., 0])) * width / cols                      # (N, S, S)
    centre_y = (grid_y + _sigmoid(raw[..., 1])) * height / rows
    box_w, box_h = _sigmoid(raw[..., 2]) ** 2 * width, _sigmoid(raw[..., 3]) ** 2 * height
    boxes = np.stack([centre_x - box_w / 2, centre_y - box_h / 2,
                      centre_x + box_w / 2, centre_y + box_h / 2], axis=-1)
    boxes = np.clip(boxes, 0.0, [width, height, width, height])                     # (N, S, S, 4)
    logits = raw[..., 5:] - raw[..., 5:].max(axis=-1, keepdims=True)                # stable softmax
    class_probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    scores = _sigmoid(raw[..., 4]) * class_probs.max(axis=-1)                       # (N, S, S)
    labels = class_probs.argmax(axis=-1)
    results = []
    for image in range(raw.shape[0]):
        image_boxes, image_scores = boxes[image].reshape(-1, 4), scores[image].ravel()
        image_labels = labels[image].ravel().astype(np.int64)
        kept = np.flatnonzero(image_scores >= score_threshold)
        kept = kept[batched_nms(image_boxes[kept], image_scores[kept], image_labels[kept],
                                iou_threshold)]
        results.append({"boxes": image_boxes[kept], "scores": image_scores[kept],
                        "labels": image_labels[kept]})
    return results
