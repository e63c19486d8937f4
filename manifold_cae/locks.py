"""One writer per directory: an advisory lock file holding the writer's PID.

``with directory_lock(run_dir):`` creates ``run_dir`` if needed and takes an
exclusive ``flock`` on ``run_dir/.manifold_cae.lock``. A second writer, in this
process or another, fails at once with :class:`LockError` naming the holder's PID;
it never waits. The kernel drops the lock when its holder dies, even by
``kill -9``, so a stale lock file from a crashed run is simply taken over: no
PID guessing is needed. Taking the lock is also the writability check: a
directory that cannot be created or written fails here, before any work.

The lock is advisory (only our own writers take it) and needs ``fcntl`` (POSIX);
where ``fcntl`` is missing the lock file is still written but nothing is locked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from manifold_cae._io import file_mode
from manifold_cae.errors import ManifoldCAEError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".manifold_cae.lock"


class LockError(ManifoldCAEError, RuntimeError):
    """A directory is being written by another process, or cannot be written at all."""


def _open_lock(directory: Path) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, file_mode())
    except OSError as e:
        raise LockError(
            f"cannot write to {directory}: {e.strerror or e} ({e.filename}); "
            "choose a directory you can write to"
        ) from None


def _holder(path: Path) -> str:
    with suppress(OSError, UnicodeDecodeError):
        pid = path.read_text().strip()
        if pid.isdigit():
            return f"PID {pid}"
    return "PID unknown"


def _acquire(directory: Path) -> int:
    """An open descriptor of the lock file, exclusively locked by us."""
    path = directory / LOCK_FILE
    while True:
        fd = _open_lock(directory)
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockError(
                f"{directory} is in use by another writer ({_holder(path)}, lock file {path}); "
                "wait for it to finish, or write to another directory"
            ) from None
        except OSError as e:  # e.g. a file system without locks
            os.close(fd)
            raise LockError(f"cannot lock {path}: {e}; write to a local directory") from None
        # A releasing holder unlinks the file before unlocking it: if we locked that
        # unlinked file, the lock guards nothing, so open the new one and try again.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def directory_lock(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the write lock on ``directory`` for the ``with`` block.

    ``directory`` is created if missing, and removed again on exit if it is still empty.

    Raises:
        LockError: another writer holds it (the message names its PID), or
            ``directory`` cannot be created or written.
    """
    directory = Path(directory)
    created = not directory.exists()
    fd = _acquire(directory)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield directory
    finally:
        # Unlink while still holding the lock, so no one can lock the old file after us.
        with suppress(OSError):
            os.unlink(directory / LOCK_FILE)
        os.close(fd)
        if created:  # leave no empty directory behind a writer that wrote nothing
            with suppress(OSError):
                directory.rmdir()
