"""Checkpoints: everything needed to continue a run exactly where it stopped.

    save_checkpoint("run/checkpoint.npz", model, optimizer, scheduler, epoch=2, history=h,
                    loaders=[train_loader])
    ...                                              # later, maybe in a new process:
    model, optimizer, scheduler = build()            # built exactly as before
    info = load_checkpoint("run/checkpoint.npz", model, optimizer, scheduler, loaders=[train_loader])
    fit(model, train_loader, optimizer=optimizer, scheduler=scheduler, epochs=4,
        start_epoch=info["epoch"], history=info["history"])

gives the same losses, step for step, as four epochs without stopping (on the CPU). For
that a checkpoint holds, besides the weights:

    optimizer   momentum buffers, Adam moments and step counts, the current lr of each group
    scheduler   its epoch counter and rates
    rng         minicnn's random generator (dropout masks, augmentation, default shuffling)
    loader_rng  the generator of each DataLoader that shuffles with its own seed
    history     the measurements so far (the divergence guard's reference loss is in there)
    ema         the averaged weights, when a ModelEMA is used
    epoch       how many epochs are done; extra: anything else (the CLI stores its config)

The file is one ``mc.save`` archive (.npz + JSON, written atomically, read with
``allow_pickle=False``). A truncated or tampered file, a file that is not a checkpoint, or a
checkpoint whose shapes do not fit the model is refused with ``CheckpointError`` (a
ValueError) -- and then nothing has been changed: neither the objects being loaded into nor
any file on disk.
"""
import os

from ..autograd.random import get_rng_state, set_rng_state
from ..serialization import load, save
from .callbacks import Callback
from .history import History

CHECKPOINT_FORMAT = "minicnn-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file was refused (unreadable, not a checkpoint, or does not fit)."""


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch=0, history=None, extra=None,
                    *, loaders=(), ema=None):
    """Write a checkpoint to ``path`` (atomically: the previous file survives a crash).

    Args:
        path: the file name (kept as given; ".npz" is the usual ending).
        model, optimizer, scheduler: their ``state_dict()`` are stored (optimizer and
            scheduler may be None).
        epoch (int): completed epochs (``fit``'s ``start_epoch`` when resuming).
        history: a ``History`` (or None).
        extra (dict): any further plain values to keep (a config, the best epoch, ...).
        loaders: DataLoaders whose own shuffling generators should be saved.
        ema: a ``ModelEMA`` to save with the model.
    """
    document = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": get_rng_state(),
        "loader_rng": [_loader_generator_state(loader) for loader in loaders],
        "history": None if history is None else history.to_dict(),
        "ema": None if ema is None else ema.state_dict(),
        "extra": {} if extra is None else dict(extra),
    }
    save(document, path)


def read_checkpoint(path):
    """The checked contents of a checkpoint file as a dict (nothing is loaded anywhere)."""
    path = os.fspath(path)
    try:
        document = load(path, map_location="cpu")
    except ValueError as error:
        raise CheckpointError(f"refusing checkpoint {path!r}: {error}") from error
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"refusing {path!r}: it is a minicnn file but not a checkpoint "
                              f"(written by mc.save, not save_checkpoint)")
    if document.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"refusing checkpoint {path!r}: format version "
                              f"{document.get('version')!r}, expected {CHECKPOINT_VERSION}")
    return document


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, *, loaders=(), ema=None,
                    restore_rng=True):
    """Load a checkpoint into the given objects; returns ``{"epoch", "history", "extra"}``.

    Every object given is restored (model weights, optimizer and scheduler state, EMA,
    the loaders' shuffling generators) and, with ``restore_rng``, minicnn's generator.
    Either everything is restored or -- when the file is refused -- nothing is: the model's
    weights are put back if a later part fails. ``history`` is a ``History`` (or None).
    """
    document = read_checkpoint(path)
    backup = None
    if model is not None:
        backup = {key: tensor.data.copy() for key, tensor in model.state_dict().items()}
    try:
        if model is not None:
            model.load_state_dict(document["model"])  # checks every key and shape first
        if optimizer is not None:
            _require(document, "optimizer", path)
            optimizer.load_state_dict(document["optimizer"])
        if scheduler is not None:
            _require(document, "scheduler", path)
            scheduler.load_state_dict(document["scheduler"])
        if ema is not None:
            _require(document, "ema", path)
            ema.load_state_dict(document["ema"])
        _restore_loaders(loaders, document["loader_rng"], path)
    except (ValueError, KeyError, TypeError) as error:
        if backup is not None:
            model.load_state_dict(backup)
        raise CheckpointError(f"refusing checkpoint {path!r}: it does not fit: {error}") from error
    if restore_rng:
        set_rng_state(document["rng"])
    history = document["history"]
    return {"epoch": int(document["epoch"]),
            "history": None if history is None else History.from_dict(history),
            "extra": document["extra"]}


def _require(document, part, path):
    if document.get(part) is None:
        raise ValueError(f"the checkpoint {path!r} holds no {part} state")


def _loader_generator_state(loader):
    generator = getattr(loader, "generator", None)
    return None if generator is None else generator.bit_generator.state


def _restore_loaders(loaders, states, path):
    loaders = list(loaders)
    if not loaders:
        return
    if len(states) != len(loaders):
        raise ValueError(f"the checkpoint holds the state of {len(states)} loader(s), "
                         f"{len(loaders)} given")
    for loader, state in zip(loaders, states):
        has_generator = getattr(loader, "generator", None) is not None
        if has_generator != (state is not None):
            raise ValueError("a loader's shuffling generator does not match the checkpoint "
                             "(seeded in one run, unseeded in the other)")
    for loader, state in zip(loaders, states):
        if state is not None:
            loader.generator.bit_generator.state = state


class Checkpoint(Callback):
    """Save ``directory/checkpoint.npz`` after every epoch, and ``directory/best.npz`` when
    ``monitor`` reaches its best value so far (max for *_acc, min for *_loss).

    Both are full checkpoints (``load_checkpoint`` reads either); ``extra`` gets
    ``best_epoch`` (1-based) and whatever ``extra`` was given here.
    """

    def __init__(self, directory, monitor="val_acc", save_best=True, extra=None,
                 last_name="checkpoint.npz", best_name="best.npz"):
        self.directory = os.fspath(directory)
        self.monitor = monitor
        self.save_best = save_best
        self.extra = dict(extra or {})
        self.last_path = os.path.join(self.directory, last_name)
        self.best_path = os.path.join(self.directory, best_name)

    def on_train_begin(self, state):
        os.makedirs(self.directory, exist_ok=True)

    def _best_epoch(self, history):
        values = getattr(history, self.monitor)
        if not values:
            return None
        try:
            return history.best_epoch(self.monitor)
        except ValueError:  # only NaN so far
            return None

    def on_epoch_end(self, state):
        history = state.history
        best_epoch = self._best_epoch(history) if self.save_best else None
        extra = dict(self.extra)
        extra["best_epoch"] = None if best_epoch is None else best_epoch + 1
        kwargs = dict(loaders=[state.train_loader], ema=state.ema)
        if best_epoch is not None and best_epoch == history.epochs - 1:
            save_checkpoint(self.best_path, state.model, state.optimizer, state.scheduler,
                            state.epoch + 1, history, extra, **kwargs)
        save_checkpoint(self.last_path, state.model, state.optimizer, state.scheduler,
                        state.epoch + 1, history, extra, **kwargs)
