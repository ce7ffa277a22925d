"""Elementwise ops: arithmetic with broadcasting and Python scalars, pow, unary math,
activations, softmaxes, where/maximum/minimum/clip, comparisons.

Forward values are compared with NumPy formulas written here; gradients with float64 finite
differences (``mc.gradcheck``) on hypothesis-drawn shapes; a sample against PyTorch.
Inputs stay away from kinks (|x| at 0, relu at 0, clip bounds, max ties) by construction.
"""
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from conftest import (arrays, assert_close, assert_gradcheck, away_from, broadcastable_shapes,
                      leaf, positive_arrays, shapes, to_torch)

# ----- binary arithmetic with broadcasting -----------------------------------------------------
BINARY = {
    "add": (operator.add, np.add),
    "sub": (operator.sub, np.subtract),
    "mul": (operator.mul, np.multiply),
    "div": (operator.truediv, np.divide),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(pair=broadcastable_shapes(), data=st.data())
def test_binary_op_broadcasts_both_sides(name, pair, data):
    op, reference = BINARY[name]
    a = data.draw(arrays(pair[0]))
    b = data.draw(arrays(pair[1]))
    if name == "div":
        b = away_from(b, (0.0,), 0.5)  # 1/b stays tame for finite differences
    out = op(leaf(a), leaf(b))
    assert_close(out, reference(a, b), what=name)
    assert out.dtype == np.float64
    assert_gradcheck(op, a, b)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradient_sums_over_broadcast_axes(name):
    """A hand-written case: a (2, 1, 3) against b (4, 1); grads summed back to each shape."""
    op, _ = BINARY[name]
    a = leaf(np.linspace(1.0, 2.0, 6).reshape(2, 1, 3))
    b = leaf(np.linspace(0.5, 1.5, 4).reshape(4, 1))
    op(a, b).sum().backward()
    assert a.grad.shape == (2, 1, 3) and b.grad.shape == (4, 1)
    a_val, b_val = a.detach().numpy(), b.detach().numpy()
    if name == "add":
        expected_a, expected_b = np.full((2, 1, 3), 4.0), np.full((4, 1), 6.0)
    elif name == "sub":
        expected_a, expected_b = np.full((2, 1, 3), 4.0), np.full((4, 1), -6.0)
    elif name == "mul":  # d(a b)/da = b summed over b's 4 rows; d/db = a summed over 2 x 3
        expected_a = np.full((2, 1, 3), b_val.sum())
        expected_b = np.full((4, 1), a_val.sum())
    else:  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        expected_a = np.full((2, 1, 3), (1 / b_val).sum())
        expected_b = -a_val.sum() / b_val ** 2
    assert_close(a.grad, expected_a, what="grad a")
    assert_close(b.grad, expected_b, what="grad b")


# ----- Python scalars on either side of every operator ------------------------------------------
OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow,
}


@pytest.mark.parametrize("symbol", list(OPERATORS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(shape=shapes(max_dims=2), scalar=st.floats(0.5, 2.5), data=st.data())
def test_python_scalar_on_either_side(symbol, dtype, shape, scalar, data):
    op = OPERATORS[symbol]
    # the tensor is a divisor or a power base on one side: keep it positive
    x = data.draw(positive_arrays(shape, low=0.5, high=2.5))
    right = op(mc.tensor(x.astype(dtype)), scalar)    # tensor OP scalar
    left = op(scalar, mc.tensor(x.astype(dtype)))     # scalar OP tensor
    stored = x.astype(dtype).astype(np.float64)  # the values the tensor really holds
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 0)
    assert_close(right, op(stored, scalar), rtol=rtol, atol=atol, what=f"t {symbol} s")
    assert_close(left, op(scalar, stored), rtol=rtol, atol=atol, what=f"s {symbol} t")
    assert right.dtype == dtype and left.dtype == dtype  # a Python number never promotes
    if dtype == np.float64:
        assert_gradcheck(lambda t: op(t, scalar), x)
        assert_gradcheck(lambda t: op(scalar, t), x)


@pytest.mark.parametrize("symbol", list(OPERATORS))
def test_numpy_scalar_acts_like_python_number(symbol):
    """float32 tensor with np.float64(2.0) on either side stays float32 (as in PyTorch)."""
    op = OPERATORS[symbol]
    t = mc.tensor([1.0, 2.0])
    assert op(t, np.float64(2.0)).dtype == np.float32
    assert op(np.float64(2.0), t).dtype == np.float32


def test_integer_arithmetic_dtypes_follow_pytorch():
    ints = mc.tensor([1, 2, 3])
    assert (ints + 1).dtype == np.int64
    assert (ints * 2).dtype == np.int64
    assert (ints / 2).dtype == np.float32           # true division gives the default float
    assert (ints / mc.tensor([2, 2, 2])).dtype == np.float32
    assert (ints * 0.5).dtype == np.float32
    assert_close(ints / 2, np.array([0.5, 1.0, 1.5]))


# ----- pow --------------------------------------------------------------------------------------
@given(shape=shapes(), exponent=st.sampled_from([-2.0, -0.5, 0.5, 1.0, 2, 3, 2.5]), data=st.data())
def test_pow_tensor_to_scalar(shape, exponent, data):
    x = data.draw(positive_arrays(shape))
    assert_close(leaf(x) ** exponent, np.power(x, exponent))
    assert_gradcheck(lambda t: t ** exponent, x)


def test_pow_derivative_by_hand():
    x = leaf([1.0, 2.0, 3.0])
    (x ** 3).sum().backward()
    assert_close(x.grad, 3 * np.array([1.0, 2.0, 3.0]) ** 2)  # d x^3/dx = 3 x^2
    e = leaf([0.0, 1.0, 2.0])
    (2.0 ** e).sum().backward()
    assert_close(e.grad, np.log(2.0) * 2.0 ** np.array([0.0, 1.0, 2.0]))  # d 2^e/de = 2^e ln 2


@given(shape=shapes(), base=st.floats(0.3, 3.0), data=st.data())
def test_pow_scalar_to_tensor(shape, base, data):
    e = data.draw(arrays(shape, low=-2.0, high=2.0))
    assert_close(base ** leaf(e), np.power(base, e))
    assert_gradcheck(lambda t: base ** t, e)


@given(pair=broadcastable_shapes(), data=st.data())
def test_pow_tensor_to_tensor_positive_bases(pair, data):
    a = data.draw(positive_arrays(pair[0], low=0.3, high=2.5))
    b = data.draw(arrays(pair[1], low=-2.0, high=2.0))
    assert_close(leaf(a) ** leaf(b), np.power(a, b))
    assert_gradcheck(lambda s, t: s ** t, a, b)


# ----- unary math and activations --------------------------------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    # name: (minicnn function, NumPy reference, input strategy maker)
    "neg": (lambda t: -t, np.negative, arrays),
    "exp": (lambda t: t.exp(), np.exp, arrays),
    "log": (lambda t: t.log(), np.log, positive_arrays),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, positive_arrays),
    "abs": (lambda t: t.abs(), np.abs, arrays),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0), arrays),
    "F.relu": (F.relu, lambda x: np.maximum(x, 0), arrays),
    "sigmoid": (lambda t: t.sigmoid(), _sigmoid, arrays),
    "tanh": (lambda t: t.tanh(), np.tanh, arrays),
    "F.leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), arrays),
}
KINKED = {"abs", "relu", "F.relu", "F.leaky_relu"}  # not differentiable at 0


@pytest.mark.parametrize("name", list(UNARY))
@given(shape=shapes(), data=st.data())
def test_unary_op(name, shape, data):
    fn, reference, make = UNARY[name]
    x = data.draw(make(shape))
    if name in KINKED:
        x = away_from(x, (0.0,), 0.05)
    assert_close(fn(leaf(x)), reference(x), rtol=1e-12, what=name)
    assert_gradcheck(fn, x)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_op_keeps_float32(name):
    fn, _, _ = UNARY[name]
    x = mc.tensor([0.5, 1.5], requires_grad=True)
    y = fn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_kink_gradients_follow_pytorch():
    """At exactly 0: relu' = 0, |x|' = 0, leaky_relu' = slope (PyTorch's choices)."""
    x = leaf([0.0, -1.0, 2.0])
    x.relu().sum().backward()
    assert_close(x.grad, [0.0, 0.0, 1.0])
    x.grad = None
    x.abs().sum().backward()
    assert_close(x.grad, [0.0, -1.0, 1.0])
    x.grad = None
    F.leaky_relu(x, 0.1).sum().backward()
    assert_close(x.grad, [0.1, 0.1, 1.0])


def test_sigmoid_of_huge_inputs_is_finite():
    x = leaf([-1e4, -800.0, 0.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow either
        y = x.sigmoid()
        y.sum().backward()
    assert_close(y, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert_close(x.grad, [0.0, 0.0, 0.25, 0.0, 0.0])


# ----- softmax and log_softmax ----------------------------------------------------------------
def _softmax(x, axis):
    """The textbook formula, fine for the small inputs it is given."""
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


@st.composite
def shape_and_dim(draw, min_dims=1, max_dims=3):
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, dim


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
@given(case=shape_and_dim(), data=st.data())
def test_softmax_family(which, case, data):
    shape, dim = case
    x = data.draw(arrays(shape))
    fn = F.softmax if which == "softmax" else F.log_softmax
    expected = _softmax(x, dim) if which == "softmax" else np.log(_softmax(x, dim))
    assert_close(fn(leaf(x), dim=dim), expected, rtol=1e-10, atol=1e-12)
    assert_close(fn(leaf(x), axis=dim), expected, rtol=1e-10, atol=1e-12)  # axis= spelling
    assert_gradcheck(lambda t: fn(t, dim), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(x=arrays((2, 4), low=-3.0, high=3.0))
def test_softmax_of_large_logits_stays_finite_and_correct(dtype, x):
    """Softmax is shift invariant: softmax(x + 1e4) = softmax(x), computed naively on x."""
    big = mc.tensor((x + 1e4).astype(dtype), requires_grad=True)
    with np.errstate(over="raise"):
        probs = F.softmax(big, dim=1)
        log_probs = F.log_softmax(big, dim=1)
        (log_probs[:, 0].sum() + probs[:, 1].sum()).backward()
    tol = 1e-3 if dtype == np.float32 else 1e-9  # float32 rounds 1e4 + x to ~1e-3
    assert_close(probs, _softmax(x, 1), atol=tol, rtol=tol)
    assert_close(log_probs, np.log(_softmax(x, 1)), atol=tol, rtol=tol)
    assert np.all(np.isfinite(big.grad.numpy()))


def test_log_softmax_of_extreme_logits():
    """[1e4, 0]: log_softmax = [0, -1e4] exactly, where a naive log(softmax) gives -inf."""
    x = leaf([[1e4, 0.0], [0.0, -1e4]])
    y = F.log_softmax(x, dim=1)
    assert_close(y, [[0.0, -1e4], [0.0, -1e4]])
    y.sum().backward()  # d/dx_j sum_i log p_i = 1 - n p_j
    assert_close(x.grad, [[-1.0, 1.0], [-1.0, 1.0]])


def test_softmax_bad_dim_names_the_op():
    with pytest.raises(IndexError, match="softmax.*dim 2.*\\(2, 3\\)"):
        F.softmax(mc.ones(2, 3), dim=2)


# ----- where, maximum, minimum, clip ----------------------------------------------------------
@given(pair=broadcastable_shapes(num_shapes=3), data=st.data())
def test_where_broadcasts_and_routes_gradients(pair, data):
    cond = data.draw(arrays(pair[0])) > 0
    a, b = data.draw(arrays(pair[1])), data.draw(arrays(pair[2]))
    assert_close(mc.where(mc.tensor(cond), leaf(a), leaf(b)), np.where(cond, a, b))
    assert_gradcheck(lambda s, t: mc.where(mc.tensor(cond), s, t), a, b)


def test_where_gradient_by_hand():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([10.0, 20.0, 30.0])
    cond = mc.tensor([True, False, True])
    mc.where(cond, a, b).sum().backward()
    assert_close(a.grad, [1.0, 0.0, 1.0])
    assert_close(b.grad, [0.0, 1.0, 0.0])


def test_where_with_python_numbers_is_float32():
    out = mc.where(mc.tensor([1.0, -1.0]) > 0, 1.0, 0.0)
    assert out.dtype == np.float32
    assert_close(out, [1.0, 0.0])


def _offset_grid(shape, offset):
    """Arrays of integers + ``offset``: a grid at +0.25 and one at -0.25 never tie."""
    return arrays(shape, dtype=np.int64, low=-3, high=3).map(lambda k: k + offset)


@pytest.mark.parametrize("which", ["maximum", "minimum"])
@given(pair=broadcastable_shapes(), data=st.data())
def test_maximum_minimum(which, pair, data):
    a = data.draw(_offset_grid(pair[0], 0.25))
    b = data.draw(_offset_grid(pair[1], -0.25))  # |a - b| >= 0.5 everywhere: no ties
    fn, reference = (mc.maximum, np.maximum) if which == "maximum" else (mc.minimum, np.minimum)
    assert_close(fn(leaf(a), leaf(b)), reference(a, b))
    assert_close(getattr(leaf(a), which)(leaf(b)), reference(a, b))  # the method spelling
    assert_gradcheck(fn, a, b)


def test_maximum_with_a_python_number():
    x = leaf([-1.0, 2.0])
    mc.maximum(x, 0.5).sum().backward()
    assert_close(x.grad, [0.0, 1.0])


@pytest.mark.parametrize("which", ["maximum", "minimum"])
def test_maximum_minimum_ties_and_nan_follow_torch(which):
    """A tie splits the gradient in halves; a NaN gives it to both (PyTorch's formula)."""
    a_values, b_values = [1.0, 2.0, 3.0, np.nan], [1.0, 1.0, 4.0, 0.0]
    a, b = leaf(a_values), leaf(b_values)
    out = getattr(mc, which)(a, b)
    out.sum().backward()
    wins = [None, 1.0, 0.0, 1.0] if which == "maximum" else [None, 0.0, 1.0, 1.0]
    assert_close(a.grad, [0.5] + wins[1:])
    assert_close(b.grad, [0.5, 1.0 - wins[1], 1.0 - wins[2], 1.0])
    assert np.isnan(out.detach().numpy()[3])
    torch = pytest.importorskip("torch")
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a_values, b_values))
    getattr(torch, which)(ta, tb).sum().backward()
    assert_close(a.grad, ta.grad.numpy())
    assert_close(b.grad, tb.grad.numpy())


@given(shape=shapes(), low=st.floats(-2.0, 0.0), width=st.floats(0.5, 3.0), data=st.data())
def test_clip(shape, low, width, data):
    high = low + width
    x = away_from(data.draw(arrays(shape)), (low, high), 0.05)  # off the bounds
    assert_close(leaf(x).clip(low, high), np.clip(x, low, high))
    assert_close(mc.clamp(leaf(x), min=low), np.maximum(x, low))
    assert_close(mc.clip(leaf(x), max=high), np.minimum(x, high))
    assert_gradcheck(lambda t: t.clip(low, high), x)
    assert_gradcheck(lambda t: mc.clip(t, max=high), x)


def test_clip_gradient_is_zero_where_clipped():
    x = leaf([-3.0, -0.5, 0.5, 3.0])
    x.clip(-1.0, 1.0).sum().backward()
    assert_close(x.grad, [0.0, 1.0, 1.0, 0.0])


# ----- comparisons --------------------------------------------------------------------------
COMPARISONS = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda op: op.__name__)
@given(pair=broadcastable_shapes(), data=st.data())
def test_comparisons_give_bool_tensors_outside_the_graph(op, pair, data):
    a = data.draw(arrays(pair[0], low=-2, high=2, dtype=np.int64)).astype(np.float64)
    b = data.draw(arrays(pair[1], low=-2, high=2, dtype=np.int64)).astype(np.float64)
    out = op(leaf(a), leaf(b))
    assert isinstance(out, mc.Tensor)
    assert out.dtype == np.bool_
    assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), op(a, b))
    # Python numbers on either side
    np.testing.assert_array_equal(op(leaf(a), 0.0).numpy(), op(a, 0.0))
    np.testing.assert_array_equal(op(0.0, leaf(a)).numpy(), op(0.0, a))


def test_comparison_result_cannot_require_grad():
    mask = mc.tensor([1.0, 2.0], requires_grad=True) > 1.5
    with pytest.raises(TypeError, match="floating"):
        mask.requires_grad_(True)


# ----- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BINARY))
def test_broadcast_mismatch_names_op_and_shapes(name):
    op, _ = BINARY[name]
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        op(mc.ones(2, 3), mc.ones(4))


# ----- against PyTorch -------------------------------------------------------------------------
TORCH_CASES = {  # fn(a, b, nn): nn is minicnn.functional or torch.nn.functional
    "mul_broadcast": (lambda a, b, nn: a * b, ((3, 1, 4), (2, 4))),
    "div_broadcast": (lambda a, b, nn: a / (b * b + 1), ((2, 3), (3,))),
    "pow": (lambda a, b, nn: (a * a + 1) ** b, ((2, 3), (2, 3))),
    "sigmoid_tanh": (lambda a, b, nn: a.sigmoid() * b.tanh(), ((4,), (4,))),
    "softmax": (lambda a, b, nn: nn.softmax(a * b, dim=0), ((3, 2), (3, 2))),
    "log_softmax": (lambda a, b, nn: nn.log_softmax(a - b, dim=-1), ((2, 5), (5,))),
    "exp_log": (lambda a, b, nn: (a.exp() + b * b).log(), ((3,), (2, 3))),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_forward_and_grad_match_torch(name):
    torch = pytest.importorskip("torch")
    fn, (shape_a, shape_b) = TORCH_CASES[name]
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    ours_a, ours_b = leaf(a), leaf(b)
    theirs_a, theirs_b = to_torch(a, True), to_torch(b, True)
    ours, theirs = fn(ours_a, ours_b, F), fn(theirs_a, theirs_b, torch.nn.functional)
    weights = rng.standard_normal(ours.shape)
    (ours * mc.tensor(weights)).sum().backward()
    (theirs * to_torch(weights)).sum().backward()
    assert_close(ours, theirs.detach().numpy(), rtol=1e-10, what="forward")
    assert_close(ours_a.grad, theirs_a.grad.numpy(), rtol=1e-10, atol=1e-12, what="grad a")
    assert_close(ours_b.grad, theirs_b.grad.numpy(), rtol=1e-10, atol=1e-12, what="grad b")


@settings(max_examples=10)
@given(x=arrays((3, 4), low=-5, high=5))
def test_softmax_grad_matches_torch(x):
    torch = pytest.importorskip("torch")
    ours = leaf(x)
    theirs = to_torch(x, True)
    (F.softmax(ours, dim=1) ** 2).sum().backward()
    (torch.softmax(theirs, dim=1) ** 2).sum().backward()
    assert_close(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
