"""Numba versions of ``kernels.reference.winograd`` (same arguments, same results to rounding).

Every transform is a sum or difference of two (input) or three (output) rows of a small
matrix, so each kernel works one image plane ``(n, c)`` at a time in two passes, one along
the columns of the tiles and one along their rows, with a small buffer in between:

* the rows of the tile matrices are stored split by parity (even rows, then odd rows), so
  that the second pass reads and writes all the tiles of a plane as one contiguous run of
  TH*TW numbers: a long loop LLVM vectorises (short loops of TW cost more to start than to
  run);
* each innermost loop writes one array (one output stream), so LLVM needs no runtime
  checks between several outputs before vectorising;
* indices are unsigned (``_u``, see ``indexing.py``) so Numba drops its wrap-around tests.

The row combinations, from the matrices of the reference::

    B^T d:  row a of the result = d[P[a]] + SIGN[a] * d[Q[a]]    (P, Q, SIGN below)
    A^T m:  row 0 = m[0] + m[1] + m[2],   row 1 = m[1] - m[2] - m[3]
    A g:    row 0 = g[0],  row 1 = g[0] + g[1],  row 2 = g[0] - g[1],  row 3 = -g[1]

and the same combinations of columns for the right-hand factor.
"""
import numpy as np
from numba import njit

from kernels.cpu.indexing import _u
from kernels.reference.conv import check_out
from kernels.reference.winograd import (check_grad_rank, winograd_input_geometry,
                                        winograd_output_geometry, winograd_tiles)

P = (0, 1, 2, 1)   # B^T's rows: (B^T d)[a] = d[P[a]] + SIGN[a] * d[Q[a]]
Q = (2, 2, 1, 3)
SIGN = (-1.0, 1.0, -1.0, -1.0)


@njit(cache=True, nogil=True)
def _input_loop(x, v, n, channels, height, width, ph, pw, th, tw):
    """x (N, C, H, W) -> V (16, C, N, TH, TW), both flattened (see the reference)."""
    tiles = th * tw
    padded_h, padded_w = 2 * th + 2, 2 * tw + 2
    xi_stride = channels * n * tiles                     # from V[xi] to V[xi + 1]
    plane = np.zeros(padded_h * padded_w, dtype=x.dtype)  # zero border, written inside only
    u = np.empty(8 * (th + 1) * tw, dtype=x.dtype)        # u[b, parity, k, j] = (d B)[2k+parity, b]
    for img in range(n):
        for c in range(channels):
            src = (img * channels + c) * height * width
            for r in range(height):
                dst = _u((r + ph) * padded_w + pw)
                row = _u(src + r * width)
                for s in range(width):
                    plane[dst + _u(s)] = x[row + _u(s)]
            for b in range(4):                           # pass 1: d B, along each row
                sign = x.dtype.type(SIGN[b])
                for r in range(padded_h):
                    src_row = _u(r * padded_w)
                    dst_row = _u(((b * 2 + r % 2) * (th + 1) + r // 2) * tw)
                    p, q = src_row + _u(P[b]), src_row + _u(Q[b])
                    for j in range(tw):
                        u[dst_row + _u(j)] = plane[p + _u(2 * j)] + sign * plane[q + _u(2 * j)]
            base = (c * n + img) * tiles
            for a in range(4):                           # pass 2: B^T (d B), all tiles at once
                sign = x.dtype.type(SIGN[a])
                for b in range(4):
                    up = _u(((b * 2 + P[a] % 2) * (th + 1) + P[a] // 2) * tw)
                    uq = _u(((b * 2 + Q[a] % 2) * (th + 1) + Q[a] // 2) * tw)
                    dst = _u((a * 4 + b) * xi_stride + base)
                    for t in range(tiles):
                        v[dst + _u(t)] = u[up + _u(t)] + sign * u[uq + _u(t)]


@njit(cache=True, nogil=True)
def _output_loop(m, y, n, channels, out_h, out_w, th, tw):
    """M (16, C, N, TH, TW) -> y (N, C, OH, OW), both flattened (see the reference)."""
    tiles = th * tw
    xi_stride = channels * n * tiles
    s = np.empty(8 * tiles, dtype=m.dtype)               # s[r, b, tile] = (A^T m)[r, b]
    row = np.empty(2 * tw, dtype=m.dtype)                # one output row of whole tiles
    for img in range(n):
        for c in range(channels):
            base = (c * n + img) * tiles
            for b in range(4):                           # pass 1: A^T m, all tiles at once
                m0 = _u(b * xi_stride + base)
                m1, m2, m3 = m0 + _u(4 * xi_stride), m0 + _u(8 * xi_stride), m0 + _u(12 * xi_stride)
                s0, s1 = _u(b * tiles), _u((4 + b) * tiles)
                for t in range(tiles):
                    s[s0 + _u(t)] = m[m0 + _u(t)] + m[m1 + _u(t)] + m[m2 + _u(t)]
                for t in range(tiles):
                    s[s1 + _u(t)] = m[m1 + _u(t)] - m[m2 + _u(t)] - m[m3 + _u(t)]
            dst = (img * channels + c) * out_h * out_w
            for i in range(th):                          # pass 2: (A^T m) A, row by row
                for r in range(2):
                    out_row = 2 * i + r
                    if out_row >= out_h:
                        break
                    q0 = _u(r * 4 * tiles + i * tw)
                    q1, q2, q3 = q0 + _u(tiles), q0 + _u(2 * tiles), q0 + _u(3 * tiles)
                    for j in range(tw):
                        row[_u(2 * j)] = s[q0 + _u(j)] + s[q1 + _u(j)] + s[q2 + _u(j)]
                        row[_u(2 * j + 1)] = s[q1 + _u(j)] - s[q2 + _u(j)] - s[q3 + _u(j)]
                    out = _u(dst + out_row * out_w)
                    for col in range(out_w):
                        y[out + _u(col)] = row[_u(col)]


@njit(cache=True, nogil=True)
def _output_adjoint_loop(g, dm, n, channels, out_h, out_w, th, tw):
    """grad (N, C, OH, OW) -> dM (16, C, N, TH, TW), both flattened (see the reference)."""
    tiles = th * tw
    xi_stride = channels * n * tiles
    padded_w = 2 * tw
    plane = np.zeros(2 * th * padded_w, dtype=g.dtype)   # the plane, zeros past the output
    w = np.empty(8 * tiles, dtype=g.dtype)               # w[b, parity, i, j] = (g A^T)[2i+parity, b]
    for img in range(n):
        for c in range(channels):
            src = (img * channels + c) * out_h * out_w
            for r in range(out_h):
                dst = _u(r * padded_w)
                row = _u(src + r * out_w)
                for col in range(out_w):
                    plane[dst + _u(col)] = g[row + _u(col)]
            for r in range(2 * th):                      # pass 1: g A^T, along each row
                src_row = _u(r * padded_w)
                w0 = _u(((r % 2) * th + r // 2) * tw)    # b = 0; b adds 2*tiles
                w1, w2, w3 = w0 + _u(2 * tiles), w0 + _u(4 * tiles), w0 + _u(6 * tiles)
                for j in range(tw):
                    w[w0 + _u(j)] = plane[src_row + _u(2 * j)]
                for j in range(tw):
                    w[w1 + _u(j)] = plane[src_row + _u(2 * j)] + plane[src_row + _u(2 * j + 1)]
                for j in range(tw):
                    w[w2 + _u(j)] = plane[src_row + _u(2 * j)] - plane[src_row + _u(2 * j + 1)]
                for j in range(tw):
                    w[w3 + _u(j)] = -plane[src_row + _u(2 * j + 1)]
            base = (c * n + img) * tiles
            for b in range(4):                           # pass 2: A (g A^T), all tiles at once
                even, odd = _u(2 * b * tiles), _u((2 * b + 1) * tiles)
                d0 = _u(b * xi_stride + base)
                d1, d2, d3 = d0 + _u(4 * xi_stride), d0 + _u(8 * xi_stride), d0 + _u(12 * xi_stride)
                for t in range(tiles):
                    dm[d0 + _u(t)] = w[even + _u(t)]
                for t in range(tiles):
                    dm[d1 + _u(t)] = w[even + _u(t)] + w[odd + _u(t)]
                for t in range(tiles):
                    dm[d2 + _u(t)] = w[even + _u(t)] - w[odd + _u(t)]
                for t in range(tiles):
                    dm[d3 + _u(t)] = -w[odd + _u(t)]


def winograd_input(x, padding, out=None):
    """Numba ``winograd_input``: x (N, C, H, W) -> V (16, C, N, TH, TW). See the reference."""
    (ph, pw), _, (th, tw) = winograd_input_geometry("winograd_input", x, padding)
    n, c, h, w = x.shape
    v = check_out("winograd_input", out, (16, c, n, th, tw), x.dtype)
    if v.size:
        _input_loop(np.ascontiguousarray(x).reshape(-1), v.reshape(-1), n, c, h, w, ph, pw, th, tw)
    return v


def winograd_output(m, out_hw, out=None):
    """Numba ``winograd_output``: M (16, C, N, TH, TW) -> y (N, C, OH, OW). See the reference."""
    out_h, out_w = winograd_output_geometry("winograd_output", m, out_hw)
    _, c, n, th, tw = m.shape
    y = check_out("winograd_output", out, (n, c, out_h, out_w), m.dtype)
    if y.size:
        _output_loop(np.ascontiguousarray(m).reshape(-1), y.reshape(-1), n, c, out_h, out_w, th, tw)
    return y


def winograd_output_adjoint(grad, out=None):
    """Numba ``winograd_output_adjoint``: grad (N, C, OH, OW) -> dM (16, C, N, TH, TW)."""
    check_grad_rank("winograd_output_adjoint", grad)
    n, c, out_h, out_w = grad.shape
    th, tw = winograd_tiles(out_h, out_w)
    dm = check_out("winograd_output_adjoint", out, (16, c, n, th, tw), grad.dtype)
    if dm.size:
        _output_adjoint_loop(np.ascontiguousarray(grad).reshape(-1), dm.reshape(-1), n, c,
                             out_h, out_w, th, tw)
    return dm
