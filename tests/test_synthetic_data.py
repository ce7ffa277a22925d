"""Procedural shapes: determinism, images consistent with masks, shapes of the right kind,
boxes tight around each shape's pixels, batching, and refused arguments."""
import numpy as np
import pytest

from minicnn.autograd.tensor import Tensor
from minicnn.data import (DataLoader, SHAPE_CLASSES, ShapesDetection, ShapesSegmentation,
                          detection_collate)


@pytest.mark.parametrize("channels", [1, 3])
def test_segmentation_samples_have_the_documented_types(channels):
    data = ShapesSegmentation(5, size=20, channels=channels)
    assert len(data) == 5 and data.classes == SHAPE_CLASSES
    image, mask = data[0]
    assert image.shape == (channels, 20, 20) and image.dtype == np.float32
    assert mask.shape == (20, 20) and mask.dtype == np.int64
    images, masks = data.arrays()
    assert images.shape == (5, channels, 20, 20) and masks.shape == (5, 20, 20)
    assert images.min() >= 0 and images.max() <= 1
    assert set(np.unique(masks)) <= {0, 1, 2, 3} and np.all(masks.reshape(5, -1).max(1) > 0)


def test_same_seed_same_data_in_any_order_and_other_seed_other_data():
    first, again = ShapesSegmentation(6, seed=7), ShapesSegmentation(6, seed=7)
    late_first = again[5]                                # access order must not matter
    images, masks = first.arrays()
    assert np.array_equal(late_first[0], images[5]) and np.array_equal(late_first[1], masks[5])
    assert np.array_equal(again.arrays()[0], images)
    assert np.array_equal(first[-1][1], masks[5])
    assert not np.array_equal(ShapesSegmentation(6, seed=8).arrays()[1], masks)
    detection = ShapesDetection(4, seed=2)
    assert all(np.array_equal(detection[i][1]["boxes"], ShapesDetection(4, seed=2)[i][1]["boxes"])
               for i in range(4))


def test_without_noise_each_shape_and_the_background_have_one_colour():
    data = ShapesDetection(20, size=32, noise=0.0, max_shapes=4)
    for i in range(len(data)):
        scene = data.scene(i)
        image, mask, shapes = scene["image"], scene["mask"], scene["masks"]
        background = image[:, mask == 0]
        assert np.all(background == background[:, :1])
        for shape, label in zip(shapes, scene["labels"]):
            assert np.all(mask[shape] == label)
            colour = image[:, shape]
            assert np.all(colour == colour[:, :1])
            assert np.all(colour[:, 0] > background[:, 0])   # shapes are brighter than the background


def test_noisy_images_still_separate_shapes_from_background():
    images, masks = ShapesSegmentation(30, size=32, channels=1, noise=0.05, seed=4).arrays()
    foreground, background = images[:, 0][masks > 0], images[:, 0][masks == 0]
    assert foreground.mean() > background.mean() + 0.3
    clean = ShapesSegmentation(30, size=32, channels=1, noise=0.0, seed=4).arrays()[0]
    residual = images - clean                            # the noise (clipping at 0 and 1 aside)
    assert abs(residual.mean()) < 0.01 and 0.03 < residual.std() < 0.06


def test_each_label_has_its_shape():
    # filled fraction of the tight box: rectangle 1, disc about pi/4, triangle about 1/2
    data = ShapesDetection(60, size=48, noise=0.0)
    fill = {1: [], 2: [], 3: []}
    for i in range(len(data)):
        scene = data.scene(i)
        for shape, box, label in zip(scene["masks"], scene["boxes"], scene["labels"]):
            x0, y0, x1, y1 = box.astype(int)
            fill[int(label)].append(shape.sum() / ((x1 - x0) * (y1 - y0)))
    assert all(len(values) > 10 for values in fill.values())
    assert np.all(np.array(fill[1]) == 1.0)
    assert 0.70 < np.mean(fill[2]) < 0.87 and np.all(np.array(fill[2]) < 0.95)
    assert 0.40 < np.mean(fill[3]) < 0.65 and np.all(np.array(fill[3]) < 0.8)


def test_num_classes_limits_the_shapes_used():
    masks = ShapesSegmentation(20, num_classes=1, seed=1).arrays()[1]
    assert set(np.unique(masks)) == {0, 1}
    data = ShapesSegmentation(20, num_classes=2)
    assert set(np.unique(data.arrays()[1])) == {0, 1, 2} and data.classes == SHAPE_CLASSES[:3]


def test_detection_targets_have_the_documented_types():
    data = ShapesDetection(10, max_shapes=4)
    image, target = data[0]
    assert image.shape == (3, 64, 64) and image.dtype == np.float32
    for i in range(len(data)):
        boxes, labels = data[i][1]["boxes"], data[i][1]["labels"]
        assert boxes.dtype == np.float32 and labels.dtype == np.int64
        assert boxes.shape == (len(labels), 4) and 1 <= len(labels) <= 4
        assert np.all((labels >= 1) & (labels <= 3))
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2:] <= 64)
        assert np.all(boxes[:, 2:] > boxes[:, :2])


@pytest.mark.parametrize("size, seed", [(32, 0), (64, 5)])
def test_boxes_are_tight_around_the_mask_pixels_of_each_shape(size, seed):
    # the same arguments give the same scenes: check the boxes against the segmentation mask
    detection = ShapesDetection(25, size=size, seed=seed, max_shapes=5)
    segmentation = ShapesSegmentation(25, size=size, seed=seed, max_shapes=5)
    for i in range(len(detection)):
        target, mask = detection[i][1], segmentation[i][1]
        covered = np.zeros_like(mask, dtype=bool)
        for box, label in zip(target["boxes"], target["labels"]):
            x0, y0, x1, y1 = (int(v) for v in box)
            assert np.array_equal(box, [x0, y0, x1, y1])         # whole pixel edges
            inside = mask[y0:y1, x0:x1]
            assert set(np.unique(inside)) <= {0, int(label)}     # no other shape in the box
            for edge in (inside[0], inside[-1], inside[:, 0], inside[:, -1]):
                assert np.any(edge == label)                     # every side touches the shape
            covered[y0:y1, x0:x1] |= inside == label
        assert np.array_equal(covered, mask > 0)                  # every shape pixel is in a box


def test_instance_masks_match_boxes_and_class_mask():
    data = ShapesDetection(15, size=40, max_shapes=4, seed=9)
    for i in range(len(data)):
        scene = data.scene(i)
        shapes = scene["masks"]
        assert shapes.shape == (len(scene["labels"]), 40, 40)
        assert np.all(shapes.sum(0) <= 1)                         # shapes never overlap
        assert np.array_equal(shapes.any(0), scene["mask"] > 0)
        for shape, box in zip(shapes, scene["boxes"]):
            rows, cols = np.nonzero(shape)
            assert np.array_equal(box, [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])


def test_dataloader_batches_both_datasets():
    images, masks = next(iter(DataLoader(ShapesSegmentation(6, size=16), batch_size=4)))
    assert images.shape == (4, 3, 16, 16) and masks.shape == (4, 16, 16)
    loader = DataLoader(ShapesDetection(5, size=32), batch_size=3, collate_fn=detection_collate)
    images, targets = next(iter(loader))
    assert isinstance(images, Tensor) and images.shape == (3, 3, 32, 32)
    assert len(targets) == 3 and set(targets[0]) == {"boxes", "labels"}


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n": -1}, ValueError, "ShapesSegmentation: n must be >= 0, got -1"),
    ({"n": 2.5}, TypeError, "n must be an integer"),
    ({"n": 2, "size": 4}, ValueError, "size must be >= 8, got 4"),
    ({"n": 2, "num_classes": 4}, ValueError, r"num_classes must be in 1\.\.3, got 4"),
    ({"n": 2, "num_classes": 0}, ValueError, r"num_classes must be in 1\.\.3, got 0"),
    ({"n": 2, "max_shapes": 0}, ValueError, "max_shapes must be >= 1"),
    ({"n": 2, "channels": 2}, ValueError, r"channels must be 1 \(grey\) or 3 \(colour\), got 2"),
    ({"n": 2, "noise": -0.1}, ValueError, r"noise .* must be a number in \[0, 1\]"),
    ({"n": 2, "seed": "a"}, TypeError, "seed must be an integer"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        ShapesSegmentation(**kwargs)


def test_bad_indices_are_refused():
    data = ShapesDetection(3, size=16)
    with pytest.raises(IndexError, match="ShapesDetection: index out of range for 3 samples"):
        data[3]
    with pytest.raises(TypeError, match="index must be an integer"):
        data[0.5]
