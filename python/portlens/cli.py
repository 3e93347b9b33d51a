"""The ``portlens`` command line, built on the public API only."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import portlens

from .report.jsonfmt import write_jsonl, write_text

OUTPUT_FORMATS = {".json": "json", ".jsonl": "jsonl"}
EXIT_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="portlens", description="Find what listens on your networks.")
    p.add_argument("--version", action="version", version=f"portlens {portlens.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scan", help="scan TCP ports", description="Scan TCP ports of TARGETS.")
    s.add_argument("targets", nargs="+", help="addresses, CIDRs, ranges (198.18.1.10-50), hostnames, @file")
    s.add_argument("-p", "--ports", default="top-1000", help="22,80,8000-8100 | all | top-100 | top-1000")
    s.add_argument("--exclude", action="append", default=[], help="targets to skip (repeatable)")
    s.add_argument("--exclude-ports", default="", help="ports to skip")
    s.add_argument("--scope", help="authorised networks: a file (one per line) or a comma list")
    s.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="FILE",
        help="write results; the format follows the extension: .json, .jsonl (repeatable)",
    )
    s.add_argument("--rate", type=float, help="probes per second (default: as fast as limits allow)")
    s.add_argument("--concurrency", type=int, default=8192, help="probes in flight at most")
    s.add_argument("--max-per-host", type=int, help="probes in flight against one host")
    s.add_argument("--max-retries", type=int, default=4, help="retries of silent probes once loss is seen")
    s.add_argument("--min-retries", type=int, default=1, help="retries of silent probes")
    s.add_argument("--initial-rtt-timeout", type=float, default=1.0, help="seconds, before any RTT is known")
    s.add_argument("--min-rtt-timeout", type=float, default=0.1, help="seconds")
    s.add_argument("--max-rtt-timeout", type=float, default=3.0, help="seconds")
    s.add_argument("--keep", default="open", help="states listed one by one: open,closed,filtered")
    s.add_argument("--seed", type=int, help="seed of the probe order (reproducible runs)")
    s.add_argument("--no-randomize", action="store_true", help="probe in natural order")
    s.add_argument("--allow-large", action="store_true", help="allow targets beyond 2^24 addresses")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no table")
    return p


def _scope(arg: str | None) -> list[str] | None:
    if arg is None:
        return None
    path = Path(arg)
    if path.is_file():
        return [
            line.split("#", 1)[0].strip() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()
        ]
    return [x.strip() for x in arg.split(",") if x.strip()]


def _check_outputs(paths: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
        if fmt is None:
            known = ", ".join(OUTPUT_FORMATS)
            raise portlens.OptionError(f"output {path!r}: unknown format (known extensions: {known})", item=path)
        parent = Path(path).parent
        if not parent.is_dir():
            raise portlens.OptionError(f"output {path!r}: directory {str(parent)!r} does not exist", item=path)
        out.append((path, fmt))
    return out


class _Bar:
    """A one-line progress bar on a terminal; silent elsewhere."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, p: portlens.Progress) -> None:
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
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


@contextlib.contextmanager
def _jsonl_writers(outputs: list[tuple[str, str]]) -> Iterator[list[IO[str]]]:
    files: list[IO[str]] = [open(path, "w", encoding="utf-8") for path, fmt in outputs if fmt == "jsonl"]
    try:
        yield files
    finally:
        for f in files:
            f.close()


def _scan(args: argparse.Namespace) -> int:
    outputs = _check_outputs(args.output)
    options: dict[str, Any] = {
        "exclude": args.exclude,
        "exclude_ports": args.exclude_ports,
        "scope": _scope(args.scope),
        "rate": args.rate,
        "concurrency": args.concurrency,
        "max_per_host": args.max_per_host,
        "max_retries": args.max_retries,
        "min_retries": args.min_retries,
        "initial_rtt_timeout": args.initial_rtt_timeout,
        "min_rtt_timeout": args.min_rtt_timeout,
        "max_rtt_timeout": args.max_rtt_timeout,
        "keep": [k.strip() for k in args.keep.split(",") if k.strip()],
        "seed": args.seed,
        "randomize": not args.no_randomize,
        "allow_large": args.allow_large,
    }
    bar = _Bar(sys.stderr) if not args.quiet else None
    interrupted = False
    with _jsonl_writers(outputs) as streams:
        s = portlens.start(args.targets, args.ports, progress=bar, **options)
        written = 0
        try:
            for port in s:
                for f in streams:
                    write_jsonl([port], f)
                    f.flush()
                written += 1
        except KeyboardInterrupt:
            interrupted = True
            s.cancel()
        result = s.result()
        # results read while finishing after Ctrl-C
        for f in streams:
            write_jsonl(s.found[written:], f)
    if bar is not None:
        bar.close()
    for path, fmt in outputs:
        if fmt == "json":
            write_text(path, result.to_json())
    if not args.quiet:
        print(result.summary())
        for path, _ in outputs:
            print(f"  written: {path}")
    if interrupted:
        print("portlens: interrupted; partial results written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "scan":
            return _scan(args)
    except portlens.InputError as e:
        print(f"portlens: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except portlens.PortlensError as e:
        print(f"portlens: scan failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("portlens: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
