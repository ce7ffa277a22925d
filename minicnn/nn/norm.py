"""Batch normalisation layers: ``BatchNorm1d`` ((N, C) or (N, C, L)) and ``BatchNorm2d``
((N, C, H, W)), with ``torch.nn``'s arguments, state-dict keys and behaviour.

State (the keys of ``state_dict``, exactly PyTorch's):
    weight, bias (C,)             learnt scale and shift (Parameters; absent when affine=False)
    running_mean, running_var (C,) buffers: exponential averages of the batch statistics
    num_batches_tracked ()        int64 buffer: training batches seen
Training mode normalises with the batch's statistics and updates the running ones:
    running = (1 - momentum) * running + momentum * batch      (the variance unbiased)
or, with ``momentum=None``, the cumulative average (momentum = 1 / num_batches_tracked).
Evaluation mode normalises with the running statistics. With
``track_running_stats=False`` there are no buffers and the batch statistics are always used.
"""
import numpy as np

from .. import functional as F
from ..autograd.dtypes import default_float, resolve_dtype
from ..autograd.factories import ones, tensor, zeros
from ..autograd.grad_mode import no_grad
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ only in the input ranks allowed."""

    ranks = ()   # the input dims a subclass accepts

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = resolve_dtype(dtype) or default_float
        channels = self.num_features
        if affine:
            self.weight = Parameter(ones(channels, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(channels, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(channels, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(channels, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 tensor(0, dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        """Running stats reset; weight = 1, bias = 0."""
        self.reset_running_stats()
        with no_grad():
            if self.weight is not None:
                self.weight.fill_(1)
            if self.bias is not None:
                self.bias.zero_()

    def _check_input(self, input):
        name = type(self).__name__
        if input.ndim not in self.ranks:
            expected = " or ".join(f"{r}D" for r in self.ranks)
            raise ValueError(f"{name}: expected {expected} input, got {input.ndim}D input of "
                             f"shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): expected an input with "
                             f"{self.num_features} channels (dim 1), got shape {input.shape} "
                             f"with {input.shape[1]}")

    def forward(self, input):
        self._check_input(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:                   # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics when training, or when there are no running ones to use.
        use_batch_stats = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm(input,
                            self.running_mean if keep_running else None,
                            self.running_var if keep_running else None,
                            self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): each of the C features is normalised over N
    (and L). Typically after a Linear layer or a 1-D convolution.

    >>> bn = nn.BatchNorm1d(16); bn(mc.randn(32, 16)).shape        # (32, 16)
    """
    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): each channel is normalised over N, H and W.

    >>> bn = nn.BatchNorm2d(8); bn(mc.randn(4, 8, 5, 5)).shape      # (4, 8, 5, 5)
    """
    ranks = (4,)
