"""``History``: what a training run measured, step by step and epoch by epoch.

    history = fit(model, train_loader, val_loader, optimizer, epochs=8)
    history.val_acc[-1]          # validation accuracy after the last epoch
    history.save_json("runs/lenet/history.json")

Fields (plain Python lists of floats, so the object is JSON-able; ``minicnn.viz`` plots them):

    per optimizer step   step_loss   the training loss of that mini-batch
                         step_lr     the learning rate of the first parameter group
    per epoch            train_loss  mean training loss over the epoch's batches
                         train_acc   fraction of training samples classified correctly
                         val_loss    validation loss (empty when fit had no val_loader)
                         val_acc     validation accuracy (empty when fit had no val_loader)
                         lr          the learning rate used during that epoch
                         epoch_time  seconds for the epoch (training + validation)
                         images_per_s  training throughput (samples / training seconds)

``stop_reason`` is None for a run that ran all its epochs, else a sentence saying why it
stopped early (early stopping, divergence).
"""
import json
import math

from ..atomic import atomic_write

STEP_FIELDS = ("step_loss", "step_lr")
EPOCH_FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time", "images_per_s")
FIELDS = STEP_FIELDS + EPOCH_FIELDS


class History:
    """Lists of measurements, one entry per step or per epoch (see the module docstring)."""

    def __init__(self):
        for name in FIELDS:
            setattr(self, name, [])
        self.stop_reason = None

    # ----- reading ---------------------------------------------------------------------------
    @property
    def epochs(self):
        """Number of completed epochs."""
        return len(self.train_loss)

    @property
    def steps(self):
        """Number of optimizer steps taken."""
        return len(self.step_loss)

    def best_epoch(self, metric="val_acc"):
        """Index (0-based) of the best epoch by ``metric`` (max for *_acc, min for *_loss).

        Accuracy ties (common on a small validation set) go to the epoch with the lower
        matching loss (val_acc -> val_loss), then to the earlier epoch.
        """
        values = getattr(self, metric)
        if not values:
            raise ValueError(f"History.best_epoch: no values recorded for {metric!r}")
        finite = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
        if not finite:
            raise ValueError(f"History.best_epoch: every {metric!r} value is NaN or inf")
        if not metric.endswith("acc"):
            return min(finite, key=lambda i: (values[i], i))
        losses = getattr(self, metric[:-3] + "loss", [])
        if len(losses) != len(values):
            losses = [0.0] * len(values)
        return min(finite, key=lambda i: (-values[i], losses[i], i))

    # ----- saving ----------------------------------------------------------------------------
    def to_dict(self):
        """A plain dict ``{field: list of floats, "stop_reason": str or None}``."""
        data = {name: [float(v) for v in getattr(self, name)] for name in FIELDS}
        data["stop_reason"] = self.stop_reason
        return data

    @classmethod
    def from_dict(cls, data):
        """Rebuild from ``to_dict()`` output (missing fields become empty lists)."""
        if not isinstance(data, dict):
            raise TypeError(f"History.from_dict: expected a dict, got {type(data).__name__}")
        unknown = set(data) - set(FIELDS) - {"stop_reason"}
        if unknown:
            raise ValueError(f"History.from_dict: unknown field(s) {sorted(unknown)}; "
                             f"expected some of {list(FIELDS)}")
        history = cls()
        for name in FIELDS:
            setattr(history, name, [float(v) for v in data.get(name, [])])
        history.stop_reason = data.get("stop_reason")
        return history

    def save_json(self, path):
        """Write ``to_dict()`` as JSON (NaN/inf written as the strings "NaN"/"Infinity"/...)."""
        text = json.dumps(_encode_nonfinite(self.to_dict()), indent=1)
        with atomic_write(path, "w", encoding="utf-8") as f:  # a crash keeps the previous file
            f.write(text)

    @classmethod
    def load_json(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(_decode_nonfinite(json.load(f)))

    def __repr__(self):
        last = ""
        if self.train_loss:
            last = f", last train_loss={self.train_loss[-1]:.4f}"
            if self.val_acc:
                last += f", val_acc={self.val_acc[-1]:.4f}"
        return f"History(epochs={self.epochs}, steps={self.steps}{last})"


_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode_nonfinite(data):
    """Strict JSON has no NaN: write non-finite floats as strings."""
    encoded = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = [v if math.isfinite(v) else json.dumps(v) for v in value]
        encoded[key] = value
    return encoded


def _decode_nonfinite(data):
    decoded = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = [_NONFINITE[v] if isinstance(v, str) else v for v in value]
        decoded[key] = value
    return decoded
