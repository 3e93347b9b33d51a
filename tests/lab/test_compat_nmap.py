"""``from portlens.compat import nmap``: python-nmap's interface, checked side by side with python-nmap
running Debian's nmap on the same lab.

The scripts in ``compat_scripts/`` are written against python-nmap; each runs twice in a child
process (inside the scanner namespace, like pytest): as written, and with only its ``import nmap``
line changed. Their outputs must match, except where portlens differs on purpose: service names
come from portlens's own port table (the CSV's ``name`` column, and ``conf`` where one table knows
the port and the other not), and the program that ran (first word of the command line).
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import nmap as python_nmap
import pytest

import portlens
from portlens.compat import nmap
from tests.factories import ROOT

SCRIPTS = Path(__file__).parent / "compat_scripts"


IMPORT = "import nmap\n"


PORTLENS_IMPORT = "from portlens.compat import nmap\n"


def _run(script: Path, args: list[str], empty_resolv_conf: Path) -> subprocess.CompletedProcess[str]:
    """Run a script in a child process. The lab has no DNS server, and python-nmap's listscan (used
    by PortScannerAsync) runs ``nmap -sL`` without ``-n``: nmap would wait 13 s for its reverse
    lookups to time out. The child gets an empty resolv.conf in a private mount namespace instead."""
    private_dns = ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"']
    return subprocess.run(
        [*private_dns, str(empty_resolv_conf), sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        check=False,
    )


def _both(name: str, args: list[str], tmp_path: Path) -> tuple[str, str]:
    """The script's output with python-nmap + nmap, and with only the import changed to portlens."""
    original = SCRIPTS / f"{name}.py"
    source = original.read_text()
    assert source.count(IMPORT) == 1
    ported = tmp_path / f"{name}_portlens.py"
    ported.write_text(source.replace(IMPORT, PORTLENS_IMPORT))
    changed = [(a, b) for a, b in zip(source.splitlines(), ported.read_text().splitlines(), strict=True) if a != b]
    assert changed == [(IMPORT.strip(), PORTLENS_IMPORT.strip())]
    empty = tmp_path / "resolv.conf"
    empty.write_text("")
    theirs, ours = _run(original, args, empty), _run(ported, args, empty)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0 and ours.stderr == "", ours.stderr
    return theirs.stdout, ours.stdout


def _lab_args(truth: dict[str, Any]) -> tuple[str, str]:
    filt, opn = truth["filt"], truth["open"]
    hosts = f"{opn['v4']} {filt['v4']} 198.19.0.1-4"  # 198.19.0.3 is a dead host of the AnyIP block
    ports = sorted({21, 22, 23, 80, 443, *opn["open_ports"][:3], *filt["reset_ports"], *filt["open_ports"][:2]})
    return hosts, ",".join(map(str, ports))


def test_list_open_ports_script(truth: dict[str, Any], tmp_path: Path) -> None:
    hosts, ports = _lab_args(truth)
    theirs, ours = _both("list_open_ports", [hosts, ports, "-sT -Pn -n -T4 --max-retries 1"], tmp_path)
    t, o = theirs.splitlines(), ours.splitlines()
    assert t[0].split(" ", 1) == ["nmap", o[0].split(" ", 1)[1]] and o[0].startswith("portlens ")
    assert o[1:] == t[1:]
    # and what both say is the lab's truth
    assert f"Host : {truth['filt']['v4']} ()" in o
    assert f"port : {truth['filt']['open_ports'][0]}\tstate : open\treason : syn-ack" in o
    assert o[-1] == "hosts up 6, down 0, total 6"  # -Pn: the dead host is up, as nmap says


def _csv_rows(text: str) -> list[list[str]]:
    rows = [line.split(";") for line in text.splitlines()]
    assert rows[
        0
    ] == "host;hostname;hostname_type;protocol;port;name;state;product;extrainfo;reason;version;conf;cpe".split(";")
    return rows[1:]


def test_csv_export_script(truth: dict[str, Any], tmp_path: Path) -> None:
    filt, opn = truth["filt"], truth["open"]
    ports = sorted({*range(1, 31), *opn["open_ports"][:3], *filt["reset_ports"], *filt["open_ports"][:2]})
    args = [f"{opn['v4']} {filt['v4']}", ",".join(map(str, ports)), "-sT -Pn -n -T4 --max-retries 1"]
    theirs, ours = _both("csv_export", args, tmp_path)
    t, o = _csv_rows(theirs), _csv_rows(ours)
    name, conf = 5, 11

    def same(row: list[str]) -> list[str]:
        return row[:name] + row[name + 1 : conf] + row[conf + 1 :]

    assert [same(r) for r in o] == [same(r) for r in t]
    # more than 25 closed (open host) or silent (filtered host) ports: counted, not listed, like nmap
    assert {(r[0], r[6]) for r in o} == {(opn["v4"], "open"), (filt["v4"], "open"), (filt["v4"], "closed")}
    assert len([r for r in o if r[6] == "closed"]) == len(filt["reset_ports"])
    assert all(r[conf] == ("3" if r[name] else "") for r in o)
    assert {r[name] for r in o if r[4] == "6000"} == {portlens.service_name(6000)}


def test_async_callback_script(tmp_path: Path) -> None:
    theirs, ours = _both("async_callback", ["198.19.0.1-4", "22,80,443", "-sT -n"], tmp_path)
    assert ours == theirs
    assert ours.splitlines() == [
        "198.19.0.1 up 80,443",
        "198.19.0.2 up 80,443",
        "198.19.0.3 down 1",  # a dead host of the AnyIP block
        "198.19.0.4 up 80,443",
        "done",
    ]


def _shape(value: Any) -> Any:
    """Keys and value types, recursively: python-nmap's dictionary layout without its data."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


def test_result_has_python_nmaps_shape_and_methods(truth: dict[str, Any]) -> None:
    host = truth["filt"]["v4"]
    ports = ",".join(map(str, [*truth["filt"]["open_ports"], *truth["filt"]["reset_ports"]]))
    real = python_nmap.PortScanner()
    expected = real.scan(host, ports, "-sT -Pn -n")
    nm = nmap.PortScanner()
    got = nm.scan(host, ports, "-sT -Pn -n")
    assert _shape(got) == _shape(expected)
    assert got["scan"][host]["tcp"].keys() == expected["scan"][host]["tcp"].keys()
    for port, info in got["scan"][host]["tcp"].items():
        theirs = expected["scan"][host]["tcp"][port]
        assert (info["state"], info["reason"]) == (theirs["state"], theirs["reason"])
    assert nm.all_hosts() == real.all_hosts() == [host]
    assert nm[host].state() == "up" and nm[host].all_protocols() == ["tcp"]
    assert nm[host].has_tcp(truth["filt"]["open_ports"][0]) and not nm[host].has_tcp(1)
    assert nm[host].all_tcp() == sorted(int(p) for p in ports.split(","))
    assert nm.scaninfo() == real.scaninfo()
    assert nm.scanstats().keys() == real.scanstats().keys() and nm.scanstats()["uphosts"] == "1"
    assert nm.command_line().split(" ", 1)[1] == real.command_line().split(" ", 1)[1]
    assert nm.has_host(host) and not nm.has_host("198.18.1.2")
    assert nm.nmap_version() >= (7, 0)
    xml = nm.get_nmap_last_output()
    assert isinstance(xml, bytes) and isinstance(real.get_nmap_last_output(), bytes)
    back = portlens.report.nmap_xml.loads_nmap_xml(xml)
    assert [p.port for p in back.open_ports()] == truth["filt"]["open_ports"]
    # python-nmap's own reader agrees with ours on portlens's XML, and ours reads nmap's
    assert python_nmap.PortScanner().analyse_nmap_xml_scan(xml)["scan"] == got["scan"]
    assert nmap.PortScanner().analyse_nmap_xml_scan(real.get_nmap_last_output())["scan"] == expected["scan"]


@pytest.mark.parametrize(
    ("arguments", "item", "why"),
    [
        ("-sU -sT", "-sU", "UDP"),
        ("-sn", "-sn", "host discovery"),
        ("-sS -sU", "-sU", "UDP"),
        ("-O", "-O", "OS detection"),
        ("--script=vuln", "--script=vuln", "scripts"),
        ("-oX scan.xml", "-oX", "get_nmap_last_output"),
        ("-PE", "-PE", "discovery"),
        ("--badsum", "--badsum", "not implemented"),
        ("-p 22 -F", "-F", "ports once"),
        ("-p U:53", "U:53", "UDP"),
        ("-p http", "http", "service names"),
        ("--min-rate 100 --max-rate 10", "--min-rate", "less than or equal"),
        ("-T9", "-T9", "-T0 to -T5"),
    ],
)
def test_unsupported_arguments_raise_and_name_them(arguments: str, item: str, why: str) -> None:
    nm = nmap.PortScanner()
    with pytest.raises(nmap.NmapArgumentError, match=why) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore", nmap.CompatWarning)  # a warning before the failure is not the point
        nm.scan("198.18.1.2", None, arguments)
    assert err.value.item == item and item in str(err.value)
    assert isinstance(err.value, portlens.OptionError) and isinstance(err.value, nmap.PortScannerError)
    assert nm.all_hosts() == []  # nothing was scanned


def test_sS_scans_and_sV_scans(truth: dict[str, Any]) -> None:
    host, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
    nm = nmap.PortScanner()
    with warnings.catch_warnings():
        warnings.simplefilter("error", nmap.CompatWarning)  # -sS is a SYN scan now (tests/lab/test_syn.py)
        nm.scan(host, f"{port},1", "-sS -Pn")
    assert nm[host]["tcp"][port]["state"] == "open" and nm[host]["tcp"][1]["state"] == "closed"
    assert nm.scaninfo()["tcp"]["method"] == "syn"
    assert "warning" not in nm.scaninfo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", nmap.CompatWarning)  # -sV is the engine's service identification now
        nm.scan(host, str(port))  # python-nmap's default arguments are "-sV"
    assert nm[host]["tcp"][port]["product"] == "" and nm[host]["tcp"][port]["state"] == "open"


def test_host_states_follow_nmap(truth: dict[str, Any]) -> None:
    """Without -Pn a silent host is down (listed with -v); with -Pn every host is up; --open shows
    only hosts and ports that are open."""
    nm = nmap.PortScanner()
    nm.scan("198.19.0.1-4", "22,80,443", "-sT")
    assert nm.all_hosts() == ["198.19.0.1", "198.19.0.2", "198.19.0.4"]
    assert nm.scanstats()["downhosts"] == "1" and nm.scanstats()["totalhosts"] == "4"
    assert nm["198.19.0.1"]["tcp"][22]["state"] == "closed" and nm["198.19.0.1"]["tcp"][80]["state"] == "open"
    nm.scan("198.19.0.1-4", "22,80,443", "-sT -v")
    assert nm["198.19.0.3"].state() == "down" and "tcp" not in nm["198.19.0.3"]
    nm.scan("198.19.0.1-4", "22,80,443", "-sT -Pn")
    assert nm.all_hosts() == ["198.19.0.1", "198.19.0.2", "198.19.0.3", "198.19.0.4"]
    dead = nm["198.19.0.3"]
    assert dead["status"] == {"state": "up", "reason": "user-set"}
    assert {p: (v["state"], v["reason"]) for p, v in dead["tcp"].items()} == {
        p: ("filtered", "no-response") for p in (22, 80, 443)
    }
    nm.scan("198.19.0.1-4", "22,80,443", "-sT --open")
    assert nm.all_hosts() == ["198.19.0.1", "198.19.0.2", "198.19.0.4"]
    assert all(nm[h].all_tcp() == [80, 443] for h in nm.all_hosts())
    assert nm.listscan("198.19.0.1-2 198.18.1.2") == ["198.18.1.2", "198.19.0.1", "198.19.0.2"]


def test_timeouts(truth: dict[str, Any]) -> None:
    filt, opn = truth["filt"]["v4"], truth["open"]["v4"]
    nm = nmap.PortScanner()
    started = time.monotonic()
    with pytest.raises(nmap.PortScannerTimeout):
        # each silent probe waits at least 2 s, so this scan cannot end inside the 1 s budget
        nm.scan(filt, "1-20000", "-sT -Pn --min-rtt-timeout 2s", timeout=1)
    assert time.monotonic() - started < 3
    # --host-timeout: each host has its own clock; the silent one is given up (its 20000 silent
    # probes need rounds of at least 0.5 s, and a retry each), the other answers every probe at once
    nm.scan(f"{filt} {opn}", "1-20000", "-sT -Pn --host-timeout 2s --min-rtt-timeout 500ms")
    assert nm[filt].state() == "up" and "tcp" not in nm[filt]
    opened = [p for p in nm[opn].all_tcp() if nm[opn]["tcp"][p]["state"] == "open"]
    assert opened == [p for p in truth["open"]["open_ports"] if p <= 20000]
    root = ET.fromstring(nm.get_nmap_last_output())
    assert [h.get("timedout") for h in root.findall("host")] == [None, "true"]  # sorted: 198.18.1.2, 198.18.2.2


def test_yield_and_async_stop(truth: dict[str, Any]) -> None:
    yielded = nmap.PortScannerYield().scan("198.19.0.2-3", "80", "-sT -Pn")
    got = [(h, d["scan"][h]["tcp"][80]["state"] if d else None) for h, d in yielded]
    assert got == [("198.19.0.2", "open"), ("198.19.0.3", "filtered")]
    calls: list[str] = []
    nma = nmap.PortScannerAsync()
    nma.scan(truth["filt"]["v4"], "1-60000", "-sT -Pn", callback=lambda h, d: calls.append(h))
    assert nma.still_scanning()
    time.sleep(0.3)
    started = time.monotonic()
    nma.stop()
    nma.wait(5)
    assert not nma.still_scanning() and time.monotonic() - started < 2
    assert calls == []  # stopped before the host finished: no callback
    with pytest.raises(nmap.NmapArgumentError):
        nma.scan("198.18.1.2", "22", "-sU -sT")  # checked before scan() returns


@pytest.mark.parametrize("spec", ["0xC6120502", "3323068674", "198.18.1", "0x7f.1", "198.1179906", "0x7f.0.0.1"])
def test_numeric_forms_libc_accepts_are_refused_not_resolved(spec: str) -> None:
    """What inet_aton would read as an address never reaches the resolver (as in the engine)."""
    with pytest.raises(nmap.NmapArgumentError, match="numeric form|not within"):
        nmap.PortScanner().scan(hosts=spec, ports="22", arguments="-sT")


def test_sU_and_sV_map_to_the_engines_udp_scan_and_service_identification(truth: dict[str, Any]) -> None:
    """``-sU`` is portlens's UDP scan (``protocol="udp"``): python-nmap's dictionary has the UDP ports,
    named by the protocol that answered. ``-sV`` is its service identification (``services=True``):
    the nmap XML's services are probed, not guessed from the port number (``method="table"``)."""
    t = truth["udp"]
    host, opened = t["v4"], sorted(int(p) for p in t["open_ports"])
    ports = ",".join(str(p) for p in opened)
    nm = nmap.PortScanner()
    nm.scan(host, ports, "-sU -Pn")
    assert nm.scaninfo()["udp"] == {"method": "udp", "services": ports} and "tcp" not in nm.scaninfo()
    assert nm[host].all_protocols() == ["udp"] and nm[host].all_udp() == opened
    assert {p: (nm[host].udp(p)["state"], nm[host].udp(p)["name"]) for p in opened} == {
        int(p): ("open", name) for p, name in t["services"].items()
    }
    assert nm.scan(host, f"U:{ports}", "-sU -sV -Pn")["scan"][host]["udp"].keys() == set(opened)

    def methods(arguments: str) -> set[str | None]:
        tcp_host, port = truth["open"]["v4"], truth["open"]["open_ports"][0]
        nm.scan(tcp_host, str(port), arguments)
        assert nm[tcp_host]["tcp"][port]["state"] == "open"
        return {s.get("method") for s in ET.fromstring(nm.get_nmap_last_output()).iter("service")}

    assert methods("-sT -Pn") <= {"table"}  # a guess from the port number, or nothing
    assert methods("-sV -Pn") == {"probed"}  # python-nmap's default arguments are "-sV"
