"""Detection and segmentation pictures: boxes on an image, and an image beside its true and
predicted class masks.

Every class has one fixed colour (``class_colours``): class 0 (background) is black, class
k >= 1 the k-th colour of matplotlib's tab10, then tab20b and tab20c (50 colours, then they
repeat). Boxes of label k and mask pixels of class k get the same colour, so with
``ShapesDetection`` / ``ShapesSegmentation`` (0 = background, 1..3 = shapes) a circle is
the same colour in both pictures.
"""
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .figure import class_indices, finish, show_chw, to_numpy

__all__ = ["class_colours", "plot_boxes", "plot_segmentation"]

_PALETTE = np.concatenate([np.zeros((1, 3))] + [np.asarray(colormaps[name].colors)[:, :3]
                                                for name in ("tab10", "tab20b", "tab20c")])


def class_colours(num_classes):
    """(num_classes, 3) RGB in [0, 1]: row k is class k's colour (module docstring)."""
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"class_colours: num_classes must be a positive integer, got {num_classes!r}")
    return _PALETTE[np.arange(int(num_classes)) % len(_PALETTE)]


def _check_image(op, image):
    """An image (C, H, W) or (H, W) as a float64 array -> (array, H, W)."""
    image = to_numpy(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"{op}: expected an image of shape (C, H, W) or (H, W), got shape {image.shape}")
    return image.astype(np.float64), image.shape[-2], image.shape[-1]


def _class_name(label, class_names):
    return str(class_names[label]) if class_names is not None and 0 <= label < len(class_names) \
        else str(label)


def _box_colour(label, colours):
    """The class colour of ``label``; white for label 0 (black), tab10 blue without a label."""
    if label is None:
        return tuple(_PALETTE[1])
    return (1.0, 1.0, 1.0) if label == 0 else tuple(colours[label])


def plot_boxes(image, boxes, labels=None, scores=None, class_names=None, ax=None, path=None):
    """Draw ``boxes`` (K, 4) xyxy pixels on ``image`` (C, H, W) or (H, W).

    ``labels`` (K,) ints colour each box (``class_colours``; label 0, black there, is drawn
    white, visible on a dark image) and name it (through ``class_names`` when given);
    ``scores`` (K,) are appended to the caption ("circle 0.87"). Unlabelled boxes are blue.
    Boxes are in pixel-edge coordinates (a box [0, 0, 2, 1] covers pixels (0, 0) and (0, 1)),
    so each rectangle is drawn from (x1 - 0.5, y1 - 0.5): imshow puts pixel centres on the
    integers. Draws on ``ax`` when given (and returns its figure), else on a new Figure.
    """
    op = "plot_boxes"
    image, height, width = _check_image(op, image)
    boxes = to_numpy(boxes).astype(np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{op}: expected boxes of shape (K, 4) as (x1, y1, x2, y2), got shape {boxes.shape}")
    count = len(boxes)
    extras = {}
    for name, values in (("labels", labels), ("scores", scores)):
        if values is not None:
            values = to_numpy(values).ravel()
            if values.shape != (count,):
                raise ValueError(f"{op}: expected {name} of shape ({count},) for {count} boxes, "
                                 f"got shape {values.shape}")
            extras[name] = values
    if "labels" in extras and count and extras["labels"].min() < 0:
        raise ValueError(f"{op}: labels must be >= 0, got {extras['labels'].min()}")
    labels = extras["labels"].astype(np.int64) if "labels" in extras else None
    if ax is None:
        fig = Figure(figsize=(4, 4 * height / max(width, 1) + 0.3))
        ax = fig.add_subplot(1, 1, 1)
    fig = ax.figure
    show_chw(ax, image)
    ax.set_xticks([])
    ax.set_yticks([])
    colours = class_colours(int(labels.max()) + 1 if labels is not None and count else 1)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        colour = _box_colour(labels[k] if labels is not None else None, colours)
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                               edgecolor=colour, linewidth=1.5))
        caption = _class_name(labels[k], class_names) if labels is not None else ""
        if "scores" in extras:
            caption = f"{caption} {extras['scores'][k]:.2f}".strip()
        if caption:
            ax.text(x1 - 0.5, y1 - 0.5, caption, color="black", fontsize=7, va="bottom",
                    bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "edgecolor": "none"})
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)              # image orientation: row 0 at the top
    ax.set_title(f"{count} box{'es' if count != 1 else ''}", fontsize=9)
    return finish(fig, path)


def _as_mask(op, name, values, height, width):
    """Class indices (H, W) int64; scores (K, H, W) become labels by argmax over K."""
    values = to_numpy(values)
    if values.ndim == 3:
        values = values.argmax(axis=0)
    if values.shape != (height, width):
        raise ValueError(f"{op}: expected {name} of the image's size ({height}, {width}) "
                         f"(class indices) or (K, {height}, {width}) (scores), got shape {values.shape}")
    return class_indices(op, name, values)


def plot_segmentation(image, mask, prediction=None, num_classes=None, class_names=None, path=None):
    """Panels side by side: ``image`` (C, H, W) or (H, W), its true ``mask`` (H, W) class
    indices and, when given, the ``prediction`` (H, W) indices or (K, H, W) scores (argmax).

    Masks use a fixed colour per class (``class_colours``: 0 background black), the same in
    every call, with a legend; ``num_classes`` defaults to 1 + the largest class shown. The
    prediction's panel title gives its pixel accuracy against the mask.
    """
    op = "plot_segmentation"
    image, height, width = _check_image(op, image)
    mask = _as_mask(op, "mask", mask, height, width)
    if prediction is not None:
        prediction = _as_mask(op, "prediction", prediction, height, width)
    largest = max(int(m.max()) if m.size else 0 for m in (mask, prediction) if m is not None)
    if num_classes is None:
        num_classes = largest + 1
    if int(num_classes) != num_classes or num_classes < 1 or largest >= num_classes:
        raise ValueError(f"{op}: num_classes must be an integer above every class index shown "
                         f"(largest {largest}), got {num_classes!r}")
    num_classes = int(num_classes)
    colour_map = ListedColormap(class_colours(num_classes))
    panels = [("image", None), ("true mask", mask)]
    if prediction is not None:
        accuracy = float((prediction == mask).mean()) if mask.size else float("nan")
        panels.append((f"prediction (pixel acc. {accuracy:.3f})", prediction))
    fig = Figure(figsize=(3 * len(panels) + 1.2, 3.3))
    for index, (title, values) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), index + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
        if values is None:
            show_chw(ax, image)
        else:  # class k sits at the centre of the k-th colour bin of [-0.5, K - 0.5]
            ax.imshow(values, cmap=colour_map, vmin=-0.5, vmax=num_classes - 0.5,
                      interpolation="nearest")
    handles = [Patch(facecolor=colour, edgecolor="grey", label=_class_name(k, class_names))
               for k, colour in enumerate(class_colours(num_classes))]
    fig.legend(handles=handles, loc="center right", fontsize=7, title="class", title_fontsize=8)
    fig.subplots_adjust(right=1 - 1.1 / fig.get_figwidth())
    return finish(fig, path)
