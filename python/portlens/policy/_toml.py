"""Reading TOML files with errors that name the file, the line and the problem.

The standard parser (``tomllib``, or ``tomli`` before Python 3.11) reports syntax errors with a
line and column; it keeps no positions for valid documents. `Locator` recovers the line of each
table and key from the text, so that a semantic error ("severity 'hgh' is not one of ...")
points at the right line too.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..files.read import ReadError, read_text
from .model import PolicyError

__all__ = ["Locator", "Doc", "load_toml", "loads_toml"]

_toml: Any = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*(\]\]?)\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")

Path = tuple[str | int, ...]


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


class Locator:
    """Maps a path in the parsed document (``("rule", 3, "severity")``) to its line (1-based)."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Path, int] = {}
        arrays: dict[Path, int] = {}  # array-of-tables path (without index) -> last index
        current: Path = ()
        in_multiline: str | None = None
        depth = 0  # open brackets of a multi-line value
        for n, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            if depth > 0:
                depth += _bracket_delta(line)
                continue
            m = _HEADER.match(line)
            if m and m.group(1) == m.group(3)[::-1].replace("]", "["):
                names = _split_key(m.group(2))
                path: Path = ()
                for i, name in enumerate(names):
                    path = (*path, name)
                    last = i == len(names) - 1
                    if last and m.group(1) == "[[":
                        arrays[path] = arrays.get(path, -1) + 1
                        path = (*path, arrays[path])
                    elif path in arrays:
                        path = (*path, arrays[path])
                self.lines.setdefault(path, n)
                current = path
                continue
            k = _KEY.match(line)
            if k:
                path = (*current, *_split_key(k.group(1)))
                self.lines.setdefault(path, n)
                rest = line[k.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_multiline = quote
                        break
                else:
                    depth = max(_bracket_delta(rest), 0)

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its closest located ancestor."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None


def _bracket_delta(line: str) -> int:
    # ignore brackets in strings and comments
    s = re.sub(r'"(?:\\.|[^"\\])*"|\'[^\']*\'', "", line)
    s = s.split("#", 1)[0]
    return s.count("[") + s.count("{") - s.count("]") - s.count("}")


class Doc:
    """A parsed TOML document with its file name and locator, to raise located errors."""

    def __init__(self, data: dict[str, Any], path: str, locator: Locator) -> None:
        self.data = data
        self.path = path
        self.locator = locator

    def error(self, where: Sequence[str | int], problem: str) -> PolicyError:
        return PolicyError(problem, self.path, self.locator.line(where))

    def origin(self, where: Sequence[str | int]) -> str:
        line = self.locator.line(where)
        return self.path if line is None else f"{self.path}:{line}"


def loads_toml(text: str, path: str = "<string>") -> Doc:
    try:
        data = _toml.loads(text)
    except RecursionError:
        raise PolicyError("invalid TOML: arrays or tables nested too deeply", path) from None
    except _toml.TOMLDecodeError as e:
        msg = str(e)
        line, col = getattr(e, "lineno", None), getattr(e, "colno", None)
        m = _AT.search(msg)
        if m:
            msg = msg[: m.start()]
            line, col = int(m.group(1)), int(m.group(2))
        raise PolicyError(f"invalid TOML: {msg}", path, line, col) from None
    return Doc(data, path, Locator(text))


def load_toml(path: str | os.PathLike[str], kind: str = "policy file") -> Doc:
    """Read a TOML file through `portlens.files` (regular files only, capped, UTF-8)."""
    name = os.fspath(path)
    try:
        text = read_text(name, kind)
    except ReadError as e:
        raise PolicyError(e.located, name, e.line, e.col) from None
    return loads_toml(text, name)


def check_keys(doc: Doc, where: Path, table: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    for key in table:
        if key not in allowed:
            raise doc.error(
                (*where, key), f"unknown key {key!r} in {what}; expected one of: {', '.join(sorted(allowed))}"
            )
