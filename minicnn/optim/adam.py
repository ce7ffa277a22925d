"""``Adam`` and ``AdamW``: adaptive moment estimation (Kingma & Ba, 2015; Loshchilov & Hutter, 2019).

The update of one parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...`` (PyTorch's rule)::

    g = -g                                    if maximize
    p = p * (1 - lr * weight_decay)           AdamW: decoupled weight decay
    g = g + weight_decay * p                  Adam: L2 penalty in the gradient
    m = beta1 * m + (1 - beta1) * g           first moment (mean of g)
    v = beta2 * v + (1 - beta2) * g * g       second moment (mean of g^2)
    v_max = max(v_max, v)                     if amsgrad (then v_max replaces v below)
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)       bias correction
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

computed as ``p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``, the same
order of operations as PyTorch.
"""
import math

from kernels.backend import get_array_module

from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``.

    Args:
        params: iterable of Tensors or of dicts with per-group options.
        lr (float): learning rate.
        betas (float, float): decay rates of the first and second moment averages.
        eps (float): added to the denominator for numerical stability.
        weight_decay (float): L2 penalty added to the gradient (Adam) -- or, in AdamW, the
            decoupled decay rate.
        amsgrad (bool): use the running maximum of the second moment (Reddi et al., 2018).
        maximize (bool): ascend the objective instead of descending.

    State per parameter: ``'step'`` (int), ``'exp_avg'`` (m), ``'exp_avg_sq'`` (v) and, with
    amsgrad, ``'max_exp_avg_sq'``; the arrays have the parameter's shape.
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, maximize=False):
        name = type(self).__name__
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate lr={lr}: must be >= 0")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid eps={eps}: must be >= 0")
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta}, must be in [0, 1)")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay={weight_decay}: must be >= 0")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = get_array_module(param)
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]

        if not state:  # first step: zero moments
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        exp_avg = state["exp_avg"]
        exp_avg_sq = state["exp_avg_sq"]

        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                param *= 1 - lr * weight_decay  # AdamW: shrink the weights directly
            else:
                grad = grad + weight_decay * param  # Adam: L2 term in the gradient (new array)

        # m <- m + (1 - beta1) (g - m)  ==  beta1 m + (1 - beta1) g  (PyTorch's lerp form)
        exp_avg += (1 - beta1) * (grad - exp_avg)
        # v <- beta2 v + (1 - beta2) g^2
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad

        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            max_exp_avg_sq = state.setdefault("max_exp_avg_sq", xp.zeros_like(param))
            xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            second_moment = max_exp_avg_sq
        else:
            second_moment = exp_avg_sq
        denom = xp.sqrt(second_moment) / math.sqrt(bias_correction2) + group["eps"]
        param -= step_size * exp_avg / denom


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay
    ``p <- p * (1 - lr * weight_decay)`` applied before the Adam step (default 1e-2),
    instead of an L2 term in the gradient. Same arguments and state as ``Adam``."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
