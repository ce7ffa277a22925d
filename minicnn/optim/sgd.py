"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update of one parameter ``p`` with gradient ``g`` (PyTorch's rule, step by step)::

    g = -g                          if maximize
    g = g + weight_decay * p        (L2 penalty)
    b = g                           on the first step (no dampening)      } only when
    b = momentum * b + (1 - dampening) * g   afterwards                   } momentum != 0
    g = g + momentum * b            if nesterov, else g = b               }
    p = p - lr * g
"""
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    Args:
        params: iterable of Tensors or of dicts with per-group options.
        lr (float): learning rate.
        momentum (float): momentum factor (0 = plain SGD).
        dampening (float): fraction of the new gradient NOT added to the momentum buffer.
        weight_decay (float): L2 penalty coefficient (added to the gradient).
        nesterov (bool): Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize (bool): ascend the objective instead of descending.

    State per parameter: ``'momentum_buffer'`` (same shape as the parameter) when momentum != 0.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, maximize=False):
        if lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate lr={lr}: must be >= 0")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum={momentum}: must be >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay={weight_decay}: must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum requires momentum > 0 and dampening = 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        lr = group["lr"]
        momentum = group["momentum"]
        weight_decay = group["weight_decay"]

        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param  # new array: p.grad itself is left untouched

        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = grad.copy()  # first step: b = g, no dampening
                state["momentum_buffer"] = buffer
            else:
                # b = momentum * b + (1 - dampening) * g, in place
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            if group["nesterov"]:
                grad = grad + momentum * buffer
            else:
                grad = buffer

        param -= lr * grad  # in place: the Tensor keeps its array
