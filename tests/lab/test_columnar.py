"""A real scan's results are columns (`PortColumns`, `HostColumns`): every port of the lab's open host
kept (65,535 rows), read back through each view and round trip (JSON, the store, Arrow, pandas)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa

import portlens
from portlens.results import ARROW_COLUMNS, HostColumns, PortColumns, PortResult


def test_a_scan_keeping_every_state_is_columns_equal_to_its_rows(truth: dict[str, Any], tmp_path: Path) -> None:
    host, opened = truth["open"]["v4"], truth["open"]["open_ports"]
    tracemalloc.start()
    try:
        r = portlens.scan(host, ports="all", keep=["open", "closed", "filtered"])
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert isinstance(r.ports, PortColumns) and isinstance(r.hosts, HostColumns)
    assert len(r.ports) == 65535 and r.counts["closed"] == 65535 - len(opened)
    # what the result holds in Python: the columns, not 65,535 objects (~170 bytes each with their rtt)
    assert held < 65535 * 60, held
    rows = list(r.ports)
    assert [p.port for p in rows] == list(range(1, 65536)) and all(isinstance(p, PortResult) for p in rows)
    assert [p.port for p in r.open_ports()] == opened == r.hosts[0].open_ports
    assert r.hosts[0].ports == r.ports and r.host(host) == r.hosts[0] and r.hosts_up == 1

    # Arrow: the schema, and every column equal to the per-row view
    table = r.to_arrow()
    assert table.schema == pa.schema([(n, getattr(pa, k)()) for n, k in ARROW_COLUMNS]) and table.num_rows == 65535
    for name in ("host", "hostname", "port", "protocol", "state", "reason", "rtt", "attempts"):
        assert table.column(name).to_pylist() == [getattr(p, name) for p in rows], name
    back = [
        PortResult.from_dict({k: v for k, v in row.items() if k in PortResult.__slots__}) for row in table.to_pylist()
    ]
    assert back == rows
    df = r.to_pandas()
    assert list(df["port"]) == [p.port for p in rows] and list(df["state"]) == [p.state for p in rows]

    # JSON and the store give the same result back
    loaded = portlens.load(r.to_json(str(tmp_path / "scan.json")) and tmp_path / "scan.json")
    assert isinstance(loaded, portlens.ScanResult) and loaded == r and isinstance(loaded.ports, PortColumns)
    with portlens.store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        stored = store.load(store.save(r))
    assert stored.ports == r.ports and stored.counts == r.counts


def test_the_default_keeps_only_open_ports_and_streams_rows(truth: dict[str, Any], tmp_path: Path) -> None:
    host, opened = truth["open"]["v4"], truth["open"]["open_ports"]
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with portlens.start(host, ports="all", save=url) as s:
        streamed = list(s)
        r = s.result()
    assert sorted(p.port for p in streamed) == opened and s.found == streamed
    assert len(r.ports) == len(opened) and r.counts["closed"] == 65535 - len(opened)  # counted, not kept
    with portlens.store.open(url) as store:
        saved = store.load(s.saved_id or 0)
    assert saved.ports == r.ports and saved.status == "complete"
