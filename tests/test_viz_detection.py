"""Tests for minicnn.viz.detection: boxes and segmentation masks render with the Agg backend,
save PNGs, draw what they are given (rectangles at the boxes' pixel edges, mask pixels in
their class's fixed colour) and refuse malformed input."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import minicnn as mc  # noqa: E402
from minicnn import viz  # noqa: E402
from minicnn.data.synthetic import SHAPE_CLASSES, ShapesDetection, ShapesSegmentation  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.stat().st_size > 100
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


# ----- class colours ------------------------------------------------------------------------------
def test_class_colours_are_fixed_distinct_and_background_black():
    colours = viz.class_colours(12)
    assert colours.shape == (12, 3)
    np.testing.assert_array_equal(colours[0], [0, 0, 0])
    np.testing.assert_array_equal(viz.class_colours(4), colours[:4])      # prefix-stable
    assert len({tuple(c) for c in colours}) == 12
    assert viz.class_colours(60).shape == (60, 3)
    with pytest.raises(ValueError, match="num_classes"):
        viz.class_colours(0)


# ----- plot_boxes -----------------------------------------------------------------------------
def test_plot_boxes_draws_one_rectangle_per_box_at_pixel_edges(tmp_path):
    image, target = ShapesDetection(1, size=32, seed=3)[0]
    boxes, labels = target["boxes"], target["labels"]
    scores = np.linspace(0.9, 0.5, len(boxes))
    fig = viz.plot_boxes(image, boxes, labels, scores, class_names=SHAPE_CLASSES,
                         path=tmp_path / "boxes.png")
    assert isinstance(fig, Figure)
    assert_png(tmp_path / "boxes.png")
    ax = fig.axes[0]
    drawn = rectangles(ax)
    assert len(drawn) == len(boxes) and len(ax.images) == 1
    colours = viz.class_colours(4)
    for rect, box, label in zip(drawn, boxes, labels):
        np.testing.assert_allclose(rect.get_xy(), box[:2] - 0.5)
        np.testing.assert_allclose([rect.get_width(), rect.get_height()], box[2:] - box[:2])
        np.testing.assert_allclose(rect.get_edgecolor()[:3], colours[label])
    captions = [t.get_text() for t in ax.texts]
    assert captions == [f"{SHAPE_CLASSES[k]} {s:.2f}" for k, s in zip(labels, scores)]
    assert ax.get_xlim() == (-0.5, 31.5) and ax.get_ylim() == (31.5, -0.5)


def test_plot_boxes_without_labels_on_a_given_axes_and_from_tensors():
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    image = mc.rand(1, 16, 24)
    out = viz.plot_boxes(image, mc.tensor([[1.0, 2, 5, 9], [0, 0, 24, 16]]), ax=ax)
    assert out is fig and len(rectangles(ax)) == 2 and len(ax.texts) == 0
    assert len(viz.plot_boxes(np.zeros((8, 8)), np.zeros((0, 4))).axes[0].patches) == 0


def test_plot_boxes_label_zero_is_visible_and_unnamed_labels_are_numbers():
    fig = viz.plot_boxes(np.zeros((3, 8, 8)), [[1, 1, 4, 4], [2, 2, 7, 7]], labels=[0, 5],
                         class_names=["a"])
    first, second = rectangles(fig.axes[0])
    assert first.get_edgecolor()[:3] == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(second.get_edgecolor()[:3], viz.class_colours(6)[5])
    assert [t.get_text() for t in fig.axes[0].texts] == ["a", "5"]


def test_plot_boxes_bad_input():
    image = np.zeros((3, 8, 8))
    with pytest.raises(ValueError, match="boxes of shape \\(K, 4\\)"):
        viz.plot_boxes(image, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="labels of shape \\(2,\\)"):
        viz.plot_boxes(image, np.zeros((2, 4)), labels=[1])
    with pytest.raises(ValueError, match="scores of shape \\(1,\\)"):
        viz.plot_boxes(image, np.zeros((1, 4)), scores=[0.1, 0.2])
    with pytest.raises(ValueError, match="labels must be >= 0"):
        viz.plot_boxes(image, np.zeros((1, 4)), labels=[-1])
    with pytest.raises(ValueError, match="image of shape"):
        viz.plot_boxes(np.zeros(8), np.zeros((1, 4)))


# ----- plot_segmentation ------------------------------------------------------------------------
def shown_colours(ax, num_classes):
    """The RGB each class index is drawn with in ``ax``'s mask image."""
    image = ax.images[0]
    return image.cmap(image.norm(np.arange(num_classes)))[:, :3]


def test_plot_segmentation_shows_image_truth_and_prediction_in_fixed_colours(tmp_path):
    image, mask = ShapesSegmentation(1, size=24, seed=5)[0]
    prediction = np.where(mask > 0, 1, 0)                     # every shape called a rectangle
    fig = viz.plot_segmentation(image, mask, prediction, num_classes=4,
                                class_names=SHAPE_CLASSES, path=tmp_path / "seg.png")
    assert_png(tmp_path / "seg.png")
    image_ax, truth_ax, pred_ax = fig.axes
    assert [len(ax.images) for ax in fig.axes] == [1, 1, 1]
    np.testing.assert_array_equal(truth_ax.images[0].get_array(), mask)
    np.testing.assert_array_equal(pred_ax.images[0].get_array(), prediction)
    for ax in (truth_ax, pred_ax):
        np.testing.assert_allclose(shown_colours(ax, 4), viz.class_colours(4))
    accuracy = (prediction == mask).mean()
    assert f"{accuracy:.3f}" in pred_ax.get_title()
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == list(SHAPE_CLASSES)


def test_plot_segmentation_same_class_same_colour_whatever_num_classes():
    mask = np.array([[0, 1], [2, 2]])
    small = viz.plot_segmentation(np.zeros((2, 2)), mask)               # num_classes = 3
    large = viz.plot_segmentation(np.zeros((2, 2)), mask, num_classes=7)
    np.testing.assert_allclose(shown_colours(small.axes[1], 3), shown_colours(large.axes[1], 7)[:3])


def test_plot_segmentation_takes_scores_tensors_and_no_prediction():
    mask = np.array([[0, 1, 2], [2, 1, 0]])
    scores = np.eye(3)[mask].transpose(2, 0, 1) * 5.0                   # (K, H, W), argmax = mask
    fig = viz.plot_segmentation(mc.rand(3, 2, 3), mc.tensor(mask), prediction=mc.tensor(scores))
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), mask)
    assert "1.000" in fig.axes[2].get_title()
    assert len(viz.plot_segmentation(np.zeros((2, 3)), mask).axes) == 2


def test_plot_segmentation_bad_input():
    image = np.zeros((3, 4, 4))
    mask = np.zeros((4, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="mask of the image's size \\(4, 4\\)"):
        viz.plot_segmentation(image, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="prediction of the image's size"):
        viz.plot_segmentation(image, mask, prediction=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="integer class indices"):
        viz.plot_segmentation(image, mask + 0.5)
    with pytest.raises(ValueError, match="negative class index"):
        viz.plot_segmentation(image, mask - 1)
    with pytest.raises(ValueError, match="num_classes"):
        viz.plot_segmentation(image, mask + 3, num_classes=3)
