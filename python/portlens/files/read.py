"""Reading the files a user names: one way in, bounded, and quiet about what the file holds.

Every file portlens reads on a user's word (``@targets``, ``--scope``, policies, baselines,
vulnerability feeds, nmap XML, scan JSON) comes through `read_bytes`:

- **regular files only**: the file is opened with ``O_NONBLOCK`` and checked with ``fstat`` before
  a byte is read, so a FIFO, a device (``/dev/zero``), a directory or a socket is refused at once
  instead of hanging or growing without end;
- **a size cap enforced while reading** (devices and ``/proc`` files report size 0): `LIMITS`, raised
  for every kind at once with ``PORTLENS_MAX_INPUT_MB``;
- **decompression capped** (``.gz``, ``.zip``): the inflated size, and its ratio to the compressed
  size once past `INFLATE_RATIO_FROM` bytes (``PORTLENS_MAX_INFLATE_RATIO``) — a gzip bomb is an
  `InputError`, not a MemoryError;
- **errors say where and what, never the content**: an undecodable byte is reported by line and
  column, invalid JSON by line, column and the parser's message, nesting too deep as such. No
  message quotes a line of the file (``@/etc/shadow`` must not echo a password hash).
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from ..exceptions import InputError

__all__ = [
    "LIMITS",
    "ReadError",
    "limit",
    "read_bytes",
    "read_text",
    "read_json",
    "read_zip_members",
    "decode",
    "position",
]

MiB = 1 << 20
# default caps, in bytes, by kind of file; PORTLENS_MAX_INPUT_MB replaces all of them
LIMITS: dict[str, int] = {
    "targets file": 64 * MiB,  # as the engine's own @file cap
    "scope file": 64 * MiB,
    "policy file": 16 * MiB,
    "baseline file": 16 * MiB,
    "scan file": 1024 * MiB,
    "nmap XML file": 1024 * MiB,
    "vulnerability data": 1024 * MiB,  # also the inflated size of a .gz or .zip feed
}
DEFAULT_LIMIT = 64 * MiB  # a kind not listed above
INFLATE_RATIO = 100  # NVD and KEV JSON compress 10-25 times; a bomb of zeros about 1000 times
INFLATE_RATIO_FROM = 64 * MiB  # small files may have any ratio
_CHUNK = 1 * MiB
_FILE_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class ReadError(InputError):
    """A file could not be read, or is not what it should be. ``path``, ``line`` and ``col`` say
    where (when known), ``problem`` what; ``str()`` gives ``cannot read KIND PATH[:LINE[:COL]]: PROBLEM``."""

    def __init__(
        self, problem: str, path: str, kind: str = "file", line: int | None = None, col: int | None = None
    ) -> None:
        where = path if line is None else f"{path}:{line}" if col is None else f"{path}:{line}:{col}"
        super().__init__(f"cannot read {kind} {where}: {problem}", input=None, item=path, offset=None)
        self.problem, self.path, self.kind, self.line, self.col = problem, path, kind, line, col

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problem, self.path, self.kind, self.line, self.col))

    @property
    def located(self) -> str:
        """The problem, said "cannot read the KIND: ..." when it has no line (for errors that add
        the file and line themselves)."""
        return self.problem if self.line is not None else f"cannot read the {self.kind}: {self.problem}"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise InputError(f"${name} must be a whole number, not {value[:40]!r}", item=name) from None
    if n <= 0:
        raise InputError(f"${name} must be positive", item=name)
    return n


def limit(kind: str) -> int:
    """The size cap of ``kind``, in bytes (``PORTLENS_MAX_INPUT_MB`` overrides every kind)."""
    mb = _env_int("PORTLENS_MAX_INPUT_MB")
    return mb * MiB if mb is not None else LIMITS.get(kind, DEFAULT_LIMIT)


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n} bytes"


def _open_regular(name: str, kind: str) -> int:
    """A read-only descriptor of ``name``, which must be a regular file (checked before reading)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket, or a FIFO end nobody holds
            raise ReadError("not a regular file (a socket or special file)", name, kind) from None
        raise ReadError(str(e.strerror or e), name, kind) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = next((w for test, w in _FILE_TYPES if test(st.st_mode)), "a special file")
            raise ReadError(f"not a regular file ({what})", name, kind)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _Capped(io.RawIOBase):
    """A raw reader of a descriptor that refuses to go past ``cap`` bytes."""

    def __init__(self, fd: int, cap: int, name: str, kind: str) -> None:
        self.fd, self.cap, self.name, self.kind, self.count = fd, cap, name, kind, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return os.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def readinto(self, b: Any) -> int:
        data = os.read(self.fd, len(b))
        self.count += len(data)
        if self.count > self.cap:
            raise _too_big(self.name, self.kind, self.cap)
        b[: len(data)] = data
        return len(data)


def _too_big(name: str, kind: str, cap: int, what: str = "larger than") -> ReadError:
    return ReadError(f"{what} {_size(cap)} (the cap for a {kind}; set PORTLENS_MAX_INPUT_MB to raise it)", name, kind)


def _read_all(stream: Callable[[int], bytes], cap: int, name: str, kind: str, what: str = "larger than") -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = stream(min(_CHUNK, cap + 1 - total))
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        if total > cap:
            raise _too_big(name, kind, cap, what)
        parts.append(chunk)


class _Budget:
    """Inflated bytes so far, against the cap of ``kind`` and the inflation ratio over ``packed``
    compressed bytes. One per decompressed file; a zip's members share one, so that a bomb spread
    over many small members is refused as surely as one in a single member."""

    def __init__(self, packed: int, name: str, kind: str) -> None:
        self.cap = limit(kind)
        self.ratio = _env_int("PORTLENS_MAX_INFLATE_RATIO") or INFLATE_RATIO
        self.packed, self.name, self.kind = max(packed, 1), name, kind
        self.total = 0

    def take(self, n: int) -> None:
        self.total += n
        if self.total > self.cap:
            raise _too_big(self.name, self.kind, self.cap, "decompresses to more than")
        if self.total > INFLATE_RATIO_FROM and self.total > self.ratio * self.packed:
            raise ReadError(
                f"decompresses more than {self.ratio} times its size (a decompression bomb?); "
                "set PORTLENS_MAX_INFLATE_RATIO to allow it",
                self.name,
                self.kind,
            )


def _inflate(stream: Callable[[int], bytes], budget: _Budget) -> bytes:
    """Read a decompressing stream within its budget."""
    parts: list[bytes] = []
    while chunk := stream(_CHUNK):
        budget.take(len(chunk))
        parts.append(chunk)
    return b"".join(parts)


def read_bytes(path: str | os.PathLike[str], kind: str = "file", *, decompress: bool = False) -> bytes:
    """The bytes of a regular file, within the cap of ``kind``. With ``decompress``, a ``.gz`` file
    is inflated and a ``.zip`` archive gives its first ``.json`` member, both capped too."""
    name = os.fspath(path)
    cap = limit(kind)
    fd = _open_regular(name, kind)
    raw = _Capped(fd, cap, name, kind)
    try:
        if decompress and name.endswith(".gz"):
            size = os.fstat(fd).st_size
            try:
                with gzip.GzipFile(fileobj=io.BufferedReader(raw), mode="rb") as g:
                    return _inflate(g.read, _Budget(size, name, kind))
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                raise ReadError(f"not a readable gzip file ({type(e).__name__})", name, kind) from None
        if decompress and name.endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BufferedReader(raw)) as z:
                    members = [i for i in z.infolist() if i.filename.endswith(".json")]
                    if not members:
                        raise ReadError("the zip archive holds no .json file", name, kind)
                    with z.open(members[0]) as m:
                        return _inflate(m.read, _Budget(members[0].compress_size, name, kind))
            except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
                raise ReadError(f"not a readable zip archive ({type(e).__name__})", name, kind) from None
        try:
            return _read_all(raw.read, cap, name, kind)
        except OSError as e:
            raise ReadError(str(e.strerror or e), name, kind) from None
    finally:
        os.close(fd)


#: members of one zip archive read at most (osv.dev's largest per-ecosystem zip holds ~10^5)
MAX_ZIP_MEMBERS = 2_000_000


def read_zip_members(
    path: str | os.PathLike[str], kind: str = "file", suffix: str = ".json"
) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every member of a zip archive whose name ends with ``suffix`` (osv.dev's
    per-ecosystem ``all.zip`` is one JSON file per advisory). The same guards as `read_bytes`: a
    regular file within the cap of ``kind``, and the members' inflated size *together* within
    that cap and the inflation ratio, so a bomb spread over many members is refused as well."""
    name = os.fspath(path)
    fd = _open_regular(name, kind)
    try:
        budget = _Budget(os.fstat(fd).st_size, name, kind)
        raw = _Capped(fd, budget.cap, name, kind)
        try:
            with zipfile.ZipFile(io.BufferedReader(raw)) as z:
                infos = [i for i in z.infolist() if i.filename.endswith(suffix) and not i.is_dir()]
                if not infos:
                    raise ReadError(f"the zip archive holds no {suffix} file", name, kind)
                if len(infos) > MAX_ZIP_MEMBERS:
                    raise ReadError(f"the zip archive holds more than {MAX_ZIP_MEMBERS} members", name, kind)
                for info in infos:
                    with z.open(info) as m:
                        data = _inflate(m.read, budget)
                    yield info.filename, data
        except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
            raise ReadError(f"not a readable zip archive ({type(e).__name__})", name, kind) from None
    finally:
        os.close(fd)


def position(data: bytes | str, offset: int) -> tuple[int, int]:
    """(line, column), both from 1, of ``offset`` in ``data``."""
    nl = b"\n" if isinstance(data, bytes) else "\n"
    line = data.count(nl, 0, offset) + 1  # type: ignore[arg-type]
    start = data.rfind(nl, 0, offset) + 1  # type: ignore[arg-type]
    return line, offset - start + 1


def decode(data: bytes, name: str, kind: str = "file") -> str:
    """UTF-8 text (a leading BOM is dropped); an invalid byte is reported by line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = position(data, e.start)
        raise ReadError(f"not UTF-8 text (invalid byte 0x{data[e.start]:02x})", name, kind, line, col) from None


def read_text(path: str | os.PathLike[str], kind: str = "file", *, decompress: bool = False) -> str:
    """`read_bytes`, decoded as UTF-8."""
    name = os.fspath(path)
    return decode(read_bytes(name, kind, decompress=decompress), name, kind)


def loads_json(text: str, name: str, kind: str = "file") -> Any:
    """Parse JSON text; syntax errors, nesting too deep and oversized numbers become `ReadError`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ReadError(f"invalid JSON: {e.msg}", name, kind, e.lineno, e.colno) from None
    except RecursionError:
        raise ReadError("invalid JSON: nested too deeply", name, kind) from None
    except ValueError as e:  # an integer of more digits than Python converts
        raise ReadError(f"invalid JSON: {str(e).split(':', 1)[0][:80]}", name, kind) from None


def read_json(path: str | os.PathLike[str], kind: str = "file", *, decompress: bool = False) -> Any:
    """`read_text`, parsed as JSON."""
    name = os.fspath(path)
    return loads_json(read_text(name, kind, decompress=decompress), name, kind)
