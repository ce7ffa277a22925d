"""Encoder-decoder segmentation networks: SegNet and U-Net. Both map (N, C_in, H, W) to
per-pixel class scores (N, num_classes, H, W), for any H, W >= 2**depth (odd sizes too).
FCN lives in fcn.py.

SegNet (Badrinarayanan, Kendall & Cipolla, 2015): the decoder upsamples with the *indices*
of the encoder's max-pools (``MaxUnpool2d``), putting each value back where its maximum came
from, so boundaries stay sharp without learned upsampling or skip features.

U-Net (Ronneberger, Fischer & Brox, 2015): the decoder upsamples (learned 2x2 transposed conv)
and concatenates the encoder's feature map of the same size before two 3x3 convs.
"""
from .. import functional as F
from .. import nn
from .fcn import _check_positive

__all__ = ["SegNet", "UNet", "DoubleConv", "segnet", "unet", "conv_bn_relu"]


def conv_bn_relu(in_channels, out_channels):
    """3x3 conv (padding 1, no bias: BN's beta is the bias) -> BatchNorm2d -> ReLU; keeps H, W."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _check_min_size(name, x, depth):
    """Each 2x2 pool floors H and W; ``depth`` of them need H, W >= 2**depth."""
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
    if min(x.shape[-2:]) < 2 ** depth:
        raise ValueError(f"{name}: input height and width must be at least 2**depth = {2 ** depth} "
                         f"(depth={depth} halvings), got {x.shape[-2]}x{x.shape[-1]}")


class SegNet(nn.Module):
    """SegNet with ``depth`` stages of widths base, 2*base, ..., base*2**(depth-1).

    encoder stage i: conv-BN-ReLU (c_{i-1} -> c_i), conv-BN-ReLU (c_i -> c_i),
                     MaxPool2d(2, return_indices=True)           -> (values, indices)
    decoder stage i: MaxUnpool2d(2)(values, indices of encoder stage i, output_size = its input),
                     conv-BN-ReLU (c_i -> c_i), conv-BN-ReLU (c_i -> c_{i-1}, c_{-1} = c_0)
    classifier:      3x3 conv c_0 -> num_classes (no BN/ReLU: these are the logits)

    Passing ``output_size`` to the unpool restores odd sizes (e.g. 15 -> 7 -> 15).
    """

    def __init__(self, num_classes, in_channels=3, base=16, depth=3):
        super().__init__()
        _check_positive("SegNet", num_classes=num_classes, in_channels=in_channels, base=base,
                        depth=depth)
        self.depth = depth
        widths = [base * 2 ** i for i in range(depth)]
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.encoders.append(nn.Sequential(conv_bn_relu(previous, width), conv_bn_relu(width, width)))
            previous = width
        for i in reversed(range(depth)):  # decoders[0] mirrors the deepest encoder
            out = widths[i - 1] if i > 0 else widths[0]
            self.decoders.append(nn.Sequential(conv_bn_relu(widths[i], widths[i]),
                                               conv_bn_relu(widths[i], out)))
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        self.classifier = nn.Conv2d(widths[0], num_classes, kernel_size=3, padding=1)

    def forward(self, x):
        """x: (N, C_in, H, W) -> (N, num_classes, H, W)."""
        _check_min_size("SegNet", x, self.depth)
        saved = []  # (indices, size before pooling) per encoder stage
        for encoder in self.encoders:
            x = encoder(x)
            size = x.shape
            x, indices = self.pool(x)                      # (N, c, H, W) -> (N, c, H//2, W//2)
            saved.append((indices, size))
        for decoder, (indices, size) in zip(self.decoders, reversed(saved)):
            x = self.unpool(x, indices, output_size=size)  # values back at their argmax positions
            x = decoder(x)
        return self.classifier(x)


class DoubleConv(nn.Sequential):
    """U-Net's block: (3x3 conv (padding 1) -> BN -> ReLU) x 2, (N, C_in, H, W) -> (N, C_out, H, W).
    The paper used unpadded convs and no BN; padding keeps sizes, BN speeds up training."""

    def __init__(self, in_channels, out_channels):
        super().__init__(*conv_bn_relu(in_channels, out_channels), *conv_bn_relu(out_channels, out_channels))


class UNetUp(nn.Module):
    """Upsample x2 (c_in -> c_in/2 channels), pad to the skip's size, concatenate, DoubleConv.

    ``up`` is ConvTranspose2d(c_in, c_in/2, 2, stride 2) -- the paper's "up-conv 2x2" -- or,
    with ``bilinear=True``, Upsample(x2, bilinear) followed by a 1x1 conv c_in -> c_in/2.
    """

    def __init__(self, in_channels, out_channels, bilinear=False):
        super().__init__()
        if bilinear:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_channels, out_channels, kernel_size=1))
        else:
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels)

    def forward(self, x, skip):
        """x: (N, c_in, h, w), skip: (N, c_out, H, W) with H in {2h, 2h+1} -> (N, c_out, H, W)."""
        x = self.up(x)                                     # (N, c_out, 2h, 2w)
        # a pool floored an odd size: zero-pad the upsampled map (more on the bottom/right)
        missing_h = skip.shape[-2] - x.shape[-2]
        missing_w = skip.shape[-1] - x.shape[-1]
        if missing_h or missing_w:
            x = F.pad(x, (missing_w // 2, missing_w - missing_w // 2,
                          missing_h // 2, missing_h - missing_h // 2))
        return self.conv(F.cat([skip, x], dim=1))         # (N, 2*c_out, H, W) -> (N, c_out, H, W)


class UNet(nn.Module):
    """U-Net with widths c_i = base * 2**i, i = 0..depth.

    inc:    DoubleConv(in_channels, c_0)
    downs:  MaxPool2d(2) -> DoubleConv(c_{i-1}, c_i), i = 1..depth    (H -> floor(H/2) each)
    ups:    UNetUp(c_i, c_{i-1}), i = depth..1, each concatenating the encoder map of c_{i-1}
    outc:   1x1 conv c_0 -> num_classes

    Sizes not divisible by 2**depth: the upsampled map is 1 pixel short where a pool floored an
    odd size, and is zero-padded (not cropped) to the skip's size, so the output is (H, W).
    """

    def __init__(self, in_channels=1, num_classes=2, base=16, depth=3, bilinear=False):
        super().__init__()
        _check_positive("UNet", in_channels=in_channels, num_classes=num_classes, base=base,
                        depth=depth)
        self.depth = depth
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList([nn.Sequential(nn.MaxPool2d(2), DoubleConv(widths[i - 1], widths[i]))
                                    for i in range(1, depth + 1)])
        self.ups = nn.ModuleList([UNetUp(widths[i], widths[i - 1], bilinear)
                                  for i in range(depth, 0, -1)])
        self.outc = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x):
        """x: (N, C_in, H, W) -> (N, num_classes, H, W)."""
        _check_min_size("UNet", x, self.depth)
        x = self.inc(x)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.outc(x)


def segnet(num_classes, in_channels=3, base=16, depth=3):
    """SegNet whose decoder upsamples with the encoder's max-pool indices."""
    return SegNet(num_classes, in_channels, base, depth)


def unet(in_channels=1, num_classes=2, base=16, depth=3, bilinear=False):
    """U-Net with ``depth`` poolings, concatenation skips and a 1x1 output conv."""
    return UNet(in_channels, num_classes, base, depth, bilinear)
