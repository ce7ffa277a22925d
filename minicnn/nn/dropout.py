"""Dropout layers: ``Dropout`` (elements) and ``Dropout2d`` (whole channels).

Active only in training mode (``model.train()``); in ``model.eval()`` they pass the input
through unchanged. See minicnn/functional/dropout.py for the math.
"""
from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """While training, zero each element with probability ``p`` and scale the others by
    1/(1-p); any shape.

    >>> drop = nn.Dropout(0.5); drop.eval(); drop(x) is x        # identity in eval mode
    """

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """While training, zero whole channels of (N, C, H, W) with probability ``p`` and scale
    the others by 1/(1-p)."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)
