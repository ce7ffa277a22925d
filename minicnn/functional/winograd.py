"""conv2d by Winograd's F(2x2, 3x3) for 3x3 stride-1 kernels on the CPU (``conv.py`` calls it).

The kernels (``kernels/*/winograd.py``) hold the math of the transforms; here they are put
together into a forward and a backward, chunk by chunk as in the im2col path::

    U  = G W G^T per (o, c)               (16, C_out, C_in)       weight transform
    V  = winograd_input(x, padding)        (16, C_in, n, TH, TW)
    y  = winograd_output(U @ V)            16 GEMMs (C_out, C_in) @ (C_in, n*TH*TW)

    grad_x = the same forward on grad_y, with W flipped (rot180, C_in and C_out swapped) and
             padding 2 - p: a stride-1 convolution's input gradient is the "full" convolution
             of the output gradient with the flipped kernel
    grad_W = G^T dU G,   dU = sum over chunks of winograd_output_adjoint(grad_y) @ V^T

It does a quarter of the multiplications of im2col + GEMM (2.25x fewer multiplications,
and on ResNet shapes its GEMMs run faster too: their operands are 4x the input, not 9x),
and the backward needs no col2im. Float32 rounding differs from the direct sum only in the
last bits (the transforms add at most 3 numbers, with weights 1 and 1/2).

Used when: a NumPy array (the CUDA backend keeps im2col), kernel 3x3, stride 1, dilation 1,
groups 1, padding at most 2 on each side (so that the input gradient's padding 2 - p is
not negative), where it pays: an output of at least ``MIN_SIZE`` x ``MIN_SIZE`` and
channels enough (see ``applies``). ``MINICNN_WINOGRAD=0``
in the environment, or ``set_enabled(False)``, turns it off (conv2d then uses im2col for
every shape; tests compare the two).
"""
import os

import numpy as np

from kernels.backend import for_array
from kernels.cpu import memory
from kernels.reference.winograd import G, winograd_tiles


# Below MIN_SIZE x MIN_SIZE (8x8 in a ResNet's last stage) the transforms' short rows cost
# relatively more, so the layer needs more channels to pay (see ``applies``).
MIN_SIZE = 16
_state = {"enabled": os.environ.get("MINICNN_WINOGRAD", "1") != "0", "always": False}


def set_enabled(enabled=True, always=False):
    """Turn the Winograd path of conv2d on (the default) or off. With ``always``, every
    convolution it can compute takes it, whatever its size and channels (for tests)."""
    _state["enabled"], _state["always"] = bool(enabled), bool(always)


def settings():
    """(enabled, always), as ``set_enabled`` takes them."""
    return _state["enabled"], _state["always"]


def applies(geo, groups, x, out_channels):
    """True when conv2d with geometry ``geo`` on array ``x`` takes the Winograd path.

    The GEMMs it saves grow as C_in * C_out per pixel, its transforms as C_in + C_out: with
    few channels it loses (measured, N=64 at 32x32, forward+backward: 3->32 12.9 ms vs 4.4 by
    im2col, 8->8 7.2 vs 6.8, 8->16 8.6 vs 12.5, 16->16 14.3 vs 20.7). It is taken when
    C_in * C_out >= 5 * (C_in + C_out) (8->16 and up) on outputs of MIN_SIZE or more, and
    when C_in * C_out >= 24 * (C_in + C_out) (48->48 and up) on smaller ones (measured, N=128,
    forward+backward, one thread: 16->16 @8x8 6.5 ms vs 5.2 by im2col, 32->32 @8x8 8.9 vs
    8.2, 48->48 @8x8 15.0 vs 16.2, 64->64 @8x8 24.6 vs 29.3, 128->128 @4x4 21.8 vs 37.0,
    256->256 @2x2 34 vs 191; N=16, 512->512 @7x7 124 vs 200).
    """
    c_in = geo.input_shape[-3]
    possible = (_state["enabled"] and type(x) is np.ndarray and geo.kernel_size == (3, 3)
                and geo.stride == (1, 1) and geo.dilation == (1, 1) and groups == 1
                and not (geo.extra_h or geo.extra_w) and max(geo.padding) <= 2)
    work, transforms = c_in * out_channels, c_in + out_channels
    large_plane = min(geo.out_h, geo.out_w) >= MIN_SIZE
    pays = work >= (5 if large_plane else 24) * transforms
    return possible and (pays or _state["always"])


# (G W G^T)[a, b] = sum_{u,v} G[a, u] G[b, v] W[u, v]: one (16, 9) matrix, kron(G, G), maps
# every flattened 3x3 kernel to its 4x4 transform, so both transforms below are one GEMM.
G_KRON = np.kron(G, G)


def weight_transform(weight):
    """U[4a+b, o, c] = (G W[o, c] G^T)[a, b]: (C_out, C_in, 3, 3) -> (16, C_out, C_in)."""
    c_out, c_in = weight.shape[:2]
    flat = weight.reshape(c_out * c_in, 9)
    return (G_KRON.astype(weight.dtype) @ flat.T).reshape(16, c_out, c_in)


def weight_transform_adjoint(grad_u):
    """dW[o, c] = G^T dU[:, o, c] G: (16, C_out, C_in) -> (C_out, C_in, 3, 3)."""
    _, c_out, c_in = grad_u.shape
    flat = grad_u.reshape(16, c_out * c_in).T @ G_KRON.astype(grad_u.dtype)
    return flat.reshape(c_out, c_in, 3, 3)


def flipped(weight):
    """The kernel of the input gradient: rot180 of each 3x3 kernel, C_in and C_out swapped."""
    return np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def _bytes_per_image(c_in, c_out, th, tw, itemsize):
    """One image's share of a chunk: its transformed input and output together, both in use
    at once (V and M, or V and dM). Counting only the larger of the two made chunks whose
    arrays outgrew the 2 MB L2 cache: a ResNet-20 step 625 -> 558 ms (medians, one thread,
    in turns) and 468 -> 419 ms (two threads) by counting both."""
    return 16 * (c_in + c_out) * th * tw * itemsize


def convolve(x, u, padding, out, run_chunks):
    """out (N, C_out, OH, OW) = the 3x3 convolution of x (N, C_in, H, W) whose transformed
    kernel is ``u`` (16, C_out, C_in). ``run_chunks(function, bytes_per_image)`` calls
    ``function(part)`` for slices ``part`` of the batch (conv.py's chunks and threads) and
    returns the results."""
    kernels = for_array(x)
    c_in = x.shape[1]
    c_out, out_hw = u.shape[1], out.shape[2:]
    th, tw = winograd_tiles(*out_hw)

    def chunk(part):
        images = x[part]
        k = images.shape[0]
        v = kernels.winograd_input(images, padding, out=memory.empty((16, c_in, k, th, tw), x.dtype))
        m = memory.empty((16, c_out, k, th, tw), x.dtype)
        np.matmul(u, v.reshape(16, c_in, -1), out=m.reshape(16, c_out, -1))
        kernels.winograd_output(m, out_hw, out=out[part])
    run_chunks(chunk, _bytes_per_image(c_in, c_out, th, tw, x.itemsize))
    return out


def conv2d_forward(x4, weight, geo, run_chunks):
    """y (N, C_out, OH, OW) of x4 (N, C_in, H, W) and weight (C_out, C_in, 3, 3)."""
    out = memory.empty((x4.shape[0], weight.shape[0], geo.out_h, geo.out_w), x4.dtype)
    return convolve(x4, weight_transform(weight), geo.padding, out, run_chunks)


def conv2d_backward(grad, x4, weight, geo, need_x, need_w, run_chunks):
    """(grad_x (N, C_in, H, W) or None, grad_w (C_out, C_in, 3, 3) or None) from
    grad (N, C_out, OH, OW)."""
    grad = np.ascontiguousarray(grad)
    grad_x = grad_w = None
    if need_x:
        grad_x = memory.empty(x4.shape, grad.dtype)
        ph, pw = geo.padding
        convolve(grad, weight_transform(flipped(weight)), (2 - ph, 2 - pw), grad_x, run_chunks)
    if need_w:
        kernels = for_array(x4)
        c_in, c_out = x4.shape[1], weight.shape[0]
        th, tw = winograd_tiles(geo.out_h, geo.out_w)

        def chunk(part):
            k = grad[part].shape[0]
            v = kernels.winograd_input(x4[part], geo.padding,
                                       out=memory.empty((16, c_in, k, th, tw), x4.dtype))
            dm = kernels.winograd_output_adjoint(
                grad[part], out=memory.empty((16, c_out, k, th, tw), x4.dtype))
            # dU[xi] = dM[xi] @ V[xi]^T, summed over the chunk's tiles
            return np.matmul(dm.reshape(16, c_out, -1), v.reshape(16, c_in, -1).transpose(0, 2, 1))
        du_parts = run_chunks(chunk, _bytes_per_image(c_in, c_out, th, tw, x4.itemsize))
        grad_w = weight_transform_adjoint(sum(du_parts[1:], du_parts[0]))
    return grad_x, grad_w
