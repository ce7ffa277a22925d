"""Ensembles: several models vote, or one run leaves several snapshots, or weights are averaged.

    probs = ensemble_probabilities([m1, m2, m3], test_loader)     # (N, C): mean of softmaxes
    labels = majority_vote([m1, m2, m3], test_loader)             # (N,): most frequent argmax

Snapshot ensembles (Huang et al. 2017) get M models for the price of one run: a cyclic
cosine schedule drives the lr down to a minimum M times, and the weights at each minimum
are kept::

    sched = cyclic_cosine(optimizer, cycle_epochs=3)               # lr restarts every 3 epochs
    snapshots = SnapshotEnsemble(every=3)
    fit(model, loader, optimizer=optimizer, scheduler=sched, epochs=9, callbacks=[snapshots])
    models = snapshots.models(lambda: lenet5())                    # 3 models, one per cycle

``average_parameters(state_dicts)`` averages the weights themselves (one model, no extra
cost at test time; it works for snapshots of one run, which stay in one basin).
"""
import math
import os
from collections import OrderedDict

import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..optim.lr_scheduler import LambdaLR
from ..serialization import save
from .callbacks import Callback


def _input_batches(inputs):
    """Input Tensors from a Tensor (one batch), or from a loader of (inputs, targets) / inputs."""
    if isinstance(inputs, Tensor):
        yield inputs
        return
    for batch in inputs:
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def _host(array):
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def _softmax(logits):
    """Row-wise softmax over axis 1: exp(z - max z) / sum exp(z - max z)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


def _model_outputs(models, inputs):
    """[(N, C) logits of each model], in eval mode, no_grad; modes restored afterwards."""
    if len(models) == 0:
        raise ValueError("ensemble: got an empty list of models")
    outputs = []
    for model in models:
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                parts = [_host(model(x).data).astype(np.float64) for x in _input_batches(inputs)]
        finally:
            model.train(was_training)
        outputs.append(np.concatenate(parts))
    shapes = {o.shape for o in outputs}
    if len(shapes) != 1:
        raise ValueError(f"ensemble: the models' outputs have different shapes {sorted(shapes)}")
    return outputs


def ensemble_probabilities(models, inputs):
    """Average of the models' class probabilities: mean_m softmax(f_m(x)) -> (N, C) float64.

    ``inputs``: a Tensor batch or a loader (re-iterated once per model: use no shuffling).
    """
    probabilities = [_softmax(logits) for logits in _model_outputs(models, inputs)]
    return np.mean(probabilities, axis=0)


def majority_vote(models, inputs):
    """The class predicted by most models -> (N,) int64; a tie goes to the smallest class index."""
    outputs = _model_outputs(models, inputs)
    num_classes = outputs[0].shape[1]
    votes = np.zeros((outputs[0].shape[0], num_classes), dtype=np.int64)  # (N, C) vote counts
    for logits in outputs:
        predicted = logits.argmax(axis=1)
        votes[np.arange(len(predicted)), predicted] += 1
    return votes.argmax(axis=1)  # argmax returns the first maximum: the smallest class index


def average_parameters(state_dicts):
    """The element-wise mean of several state dicts with the same keys and shapes.

    Floating entries are averaged (w = (w_1 + ... + w_M) / M); integer entries (counters such
    as ``num_batches_tracked``) are taken from the first. Values come back as NumPy arrays.
    """
    state_dicts = list(state_dicts)
    if not state_dicts:
        raise ValueError("average_parameters: got no state dicts")
    first = state_dicts[0]
    for i, other in enumerate(state_dicts[1:], start=1):
        if list(other) != list(first):
            raise ValueError(f"average_parameters: state dict {i} has different keys: "
                             f"{sorted(set(other) ^ set(first))}")
    averaged = OrderedDict()
    for key in first:
        arrays = [_host(sd[key].data if isinstance(sd[key], Tensor) else sd[key]) for sd in state_dicts]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"average_parameters: {key!r} has different shapes {sorted(shapes)}")
        if np.issubdtype(arrays[0].dtype, np.floating):
            averaged[key] = (np.sum(arrays, axis=0, dtype=np.float64) / len(arrays)).astype(arrays[0].dtype)
        else:
            averaged[key] = arrays[0].copy()
    return averaged


def cyclic_cosine(optimizer, cycle_epochs, min_factor=0.0):
    """lr(t) = base_lr * (m + (1 - m) * (1 + cos(pi * (t mod C) / C)) / 2), m = min_factor:
    a cosine from base_lr down towards m * base_lr, restarting every C = cycle_epochs epochs."""
    if cycle_epochs < 1:
        raise ValueError(f"cyclic_cosine: cycle_epochs must be >= 1, got {cycle_epochs}")

    def factor(epoch):
        phase = (epoch % cycle_epochs) / cycle_epochs
        return min_factor + (1.0 - min_factor) * (1.0 + math.cos(math.pi * phase)) / 2.0
    return LambdaLR(optimizer, factor)


class SnapshotEnsemble(Callback):
    """Keep a copy of the weights at the end of chosen epochs (1-based).

    Args:
        epochs: the epochs to snapshot, e.g. [3, 6, 9]; or
        every (int): snapshot every ``every`` epochs (the end of each cyclic-cosine cycle).
        directory: if given, each snapshot is also saved as ``snapshot_epoch{N}.npz`` there.

    ``snapshots`` is a list of ``(epoch, state_dict of NumPy arrays)``.
    """

    def __init__(self, epochs=None, every=None, directory=None):
        if (epochs is None) == (every is None):
            raise ValueError("SnapshotEnsemble: give either epochs=[...] or every=N")
        self.epochs = None if epochs is None else {int(e) for e in epochs}
        self.every = every
        self.directory = directory
        self.snapshots = []

    def _wanted(self, epoch_number):
        if self.epochs is not None:
            return epoch_number in self.epochs
        return epoch_number % self.every == 0

    def on_epoch_end(self, state):
        epoch_number = state.epoch + 1
        if not self._wanted(epoch_number):
            return
        weights = OrderedDict((key, _host(t.data).copy()) for key, t in state.model.state_dict().items())
        self.snapshots.append((epoch_number, weights))
        if self.directory is not None:
            os.makedirs(self.directory, exist_ok=True)
            save(weights, os.path.join(self.directory, f"snapshot_epoch{epoch_number}.npz"))

    def models(self, build_model):
        """One model per snapshot: ``build_model()`` with that snapshot's weights loaded."""
        result = []
        for _, weights in self.snapshots:
            model = build_model()
            model.load_state_dict(weights)
            result.append(model)
        return result

    def state_dicts(self):
        return [weights for _, weights in self.snapshots]
