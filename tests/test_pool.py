"""Pooling ops and layers: max_pool2d, max_unpool2d, avg_pool2d, adaptive_avg_pool2d,
adaptive_max_pool2d, and the nn modules around them.

* forward values (and indices) against naive loops written here from PyTorch's rules;
* float64 finite-difference gradient checks over hypothesis-drawn kernel, stride, padding,
  dilation, ceil_mode, odd sizes, count_include_pad, divisor_override and output sizes,
  on inputs without ties (distinct values) so the finite differences stay valid;
* the Numba and the reference backend give the same op results;
* properties: unpool(pool(x)) puts each pooled value at its index; ties send the gradient
  to the first maximum only;
* bad input gets a clear error.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import kernels
import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from conftest import assert_close, distinct_arrays, leaf, reference_kernels

FEW = settings(max_examples=25, deadline=None)


def out_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output length, in integers (its pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


@st.composite
def pool_cases(draw, dilation=True):
    """(shape, kernel, stride, padding, dilation, ceil_mode) with an output of at least 1x1."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ceil_mode = draw(st.booleans())
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)),
             draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    for axis in range(2):
        assume(out_size(shape[2 + axis], kernel[axis], stride[axis], padding[axis], dil[axis],
                        ceil_mode) >= 1)
    return shape, kernel, stride, padding, dil, ceil_mode


# ----------------------------------------------------------------------------- naive references

def naive_max_pool(x, kernel, stride, padding, dilation, ceil_mode):
    """Every output, every in-bounds tap; a strictly larger value replaces the best."""
    n, c, height, width = x.shape
    out_h = out_size(height, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    out_w = out_size(width, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    out = np.zeros((n, c, out_h, out_w))
    index = np.zeros((n, c, out_h, out_w), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for oh in range(out_h):
                for ow in range(out_w):
                    best, best_at = -np.inf, -1
                    for i in range(kernel[0]):
                        for j in range(kernel[1]):
                            h = oh * stride[0] - padding[0] + i * dilation[0]
                            w = ow * stride[1] - padding[1] + j * dilation[1]
                            if 0 <= h < height and 0 <= w < width and x[b, ch, h, w] > best:
                                best, best_at = x[b, ch, h, w], h * width + w
                    out[b, ch, oh, ow], index[b, ch, oh, ow] = best, best_at
    return out, index


def naive_avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """PyTorch's CPU loop: the window is clipped to the padded input for the count, then to
    the input for the sum."""
    n, c, height, width = x.shape
    out_h = out_size(height, kernel[0], stride[0], padding[0], 1, ceil_mode)
    out_w = out_size(width, kernel[1], stride[1], padding[1], 1, ceil_mode)
    out = np.zeros((n, c, out_h, out_w))
    for oh in range(out_h):
        for ow in range(out_w):
            h0, w0 = oh * stride[0] - padding[0], ow * stride[1] - padding[1]
            h1, w1 = min(h0 + kernel[0], height + padding[0]), min(w0 + kernel[1], width + padding[1])
            padded_count = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, height), min(w1, width)
            total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
            if divisor_override is not None:
                divisor = divisor_override
            elif count_include_pad:
                divisor = padded_count
            else:
                divisor = (h1 - h0) * (w1 - w0)
            out[:, :, oh, ow] = total / divisor
    return out


def naive_adaptive(x, out_h, out_w, reduce):
    """Window i spans [floor(i*H/OH), ceil((i+1)*H/OH)); reduce it with ``reduce``."""
    height, width = x.shape[2:]
    out = np.zeros(x.shape[:2] + (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            h0, h1 = math.floor(i * height / out_h), math.ceil((i + 1) * height / out_h)
            w0, w1 = math.floor(j * width / out_w), math.ceil((j + 1) * width / out_w)
            out[:, :, i, j] = reduce(x[:, :, h0:h1, w0:w1], axis=(2, 3))
    return out


# ----------------------------------------------------------------------------- max-pool

@FEW
@given(pool_cases(), st.data())
def test_max_pool_forward_and_indices_match_naive_loops(case, data):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = data.draw(distinct_arrays(shape))
    out, indices = F.max_pool2d(mc.tensor(x), kernel, stride, padding, dilation, ceil_mode,
                                return_indices=True)
    expected, expected_indices = naive_max_pool(x, kernel, stride, padding, dilation, ceil_mode)
    assert_close(out, expected, what="max_pool2d values")
    np.testing.assert_array_equal(indices.numpy(), expected_indices)
    assert indices.dtype == np.int64


@FEW
@given(pool_cases(), st.data())
def test_max_pool_gradcheck(case, data):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = data.draw(distinct_arrays(shape))
    expected, _ = naive_max_pool(x, kernel, stride, padding, dilation, ceil_mode)
    assume(np.isfinite(expected).all())      # a large dilation can leave a window empty (-inf)
    with reference_kernels():
        assert mc.gradcheck(lambda t: F.max_pool2d(t, kernel, stride, padding, dilation,
                                                   ceil_mode), [leaf(x)])


def test_max_pool_stride_defaults_to_kernel_and_unbatched_input():
    x = np.arange(2 * 6 * 6, dtype=np.float64).reshape(2, 6, 6)
    out = F.max_pool2d(mc.tensor(x), 3)                       # (C, H, W): no batch axis
    assert out.shape == (2, 2, 2)
    assert_close(out, naive_max_pool(x[None], (3, 3), (3, 3), (0, 0), (1, 1), False)[0][0])


def test_ties_send_the_gradient_to_the_first_maximum_only():
    # All equal: every 2x2 window (stride 1) picks its top-left element.
    x = leaf(np.full((1, 1, 4, 4), 0.5))
    out, indices = F.max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(indices.numpy()[0, 0], [[0, 1, 2], [4, 5, 6], [8, 9, 10]])
    out.sum().backward()
    expected = np.zeros((4, 4))
    expected[:3, :3] = 1.0                                    # one window per top-left corner
    assert_close(x.grad, expected[None, None])


def test_overlapping_windows_add_their_gradients():
    x = leaf(np.array([[[[0.0, 1.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]]))
    F.max_pool2d(x, 2, stride=1).sum().backward()            # all 4 windows choose the 9
    assert x.grad.numpy()[0, 0, 1, 1] == 4.0
    assert x.grad.numpy().sum() == 4.0


# ----------------------------------------------------------------------------- max-unpool

@FEW
@given(pool_cases(dilation=False), st.data())
def test_unpool_puts_each_pooled_value_at_its_index(case, data):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = data.draw(distinct_arrays(shape)) + 1000.0            # all positive: zeros mark gaps
    out, indices = F.max_pool2d(mc.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode,
                                return_indices=True)
    unpooled = F.max_unpool2d(out, indices, kernel, stride, padding, output_size=shape[2:])
    planes = unpooled.numpy().reshape(shape[0] * shape[1], -1)
    chosen = indices.numpy().reshape(planes.shape[0], -1)
    values = out.numpy().reshape(planes.shape[0], -1)
    for plane, where, value in zip(planes, chosen, values):
        np.testing.assert_array_equal(plane[where], value)  # each value at its index
        untouched = np.ones(plane.size, dtype=bool)
        untouched[where] = False
        assert np.all(plane[untouched] == 0)                   # zeros elsewhere
    np.testing.assert_array_equal(unpooled.numpy()[unpooled.numpy() != 0],
                                  x[unpooled.numpy() != 0])    # and they are x's values


@FEW
@given(st.integers(1, 2), st.integers(1, 2), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_unpool_gradcheck_with_random_distinct_indices(n, c, h, w, kernel, stride, seed):
    rng = np.random.default_rng(seed)
    out_h, out_w = (h - 1) * stride + kernel, (w - 1) * stride + kernel     # default size
    assume(out_h * out_w >= h * w)
    indices = np.stack([rng.permutation(out_h * out_w)[:h * w] for _ in range(n * c)])
    indices = mc.tensor(indices.reshape(n, c, h, w))
    x = leaf(rng.standard_normal((n, c, h, w)))
    with reference_kernels():
        assert mc.gradcheck(lambda t: F.max_unpool2d(t, indices, kernel, stride), [x])
    assert F.max_unpool2d(x, indices, kernel, stride).shape == (n, c, out_h, out_w)


def test_unpool_default_size_and_full_shape_output_size():
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    even = mc.tensor(np.arange(1.0, 17.0).reshape(1, 1, 4, 4))
    out, indices = pool(even)
    assert unpool(out, indices).shape == (1, 1, 4, 4)         # (2 - 1)*2 + 2
    odd = mc.tensor(np.arange(1.0, 26.0).reshape(1, 1, 5, 5))
    out, indices = pool(odd)                                  # indices in the 5x5 plane
    restored = unpool(out, indices, output_size=odd.shape)    # a full shape also works
    expected = np.zeros((5, 5))
    expected[1, 1], expected[1, 3], expected[3, 1], expected[3, 3] = 7, 9, 17, 19
    assert_close(restored, expected[None, None])


def test_unpool_refuses_indices_that_do_not_fit_the_output():
    x = mc.tensor(np.ones((1, 1, 2, 2)))
    indices = mc.tensor(np.array([[[[0, 3], [8, 30]]]]))
    with pytest.raises(ValueError, match=r"index 30 .* size 4x4 = 16") as error:
        F.max_unpool2d(x, indices, 2)
    assert "position (0, 0, 1, 1)" in str(error.value)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool2d(x, indices, 2, output_size=(9, 9))    # outside default +- stride
    with pytest.raises(TypeError, match="integer"):
        F.max_unpool2d(x, mc.tensor(np.zeros((1, 1, 2, 2))), 2)
    with pytest.raises(ValueError, match=r"shape of the input \(1, 1, 2, 2\)"):
        F.max_unpool2d(x, mc.tensor(np.zeros((1, 1, 2, 1), dtype=np.int64)), 2)


# ----------------------------------------------------------------------------- average pool

@FEW
@given(pool_cases(dilation=False), st.booleans(), st.sampled_from([None, 1, 3]), st.data())
def test_avg_pool_forward_matches_naive_loops_and_gradchecks(case, count_include_pad,
                                                             divisor_override, data):
    shape, kernel, stride, padding, _, ceil_mode = case
    x = data.draw(distinct_arrays(shape))
    args = (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    assert_close(F.avg_pool2d(mc.tensor(x), *args), naive_avg_pool(x, *args))
    with reference_kernels():
        assert mc.gradcheck(lambda t: F.avg_pool2d(t, *args), [leaf(x)])


# ----------------------------------------------------------------------------- adaptive pools

@FEW
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 5), st.integers(1, 5), st.data())
def test_adaptive_pools_match_naive_windows_and_gradcheck(height, width, out_h, out_w, data):
    x = data.draw(distinct_arrays((2, 2, height, width)))
    assert_close(F.adaptive_avg_pool2d(mc.tensor(x), (out_h, out_w)),
                 naive_adaptive(x, out_h, out_w, np.mean))
    assert_close(F.adaptive_max_pool2d(mc.tensor(x), (out_h, out_w)),
                 naive_adaptive(x, out_h, out_w, np.max))
    with reference_kernels():
        assert mc.gradcheck(lambda t: F.adaptive_avg_pool2d(t, (out_h, out_w)), [leaf(x)])
        assert mc.gradcheck(lambda t: F.adaptive_max_pool2d(t, (out_h, out_w)), [leaf(x)])


def test_adaptive_avg_pool_global_mean_and_none_keeps_a_size():
    x = leaf(np.random.default_rng(0).standard_normal((2, 3, 5, 4)))
    pooled = nn.AdaptiveAvgPool2d(1)(x)
    assert_close(pooled, x.data.mean(axis=(2, 3), keepdims=True))
    pooled.sum().backward()
    assert_close(x.grad, np.full(x.shape, 1 / 20))
    assert F.adaptive_avg_pool2d(x, (None, 2)).shape == (2, 3, 5, 2)


def test_adaptive_max_pool_indices_are_flat_plane_positions():
    x = np.random.default_rng(1).permutation(30).astype(np.float64).reshape(1, 1, 5, 6)
    out, indices = F.adaptive_max_pool2d(mc.tensor(x), (2, 3), return_indices=True)
    np.testing.assert_array_equal(x.reshape(-1)[indices.numpy().reshape(-1)],
                                  out.numpy().reshape(-1))


# ----------------------------------------------------------------------------- backends

@FEW
@given(pool_cases(), st.sampled_from([np.float32, np.float64]), st.data())
def test_numba_and_reference_backends_agree(case, dtype, data):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = data.draw(distinct_arrays(shape)).astype(dtype)

    def run():
        t = mc.tensor(x, requires_grad=True)
        out, indices = F.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode, True)
        outputs = [out, indices]
        if dilation == (1, 1):                 # then every index fits the input's plane
            out = F.max_unpool2d(out, indices, kernel, stride, padding, output_size=shape[2:])
            outputs.append(out)
        averaged = F.avg_pool2d(t, kernel, stride, padding, ceil_mode, False)
        outputs.append(averaged)
        weights = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
        loss = (out * mc.tensor(weights)).sum()
        (loss + averaged.sum()).backward()
        return [value.detach().numpy().copy() for value in outputs + [t.grad]]

    previous = kernels.get_backend()
    try:
        kernels.set_backend("numba")
        compiled = run()
        kernels.set_backend("reference")
        reference = run()
    finally:
        kernels.set_backend(previous)
    for a, b in zip(compiled, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- errors and modules

def test_window_larger_than_padded_input_shows_the_formula():
    with pytest.raises(ValueError) as error:
        F.max_pool2d(mc.zeros(1, 1, 4, 4), 5)
    message = str(error.value)
    assert "max_pool2d" in message and "(1, 1, 4, 4)" in message
    assert "floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1" in message
    assert "floor((4 + 2*0 - 1*(5-1) - 1) / 5) + 1 = 0" in message


@pytest.mark.parametrize("call, match", [
    (lambda: F.max_pool2d(mc.zeros(2, 3), 2), r"4-D input \(N, C, H, W\).*got shape \(2, 3\)"),
    (lambda: F.avg_pool2d(mc.zeros(1, 1, 1, 2, 2), 2), r"got shape \(1, 1, 1, 2, 2\)"),
    (lambda: F.max_pool2d(mc.zeros(1, 1, 4, 4), 2, padding=2), r"padding.*half.*\(2, 2\)"),
    (lambda: F.max_pool2d(mc.zeros(1, 1, 4, 4), 2, stride=0), "stride must be >= 1"),
    (lambda: F.avg_pool2d(mc.zeros(1, 1, 4, 4), 2, divisor_override=0), "divisor_override"),
    (lambda: F.adaptive_avg_pool2d(mc.zeros(1, 1, 4, 4), (0, 2)), "output_size must be positive"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_integer_input_is_refused_with_its_dtype():
    with pytest.raises(TypeError, match="max_pool2d: expected a float32 or float64 input, got int64"):
        F.max_pool2d(mc.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2)


def test_modules_forward_and_repr():
    x = mc.tensor(np.random.default_rng(2).standard_normal((1, 2, 6, 6)))
    assert repr(nn.MaxPool2d(2)) == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, "
                                     "ceil_mode=False)")
    assert repr(nn.MaxUnpool2d(2)) == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert repr(nn.AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    assert repr(nn.AdaptiveAvgPool2d((None, 3))) == "AdaptiveAvgPool2d(output_size=(None, 3))"
    assert_close(nn.MaxPool2d(3, 2, 1, ceil_mode=True)(x),
                 naive_max_pool(x.numpy(), (3, 3), (2, 2), (1, 1), (1, 1), True)[0])
    assert_close(nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x),
                 naive_avg_pool(x.numpy(), (3, 3), (2, 2), (1, 1), False, False, None))
    assert_close(nn.AdaptiveMaxPool2d(2)(x), naive_adaptive(x.numpy(), 2, 2, np.max))
    assert list(nn.MaxPool2d(2).state_dict()) == []
