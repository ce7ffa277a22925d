"""``minicnn.models``: LeNet-5, VGG, ResNets (CIFAR and ImageNet style), ResNeXt, with
Squeeze-and-Excitation and stochastic-depth options; the segmentation networks FCN-8s/16s/32s
(``fcn``), SegNet (``segnet``) and U-Net (``unet``); the YOLOv1-style detector TinyYOLO
(``tiny_yolo``) with ``yolo_loss`` and ``decode_predictions``. Constructors are lower case."""
from .lenet import LeNet5, lenet5  # noqa: F401
from .vgg import VGG, vgg11, vgg13, vgg16, vgg19, vgg_cifar, make_vgg_features  # noqa: F401
from .blocks import BasicBlock, Bottleneck, SqueezeExcitation, StochasticDepth, ShortcutA  # noqa: F401
from .resnet import ResNet, resnet18, resnet34, resnet50, resnet101, resnext50_32x4d  # noqa: F401
from .resnet_cifar import CifarResNet, resnet20, resnet32, resnet44, resnet56, resnet110  # noqa: F401
from .fcn import FCN, fcn, bilinear_kernel  # noqa: F401
from .segmentation import SegNet, UNet, DoubleConv, segnet, unet  # noqa: F401
from .detection import (TinyYOLO, tiny_yolo, yolo_loss, yolo_batch_targets,  # noqa: F401
                        decode_predictions)


def get_model(name, **kwargs):
    """A model by its constructor's name, e.g. ``get_model("resnet20", num_classes=10)``."""
    constructors = {fn.__name__: fn for fn in (lenet5, vgg11, vgg13, vgg16, vgg19, vgg_cifar,
                                               resnet18, resnet34, resnet50, resnet101,
                                               resnext50_32x4d, resnet20, resnet32, resnet44,
                                               resnet56, resnet110, fcn, segnet, unet,
                                               tiny_yolo)}
    if name not in constructors:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(constructors)}")
    return constructors[name](**kwargs)
