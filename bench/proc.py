"""Running a tool in the lab's scanner namespace, timed around the whole process."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from lab import Lab

ROOT = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    """This environment, with the repository on PYTHONPATH (for ``python -m bench.X --child``)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    return e


def timed(lab: Lab, argv: list[str], timeout: float) -> tuple[float, str]:
    """Run ``argv`` in the scanner namespace; returns (wall seconds, stdout); raises on failure."""
    start = time.perf_counter()
    p = subprocess.run(
        lab.in_scanner_cmd(argv), capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env(), check=False
    )
    took = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return took, p.stdout
