"""Losses: values against readable NumPy references and PyTorch, gradients against finite
differences (float64, hypothesis-drawn shapes), stability, and error messages."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn

FAST = settings(max_examples=20, deadline=None)


# ----- readable references ----------------------------------------------------------------------
def reference_log_softmax(row):
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


def reference_cross_entropy(x, t, weight, ignore_index, reduction, eps):
    """Loop over every (sample, position): move the class axis last, one row per element."""
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    rows = np.moveaxis(x, 1, -1).reshape(-1, classes) if x.ndim > 1 else x.reshape(1, classes)
    targets = t.reshape(-1)
    w = np.ones(classes) if weight is None else weight
    losses, weights = [], []
    for row, target in zip(rows, targets):
        if target == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
            continue
        log_p = reference_log_softmax(row)
        nll = -w[target] * log_p[target]
        smooth = -(w * log_p).sum()
        losses.append((1 - eps) * nll + eps / classes * smooth)
        weights.append(w[target])
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(t.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / np.sum(weights)


def reference_cross_entropy_probs(x, q, weight, reduction, eps):
    classes = x.shape[1]
    rows = np.moveaxis(x, 1, -1).reshape(-1, classes)
    probs = np.moveaxis(q, 1, -1).reshape(-1, classes) * (1 - eps) + eps / classes
    w = np.ones(classes) if weight is None else weight
    losses = np.array([-(w * p * reference_log_softmax(r)).sum() for r, p in zip(rows, probs)])
    if reduction == "none":
        return losses.reshape((x.shape[0],) + x.shape[2:])
    return losses.sum() if reduction == "sum" else losses.mean()


# ----- strategies -----------------------------------------------------------------------------------
@st.composite
def class_problems(draw, allow_smoothing=True):
    """Logits (N, C, *spatial), int targets, optional weight/ignore_index, reduction, eps."""
    n = draw(st.integers(1, 3))
    classes = draw(st.integers(2, 5))
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    x = rng.standard_normal((n, classes) + spatial) * 2
    t = rng.integers(0, classes, (n,) + spatial)
    ignore_index = draw(st.sampled_from([-100, -1, 0]))
    if draw(st.booleans()):
        t[rng.random(t.shape) < 0.3] = ignore_index
    if t.reshape(-1)[0] == ignore_index or t.reshape(-1)[0] < 0:  # keep one target for 'mean'
        t.reshape(-1)[0] = 1
    weight = rng.random(classes) + 0.2 if draw(st.booleans()) else None
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    eps = draw(st.sampled_from([0.0, 0.1, 0.5])) if allow_smoothing else 0.0
    return x, t, weight, ignore_index, reduction, eps


@st.composite
def regression_pairs(draw, margin_from=None):
    """(input, target) of one drawn shape; the difference keeps ``margin`` away from kinks."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    x = rng.standard_normal(shape)
    size = rng.uniform(0.05, 2.0, shape)
    if margin_from is not None:  # stay 0.02 away from |d| = beta
        size = np.where(np.abs(size - margin_from) < 0.02, size + 0.05, size)
    y = x - np.where(rng.random(shape) < 0.5, -1.0, 1.0) * size
    return x, y, draw(st.sampled_from(["mean", "sum", "none"]))


def _t(array, grad=False):
    return mc.tensor(array, requires_grad=grad)


def _w(weight):
    return None if weight is None else mc.tensor(weight)


# ----- cross_entropy / nll --------------------------------------------------------------------
@FAST
@given(class_problems())
def test_cross_entropy_value_and_gradcheck(problem):
    x, t, weight, ignore_index, reduction, eps = problem
    expected = reference_cross_entropy(x, t, weight, ignore_index, reduction, eps)
    got = F.cross_entropy(_t(x), _t(t), weight=_w(weight), ignore_index=ignore_index,
                          reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)

    def loss(logits):
        return F.cross_entropy(logits, _t(t), _w(weight), ignore_index=ignore_index,
                               reduction=reduction, label_smoothing=eps)
    assert mc.gradcheck(loss, [_t(x, grad=True)])


@FAST
@given(class_problems())
def test_cross_entropy_matches_torch(problem):
    torch = pytest.importorskip("torch")
    x, t, weight, ignore_index, reduction, eps = problem
    ours_x = _t(x, grad=True)
    ours = F.cross_entropy(ours_x, _t(t), _w(weight), ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=eps)
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(
        theirs_x, torch.tensor(t), None if weight is None else torch.tensor(weight),
        ignore_index=ignore_index, reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(ours.numpy() if not ours.requires_grad else ours.detach().numpy(),
                               theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(theirs.shape)
    ours.backward(_t(upstream) if ours.ndim else None)
    theirs.backward(torch.tensor(upstream) if theirs.ndim else None)
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-9, atol=1e-12)


@FAST
@given(class_problems(allow_smoothing=False))
def test_nll_loss_value_gradcheck_and_equals_cross_entropy_of_log_softmax(problem):
    x, t, weight, ignore_index, reduction, _ = problem
    log_p = np.apply_along_axis(reference_log_softmax, 1, x)
    got = F.nll_loss(_t(log_p), _t(t), _w(weight), ignore_index=ignore_index, reduction=reduction)
    expected = reference_cross_entropy(x, t, weight, ignore_index, reduction, 0.0)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert mc.gradcheck(lambda lp: F.nll_loss(lp, _t(t), _w(weight), ignore_index=ignore_index,
                                              reduction=reduction), [_t(log_p, grad=True)])
    # through the autograd's own log_softmax: the composed graph gives the fused gradient
    fused_x, composed_x = _t(x, grad=True), _t(x, grad=True)
    F.cross_entropy(fused_x, _t(t), _w(weight), ignore_index=ignore_index).backward()
    F.nll_loss(F.log_softmax(composed_x, dim=1), _t(t), _w(weight), ignore_index=ignore_index).backward()
    np.testing.assert_allclose(fused_x.grad.numpy(), composed_x.grad.numpy(), rtol=1e-9, atol=1e-12)


@st.composite
def probability_problems(draw):
    n, classes = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    x = rng.standard_normal((n, classes) + spatial)
    q = rng.random(x.shape)
    q /= q.sum(axis=1, keepdims=True)
    weight = rng.random(classes) + 0.2 if draw(st.booleans()) else None
    return x, q, weight, draw(st.sampled_from(["mean", "sum", "none"])), draw(st.sampled_from([0.0, 0.2]))


@FAST
@given(probability_problems())
def test_cross_entropy_probability_targets(problem):
    x, q, weight, reduction, eps = problem
    got = F.cross_entropy(_t(x), _t(q), _w(weight), reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(got.numpy(), reference_cross_entropy_probs(x, q, weight, reduction, eps),
                               rtol=1e-10, atol=1e-12)
    assert mc.gradcheck(lambda a, b: F.cross_entropy(a, b, _w(weight), reduction=reduction, label_smoothing=eps),
                        [_t(x, grad=True), _t(q, grad=True)])
    torch = pytest.importorskip("torch")
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(q),
                                               None if weight is None else torch.tensor(weight),
                                               reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(got.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_large_logits_stay_finite():
    x = _t(np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]]), grad=True)
    loss = F.cross_entropy(x, _t(np.array([2, 1])), label_smoothing=0.1)
    # sample 0: -log p_2 = 2e4, smoothing term (1e4 + 2e4 + 0) / 3 per unit eps; sample 1: 0 and (2e4 + 1e4) / 3
    expected = (0.9 * 2e4 + 0.1 * 3e4 / 3 + 0.9 * 0.0 + 0.1 * 3e4 / 3) / 2
    np.testing.assert_allclose(loss.detach().numpy(), expected, rtol=1e-12)
    loss.backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    big32 = F.cross_entropy(mc.tensor([[1e4, -1e4]], dtype="float32"), _t(np.array([1])))
    assert big32.dtype == np.float32 and np.isfinite(big32.item())


def test_cross_entropy_unbatched_and_float32():
    x = np.array([0.5, -1.0, 2.0])
    got = F.cross_entropy(_t(x), _t(np.array(2)))
    np.testing.assert_allclose(got.numpy(), -reference_log_softmax(x)[2], rtol=1e-12)
    x32 = mc.randn(4, 3, requires_grad=True)
    loss = F.cross_entropy(x32, mc.tensor([0, 1, 2, 0]))
    loss.backward()
    assert loss.dtype == np.float32 and x32.grad.dtype == np.float32


def test_cross_entropy_all_ignored_is_nan_like_torch():
    loss = F.cross_entropy(mc.randn(2, 3), mc.tensor([-100, -100]))
    assert np.isnan(loss.item())


def test_cross_entropy_errors_name_values_and_shapes():
    with pytest.raises(ValueError, match=r"cross_entropy: target value 7 .* \[0, 3\]"):
        F.cross_entropy(mc.randn(3, 4), mc.tensor([1, 2, 7]))
    with pytest.raises(ValueError, match=r"target value -3"):
        F.cross_entropy(mc.randn(3, 4), mc.tensor([1, -3, 0]))
    with pytest.raises(ValueError, match=r"expected target of shape \(2, 5, 5\).*got \(2, 5\)"):
        F.cross_entropy(mc.randn(2, 3, 5, 5), mc.tensor(np.zeros((2, 5), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"class probabilities .* \(3, 4\), got \(3,\)"):
        F.cross_entropy(mc.randn(3, 4), mc.tensor([1.0, 2.0, 0.0]))
    with pytest.raises(TypeError, match=r"nll_loss: .*integer dtype.*bool"):
        F.nll_loss(mc.randn(3, 4), mc.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\).*got \(3,\)"):
        F.cross_entropy(mc.randn(3, 4), mc.tensor([1, 2, 0]), weight=mc.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(mc.randn(3, 4), mc.tensor([1, 2, 0]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        F.cross_entropy(mc.randn(3, 4), mc.tensor([1, 2, 0]), reduction="avg")
    with pytest.raises(TypeError, match="floating-point"):
        F.cross_entropy(mc.tensor([[1, 2]]), mc.tensor([0]))


def test_legacy_size_average_and_reduce_map_to_reduction():
    x, t = mc.randn(4, 3, dtype="float64"), mc.tensor([0, 1, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summed = F.cross_entropy(x, t, size_average=False)
        per_element = F.cross_entropy(x, t, reduce=False)
    np.testing.assert_allclose(summed.numpy(), per_element.numpy().sum(), rtol=1e-12)
    assert nn.CrossEntropyLoss(reduce=False).reduction == "none"


# ----- regression losses --------------------------------------------------------------------------
REGRESSION = {
    "mse": (F.mse_loss, lambda d: d * d),
    "l1": (F.l1_loss, np.abs),
}


@FAST
@given(regression_pairs(), st.sampled_from(sorted(REGRESSION)))
def test_regression_losses_value_and_gradcheck(pair, name):
    x, y, reduction = pair
    function, elementwise = REGRESSION[name]
    per_element = elementwise(x - y)
    expected = {"none": per_element, "sum": per_element.sum(), "mean": per_element.mean()}[reduction]
    np.testing.assert_allclose(function(_t(x), _t(y), reduction=reduction).numpy(), expected, rtol=1e-12)
    assert mc.gradcheck(lambda a, b: function(a, b, reduction=reduction), [_t(x, grad=True), _t(y, grad=True)])


@FAST
@given(regression_pairs(margin_from=0.7), st.sampled_from([0.7, 1.0]))
def test_smooth_l1_value_and_gradcheck(pair, beta):
    x, y, reduction = pair
    d = np.abs(x - y)
    per_element = np.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta)
    expected = {"none": per_element, "sum": per_element.sum(), "mean": per_element.mean()}[reduction]
    got = F.smooth_l1_loss(_t(x), _t(y), reduction=reduction, beta=beta)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    if beta == 0.7:  # the drawn margins keep |d| away from this beta's kink
        assert mc.gradcheck(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                            [_t(x, grad=True), _t(y, grad=True)])


def test_regression_losses_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) * 2
    pairs = [(F.mse_loss, torch.nn.functional.mse_loss, {}), (F.l1_loss, torch.nn.functional.l1_loss, {}),
             (F.smooth_l1_loss, torch.nn.functional.smooth_l1_loss, {"beta": 0.5}),
             (F.smooth_l1_loss, torch.nn.functional.smooth_l1_loss, {"beta": 0.0})]
    for ours_fn, theirs_fn, kwargs in pairs:
        ours_x, theirs_x = _t(x, grad=True), torch.tensor(x, requires_grad=True)
        ours, theirs = ours_fn(ours_x, _t(y), **kwargs), theirs_fn(theirs_x, torch.tensor(y), **kwargs)
        ours.backward()
        theirs.backward()
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-12)


def test_regression_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(4,\) must be the same as input shape \(4, 1\)"):
        F.mse_loss(mc.randn(4, 1), mc.randn(4))
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(mc.randn(2), mc.randn(2), beta=-1.0)


# ----- binary cross-entropy -----------------------------------------------------------------------
def reference_bce_with_logits(x, y, weight, pos_weight):
    sigmoid = 1 / (1 + np.exp(-x))
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * y * np.log(sigmoid) + (1 - y) * np.log(1 - sigmoid))
    return loss if weight is None else loss * weight


@FAST
@given(st.integers(1, 3), st.integers(1, 4), st.booleans(), st.booleans(), st.integers(0, 2 ** 31),
       st.sampled_from(["mean", "sum", "none"]))
def test_bce_with_logits_value_and_gradcheck(n, classes, use_weight, use_pos_weight, seed, reduction):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, classes)) * 2, rng.random((n, classes))
    weight = rng.random((n, classes)) + 0.5 if use_weight else None
    pos_weight = rng.random(classes) + 0.5 if use_pos_weight else None
    per_element = reference_bce_with_logits(x, y, weight, pos_weight)
    expected = {"none": per_element, "sum": per_element.sum(), "mean": per_element.mean()}[reduction]
    got = F.binary_cross_entropy_with_logits(_t(x), _t(y), _w(weight), reduction=reduction, pos_weight=_w(pos_weight))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    inputs = [_t(x, grad=True), _t(y, grad=True)]
    inputs += [_t(weight, grad=True) if use_weight else None, _t(pos_weight, grad=True) if use_pos_weight else None]
    assert mc.gradcheck(lambda a, b, w, p: F.binary_cross_entropy_with_logits(a, b, w, reduction=reduction, pos_weight=p),
                        inputs)


def test_bce_with_logits_large_logits_and_torch():
    x = _t(np.array([1e4, -1e4, 30.0, -30.0]), grad=True)
    y = _t(np.array([0.0, 1.0, 1.0, 0.0]))
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [1e4, 1e4, np.log1p(np.exp(-30.0)), np.log1p(np.exp(-30.0))],
                               rtol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0, -1 / (1 + np.exp(30.0)), 1 / (1 + np.exp(30.0))], rtol=1e-9)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b, pw = rng.standard_normal((5, 3)), rng.random((5, 3)), rng.random(3) + 0.5
    ours = nn.BCEWithLogitsLoss(pos_weight=mc.tensor(pw))(_t(a), _t(b))
    theirs = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_binary_cross_entropy_value_gradcheck_and_errors():
    rng = np.random.default_rng(2)
    p, y, w = rng.uniform(0.05, 0.95, (3, 4)), rng.random((3, 4)), rng.random(4) + 0.5
    expected = (-w * (y * np.log(p) + (1 - y) * np.log(1 - p))).mean()
    np.testing.assert_allclose(F.binary_cross_entropy(_t(p), _t(y), _t(w)).numpy(), expected, rtol=1e-12)
    assert mc.gradcheck(lambda a, b: F.binary_cross_entropy(a, b, _t(w)), [_t(p, grad=True), _t(y, grad=True)])
    edge = F.binary_cross_entropy(_t(np.array([0.0, 1.0])), _t(np.array([1.0, 0.0])), reduction="none")
    np.testing.assert_allclose(edge.numpy(), [100.0, 100.0])  # log clamped at -100, as PyTorch
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(mc.tensor([1.5]), mc.tensor([1.0]))
    with pytest.raises(ValueError, match=r"Target|target shape \(2,\)"):
        F.binary_cross_entropy_with_logits(mc.randn(2, 1), mc.randn(2))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(5,\) cannot be broadcast"):
        F.binary_cross_entropy_with_logits(mc.randn(2, 3), mc.rand(2, 3), pos_weight=mc.ones(5))


# ----- loss modules ----------------------------------------------------------------------------------
def test_loss_modules_store_arguments_and_weight_buffer():
    weight = mc.tensor([1.0, 2.0, 0.5])
    loss_fn = nn.CrossEntropyLoss(weight=weight, ignore_index=1, label_smoothing=0.2, reduction="sum")
    assert list(loss_fn.state_dict()) == ["weight"]
    assert repr(loss_fn) == "CrossEntropyLoss()"
    x, t = mc.randn(5, 3, dtype="float64"), mc.tensor([0, 1, 2, 2, 0])
    expected = reference_cross_entropy(x.numpy(), t.numpy(), weight.numpy(), 1, "sum", 0.2)
    np.testing.assert_allclose(loss_fn(x, t).numpy(), expected, rtol=1e-6)
    assert list(nn.BCEWithLogitsLoss(pos_weight=mc.ones(3)).state_dict()) == ["pos_weight"]
    assert list(nn.MSELoss().state_dict()) == []
    np.testing.assert_allclose(nn.SmoothL1Loss(beta=0.5)(mc.tensor([1.0]), mc.tensor([0.0])).item(), 0.75)
    np.testing.assert_allclose(nn.L1Loss(reduction="none")(mc.tensor([1.0, -2.0]), mc.zeros(2)).numpy(), [1.0, 2.0])
    log_p = F.log_softmax(x, dim=1)
    np.testing.assert_allclose(nn.NLLLoss()(log_p, t).numpy(), F.cross_entropy(x, t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(nn.BCELoss()(mc.tensor([0.5]), mc.tensor([1.0])).item(), np.log(2), rtol=1e-6)


def test_loss_modules_match_torch_state_dict_keys():
    torch = pytest.importorskip("torch")
    pairs = [(nn.CrossEntropyLoss(weight=mc.ones(3)), torch.nn.CrossEntropyLoss(weight=torch.ones(3))),
             (nn.NLLLoss(weight=mc.ones(3)), torch.nn.NLLLoss(weight=torch.ones(3))),
             (nn.BCEWithLogitsLoss(weight=mc.ones(3), pos_weight=mc.ones(3)),
              torch.nn.BCEWithLogitsLoss(weight=torch.ones(3), pos_weight=torch.ones(3))),
             (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss())]
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert repr(ours) == repr(theirs)
