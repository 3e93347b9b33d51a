"""``@file`` target lists, read here rather than by the engine.

`expand` replaces each ``@path`` item of the target and exclude lists by the lines of the file,
read through `read_text` (regular files only, 64 MiB, UTF-8). The engine then parses plain text,
one input string per line, and never opens a file itself. ``!@path`` lines join the exclusions.

`Origins` remembers which input string came from which line, so that a parse error about a file's
item is reported by file, line, column and kind of problem: it never quotes the line, which could be
a secret if the wrong file was named (``@/etc/shadow``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..exceptions import InputError, ResolveError, TargetError
from .read import ReadError, read_text

__all__ = ["Origins", "expand"]

KIND = "targets file"
SCOPE = "scope file"
_SEP = re.compile(r"[,\s]+")
_ADDRESS = re.compile(r"\d[\d.:]*[.:]|[.:][\d.:]*\d")  # a word with a digit and a '.' or ':'
_LETTER = re.compile(r"[A-Za-z]")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']{2,}'")  # quoted text; a single quoted character stays ('r')


@dataclass
class Origins:
    """Input strings that are lines of ``@files``: text -> (file, line number)."""

    lines: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # text -> (path, line, kind)
    # hostnames (items with a letter) -> (path, line, column, kind): a name that does not resolve is
    # reported by where it is, not by what it is (it is the file's content)
    names: dict[str, tuple[str, int, int, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def rewrite(self, e: InputError) -> InputError:
        """``e`` about a file's line, located and with the line's text left out."""
        if type(e) is ResolveError and e.item is not None:
            named = self.names.get(e.item.lower())
            if named is None:
                return e
            path, line, col, kind = named
            why = str(e).split(": ", 1)[1] if ": " in str(e) else "no address"
            why = why.replace(e.item, "…")
            return ResolveError(
                f"{kind} {path}:{line}:{col}: cannot resolve the hostname there: {why}",
                input=f"{path}:{line}",
                item=None,
                offset=col - 1,
            )
        where = self.lines.get(e.input or "") if e.input is not None else None
        if where is None or type(e) is not TargetError:
            return e
        path, line, kind = where
        col = (e.offset or 0) + 1
        text = str(e)
        prefixes = (
            f'invalid target "{e.item}" (at character {e.offset} of "{e.input}"): ',
            f'invalid target "{e.item}": ',
        )
        reason = next((text[len(p) :] for p in prefixes if text.startswith(p)), "not a valid target")
        reason = _QUOTED.sub("…", reason)
        for word in set(re.findall(r"\S{2,}", reason)):
            core = word.strip(".,;:()")
            # the item itself, or an address derived from it ("the C library would read ... as A")
            if (e.item and core in e.item) or _ADDRESS.search(core):
                reason = reason.replace(word, "…")
        return TargetError(
            f"{kind} {path}:{line}:{col}: invalid {'scope item' if kind == SCOPE else 'target'}: {reason}",
            input=f"{path}:{line}",
            item=None,
            offset=col - 1,
        )

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Rewrite the engine's errors about file lines (see `rewrite`)."""
        try:
            yield
        except InputError as e:
            new = self.rewrite(e)
            if new is e:
                raise
            raise new from None


def _items(text: str) -> list[str]:
    return [t for t in _SEP.split(text) if t]


def expand(
    include: list[str], exclude: list[str], scope: list[str] | None = None
) -> tuple[list[str], list[str], list[str] | None, Origins]:
    """The target, exclude and scope lists with every ``@file`` replaced by its lines (see the module)."""
    origins = Origins()
    inc: list[str] = []
    exc: list[str] = []
    for items, out, negated in ((include, inc, False), (exclude, exc, True)):
        for text in items:
            if "@" not in text:
                out.append(text)
                continue
            rest = []
            for tok in _items(text):
                bang = tok.startswith("!") and not negated
                body = tok[1:] if bang else tok
                if not body.startswith("@") or len(body) == 1:
                    rest.append(tok)  # a bare "@": the engine says "missing file name after '@'"
                    continue
                _read(body[1:], inc if not (bang or negated) else exc, origins, KIND, excluded=bang or negated)
            if rest:
                out.append(" ".join(rest))
    if scope is None:
        return inc, exc, None, origins
    sco: list[str] = []
    for text in scope:
        if text.strip().startswith("@") and len(text.strip()) > 1:
            _read(text.strip()[1:], sco, origins, SCOPE, excluded=False)
        else:
            sco.append(text)
    return inc, exc, sco, origins


def _read(path: str, out: list[str], origins: Origins, kind: str, excluded: bool) -> None:
    try:
        text = read_text(path, kind)
    except ReadError as e:
        raise TargetError(str(e), input=path, item=path) from None
    for n, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0].rstrip()
        if not code.strip():
            continue
        for m in re.finditer(r"[^,\s]+", code):
            tok = m.group()
            col = m.start() + 1
            if tok.lstrip("!").startswith("@"):
                raise TargetError(
                    f"{kind} {path}:{n}:{col}: nested @file: a list file cannot include another file",
                    input=f"{path}:{n}",
                    offset=col - 1,
                )
            name = tok.lstrip("!")
            if _LETTER.search(name):
                origins.names.setdefault(name.lower(), (path, n, col + len(tok) - len(name), kind))
            if excluded and tok.startswith("!"):
                raise TargetError(
                    f"{kind} {path}:{n}:{col}: '!' inside a file whose items are already exclusions",
                    input=f"{path}:{n}",
                    offset=col - 1,
                )
        origins.lines.setdefault(code, (path, n, kind))
        out.append(code)
