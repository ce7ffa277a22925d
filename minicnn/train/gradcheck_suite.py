"""``run_gradchecks()``: a float64 finite-difference check of every differentiable op.

    rows = run_gradchecks()
    print(format_gradcheck_table(rows))    # op, max relative error, passed
    # `minicnn gradcheck` prints the same table and exits with 1 if a row failed

Each case differentiates ``sum(op(inputs) * v)`` (``v`` a fixed random projection of the
output) with backward, and again with central differences::

    numeric_i = (L(x + eps e_i) - L(x - eps e_i)) / (2 eps),   eps = 1e-6

and reports, over every element of every input,

    max relative error = max_i |analytic_i - numeric_i| / max(|analytic_i| + |numeric_i|, floor)

where ``floor`` is a thousandth of the largest gradient entry (so elements whose true
gradient is ~0 are not judged by their rounding noise). A case passes below 1e-5; a correct
op in float64 gives about 1e-8 or less. Inputs are small and fixed, chosen away from kinks
(ReLU/abs at 0, clip bounds) and without ties (max, pooling), where a derivative does not
exist and finite differences would straddle two branches.
"""
import numpy as np

from .. import functional as F
from ..autograd import ops
from ..autograd.gradcheck import analytic_grad, numerical_grad
from ..autograd.random import get_rng_state, manual_seed, set_rng_state
from ..autograd.tensor import Tensor

TOLERANCE = 1e-5
EPS = 1e-6


# ----- inputs ----------------------------------------------------------------------------------
def _smooth(shape, seed, low=None):
    """Normal values kept at least 0.1 away from 0 (and >= low when given)."""
    values = np.random.default_rng(seed).standard_normal(shape)
    values = np.where(np.abs(values) < 0.1, np.sign(values + 1e-12) * 0.1, values)
    if low is not None:
        values = low + np.abs(values)
    return values


def _distinct(shape, seed, gap=0.1):
    """Values at least ``gap`` apart in a random order (no ties)."""
    size = int(np.prod(shape))
    order = np.random.default_rng(seed).permutation(size).astype(np.float64)
    return ((order - size / 2 + 0.5) * gap).reshape(shape)


def _labels(n, classes, seed):
    return Tensor(np.random.default_rng(seed).integers(0, classes, size=n).astype(np.int64))


def _with_mask(fn):
    """Dropout with a fixed mask: reseed minicnn's generator before every forward call."""
    def wrapped(*tensors):
        manual_seed(7)
        return fn(*tensors)
    return wrapped


# ----- the cases: (name, function of the differentiated tensors, input arrays) -----------------
def _elementwise_cases():
    a, b = _smooth((3, 4), 1), _smooth((4,), 2)
    positive = _smooth((3, 4), 3, low=0.5)
    x, y = _distinct((3, 4), 4), _distinct((3, 4), 5) + 0.05
    condition = Tensor(_smooth((3, 4), 6) > 0)
    return [
        ("add (broadcast)", lambda p, q: p + q, [a, b]),
        ("sub (broadcast)", lambda p, q: p - q, [a, b]),
        ("mul (broadcast)", lambda p, q: p * q, [a, b]),
        ("div", lambda p, q: p / q, [a, positive]),
        ("pow", lambda p, q: p ** q, [positive, a]),
        ("neg", lambda p: -p, [a]),
        ("exp", ops.exp, [a]),
        ("log", ops.log, [positive]),
        ("sqrt", ops.sqrt, [positive]),
        ("abs", ops.abs, [a]),
        ("relu", F.relu, [a]),
        ("leaky_relu", lambda p: F.leaky_relu(p, 0.1), [a]),
        ("sigmoid", F.sigmoid, [a]),
        ("tanh", F.tanh, [a]),
        ("maximum", ops.maximum, [x, y]),
        ("minimum", ops.minimum, [x, y]),
        ("where", lambda p, q: ops.where(condition, p, q), [a, positive]),
        ("clip", lambda p: ops.clip(p, -0.55, 0.55), [_distinct((3, 4), 8) + 0.03]),
    ]


def _values(result):
    """max/min over a dim return (values, indices) as in PyTorch: the differentiable part."""
    return result.values if hasattr(result, "values") else result


def _reduction_cases():
    a, x = _smooth((3, 4), 11), _distinct((3, 4), 12)
    return [
        ("sum (dim=1)", lambda p: p.sum(dim=1), [a]),
        ("mean (all)", lambda p: p.mean(), [a]),
        ("max (dim=0)", lambda p: _values(p.max(dim=0)), [x]),
        ("min (dim=1)", lambda p: _values(p.min(dim=1)), [x]),
        ("var (dim=1)", lambda p: p.var(dim=1), [a]),
        ("std (all)", lambda p: p.std(), [a]),
        ("logsumexp (dim=1)", lambda p: ops.logsumexp(p, 1), [a]),
    ]


def _shape_cases():
    a, b = _smooth((2, 3, 4), 21), _smooth((2, 3, 4), 22)
    return [
        ("reshape", lambda p: p.reshape(4, 6), [a]),
        ("transpose", lambda p: p.transpose(0, 2), [a]),
        ("permute", lambda p: p.permute(2, 0, 1), [a]),
        ("flatten", lambda p: p.flatten(1), [a]),
        ("getitem (slice)", lambda p: p[:, 1:, ::2], [a]),
        ("getitem (index array)", lambda p: p[np.array([1, 0, 1])], [a]),
        ("cat", lambda p, q: ops.cat([p, q], dim=1), [a, b]),
        ("stack", lambda p, q: ops.stack([p, q], dim=2), [a, b]),
        ("pad", lambda p: F.pad(p, (1, 2, 0, 1), value=0.5), [a]),
        ("expand", lambda p: p.expand(3, 2, 4), [_smooth((2, 1), 23)]),
        ("squeeze/unsqueeze", lambda p: p.unsqueeze(0).squeeze(2), [_smooth((2, 1, 3), 24)]),
    ]


def _linalg_cases():
    targets = _labels(4, 5, 31)
    logits = _smooth((4, 5), 32)
    class_weight = Tensor(np.array([1.0, 2.0, 0.5, 1.5, 1.0]))
    real_targets = Tensor(_smooth((4, 5), 33))
    binary_targets = Tensor((_smooth((4, 5), 34) > 0).astype(np.float64))
    offset = real_targets.data + _smooth((4, 5), 35) * 0.5  # input - target kept off 0 and +-beta
    offset = np.where(np.abs(np.abs(offset - real_targets.data) - 1.0) < 0.1,
                      offset + 0.25, offset)
    return [
        ("matmul (2-D)", ops.matmul, [_smooth((3, 4), 36), _smooth((4, 2), 37)]),
        ("matmul (batched)", ops.matmul, [_smooth((2, 3, 4), 38), _smooth((4, 2), 39)]),
        ("softmax", lambda p: F.softmax(p, dim=1), [logits]),
        ("log_softmax", lambda p: F.log_softmax(p, dim=1), [logits]),
        ("linear", F.linear, [_smooth((4, 3), 40), _smooth((5, 3), 41), _smooth((5,), 42)]),
        ("cross_entropy", lambda p: F.cross_entropy(p, targets), [logits]),
        ("cross_entropy (weight, label_smoothing)",
         lambda p: F.cross_entropy(p, targets, weight=class_weight, label_smoothing=0.1), [logits]),
        ("cross_entropy (N, C, H, W)",
         lambda p: F.cross_entropy(p, Tensor(np.array([[[0, 2], [1, 1]], [[2, 0], [0, 1]]]))),
         [_smooth((2, 3, 2, 2), 43)]),
        ("nll_loss", lambda p: F.nll_loss(F.log_softmax(p, dim=1), targets), [logits]),
        ("mse_loss", lambda p: F.mse_loss(p, real_targets), [logits]),
        ("l1_loss", lambda p: F.l1_loss(p, real_targets), [offset]),
        ("smooth_l1_loss", lambda p: F.smooth_l1_loss(p, real_targets), [offset]),
        ("binary_cross_entropy_with_logits",
         lambda p: F.binary_cross_entropy_with_logits(p, binary_targets), [logits]),
    ]


def _conv_cases():
    x = _smooth((2, 2, 4, 4), 51)
    x4 = _smooth((1, 4, 4, 4), 50)  # four channels for groups=2
    return [
        ("conv2d", lambda p, w, b: F.conv2d(p, w, b), [x, _smooth((3, 2, 3, 3), 52), _smooth((3,), 53)]),
        ("conv2d (stride 2, padding 1)", lambda p, w: F.conv2d(p, w, stride=2, padding=1),
         [x, _smooth((2, 2, 3, 3), 54)]),
        ("conv2d (dilation 2)", lambda p, w: F.conv2d(p, w, dilation=2), [x, _smooth((2, 2, 2, 2), 55)]),
        ("conv2d (groups 2)", lambda p, w: F.conv2d(p, w, groups=2, padding=(1, 0)),
         [x4, _smooth((4, 2, 3, 2), 56)]),
        ("conv2d (padding 'same')", lambda p, w: F.conv2d(p, w, padding="same"),
         [x, _smooth((2, 2, 3, 3), 57)]),
        ("conv_transpose2d (stride 2, padding 1, output_padding 1)",
         lambda p, w, b: F.conv_transpose2d(p, w, b, stride=2, padding=1, output_padding=1),
         [_smooth((2, 2, 3, 3), 58), _smooth((2, 3, 3, 3), 59), _smooth((3,), 60)]),
        ("conv_transpose2d (groups 2, dilation 2)",
         lambda p, w: F.conv_transpose2d(p, w, groups=2, dilation=2),
         [_smooth((1, 4, 3, 3), 61), _smooth((4, 1, 2, 2), 62)]),
    ]


def _pool_norm_cases():
    x = _distinct((1, 2, 5, 5), 71)
    pooled, indices = F.max_pool2d(Tensor(_distinct((1, 2, 4, 4), 72)), 2, return_indices=True)
    return [
        ("max_pool2d (2x2)", lambda p: F.max_pool2d(p, 2), [x]),
        ("max_pool2d (3x3, stride 2, padding 1)", lambda p: F.max_pool2d(p, 3, 2, 1), [x]),
        ("avg_pool2d (3x3, stride 2, padding 1)",
         lambda p: F.avg_pool2d(p, 3, 2, 1, count_include_pad=False), [x]),
        ("adaptive_avg_pool2d (5x5 -> 3x3)", lambda p: F.adaptive_avg_pool2d(p, 3), [x]),
        ("max_unpool2d", lambda p: F.max_unpool2d(p, indices, 2), [_smooth(tuple(pooled.shape), 73)]),
        ("batch_norm (training)",
         lambda p, w, b: F.batch_norm(p, None, None, w, b, training=True),
         [_smooth((4, 2, 2, 2), 74), _smooth((2,), 75), _smooth((2,), 76)]),
        ("dropout (fixed mask)", _with_mask(lambda p: F.dropout(p, 0.4, training=True)),
         [_smooth((3, 4), 77)]),
        ("dropout2d (fixed mask)", _with_mask(lambda p: F.dropout2d(p, 0.4, training=True)),
         [_smooth((2, 4, 2, 2), 78)]),
        ("interpolate (nearest)", lambda p: F.interpolate(p, scale_factor=2, mode="nearest"),
         [_smooth((1, 2, 3, 3), 79)]),
        ("interpolate (bilinear)", lambda p: F.interpolate(p, size=(5, 4), mode="bilinear"),
         [_smooth((1, 2, 3, 3), 80)]),
        ("interpolate (bilinear, align_corners)",
         lambda p: F.interpolate(p, size=(5, 5), mode="bilinear", align_corners=True),
         [_smooth((1, 2, 3, 3), 81)]),
    ]


def gradcheck_cases():
    """Every case as (name, function, list of float64 input arrays)."""
    return (_elementwise_cases() + _reduction_cases() + _shape_cases() + _linalg_cases()
            + _conv_cases() + _pool_norm_cases())


# ----- checking --------------------------------------------------------------------------------
def max_relative_error(analytic, numeric):
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, floor), floor = 1e-3 * max|n| (and >= 1e-12)."""
    scale = max(float(np.max(np.abs(numeric))) if numeric.size else 0.0, 1e-9)
    denominator = np.maximum(np.abs(analytic) + np.abs(numeric), 1e-3 * scale)
    return float(np.max(np.abs(analytic - numeric) / denominator)) if numeric.size else 0.0


def check_case(fn, arrays, eps=EPS):
    """The max relative error of one case (over all its inputs)."""
    tensors = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    output = fn(*tensors)
    projection = None
    if output.data.size != 1:
        projection = Tensor(np.random.default_rng(1234).standard_normal(output.shape))
    analytic = analytic_grad(fn, tensors, projection)
    numeric = numerical_grad(fn, tensors, eps, projection)
    errors = [max_relative_error(a, n) for a, n in zip(analytic, numeric)]
    return max(errors)


def run_gradchecks(tolerance=TOLERANCE, names=None):
    """Check every op (or those whose name contains one of ``names``) ->
    list of rows ``{"op": str, "max_rel_error": float, "passed": bool}``.

    minicnn's random generator is saved and restored (the dropout cases reseed it).
    """
    saved_rng = get_rng_state()
    rows = []
    try:
        for name, fn, arrays in gradcheck_cases():
            if names is not None and not any(part in name for part in names):
                continue
            try:
                error = check_case(fn, arrays)
            except Exception as exc:  # an op that raises is reported as a failure, not a crash
                rows.append({"op": name, "max_rel_error": float("nan"), "passed": False,
                             "error": f"{type(exc).__name__}: {exc}"})
                continue
            rows.append({"op": name, "max_rel_error": error, "passed": bool(error < tolerance)})
    finally:
        set_rng_state(saved_rng)
    return rows


def format_gradcheck_table(rows):
    """A printable table of ``run_gradchecks`` rows, with a summary line."""
    width = max(len(row["op"]) for row in rows) if rows else 2
    lines = [f"{'op':<{width}}  {'max rel error':>13}  result", "-" * (width + 24)]
    for row in rows:
        result = "ok" if row["passed"] else "FAILED"
        line = f"{row['op']:<{width}}  {row['max_rel_error']:>13.2e}  {result}"
        if "error" in row:
            line += f"  ({row['error']})"
        lines.append(line)
    failed = sum(not row["passed"] for row in rows)
    lines.append(f"{len(rows) - failed} of {len(rows)} ops passed")
    return "\n".join(lines)
