"""Planning a Dask scan (`portlens.distributed.plan`): client side, nothing sent, no Dask and no lab
needed (the addresses are the lab's, but nothing is sent to them)."""

from __future__ import annotations

import subprocess
import sys

import portlens
import portlens.distributed as pd

OPEN_V4, OPEN_V6 = "198.18.1.2", "2001:db8:1::2"


def test_plan_covers_every_probe_exactly_once() -> None:
    """The shard plan (client side, nothing sent): sizes, split limits and exact coverage."""
    targets = [OPEN_V4, "198.19.0.0/23", OPEN_V6]
    p = pd.plan(targets, "1-1000", exclude=["198.19.1.0/26"], slots=4, shard_probes=3000, rate=400.0, max_per_host=8)
    assert p.hosts == 1 + 512 - 64 + 1 and p.probes == p.hosts * 1000
    assert p.options["rate"] == 100.0  # 400/s over 4 slots
    assert "exclude" not in p.options  # applied once, here
    assert p.options["discovery"] is True  # decided on the whole target set, even for 1-address shards
    assert p.hosts_per_shard == 3 and len(p.port_chunks) == 1  # 1000 ports a range, 3000 // 1000 hosts
    seen: set[tuple[str, int]] = set()
    n = 0
    for shard in p:
        probes = {
            (str(addr), port)
            for item in shard["targets"]
            for addr in _expand(item)
            for port in portlens.parse_ports(shard["ports"])
        }
        assert len(probes) == shard["probes"] <= p.shard_probes
        assert not probes & seen
        seen |= probes
        n += 1
    assert n == p.shards and len(seen) == p.probes

    # one host, many ports: port ranges, and the per-host cap shared by the ranges that may run at once
    q = pd.plan(OPEN_V4, "all", slots=2, max_per_host=8)
    assert len(q.port_chunks) == 1 and q.options["max_per_host"] == 8  # 65535 ports fit in one shard
    assert q.options["discovery"] is False  # one address: no discovery, as locally
    q = pd.plan(OPEN_V4, "all", slots=2, shard_probes=10000, max_per_host=8)
    assert len(q.port_chunks) == 7 and q.options["max_per_host"] == 4
    assert sorted(x for c in q.port_chunks for x in portlens.parse_ports(c.spec)) == list(range(1, 65536))
    # TCP and UDP: each protocol's list in its own ranges, the shards say which protocol
    b = pd.plan(OPEN_V4, "T:1-100,U:53,U:161", protocol="both", slots=2, shard_probes=60)
    assert [(c.protocol, c.spec) for c in b.port_chunks] == [("tcp", "1-50"), ("tcp", "51-100"), ("udp", "53,161")]
    assert b.ports_per_host == 102 and [sh["options"]["protocol"] for sh in b] == ["tcp", "tcp", "udp"]
    # a rate limit shrinks shards to about 30 s of work at the shard's share
    assert pd.plan(OPEN_V4, "all", slots=2, rate=100.0).shard_probes == 1500
    # ... and to a slot's part of the scan, so that every slot gets a share of the rate
    r = pd.plan(OPEN_V4, "1-8000", slots=2, rate=2000.0)
    assert (r.shards, r.shard_probes, r.options["rate"]) == (2, 4000, 1000.0)
    # fewer shards than slots: they share the rate among themselves, the total is still the one asked
    one = pd.plan(OPEN_V4, "1-100", slots=4, rate=400.0)
    assert (one.shards, one.options["rate"]) == (1, 400.0)


def _expand(item: str) -> list[str]:
    import ipaddress

    if "-" not in item:
        return [item]
    a, b = (ipaddress.ip_address(x) for x in item.split("-"))
    return [str(ipaddress.ip_address(i)) for i in range(int(a), int(b) + 1)]


def test_planning_imports_no_dask() -> None:
    """A plan is made without Dask: only running it (`portlens.distributed.start`) needs a cluster."""
    code = (
        "import sys, portlens.distributed as pd\n"
        "p = pd.plan('198.18.1.0/24', '1-100', slots=4, shard_probes=1000)\n"
        "assert p.shards == 26 and not {'dask', 'distributed'} & set(sys.modules), sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
