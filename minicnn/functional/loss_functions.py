"""The loss Functions: forward and backward on raw arrays (NumPy or CuPy).

``minicnn.functional.loss`` checks the arguments and calls these. Class losses see the
input as (N, C, S) -- S = d1*d2*... spatial positions -- and the targets as (N, S).
"""
import numpy as np

from kernels.backend import get_array_module

from ..autograd.function import Function, unbroadcast


def _log_softmax(x, axis):
    """log p = x - max - log sum e^(x - max): finite for any logits."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _pick(values, index):
    """values[n, index[n, s], s] for values (N, C, S) and index (N, S) -> (N, S)."""
    xp = get_array_module(values)
    return xp.take_along_axis(values, index[:, None, :], axis=1)[:, 0, :]


def _onehot(index, classes, dtype):
    """(N, S) class indices -> (N, C, S) with 1 at the index, else 0."""
    xp = get_array_module(index)
    return (xp.arange(classes)[None, :, None] == index[:, None, :]).astype(dtype)


def _reduce_per_element(loss, reduction, denominator, batch_shape):
    """Reduce an (N, S) loss: 'none' -> batch_shape, 'sum' -> sum, 'mean' -> sum / denominator."""
    xp = get_array_module(loss)
    if reduction == "none":
        return loss.reshape(batch_shape)
    total = xp.asarray(loss.sum())
    if reduction == "sum":
        return total
    with np.errstate(divide="ignore", invalid="ignore"):  # all targets ignored: 0 / 0 = nan, as PyTorch
        return xp.asarray(total / denominator)


def _upstream_per_element(grad, reduction, denominator, n, spatial):
    """The incoming gradient spread over the (N, S) elements that were reduced."""
    xp = get_array_module(grad)
    if reduction == "none":
        return grad.reshape(n, spatial)
    scale = grad if reduction == "sum" else grad / denominator
    return xp.broadcast_to(scale, (n, spatial))


class CrossEntropy(Function):
    """Cross-entropy with class-index targets, label smoothing eps, class weights w.

    loss_i = (1 - eps) w_t (-log p_t) + (eps / C) sum_c w_c (-log p_c)        (0 if ignored)
    d loss_i / d x_c = (1 - eps) w_t (p_c - [c = t]) + (eps / C) (p_c sum_k w_k - w_c)
    """

    @staticmethod
    def forward(ctx, logits, target, weight, layout, batch_shape, ignore_index, reduction, label_smoothing):
        xp = get_array_module(logits)
        n, classes, spatial = layout
        log_p = _log_softmax(logits.reshape(n, classes, spatial), axis=1)   # (N, C, S)
        target = target.reshape(n, spatial)                                  # (N, S)
        keep = target != ignore_index
        safe_target = xp.where(keep, target, 0)     # any valid index where ignored; masked below
        w = weight if weight is not None else xp.ones(classes, dtype=logits.dtype)
        w_target = w[safe_target] * keep                                     # (N, S), 0 if ignored
        eps = label_smoothing
        loss = (1 - eps) * w_target * -_pick(log_p, safe_target)
        if eps > 0:
            smooth = -(log_p * w[None, :, None]).sum(axis=1) * keep
            loss = loss + (eps / classes) * smooth
        denominator = w_target.sum()  # 'mean' divides by the total weight of kept targets
        ctx.save_for_backward(log_p, safe_target, keep, w_target, w)
        ctx.args = (layout, reduction, eps, denominator, logits.shape)
        return _reduce_per_element(loss, reduction, denominator, batch_shape).astype(logits.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        log_p, safe_target, keep, w_target, w = ctx.saved_tensors
        (n, classes, spatial), reduction, eps, denominator, input_shape = ctx.args
        xp = get_array_module(log_p)
        p = xp.exp(log_p)
        grad_x = (1 - eps) * w_target[:, None, :] * (p - _onehot(safe_target, classes, p.dtype))
        if eps > 0:
            grad_x = grad_x + (eps / classes) * keep[:, None, :] * (p * w.sum() - w[None, :, None])
        upstream = _upstream_per_element(grad, reduction, denominator, n, spatial)
        return (grad_x * upstream[:, None, :]).reshape(input_shape), None, None


class CrossEntropyWithProbabilities(Function):
    """Cross-entropy with probability targets q (same shape as the logits), smoothing eps.

    q' = (1 - eps) q + eps / C;  loss_i = -sum_c w_c q'_c log p_c
    d/dx_c = p_c sum_k w_k q'_k - w_c q'_c;   d/dq_c = -(1 - eps) w_c log p_c
    """

    @staticmethod
    def forward(ctx, logits, target, weight, layout, batch_shape, reduction, label_smoothing):
        xp = get_array_module(logits)
        n, classes, spatial = layout
        log_p = _log_softmax(logits.reshape(n, classes, spatial), axis=1)
        eps = label_smoothing
        smoothed = target.reshape(n, classes, spatial) * (1 - eps) + eps / classes
        w = weight if weight is not None else xp.ones(classes, dtype=logits.dtype)
        weighted = smoothed * w[None, :, None]                               # w_c q'_c
        loss = -(weighted * log_p).sum(axis=1)                               # (N, S)
        ctx.save_for_backward(log_p, weighted, w)
        ctx.args = (layout, reduction, eps, n * spatial, logits.shape)
        return _reduce_per_element(loss, reduction, n * spatial, batch_shape).astype(logits.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        log_p, weighted, w = ctx.saved_tensors
        (n, classes, spatial), reduction, eps, count, input_shape = ctx.args
        upstream = _upstream_per_element(grad, reduction, count, n, spatial)[:, None, :]
        grad_x = grad_target = None
        if ctx.needs_input_grad[0]:
            p = get_array_module(log_p).exp(log_p)
            grad_x = ((p * weighted.sum(axis=1, keepdims=True) - weighted) * upstream).reshape(input_shape)
        if ctx.needs_input_grad[1]:
            grad_target = (-(1 - eps) * w[None, :, None] * log_p * upstream).reshape(input_shape)
        return grad_x, grad_target, None


class NegativeLogLikelihood(Function):
    """loss_i = -w_t x_t (x holds log-probabilities; 0 where ignored);  d/dx_c = -w_t [c = t]."""

    @staticmethod
    def forward(ctx, log_probs, target, weight, layout, batch_shape, ignore_index, reduction):
        xp = get_array_module(log_probs)
        n, classes, spatial = layout
        target = target.reshape(n, spatial)
        keep = target != ignore_index
        safe_target = xp.where(keep, target, 0)
        w = weight if weight is not None else xp.ones(classes, dtype=log_probs.dtype)
        w_target = w[safe_target] * keep
        loss = -w_target * _pick(log_probs.reshape(n, classes, spatial), safe_target)
        denominator = w_target.sum()
        ctx.save_for_backward(safe_target, w_target)
        ctx.args = (layout, reduction, denominator, log_probs.shape)
        return _reduce_per_element(loss, reduction, denominator, batch_shape).astype(log_probs.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        safe_target, w_target = ctx.saved_tensors
        (n, classes, spatial), reduction, denominator, input_shape = ctx.args
        upstream = _upstream_per_element(grad, reduction, denominator, n, spatial)
        onehot = _onehot(safe_target, classes, w_target.dtype)
        return (-onehot * (w_target * upstream)[:, None, :]).reshape(input_shape), None, None


class SquaredError(Function):
    """loss = (x - y)^2;  d/dx = 2 (x - y),  d/dy = -2 (x - y)."""

    @staticmethod
    def forward(ctx, x, y):
        diff = x - y
        ctx.save_for_backward(diff)
        return diff * diff

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        grad_x = 2 * diff * grad
        return grad_x, -grad_x


class L1Error(Function):
    """loss = |x - y|;  d/dx = sign(x - y) (0 at 0, as PyTorch),  d/dy = -d/dx."""

    @staticmethod
    def forward(ctx, x, y):
        diff = x - y
        ctx.save_for_backward(diff)
        return get_array_module(diff).abs(diff)

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        grad_x = get_array_module(diff).sign(diff) * grad
        return grad_x, -grad_x


class SmoothL1Error(Function):
    """d = x - y: loss = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta;
    d/dx = d / beta inside, sign(d) outside;  d/dy = -d/dx."""

    @staticmethod
    def forward(ctx, x, y, beta):
        xp = get_array_module(x)
        diff = x - y
        size = xp.abs(diff)
        inside = size < beta
        ctx.save_for_backward(diff, inside)
        ctx.beta = beta
        return xp.where(inside, 0.5 * diff * diff / beta, size - 0.5 * beta).astype(diff.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        diff, inside = ctx.saved_tensors
        xp = get_array_module(diff)
        grad_x = xp.where(inside, diff / ctx.beta, xp.sign(diff)) * grad
        return grad_x, -grad_x


def _softplus_pair(x):
    """(softplus(x), softplus(-x)), softplus(z) = log(1 + e^z) = log1p(e^-|z|) + max(z, 0):
    finite and free of cancellation for any x."""
    xp = get_array_module(x)
    common = xp.log1p(xp.exp(-xp.abs(x)))
    return common + xp.maximum(x, 0), common + xp.maximum(-x, 0)


class BinaryCrossEntropyWithLogits(Function):
    """l = w [pos_weight y softplus(-x) + (1 - y) softplus(x)]
         (= -w [pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], two non-negative terms).

    d/dx = w [(1 - y) sigmoid(x) - pos_weight y sigmoid(-x)],  sigmoid(x) = e^-softplus(-x);
    d/dy = w [pos_weight softplus(-x) - softplus(x)];  d/dw = l / w;  d/dpos_weight = w y softplus(-x).
    """

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight):
        softplus_pos, softplus_neg = _softplus_pair(x)
        positive_part = y * softplus_neg if pos_weight is None else pos_weight * y * softplus_neg
        unweighted = positive_part + (1 - y) * softplus_pos
        ctx.save_for_backward(y, weight, pos_weight, softplus_pos, softplus_neg, unweighted)
        loss = unweighted * weight if weight is not None else unweighted
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        y, weight, pos_weight, softplus_pos, softplus_neg, unweighted = ctx.saved_tensors
        xp = get_array_module(y)
        w_grad = grad * weight if weight is not None else grad
        pw = pos_weight if pos_weight is not None else 1
        grads = [None, None, None, None]
        if ctx.needs_input_grad[0]:
            sigmoid_pos, sigmoid_neg = xp.exp(-softplus_neg), xp.exp(-softplus_pos)
            grads[0] = w_grad * ((1 - y) * sigmoid_pos - pw * y * sigmoid_neg)
        if ctx.needs_input_grad[1]:
            grads[1] = w_grad * (pw * softplus_neg - softplus_pos)
        if ctx.needs_input_grad[2]:
            grads[2] = unbroadcast(grad * unweighted, weight.shape)
        if ctx.needs_input_grad[3]:
            grads[3] = unbroadcast(w_grad * y * softplus_neg, pos_weight.shape)
        return tuple(grads)


class BinaryCrossEntropy(Function):
    """l = -w [y log p + (1 - y) log(1 - p)], each log clamped at -100 (as PyTorch);
    d/dp = w (p - y) / max(p (1 - p), 1e-12);  d/dy = -w [log p - log(1 - p)];  d/dw = l / w."""

    @staticmethod
    def forward(ctx, p, y, weight):
        xp = get_array_module(p)
        with np.errstate(divide="ignore"):  # log 0 = -inf, clamped to -100 next
            log_p = xp.maximum(xp.log(p), -100)
            log_q = xp.maximum(xp.log1p(-p), -100)
        unweighted = -(y * log_p + (1 - y) * log_q)
        ctx.save_for_backward(p, y, weight, log_p, log_q, unweighted)
        loss = unweighted * weight if weight is not None else unweighted
        return loss.astype(p.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        p, y, weight, log_p, log_q, unweighted = ctx.saved_tensors
        xp = get_array_module(p)
        w_grad = grad * weight if weight is not None else grad
        grads = [None, None, None]
        if ctx.needs_input_grad[0]:
            grads[0] = w_grad * (p - y) / xp.maximum(p * (1 - p), 1e-12)
        if ctx.needs_input_grad[1]:
            grads[1] = -w_grad * (log_p - log_q)
        if ctx.needs_input_grad[2]:
            grads[2] = unbroadcast(grad * unweighted, weight.shape)
        return tuple(grads)
