"""Tests for minicnn.viz: every picture renders and saves a PNG, and what it draws matches
the input (counts against hand counts, moving averages against a loop, images against a
hand-written min-max normalisation, feature maps against a NumPy 1x1 convolution)."""
import matplotlib

matplotlib.use("Agg")

import os  # noqa: E402
import threading  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

import minicnn as mc  # noqa: E402
import minicnn.nn as nn  # noqa: E402
from minicnn import viz  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert os.path.getsize(path) > 100
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE


def image_count(fig):
    return sum(len(ax.images) for ax in fig.axes)


def box_labels(fig):
    """The text of every box in a graph figure (arrows are Annotations, left out)."""
    return [t.get_text() for t in fig.axes[0].texts if not isinstance(t, Annotation)]


def make_history_dict(epochs=5, steps=40, with_val=True):
    rng = np.random.default_rng(0)
    return {
        "train_loss": list(np.linspace(2.0, 0.5, epochs)),
        "train_acc": list(np.linspace(0.3, 0.9, epochs)),
        "val_loss": list(np.linspace(2.1, 0.7, epochs)) if with_val else [],
        "val_acc": list(np.linspace(0.25, 0.8, epochs)) if with_val else [],
        "lr": [0.1] * epochs,
        "epoch_time": [1.0] * epochs,
        "images_per_s": [100.0] * epochs,
        "step_loss": list(2.0 * np.exp(-np.arange(steps) / 10) + 0.1 * rng.random(steps)),
        "step_lr": list(0.1 * np.cos(np.arange(steps) / steps)),
        "stop_reason": None,
    }


# ----- save_figure --------------------------------------------------------------------------
def simple_figure():
    fig = Figure()
    fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    return fig


def test_save_figure_creates_parent_dirs_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "a" / "b" / "plot.png"
    assert viz.save_figure(simple_figure(), path) == str(path)
    assert_png(path)
    assert os.listdir(path.parent) == ["plot.png"]


def test_save_figure_failure_keeps_the_previous_file(tmp_path):
    path = tmp_path / "plot.png"
    viz.save_figure(simple_figure(), path)
    before = path.read_bytes()
    broken = simple_figure()

    def failing_savefig(f, **kwargs):
        f.write(b"half a picture")
        raise OSError("disk full")

    broken.savefig = failing_savefig
    with pytest.raises(OSError, match="disk full"):
        viz.save_figure(broken, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["plot.png"]


def test_figures_render_in_two_threads_at_once(tmp_path):
    errors = []

    def draw(index):
        try:
            for repeat in range(2):
                viz.plot_lr(make_history_dict(), path=tmp_path / f"t{index}_{repeat}.png")
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(list(tmp_path.glob("*.png"))) == 4


# ----- curves -------------------------------------------------------------------------------
def moving_average_loop(values, window):
    """Reference: the mean of the finite values among the last ``window`` ones."""
    out = []
    for i in range(len(values)):
        recent = [v for v in values[max(0, i - window + 1): i + 1] if np.isfinite(v)]
        out.append(sum(recent) / len(recent) if recent else np.nan)
    return np.array(out)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3) | st.just(float("nan")), max_size=30),
       window=st.integers(1, 8))
def test_moving_average_matches_loop(values, window):
    np.testing.assert_allclose(viz.moving_average(values, window), moving_average_loop(values, window),
                               rtol=1e-9, atol=1e-6)


def test_moving_average_rejects_bad_window():
    with pytest.raises(ValueError, match="window"):
        viz.moving_average([1.0, 2.0], 0)


def test_plot_history_draws_train_and_val_per_epoch(tmp_path):
    history = make_history_dict()
    fig = viz.plot_history(history, path=tmp_path / "history.png")
    assert_png(tmp_path / "history.png")
    loss_ax, acc_ax = fig.axes
    train_line, val_line = loss_ax.lines
    np.testing.assert_array_equal(train_line.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(train_line.get_ydata(), history["train_loss"])
    np.testing.assert_allclose(val_line.get_ydata(), history["val_loss"])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), history["val_acc"])


def test_plot_history_without_validation_and_from_a_history_object(tmp_path):
    history_module = pytest.importorskip("minicnn.train.history")
    data = make_history_dict(with_val=False)
    del data["stop_reason"]
    history = history_module.History.from_dict(data)
    fig = viz.plot_history(history, path=tmp_path / "h.png")
    assert_png(tmp_path / "h.png")
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), data["train_acc"])


def test_plot_history_rejects_other_types():
    with pytest.raises(TypeError, match="History or a dict"):
        viz.plot_history([1, 2, 3])


def test_plot_step_loss_draws_steps_and_moving_average(tmp_path):
    history = make_history_dict(steps=40)
    fig = viz.plot_step_loss(history, smooth=7, path=tmp_path / "steps.png")
    assert_png(tmp_path / "steps.png")
    raw, smoothed = fig.axes[0].lines
    np.testing.assert_allclose(raw.get_ydata(), history["step_loss"])
    np.testing.assert_allclose(smoothed.get_ydata(), moving_average_loop(history["step_loss"], 7))
    # an empty history still renders
    empty = dict(history, step_loss=[], step_lr=[])
    viz.plot_step_loss(empty, path=tmp_path / "empty.png")
    assert_png(tmp_path / "empty.png")


def test_plot_lr_per_step_else_per_epoch(tmp_path):
    history = make_history_dict(steps=40)
    fig = viz.plot_lr(history, path=tmp_path / "lr.png")
    assert_png(tmp_path / "lr.png")
    assert fig.axes[0].get_xlabel() == "step"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), history["step_lr"])
    fig = viz.plot_lr(dict(history, step_lr=[]))
    assert fig.axes[0].get_xlabel() == "epoch"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), history["lr"])


# ----- stats --------------------------------------------------------------------------------
def test_plot_activation_histograms_one_panel_per_layer(tmp_path):
    rng = np.random.default_rng(1)
    relu_sample = np.maximum(rng.normal(size=500), 0)
    stats = {
        "features.1": {"mean": 0.4, "std": 0.6, "frac_zero": 0.5, "sample": relu_sample},
        "features.4": {"mean": -0.1, "std": 2.0, "frac_zero": 0.0, "sample": mc.tensor(rng.normal(size=300))},
        "classifier.2": {"mean": 0.0, "std": 0.0, "frac_zero": 1.0, "sample": np.zeros(0)},
    }
    fig = viz.plot_activation_histograms(stats, path=tmp_path / "act.png")
    assert_png(tmp_path / "act.png")
    assert len(fig.axes) == 3
    title = fig.axes[0].get_title()
    assert "features.1" in title and "mean 0.4" in title and "std 0.6" in title and "50.0%" in title
    heights = [patch.get_height() for patch in fig.axes[0].patches]
    assert sum(heights) == 500  # every sampled value lands in one bin
    assert sum(patch.get_height() for patch in fig.axes[1].patches) == 300


def test_plot_activation_histograms_names_missing_keys():
    with pytest.raises(ValueError, match="frac_zero"):
        viz.plot_activation_histograms({"conv": {"mean": 0, "std": 1, "sample": np.ones(3)}})


def test_plot_update_ratios_log_axis_and_reference_line(tmp_path):
    ratios = {"conv1.weight": [1e-3, 2e-3, 5e-4], "fc.weight": [1e-2, 0.0, 3e-2]}
    fig = viz.plot_update_ratios(ratios, path=tmp_path / "ratios.png")
    assert_png(tmp_path / "ratios.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    first, second, reference = ax.lines
    np.testing.assert_allclose(first.get_ydata(), ratios["conv1.weight"])
    assert np.isnan(second.get_ydata()[1])  # a zero update cannot sit on a log axis
    np.testing.assert_allclose(reference.get_ydata(), [1e-3, 1e-3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["conv1.weight", "fc.weight", "0.001"]


# ----- filters and feature maps -------------------------------------------------------------
@pytest.mark.parametrize("c_out,max_filters,expected", [(6, 64, 6), (70, 64, 64), (10, 4, 4)])
def test_plot_filters_draws_one_image_per_filter(tmp_path, c_out, max_filters, expected):
    weight = np.random.default_rng(2).normal(size=(c_out, 1, 5, 5))
    path = tmp_path / "f.png" if c_out < 64 else None  # saving 64 panels is slow; drawing is what we test
    fig = viz.plot_filters(weight, max_filters=max_filters, path=path)
    if path is not None:
        assert_png(path)
    assert image_count(fig) == expected
    assert len(fig.axes) == expected  # no empty panels
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), weight[0, 0])
    assert fig.axes[0].images[0].get_cmap().name == "gray"


def test_plot_filters_rgb_is_min_max_normalised_per_filter():
    weight = np.random.default_rng(3).normal(size=(4, 3, 3, 3)).astype(np.float32)
    fig = viz.plot_filters(mc.tensor(weight))
    for index in range(4):
        hwc = np.transpose(weight[index], (1, 2, 0)).astype(np.float64)
        expected = (hwc - hwc.min()) / (hwc.max() - hwc.min())
        np.testing.assert_allclose(fig.axes[index].images[0].get_array(), expected, rtol=1e-6)


def test_plot_filters_tensor_parameter_and_numpy_agree_other_channel_counts():
    conv = nn.Conv2d(5, 8, 3)
    from_parameter = viz.plot_filters(conv.weight)
    from_numpy = viz.plot_filters(conv.weight.detach().numpy())
    assert image_count(from_parameter) == image_count(from_numpy) == 8
    for ax_p, ax_n in zip(from_parameter.axes, from_numpy.axes):
        np.testing.assert_array_equal(ax_p.images[0].get_array(), ax_n.images[0].get_array())
    # C_in = 5: the first input channel is shown
    np.testing.assert_allclose(from_numpy.axes[2].images[0].get_array(), conv.weight.detach().numpy()[2, 0])


def test_plot_filters_rejects_non_4d_weights():
    with pytest.raises(ValueError, match=r"\(C_out, C_in, kH, kW\)"):
        viz.plot_filters(np.zeros((4, 3, 3)))


def one_by_one_model():
    """conv (1x1, 3 -> 5 channels, known weights) -> ReLU -> flatten -> linear."""
    model = nn.Sequential(nn.Conv2d(3, 5, 1), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 4, 2))
    rng = np.random.default_rng(4)
    model[0].weight.data[...] = rng.normal(size=(5, 3, 1, 1))
    model[0].bias.data[...] = rng.normal(size=5)
    return model


def reference_relu_conv1x1(model, image):
    """out[o, h, w] = max(0, sum_c W[o, c] x[c, h, w] + b[o]), in NumPy."""
    weight = model[0].weight.detach().numpy()[:, :, 0, 0].astype(np.float64)
    bias = model[0].bias.detach().numpy().astype(np.float64)
    out = np.einsum("oc,chw->ohw", weight, image) + bias[:, None, None]
    return np.maximum(out, 0)


def all_hooks(model):
    return [hook for module in model.modules() for hook in module._forward_hooks.values()]


@pytest.mark.parametrize("as_tensor,batched", [(False, False), (True, False), (False, True), (True, True)])
def test_plot_feature_maps_shows_the_layer_output_and_removes_its_hook(tmp_path, as_tensor, batched):
    model = one_by_one_model()
    image = np.random.default_rng(5).normal(size=(3, 4, 4))  # float64 into a float32 model
    x = image[None] if batched else image
    x = mc.tensor(x) if as_tensor else x
    fig = viz.plot_feature_maps(model, x, "1", path=tmp_path / "maps.png")
    assert_png(tmp_path / "maps.png")
    assert all_hooks(model) == []
    assert image_count(fig) == 5
    expected = reference_relu_conv1x1(model, image)
    for channel in range(5):
        np.testing.assert_allclose(fig.axes[channel].images[0].get_array(), expected[channel], rtol=1e-5, atol=1e-5)


def test_plot_feature_maps_max_maps_and_mode_restored():
    model = one_by_one_model()
    model.train()
    model[1].eval()  # mixed modes come back exactly as they were
    fig = viz.plot_feature_maps(model, np.ones((3, 4, 4)), "0", max_maps=2)
    assert image_count(fig) == 2
    assert [m.training for m in model.modules()] == [True, True, False, True, True]


def test_plot_feature_maps_runs_in_eval_mode_without_grad():
    model = one_by_one_model()
    seen = []
    model[0].register_forward_hook(lambda mod, inputs, out: seen.append((mod.training, out.requires_grad)))
    viz.plot_feature_maps(model, np.ones((3, 4, 4)), "0")
    assert seen == [(False, False)]
    assert model.training


def test_plot_feature_maps_unknown_name_lists_the_available_ones():
    model = one_by_one_model()
    with pytest.raises(ValueError, match=r"no module named 'conv9'.*'0', '1', '2', '3'"):
        viz.plot_feature_maps(model, np.ones((3, 4, 4)), "conv9")
    assert all_hooks(model) == []


def test_plot_feature_maps_bad_inputs_and_failed_forward_remove_the_hook():
    model = one_by_one_model()
    with pytest.raises(ValueError, match=r"\(1, C, H, W\).*\(2, 3, 4, 4\)"):
        viz.plot_feature_maps(model, np.ones((2, 3, 4, 4)), "1")
    with pytest.raises(Exception):
        viz.plot_feature_maps(model, np.ones((4, 4, 4)), "1")  # 4 channels into a 3-channel conv
    assert all_hooks(model) == []
    assert model.training
    with pytest.raises(ValueError, match=r"feature maps need a \(1, C, H, W\) output"):
        viz.plot_feature_maps(model, np.ones((3, 4, 4)), "3")  # Linear: (1, 2)
    assert all_hooks(model) == []


# ----- classification -----------------------------------------------------------------------
def test_confusion_matrix_hand_count():
    y_true = [0, 0, 1, 1, 1, 2, 2, 0]
    y_pred = [0, 1, 1, 1, 2, 2, 0, 0]
    expected = np.array([[2, 1, 0],
                         [0, 2, 1],
                         [1, 0, 1]])
    np.testing.assert_array_equal(viz.confusion_matrix(y_true, y_pred), expected)
    padded = viz.confusion_matrix(mc.tensor(np.array(y_true)), np.array(y_pred), num_classes=4)
    assert padded.shape == (4, 4)
    np.testing.assert_array_equal(padded[:3, :3], expected)
    assert padded[3].sum() == padded[:, 3].sum() == 0


@settings(max_examples=25, deadline=None)
@given(data=st.data(), classes=st.integers(1, 6), n=st.integers(0, 40))
def test_confusion_matrix_matches_loop(data, classes, n):
    y_true = data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n))
    y_pred = data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n))
    expected = np.zeros((classes, classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(viz.confusion_matrix(y_true, y_pred, num_classes=classes), expected)


def test_confusion_matrix_takes_scores_and_rejects_bad_labels():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_array_equal(viz.confusion_matrix([1, 0, 0], scores), [[1, 1], [0, 1]])
    with pytest.raises(ValueError, match="out of range"):
        viz.confusion_matrix([0, 3], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="shape"):
        viz.confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="negative"):
        viz.confusion_matrix([0, -1], [0, 1])
    with pytest.raises(ValueError, match="integer"):
        viz.confusion_matrix([0.5, 1], [0, 1])


def cell_texts(fig, num_classes):
    texts = {}
    for text in fig.axes[0].texts:
        j, i = text.get_position()
        texts[(int(round(i)), int(round(j)))] = text.get_text()
    return [[texts[(i, j)] for j in range(num_classes)] for i in range(num_classes)]


def test_plot_confusion_matrix_counts_and_normalised_rows(tmp_path):
    y_true = [0, 0, 1, 1, 1, 2, 2, 0]
    y_pred = [0, 1, 1, 1, 2, 2, 0, 0]
    fig = viz.plot_confusion_matrix(y_true, y_pred, class_names=["cat", "dog", "car"], path=tmp_path / "cm.png")
    assert_png(tmp_path / "cm.png")
    assert cell_texts(fig, 3) == [["2", "1", "0"], ["0", "2", "1"], ["1", "0", "1"]]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["cat", "dog", "car"]
    fig = viz.plot_confusion_matrix(y_true, y_pred, normalize=True, path=tmp_path / "cmn.png")
    assert_png(tmp_path / "cmn.png")
    assert cell_texts(fig, 3) == [["0.67", "0.33", "0.00"], ["0.00", "0.67", "0.33"], ["0.50", "0.00", "0.50"]]
    # class_names fixes the number of classes even when one never occurs
    fig = viz.plot_confusion_matrix([0, 1], [0, 1], class_names=["a", "b", "c"], normalize=True)
    assert cell_texts(fig, 3)[2] == ["0.00", "0.00", "0.00"]


@pytest.mark.parametrize("layout", ["nchw_rgb", "nchw_grey", "nhw"])
def test_plot_misclassified_shows_only_the_mistakes(tmp_path, layout):
    rng = np.random.default_rng(6)
    shapes = {"nchw_rgb": (10, 3, 6, 6), "nchw_grey": (10, 1, 6, 6), "nhw": (10, 6, 6)}
    images = rng.normal(size=shapes[layout])
    y_true = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    y_pred = np.array([0, 2, 2, 1, 1, 2, 2, 1, 2, 0])  # wrong at 1, 3, 6
    fig = viz.plot_misclassified(mc.tensor(images), y_true, y_pred, class_names=["a", "b", "c"],
                                 path=tmp_path / "mis.png")
    assert_png(tmp_path / "mis.png")
    assert image_count(fig) == 3
    assert [ax.get_title() for ax in fig.axes] == ["b→c", "a→b", "a→c"]
    first = fig.axes[0].images[0].get_array()
    if layout == "nchw_rgb":
        hwc = np.transpose(images[1], (1, 2, 0))
        np.testing.assert_allclose(first, (hwc - hwc.min()) / (hwc.max() - hwc.min()))
    else:
        np.testing.assert_allclose(first, images[1].reshape(6, 6))


def test_plot_misclassified_cap_and_none_wrong(tmp_path):
    images = np.zeros((30, 1, 4, 4))
    y_true = np.zeros(30, dtype=int)
    fig = viz.plot_misclassified(images, y_true, np.ones(30, dtype=int), max_images=16)
    assert image_count(fig) == 16
    assert [ax.get_title() for ax in fig.axes[:2]] == ["0→1", "0→1"]
    fig = viz.plot_misclassified(images, y_true, y_true, path=tmp_path / "none.png")
    assert_png(tmp_path / "none.png")
    assert image_count(fig) == 0
    with pytest.raises(ValueError, match="30 images but 29 true"):
        viz.plot_misclassified(images, y_true[:29], y_true)


# ----- autograd graph -----------------------------------------------------------------------
def test_plot_graph_boxes_for_each_op_and_leaf(tmp_path):
    a = mc.randn(2, 3, requires_grad=True)
    b = mc.randn(2, 3)
    y = (a * b + a.exp()).sum()
    fig = viz.plot_graph(y, params={"a": a}, path=tmp_path / "graph.png")
    assert_png(tmp_path / "graph.png")
    labels = box_labels(fig)
    assert sorted(labels) == sorted(["output\n()", "Sum", "Add", "Mul", "Exp", "a\n(2, 3)", "tensor\n(2, 3)"])
    arrows = [t for t in fig.axes[0].texts if isinstance(t, Annotation)]
    assert len(arrows) == 7  # a->Mul, b->Mul, a->Exp, Mul->Add, Exp->Add, Add->Sum, Sum->output


def test_plot_graph_arrows_point_forward_and_names_model_parameters():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    out = model(mc.randn(2, 4)).sum()
    fig = viz.plot_graph(out, params=dict(model.named_parameters()))
    labels = box_labels(fig)
    assert "0.weight\n(3, 4)" in labels and "0.bias\n(3,)" in labels and "ReLU" in labels
    for arrow in (t for t in fig.axes[0].texts if isinstance(t, Annotation)):
        start_x, end_x = arrow.xyann[0], arrow.xy[0]
        assert start_x < end_x  # leaves on the left, output on the right


def test_plot_graph_of_a_leaf_and_bad_input():
    fig = viz.plot_graph(mc.randn(3, requires_grad=True))
    assert sorted(box_labels(fig)) == ["output\n(3,)", "tensor\n(3,)"]
    with pytest.raises(TypeError, match="minicnn Tensor"):
        viz.plot_graph(np.ones(3))
