"""ResNets (He et al., 2015) in torchvision's layout, for ImageNet-style inputs (224x224),
plus the ResNeXt (Xie et al., 2017) grouped variant.

Parameter counts with 1000 classes equal torchvision's: resnet18 11,689,512; resnet34
21,797,672; resnet50 25,557,032; resnext50_32x4d 25,028,904. Options: ``zero_init_residual``
(last BN gamma of each branch = 0), ``se_reduction`` (a Squeeze-and-Excitation block in each
branch), ``drop_path_rate`` (stochastic depth, rising linearly to this rate in the last block).
"""
from .. import nn
from .blocks import BasicBlock, Bottleneck, conv1x1

__all__ = ["ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d",
           "init_resnet"]


def init_resnet(model, zero_init_residual=False):
    """Kaiming-normal convolutions (fan_out, relu), BN gamma 1 and beta 0, as torchvision;
    with ``zero_init_residual`` each branch starts as the identity (last BN gamma 0)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                nn.init.zeros_(m.last_bn().weight)


class ResNet(nn.Module):
    """stem (7x7/2 conv, 3x3/2 max-pool) -> 4 stages of blocks -> global pool -> fc."""

    def __init__(self, block, layers, num_classes=1000, in_channels=3, zero_init_residual=False,
                 groups=1, width_per_group=64, se_reduction=None, drop_path_rate=0.0):
        super().__init__()
        self.inplanes, self.groups, self.base_width = 64, groups, width_per_group
        self.se_reduction = se_reduction
        self._block_rates = iter(_linear_rates(drop_path_rate, sum(layers)))
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        init_resnet(self, zero_init_residual)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = []
        for i in range(blocks):
            layers.append(block(self.inplanes, planes, stride if i == 0 else 1,
                                downsample if i == 0 else None, self.groups, self.base_width,
                                self.se_reduction, next(self._block_rates)))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _linear_rates(final_rate, count):
    """Stochastic-depth rates rising linearly from 0 to ``final_rate`` over ``count`` blocks."""
    if count <= 1:
        return [final_rate] * count
    return [final_rate * i / (count - 1) for i in range(count)]


def resnet18(num_classes=1000, **kwargs):
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, **kwargs)


def resnet34(num_classes=1000, **kwargs):
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, **kwargs)


def resnet50(num_classes=1000, **kwargs):
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, **kwargs)


def resnet101(num_classes=1000, **kwargs):
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, **kwargs)


def resnext50_32x4d(num_classes=1000, **kwargs):
    """ResNeXt-50 (32 groups of width 4): grouped 3x3 convolutions in each bottleneck."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, groups=32, width_per_group=4, **kwargs)
