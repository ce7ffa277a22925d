"""Segmentation models: FCN, SegNet, U-Net -- shapes (odd sizes too), parameter counts from
the layer shapes, SegNet's use of the pooling indices, gradients, and a tiny overfit."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn import models, optim
from minicnn.data import ShapesSegmentation


def count(model):
    return sum(p.numel() for p in model.parameters())


def conv(c_in, c_out, k, bias=True):
    """Parameters of a k x k convolution (or transposed convolution): weight + bias."""
    return c_in * c_out * k * k + (c_out if bias else 0)


def conv_bn(c_in, c_out):
    """3x3 conv without bias + BatchNorm2d (gamma, beta)."""
    return conv(c_in, c_out, 3, bias=False) + 2 * c_out


def forward_eval(model, shape):
    model.eval()
    with mc.no_grad():
        return model(mc.randn(*shape))


# ----- output shapes -------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({"num_classes": 5}, (2, 3, 32, 32)),
    ({"num_classes": 4, "variant": "16s", "in_channels": 1, "base": 4}, (1, 1, 64, 32)),
    ({"num_classes": 3, "variant": "32s", "base": 4}, (1, 3, 32, 64)),
])
def test_fcn_output_has_input_size(kwargs, shape):
    out = forward_eval(models.fcn(**kwargs), shape)
    assert out.shape == (shape[0], kwargs["num_classes"]) + shape[2:]


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 3, 15, 17), (1, 3, 9, 8)])
def test_segnet_output_has_input_size_even_for_odd_sizes(shape):
    assert forward_eval(models.segnet(4, base=4), shape).shape == (shape[0], 4) + shape[2:]


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("shape", [(2, 1, 16, 16), (1, 1, 15, 21), (1, 1, 13, 8)])
def test_unet_output_has_input_size_even_for_odd_sizes(shape, bilinear):
    model = models.unet(num_classes=3, base=4, bilinear=bilinear)
    assert forward_eval(model, shape).shape == (shape[0], 3) + shape[2:]


def test_models_are_registered_by_name():
    assert isinstance(models.get_model("fcn", num_classes=2, base=4), models.FCN)
    assert isinstance(models.get_model("segnet", num_classes=2, base=4), models.SegNet)
    assert isinstance(models.get_model("unet", base=4), models.UNet)


# ----- bad arguments -------------------------------------------------------------------------
def test_fcn_refuses_sizes_not_divisible_by_its_stride():
    with pytest.raises(ValueError, match=r"FCN: .*divisible by the total stride 32, got 30x32"):
        models.fcn(2, base=4)(mc.randn(1, 3, 30, 32))


@pytest.mark.parametrize("build", [lambda: models.segnet(2, in_channels=3, base=4, depth=3),
                                   lambda: models.unet(in_channels=3, base=4, depth=3)])
def test_encoder_decoders_refuse_inputs_smaller_than_their_depth(build):
    with pytest.raises(ValueError, match=r"at least 2\*\*depth = 8 .* got 7x16"):
        build()(mc.randn(1, 3, 7, 16))


@pytest.mark.parametrize("build, message", [
    (lambda: models.fcn(2, variant="4s"), "variant must be '32s', '16s' or '8s'"),
    (lambda: models.fcn(0), "num_classes must be a positive integer"),
    (lambda: models.segnet(2, depth=0), "SegNet: depth must be a positive integer"),
    (lambda: models.unet(base=2.5), "UNet: base must be a positive integer"),
    (lambda: models.bilinear_kernel(3, 0), "kernel_size must be a positive integer"),
])
def test_bad_constructor_arguments_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_models_refuse_inputs_that_are_not_4d():
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\), got shape \(3, 32, 32\)"):
        models.fcn(2, base=4)(mc.randn(3, 32, 32))


# ----- parameter counts: published where the configuration matches, else from layer shapes ----
def test_fcn_encoder_with_base_64_is_vgg16_features():
    features = models.fcn(21, base=64).features
    assert count(features) == 14_714_688            # torchvision vgg16().features
    vgg16_features = models.make_vgg_features(models.vgg.VGG_CONFIGS["vgg16"])
    assert set(features.state_dict()) == set(vgg16_features.state_dict())   # features.0.weight ...
    assert all(features.state_dict()[key].shape == value.shape
               for key, value in vgg16_features.state_dict().items())


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
@pytest.mark.parametrize("base, classes, c_in", [(16, 21, 3), (4, 3, 1)])
def test_fcn_parameter_count(variant, base, classes, c_in):
    b, k = base, classes
    widths = [b, b, 2 * b, 2 * b, 4 * b, 4 * b, 4 * b, 8 * b, 8 * b, 8 * b, 8 * b, 8 * b, 8 * b]
    expected = sum(conv(c, w, 3) for c, w in zip([c_in] + widths[:-1], widths))   # VGG-16 convs
    expected += conv(8 * b, 16 * b, 3) + conv(16 * b, 16 * b, 1) + conv(16 * b, k, 1)  # fc6, fc7, score
    up = {"32s": [32], "16s": [2, 16], "8s": [2, 2, 8]}[variant]       # upsampling factors
    expected += sum(conv(k, k, 2 * s, bias=False) for s in up)          # k=2s transposed convs
    if variant in ("16s", "8s"):
        expected += conv(8 * b, k, 1)                                   # score_pool4
    if variant == "8s":
        expected += conv(4 * b, k, 1)                                   # score_pool3
    assert count(models.fcn(k, in_channels=c_in, base=base, variant=variant)) == expected


@pytest.mark.parametrize("base, depth, classes, c_in", [(16, 3, 4, 3), (64, 4, 12, 3), (8, 2, 2, 1)])
def test_segnet_parameter_count(base, depth, classes, c_in):
    c = [base * 2 ** i for i in range(depth)]
    encoders = sum(conv_bn(([c_in] + c)[i], c[i]) + conv_bn(c[i], c[i]) for i in range(depth))
    decoders = sum(conv_bn(c[i], c[i]) + conv_bn(c[i], c[max(i - 1, 0)]) for i in range(depth))
    expected = encoders + decoders + conv(c[0], classes, 3)
    assert count(models.segnet(classes, c_in, base, depth)) == expected


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("base, depth, classes, c_in", [(16, 3, 2, 1), (64, 4, 2, 3), (8, 2, 5, 3)])
def test_unet_parameter_count(base, depth, classes, c_in, bilinear):
    c = [base * 2 ** i for i in range(depth + 1)]

    def double_conv(a, b):
        return conv_bn(a, b) + conv_bn(b, b)

    expected = double_conv(c_in, c[0]) + sum(double_conv(c[i - 1], c[i]) for i in range(1, depth + 1))
    for i in range(depth, 0, -1):
        up = conv(c[i], c[i - 1], 1) if bilinear else conv(c[i], c[i - 1], 2)   # 1x1 or up-conv 2x2
        expected += up + double_conv(2 * c[i - 1], c[i - 1])
    expected += conv(c[0], classes, 1)
    assert count(models.unet(c_in, classes, base, depth, bilinear)) == expected


# ----- bilinear initialisation -----------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 8, 32])
def test_bilinear_kernel_upsamples_like_interpolate_away_from_the_border(scale):
    weight = models.bilinear_kernel(2, 2 * scale)
    assert weight.shape == (2, 2, 2 * scale, 2 * scale) and np.all(weight[0, 1] == 0)
    x = mc.randn(1, 2, 4, 5)
    up = F.conv_transpose2d(x, mc.tensor(weight), stride=scale, padding=scale // 2)
    reference = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    inner = (Ellipsis, slice(scale, -scale), slice(scale, -scale))
    assert up.shape == reference.shape
    assert np.allclose(up.data[inner], reference.data[inner], atol=1e-5)


def test_fcn_upsamplers_start_as_bilinear():
    model = models.fcn(3, base=4)
    for layer, size in [(model.upscore2, 4), (model.upscore_pool4, 4), (model.upscore, 16)]:
        assert np.array_equal(layer.weight.data, models.bilinear_kernel(3, size))


# ----- SegNet really uses the pooling indices ---------------------------------------------------
def test_segnet_unpools_with_the_indices_of_the_mirrored_pool():
    model = models.segnet(3, base=4, depth=3)
    model.eval()
    pooled, unpooled = [], []
    model.pool.register_forward_hook(lambda module, inputs, output: pooled.append(output[1]))
    model.unpool.register_forward_hook(lambda module, inputs, output: unpooled.append((inputs, output)))
    with mc.no_grad():
        model(mc.randn(2, 3, 15, 12))
    assert len(pooled) == len(unpooled) == 3
    for indices, ((values, used), output) in zip(reversed(pooled), unpooled):
        assert used is indices                         # the very Tensor the pool returned
        # every value sits at its index in its (H*W) plane, everything else is zero
        planes = output.data.reshape(output.shape[0], output.shape[1], -1)
        picked = np.take_along_axis(planes, used.data.reshape(*used.shape[:2], -1), axis=2)
        assert np.array_equal(picked, values.data.reshape(*values.shape[:2], -1))
        assert np.count_nonzero(planes) <= values.data.size


def test_segnet_output_changes_when_the_indices_are_moved():
    mc.manual_seed(0)
    model = models.segnet(3, base=4, depth=2)
    model.eval()
    x = mc.randn(1, 3, 8, 8)
    with mc.no_grad():
        original = model(x).data

    def top_left_of_each_window(module, inputs):
        # replace each argmax by the top-left corner of its 2x2 window: i -> (2r)*W + 2c
        values, indices = inputs
        width = 2 * indices.shape[-1]
        rows, cols = np.divmod(indices.data, width)
        return values, mc.tensor((rows // 2 * 2) * width + cols // 2 * 2)

    model.unpool.register_forward_pre_hook(top_left_of_each_window)
    with mc.no_grad():
        moved = model(x).data
    assert not np.allclose(original, moved, atol=1e-4)


# ----- gradients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("build, shape", [
    (lambda: models.fcn(3, base=2, dropout=0.0), (2, 3, 32, 32)),
    (lambda: models.segnet(3, base=4, depth=2), (2, 3, 9, 10)),
    (lambda: models.unet(3, 3, base=4, depth=2), (2, 3, 9, 10)),
    (lambda: models.unet(3, 3, base=4, depth=2, bilinear=True), (2, 3, 9, 10)),
])
def test_gradient_reaches_every_parameter(build, shape):
    mc.manual_seed(1)
    model = build()
    target = mc.tensor(np.random.default_rng(0).integers(0, 3, size=(shape[0],) + shape[2:]))
    F.cross_entropy(model(mc.randn(*shape)), target).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert np.all(np.isfinite(parameter.grad.data)), name
        assert np.any(parameter.grad.data != 0), name


# ----- learning --------------------------------------------------------------------------------
def test_tiny_unet_overfits_a_tiny_shapes_batch():
    mc.manual_seed(0)
    data = ShapesSegmentation(4, size=24, num_classes=3, channels=1, seed=3)
    images, masks = data.arrays()
    x, y = mc.tensor(images), mc.tensor(masks)
    baseline = np.bincount(masks.ravel()).max() / masks.size        # always "background"
    model = models.unet(1, len(data.classes), base=8, depth=2)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    model.eval()
    with mc.no_grad():
        accuracy = (model(x).data.argmax(1) == masks).mean()
    print(f"pixel accuracy {accuracy:.3f}, majority baseline {baseline:.3f}")
    assert baseline < 0.95
    assert accuracy > baseline + 0.5 * (1 - baseline), (accuracy, baseline)
