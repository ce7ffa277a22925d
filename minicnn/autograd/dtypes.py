"""dtype names: minicnn uses NumPy's dtypes, spelled as in PyTorch (``mc.float32``)."""
import numpy as np

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")
default_float = float32

_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32,
            "bool": bool_}


def resolve_dtype(dtype):
    """``None`` stays None; a name ("float64", "double"), NumPy type or dtype -> ``np.dtype``."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        return np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"unknown dtype {dtype!r}") from err


def is_floating(dtype):
    return np.issubdtype(np.dtype(dtype), np.floating)
