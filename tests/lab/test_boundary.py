"""The typed boundary between the engine and Python, on real scans of the lab: what `portlens._core`
returns has exactly the keys and value types `_core.pyi` documents (`mypy.stubtest` checks the
signatures, not the keys of the dicts the engine returns), and a service record crosses as a dict."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import portlens
from lab import Lab
from lab.services import SERVICES
from portlens import _core

STUB = ast.parse((Path(portlens.__file__).parent / "_core.pyi").read_text())
_TYPES = {"str": str, "int": int, "float": float, "None": type(None), "bool": bool}


def _typed_dict(name: str) -> dict[str, ast.expr]:
    """The keys of TypedDict ``name`` of `_core.pyi` and their annotations."""
    for node in STUB.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return {n.target.id: n.annotation for n in node.body if isinstance(n, ast.AnnAssign)}  # type: ignore[union-attr]
    raise AssertionError(f"{name} is not a class of _core.pyi")


def _alias(name: str) -> ast.expr | None:
    for node in STUB.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    return None


def _conforms(value: Any, ann: ast.expr) -> bool:
    """Whether ``value`` has the type the stub's annotation ``ann`` spells (the forms `_core.pyi` uses)."""
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):  # X | Y
        return _conforms(value, ann.left) or _conforms(value, ann.right)
    if isinstance(ann, ast.Constant) and ann.value is None:
        return value is None
    if isinstance(ann, ast.Name):
        if ann.id in _TYPES:
            # a bool is an int to Python, not to the stub
            return type(value) is _TYPES[ann.id] or (ann.id == "float" and type(value) is int)
        if ann.id == "Any":
            return True
        alias = _alias(ann.id)
        if alias is not None:
            return _conforms(value, alias)
        keys = _typed_dict(ann.id)
        return (
            isinstance(value, dict)
            and value.keys() == keys.keys()
            and all(_conforms(value[k], a) for k, a in keys.items())
        )
    if isinstance(ann, ast.Subscript) and isinstance(ann.value, ast.Name):
        args = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        if ann.value.id == "list":
            return isinstance(value, list) and all(_conforms(v, args[0]) for v in value)
        if ann.value.id == "dict":
            return isinstance(value, dict) and all(
                _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()
            )
        if ann.value.id == "tuple":
            return isinstance(value, tuple) and len(value) == len(args) and all(map(_conforms, value, args))
    raise AssertionError(f"_core.pyi: no check for the annotation {ast.unparse(ann)}")


def _scan(request: _core.ScanRequest) -> tuple[list[Any], list[Any], Any]:
    """Every row of a scan, the progress seen while it ran, and its summary."""
    scan = _core.start_scan(request)
    rows, progress = [], [scan.progress()]
    while (batch := scan.next_batch(0.2)) is not None:
        rows += batch
        progress.append(scan.progress())
    return rows, progress, scan.summary()


def test_rows_progress_summary_and_targets_have_the_stubs_shape(lab: Lab) -> None:
    o = lab.truth["open"]
    closed = next(p for p in range(1000, 1100) if p not in o["open_ports"])
    ports = ",".join(map(str, [*o["open_ports"], closed]))
    request = _core.ScanRequest([o["v4"]], ports, keep=["open", "closed"])
    rows, progress, summary = _scan(request)
    assert {(r["port"], r["state"]) for r in rows} == {*((p, "open") for p in o["open_ports"]), (closed, "closed")}
    row = ast.Name("_PortRow")
    assert all(_conforms(r, row) for r in rows), rows[:3]
    assert all(r["host"] == o["v4"] and r["protocol"] == "tcp" and r["service"] is None for r in rows)
    assert all(_conforms(p, ast.Name("_Progress")) for p in progress), progress
    assert _conforms(summary, ast.Name("_Summary")), summary
    assert summary["progress"]["done"] == summary["progress"]["total"] == len(rows)
    (host,) = summary["hosts"]
    assert host[0] == o["v4"] and host[2] == "up" and host[4][:2] == (len(o["open_ports"]), 1)
    resolved = request.resolve()
    assert _conforms(resolved, ast.Name("_Resolved")), resolved
    assert resolved["intervals"] == [(o["v4"], o["v4"], 1)] and resolved["total"] == 1


def test_a_service_record_crosses_as_a_dict_in_its_order(lab: Lab) -> None:
    """The record is built in Rust as the dict `json.loads` made of its JSON text before: same keys, in
    the record's order, numbers as ints and floats."""
    if "svc" not in lab.parts:
        lab.add_part("svc", ready_timeout=120.0)
    ssh = SERVICES["ssh-weak"]
    rows, _, _ = _scan(_core.ScanRequest([ssh["addr"]], str(ssh["port"]), services=True, service_timeout=8.0))
    (row,) = rows
    assert _conforms(row, ast.Name("_PortRow")), row
    service = row["service"]
    assert isinstance(service, dict) and service["name"] == "ssh", service
    assert list(service)[0] == "name"  # ServiceInfo's first field: the order of the record, not sorted keys
    assert isinstance(service["conf"], int) and not isinstance(service["conf"], bool)
    assert all(isinstance(c, dict) and isinstance(c["id"], str) for c in service.get("checks", []))
