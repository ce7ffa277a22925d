"""Fetch a dataset file into the local cache, verified by checksum.

The cache directory is ``$MINICNN_DATA`` when set, else ``~/.cache/minicnn``. A download
goes to a temporary file in the target directory, its SHA-256 (and/or MD5) is checked, and
only then is it renamed over the final name (``os.replace`` is atomic on one file system):
an interrupted or corrupted download never leaves a half file under the real name.
A file already in the cache with the right checksum is used as is, without any network.
"""

import hashlib
import os
import urllib.request

from ..atomic import atomic_write

CHUNK_BYTES = 1 << 20  # read and hash 1 MiB at a time


def data_root():
    """The cache directory: $MINICNN_DATA, or ~/.cache/minicnn."""
    configured = os.environ.get("MINICNN_DATA")
    if configured:
        return os.path.expanduser(configured)
    return os.path.join(os.path.expanduser("~"), ".cache", "minicnn")


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file's bytes ("sha256" or "md5"), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_problems(path, sha256, md5):
    """A list of 'algorithm: expected X, got Y' strings for every checksum that differs."""
    problems = []
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            problems.append(f"{algorithm}: expected {expected.lower()}, got {actual}")
    return problems


def download(url, filename, sha256=None, root=None, md5=None, timeout=60):
    """Download ``url`` to ``<root>/<filename>`` and return that path.

    url: anything urllib opens (https://, http://, file://).
    filename: a plain file name (no directories).
    sha256 / md5: expected hex digests; a mismatch removes the download and raises ValueError.
    root: the directory (default: ``data_root()``), created if needed.
    If the file already exists and matches the given checksums (or none were given), it is
    returned without touching the network.
    """
    if os.path.basename(filename) != filename or filename in ("", ".", ".."):
        raise ValueError(f"download: expected a plain file name, got {filename!r}")
    root = data_root() if root is None else os.fspath(root)
    os.makedirs(root, exist_ok=True)
    final_path = os.path.join(root, filename)

    if os.path.isfile(final_path) and not _checksum_problems(final_path, sha256, md5):
        return final_path  # cache hit: no network

    # Any failure (network, checksum, Ctrl-C) removes the partial file: the cache stays clean.
    with atomic_write(final_path, suffix=".part") as temp_file:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                temp_file.write(chunk)
        temp_file.flush()
        problems = _checksum_problems(temp_file.name, sha256, md5)
        if problems:
            raise ValueError(
                f"download: checksum mismatch for {url} ({filename}): " + "; ".join(problems)
            )
    return final_path


def download_from_mirrors(mirrors, filename, sha256=None, root=None, md5=None):
    """Try ``mirror + filename`` for each base URL in turn; return the path of the first success.

    Network errors move on to the next mirror; a checksum mismatch does too (a bad mirror).
    If every mirror fails, raise RuntimeError listing what went wrong with each.
    """
    failures = []
    for base_url in mirrors:
        url = base_url + filename
        try:
            return download(url, filename, sha256=sha256, root=root, md5=md5)
        except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
            failures.append(f"{url}: {error}")
    raise RuntimeError(f"could not download {filename}:\n  " + "\n  ".join(failures))
