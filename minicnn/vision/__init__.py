"""Detection and segmentation utilities, named as in torchvision.ops.

Boxes are ``(N, 4)`` arrays or Tensors in (x1, y1, x2, y2) pixels unless said otherwise.

boxes.py    ``box_area``, ``box_iou``, ``box_convert`` ("xyxy", "xywh", "cxcywh"),
            ``nms``, ``batched_nms``
anchors.py  ``make_anchors``, ``sliding_windows``, ``encode_boxes`` / ``decode_boxes``
            (Faster R-CNN's (dx, dy, dw, dh)), ``assign_anchors`` (fg / bg / ignore
            labels), ``yolo_targets`` (YOLOv1 grid targets)
roi.py      ``roi_pool`` (differentiable, torchvision's bin rounding) and the layer ``RoIPool``
metrics.py  ``average_precision`` (VOC all-points), ``mean_average_precision``,
            ``confusion_matrix``, ``pixel_accuracy``, ``mean_iou``

    import minicnn.vision as V
    keep = V.nms(boxes, scores, iou_threshold=0.5)
"""
from .anchors import (assign_anchors, decode_boxes, encode_boxes, make_anchors,  # noqa: F401
                      sliding_windows, yolo_targets)
from .boxes import batched_nms, box_area, box_convert, box_iou, nms  # noqa: F401
from .metrics import (average_precision, confusion_matrix, mean_average_precision,  # noqa: F401
                      mean_iou, pixel_accuracy)
from .roi import RoIPool, roi_pool  # noqa: F401

__all__ = ["box_area", "box_iou", "box_convert", "nms", "batched_nms",
           "make_anchors", "sliding_windows", "encode_boxes", "decode_boxes", "assign_anchors",
           "yolo_targets", "roi_pool", "RoIPool",
           "average_precision", "mean_average_precision", "confusion_matrix", "pixel_accuracy",
           "mean_iou"]
