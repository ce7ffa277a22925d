"""Residual building blocks: BasicBlock, Bottleneck (also ResNeXt's grouped one),
Squeeze-and-Excitation, stochastic depth, and the CIFAR "option A" shortcut.

Keys follow torchvision (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``conv3``, ``bn3``,
``downsample.0/1``, ``se.fc1/fc2``) so state dicts line up.
"""
from .. import functional as F
from .. import nn
from ..autograd.random import default_generator
from ..autograd.tensor import Tensor

__all__ = ["conv3x3", "conv1x1", "BasicBlock", "Bottleneck", "SqueezeExcitation",
           "StochasticDepth", "ShortcutA"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with padding, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al., 2018): y = x * sigmoid(W2 relu(W1 avgpool(x))).

    (N, C, H, W) -> (N, C, H, W); ``fc1``/``fc2`` are 1x1 convolutions C -> C/r -> C.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, kernel_size=1)
        self.fc2 = nn.Conv2d(squeezed, channels, kernel_size=1)

    def forward(self, x):
        scale = self.fc2(F.relu(self.fc1(self.avgpool(x)))).sigmoid()  # (N, C, 1, 1)
        return x * scale


class StochasticDepth(nn.Module):
    """Drop a whole residual branch per sample with probability ``p`` while training
    (Huang et al., 2016), scaling survivors by 1/(1-p) so eval needs no change.

    (N, ...) -> (N, ...); identity in eval mode or when p = 0.
    """

    def __init__(self, p):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"StochasticDepth: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = (default_generator().random(x.shape[0]) >= self.p).astype(x.dtype) / (1.0 - self.p)
        mask = keep.reshape((x.shape[0],) + (1,) * (x.ndim - 1))
        return x * Tensor(mask).to(x.device)

    def extra_repr(self):
        return f"p={self.p}"


class ShortcutA(nn.Module):
    """He et al.'s CIFAR "option A" shortcut: subsample by ``stride`` and zero-pad the new
    channels (no parameters). (N, C, H, W) -> (N, C + 2*pad, H/stride, W/stride)."""

    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.stride = stride
        self.extra = out_planes - in_planes

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        left = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, left, self.extra - left))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN pairs plus a shortcut: y = relu(bn2(conv2(relu(bn1(conv1 x)))) + s(x))."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 se_reduction=None, drop_path=0.0):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64 (use Bottleneck)")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SqueezeExcitation(planes, se_reduction) if se_reduction else None
        self.drop_path = StochasticDepth(drop_path) if drop_path > 0 else None
        self.downsample = downsample
        self.stride = stride

    def last_bn(self):
        return self.bn2

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand (x4), plus a shortcut."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 se_reduction=None, drop_path=0.0):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcitation(planes * self.expansion, se_reduction) if se_reduction else None
        self.drop_path = StochasticDepth(drop_path) if drop_path > 0 else None
        self.downsample = downsample
        self.stride = stride

    def last_bn(self):
        return self.bn3

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        return self.relu(out + identity)
