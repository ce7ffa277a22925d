"""The ``minicnn`` command end to end on a tiny configuration (a few hundred offline MNIST
digits through the hidden ``--limit`` option), in temporary folders."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minicnn.cli import build_parser, main
from minicnn.train import History, load_checkpoint
from minicnn.train.run import compute_threads

TINY = ["--model", "lenet5", "--dataset", "mnist-offline", "--limit", "240", "--batch-size", "32",
        "--no-progress"]


def viz_complete():
    """True when minicnn.viz provides every function the train command draws with."""
    try:
        from minicnn import viz
    except Exception:  # noqa: BLE001 -- written by another part of the project
        return False
    names = ("plot_history", "plot_lr", "plot_step_loss", "plot_filters", "plot_confusion_matrix",
             "plot_misclassified", "save_figure")
    return all(hasattr(viz, name) for name in names)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs shared by the tests: straight (2 epochs), interrupted after 1 and resumed."""
    root = tmp_path_factory.mktemp("runs")
    straight, resumed = root / "straight", root / "resumed"
    codes = {}
    codes["straight"] = main(["train", *TINY, "--epochs", "2", "--out", str(straight)])
    codes["first"] = main(["train", *TINY, "--epochs", "2", "--stop-after", "1", "--out", str(resumed),
                           "--no-plots"])
    codes["first_history"] = History.load_json(resumed / "history.json")
    codes["resume"] = main(["train", "--resume", "--out", str(resumed), "--no-progress", "--no-plots"])
    return straight, resumed, codes


def test_train_writes_checkpoints_history_and_plots(runs, capsys):
    straight, _, codes = runs
    assert codes["straight"] == 0
    for name in ("checkpoint.npz", "best.npz", "history.json"):
        assert (straight / name).is_file(), name
    history = History.load_json(straight / "history.json")
    assert history.epochs == 2 and len(history.val_acc) == 2
    assert len(history.step_loss) == 2 * 7  # 216 training images (10% held out) / 32 -> 7 batches
    info = load_checkpoint(straight / "checkpoint.npz", None)
    assert info["epoch"] == 2 and info["extra"]["config"]["limit"] == 240
    if viz_complete():
        for name in ("curves.png", "lr.png", "filters.png", "confusion_matrix.png", "misclassified.png"):
            path = straight / name
            assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_resume_continues_exactly(runs):
    straight, resumed, codes = runs
    assert codes["first"] == 0 and codes["resume"] == 0
    assert codes["first_history"].epochs == 1
    a = History.load_json(straight / "history.json")
    b = History.load_json(resumed / "history.json")
    assert b.epochs == 2
    assert a.step_loss == b.step_loss  # the interrupted + resumed run is the same run
    assert a.val_acc == b.val_acc


def test_resume_can_extend_a_finished_run(runs, tmp_path, capsys):
    straight, _, _ = runs
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("checkpoint.npz", "best.npz"):
        (copy / name).write_bytes((straight / name).read_bytes())
    assert main(["train", "--resume", "--out", str(copy), "--epochs", "3", "--no-progress",
                 "--no-plots", "--lr", "5"]) == 0
    out = capsys.readouterr().out
    assert "ignoring --lr" in out and "stretched" in out and "test accuracy" in out
    extended = History.load_json(copy / "history.json")
    assert extended.epochs == 3
    # the third epoch follows the 3-epoch schedule (not the finished 2-epoch one, which ends at 0)
    fresh = tmp_path / "fresh"
    assert main(["train", *TINY, "--epochs", "3", "--out", str(fresh), "--no-plots"]) == 0
    expected = History.load_json(fresh / "history.json").step_lr[2 * 7:]
    assert max(expected) > 0
    np.testing.assert_allclose(extended.step_lr[2 * 7:], expected, rtol=1e-12)


def test_train_prints_the_figures(tmp_path, capsys):
    code = main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "r"), "--no-plots",
                 "--optimizer", "sgd", "--lr", "0.05", "--schedule", "step", "--label-smoothing", "0.1"])
    assert code == 0
    out = capsys.readouterr().out
    for text in ("test accuracy:", "time per epoch:", "images/s:"):
        assert text in out
    accuracy = float(out.split("test accuracy:")[1].split("%")[0])
    assert 0 <= accuracy <= 100


def test_eval_prints_accuracy_and_confusion_matrix(runs, capsys):
    straight, _, _ = runs
    assert main(["eval", "--checkpoint", str(straight)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "confusion matrix" in out
    matrix_lines = out.split("predicted):")[1].strip().splitlines()[1:11]
    counts = np.array([[int(v) for v in line.split()[1:]] for line in matrix_lines])
    assert counts.shape == (10, 10) and counts.sum() == 60  # limit 240 -> 60 test images
    accuracy = float(out.split("test accuracy:")[1].split("%")[0]) / 100
    assert accuracy == pytest.approx(np.trace(counts) / counts.sum(), abs=1e-4)
    assert main(["eval", "--checkpoint", str(straight / "checkpoint.npz")]) == 0


def test_errors_are_clear(tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "nothing"), "--no-progress"]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "missing")]) == 1
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    assert main(["eval", "--checkpoint", str(bad)]) == 1
    assert "refusing checkpoint" in capsys.readouterr().err
    assert main(["train", "--model", "nope", "--limit", "100", "--out", str(tmp_path / "x")]) == 1
    assert "unknown model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "imagenet", "--out", str(tmp_path)])


def test_info_and_gradcheck(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for text in ("minicnn", "numpy", "numba", "cpu kernels", "cupy", "gpu usable"):
        assert text in out
    from kernels.cpu import memory
    assert f"memory reuse   up to {memory.MAX_BYTES / 2**20:.0f} MiB" in out
    assert main(["gradcheck", "--ops", "conv2d (groups", "max_pool2d"]) == 0
    out = capsys.readouterr().out
    assert "conv2d (groups 2)" in out and "3 of 3 ops passed" in out
    assert main(["gradcheck", "--ops", "no-such-op"]) == 2


def test_search_small_budget(tmp_path, capsys):
    code = main(["search", "--limit", "160", "--trials", "2", "--fine-trials", "1", "--batch-size", "32",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "rank" in out and "best: lr=" in out
    rows = json.loads((tmp_path / "search.json").read_text())
    assert len(rows) == 3
    accuracies = [row["val_acc"] for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)


def test_help_lists_every_command_with_examples(capsys):
    parser = build_parser()
    text = parser.format_help()
    for command in ("train", "eval", "gradcheck", "search", "info", "examples:"):
        assert command in text
    assert main([]) == 2
    assert "examples:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    train_help = capsys.readouterr().out
    assert "--resume" in train_help and "--stop-after" not in train_help
    assert "--limit LIMIT" not in train_help  # the options for tests are hidden


def test_every_visible_option_has_help():
    import argparse
    commands = next(action for action in build_parser()._actions
                    if isinstance(action, argparse._SubParsersAction)).choices
    missing = [f"{name} {action.option_strings[0]}" for name, command in commands.items()
               for action in command._actions
               if action.option_strings and action.help != argparse.SUPPRESS and not action.help]
    assert sorted(commands) == ["eval", "gradcheck", "info", "search", "train"]
    assert missing == []


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "minicnn.cli", "info"], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            timeout=120)
    assert result.returncode == 0 and "numpy" in result.stdout


def test_compute_threads_sets_minicnns_threads_holds_blas_to_one_and_restores_both():
    from kernels import cpu as cpu_kernels
    before = cpu_kernels.get_num_threads()
    with compute_threads(2):
        assert cpu_kernels.get_num_threads() == 2
        try:
            from threadpoolctl import threadpool_info
        except ImportError:
            pass
        else:  # one pool of threads: minicnn's (BLAS's would spin on its cores)
            assert all(pool["num_threads"] == 1 for pool in threadpool_info()
                       if pool["user_api"] == "blas")
    with compute_threads(1):
        assert cpu_kernels.get_num_threads() == 1
        try:
            from threadpoolctl import threadpool_info
        except ImportError:
            pass
        else:
            assert all(pool["num_threads"] == 1 for pool in threadpool_info()
                       if pool["user_api"] == "blas")
    assert cpu_kernels.get_num_threads() == before
    with compute_threads(None):
        assert cpu_kernels.get_num_threads() == before


def test_a_new_run_in_a_used_folder_replaces_the_old_checkpoints(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out), "--no-plots"]) == 0
    assert (out / "best.npz").is_file()
    capsys.readouterr()
    # the new run has no validation split, so it writes no best.npz: the old one must go
    assert main(["train", *TINY, "--epochs", "1", "--val-split", "0", "--out", str(out),
                 "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "starting a new run" in text and "best.npz" not in text
    assert not (out / "best.npz").exists()
    assert load_checkpoint(out / "checkpoint.npz", None)["extra"]["config"]["val_split"] == 0
