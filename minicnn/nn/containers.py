"""Containers and shape helpers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``Identity``,
``Flatten`` -- as in ``torch.nn``.

Children are registered under their position as a string (``"0"``, ``"1"``, ...), so the
state-dict keys of ``Sequential(Linear(2, 3), ReLU(), Linear(3, 1))`` are ``"0.weight"``,
``"0.bias"``, ``"2.weight"``, ``"2.bias"``, the same as PyTorch's.
"""
from collections import OrderedDict

from .module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict", "Identity", "Flatten"]


def _checked_index(container, index):
    """A Python index (negative counts from the end) -> a position in [0, len)."""
    size = len(container)
    index = int(index)
    if not -size <= index < size:
        raise IndexError(f"{type(container).__name__}: index {index} is out of range for length {size}")
    return index % size


class _ModuleSequence(Module):
    """What ``ModuleList`` and ``Sequential`` share: positions, len, iteration, append, insert."""

    def _renumber(self, modules):
        """Re-register ``modules`` under the keys 0, 1, 2, ... (after an insert or delete)."""
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[str(_checked_index(self, index))]

    def __setitem__(self, index, module):
        self.add_module(str(_checked_index(self, index)), module)

    def __delitem__(self, index):
        modules = list(self._modules.values())
        del modules[index if isinstance(index, slice) else _checked_index(self, index)]
        self._renumber(modules)

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        """Insert ``module`` before position ``index``."""
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, index):
        """Remove the module at ``index`` and return it."""
        module = self[index]
        del self[index]
        return module


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters the parent sees (a plain Python list would hide them).

    It has no ``forward``; iterate over it in your own ``forward``.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __repr__(self):
        # PyTorch prints runs of identical modules once: "(0-2): 3 x Linear(...)"
        if len(self) == 0:
            return "ModuleList()"
        runs = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = []
        for first, last, text in runs:
            if first == last:
                line = f"({first}): {text}"
            else:
                line = f"({first}-{last}): {last - first + 1} x {text}"
            lines.append(line.replace("\n", "\n  "))
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class Sequential(_ModuleSequence):
    """Modules applied one after another: ``forward(x) = m_k(...m_2(m_1(x)))``.

    ``Sequential(m1, m2, ...)`` names the children "0", "1", ...;
    ``Sequential(OrderedDict([("conv", m1), ("relu", m2)]))`` keeps the given names.
    A slice gives a new Sequential sharing the same modules (and keeping their names).
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[_checked_index(self, index)]

    def __setitem__(self, index, module):
        key = list(self._modules.keys())[_checked_index(self, index)]
        self.add_module(key, module)

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


class ModuleDict(Module):
    """A dict of modules (string keys, insertion order) whose parameters the parent sees."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add (name, module) pairs from a mapping or an iterable of pairs."""
        items = modules.items() if hasattr(modules, "items") else modules
        for name, module in items:
            self.add_module(name, module)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. a skip connection with no projection).

    Any constructor arguments are accepted and ignored, as in PyTorch.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Flatten(Module):
    """Merges dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
