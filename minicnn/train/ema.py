"""``ModelEMA``: an exponential moving average of a model's weights.

After every optimizer step::

    ema_w <- decay * ema_w + (1 - decay) * w          (for every floating state-dict entry)

The average moves slowly along the noisy path SGD takes, so it usually sits closer to the
bottom of the valley than the last iterate: evaluating with the EMA weights often gives a
slightly better, steadier accuracy. Integer entries (BatchNorm's ``num_batches_tracked``)
are copied, not averaged.

    ema = ModelEMA(model, decay=0.99)
    fit(model, loader, val_loader, optimizer, ema=ema)      # fit calls ema.update(model)
    with ema.swapped_into(model):                           # temporarily use EMA weights
        print(evaluate(model, test_loader))
    ema.copy_to(model)                                      # or keep them for good
"""
import contextlib

import numpy as np

from ..autograd.device import device_of, move_array
from ..autograd.grad_mode import no_grad


class ModelEMA:
    """Keeps ``shadow``: an EMA copy of ``model.state_dict()`` (raw arrays, same keys).

    Args:
        model: the model whose weights are averaged (its current weights start the average).
        decay (float): in [0, 1); the weight of the old average each update. The average
            remembers roughly the last ``1 / (1 - decay)`` steps.
    """

    def __init__(self, model, decay=0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ModelEMA: decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {key: tensor.data.copy() for key, tensor in model.state_dict().items()}

    def _entries(self, model):
        entries = model.state_dict()
        if set(entries) != set(self.shadow):
            missing = sorted(set(self.shadow) - set(entries))
            extra = sorted(set(entries) - set(self.shadow))
            raise ValueError(f"ModelEMA: the model's state-dict keys differ from the average's "
                             f"(missing {missing}, unexpected {extra})")
        return entries

    def update(self, model):
        """Fold the model's current weights into the average (call after optimizer.step())."""
        self.updates += 1
        with no_grad():
            for key, tensor in self._entries(model).items():
                average = self.shadow[key]
                if np.issubdtype(average.dtype, np.floating):
                    # ema = decay * ema + (1 - decay) * w, in place
                    average *= self.decay
                    average += (1.0 - self.decay) * tensor.data
                else:
                    average[...] = tensor.data

    def copy_to(self, model):
        """Write the averaged weights into ``model`` (in place; Parameter objects kept)."""
        model.load_state_dict(self.shadow)

    @contextlib.contextmanager
    def swapped_into(self, model):
        """Inside the ``with`` block ``model`` holds the EMA weights; afterwards its own again."""
        saved = {key: tensor.data.copy() for key, tensor in self._entries(model).items()}
        self.copy_to(model)
        try:
            yield model
        finally:
            model.load_state_dict(saved)

    def state_dict(self):
        """For checkpoints: {'decay', 'updates', 'shadow': {key: array}}."""
        return {"decay": self.decay, "updates": self.updates,
                "shadow": {key: value.copy() for key, value in self.shadow.items()}}

    def load_state_dict(self, state):
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):
            raise ValueError(f"ModelEMA.load_state_dict: keys differ: "
                             f"{sorted(set(shadow) ^ set(self.shadow))}")
        for key, value in shadow.items():
            value = value.data if hasattr(value, "requires_grad") else value
            if tuple(value.shape) != tuple(self.shadow[key].shape):
                raise ValueError(f"ModelEMA.load_state_dict: shape mismatch for {key}: "
                                 f"{tuple(value.shape)} vs {tuple(self.shadow[key].shape)}")
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        for key, value in shadow.items():
            value = value.data if hasattr(value, "requires_grad") else value
            target = self.shadow[key]
            self.shadow[key] = move_array(value, device_of(target)).astype(target.dtype, copy=True)
