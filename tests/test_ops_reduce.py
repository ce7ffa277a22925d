"""Reductions: sum, mean, max, min, var, std, logsumexp, argmax/argmin.

Every reduction is drawn over an axis that is an int, a negative int, a tuple (mixing
spellings) or None, with and without keepdims, through both ``dim=``/``keepdim=`` and
``axis=``/``keepdims=``. Values are compared with NumPy; gradients with float64 finite
differences. max/min/std get inputs without ties (and so with a positive variance).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from conftest import arrays, assert_close, assert_gradcheck, distinct_arrays, leaf, shapes, to_torch


@st.composite
def shape_axis_keepdims(draw, min_dims=0, max_dims=3):
    """(shape, axis, keepdims) with axis None, an int (maybe negative) or a tuple."""
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"])) if ndim else "none"
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)  # mix in negatives
    return shape, axis, draw(st.booleans())


def reduce_call(tensor, name, axis, keepdims, spelling, **extra):
    """t.name(dim=axis, keepdim=k) or t.name(axis=axis, keepdims=k)."""
    if spelling == "dim":
        out = getattr(tensor, name)(dim=axis, keepdim=keepdims, **extra)
        if name in ("max", "min") and isinstance(axis, int):
            values, indices = out  # PyTorch's (values, indices) over one dim
            argfn = np.argmax if name == "max" else np.argmin
            expected = argfn(tensor.data, axis=axis, keepdims=keepdims)
            assert np.array_equal(indices.data, expected)
            return values
        return out
    return getattr(tensor, name)(axis=axis, keepdims=keepdims, **extra)


def reduced_count(shape, axis):
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


NUMPY = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


@pytest.mark.parametrize("spelling", ["dim", "axis"])
@pytest.mark.parametrize("name", list(NUMPY))
@given(case=shape_axis_keepdims(), data=st.data())
def test_reduction_matches_numpy_and_gradcheck(name, spelling, case, data):
    shape, axis, keepdims = case
    # max/min: no ties, so the gradient is defined and finite differences see one argmax
    x = data.draw(distinct_arrays(shape) if name in ("max", "min") else arrays(shape))
    out = reduce_call(leaf(x), name, axis, keepdims, spelling)
    assert_close(out, NUMPY[name](x, axis=axis, keepdims=keepdims), rtol=1e-12, what=name)
    assert_gradcheck(lambda t: reduce_call(t, name, axis, keepdims, spelling), x)


@pytest.mark.parametrize("name", ["var", "std"])
@given(case=shape_axis_keepdims(), correction=st.sampled_from([0, 1]), data=st.data())
def test_var_std_match_numpy_and_gradcheck(name, case, correction, data):
    shape, axis, keepdims = case
    if reduced_count(shape, axis) <= correction:
        correction = 0  # n - correction must stay positive
    x = data.draw(distinct_arrays(shape))  # distinct values: variance > 0 when n > 1, so std is smooth
    reference = np.var if name == "var" else np.std
    expected = reference(x, axis=axis, keepdims=keepdims, ddof=correction)
    out = getattr(leaf(x), name)(dim=axis, keepdim=keepdims, correction=correction)
    assert_close(out, expected, rtol=1e-10, atol=1e-12, what=name)
    unbiased = getattr(leaf(x), name)(axis=axis, keepdims=keepdims, unbiased=bool(correction))
    assert_close(unbiased, expected, rtol=1e-10, atol=1e-12, what=f"{name} unbiased=")
    if name == "std" and reduced_count(shape, axis) == 1:
        return  # std of one value is 0: sqrt has no derivative there
    assert_gradcheck(lambda t: getattr(t, name)(dim=axis, keepdim=keepdims, correction=correction), x)


def test_var_default_is_unbiased_like_pytorch():
    x = mc.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(np.var([1, 2, 3, 4], ddof=1))
    assert x.std(unbiased=False).item() == pytest.approx(np.std([1, 2, 3, 4]))


def test_var_of_one_value_is_nan_not_an_exception():
    x = leaf([2.0])
    with np.errstate(all="ignore"):
        v = x.var()
        v.backward()
    assert np.isnan(v.item()) and np.isnan(x.grad.numpy()).all()


def test_sum_mean_gradients_by_hand():
    x = leaf(np.arange(6.0).reshape(2, 3))
    x.mean(dim=1).sum().backward()          # each row's mean: d/dx = 1/3
    assert_close(x.grad, np.full((2, 3), 1 / 3))
    x.grad = None
    (x.sum(dim=0, keepdim=True) * mc.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert_close(x.grad, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])


def test_max_shares_the_gradient_among_ties():
    """PyTorch's max()/amax split the gradient evenly among tied maxima."""
    x = leaf([[1.0, 3.0, 3.0], [5.0, 0.0, 5.0]])
    x.max().backward()
    assert_close(x.grad, [[0.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    x.grad = None
    x.max(dim=1).values.sum().backward()
    assert_close(x.grad, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])
    x.grad = None
    x.min(dim=0).values.sum().backward()
    assert_close(x.grad, [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


@pytest.mark.torch
def test_max_ties_match_torch_amax():
    torch = pytest.importorskip("torch")
    values = np.array([[2.0, 2.0, 1.0], [0.0, 4.0, 4.0]])
    ours, theirs = leaf(values), to_torch(values, True)
    (ours.max(dim=1)[0] * mc.tensor([1.0, 3.0])).sum().backward()
    (torch.amax(theirs, dim=1) * torch.tensor([1.0, 3.0], dtype=torch.float64)).sum().backward()
    assert_close(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dim_tensor_reduces_over_dim_0_or_minus_1(name, dim):
    x = leaf(3.0)
    extra = {"correction": 0} if name == "var" else {}
    out = getattr(x, name)(dim=dim, **extra)
    if name in ("max", "min"):  # (values, indices) as PyTorch
        out, index = out
        assert index.item() == 0
    assert out.shape == ()
    assert out.item() == (0.0 if name == "var" else 3.0)


def test_reduction_dim_errors():
    with pytest.raises(IndexError, match="dim 2 is out of range.*2 dims"):
        mc.ones(2, 3).sum(dim=2)
    with pytest.raises(IndexError, match="dim -3"):
        mc.ones(2, 3).mean(dim=-3)
    with pytest.raises(ValueError, match="more than once"):
        mc.ones(2, 3).sum(dim=(1, -1))
    with pytest.raises(TypeError, match="dim= or axis="):
        mc.ones(2, 3).sum(dim=0, axis=1)


def test_numpy_integer_dim_is_accepted():
    assert_close(mc.ones(2, 3).sum(np.int64(1)), [3.0, 3.0])


# ----- logsumexp ---------------------------------------------------------------------------------
@given(case=shape_axis_keepdims(min_dims=1), data=st.data())
def test_logsumexp_matches_formula_and_gradcheck(case, data):
    shape, axis, keepdims = case
    x = data.draw(arrays(shape))
    expected = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))  # fine for |x| <= 3
    assert_close(F.logsumexp(leaf(x), axis, keepdims), expected, rtol=1e-12)
    assert_gradcheck(lambda t: F.logsumexp(t, axis, keepdims), x)


def test_logsumexp_of_large_and_infinite_values():
    x = leaf([[1e4, 1e4, -1e4], [-np.inf, -np.inf, -np.inf]])
    with np.errstate(divide="ignore"):
        out = F.logsumexp(x, dim=1)
    assert_close(out[0], 1e4 + np.log(2.0))  # the -1e4 term underflows to 0, as it should
    assert out[1].item() == -np.inf
    out[0].backward()  # d/dx_i = softmax(x)_i
    assert_close(x.grad[0], [0.5, 0.5, 0.0])


@pytest.mark.torch
def test_logsumexp_var_std_match_torch():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(3).standard_normal((3, 4, 2))
    for ours_fn, torch_fn in [
        (lambda t: F.logsumexp(t, (0, 2)), lambda t: torch.logsumexp(t, (0, 2))),
        (lambda t: t.var(dim=1, keepdim=True), lambda t: t.var(dim=1, keepdim=True)),
        (lambda t: t.std(dim=(0, -1), correction=0), lambda t: t.std(dim=(0, -1), correction=0)),
    ]:
        ours, theirs = leaf(values), to_torch(values, True)
        out_ours, out_theirs = ours_fn(ours), torch_fn(theirs)
        assert_close(out_ours, out_theirs.detach().numpy(), rtol=1e-12)
        (out_ours ** 2).sum().backward()
        (out_theirs ** 2).sum().backward()
        assert_close(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


# ----- argmax / argmin ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(shape=shapes(min_dims=1), data=st.data())
def test_argmax_argmin_match_numpy_and_are_not_differentiable(name, shape, data):
    x = data.draw(distinct_arrays(shape))
    dim = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    out = getattr(leaf(x), name)(dim=dim)
    expected = getattr(np, name)(x, axis=dim)
    assert out.dtype == np.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), expected)


# ----- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reductions_keep_the_dtype(name, dtype):
    x = mc.tensor(np.array([[1.0, 2.0], [4.0, 3.0]], dtype=dtype), requires_grad=True)
    out = getattr(x, name)(dim=(0,))  # a tuple of dims: the values alone for max/min too
    out.sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    full = getattr(x, name)()
    assert full.shape == () and isinstance(full.data, np.ndarray)


def test_max_min_over_one_dim_return_values_and_indices_like_torch():
    data = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], dtype=np.float32)
    x = mc.tensor(data)
    values, indices = x.max(dim=1)
    assert np.array_equal(values.data, data.max(axis=1))
    assert np.array_equal(indices.data, data.argmax(axis=1)) and indices.dtype == np.int64
    assert np.array_equal(x.min(dim=0).indices.data, data.argmin(axis=0))
    assert np.array_equal(x.max(dim=1, keepdim=True).values.data, data.max(axis=1, keepdims=True))
    # NumPy's axis= spelling and tuples of dims give the values alone
    assert np.array_equal(x.max(axis=1).data, data.max(axis=1))
    assert np.array_equal(x.min(dim=(0, 1)).data, data.min())
