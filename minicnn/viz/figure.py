"""Shared helpers of ``minicnn.viz``: saving a figure, turning inputs into arrays, image grids.

Every plot builds a ``matplotlib.figure.Figure`` directly (not ``pyplot``), so nothing needs
a display, no global "current figure" is touched, and two threads can draw at once.
"""
import math
import os

import numpy as np
from matplotlib.figure import Figure

from ..atomic import atomic_write
from ..autograd.device import move_array
from ..autograd.tensor import Tensor

__all__ = ["save_figure", "to_numpy"]


def save_figure(fig, path, dpi=100):
    """Write ``fig`` to ``path`` (PNG unless the extension says otherwise), atomically.

    Parent folders are created. The image goes to a temporary file in the same folder that
    is then renamed onto ``path``, so a crash mid-write never leaves a half-written picture.
    Returns ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    image_format = extension if extension else "png"
    with atomic_write(path) as f:
        fig.savefig(f, format=image_format, dpi=dpi, bbox_inches="tight")
    return path


def finish(fig, path):
    """Save ``fig`` when a ``path`` was given; return the figure either way."""
    if path is not None:
        save_figure(fig, path)
    return fig


def to_numpy(x):
    """A NumPy array from a Tensor/Parameter (any device), a NumPy array or a list."""
    if isinstance(x, Tensor):
        x = x.data
    return move_array(x, "cpu")  # a CuPy array is copied to the host; anything else np.asarray


def grid_shape(count, ncols=None):
    """(rows, cols) of a roughly square grid holding ``count`` panels."""
    if ncols is None:
        ncols = math.ceil(math.sqrt(count))
    ncols = max(1, min(ncols, count))
    rows = math.ceil(count / ncols)
    return rows, ncols


def image_grid(count, title=None, ncols=None, cell_inches=1.3):
    """A Figure with exactly ``count`` image axes (ticks off) on a near-square grid."""
    rows, cols = grid_shape(count, ncols)
    fig = Figure(figsize=(max(2.5, cols * cell_inches), max(2.0, rows * cell_inches + 0.4)))
    axes = []
    for index in range(count):
        ax = fig.add_subplot(rows, cols, index + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        axes.append(ax)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, axes


def min_max_normalize(image):
    """Scale to [0, 1]: (x - min) / (max - min); a constant image becomes 0.5 everywhere."""
    image = image.astype(np.float64)
    low, high = image.min(), image.max()
    if high - low <= 0:
        return np.full_like(image, 0.5)
    return (image - low) / (high - low)


def show_chw(ax, image):
    """Draw one image (C, H, W) or (H, W): 1 channel grey, 3 channels RGB after min-max
    normalisation, any other C the first channel in grey."""
    if image.ndim == 2:
        ax.imshow(image, cmap="gray")
    elif image.shape[0] == 3:
        ax.imshow(min_max_normalize(np.transpose(image, (1, 2, 0))))
    else:
        ax.imshow(image[0], cmap="gray")


def empty_figure(message, figsize=(4, 2)):
    """A figure that only says ``message`` (e.g. nothing to plot)."""
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def class_indices(op, name, values):
    """``values`` as int64 class indices; a clear error for fractions or negative classes."""
    if values.size and not np.all(np.equal(np.mod(values, 1), 0)):
        raise ValueError(f"{op}: {name} must hold integer class indices, got dtype {values.dtype} "
                         "with fractions")
    values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise ValueError(f"{op}: {name} has a negative class index {values.min()}")
    return values
