"""What the commands share: output formats and checks, exit statuses, signals, the outputs' failures,
the JSON Lines streams, reading a results document."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import portlens

from .. import _options
from ..files.write import check_target, open_stream
from ..report.jsonfmt import write_jsonl

# by file name ending, longest first: ".naabu.jsonl" is naabu's JSON Lines, ".jsonl" portlens's own
OUTPUT_FORMATS = {
    ".naabu.jsonl": "naabu",
    ".json": "json",
    ".jsonl": "jsonl",
    ".xml": "nmap-xml",
    # reports (portlens.report): the assessment with the scan's details; `portlens report` writes them too
    ".html": "html",
    ".md": "markdown",
    ".csv": "csv",  # one row per port
    ".findings.csv": "findings-csv",  # one row per finding
    ".assessment.json": "assessment-json",  # portlens.assessment/1
}
REPORT_FORMATS = {"html", "markdown", "findings-csv", "assessment-json"}  # these need an assessment
EXIT_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130
# SIGTERM (systemd, `timeout`, a container stop) and SIGHUP (the terminal went away) end a scan as
# Ctrl-C does, partial results written; the exit status says which signal: 128 + its number
EXIT_SIGNALS: dict[int, int] = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: 143, signal.SIGHUP: 129}


EXIT_FINDINGS = 3  # --fail-on: a finding at or above the threshold


def option_type(name: str) -> Any:
    """An argparse type for a scan option: the same conversion, checks and message as the API's."""

    def convert(text: str) -> Any:
        try:
            return _options.parse(name, text)
        except portlens.OptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = name  # argparse names the type in some messages
    convert.option = name  # type: ignore[attr-defined]  # profiles are checked against their flag (cli/history.py)
    return convert


def shown(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)


def scope_arg(arg: str | None) -> list[str] | None:
    if arg is None:
        return None
    if os.path.lexists(arg):
        return ["@" + arg]  # read by portlens.files: a regular file, capped; errors never quote a line
    return [x.strip() for x in arg.split(",") if x.strip()]


def check_outputs(paths: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        name = Path(path).name.lower()
        fmt = next(
            (f for ext, f in sorted(OUTPUT_FORMATS.items(), key=lambda x: -len(x[0])) if name.endswith(ext)), None
        )
        if fmt is None:
            known = ", ".join(OUTPUT_FORMATS)
            raise portlens.OptionError(f"output {path!r}: unknown format (known extensions: {known})", item=path)
        parent = Path(path).parent
        if not parent.is_dir():
            raise portlens.OptionError(f"output {path!r}: directory {str(parent)!r} does not exist", item=path)
        try:
            check_target(path)  # not a symlink, not a device: refused before any packet is sent
        except OSError as e:
            raise portlens.OptionError(f"output {path!r}: {e.strerror}", item=path) from None
        out.append((path, fmt))
    return out


class Signals:
    """SIGINT, SIGTERM and SIGHUP while a command runs: the first raises `Interrupted` (a
    KeyboardInterrupt, so a scan stops as on Ctrl-C); once `hold` is called, or after the first,
    later signals are only counted, so that the final writes are not cut short."""

    def __init__(self, program: bool = False) -> None:
        self.signum: int | None = None
        self.holding = False
        self.program = program  # the process is the command (not a caller of main())
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        for signum in EXIT_SIGNALS:
            with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them alone
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.signum is not None and self.program:
            # the process exits now: a late signal must not turn the exit status into a kill
            for signum in self._previous:
                signal.signal(signum, signal.SIG_IGN)
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if first and not self.holding:
            self.holding = True
            raise Interrupted(signum)

    def hold(self) -> None:
        self.holding = True

    @property
    def exit_code(self) -> int:
        return EXIT_SIGNALS.get(self.signum or int(signal.SIGINT), EXIT_INTERRUPTED)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Outputs:
    """Failures of outputs, collected: one output that cannot be written does not stop the others."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def writing(self, path: str) -> Iterator[None]:
        try:
            yield
        except (OSError, portlens.PortlensError) as e:
            reason = f"{e.strerror}" if isinstance(e, OSError) and e.strerror else str(e)
            self.failed.append((path, reason))
            print(f"portlens: cannot write {path}: {reason}", file=sys.stderr)

    def written(self, outputs: Sequence[tuple[str, str]]) -> list[str]:
        bad = {p for p, _ in self.failed}
        return [p for p, _ in outputs if p not in bad]


class Streams:
    """The JSON Lines outputs, written as results come (`portlens.files.write.open_stream`); one
    that fails is closed and reported, the others go on."""

    def __init__(self, outputs: list[tuple[str, str]], status: Outputs) -> None:
        self.status = status
        self.files: dict[str, IO[str]] = {}
        try:
            for path, fmt in outputs:
                if fmt == "jsonl":
                    try:
                        self.files[path] = open_stream(path)
                    except OSError as e:
                        raise portlens.OptionError(f"output {path!r}: {e.strerror or e}", item=path) from None
        except BaseException:
            self.close()
            raise

    def write(self, ports: Sequence[portlens.PortResult]) -> None:
        for path, f in list(self.files.items()):
            with self.status.writing(path):
                try:
                    write_jsonl(ports, f)
                    f.flush()
                except BaseException:
                    del self.files[path]
                    with contextlib.suppress(OSError):
                        f.close()
                    raise

    def close(self) -> None:
        for path, f in self.files.items():
            with self.status.writing(path):
                f.close()
        self.files = {}


def load_document(path: str) -> portlens.ScanResult | portlens.Assessment:
    try:
        return portlens.load(path)
    except portlens.InputError:
        raise
    except portlens.PortlensError as e:
        raise portlens.InputError(str(e), item=path) from None
