"""mc.gradcheck and mc.numerical_grad: they pass correct ops, catch a wrong backward with a
report that says where, warn about float32, and numerical_grad matches known derivatives."""
import re

import numpy as np
import pytest
from hypothesis import given

import minicnn as mc
from minicnn.autograd import GradcheckError
from conftest import arrays, assert_close, leaf, shapes


class Square(mc.Function):
    """y = x^2, dy/dx = 2x -- correct."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x


class SquareWrongAtOneElement(mc.Function):
    """y = x^2, but backward doubles the gradient of element (1, 2) -- a planted bug."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_x = grad * 2 * x
        grad_x[1, 2] *= 2
        return grad_x


class WeightedSum(mc.Function):
    """z = sum(a * b); the gradient of b is wrong (uses b instead of a)."""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return (a * b).sum()

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * b


def test_gradcheck_passes_correct_ops():
    rng = np.random.default_rng(0)
    x, w = leaf(rng.standard_normal((3, 4))), leaf(rng.standard_normal((4, 2)))
    assert mc.gradcheck(lambda a, b: ((a @ b).tanh() * 2).softmax(dim=0), [x, w])
    assert mc.gradcheck(Square, [x])
    assert mc.gradcheck(Square.apply, [x])


@given(x=arrays(shapes(max_dims=3)))
def test_gradcheck_passes_a_correct_function_subclass_on_any_shape(x):
    assert mc.gradcheck(Square, [leaf(x)])


def test_gradcheck_names_input_element_and_both_values():
    x_values = np.arange(1.0, 13.0).reshape(3, 4) / 4
    x = leaf(x_values)
    with pytest.raises(GradcheckError) as info:
        mc.gradcheck(lambda t: SquareWrongAtOneElement.apply(t).sum(), [x])
    message = str(info.value)
    assert "input 0" in message and "(3, 4)" in message
    assert "worst element (1, 2)" in message
    numeric = 2 * x_values[1, 2]  # d(sum x^2)/dx_12 = 2 x_12
    analytic = 2 * numeric        # the planted bug
    found = re.search(r"analytic ([-\d.e+]+), numeric ([-\d.e+]+)", message)
    assert found, message
    assert float(found.group(1)) == pytest.approx(analytic, rel=1e-6)
    assert float(found.group(2)) == pytest.approx(numeric, rel=1e-6)
    assert "1 of 12 elements" in message


def test_gradcheck_points_at_the_wrong_input():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, -5.0, 6.0])
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\)"):
        mc.gradcheck(WeightedSum, [a, b])


def test_gradcheck_with_a_non_scalar_output_checks_every_element():
    """A wrong Function with a (3, 4) output is still caught through the projection."""
    x = leaf(np.linspace(0.5, 2.0, 12).reshape(3, 4))
    with pytest.raises(GradcheckError, match=r"worst element \(1, 2\)"):
        mc.gradcheck(SquareWrongAtOneElement, [x])


def test_gradcheck_can_return_false_instead_of_raising():
    x = leaf(np.ones((3, 4)))
    assert mc.gradcheck(SquareWrongAtOneElement, [x], raise_exception=False) is False
    assert mc.gradcheck(Square, [x], raise_exception=False) is True


def test_gradcheck_leaves_inputs_and_their_grads_as_they_were():
    x = leaf([1.0, 2.0])
    x.grad = mc.tensor(np.array([7.0, 7.0]))
    mc.gradcheck(Square, [x])
    assert_close(x, [1.0, 2.0])
    assert_close(x.grad, [7.0, 7.0])


def test_gradcheck_warns_on_float32_inputs():
    x = mc.tensor([1.0, 2.0], requires_grad=True)  # float32
    with pytest.warns(UserWarning, match="float64"):
        mc.gradcheck(Square, [x], atol=1e-2, rtol=1e-2, eps=1e-3)


def test_gradcheck_ignores_inputs_without_requires_grad():
    x, c = leaf([1.0, 2.0]), mc.tensor(np.array([3.0, 4.0]))
    assert mc.gradcheck(lambda a, b: (a * b).sum(), [x, c])


def test_gradcheck_input_errors():
    with pytest.raises(ValueError, match="no input has requires_grad"):
        mc.gradcheck(Square, [mc.tensor(np.ones(2))])
    with pytest.raises(GradcheckError, match="does not depend"):
        mc.gradcheck(lambda t: mc.tensor(np.ones(2)), [leaf([1.0, 2.0])])


def test_gradcheck_fails_when_the_numeric_gradient_is_nan():
    """sqrt near 0: the -eps probe is NaN. A NaN must never count as agreement."""
    x = leaf([0.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        assert mc.gradcheck(lambda t: (t + 1e-7).sqrt() * 0 + t, [x], raise_exception=False) is False


# ----- numerical_grad ---------------------------------------------------------------------------
@given(x=arrays(shapes(max_dims=3), low=-2, high=2))
def test_numerical_grad_of_a_cubic_matches_the_derivative(x):
    """d/dx sum(x^3 + 2x) = 3x^2 + 2 (central differences are exact for cubics up to eps^2 x)."""
    (numeric,) = mc.numerical_grad(lambda t: (t ** 3 + 2 * t).sum(), [leaf(x)])
    assert_close(numeric, 3 * x ** 2 + 2, rtol=1e-6, atol=1e-6)


def test_numerical_grad_with_a_projection_and_a_constant_input():
    x, c = leaf([1.0, 2.0]), mc.tensor(np.array([5.0, 6.0]))
    v = mc.tensor(np.array([1.0, -1.0]))
    numeric_x, numeric_c = mc.numerical_grad(lambda a, b: a * a * b, [x, c], projection=v)
    assert_close(numeric_x, [2 * 1.0 * 5.0, -2 * 2.0 * 6.0], rtol=1e-6)  # v * 2 a b
    assert numeric_c is None


def test_numerical_grad_of_a_function_subclass():
    (numeric,) = mc.numerical_grad(lambda t: Square.apply(t).sum(), [leaf([3.0])])
    assert_close(numeric, [6.0], rtol=1e-6)


def test_numerical_grad_on_a_non_contiguous_input():
    """A transposed view: every element must still be perturbed."""
    base = np.arange(1.0, 7.0).reshape(2, 3)
    x = mc.from_numpy(base.T)  # (3, 2), not C-contiguous
    x.requires_grad = True
    (numeric,) = mc.numerical_grad(lambda t: (t * t).sum(), [x])
    assert_close(numeric, 2 * base.T, rtol=1e-6)
    assert mc.gradcheck(lambda t: (t * t).sum(), [x])
