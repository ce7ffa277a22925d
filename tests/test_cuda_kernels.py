"""Every CUDA kernel equals kernels.reference on the same hypothesis-drawn inputs.

Each test runs on two backends (the `cuda` fixture):

* ``gpu``      -- real CuPy on a real GPU; marked ``gpu`` and skipped cleanly when CuPy is
                  not importable or no device is usable;
* ``emulated`` -- the same ``.cu`` sources compiled for the CPU by ``kernels.cuda.emulate``
                  (g++ plus a CUDA shim) behind a fake ``cupy`` module, so the launchers and
                  the kernels' index arithmetic are tested on machines without a GPU.

Tolerances: float32 rtol 1e-5, float64 rtol 1e-12 (an atol of the same size relative to
the largest value, for entries that cancel to ~0); data movement and indices are exact.
"""
import shutil
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kernels.cuda as kc
import kernels.reference as ref
from kernels.cuda import emulate
from kernels.shapes import pool_output_size

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


class Backend:
    """How a test reaches one backend: ``to_device`` / ``to_host`` for its arrays."""

    def __init__(self, name, to_device, to_host):
        self.name, self.to_device, self.to_host = name, to_device, to_host


@pytest.fixture(scope="module", params=["emulated", pytest.param("gpu", marks=pytest.mark.gpu)])
def cuda(request):
    if request.param == "gpu":
        cupy = pytest.importorskip("cupy")
        if not kc.is_available():
            pytest.skip("CuPy is installed but no CUDA device is usable")
        yield Backend("gpu", cupy.asarray, cupy.asnumpy)
        return
    if shutil.which("g++") is None:
        pytest.skip("the CPU emulator needs g++")
    saved = sys.modules.get("cupy")
    sys.modules["cupy"] = emulate.fake_cupy()
    try:
        yield Backend("emulated", np.asarray, np.asarray)
    finally:
        if saved is None:
            sys.modules.pop("cupy", None)
        else:
            sys.modules["cupy"] = saved


def run(cuda, kernel_name, *args):
    """Call kernels.cuda.<kernel_name> with NumPy arrays moved to the backend; results back."""
    moved = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    result = getattr(kc, kernel_name)(*moved)
    if isinstance(result, tuple):
        return tuple(cuda.to_host(r) for r in result)
    return cuda.to_host(result)


def assert_close(actual, expected, dtype):
    """allclose with the dtype's rtol, plus an atol of rtol * max(1, max |expected|)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    rtol = RTOL[dtype]
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ----------------------------------------------------------------------------- strategies

@st.composite
def conv_case(draw):
    """x shape and conv geometry with a non-empty output."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    for axis in (0, 1):
        span = shape[2 + axis] + 2 * padding[axis] - dilation[axis] * (kernel[axis] - 1) - 1
        assume(span >= 0)
    return shape, kernel, stride, padding, dilation


@st.composite
def pool_case(draw, dilated=True):
    """x shape and PyTorch-legal pooling geometry (padding <= kernel // 2)."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilated else (1, 1)
    ceil_mode = draw(st.booleans())
    for axis in (0, 1):
        size = pool_output_size(shape[2 + axis], kernel[axis], stride[axis], padding[axis],
                                dilation[axis], ceil_mode)
        assume(size >= 1)
    return shape, kernel, stride, padding, dilation, ceil_mode


def random_array(seed, shape, dtype, ties=False):
    """Normal values; with ``ties`` small integers, so windows hold equal maxima."""
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(-2, 3, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


seeds = st.integers(0, 2 ** 32 - 1)
dtypes = st.sampled_from(DTYPES)


# ----------------------------------------------------------------------------- im2col

@SETTINGS
@given(case=conv_case(), dtype=dtypes, seed=seeds)
def test_im2col_matches_reference(cuda, case, dtype, seed):
    shape, kernel, stride, padding, dilation = case
    x = random_array(seed, shape, dtype)
    expected = ref.im2col(x, kernel, stride, padding, dilation)
    actual = run(cuda, "im2col", x, kernel, stride, padding, dilation)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)      # a copy: exact


@SETTINGS
@given(case=conv_case(), dtype=dtypes, seed=seeds)
def test_col2im_matches_reference(cuda, case, dtype, seed):
    shape, kernel, stride, padding, dilation = case
    cols_shape = ref.im2col(np.zeros(shape, dtype), kernel, stride, padding, dilation).shape
    cols = random_array(seed, cols_shape, dtype)
    expected = ref.col2im(cols, shape, kernel, stride, padding, dilation)
    actual = run(cuda, "col2im", cols, shape, kernel, stride, padding, dilation)
    assert_close(actual, expected, dtype)


# ----------------------------------------------------------------------------- max-pool

@SETTINGS
@given(case=pool_case(), dtype=dtypes, seed=seeds, ties=st.booleans(), nans=st.booleans())
def test_maxpool_forward_and_backward_match_reference(cuda, case, dtype, seed, ties, nans):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = random_array(seed, shape, dtype, ties=ties)
    if nans:
        x[np.random.default_rng(seed + 1).random(shape) < 0.15] = np.nan
    expected_out, expected_idx = ref.maxpool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    out, idx = run(cuda, "maxpool2d_forward", x, kernel, stride, padding, dilation, ceil_mode)
    assert out.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(out, expected_out)     # NaN == NaN here
    np.testing.assert_array_equal(idx, expected_idx)

    grad_out = random_array(seed + 2, out.shape, dtype)
    expected_grad = ref.maxpool2d_backward(grad_out, expected_idx, shape)
    grad = run(cuda, "maxpool2d_backward", grad_out, idx, shape)
    assert_close(grad, expected_grad, dtype)


def test_maxpool_ties_nan_and_empty_window_by_hand(cuda):
    """Hand-worked: first maximum wins a tie, the first NaN wins, an empty window is -inf/-1."""
    x = np.array([[[[1.0, 3.0, 3.0],
                    [3.0, 2.0, np.nan],
                    [0.0, np.nan, 5.0]]]])
    out, idx = run(cuda, "maxpool2d_forward", x, (2, 2), (1, 1), (0, 0), (1, 1), False)
    # window (0,0): the 3 at flat 1 beats the 3 at flat 3; window (1,1): NaN at 5 before 7
    np.testing.assert_array_equal(idx, [[[[1, 5], [7, 5]]]])
    assert out[0, 0, 0, 0] == 3.0 and np.isnan(out[0, 0, 1, 1])
    # kernel 2, dilation 5, padding 1 on a 4-wide input: taps at -1 and 4 are both outside
    x = np.arange(4.0).reshape(1, 1, 1, 4)
    out, idx = run(cuda, "maxpool2d_forward", x, (1, 2), (1, 1), (0, 1), (1, 5), False)
    np.testing.assert_array_equal(out, [[[[-np.inf]]]])
    np.testing.assert_array_equal(idx, [[[[-1]]]])


def test_maxpool_backward_skips_indices_outside_the_plane(cuda):
    grad_out = np.array([[[[1.0, 2.0, 4.0, 8.0]]]])
    indices = np.array([[[[0, -1, 6, 0]]]])          # a 2x3 plane: -1 and 6 are outside
    grad = run(cuda, "maxpool2d_backward", grad_out, indices, (1, 1, 2, 3))
    np.testing.assert_array_equal(grad, [[[[9.0, 0, 0], [0, 0, 0]]]])


@SETTINGS
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
       grow=st.tuples(st.integers(0, 3), st.integers(0, 3)), dtype=dtypes, seed=seeds)
def test_maxunpool_and_backward_match_reference(cuda, shape, grow, dtype, seed):
    rng = np.random.default_rng(seed)
    out_size = (shape[2] + grow[0], shape[3] + grow[1])
    planes, per_plane = shape[0] * shape[1], shape[2] * shape[3]
    # distinct targets per plane (as max-pool produces), one in five skipped (-1)
    rows = [rng.permutation(out_size[0] * out_size[1])[:per_plane] for _ in range(planes)]
    indices = np.stack(rows).reshape(shape).astype(np.int64)
    indices[rng.random(shape) < 0.2] = -1
    x = random_array(seed, shape, dtype)
    np.testing.assert_array_equal(run(cuda, "maxunpool2d", x, indices, out_size),
                                  ref.maxunpool2d(x, indices, out_size))
    grad_out = random_array(seed + 1, shape[:2] + out_size, dtype)
    gather_indices = rng.integers(-1, out_size[0] * out_size[1], size=shape).astype(np.int64)
    np.testing.assert_array_equal(run(cuda, "maxunpool2d_backward", grad_out, gather_indices),
                                  ref.maxunpool2d_backward(grad_out, gather_indices))


# ----------------------------------------------------------------------------- average pool

@SETTINGS
@given(case=pool_case(dilated=False), dtype=dtypes, seed=seeds, count_include_pad=st.booleans(),
       divisor_override=st.one_of(st.none(), st.integers(1, 10)))
def test_avgpool_forward_and_backward_match_reference(cuda, case, dtype, seed,
                                                      count_include_pad, divisor_override):
    shape, kernel, stride, padding, _, ceil_mode = case
    x = random_array(seed, shape, dtype)
    options = (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    expected = ref.avgpool2d_forward(x, *options)
    assert_close(run(cuda, "avgpool2d_forward", x, *options), expected, dtype)
    grad_out = random_array(seed + 1, expected.shape, dtype)
    assert_close(run(cuda, "avgpool2d_backward", grad_out, shape, *options),
                 ref.avgpool2d_backward(grad_out, shape, *options), dtype)


def test_avgpool_divisor_by_hand(cuda):
    """3x3 ones, kernel 2, stride 2, padding 1: corners see 1 real pixel of 4 window slots."""
    x = np.ones((1, 1, 3, 3))
    with_pad = run(cuda, "avgpool2d_forward", x, (2, 2), (2, 2), (1, 1), False, True, None)
    without_pad = run(cuda, "avgpool2d_forward", x, (2, 2), (2, 2), (1, 1), False, False, None)
    np.testing.assert_allclose(with_pad, [[[[0.25, 0.5], [0.5, 1.0]]]])
    np.testing.assert_allclose(without_pad, np.ones((1, 1, 2, 2)))
    # 4x4 ones, kernel 3, stride 2, padding 1, ceil_mode: per axis the windows are rows
    # [-1, 2), [1, 4), [3, 6) -> the last is clipped to the padded edge 5: [3, 5).
    # Real pixels per axis (2, 3, 1); slots counted with padding (3, 3, 2).
    x = np.ones((1, 1, 4, 4))
    with_pad = run(cuda, "avgpool2d_forward", x, (3, 3), (2, 2), (1, 1), True, True, None)
    per_axis = np.array([2 / 3, 1.0, 1 / 2])
    np.testing.assert_allclose(with_pad[0, 0], np.outer(per_axis, per_axis))
    without_pad = run(cuda, "avgpool2d_forward", x, (3, 3), (2, 2), (1, 1), True, False, None)
    np.testing.assert_allclose(without_pad, np.ones((1, 1, 3, 3)))
    override = run(cuda, "avgpool2d_forward", x, (3, 3), (2, 2), (1, 1), True, True, 2)
    np.testing.assert_allclose(override[0, 0], np.outer([2, 3, 1], [2, 3, 1]) / 2)


# ----------------------------------------------------------------------------- batchnorm

@SETTINGS
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 40)),
       dtype=dtypes, seed=seeds, shift=st.floats(-100, 100), scale=st.floats(0.1, 10))
def test_batchnorm_kernels_match_reference(cuda, shape, dtype, seed, shift, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale + shift).astype(dtype)
    mean, var = ref.batchnorm_stats(x)
    actual_mean, actual_var = run(cuda, "batchnorm_stats", x)
    assert_close(actual_mean, mean, dtype)
    assert_close(actual_var, var, dtype)

    invstd = (1.0 / np.sqrt(var.astype(np.float64) + 1e-5)).astype(dtype)
    weight = rng.standard_normal(shape[1]).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype)
    assert_close(run(cuda, "batchnorm_forward", x, mean, invstd, weight, bias),
                 ref.batchnorm_forward(x, mean, invstd, weight, bias), dtype)

    grad_y = rng.standard_normal(shape).astype(dtype)
    expected = ref.batchnorm_backward(grad_y, x, mean, invstd, weight)
    actual = run(cuda, "batchnorm_backward", grad_y, x, mean, invstd, weight)
    for got, want in zip(actual, expected):
        assert_close(got, want, dtype)


def test_batchnorm_stats_float32_large_mean(cuda):
    """Sums in double: a float32 channel at 1e4 +- 1 keeps its variance (hand value: 1)."""
    x = (10000.0 + np.tile([-1.0, 1.0], 500)).astype(np.float32).reshape(10, 1, 100)
    mean, var = run(cuda, "batchnorm_stats", x)
    assert mean.dtype == np.float32
    np.testing.assert_allclose(mean, [10000.0], rtol=1e-7)
    np.testing.assert_allclose(var, [1.0], rtol=1e-6)


# ----------------------------------------------------------------------------- relu

@SETTINGS
@given(shape=st.lists(st.integers(0, 6), min_size=1, max_size=4), dtype=dtypes, seed=seeds)
def test_relu_kernels_match_reference(cuda, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::3] = 0.0                      # exact zeros: no gradient there
    grad = rng.standard_normal(shape).astype(dtype)
    y = run(cuda, "relu_forward", x)
    np.testing.assert_array_equal(y, ref.relu_forward(x))
    np.testing.assert_array_equal(run(cuda, "relu_backward", grad, y), ref.relu_backward(grad, y))


# ----------------------------------------------------------------------------- bad input

def test_bad_input_gets_a_clear_error(cuda):
    x = cuda.to_device(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(TypeError, match="im2col.*float32 or float64"):
        kc.im2col(cuda.to_device(np.zeros((1, 1, 4, 4), np.int32)), (2, 2), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="im2col.*4 dims"):
        kc.im2col(cuda.to_device(np.zeros((4, 4), np.float32)), (2, 2), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="col2im.*cols must have shape"):
        kc.col2im(cuda.to_device(np.zeros((1, 3, 9), np.float32)), (1, 1, 4, 4),
                  (2, 2), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="maxpool2d_forward.*padding"):
        kc.maxpool2d_forward(x, (2, 2), (1, 1), (2, 2), (1, 1), False)
    with pytest.raises(ValueError, match="avgpool2d_forward.*divisor_override"):
        kc.avgpool2d_forward(x, (2, 2), (1, 1), (0, 0), False, True, 0)
    with pytest.raises(TypeError, match="maxpool2d_backward.*integer"):
        kc.maxpool2d_backward(x, x, (1, 1, 4, 4))
    with pytest.raises(ValueError, match="batchnorm_forward.*mean must have shape"):
        vector = cuda.to_device(np.zeros(2, np.float32))
        kc.batchnorm_forward(cuda.to_device(np.zeros((2, 3, 4), np.float32)),
                             vector, vector, vector, vector)
    with pytest.raises(ValueError, match=r"relu_backward: grad must have shape \(1, 1, 4, 4\)"):
        kc.relu_backward(cuda.to_device(np.zeros((4, 4), np.float32)), x)


def test_empty_batch_launches_nothing(cuda):
    x = np.zeros((0, 2, 5, 5), np.float64)
    cols = run(cuda, "im2col", x, (3, 3), (1, 1), (1, 1), (1, 1))
    assert cols.shape == (0, 18, 25)
