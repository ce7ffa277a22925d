"""``import minicnn.nn as nn`` -- modules named as in ``torch.nn``, same constructor
arguments and state-dict keys. One layer family per file; each lists its names in ``__all__``.
"""
from .module import *  # noqa: F401,F403      Module, Parameter
from .containers import *  # noqa: F401,F403  Sequential, ModuleList, Identity, Flatten
from .linear import *  # noqa: F401,F403      Linear
from .activation import *  # noqa: F401,F403  ReLU, LeakyReLU, Sigmoid, Tanh, Softmax
from .loss import *  # noqa: F401,F403        CrossEntropyLoss, NLLLoss, MSELoss, ...
from .conv import *  # noqa: F401,F403        Conv2d, ConvTranspose2d
from .pool import *  # noqa: F401,F403        MaxPool2d, MaxUnpool2d, AvgPool2d, AdaptiveAvgPool2d
from .norm import *  # noqa: F401,F403        BatchNorm1d, BatchNorm2d
from .dropout import *  # noqa: F401,F403     Dropout, Dropout2d
from .upsample import *  # noqa: F401,F403    Upsample
from .summary import *  # noqa: F401,F403     summary
from . import init  # noqa: F401
