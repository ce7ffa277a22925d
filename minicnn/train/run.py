"""Whole runs behind the ``minicnn`` command: train (or resume) into a folder, evaluate a
checkpoint, and a small random search. Each returns a summary dict; ``log`` prints.

A training folder holds::

    checkpoint.npz   the last epoch (weights, optimizer, scheduler, RNG, history, config)
    best.npz         the epoch with the best validation accuracy (same format)
    history.json     the History
    curves.png, lr.png, step_loss.png, filters.png, confusion_matrix.png, misclassified.png
"""
import contextlib
import os
import time

import numpy as np

from ..autograd.random import manual_seed
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, read_checkpoint
from .callbacks import Callback
from .divergence import TrainingDiverged
from .ema import ModelEMA
from .experiment import (build_model, build_optimizer, build_scheduler, fast_forward, make_config,
                         prepare_data)
from .fit import evaluate, fit, predict
from .search import LogUniform, random_search

LAST_NAME, BEST_NAME, HISTORY_NAME = "checkpoint.npz", "best.npz", "history.json"


@contextlib.contextmanager
def compute_threads(count=1):
    """Run the block with minicnn's kernels on ``count`` threads and BLAS on one (None: leave
    the libraries' own settings).

    One pool of threads does all the parallel work: minicnn's convolutions run their batch
    chunks on ``count`` threads (``kernels.cpu.set_num_threads``), batch norm and ReLU split
    their arrays between them, and a large fully connected layer splits its matrix products
    (``kernels/cpu/linalg.py``); every BLAS call runs on one thread (threadpoolctl).
    OpenBLAS's own threads spin after each call, on the cores the pool needs: two pools of
    spinning threads (OpenMP's, OpenBLAS's) once made the LeNet demo take 29-190 s instead
    of 6.5-9 s, and BLAS on two threads beside the pool made a LeNet-5 step 7.5-8.0 ms
    instead of 6.0-6.9 (2 cores). One thread is the default of the ``minicnn`` command.
    """
    if count is None:
        yield
        return
    from kernels import cpu as cpu_kernels
    before = cpu_kernels.get_num_threads()
    cpu_kernels.set_num_threads(max(1, int(count)))
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield
        else:
            with threadpool_limits(limits=1, user_api="blas"):
                yield
    finally:
        cpu_kernels.set_num_threads(before)


class StopAfter(Callback):
    """Stop after ``epochs`` epochs of the run (simulates an interrupted run, for tests)."""

    def __init__(self, epochs):
        self.epochs = int(epochs)

    def on_epoch_end(self, state):
        if state.epoch + 1 >= self.epochs:
            state.stop_training = True
            state.stop_reason = f"stopped after epoch {self.epochs} (--stop-after)"


def _loss_fn(config):
    from functools import partial

    from .. import functional as F
    return partial(F.cross_entropy, label_smoothing=float(config["label_smoothing"]))


def _check_model_fits(model, data, config):
    """One forward pass on one image, so a model/dataset mismatch fails now, clearly."""
    from ..autograd.grad_mode import no_grad

    inputs, _ = next(iter(data.test_loader))
    try:
        with no_grad():
            model.eval()
            model(inputs[:1])
    except (ValueError, TypeError, RuntimeError) as error:
        raise ValueError(f"model {config['model']!r} does not accept {config['dataset']} images of "
                         f"shape {tuple(inputs.shape[1:])}: {error}") from error
    finally:
        model.train()


def train_run(out_dir, config=None, resume=False, epochs=None, progress=True, log=print,
              stop_after=None, plots=True):
    """Train ``config`` (see ``experiment.make_config``) into ``out_dir``; or, with ``resume``,
    continue the run saved there (its config is used; ``epochs`` may extend it).

    Returns a summary dict: test_acc and test_loss (of the last epoch's model), best_epoch
    and best_test_acc (the epoch with the best validation accuracy), epochs,
    seconds_per_epoch, images_per_s, total_seconds, out_dir, stop_reason.
    """
    last_path = os.path.join(out_dir, LAST_NAME)
    if resume:
        if not os.path.isfile(last_path):
            raise FileNotFoundError(f"--resume: no checkpoint at {last_path}; train into that folder first")
        saved = read_checkpoint(last_path)
        if "config" not in saved["extra"]:
            raise CheckpointError(f"{last_path!r} has no training config (not written by `minicnn train`)")
        config = dict(saved["extra"]["config"])
    elif os.path.isfile(last_path):
        log(f"note: starting a new run in {out_dir}; it replaces the checkpoints there "
            "(--resume would continue it)")
        stale_best = os.path.join(out_dir, BEST_NAME)
        if os.path.isfile(stale_best):
            os.remove(stale_best)  # it belongs to the old run: never report it for the new one
    old_epochs = None if config is None else config.get("epochs")
    config = make_config(**(config or {}))
    if epochs is not None:
        old_epochs, config["epochs"] = config["epochs"], int(epochs)
    os.makedirs(out_dir, exist_ok=True)

    manual_seed(config["seed"])
    data = prepare_data(config)
    model = build_model(config, data)
    _check_model_fits(model, data, config)
    optimizer = build_optimizer(config, model)
    steps_per_epoch = len(data.train_loader)
    scheduler = build_scheduler(config, optimizer, steps_per_epoch)
    ema = ModelEMA(model, config["ema_decay"]) if config["ema_decay"] else None
    history, start_epoch = None, 0
    if resume:
        stretched = old_epochs is not None and config["epochs"] != old_epochs
        info = load_checkpoint(last_path, model, optimizer, None if stretched else scheduler,
                               loaders=[data.train_loader], ema=ema)
        history, start_epoch = info["history"], info["epoch"]
        if stretched:  # the schedule is rebuilt for the new length and moved to this epoch
            # from the run's base rates: the loaded rates are where the old schedule ended
            # (0 after a finished cosine), and a chained schedule would go on from those
            for group in optimizer.param_groups:
                group["lr"] = group.get("initial_lr", group["lr"])
            scheduler = build_scheduler(config, optimizer, steps_per_epoch)
            fast_forward(scheduler, start_epoch, steps_per_epoch)
            log(f"note: the run now lasts {config['epochs']} epochs instead of {old_epochs}; "
                "the learning-rate schedule was stretched to the new length")
        if start_epoch >= config["epochs"]:
            log(f"the run in {out_dir} has already done {start_epoch} of {config['epochs']} epochs; "
                "pass a larger --epochs to train further")
        else:
            log(f"resuming {out_dir} at epoch {start_epoch + 1} of {config['epochs']}")
    checkpoint_config = dict(config)
    callbacks = [Checkpoint(out_dir, monitor="val_acc", save_best=data.val_loader is not None,
                            extra={"config": checkpoint_config})]
    if stop_after is not None:
        callbacks.append(StopAfter(stop_after))

    started = time.perf_counter()
    stop_reason = None
    try:
        history = fit(model, data.train_loader, data.val_loader, optimizer, epochs=config["epochs"],
                      scheduler=scheduler, loss_fn=_loss_fn(config), callbacks=callbacks,
                      grad_clip_norm=config["grad_clip"], ema=ema, progress=progress,
                      history=history, start_epoch=start_epoch, batch_transform=data.batch_transform)
        stop_reason = history.stop_reason
    except TrainingDiverged as error:
        history, stop_reason = error.history, str(error)
        log(f"stopped: {error}")
    total_seconds = time.perf_counter() - started
    history.save_json(os.path.join(out_dir, HISTORY_NAME))
    epochs_now = history.epochs - start_epoch

    summary = {"out_dir": out_dir, "epochs": history.epochs, "stop_reason": stop_reason,
               "total_seconds": total_seconds,
               "seconds_per_epoch": float(np.mean(history.epoch_time[start_epoch:])) if epochs_now > 0 else None,
               # every epoch sees the same number of images: the overall rate is the harmonic mean
               "images_per_s": _harmonic_mean(history.images_per_s[start_epoch:]) if epochs_now > 0 else None}
    if not os.path.isfile(last_path):
        return summary  # diverged in the first epoch: nothing saved to test
    result = evaluate_checkpoint(last_path, data=data)  # the final model: what the run produced
    summary.update(test_acc=result["accuracy"], test_loss=result["loss"],
                   best_epoch=result["best_epoch"])
    best_path = os.path.join(out_dir, BEST_NAME)
    if os.path.isfile(best_path) and result["best_epoch"] != history.epochs:
        summary["best_test_acc"] = evaluate_checkpoint(best_path, data=data)["accuracy"]
    elif os.path.isfile(best_path):
        summary["best_test_acc"] = result["accuracy"]  # the last epoch is the best one
    if plots:
        summary["plot_errors"] = make_plots(out_dir, history, result["model"], data,
                                            result["predictions"])
    return summary


def _harmonic_mean(rates):
    return float(len(rates) / sum(1.0 / rate for rate in rates))


def load_trained_model(path, data=None):
    """(model, config, data, checkpoint extra) from a checkpoint written by ``train_run``;
    EMA weights are used when the checkpoint has them."""
    document = read_checkpoint(path)
    extra = document["extra"]
    if "config" not in extra:
        raise CheckpointError(f"{path!r} has no training config (not written by `minicnn train`)")
    config = make_config(**extra["config"])
    if data is None:
        data = prepare_data(config)
    model = build_model(config, data)
    load_checkpoint(path, model, restore_rng=False)
    if document.get("ema") is not None:
        ema = ModelEMA(model, document["ema"]["decay"])
        ema.load_state_dict(document["ema"])
        ema.copy_to(model)
    return model, config, data, extra


def resolve_checkpoint(path, which="last"):
    """A checkpoint file from a file or a training folder (its checkpoint.npz, or best.npz)."""
    if os.path.isdir(path):
        names = [BEST_NAME] if which == "best" else [LAST_NAME]
        for name in names:
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(f"no {' or '.join(names)} in {path}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file {path}")
    return path


def evaluate_checkpoint(path, data=None):
    """Test loss/accuracy, predictions and the confusion matrix of a saved model."""
    model, config, data, extra = load_trained_model(path, data)
    loss, accuracy = evaluate(model, data.test_loader, _loss_fn(config))
    logits = predict(model, data.test_loader)
    predictions = logits.argmax(axis=1)
    return {"loss": loss, "accuracy": accuracy, "model": model, "config": config, "data": data,
            "predictions": predictions, "best_epoch": extra.get("best_epoch"),
            "confusion": confusion_matrix(data.test_labels, predictions, data.num_classes)}


def confusion_matrix(y_true, y_pred, num_classes):
    """counts[i, j] = number of samples of class i predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def make_plots(out_dir, history, model, data, predictions):
    """Write the PNGs; a failing picture is reported, never fatal -> list of error strings."""
    errors = []
    try:
        import matplotlib
        matplotlib.use("Agg")
        from .. import viz
    except Exception as error:  # noqa: BLE001 -- plots are optional; the checkpoint is safe
        return [f"minicnn.viz unavailable: {type(error).__name__}: {error}"]
    wrong = np.flatnonzero(predictions != data.test_labels)
    first_conv = next((m for m in model.modules() if type(m).__name__ == "Conv2d"), None)
    pictures = {
        "curves.png": lambda: viz.plot_history(history),
        "lr.png": lambda: viz.plot_lr(history),
        "step_loss.png": lambda: viz.plot_step_loss(history),
        "confusion_matrix.png": lambda: viz.plot_confusion_matrix(
            data.test_labels, predictions, class_names=list(data.classes)),
        "misclassified.png": lambda: viz.plot_misclassified(
            data.test_images[wrong].astype(np.float32) / 255.0, data.test_labels[wrong],
            predictions[wrong], max_images=16, class_names=list(data.classes)),
    }
    if first_conv is not None:
        pictures["filters.png"] = lambda: viz.plot_filters(first_conv.weight.data)
    for name, draw in pictures.items():
        try:
            figure = draw()
            viz.save_figure(figure, os.path.join(out_dir, name))
            import matplotlib.pyplot as plt
            plt.close(figure)
        except Exception as error:  # noqa: BLE001
            errors.append(f"{name}: {type(error).__name__}: {error}")
    return errors


def search_run(config, trials=6, fine_trials=3, coarse_epochs=1, fine_epochs=2,
               lr_range=(1e-4, 1e-1), wd_range=(1e-6, 1e-2), seed=0, log=print):
    """Random search over lr and weight decay for ``config`` -> SearchResult."""
    config = make_config(**config)
    if config["val_split"] == 0:
        raise ValueError("search needs a validation split (val_split > 0)")
    data = prepare_data(config)

    def train_fn(params, epochs):
        manual_seed(config["seed"])
        model = build_model(config, data)
        trial = dict(config, lr=params["lr"], weight_decay=params["weight_decay"], epochs=epochs)
        optimizer = build_optimizer(trial, model)
        scheduler = build_scheduler(trial, optimizer, len(data.train_loader))
        history = fit(model, data.train_loader, data.val_loader, optimizer, epochs=epochs,
                      scheduler=scheduler, loss_fn=_loss_fn(config), progress=False,
                      batch_transform=data.batch_transform)
        return {"val_acc": history.val_acc[-1], "val_loss": history.val_loss[-1]}

    space = {"lr": LogUniform(*lr_range), "weight_decay": LogUniform(*wd_range)}
    return random_search(train_fn, space, trials=trials, seed=seed, fine_trials=fine_trials,
                         coarse_epochs=coarse_epochs, fine_epochs=fine_epochs, log=log)
