"""ResNets for 32x32 inputs (He et al., 2015, section 4.2): 3 stages of n BasicBlocks with
16, 32, 64 channels, depth 6n+2 (ResNet-20: n=3, 32: n=5, 56: n=9, 110: n=18).

``shortcut="A"`` (the paper's CIFAR choice) subsamples and zero-pads channels, no parameters:
ResNet-20 has 269,722 parameters, ResNet-32 464,154, ResNet-56 853,018. ``shortcut="B"``
uses a 1x1 convolution + BN where the shape changes (ResNet-20: 272,474 parameters).
"""
from .. import nn
from .blocks import BasicBlock, ShortcutA, conv1x1
from .resnet import _linear_rates, init_resnet

__all__ = ["CifarResNet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]


class CifarResNet(nn.Module):
    """conv3x3(16) -> BN -> ReLU -> layer1 (16) -> layer2 (32, /2) -> layer3 (64, /2) -> pool -> fc."""

    def __init__(self, depth=20, num_classes=10, in_channels=3, shortcut="A",
                 zero_init_residual=False, se_reduction=None, drop_path_rate=0.0):
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CifarResNet: depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"CifarResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        blocks = (depth - 2) // 6
        self.shortcut, self.inplanes, self.se_reduction = shortcut, 16, se_reduction
        self._block_rates = iter(_linear_rates(drop_path_rate, 3 * blocks))
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, blocks, stride=1)
        self.layer2 = self._make_layer(32, blocks, stride=2)
        self.layer3 = self._make_layer(64, blocks, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        init_resnet(self, zero_init_residual)

    def _make_layer(self, planes, blocks, stride):
        layers = []
        for i in range(blocks):
            block_stride = stride if i == 0 else 1
            downsample = None
            if block_stride != 1 or self.inplanes != planes:
                if self.shortcut == "A":
                    downsample = ShortcutA(self.inplanes, planes, block_stride)
                else:
                    downsample = nn.Sequential(conv1x1(self.inplanes, planes, block_stride),
                                               nn.BatchNorm2d(planes))
            layers.append(BasicBlock(self.inplanes, planes, block_stride, downsample,
                                     se_reduction=self.se_reduction,
                                     drop_path=next(self._block_rates)))
            self.inplanes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        """x: (N, C, 32, 32) -> logits (N, num_classes)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def resnet20(num_classes=10, **kwargs):
    return CifarResNet(20, num_classes, **kwargs)


def resnet32(num_classes=10, **kwargs):
    return CifarResNet(32, num_classes, **kwargs)


def resnet44(num_classes=10, **kwargs):
    return CifarResNet(44, num_classes, **kwargs)


def resnet56(num_classes=10, **kwargs):
    return CifarResNet(56, num_classes, **kwargs)


def resnet110(num_classes=10, **kwargs):
    return CifarResNet(110, num_classes, **kwargs)
