"""The Tensor API a user touches first: construction and dtype rules, factories, seeding,
conversions (.item, .numpy, .tolist), shape queries, len/iter/repr, requires_grad rules."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
from conftest import assert_close, shapes


# ----- mc.tensor dtype rules ------------------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32),
    ([1.0, 2.0], np.float32),
    ([[1, 2.5], [3, 4]], np.float32),   # ints mixed with floats: float
    (3, np.int64),
    ([1, 2, 3], np.int64),
    (True, np.bool_),
    ([True, False], np.bool_),
    (np.array([1.0, 2.0]), np.float64),                 # NumPy float64 stays float64
    (np.array([1.0], dtype=np.float32), np.float32),
    (np.array([1, 2], dtype=np.int32), np.int32),
    (np.float64(2.5), np.float64),
])
def test_tensor_dtype_rules(data, dtype):
    t = mc.tensor(data)
    assert t.dtype == dtype
    assert isinstance(t.data, np.ndarray)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


def test_tensor_dtype_argument_and_names():
    assert mc.tensor([1, 2], dtype=mc.float64).dtype == np.float64
    assert mc.tensor([1, 2], dtype="float32").dtype == np.float32
    assert mc.tensor([1.7], dtype="int64").dtype == np.int64
    assert mc.tensor([1.0], dtype="double").dtype == np.float64


def test_tensor_copies_but_from_numpy_shares_memory():
    array = np.ones(3)
    copied = mc.tensor(array)
    shared = mc.from_numpy(array)
    array[0] = 5.0
    assert copied.numpy()[0] == 1.0
    assert shared.numpy()[0] == 5.0
    shared.data[1] = 7.0  # and the other way round
    assert array[1] == 7.0
    assert shared.dtype == np.float64


def test_from_numpy_refuses_other_types():
    with pytest.raises(TypeError, match="numpy.ndarray"):
        mc.from_numpy([1.0, 2.0])


def test_requires_grad_only_for_floating_tensors():
    assert mc.tensor([1.0], requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="floating-point.*int64"):
        mc.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        mc.tensor([True]).requires_grad_()
    with pytest.raises(TypeError, match="floating"):
        mc.zeros(2, dtype="int64", requires_grad=True)


# ----- factories ---------------------------------------------------------------------------------
@pytest.mark.parametrize("factory", [mc.zeros, mc.ones, mc.randn, mc.rand, mc.empty])
@given(shape=shapes(max_dims=3))
def test_factories_make_float32_of_the_shape(factory, shape):
    assert factory(*shape).shape == shape
    assert factory(shape).shape == shape            # a tuple works too
    assert factory(*shape).dtype == np.float32
    assert factory(*shape, dtype=mc.float64).dtype == np.float64
    assert factory(*shape, requires_grad=True).requires_grad


def test_factory_values():
    assert_close(mc.zeros(2, 2), np.zeros((2, 2)))
    assert_close(mc.ones(3), np.ones(3))
    assert_close(mc.full((2, 1), 2.5), np.full((2, 1), 2.5))
    assert_close(mc.eye(3), np.eye(3))
    assert_close(mc.linspace(0, 1, 5), np.linspace(0, 1, 5))
    values = mc.rand(1000).numpy()
    assert values.min() >= 0.0 and values.max() < 1.0
    z = mc.randn(4000).numpy()
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1


def test_full_dtype_follows_the_fill_value():
    assert mc.full((2,), 3).dtype == np.int64
    assert mc.full((2,), 3.0).dtype == np.float32
    assert mc.full((2,), True).dtype == np.bool_
    assert mc.full((2,), 3, dtype="float64").dtype == np.float64


@pytest.mark.parametrize("args, expected, dtype", [
    ((5,), np.arange(5), np.int64),
    ((2, 7, 2), np.arange(2, 7, 2), np.int64),
    ((0, 1, 0.25), np.arange(0, 1, 0.25), np.float32),
    ((3.0,), np.arange(3.0), np.float32),
])
def test_arange(args, expected, dtype):
    t = mc.arange(*args)
    assert t.dtype == dtype
    assert_close(t, expected)
    assert mc.arange(4, dtype=mc.float64).dtype == np.float64


def test_like_factories():
    base = mc.tensor(np.ones((2, 3)))
    assert mc.zeros_like(base).shape == (2, 3) and mc.zeros_like(base).dtype == np.float64
    assert_close(mc.ones_like(base), np.ones((2, 3)))
    assert mc.randn_like(base).dtype == np.float64


def test_randint():
    t = mc.randint(0, 5, (100,))
    assert t.dtype == np.int64 and t.shape == (100,)
    assert t.numpy().min() >= 0 and t.numpy().max() < 5


def test_manual_seed_makes_random_tensors_reproducible():
    mc.manual_seed(123)
    first = (mc.randn(3, 4).numpy(), mc.rand(5).numpy(), mc.randint(0, 10, (6,)).numpy())
    mc.manual_seed(123)
    second = (mc.randn(3, 4).numpy(), mc.rand(5).numpy(), mc.randint(0, 10, (6,)).numpy())
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    mc.manual_seed(124)
    assert not np.array_equal(mc.randn(3, 4).numpy(), first[0])


# ----- conversions and queries --------------------------------------------------------------------
def test_item():
    assert mc.tensor([2.5]).item() == 2.5 and isinstance(mc.tensor([2.5]).item(), float)
    assert mc.tensor(3).item() == 3 and isinstance(mc.tensor(3).item(), int)
    assert mc.tensor([[True]]).item() is True
    with pytest.raises(ValueError, match=r"only one-element.*\(2,\)"):
        mc.tensor([1.0, 2.0]).item()


def test_numpy_and_tolist():
    t = mc.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(t.numpy(), np.ndarray) and np.shares_memory(t.numpy(), t.data)
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert mc.tensor(2).tolist() == 2
    x = mc.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]
    assert np.asarray(t).shape == (2, 2)


def test_shape_queries():
    t = mc.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.device == "cpu"
    assert len(t) == 2


def test_T_len_iter():
    values = np.arange(6.0).reshape(2, 3)
    t = mc.tensor(values)
    assert_close(t.T, values.T)
    assert t.T.shape == (3, 2)
    rows = list(t)
    assert len(rows) == 2 and all(isinstance(r, mc.Tensor) for r in rows)
    assert_close(rows[1], values[1])
    with pytest.raises(TypeError, match="0-d"):
        len(mc.tensor(1.0))


def test_repr_shows_non_default_dtype_and_grad_info():
    assert repr(mc.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(mc.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=float64" in repr(mc.tensor(np.array([1.0])))
    assert "requires_grad=True" in repr(mc.tensor([1.0], requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(mc.tensor([1.0], requires_grad=True) * 2)


def test_truth_value_and_number_conversions():
    assert bool(mc.tensor([1.0])) and not bool(mc.tensor(0.0))
    assert float(mc.tensor(2.5)) == 2.5 and int(mc.tensor(3)) == 3
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(mc.tensor([1.0, 2.0]))


def test_to_and_casts():
    t = mc.tensor([1.5, 2.5], requires_grad=True)
    d = t.double()
    assert d.dtype == np.float64 and d.requires_grad
    d.sum().backward()
    assert t.grad.dtype == np.float32  # the gradient is cast back
    assert t.to(mc.float64).dtype == np.float64
    assert t.to("cpu") is t
    assert t.to(dtype="float32") is t
    assert t.float().dtype == np.float32
    assert t.long().dtype == np.int64 and t.long().tolist() == [1, 2]


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=6))
def test_tensor_round_trips_python_floats_through_float32(values):
    t = mc.tensor(values)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.array(values, dtype=np.float32))
