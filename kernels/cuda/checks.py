"""Argument checks for the CUDA kernels: a clear error at the call, never a bad launch.

A CUDA kernel that is handed the wrong shape reads or writes past an array's end, and
the result is garbage or a crash far from the cause; so every launcher checks first.
The rules are those of docs/kernels.md and the reference kernels.
"""
from kernels.backend import FLOAT_DTYPES
from kernels.reference.conv import check_out  # noqa: F401  (array-module agnostic: xp=cupy)
from kernels.reference.pool import check_same_shape as check_shape  # noqa: F401
from kernels.shapes import conv_output_size, pool_output_size


def check_float_array(cupy, op, name, array, ndim):
    """Raise TypeError/ValueError unless ``array`` is a float32/float64 CuPy array of ``ndim`` dims."""
    if not isinstance(array, cupy.ndarray):
        raise TypeError(f"{op}: {name} must be a cupy.ndarray for the CUDA kernels, "
                        f"got {type(array).__module__}.{type(array).__name__}")
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{op}: {name} must have {ndim} dims, got shape {tuple(array.shape)}")


def check_index_array(cupy, op, name, array, ndim):
    """Raise TypeError/ValueError unless ``array`` is an integer CuPy array of ``ndim`` dims."""
    if not isinstance(array, cupy.ndarray):
        raise TypeError(f"{op}: {name} must be a cupy.ndarray for the CUDA kernels, "
                        f"got {type(array).__module__}.{type(array).__name__}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer (int64) array, got {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{op}: {name} must have {ndim} dims, got shape {tuple(array.shape)}")


def check_input_shape(op, input_shape):
    """``input_shape`` must be four non-negative ints (N, C, H, W); returns them as ints."""
    if len(input_shape) != 4 or min(int(size) for size in input_shape) < 0:
        raise ValueError(f"{op}: input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    return tuple(int(size) for size in input_shape)


def check_pairs(op, kernel_size, stride, padding, dilation):
    """kernel, stride, dilation >= 1 and padding >= 0, each an (h, w) pair."""
    for name, value, smallest in (("kernel_size", kernel_size, 1), ("stride", stride, 1),
                                  ("padding", padding, 0), ("dilation", dilation, 1)):
        if len(value) != 2 or min(value) < smallest:
            raise ValueError(f"{op}: {name} must be a pair of ints >= {smallest}, got {value!r}")


def conv_geometry(op, input_shape, kernel_size, stride, padding, dilation):
    """Output size (OH, OW) of im2col/col2im; ValueError if a pair is bad or the output empty.

    OH = floor((H + 2*ph - dh*(kh-1) - 1) / sh) + 1, and the same for OW.
    """
    check_pairs(op, kernel_size, stride, padding, dilation)
    height, width = input_shape[2], input_shape[3]
    out_h = conv_output_size(height, kernel_size[0], stride[0], padding[0], dilation[0])
    out_w = conv_output_size(width, kernel_size[1], stride[1], padding[1], dilation[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{op}: output size ({out_h}, {out_w}) would be empty for input "
                         f"shape {tuple(input_shape)}, kernel_size {tuple(kernel_size)}, "
                         f"stride {tuple(stride)}, padding {tuple(padding)}, "
                         f"dilation {tuple(dilation)}")
    return out_h, out_w


def pool_geometry(op, input_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Output size (OH, OW) of a pooling; PyTorch's rules, padding <= kernel // 2 included."""
    check_pairs(op, kernel_size, stride, padding, dilation)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding must be at most half the kernel size, "
                         f"got padding={tuple(padding)} for kernel_size={tuple(kernel_size)}")
    height, width = input_shape[2], input_shape[3]
    out_h = pool_output_size(height, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
    out_w = pool_output_size(width, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{op}: output size ({out_h}, {out_w}) is too small for input "
                         f"{tuple(input_shape)} with kernel_size={tuple(kernel_size)}, "
                         f"padding={tuple(padding)}, dilation={tuple(dilation)}")
    return out_h, out_w


def divisor_code(op, divisor_override):
    """divisor_override as the kernels take it: 0 for None, else a positive int."""
    if divisor_override is None:
        return 0
    if int(divisor_override) <= 0:
        raise ValueError(f"{op}: divisor_override must be a positive int, got {divisor_override}")
    return int(divisor_override)


def check_batchnorm_input(cupy, op, x, **vectors):
    """x must be float (N, C, L) with N*L > 0; every named vector must be float (C,)."""
    check_float_array(cupy, op, "x", x, 3)
    if x.shape[0] * x.shape[2] == 0:
        raise ValueError(f"{op}: x must hold at least one value per channel, "
                         f"got shape {tuple(x.shape)}")
    for name, vector in vectors.items():
        check_float_array(cupy, op, name, vector, 1)
        check_shape(op, name, vector, (x.shape[1],))
