"""nmap XML out and in, naabu JSON Lines: what other tools read, checked with those tools' own readers.

The writer is checked against nmap's DTD (read from Debian's nmap package, whose DTD carries a
permissive notice; nothing of it is bundled), parsed with python-nmap and python-libnmap, and read
the way DefectDojo's nmap parser reads it. The reader is fed nmap's own XML of a lab scan.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nmap as python_nmap
import pytest
from libnmap.parser import NmapParser

import portlens
from portlens.report.naabu import dumps_naabu
from portlens.report.nmap_xml import loads_nmap_xml, render
from tests.factories import run_cli
from tests.unit.test_nmap_xml import defectdojo_view

DTD_PATH = Path("/usr/share/nmap/nmap.dtd")


KEEP_ALL = ["open", "closed", "filtered"]


# -- nmap's DTD, as a validator -------------------------------------------------------------------
@dataclass
class Dtd:
    models: dict[str, re.Pattern[str] | None]  # child sequence ("a b c ") pattern; None: mixed content
    attrs: dict[str, dict[str, tuple[frozenset[str] | None, bool]]]  # attribute -> (enumeration, required)


def load_dtd(text: str) -> Dtd:
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    entities = dict(re.findall(r'<!ENTITY\s+%\s+(\w+)\s+"([^"]*)"\s*>', text))
    for _ in range(3):
        for name, value in entities.items():
            text = text.replace(f"%{name};", value)
    models: dict[str, re.Pattern[str] | None] = {}
    for name, model in re.findall(r"<!ELEMENT\s+(\S+)\s+(.*?)>", text, flags=re.S):
        model = re.sub(r"\s+", "", model)
        if "#PCDATA" in model:
            models[name] = None
            continue
        rx = ""
        for tok in re.findall(r"[A-Za-z_][\w.-]*|[(),|?*+]", "" if model == "EMPTY" else model):
            rx += {"(": "(?:", ")": ")", ",": "", "|": "|", "?": "?", "*": "*", "+": "+"}.get(tok, f"(?:{tok} )")
        models[name] = re.compile(rx)
    attrs: dict[str, dict[str, tuple[frozenset[str] | None, bool]]] = {}
    for name, body in re.findall(r"<!ATTLIST\s+(\S+)\s+(.*?)>", text, flags=re.S):
        for attr, kind, default in re.findall(
            r'(\S+)\s+(CDATA|\([^)]*\))\s+(#REQUIRED|#IMPLIED|#FIXED\s+"[^"]*"|"[^"]*")', body
        ):
            enum = None if kind == "CDATA" else frozenset(x.strip() for x in kind.strip("()").split("|"))
            attrs.setdefault(name, {})[attr] = (enum, default == "#REQUIRED")
    return Dtd(models, attrs)


def dtd_errors(xml_text: str, dtd: Dtd) -> list[str]:
    errors = []
    root = ET.fromstring(xml_text)
    if root.tag != "nmaprun":
        errors.append(f"root element <{root.tag}>")
    for el in root.iter():
        if el.tag not in dtd.models:
            errors.append(f"<{el.tag}> is not declared")
            continue
        model = dtd.models[el.tag]
        children = "".join(f"{c.tag} " for c in el)
        if model is not None and not model.fullmatch(children):
            errors.append(f"<{el.tag}> children {children!r} do not match {model.pattern!r}")
        if model is not None and (el.text or "").strip():
            errors.append(f"<{el.tag}> holds text {el.text!r}")
        declared = dtd.attrs.get(el.tag, {})
        for attr, value in el.attrib.items():
            if attr not in declared:
                errors.append(f"<{el.tag} {attr}=...> is not declared")
            elif declared[attr][0] is not None and value not in declared[attr][0]:
                errors.append(f"<{el.tag} {attr}={value!r}> is not one of {sorted(declared[attr][0] or ())}")
        for attr, (_, required) in declared.items():
            if required and attr not in el.attrib:
                errors.append(f"<{el.tag}> lacks the required {attr}=")
    return errors


@pytest.fixture(scope="module")
def dtd() -> Dtd:
    return load_dtd(DTD_PATH.read_text())


# -- a scan of the lab with every state, an IPv6 host and a hostname ------------------------------
def _ports(truth: dict[str, Any]) -> list[int]:
    t = truth
    return sorted(
        {1, 2, 3, *t["filt"]["open_ports"], *t["filt"]["reset_ports"], *t["filt"]["icmp_ports"]}
        | set(t["open"]["open_ports"][:5])
    )


@pytest.fixture(scope="module")
def result(truth: dict[str, Any]) -> portlens.ScanResult:
    targets = [truth["filt"]["v4"], truth["open"]["v6"], "localhost"]  # localhost: the scanner namespace's own
    return portlens.scan(targets, _ports(truth), keep=KEEP_ALL, discovery=False)


def _expected(truth: dict[str, Any]) -> dict[str, dict[int, tuple[str, str]]]:
    """(state, reason) of every probed port, per host, from the lab's ground truth."""
    ports = _ports(truth)
    filt, opn = truth["filt"], truth["open"]

    def filt_state(p: int) -> tuple[str, str]:
        if p in filt["open_ports"]:
            return ("open", "syn-ack")
        if p in filt["reset_ports"]:
            return ("closed", "conn-refused")
        if p in filt["icmp_ports"]:
            return ("filtered", "port-unreach")
        return ("filtered", "no-response")

    return {
        filt["v4"]: {p: filt_state(p) for p in ports},
        opn["v6"]: {p: ("open", "syn-ack") if p in opn["open_ports"] else ("closed", "conn-refused") for p in ports},
        "127.0.0.1": {p: ("closed", "conn-refused") for p in ports},
    }


def _scanned(result: portlens.ScanResult, host: str) -> dict[int, tuple[str, str]]:
    return {p.port: (p.state, p.reason) for p in result.ports if p.host == host}


def _agrees(got: dict[int, tuple[str, str]], expected: dict[int, tuple[str, str]]) -> bool:
    rate_limited = ("filtered", "no-response")
    return got.keys() == expected.keys() and all(
        got[p] == want or (want == ("filtered", "port-unreach") and got[p] == rate_limited)
        for p, want in expected.items()
    )


def test_xml_is_valid_against_nmaps_dtd(result: portlens.ScanResult, dtd: Dtd, truth: dict[str, Any]) -> None:
    xml = result.to_nmap_xml()
    assert dtd_errors(xml, dtd) == []
    root = ET.fromstring(xml)
    assert root.get("scanner") == "nmap" and root.get("version") == portlens.__version__
    assert root.get("xmloutputversion") == "1.05" and root.get("args", "").startswith("portlens scan ")
    assert int(root.get("start", "")) == int(result.started.timestamp())
    info = root.find("scaninfo")
    assert info is not None and info.attrib["type"] == "connect" and info.attrib["protocol"] == "tcp"
    assert int(info.attrib["numservices"]) == len(_ports(truth))
    assert portlens.parse_ports(info.attrib["services"]) == _ports(truth)
    hosts = root.findall("host")
    assert [h.find("address").get("addrtype") for h in hosts] == ["ipv4", "ipv4", "ipv6"]  # type: ignore[union-attr]
    for h in hosts:
        assert h.find("hostnames") is not None
        assert int(h.get("starttime", "")) <= int(h.get("endtime", ""))
        listed = len(h.findall("ports/port")) + sum(int(x.get("count", "")) for x in h.findall("ports/extraports"))
        assert listed == len(_ports(truth))
    names = [(n.get("name"), n.get("type")) for n in root.iterfind("host/hostnames/hostname")]
    assert names == [("localhost", "user")]
    stats = root.find("runstats/hosts")
    assert stats is not None and stats.attrib == {"up": "3", "down": "0", "total": "3"}
    finished = root.find("runstats/finished")
    assert finished is not None and finished.get("exit") == "success" and float(finished.get("elapsed", "")) >= 0


def test_dtd_check_catches_what_nmap_would_reject(result: portlens.ScanResult, dtd: Dtd) -> None:
    """The validator is not vacuous: it accepts nmap's own layout and rejects broken documents."""
    xml = result.to_nmap_xml()
    assert dtd_errors(xml.replace('<verbose level="0" />', ""), dtd)  # required element missing
    assert dtd_errors(xml.replace('scanner="nmap"', 'scanner="other"'), dtd)  # enumeration
    assert dtd_errors(xml.replace('method="table"', 'method="table" bogus="1"'), dtd)  # undeclared attribute
    assert dtd_errors(xml.replace(' addrtype="ipv4"', ' addrtype="ip"', 1), dtd)


def test_python_nmap_reads_it(result: portlens.ScanResult, truth: dict[str, Any]) -> None:
    nm = python_nmap.PortScanner()
    out = nm.analyse_nmap_xml_scan(result.to_nmap_xml())
    expected = _expected(truth)
    assert nm.all_hosts() == sorted(expected)
    for host, ports in expected.items():
        assert nm[host].state() == "up"
        assert nm[host].all_protocols() == ["tcp"]
        got = {p: (v["state"], v["reason"]) for p, v in nm[host]["tcp"].items()}
        assert got == _scanned(result, host)
        assert _agrees(got, ports), host
    v6 = truth["open"]["v6"]
    assert nm[v6]["addresses"] == {"ipv6": v6}
    assert nm["127.0.0.1"].hostname() == "localhost"
    assert nm[truth["filt"]["v4"]]["tcp"][6000]["name"] == portlens.service_name(6000)
    assert nm[truth["filt"]["v4"]]["tcp"][6000]["conf"] == "3"
    assert out["nmap"]["scaninfo"]["tcp"]["method"] == "connect"
    assert out["nmap"]["scanstats"]["uphosts"] == "3" and out["nmap"]["scanstats"]["totalhosts"] == "3"
    assert out["nmap"]["command_line"].startswith("portlens scan ")


def test_python_libnmap_reads_it(result: portlens.ScanResult, truth: dict[str, Any]) -> None:
    report = NmapParser.parse_fromstring(result.to_nmap_xml())
    assert report.started == int(result.started.timestamp())
    assert report.hosts_total == 3 and report.hosts_up == 3
    assert report.commandline.startswith("portlens scan ")
    by_addr = {h.address: h for h in report.hosts}
    expected = _expected(truth)
    assert sorted(by_addr) == sorted(expected)
    for addr, ports in expected.items():
        host = by_addr[addr]
        assert host.is_up()
        assert sorted(p for p, _ in host.get_open_ports()) == sorted(p for p, s in ports.items() if s[0] == "open")
        got = {s.port: (s.state, s.reason) for s in host.services}
        assert got == _scanned(result, addr) and _agrees(got, ports)
    assert by_addr["127.0.0.1"].hostnames == ["localhost"]
    svc = by_addr[truth["filt"]["v4"]].get_service(6000, "tcp")
    assert svc is not None and svc.service == portlens.service_name(6000)


def test_defectdojo_reads_what_it_needs(result: portlens.ScanResult, truth: dict[str, Any]) -> None:
    date, findings = defectdojo_view(result.to_nmap_xml())
    assert abs(date - result.started) < timedelta(seconds=1)
    expected = sorted(
        (host, port) for host, ports in _expected(truth).items() for port, (s, _) in ports.items() if s == "open"
    )
    assert sorted((f["ip"], f["port"]) for f in findings) == expected
    assert all(f["protocol"] == "tcp" and f["name"] == portlens.service_name(f["port"]) for f in findings)
    assert all(f["product"] is None and f["version"] is None for f in findings)  # no identification yet


def test_hostile_text_is_escaped(result: portlens.ScanResult, dtd: Dtd) -> None:
    """Hostnames are user input and service records come from the network: nothing may break out."""
    evil = 'x"><script>alert(1)</script>&amp;\x00\x1b]]>--><!--'
    port = replace(
        result.ports[0],
        hostname=evil,
        state="open",
        service={"name": "http", "product": "Evil <b>\n", "version": "1.0\x07'\"", "method": "probed", "conf": 10},
    )
    host = replace(result.hosts[0], hostname=evil, ports=(port,))
    assert host.address == port.host
    r = replace(result, ports=(port,), hosts=(host,), options={**result.options, "targets": [evil]})
    xml = r.to_nmap_xml()
    assert "<script>" not in xml and "\x00" not in xml and "\x1b" not in xml
    assert dtd_errors(xml, dtd) == []
    nm = python_nmap.PortScanner()
    nm.analyse_nmap_xml_scan(xml)
    clean = evil.replace("\x00", "\\x00").replace("\x1b", "\\x1b")
    assert nm[port.host].hostname() == clean
    entry = nm[port.host]["tcp"][port.port]
    assert (entry["product"], entry["version"]) == ("Evil <b>\n", "1.0\\x07'\"")
    report = NmapParser.parse_fromstring(xml)
    assert clean in report.commandline
    back = loads_nmap_xml(xml)
    assert back.ports[0].hostname == clean and back.ports[0].service is not None
    assert back.ports[0].service["product"] == "Evil <b>\n"


def _nmap_xml(truth: dict[str, Any], path: Path) -> str:
    """nmap's own XML of a lab scan: the open host's open ports among closed ones, the filtered
    host's open, reset and silent ports."""
    filt, opn = truth["filt"], truth["open"]
    ports = sorted({*range(1, 31), *opn["open_ports"][:6], *filt["open_ports"], *filt["reset_ports"]})
    cmd = ["nmap", "-sT", "-Pn", "-n", "--max-retries", "0", "--initial-rtt-timeout", "200ms"]
    cmd += ["--max-rtt-timeout", "200ms", "-p", ",".join(map(str, ports)), "-oX", str(path), opn["v4"], filt["v4"]]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path.read_text()


@pytest.fixture(scope="module")
def nmap_file(truth: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nmap") / "lab.xml"
    _nmap_xml(truth, path)
    return path


def test_load_nmap_xml_of_a_real_nmap_scan(nmap_file: Path, truth: dict[str, Any], dtd: Dtd) -> None:
    text = nmap_file.read_text()
    r = portlens.load_nmap_xml(nmap_file)
    filt, opn = truth["filt"], truth["open"]
    assert r.status == "complete" and r.hosts_total == 2 and [h.address for h in r.hosts] == [opn["v4"], filt["v4"]]
    assert r.options["source"] == "nmap" and r.options["args"].startswith("nmap -sT -Pn")
    expected_open = {opn["v4"]: sorted(opn["open_ports"][:6]), filt["v4"]: filt["open_ports"]}
    assert {h: [p.port for p in r.open_ports(h)] for h in expected_open} == expected_open
    # every state counted, from the listed ports and from extraports, as nmap counted them
    root = ET.fromstring(text)
    for h in root.findall("host"):
        addr = h.find("address").get("addr")  # type: ignore[union-attr]
        counts: dict[str, int] = {}
        for p in h.findall("ports/port"):
            counts[p.find("state").get("state")] = counts.get(p.find("state").get("state"), 0) + 1  # type: ignore[union-attr,arg-type]
        for x in h.findall("ports/extraports"):
            counts[x.get("state", "")] = counts.get(x.get("state", ""), 0) + int(x.get("count", ""))
        host = r.host(addr)  # type: ignore[arg-type]
        assert host is not None
        assert {k: v for k, v in host.counts.items() if v} == counts
        # services as nmap named them (its port table), with method and confidence
        for p in h.findall("ports/port"):
            svc = p.find("service")
            mine = next(x for x in r.ports if x.host == addr and x.port == int(p.get("portid", "")))
            assert mine.service == (None if svc is None else {**svc.attrib, "conf": int(svc.get("conf", ""))})
    assert r.started == datetime.fromtimestamp(int(root.get("start", "")), timezone.utc)
    # the same scan by portlens finds the same open ports
    mine = portlens.scan([opn["v4"], filt["v4"]], r.options["ports"], discovery=False)
    assert {h: [p.port for p in mine.open_ports(h)] for h in expected_open} == expected_open
    # and written back, python-nmap reads the same ports, states, reasons and services as from nmap's file
    again = r.to_nmap_xml()
    assert dtd_errors(again, dtd) == []
    theirs, ours = python_nmap.PortScanner(), python_nmap.PortScanner()
    theirs.analyse_nmap_xml_scan(text)
    ours.analyse_nmap_xml_scan(again)
    assert ours.all_hosts() == theirs.all_hosts()
    for host in theirs.all_hosts():
        assert ours[host]["tcp"] == theirs[host]["tcp"]


def test_load_nmap_xml_cut_short(nmap_file: Path, tmp_path: Path, truth: dict[str, Any]) -> None:
    """An interrupted nmap leaves a file without its end: what was complete is kept."""
    text = nmap_file.read_text()
    second = text.index("<host", text.index("</host>"))
    cut = tmp_path / "cut.xml"
    cut.write_text(text[: second + 200])
    first = ET.fromstring(text).find("host/address").get("addr")  # type: ignore[union-attr]
    expected = sorted(truth["open"]["open_ports"][:6]) if first == truth["open"]["v4"] else truth["filt"]["open_ports"]
    r = portlens.load_nmap_xml(cut)
    assert r.status == "cancelled" and r.options["source"] == "nmap"
    assert [h.address for h in r.hosts] == [first]
    assert [p.port for p in r.open_ports()] == expected


def test_render_follows_nmaps_listing_rules(result: portlens.ScanResult) -> None:
    """With nmap's limit, a state of more than 25 ports goes to extraports; --open hides the rest."""
    root = ET.fromstring(render(result, list_limit=5))
    for h in root.findall("host"):
        listed = [p.find("state").get("state") for p in h.findall("ports/port")]  # type: ignore[union-attr]
        for state in ("closed", "filtered"):
            assert listed.count(state) <= 5
        for x in h.findall("ports/extraports"):
            assert int(x.get("count", "")) > 5
            assert sum(int(e.get("count", "")) for e in x.findall("extrareasons")) == int(x.get("count", ""))
    root = ET.fromstring(render(result, open_only=True))
    assert {p.find("state").get("state") for p in root.iter("port")} == {"open"}  # type: ignore[union-attr]
    assert len(root.findall("host")) == 2  # localhost has no open port
    assert root.find("runstats/hosts").get("up") == "3"  # type: ignore[union-attr]


def test_cli_writes_nmap_xml_and_naabu(truth: dict[str, Any], tmp_path: Path) -> None:
    host = truth["open"]["v4"]
    xml, naabu, jl = tmp_path / "r.xml", tmp_path / "r.naabu.jsonl", tmp_path / "r.jsonl"
    p = run_cli("scan", host, "-p", "all", "-q", "-o", str(xml), "-o", str(naabu), "-o", str(jl))
    assert p.returncode == 0, p.stderr
    nm = python_nmap.PortScanner()
    nm.analyse_nmap_xml_scan(xml.read_text())
    assert sorted(port for port, v in nm[host]["tcp"].items() if v["state"] == "open") == truth["open"]["open_ports"]
    assert nm.scanstats()["uphosts"] == "1"
    lines = [json.loads(x) for x in naabu.read_text().splitlines()]
    assert sorted(x["port"] for x in lines) == truth["open"]["open_ports"]
    for x in lines:
        assert set(x) == {"host", "ip", "port", "protocol", "tls", "timestamp"}
        assert (x["ip"], x["host"], x["protocol"], x["tls"]) == (host, host, "tcp", False)
        assert datetime.fromisoformat(x["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert "state" in json.loads(jl.read_text().splitlines()[0])  # .jsonl stays portlens's own


def test_naabu_lines(result: portlens.ScanResult, truth: dict[str, Any]) -> None:
    text = dumps_naabu(result, datetime(2024, 5, 6, 7, 8, 9, 123456, timezone.utc))
    lines = [json.loads(x) for x in text.splitlines()]
    assert len(lines) == result.counts["open"]
    assert {x["ip"] for x in lines} == {truth["filt"]["v4"], truth["open"]["v6"]}
    assert {x["timestamp"] for x in lines} == {"2024-05-06T07:08:09.123456Z"}
    tls = replace(result.ports[0], state="open", hostname="web.example", service={"name": "https", "tunnel": "ssl"})
    (line,) = [json.loads(x) for x in dumps_naabu(replace(result, ports=(tls,))).splitlines()]
    assert (line["host"], line["ip"], line["tls"]) == ("web.example", tls.host, True)
