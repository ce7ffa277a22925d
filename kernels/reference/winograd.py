"""Winograd's minimal filtering F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer
multiplications than the direct sum (Lavin & Gray, "Fast Algorithms for Convolutional
Neural Networks", 2016).

The output is cut into 2x2 tiles. Each tile reads a 4x4 patch ``d`` of the padded input
(patches overlap by 2), and for one input and one output channel

    Y (2x2) = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise on 4x4 matrices)

gives the same four values as the 3x3 cross-correlation of ``d`` with the kernel ``g``.
Summed over the input channels, the 16 positions xi = 4a + b of the 4x4 matrices are 16
independent matrix products (the GEMMs, done by the caller)::

    V[xi, c, n, i, j] = (B^T d_{n,c,i,j} B)[a, b]       winograd_input   (this file)
    U[xi, o, c]       = (G g_{o,c} G^T)[a, b]            weight transform (functional)
    M[xi]             = U[xi] @ V[xi]                   (C_out, C) @ (C, N*TH*TW)
    y[n, o, 2i:2i+2, 2j:2j+2] = A^T M[:, o, n, i, j] A   winograd_output  (this file)

and the gradient wrt ``U`` needs the adjoint of the output transform,
``dM[:, o, n, i, j] = A dY_tile A^T`` (``winograd_output_adjoint``).

Shapes: x (N, C, H, W), padding (ph, pw) -> OH = H + 2*ph - 2, OW = W + 2*pw - 2, and
TH = ceil(OH / 2), TW = ceil(OW / 2) tiles; the last tile row/column may reach one past the
output (its extra values are computed from zeros and dropped).

Readable NumPy: the tiles are a strided view of the padded input and every transform is
one ``einsum`` with the small matrices below.
"""
import numpy as np

from kernels.reference.conv import check_float_array, check_out
from kernels.shapes import pair

B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)   # input transform: B^T d B
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)          # weight transform: G g G^T
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)   # output transform: A^T m A


def winograd_tiles(out_h, out_w):
    """(TH, TW): the number of 2x2 output tiles down and across, ceil(OH/2) x ceil(OW/2)."""
    return (out_h + 1) // 2, (out_w + 1) // 2


def winograd_input_geometry(op, x, padding):
    """Validate ``winograd_input``'s arguments; returns ``((ph, pw), (OH, OW), (TH, TW))``."""
    check_float_array(op, "x", x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected an input of shape (N, C, H, W), got shape {x.shape}")
    ph, pw = pair(padding, f"{op}: padding")
    if min(ph, pw) < 0:
        raise ValueError(f"{op}: padding must be ints >= 0, got {padding!r}")
    out_h, out_w = x.shape[2] + 2 * ph - 2, x.shape[3] + 2 * pw - 2
    if min(out_h, out_w) < 1:
        raise ValueError(f"{op}: a 3x3 kernel does not fit the padded input: output "
                         f"(H + 2*ph - 2, W + 2*pw - 2) = ({out_h}, {out_w}) for input shape "
                         f"{x.shape} and padding {(ph, pw)}")
    return (ph, pw), (out_h, out_w), winograd_tiles(out_h, out_w)


def winograd_output_geometry(op, m, out_hw):
    """Validate ``winograd_output``'s arguments; returns ``(OH, OW)``."""
    check_float_array(op, "m", m)
    out_h, out_w = pair(out_hw, f"{op}: out_hw")
    th, tw = winograd_tiles(out_h, out_w)
    if m.ndim != 5 or m.shape[0] != 16 or m.shape[3:] != (th, tw):
        raise ValueError(f"{op}: expected m of shape (16, C, N, {th}, {tw}) for an output of "
                         f"{out_h}x{out_w}, got shape {m.shape}")
    return out_h, out_w


def check_grad_rank(op, grad):
    check_float_array(op, "grad", grad)
    if grad.ndim != 4:
        raise ValueError(f"{op}: expected grad of shape (N, C, OH, OW), got shape {grad.shape}")


def _tile_patches(padded, size, step):
    """All ``size x size`` windows of ``padded (N, C, PH, PW)`` that start at multiples of
    ``step``: a view of shape (N, C, TH, TW, size, size)."""
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(2, 3))
    return windows[:, :, ::step, ::step]


def winograd_input(x, padding, out=None):
    """The input transform of every 4x4 patch.

    x : (N, C, H, W) float32 or float64;  padding: int or (ph, pw)
    returns V (16, C, N, TH, TW) (into ``out`` if given), V[4a+b, c, n, i, j] = (B^T d B)[a, b]
    with d = xpad[n, c, 2i:2i+4, 2j:2j+4] (xpad: x with ph/pw zeros around, and zeros past it)
    """
    (ph, pw), _, (th, tw) = winograd_input_geometry("winograd_input", x, padding)
    n, c, h, w = x.shape
    result = check_out("winograd_input", out, (16, c, n, th, tw), x.dtype)
    xpad = np.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    xpad[:, :, ph:ph + h, pw:pw + w] = x
    d = _tile_patches(xpad, 4, 2)                                    # (N, C, TH, TW, 4, 4)
    b_t = B_T.astype(x.dtype)
    v = np.einsum("ar,ncijrs,bs->abcnij", b_t, d, b_t, optimize=True)  # (4, 4, C, N, TH, TW)
    result[...] = v.reshape(result.shape)
    return result


def winograd_output(m, out_hw, out=None):
    """The output transform of every tile.

    m : (16, C, N, TH, TW);  out_hw: (OH, OW) with TH = ceil(OH/2), TW = ceil(OW/2)
    returns y (N, C, OH, OW) (into ``out`` if given), y[n, c, 2i + r, 2j + s] = (A^T m A)[r, s]
    with m = m[:, c, n, i, j] as a 4x4 matrix (rows a, columns b)
    """
    out_h, out_w = winograd_output_geometry("winograd_output", m, out_hw)
    _, c, n, th, tw = m.shape
    result = check_out("winograd_output", out, (n, c, out_h, out_w), m.dtype)
    a_t = A_T.astype(m.dtype)
    y = np.einsum("ra,abcnij,sb->ncirjs", a_t, m.reshape(4, 4, c, n, th, tw), a_t, optimize=True)
    result[...] = y.reshape(n, c, 2 * th, 2 * tw)[:, :, :out_h, :out_w]
    return result


def winograd_output_adjoint(grad, out=None):
    """The adjoint of ``winograd_output``: what the gradient of y is in the tile domain.

    grad : (N, C, OH, OW)
    returns dM (16, C, N, TH, TW) (into ``out`` if given), dM[:, c, n, i, j] = A g A^T with
    g = grad[n, c, 2i:2i+2, 2j:2j+2] (zeros past the output), so that
    sum(winograd_output(m) * grad) == sum(m * winograd_output_adjoint(grad)).
    """
    check_grad_rank("winograd_output_adjoint", grad)
    n, c, out_h, out_w = grad.shape
    th, tw = winograd_tiles(out_h, out_w)
    result = check_out("winograd_output_adjoint", out, (16, c, n, th, tw), grad.dtype)
    gpad = np.zeros((n, c, 2 * th, 2 * tw), dtype=grad.dtype)
    gpad[:, :, :out_h, :out_w] = grad
    g = gpad.reshape(n, c, th, 2, tw, 2)
    a_t = A_T.astype(grad.dtype)
    dm = np.einsum("ra,ncirjs,sb->abcnij", a_t, g, a_t, optimize=True)  # (4, 4, C, N, TH, TW)
    result[...] = dm.reshape(result.shape)
    return result
