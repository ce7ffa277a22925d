"""The training loop: ``fit``, and ``evaluate`` / ``predict`` for trained models.

    history = fit(model, train_loader, val_loader, optimizer, epochs=8, scheduler=sched)
    loss, accuracy = evaluate(model, test_loader)
    logits = predict(model, test_loader)              # NumPy (N, num_classes)

One epoch of ``fit`` is the loop every course writes by hand::

    model.train()
    for inputs, targets in train_loader:
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    val_loss, val_acc = evaluate(model, val_loader)     # model.eval(), no_grad
    scheduler.step()

plus the things that make it usable: a progress bar, the History, callbacks, gradient
clipping, an EMA of the weights, and a guard that stops a diverging run.
"""
import math
import time

import numpy as np

from .. import functional as F
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..optim import Adam, clip_grad_norm_, clip_grad_value_
from ..optim.plateau import ReduceLROnPlateau
from .callbacks import FitState
from .divergence import DivergenceGuard, TrainingDiverged
from .history import History


def fit(model, train_loader, val_loader=None, optimizer=None, epochs=1, scheduler=None,
        loss_fn=F.cross_entropy, callbacks=(), device=None, grad_clip_norm=None,
        grad_clip_value=None, ema=None, progress=True, history=None, start_epoch=0,
        batch_transform=None, divergence_factor=3.0):
    """Train ``model`` for epochs ``start_epoch .. epochs-1`` and return the ``History``.

    Args:
        model: an ``nn.Module`` mapping a batch of inputs to outputs (e.g. logits (N, C)).
        train_loader: iterable of ``(inputs, targets)`` batches (a ``DataLoader``).
        val_loader: optional; evaluated after every epoch (val_loss, val_acc in History).
        optimizer: default ``Adam(model.parameters(), lr=1e-3)``.
        epochs (int): the epoch to stop at (the total length of the run, counting
            ``start_epoch`` epochs already done: resuming a 4-epoch run after 2 epochs is
            ``fit(..., epochs=4, start_epoch=2, history=saved_history)``).
        scheduler: an LR scheduler, stepped once per epoch after validation -- or once per
            optimizer step when it has an attribute ``per_step = True`` (the rule; e.g.
            ``warmup_cosine(..., steps_per_epoch=len(loader))`` sets it). A
            ``ReduceLROnPlateau`` is given the validation loss (the training loss without
            a validation set).
        loss_fn: ``loss_fn(outputs, targets) -> scalar Tensor`` (default cross-entropy; pass
            ``functools.partial(F.cross_entropy, label_smoothing=0.1)`` for label smoothing).
        callbacks: ``Callback`` objects (early stopping, checkpoints, snapshot ensembles).
        device: move the model and every batch there ("cpu", "cuda").
        grad_clip_norm, grad_clip_value: clip the gradients (by joint L2 norm / by value)
            between backward and the optimizer step.
        ema: a ``ModelEMA``, updated after every optimizer step; when given, validation
            uses the EMA weights (the weights one would deploy).
        progress (bool): show a tqdm bar per epoch (loss, accuracy, lr, images/s).
        history: a History to append to (resuming); default a new one.
        batch_transform: applied to each training input batch before the forward pass
            (batch augmentation, e.g. ``transforms.RandomCrop(28, padding=2)``).
        divergence_factor (float or None): the divergence guard's threshold (see
            ``divergence.py``): a NaN/inf loss, or a smoothed loss above this many times its
            starting value, raises ``TrainingDiverged`` (its ``.history`` holds the run so
            far). None keeps only the NaN/inf test.

    Returns:
        History (see ``history.py``).
    """
    if optimizer is None:
        optimizer = Adam(model.parameters(), lr=1e-3)
    if history is None:
        history = History()
    if not 0 <= start_epoch <= epochs:
        raise ValueError(f"fit: start_epoch must be in [0, epochs={epochs}], got {start_epoch}")
    if len(train_loader) == 0:
        raise ValueError("fit: train_loader yields no batches (is the dataset empty, or "
                         "drop_last=True with fewer samples than batch_size?)")
    if device is not None:
        model.to(device)
    state = FitState(model, optimizer, scheduler, train_loader, val_loader, ema, history, epochs)
    guard = DivergenceGuard(factor=divergence_factor)
    options = dict(loss_fn=loss_fn, device=device, grad_clip_norm=grad_clip_norm,
                   grad_clip_value=grad_clip_value, batch_transform=batch_transform,
                   progress=progress, guard=guard, callbacks=callbacks)

    for callback in callbacks:
        callback.on_train_begin(state)
    for epoch in range(start_epoch, epochs):
        state.epoch = epoch
        for callback in callbacks:
            callback.on_epoch_begin(state)
        epoch_start = time.perf_counter()
        epoch_lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc, train_seconds, samples = _train_one_epoch(state, **options)

        if val_loader is not None:
            val_loss, val_acc = _validate(model, val_loader, loss_fn, device, ema)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
            if progress:
                _print_line(f"epoch {epoch + 1}/{epochs}: val_loss {val_loss:.4f}, val_acc {val_acc:.4f}")
        if isinstance(scheduler, ReduceLROnPlateau):  # it watches a metric: val loss if any
            scheduler.step(val_loss if val_loader is not None else train_loss)
        elif scheduler is not None and not getattr(scheduler, "per_step", False):
            scheduler.step()
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        history.lr.append(epoch_lr)
        history.epoch_time.append(time.perf_counter() - epoch_start)
        history.images_per_s.append(samples / max(train_seconds, 1e-12))

        for callback in callbacks:
            callback.on_epoch_end(state)
        if state.stop_training:
            history.stop_reason = state.stop_reason or "stopped by a callback"
            break
    for callback in callbacks:
        callback.on_train_end(state)
    return history


def _train_one_epoch(state, loss_fn, device, grad_clip_norm, grad_clip_value, batch_transform,
                     progress, guard, callbacks):
    """One pass over the training data -> (mean loss, accuracy, seconds, samples seen)."""
    from tqdm.auto import tqdm  # imported here: ``import minicnn`` should not need tqdm

    model, optimizer, scheduler, history = state.model, state.optimizer, state.scheduler, state.history
    model.train()
    loss_sum, correct, samples, classified = 0.0, 0, 0, 0
    bar = tqdm(total=len(state.train_loader), desc=f"epoch {state.epoch + 1}/{state.total_epochs}",
               unit="batch", disable=not progress, leave=True, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for batch in state.train_loader:
            inputs, targets = _split_batch(batch, device)
            if batch_transform is not None:
                inputs = _as_tensor(batch_transform(inputs))
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss_value = float(loss.item())
            history.step_loss.append(loss_value)
            history.step_lr.append(optimizer.param_groups[0]["lr"])
            problem = guard.check(history.step_loss)
            if problem is not None:  # stop before a NaN reaches the weights
                history.stop_reason = problem
                raise TrainingDiverged(problem, history)

            optimizer.zero_grad()
            loss.backward()
            if grad_clip_value is not None:
                clip_grad_value_(model.parameters(), grad_clip_value)
            if grad_clip_norm is not None:
                clip_grad_norm_(model.parameters(), grad_clip_norm)
            for callback in callbacks:
                callback.on_before_optimizer_step(state)
            optimizer.step()
            if state.ema is not None:
                state.ema.update(model)
            if scheduler is not None and getattr(scheduler, "per_step", False):
                scheduler.step()

            size = inputs.shape[0]
            samples += size
            loss_sum += loss_value * size  # loss_fn averages over the batch: undo for the epoch mean
            batch_correct = count_correct(outputs, targets)
            if batch_correct is not None:
                correct += batch_correct
                classified += size
            state.global_step += 1
            state.loss = loss_value
            for callback in callbacks:
                callback.on_step_end(state)
            _show_progress(bar, loss_sum / samples, correct / classified if classified else None,
                           optimizer.param_groups[0]["lr"], samples / (time.perf_counter() - start))
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    accuracy = correct / classified if classified else math.nan
    return loss_sum / samples, accuracy, seconds, samples


def _show_progress(bar, loss, accuracy, lr, images_per_s):
    if bar.disable:
        return
    postfix = {"loss": f"{loss:.4f}"}
    if accuracy is not None:
        postfix["acc"] = f"{accuracy:.3f}"
    postfix["lr"] = f"{lr:.2e}"
    postfix["img/s"] = f"{images_per_s:.0f}"
    bar.set_postfix(postfix, refresh=False)
    bar.update(1)


def _print_line(text):
    from tqdm.auto import tqdm

    tqdm.write(text)  # prints without breaking a progress bar


def _validate(model, loader, loss_fn, device, ema):
    if ema is None:
        return evaluate(model, loader, loss_fn, device)
    with ema.swapped_into(model):
        return evaluate(model, loader, loss_fn, device)


def evaluate(model, loader, loss_fn=F.cross_entropy, device=None):
    """Mean loss and accuracy of ``model`` over ``loader`` -> (loss, accuracy).

    Runs in eval mode (dropout off, batch norm uses running statistics) under ``no_grad``,
    and puts the model back in the mode it was in. The loss is the sample-weighted mean of
    the batch losses; accuracy is NaN when outputs are not class scores.
    """
    was_training = model.training
    model.eval()
    loss_sum, samples, correct, classified = 0.0, 0, 0, 0
    try:
        with no_grad():
            for batch in loader:
                inputs, targets = _split_batch(batch, device)
                outputs = model(inputs)
                size = inputs.shape[0]
                loss_sum += float(loss_fn(outputs, targets).item()) * size
                samples += size
                batch_correct = count_correct(outputs, targets)
                if batch_correct is not None:
                    correct += batch_correct
                    classified += size
    finally:
        model.train(was_training)
    if samples == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    accuracy = correct / classified if classified else math.nan
    return loss_sum / samples, accuracy


def predict(model, loader, device=None, return_targets=False):
    """Model outputs for every batch of ``loader``, concatenated: NumPy (N, ...) on the host.

    ``loader`` yields ``(inputs, targets)`` tuples or bare input Tensors. With
    ``return_targets=True`` returns ``(outputs, targets)`` (targets as NumPy too).
    Eval mode and ``no_grad``, as in ``evaluate``.
    """
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (tuple, list)):
                    inputs, batch_targets = _split_batch(batch, device)
                    targets.append(_host(batch_targets.data))
                else:
                    inputs = batch if device is None else batch.to(device)
                outputs.append(_host(model(inputs).data))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: the loader yielded no batches")
    result = np.concatenate(outputs)
    if return_targets:
        if len(targets) != len(outputs):
            raise ValueError("predict: return_targets=True needs batches of (inputs, targets)")
        return result, np.concatenate(targets)
    return result


def count_correct(outputs, targets):
    """Number of samples whose highest score is the target class, or None when the batch
    is not classification: outputs (N, C, ...) scores, targets (N, ...) integer classes."""
    out, tgt = outputs.data, targets.data
    if out.ndim < 2 or tgt.ndim != out.ndim - 1 or tgt.dtype.kind not in "iu":
        return None
    if tgt.shape[0] != out.shape[0] or tuple(tgt.shape[1:]) != tuple(out.shape[2:]):
        return None
    return int((out.argmax(axis=1) == tgt).sum())


def _split_batch(batch, device):
    """(inputs, targets) Tensors from a loader batch, moved to ``device``."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError("fit/evaluate: each batch must be a tuple (inputs, targets), got "
                        f"{type(batch).__name__}")
    inputs, targets = _as_tensor(batch[0]), _as_tensor(batch[1])
    if device is not None:
        inputs, targets = inputs.to(device), targets.to(device)
    return inputs, targets


def _as_tensor(value):
    return value if isinstance(value, Tensor) else Tensor(value)


def _host(array):
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)
