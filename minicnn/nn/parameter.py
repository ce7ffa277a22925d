"""``Parameter`` (a Tensor a Module trains), ``RemovableHandle`` (what registering a hook
returns) and ``StateDictError``: the small classes ``Module`` is built with."""
import numpy as np

from ..autograd.dtypes import float32
from ..autograd.tensor import Tensor

__all__ = ["Parameter", "RemovableHandle", "StateDictError"]


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (``requires_grad=True`` by default).

    ``Parameter(tensor)`` shares the tensor's array, like ``torch.nn.Parameter``.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=float32)
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by ``register_forward_hook``: ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class StateDictError(RuntimeError, ValueError):
    """``load_state_dict`` refused a state dict (a RuntimeError as in PyTorch, and a ValueError)."""
