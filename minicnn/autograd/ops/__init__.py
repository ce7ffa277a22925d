"""The tensor-math ops behind Tensor's methods and operators.

They live under ``autograd`` (not ``functional``) because ``Tensor`` itself needs them and
imports may only point down; ``minicnn.functional`` re-exports them beside the NN ops.
"""
from .elementwise import (add, sub, mul, div, neg, pow, exp, log, sqrt, abs,  # noqa: F401
                          maximum, minimum, clip, where, compare, astype, to_device)
from .activation import relu, leaky_relu, sigmoid, tanh, softmax, log_softmax  # noqa: F401
from .reduce import sum, mean, max, min, var, std, argmax, argmin, logsumexp  # noqa: F401
from .shape import (reshape, flatten, permute, transpose, squeeze, unsqueeze,  # noqa: F401
                    expand, cat, stack, pad)
from .indexing import getitem  # noqa: F401
from .linalg import matmul  # noqa: F401
