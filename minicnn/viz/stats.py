"""Training diagnostics: activation histograms per layer and update/weight ratios.

Healthy activations are neither all zero (dead ReLUs) nor exploding; a healthy update
ratio ||lr * grad|| / ||weight|| sits around 1e-3 (CS231n's rule of thumb).
"""
import numpy as np
from matplotlib.figure import Figure

from .figure import empty_figure, finish, grid_shape, to_numpy

__all__ = ["plot_activation_histograms", "plot_update_ratios"]


def plot_activation_histograms(stats, bins=50, path=None):
    """One histogram per layer of its activation values.

    ``stats`` maps layer name -> dict with ``mean``, ``std``, ``frac_zero`` (floats) and
    ``sample`` (a 1-D array of activation values, NumPy or Tensor). Each title shows the
    layer, its mean, std and percentage of exact zeros.
    """
    if not isinstance(stats, dict):
        raise TypeError("plot_activation_histograms: expected a dict layer name -> stats, "
                        f"got {type(stats).__name__}")
    if not stats:
        return finish(empty_figure("no activation statistics"), path)
    rows, cols = grid_shape(len(stats), ncols=min(4, len(stats)))
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    for index, (name, layer) in enumerate(stats.items()):
        missing = [key for key in ("mean", "std", "frac_zero", "sample") if key not in layer]
        if missing:
            raise ValueError(f"plot_activation_histograms: stats for layer {name!r} lack {missing}; "
                             "expected keys mean, std, frac_zero, sample")
        ax = fig.add_subplot(rows, cols, index + 1)
        sample = to_numpy(layer["sample"]).reshape(-1).astype(np.float64)
        sample = sample[np.isfinite(sample)]
        if sample.size:
            ax.hist(sample, bins=bins, color="tab:blue", alpha=0.8)
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{name}\nmean {float(layer['mean']):.3g}  std {float(layer['std']):.3g}  "
                     f"zeros {100 * float(layer['frac_zero']):.1f}%", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return finish(fig, path)


def plot_update_ratios(ratios, reference=1e-3, path=None):
    """Update/weight norm ratio per parameter over steps, log y-axis, a line at ``reference``.

    ``ratios`` maps parameter name -> list of floats, ratio = ||delta w|| / ||w|| per step.
    Ratios far above 1e-3 mean the learning rate is too high; far below, too low.
    """
    if not isinstance(ratios, dict):
        raise TypeError("plot_update_ratios: expected a dict parameter name -> list of ratios, "
                        f"got {type(ratios).__name__}")
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    drew = False
    for name, values in ratios.items():
        values = to_numpy(values).reshape(-1).astype(np.float64)
        if values.size == 0:
            continue
        values = np.where(values > 0, values, np.nan)  # log axis: zero updates are gaps
        ax.plot(np.arange(1, values.size + 1), values, linewidth=1, label=name)
        drew = True
    ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=f"{reference:g}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("||update|| / ||weight||")
    ax.set_title("update / weight ratio per parameter")
    if not drew:
        ax.text(0.5, 0.5, "no ratios recorded", ha="center", va="center", transform=ax.transAxes)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return finish(fig, path)
