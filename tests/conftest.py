"""The lab: network namespaces built once per test session (see shared/LAB.md), only when a test that
needs it was collected.

tests/unit/ needs neither root nor the lab: a run of only those tests (``make test-unit``) builds
nothing. Any other test (tests/lab/, tests/test_defences.py) makes the pytest process build the lab
and move its main thread into the lab's scanner namespace before any test runs, so every scan — in-process
or in a child process — starts from a namespace with no default route and reaches only the lab's own
targets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import Lab
from tests.factories import ROOT, run_cli

__all__ = ["ROOT", "run_cli"]  # tests/test_defences.py imports run_cli from here

UNIT = Path(__file__).resolve().parent / "unit"
_LAB: Lab | None = None


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def _is_unit(item: pytest.Item) -> bool:
    return Path(item.path).resolve().is_relative_to(UNIT)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the lab (and enter its scanner namespace) before any test runs, if a collected test needs it."""
    global _LAB
    if session.config.option.collectonly or all(_is_unit(item) for item in session.items):
        return
    if os.geteuid() != 0:
        raise pytest.UsageError("the portlens lab tests build network namespaces: run them as root")
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
    assert _LAB is not None, "the lab was not built: only tests outside tests/unit/ may use it"
    return _LAB


@pytest.fixture(scope="session")
def truth(lab: Lab) -> dict[str, Any]:
    return lab.truth


@pytest.fixture(autouse=True)
def _still_in_lab(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every lab test runs (and ends) inside the scanner namespace; unit tests use no network."""
    if _is_unit(request.node):
        yield
        return
    lab = request.getfixturevalue("lab")
    inode = os.stat(f"/var/run/netns/{lab.scanner_ns}").st_ino
    assert _netns_inode() == inode
    yield
    assert _netns_inode() == inode
