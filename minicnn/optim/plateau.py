"""``ReduceLROnPlateau``: cut the learning rate when a watched metric stops improving.

PyTorch's rule, argument for argument. After each epoch call ``scheduler.step(metric)``
(usually the validation loss). A value is an improvement when it beats the best so far by
more than ``threshold``::

    mode="min", threshold_mode="rel":  value < best * (1 - threshold)
    mode="min", threshold_mode="abs":  value < best - threshold
    mode="max", threshold_mode="rel":  value > best * (1 + threshold)
    mode="max", threshold_mode="abs":  value > best + threshold

After more than ``patience`` epochs in a row without an improvement every group's rate
becomes ``max(lr * factor, min_lr)`` (a change smaller than ``eps`` is skipped), and for the
next ``cooldown`` epochs the bad-epoch count stays at zero. ``fit`` passes the validation
loss (or the training loss when there is no validation set) to ``step`` by itself.
"""
import math

from .lr_scheduler import LRScheduler
from .optimizer import Optimizer


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rates by ``factor`` after ``patience`` epochs without improvement.

    An ``LRScheduler`` as in PyTorch (``get_last_lr``, ``state_dict``, ``load_state_dict``
    are the base class's), but with its own constructor and ``step(metrics)``: it has no
    schedule of its own, only the watched metric.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if factor >= 1.0:
            raise ValueError(f"{name}: factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"{name}: expected {groups} min_lrs (one per parameter group), "
                                 f"got {len(min_lr)}")
            self.min_lrs = [float(value) for value in min_lr]
        else:
            self.min_lrs = [float(min_lr)] * groups
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.eps = int(cooldown), float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, value, best):
        """True when ``value`` improves on ``best`` by more than the threshold (see the module)."""
        if self.mode == "min":
            bound = best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold
            return value < bound
        bound = best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold
        return value > bound

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def step(self, metrics):
        """Record one epoch's value of the watched metric; lower the rates if it has stalled."""
        value = float(metrics)
        self.last_epoch += 1
        if self.is_better(value, self.best):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # epochs in cooldown do not count as bad
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self):
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
