"""Devices: ``"cpu"`` (NumPy arrays) and ``"cuda"``/``"cuda:N"`` (CuPy arrays).

CuPy is imported only when a CUDA device is asked for, so ``import minicnn`` works on a
machine without CuPy or a GPU.
"""
import importlib

import numpy as np

from kernels.backend import is_cupy_array


def normalize_device(device):
    """``None``/"cpu" -> "cpu"; "cuda" -> "cuda:0"; "cuda:N" stays. Anything else is refused."""
    if device is None:
        return "cpu"
    device = str(device).lower()
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        return "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def device_of(array):
    """The device string of a raw array."""
    if is_cupy_array(array):
        return f"cuda:{array.device.id}"
    return "cpu"


def cupy_module():
    """Import CuPy, or explain why the GPU backend is not usable."""
    try:
        return importlib.import_module("cupy")
    except ImportError as err:
        raise RuntimeError(
            "a CUDA device was requested but CuPy is not installed: "
            "pip install -e '.[gpu]' (needs an NVIDIA GPU and driver)") from err


def move_array(array, device):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = normalize_device(device)
    if device == "cpu":
        return array.get() if is_cupy_array(array) else np.asarray(array)
    cp = cupy_module()
    index = int(device.split(":")[1])
    with cp.cuda.Device(index):
        return cp.asarray(array)


def cuda_is_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        cp = importlib.import_module("cupy")
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDA driver errors: either way, no usable GPU
        return False
