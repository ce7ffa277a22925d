"""minicnn.vision boxes and anchors: box_area, box_iou, box_convert, nms, batched_nms,
make_anchors, sliding_windows, encode_boxes/decode_boxes, assign_anchors, yolo_targets.

* hand-worked values (the arithmetic is in the comments);
* properties over hypothesis-drawn boxes: IoU symmetric, in [0, 1], IoU(b, b) = 1; nms keeps
  the top box and leaves no pair above the threshold, and equals a brute-force O(n^2)
  greedy reference; decode(encode(gt)) = gt; every gt gets a foreground anchor;
* NumPy in -> NumPy out, Tensor in -> Tensor out; bad input errors name the function.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.vision as V

FEW = settings(max_examples=30, deadline=None)


@st.composite
def boxes(draw, min_count=1, max_count=8, low=0, high=20):
    """(N, 4) float64 xyxy boxes with positive width and height, integer corners (so equal
    IoUs and the threshold comparisons are exact enough to reason about)."""
    count = draw(st.integers(min_count, max_count))
    rows = []
    for _ in range(count):
        x1, y1 = draw(st.integers(low, high - 1)), draw(st.integers(low, high - 1))
        x2, y2 = draw(st.integers(x1 + 1, high)), draw(st.integers(y1 + 1, high))
        rows.append([x1, y1, x2, y2])
    return np.array(rows, dtype=np.float64)


def scalar_iou(a, b):
    """IoU of two boxes written out with Python numbers (the test's own reference)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def brute_force_nms(boxes, scores, threshold):
    """The definition: visit by decreasing score (ties: input order); keep a box when its
    IoU with every box kept so far is <= threshold."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(scalar_iou(boxes[i], boxes[j]) <= threshold for j in kept):
            kept.append(i)
    return kept


# ----------------------------------------------------------------------------- area, IoU, formats

def test_box_area_by_hand():
    # (2 - 0) * (3 - 0) = 6;  (4 - 1) * (5 - 1) = 12
    area = V.box_area(np.array([[0, 0, 2, 3], [1, 1, 4, 5]]))
    np.testing.assert_array_equal(area, [6, 12])


def test_box_iou_by_hand():
    a = np.array([[0.0, 0, 2, 2], [0, 0, 4, 4]])
    b = np.array([[1.0, 1, 3, 3], [2, 0, 4, 2]])
    # [0,0,2,2] & [1,1,3,3]: inter 1x1 = 1, union 4 + 4 - 1 = 7       -> 1/7
    # [0,0,2,2] & [2,0,4,2]: they only touch, inter 0                  -> 0
    # [0,0,4,4] & [1,1,3,3]: inter 2x2 = 4, union 16 + 4 - 4 = 16      -> 1/4
    # [0,0,4,4] & [2,0,4,2]: inter 2x2 = 4, union 16 + 4 - 4 = 16      -> 1/4
    np.testing.assert_allclose(V.box_iou(a, b), [[1 / 7, 0], [1 / 4, 1 / 4]])


@FEW
@given(boxes(), boxes())
def test_box_iou_properties(first, second):
    iou = V.box_iou(first, second)
    assert iou.shape == (len(first), len(second))
    assert np.all((iou >= 0) & (iou <= 1 + 1e-12))
    np.testing.assert_allclose(V.box_iou(second, first), iou.T)              # symmetric
    np.testing.assert_allclose(np.diag(V.box_iou(first, first)), 1.0)       # IoU(b, b) = 1
    expected = [[scalar_iou(a, b) for b in second] for a in first]
    np.testing.assert_allclose(iou, expected)


def test_tensor_in_tensor_out_and_integer_boxes_give_float():
    iou = V.box_iou(mc.tensor(np.array([[0.0, 0, 2, 2]])), mc.tensor(np.array([[1.0, 1, 3, 3]])))
    assert isinstance(iou, mc.Tensor) and iou.shape == (1, 1)
    assert V.box_iou(np.array([[0, 0, 2, 2]]), np.array([[0, 0, 2, 1]])).dtype == np.float64
    assert isinstance(V.nms(mc.tensor(np.array([[0.0, 0, 1, 1]])), mc.tensor(np.array([1.0])),
                            0.5), mc.Tensor)


def test_box_convert_by_hand():
    xyxy = np.array([[1.0, 2, 5, 8]])
    # xywh: (x1, y1, 5 - 1, 8 - 2) = (1, 2, 4, 6);  cxcywh: ((1+5)/2, (2+8)/2, 4, 6) = (3, 5, 4, 6)
    np.testing.assert_allclose(V.box_convert(xyxy, "xyxy", "xywh"), [[1, 2, 4, 6]])
    np.testing.assert_allclose(V.box_convert(xyxy, "xyxy", "cxcywh"), [[3, 5, 4, 6]])
    np.testing.assert_allclose(V.box_convert(np.array([[3.0, 5, 4, 6]]), "cxcywh", "xywh"),
                               [[1, 2, 4, 6]])


@FEW
@given(boxes(), st.sampled_from(["xyxy", "xywh", "cxcywh"]),
       st.sampled_from(["xyxy", "xywh", "cxcywh"]))
def test_box_convert_round_trip(xyxy, middle, last):
    there = V.box_convert(V.box_convert(xyxy, "xyxy", middle), middle, last)
    np.testing.assert_allclose(V.box_convert(there, last, "xyxy"), xyxy, atol=1e-12)


# ----------------------------------------------------------------------------- NMS

def test_nms_by_hand():
    # A=[0,0,10,10] s.9, B=[1,1,10,10] s.8: IoU = 81/100 = 0.81 > 0.5 -> B goes;
    # C=[20,20,30,30] overlaps nothing -> kept. Order by score: [A, C] = [0, 2].
    boxes_ = np.array([[0.0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    keep = V.nms(boxes_, np.array([0.9, 0.8, 0.7]), 0.5)
    assert keep.dtype == np.int64
    np.testing.assert_array_equal(keep, [0, 2])
    # scores reversed: C (s.9) first, then B (s.8) kept, A (s.7) has IoU .81 with B -> gone
    np.testing.assert_array_equal(V.nms(boxes_, np.array([0.7, 0.8, 0.9]), 0.5), [2, 1])


def test_nms_threshold_is_strict_and_suppressed_boxes_suppress_nothing():
    # [0,0,3,1] and [1,0,4,1]: inter 2, union 3 + 3 - 2 = 4 -> IoU exactly 0.5
    pair = np.array([[0.0, 0, 3, 1], [1, 0, 4, 1]])
    np.testing.assert_array_equal(V.nms(pair, np.array([0.9, 0.8]), 0.5), [0, 1])   # 0.5 !> 0.5
    np.testing.assert_array_equal(V.nms(pair, np.array([0.9, 0.8]), 0.49), [0])
    # A=[0,0,10,10], B=[5,0,15,10], C=[10,0,20,10]: IoU(A,B) = IoU(B,C) = 50/150 = 1/3,
    # IoU(A,C) = 0. At 0.3 A removes B; C survives because B (removed) removes nothing.
    chain = np.array([[0.0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]])
    np.testing.assert_array_equal(V.nms(chain, np.array([0.9, 0.8, 0.7]), 0.3), [0, 2])


@FEW
@given(boxes(max_count=10), st.floats(0.0, 0.9), st.data())
def test_nms_matches_brute_force_and_properties(boxes_, threshold, data):
    scores = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(boxes_),
                                         max_size=len(boxes_))))
    keep = V.nms(boxes_, scores, threshold)
    assert keep.tolist() == brute_force_nms(boxes_, scores, threshold)
    assert keep[0] == int(np.argmax(scores))                     # the top box is kept
    assert np.all(np.diff(scores[keep]) <= 0)                    # sorted by decreasing score
    iou = V.box_iou(boxes_[keep], boxes_[keep])
    assert np.all(iou[~np.eye(len(keep), dtype=bool)] <= threshold)


def test_batched_nms_by_hand():
    # two identical boxes: same category -> the lower score goes; other category -> both stay
    same = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    scores = np.array([0.6, 0.9, 0.8])
    np.testing.assert_array_equal(V.batched_nms(same, scores, np.array([0, 0, 1]), 0.5), [1, 2])
    assert V.batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5).shape == (0,)


@FEW
@given(boxes(max_count=10), st.data())
def test_batched_nms_equals_nms_on_separated_categories(boxes_, data):
    count = len(boxes_)
    scores = np.array(data.draw(st.lists(st.floats(0, 1), min_size=count, max_size=count)))
    idxs = np.array(data.draw(st.lists(st.integers(0, 2), min_size=count, max_size=count)))
    # torchvision's trick: shift each category far away, so boxes of two categories never overlap
    shifted = boxes_ + 100.0 * idxs[:, None]
    np.testing.assert_array_equal(V.batched_nms(boxes_, scores, idxs, 0.4),
                                  V.nms(shifted, scores, 0.4))


def test_box_errors_name_the_function_and_the_shapes():
    with pytest.raises(ValueError, match=r"box_iou: expected boxes2 of shape \(N, 4\).*\(3, 5\)"):
        V.box_iou(np.zeros((2, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"nms: expected scores of shape \(N,\) = \(2,\).*\(3,\)"):
        V.nms(np.zeros((2, 4)), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"box_convert: in_fmt must be one of"):
        V.box_convert(np.zeros((1, 4)), "xy", "xyxy")
    with pytest.raises(ValueError, match=r"batched_nms: expected idxs of shape"):
        V.batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"box_area: expected boxes of shape \(N, 4\).*\(4,\)"):
        V.box_area(np.zeros(4))


# ----------------------------------------------------------------------------- anchors

def test_make_anchors_by_hand():
    # 1x2 map, stride 16: cell centres (0.5*16, 0.5*16) = (8, 8) and (24, 8); size 8, ratio 1
    # -> half side 4: [4, 4, 12, 12] and [20, 4, 28, 12]
    np.testing.assert_allclose(V.make_anchors((1, 2), 16, sizes=[8], aspect_ratios=[1.0]),
                               [[4, 4, 12, 12], [20, 4, 28, 12]])
    # one cell, centre (8, 8); ratio r = h/w: w = s/sqrt(r), h = s*sqrt(r); the size varies fastest
    #   r=1/4, s=8:  w=16, h=4  -> [0, 6, 16, 10];    r=1/4, s=16: w=32, h=8  -> [-8, 4, 24, 12]
    #   r=4,   s=8:  w=4,  h=16 -> [6, 0, 10, 16];    r=4,   s=16: w=8,  h=32 -> [4, -8, 12, 24]
    anchors = V.make_anchors(1, 16, sizes=[8, 16], aspect_ratios=[0.25, 4.0])
    np.testing.assert_allclose(anchors, [[0, 6, 16, 10], [-8, 4, 24, 12],
                                         [6, 0, 10, 16], [4, -8, 12, 24]])


@FEW
@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from([4, 8, 16]))
def test_make_anchors_shape_centres_and_areas(height, width, stride):
    sizes, ratios = [8.0, 16.0], [0.5, 1.0, 2.0]
    anchors = V.make_anchors((height, width), stride, sizes, ratios)
    assert anchors.shape == (height * width * 6, 4)
    cells = anchors.reshape(height, width, 6, 4)
    centres = (cells[..., :2] + cells[..., 2:]) / 2
    np.testing.assert_allclose(centres[..., 0], ((np.arange(width) + 0.5) * stride)[None, :, None]
                               * np.ones((height, 1, 6)))
    areas = V.box_area(anchors).reshape(height, width, 3, 2)
    np.testing.assert_allclose(areas, np.broadcast_to(np.square(sizes), areas.shape))


def test_sliding_windows_by_hand():
    # image 4x6, window 2x3, stride (2, 3): rows (4-2)//2 + 1 = 2, columns (6-3)//3 + 1 = 2
    np.testing.assert_allclose(V.sliding_windows((4, 6), (2, 3), (2, 3)),
                               [[0, 0, 3, 2], [3, 0, 6, 2], [0, 2, 3, 4], [3, 2, 6, 4]])
    assert V.sliding_windows(32, 8, 4).shape == (7 * 7, 4)       # (32 - 8)//4 + 1 = 7
    with pytest.raises(ValueError, match=r"sliding_windows: window \(5, 5\) is larger"):
        V.sliding_windows((4, 4), 5, 1)


def test_encode_boxes_by_hand():
    # anchor [0,0,10,10]: centre (5, 5), size 10x10; gt [5,0,25,10]: centre (15, 5), size 20x10
    # dx = (15-5)/10 = 1, dy = 0, dw = log(20/10) = log 2, dh = log 1 = 0
    anchor, gt = np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 0, 25, 10]])
    np.testing.assert_allclose(V.encode_boxes(anchor, gt), [[1, 0, math.log(2), 0]])
    np.testing.assert_allclose(V.encode_boxes(anchor, gt, weights=(10, 10, 5, 5)),
                               [[10, 0, 5 * math.log(2), 0]])
    np.testing.assert_allclose(V.decode_boxes(anchor, np.array([[1, 0, math.log(2), 0]])), gt)


@FEW
@given(boxes(min_count=3, max_count=3), st.data(),
       st.sampled_from([(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]))
def test_decode_inverts_encode(anchors, data, weights):
    gt = data.draw(boxes(min_count=3, max_count=3))
    deltas = V.encode_boxes(anchors, gt, weights)
    np.testing.assert_allclose(V.decode_boxes(anchors, deltas, weights), gt, atol=1e-9)
    tensors = V.decode_boxes(mc.tensor(anchors), mc.tensor(deltas), weights)
    assert isinstance(tensors, mc.Tensor)


def test_assign_anchors_by_hand():
    anchors = np.array([[0.0, 0, 10, 10],      # a0: IoU 1 with g0                    -> 1
                        [0, 0, 10, 5],         # a1: IoU 50/100 = 0.5 with g0, in [.3, .7) -> -1
                        [20, 20, 30, 30],      # a2: with g1 inter 9*9=81, union 100 -> .81 -> 1
                        [100, 100, 110, 110],  # a3: overlaps nothing                 -> 0
                        [40, 40, 50, 50]])     # a4: with g2 100/200 = 0.5, but g2's best -> 1
    gt = np.array([[0.0, 0, 10, 10], [21, 21, 30, 30], [40, 40, 50, 60]])
    labels, matched = V.assign_anchors(anchors, gt, fg_iou=0.7, bg_iou=0.3)
    np.testing.assert_array_equal(labels, [1, -1, 1, 0, 1])
    np.testing.assert_array_equal(matched[labels == 1], [0, 1, 2])
    labels, matched = V.assign_anchors(anchors, np.zeros((0, 4)))
    np.testing.assert_array_equal(labels, 0)
    np.testing.assert_array_equal(matched, -1)
    with pytest.raises(ValueError, match="assign_anchors: need 0 <= bg_iou <= fg_iou"):
        V.assign_anchors(anchors, gt, fg_iou=0.3, bg_iou=0.7)


@FEW
@given(boxes(min_count=1, max_count=12), boxes(min_count=1, max_count=4))
def test_every_gt_gets_a_foreground_anchor(anchors, gt):
    labels, matched = V.assign_anchors(anchors, gt, fg_iou=0.7, bg_iou=0.3)
    iou = V.box_iou(anchors, gt)
    assert set(np.unique(labels)) <= {-1, 0, 1}
    for j in range(len(gt)):
        if iou[:, j].max() > 0:
            best = iou[:, j] == iou[:, j].max()
            assert np.all(labels[best] == 1)
    np.testing.assert_array_equal(labels[iou.max(axis=1) >= 0.7], 1)
    np.testing.assert_array_equal(matched, iou.argmax(axis=1))


def test_yolo_targets_by_hand():
    # image 100x100, grid 2 -> cells of 50x50. Box [10,60,40,100]: centre (25, 80), 30x40.
    # cell row floor(80/50) = 1, col floor(25/50) = 0; offsets 25/50 - 0 = .5, 80/50 - 1 = .6;
    # w = 30/100 = .3, h = 40/100 = .4, objectness 1, class 2 of 3 -> (0, 0, 1)
    target = V.yolo_targets(np.array([[10.0, 60, 40, 100]]), np.array([2]), 2, (100, 100), 3)
    assert target.shape == (2, 2, 8)
    np.testing.assert_allclose(target[1, 0], [0.5, 0.6, 0.3, 0.4, 1, 0, 0, 1])
    assert target[0].sum() == 0 and target[1, 1].sum() == 0
    with pytest.raises(ValueError, match=r"yolo_targets: gt_labels must lie in \[0, 3\)"):
        V.yolo_targets(np.array([[10.0, 60, 40, 100]]), np.array([3]), 2, 100, 3)


@FEW
@given(boxes(max_count=10), st.data())
def test_box_iou_and_nms_match_torchvision(boxes_, data):
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    count = len(boxes_)
    scores = np.array(data.draw(st.lists(st.floats(0, 1), min_size=count, max_size=count,
                                         unique=True)))     # distinct: tie order may differ
    np.testing.assert_allclose(V.box_iou(boxes_, boxes_),
                               ops.box_iou(torch.tensor(boxes_), torch.tensor(boxes_)).numpy())
    np.testing.assert_array_equal(V.nms(boxes_, scores, 0.5),
                                  ops.nms(torch.tensor(boxes_), torch.tensor(scores), 0.5).numpy())
