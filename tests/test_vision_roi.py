"""minicnn.vision.roi_pool and RoIPool.

* hand-worked outputs for torchvision's rounding rules: round half away from zero, the
  +1 in the RoI size, floor/ceil bin edges, clipping, empty bins = 0, malformed boxes = 1 cell;
* the forward against a brute-force reference that tests every pixel for membership in
  every bin (drawn boxes, sizes, scales);
* float64 finite-difference gradient checks on tie-free inputs (distinct values);
* the gradient goes to the argmax and adds up over overlapping boxes;
* the two box formats agree; bad input errors; torchvision when it is installed.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.vision as V
from conftest import assert_gradcheck, distinct_arrays

FEW = settings(max_examples=25, deadline=None)


def grid16():
    """x[0, 0] = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]."""
    return mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)


def brute_force_roi_pool(x, rois, out_h, out_w, scale):
    """For every bin, collect the pixels (h, w) that belong to it by testing each pixel:
    floor(i*roi_h/OH) <= h - start_h < ceil((i+1)*roi_h/OH) and 0 <= h < H (same for w)."""
    def c_round(v):                                      # half away from zero
        return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))
    n, c, height, width = x.shape
    out = np.zeros((len(rois), c, out_h, out_w))
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh, ew, eh = (c_round(v * scale) for v in (x1, y1, x2, y2))
        roi_w, roi_h = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        for i in range(out_h):
            for j in range(out_w):
                members = [(h, w) for h in range(height) for w in range(width)
                           if math.floor(i * (roi_h / out_h)) <= h - sh
                           < math.ceil((i + 1) * (roi_h / out_h))
                           and math.floor(j * (roi_w / out_w)) <= w - sw
                           < math.ceil((j + 1) * (roi_w / out_w))]
                if members:
                    out[k, :, i, j] = np.max([x[int(b), :, h, w] for h, w in members], axis=0)
    return out


@st.composite
def roi_cases(draw):
    """(x (N, C, H, W) distinct values, rois (K, 5), (OH, OW), spatial_scale)."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    height, width = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    x = draw(distinct_arrays((n, c, height, width)))
    scale = draw(st.sampled_from([1.0, 0.5]))
    rois = []
    for _ in range(draw(st.integers(1, 3))):
        # quarter-pixel corners from a little outside the image to a little beyond it
        corners = [draw(st.integers(-4, 4 * int(side / scale) + 4)) / 4
                   for side in (width, height, width, height)]
        rois.append([draw(st.integers(0, n - 1))] + corners)
    out_size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return x, np.array(rois, dtype=np.float64), out_size, scale


# ----------------------------------------------------------------------------- hand-worked

def test_roi_pool_by_hand_whole_map():
    # box [0,0,3,3], scale 1: start 0, end 3, size 3 - 0 + 1 = 4; 2 bins of 2 -> max of each
    # 2x2 quadrant: max(0,1,4,5) = 5, max(2,3,6,7) = 7, 13, 15
    out = V.roi_pool(grid16(), [mc.tensor(np.array([[0.0, 0, 3, 3]]))], 2)
    np.testing.assert_array_equal(out.detach().numpy(), [[[[5, 7], [13, 15]]]])


def test_roi_pool_rounds_half_away_from_zero():
    # box [1,1,5,5] at scale 0.5: start round(0.5) = 1 (NumPy's round would give 0),
    # end round(2.5) = 3, size 3; bin size 3/2 = 1.5:
    #   bin 0 = [1 + floor(0), 1 + ceil(1.5)) = [1, 3)
    #   bin 1 = [1 + floor(1.5), 1 + ceil(3)) = [2, 4)
    # so rows/cols {1,2} and {2,3}: max x[1:3, 1:3] = x[2,2] = 10, x[1:3, 2:4] -> x[2,3] = 11,
    # x[2:4, 1:3] -> x[3,2] = 14, x[2:4, 2:4] -> x[3,3] = 15
    out = V.roi_pool(grid16(), mc.tensor(np.array([[0.0, 1, 1, 5, 5]])), (2, 2), 0.5)
    np.testing.assert_array_equal(out.detach().numpy(), [[[[10, 11], [14, 15]]]])


def test_roi_pool_empty_bins_are_zero_and_malformed_boxes_one_cell():
    # box [3,3,6,6]: start 3, size 4, 4 bins of 1: bins [3,4), [4,5), ... clipped to [0, 4]:
    # only bin (0, 0) = x[3, 3] = 15 is non-empty; the others are 0
    out = V.roi_pool(grid16(), np.array([[0.0, 3, 3, 6, 6]]), 4)
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 0, 0] = 15
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    # box [3,3,1,1] (x2 < x1): size max(1 - 3 + 1, 1) = 1; bin size 1/2:
    # bin 0 = [3 + 0, 3 + ceil(.5)), bin 1 = [3 + floor(.5), 3 + ceil(1)): both the pixel 15
    out = V.roi_pool(grid16(), np.array([[0.0, 3, 3, 1, 1]]), 2)
    np.testing.assert_array_equal(out.detach().numpy(), np.full((1, 1, 2, 2), 15.0))


def test_roi_pool_gradient_goes_to_the_argmax_and_adds_up():
    x = grid16()
    # the same box twice: each quadrant's maximum (5, 7, 13, 15) receives 1 + 1 = 2
    out = V.roi_pool(x, np.array([[0.0, 0, 0, 3, 3], [0, 0, 0, 3, 3]]), 2)
    out.sum().backward()
    expected = np.zeros(16)
    expected[[5, 7, 13, 15]] = 2
    np.testing.assert_array_equal(x.grad.numpy().ravel(), expected)


def test_roi_pool_ties_choose_the_first_maximum():
    x = mc.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    V.roi_pool(x, np.array([[0.0, 0, 0, 1, 1]]), 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])


# ----------------------------------------------------------------------------- drawn cases

@FEW
@given(roi_cases())
def test_roi_pool_matches_brute_force(case):
    x, rois, (out_h, out_w), scale = case
    out = V.roi_pool(mc.tensor(x), rois, (out_h, out_w), scale)
    assert out.shape == (len(rois), x.shape[1], out_h, out_w)
    np.testing.assert_array_equal(out.numpy(), brute_force_roi_pool(x, rois, out_h, out_w, scale))


@settings(max_examples=20, deadline=None)
@given(roi_cases())
def test_roi_pool_gradcheck(case):
    x, rois, out_size, scale = case
    assert_gradcheck(lambda t: V.roi_pool(t, rois, out_size, scale), x)


def test_roi_pool_float32_and_the_list_format_agree_with_the_k5_format():
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.permutation(2 * 3 * 5 * 5).reshape(2, 3, 5, 5).astype(np.float32))
    first, second = np.array([[0.0, 0, 4, 4], [1, 1, 3, 2]]), np.array([[2.0, 0, 4, 3]])
    rois = np.array([[0.0, 0, 0, 4, 4], [0, 1, 1, 3, 2], [1, 2, 0, 4, 3]])
    from_list = V.roi_pool(x, [first, mc.tensor(second)], 2)
    assert from_list.dtype == np.float32 and from_list.shape == (3, 3, 2, 2)
    np.testing.assert_array_equal(from_list.numpy(), V.roi_pool(x, rois, 2).numpy())
    layer = V.RoIPool(output_size=(2, 2), spatial_scale=1.0)
    assert isinstance(layer, mc.nn.Module) and "spatial_scale=1.0" in repr(layer)
    np.testing.assert_array_equal(layer(x, mc.tensor(rois)).numpy(), from_list.numpy())


def test_roi_pool_errors_name_the_op_and_shapes():
    x = mc.randn(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"roi_pool: expected boxes of shape \(K, 5\).*\(1, 4\)"):
        V.roi_pool(x, np.zeros((1, 4)), 2)
    with pytest.raises(ValueError, match=r"roi_pool: got a list of 1 box arrays for a batch of 2"):
        V.roi_pool(x, [np.zeros((1, 4))], 2)
    with pytest.raises(ValueError, match=r"roi_pool: batch indices .* \[0, 2\)"):
        V.roi_pool(x, np.array([[2.0, 0, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match=r"roi_pool: expected a 4-D input \(N, C, H, W\), got "
                                         r"shape \(1, 4, 4\)"):
        V.roi_pool(mc.randn(1, 4, 4), np.zeros((1, 5)), 2)
    with pytest.raises(ValueError, match=r"roi_pool: output_size must be a positive int"):
        V.roi_pool(x, np.zeros((1, 5)), 0)
    with pytest.raises(TypeError, match=r"roi_pool: expected a minicnn Tensor"):
        V.roi_pool(np.zeros((1, 1, 4, 4)), np.zeros((1, 5)), 2)


@FEW
@given(roi_cases())
def test_roi_pool_matches_torchvision(case):
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    x, rois, out_size, scale = case
    expected = ops.roi_pool(torch.tensor(x), torch.tensor(rois), out_size, scale)
    np.testing.assert_allclose(V.roi_pool(mc.tensor(x), rois, out_size, scale).numpy(),
                               expected.numpy())
