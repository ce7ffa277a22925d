"""``minicnn.viz``: the pictures of the course, drawn with matplotlib.

Every function returns a ``matplotlib.figure.Figure`` (no pyplot global state, no display
needed) and saves a PNG when given ``path=``::

    from minicnn import viz
    viz.plot_history(history, path="runs/lenet/curves.png")
    viz.plot_filters(model.conv1.weight)
    viz.plot_feature_maps(model, image, "features.0")
    viz.plot_confusion_matrix(y_true, y_pred, class_names=classes)
    viz.plot_boxes(image, boxes, labels, scores, class_names=classes)
    viz.plot_segmentation(image, mask, prediction=logits[0])    # (K, H, W) scores: argmax

In Jupyter a returned Figure displays itself as the cell's value.
"""
from .classification import confusion_matrix, plot_confusion_matrix, plot_misclassified
from .curves import moving_average, plot_history, plot_lr, plot_step_loss
from .detection import class_colours, plot_boxes, plot_segmentation
from .figure import save_figure
from .filters import plot_feature_maps, plot_filters
from .graph import plot_graph
from .stats import plot_activation_histograms, plot_update_ratios

__all__ = [
    "save_figure",
    "plot_history", "plot_step_loss", "plot_lr", "moving_average",
    "plot_activation_histograms", "plot_update_ratios",
    "plot_filters", "plot_feature_maps",
    "confusion_matrix", "plot_confusion_matrix", "plot_misclassified",
    "plot_graph",
    "class_colours", "plot_boxes", "plot_segmentation",
]
