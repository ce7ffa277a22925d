"""Shape ops: reshape/view, transpose, permute, .T, flatten, squeeze, unsqueeze, expand, cat,
stack, pad. Forward against NumPy, gradients by finite differences, errors by content."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from conftest import arrays, assert_close, assert_gradcheck, leaf, shapes, to_torch


@st.composite
def array_and_new_shape(draw):
    """An array and another shape with the same number of elements (maybe using -1)."""
    x = draw(arrays(shapes(max_dims=3)))
    size = x.size
    new_shape = []
    remaining = size
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, remaining + 1) if remaining % d == 0]
        d = draw(st.sampled_from(divisors))
        new_shape.append(d)
        remaining //= d
    new_shape.append(remaining)
    new_shape = draw(st.permutations(new_shape))
    if draw(st.booleans()):  # let reshape infer one size
        new_shape[draw(st.integers(0, len(new_shape) - 1))] = -1
    return x, tuple(new_shape)


@given(case=array_and_new_shape())
def test_reshape_and_view(case):
    x, new_shape = case
    assert_close(leaf(x).reshape(new_shape), x.reshape(new_shape))
    assert_close(leaf(x).reshape(*new_shape), x.reshape(new_shape))  # varargs spelling
    assert_close(leaf(x).view(new_shape), x.reshape(new_shape))
    assert_gradcheck(lambda t: t.reshape(new_shape), x)


@given(x=arrays(shapes(min_dims=1, max_dims=4)), data=st.data())
def test_permute_and_transpose(x, data):
    dims = data.draw(st.permutations(range(x.ndim)))
    dims = [d - x.ndim if data.draw(st.booleans()) else d for d in dims]  # negative spellings
    assert_close(leaf(x).permute(dims), np.transpose(x, dims))
    assert_close(leaf(x).permute(*dims), np.transpose(x, dims))
    assert_gradcheck(lambda t: t.permute(dims), x)
    d0 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    d1 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert_close(leaf(x).transpose(d0, d1), np.swapaxes(x, d0, d1))
    assert_gradcheck(lambda t: t.transpose(d0, d1), x)


@given(x=arrays(shapes(min_dims=0, max_dims=3)))
def test_T_reverses_axes(x):
    assert_close(leaf(x).T, x.T)
    assert_gradcheck(lambda t: t.T, x)


@given(x=arrays(shapes(min_dims=1, max_dims=4)), data=st.data())
def test_flatten(x, data):
    start = data.draw(st.integers(-x.ndim, x.ndim - 1))
    end = data.draw(st.integers(start % x.ndim, x.ndim - 1))
    s, e = start % x.ndim, end
    expected = x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])
    assert_close(leaf(x).flatten(start, end), expected)
    assert_gradcheck(lambda t: t.flatten(start, end), x)
    assert leaf(x).flatten().shape == (x.size,)


def test_flatten_of_a_scalar_is_one_element():
    assert mc.tensor(2.0).flatten().shape == (1,)


@given(shape=shapes(min_dims=1, max_dims=4, max_side=2), data=st.data())
def test_squeeze_and_unsqueeze(shape, data):
    x = data.draw(arrays(shape))
    assert_close(leaf(x).squeeze(), np.squeeze(x))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    expected = np.squeeze(x, axis=dim) if x.shape[dim] == 1 else x  # PyTorch: no-op otherwise
    assert_close(leaf(x).squeeze(dim), expected)
    assert_gradcheck(lambda t: t.squeeze(), x)
    new = data.draw(st.integers(-x.ndim - 1, x.ndim))
    assert_close(leaf(x).unsqueeze(new), np.expand_dims(x, new))
    assert_gradcheck(lambda t: t.unsqueeze(new), x)


def test_squeeze_tuple_of_dims():
    assert mc.ones(1, 2, 1, 3).squeeze((0, -2)).shape == (2, 3)
    assert mc.ones(1, 2, 1).squeeze((1,)).shape == (1, 2, 1)  # size 2: left alone


@st.composite
def expandable(draw):
    """(source shape, target shape): the target has maybe more leading dims and grows 1s."""
    target = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    lead = draw(st.integers(0, len(target) - 1))
    source = tuple(1 if draw(st.booleans()) else size for size in target[lead:])
    spelled = tuple(-1 if i >= lead and source[i - lead] == size and draw(st.booleans()) else size
                    for i, size in enumerate(target))
    return source, target, spelled


@given(case=expandable(), data=st.data())
def test_expand_sums_gradient_over_copies(case, data):
    source, target, spelled = case
    x = data.draw(arrays(source))
    assert_close(leaf(x).expand(spelled), np.broadcast_to(x, target))
    assert_gradcheck(lambda t: t.expand(*spelled), x)


def test_expand_gradient_by_hand():
    x = leaf([[1.0], [2.0]])
    (x.expand(3, 2, 4) * 2).sum().backward()
    assert_close(x.grad, [[24.0], [24.0]])  # 3 * 4 copies, each times 2


# ----- cat, stack, pad ---------------------------------------------------------------------------
@st.composite
def cat_case(draw):
    base = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    dim = draw(st.integers(-len(base), len(base) - 1))
    count = draw(st.integers(1, 3))
    parts = []
    for _ in range(count):
        shape = list(base)
        shape[dim] = draw(st.integers(1, 3))
        parts.append(draw(arrays(tuple(shape))))
    return parts, dim


@given(case=cat_case())
def test_cat(case):
    parts, dim = case
    assert_close(mc.cat([leaf(p) for p in parts], dim=dim), np.concatenate(parts, axis=dim))
    assert_close(mc.cat([leaf(p) for p in parts], axis=dim), np.concatenate(parts, axis=dim))
    assert_gradcheck(lambda *ts: mc.cat(list(ts), dim), *parts)


@given(shape=shapes(min_dims=0, max_dims=3, max_side=3), count=st.integers(1, 3), data=st.data())
def test_stack(shape, count, data):
    parts = [data.draw(arrays(shape)) for _ in range(count)]
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert_close(mc.stack([leaf(p) for p in parts], dim=dim), np.stack(parts, axis=dim))
    assert_gradcheck(lambda *ts: mc.stack(ts, dim), *parts)


def test_cat_gradient_by_hand():
    a, b = leaf([[1.0, 2.0]]), leaf([[3.0, 4.0], [5.0, 6.0]])
    (mc.cat([a, b]) * mc.tensor([[1.0], [2.0], [3.0]])).sum().backward()
    assert_close(a.grad, [[1.0, 1.0]])
    assert_close(b.grad, [[2.0, 2.0], [3.0, 3.0]])


@given(x=arrays(shapes(min_dims=1, max_dims=3, max_side=3)), data=st.data())
def test_pad_matches_numpy_in_pytorch_order(x, data):
    count = data.draw(st.integers(1, x.ndim))
    pad = tuple(data.draw(st.integers(0, 2)) for _ in range(2 * count))
    value = data.draw(st.sampled_from([0.0, -1.5]))
    widths = [(0, 0)] * x.ndim  # PyTorch order: (last_lo, last_hi, second_last_lo, ...)
    for k in range(count):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    expected = np.pad(x, widths, constant_values=value)
    assert_close(F.pad(leaf(x), pad, value=value), expected)
    assert_gradcheck(lambda t: F.pad(t, pad, value=value), x)


@pytest.mark.torch
def test_pad_cat_permute_match_torch():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(5).standard_normal((2, 3, 4))
    ours, theirs = leaf(values), to_torch(values, True)
    out_ours = mc.cat([F.pad(ours, (1, 2, 0, 1))[:, :3], ours.permute(0, 2, 1).reshape(2, 3, 4)], dim=-1)
    out_theirs = torch.cat([torch.nn.functional.pad(theirs, (1, 2, 0, 1))[:, :3],
                            theirs.permute(0, 2, 1).reshape(2, 3, 4)], dim=-1)
    weights = np.random.default_rng(6).standard_normal(out_ours.shape)
    (out_ours * mc.tensor(weights)).sum().backward()
    (out_theirs * to_torch(weights)).sum().backward()
    assert_close(out_ours, out_theirs.detach().numpy())
    assert_close(ours.grad, theirs.grad.numpy())


# ----- errors --------------------------------------------------------------------------------
def test_reshape_to_a_wrong_size_names_both_shapes():
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*6 elements.*\(4, 2\)"):
        mc.ones(2, 3).reshape(4, 2)


def test_cat_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"cat: tensor 0 has shape \(2, 3\) but tensor 1 has shape \(2, 4\)"):
        mc.cat([mc.ones(2, 3), mc.ones(2, 4)], dim=0)
    with pytest.raises(ValueError, match=r"cat:.*\(2, 3\).*\(2, 3, 1\)"):
        mc.cat([mc.ones(2, 3), mc.ones(2, 3, 1)])
    with pytest.raises(IndexError, match="cat: dim 2"):
        mc.cat([mc.ones(2, 3), mc.ones(2, 3)], dim=2)
    with pytest.raises(ValueError, match="non-empty"):
        mc.cat([])


def test_stack_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"stack: tensor 0 has shape \(3,\) but tensor 1 has shape \(4,\)"):
        mc.stack([mc.ones(3), mc.ones(4)])


def test_bad_dims_are_refused_clearly():
    with pytest.raises(ValueError, match=r"permute: dims \(0, 5\)"):
        mc.ones(2, 3).permute(0, 5)
    with pytest.raises(ValueError, match="permute"):
        mc.ones(2, 3).permute(0, 0)
    with pytest.raises(IndexError, match="unsqueeze: dim 4"):
        mc.ones(2, 3).unsqueeze(4)
    with pytest.raises(IndexError, match="squeeze: dim 3"):
        mc.ones(2, 1).squeeze(3)
    with pytest.raises(IndexError, match="transpose: dim 2"):
        mc.ones(2, 3).transpose(0, 2)
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2,\) to \(3,\)"):
        mc.ones(2).expand(3)
    with pytest.raises(ValueError, match="expand: -1"):
        mc.ones(3).expand(-1, 3)
    with pytest.raises(IndexError, match="flatten: dim 3"):
        mc.ones(2, 3, 4).flatten(3)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 0"):
        mc.ones(2, 3, 4).flatten(2, 0)
    with pytest.raises(ValueError, match="pad"):
        F.pad(mc.ones(2), (1, 1, 1, 1))
