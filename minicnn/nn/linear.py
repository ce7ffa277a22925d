"""``Linear``: the fully connected layer, ``y = x W^T + b``."""
import math

from .. import functional as F
from ..autograd.dtypes import default_float, resolve_dtype
from ..autograd.factories import empty
from . import init
from .module import Module, Parameter

__all__ = ["Linear"]


class Linear(Module):
    """Applies ``y = x W^T + b``: input (*, in_features) -> output (*, out_features).

    Parameters (state-dict keys as PyTorch): ``weight`` (out_features, in_features) and,
    unless ``bias=False``, ``bias`` (out_features,).

    Initialisation (PyTorch's): W ~ U(-1/sqrt(in), 1/sqrt(in)) via
    ``kaiming_uniform_(a=sqrt(5))``, and b ~ U(-1/sqrt(in), 1/sqrt(in)), drawn from minicnn's
    seeded generator.

    Example::

        >>> layer = nn.Linear(4, 3)
        >>> layer(mc.randn(8, 4)).shape
        (8, 3)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dtype = resolve_dtype(dtype) or default_float
        self.weight = Parameter(empty(self.out_features, self.in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Draw fresh weights with PyTorch's default scheme (see the class docstring)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
