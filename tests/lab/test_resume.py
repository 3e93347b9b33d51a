"""Resuming interrupted saved scans (`portlens.resume`, ``portlens scan --resume``) in the lab.

Every test interrupts a real scan mid-way (SIGINT or SIGKILL of the command line, or a cancelled
scan in this process) at a random point, resumes it, and compares the store's one scan with an
uninterrupted scan of the same targets: the same open (host, port) set, the same count per state.
The interruption points are drawn from a seed that is printed, so a failure can be replayed with
PORTLENS_RESUME_SEED.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import portlens
import portlens.distributed
from portlens.store import NotFoundError
from tests.factories import ROOT, local_cluster, run_cli

SEED = int(os.environ.get("PORTLENS_RESUME_SEED") or random.SystemRandom().randrange(1 << 32))
print(f"test_resume: interruption points from PORTLENS_RESUME_SEED={SEED}")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    # one stream per test, from the printed seed and the test's name
    return random.Random(f"{SEED}:{request.node.name}")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "history.db")


def _row(url: str) -> dict[str, Any] | None:
    """The one scan row, read from another connection while the scan writes."""
    engine = sa.create_engine(portlens.store.resolve_url(url))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("scans"):
                return None
            row = conn.execute(sa.text("SELECT status, checkpoint FROM scans")).mappings().first()
            return None if row is None else dict(row)
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


def _done(checkpoint: Any) -> int:
    """Results below the watermarks of a recorded checkpoint."""
    if isinstance(checkpoint, str):
        checkpoint = json.loads(checkpoint)
    engine = (checkpoint or {}).get("engine") or {}
    return sum(sum(b["counts"]) for b in engine.get("batches", ()))


def _interrupt_cli(argv: list[str], url: str, at: int, sig: int) -> None:
    """Run ``portlens scan ... --save`` and send it ``sig`` once its recorded checkpoint covers at
    least ``at`` results."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "portlens.cli", "scan", *argv, "--save", "--db", url, "-q"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            row = _row(url)
            done = _done(row["checkpoint"]) if row else 0
            if done >= at:
                break
        assert proc.poll() is None, f"the scan ended before it was interrupted ({done} of {at} done)"
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
    if sig != signal.SIGKILL:  # Ctrl-C and SIGTERM: cancelled, the last checkpoint written exactly
        assert proc.returncode == 128 + sig and "interrupted" in err, err


def _assert_same(store: Any, scan_id: int, full: portlens.ScanResult) -> portlens.ScanResult:
    """The store holds one scan, complete and equal to ``full`` (open set, counts per state)."""
    (info,) = store.scans()
    assert info.id == scan_id and info.status == "complete" and info.result_status == "complete"
    saved = store.load(scan_id)
    assert {(p.host, p.port) for p in saved.open_ports()} == {(p.host, p.port) for p in full.open_ports()}
    assert dict(saved.counts) == dict(full.counts)
    assert info.open_ports == len(full.open_ports())
    assert len({(p.host, p.port, p.protocol) for p in saved.ports}) == len(saved.ports)
    return saved


def _two_hosts(truth: dict[str, Any]) -> tuple[list[str], str, int]:
    """An open host and a filtering one, no discovery: open, closed, reset, ICMP-rejected and dropped
    ports (the filtering host answers on some, so that its silent ports are plain losses, settled
    after their retries). Targets, ports and the number of results.

    The checkpoint's watermark trails the oldest probe in flight (a dropped port's waits for its
    retries): the tests bound the probes in flight (``concurrency``) so that it follows closely."""
    filt = truth["filt"]
    ports = ",".join(["5950-7050", *map(str, filt["open_ports"])])
    count = len(portlens.parse_ports(ports))
    return [truth["open"]["v4"], filt["v4"]], ports, 2 * count


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["sigint", "sigterm", "sigkill"])
def test_cli_resume_after_a_signal_equals_an_uninterrupted_scan(
    truth: dict[str, Any], db: str, rng: random.Random, sig: int
) -> None:
    saved = _interrupt_then_resume(truth, db, rng, sig, "connect")
    assert saved.counts["closed"] > 0 and saved.counts["filtered"] > 0  # every kind of answer was resumed
    assert _row(db)["checkpoint"] is None  # type: ignore[index]


def _interrupt_then_resume(
    truth: dict[str, Any], db: str, rng: random.Random, sig: int, method: str
) -> portlens.ScanResult:
    """A CLI scan of two hosts by ``method``, stopped by ``sig`` at a random point and resumed
    through the CLI; asserts the stored scan equals an uninterrupted one and returns it."""
    hosts, ports, total = _two_hosts(truth)
    at = rng.randrange(total // 10, total // 2)
    print(f"interrupting a {method} scan with signal {sig} after {at} of {total} results")
    args = [*hosts, "-p", ports, "-Pn", "--method", method, "--rate", "600", "--concurrency", "64"]
    _interrupt_cli(args, db, at, sig)
    with portlens.store.open(db) as store:
        (info,) = store.scans()
        assert info.status == "incomplete"
        assert _done(_row(db)["checkpoint"]) >= at  # type: ignore[index]
    p = run_cli("scan", "--resume", str(info.id), "--db", db, "--rate", "3000")
    assert p.returncode == 0, p.stderr
    assert f"saved: scan #{info.id} (complete)" in p.stdout
    full = portlens.scan(hosts, ports=ports, discovery=False, method=method)
    with portlens.store.open(db) as store:
        return _assert_same(store, info.id, full)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_syn_scan_resumed_after_a_signal_equals_an_uninterrupted_syn_scan(
    truth: dict[str, Any], db: str, rng: random.Random, sig: int
) -> None:
    """The same for ``method="syn"``: the checkpoint does not depend on how a try is made, and the
    resumed scan is a SYN scan again (its recorded method), ending equal to an uninterrupted one."""
    saved = _interrupt_then_resume(truth, db, rng, sig, "syn")
    assert saved.options["method"] == "syn"
    assert saved.counts["closed"] > 0 and saved.counts["filtered"] > 0
    assert {p.reason for p in saved.ports} <= {"syn-ack"}  # open ports kept: a SYN scan's reason
    assert _row(db)["checkpoint"] is None  # type: ignore[index]


def test_api_resume_probes_only_what_is_left(truth: dict[str, Any], store_url: str, rng: random.Random) -> None:
    """A scan cancelled in this process (`with` block left), resumed with `portlens.resume`, that
    resume interrupted too and resumed again: fewer probes than a whole scan, progress that starts
    at the done fraction, one complete scan; on SQLite and PostgreSQL."""
    db = store_url
    hosts, ports, total = _two_hosts(truth)
    at = rng.randrange(total // 5, total * 7 // 10)
    with portlens.store.open(db) as store:
        with portlens.start(hosts, ports=ports, discovery=False, rate=1000, concurrency=64, save=store) as s:
            while s.progress().done < at:
                next(s, None)
                if s.progress().done >= at:
                    break
            scan_id = s.saved_id
        assert scan_id is not None
        first = _done(_row(db)["checkpoint"])  # type: ignore[index]
        assert 0 < first < total
        # the resumed scan is interrupted in turn (Ctrl-C while it runs), and resumed again
        at2 = rng.randrange(first + (total - first) // 10, first + (total - first) // 2)
        stopped: list[portlens.Progress] = []

        def ctrl_c(p: portlens.Progress) -> None:
            if p.done >= at2 and not stopped:
                stopped.append(p)
                raise KeyboardInterrupt

        with pytest.raises(portlens.ScanInterrupted) as e:
            portlens.resume(scan_id, store, progress=ctrl_c)
        assert e.value.result.status == "cancelled" and store.scan(scan_id).status == "incomplete"
        second = _done(_row(db)["checkpoint"])  # type: ignore[index]
        assert first <= second < total
        seen: list[portlens.Progress] = []
        resumed = portlens.resume(scan_id, store, progress=seen.append)
    full = portlens.scan(hosts, ports=ports, discovery=False)
    assert resumed.status == "complete"
    assert {(p.host, p.port) for p in resumed.open_ports()} == {(p.host, p.port) for p in full.open_ports()}
    assert dict(resumed.counts) == dict(full.counts)
    assert seen and seen[0].done >= second and seen[-1].done == total
    assert resumed.stats["attempts"] < full.stats["attempts"]
    with portlens.store.open(db) as store:
        _assert_same(store, scan_id, full)


def test_discovery_scan_resumes_its_batches(truth: dict[str, Any], db: str, rng: random.Random) -> None:
    """With discovery, hosts are port-scanned in batches as they are found up: the checkpoint keeps
    each batch, the resumed scan finishes them and rediscovers the rest. Down hosts are counted once."""
    anyip = truth["anyip"]
    block = anyip["block"].replace("/20", "/22")
    argv = [block, "-p", "1-10,80,443", "--rate", "2000", "--concurrency", "128"]
    total = 1024 * 12
    at = rng.randrange(total // 10, total // 2)
    print(f"interrupting after {at} of at most {total} results")
    _interrupt_cli(argv, db, at, signal.SIGKILL)
    with portlens.store.open(db) as store:
        (info,) = store.scans()
    p = run_cli("scan", "--resume", str(info.id), "--db", db, "-q")
    assert p.returncode == 0, p.stderr
    full = portlens.scan(block, ports="1-10,80,443")
    with portlens.store.open(db) as store:
        saved = _assert_same(store, info.id, full)
    assert saved.stats["hosts_down"] == full.stats["hosts_down"] > 0
    assert saved.counts["open"] == 2 * (1024 - full.stats["hosts_down"])


def _has_engine_checkpoint(store: Any, scan_id: int) -> bool:
    with store.engine.begin() as conn:
        raw = conn.execute(sa.text("SELECT checkpoint FROM scans WHERE id=:i"), {"i": scan_id}).scalar_one()
    return bool(raw) and json.loads(raw).get("engine") is not None


def test_bad_resumes_are_typed_errors_and_change_nothing(truth: dict[str, Any], db: str) -> None:
    host = truth["open"]["v4"]
    with portlens.store.open(db) as store:
        complete = portlens.scan(host, ports="1-100", save=store)
        assert complete.status == "complete"
        done_id = store.scans()[-1].id
        # Cancelled once the store holds an engine checkpoint: cancelled right after the first
        # result, a loaded machine can stop the scan before its first checkpoint was written.
        open_id = None
        with portlens.start(host, ports="1-3000", rate=1000, save=store) as s:
            for _ in s:
                open_id = s.saved_id
                if open_id is not None and _has_engine_checkpoint(store, open_id):
                    break
        assert open_id is not None and _has_engine_checkpoint(store, open_id)
        # saved whole after the scan (as by a portlens without checkpoints): nothing to resume from
        old = store.save(dataclasses.replace(portlens.scan(host, ports="1-50"), status="cancelled"))
        before = [(i.id, i.status, i.open_ports) for i in store.scans()]
        with pytest.raises(NotFoundError):
            portlens.resume(9999, store)
        with pytest.raises(portlens.ResumeError, match="complete"):
            portlens.resume(done_id, store)
        with pytest.raises(portlens.ResumeError, match="no checkpoint"):
            portlens.resume(old, store)
        with pytest.raises(portlens.OptionError, match="seed") as e:
            portlens.resume(open_id, store, seed=12345)
        assert e.value.item == "seed"
        with pytest.raises(portlens.OptionError, match="ports"):
            portlens.resume(open_id, store, ports="1-10")
        # a checkpoint of another format (a portlens that walks another order)
        with store.engine.begin() as conn:
            cp = json.loads(conn.execute(sa.text(f"SELECT checkpoint FROM scans WHERE id={open_id}")).scalar_one())
            cp["engine"]["format"] = 99
            conn.execute(sa.text("UPDATE scans SET checkpoint=:c WHERE id=:i"), {"c": json.dumps(cp), "i": open_id})
        with pytest.raises(portlens.ResumeError, match="format"):
            portlens.resume(open_id, store)
        # targets that expand to other addresses now (here: another host of the same size)
        with store.engine.begin() as conn:
            cp["engine"]["format"] = 1
            options = json.loads(conn.execute(sa.text(f"SELECT options FROM scans WHERE id={open_id}")).scalar_one())
            options["targets"] = [truth["filt"]["v4"]]
            conn.execute(
                sa.text("UPDATE scans SET checkpoint=:c, options=:o WHERE id=:i"),
                {"c": json.dumps(cp), "o": json.dumps(options), "i": open_id},
            )
        with pytest.raises(portlens.ResumeError, match="targets"):
            portlens.resume(open_id, store)
        assert [(i.id, i.status, i.open_ports) for i in store.scans()] == before
        assert len(store.load(open_id).ports) >= 1  # nothing was dropped
        # the command line says so and exits 2
        p = run_cli("scan", "--resume", str(done_id), "--db", db)
        assert p.returncode == 2 and "complete" in p.stderr
        p = run_cli("scan", host, "--resume", str(open_id), "--db", db)
        assert p.returncode == 2 and "no TARGETS" in p.stderr


def test_dask_scan_resumes_only_the_shards_not_merged(truth: dict[str, Any], db: str, rng: random.Random) -> None:
    """A Dask scan left after a random number of merged shards, resumed with ``executor=``: the
    merged shards are not run again, and the store ends with one scan equal to a local one."""
    block = truth["anyip"]["block"].replace("/20", "/23")
    ports = "1-10,80,443"
    with local_cluster(2) as (_, client):
        with portlens.store.open(db) as store:
            s = portlens.distributed.start(block, ports, executor=client, shard_probes=1024, save=store)
            shards = s.plan.shards
            keep = rng.randrange(1, shards // 2)
            print(f"leaving the Dask scan after {keep} of {shards} shards")
            with s:
                while len(s.shard_workers) < keep:
                    next(s, None)
                scan_id = s.saved_id
            assert scan_id is not None and store.scan(scan_id).status == "incomplete"
            merged = len(json.loads(_row(db)["checkpoint"])["shards"])  # type: ignore[index]
            assert merged >= keep
            with pytest.raises(portlens.OptionError, match="executor"):
                portlens.resume(scan_id, store)  # it ran on Dask
            with pytest.raises(portlens.OptionError, match="rate"):
                portlens.resume(scan_id, store, executor=client, rate=100)  # it would cut other shards
            seen: list[portlens.Progress] = []
            resumed = portlens.resume(scan_id, store, executor=client, progress=seen.append)
            assert resumed.stats["shards_merged"] == shards
            # only the shards not merged before were submitted again
            assert resumed.stats["shard_submissions"] == shards - merged
            assert seen[0].done > 0
            full = portlens.scan(block, ports=ports)
            _assert_same(store, scan_id, full)
            assert dict(resumed.counts) == dict(full.counts)


def test_tcp_and_udp_resume_every_state_kept(truth: dict[str, Any], db: str, rng: random.Random) -> None:
    """``protocol="both"`` with every state kept: the store holds one row per (port, protocol), each
    with the state an uninterrupted scan gives it; the UDP phase is run again whole (its rows from
    the interrupted run are replaced, not doubled)."""
    host = truth["udp"]["v4"]
    ports = "T:1-1500,U:53,U:69,U:123,U:161,U:11211"
    everything = ["open", "closed", "filtered", "open|filtered"]
    options: dict[str, Any] = {"protocol": "both", "keep": everything, "udp_fast": True}
    total = 1500 + 5
    at = rng.randrange(total // 10, total // 2)
    with portlens.store.open(db) as store:
        with portlens.start(host, ports=ports, rate=600, concurrency=64, save=store, **options) as s:
            for _ in s:
                if s.progress().done >= at:
                    break
            scan_id = s.saved_id
        assert scan_id is not None and store.scan(scan_id).status == "incomplete"
        assert 0 < _done(_row(db)["checkpoint"]) < 1500  # type: ignore[index]
        resumed = portlens.resume(scan_id, store)
        full = portlens.scan(host, ports=ports, **options)
        saved = _assert_same(store, scan_id, full)

    def states(r: portlens.ScanResult) -> set[tuple[int, str, str]]:
        return {(p.port, p.protocol, p.state) for p in r.ports}

    assert len(saved.ports) == total
    assert states(saved) == states(full) == states(resumed)
    assert {p.port for p in saved.open_ports() if p.protocol == "udp"} == {53, 69, 123, 161, 11211}
