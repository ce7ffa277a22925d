"""TinyYOLO: output layout, a parameter count from the layer shapes, the loss against a NumPy
transcription of its formula and a float64 gradcheck, decoding as the inverse of
yolo_targets, argument errors, and a short training run whose loss falls and whose
training-set mAP@0.5 rises from ~0 at initialisation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn import models, vision
from minicnn.data.synthetic import ShapesDetection


def count(model):
    return sum(p.numel() for p in model.parameters())


def logit(p):
    return np.log(p) - np.log1p(-p)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ----- the model ------------------------------------------------------------------------------
@pytest.mark.parametrize("grid, size, classes", [(4, 32, 3), (2, 32, 1), (8, 64, 5), (3, 48, 2)])
def test_output_is_batch_grid_grid_channels(grid, size, classes):
    model = models.tiny_yolo(classes, grid_size=grid, base=4)
    out = model(mc.randn(2, 3, size, size))
    assert out.shape == (2, grid, grid, 5 + classes)


def test_output_is_the_head_permuted_to_channels_last():
    mc.manual_seed(0)
    model = models.TinyYOLO(2, in_channels=1, grid_size=4, base=4)
    model.eval()
    x = mc.randn(1, 1, 32, 32)
    with mc.no_grad():
        head = model.head(model.neck(model.grid(model.features(x)))).data   # (1, 7, 4, 4)
        out = model(x).data
    np.testing.assert_array_equal(out, head.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("in_channels, base, classes", [(3, 16, 3), (1, 8, 20), (3, 5, 1)])
def test_parameter_count_from_the_layer_shapes(in_channels, base, classes):
    b = base
    conv_bn = [(in_channels, b), (b, 2 * b), (2 * b, 4 * b), (4 * b, 8 * b)]   # 3x3, no bias, BN
    expected = sum(9 * c_in * c_out + 2 * c_out for c_in, c_out in conv_bn)
    expected += 8 * b * (5 + classes) + (5 + classes)                         # 1x1 head + bias
    model = models.get_model("tiny_yolo", num_classes=classes, in_channels=in_channels, base=base)
    assert count(model) == expected


def test_registered_and_layers_are_conv_bn_leaky():
    model = models.get_model("tiny_yolo", num_classes=3)
    assert isinstance(model, models.TinyYOLO) and model.grid_size == 8
    leaky = [m for m in model.modules() if type(m).__name__ == "LeakyReLU"]
    assert len(leaky) == 4 and all(m.negative_slope == 0.1 for m in leaky)
    assert sum(type(m).__name__ == "BatchNorm2d" for m in model.modules()) == 4


@pytest.mark.parametrize("kwargs", [{"num_classes": 0}, {"num_classes": 2, "grid_size": 0},
                                    {"num_classes": 2, "base": -1}, {"num_classes": 2.5}])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError, match="TinyYOLO"):
        models.tiny_yolo(**kwargs)


def test_bad_inputs_name_the_expected_shape():
    model = models.tiny_yolo(2, grid_size=4, base=4)
    with pytest.raises(ValueError, match="at least 8 \\* grid_size = 32"):
        model(mc.randn(1, 3, 24, 32))
    with pytest.raises(ValueError, match="4-D input"):
        model(mc.randn(3, 32, 32))


# ----- targets and loss ---------------------------------------------------------------------------
def small_targets():
    """Two 32x32 images on a 2x2 grid, 2 classes: image 0 has two boxes, image 1 one."""
    gts = [{"boxes": np.array([[2., 3, 12, 9], [20, 18, 30, 31]]), "labels": np.array([1, 2])},
           {"boxes": np.array([[5., 17, 27, 29]]), "labels": np.array([2])}]
    return models.yolo_batch_targets(gts, 2, 32, 2, first_label=1), gts


def test_batch_targets_stack_yolo_targets_with_shifted_labels():
    targets, gts = small_targets()
    assert targets.shape == (2, 2, 2, 7)
    np.testing.assert_array_equal(targets[1], vision.yolo_targets(gts[1]["boxes"], [1], 2, 32, 2))
    assert targets[0, 0, 0, 5] == 1 and targets[0, 1, 1, 6] == 1 and targets[..., 4].sum() == 3


def loss_reference(pred, target, lambda_coord, lambda_noobj):
    """The docstring's formula, transcribed in NumPy."""
    obj = target[..., 4]
    coord = ((sigmoid(pred[..., :2]) - target[..., :2]) ** 2).sum(-1) \
        + ((sigmoid(pred[..., 2:4]) - np.sqrt(target[..., 2:4])) ** 2).sum(-1)
    p = sigmoid(pred[..., 4])
    bce = -(obj * np.log(p) + lambda_noobj * (1 - obj) * np.log(1 - p))
    z = pred[..., 5:]
    log_softmax = z - z.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    ce = -(target[..., 5:] * log_softmax).sum(-1)
    return (lambda_coord * (obj * coord).sum() + bce.sum() + (obj * ce).sum()) / pred.shape[0]


@pytest.mark.parametrize("lambda_coord, lambda_noobj", [(5.0, 0.5), (1.0, 1.0), (0.0, 0.1)])
def test_loss_matches_the_formula(lambda_coord, lambda_noobj):
    targets, _ = small_targets()
    pred = np.random.default_rng(0).normal(size=targets.shape)
    loss = models.yolo_loss(mc.tensor(pred), targets, lambda_coord, lambda_noobj)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), loss_reference(pred, targets, lambda_coord, lambda_noobj),
                               rtol=1e-10)


def test_loss_is_smallest_for_the_targets_themselves():
    targets, _ = small_targets()
    perfect = np.zeros_like(targets)
    perfect[..., :2] = logit(np.clip(targets[..., :2], 1e-6, 1 - 1e-6))
    perfect[..., 2:4] = logit(np.clip(np.sqrt(targets[..., 2:4]), 1e-6, 1 - 1e-6))
    perfect[..., 4] = np.where(targets[..., 4] == 1, 12.0, -12.0)
    perfect[..., 5:] = 12.0 * targets[..., 5:]
    best = models.yolo_loss(mc.tensor(perfect), targets).item()
    assert best < 1e-3
    noisy = perfect + np.random.default_rng(1).normal(scale=0.5, size=perfect.shape)
    assert models.yolo_loss(mc.tensor(noisy), targets).item() > 10 * best


def test_loss_gradcheck_float64():
    targets, _ = small_targets()
    pred = mc.tensor(np.random.default_rng(2).normal(size=targets.shape), requires_grad=True)
    assert mc.gradcheck(lambda p: models.yolo_loss(p, targets, 5.0, 0.5), [pred])


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 2), grid=st.integers(1, 3), classes=st.integers(1, 3),
       lambdas=st.tuples(st.floats(0.5, 5.0), st.floats(0.1, 1.0)), seed=st.integers(0, 10**6))
def test_loss_gradcheck_on_drawn_grids(batch, grid, classes, lambdas, seed):
    """float64 finite differences on drawn (N, S, S, 5 + C) targets and predictions."""
    rng = np.random.default_rng(seed)
    targets = np.zeros((batch, grid, grid, 5 + classes))
    responsible = rng.random((batch, grid, grid)) < 0.5
    targets[..., 4] = responsible
    targets[..., 0:2] = rng.uniform(0.05, 0.95, (batch, grid, grid, 2)) * responsible[..., None]
    targets[..., 2:4] = rng.uniform(0.05, 1.0, (batch, grid, grid, 2)) * responsible[..., None]
    labels = rng.integers(0, classes, (batch, grid, grid))
    targets[..., 5:] = np.eye(classes)[labels] * responsible[..., None]
    pred = mc.tensor(rng.normal(size=targets.shape), requires_grad=True)
    assert mc.gradcheck(lambda p: models.yolo_loss(p, targets, *lambdas), [pred])


def test_loss_gradient_reaches_the_model_and_is_finite_for_huge_logits():
    model = models.tiny_yolo(2, grid_size=2, base=4)
    targets, _ = small_targets()
    loss = models.yolo_loss(model(mc.randn(2, 3, 32, 32)), targets)
    loss.backward()
    assert all(p.grad is not None and np.all(np.isfinite(p.grad.data)) for p in model.parameters())
    wild = mc.tensor(np.random.default_rng(3).choice([-1e4, 1e4], size=targets.shape),
                     requires_grad=True)
    wild_loss = models.yolo_loss(wild, targets)
    wild_loss.backward()
    assert np.isfinite(wild_loss.item()) and np.all(np.isfinite(wild.grad.data))


def test_loss_bad_arguments():
    targets, _ = small_targets()
    pred = mc.randn(*targets.shape)
    with pytest.raises(ValueError, match="targets of the predictions' shape"):
        models.yolo_loss(pred, targets[:, :1])
    with pytest.raises(ValueError, match="\\(N, S, S, 5 \\+ C\\)"):
        models.yolo_loss(mc.randn(2, 2, 2, 5), targets[..., :5])
    with pytest.raises(TypeError, match="minicnn Tensor"):
        models.yolo_loss(pred.data, targets)
    with pytest.raises(ValueError, match="lambda"):
        models.yolo_loss(pred, targets, lambda_noobj=-1)


# ----- decoding ---------------------------------------------------------------------------------
def test_decode_inverts_yolo_targets():
    targets, gts = small_targets()
    raw = np.zeros_like(targets)
    raw[..., :2] = logit(np.clip(targets[..., :2], 1e-9, 1 - 1e-9))
    raw[..., 2:4] = logit(np.clip(np.sqrt(targets[..., 2:4]), 1e-9, 1 - 1e-9))
    raw[..., 4] = np.where(targets[..., 4] == 1, 20.0, -20.0)
    raw[..., 5:] = 20.0 * targets[..., 5:]
    detections = models.decode_predictions(mc.tensor(raw), 32, score_threshold=0.5)
    for det, gt in zip(detections, gts):
        order = np.lexsort(gt["boxes"].T[::-1])
        found = np.lexsort(det["boxes"].T[::-1])
        np.testing.assert_allclose(det["boxes"][found], gt["boxes"][order], atol=1e-6)
        np.testing.assert_array_equal(det["labels"][found], gt["labels"][order] - 1)
        assert np.all(det["scores"] > 0.99)


def test_decode_thresholds_clips_and_suppresses_per_class():
    raw = np.full((1, 2, 2, 7), -20.0)
    raw[0, :, :, 2:4] = logit(0.9)                    # every box 0.81 of the image: huge
    raw[0, 0, 0, 4] = raw[0, 0, 1, 4] = raw[0, 1, 0, 4] = 5.0
    raw[0, 0, 0, 5] = raw[0, 0, 1, 5] = 20.0          # two class-0 boxes, both centred at
    raw[0, 0, 0, 0], raw[0, 0, 1, 0] = logit(0.999), logit(0.001)   # x = 32 (the cells' edge)
    raw[0, 0, 1, 4] = 4.0                             # ... the second a little less sure
    raw[0, 1, 0, 6], raw[0, 1, 0, 4] = 20.0, 6.0      # a surer class-1 box on top of them
    det = models.decode_predictions(raw, (32, 64), score_threshold=0.3, iou_threshold=0.5)[0]
    assert det["labels"].tolist() == [1, 0]           # the weaker class-0 twin is gone
    np.testing.assert_allclose(det["scores"], sigmoid(np.array([6.0, 5.0])), rtol=1e-6)
    assert np.all(det["boxes"] >= 0) and np.all(det["boxes"][:, [0, 2]] <= 64)
    assert np.all(det["boxes"][:, [1, 3]] <= 32)
    assert models.decode_predictions(raw, 32, score_threshold=0.999)[0]["boxes"].shape == (0, 4)


def test_decode_bad_arguments():
    with pytest.raises(ValueError, match="decode_predictions"):
        models.decode_predictions(np.zeros((2, 2, 6)), 32)
    with pytest.raises(ValueError, match="image_size"):
        models.decode_predictions(np.zeros((1, 2, 2, 6)), 0)


# ----- training ---------------------------------------------------------------------------------
def train_set_map(model, images, ground_truths, size):
    model.eval()
    with mc.no_grad():
        predictions = model(mc.tensor(images))
    model.train()
    detections = models.decode_predictions(predictions, size, score_threshold=0.05)
    return vision.mean_average_precision(detections, ground_truths, 0.5, num_classes=3)


def test_training_lowers_the_loss_and_raises_train_map():
    # 16 images 32x32, up to 2 shapes each, grid 4 (8-pixel cells): ~1 s on 2 cores
    mc.manual_seed(0)
    size, grid = 32, 4
    data = ShapesDetection(16, size=size, num_classes=3, seed=0, max_shapes=2)
    images = np.stack([data[i][0] for i in range(len(data))])
    gts = [data[i][1] for i in range(len(data))]
    targets = models.yolo_batch_targets(gts, grid, size, 3, first_label=1)
    ground_truths = [{"boxes": g["boxes"], "labels": g["labels"] - 1} for g in gts]
    model = models.tiny_yolo(3, grid_size=grid, base=8)
    optimizer = mc.optim.Adam(model.parameters(), lr=0.01)
    map_before = train_set_map(model, images, ground_truths, size)
    losses = []
    for _ in range(60):
        loss = models.yolo_loss(model(mc.tensor(images)), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    map_after = train_set_map(model, images, ground_truths, size)
    assert np.mean(losses[-5:]) < 0.1 * np.mean(losses[:5])
    assert map_before < 0.1
    assert map_after > 0.7 and map_after > map_before + 0.6
