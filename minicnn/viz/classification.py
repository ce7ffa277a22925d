"""Classification results: the confusion matrix and a gallery of misclassified images."""
import numpy as np
from matplotlib.figure import Figure

from .figure import class_indices, empty_figure, finish, image_grid, show_chw, to_numpy

__all__ = ["confusion_matrix", "plot_confusion_matrix", "plot_misclassified"]


def _labels(values, what, op):
    """Class indices (N,) as int64. (N, K) scores are turned into labels by argmax over K."""
    values = to_numpy(values)
    if values.ndim == 2 and what == "y_pred":
        values = values.argmax(axis=1)
    if values.ndim != 1:
        raise ValueError(f"{op}: {what} must be class indices of shape (N,), got shape {values.shape}")
    return class_indices(op, what, values)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts ``M[i, j]`` = number of samples of true class i predicted as class j.

    ``y_true``: (N,) class indices; ``y_pred``: (N,) class indices or (N, K) scores (argmax
    is taken). ``num_classes`` defaults to 1 + the largest label seen. Returns (K, K) int64.
    """
    op = "confusion_matrix"
    y_true = _labels(y_true, "y_true", op)
    y_pred = _labels(y_pred, "y_pred", op)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{op}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    largest = int(max(y_true.max(initial=-1), y_pred.max(initial=-1)))
    if num_classes is None:
        num_classes = largest + 1
    if largest >= num_classes:
        raise ValueError(f"{op}: label {largest} is out of range for num_classes={num_classes}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)  # one count per (true, predicted) pair
    return matrix


def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize=False, path=None):
    """The confusion matrix as a heat map: rows true class, columns predicted class.

    Cells show counts; with ``normalize=True`` each row is divided by its total (the
    fraction of class i predicted as j; the diagonal is the per-class recall).
    """
    num_classes = len(class_names) if class_names is not None else None
    counts = confusion_matrix(y_true, y_pred, num_classes)
    num_classes = counts.shape[0]
    if class_names is None:
        class_names = [str(i) for i in range(num_classes)]
    class_names = [str(name) for name in class_names]
    values = counts.astype(np.float64)
    if normalize:
        row_totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(values, row_totals, out=np.zeros_like(values), where=row_totals > 0)
    size = max(4.0, 0.5 * num_classes + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if num_classes <= 30:  # beyond that the numbers no longer fit in the cells
        threshold = values.max() / 2 if values.size else 0
        for i in range(num_classes):
            for j in range(num_classes):
                text = f"{values[i, j]:.2f}" if normalize else str(counts[i, j])
                colour = "white" if values[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(num_classes))
    ax.set_yticks(range(num_classes))
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticklabels(class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = counts.sum()
    accuracy = np.trace(counts) / total if total else float("nan")
    ax.set_title(f"confusion matrix ({total} samples, accuracy {accuracy:.3f})")
    fig.tight_layout()
    return finish(fig, path)


def plot_misclassified(images, y_true, y_pred, max_images=16, class_names=None, path=None):
    """A grid of the wrongly predicted images, each titled "true→pred".

    ``images``: (N, C, H, W) or (N, H, W), NumPy or Tensor; ``y_true``: (N,); ``y_pred``:
    (N,) or (N, K) scores. The first ``max_images`` mistakes, in dataset order, are shown.
    """
    op = "plot_misclassified"
    images = to_numpy(images)
    y_true = _labels(y_true, "y_true", op)
    y_pred = _labels(y_pred, "y_pred", op)
    if images.ndim not in (3, 4):
        raise ValueError(f"{op}: images must be (N, C, H, W) or (N, H, W), got shape {images.shape}")
    if not (len(images) == len(y_true) == len(y_pred)):
        raise ValueError(f"{op}: {len(images)} images but {len(y_true)} true and {len(y_pred)} predicted labels")
    wrong = np.flatnonzero(y_true != y_pred)
    if wrong.size == 0:
        return finish(empty_figure("no misclassified images"), path)
    shown = wrong[: int(max_images)]

    def name(label):
        return class_names[label] if class_names is not None else str(label)

    fig, axes = image_grid(len(shown), title=f"{len(shown)} of {wrong.size} misclassified", cell_inches=1.6)
    for ax, index in zip(axes, shown):
        show_chw(ax, images[index].astype(np.float64))
        ax.set_title(f"{name(y_true[index])}→{name(y_pred[index])}", fontsize=8)
    return finish(fig, path)
