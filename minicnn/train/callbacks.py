"""Callbacks: code that ``fit`` calls at fixed moments of training.

A callback subclasses ``Callback`` and overrides the hooks it needs; each hook receives the
``FitState`` of the run (the model, optimizer, scheduler, history, epoch and step counters)::

    class PrintEveryEpoch(Callback):
        def on_epoch_end(self, state):
            print(state.epoch, state.history.val_acc[-1])

Order within an epoch::

    on_epoch_begin
    for each batch:  forward, backward, [clipping]
                     on_before_optimizer_step     (gradients are final here)
                     optimizer.step(), [EMA update], [per-step scheduler]
                     on_step_end                  (state.loss is this batch's loss)
    validation, per-epoch scheduler step, history updated
    on_epoch_end                                  (the state a checkpoint should hold)

Setting ``state.stop_training = True`` (with ``state.stop_reason``) ends ``fit`` after the
current epoch. Other callbacks live where their idea lives: ``Checkpoint`` in
``checkpoint.py``, ``SnapshotEnsemble`` in ``ensemble.py``, ``UpdateRatioMonitor`` in
``monitor.py``.
"""
import math


class FitState:
    """What a callback can see and change during ``fit``.

    Attributes:
        model, optimizer, scheduler, train_loader, val_loader, ema, history: as given to fit.
        epoch (int): the current epoch, 0-based (in on_epoch_end: the epoch just finished).
        total_epochs (int): the ``epochs`` argument of fit.
        global_step (int): optimizer steps taken so far in the whole run.
        loss (float): the last batch's loss (in on_step_end).
        stop_training (bool): set True to stop after this epoch; stop_reason (str): why.
    """

    def __init__(self, model, optimizer, scheduler, train_loader, val_loader, ema, history,
                 total_epochs):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.ema = ema
        self.history = history
        self.total_epochs = total_epochs
        self.epoch = 0
        self.global_step = len(history.step_loss)
        self.loss = math.nan
        self.stop_training = False
        self.stop_reason = None


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state):
        pass

    def on_before_optimizer_step(self, state):
        pass

    def on_step_end(self, state):
        pass

    def on_epoch_end(self, state):
        pass

    def on_train_end(self, state):
        pass


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda s: print(s.epoch))``."""

    def __init__(self, on_epoch_end=None, on_step_end=None):
        self._on_epoch_end = on_epoch_end
        self._on_step_end = on_step_end

    def on_epoch_end(self, state):
        if self._on_epoch_end is not None:
            self._on_epoch_end(state)

    def on_step_end(self, state):
        if self._on_step_end is not None:
            self._on_step_end(state)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Args:
        monitor (str): a per-epoch History field, e.g. "val_loss" (lower is better) or
            "val_acc" (higher is better; any name ending in "acc").
        patience (int): epochs without improvement allowed before stopping.
        min_delta (float): the smallest change that counts as an improvement.
    """

    def __init__(self, monitor="val_loss", patience=3, min_delta=0.0):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.higher_is_better = monitor.endswith("acc")
        self.best = None
        self.best_epoch = None
        self.bad_epochs = 0

    def _improved(self, value):
        if self.best is None:
            return True
        if self.higher_is_better:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, state):
        values = getattr(state.history, self.monitor, None)
        if not values:
            raise ValueError(f"EarlyStopping: History has no values for {self.monitor!r} "
                             "(is there a val_loader?)")
        value = values[-1]
        if self._improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, state.epoch, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            state.stop_training = True
            state.stop_reason = (f"early stopping: {self.monitor} has not improved for "
                                 f"{self.bad_epochs} epochs (best {self.best:.4f} at epoch "
                                 f"{self.best_epoch + 1})")
