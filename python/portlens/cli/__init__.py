"""The ``portlens`` command line, built on the public API only: one module a command (`scan`,
`assess`, `report`, `history` for the store's ``history``, ``diff`` and ``profile``), what they
share in `common`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

import portlens

from . import assess, history, report, scan
from .common import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_SIGNALS, Signals

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="portlens", description="Find what listens on your networks.")
    p.add_argument("--version", action="version", version=f"portlens {portlens.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    scan.add_parser(sub)
    assess.add_parser(sub)
    report.add_parser(sub)
    history.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    with Signals(program=argv is None) as signals:
        args.signals = signals
        args.parser = parser
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "scan":
            return scan.run(args)
        if args.command == "assess":
            return assess.run(args)
        if args.command == "report":
            return report.run(args)
        if args.command in history.COMMANDS:
            return history.run(args)
    except portlens.InputError as e:
        print(f"portlens: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except portlens.PortlensError as e:
        print(f"portlens: scan failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as e:
        print("portlens: interrupted", file=sys.stderr)
        signum: int = getattr(e, "signum", signal.SIGINT)
        return EXIT_SIGNALS.get(signum, EXIT_INTERRUPTED)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_INPUT
