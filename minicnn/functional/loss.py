"""Loss functions, as ``torch.nn.functional``: the same names, arguments, defaults and values.

Classification: ``cross_entropy`` (one fused, stable Function: log-softmax + NLL + label
smoothing, backward ``softmax - onehot``), ``nll_loss``, ``binary_cross_entropy_with_logits``,
``binary_cross_entropy``. Regression: ``mse_loss``, ``l1_loss``, ``smooth_l1_loss``.
The Functions (forward and backward on raw arrays) are in ``loss_functions.py``; this file
checks the arguments and applies the reduction.

``reduction`` is ``'mean'`` (default), ``'sum'`` or ``'none'`` (the per-element losses).
Class layouts: input (N, C) or (N, C, d1, d2, ...) -- e.g. (N, C, H, W) for segmentation --
with class-index targets (N,) or (N, d1, d2, ...); an unbatched (C,) input takes a 0-d target.

One deliberate difference from PyTorch: the elementwise losses refuse an input and target of
different shapes (PyTorch broadcasts them with a warning, which silently turns an (N, 1)
prediction and an (N,) target into an (N, N) loss).
"""
import warnings

import numpy as np

from ..autograd.dtypes import is_floating
from ..autograd.tensor import Tensor
from .loss_functions import (BinaryCrossEntropy, BinaryCrossEntropyWithLogits, CrossEntropy,
                             CrossEntropyWithProbabilities, L1Error, NegativeLogLikelihood,
                             SmoothL1Error, SquaredError)

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss",
           "binary_cross_entropy_with_logits", "binary_cross_entropy"]


# ----- argument checks ---------------------------------------------------------------------
def _reduction_from(op, size_average, reduce, reduction):
    """PyTorch's deprecated ``size_average``/``reduce`` flags -> a ``reduction`` string."""
    if size_average is not None or reduce is not None:
        warnings.warn(f"{op}: size_average and reduce args will be deprecated, please use "
                      "reduction='mean'/'sum'/'none' instead.", stacklevel=3)
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; "
                         "expected 'mean', 'sum' or 'none'")
    return reduction


def _as_tensor(op, name, value):
    if isinstance(value, np.ndarray):
        return Tensor(value)
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    return value


def _check_float(op, name, tensor):
    if not is_floating(tensor.dtype):
        raise TypeError(f"{op}: expected {name} to have a floating-point dtype, got {tensor.dtype}")


def _check_same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{op}: target shape {target.shape} must be the same as input shape "
                         f"{input.shape} (no broadcasting: reshape one of them)")


def _class_layout(op, input):
    """(N, C, S, batch_shape) of an input (N, C, d1, ...) or (C,): S = d1*d2*..., and
    batch_shape = (N, d1, ...) is the shape of the targets and of the 'none' loss."""
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have shape (N, C), (N, C, d1, ...) or (C,), got a 0-d tensor")
    if input.ndim == 1:
        return 1, input.shape[0], 1, ()
    spatial = 1
    for size in input.shape[2:]:
        spatial *= size
    return input.shape[0], input.shape[1], spatial, input.shape[:1] + input.shape[2:]


def _check_class_weight(op, weight, classes, input):
    if weight is None:
        return None
    weight = _as_tensor(op, "weight", weight)
    if weight.shape != (classes,):
        raise ValueError(f"{op}: weight must have shape ({classes},) (one value per class), got {weight.shape}")
    return weight.detach().to(dtype=input.dtype)


def _check_class_targets(op, input, target, classes, batch_shape, ignore_index):
    """Integer targets of shape ``batch_shape`` with values in [0, C) or ``ignore_index``."""
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected target to hold class indices with an integer dtype "
                        f"(int64), got {target.dtype}")
    if target.shape != batch_shape:
        raise ValueError(f"{op}: expected target of shape {batch_shape} for input of shape "
                         f"{input.shape}, got {target.shape}")
    values = target.data
    bad = (values != ignore_index) & ((values < 0) | (values >= classes))
    if bad.any():
        first = int(values[bad].reshape(-1)[0])
        raise ValueError(f"{op}: target value {first} is out of range for {classes} classes: "
                         f"expected values in [0, {classes - 1}] (or ignore_index={ignore_index})")


# ----- classification ----------------------------------------------------------------------
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and targets: ``log_softmax`` and NLL in one stable step.

    Args:
        input:  logits (N, C), (N, C, d1, d2, ...) or (C,); not probabilities.
        target: class indices, integer (N,) / (N, d1, ...) / (); or class probabilities,
                floating, with the shape of ``input``.
        weight: (C,) rescaling of each class, or None.
        ignore_index: targets with this value add nothing to the loss or the gradient
                (class-index targets only).
        label_smoothing: eps in [0, 1]; the target becomes (1 - eps) * onehot + eps / C.

    With class indices, per element i (log p = log_softmax over C, w_c the class weights):
        loss_i = (1 - eps) * (-w_{t_i} log p_{t_i}) + (eps / C) * (-sum_c w_c log p_c)
    and 'mean' divides the sum by sum_i w_{t_i} over non-ignored i (as PyTorch).
    With probabilities q: loss_i = -sum_c w_c q'_c log p_c, q' = (1 - eps) q + eps / C, and
    'mean' divides by the number of elements N * d1 * d2 * ...

    Example::

        >>> F.cross_entropy(mc.randn(4, 3), mc.tensor([0, 2, 1, 2]))  # a 0-d Tensor
    """
    op = "cross_entropy"
    reduction = _reduction_from(op, size_average, reduce, reduction)
    input = _as_tensor(op, "input", input)
    target = _as_tensor(op, "target", target)
    _check_float(op, "input", input)
    n, classes, spatial, batch_shape = _class_layout(op, input)
    weight = _check_class_weight(op, weight, classes, input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if is_floating(target.dtype):
        if target.shape != input.shape:
            raise ValueError(f"{op}: a floating-point target holds class probabilities and must have "
                             f"the input's shape {input.shape}, got {target.shape} (for class "
                             f"indices use an integer target of shape {batch_shape})")
        return CrossEntropyWithProbabilities.apply(input, target, weight, layout=(n, classes, spatial),
                                                   batch_shape=batch_shape, reduction=reduction,
                                                   label_smoothing=float(label_smoothing))
    _check_class_targets(op, input, target, classes, batch_shape, ignore_index)
    return CrossEntropy.apply(input, target, weight, layout=(n, classes, spatial), batch_shape=batch_shape,
                              ignore_index=ignore_index, reduction=reduction,
                              label_smoothing=float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood: ``loss_i = -w_{t_i} * input[i, t_i]`` for log-probabilities.

    ``input`` (N, C), (N, C, d1, ...) or (C,) holds log-probabilities (e.g. from
    ``log_softmax``); ``target`` the class indices, (N,), (N, d1, ...) or (). 'mean' divides
    by the sum of the weights of the non-ignored targets. ``cross_entropy(x, t)`` equals
    ``nll_loss(log_softmax(x, dim=1), t)``.
    """
    op = "nll_loss"
    reduction = _reduction_from(op, size_average, reduce, reduction)
    input = _as_tensor(op, "input", input)
    target = _as_tensor(op, "target", target)
    _check_float(op, "input", input)
    n, classes, spatial, batch_shape = _class_layout(op, input)
    weight = _check_class_weight(op, weight, classes, input)
    _check_class_targets(op, input, target, classes, batch_shape, ignore_index)
    return NegativeLogLikelihood.apply(input, target, weight, layout=(n, classes, spatial),
                                       batch_shape=batch_shape, ignore_index=ignore_index,
                                       reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable step, for logits x and targets y in [0, 1]:

        loss = -w * [pos_weight * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x))]

    computed as ``w * [pos_weight * y * softplus(-x) + (1 - y) * softplus(x)]``, finite for any x.
    ``weight`` broadcasts against the input; ``pos_weight`` too (typically shape (C,), one
    value per class along the last dim). Input and target must have the same shape.
    """
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction_from(op, size_average, reduce, reduction)
    input = _as_tensor(op, "input", input)
    target = _as_tensor(op, "target", target)
    _check_float(op, "input", input)
    _check_float(op, "target", target)
    _check_same_shape(op, input, target)
    for name, extra in (("weight", weight), ("pos_weight", pos_weight)):
        if extra is not None:
            _check_broadcastable(op, name, _as_tensor(op, name, extra), input)
    loss = BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight)
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities p in [0, 1] and targets y:
    ``loss = -w * [y log p + (1 - y) log(1 - p)]``, with each log clamped at -100 as PyTorch.

    Prefer ``binary_cross_entropy_with_logits`` (stable, no sigmoid saturation).
    """
    op = "binary_cross_entropy"
    reduction = _reduction_from(op, size_average, reduce, reduction)
    input = _as_tensor(op, "input", input)
    target = _as_tensor(op, "target", target)
    _check_float(op, "input", input)
    _check_same_shape(op, input, target)
    if ((input.data < 0) | (input.data > 1)).any():
        raise ValueError(f"{op}: all elements of input should be between 0 and 1 (probabilities); "
                         "for logits use binary_cross_entropy_with_logits")
    if weight is not None:
        _check_broadcastable(op, "weight", _as_tensor(op, "weight", weight), input)
    loss = BinaryCrossEntropy.apply(input, target, weight)
    return _reduce(loss, reduction)


def _check_broadcastable(op, name, extra, input):
    """``extra`` must broadcast to the input's shape without enlarging it."""
    try:
        shape = np.broadcast_shapes(extra.shape, input.shape)
    except ValueError:
        shape = None
    if shape != input.shape:
        raise ValueError(f"{op}: {name} of shape {extra.shape} cannot be broadcast to the input's "
                         f"shape {input.shape}")


# ----- regression ----------------------------------------------------------------------------
def _elementwise_loss(op, function, input, target, reduction, *params):
    input = _as_tensor(op, "input", input)
    target = _as_tensor(op, "target", target)
    _check_float(op, "input", input)
    _check_float(op, "target", target)
    _check_same_shape(op, input, target)
    return _reduce(function.apply(input, target, *params), reduction)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error: ``loss_i = (input_i - target_i)^2``; same shapes required."""
    reduction = _reduction_from("mse_loss", size_average, reduce, reduction)
    return _elementwise_loss("mse_loss", SquaredError, input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error: ``loss_i = |input_i - target_i|``; same shapes required."""
    reduction = _reduction_from("l1_loss", size_average, reduce, reduction)
    return _elementwise_loss("l1_loss", L1Error, input, target, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Huber-like loss of d = input - target: ``0.5 d^2 / beta`` where |d| < beta, else
    ``|d| - 0.5 beta`` (quadratic near 0, linear far away). ``beta=0`` is the L1 loss."""
    op = "smooth_l1_loss"
    reduction = _reduction_from(op, size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"{op}: beta must be non-negative, got {beta}")
    if beta == 0:
        return _elementwise_loss(op, L1Error, input, target, reduction)
    return _elementwise_loss(op, SmoothL1Error, input, target, reduction, float(beta))
