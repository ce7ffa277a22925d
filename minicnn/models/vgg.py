"""VGG-style networks (Simonyan & Zisserman, 2014): stacks of 3x3 convolutions between
2x2 max-pools, then a classifier.

``vgg11()``..``vgg19()`` follow torchvision's layout and state-dict keys (``features.N``,
``classifier.N``; 132,863,336 parameters for vgg11 with 1000 classes). ``vgg_cifar()``
builds a small configurable VGG for 32x32 inputs.
"""
from .. import nn

__all__ = ["VGG", "make_vgg_features", "vgg11", "vgg13", "vgg16", "vgg19", "vgg_cifar", "VGG_CONFIGS"]

# numbers are conv output channels, "M" a 2x2 max-pool (torchvision's configurations A, B, D, E)
VGG_CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def make_vgg_features(config, in_channels=3, batch_norm=False):
    """Conv3x3(+BN)+ReLU for each number in ``config``, MaxPool2d(2) for each "M"."""
    layers = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        in_channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` -> adaptive average pool to ``pool_size`` -> ``classifier``."""

    def __init__(self, features, num_classes=1000, hidden=4096, pool_size=7, dropout=0.5):
        super().__init__()
        channels = [m for m in features if isinstance(m, nn.Conv2d)][-1].out_channels
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(name, num_classes, batch_norm, in_channels):
    return VGG(make_vgg_features(VGG_CONFIGS[name], in_channels, batch_norm), num_classes)


def vgg11(num_classes=1000, batch_norm=False, in_channels=3):
    return _vgg("vgg11", num_classes, batch_norm, in_channels)


def vgg13(num_classes=1000, batch_norm=False, in_channels=3):
    return _vgg("vgg13", num_classes, batch_norm, in_channels)


def vgg16(num_classes=1000, batch_norm=False, in_channels=3):
    return _vgg("vgg16", num_classes, batch_norm, in_channels)


def vgg19(num_classes=1000, batch_norm=False, in_channels=3):
    return _vgg("vgg19", num_classes, batch_norm, in_channels)


def vgg_cifar(stages=((64, 1), (128, 1), (256, 2), (512, 2)), num_classes=10, in_channels=3,
              batch_norm=True, hidden=512, dropout=0.5):
    """A small VGG for 32x32 inputs: ``stages`` is a list of (channels, number of convs),
    each stage ending in a 2x2 max-pool; the classifier is global pool -> hidden -> classes."""
    config = []
    for channels, repeats in stages:
        config += [channels] * repeats + ["M"]
    return VGG(make_vgg_features(config, in_channels, batch_norm), num_classes, hidden=hidden,
               pool_size=1, dropout=dropout)
