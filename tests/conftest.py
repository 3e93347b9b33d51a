"""The lab: network namespaces built once per test session (see shared/LAB.md).

The pytest process moves its main thread into the lab's scanner namespace before any test runs,
so every scan — in-process or in a child process — starts from a namespace with no default route
and reaches only the lab's own targets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import Lab

ROOT = Path(__file__).resolve().parent.parent
_LAB: Lab | None = None


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def pytest_configure(config: pytest.Config) -> None:
    global _LAB
    if os.geteuid() != 0:
        raise pytest.UsageError("the portlens tests build network namespaces: run them as root")
    _LAB = Lab.create(tag=f"t{os.getpid() % 100000}")
    _LAB.enter_scanner()
    scanner = os.stat(f"/var/run/netns/{_LAB.scanner_ns}").st_ino
    if _netns_inode() != scanner:
        raise pytest.UsageError("could not enter the lab's scanner namespace")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _LAB is not None:
        _LAB.close()


@pytest.fixture(scope="session")
def lab() -> Lab:
    assert _LAB is not None
    return _LAB


@pytest.fixture(scope="session")
def truth(lab: Lab) -> dict[str, Any]:
    return lab.truth


@pytest.fixture(autouse=True)
def _still_in_lab(lab: Lab) -> Iterator[None]:
    """Every test runs (and ends) inside the scanner namespace."""
    inode = os.stat(f"/var/run/netns/{lab.scanner_ns}").st_ino
    assert _netns_inode() == inode
    yield
    assert _netns_inode() == inode


def run_cli(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``portlens`` in a child process (it inherits the scanner namespace)."""
    return subprocess.run(
        [sys.executable, "-m", "portlens.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kw,
    )
