"""``mc.save(obj, path)`` / ``mc.load(path)``: checkpoints as .npz + JSON, never pickle.

What can be saved: nested dicts (any hashable plain keys: str, int, float, bool, None,
tuples of those), lists and tuples of

    numpy arrays (any dtype but object), CuPy arrays (copied to the host),
    Tensors (stored as host arrays; they come back as Tensors with requires_grad restored),
    numpy scalars (np.float32(1.5) comes back as np.float32),
    int, float (nan and +-inf included), str, bool, None.

File format -- one ordinary .npz (a zip of .npy files; ``np.load(path)`` opens it):

    array_0, array_1, ...   every array / Tensor / numpy scalar, in the order met
    __minicnn__             a uint8 array: the UTF-8 bytes of a JSON document
                            {"format": "minicnn", "version": 1, "root": <node>}

A <node> is a JSON str/int/float/bool/null for a plain value (so 1 and 1.0 keep their type),
a JSON list for a Python list, or an object with a "type":

    {"type": "tuple", "items": [<node>, ...]}
    {"type": "dict" | "ordered_dict", "items": [[<key node>, <value node>], ...]}
    {"type": "float", "value": "nan" | "inf" | "-inf"}
    {"type": "ndarray", "key": "array_3", "device": "cpu"}
    {"type": "tensor", "key": "array_4", "device": "cuda:0", "requires_grad": true}
    {"type": "numpy_scalar", "key": "array_5"}

The same array or Tensor object met twice is stored once and loaded back as one object
(tied weights stay tied). Parameters come back as plain Tensors (requires_grad=True).

Saving writes a temporary file in the target directory, fsyncs it and renames it over the
target (``os.replace``, atomic): a crash while saving leaves the previous file intact.
Loading uses ``np.load(..., allow_pickle=False)`` and refuses a truncated or tampered file
with a ValueError naming the path.
"""

import collections
import json
import math
import os
import zipfile
import zlib

import numpy as np

from kernels.backend import is_cupy_array

from .atomic import atomic_write

FORMAT_NAME = "minicnn"
FORMAT_VERSION = 1
STRUCTURE_KEY = "__minicnn__"


def _tensor_class():
    """minicnn's Tensor class, imported lazily (serialization sits beside autograd, not under it)."""
    from minicnn.autograd.tensor import Tensor

    return Tensor


def _device_of(array):
    return f"cuda:{array.device.id}" if is_cupy_array(array) else "cpu"


def _to_host(array):
    """A NumPy copy of a CuPy array; NumPy arrays pass through."""
    return array.get() if is_cupy_array(array) else np.asarray(array)


# ---------------------------------------------------------------- encoding (save)


class _Encoder:
    """Turns an object into a JSON node, collecting its arrays into ``self.arrays``."""

    def __init__(self):
        self.arrays = {}
        self.key_of_object = {}  # id(array or Tensor) -> array key: shared objects stored once
        self.tensor_class = _tensor_class()

    def _new_key(self, array):
        key = f"array_{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def _store_array(self, array, where):
        """Put a raw array (NumPy or CuPy) in the table -> its key."""
        host = _to_host(array)
        if host.dtype.hasobject:
            raise TypeError(
                f"mc.save: cannot store an array of dtype {host.dtype} at {where} "
                f"(object arrays would need pickle)"
            )
        return self._new_key(host)

    def encode(self, obj, where="obj"):
        """Node for ``obj``; ``where`` (like "obj['state'][0]") names it in error messages."""
        if isinstance(obj, self.tensor_class):
            if id(obj) not in self.key_of_object:
                self.key_of_object[id(obj)] = self._store_array(obj.data, where)
            return {"type": "tensor", "key": self.key_of_object[id(obj)],
                    "device": _device_of(obj.data), "requires_grad": bool(obj.requires_grad)}
        if isinstance(obj, np.ndarray) or is_cupy_array(obj):
            if id(obj) not in self.key_of_object:
                self.key_of_object[id(obj)] = self._store_array(obj, where)
            return {"type": "ndarray", "key": self.key_of_object[id(obj)],
                    "device": _device_of(obj)}
        if isinstance(obj, np.generic):  # before float: np.float64 is a subclass of float
            return {"type": "numpy_scalar", "key": self._store_array(np.asarray(obj), where)}
        if obj is None or isinstance(obj, (bool, int, str)):
            return obj  # JSON keeps these types exactly
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"type": "float", "value": repr(obj)}  # 'nan', 'inf', '-inf'
        if isinstance(obj, list):
            return [self.encode(item, f"{where}[{i}]") for i, item in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"type": "tuple",
                    "items": [self.encode(item, f"{where}[{i}]") for i, item in enumerate(obj)]}
        if isinstance(obj, dict):
            kind = "ordered_dict" if isinstance(obj, collections.OrderedDict) else "dict"
            items = []
            for key, value in obj.items():
                items.append([self.encode_key(key, where), self.encode(value, f"{where}[{key!r}]")])
            return {"type": kind, "items": items}
        raise TypeError(
            f"mc.save: cannot store {type(obj).__name__} at {where}: expected dict, list, "
            f"tuple, array, Tensor, numpy scalar, int, float, str, bool or None"
        )

    def encode_key(self, key, where):
        """Dict keys: plain hashable values only (no arrays, no Tensors)."""
        if isinstance(key, tuple):
            return {"type": "tuple", "items": [self.encode_key(k, where) for k in key]}
        is_plain = isinstance(key, (bool, int, float, str)) and not isinstance(key, np.generic)
        if key is None or is_plain:
            return self.encode(key, where)
        raise TypeError(
            f"mc.save: cannot store a dict key of type {type(key).__name__} in {where}: "
            f"expected str, int, float, bool, None or a tuple of those"
        )


# ---------------------------------------------------------------- decoding (load)


class _Decoder:
    """Turns a JSON node back into an object, taking arrays from the loaded table."""

    def __init__(self, arrays, map_location):
        self.arrays = arrays
        self.map_location = map_location
        self.object_of_key = {}  # key -> the loaded array / Tensor: shared stays shared

    def _array(self, node):
        key = node["key"]
        if key not in self.arrays:
            raise ValueError(f"the structure names array {key!r}, which the file does not hold")
        return self.arrays[key]

    def _place(self, array, saved_device):
        """Move a host array to map_location, or to the device it was saved from."""
        device = saved_device if self.map_location is None else self.map_location
        if device == "cpu":
            return array
        from minicnn.autograd.device import move_array

        try:
            return move_array(array, device)
        except RuntimeError as error:
            raise RuntimeError(
                f"mc.load: the file holds arrays saved on {saved_device}, which cannot be "
                f"restored here ({error}); pass map_location='cpu'"
            ) from error

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        if not isinstance(node, dict):
            raise ValueError(f"unexpected JSON value {node!r} in the structure")
        kind = node.get("type")
        if kind == "tuple":
            return tuple(self.decode(item) for item in node["items"])
        if kind in ("dict", "ordered_dict"):
            result = collections.OrderedDict() if kind == "ordered_dict" else {}
            for key_node, value_node in node["items"]:
                result[self.decode(key_node)] = self.decode(value_node)
            return result
        if kind == "float":
            if node["value"] not in ("nan", "inf", "-inf"):
                raise ValueError(f"unexpected float value {node['value']!r}")
            return float(node["value"])
        if kind == "numpy_scalar":
            return self._array(node)[()]  # a 0-d array -> its numpy scalar
        if kind in ("ndarray", "tensor"):
            if node["key"] not in self.object_of_key:
                self.object_of_key[node["key"]] = self._decode_array(node)
            return self.object_of_key[node["key"]]
        raise ValueError(f"unknown node type {kind!r} in the structure")

    def _decode_array(self, node):
        array = self._place(self._array(node), node.get("device", "cpu"))
        if node["type"] == "ndarray":
            return array
        return _tensor_class()(array, requires_grad=bool(node["requires_grad"]))


# ---------------------------------------------------------------- files


def _write_atomically(path, arrays):
    """np.savez to a temporary file beside ``path``, fsync, then rename it over ``path``."""
    with atomic_write(path) as temp_file:
        np.savez(temp_file, **arrays)


def save(obj, path):
    """Save nested dicts/lists/tuples of arrays, Tensors and plain values to ``path`` (.npz).

    The file is written under exactly the name given (no extension is added).
    """
    path = os.fspath(path)
    encoder = _Encoder()
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": encoder.encode(obj)}
    text = json.dumps(document, allow_nan=False)  # non-finite floats were tagged above
    arrays = dict(encoder.arrays)
    arrays[STRUCTURE_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    _write_atomically(path, arrays)


def load(path, map_location=None):
    """Load what ``save`` wrote. map_location: None (each array back on the device it was
    saved from), "cpu", "cuda" or "cuda:N" (everything there)."""
    path = os.fspath(path)
    if map_location is not None:
        if not isinstance(map_location, str):
            raise TypeError(
                f"mc.load: map_location must be None or a device string like 'cpu' or "
                f"'cuda:0', got {type(map_location).__name__}"
            )
        from minicnn.autograd.device import normalize_device

        map_location = normalize_device(map_location)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if STRUCTURE_KEY not in archive.files:
                raise ValueError(f"no {STRUCTURE_KEY!r} entry: not written by mc.save")
            text = archive[STRUCTURE_KEY].tobytes().decode("utf-8")
            # Read every array now: zipfile checks each member's CRC as it is read.
            arrays = {name: archive[name] for name in archive.files if name != STRUCTURE_KEY}
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise ValueError("the JSON document is not a minicnn structure")
        if document.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"expected format version {FORMAT_VERSION}, got {document.get('version')!r}"
            )
        return _Decoder(arrays, map_location).decode(document["root"])
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # the file is not there / not readable: not a format problem
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError,
            json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
        raise ValueError(
            f"mc.load: {path!r} is not a valid minicnn file (truncated or tampered?): "
            f"{type(error).__name__}: {error}"
        ) from error
