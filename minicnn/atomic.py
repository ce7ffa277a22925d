"""``atomic_write``: write a file so that a crash never leaves it half-written.

Checkpoints, histories, pictures and downloads all go through it: the bytes go to a
temporary file beside the target, which is flushed, fsynced and then renamed over the
target (``os.replace`` is atomic on one file system). On any exception, Ctrl-C included,
the temporary file is removed and the target keeps its previous contents. It imports
nothing from minicnn, so every layer may use it.
"""
import contextlib
import os
import tempfile

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, suffix=".tmp"):
    """``with atomic_write(path) as f: f.write(...)``: ``path`` appears whole or not at all.

    ``f.name`` is the temporary file's path, so a caller can check what it wrote (e.g. a
    checksum) before the rename: raising inside the block discards it. The file gets the
    usual permissions (0666 less the umask), not ``mkstemp``'s 0600.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                         suffix=suffix)
    os.close(handle)
    try:
        with open(temp_path, mode, encoding=encoding) as temp_file:
            yield temp_file
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.chmod(temp_path, 0o666 & ~_current_umask())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise
    _fsync_directory(directory)


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX; not possible on every OS, then skipped)."""
    try:
        directory_handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory_handle)
    except OSError:
        pass
    finally:
        os.close(directory_handle)
