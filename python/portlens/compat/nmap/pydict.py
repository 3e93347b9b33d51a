"""What a python-nmap scan returns: the nmap XML document portlens writes for it, and python-nmap's
dictionary read back from that document (`PortScannerHostDict`)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ...files import xmlsafe
from ...files.read import ReadError
from ...report.nmap_xml import ExtraHost, compress_ports, render
from ...results import ScanResult
from .args import Plan, PortScannerError

_PORTS_KEY = {"tcp": "ports", "udp": "udp_ports"}  # where ScanResult.options lists the ports scanned


@dataclass
class Outcome:
    result: ScanResult
    extra: list[ExtraHost]


def nmap_command_line(hosts: str, ports: str | None, arguments: str) -> str:
    """What python-nmap's ``command_line()`` shows: nmap's arguments with the targets last (nmap's
    option parser moves them there), run by portlens."""
    parts = ["portlens", "-oX", "-", *(["-p", ports] if ports is not None else []), *shlex.split(arguments)]
    return " ".join(parts + shlex.split(hosts))


def nmap_document(plan: Plan, outcome: Outcome, command_line: str, only: str | None = None) -> str:
    r, extra = outcome.result, outcome.extra
    if only is not None:
        hosts = tuple(h for h in r.hosts if h.address == only)
        counts = dict(hosts[0].counts) if hosts else {}
        r = replace(r, ports=tuple(p for p in r.ports if p.host == only), hosts=hosts, counts=counts, hosts_total=1)
        extra = [x for x in extra if x.address == only]
    return render(
        replace(
            r, options={**r.options, "udp_ports" if plan.protocol == "udp" else "ports": compress_ports(plan.ports)}
        ),
        args=command_line,
        list_limit=plan.list_limit,
        open_only=plan.open_only,
        user_set=plan.pn,
        list_down=plan.verbose > 0,
        extra_hosts=extra,
        hostnames=plan.hostnames,
        scan_type=None if plan.list_only else "connect",  # "syn" when the result's method was (render)
        verbose=plan.verbose,
        debugging=plan.debugging,
    )


# -- python-nmap's result shape -------------------------------------------------------------------
class PortScannerHostDict(dict[str, Any]):
    """One host of a scan result: python-nmap's dictionary with its helper methods."""

    def hostnames(self) -> list[dict[str, str]]:
        return list(self["hostnames"])

    def hostname(self) -> str:
        names = self["hostnames"]
        user = next((h["name"] for h in names if h["type"] == "user"), None)
        return str(user if user is not None else (names[0].get("name", "") if names else ""))

    def state(self) -> str:
        return str(self["status"]["state"])

    def uptime(self) -> dict[str, str]:
        return dict(self["uptime"])

    def all_protocols(self) -> list[str]:
        return sorted(k for k in self if k in ("ip", "tcp", "udp", "sctp"))

    def _all(self, proto: str) -> list[int]:
        return sorted(self[proto]) if proto in self else []

    def _has(self, proto: str, port: int) -> bool:
        if not isinstance(port, int):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        return proto in self and port in self[proto]

    def _get(self, proto: str, port: int) -> dict[str, Any]:
        if not isinstance(port, int):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        return dict(self[proto][port])

    def all_tcp(self) -> list[int]:
        return self._all("tcp")

    def has_tcp(self, port: int) -> bool:
        return self._has("tcp", port)

    def tcp(self, port: int) -> dict[str, Any]:
        return self._get("tcp", port)

    def all_udp(self) -> list[int]:
        return self._all("udp")

    def has_udp(self, port: int) -> bool:
        return self._has("udp", port)

    def udp(self, port: int) -> dict[str, Any]:
        return self._get("udp", port)

    def all_ip(self) -> list[int]:
        return self._all("ip")

    def has_ip(self, port: int) -> bool:
        return self._has("ip", port)

    def ip(self, port: int) -> dict[str, Any]:
        return self._get("ip", port)

    def all_sctp(self) -> list[int]:
        return self._all("sctp")

    def has_sctp(self, port: int) -> bool:
        return self._has("sctp", port)

    def sctp(self, port: int) -> dict[str, Any]:
        return self._get("sctp", port)


def analyse_xml(xml: str | bytes, warning_lines: Sequence[str] = ()) -> dict[str, Any]:
    """nmap XML -> python-nmap's result dictionary."""
    try:
        dom = xmlsafe.fromstring(xml, "<nmap xml>", "nmap XML document")
    except ReadError as e:
        raise PortScannerError(f"not an nmap XML document: {e.problem}") from None
    finished = dom.find("runstats/finished")
    hosts = dom.find("runstats/hosts")
    scaninfo: dict[str, Any] = {}
    if warning_lines:
        scaninfo["warning"] = [line + os.linesep for line in warning_lines]
    for si in dom.findall("scaninfo"):
        scaninfo[si.get("protocol", "")] = {"method": si.get("type"), "services": si.get("services")}
    out: dict[str, Any] = {
        "nmap": {
            "command_line": dom.get("args"),
            "scaninfo": scaninfo,
            "scanstats": {
                "timestr": finished.get("timestr") if finished is not None else None,
                "elapsed": finished.get("elapsed") if finished is not None else None,
                "uphosts": hosts.get("up") if hosts is not None else None,
                "downhosts": hosts.get("down") if hosts is not None else None,
                "totalhosts": hosts.get("total") if hosts is not None else None,
            },
        },
        "scan": {},
    }
    for h in dom.findall("host"):
        addresses: dict[str, str] = {}
        vendor: dict[str, str] = {}
        for a in h.findall("address"):
            kind, addr = a.get("addrtype", "ipv4"), a.get("addr", "")
            addresses[kind] = addr
            if kind == "mac" and a.get("vendor") is not None:
                vendor[addr] = a.get("vendor", "")
        first = h.find("address")
        key = addresses.get("ipv4") or (first.get("addr", "") if first is not None else "")
        names = [{"name": n.get("name", ""), "type": n.get("type", "")} for n in h.findall("hostnames/hostname")]
        host = PortScannerHostDict({"hostnames": names or [{"name": "", "type": ""}]})
        host["addresses"] = addresses
        host["vendor"] = vendor
        for st in h.findall("status"):
            host["status"] = {"state": st.get("state"), "reason": st.get("reason")}
        for up in h.findall("uptime"):
            host["uptime"] = {"seconds": up.get("seconds"), "lastboot": up.get("lastboot")}
        for p in h.findall("ports/port"):
            state = p.find("state")
            svc = p.find("service")
            cpes = svc.findall("cpe") if svc is not None else []
            entry: dict[str, Any] = {
                "state": state.get("state") if state is not None else None,
                "reason": state.get("reason") if state is not None else None,
                "name": (svc.get("name") or "") if svc is not None else "",
                **{k: (svc.get(k) or "") if svc is not None else "" for k in ("product", "version", "extrainfo")},
                "conf": (svc.get("conf") or "") if svc is not None else "",
                "cpe": (cpes[-1].text or "") if cpes else "",
            }
            scripts = {s.get("id", ""): s.get("output", "") for s in p.findall("script")}
            if scripts:
                entry["script"] = scripts
            host.setdefault(p.get("protocol", "tcp"), {})[int(p.get("portid", "0"))] = entry
        hostscripts = [{"id": s.get("id"), "output": s.get("output")} for s in h.findall("hostscript/script")]
        if hostscripts:
            host["hostscript"] = hostscripts
        for os_el in h.findall("os"):
            host["portused"] = [
                {"state": u.get("state"), "proto": u.get("proto"), "portid": u.get("portid")}
                for u in os_el.findall("portused")
            ]
            host["osmatch"] = [
                {
                    "name": m.get("name"),
                    "accuracy": m.get("accuracy"),
                    "line": m.get("line"),
                    "osclass": [
                        {
                            **{k: c.get(k) for k in ("type", "vendor", "osfamily", "osgen", "accuracy")},
                            "cpe": [x.text for x in c.findall("cpe")],
                        }
                        for c in m.findall("osclass")
                    ],
                }
                for m in os_el.findall("osmatch")
            ]
        for fp in h.findall("osfingerprint"):
            host["fingerprint"] = fp.get("fingerprint")
        out["scan"][key] = host
    return out
