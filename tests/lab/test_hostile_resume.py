"""Resuming a saved scan whose store was tampered with, damaged or mixed up (`portlens.resume`,
``portlens scan --resume``): every case is a typed error (a CLI exit 2 or 1 with one line, no
traceback), the store keeps every stored result, and no resume ends in a "complete" scan whose
counts are not its probes'.

One real scan of the lab's open host is interrupted once per module; each case edits a copy of its
store with sqlite3, as a careless script, a disk error or an attacker with the file would.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import portlens
import portlens.distributed
from portlens.store import NotFoundError, StoreError
from tests.factories import ROOT, local_cluster, run_cli

KEEP = ["open", "closed", "filtered"]
PORTS = "1-3000"


@pytest.fixture(scope="module")
def saved(truth: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store holding one interrupted scan with a checkpoint part-way: its path, id and checkpoint."""
    db = str(tmp_path_factory.mktemp("hostile-resume") / "base.db")
    with portlens.store.open(db) as store:
        with portlens.start(truth["open"]["v4"], ports=PORTS, rate=1000, concurrency=32, keep=KEEP, save=store) as s:
            for _ in s:
                if s.progress().done > 600:
                    break
            scan_id = s.saved_id
    assert scan_id is not None
    row = _sql(db, "SELECT checkpoint, status FROM scans WHERE id = ?", scan_id)[0]
    assert row[1] == "incomplete"
    cp = json.loads(row[0])
    (batch,) = cp["engine"]["batches"]
    assert 0 < batch["watermark"] < batch["steps"] and sum(batch["counts"]) > 0
    return {"db": db, "id": scan_id, "checkpoint": cp, "host": truth["open"]["v4"]}


def _sql(db: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(statement, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _copy(saved: dict[str, Any], tmp_path: Path) -> str:
    db = str(tmp_path / "store.db")
    shutil.copy(saved["db"], db)
    return db


def _state(db: str) -> tuple[Any, ...]:
    """What must not change when a resume is refused: the row's status and open count, every stored result."""
    return (
        _sql(db, "SELECT status, open_ports FROM scans"),
        _sql(db, "SELECT host, port, protocol, state FROM scan_ports ORDER BY host, port, protocol"),
    )


def _engine(saved: dict[str, Any], **fields: Any) -> Any:
    cp = json.loads(json.dumps(saved["checkpoint"]))
    cp["engine"].update(fields)
    return json.dumps(cp)


def _batch(saved: dict[str, Any], **fields: Any) -> Any:
    cp = json.loads(json.dumps(saved["checkpoint"]))
    cp["engine"]["batches"][0].update(fields)
    return json.dumps(cp)


def _first(saved: dict[str, Any]) -> dict[str, Any]:
    return dict(saved["checkpoint"]["engine"]["batches"][0])


# name -> the checkpoint column's new value (from the saved scan's), and the error resume must raise
CHECKPOINTS: dict[str, tuple[Callable[[dict[str, Any]], Any], type[Exception], str]] = {
    "not-json": (lambda s: "{not json", portlens.ResumeError, "cannot be read"),
    "truncated": (lambda s: json.dumps(s["checkpoint"])[:40], portlens.ResumeError, "cannot be read"),
    "blob-invalid-utf8": (lambda s: b"\xff\xfe\x00", portlens.ResumeError, "cannot be read"),
    "nested-past-the-recursion-limit": (
        lambda s: "[" * 100_000 + "]" * 100_000,
        portlens.ResumeError,
        "cannot be read",
    ),
    "null": (lambda s: "null", portlens.ResumeError, "no checkpoint"),
    "a-list": (lambda s: "[]", portlens.ResumeError, "no checkpoint"),
    "engine-a-string": (lambda s: json.dumps({"kind": "local", "engine": "x"}), portlens.ResumeError, "engine"),
    "engine-a-list": (lambda s: json.dumps({"kind": "local", "engine": [1]}), portlens.ResumeError, "engine"),
    "seed-negative": (lambda s: _engine(s, seed=-1), portlens.ResumeError, "u64"),
    "seed-too-big": (lambda s: _engine(s, seed=2**64), portlens.ResumeError, "u64"),
    "seed-a-float": (lambda s: _engine(s, seed=1.5), portlens.ResumeError, "u64"),
    "seed-a-string": (lambda s: _engine(s, seed="7"), portlens.ResumeError, "u64"),
    "watermark-negative": (lambda s: _batch(s, watermark=-1), portlens.ResumeError, "u64"),
    "watermark-past-the-end": (lambda s: _batch(s, watermark=10**9), portlens.ResumeError, "probe order"),
    "watermark-huge": (lambda s: _batch(s, watermark=2**70), portlens.ResumeError, "u64"),
    # every step walked, but the counts of the first ones only: a "complete" scan missing thousands of ports
    "watermark-at-the-end": (
        lambda s: _batch(s, watermark=_first(s)["steps"]),
        portlens.ResumeError,
        "do not add up",
    ),
    # (in the one state the scan does not keep: the store cannot contradict them, the engine does)
    "counts-above-the-watermark": (
        lambda s: _batch(s, counts=[0, 0, 0, 10**6]),
        portlens.ResumeError,
        "do not add up",
    ),
    "counts-overflowing": (
        lambda s: _batch(s, counts=[0, 0, 0, 2**64 - 1]),
        portlens.ResumeError,
        "do not add up",
    ),
    # more than the store holds, in a kept state
    "counts-above-the-stored-results": (
        lambda s: _batch(s, counts=[10**6, 0, 0, 0]),
        portlens.ResumeError,
        "not this scan's",
    ),
    "counts-too-few": (lambda s: _batch(s, counts=[0]), portlens.ResumeError, "length"),
    # the same totals, moved to a state the store holds none of
    "counts-shifted-to-open": (
        lambda s: _batch(s, counts=[sum(_first(s)["counts"]), 0, 0, 0]),
        portlens.ResumeError,
        "not this scan's",
    ),
    "steps-of-another-port-count": (lambda s: _batch(s, steps=_first(s)["steps"] * 2), portlens.ResumeError, "order"),
    "the-batch-twice": (
        lambda s: _engine(s, batches=s["checkpoint"]["engine"]["batches"] * 2),
        portlens.ResumeError,
        "not this scan's",  # twice the counts (the engine refuses it too: a Rust test)
    ),
    "discovered-hosts-in-a-scan-without-discovery": (
        lambda s: _batch(s, hosts=[s["host"]]),
        portlens.ResumeError,
        "without discovery",
    ),
    "another-scans-ports": (lambda s: _engine(s, probes="0123456789abcdef"), portlens.ResumeError, "other ports"),
    "another-scans-targets": (lambda s: _engine(s, targets="0123456789abcdef"), portlens.ResumeError, "targets"),
    "format-from-the-future": (lambda s: _engine(s, format=2), portlens.ResumeError, "format"),
    "dask-shards-a-list": (lambda s: json.dumps({"kind": "dask", "shards": [1]}), portlens.ResumeError, "shards"),
    "dask-shard-id-not-a-number": (
        lambda s: json.dumps({"kind": "dask", "shards": {"x": {}}}),
        portlens.ResumeError,
        "shards",
    ),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINTS))
def test_a_tampered_checkpoint_is_refused_and_the_store_kept(saved: dict[str, Any], tmp_path: Path, case: str) -> None:
    value, error, message = CHECKPOINTS[case]
    db = _copy(saved, tmp_path)
    _sql(db, "UPDATE scans SET checkpoint = ?", value(saved))
    before = _state(db)
    with portlens.store.open(db) as store:
        with pytest.raises(error, match=message) as e:
            portlens.resume(saved["id"], store, executor="tcp://198.18.0.1:1" if "dask" in case else None)
        assert e.value.item == str(saved["id"])
        # the rest of the store still reads: the history lists the scan, and its results load
        (info,) = store.scans()
        assert info.status == "incomplete"
        assert len(store.load(saved["id"]).ports) == len(before[1])
    assert _state(db) == before


def test_the_command_line_says_so_in_one_line(saved: dict[str, Any], tmp_path: Path) -> None:
    db = _copy(saved, tmp_path)
    _sql(db, "UPDATE scans SET checkpoint = ?", "{not json")
    before = _state(db)
    p = run_cli("scan", "--resume", str(saved["id"]), "--db", db, "-q")
    assert p.returncode == 2, p.stderr
    assert "cannot be read" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = run_cli("history", "--db", db)  # the scan is still listed
    assert p.returncode == 0 and f"{saved['id']}" in p.stdout, p.stderr
    assert _state(db) == before


def test_other_json_columns_damaged_are_store_errors(saved: dict[str, Any], tmp_path: Path) -> None:
    """A damaged column that every read needs is a `StoreError` (exit 1), not a JSON decoder's traceback."""
    db = _copy(saved, tmp_path)
    _sql(db, "UPDATE scans SET options = ?", "[" * 50_000)
    with portlens.store.open(db) as store:
        with pytest.raises(StoreError, match="not JSON"):
            store.scans()
        with pytest.raises(StoreError, match="not JSON"):
            portlens.resume(saved["id"], store)
    p = run_cli("history", "--db", db)
    assert p.returncode == 1 and "not JSON" in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('"x"', "no recorded options"),
        ("[1]", "no recorded options"),
        (None, "no recorded options"),  # the targets removed
        ("targets-a-string", "list of target texts"),
        ("ports-a-number", "ports is not a text"),
    ],
    ids=["a-string", "a-list", "no-targets", "targets-a-string", "ports-a-number"],
)
def test_tampered_options_are_refused(saved: dict[str, Any], tmp_path: Path, options: str | None, message: str) -> None:
    db = _copy(saved, tmp_path)
    recorded = json.loads(_sql(db, "SELECT options FROM scans")[0][0])
    if options is None:
        del recorded["targets"]
    elif options == "targets-a-string":
        recorded["targets"] = saved["host"]  # iterated, it would be the targets "1", "9", "8"...
    elif options == "ports-a-number":
        recorded["ports"] = 80
    _sql(
        db,
        "UPDATE scans SET options = ?",
        json.dumps(recorded) if options in (None, "targets-a-string", "ports-a-number") else options,
    )
    before = _state(db)
    with pytest.raises(portlens.ResumeError, match=message):
        portlens.resume(saved["id"], db)
    assert _state(db) == before


@pytest.mark.parametrize(
    ("scan_id", "error"),
    [
        (2**70, NotFoundError),
        (2**63, NotFoundError),
        (-1, NotFoundError),
        (0, NotFoundError),
        ("abc", portlens.ResumeError),
        ("1; DROP TABLE scans", portlens.ResumeError),
        (1.5, portlens.ResumeError),  # not truncated to scan #1
        (True, portlens.ResumeError),  # not scan #1 either
        (None, portlens.ResumeError),
        ("9" * 5000, portlens.ResumeError),
    ],
    ids=repr,
)
def test_garbage_scan_ids(saved: dict[str, Any], tmp_path: Path, scan_id: Any, error: type[Exception]) -> None:
    db = _copy(saved, tmp_path)
    before = _state(db)
    with pytest.raises(error) as e:
        portlens.resume(scan_id, db)
    assert isinstance(e.value, ValueError)  # an input error (exit 2), as every wrong id is
    assert _state(db) == before


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--resume", str(2**70)], 2, "no scan"),
        (["--resume", "abc"], 2, "invalid int value"),
        (["--resume", "{id}", "-p", "1-10"], 2, "ports"),  # was ignored: a resume of other ports than asked
        (["--resume", "{id}", "--syn"], 2, "method"),
        (["--resume", "{id}", "--seed", "5"], 2, "seed"),
        (["--resume", "{id}", "--keep", "open"], 2, "keep"),
        (["--resume", "{id}", "{host}"], 2, "no TARGETS"),
    ],
    ids=["huge-id", "not-a-number", "other-ports", "other-method", "other-seed", "other-keep", "targets"],
)
def test_command_line_resumes_with_changed_options(
    saved: dict[str, Any], tmp_path: Path, argv: list[str], code: int, message: str
) -> None:
    db = _copy(saved, tmp_path)
    before = _state(db)
    p = run_cli("scan", *[a.format(id=saved["id"], host=saved["host"]) for a in argv], "--db", db, "-q")
    assert p.returncode == code and message in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert _state(db) == before


def test_store_files_that_are_not_stores(saved: dict[str, Any], tmp_path: Path) -> None:
    """A FIFO (would block an open), a device, a directory, a cut or random file, a newer schema: one
    line, exit 1, within seconds."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cut = _copy(saved, tmp_path)
    os.truncate(cut, os.path.getsize(cut) // 2)
    for suffix in ("-wal", "-shm"):
        Path(cut + suffix).unlink(missing_ok=True)
    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(8192))
    future = str(tmp_path / "future.db")
    shutil.copy(saved["db"], future)
    _sql(future, "INSERT INTO portlens_schema (version, description, applied) VALUES (99, 'x', '2030-01-01')")
    for path, message in [
        (str(fifo), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (str(tmp_path), "not a regular file"),
        (cut, "malformed"),
        (str(noise), "not a database"),
        (future, "newer than this portlens"),
    ]:
        started = time.monotonic()
        p = subprocess.run(
            [sys.executable, "-m", "portlens.cli", "scan", "--resume", "1", "--db", path, "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        assert p.returncode == 1 and message in p.stderr and "Traceback" not in p.stderr, (path, p.stderr)
        assert time.monotonic() - started < 30


def test_a_read_only_store_is_a_store_error_and_keeps_everything(saved: dict[str, Any], tmp_path: Path) -> None:
    db = _copy(saved, tmp_path)
    before = _state(db)
    with pytest.raises(StoreError, match="readonly"):
        portlens.resume(saved["id"], f"sqlite:///file:{db}?mode=ro&uri=true")
    assert _state(db) == before


def test_a_store_locked_by_another_writer(saved: dict[str, Any], tmp_path: Path) -> None:
    """Another process holds the write lock past the busy timeout (30 s): a `StoreError`, and once the
    lock is gone the scan resumes to the end."""
    db = _copy(saved, tmp_path)
    before = _state(db)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="locked"):
            portlens.resume(saved["id"], db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _state(db) == before
    resumed = portlens.resume(saved["id"], db)
    full = portlens.scan(saved["host"], ports=PORTS, keep=KEEP)
    assert resumed.status == "complete" and dict(resumed.counts) == dict(full.counts)


def test_two_resumes_of_one_scan_at_once(saved: dict[str, Any], tmp_path: Path) -> None:
    """Two processes resume the same scan: one ends it "complete", exactly; the other stops with a
    `StoreError` that says why (and its probes stop), never a scan with doubled rows or counts."""
    db = _copy(saved, tmp_path)
    outcomes: dict[str, Any] = {}

    def resume(name: str) -> None:
        try:
            outcomes[name] = portlens.resume(saved["id"], db, rate=1500)
        except (StoreError, portlens.ResumeError) as e:
            outcomes[name] = e

    threads = [threading.Thread(target=resume, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    results = [o for o in outcomes.values() if isinstance(o, portlens.ScanResult)]
    errors = [o for o in outcomes.values() if isinstance(o, (StoreError, portlens.ResumeError))]
    assert len(results) >= 1 and len(results) + len(errors) == 2, outcomes
    for e in errors:  # while the other ran, or after it completed the scan
        assert "another process" in str(e) or "is complete" in str(e)
    full = portlens.scan(saved["host"], ports=PORTS, keep=KEEP)
    with portlens.store.open(db) as store:
        (info,) = store.scans()
        loaded = store.load(saved["id"])
    assert info.status == "complete" and dict(loaded.counts) == dict(full.counts)
    assert len(loaded.ports) == len({(p.host, p.port) for p in loaded.ports}) == 3000


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("198.18.99.9", 22, "tcp", "open"), "not among the scan's targets"),
        (("not-an-address", 22, "tcp", "open"), "not an address"),
        (("{host}", 70000, "tcp", "open"), "port 70000"),
        (("{host}", -5, "tcp", "open"), "port -5"),
        (("{host}", 3001, "tcp", "open"), "port 3001"),
        (("{host}", 53, "udp", "open"), "udp port 53"),
        (("{host}", 2999, "tcp", "bogus"), "state 'bogus'"),
        (("{host}", 2998, "sctp", "open"), "protocol 'sctp'"),
    ],
    ids=["other-host", "not-an-address", "port-70000", "port-negative", "port-not-scanned", "udp", "state", "protocol"],
)
def test_stored_results_the_scan_could_not_have_found(
    saved: dict[str, Any], tmp_path: Path, row: tuple[Any, ...], message: str
) -> None:
    """Before: each became part of a "complete" resumed scan (an open port on a host never probed)."""
    db = _copy(saved, tmp_path)
    host, port, protocol, state = row
    _sql(db, "DELETE FROM scan_ports WHERE port = ? AND protocol = ?", port, protocol)
    _sql(
        db,
        "INSERT INTO scan_ports (scan_id, host, port, protocol, state, reason, attempts) "
        "VALUES (?, ?, ?, ?, ?, 'x', 1)",
        saved["id"],
        host.format(host=saved["host"]),
        port,
        protocol,
        state,
    )
    before = _state(db)
    with pytest.raises(portlens.ResumeError, match=message):
        portlens.resume(saved["id"], db)
    assert _state(db) == before


def test_an_ipv4_mapped_target_still_resumes(truth: dict[str, Any], tmp_path: Path) -> None:
    """The stored results' addresses are checked against the targets: a target written as an
    IPv4-mapped IPv6 address is scanned and reported as the IPv4 one, and must not be refused."""
    host = truth["open"]["v4"]
    db = str(tmp_path / "mapped.db")
    with portlens.store.open(db) as store:
        with portlens.start(f"::ffff:{host}", ports=PORTS, rate=1000, concurrency=32, keep=KEEP, save=store) as s:
            for _ in s:
                if s.progress().done > 600:
                    break
            scan_id = s.saved_id
    assert scan_id is not None
    resumed = portlens.resume(scan_id, db)
    assert resumed.status == "complete" and {p.host for p in resumed.ports} == {host}
    assert len(resumed.ports) == 3000


def test_a_tampered_dask_checkpoint(truth: dict[str, Any], tmp_path: Path) -> None:
    """A Dask scan's checkpoint names the shards merged, with their results: a shard number its
    plan does not have, or a result that cannot be read, is a `ResumeError` before any shard runs
    (before: a shard outside the plan ended in a bare StopIteration from the runner)."""
    block = truth["anyip"]["block"].replace("/20", "/24")
    db = str(tmp_path / "dask.db")
    with local_cluster(1) as (_, client):
        with portlens.store.open(db) as store:
            s = portlens.distributed.start(block, "1-10,80,443", executor=client, shard_probes=512, save=store)
            with s:
                while len(s.shard_workers) < 1:
                    next(s, None)
                scan_id = s.saved_id
        cp = json.loads(_sql(db, "SELECT checkpoint FROM scans")[0][0])
        (merged, result), *_ = cp["shards"].items()
        for shards, message in [
            ({"99999": result}, "shards its plan does not have"),
            ({merged: {"ports": "x"}}, "cannot be read"),
        ]:
            _sql(db, "UPDATE scans SET checkpoint = ?", json.dumps({**cp, "shards": shards}))
            before = _state(db)
            with pytest.raises(portlens.ResumeError, match=message):
                portlens.resume(scan_id, db, executor=client)
            assert _state(db) == before
