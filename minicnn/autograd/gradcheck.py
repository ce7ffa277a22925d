"""Finite-difference gradient checking: the student's proof that a backward is right.

``numerical_grad`` nudges each input element by +-eps and measures the change of a scalar
(central differences, error O(eps^2)); ``gradcheck`` compares that with what backward
computes and, on failure, says which input and which element disagree, by how much.
"""
import warnings

import numpy as np

from .device import move_array
from .function import Function
from .grad_mode import no_grad
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """The analytic gradient disagrees with the numerical one."""


def _as_callable(f):
    """A Function subclass is checked through its ``apply``."""
    if isinstance(f, type) and issubclass(f, Function):
        return f.apply
    return f


def _scalar_output(f, inputs, projection):
    """f(inputs) reduced to one number: sum(f * projection) (projection fixed per check)."""
    out = f(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    if projection is None:
        return out
    return (out * projection).sum()


def _projection_for(f, inputs):
    """A fixed random vector v so that a non-scalar output y is checked through <v, y>."""
    with no_grad():
        out = f(*inputs)
    if out.data.size == 1:
        return None
    rng = np.random.default_rng(1234)
    v = rng.standard_normal(out.shape).astype(out.dtype)
    return Tensor(v) if out.device == "cpu" else Tensor(v).to(out.device)


def numerical_grad(f, inputs, eps=1e-6, projection=None):
    """Central-difference gradient of the scalar ``f(*inputs)`` for every input.

    d f / d x_i  ~=  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

    ``inputs``: a list of Tensors (any that require grad are perturbed). For a non-scalar
    output pass ``projection`` (a Tensor of the output's shape) to differentiate
    ``sum(f * projection)``. Returns a list of arrays (None for inputs not requiring grad).
    """
    f = _as_callable(f)
    grads = []
    with no_grad():
        for tensor in inputs:
            if not (isinstance(tensor, Tensor) and tensor.requires_grad):
                grads.append(None)
                continue
            data = tensor.data  # written in place, element by element (any strides)
            grad = np.zeros(data.shape, dtype=np.float64)
            for index in np.ndindex(*data.shape):
                original = data[index].item()
                data[index] = original + eps
                plus = _scalar_output(f, inputs, projection).item()
                data[index] = original - eps
                minus = _scalar_output(f, inputs, projection).item()
                data[index] = original
                grad[index] = (plus - minus) / (2 * eps)
            grads.append(grad)
    return grads


def analytic_grad(f, inputs, projection=None):
    """The gradients that backward computes for the scalar ``f(*inputs)``."""
    f = _as_callable(f)
    saved = [t.grad if isinstance(t, Tensor) else None for t in inputs]
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    out = _scalar_output(f, inputs, projection)
    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    out.backward()
    grads = []
    for t, old in zip(inputs, saved):
        if isinstance(t, Tensor) and t.requires_grad:
            grads.append(np.zeros(t.shape) if t.grad is None else np.asarray(move_array(t.grad.data, "cpu"), dtype=np.float64))
            t.grad = old
        else:
            grads.append(None)
    return grads


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check backward against central differences for every input that requires grad.

    ``f`` is a callable returning a Tensor (a non-scalar output is checked through a fixed
    random projection) or a ``Function`` subclass. Returns True when every element
    satisfies |analytic - numeric| <= atol + rtol * |numeric|; otherwise raises
    ``GradcheckError`` with a report (or returns False with ``raise_exception=False``).
    """
    f = _as_callable(f)
    inputs = list(inputs)
    if not any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise ValueError("gradcheck: no input has requires_grad=True")
    if any(isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64 for t in inputs):
        warnings.warn("gradcheck: inputs are not float64; finite differences in float32 are too "
                      "noisy to trust. Use dtype='float64'.", stacklevel=2)
    projection = _projection_for(f, inputs)
    analytic = analytic_grad(f, inputs, projection)
    numeric = numerical_grad(f, inputs, eps, projection)
    for index, (a, n) in enumerate(zip(analytic, numeric)):
        if a is None:
            continue
        report = _compare(index, inputs[index], a, n, atol, rtol)
        if report:
            if raise_exception:
                raise GradcheckError(report)
            return False
    return True


def _compare(index, tensor, analytic, numeric, atol, rtol):
    """A readable report of the worst mismatch, or '' when within tolerance."""
    error = np.abs(analytic - numeric)
    allowed = atol + rtol * np.abs(numeric)
    bad = ~(error <= allowed)  # NaN in either gradient counts as a mismatch
    if not bad.any():
        return ""
    excess = np.where(np.isfinite(error), error - allowed, np.inf)
    worst = np.unravel_index(int(np.argmax(excess)), analytic.shape) if analytic.ndim else ()
    a, n = analytic[worst], numeric[worst]
    relative = abs(a - n) / max(abs(n), 1e-12)
    return (f"gradcheck failed for input {index} (shape {tuple(tensor.shape)}, {tensor.dtype}):\n"
            f"  worst element {tuple(int(i) for i in worst)}: analytic {a:.8g}, numeric {n:.8g}, "
            f"abs error {abs(a - n):.3g}, relative error {relative:.3g}\n"
            f"  {int(bad.sum())} of {bad.size} elements exceed atol + rtol*|numeric| "
            f"(atol={atol}, rtol={rtol})")
