"""ReLU kernels (kernels/*/activation.py): y = max(x, 0) and grad_x = grad where y > 0.

The expected values are written out here with NumPy indexing (not the kernels' formula);
the Numba kernels must equal the reference exactly (a copy or a zero, no arithmetic), on
any shape, contiguous or not, with zeros, signed zeros and NaN in the input.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kernels.cpu import activation as compiled
from kernels.reference import activation as reference

IMPLEMENTATIONS = [pytest.param(reference, id="reference"), pytest.param(compiled, id="numba")]


@st.composite
def arrays(draw):
    """x with negatives, zeros (+0 and -0), NaN and positives; grad of the same shape."""
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=4)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape)
    special = rng.random(shape)
    x = np.where(special < 0.1, 0.0, x)
    x = np.where((special >= 0.1) & (special < 0.15), -0.0, x)
    x = np.where((special >= 0.15) & (special < 0.2), np.nan, x)
    transpose = draw(st.booleans()) and x.ndim >= 2     # a non-contiguous view
    x = x.astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    if transpose:
        x, grad = x.T, grad.T
    return x, grad


def expected_forward(x):
    y = np.array(x, copy=True)
    y[x <= 0] = 0                      # -0.0 too (NumPy's maximum); NaN is not <= 0: it stays
    return y


def expected_backward(grad, y):
    grad_x = np.zeros_like(grad)
    grad_x[y > 0] = grad[y > 0]
    return grad_x


@settings(max_examples=60, deadline=None)
@given(case=arrays())
def test_forward_and_backward_match_the_written_out_rule(case):
    x, grad = case
    x_before, grad_before = x.copy(), grad.copy()
    want_y = expected_forward(x)
    want_grad_x = expected_backward(grad, want_y)
    for impl in (reference, compiled):
        y = impl.relu_forward(x)
        assert y.shape == x.shape and y.dtype == x.dtype
        np.testing.assert_array_equal(y, want_y)            # NaN where x was NaN
        assert not np.signbit(y[y == 0]).any()
        grad_x = impl.relu_backward(grad, y)
        assert grad_x.shape == grad.shape and grad_x.dtype == grad.dtype
        np.testing.assert_array_equal(grad_x, want_grad_x)
    np.testing.assert_array_equal(x, x_before)              # inputs untouched
    np.testing.assert_array_equal(grad, grad_before)


@settings(max_examples=30, deadline=None)
@given(case=arrays())
def test_numba_equals_reference_bit_for_bit(case):
    x, grad = case
    y_ref, y_numba = reference.relu_forward(x), compiled.relu_forward(x)
    np.testing.assert_array_equal(np.signbit(y_numba), np.signbit(y_ref))  # no -0.0 either
    np.testing.assert_array_equal(y_numba, y_ref)
    np.testing.assert_array_equal(compiled.relu_backward(grad, y_ref),
                                  reference.relu_backward(grad, y_ref))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_input_gets_a_clear_error(impl):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="relu_forward: x must be float32 or float64, got int64"):
        impl.relu_forward(np.zeros((2, 3), np.int64))
    with pytest.raises(TypeError, match="relu_forward: x must be a numpy.ndarray"):
        impl.relu_forward([1.0, -1.0])
    with pytest.raises(ValueError, match=r"relu_backward: grad must have shape \(2, 3\), got \(3, 2\)"):
        impl.relu_backward(np.zeros((3, 2), np.float32), x)
