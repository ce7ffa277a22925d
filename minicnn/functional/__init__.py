"""``import minicnn.functional as F`` -- mirrors ``torch.nn.functional``.

The tensor-math ops come from ``minicnn.autograd.ops`` (Tensor's own methods need them);
the neural-network ops live here, one family per file. Each file lists its public names in
``__all__``.
"""
from ..autograd.ops import (relu, leaky_relu, sigmoid, tanh, softmax, log_softmax,  # noqa: F401
                            pad, cat, stack, where, matmul, logsumexp)
from .linear import *  # noqa: F401,F403      linear
from .loss import *  # noqa: F401,F403        cross_entropy, nll_loss, mse_loss, l1_loss, ...
from .conv import *  # noqa: F401,F403        conv2d, conv_transpose2d
from .pool import *  # noqa: F401,F403        max_pool2d, max_unpool2d, avg_pool2d, adaptive_avg_pool2d
from .norm import *  # noqa: F401,F403        batch_norm
from .dropout import *  # noqa: F401,F403     dropout, dropout2d
from .upsample import *  # noqa: F401,F403    interpolate
