"""Service identification and checks: portlens against ``nmap -sV`` plus scripts, side by side, on one lab, in one run.

    python -m bench.services [--out bench/services-results.md] [--nmap-timing 4] [--budget 8]

The lab's ``svc`` part (lab/services.py: real Debian servers, each weakness next to a hardened twin, stand-ins written
from the protocol specifications where Debian ships no server) is scanned on every port of its truth, on both hosts,
by two tools, each as its own process inside the lab's scanner namespace:

- portlens: ``portlens.scan([weak, hard], ports=..., services=True, service_timeout=BUDGET)``;
- nmap: ``nmap -sV -Pn -n -T4`` with the scripts that test the same weaknesses: ftp-anon, smb-protocols,
  smb2-security-mode, rdp-enum-encryption, ssl-cert, redis-info, vnc-info, ssh2-enum-algos.

Each tool's answer is judged against the truth: the service named right (nmap: a probed match, not its port-table
guess), the version where the truth knows it (the Debian package's upstream version), and for every check of the
truth whether the weakness was found on the weak member and not alarmed on the hardened twin. nmap's script output
is read with the same rules portlens applies (e.g. the weak SSH algorithm lists, notAfter in the past, subject equal
to issuer); a check none of the scripts covers is "n/c" for nmap. Not run by the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import Lab
from lab.services import HARD, SERVICES, WEAK

from .proc import timed

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 1200.0
NMAP_SCRIPTS = (
    "ftp-anon",
    "smb-protocols",
    "smb2-security-mode",
    "rdp-enum-encryption",
    "ssl-cert",
    "redis-info",
    "vnc-info",
    "ssh2-enum-algos",
)
#: nmap's names for the lab's services, where they differ.
NMAP_ALIASES = {
    "smb": {"microsoft-ds", "netbios-ssn"},
    "rdp": {"ms-wbt-server"},
    "x11": {"x11"},
    "mongodb": {"mongodb", "mongod"},
    "https": {"https", "ssl/http", "ssl/https"},
    "mqtt": {"mqtt", "mosquitto"},
}
#: The script that decides each check, and the services (nmap's names) it runs on: when nmap named the service and
#: the script said nothing, the weakness is absent (ftp-anon and redis-info print nothing on a refusal).
NMAP_COVERS = {
    "ftp-anonymous": {"ftp"},
    "smbv1": {"microsoft-ds", "netbios-ssn"},
    "smb-signing-not-required": {"microsoft-ds", "netbios-ssn"},
    "rdp-nla-not-enforced": {"ms-wbt-server"},
    "tls-expired": {"ssl/http", "ssl/https", "https"},
    "tls-self-signed": {"ssl/http", "ssl/https", "https"},
    "redis-no-auth": {"redis"},
    "vnc-no-auth": {"vnc"},
    "ssh-weak-algorithms": {"ssh"},
}

# One service record per (host, port): name, product, version, method, checks {id: outcome}.
Found = dict[tuple[str, int], dict[str, Any]]


@dataclass
class Run:
    tool: str
    seconds: float | None
    found: Found = field(default_factory=dict)
    note: str = ""


# --------------------------------------------------------------------------- running tools


def _timed(lab: Lab, argv: list[str]) -> tuple[float, str]:
    return timed(lab, argv, TIMEOUT)


def _ports() -> list[int]:
    return sorted({s["port"] for s in SERVICES.values()})


def portlens_run(lab: Lab, budget: float) -> Run:
    spec = {"targets": [WEAK, HARD], "ports": _ports(), "budget": budget}
    took, out = _timed(lab, [sys.executable, "-m", "bench.services", "--child", json.dumps(spec)])
    doc = json.loads(out)
    found: Found = {}
    for host, port, service in doc["ports"]:
        service = service or {}
        checks = {c["id"]: c["outcome"] for c in service.get("checks", [])}
        found[(host, port)] = {
            "name": service.get("name"),
            "product": service.get("product"),
            "version": service.get("version"),
            "identified": service.get("status") == "identified",
            "checks": checks,
        }
    return Run("portlens --services", took, found, note=f"engine {doc['elapsed']:.2f} s, budget {budget:g} s/port")


def child(spec: dict[str, Any]) -> int:
    """Runs inside the scanner namespace: one portlens scan with services, as JSON."""
    import portlens

    r = portlens.scan(spec["targets"], ports=spec["ports"], services=True, service_timeout=spec["budget"])
    doc = {"elapsed": r.elapsed, "ports": [(p.host, p.port, dict(p.service or {})) for p in r.ports]}
    print(json.dumps(doc))
    return 0


def nmap_args(timing: int) -> list[str]:
    ports = ",".join(map(str, _ports()))
    return ["-sV", "-Pn", "-n", f"-T{timing}", "-p", ports, "--script", ",".join(NMAP_SCRIPTS), WEAK, HARD]


def nmap_run(lab: Lab, timing: int) -> Run:
    took, out = _timed(lab, ["nmap", *nmap_args(timing), "-oX", "-"])
    return Run(f"nmap -sV -T{timing} + scripts", took, parse_nmap(out))


# --------------------------------------------------------------------------- reading nmap


def _elems(script: ET.Element) -> dict[str, Any]:
    """A script's structured output as nested dicts/lists (``<table>``/``<elem>``)."""

    def walk(node: ET.Element) -> Any:
        items = [(child.get("key"), walk(child) if child.tag == "table" else (child.text or "")) for child in node]
        if items and all(k is not None for k, _ in items):
            return {k: v for k, v in items}
        return [v for _, v in items]

    out = walk(script)
    return out if isinstance(out, dict) else {"": out}


def parse_nmap(xml: str) -> Found:
    """Open ports with nmap's service match and the checks its scripts decide (same rules as portlens)."""
    root = ET.fromstring(xml)
    found: Found = {}
    for host in root.iter("host"):
        addr = next((a.get("addr", "") for a in host.iter("address") if a.get("addrtype") != "mac"), "")
        hostscripts = {s.get("id", ""): s for hs in host.iter("hostscript") for s in hs.iter("script")}
        for port in host.iter("port"):
            state = port.find("state")
            if state is None or state.get("state") != "open":
                continue
            svc = port.find("service")
            attrs = svc.attrib if svc is not None else {}
            name = attrs.get("name", "")
            if attrs.get("tunnel") == "ssl":
                name = f"ssl/{name}"
            scripts = {s.get("id", ""): s for s in port.iter("script")}
            number = int(port.get("portid", "0"))
            if number in (139, 445):
                scripts.update(hostscripts)
            checks = nmap_checks(scripts)
            # What -sV itself tells: a Telnet service is cleartext; its X11 probe says "open" when no
            # authorization is needed.
            if name == "telnet":
                checks["telnet-cleartext"] = "vulnerable"
            if name.lower() == "x11":
                checks["x11-no-auth"] = _verdict(attrs.get("extrainfo") == "open")
            found[(addr, number)] = {
                "name": name,
                "product": attrs.get("product"),
                "version": attrs.get("version"),
                "identified": attrs.get("method") == "probed",
                "checks": checks,
            }
    return found


def _weak_ssh(lists: dict[str, Any]) -> bool:
    """The rules of src/services/ssh.rs, on ssh2-enum-algos' lists."""

    def weak_kex(k: str) -> bool:
        return k in ("diffie-hellman-group1-sha1", "diffie-hellman-group-exchange-sha1", "diffie-hellman-group14-sha1")

    def weak_cipher(c: str) -> bool:
        return "-cbc" in c or c.startswith(("arcfour", "3des", "blowfish", "cast128", "des")) or c == "none"

    def weak_mac(m: str) -> bool:
        return m.startswith(("hmac-md5", "umac-32")) or "-96" in m or m == "none"

    rules = {
        "kex_algorithms": weak_kex,
        "encryption_algorithms": weak_cipher,
        "mac_algorithms": weak_mac,
        "server_host_key_algorithms": lambda h: h == "ssh-dss",
    }
    return any(rule(a) for key, rule in rules.items() for a in lists.get(key, []))


def _verdict(vulnerable: bool) -> str:
    return "vulnerable" if vulnerable else "ok"


def nmap_checks(scripts: dict[str, ET.Element]) -> dict[str, str]:
    out: dict[str, str] = {}
    text = {k: s.get("output", "") for k, s in scripts.items()}
    if "ftp-anon" in text:
        out["ftp-anonymous"] = _verdict("Anonymous FTP login allowed" in text["ftp-anon"])
    if "smb-protocols" in text:
        out["smbv1"] = _verdict("SMBv1" in text["smb-protocols"] or "NT LM 0.12" in text["smb-protocols"])
    if "smb2-security-mode" in text:
        out["smb-signing-not-required"] = _verdict("not required" in text["smb2-security-mode"])
    if "rdp-enum-encryption" in text:
        lines = text["rdp-enum-encryption"].splitlines()
        weak = any(ln.strip() in ("Native RDP: SUCCESS", "SSL: SUCCESS") for ln in lines)
        out["rdp-nla-not-enforced"] = _verdict(weak)
    if "ssl-cert" in scripts:
        cert = _elems(scripts["ssl-cert"])
        not_after = str(cert.get("validity", {}).get("notAfter", ""))
        if not_after:
            when = dt.datetime.fromisoformat(not_after[:19]).replace(tzinfo=dt.timezone.utc)
            out["tls-expired"] = _verdict(when < dt.datetime.now(dt.timezone.utc))
        out["tls-self-signed"] = _verdict(cert.get("subject") == cert.get("issuer"))
    if "redis-info" in text:
        out["redis-no-auth"] = _verdict("Version" in text["redis-info"])
    if "vnc-info" in text:
        out["vnc-no-auth"] = _verdict("None (1)" in text["vnc-info"])
    if "ssh2-enum-algos" in scripts:
        out["ssh-weak-algorithms"] = _verdict(_weak_ssh(_elems(scripts["ssh2-enum-algos"])))
    return out


# --------------------------------------------------------------------------- judging


def _upstream(package: str) -> str | None:
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30)
    return p.stdout.split(":", 1)[-1].rsplit("-", 1)[0] if p.returncode == 0 and p.stdout else None


def _name_ok(tool: str, expected: str, got: dict[str, Any]) -> bool:
    name = str(got.get("name") or "")
    if tool.startswith("portlens"):
        return bool(got["identified"]) and name == expected
    product = str(got.get("product") or "").lower()
    names = NMAP_ALIASES.get(expected, set()) | {expected}
    first = name.lower().split(" ")[0]  # nmap's mqtt-subscribe names the port "mosquitto version X"
    return bool(got["identified"]) and (first in names or expected in product)


def _version_ok(expected: str, got: str | None) -> bool:
    """The upstream version appears in what the tool reported ("9.2p1" in "9.2p1 Debian 2+deb12u10")."""
    return bool(got) and re.search(rf"(?<![\w.]){re.escape(expected)}(?![\w.])", str(got)) is not None


def judge(run: Run, versions: dict[str, str | None]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per lab service: identification, version and check marks; and the totals."""
    rows: dict[str, dict[str, Any]] = {}
    keys = ("identified", "real servers", "versions", "found", "missed", "false alarms", "not checked")
    totals: dict[str, Any] = dict.fromkeys(keys, 0)
    want_versions = 0
    weaknesses = 0
    for key, s in SERVICES.items():
        got = run.found.get((s["addr"], s["port"]))
        row: dict[str, Any] = {"id": "not open", "marks": []}
        if got is not None:
            ok = _name_ok(run.tool, s["name"], got)
            totals["identified"] += ok
            totals["real servers"] += ok and s.get("real", True)
            label = " ".join(str(x) for x in (got.get("name"), got.get("product"), got.get("version")) if x)
            row["id"] = f"{label or '?'}{'' if ok else ' (wrong)'}"
        expected_version = versions.get(key)
        if expected_version:
            want_versions += 1
            totals["versions"] += bool(got and _version_ok(expected_version, got.get("version")))
        checks = (got or {}).get("checks", {})
        for check_id, outcome in s["checks"].items():
            weaknesses += outcome == "vulnerable"
            seen = checks.get(check_id)
            nmap_ran = got is not None and str(got.get("name")).lower() in NMAP_COVERS.get(check_id, set())
            if seen is None and not run.tool.startswith("portlens") and nmap_ran:
                seen = "ok"
            if seen is None:
                mark = "n/c"
                totals["not checked"] += 1
                if outcome == "vulnerable":
                    totals["missed"] += 1
            elif outcome == "vulnerable":
                mark = "found" if seen == "vulnerable" else "MISSED"
                totals["found" if seen == "vulnerable" else "missed"] += 1
            else:
                mark = "FALSE ALARM" if seen == "vulnerable" else "ok"
                totals["false alarms"] += seen == "vulnerable"
            row["marks"].append(f"{check_id} {mark}")
        rows[key] = row
    totals["identified"] = f"{totals['identified']}/{len(SERVICES)}"
    totals["real servers"] = f"{totals['real servers']}/{sum(s.get('real', True) for s in SERVICES.values())}"
    totals["versions"] = f"{totals['versions']}/{want_versions}"
    totals["found"] = f"{totals['found']}/{weaknesses}"
    return rows, totals


# --------------------------------------------------------------------------- output


def render(runs: list[Run]) -> str:
    versions = {k: _upstream(s["deb"]) if "deb" in s else None for k, s in SERVICES.items()}
    judged = [(r, *judge(r, versions)) for r in runs if r.seconds is not None]
    base = next((r.seconds for r in runs if r.tool.startswith("portlens") and r.seconds), None)
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}; lab: veth links between network namespaces.",
        f"Targets: {WEAK} (weak members) and {HARD} (hardened twins), {len(_ports())} ports each, "
        f"{len(SERVICES)} services ({sum(not s.get('real', True) for s in SERVICES.values())} of them stand-ins).",
        "",
        "| tool | wall s | vs portlens | " + " | ".join(judged[0][2]) + " | note |" if judged else "| tool |",
        "|---|---:|---:|" + "---:|" * (len(judged[0][2]) if judged else 0) + "---|",
    ]
    for r in runs:
        if r.seconds is None:
            lines.append(f"| {r.tool} | – | – | {r.note} |")
            continue
        totals = next(t for rr, _, t in judged if rr is r)
        ratio = f"{r.seconds / base:.2g}x" if base else "–"
        cells = " | ".join(map(str, totals.values()))
        lines.append(f"| {r.tool} | {r.seconds:.2f} | {ratio} | {cells} | {r.note} |")
    heads = " | ".join(f"{r.tool}: service | checks" for r, _, _ in judged)
    lines += ["", f"| lab service | address:port | {heads} |"]
    lines.append("|---|---|" + "---|---|" * len(judged))
    for key, s in SERVICES.items():
        label = key + ("" if s.get("real", True) else " (stand-in)")
        cells = []
        for _, rows, _ in judged:
            row = rows[key]
            cells += [row["id"], ", ".join(row["marks"]) or "–"]
        lines.append(f"| {label} | {s['addr']}:{s['port']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "identified: the right protocol (nmap: a probed match, not a port-table guess), of all services and of the "
        "real Debian servers (nmap's database cannot know the stand-ins); versions: the Debian package's "
        "upstream version reported; found: weaknesses of the weak members reported; false alarms: a hardened twin "
        "reported weak; n/c: not checked (for nmap: none of its scripts run here tests it).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(json.loads(argv[1]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "services-results.md"))
    ap.add_argument("--nmap-timing", type=int, default=4, help="nmap -T template (default 4)")
    ap.add_argument("--budget", type=float, default=8.0, help="portlens service_timeout per port (s)")
    args = ap.parse_args(argv)
    runs: list[Run] = []
    with Lab.create(tag="benchsvc", parts=("svc",), ready_timeout=120.0) as lab:
        for name, fn in (
            ("portlens --services", lambda: portlens_run(lab, args.budget)),
            (f"nmap -sV -T{args.nmap_timing} + scripts", lambda: nmap_run(lab, args.nmap_timing)),
        ):
            try:
                run = fn()
            except subprocess.TimeoutExpired:
                run = Run(name, None, note=f"timed out after {TIMEOUT:.0f} s")
            except (FileNotFoundError, RuntimeError) as e:
                run = Run(name, None, note=f"not run: {str(e)[:100]}")
            took = f"{run.seconds:8.2f} s" if run.seconds is not None else run.note
            print(f"{name:32} {took}", file=sys.stderr, flush=True)
            runs.append(run)
    table = render(runs)
    print(table)
    Path(args.out).write_text("# Service identification benchmark\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
