"""CLI: ``python -m lab up --tag X [--json FILE] [--parts ...]`` / ``python -m lab down --tag X``.

``up`` builds a lab, writes its ground truth to FILE (if given) and prints it as one JSON line,
then waits until SIGTERM, SIGINT or SIGHUP and closes the lab.  It records its own pid as owner
in ``/run/portlens-lab-<tag>/pids.json``, so ``down`` first asks it to close, then removes
whatever is left (servers recorded or carrying the tag, namespaces ``pl-<tag>-*``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from .core import OPTIONAL_PARTS, PARTS, Lab, LabError, sweep


class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def cmd_up(args: argparse.Namespace) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    parts = tuple(p for p in args.parts.split(",") if p) if args.parts else PARTS
    lab = None
    try:
        lab = Lab.create(tag=args.tag, parts=parts)
        lab.set_owner(os.getpid())
        text = json.dumps(lab.truth, sort_keys=True)
        if args.json:
            path = Path(args.json)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text + "\n")
            os.replace(tmp, path)
        print(text, flush=True)
        while True:
            time.sleep(3600)
    except _Stop:
        return 0
    except LabError as e:
        print(f"lab up: {e}", file=sys.stderr)
        return 1
    finally:
        # Ignore further signals while cleaning up so that cleanup itself is not cut short.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if lab is not None:
            lab.close()


def cmd_down(args: argparse.Namespace) -> int:
    deleted = sweep(args.tag)
    print(f"lab down: deleted {len(deleted)} namespace(s): {' '.join(deleted) or '-'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create a lab and keep it until SIGTERM/SIGINT")
    up.add_argument("--tag", required=True)
    up.add_argument("--json", help="write the ground truth to this file")
    every, optional = ",".join(PARTS), ",".join(OPTIONAL_PARTS)
    up.add_argument("--parts", default="", help=f"comma-separated subset of {every}, optional {optional}")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="remove a lab (or a crashed run's leftovers) by tag")
    down.add_argument("--tag", required=True)
    down.set_defaults(func=cmd_down)
    args = ap.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as e:  # bad tag or parts
        print(f"lab: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
