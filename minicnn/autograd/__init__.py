"""Reverse-mode automatic differentiation: Tensor, Function, backward, no_grad, gradcheck."""
from .tensor import Tensor  # noqa: F401
from .function import Function, Context, unbroadcast  # noqa: F401
from .grad_mode import no_grad, enable_grad, is_grad_enabled, set_grad_enabled  # noqa: F401
from .gradcheck import gradcheck, numerical_grad, GradcheckError  # noqa: F401
from .random import manual_seed, default_generator, get_rng_state, set_rng_state  # noqa: F401
from .device import cuda_is_available  # noqa: F401
from .dtypes import float16, float32, float64, int32, int64, uint8, bool_  # noqa: F401
from .factories import (tensor, from_numpy, zeros, ones, full, empty, randn, rand,  # noqa: F401
                        randint, arange, linspace, eye, zeros_like, ones_like, randn_like)
from .ops import cat, stack, where  # noqa: F401
