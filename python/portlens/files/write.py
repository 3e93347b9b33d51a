"""Writing the files portlens produces: never through a symlink, private by default, atomic.

- **No symlinks**: a path whose last component is a symlink is refused (``lstat`` first, then
  ``O_NOFOLLOW``), so ``-o /tmp/report.html`` cannot be turned into a write to another file. Only
  regular files are written: ``-o /dev/sda.json`` is refused, not followed.
- **Mode 0600** for every file created (results list a network's open ports); a file that already
  exists keeps its mode.
- **Atomic** for whole documents (JSON, XML, HTML, Markdown, CSV, naabu): a temporary file in the same
  directory, written, ``fsync``-ed and renamed over the target; a reader never sees half a file and a
  failure leaves the old one. JSON Lines streams cannot be atomic: `open_stream` opens them with
  ``O_NOFOLLOW|O_CREAT``, mode 0600.
- The store's SQLite file is created by `create_private` (0600, ``O_EXCL|O_NOFOLLOW``) in a directory
  created 0700.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic", "write_text", "open_stream", "check_target", "create_private", "private_dir"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _refuse(path: str, why: str, code: int = errno.EPERM) -> OSError:
    return OSError(code, f"refusing to write {why}", path)


def check_target(path: str | os.PathLike[str]) -> os.stat_result | None:
    """The ``lstat`` of an output path that may be written (None when it does not exist yet);
    `OSError` when it is a symlink or not a regular file, or when its directory is missing."""
    name = os.fspath(path)
    try:
        st = os.lstat(name)
    except FileNotFoundError:
        parent = os.path.dirname(name) or "."
        if not os.path.isdir(parent):
            raise OSError(errno.ENOENT, f"directory {parent!r} does not exist", name) from None
        return None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(name, "through a symlink", errno.ELOOP)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(name, "over something that is not a regular file")
    return st


@contextlib.contextmanager
def atomic(path: str | os.PathLike[str], encoding: str = "utf-8") -> Iterator[IO[str]]:
    """A text file to write; on a clean exit it replaces ``path`` at once (see the module)."""
    name = os.fspath(path)
    st = check_target(name)
    parent = os.path.dirname(name) or "."
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(name)}.", suffix=".tmp")  # 0600, O_EXCL
    try:
        if st is not None:
            os.fchmod(fd, stat.S_IMODE(st.st_mode))  # an existing file keeps its mode
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        check_target(name)  # not swapped for a symlink meanwhile (rename would replace the link, but say so)
        os.replace(tmp, name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_dir(parent)


def _sync_dir(parent: str) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (see `atomic`)."""
    with atomic(path) as f:
        f.write(text)


def open_stream(path: str | os.PathLike[str]) -> IO[str]:
    """A text stream appended as results come (JSON Lines): truncated, never through a symlink, a
    regular file only, created 0600."""
    name = os.fspath(path)
    check_target(name)
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(name, flags, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refuse(name, "through a symlink", errno.ELOOP) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refuse(name, "over something that is not a regular file")
        os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        raise


def private_dir(path: str | os.PathLike[str]) -> None:
    """Create the directory ``path`` (and missing parents), the last one mode 0700."""
    p = Path(path)
    if p.is_dir():
        return
    p.mkdir(parents=True, mode=0o700)
    os.chmod(p, 0o700)  # mkdir's mode is masked by the umask


def create_private(path: str | os.PathLike[str]) -> bool:
    """Make sure ``path`` is a regular file, not a symlink, creating it empty with mode 0600 if it
    does not exist; True when it was created."""
    name = os.fspath(path)
    if check_target(name) is not None:
        return False
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    except FileExistsError:
        check_target(name)  # created meanwhile by another process: still no symlink
        return False
    os.close(fd)
    return True
