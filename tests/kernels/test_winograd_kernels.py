"""Winograd F(2x2, 3x3) transforms: the reference against the direct convolution sum, Numba
against the reference, and the output transform's adjoint.

* transform the input, multiply by transformed weights, transform back: equals the 3x3
  cross-correlation written as nine shifted sums (independent of the Winograd matrices);
* the Numba kernels equal the reference (float32 and float64, odd sizes, padding 0-2);
* ``<winograd_output(m), g> == <m, winograd_output_adjoint(g)>`` for both;
* clear errors for a kernel that does not fit, bad ranks, dtypes and ``out`` arrays.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kernels.cpu import winograd as compiled
from kernels.reference import winograd as reference

IMPLEMENTATIONS = [pytest.param(reference, id="reference"), pytest.param(compiled, id="numba")]


@st.composite
def winograd_cases(draw):
    """(input shape (N, C, H, W), padding (ph, pw)) with an output of at least 1x1."""
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    sizes = [draw(st.integers(max(1, 3 - 2 * p), 12)) for p in padding]
    return (draw(st.integers(1, 3)), draw(st.integers(1, 4)), *sizes), padding


def direct_conv(x, weight, padding):
    """y[n, o, i, j] = sum_{c,u,v} weight[o, c, u, v] * xpad[n, c, i + u, j + v]."""
    ph, pw = padding
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = xpad.shape[2] - 2, xpad.shape[3] - 2
    y = np.zeros((x.shape[0], weight.shape[0], out_h, out_w))
    for u in range(3):
        for v in range(3):
            y += np.einsum("oc,nchw->nohw", weight[:, :, u, v], xpad[:, :, u:u + out_h, v:v + out_w])
    return y


def winograd_conv(impl, x, weight, padding):
    """The whole F(2x2, 3x3) pipeline with ``impl``'s transforms (weights: G g G^T by einsum)."""
    u = np.einsum("au,ocuv,bv->aboc", reference.G, weight, reference.G).reshape(16, *weight.shape[:2])
    v = impl.winograd_input(x, padding)
    m = np.matmul(u, v.reshape(16, x.shape[1], -1)).reshape(16, weight.shape[0], *v.shape[2:])
    ph, pw = padding
    return impl.winograd_output(m, (x.shape[2] + 2 * ph - 2, x.shape[3] + 2 * pw - 2))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=40, deadline=None)
@given(case=winograd_cases(), out_channels=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_transforms_compute_the_convolution(impl, case, out_channels, seed):
    rng = np.random.default_rng(seed)
    shape, padding = case
    x = rng.standard_normal(shape)
    weight = rng.standard_normal((out_channels, shape[1], 3, 3))
    np.testing.assert_allclose(winograd_conv(impl, x, weight, padding),
                               direct_conv(x, weight, padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=50, deadline=None)
@given(case=winograd_cases(), seed=st.integers(0, 2**32 - 1))
def test_numba_matches_reference(dtype, case, seed):
    rng = np.random.default_rng(seed)
    shape, padding = case
    x = rng.standard_normal(shape).astype(dtype)
    v = compiled.winograd_input(x, padding)
    assert v.dtype == dtype and v.flags.c_contiguous
    tol = dict(rtol=1e-6, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(v, reference.winograd_input(x, padding), **tol)

    out_hw = (shape[2] + 2 * padding[0] - 2, shape[3] + 2 * padding[1] - 2)
    m = rng.standard_normal(v.shape).astype(dtype)
    y = compiled.winograd_output(m, out_hw)
    assert y.shape == (shape[0], shape[1]) + out_hw and y.dtype == dtype
    np.testing.assert_allclose(y, reference.winograd_output(m, out_hw), **tol)

    grad = rng.standard_normal(y.shape).astype(dtype)
    dm = compiled.winograd_output_adjoint(grad)
    assert dm.shape == v.shape and dm.dtype == dtype
    np.testing.assert_allclose(dm, reference.winograd_output_adjoint(grad), **tol)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=30, deadline=None)
@given(case=winograd_cases(), seed=st.integers(0, 2**32 - 1))
def test_output_adjoint_is_the_adjoint(impl, case, seed):
    rng = np.random.default_rng(seed)
    shape, padding = case
    out_hw = (shape[2] + 2 * padding[0] - 2, shape[3] + 2 * padding[1] - 2)
    th, tw = reference.winograd_tiles(*out_hw)
    m = rng.standard_normal((16, shape[1], shape[0], th, tw))
    grad = rng.standard_normal((shape[0], shape[1]) + out_hw)
    lhs = np.vdot(impl.winograd_output(m, out_hw), grad)    # <A^T m A, g>
    rhs = np.vdot(m, impl.winograd_output_adjoint(grad))    # <m, A g A^T>
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10 * m.size)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_out_arrays_and_strided_inputs(impl):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 7, 6)).transpose(1, 0, 2, 3)[:, :, ::-1]  # not contiguous
    before = x.copy()
    out = np.full((16, 3, 2, 4, 3), np.nan)
    assert impl.winograd_input(x, 1, out=out) is out
    np.testing.assert_allclose(out, reference.winograd_input(before, 1), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(x, before)
    y = np.full((2, 3, 7, 6), np.nan)
    assert impl.winograd_output(out, (7, 6), out=y) is y
    assert np.isfinite(y).all()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_arguments_are_refused(impl):
    x = np.zeros((1, 2, 2, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"winograd_input: a 3x3 kernel does not fit.*\(0, 3\).*\(1, 2, 2, 5\)"):
        impl.winograd_input(x, 0)
    with pytest.raises(ValueError, match=r"winograd_input.*\(N, C, H, W\).*\(2, 2, 5\)"):
        impl.winograd_input(x[0], 1)
    with pytest.raises(TypeError, match=r"winograd_input.*float32 or float64.*int64"):
        impl.winograd_input(x.astype(np.int64), 1)
    with pytest.raises(ValueError, match=r"winograd_input: out must be.*\(16, 2, 1, 1, 3\).*float32"):
        impl.winograd_input(x, 1, out=np.zeros((16, 2, 1, 1, 3), np.float64))
    with pytest.raises(ValueError, match=r"winograd_output.*\(16, C, N, 3, 3\).*5x5.*\(16, 2, 1, 1, 3\)"):
        impl.winograd_output(np.zeros((16, 2, 1, 1, 3), np.float32), (5, 5))
    with pytest.raises(ValueError, match=r"winograd_output_adjoint.*\(N, C, OH, OW\).*\(2, 5\)"):
        impl.winograd_output_adjoint(np.zeros((2, 5), np.float32))
