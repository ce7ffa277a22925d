"""mc.save / mc.load: round trips, the on-disk format, atomic writes, damaged files.

Round trips are checked against the original object with an independent comparison that
also requires the *types* to match (1 stays int, (1,) stays tuple, np.float32 stays
np.float32, -0.0 and nan survive bit for bit).
"""

import collections
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicnn import serialization
from minicnn.serialization import load, save

Tensor = pytest.importorskip("minicnn.autograd.tensor").Tensor


def assert_same(original, loaded, where="obj"):
    """Equal values and equal types, recursively."""
    assert type(loaded) is type(original), f"{where}: {type(original)} became {type(loaded)}"
    if isinstance(original, Tensor):
        assert loaded.requires_grad == original.requires_grad, where
        assert_same(original.data, loaded.data, where + ".data")
    elif isinstance(original, (np.ndarray, np.generic)):
        assert loaded.dtype == original.dtype and loaded.shape == original.shape, where
        assert loaded.tobytes() == original.tobytes(), where
    elif isinstance(original, float):
        assert repr(loaded) == repr(original), where  # nan, inf, -0.0 exactly
    elif isinstance(original, (list, tuple)):
        assert len(loaded) == len(original), where
        for i, (a, b) in enumerate(zip(original, loaded)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(original, dict):
        assert list(loaded.keys()) == list(original.keys()), where
        for key in original:
            assert_same(original[key], loaded[key], f"{where}[{key!r}]")
    else:
        assert loaded == original, where


dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])
arrays = dtypes.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                         min_side=0, max_side=4)))
numpy_scalars = arrays.map(lambda a: a.reshape(-1)[0] if a.size else a.dtype.type(0))
plain = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
tensors = st.builds(lambda a, flag: Tensor(a.astype(np.float64), requires_grad=flag),
                    arrays, st.booleans())
keys = st.text(max_size=5) | st.integers(-5, 5) | st.tuples(st.integers(0, 3), st.text(max_size=2))
leaves = plain | arrays | numpy_scalars | tensors
structures = st.recursive(
    leaves,
    lambda children: (st.lists(children, max_size=4)
                      | st.lists(children, max_size=4).map(tuple)
                      | st.dictionaries(keys, children, max_size=4)
                      | st.dictionaries(st.text(max_size=5), children, max_size=3)
                      .map(collections.OrderedDict)),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(obj=structures)
def test_round_trip_keeps_values_and_types(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("rt") / "checkpoint.npz"
    save(obj, path)
    assert_same(obj, load(path))


def test_round_trip_of_a_checkpoint_like_dict(tmp_path):
    weight = Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32),
                    requires_grad=True)
    checkpoint = {
        "model": collections.OrderedDict([("fc.weight", weight), ("bn.num_batches", np.int64(7))]),
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.zeros(3)}}, "lr": 1e-3},
        "epoch": 12, "shape": (4, 3), "best": float("inf"), "note": None, "done": False,
    }
    save(checkpoint, tmp_path / "ckpt.pt")
    assert_same(checkpoint, load(tmp_path / "ckpt.pt", map_location="cpu"))


def test_the_file_is_a_plain_npz_with_a_json_structure(tmp_path):
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = tmp_path / "model.weights"  # no extension is added
    save({"w": weights, "n": 1}, path)
    assert os.listdir(tmp_path) == ["model.weights"]
    with np.load(path, allow_pickle=False) as archive:
        document = json.loads(archive["__minicnn__"].tobytes().decode("utf-8"))
        key = document["root"]["items"][0][1]["key"]
        np.testing.assert_array_equal(archive[key], weights)
    assert document["format"] == "minicnn" and document["version"] == 1
    assert document["root"]["items"][1] == ["n", 1]


def test_shared_tensors_stay_shared(tmp_path):
    tied = Tensor(np.ones(3), requires_grad=True)
    save({"encoder": tied, "decoder": tied, "copy": Tensor(np.ones(3))}, tmp_path / "f")
    loaded = load(tmp_path / "f")
    assert loaded["encoder"] is loaded["decoder"]
    assert loaded["copy"] is not loaded["encoder"]


@pytest.mark.parametrize("bad, where", [
    ({"a": [1, {2, 3}]}, "obj['a'][1]"),
    ({"a": np.array([object()], dtype=object)}, "obj['a']"),
    ({"a": object()}, "obj['a']"),
    ({np.zeros(1).tobytes(): 1}, "obj"),
])
def test_unsupported_values_are_refused_with_their_location(tmp_path, bad, where):
    with pytest.raises(TypeError) as info:
        save(bad, tmp_path / "f")
    assert where in str(info.value)
    assert not os.path.exists(tmp_path / "f")


# ------------------------------------------------------------------------------ atomicity


def test_crash_while_writing_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    old = {"epoch": 1, "w": np.arange(5.0)}
    save(old, path)

    def crashing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")  # some bytes reach the disk, then...
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", crashing_savez)
    with pytest.raises(KeyboardInterrupt):
        save({"epoch": 2, "w": np.zeros(5)}, path)
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind
    assert_same(old, load(path))


def test_failed_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save([1, 2], path)

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save([3, 4], path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert load(path) == [1, 2]


# ------------------------------------------------------------------------------ damaged files


def saved_bytes(tmp_path):
    path = tmp_path / "good.npz"
    weights = np.linspace(-1, 1, 300)
    save({"w": weights, "name": "resnet"}, path)
    return path.read_bytes(), weights


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.0, 0.999))
def test_truncated_files_are_refused(tmp_path_factory, fraction):
    folder = tmp_path_factory.mktemp("trunc")
    content, _ = saved_bytes(folder)
    path = folder / "cut.npz"
    path.write_bytes(content[: int(len(content) * fraction)])
    with pytest.raises(ValueError, match="cut.npz"):
        load(path)


def test_flipped_array_byte_is_refused(tmp_path):
    content, weights = saved_bytes(tmp_path)
    position = content.find(weights[100:110].tobytes())
    assert position > 0
    damaged = bytearray(content)
    damaged[position] ^= 0x01
    (tmp_path / "bad.npz").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"bad\.npz.*CRC"):
        load(tmp_path / "bad.npz")


def write_npz(path, **entries):
    with zipfile.ZipFile(path, "w") as archive:  # np.savez without mc.save's checks
        for name, array in entries.items():
            with archive.open(name + ".npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=True)


def json_entry(document):
    return np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)


@pytest.mark.parametrize("entries, message", [
    ({"w": np.zeros(2)}, "__minicnn__"),
    ({"__minicnn__": np.frombuffer(b"{not json", dtype=np.uint8)}, "JSONDecodeError"),
    ({"__minicnn__": json_entry({"format": "other", "version": 1, "root": 1})}, "not a minicnn"),
    ({"__minicnn__": json_entry({"format": "minicnn", "version": 99, "root": 1})}, "version"),
    ({"__minicnn__": json_entry({"format": "minicnn", "version": 1,
                                 "root": {"type": "ndarray", "key": "array_7"}})}, "array_7"),
    ({"__minicnn__": json_entry({"format": "minicnn", "version": 1,
                                 "root": {"type": "pickle"}})}, "unknown node type"),
    ({"__minicnn__": json_entry({"format": "minicnn", "version": 1,
                                 "root": {"type": "ndarray", "key": "array_0"}}),
      "array_0": np.array([{"evil": 1}], dtype=object)}, "pickle"),
])
def test_tampered_files_are_refused(tmp_path, entries, message):
    path = tmp_path / "tampered.npz"
    write_npz(path, **entries)
    with pytest.raises(ValueError, match="tampered.npz") as info:
        load(path)
    assert message in str(info.value)


def test_not_a_zip_and_missing_file(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="junk"):
        load(tmp_path / "junk")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")


def test_map_location_checks(tmp_path):
    save({"t": Tensor(np.ones(2))}, tmp_path / "f")
    with pytest.raises(ValueError, match="unknown device"):
        load(tmp_path / "f", map_location="tpu")
    with pytest.raises(TypeError, match="map_location"):
        load(tmp_path / "f", map_location=3)


def test_gpu_checkpoint_on_a_cpu_machine_needs_map_location(tmp_path):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed: the GPU path is tested with the gpu tests")
    except ImportError:
        pass
    document = {"format": "minicnn", "version": 1,
                "root": {"type": "tensor", "key": "array_0", "device": "cuda:0",
                         "requires_grad": True}}
    write_npz(tmp_path / "gpu.npz", __minicnn__=json_entry(document), array_0=np.arange(3.0))
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        load(tmp_path / "gpu.npz")
    loaded = load(tmp_path / "gpu.npz", map_location="cpu")
    assert loaded.requires_grad and loaded.data.tolist() == [0.0, 1.0, 2.0]
    assert serialization.FORMAT_VERSION == 1
