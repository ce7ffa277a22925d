"""LeNet-5 (LeCun et al., 1998), for 28x28 digits (conv1 pads by 2, as for the original 32x32).

    (N, 1, 28, 28) -conv5 pad2-> (N, 6, 28, 28) -pool-> (N, 6, 14, 14)
                   -conv5-> (N, 16, 10, 10) -pool-> (N, 16, 5, 5) -> 120 -> 84 -> classes

61,706 parameters with 10 classes, as in the paper's C1..F6 + output layer.
"""
from .. import nn

__all__ = ["LeNet5", "lenet5"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    """LeNet-5 with a choice of activation ("relu" or the original "tanh") and pooling."""

    def __init__(self, num_classes=10, in_channels=1, activation="relu", pool="max"):
        super().__init__()
        if activation not in _ACTIVATIONS or pool not in _POOLS:
            raise ValueError(f"lenet5: activation must be one of {sorted(_ACTIVATIONS)} and pool one "
                             f"of {sorted(_POOLS)}, got {activation!r} and {pool!r}")
        act, pool_layer = _ACTIVATIONS[activation], _POOLS[pool]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), act(), pool_layer(2),
            nn.Conv2d(6, 16, kernel_size=5), act(), pool_layer(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        """x: (N, in_channels, 28, 28) -> logits (N, num_classes)."""
        return self.classifier(self.features(x))


def lenet5(num_classes=10, in_channels=1, activation="relu", pool="max"):
    """LeNet-5 for 28x28 inputs; see :class:`LeNet5`."""
    return LeNet5(num_classes, in_channels, activation, pool)
