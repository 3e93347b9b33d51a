"""Columnar results (`PortColumns`, `HostColumns`) fed what hostile servers and hostile files put in
them: banners with NUL and control bytes, lone surrogates (a JSON document may carry ``"\\udcff"``,
which Python keeps but UTF-8 cannot encode), HTML, a megabyte banner; through Arrow, pandas, polars,
JSON and the store and back. And the sequence protocol at its edges: indices, slices, windows,
pickling, nothing at all, and every port of one host."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from pathlib import Path

import pytest

import portlens
from portlens.results import PortColumns, PortResult, ScanResult, build_result, utf8_text
from tests.unit.test_columnar import T0, summary

BANNERS = {
    "nul": "SSH-2.0-x\x00\x00y",
    "control": "\x1b[31mred\r\n\x07",
    "surrogates": "x\udcff\ud800y",
    "script": "<script>alert(1)</script>",
    "megabyte": "A" * (1 << 20),
}
HOST = "198.18.1.2"


def hostile() -> ScanResult:
    ports = [
        PortResult(HOST, 1000 + i, "tcp", "open", "syn-ack", 0.001, 1, None, {"name": "x", "banner": b, "product": b})
        for i, b in enumerate(BANNERS.values())
    ]
    ports.append(PortResult(HOST, 1, "tcp", "open", "syn-ack", None, 1, "name\x00\udcff<b>", None))
    hosts = [(HOST, "name\x00\udcff<b>", "up", "syn-ack", (len(ports), 0, 0, 0), 0.001, None)]
    return build_result(PortColumns.of(ports), summary(hosts), {"targets": [HOST]}, T0, T0 + timedelta(seconds=1))


def banners(r: ScanResult) -> dict[int, str]:
    return {p.port: p.service["banner"] for p in r.ports if p.service}


def test_utf8_text_replaces_lone_surrogates_only() -> None:
    assert utf8_text("x\udcff\ud800y") == "x\ufffd\ufffdy"
    assert utf8_text("\U0001f600 \x00 <b>") == "\U0001f600 \x00 <b>"  # a real pair, NUL and HTML stay


@pytest.mark.parametrize("to", ["to_arrow", "to_pandas", "to_polars"])
def test_hostile_banners_reach_dataframes_as_text(to: str) -> None:
    """Before: a lone surrogate raised UnicodeEncodeError from Arrow, so no frame could be made."""
    r = hostile()
    frame = getattr(r, to)()
    table = r.to_arrow()
    assert (frame.num_rows if to == "to_arrow" else frame.shape[0]) == len(r.ports)
    got = dict(zip(table.column("port").to_pylist(), table.column("banner").to_pylist(), strict=True))
    want = {port: utf8_text(b) for port, b in banners(r).items()}
    assert {k: v for k, v in got.items() if v is not None} == want
    assert want[1000] == BANNERS["nul"] and len(want[1004]) == 1 << 20  # NUL kept, nothing cut
    assert got[1002] == "x\ufffd\ufffdy"
    assert set(table.column("hostname").to_pylist()) - {None} == {"name\x00\ufffd<b>"}


def test_hostile_banners_round_trip_through_json(tmp_path: Path) -> None:
    r = hostile()
    path = tmp_path / "scan.json"
    r.to_json(path)
    back = portlens.load(path)
    assert isinstance(back, ScanResult)
    assert banners(back) == banners(r)  # JSON escapes them: exactly what was found
    doc = json.loads(path.read_text(encoding="utf-8"))  # valid JSON: the surrogates are escapes
    assert {p["service"]["banner"] for p in doc["ports"] if p.get("service")} == set(BANNERS.values())
    assert back.to_arrow().num_rows == len(r.ports)


def test_hostile_banners_round_trip_through_the_store(tmp_path: Path) -> None:
    """Before: saving a result with a lone surrogate in a hostname raised UnicodeEncodeError from
    SQLite (an untyped error, and nothing saved)."""
    r = hostile()
    with portlens.store.open(tmp_path / "h.db") as store:
        scan_id = store.save(r)
        back = store.load(scan_id)
    assert banners(back) == banners(r)  # the service record is JSON: escaped, kept exactly
    assert {p.hostname for p in back.ports if p.hostname} == {"name\x00\ufffd<b>"}
    assert [p.port for p in back.ports] == [p.port for p in r.ports]
    assert back.hosts[0].hostname == "name\x00\ufffd<b>"


def test_indices_slices_and_windows() -> None:
    r = hostile()
    ports, n = r.ports, len(r.ports)
    assert isinstance(ports, PortColumns)
    rows = tuple(ports)
    assert ports[-1] == rows[-1] and ports[-n] == rows[0]
    for bad in (n, -n - 1, 2**70, -(2**70)):
        with pytest.raises(IndexError):
            ports[bad]
    for bad in (1.0, "0", None):
        with pytest.raises(TypeError):
            ports[bad]  # type: ignore[index]
    for s in (slice(None, None, -1), slice(2**70, None), slice(-(2**70), 2**70, 3), slice(1, -1)):
        assert ports[s] == rows[s]
    with pytest.raises(ValueError):
        ports[::0]
    # a window must lie within: before, window(-3, 2) read rows from before the start (another
    # host's, in a host's window) and window(5, 2) broke len()
    host = ports.window(1, 4)
    assert tuple(host) == rows[1:4]
    for start, stop in ((-3, 2), (5, 2), (0, n + 1), (2, 1)):
        with pytest.raises(IndexError):
            ports.window(start, stop)
    with pytest.raises(IndexError):
        host.window(0, 4)  # within the columns, not within this window
    assert pickle.loads(pickle.dumps(host)) == host
    assert pickle.loads(pickle.dumps(r)) == r
    assert pickle.loads(pickle.dumps(r.hosts))[0].ports == r.hosts[0].ports
    hosts = r.hosts
    with pytest.raises(IndexError):
        hosts[len(hosts)]
    assert hosts[-1] == tuple(hosts)[-1]


def test_an_empty_result_everywhere(tmp_path: Path) -> None:
    r = build_result(PortColumns(), summary([]), {"targets": [HOST]}, T0, T0)
    assert r.to_arrow().num_rows == 0 and r.to_pandas().shape == (0, 13) and r.to_polars().shape == (0, 13)
    r.to_json(tmp_path / "e.json")
    back = portlens.load(tmp_path / "e.json")
    assert isinstance(back, ScanResult) and len(back.ports) == 0 and not back.ports
    assert pickle.loads(pickle.dumps(r)) == r
    with portlens.store.open(tmp_path / "e.db") as store:
        assert len(store.load(store.save(r)).ports) == 0


def test_every_port_of_one_host(tmp_path: Path) -> None:
    """65,535 rows of one host: one window, Arrow without a row object, the store, pickling."""
    ports = [PortResult(HOST, p, "tcp", "open", "syn-ack", 0.001, 1) for p in range(65535, 0, -1)]
    hosts = [(HOST, None, "up", "syn-ack", (65535, 0, 0, 0), 0.001, None)]
    r = build_result(PortColumns.of(ports), summary(hosts), {"targets": [HOST]}, T0, T0)
    assert [p.port for p in r.ports[:3]] == [1, 2, 3] and r.ports[-1].port == 65535
    (host,) = r.hosts
    assert len(host.ports) == 65535 and host.ports[-1] == r.ports[-1]
    table = r.to_arrow()
    assert table.num_rows == 65535 and table.column("port").to_pylist() == list(range(1, 65536))
    assert r.to_polars().shape == (65535, 13)
    assert pickle.loads(pickle.dumps(r)).ports == r.ports
    with portlens.store.open(tmp_path / "all.db") as store:
        back = store.load(store.save(r))
    assert len(back.ports) == 65535 and back.ports[0].port == 1


def test_values_arrow_cannot_hold_are_a_clear_error() -> None:
    """A port or attempts count out of Arrow's types (a hand-made or loaded result) is a ValueError
    that says which, not an Arrow internal error."""
    for p in (
        PortResult(HOST, 70000, "tcp", "open", "x", None, 1),
        PortResult(HOST, 1, "tcp", "open", "x", None, 300),
        PortResult(HOST, 1, "tcp", "open", "x", None, -1),
    ):
        with pytest.raises(ValueError, match="does not fit"):
            PortColumns.of([p]).to_arrow()
