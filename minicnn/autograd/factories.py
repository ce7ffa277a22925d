"""Ways to make a Tensor: ``tensor``, ``from_numpy``, ``zeros``, ``ones``, ``full``,
``randn``, ``rand``, ``randint``, ``arange``, ``*_like``, ``eye``, ``linspace``."""
import numpy as np

from .device import move_array, normalize_device
from .dtypes import default_float, resolve_dtype
from .random import default_generator
from .tensor import Tensor


def _finish(array, dtype, device, requires_grad):
    dtype = resolve_dtype(dtype)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    device = normalize_device(device)
    if device != "cpu":
        array = move_array(array, device)
    return Tensor(array, requires_grad=requires_grad)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new Tensor holding a copy of ``data``.

    Python floats become float32 (PyTorch's default), Python ints int64; NumPy arrays keep
    their dtype, so float64 data stays float64.
    """
    if isinstance(data, Tensor):
        data = data.data
    if hasattr(data, "dtype"):
        array = data.copy() if hasattr(data, "copy") else np.array(data)
    else:
        array = np.array(data)
        if array.dtype == np.float64:
            array = array.astype(default_float)
    if array.dtype == np.int32 and not hasattr(data, "dtype"):
        array = array.astype(np.int64)
    return _finish(array, dtype, device, requires_grad)


def from_numpy(array):
    """Wrap a NumPy array without copying (they share memory), like ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _finish(np.zeros(_shape(shape), dtype=resolve_dtype(dtype) or default_float), None, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _finish(np.ones(_shape(shape), dtype=resolve_dtype(dtype) or default_float), None, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    """``shape`` filled with ``fill_value``; the dtype follows the value as in PyTorch
    (bool -> bool, int -> int64, float -> float32) unless ``dtype`` is given."""
    if dtype is None:
        dtype = tensor(fill_value).dtype
    return _finish(np.full(_shape((shape,)), fill_value, dtype=resolve_dtype(dtype)),
                   None, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples from minicnn's seeded generator."""
    rng = generator or default_generator()
    array = rng.standard_normal(_shape(shape), dtype=np.float64)
    return _finish(array.astype(resolve_dtype(dtype) or default_float), None, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples in [0, 1) from minicnn's seeded generator."""
    rng = generator or default_generator()
    array = rng.random(_shape(shape), dtype=np.float64)
    return _finish(array.astype(resolve_dtype(dtype) or default_float), None, device, requires_grad)


def randint(low, high=None, size=(), dtype="int64", device=None, generator=None):
    """Integers in [low, high) (``randint(high, size=...)`` also works)."""
    if high is None:
        low, high = 0, low
    rng = generator or default_generator()
    return _finish(rng.integers(low, high, size=tuple(size)), dtype, device, False)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    array = np.arange(start, end, step)
    if dtype is None and array.dtype == np.float64:
        array = array.astype(default_float)
    return _finish(array, dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _finish(np.linspace(start, end, steps).astype(resolve_dtype(dtype) or default_float),
                   None, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(n, m, dtype=resolve_dtype(dtype) or default_float), None, device, requires_grad)


def _like(fill, t, dtype, device, requires_grad):
    dtype = resolve_dtype(dtype) or t.dtype
    array = np.full(t.shape, fill, dtype=dtype)
    return _finish(array, None, device or t.device, requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _like(0, t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _like(1, t, dtype, device, requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)
