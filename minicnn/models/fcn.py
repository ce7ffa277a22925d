"""FCN (Long, Shelhamer & Darrell, 2015): a VGG classifier turned fully convolutional, whose
coarse class scores are upsampled back to the input size with help from finer layers.

``fcn(num_classes, variant="8s")`` builds, for a base width b (the paper's VGG-16 is b=64):

    features   VGG-16's 13 convs (b, b | 2b, 2b | 4b x3 | 8b x3 | 8b x3), a 2x2 max-pool after
               each group: pool3 at stride 8, pool4 at stride 16, pool5 at stride 32
    fc6, fc7   the classifier as convolutions: 3x3 conv 8b -> 16b, 1x1 conv 16b -> 16b
               (the paper's fc6 is 7x7 on VGG's 7x7 map; 3x3 suits small inputs)
    score_fr   1x1 conv 16b -> num_classes, at stride 32
    FCN-32s    upsample the stride-32 scores x32
    FCN-16s    upsample x2, add score_pool4 (1x1 conv on pool4), upsample x16
    FCN-8s     as 16s, then upsample x2 again, add score_pool3 (1x1 on pool3), upsample x8

Every upsampling is a ``ConvTranspose2d(K, K, 2s, stride=s, padding=s/2, bias=False)``
initialised to bilinear interpolation (``bilinear_kernel``) and learned afterwards; with
k = 2s and p = s/2 the output size is (H-1)*s - 2*(s/2) + 2s = s*H, so no cropping is needed
(the paper pads the input by 100 and crops; padding=1 convs make that unnecessary here).
Inputs must therefore have H and W divisible by 32.

With b=64 and 3 input channels ``features`` has VGG-16's layout, state-dict keys
(``features.0.weight`` ...) and 14,714,688 parameters.
"""
import numpy as np

from .. import nn
from .vgg import make_vgg_features

__all__ = ["FCN", "fcn", "bilinear_kernel"]

FCN_STRIDE = 32  # five 2x2 max-pools


def bilinear_kernel(channels, kernel_size):
    """A (channels, channels, k, k) float32 ``ConvTranspose2d`` weight that upsamples each
    channel by bilinear interpolation (channel c -> channel c only; zeros off the diagonal).

    The 1-D filter is a tent: w(i) = 1 - |i - center| / factor, factor = ceil(k/2),
    center = factor - 1 (k odd) or factor - 0.5 (k even); the 2-D filter is w(i) * w(j).
    With k = 2s, stride s, padding s/2 this equals ``F.interpolate(scale_factor=s,
    mode="bilinear", align_corners=False)`` away from the border.
    """
    if int(channels) != channels or channels < 1:
        raise ValueError(f"bilinear_kernel: channels must be a positive integer, got {channels!r}")
    if int(kernel_size) != kernel_size or kernel_size < 1:
        raise ValueError(f"bilinear_kernel: kernel_size must be a positive integer, got {kernel_size!r}")
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - np.abs(np.arange(kernel_size) - center) / factor          # (k,)
    weight = np.zeros((channels, channels, kernel_size, kernel_size), dtype=np.float32)
    weight[np.arange(channels), np.arange(channels)] = np.outer(taps, taps)
    return weight


def _bilinear_upsampler(channels, scale):
    """ConvTranspose2d that multiplies H and W by ``scale`` (k=2s, stride s, padding s/2)."""
    layer = nn.ConvTranspose2d(channels, channels, kernel_size=2 * scale, stride=scale,
                               padding=scale // 2, bias=False)
    layer.weight.data[...] = bilinear_kernel(channels, 2 * scale)
    return layer


class FCN(nn.Module):
    """Fully convolutional network: (N, C_in, H, W) -> scores (N, num_classes, H, W),
    H and W divisible by 32. ``variant`` is "32s", "16s" or "8s" (the finest skip used)."""

    def __init__(self, num_classes, in_channels=3, base=16, variant="8s", dropout=0.5):
        super().__init__()
        if variant not in ("32s", "16s", "8s"):
            raise ValueError(f"FCN: variant must be '32s', '16s' or '8s', got {variant!r}")
        _check_positive("FCN", num_classes=num_classes, in_channels=in_channels, base=base)
        b = base
        config = [b, b, "M", 2 * b, 2 * b, "M", 4 * b, 4 * b, 4 * b, "M",
                  8 * b, 8 * b, 8 * b, "M", 8 * b, 8 * b, 8 * b, "M"]
        self.variant = variant
        self.features = make_vgg_features(config, in_channels)
        # fc6/fc7 as convolutions, with the paper's dropout after each
        self.fc6 = nn.Conv2d(8 * b, 16 * b, kernel_size=3, padding=1)
        self.fc7 = nn.Conv2d(16 * b, 16 * b, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.score_fr = nn.Conv2d(16 * b, num_classes, kernel_size=1)
        if variant == "32s":
            self.upscore = _bilinear_upsampler(num_classes, 32)
        else:
            self.upscore2 = _bilinear_upsampler(num_classes, 2)
            self.score_pool4 = nn.Conv2d(8 * b, num_classes, kernel_size=1)
        if variant == "16s":
            self.upscore = _bilinear_upsampler(num_classes, 16)
        if variant == "8s":
            self.upscore_pool4 = _bilinear_upsampler(num_classes, 2)
            self.score_pool3 = nn.Conv2d(4 * b, num_classes, kernel_size=1)
            self.upscore = _bilinear_upsampler(num_classes, 8)

    def forward(self, x):
        """x: (N, C_in, H, W) -> (N, num_classes, H, W)."""
        _check_divisible("FCN", x, FCN_STRIDE)
        pools = []  # the outputs of pool1..pool5
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                pools.append(x)
        pool3, pool4 = pools[2], pools[3]
        x = self.drop(self.relu(self.fc6(x)))
        x = self.drop(self.relu(self.fc7(x)))
        score = self.score_fr(x)                                   # (N, K, H/32, W/32)
        if self.variant == "32s":
            return self.upscore(score)
        score = self.upscore2(score) + self.score_pool4(pool4)     # (N, K, H/16, W/16)
        if self.variant == "16s":
            return self.upscore(score)
        score = self.upscore_pool4(score) + self.score_pool3(pool3)  # (N, K, H/8, W/8)
        return self.upscore(score)


def _check_positive(name, **values):
    for key, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")


def _check_divisible(name, x, stride):
    """Refuse inputs that are not (N, C, H, W) with H and W multiples of ``stride``."""
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    if height % stride or width % stride:
        raise ValueError(f"{name}: input height and width must be divisible by the total stride "
                         f"{stride}, got {height}x{width} (e.g. pad or resize to "
                         f"{-(-height // stride) * stride}x{-(-width // stride) * stride})")


def fcn(num_classes, in_channels=3, base=16, variant="8s", dropout=0.5):
    """FCN-8s (default), FCN-16s or FCN-32s with a VGG-16-shaped encoder of width ``base``."""
    return FCN(num_classes, in_channels, base, variant, dropout)
