"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, as ``torch.nn.utils``.

Both change ``p.grad`` in place and are called between ``loss.backward()`` and
``optimizer.step()``::

    loss.backward()
    mc.optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""
import math

import numpy as np

from kernels.backend import get_array_module
from minicnn.autograd.tensor import Tensor


def _gradients(parameters, function_name):
    """The raw gradient arrays of ``parameters`` (a Tensor or an iterable), skipping None."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{function_name}: expected Tensors, got {type(p).__name__}")
        if p.grad is not None:
            grads.append(p.grad.data if isinstance(p.grad, Tensor) else p.grad)
    return grads


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total_norm = || (||g_1||_p, ||g_2||_p, ...) ||_p   (the p-norm of all gradients as one vector;
                                                      p = inf gives max |g|)
    g <- g * min(1, max_norm / (total_norm + 1e-6))

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        max_norm (float): the largest allowed norm.
        norm_type (float): p of the p-norm; ``float('inf')`` or ``'inf'`` for the max norm.
        error_if_nonfinite (bool): raise when the total norm is nan or inf.

    Returns:
        The total norm of the gradients before clipping, as a 0-d Tensor.
    """
    norm_type = float(norm_type)
    if norm_type <= 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive, got {norm_type}")
    grads = _gradients(parameters, "clip_grad_norm_")
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    xp = get_array_module(grads[0])

    # per-gradient norms first (one number each), then the norm of those numbers
    if math.isinf(norm_type):
        per_grad = xp.stack([xp.abs(g).max() if g.size else xp.zeros((), g.dtype) for g in grads])
        total_norm = per_grad.max()
    else:
        per_grad = xp.stack([(xp.abs(g) ** norm_type).sum() ** (1.0 / norm_type) for g in grads])
        total_norm = (per_grad ** norm_type).sum() ** (1.0 / norm_type)

    if error_if_nonfinite and not bool(xp.isfinite(total_norm)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
            f"({float(total_norm)}), so it cannot be clipped. Pass error_if_nonfinite=False to "
            "clip anyway (the gradients become nan).")

    clip_coef = max_norm / (total_norm + 1e-6)
    clip_coef = xp.minimum(clip_coef, 1.0)  # never scale up
    for g in grads:
        g *= clip_coef.astype(g.dtype)
    return Tensor(xp.asarray(total_norm))


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry into ``[-clip_value, clip_value]``, in place.

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        clip_value (float): the largest allowed absolute value (>= 0).
    """
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _gradients(parameters, "clip_grad_value_"):
        xp = get_array_module(g)
        xp.clip(g, -clip_value, clip_value, out=g)
