"""Scans on a Dask cluster of worker processes, compared with local scans of the same lab.

The cluster's workers are processes spawned from this pytest process, which conftest moved into the
lab's scanner namespace: they inherit it (checked below), so their scans reach only the lab.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import portlens
import portlens.distributed as pd
from lab import Lab
from tests.factories import ROOT, local_cluster, run_cli

WORKERS = 2
ANYIP_PORTS = "1-30,80,443"  # 32 ports: 22 closed, 80 and 443 open, the rest closed; dead hosts filtered


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Any, Any]]:
    """The cluster most tests share; no test kills its workers."""
    with local_cluster(WORKERS) as c:
        yield c


@pytest.fixture
def client(cluster: tuple[Any, Any]) -> Any:
    _, c = cluster
    assert len(c.nthreads()) == WORKERS
    return c


def _same(a: portlens.ScanResult, b: portlens.ScanResult) -> None:
    """Same port results (no duplicates), same counts, same hosts with the same states and counts."""
    pa = [(p.host, p.port, p.protocol, p.state) for p in a.ports]
    pb = [(p.host, p.port, p.protocol, p.state) for p in b.ports]
    assert len(pa) == len(set(pa)), "duplicated port results"
    assert pa == pb  # both sorted by address and port
    assert dict(a.counts) == dict(b.counts)
    ha = [(h.address, h.state, dict(h.counts)) for h in a.hosts]
    hb = [(h.address, h.state, dict(h.counts)) for h in b.hosts]
    assert ha == hb
    assert (a.hosts_total, a.ports_per_host, a.hosts_down) == (b.hosts_total, b.ports_per_host, b.hosts_down)
    assert a.stats["done"] == b.stats["done"] == sum(a.counts.values())


def _nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _ns(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def _shard_id(key: Any) -> int:
    # keys are "portlens-shard-<scan>-<shard id>-a<attempt>"
    return int(str(key).rsplit("-", 2)[1])


@pytest.fixture(scope="module")
def anyip_local(truth: dict[str, Any]) -> portlens.ScanResult:
    """The local reference for the kill tests, itself checked against the ground truth."""
    t = truth["anyip"]
    r = portlens.scan(t["block"], ports=ANYIP_PORTS, keep=["open", "closed"])
    live = t["live_count"]
    assert (r.counts["open"], r.counts["closed"]) == (2 * live, 30 * live)
    assert r.hosts_up == live
    return r


def test_workers_are_processes_inside_the_scanner_namespace(lab: Lab, client: Any) -> None:
    mine = _ns("/proc/thread-self/ns/net")
    assert mine == _ns(f"/var/run/netns/{lab.scanner_ns}")
    pids = client.run(os.getpid)
    assert len(pids) == WORKERS and os.getpid() not in pids.values()
    for pid in pids.values():
        assert _ns(f"/proc/{pid}/ns/net") == mine, pid
    # and as the workers see it themselves
    seen = client.run(os.stat, "/proc/self/ns/net")
    assert {(s.st_dev, s.st_ino) for s in seen.values()} == {mine}


def test_anyip_block_in_address_shards_matches_local(truth: dict[str, Any], client: Any) -> None:
    t = truth["anyip"]
    seen: list[portlens.Progress] = []
    local = portlens.scan(t["block"], ports="22,80,443", keep=["open", "closed"])
    r = portlens.scan(
        t["block"], ports="22,80,443", keep=["open", "closed"], executor=client, shard_probes=2048, progress=seen.append
    )
    assert r.status == "complete"
    _same(r, local)
    # and both match the ground truth
    assert r.hosts_up == t["live_count"] and not set(t["dead"]) & {h.address for h in r.hosts if h.state == "up"}
    assert {p.port for p in r.ports if p.state == "open"} == {80, 443}
    # 682 addresses x 3 ports a shard: 7 address blocks, one port range
    assert r.options["executor"] == "dask" and r.options["shards"] == 7 == r.stats["shards_merged"]
    assert r.stats["duplicate_deliveries"] == 0 and r.stats["shard_submissions"] == 7
    # progress is aggregated over shards: done grows, the total only shrinks (host discovery),
    # and both end at the probes made
    assert seen and seen[0].total <= 4096 * 3
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert [p.total for p in seen] == sorted((p.total for p in seen), reverse=True)
    assert seen[-1].done == seen[-1].total == r.stats["done"] and seen[-1].open == r.counts["open"]


def test_open_host_in_port_range_shards_matches_local(truth: dict[str, Any], client: Any, tmp_path: Path) -> None:
    t = truth["open"]
    local = portlens.scan(t["v4"], ports="all")
    s = pd.start(t["v4"], ports="all", executor=client, shard_probes=16384)
    streamed = list(s)
    r = s.result()
    _same(r, local)
    assert sorted(p.port for p in streamed) == sorted(p.port for p in r.ports) == t["open_ports"]
    # one host split over 4 port ranges: its counts are summed, its ports combined, one RTT kept
    assert r.stats["shards"] == 4 and len(s.shard_workers) == 4
    (h,) = r.hosts
    assert _nonzero(h.counts) == {"open": 40, "closed": 65535 - 40} and h.rtt is not None
    assert [p.port for p in h.ports] == t["open_ports"]
    # the merged result is an ordinary one: it round-trips through the JSON document
    r.to_json(str(tmp_path / "r.json"))
    back = portlens.load(tmp_path / "r.json")
    assert isinstance(back, portlens.ScanResult)
    _same(back, r)
    assert back.options["shards"] == 4


def test_tcp_and_udp_shards_merge_like_one_scan(truth: dict[str, Any], client: Any) -> None:
    """protocol="both": each protocol's ports are cut separately; one host gathers both."""
    t = truth["open"]
    spec = "T:1-2000,U:53,U:161"  # two UDP ports: their ICMP errors stay within the kernel's burst
    local = portlens.scan(t["v4"], spec, protocol="both", keep=["open", "closed"])
    r = portlens.scan(t["v4"], spec, protocol="both", keep=["open", "closed"], executor=client, shard_probes=500)
    _same(r, local)
    assert r.stats["shards"] == 5 and r.ports_per_host == 2002  # 4 TCP ranges, 1 UDP range
    assert {p.protocol for p in r.ports} == {"tcp", "udp"}
    assert [p.port for p in r.ports if p.state == "open"] == [p for p in t["open_ports"] if p <= 2000]


@pytest.mark.parametrize("mode", ["dask-reschedules", "client-resubmits"])
def test_worker_killed_mid_scan_loses_and_duplicates_nothing(
    truth: dict[str, Any], anyip_local: portlens.ScanResult, mode: str
) -> None:
    """SIGKILL a worker while it runs shards, on a cluster of its own. Dask reschedules them by
    itself (allowed-failures 3), or, with allowed-failures 0, gives up with KilledWorker and
    portlens resubmits them."""
    with local_cluster(WORKERS, allowed_failures=0 if mode == "client-resubmits" else 3) as (_, client):
        _killed_mid_scan(truth, anyip_local, mode, client)


def _killed_mid_scan(truth: dict[str, Any], anyip_local: portlens.ScanResult, mode: str, client: Any) -> None:
    pids = client.run(os.getpid)
    assert {_ns(f"/proc/{pid}/ns/net") for pid in pids.values()} == {_ns("/proc/thread-self/ns/net")}
    killed: dict[str, Any] = {}

    def kill_a_busy_worker(p: portlens.Progress) -> None:
        if killed or p.done >= p.total:
            return
        for address, keys in client.processing().items():
            if keys:
                killed.update(pid=pids[address], shards={_shard_id(k) for k in keys}, done=p.done)
                os.kill(pids[address], signal.SIGKILL)
                return

    s = pd.start(
        truth["anyip"]["block"],
        ports=ANYIP_PORTS,
        keep=["open", "closed"],
        executor=client,
        shard_probes=16384,
        progress=kill_a_busy_worker,
    )
    r = s.result()
    assert killed, "no worker was busy when progress was reported"
    assert killed["done"] < anyip_local.hosts_total * anyip_local.ports_per_host
    assert r.status == "complete"
    _same(r, anyip_local)
    assert r.stats["shards"] == r.stats["shards_merged"] == 8 and r.stats["duplicate_deliveries"] == 0
    # the shards the dead worker held were delivered by another process
    delivered = s.shard_workers
    killed_as = f"{socket.gethostname()}:{killed['pid']}"
    assert any(delivered[sid] != killed_as for sid in killed["shards"])
    if mode == "client-resubmits":
        # (the scheduler may have handed the worker one more shard between the snapshot and the kill)
        assert s.failures and {f.kind for f in s.failures} == {"KilledWorker"}
        assert all(delivered[f.shard] != killed_as for f in s.failures)
        assert r.stats["shard_submissions"] == 8 + len(s.failures) == 8 + r.stats["shard_failures"]
    else:
        assert s.failures == [] and r.stats["shard_submissions"] == 8
    # the nanny restarts the worker, inside the same namespace
    client.wait_for_workers(WORKERS, timeout=60)
    new = client.run(os.getpid)
    assert killed["pid"] not in new.values()
    assert {_ns(f"/proc/{pid}/ns/net") for pid in new.values()} == {_ns("/proc/thread-self/ns/net")}


def test_hostnames_resolve_once_on_the_client(lab: Lab, client: Any) -> None:
    """Workers get addresses; the merged result carries the name the user gave, as a local scan does.
    The target is the loopback of the lab's scanner namespace (its workers' namespace, checked first),
    on ports where nothing listens."""
    mine = _ns(f"/var/run/netns/{lab.scanner_ns}")
    assert {(s.st_dev, s.st_ino) for s in client.run(os.stat, "/proc/self/ns/net").values()} == {mine}
    local = portlens.scan("localhost", ports=[1, 2, 3], keep=["closed"])
    r = portlens.scan("localhost", ports=(p for p in (1, 2, 3)), keep=["closed"], executor=client, shard_probes=1)
    _same(r, local)
    assert r.stats["shards"] == 3  # one port a shard
    assert [(p.host, p.hostname) for p in r.ports] == [(p.host, p.hostname) for p in local.ports]
    assert {p.hostname for p in r.ports} == {"localhost"} and [h.hostname for h in r.hosts] == ["localhost"]


def test_rate_is_split_so_the_total_holds(truth: dict[str, Any], client: Any) -> None:
    t = truth["open"]
    r = portlens.scan(t["v4"], ports="1-2000", rate=2000.0, executor=client, shard_probes=500)
    # two slots: 1000/s a shard, at most two shards in flight -> at least ~1 s for 2000 probes
    # (unsplit, two shards at 2000/s each would take 0.5 s)
    assert r.options["rate"] == 2000.0 and r.options["rate_per_shard"] == 1000.0 and r.options["slots"] == 2
    assert r.stats["shards"] == 4
    assert r.elapsed >= 0.9
    assert [p.port for p in r.ports] == [p for p in t["open_ports"] if p <= 2000]


def test_input_errors_are_raised_before_any_shard(client: Any) -> None:
    # (keys released by earlier tests may still be on their way out: only new ones would be a fault)
    before = set(client.run_on_scheduler(_task_keys))
    with pytest.raises(portlens.TargetError):
        portlens.scan("198.18.1.300", executor=client)
    with pytest.raises(portlens.ScopeError):
        portlens.scan("198.18.1.2", ports="80", scope=["198.18.2.0/24"], executor=client)
    with pytest.raises(portlens.OptionError, match="executor"):
        portlens.scan("198.18.1.2", ports="80", executor=object())
    with pytest.raises(portlens.OptionError, match="shard_probes"):
        portlens.scan("198.18.1.2", ports="80", executor=client, shard_probes=0)
    assert not [k for k in set(client.run_on_scheduler(_task_keys)) - before if k.startswith("portlens-shard-")]


def _task_keys(dask_scheduler: Any) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks]


def test_cancel_keeps_merged_shards_and_stops_the_rest(truth: dict[str, Any], client: Any) -> None:
    t = truth["anyip"]
    s = pd.start(t["block"], ports=ANYIP_PORTS, executor=client, shard_probes=4096)
    first = next(iter(s))  # one shard merged
    s.cancel()
    r = s.result()
    assert r.status == "cancelled" and first in r.ports
    assert 0 < r.stats["shards_merged"] < r.stats["shards"] == 32
    assert {p.port for p in r.ports} <= {80, 443}
    deadline = time.monotonic() + 30
    while [k for k in client.run_on_scheduler(_task_keys) if k.startswith("portlens-shard-")]:
        assert time.monotonic() < deadline, "cancelled shards still on the scheduler"
        time.sleep(0.1)


def test_cli_dask_option(truth: dict[str, Any], cluster: tuple[Any, Any], client: Any, tmp_path: Path) -> None:
    lc, _ = cluster
    t = truth["open"]
    j, jl = tmp_path / "r.json", tmp_path / "r.jsonl"
    p = run_cli("scan", t["v4"], "-p", "all", "--dask", lc.scheduler_address, "-q", "-o", str(j), "-o", str(jl))
    assert p.returncode == 0, p.stderr
    doc = json.loads(j.read_text())
    assert doc["status"] == "complete" and doc["options"]["executor"] == "dask"
    assert doc["options"]["scheduler"] == lc.scheduler_address
    assert [x["port"] for x in doc["ports"]] == t["open_ports"]
    assert _nonzero(doc["counts"]) == {"open": 40, "closed": 65495}
    assert sorted(json.loads(x)["port"] for x in jl.read_text().splitlines()) == t["open_ports"]


def test_saved_to_the_store_shard_by_shard(truth: dict[str, Any], client: Any, tmp_path: Path) -> None:
    """``save=``: recorded when the scan starts, each merged shard written, the merge at the end; a
    scan left early stays "incomplete" with the shards merged until then, as a local one does."""
    from portlens import store

    t = truth["open"]
    db = str(tmp_path / "history.db")
    with store.open(db) as st:
        r = portlens.scan(t["v4"], ports="all", executor=client, shard_probes=16384, save=st, profile="lab")
        done = st.latest("lab")
        assert done is not None and done.status == "complete" and done.open_ports == 40
        back = st.load(done.id)
        assert [(p.host, p.port, p.state) for p in back.ports] == [(p.host, p.port, p.state) for p in r.ports]
        assert _nonzero(back.counts) == _nonzero(r.counts) == {"open": 40, "closed": 65535 - 40}
        assert back.options["executor"] == "dask" and back.options["shards"] == 4

        with pd.start(t["v4"], ports="all", executor=client, shard_probes=8192, save=st, profile="lab") as s:
            seen = [next(s) for _ in range(3)]  # at least one shard merged
            scan_id = s.saved_id
            merged = s.found
        assert scan_id is not None and scan_id != done.id
        assert st.scan(scan_id).status == "incomplete"
        partial = st.load(scan_id)
        assert {p.port for p in seen} <= {p.port for p in merged} == {p.port for p in partial.ports}
        assert {p.port for p in partial.ports} < set(t["open_ports"])
        assert st.latest("lab") == st.scan(done.id)
    # the CLI: --save with --dask goes the same way
    lc_address = client.scheduler.address
    p = run_cli("scan", t["v4"], "-p", "1-2000", "--dask", lc_address, "-q", "--save", "--db", db)
    assert p.returncode == 0, p.stderr
    with store.open(db) as st:
        last = st.scans()[-1]
        assert last.status == "complete" and last.open_ports == len([x for x in t["open_ports"] if x <= 2000])


def test_portlens_works_without_dask(truth: dict[str, Any]) -> None:
    """``import portlens`` (and portlens.distributed) never import Dask; asking for it says how to get it."""
    code = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class NoDask(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dask", "distributed"):
                    raise ImportError("no module named " + name)

        sys.meta_path.insert(0, NoDask())
        import portlens, portlens.distributed, portlens.cli
        assert not any(m.split(".")[0] in ("dask", "distributed") for m in sys.modules)
        r = portlens.scan({truth["open"]["v4"]!r}, ports="1-1000")
        assert r.status == "complete", r
        try:
            portlens.scan({truth["open"]["v4"]!r}, ports="80", executor=object())
        except portlens.OptionError as e:
            assert "pip install 'portlens[dask]'" in str(e), e
        else:
            raise AssertionError("no OptionError")
        sys.exit(portlens.cli.main(["scan", {truth["open"]["v4"]!r}, "-p", "80", "--dask", "tcp://127.0.0.1:1"]))
        """
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    assert "portlens[dask]" in p.stderr
