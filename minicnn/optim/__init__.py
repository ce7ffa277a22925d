"""``minicnn.optim``: SGD, Adam, AdamW with PyTorch's update rules, LR schedules, clipping.

    opt = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = mc.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    mc.optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
"""
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .clip import clip_grad_norm_, clip_grad_value_  # noqa: F401
from . import lr_scheduler  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_", "lr_scheduler"]
