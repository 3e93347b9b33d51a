"""What every daemon family of the ``svc`` supervisor shares: the process supervisor and file helpers."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def _pdeathsig() -> None:
    """In the child: die with the supervisor (PR_SET_PDEATHSIG = 1, SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)


class _Supervisor:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs = root / "logs"

    def start(self, name: str, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the child
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pdeathsig,  # noqa: PLW1509 - started from the main thread only
            **kw,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        for _, p in self.procs:
            left = max(0.0, deadline - time.monotonic())
            try:
                p.wait(timeout=left)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=2.0)

    def dead(self) -> list[str]:
        return [n for n, p in self.procs if p.poll() is not None and not n.startswith("prep-")]


def _private(path: str, argv: list[str]) -> list[str]:
    """``argv`` in a mount namespace of its own with an empty tmpfs on ``path``: servers that keep
    fixed pid or lock files there (xrdp, Xtigervnc) then never meet another lab's."""
    script = f'mount -t tmpfs -o mode=1777 portlens-lab {path} && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "lab-private", *argv]


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _run(argv: list[str], **kw: Any) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60, **kw)


def _has_line(lines: list[str], prefix: str) -> bool:
    return any(line.startswith(prefix) for line in lines)
