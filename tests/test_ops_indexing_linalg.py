"""Differentiable indexing (basic and advanced) and matmul (1-D, 2-D, batched).

Basic indices (ints, negative ints, slices with steps, None, Ellipsis) and advanced ones
(integer arrays, boolean masks, Tensors as indices) are drawn by hypothesis; forward against
NumPy, backward by finite differences, and repeated indices must add up in backward.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from conftest import arrays, assert_close, assert_gradcheck, broadcastable_shapes, leaf, shapes, to_torch


# ----- basic indexing ------------------------------------------------------------------------
@st.composite
def array_and_basic_index(draw):
    x = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=5)))
    index = draw(hnp.basic_indices(x.shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    return x, index


@given(case=array_and_basic_index())
def test_basic_indexing(case):
    x, index = case
    assert_close(leaf(x)[index], x[index])
    if x[index].size:  # an empty slice has no gradient to check
        assert_gradcheck(lambda t: t[index], x)


def test_slices_with_steps_and_negative_indices_by_hand():
    x = leaf(np.arange(12.0).reshape(3, 4))
    y = x[::-2, 1::2]  # rows 2, 0; columns 1, 3
    assert_close(y, [[9.0, 11.0], [1.0, 3.0]])
    y.sum().backward()
    assert_close(x.grad, [[0, 1, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1]])
    x.grad = None
    x[-1, ..., None][-2].sum().backward()  # x[-1][-2] = x[2, 2]
    expected = np.zeros((3, 4))
    expected[2, 2] = 1.0
    assert_close(x.grad, expected)


# ----- advanced indexing ---------------------------------------------------------------------
@st.composite
def array_and_integer_arrays(draw):
    x = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=4)))
    index = draw(hnp.integer_array_indices(x.shape, result_shape=shapes(min_dims=1, max_dims=2, max_side=4)))
    return x, index


@given(case=array_and_integer_arrays())
def test_integer_array_indexing(case):
    """Indices repeat often (4 picks from a side of <= 4): backward must add them up."""
    x, index = case
    assert_close(leaf(x)[index], x[index])
    assert_gradcheck(lambda t: t[index], x)


def test_repeated_indices_accumulate_in_backward():
    x = leaf([10.0, 20.0, 30.0])
    x[[0, 0, 2, 0]].sum().backward()
    assert_close(x.grad, [3.0, 0.0, 1.0])
    m = leaf(np.zeros((2, 3)))
    (m[np.array([1, 1, 0]), np.array([2, 2, 0])] * mc.tensor([1.0, 2.0, 5.0])).sum().backward()
    assert_close(m.grad, [[5.0, 0.0, 0.0], [0.0, 0.0, 3.0]])


@given(x=arrays(shapes(min_dims=1, max_dims=3, max_side=4)), data=st.data())
def test_boolean_mask_indexing(x, data):
    mask = data.draw(hnp.arrays(np.bool_, x.shape))
    assert_close(leaf(x)[mask], x[mask])
    assert_close(leaf(x)[mc.tensor(mask)], x[mask])
    if mask.any():
        assert_gradcheck(lambda t: t[mask], x)


@given(x=arrays((4, 3, 2)), data=st.data())
def test_mixed_advanced_and_basic_indexing(x, data):
    rows = np.array(data.draw(st.lists(st.integers(-4, 3), min_size=1, max_size=5)))
    index = (rows, slice(1, None), data.draw(st.integers(-2, 1)))
    assert_close(leaf(x)[index], x[index])
    assert_gradcheck(lambda t: t[index], x)
    as_list = (list(rows), Ellipsis)
    assert_close(leaf(x)[as_list], x[(rows, Ellipsis)])


def test_tensors_as_indices():
    x = leaf([[1.0, -2.0], [-3.0, 4.0]])
    positive = x[x > 0]  # a comparison gives the mask
    assert_close(positive, [1.0, 4.0])
    positive.sum().backward()
    assert_close(x.grad, [[1.0, 0.0], [0.0, 1.0]])
    assert_close(x[mc.tensor([1, 1])], [[-3.0, 4.0], [-3.0, 4.0]])
    assert_close(x[mc.tensor(1), 0], -3.0)


def test_index_out_of_range_names_the_shape():
    with pytest.raises(IndexError, match=r"shape \(3,\)"):
        mc.ones(3)[5]


def test_iteration_yields_differentiable_rows():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    rows = list(x)
    assert len(rows) == 2
    (rows[0] * 2 + rows[1]).sum().backward()
    assert_close(x.grad, [[2.0, 2.0], [1.0, 1.0]])


# ----- matmul ----------------------------------------------------------------------------------
@st.composite
def matmul_shapes(draw):
    """(shape_a, shape_b): 1-D or matrices with broadcastable batch dims on either side."""
    batch_a, batch_b = draw(broadcastable_shapes(min_dims=0, max_dims=2, max_side=3))
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    shape_a = (k,) if draw(st.integers(0, 3)) == 0 else batch_a + (m, k)
    shape_b = (k,) if draw(st.integers(0, 3)) == 0 else batch_b + (k, n)
    return shape_a, shape_b


@given(pair=matmul_shapes(), data=st.data())
def test_matmul(pair, data):
    a, b = data.draw(arrays(pair[0])), data.draw(arrays(pair[1]))
    assert_close(leaf(a) @ leaf(b), np.matmul(a, b), rtol=1e-12)
    assert_close(leaf(a).matmul(leaf(b)), np.matmul(a, b), rtol=1e-12)
    assert_gradcheck(lambda s, t: s @ t, a, b)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((4, 1, 2, 3), (5, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)),
])
def test_matmul_named_cases(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    out = leaf(a) @ leaf(b)
    assert out.shape == np.matmul(a, b).shape
    assert_gradcheck(lambda s, t: s @ t, a, b)


def test_matmul_gradient_by_hand():
    """C = A B: dA = dC B^T, dB = A^T dC, with dC all ones."""
    a = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = leaf([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])
    (a @ b).sum().backward()
    assert_close(a.grad, [[3.0, 4.0]] * 3)        # row sums of B
    assert_close(b.grad, [[9.0] * 3, [12.0] * 3])  # column sums of A
    u, v = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    (u @ v).backward()  # a dot product: du = v, dv = u
    assert_close(u.grad, [4.0, 5.0, 6.0])
    assert_close(v.grad, [1.0, 2.0, 3.0])


def test_matmul_with_a_numpy_array_on_either_side():
    t = leaf(np.eye(2))
    assert isinstance(np.ones((2, 2)) @ t, mc.Tensor)
    assert isinstance(t @ np.ones((2, 2)), mc.Tensor)


def test_matmul_shape_errors_name_the_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned \(3 != 4\)"):
        mc.ones(2, 3) @ mc.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(2,\)"):
        mc.ones(3) @ mc.ones(2)
    with pytest.raises(ValueError, match=r"matmul: batch dims of shapes \(2, 3, 4\) and \(5, 4, 6\)"):
        mc.ones(2, 3, 4) @ mc.ones(5, 4, 6)
    with pytest.raises(ValueError, match=r"matmul: both operands need at least 1 dim.*\(\) and \(3,\)"):
        mc.tensor(2.0) @ mc.ones(3)


@pytest.mark.torch
def test_batched_matmul_and_indexing_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((3, 1, 2, 4)), rng.standard_normal((2, 4, 3))
    index = (np.array([0, 2, 0]), slice(None), -1)
    ours_a, ours_b = leaf(a), leaf(b)
    theirs_a, theirs_b = to_torch(a, True), to_torch(b, True)
    out_ours = (ours_a @ ours_b)[index]
    out_theirs = (theirs_a @ theirs_b)[torch.tensor(index[0]), :, -1]
    assert_close(out_ours, out_theirs.detach().numpy(), rtol=1e-12)
    (out_ours ** 2).sum().backward()
    (out_theirs ** 2).sum().backward()
    assert_close(ours_a.grad, theirs_a.grad.numpy(), rtol=1e-10)
    assert_close(ours_b.grad, theirs_b.grad.numpy(), rtol=1e-10)
