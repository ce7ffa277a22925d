"""conv2d's Winograd path (functional/winograd.py): 3x3, stride 1, dilation 1, groups 1.

* which convolutions take it, and that turning it off sends them to im2col;
* forward against the direct loop of test_conv.py and float64 finite differences over
  hypothesis-drawn shapes, padding (0-2 and "same"), odd sizes, bias on/off, chunked and
  whole-batch, with the size threshold lowered so that small shapes reach the path;
* the two algorithms agree in float32 on benchmark-sized layers, on 1 and 2 threads;
* PyTorch agrees, when it is installed.
"""
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from conftest import assert_close, leaf
from minicnn.functional import winograd
from test_conv import LAYOUTS, direct_conv2d, gemm_layout


@contextmanager
def algorithm(enabled, always=True):
    """Winograd on for every convolution it can compute (always), or off."""
    before = winograd.settings()
    winograd.set_enabled(enabled, always)
    try:
        yield
    finally:
        winograd.set_enabled(*before)


@st.composite
def winograd_configs(draw):
    padding = draw(st.sampled_from([0, 1, 2, "same"]))
    pad = 1 if padding == "same" else padding
    h, w = (draw(st.integers(max(1, 3 - 2 * pad), 7)) for _ in range(2))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(x=rng.standard_normal((n, c_in, h, w)), weight=rng.standard_normal((c_out, c_in, 3, 3)),
                bias=rng.standard_normal(c_out) if draw(st.booleans()) else None, padding=padding)


def _conv(cfg, x, w, b):
    return F.conv2d(x, w, b, padding=cfg["padding"])


def test_which_convolutions_take_the_winograd_path(monkeypatch):
    calls = []
    original = winograd.conv2d_forward
    monkeypatch.setattr(winograd, "conv2d_forward", lambda *a: calls.append(1) or original(*a))
    x = mc.randn(2, 16, 16, 16)

    def taken(shape=(16, 16, 3, 3), input=x, **kwargs):
        calls.clear()
        F.conv2d(input, mc.randn(*shape), **kwargs)
        return bool(calls)
    assert taken(padding=1) and taken(padding=(1, 2)) and taken(padding="same")
    assert not taken(padding=0)                     # 14x14, below MIN_SIZE: 16 channels too few
    small = mc.randn(2, 48, 8, 8)                   # below MIN_SIZE, C_in*C_out >= 24*(C_in+C_out)?
    assert taken((48, 48, 3, 3), small, padding=1) and taken((48, 48, 3, 3), small, padding=0)
    assert not taken((32, 32, 3, 3), small[:, :32], padding=1)  # 1024 < 24 * 64
    assert not taken(stride=2, padding=1) and not taken(dilation=2, padding=2)
    assert not taken((16, 8, 3, 3), padding=1, groups=2) and not taken((16, 16, 5, 5), padding=2)
    assert not taken((3, 16, 3, 3), padding=1)                  # too few channels to pay
    assert taken((8, 16, 3, 3), padding=1)                      # 8 * 16 >= 5 * (8 + 16)
    assert not taken(padding=3)                                 # 2 - p < 0 for the backward
    with algorithm(True, always=True):
        assert taken(padding=0) and taken((3, 16, 3, 3), padding=1)
    with algorithm(False):
        assert not taken(padding=1)


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=30, deadline=None)
@given(winograd_configs())
def test_forward_matches_direct_loop(layout, cfg):
    with algorithm(True), gemm_layout(layout):
        out = _conv(cfg, mc.tensor(cfg["x"]), mc.tensor(cfg["weight"]),
                    None if cfg["bias"] is None else mc.tensor(cfg["bias"]))
    expected = direct_conv2d(cfg["x"], cfg["weight"], cfg["bias"], 1, cfg["padding"], 1, 1)
    assert_close(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=25, deadline=None)
@given(winograd_configs())
def test_gradcheck(layout, cfg):
    inputs = [leaf(cfg["x"]), leaf(cfg["weight"]), None if cfg["bias"] is None else leaf(cfg["bias"])]
    with algorithm(True), gemm_layout(layout):
        assert mc.gradcheck(lambda x, w, b: _conv(cfg, x, w, b), inputs, atol=1e-6, rtol=1e-5)


def _forward_backward(x, w, b, grad, **kwargs):
    xs, ws, bs = (mc.tensor(a, requires_grad=True) for a in (x, w, b))
    F.conv2d(xs, ws, bs, **kwargs).backward(mc.tensor(grad))
    return [xs.grad.numpy(), ws.grad.numpy(), bs.grad.numpy()]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("channels, side", [(16, 32), (32, 16), (3, 17)])
def test_float32_agrees_with_im2col(channels, side, threads):
    from kernels import cpu
    rng = np.random.default_rng(side)
    x = rng.standard_normal((5, channels, side, side)).astype(np.float32)
    w = (rng.standard_normal((channels + 1, channels, 3, 3)) / (3 * channels ** 0.5)).astype(np.float32)
    b = rng.standard_normal(channels + 1).astype(np.float32)
    grad = rng.standard_normal((5, channels + 1, side, side)).astype(np.float32)
    before = cpu.get_num_threads()
    cpu.set_num_threads(threads)
    try:
        with algorithm(True):
            fast = [F.conv2d(mc.tensor(x), mc.tensor(w), mc.tensor(b), padding=1).numpy()]
            fast += _forward_backward(x, w, b, grad, padding=1)
        with algorithm(False):
            slow = [F.conv2d(mc.tensor(x), mc.tensor(w), mc.tensor(b), padding=1).numpy()]
            slow += _forward_backward(x, w, b, grad, padding=1)
    finally:
        cpu.set_num_threads(before)
    for ours, theirs in zip(fast, slow):
        assert ours.dtype == np.float32
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-5 * scale)


@settings(max_examples=20, deadline=None)
@given(winograd_configs(), st.sampled_from([np.float32, np.float64]))
def test_matches_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    x, w = cfg["x"].astype(dtype), cfg["weight"].astype(dtype)
    b = np.zeros(w.shape[0], dtype) if cfg["bias"] is None else cfg["bias"].astype(dtype)
    grad = np.random.default_rng(0).standard_normal(
        direct_conv2d(x, w, None, 1, cfg["padding"], 1, 1).shape).astype(dtype)
    with algorithm(True):
        ours = _forward_backward(x, w, b, grad, padding=cfg["padding"])
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv2d(tx, tw, tb, padding=cfg["padding"]).backward(torch.from_numpy(grad))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for mine, theirs in zip(ours, (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(mine, theirs.numpy(), **tol)
