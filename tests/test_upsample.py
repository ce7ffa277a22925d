"""Resizing: F.interpolate ('nearest', 'bilinear' with align_corners True/False) and
nn.Upsample.

* forward against per-pixel loops written here from PyTorch's source-index formulas
  (nearest in exact integer/fraction arithmetic, bilinear in float64);
* float64 gradient checks over hypothesis-drawn sizes, scale factors and align_corners;
* properties: integer-factor nearest is np.repeat, align_corners=True keeps the corners,
  resizing to the same size is the identity;
* errors: size and scale_factor both or neither, align_corners with nearest, wrong rank.
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from conftest import assert_close, leaf

FEW = settings(max_examples=40, deadline=None)
SCALES = st.sampled_from([0.5, 1.5, 2.0, 2.5, 3.0])


def nearest_source(dst, in_size, out_size, scale_factor):
    """min(floor(dst * scale), in - 1), scale = 1/scale_factor or in/out, exactly."""
    scale = 1 / Fraction(scale_factor) if scale_factor else Fraction(in_size, out_size)
    return min(math.floor(dst * scale), in_size - 1)


def bilinear_source(dst, in_size, out_size, scale_factor, align_corners):
    """(i0, i1, l0, l1): PyTorch's source index, clamped at 0 when align_corners=False."""
    if align_corners:
        src = dst * (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        scale = 1 / scale_factor if scale_factor else in_size / out_size
        src = max((dst + 0.5) * scale - 0.5, 0.0)
    i0 = min(int(math.floor(src)), in_size - 1)
    i1 = min(i0 + 1, in_size - 1)
    l1 = min(max(src - i0, 0.0), 1.0)
    return i0, i1, 1 - l1, l1


def naive_interpolate(x, out_h, out_w, mode, align_corners=False, scales=(None, None)):
    n, c, height, width = x.shape
    out = np.zeros((n, c, out_h, out_w))
    for oh in range(out_h):
        for ow in range(out_w):
            if mode == "nearest":
                h = nearest_source(oh, height, out_h, scales[0])
                w = nearest_source(ow, width, out_w, scales[1])
                out[:, :, oh, ow] = x[:, :, h, w]
                continue
            h0, h1, a0, a1 = bilinear_source(oh, height, out_h, scales[0], align_corners)
            w0, w1, b0, b1 = bilinear_source(ow, width, out_w, scales[1], align_corners)
            out[:, :, oh, ow] = (a0 * (b0 * x[:, :, h0, w0] + b1 * x[:, :, h0, w1])
                                 + a1 * (b0 * x[:, :, h1, w0] + b1 * x[:, :, h1, w1]))
    return out


@st.composite
def resize_cases(draw):
    """(shape, kwargs for interpolate, (OH, OW), scales) for 4-D inputs of side <= 6."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)),
             draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    kwargs = {"mode": mode}
    if mode == "bilinear":
        kwargs["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        size = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
        kwargs["size"] = size
        return shape, kwargs, size, (None, None)
    scales = (draw(SCALES), draw(SCALES))
    size = (math.floor(shape[2] * scales[0]), math.floor(shape[3] * scales[1]))
    if min(size) < 1:
        scales = (2.0, 2.0)
        size = (shape[2] * 2, shape[3] * 2)
    kwargs["scale_factor"] = scales
    return shape, kwargs, size, scales


@FEW
@given(resize_cases(), st.integers(0, 2**32 - 1))
def test_forward_matches_per_pixel_loops(case, seed):
    shape, kwargs, size, scales = case
    x = np.random.default_rng(seed).standard_normal(shape)
    out = F.interpolate(mc.tensor(x), **kwargs)
    expected = naive_interpolate(x, *size, kwargs["mode"], kwargs.get("align_corners"), scales)
    assert_close(out, expected, rtol=1e-12, atol=1e-12)


@FEW
@given(resize_cases(), st.integers(0, 2**32 - 1))
def test_gradcheck(case, seed):
    shape, kwargs, _, _ = case
    x = leaf(np.random.default_rng(seed).standard_normal(shape))
    assert mc.gradcheck(lambda t: F.interpolate(t, **kwargs), [x])


def test_float32_stays_float32():
    x = mc.randn(1, 2, 3, 5)
    for mode in ("nearest", "bilinear"):
        out = F.interpolate(x, scale_factor=2, mode=mode)
        assert out.dtype == np.float32
        assert_close(out, naive_interpolate(x.numpy().astype(np.float64), 6, 10, mode,
                                            scales=(2.0, 2.0)), rtol=1e-5, atol=1e-6)


def test_integer_factor_nearest_is_repeat_and_its_gradient_sums_blocks():
    x = leaf(np.random.default_rng(0).standard_normal((2, 3, 4, 5)))
    out = F.interpolate(x, scale_factor=(2, 3))
    assert_close(out, np.repeat(np.repeat(x.data, 2, axis=2), 3, axis=3))
    grad = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(mc.tensor(grad))
    assert_close(x.grad, grad.reshape(2, 3, 4, 2, 5, 3).sum(axis=(3, 5)))


def test_align_corners_keeps_corners_and_same_size_is_identity():
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 3))
    out = F.interpolate(mc.tensor(x), size=(7, 9), mode="bilinear", align_corners=True).numpy()
    for h, w, oh, ow in ((0, 0, 0, 0), (0, -1, 0, -1), (-1, 0, -1, 0), (-1, -1, -1, -1)):
        np.testing.assert_allclose(out[:, :, oh, ow], x[:, :, h, w], rtol=1e-12)
    for mode in ("nearest", "bilinear"):
        assert_close(F.interpolate(mc.tensor(x), size=(4, 3), mode=mode), x)


def test_upsample_module():
    x = np.random.default_rng(3).standard_normal((1, 1, 3, 3))
    layer = nn.Upsample(scale_factor=2, mode="bilinear")
    assert repr(layer) == "Upsample(scale_factor=2.0, mode='bilinear')"
    assert repr(nn.Upsample(size=(5, 4))) == "Upsample(size=(5, 4), mode='nearest')"
    assert_close(layer(mc.tensor(x)), naive_interpolate(x, 6, 6, "bilinear", False, (2.0, 2.0)))
    assert_close(nn.UpsamplingBilinear2d(size=5)(mc.tensor(x)),
                 naive_interpolate(x, 5, 5, "bilinear", True))
    assert list(layer.state_dict()) == []


@pytest.mark.parametrize("kwargs, error, match", [
    ({"size": 4, "scale_factor": 2}, ValueError, "exactly one of size or scale_factor"),
    ({}, ValueError, "exactly one of size or scale_factor"),
    ({"size": 4, "align_corners": True}, ValueError, "align_corners"),
    ({"size": 4, "mode": "bicubic"}, NotImplementedError, "'bicubic'"),
    ({"size": (4, 4, 4)}, ValueError, "size must be a number or a pair"),
    ({"scale_factor": 0.1}, ValueError, r"output size \(0, 0\)"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.interpolate(mc.ones(1, 1, 3, 3), **kwargs)


def test_wrong_rank_is_refused_with_the_shape():
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\).*got shape \(1, 3, 3\)"):
        F.interpolate(mc.ones(1, 3, 3), scale_factor=2)
