"""Columnar port and host results (`PortColumns`, `HostColumns`): equal to the per-row view, sorted
as `port_key` sorts, round trips (pickle, JSON, the store, Arrow, pandas, polars), and memory."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import portlens
from portlens.results import (
    ARROW_COLUMNS,
    HOST_STATS,
    HostColumns,
    PortColumns,
    PortResult,
    PortTable,
    ScanResult,
    build_result,
    merge,
    port_key,
)

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
SERVICE = {"name": "ssh", "product": "OpenSSH", "version": "9.2p1", "cpe": ["cpe:/a:openbsd:openssh:9.2p1"]}


def rows() -> list[PortResult]:
    """Results in arrival order (not sorted), IPv6 and IPv4, both protocols, a service, no-answer rows."""
    return [
        PortResult("2001:db8::5", 443, "tcp", "open", "syn-ack", 0.002, 1, None),
        PortResult("198.18.1.10", 80, "tcp", "open", "syn-ack", 0.0011, 1, "web.lab"),
        PortResult("198.18.1.9", 22, "tcp", "open", "syn-ack", 0.0005, 2, None, SERVICE),
        PortResult("198.18.1.10", 22, "tcp", "closed", "conn-refused", 0.0007, 1, "web.lab"),
        PortResult("198.18.1.10", 53, "udp", "open|filtered", "no-response", None, 3, "web.lab"),
        PortResult("198.18.1.10", 53, "tcp", "filtered", "no-response", None, 3, "web.lab"),
        PortResult("198.18.1.9", 8080, "tcp", "open", "syn-ack-reset", 0.25, 1, None),
    ]


def stats(probes: int) -> tuple[Any, ...]:
    return (probes, 1, 0, 4, 1, 0.25, None, 0, 0)


def summary(hosts: list[tuple[Any, ...]]) -> dict[str, Any]:
    """What the engine's `summary()` hands over (`_core._Summary`)."""
    return {
        "status": "complete",
        "hosts_total": 4,
        "ports_per_host": 4,
        "hosts": hosts,
        "counts": {"open": 4, "closed": 1, "filtered": 1, "open|filtered": 1},
        "hosts_down": 1,
        "progress": {"done": 16, "total": 16},
        "fd_limit": 1024,
        "max_concurrency": 1000,
        "scan_rate": None,
        "scan_rate_cuts": 0,
        "warnings": [],
    }


def scan_result() -> ScanResult:
    hosts = [
        ("198.18.1.10", "web.lab", "up", "syn-ack", (1, 1, 1, 1), 0.001, stats(4000)),
        ("198.18.1.11", None, "down", "no-response", (0, 0, 0, 0), None, None),
        ("2001:db8::5", None, "up", "echo-reply", (1, 0, 0, 0), 0.002, stats(3)),
        ("198.18.1.9", None, "up", "syn-ack", (2, 0, 0, 0), None, stats(70000)),
    ]
    return build_result(PortColumns.of(rows()), summary(hosts), {"ports": "22,53,80"}, T0, T0 + timedelta(seconds=3))


def test_columns_equal_the_rows_they_were_made_of() -> None:
    ports = PortColumns.of(rows())
    assert len(ports) == 7 and list(ports) == rows() and ports == tuple(rows()) and tuple(rows()) == ports
    assert ports[2].service == SERVICE and ports[4].rtt is None and ports[-1] == rows()[-1]
    assert ports[1:3] == tuple(rows()[1:3]) and ports[::-1] == tuple(reversed(rows()))
    assert rows()[3] in ports and ports.index(rows()[5]) == 5
    assert ports != tuple(rows()[:-1]) and ports != tuple(rows()[:-1]) + (rows()[0],)
    with pytest.raises(AttributeError):  # a built row is as frozen as any PortResult
        ports[0].port = 1  # type: ignore[misc]


def test_sorted_is_port_key_order_and_hosts_are_windows() -> None:
    ports = PortColumns.of(rows()).sorted()
    assert list(ports) == sorted(rows(), key=port_key)
    grouped = ports.by_host()
    assert list(grouped) == ["198.18.1.9", "198.18.1.10", "2001:db8::5"]
    assert all(isinstance(g, PortColumns) for g in grouped.values())
    assert grouped["198.18.1.10"] == tuple(p for p in sorted(rows(), key=port_key) if p.host == "198.18.1.10")
    # rows of one host that are not together (a hand-written file) are grouped as tuples
    apart = PortColumns.of([rows()[1], rows()[0], rows()[3]]).by_host()
    assert apart["198.18.1.10"] == (rows()[1], rows()[3]) and isinstance(apart["198.18.1.10"], tuple)


def test_index_out_of_range_of_a_huge_result_raises_index_error() -> None:
    t = PortTable()
    for i in range(300_000):
        t.append(
            f"198.18.{i >> 16}.{(i >> 8) & 255}", i & 0xFFFF, "tcp", "closed", "conn-refused", 0.001, 1, None, None
        )
    ports = PortColumns(t)
    assert len(ports) == 300_000 and ports[-1].port == 299_999 & 0xFFFF and ports[299_999] == ports[-1]
    for bad in (300_000, -300_001, 10**12, -(10**12)):
        with pytest.raises(IndexError, match="out of range"):
            ports[bad]
    with pytest.raises(TypeError):
        ports["1"]  # type: ignore[call-overload]
    window = ports.window(10, 20)
    with pytest.raises(IndexError):
        window[10]
    assert window[-1] == ports[19]


def test_memory_per_row_is_bytes_not_objects() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        t = PortTable()
        for i in range(200_000):
            t.append(f"198.18.{i >> 8 & 255}.{i & 255}", 80, "tcp", "open", "syn-ack", 0.001 * (i % 7), 1, None, None)
        per_row = (tracemalloc.get_traced_memory()[0] - before) / len(t)
    finally:
        tracemalloc.stop()
    # the columns (26 bytes) and one address string per host (here one host a row): a PortResult with
    # its rtt float alone was ~130 bytes
    assert per_row < 110, per_row
    assert len(t.hosts) == 65_536 and len(t.words) == 3


def test_order_is_stable_for_equal_keys_and_any_size_of_key() -> None:
    from array import array

    from portlens.results import _order

    keys = [5, 3, 5, 0, 3, 2**140 + 1, 5, 2**140]  # ties, and keys wider than 64 bits (host order)
    assert list(_order(keys, len(keys))) == sorted(range(len(keys)), key=keys.__getitem__)
    assert list(_order(array("Q", [2**64 - 1, 0, 2**64 - 1]), 3)) == [1, 0, 2]
    assert list(_order([], 0)) == [] and list(_order([7], 1)) == [0]


END_OF_A_16 = """
import sys
from datetime import datetime, timezone
from portlens.results import PortColumns, PortTable, build_result

def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024

t, strings = PortTable(), {}
for i in range(131_072):
    h = (i * 40_503) % 65_536  # arrival order: a permutation of the hosts, as the engine sends results
    a = strings.setdefault(f"198.19.{h >> 8}.{h & 255}", f"198.19.{h >> 8}.{h & 255}")
    t.append(a, 80 if i < 65_536 else 443, "tcp", "open", "syn-ack", 0.001, 1, None, None)
hosts = [(a, None, "up", "syn-ack", (2, 98, 0, 0), 0.001, (100, 0, 0, 100, 0, 0.0, None, 0, 0)) for a in strings]
summary = {"status": "complete", "hosts_total": 65536, "ports_per_host": 100, "hosts": hosts, "counts": {},
           "hosts_down": 0, "progress": {}, "fd_limit": 1, "max_concurrency": 1, "scan_rate": None,
           "scan_rate_cuts": 0, "warnings": []}
now = datetime.now(timezone.utc)
before = hwm()
r = build_result(PortColumns(t), summary, {}, now, now)
assert r.ports[0].host == "198.19.0.0" and r.ports[1].port == 443 and len(r.hosts[0].ports) == 2
assert r.hosts[-1].address == "198.19.255.255"
print(hwm() - before, "numpy" in sys.modules)
"""


def test_building_a_16s_result_adds_little_to_the_peak() -> None:
    """The end of a /16 scan (65,536 hosts, two open ports each), when a scan's memory peaks: sorting
    its ports and hosts holds one integer a row, and imports nothing (numpy's import alone was 13 MB
    of the peak; the whole step added 49 MB to the high-water mark)."""
    env = {**os.environ, "PYTHONPATH": str(Path(portlens.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", END_OF_A_16], capture_output=True, text=True, env=env, check=True)
    grew, numpy = out.stdout.split()
    assert numpy == "False"
    assert float(grew) < 42, grew


def test_pickle_keeps_columns_and_windows() -> None:
    r = scan_result()
    back = pickle.loads(pickle.dumps(r))
    assert back == r and isinstance(back.ports, PortColumns) and back.ports == r.ports
    window = r.ports.window(1, 3)  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(window)) == window
    t = pickle.loads(pickle.dumps(PortColumns.of(rows())))._c
    t.append("198.18.1.9", 1, "tcp", "open", "syn-ack", None, 1, None, None)  # id maps were rebuilt
    assert len(t.hosts) == 3 and len(t.words) == 10


def test_build_result_hosts_are_columns_equal_to_host_results() -> None:
    r = scan_result()
    assert isinstance(r.ports, PortColumns) and isinstance(r.hosts, HostColumns)
    assert list(r.ports) == sorted(rows(), key=port_key)
    assert [h.address for h in r.hosts] == ["198.18.1.9", "198.18.1.10", "2001:db8::5", "198.18.1.11"]
    assert r.hosts_up == 3 and r.hosts_down == 1 and len(r.hosts) == 4
    web = r.host("198.18.1.10")
    assert web is not None and web == r.hosts[1] and r.host("198.18.1.99") is None
    assert web.hostname == "web.lab" and web.counts == {"open": 1, "closed": 1, "filtered": 1, "open|filtered": 1}
    assert web.stats == dict(zip(HOST_STATS, stats(4000), strict=True)) and web.rtt == 0.001
    assert web.ports == tuple(p for p in r.ports if p.host == "198.18.1.10") and web.open_ports == [80]
    down = r.hosts[-1]
    assert (down.state, down.reason, down.stats, down.rtt, down.ports) == ("down", "no-response", None, None, ())
    assert r.hosts[0].stats is not None and r.hosts[0].stats["probes"] == 70000 and r.hosts[0].rtt is None
    assert r.open_ports() == [p for p in r.ports if p.state == "open"]
    assert r.open_ports("198.18.1.9") == [p for p in r.ports if p.state == "open" and p.host == "198.18.1.9"]
    with pytest.raises(IndexError):
        r.hosts[4]


def test_json_round_trip(tmp_path: Path) -> None:
    r = scan_result()
    path = tmp_path / "scan.json"
    r.to_json(str(path))
    back = portlens.load(path)
    assert isinstance(back, ScanResult) and isinstance(back.ports, PortColumns)
    assert back == r and back.ports == r.ports and back.hosts == r.hosts
    assert ScanResult.from_dict(r.to_dict()) == r


def test_store_round_trip(tmp_path: Path) -> None:
    r = scan_result()
    with portlens.store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        back = store.load(store.save(r))
    assert back.ports == r.ports and back.counts == r.counts
    assert {h.address: h.counts for h in back.hosts} == {h.address: h.counts for h in r.hosts}


def test_merge_of_columns_equals_merge_of_tuples() -> None:
    r = scan_result()
    tuples = ScanResult(**{**r.__dict__, "ports": tuple(r.ports), "hosts": tuple(r.hosts)})
    assert tuples == r and r == tuples
    assert merge([r, r]) == merge([tuples, tuples])
    assert list(merge([r]).ports) == list(r.ports) and isinstance(merge([r]).ports, PortColumns)


def test_to_arrow_schema_and_values() -> None:
    r = scan_result()
    table = r.to_arrow()
    assert table.schema == pa.schema([(n, getattr(pa, k)()) for n, k in ARROW_COLUMNS])
    assert table.num_rows == len(r.ports)
    got = table.to_pylist()
    for row, p in zip(got, r.ports, strict=True):
        svc = p.service or {}
        assert (row["host"], row["hostname"], row["port"], row["protocol"]) == (p.host, p.hostname, p.port, p.protocol)
        assert (row["state"], row["reason"], row["rtt"], row["attempts"]) == (p.state, p.reason, p.rtt, p.attempts)
        assert (row["service"], row["product"], row["version"]) == (
            svc.get("name"),
            svc.get("product"),
            svc.get("version"),
        )
    assert got[0]["cpe"] == "cpe:/a:openbsd:openssh:9.2p1" and got[1]["cpe"] is None
    # a host's window, and a tuple of results, give the same rows
    web = r.host("198.18.1.10")
    assert web is not None and PortColumns.of(web.ports).to_arrow().to_pylist() == [
        x for x in got if x["host"] == web.address
    ]
    assert PortColumns.of(tuple(r.ports)).to_arrow() == table


def test_to_arrow_of_an_empty_result() -> None:
    r = build_result(PortColumns(), summary([]), {}, T0, T0)
    table = r.to_arrow()
    assert table.num_rows == 0 and table.column_names == [n for n, _ in ARROW_COLUMNS]
    assert len(r.to_pandas()) == 0 and r.to_polars().height == 0 and r.open_ports() == [] and list(r.hosts) == []


def test_to_arrow_refuses_ports_arrow_cannot_hold() -> None:
    odd = PortColumns.of([PortResult("198.18.1.9", 70_000, "tcp", "open", "syn-ack")])
    with pytest.raises(ValueError, match="uint16"):
        odd.to_arrow()


def test_pandas_and_polars_frames_equal_the_rows() -> None:
    r = scan_result()
    df = r.to_pandas()
    assert len(df) == len(r.ports) and str(df["port"].dtype) == "Int64"
    assert list(df["host"]) == [p.host for p in r.ports] and list(df["port"]) == [p.port for p in r.ports]
    rtts = list(df["rtt"])
    assert all((a != a and b is None) or a == b for a, b in zip(rtts, (p.rtt for p in r.ports), strict=True))
    assert list(df["state"]) == [p.state for p in r.ports] and df["product"].iloc[0] == "OpenSSH"
    pl = r.to_polars()
    assert pl.height == len(r.ports) and pl["reason"].to_list() == [p.reason for p in r.ports]
    assert pl["rtt"].to_list() == [p.rtt for p in r.ports]


def test_without_pyarrow_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    r = scan_result()
    for name in ("pyarrow", "pyarrow.compute"):
        monkeypatch.setitem(sys.modules, name, None)  # what an environment without pyarrow imports
    with pytest.raises(ImportError, match=r"pip install 'portlens\[arrow\]'"):
        r.to_arrow()
    with pytest.raises(ImportError, match=r"pip install 'portlens\[pandas\]'"):
        r.to_pandas()
    with pytest.raises(ImportError, match=r"pip install 'portlens\[polars\]'"):
        r.to_polars()
    assert len(r.ports) == 7 and r.open_ports()  # the rest of the result needs no pyarrow
