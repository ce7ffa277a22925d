"""minicnn: a from-scratch deep-learning framework for convolutional networks.

    import minicnn as mc
    import minicnn.nn as nn
    import minicnn.functional as F
"""
from kernels.backend import set_backend, get_backend  # noqa: F401
from kernels.cpu.memory import release as empty_cache  # noqa: F401

from .autograd import *  # noqa: F401,F403
from .autograd import Tensor, Function, no_grad, enable_grad, gradcheck, numerical_grad  # noqa: F401
from .autograd.ops import cat, stack, where, maximum, minimum, clip  # noqa: F401
from .autograd.ops import clip as clamp  # noqa: F401
from . import functional  # noqa: F401
from . import nn  # noqa: F401
from . import optim  # noqa: F401
from . import data  # noqa: F401
from . import models  # noqa: F401
from . import vision  # noqa: F401
from .serialization import save, load  # noqa: F401
from . import train  # noqa: F401

__version__ = "0.1.0"
bool = bool_  # noqa: A001  (mc.bool, as torch.bool)


class cuda:  # noqa: N801  (mc.cuda.is_available(), as torch.cuda)
    """GPU queries, named as in PyTorch."""
    is_available = staticmethod(cuda_is_available)  # noqa: F405
