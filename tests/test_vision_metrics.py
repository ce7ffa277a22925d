"""minicnn.vision metrics: average_precision, mean_average_precision, confusion_matrix,
pixel_accuracy, mean_iou.

* precision/recall tables worked by hand in the comments (VOC all-points AP);
* mAP on two images: duplicates and wrong-class boxes are false positives, missed ground
  truths lower recall, the IoU threshold decides a borderline match;
* segmentation metrics on a 2x3 label map worked by hand, with ignore_index and an absent
  class; properties (perfect prediction, counts) over drawn label maps;
* bad input errors name the function.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
import minicnn.vision as V

FEW = settings(max_examples=25, deadline=None)


# ----------------------------------------------------------------------------- AP

def test_average_precision_by_hand():
    # 5 detections (already by decreasing score), TP pattern 1 0 1 0 1, num_gt = 4:
    #   k          1     2     3     4     5
    #   TP_k       1     1     2     2     3
    #   precision  1    1/2   2/3   1/2   3/5
    #   recall    1/4   1/4   1/2   1/2   3/4
    # interpolated precision (max to the right): 1, 2/3, 2/3, 3/5, 3/5
    # AP = 1/4 * 1 + 0 + 1/4 * 2/3 + 0 + 1/4 * 3/5 = 1/4 + 1/6 + 3/20 = 17/30
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    hits = [True, False, True, False, True]
    assert V.average_precision(scores, hits, num_gt=4) == pytest.approx(17 / 30)
    # the input order does not matter, only the scores do
    order = [3, 0, 4, 2, 1]
    assert V.average_precision(np.array(scores)[order], np.array(hits)[order], 4) == \
        pytest.approx(17 / 30)


def test_average_precision_edge_cases():
    assert V.average_precision([0.9, 0.1], [True, True], num_gt=2) == 1.0       # perfect
    assert V.average_precision([], [], num_gt=3) == 0.0                         # nothing found
    assert V.average_precision([0.5], [False], num_gt=1) == 0.0
    assert np.isnan(V.average_precision([0.5], [False], num_gt=0))              # undefined
    # false positives ranked above the only TP: precision 1/3 at recall 1 -> AP = 1/3
    assert V.average_precision([0.9, 0.8, 0.7], [False, False, True], 1) == pytest.approx(1 / 3)
    # a Tensor of scores works too
    assert V.average_precision(mc.tensor(np.array([0.9, 0.1])), [True, False], 1) == 1.0


@FEW
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=12), st.integers(0, 4))
def test_average_precision_in_unit_interval(pairs, misses):
    scores = [s for s, _ in pairs]
    hits = [h for _, h in pairs]
    num_gt = sum(hits) + misses
    ap = V.average_precision(scores, hits, num_gt)
    if num_gt == 0:
        assert np.isnan(ap)
    else:
        assert 0.0 <= ap <= 1.0 + 1e-12
        # AP <= recall: the area under a curve of height <= 1 that ends at the final recall
        assert ap <= sum(hits) / num_gt + 1e-12


# ----------------------------------------------------------------------------- mAP

def two_images(borderline_box):
    """Image 0: gt class 0 [0,0,10,10], class 1 [20,20,30,30]; image 1: gt class 1 [0,0,5,5].

    Detections, by score:
      .95 img0 class 0 [20,20,30,30]  no class-0 gt there (IoU 0)       -> FP
      .90 img0 class 0 [0,0,10,10]    IoU 1 with the class-0 gt          -> TP
      .80 img0 class 0 [1,1,10,10]    IoU .81 but that gt is used        -> FP
      .60 img0 class 1 [20,20,30,30]  IoU 1                              -> TP
      .30 img1 class 1 ``borderline_box``
    """
    detections = [
        {"boxes": np.array([[20.0, 20, 30, 30], [0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]]),
         "scores": np.array([0.95, 0.9, 0.8, 0.6]), "labels": np.array([0, 0, 0, 1])},
        {"boxes": np.array([borderline_box]), "scores": np.array([0.3]), "labels": np.array([1])},
    ]
    ground_truths = [
        {"boxes": np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "labels": np.array([0, 1])},
        {"boxes": np.array([[0.0, 0, 5, 5]]), "labels": np.array([1])},
    ]
    return detections, ground_truths


def test_mean_average_precision_by_hand():
    # borderline box [0,0,5,10] vs gt [0,0,5,5]: inter 25, union 50 + 25 - 25 = 50 -> IoU 0.5
    detections, ground_truths = two_images([0.0, 0, 5, 10])
    # class 0 (1 gt): FP, TP, FP -> precision 0, 1/2, 1/3; recall 0, 1, 1
    #   interpolated 1/2, 1/2, 1/3 -> AP = (1 - 0) * 1/2 = 1/2
    # class 1 (2 gts), threshold 0.5: TP (.6), TP (.3, IoU 0.5 >= 0.5) -> AP = 1
    mean, per_class = V.mean_average_precision(detections, ground_truths, 0.5,
                                               return_per_class=True)
    np.testing.assert_allclose(per_class, [0.5, 1.0])
    assert mean == pytest.approx(0.75)
    # threshold 0.6: the .3 detection is a FP -> class 1: precision 1, 1/2 at recall 1/2, 1/2
    #   -> AP = 1/2 * 1 = 1/2; mAP = (1/2 + 1/2) / 2 = 1/2
    assert V.mean_average_precision(detections, ground_truths, 0.6) == pytest.approx(0.5)


def test_mean_average_precision_skips_classes_without_ground_truth():
    detections, ground_truths = two_images([0.0, 0, 5, 5])
    # num_classes=3: class 2 has neither gt nor detections -> AP nan, left out of the mean
    mean, per_class = V.mean_average_precision(detections, ground_truths, num_classes=3,
                                               return_per_class=True)
    assert np.isnan(per_class[2]) and mean == pytest.approx(0.75)
    # no detections at all -> every class with a gt has AP 0
    empty = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, int)}] * 2
    assert V.mean_average_precision(empty, ground_truths) == 0.0


def test_each_ground_truth_matches_once_but_a_second_one_can_match():
    # two class-0 gts, both overlapping det A and det B; A takes the better gt, B the other
    ground_truths = [{"boxes": np.array([[0.0, 0, 10, 10], [0, 0, 10, 9]]),
                      "labels": np.array([0, 0])}]
    detections = [{"boxes": np.array([[0.0, 0, 10, 10], [0, 0, 10, 10]]),
                   "scores": np.array([0.9, 0.8]), "labels": np.array([0, 0])}]
    # A: IoU 1 with gt0 -> TP; B: gt0 used, IoU with gt1 = 90/100 = .9 -> TP; AP = 1
    assert V.mean_average_precision(detections, ground_truths) == 1.0


def test_mean_average_precision_errors():
    detections, ground_truths = two_images([0.0, 0, 5, 5])
    with pytest.raises(ValueError, match=r"mean_average_precision: got detections for 1 images "
                                         r"and ground truths for 2"):
        V.mean_average_precision(detections[:1], ground_truths)
    bad = [{"boxes": np.zeros((2, 4)), "labels": np.zeros(2, int)}, detections[1]]
    with pytest.raises(ValueError, match=r"detections\[0\] lacks the keys \['scores'\]"):
        V.mean_average_precision(bad, ground_truths)
    bad = [dict(detections[0], scores=np.zeros(3)), detections[1]]
    with pytest.raises(ValueError, match=r"detections\[0\]\['scores'\] must have shape \(4,\)"):
        V.mean_average_precision(bad, ground_truths)


# ----------------------------------------------------------------------------- segmentation

TARGET = np.array([[0, 0, 1], [1, 2, 2]])
PRED = np.array([[0, 1, 1], [1, 2, 0]])


def test_segmentation_metrics_by_hand():
    # pixel by pixel (target -> pred): 0->0, 0->1, 1->1, 1->1, 2->2, 2->0
    # rows = truth: t0 [1, 1, 0], t1 [0, 2, 0], t2 [1, 0, 1]
    cm = V.confusion_matrix(PRED, TARGET, num_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert cm.dtype == np.int64
    assert V.pixel_accuracy(PRED, TARGET) == pytest.approx(4 / 6)
    # IoU_c = cm[c,c] / (row_c + col_c - cm[c,c]): 1/(2+2-1) = 1/3, 2/(2+3-2) = 2/3, 1/(2+1-1) = 1/2
    mean, per_class = V.mean_iou(PRED, TARGET, 3, return_per_class=True)
    np.testing.assert_allclose(per_class, [1 / 3, 2 / 3, 1 / 2])
    assert mean == pytest.approx(0.5)                 # (1/3 + 2/3 + 1/2) / 3
    # a 4th class absent from both pred and target: IoU nan, left out of the mean
    mean, per_class = V.mean_iou(PRED, TARGET, 4, return_per_class=True)
    assert np.isnan(per_class[3]) and mean == pytest.approx(0.5)


def test_segmentation_ignore_index_and_scores():
    # ignore target 2: pixels (1,1), (1,2) drop; left t [0,0,1,1], p [0,1,1,1]
    # cm [[1,1,0],[0,2,0],[0,0,0]]: accuracy 3/4; IoU 1/2, 2/3, class 2 absent -> mean 7/12
    assert V.pixel_accuracy(PRED, TARGET, ignore_index=2) == pytest.approx(3 / 4)
    assert V.mean_iou(PRED, TARGET, 3, ignore_index=2) == pytest.approx(7 / 12)
    # ignore_index may be outside [0, num_classes), e.g. 255 as in VOC masks
    target = np.where(TARGET == 2, 255, TARGET)
    assert V.confusion_matrix(PRED, target, 3, ignore_index=255).sum() == 4
    # scores (N, C, H, W) are reduced by argmax over the class axis 1
    scores = np.eye(3)[PRED].transpose(2, 0, 1)[None]            # one-hot (1, 3, 2, 3)
    np.testing.assert_array_equal(V.confusion_matrix(mc.tensor(scores), TARGET[None], 3),
                                  V.confusion_matrix(PRED, TARGET, 3))


@FEW
@given(hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=st.integers(0, 3)), st.data())
def test_segmentation_properties(target, data):
    pred = data.draw(hnp.arrays(np.int64, target.shape, elements=st.integers(0, 3)))
    cm = V.confusion_matrix(pred, target, 4)
    assert cm.sum() == target.size
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(target.ravel(), minlength=4))
    assert V.pixel_accuracy(pred, target) == pytest.approx(np.trace(cm) / target.size)
    assert V.mean_iou(target, target, 4) == 1.0 and V.pixel_accuracy(target, target) == 1.0
    assert 0.0 <= V.mean_iou(pred, target, 4) <= 1.0


def test_segmentation_errors():
    with pytest.raises(ValueError, match=r"confusion_matrix: expected pred of the target's shape "
                                         r"\(2, 3\).*got shape \(3, 2\)"):
        V.confusion_matrix(PRED.T, TARGET, 3)
    with pytest.raises(ValueError, match=r"mean_iou: target labels must lie in \[0, 2\) "
                                         r"\(apart from ignore_index=None\), got 0..2"):
        V.mean_iou(PRED, TARGET, 2)
    with pytest.raises(ValueError, match=r"confusion_matrix: pred labels must lie in \[0, 3\)"):
        V.confusion_matrix(PRED + 1, TARGET, 3)
