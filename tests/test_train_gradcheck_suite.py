"""run_gradchecks: every op passes, and the check can fail (a wrong backward is caught)."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.train.gradcheck_suite import (check_case, format_gradcheck_table, max_relative_error,
                                           run_gradchecks)

REQUIRED = ("add", "mul", "div", "exp", "log", "relu", "sum", "max", "var", "reshape", "getitem",
            "cat", "matmul", "softmax", "log_softmax", "cross_entropy", "mse_loss", "linear",
            "conv2d (stride 2, padding 1)", "conv2d (dilation 2)", "conv2d (groups 2)",
            "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "max_unpool2d",
            "batch_norm (training)", "dropout (fixed mask)", "interpolate (nearest)",
            "interpolate (bilinear)")


def test_every_op_passes():
    rows = run_gradchecks()
    names = [row["op"] for row in rows]
    for required in REQUIRED:
        assert any(name.startswith(required) for name in names), required
    failed = [row for row in rows if not row["passed"]]
    assert failed == []
    assert all(row["max_rel_error"] < 1e-5 for row in rows)
    table = format_gradcheck_table(rows)
    assert f"{len(rows)} of {len(rows)} ops passed" in table


def test_a_wrong_backward_fails():
    class WrongSquare(mc.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x  # should be 2 x

    error = check_case(WrongSquare.apply, [np.array([0.5, -1.5, 2.0])])
    assert error == pytest.approx(1 / 3, rel=1e-4)  # |x - 2x| / (|x| + |2x|)


def test_max_relative_error_by_hand():
    analytic = np.array([1.0, 2.0, 0.0])
    numeric = np.array([1.0, 2.2, 1e-12])
    # element 1: 0.2 / 4.2; element 2: 1e-12 / max(1e-12, 1e-3 * 2.2)
    assert max_relative_error(analytic, numeric) == pytest.approx(0.2 / 4.2)


def test_rng_is_restored_and_names_filter():
    mc.manual_seed(11)
    expected = mc.rand(4).data
    mc.manual_seed(11)
    rows = run_gradchecks(names=["dropout"])
    assert [row["op"] for row in rows] == ["dropout (fixed mask)", "dropout2d (fixed mask)"]
    np.testing.assert_array_equal(mc.rand(4).data, expected)
