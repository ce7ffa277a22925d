"""atomic_write: the target appears whole or not at all, with the usual permissions."""
import os
import stat

import pytest

from minicnn.atomic import atomic_write


def test_written_file_replaces_the_target_with_usual_permissions(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with atomic_write(path, "w", encoding="utf-8") as f:
        assert f.name != str(path) and os.path.dirname(f.name) == str(tmp_path)
        f.write("new")
        assert path.read_text() == "old"          # nothing visible before the block ends
    assert path.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["a.txt"]


def test_an_exception_in_the_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as f:
            f.write(b"half")
            raise KeyboardInterrupt("power cut")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_history_json_is_written_atomically(tmp_path, monkeypatch):
    from minicnn.train import History
    history = History()
    history.train_loss.append(1.0)
    history.save_json(tmp_path / "history.json")

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    history.train_loss.append(2.0)
    with pytest.raises(OSError, match="disk full"):
        history.save_json(tmp_path / "history.json")
    assert os.listdir(tmp_path) == ["history.json"]
    assert History.load_json(tmp_path / "history.json").train_loss == [1.0]
