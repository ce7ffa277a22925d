"""minicnn.data.transforms: shapes, values against hand-written NumPy, determinism under a
seed, single images and batches."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn.data.transforms import (ColorJitter, Compose, Lambda, Normalize, RandomCrop,
                                     RandomErasing, RandomHorizontalFlip, ToTensor)


def image(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def rng(seed=0):
    return np.random.default_rng(seed)


shapes = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9))


# ----- ToTensor, Normalize, Compose -----------------------------------------------------------
def test_to_tensor_layouts_and_scaling():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = ToTensor()(gray)
    assert isinstance(out, mc.Tensor) and out.shape == (1, 3, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy()[0], gray / 255.0, rtol=1e-6)

    hwc = np.random.default_rng(0).integers(0, 256, (5, 6, 3)).astype(np.uint8)
    out = ToTensor()(hwc)
    assert out.shape == (3, 5, 6)
    np.testing.assert_allclose(out.numpy()[2, 1, 4], hwc[1, 4, 2] / 255.0, rtol=1e-6)

    chw = image((1, 28, 28))
    out = ToTensor()(chw)
    assert out.shape == (1, 28, 28)
    np.testing.assert_array_equal(out.numpy(), chw)
    assert ToTensor()(image((4, 5)).astype(np.float64)).dtype == np.float32
    with pytest.raises(ValueError, match="ToTensor"):
        ToTensor()(np.zeros(5))


def test_normalize_against_formula_single_and_batch():
    x = image((2, 3, 3, 4))
    mean, std = (0.5, 0.25, 0.1), (0.2, 0.5, 1.0)
    out = Normalize(mean, std)(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    for c in range(3):
        np.testing.assert_allclose(out[:, c], (x[:, c] - mean[c]) / std[c], rtol=1e-6)
    np.testing.assert_allclose(Normalize(mean, std)(x[1]), out[1], rtol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        Normalize((0.5, 0.5), (1.0, 1.0))(x)
    with pytest.raises(ValueError, match="zero"):
        Normalize((0.5,), (0.0,))


def test_compose_order_and_tensor_in_tensor_out():
    pipeline = Compose([Lambda(lambda a: a + 1), Lambda(lambda a: a * 2)])
    np.testing.assert_array_equal(pipeline(np.zeros((1, 1, 1))), [[[2.0]]])
    out = Normalize((0.5,), (0.5,))(mc.tensor(np.ones((1, 2, 2), np.float32)))
    assert isinstance(out, mc.Tensor)
    np.testing.assert_array_equal(out.numpy(), np.ones((1, 2, 2)))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        RandomCrop(2)(np.zeros((4, 4)))


# ----- flips ------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(shape=shapes)
def test_flip_always_is_mirror_and_twice_is_identity(shape):
    x = image(shape)
    flip = RandomHorizontalFlip(p=1.0)
    once = flip(x)
    np.testing.assert_array_equal(once, x[:, :, ::-1])
    np.testing.assert_array_equal(flip(once), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x), x)


def test_batched_flip_flips_each_image_independently():
    x = image((64, 2, 3, 5))
    out = RandomHorizontalFlip(p=0.5, generator=rng(1))(x)
    flipped = [np.array_equal(out[i], x[i, :, :, ::-1]) for i in range(64)]
    unchanged = [np.array_equal(out[i], x[i]) for i in range(64)]
    assert all(f or u for f, u in zip(flipped, unchanged))
    assert 10 < sum(flipped) < 54
    # the same draws as a hand-written loop over the generator's numbers
    expected_flags = rng(1).random(64) < 0.5
    assert flipped == expected_flags.tolist()


# ----- crops ------------------------------------------------------------------------------------
def find_window(padded, out):
    """All (top, left) where ``out`` equals a window of ``padded`` (C, H, W)."""
    h, w = out.shape[-2:]
    hits = []
    for top in range(padded.shape[1] - h + 1):
        for left in range(padded.shape[2] - w + 1):
            if np.array_equal(padded[:, top:top + h, left:left + w], out):
                hits.append((top, left))
    return hits


@settings(max_examples=25, deadline=None)
@given(shape=shapes, padding=st.integers(0, 3), seed=st.integers(0, 1000))
def test_crop_with_padding_keeps_shape_and_is_a_window(shape, padding, seed):
    x = image(shape, seed) + 1.0  # away from the padding value 0
    c, h, w = shape
    out = RandomCrop((h, w), padding=padding, generator=rng(seed))(x)
    assert out.shape == x.shape and out.dtype == np.float32
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    assert find_window(padded, out)


def test_crop_offsets_follow_the_generator():
    x = image((1, 6, 6)) + 1.0
    out = RandomCrop(4, padding=0, generator=rng(5))(x)
    draws = rng(5)
    top, left = draws.integers(0, 3, size=1)[0], draws.integers(0, 3, size=1)[0]
    np.testing.assert_array_equal(out, x[:, top:top + 4, left:left + 4])


def test_batched_crop_one_window_per_image():
    x = image((32, 3, 8, 8)) + 1.0
    out = RandomCrop(8, padding=2, generator=rng(2))(x)
    assert out.shape == (32, 3, 8, 8)
    windows = set()
    for i in range(32):
        padded = np.pad(x[i], ((0, 0), (2, 2), (2, 2)))
        hits = find_window(padded, out[i])
        assert hits
        windows.add(hits[0])
    assert len(windows) > 5  # not the same offset for the whole batch


def test_crop_padding_modes_and_errors():
    x = image((1, 3, 3))
    edge = RandomCrop(3, padding=(3, 0), padding_mode="edge", generator=rng(0))(x)
    padded = np.pad(x, ((0, 0), (0, 0), (3, 3)), mode="edge")
    assert find_window(padded, edge)
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(5)(x)
    with pytest.raises(ValueError, match="padding_mode"):
        RandomCrop(3, padding_mode="wrap")


# ----- determinism --------------------------------------------------------------------------------
def test_random_transforms_repeat_under_manual_seed():
    x = image((8, 3, 10, 10))
    pipeline = Compose([RandomCrop(10, padding=2), RandomHorizontalFlip(),
                        ColorJitter(0.3, 0.3, 0.3), RandomErasing(p=0.5)])
    mc.manual_seed(7)
    a = pipeline(x)
    mc.manual_seed(7)
    b = pipeline(x)
    mc.manual_seed(8)
    c = pipeline(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ----- colour jitter ------------------------------------------------------------------------------
def test_brightness_scales_each_image_by_one_factor():
    x = image((6, 3, 4, 4)) * 0.5  # factors <= 1.4 keep values below 1: no clipping
    out = ColorJitter(brightness=0.4, generator=rng(3))(x)
    expected = rng(3).uniform(0.6, 1.4, size=6)
    for i in range(6):
        np.testing.assert_allclose(out[i], x[i] * np.float32(expected[i]), rtol=1e-6)


def test_contrast_keeps_mean_grey_and_saturation_keeps_grey_images():
    x = 0.4 + 0.2 * image((3, 3, 5, 5))
    out = ColorJitter(contrast=0.5, generator=rng(0))(x)

    def grey_mean(batch):
        return (0.299 * batch[:, 0] + 0.587 * batch[:, 1] + 0.114 * batch[:, 2]).mean(axis=(1, 2))
    np.testing.assert_allclose(grey_mean(out), grey_mean(x), rtol=1e-5)

    grey = np.repeat(image((2, 1, 4, 4)), 3, axis=1)  # R = G = B
    np.testing.assert_allclose(ColorJitter(saturation=0.9, generator=rng(0))(grey), grey, atol=1e-6)
    bright = ColorJitter(brightness=5.0, contrast=5.0, saturation=5.0, generator=rng(1))(image((4, 3, 6, 6)))
    assert bright.min() >= 0.0 and bright.max() <= 1.0
    with pytest.raises(ValueError, match="brightness"):
        ColorJitter(brightness=-0.1)


# ----- random erasing ------------------------------------------------------------------------------
def test_random_erasing_sets_one_rectangle():
    x = image((20, 3, 16, 16)) + 1.0
    out = RandomErasing(p=1.0, scale=(0.05, 0.2), value=0.0, generator=rng(4))(x)
    for i in range(20):
        erased = np.all(out[i] == 0.0, axis=0)  # (H, W) mask, same over channels
        assert np.array_equal(out[i][:, ~erased], x[i][:, ~erased])
        rows, cols = np.nonzero(erased)
        assert rows.size > 0
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert erased.sum() == h * w  # a full rectangle
        assert 0.05 * 256 * 0.5 <= h * w <= 0.2 * 256 * 1.5  # area within scale (rounding slack)
    np.testing.assert_array_equal(RandomErasing(p=0.0)(x), x)
