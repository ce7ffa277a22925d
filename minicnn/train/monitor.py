"""Looking inside a training network: activation statistics and update/weight ratios.

Activations (through forward hooks, removed when done)::

    with ActivationMonitor(model) as monitor:
        model(images)
    monitor.stats["features.1"]   # {"mean", "std", "frac_zero", "sample"} of that layer's output

A healthy network keeps activation std roughly constant from layer to layer; a ReLU layer
whose ``frac_zero`` approaches 1 is dying; ``sample`` feeds ``viz.plot_activation_histograms``.

Update ratios (Karpathy's rule of thumb: about 1e-3 per step)::

    ratio = ||w_after_step - w_before_step|| / ||w_before_step||

    monitor = UpdateRatioMonitor(model)
    fit(model, loader, optimizer=opt, callbacks=[monitor])
    monitor.ratios["classifier.1.weight"]     # one ratio per optimizer step

Much smaller ratios mean the learning rate is too low for that layer, much larger that it is
too high. Both monitors copy arrays to the host and use their own random generator, so they
do not change the run they observe.
"""
from collections import OrderedDict

import numpy as np

from ..autograd.grad_mode import no_grad
from .callbacks import Callback


def _host(array):
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def tensor_stats(array, sample_size=2000, rng=None):
    """{"mean", "std", "frac_zero", "sample"} of all values of ``array`` (std with ddof=0;
    frac_zero = fraction of values exactly 0; sample: at most ``sample_size`` values drawn
    without replacement, float64)."""
    values = _host(array).astype(np.float64).ravel()
    if values.size == 0:
        raise ValueError("tensor_stats: the array is empty")
    rng = np.random.default_rng(0) if rng is None else rng
    if values.size > sample_size:
        sample = values[rng.choice(values.size, size=sample_size, replace=False)]
    else:
        sample = values.copy()
    return {"mean": float(values.mean()), "std": float(values.std()),
            "frac_zero": float(np.mean(values == 0.0)), "sample": sample}


class ActivationMonitor:
    """Record ``tensor_stats`` of the outputs of chosen modules at every forward pass.

    Args:
        model: the network.
        layers: module names (as in ``model.named_modules()``) to watch; default every leaf
            module (one without children).
        sample_size (int): values kept per layer for histograms.
        seed (int): seeds the monitor's own generator for the samples.

    ``stats`` holds the latest forward pass: ``{layer_name: {"mean", "std", "frac_zero",
    "sample"}}`` in the order the layers ran. Use as a context manager or call ``remove()``.
    """

    def __init__(self, model, layers=None, sample_size=2000, seed=0):
        modules = dict(model.named_modules())
        if layers is None:
            layers = [name for name, module in modules.items()
                      if name and not any(True for _ in module.children())]
        unknown = [name for name in layers if name not in modules]
        if unknown:
            raise ValueError(f"ActivationMonitor: no module named {unknown}; "
                             f"known names: {[n for n in modules if n]}")
        self.sample_size = int(sample_size)
        self.rng = np.random.default_rng(seed)
        self.stats = OrderedDict()
        self.handles = [modules[name].register_forward_hook(self._hook(name)) for name in layers]

    def _hook(self, name):
        def record(module, inputs, output):
            self.stats.pop(name, None)  # keep the order of the latest pass
            self.stats[name] = tensor_stats(output.data, self.sample_size, self.rng)
        return record

    def remove(self):
        """Unregister every hook (the model runs as before)."""
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def activation_stats(model, inputs, layers=None, sample_size=2000):
    """One forward pass of ``inputs`` under ``no_grad`` -> ``ActivationMonitor.stats``."""
    with ActivationMonitor(model, layers, sample_size) as monitor:
        with no_grad():
            model(inputs)
    return monitor.stats


class UpdateRatioMonitor(Callback):
    """Per parameter and per optimizer step: ||w_new - w_old|| / ||w_old||.

    As a ``fit`` callback it snapshots the weights in ``on_before_optimizer_step`` and
    measures in ``on_step_end``; by hand call ``before_step()`` and ``after_step()`` around
    ``optimizer.step()``. ``ratios`` is ``{parameter_name: [ratio per step]}``.
    """

    def __init__(self, model, every=1):
        self.named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.every = int(every)
        self.ratios = OrderedDict((name, []) for name, _ in self.named)
        self._before = None
        self._calls = 0

    def before_step(self):
        self._calls += 1
        if (self._calls - 1) % self.every == 0:
            self._before = {name: _host(p.data).astype(np.float64) for name, p in self.named}

    def after_step(self):
        if self._before is None:
            return
        for name, p in self.named:
            old = self._before[name]
            change = np.linalg.norm(_host(p.data).astype(np.float64) - old)
            self.ratios[name].append(float(change / max(np.linalg.norm(old), 1e-12)))
        self._before = None

    def on_before_optimizer_step(self, state):
        self.before_step()

    def on_step_end(self, state):
        self.after_step()
