"""Shared test helpers: the hypothesis profile, strategies for shapes and arrays, and a
float64 gradient-check assertion.

Import them in a test file with ``from conftest import arrays, assert_gradcheck, ...``.

Hypothesis profile: ``deadline=None`` (gradchecks and Numba compiles are slow the first
time), a modest ``max_examples``; with ``CI=true`` in the environment the examples are
derandomized so a CI run is reproducible. ``HYPOTHESIS_PROFILE=<name>`` picks a profile.
"""
import contextlib
import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# ----- hypothesis profiles -------------------------------------------------------------------
settings.register_profile("default", deadline=None, max_examples=20,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=300)
_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if _CI else "default"))


# ----- shapes ----------------------------------------------------------------------------------
def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes, e.g. (), (3,), (2, 1, 4): small enough for finite differences."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3):
    """A tuple of ``num_shapes`` shapes that broadcast together (size-1 dims and missing
    leading dims on either side), e.g. ((3, 1), (2, 1, 4))."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda drawn: drawn.input_shapes)


# ----- arrays ----------------------------------------------------------------------------------
def arrays(shape, dtype=np.float64, low=-3.0, high=3.0):
    """Arrays of ``shape`` (a tuple or a strategy) with finite values in [low, high]."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        elements = st.floats(low, high, allow_nan=False, allow_infinity=False,
                             width=8 * dtype.itemsize)
    else:
        elements = st.integers(int(low), int(high))
    return hnp.arrays(dtype, shape, elements=elements)


def positive_arrays(shape, dtype=np.float64, low=0.5, high=3.0):
    """Arrays with values in [low, high], low > 0: inputs for log, sqrt, pow bases, div."""
    return arrays(shape, dtype, low, high)


@st.composite
def distinct_arrays(draw, shape, dtype=np.float64, gap=0.25):
    """Arrays of ``shape`` whose values are pairwise at least ``gap`` apart (no ties, so max,
    min, sort and pooling gradients are defined and finite differences stay on one side)."""
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    size = int(np.prod(shape, dtype=np.int64))
    order = np.array(draw(st.permutations(range(size))), dtype=np.float64)
    jitter = draw(st.floats(0.0, gap / 4))  # moves every value together: still gap apart
    values = (order - (size - 1) / 2) * gap + jitter
    return values.reshape(shape).astype(dtype)


def away_from(values, points=(0.0,), margin=0.1):
    """Move every value that lies within ``margin`` of a kink in ``points`` to the edge of
    that margin (e.g. keep relu/abs inputs off 0 and clip inputs off its bounds)."""
    values = np.array(values, dtype=np.float64, copy=True)
    for point in points:
        near = np.abs(values - point) < margin
        side = np.where(values >= point, 1.0, -1.0)
        values = np.where(near, point + side * margin, values)
    return values


# ----- tensors and gradient checks -------------------------------------------------------------
# minicnn is imported inside the helpers, so the kernel tests never depend on it importing.
def leaf(array, dtype=np.float64):
    """A leaf Tensor that requires grad, holding a copy of ``array`` as ``dtype``."""
    import minicnn as mc
    return mc.tensor(np.asarray(array, dtype=dtype), requires_grad=True)


def assert_gradcheck(fn, *inputs, atol=1e-5, rtol=1e-3, eps=1e-6):
    """Assert that ``fn(*tensors)`` passes ``mc.gradcheck`` in float64.

    Every floating NumPy array in ``inputs`` becomes a float64 leaf requiring grad; anything
    else (ints, tuples, Tensors, None) is passed through unchanged.
    """
    import minicnn as mc
    tensors = [leaf(x) if isinstance(x, (np.ndarray, np.floating)) and np.issubdtype(x.dtype, np.floating)
               else x for x in inputs]
    assert mc.gradcheck(fn, tensors, eps=eps, atol=atol, rtol=rtol)
    return tensors


def assert_close(actual, expected, rtol=1e-6, atol=1e-8, what=""):
    """Compare a Tensor or array with a reference array (shape and values)."""
    import minicnn as mc
    actual = actual.detach().numpy() if isinstance(actual, mc.Tensor) else np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def to_torch(array, requires_grad=False):
    """A torch tensor with a copy of ``array``; call it only after
    ``pytest.importorskip("torch")`` in the test."""
    import torch
    return torch.tensor(np.array(array), requires_grad=requires_grad)


@contextlib.contextmanager
def reference_kernels():
    """Run the block (a gradient check) on the readable NumPy kernels; the pooling and
    norm tests' test_numba_and_reference_backends_agree tie the Numba kernels to them."""
    import kernels
    previous = kernels.get_backend()
    kernels.set_backend("reference")
    try:
        yield
    finally:
        kernels.set_backend(previous)
