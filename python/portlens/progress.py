"""Scan progress: the `Progress` snapshot a running scan reports, and the one set of progress bars
(a plain text bar, a ``rich`` bar for the CLI on a terminal, a ``tqdm.auto`` bar for notebooks).

A bar is a callable that receives `Progress` and has ``close()``. The runner (`portlens._scan`)
only calls a callable; which bar ``progress=True`` means is wired by the public API.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from ._lazy import optional
from .exceptions import OptionError

__all__ = [
    "Progress",
    "ProgressCallback",
    "ProgressArg",
    "TextBar",
    "RichBar",
    "TqdmBar",
    "terminal_bar",
    "progress_callback",
    "close_bar",
]


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a running scan: probes done of total, open ports found, probes per second."""

    done: int
    total: int
    open: int
    rate: float
    elapsed: float
    retries: int
    concurrency: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], object]
# progress=: a callable, or True / "auto" for a tqdm.auto bar (a widget in Jupyter), or None
ProgressArg = ProgressCallback | bool | str | None


class TextBar:
    """A one-line progress bar on a terminal stream; silent when the stream is not a terminal."""

    def __init__(self, stream: IO[str] | None = None, force: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or self.stream.isatty()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * p.fraction)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r[{bar}] {p.fraction * 100:5.1f}%  {p.done}/{p.total} probes  {p.open} open  {p.rate:,.0f}/s "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.enabled = False
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


class RichBar:
    """A `rich` progress bar on a terminal (the CLI's, on stderr), removed when the scan ends."""

    def __init__(self, stream: IO[str], force_terminal: bool | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("[bold]scanning"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,}/{task.total:,} probes"),
            TextColumn("[bold]{task.fields[open]}[/] open"),
            TextColumn("{task.fields[rate]}/s"),
            TimeElapsedColumn(),
            console=Console(file=stream, force_terminal=force_terminal),
            transient=True,
        )
        self._task: Any = None

    def __call__(self, p: Progress) -> None:
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("scan", total=p.total, open=0, rate="0")
        self._progress.update(self._task, completed=p.done, total=p.total, open=p.open, rate=f"{p.rate:,.0f}")

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None


class TqdmBar:
    """A ``tqdm.auto`` bar: a widget in Jupyter, text on a terminal. Created at the first update."""

    def __init__(self, desc: str = "scan", **tqdm_options: Any) -> None:
        self._tqdm = optional("tqdm.auto", "notebook").tqdm
        self._options = {"desc": desc, "unit": " probes", "unit_scale": True, "dynamic_ncols": True, **tqdm_options}
        self._bar: Any = None
        self.closed = False

    @property
    def bar(self) -> Any:
        """The tqdm object (None before the first update)."""
        return self._bar

    def __call__(self, p: Progress) -> None:
        if self.closed:
            return
        if self._bar is None:
            self._bar = self._tqdm(total=p.total, **self._options)
        if self._bar.total != p.total:
            self._bar.total = p.total
        self._bar.n = p.done
        self._bar.set_postfix_str(f"{p.open} open, {p.rate:,.0f}/s", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._bar is not None:
                self._bar.close()


def terminal_bar(stream: IO[str], quiet: bool = False) -> RichBar | TextBar | None:
    """The CLI's bar: rich's on a terminal when rich is installed, else the plain one; nothing when quiet."""
    if quiet:
        return None
    if stream.isatty():
        try:
            return RichBar(stream)
        except ImportError:
            pass
    return TextBar(stream)


def progress_callback(progress: ProgressArg, tqdm_bar: Callable[[], Any] = TqdmBar) -> ProgressCallback | None:
    """What ``progress=`` of `portlens.scan` means: a callable as is; ``True`` or ``"auto"`` a
    ``tqdm_bar()`` (a `TextBar` on stderr when tqdm is not installed); ``None``/``False`` nothing."""
    if progress is None or progress is False:
        return None
    if progress is True or progress == "auto":
        try:
            return tqdm_bar()  # type: ignore[no-any-return]
        except ImportError:
            return TextBar()
    if callable(progress):
        return progress
    raise OptionError(f"progress must be a callable, True, 'auto' or None, got {progress!r}", item=str(progress))


def close_bar(callback: object, progress: ProgressArg) -> None:
    """Close a bar made for ``progress=True``/``"auto"`` (a caller's own callable is left alone)."""
    if callback is not progress and hasattr(callback, "close"):
        callback.close()
