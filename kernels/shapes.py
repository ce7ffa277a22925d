"""Output-size arithmetic shared by every kernel backend and by the ops that check shapes."""
import math


def pair(value, name="value"):
    """Turn an int or a 2-sequence into an ``(h, w)`` tuple of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def conv_output_size(size, kernel, stride, padding, dilation):
    """Length of a convolution output along one axis.

    out = floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """Length of a pooling output along one axis, PyTorch's rule.

    out = floor_or_ceil((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1,
    and with ceil_mode the last window must start inside the input or left padding.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = math.ceil(span / stride) + 1
        if (out - 1) * stride >= size + padding:  # last window would start in right padding
            out -= 1
    else:
        out = span // stride + 1
    return out
