"""im2col / col2im: the reference against a direct loop, Numba against the reference.

* a naive loop written from the formula in docs/kernels.md checks the reference;
* the Numba kernels must match the reference (im2col exactly; col2im to rounding);
* ``<im2col(x), c> == <x, col2im(c)>``: col2im is im2col's adjoint, for both;
* PyTorch's ``unfold`` / ``fold`` (same layout) when PyTorch is installed;
* clear errors for kernels that do not fit, bad dtypes and bad shapes.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kernels.cpu import conv as compiled
from kernels.reference import conv as reference

IMPLEMENTATIONS = [pytest.param(reference, id="reference"), pytest.param(compiled, id="numba")]


@st.composite
def conv_cases(draw, max_batch=3, max_channels=3):
    """(input_shape, kernel_size, stride, padding, dilation) with an output of at least 1x1."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    sizes = []
    for axis in range(2):
        span = dilation[axis] * (kernel[axis] - 1) + 1  # the window's extent
        smallest = max(1, span - 2 * padding[axis])     # so the window fits the padded input
        sizes.append(draw(st.integers(smallest, smallest + 7)))
    shape = (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), *sizes)
    return shape, kernel, stride, padding, dilation


def output_size(size, k, s, p, d):
    """floor((size + 2p - d(k-1) - 1) / s) + 1, written out again for the naive loops."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def naive_im2col(x, kernel, stride, padding, dilation):
    """The formula of docs/kernels.md as six nested loops, padding by a bounds test."""
    n_batch, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    out_h = output_size(height, kh, sh, ph, dh)
    out_w = output_size(width, kw, sw, pw, dw)
    cols = np.full((n_batch, channels * kh * kw, out_h * out_w), np.nan, dtype=x.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    for oh in range(out_h):
                        for ow in range(out_w):
                            h = oh * sh + i * dh - ph
                            w = ow * sw + j * dw - pw
                            inside = 0 <= h < height and 0 <= w < width
                            value = x[n, c, h, w] if inside else 0.0
                            cols[n, (c * kh + i) * kw + j, oh * out_w + ow] = value
    return cols


def naive_col2im(cols, input_shape, kernel, stride, padding, dilation):
    """Scatter-add every column entry back to the pixel it came from, one at a time."""
    n_batch, channels, height, width = input_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    out_h = output_size(height, kh, sh, ph, dh)
    out_w = output_size(width, kw, sw, pw, dw)
    x = np.zeros(input_shape, dtype=cols.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    for oh in range(out_h):
                        for ow in range(out_w):
                            h = oh * sh + i * dh - ph
                            w = ow * sw + j * dw - pw
                            if 0 <= h < height and 0 <= w < width:
                                x[n, c, h, w] += cols[n, (c * kh + i) * kw + j, oh * out_w + ow]
    return x


def random_cols(rng, case, dtype):
    """Random cols of the shape im2col gives for ``case``."""
    shape, kernel, stride, padding, dilation = case
    out_h = output_size(shape[2], kernel[0], stride[0], padding[0], dilation[0])
    out_w = output_size(shape[3], kernel[1], stride[1], padding[1], dilation[1])
    cols_shape = (shape[0], shape[1] * kernel[0] * kernel[1], out_h * out_w)
    return rng.standard_normal(cols_shape).astype(dtype)


@settings(max_examples=40, deadline=None)
@given(case=conv_cases(max_batch=2, max_channels=2), seed=st.integers(0, 2**32 - 1))
def test_reference_matches_naive_loops(case, seed):
    rng = np.random.default_rng(seed)
    shape, *geometry = case
    x = rng.standard_normal(shape)
    cols = reference.im2col(x, *geometry)
    np.testing.assert_array_equal(cols, naive_im2col(x, *geometry))
    grad_cols = random_cols(rng, case, np.float64)
    np.testing.assert_allclose(reference.col2im(grad_cols, shape, *geometry),
                               naive_col2im(grad_cols, shape, *geometry), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=60, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_numba_matches_reference(dtype, case, seed):
    rng = np.random.default_rng(seed)
    shape, *geometry = case
    x = rng.standard_normal(shape).astype(dtype)
    cols = compiled.im2col(x, *geometry)
    expected = reference.im2col(x, *geometry)
    assert cols.dtype == dtype and cols.flags.c_contiguous
    np.testing.assert_array_equal(cols, expected)  # a pure copy: bit for bit

    grad_cols = random_cols(rng, case, dtype)
    grad_x = compiled.col2im(grad_cols, shape, *geometry)
    assert grad_x.dtype == dtype and grad_x.shape == shape
    scale = np.abs(grad_cols).max() * geometry[0][0] * geometry[0][1]  # largest possible sum
    np.testing.assert_allclose(grad_x, reference.col2im(grad_cols, shape, *geometry),
                               rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=30, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_col2im_is_the_adjoint_of_im2col(impl, case, seed):
    rng = np.random.default_rng(seed)
    shape, *geometry = case
    x = rng.standard_normal(shape)
    cols = random_cols(rng, case, np.float64)
    lhs = np.vdot(impl.im2col(x, *geometry), cols)   # <im2col(x), cols>
    rhs = np.vdot(x, impl.col2im(cols, shape, *geometry))  # <x, col2im(cols)>
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10 * cols.size)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=15, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_matches_torch_unfold_and_fold(impl, case, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    shape, kernel, stride, padding, dilation = case
    geometry = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)
    x = rng.standard_normal(shape)
    expected = torch.nn.functional.unfold(torch.from_numpy(x), **geometry).numpy()
    np.testing.assert_allclose(impl.im2col(x, kernel, stride, padding, dilation), expected)
    cols = random_cols(rng, case, np.float64)
    expected = torch.nn.functional.fold(torch.from_numpy(cols), shape[2:], **geometry).numpy()
    np.testing.assert_allclose(impl.col2im(cols, shape, kernel, stride, padding, dilation),
                               expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_kernel_larger_than_padded_input_is_refused(impl):
    x = np.zeros((1, 1, 4, 5), dtype=np.float32)
    # height: floor((4 + 2*0 - 1*(6-1) - 1) / 1) + 1 = -1
    with pytest.raises(ValueError, match=r"im2col.*height.*-1 < 1.*\(4 \+ 2\*0 - 1\*\(6-1\) - 1\) / 1"):
        impl.im2col(x, (6, 3), (1, 1), (0, 0), (1, 1))
    # width with dilation: floor((5 + 2*1 - 3*(3-1) - 1) / 1) + 1 = 1 fits; dilation 4 does not
    assert impl.im2col(x, (1, 3), (1, 1), (0, 1), (1, 3)).shape == (1, 3, 4)
    with pytest.raises(ValueError, match=r"width would be -1 < 1"):
        impl.im2col(x, (1, 3), (1, 1), (0, 1), (1, 4))
    with pytest.raises(ValueError, match=r"col2im.*height"):
        impl.col2im(np.zeros((1, 18, 1), np.float32), (1, 1, 4, 5), (6, 3), (1, 1), (0, 0), (1, 1))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_arguments_are_refused(impl):
    x = np.zeros((2, 3, 5, 5), dtype=np.float32)
    geometry = ((3, 3), (1, 1), (0, 0), (1, 1))
    with pytest.raises(TypeError, match=r"im2col.*float32 or float64.*int64"):
        impl.im2col(x.astype(np.int64), *geometry)
    with pytest.raises(ValueError, match=r"im2col.*\(N, C, H, W\).*\(3, 5, 5\)"):
        impl.im2col(x[0], *geometry)
    with pytest.raises(ValueError, match=r"im2col: stride"):
        impl.im2col(x, (3, 3), (0, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"col2im.*\(2, 27, 9\).*\(2, 27, 8\)"):
        impl.col2im(np.zeros((2, 27, 8), np.float32), x.shape, *geometry)
    with pytest.raises(TypeError, match=r"col2im.*float16"):
        impl.col2im(np.zeros((2, 27, 9), np.float16), x.shape, *geometry)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_strided_input_ints_and_no_mutation(impl):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 3, 6, 7))
    x = base.transpose(1, 0, 2, 3)[:, :, ::-1]  # (3, 4, 6, 7), not C-contiguous
    before = x.copy()
    cols = impl.im2col(x, 3, 2, 1, 1)  # plain ints are taken as (h, w) pairs
    np.testing.assert_array_equal(cols, naive_im2col(before, (3, 3), (2, 2), (1, 1), (1, 1)))
    np.testing.assert_array_equal(x, before)
    view = cols[:, :, ::-1].copy()[:, :, ::-1]  # a negative-stride view of the columns
    kept = view.copy()
    np.testing.assert_allclose(impl.col2im(view, x.shape, 3, 2, 1, 1),
                               naive_col2im(kept, x.shape, (3, 3), (2, 2), (1, 1), (1, 1)))
    np.testing.assert_array_equal(view, kept)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_empty_batch(impl):
    x = np.zeros((0, 2, 5, 5), dtype=np.float64)
    assert impl.im2col(x, (3, 3), (1, 1), (1, 1), (1, 1)).shape == (0, 18, 25)
    grad = impl.col2im(np.zeros((0, 18, 25)), x.shape, (3, 3), (1, 1), (1, 1), (1, 1))
    assert grad.shape == x.shape


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_out_arrays_are_written_and_checked(impl):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 5))
    geometry = ((3, 2), (2, 1), (1, 1), (1, 2))
    expected = impl.im2col(x, *geometry)
    out = np.full(expected.shape, np.nan)
    assert impl.im2col(x, *geometry, out=out) is out
    np.testing.assert_array_equal(out, expected)
    grad_cols = rng.standard_normal(expected.shape)
    grad_x = np.full(x.shape, np.nan)
    assert impl.col2im(grad_cols, x.shape, *geometry, out=grad_x) is grad_x
    np.testing.assert_allclose(grad_x, impl.col2im(grad_cols, x.shape, *geometry), rtol=1e-12)
    for bad in (np.empty(expected.shape, np.float32), np.empty(expected.shape[:2] + (1,)),
                np.empty(expected.shape[::-1]).T):
        with pytest.raises(ValueError, match=r"im2col: out must be a C-contiguous array of shape"):
            impl.im2col(x, *geometry, out=bad)
    with pytest.raises(ValueError, match=r"col2im: out must be .* shape \(2, 3, 6, 5\)"):
        impl.col2im(grad_cols, x.shape, *geometry, out=np.empty((2, 3, 6, 4)))
