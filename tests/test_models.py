"""Models: published parameter counts, output shapes, torchvision state-dict names, options."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import models, nn


def count(model):
    return sum(p.numel() for p in model.parameters())


# Counts from the papers / torchvision (1000 classes) and He et al.'s CIFAR ResNets
# (option A shortcuts have no parameters; option B adds a 1x1 conv + BN per stage change).
@pytest.mark.parametrize("name, kwargs, expected", [
    ("lenet5", {}, 61_706),
    ("resnet20", {}, 269_722),
    ("resnet20", {"shortcut": "B"}, 272_474),
    ("resnet32", {}, 464_154),
    ("resnet56", {}, 853_018),
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("resnext50_32x4d", {}, 25_028_904),
    ("vgg11", {}, 132_863_336),
    ("vgg16", {}, 138_357_544),
])
def test_parameter_counts_match_published(name, kwargs, expected):
    assert count(models.get_model(name, **kwargs)) == expected


def test_parameter_counts_match_torchvision_style_torch_model():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    # LeNet-5 rebuilt in PyTorch with the same layers: the counts must agree
    ref = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                         tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                         tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                         tnn.Linear(84, 10))
    assert count(models.lenet5()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("name, shape, classes", [
    ("lenet5", (2, 1, 28, 28), 10),
    ("resnet20", (2, 3, 32, 32), 10),
    ("vgg_cifar", (2, 3, 32, 32), 10),
])
def test_output_shapes(name, shape, classes):
    model = models.get_model(name)
    model.eval()
    with mc.no_grad():
        assert model(mc.randn(*shape)).shape == (shape[0], classes)


def test_resnet18_forward_shape_on_small_input():
    model = models.resnet18(num_classes=7)
    model.eval()
    with mc.no_grad():
        assert model(mc.randn(1, 3, 64, 64)).shape == (1, 7)


def test_state_dict_keys_follow_torchvision_names():
    keys = set(models.resnet18().state_dict())
    for key in ["conv1.weight", "bn1.running_var", "bn1.num_batches_tracked",
                "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.running_mean", "layer4.1.bn2.bias", "fc.weight", "fc.bias"]:
        assert key in keys
    vgg_keys = set(models.vgg11().state_dict())
    assert {"features.0.weight", "features.3.bias", "classifier.0.weight", "classifier.6.bias"} <= vgg_keys
    bottleneck_keys = set(models.resnet50().state_dict())
    assert {"layer1.0.conv3.weight", "layer1.0.bn3.weight", "layer1.0.downsample.0.weight"} <= bottleneck_keys


def test_zero_init_residual_zeroes_last_bn_of_each_branch():
    model = models.resnet20(zero_init_residual=True)
    for block in model.modules():
        if isinstance(block, models.BasicBlock):
            assert np.all(block.bn2.weight.data == 0)
            assert np.all(block.bn1.weight.data == 1)
    # with every branch zeroed each block is relu(identity): the same input gives the same output
    model.eval()
    x = mc.randn(2, 16, 8, 8).relu()
    with mc.no_grad():
        assert np.allclose(model.layer1(x).data, x.data, atol=1e-6)


def test_squeeze_excitation_scales_channels_within_zero_one():
    se = models.SqueezeExcitation(8, reduction=2)
    x = mc.rand(2, 8, 5, 5) + 0.1
    y = se(x)
    ratio = y.data / x.data
    assert ratio.shape == (2, 8, 5, 5)
    assert np.all((ratio > 0) & (ratio < 1))
    assert np.allclose(ratio, ratio[:, :, :1, :1])   # one factor per (sample, channel)


def test_stochastic_depth_drops_whole_samples_and_keeps_the_mean():
    mc.manual_seed(0)
    drop = models.StochasticDepth(0.5)
    x = mc.ones(4000, 3, 2, 2)
    y = drop(x).data
    per_sample = y.reshape(4000, -1)
    assert set(np.unique(per_sample)) <= {0.0, 2.0}
    assert np.all(per_sample.min(1) == per_sample.max(1))        # all or nothing per sample
    assert abs(per_sample.mean() - 1.0) < 0.1                     # 1/(1-p) scaling keeps the mean
    drop.eval()
    assert np.array_equal(drop(x).data, x.data)


def test_shortcut_a_pads_channels_and_subsamples():
    shortcut = models.ShortcutA(16, 32, 2)
    x = mc.randn(2, 16, 8, 8)
    y = shortcut(x).data
    assert y.shape == (2, 32, 4, 4)
    assert np.array_equal(y[:, 8:24], x.data[:, :, ::2, ::2])
    assert np.all(y[:, :8] == 0) and np.all(y[:, 24:] == 0)


def test_resnext_uses_grouped_convolutions():
    model = models.resnext50_32x4d()
    assert model.layer1[0].conv2.groups == 32


def test_unknown_model_and_bad_depth_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        models.get_model("resnet7")
    with pytest.raises(ValueError, match="6n\\+2"):
        models.CifarResNet(depth=21)


def test_small_resnet_gradients_reach_every_parameter():
    mc.manual_seed(0)
    model = models.resnet20(num_classes=3, se_reduction=4)
    out = model(mc.randn(4, 3, 16, 16))
    mc.functional.cross_entropy(out, mc.tensor([0, 1, 2, 0])).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []
    assert isinstance(model.fc, nn.Linear)
