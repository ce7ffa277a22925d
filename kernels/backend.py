"""Pick a kernel implementation from the array: NumPy -> CPU (Numba), CuPy -> CUDA.

``MINICNN_BACKEND=reference`` in the environment, or ``set_backend("reference")``, forces
the readable NumPy kernels for CPU arrays (teaching, debugging). This table of three
backends is the only global registry in minicnn.
"""
import importlib
import os

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)  # every kernel takes these two (docs/kernels.md)
_CPU_CHOICES = ("numba", "reference")
_state = {"cpu": os.environ.get("MINICNN_BACKEND", "numba").strip().lower() or "numba"}
if _state["cpu"] == "cpu":
    _state["cpu"] = "numba"
if _state["cpu"] not in _CPU_CHOICES:
    raise ValueError(
        f"MINICNN_BACKEND must be one of {_CPU_CHOICES}, got {os.environ['MINICNN_BACKEND']!r}")


def set_backend(name):
    """Choose the kernels used for CPU arrays: ``"numba"`` (default) or ``"reference"``."""
    name = str(name).lower()
    if name == "cpu":
        name = "numba"
    if name not in _CPU_CHOICES:
        raise ValueError(f"set_backend: expected one of {_CPU_CHOICES}, got {name!r}")
    _state["cpu"] = name


def get_backend():
    """Name of the kernels used for CPU arrays: ``"numba"`` or ``"reference"``."""
    return _state["cpu"]


def is_cupy_array(x):
    """True for a ``cupy.ndarray`` -- checked by type name so CuPy need not be importable."""
    return type(x).__module__.split(".")[0] == "cupy"


def get_array_module(x):
    """``numpy`` or ``cupy``, whichever owns ``x`` (like ``cupy.get_array_module``)."""
    if is_cupy_array(x):
        return importlib.import_module("cupy")
    return np


def for_array(x):
    """The kernel module (``kernels.reference``, ``kernels.cpu`` or ``kernels.cuda``) for ``x``."""
    if is_cupy_array(x):
        return importlib.import_module("kernels.cuda")
    if _state["cpu"] == "reference":
        return importlib.import_module("kernels.reference")
    return importlib.import_module("kernels.cpu")
