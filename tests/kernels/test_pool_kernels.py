"""Pooling kernels: max-pool (+ indices), its backward, max-unpool, average pool.

* naive loops written here from docs/kernels.md check the reference;
* the Numba kernels must match the reference (max-pool exactly, indices included);
* PyTorch (when installed) checks both: values, indices, unpool, avg-pool's divisor rule;
* ties go to the first element in scan order, NaN wins, overlapping windows scatter-add;
* the backward kernels are the adjoints of their forwards (<f(x), g> == <x, f'(g)>);
* bad input gets a clear error.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from kernels.cpu import pool as compiled
from kernels.reference import pool as reference

IMPLEMENTATIONS = [pytest.param(reference, id="reference"), pytest.param(compiled, id="numba")]
FEW = settings(max_examples=25, deadline=None)


def out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length, written out again for the naive loops."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


@st.composite
def pool_cases(draw, with_dilation=True):
    """(x, kernel, stride, padding, dilation, ceil_mode), padding <= kernel // 2, output >= 1."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if with_dilation else (1, 1)
    ceil_mode = draw(st.booleans())
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    assume(out_size(shape[2], kernel[0], stride[0], padding[0], dilation[0], ceil_mode) >= 1)
    assume(out_size(shape[3], kernel[1], stride[1], padding[1], dilation[1], ceil_mode) >= 1)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = draw(st.sampled_from(["normal", "small ints", "all equal"]))
    if values == "normal":
        x = rng.standard_normal(shape)
    elif values == "small ints":                       # many ties
        x = rng.integers(-2, 3, shape).astype(float)
    else:
        x = np.full(shape, 0.5)
    return x.astype(dtype), kernel, stride, padding, dilation, ceil_mode


def naive_maxpool(x, kernel, stride, padding, dilation, ceil_mode):
    """Loop over every output and every in-bounds tap; keep the first strictly larger."""
    n, c, height, width = x.shape
    out_h = out_size(height, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    out_w = out_size(width, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    out = np.full((n, c, out_h, out_w), -np.inf, dtype=x.dtype)
    idx = np.full((n, c, out_h, out_w), -1, dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for oh in range(out_h):
                for ow in range(out_w):
                    for i in range(kernel[0]):
                        for j in range(kernel[1]):
                            h = oh * stride[0] - padding[0] + i * dilation[0]
                            w = ow * stride[1] - padding[1] + j * dilation[1]
                            if 0 <= h < height and 0 <= w < width:
                                if idx[b, ch, oh, ow] < 0 or x[b, ch, h, w] > out[b, ch, oh, ow]:
                                    out[b, ch, oh, ow] = x[b, ch, h, w]
                                    idx[b, ch, oh, ow] = h * width + w
    return out, idx


def naive_avgpool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Sum the in-bounds taps; the divisor counts positions in the padded (or real) input."""
    n, c, height, width = x.shape
    out_h = out_size(height, kernel[0], stride[0], padding[0], 1, ceil_mode)
    out_w = out_size(width, kernel[1], stride[1], padding[1], 1, ceil_mode)
    out = np.zeros((n, c, out_h, out_w))
    for oh in range(out_h):
        for ow in range(out_w):
            total = np.zeros((n, c))
            counted = 0
            for i in range(kernel[0]):
                for j in range(kernel[1]):
                    h = oh * stride[0] - padding[0] + i
                    w = ow * stride[1] - padding[1] + j
                    inside = 0 <= h < height and 0 <= w < width
                    in_padded = (-padding[0] <= h < height + padding[0]
                                 and -padding[1] <= w < width + padding[1])
                    if inside:
                        total += x[:, :, h, w]
                    counted += in_padded if count_include_pad else inside
            out[:, :, oh, ow] = total / (divisor_override or counted)
    return out


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- max-pool

@FEW
@given(case=pool_cases())
def test_maxpool_reference_matches_naive_loop(case):
    x, kernel, stride, padding, dilation, ceil_mode = case
    out, idx = reference.maxpool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    want_out, want_idx = naive_maxpool(x, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(idx, want_idx)
    assert out.dtype == x.dtype and idx.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_maxpool_numba_matches_reference_exactly(case):
    x, kernel, stride, padding, dilation, ceil_mode = case
    x_before = x.copy()
    out, idx = compiled.maxpool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    want_out, want_idx = reference.maxpool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(idx, want_idx)
    assert out.dtype == x.dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(x, x_before)                    # input untouched


@pytest.mark.parametrize("shape", [(3, 2, 8, 6), (2, 3, 7, 9)])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_2x2_fast_path_matches_reference(shape, ceil_mode, dtype):
    x = np.random.default_rng(1).integers(-3, 4, shape).astype(dtype)   # with ties
    x[0, 0, 1, 1] = np.nan
    got = compiled.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), ceil_mode)
    want = reference.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), ceil_mode)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_maxpool_ties_go_to_first_element_in_scan_order(impl):
    x = np.full((1, 1, 5, 5), 2.0)
    out, idx = impl.maxpool2d_forward(x, (3, 3), (2, 2), (1, 1), (1, 1), False)
    # window (oh, ow) starts at row 2*oh - 1, column 2*ow - 1; its first real element:
    first_rows = np.array([0, 1, 3])
    first_cols = np.array([0, 1, 3])
    np.testing.assert_array_equal(idx[0, 0], first_rows[:, None] * 5 + first_cols[None, :])
    # -inf inputs are real elements too: never the padding's index
    x = np.full((1, 1, 3, 3), -np.inf)
    out, idx = impl.maxpool2d_forward(x, (3, 3), (1, 1), (1, 1), (1, 1), False)
    assert np.all(out == -np.inf) and np.all(idx >= 0)
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1], [0, 0, 1], [3, 3, 4]])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_maxpool_nan_wins(impl):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    out, idx = impl.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1      # the first NaN
    assert out[0, 0, 1, 1] == 15


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_maxpool_window_with_only_padding_gives_minus_one(impl):
    # kernel 2, dilation 3, padding 1 on a width-2 input: taps at -1 and 2, both outside
    x = np.ones((1, 1, 1, 2))
    out, idx = impl.maxpool2d_forward(x, (1, 2), (1, 1), (0, 1), (1, 3), False)
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == -np.inf and idx[0, 0, 0, 0] == -1
    grad = impl.maxpool2d_backward(np.ones_like(out), idx, x.shape)
    np.testing.assert_array_equal(grad, np.zeros_like(x))


@FEW
@given(case=pool_cases(), seed=st.integers(0, 1000))
def test_maxpool_backward_scatter_adds_like_a_naive_loop(case, seed):
    x, kernel, stride, padding, dilation, ceil_mode = case
    _, idx = reference.maxpool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    grad_out = np.random.default_rng(seed).standard_normal(idx.shape).astype(x.dtype)
    want = np.zeros(x.shape)
    n, c, height, width = x.shape
    for b, ch, oh, ow in np.ndindex(idx.shape):
        flat = idx[b, ch, oh, ow]
        if flat >= 0:
            want[b, ch, flat // width, flat % width] += grad_out[b, ch, oh, ow]
    for impl in (reference, compiled):
        got = impl.maxpool2d_backward(grad_out, idx, x.shape)
        assert got.dtype == x.dtype
        np.testing.assert_allclose(got, want, **tolerance(x.dtype))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_maxpool_backward_overlapping_windows_both_contribute(impl):
    # stride 1 < kernel 2: a peak in the middle of a 3x3 plane is chosen by all four windows
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    out, idx = impl.maxpool2d_forward(x, (2, 2), (1, 1), (0, 0), (1, 1), False)
    assert np.all(idx == 4)
    grad = impl.maxpool2d_backward(np.full(out.shape, 1.5), idx, x.shape)
    assert grad[0, 0, 1, 1] == 6.0 and grad.sum() == 6.0


# ----------------------------------------------------------------------------- unpool

@FEW
@given(case=pool_cases(), seed=st.integers(0, 1000))
def test_unpool_and_its_backward_match_reference_and_are_adjoint(case, seed):
    x, kernel, stride, padding, dilation, ceil_mode = case
    pooled, idx = reference.maxpool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    pooled = np.where(idx >= 0, pooled, 0).astype(x.dtype)
    size = x.shape[2:]
    grad = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    want = np.zeros(x.shape)                                  # naive bed of nails
    for b, ch, oh, ow in np.ndindex(idx.shape):
        if idx[b, ch, oh, ow] >= 0:
            want[b, ch, idx[b, ch, oh, ow] // size[1], idx[b, ch, oh, ow] % size[1]] = pooled[b, ch, oh, ow]
    for impl in (reference, compiled):
        up = impl.maxunpool2d(pooled, idx, size)
        np.testing.assert_array_equal(up, want)
        back = impl.maxunpool2d_backward(grad, idx)
        assert back.shape == idx.shape and back.dtype == x.dtype
        rows = idx.reshape(-1, idx.shape[2] * idx.shape[3])
        if all(len(np.unique(row)) == row.size for row in rows):   # adjoint if no repeats
            # summed in float64: the same products on both sides, so only the order of a
            # float32 sum could differ (and it did, by 3.6e-7 on a sum near zero)
            np.testing.assert_allclose(np.sum(up.astype(np.float64) * grad),
                                       np.sum(pooled.astype(np.float64) * back), rtol=1e-5)
    gathered = np.where(idx >= 0, np.take_along_axis(
        grad.reshape(*idx.shape[:2], -1), np.maximum(idx, 0).reshape(*idx.shape[:2], -1), 2
    ).reshape(idx.shape), 0)
    np.testing.assert_array_equal(compiled.maxunpool2d_backward(grad, idx), gathered)


# ----------------------------------------------------------------------------- average pool

@st.composite
def avg_cases(draw):
    x, kernel, stride, padding, _, ceil_mode = draw(pool_cases(with_dilation=False))
    count_include_pad = draw(st.booleans())
    divisor_override = draw(st.sampled_from([None, None, 1, 3]))
    return x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override


@FEW
@given(case=avg_cases())
def test_avgpool_reference_matches_naive_loop(case):
    x = case[0]
    np.testing.assert_allclose(reference.avgpool2d_forward(*case), naive_avgpool(*case),
                               **tolerance(x.dtype))


@settings(max_examples=40, deadline=None)
@given(case=avg_cases(), seed=st.integers(0, 1000))
def test_avgpool_numba_matches_reference_and_backward_is_adjoint(case, seed):
    x, kernel, stride, padding, ceil_mode, cip, divisor = case
    params = (kernel, stride, padding, ceil_mode, cip, divisor)
    want = reference.avgpool2d_forward(*case)
    got = compiled.avgpool2d_forward(*case)
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got, want, **tolerance(x.dtype))
    grad_out = np.random.default_rng(seed).standard_normal(want.shape).astype(x.dtype)
    want_back = reference.avgpool2d_backward(grad_out, x.shape, *params)
    got_back = compiled.avgpool2d_backward(grad_out, x.shape, *params)
    np.testing.assert_allclose(got_back, want_back, **tolerance(x.dtype))
    # <avgpool(x), g> == <x, avgpool_backward(g)>, in float64
    x64, g64 = x.astype(np.float64), grad_out.astype(np.float64)
    lhs = np.sum(reference.avgpool2d_forward(x64, *params) * g64)
    rhs = np.sum(x64 * reference.avgpool2d_backward(g64, x.shape, *params))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- PyTorch

@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 1000))
def test_maxpool_backward_and_unpool_match_torch(case, seed):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, kernel, stride, padding, dilation, ceil_mode = case
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    out_t, idx_t = F.max_pool2d(x_t, kernel, stride, padding, dilation, ceil_mode,
                                return_indices=True)
    for impl in (reference, compiled):
        out, idx = impl.maxpool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
        np.testing.assert_array_equal(out, out_t.detach().numpy())
        real = idx >= 0            # PyTorch's index of an all-padding window is undefined
        np.testing.assert_array_equal(idx[real], idx_t.numpy()[real])
    assume(np.all(idx >= 0))
    grad_out = np.random.default_rng(seed).standard_normal(out.shape).astype(x.dtype)
    out_t.backward(torch.from_numpy(grad_out))
    unpooled_t = torch.ops.aten.max_unpool2d(out_t.detach(), idx_t, list(x.shape[2:]))
    for impl in (reference, compiled):
        np.testing.assert_allclose(impl.maxpool2d_backward(grad_out, idx, x.shape),
                                   x_t.grad.numpy(), **tolerance(x.dtype))
        np.testing.assert_array_equal(impl.maxunpool2d(out, idx, x.shape[2:]), unpooled_t.numpy())


@settings(max_examples=40, deadline=None)
@given(case=avg_cases(), seed=st.integers(0, 1000))
def test_avgpool_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    x, kernel, stride, padding, ceil_mode, cip, divisor = case
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    out_t = torch.nn.functional.avg_pool2d(x_t, kernel, stride, padding, ceil_mode, cip, divisor)
    grad_out = np.random.default_rng(seed).standard_normal(tuple(out_t.shape)).astype(x.dtype)
    out_t.backward(torch.from_numpy(grad_out))
    for impl in (reference, compiled):
        np.testing.assert_allclose(impl.avgpool2d_forward(*case), out_t.detach().numpy(),
                                   **tolerance(x.dtype))
        np.testing.assert_allclose(
            impl.avgpool2d_backward(grad_out, x.shape, kernel, stride, padding, ceil_mode, cip, divisor),
            x_t.grad.numpy(), **tolerance(x.dtype))


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_input_is_refused_with_a_clear_message(impl):
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="maxpool2d_forward.*4 dims"):
        impl.maxpool2d_forward(x[0], (2, 2), (2, 2), (0, 0), (1, 1), False)
    with pytest.raises(TypeError, match="maxpool2d_forward.*float32 or float64"):
        impl.maxpool2d_forward(x.astype(np.int32), (2, 2), (2, 2), (0, 0), (1, 1), False)
    with pytest.raises(ValueError, match="padding must be at most half"):
        impl.maxpool2d_forward(x, (2, 2), (2, 2), (2, 0), (1, 1), False)
    with pytest.raises(ValueError, match="output size"):
        impl.maxpool2d_forward(x, (3, 3), (1, 1), (0, 0), (3, 3), False)
    with pytest.raises(ValueError, match="stride"):
        impl.avgpool2d_forward(x, (2, 2), (0, 1), (0, 0), False, True, None)
    with pytest.raises(ValueError, match="divisor_override"):
        impl.avgpool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True, 0)
    with pytest.raises(ValueError, match="maxpool2d_backward.*indices"):
        impl.maxpool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.int64), x.shape)
    with pytest.raises(ValueError, match="avgpool2d_backward.*grad_out"):
        impl.avgpool2d_backward(np.zeros((1, 1, 3, 3)), x.shape, (2, 2), (2, 2), (0, 0),
                                False, True, None)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_empty_batch_gives_empty_results(impl):
    x = np.zeros((0, 3, 4, 4), dtype=np.float32)
    out, idx = impl.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert out.shape == idx.shape == (0, 3, 2, 2)
    assert impl.maxpool2d_backward(out, idx, x.shape).shape == x.shape
    assert impl.maxunpool2d(out, idx, (4, 4)).shape == x.shape
    assert impl.maxunpool2d_backward(x, idx).shape == idx.shape
    avg = impl.avgpool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True, None)
    assert avg.shape == (0, 3, 2, 2)
    assert impl.avgpool2d_backward(avg, x.shape, (2, 2), (2, 2), (0, 0), False, True, None).shape == x.shape
