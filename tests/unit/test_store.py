"""The history store on SQLite (tests/lab/test_store_postgres.py runs these same tests on PostgreSQL).

PostgreSQL: a throw-away cluster (Debian's ``postgresql`` package) made with ``initdb`` and run with
``pg_ctl`` as the ``postgres`` user in a temporary folder, listening on a unix socket in that folder
only (no TCP), started once for the session and stopped at its end; each test gets a new database.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import portlens
from portlens.results import PortResult
from portlens.store import schema
from portlens.store.migrations import LATEST
from tests.factories import T0, op, result, run_cli


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite store."""
    return str(tmp_path / "history.db")


POLICY = """
[[rule]]
id = "demo-admin"
title = "Demo admin console"
severity = "high"
services = ["demo-admin"]
ports = ["81/tcp"]
rationale = "an admin console"
remediation = ["close: close it"]
source = "test"

[[rule.escalate]]
check = "demo-weak"
severity = "critical"
"""


# -- tests ---
def test_migrations_build_the_schema_the_code_uses(store_url: str) -> None:
    """A fresh store migrates to LATEST with exactly the tables and columns of `schema`; opening it
    again (also from several threads at once) applies nothing twice; a newer schema is refused."""
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            portlens.store.open(store_url).close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with portlens.store.open(store_url) as store:
        insp = sa.inspect(store.engine)
        for table in schema.metadata.sorted_tables:
            assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.schema_table.c.version)).scalars().all()
        assert rows == list(range(1, LATEST + 1))
        with store.engine.begin() as conn:
            conn.execute(sa.insert(schema.schema_table).values(version=99, description="future", applied=T0))
    with pytest.raises(portlens.store.StoreError, match="newer than this portlens"):
        portlens.store.open(store_url)


def test_save_load_roundtrip_and_history(store_url: str, tmp_path: Path) -> None:
    with portlens.store.open(store_url) as store:
        a = result([op("198.18.9.1", 22, name="ssh", product="OpenSSH"), op("198.18.9.2", 80)], T0)
        sid = store.save(a, profile="office")
        back = store.load(sid)
        assert back.ports == a.ports and back.status == "complete" and back.counts == a.counts
        assert back.started == a.started and back.options["targets"] == ["198.18.9.0/24"]
        info = store.scan(sid)
        assert (info.status, info.open_ports, info.profile, info.targets) == (
            "complete",
            2,
            "office",
            ("198.18.9.0/24",),
        )
        policy = tmp_path / "policy.toml"
        policy.write_text(POLICY)
        store.add_profile("office", ["198.18.9.0/24"], "1-100", policy=policy)
        b = result([op("198.18.9.1", 22), op("198.18.9.2", 80), op("198.18.9.3", 81)], T0 + timedelta(days=7))
        assessment = portlens.assess(b, policy=policy)
        store.save(b, profile="office", assessment=assessment)
        points = store.history("office")
        assert [p["open_ports"] for p in points] == [2, 3]
        assert points[1]["findings"] == len(assessment.findings) and points[1]["by_severity"]["high"] == 1
        assert points[0]["started"] == T0.isoformat() and points[0]["status"] == "complete"
        assert json.loads(json.dumps(points)) == points  # ready for a chart in the HTML report
        assert store.latest("office") is not None and store.latest("office").open_ports == 3  # type: ignore[union-attr]


def test_drift_services_and_severity_changes(store_url: str, tmp_path: Path) -> None:
    """Service fields and finding severities (same policy, a check that turns vulnerable) between two
    saved scans; a hostname and a product with markup come out as text in HTML and Markdown."""
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    evil = "<script>alert(1)</script>"
    tls_a = {"subject": "CN=old.example", "not_after": "2025-01-01T00:00:00Z"}
    tls_b = {"subject": "CN=new.example", "not_after": "2026-01-01T00:00:00Z"}
    a = [
        op("198.18.9.1", 443, name="https", product="nginx", version="1.22", tls=tls_a),
        op("198.18.9.3", 81, name="demo-admin", checks=[{"id": "demo-weak", "outcome": "ok"}]),
    ]
    b = [
        PortResult(
            "198.18.9.1",
            443,
            "tcp",
            "open",
            "syn-ack",
            0.001,
            1,
            evil,
            {"name": "https", "product": evil, "version": "1.22", "tls": tls_b},
        ),
        op("198.18.9.3", 81, name="demo-admin", checks=[{"id": "demo-weak", "outcome": "vulnerable"}]),
    ]
    with portlens.store.open(store_url) as store:
        store.add_profile("dmz", ["198.18.9.0/24"], "1-100", policy=policy)
        ia = store.save(result(a, T0), profile="dmz")
        ib = store.save(result(b, T0 + timedelta(days=7)), profile="dmz")
        drift = store.diff(ia, ib)
    d = drift.to_dict()
    assert d["schema"] == "portlens.drift/1" and d["a"]["id"] == ia and d["b"]["id"] == ib
    assert d["ports"] == {"opened": [], "closed": []}
    assert d["services"]["changed"] == [
        {"host": "198.18.9.1", "port": 443, "protocol": "tcp", "field": "product", "before": "nginx", "after": evil},
        {
            "host": "198.18.9.1",
            "port": 443,
            "protocol": "tcp",
            "field": "tls.not_after",
            "before": tls_a["not_after"],
            "after": tls_b["not_after"],
        },
        {
            "host": "198.18.9.1",
            "port": 443,
            "protocol": "tcp",
            "field": "tls.subject",
            "before": "CN=old.example",
            "after": "CN=new.example",
        },
    ]
    rule_id = portlens.policy.finding_id("demo-admin", "198.18.9.3", 81, "tcp")
    assert d["findings"]["severity_changed"] == [
        {
            "id": rule_id,
            "title": "Demo admin console",
            "host": "198.18.9.3",
            "port": 81,
            "before": "high",
            "after": "critical",
        }
    ]
    assert drift.alerts("critical") == [rule_id]  # raised past the bar
    assert drift.alerts("high") == []  # it was at or above high already
    page, md = drift.to_html(), drift.to_markdown()
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in md and "&lt;script&gt;" in md
    assert "\\x1b" in render_text_with_escape(drift)


def render_text_with_escape(drift: Any) -> str:
    """A banner with an ANSI escape must not reach the terminal raw."""
    from portlens.store.render import render

    d = drift.to_dict()
    d["services"]["changed"][0]["after"] = "\x1b[31mred"
    text = render(d, "text")
    assert "\x1b" not in text
    return text


def test_profiles_prune_and_cli(store_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    p = run_cli(
        "profile",
        "add",
        "office",
        "198.18.9.0/24",
        "-p",
        "1-100",
        "--rate",
        "500",
        "--policy",
        str(policy),
        "--db",
        store_url,
    )
    assert p.returncode == 0, p.stderr
    p = run_cli("profile", "add", "office", "198.18.9.0/24", "--db", store_url)
    assert p.returncode == 2 and "exists already" in p.stderr
    p = run_cli("profile", "list", "--json", "--db", store_url)
    (prof,) = json.loads(p.stdout)
    assert prof["targets"] == ["198.18.9.0/24"] and prof["ports"] == "1-100"
    assert prof["options"] == {"rate": 500.0} and prof["policy"] == str(policy)
    with portlens.store.open(store_url) as store:
        for week in range(5):
            store.save(result([op("198.18.9.1", 22)], T0 + timedelta(days=7 * week)), profile="office")
            store.save(result([op("198.18.9.1", 22)], T0 + timedelta(days=7 * week), targets=("198.18.8.1",)))
    p = run_cli("history", "--db", store_url, "--profile", "office")
    assert p.returncode == 0 and p.stdout.count("complete") == 5 and "198.18.9.0/24" in p.stdout
    p = run_cli("history", "prune", "--keep", "2", "--db", store_url)
    assert p.returncode == 0 and "pruned 6 scan(s)" in p.stdout, p.stdout
    with portlens.store.open(store_url) as store:
        kept = store.scans()
        assert len(kept) == 4
        assert [s.started for s in kept if s.profile == "office"] == [T0 + timedelta(days=21), T0 + timedelta(days=28)]
        with store.engine.connect() as conn:  # no orphans left
            orphans = conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.scan_ports)
                .where(schema.scan_ports.c.scan_id.not_in(sa.select(schema.scans.c.id)))
            ).scalar_one()
        assert orphans == 0
    p = run_cli("profile", "rm", "office", "--db", store_url)
    assert p.returncode == 0
    with portlens.store.open(store_url) as store:
        assert store.profiles() == [] and len(store.scans("office")) == 2  # its scans stay
    p = run_cli("diff", "--db", store_url, "--profile", "nope")
    assert p.returncode == 2 and "no complete scan" in p.stderr
