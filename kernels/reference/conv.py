"""im2col and col2im: the data movement that turns a convolution into one matrix product.

A 2-D convolution of ``x (N, C, H, W)`` with ``weight (C_out, C, kh, kw)`` is

    out[n, o, oh, ow] = sum_{c,i,j} weight[o, c, i, j] * xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]

``im2col`` copies every input value a kernel tap reads into a column matrix
``cols (N, C*kh*kw, OH*OW)``, so the convolution becomes a GEMM:
``out[n] = weight.reshape(C_out, C*kh*kw) @ cols[n]``.
``col2im`` is its adjoint (transpose): it adds each column entry back to the pixel it was
read from, which is what the backward pass needs: ``grad_x = col2im(weight_2d.T @ grad_out)``.

Readable NumPy: one strided slice of the padded input per kernel tap ``(i, j)``.
"""
import numpy as np

from kernels.backend import FLOAT_DTYPES
from kernels.shapes import conv_output_size, pair


def conv_geometry(op, input_shape, kernel_size, stride, padding, dilation):
    """Validate a convolution's geometry; return the pairs as int tuples and ``(OH, OW)``.

    ``input_shape`` is ``(N, C, H, W)``; each parameter is an int or an ``(h, w)`` pair.
    Returns ``(kernel_size, stride, padding, dilation, (OH, OW))``.
    Raises ValueError, naming ``op``, for a bad shape or parameter, or an empty output.
    """
    if len(input_shape) != 4:
        raise ValueError(f"{op}: expected an input of shape (N, C, H, W), got shape {tuple(input_shape)}")
    params = {}
    for name, value, smallest in (("kernel_size", kernel_size, 1), ("stride", stride, 1),
                                  ("padding", padding, 0), ("dilation", dilation, 1)):
        params[name] = pair(value, f"{op}: {name}")
        if min(params[name]) < smallest:
            raise ValueError(f"{op}: {name} must be ints >= {smallest}, got {value!r}")
    out_hw = []
    for axis, name in enumerate(("height", "width")):
        size = int(input_shape[2 + axis])
        k, s = params["kernel_size"][axis], params["stride"][axis]
        p, d = params["padding"][axis], params["dilation"][axis]
        out = conv_output_size(size, k, s, p, d)
        if out < 1:
            raise ValueError(
                f"{op}: output {name} would be {out} < 1: "
                f"floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1 "
                f"= floor(({size} + 2*{p} - {d}*({k}-1) - 1) / {s}) + 1 "
                f"for input shape {tuple(input_shape)}; the kernel does not fit the padded input")
        out_hw.append(out)
    return (params["kernel_size"], params["stride"], params["padding"], params["dilation"],
            tuple(out_hw))


def check_float_array(op, name, array):
    """Raise TypeError unless ``array`` is a float32 or float64 array."""
    if not isinstance(array, np.ndarray) or array.dtype not in FLOAT_DTYPES:
        kind = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise TypeError(f"{op}: {name} must be a float32 or float64 NumPy array, got {kind}")


def check_out(op, out, shape, dtype, xp=np):
    """``out`` (the array to write the result into) is None or a C-contiguous ``xp`` array
    (NumPy, or CuPy for the CUDA kernels) of exactly ``shape`` and ``dtype``; returns it, or
    a new empty one when None."""
    if out is None:
        return xp.empty(shape, dtype=dtype)
    if (not isinstance(out, xp.ndarray) or tuple(out.shape) != tuple(shape) or out.dtype != dtype
            or not out.flags.c_contiguous):
        got = (f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))} {getattr(out, 'dtype', '')}"
               f"{'' if getattr(out, 'flags', None) is None or out.flags.c_contiguous else ' (not contiguous)'}")
        raise ValueError(f"{op}: out must be a C-contiguous array of shape {tuple(shape)} and "
                         f"dtype {np.dtype(dtype)}, got {got}")
    return out


def im2col(x, kernel_size, stride, padding, dilation, out=None):
    """Unfold the kernel windows of ``x`` into columns.

    x    : (N, C, H, W) float32 or float64
    cols : (N, C*kh*kw, OH*OW), C-contiguous, same dtype (written into ``out`` if given), where
           cols[n, (c*kh + i)*kw + j, oh*OW + ow] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]
    """
    check_float_array("im2col", "x", x)
    geometry = conv_geometry("im2col", x.shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = geometry
    n, c = x.shape[0], x.shape[1]
    result = check_out("im2col", out, (n, c * kh * kw, out_h * out_w), x.dtype)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = result.reshape(n, c, kh, kw, out_h, out_w)  # a view: the loop fills ``result``
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw  # where tap (i, j) of the first window sits
            rows = slice(top, top + sh * (out_h - 1) + 1, sh)
            columns = slice(left, left + sw * (out_w - 1) + 1, sw)
            cols[:, :, i, j] = xpad[:, :, rows, columns]
    return result


def col2im_geometry(cols, input_shape, kernel_size, stride, padding, dilation):
    """Check col2im's arguments (both backends use this) and return ``conv_geometry``'s tuple."""
    check_float_array("col2im", "cols", cols)
    geometry = conv_geometry("col2im", tuple(input_shape), kernel_size, stride, padding, dilation)
    (kh, kw), _, _, _, (out_h, out_w) = geometry
    n, c, h, w = (int(size) for size in input_shape)
    expected = (n, c * kh * kw, out_h * out_w)
    if cols.shape != expected:
        raise ValueError(f"col2im: expected cols of shape {expected} for input_shape "
                         f"{(n, c, h, w)}, got {cols.shape}")
    return geometry


def col2im(cols, input_shape, kernel_size, stride, padding, dilation, out=None):
    """Fold columns back onto the image, summing overlaps: the adjoint of ``im2col``.

    cols        : (N, C*kh*kw, OH*OW) float32 or float64
    input_shape : (N, C, H, W)
    returns x   : (N, C, H, W) (written into ``out`` if given), x[n, c, h, w] = sum of every
                  cols entry that im2col read from xpad[n, c, h + ph, w + pw]; entries read
                  from padding are dropped.
    """
    geometry = col2im_geometry(cols, input_shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = geometry
    n, c, h, w = (int(size) for size in input_shape)
    result = check_out("col2im", out, (n, c, h, w), cols.dtype)
    cols6 = cols.reshape(n, c, kh, kw, out_h, out_w)
    xpad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            rows = slice(top, top + sh * (out_h - 1) + 1, sh)
            columns = slice(left, left + sw * (out_w - 1) + 1, sw)
            # one tap never reads a pixel twice, so a plain += on the slice is exact
            xpad[:, :, rows, columns] += cols6[:, :, i, j]
    result[...] = xpad[:, :, ph:ph + h, pw:pw + w]
    return result
