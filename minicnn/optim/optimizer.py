"""``Optimizer``: the base class of SGD, Adam and AdamW, organised as in ``torch.optim``.

An optimizer holds

    param_groups   a list of dicts, each {'params': [Tensor, ...], 'lr': ..., <options>};
                   one group per set of parameters that share options (e.g. a smaller lr
                   for a pretrained backbone). Schedulers change ``group['lr']``.
    state          a dict Tensor -> dict of per-parameter buffers (momentum, Adam moments,
                   the step count), filled lazily by the first ``step()``.

Subclasses write ``_update(param, grad, state, group)`` on raw arrays (NumPy or CuPy):
the update of ONE parameter, in place on ``param``. ``step()`` calls it for every parameter
whose ``.grad`` is not None.

``state_dict()`` has PyTorch's structure, with parameters replaced by their position
(counted across groups), so it can be saved with ``mc.save`` and loaded into an optimizer
built over a fresh model::

    {'state': {0: {'momentum_buffer': array}, 1: {...}},
     'param_groups': [{'lr': 0.1, 'momentum': 0.9, ..., 'params': [0, 1]}]}
"""
import copy

import numpy as np

from minicnn.autograd.device import device_of, move_array
from minicnn.autograd.grad_mode import enable_grad, no_grad
from minicnn.autograd.tensor import Tensor


class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses define ``_update``.

    Args:
        params: an iterable of Tensors, or of dicts ``{'params': [...], 'lr': ...}`` giving
            per-group options (missing options are taken from ``defaults``).
        defaults: the default value of every option of this optimizer.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or dicts, "
                "but got a single Tensor; wrap it in a list: [tensor]")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----- building the groups -------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group ``{'params': [...], <options>}`` (e.g. when unfreezing layers)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("add_param_group: params must be an ordered collection (list, tuple), "
                            "not a set: the order decides the indices in state_dict()")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor "
                                 f"(shape {p.shape}); optimize the leaf it was computed from")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)

        already_seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter group contains the same Tensor twice")
        if any(id(p) in already_seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ----- the training-loop calls ------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: ``p.grad = None`` (default), or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient, in place.

        ``closure``, if given, re-evaluates the model and returns the loss (it is called with
        gradient recording on, before the update); ``step`` returns that loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad.data if isinstance(p.grad, Tensor) else p.grad
                    if grad.shape != p.data.shape:
                        raise ValueError(f"{type(self).__name__}.step: gradient shape {tuple(grad.shape)} "
                                         f"does not match parameter shape {p.shape}")
                    state = self.state.setdefault(p, {})
                    self._update(p.data, grad, state, group)
        return loss

    def _update(self, param, grad, state, group):
        """Update one parameter array in place; ``state`` is its (mutable) buffer dict."""
        raise NotImplementedError

    # ----- saving and resuming ----------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {name: array or number}}, 'param_groups': [{..., 'params': [indices]}]}.

        Arrays are copies: training on does not change a state dict taken earlier.
        """
        index_of = {}
        packed_groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = []
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
                packed["params"].append(index_of[id(p)])
            packed_groups.append(packed)
        packed_state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    packed_state[index_of[id(p)]] = _copy_state(self.state[p])
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict):
        """Resume from ``state_dict()`` (possibly after ``mc.save``/``mc.load``).

        The groups must have the same sizes as this optimizer's; buffers are moved to each
        parameter's device and dtype and must have its shape.
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the loaded state dict has {len(saved_groups)} "
                             f"parameter groups, this optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} "
                                 f"parameters in the loaded state dict, {len(group['params'])} here")

        param_of_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            for index, p in zip(saved["params"], group["params"]):
                param_of_index[int(index)] = p

        new_state = {}
        for index, buffers in state_dict["state"].items():
            index = int(index)
            if index not in param_of_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {index}, "
                                 "which no parameter group lists")
            p = param_of_index[index]
            new_state[p] = {key: _cast_like(value, p, key, name) for key, value in buffers.items()}

        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            restored = copy.deepcopy({key: value for key, value in saved.items() if key != "params"})
            restored = {key: tuple(value) if isinstance(group.get(key), tuple) else value
                        for key, value in restored.items()}
            restored["params"] = group["params"]
            new_groups.append(restored)
        self.state = new_state
        self.param_groups = new_groups

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _copy_state(buffers):
    """A copy of one parameter's buffers (arrays copied, numbers as they are)."""
    return {key: value.copy() if hasattr(value, "shape") else value for key, value in buffers.items()}


def _cast_like(value, param, key, optimizer_name):
    """A loaded buffer on the parameter's device, floating buffers in its dtype, checked shape."""
    if not hasattr(value, "shape"):
        return value  # step counts and other plain numbers
    if isinstance(value, Tensor):
        value = value.data
    array = move_array(value, device_of(param.data))
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(param.dtype, copy=True)
    else:
        array = array.copy()
    if array.ndim > 0 and tuple(array.shape) != param.shape:
        raise ValueError(f"{optimizer_name}.load_state_dict: buffer '{key}' has shape {tuple(array.shape)}, "
                         f"but its parameter has shape {param.shape}")
    return array
