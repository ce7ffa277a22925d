"""In-place updates of a Tensor: ``add_``, ``sub_``, ``mul_``, ``div_``, ``clamp_``,
``copy_``, ``fill_``, ``zero_``, ``t[index] = value`` and ``+=``, ``-=``, ``*=``, ``/=``.

Each writes into the tensor's own array and bumps its version counter (``_version``), so a
Function that saved the array notices before its backward uses changed values. They are
refused, with a clear message, on a tensor that requires grad while recording is on: as in
PyTorch, update parameters inside ``with mc.no_grad():``. ``Tensor`` inherits these methods
(``class Tensor(InPlaceMethods)``); they are kept here to keep tensor.py one idea.
"""
import numpy as np

from .device import move_array
from .grad_mode import is_grad_enabled


def _raw(value):
    """The array inside a Tensor, or ``value`` itself."""
    from .tensor import Tensor  # (tensor.py imports this module: import at call time)
    return value.data if isinstance(value, Tensor) else value


class InPlaceMethods:
    """The in-place half of Tensor's methods (see the module docstring)."""

    def _check_inplace(self, op):
        if is_grad_enabled() and self.requires_grad:
            kind = "a leaf tensor that requires grad" if self.is_leaf else "a tensor that is part of a graph"
            raise RuntimeError(f"{op}: in-place operation on {kind}; wrap it in `with mc.no_grad():` "
                               "or use the out-of-place version")

    def _inplace(self, op, new_values):
        self._check_inplace(op)
        self.data[...] = _raw(new_values)
        self._version += 1
        return self

    def add_(self, other, alpha=1):
        other = _raw(other)
        return self._inplace("add_", self.data + alpha * other)

    def sub_(self, other, alpha=1):
        other = _raw(other)
        return self._inplace("sub_", self.data - alpha * other)

    def mul_(self, other):
        other = _raw(other)
        return self._inplace("mul_", self.data * other)

    def div_(self, other):
        other = _raw(other)
        return self._inplace("div_", self.data / other)

    def clamp_(self, min=None, max=None):
        return self._inplace("clamp_", self._xp().clip(self.data, min, max))

    def copy_(self, source):
        source = _raw(source)
        if tuple(np.shape(source)) != self.shape and np.size(source) != 1:
            raise ValueError(f"copy_: source shape {tuple(np.shape(source))} does not match {self.shape}")
        return self._inplace("copy_", move_array(source, self.device) if hasattr(source, "shape") else source)

    def fill_(self, value):
        return self._inplace("fill_", value)

    def zero_(self):
        return self._inplace("zero_", 0)

    def __setitem__(self, index, value):
        from .tensor import _unwrap_index
        self._check_inplace("__setitem__")
        self.data[_unwrap_index(index)] = _raw(value)
        self._version += 1

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)
