"""Training curves: loss/accuracy per epoch, per-step loss with a moving average, the LR.

Each function takes a ``minicnn.train.History`` or its ``to_dict()`` dict, whose fields are
plain lists: per epoch ``train_loss, train_acc, val_loss, val_acc, lr, epoch_time,
images_per_s`` (val lists may be empty) and per step ``step_loss, step_lr``.
"""
import numpy as np
from matplotlib.figure import Figure

from .figure import finish

__all__ = ["plot_history", "plot_step_loss", "plot_lr", "moving_average"]


def _as_dict(history):
    """The History's fields as a dict of lists (a History has ``to_dict()``)."""
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    if not isinstance(history, dict):
        raise TypeError(f"minicnn.viz: expected a History or a dict of lists, got {type(history).__name__}")
    return history


def _series(history, key):
    """``history[key]`` as a float array (missing key -> empty)."""
    return np.asarray(history.get(key) or [], dtype=np.float64)


def moving_average(values, window):
    """Trailing mean: out[i] = mean(values[max(0, i - window + 1) : i + 1]).

    The first ``window - 1`` entries average over the steps seen so far, so the curve
    starts at step 1 instead of step ``window``. NaN/inf losses (a diverged step) are left
    out of the mean instead of spoiling every later value. (N,) -> (N,).
    """
    if int(window) < 1:
        raise ValueError(f"moving_average: window must be >= 1, got {window}")
    window = int(window)
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    # windowed sums from running sums: sum(v[s:e]) = running[e] - running[s]
    running_sum = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    running_count = np.concatenate([[0], np.cumsum(finite)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    sums = running_sum[ends] - running_sum[starts]
    counts = running_count[ends] - running_count[starts]
    out = np.full(len(values), np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def _plot_pair(ax, history, train_key, val_key, ylabel):
    """Train (solid) and validation (dashed) curves over epochs 1, 2, ... on one axes."""
    train = _series(history, train_key)
    val = _series(history, val_key)
    if len(train):
        ax.plot(np.arange(1, len(train) + 1), train, marker="o", markersize=3, label="train")
    if len(val):
        ax.plot(np.arange(1, len(val) + 1), val, marker="o", markersize=3, linestyle="--", label="val")
    if not len(train) and not len(val):
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend()
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def plot_history(history, path=None):
    """Two panels: loss and accuracy per epoch, train vs validation. Returns the Figure."""
    history = _as_dict(history)
    fig = Figure(figsize=(10, 4))
    loss_ax = fig.add_subplot(1, 2, 1)
    acc_ax = fig.add_subplot(1, 2, 2)
    _plot_pair(loss_ax, history, "train_loss", "val_loss", "loss")
    loss_ax.set_title("loss")
    _plot_pair(acc_ax, history, "train_acc", "val_acc", "accuracy")
    acc_ax.set_title("accuracy")
    fig.tight_layout()
    return finish(fig, path)


def plot_step_loss(history, smooth=50, path=None):
    """The loss of every mini-batch (faint) and its ``smooth``-step moving average."""
    history = _as_dict(history)
    loss = _series(history, "step_loss")
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot(1, 1, 1)
    steps = np.arange(1, len(loss) + 1)
    if len(loss):
        ax.plot(steps, loss, alpha=0.3, linewidth=0.8, label="per step")
        window = max(1, min(int(smooth), len(loss)))
        ax.plot(steps, moving_average(loss, window), linewidth=2, label=f"moving average ({window} steps)")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no steps recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("training loss per step")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return finish(fig, path)


def plot_lr(history, path=None):
    """The learning-rate schedule: per step when ``step_lr`` was recorded, else per epoch."""
    history = _as_dict(history)
    step_lr = _series(history, "step_lr")
    epoch_lr = _series(history, "lr")
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    if len(step_lr):
        ax.plot(np.arange(1, len(step_lr) + 1), step_lr)
        ax.set_xlabel("step")
    elif len(epoch_lr):
        ax.plot(np.arange(1, len(epoch_lr) + 1), epoch_lr, marker="o", markersize=3)
        ax.set_xlabel("epoch")
    else:
        ax.text(0.5, 0.5, "no learning rate recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("learning rate")
    ax.set_title("learning-rate schedule")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return finish(fig, path)
