"""nmap's XML format (``-oX``): written from a `ScanResult`, and read back into one.

The writer follows the shape of nmap's DTD (``nmaprun`` > ``scaninfo``, ``verbose``, ``debugging``,
``host``*, ``runstats``), so that python-nmap, python-libnmap, DefectDojo and other tools that import
nmap XML read it unchanged. ``scanner`` is ``"nmap"`` because the DTD allows no other value; the
``version`` attribute, the ``args`` and the leading comment say that portlens wrote the file.

Like nmap, a host lists its open ports one by one and gathers the rest into ``extraports``;
portlens lists every closed or filtered port it kept (``keep=``), unless ``list_limit`` is given
(nmap lists a state one port at a time only up to 25 ports). Service names are the port-number
guesses of `portlens.service_name` (``method="table" conf="3"``, what nmap writes for a guess),
unless a port result carries a ``service`` record (read from nmap files, or identified).

The reader (`load_nmap_xml`) accepts files written by nmap or by portlens, also files cut short by
an interrupted nmap (status ``"cancelled"``). nmap's port states that portlens does not have map to
the closest one: ``closed|filtered`` (and ``open|filtered`` if portlens lacks it) to ``filtered``,
``unfiltered`` (ACK scans: the port answered) to ``closed``; ``options["nmap_states"]`` counts them.
nmap's reasons are kept as they are. Hosts nmap lists as down are listed down; hosts only assumed up
(``-Pn``, reason ``user-set``) that never answered are counted, not listed.
"""

from __future__ import annotations

import html
import ipaddress
import os
import re
import shlex
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .._core import __version__, parse_ports, service_name
from ..files import xmlsafe
from ..files.read import ReadError, read_bytes
from ..results import STATES, HostResult, PortResult, ScanResult, addr_key, port_key

__all__ = ["ExtraHost", "load_nmap_xml", "loads_nmap_xml", "render", "to_nmap_xml", "compress_ports"]

XML_OUTPUT_VERSION = "1.05"
KIND = "nmap XML file"  # the reader's cap and the errors' wording (portlens.files)
# nmap's port states that portlens does not have, and the portlens state closest to each
STATE_MAP = {"open|filtered": "filtered", "closed|filtered": "filtered", "unfiltered": "closed"}
_HOST_STATES = "state" in getattr(HostResult, "__dataclass_fields__", {})  # HostResult can say "down"
# attributes of <service> in nmap's DTD that a service record may carry, written in this order
_SERVICE_ATTRS = ("product", "version", "extrainfo", "hostname", "ostype", "devicetype", "servicefp")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class ExtraHost:
    """A host to list that the result does not hold as answering: assumed up (``-Pn``, reason
    ``user-set``), down (listed by nmap with ``-v``), unknown (``-sL``), or timed out."""

    address: str
    hostname: str | None = None
    state: str = "up"
    reason: str = "user-set"
    timedout: bool = False


# -- writing --------------------------------------------------------------------------------------
def _clean(value: object) -> str:
    """Text safe in XML 1.0: characters XML cannot carry at all become ``\\xNN`` escapes
    (ElementTree escapes the rest: ``& < > "`` and newlines in attributes)."""
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _el(parent: ET.Element, tag: str, attrs: Mapping[str, object] | None = None) -> ET.Element:
    return ET.SubElement(parent, tag, {k: _clean(v) for k, v in (attrs or {}).items() if v is not None})


def compress_ports(ports: Iterable[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3,5"`` (nmap's ``services`` notation)."""
    out: list[str] = []
    run: list[int] = []
    for p in sorted(set(ports)):
        if run and p == run[-1] + 1:
            run.append(p)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [p]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def _addrtype(address: str) -> str:
    try:
        return "ipv6" if ipaddress.ip_address(address).version == 6 else "ipv4"
    except ValueError:
        return "ipv4"


def _default_args(r: ScanResult) -> str:
    o = r.options
    if o.get("source") == "nmap" and o.get("args"):
        return str(o["args"])
    parts = ["portlens", "scan", *[str(t) for t in o.get("targets") or ()]]
    if o.get("ports"):
        parts += ["-p", str(o["ports"])]
    if o.get("protocol") not in (None, "tcp"):
        parts += ["--protocol", str(o["protocol"])]
    for item in o.get("exclude") or ():
        parts += ["--exclude", str(item)]
    return shlex.join(parts)


def _ports_of(r: ScanResult, key: str, protocol: str) -> list[int]:
    spec = r.options.get(key)
    if isinstance(spec, str) and spec:
        try:
            return parse_ports(spec)
        except ValueError:
            pass
    return sorted({p.port for p in r.ports if p.protocol == protocol})


def _scaninfo(r: ScanResult, scan_type: str) -> list[dict[str, object]]:
    o = r.options
    if o.get("source") == "nmap" and o.get("scaninfo"):
        return [dict(x) for x in o["scaninfo"]]
    protocol = o.get("protocol") or "tcp"
    out: list[dict[str, object]] = []
    if protocol in ("tcp", "both"):
        ports = _ports_of(r, "ports", "tcp")
        count = len(ports) if ports or protocol == "both" else r.ports_per_host
        out.append({"type": scan_type, "protocol": "tcp", "numservices": count, "services": compress_ports(ports)})
    if protocol in ("udp", "both") or any(p.protocol == "udp" for p in r.ports):
        ports = _ports_of(r, "udp_ports", "udp")
        out.append({"type": "udp", "protocol": "udp", "numservices": len(ports), "services": compress_ports(ports)})
    return out


def _service(parent: ET.Element, p: PortResult) -> None:
    rec = p.service
    if not rec:
        guess = service_name(p.port) if p.protocol == "tcp" else None
        if guess:
            _el(parent, "service", {"name": guess, "method": "table", "conf": 3})
        return
    method = rec.get("method") if rec.get("method") in ("table", "probed") else "probed"
    try:
        conf = min(10, max(0, int(rec.get("conf", 10 if method == "probed" else 3))))
    except (TypeError, ValueError):
        conf = 10 if method == "probed" else 3
    attrs: dict[str, object] = {
        "name": rec.get("name") or service_name(p.port) or "unknown",
        **{k: rec[k] for k in _SERVICE_ATTRS[:3] if rec.get(k) not in (None, "")},
    }
    if rec.get("tunnel") == "ssl" or rec.get("tls") is True:
        attrs["tunnel"] = "ssl"
    attrs.update({"method": method, "conf": conf})
    attrs.update({k: rec[k] for k in _SERVICE_ATTRS[3:] if rec.get(k) not in (None, "")})
    el = _el(parent, "service", attrs)
    cpes = rec.get("cpe") or ()
    for cpe in [cpes] if isinstance(cpes, str) else cpes:
        ET.SubElement(el, "cpe").text = _clean(cpe)


def _port(parent: ET.Element, p: PortResult) -> None:
    el = _el(parent, "port", {"protocol": p.protocol, "portid": p.port})
    _el(el, "state", {"state": p.state, "reason": p.reason or "unknown", "reason_ttl": 0})
    _service(el, p)


def _extraports(
    parent: ET.Element, state: str, count: int, known: Sequence[PortResult], closed_reason: str | None
) -> None:
    el = _el(parent, "extraports", {"state": state, "count": count})
    if len(known) == count:
        by_reason: dict[tuple[str, str], list[int]] = {}
        for p in known:
            by_reason.setdefault((p.reason or "unknown", p.protocol), []).append(p.port)
        for (reason, proto), ports in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
            _el(
                el,
                "extrareasons",
                {"reason": reason, "count": len(ports), "proto": proto, "ports": compress_ports(ports)},
            )
    elif state == "closed" and closed_reason:
        # portlens reports a port closed only on a TCP reset: "conn-refused" (connect) or "reset" (SYN)
        _el(el, "extrareasons", {"reason": closed_reason, "count": count, "proto": "tcp"})


def _ports(
    parent: ET.Element,
    counts: Mapping[str, int],
    listed: Sequence[PortResult],
    list_limit: int | None,
    open_only: bool,
    closed_reason: str | None,
) -> None:
    el = _el(parent, "ports")
    shown: list[PortResult] = []
    states = sorted(set(counts) | {p.state for p in listed}, key=lambda s: -int(counts.get(s, 0)))
    for state in states:
        have = [p for p in listed if p.state == state]
        total = max(int(counts.get(state, 0)), len(have))
        if total == 0:
            continue
        if state == "open":
            shown += have
            if total > len(have):
                _extraports(el, state, total - len(have), (), closed_reason)
        elif open_only or (list_limit is not None and total > list_limit):
            _extraports(el, state, total, have, closed_reason)
        else:
            shown += have
            if total > len(have):
                _extraports(el, state, total - len(have), (), closed_reason)
    for p in sorted(shown, key=lambda p: (p.protocol, p.port)):
        _port(el, p)


def _host_state(h: HostResult) -> str:
    return str(getattr(h, "state", "up"))


def _host_reason(counts: Mapping[str, int], listed: Sequence[PortResult], closed: str = "conn-refused") -> str:
    """Why the host counts as up, in nmap's words: the answer of one of its ports."""
    for state in ("open", "closed"):
        reason = next((p.reason for p in listed if p.state == state and p.reason), None)
        if reason:
            return reason
    if counts.get("open"):
        return "syn-ack"
    if counts.get("closed"):
        return closed
    return next((p.reason for p in listed if p.reason and p.reason != "no-response"), "unknown-response")


def render(
    result: ScanResult,
    *,
    args: str | None = None,
    list_limit: int | None = None,
    open_only: bool = False,
    user_set: bool = False,
    list_down: bool = True,
    extra_hosts: Iterable[ExtraHost] = (),
    hostnames: Mapping[str, str] | None = None,
    scan_type: str | None = "connect",
    verbose: int = 0,
    debugging: int = 0,
) -> str:
    """The nmap XML document of ``result``; the keywords let `portlens.compat.nmap` reproduce
    nmap's own choices (``list_limit=25``, ``--open``, ``-Pn`` hosts, ``-v`` down hosts)."""
    args = args if args is not None else _default_args(result)
    syn = result.options.get("method") == "syn"
    if scan_type == "connect" and syn:
        scan_type = "syn"  # the default names the method the scan ran with
    start = int(result.started.timestamp())
    end = int(result.finished.timestamp())
    startstr, endstr = time.ctime(start), time.ctime(end)
    root = ET.Element(
        "nmaprun",
        {
            "scanner": "nmap",
            "args": _clean(args),
            "start": str(start),
            "startstr": startstr,
            "version": __version__,
            "xmloutputversion": XML_OUTPUT_VERSION,
        },
    )
    for info in _scaninfo(result, scan_type) if scan_type is not None else ():
        _el(root, "scaninfo", info)
    _el(root, "verbose", {"level": verbose})
    _el(root, "debugging", {"level": debugging})

    names = dict(hostnames or {})
    by_host: dict[str, list[PortResult]] = {}
    for p in result.ports:
        by_host.setdefault(p.host, []).append(p)
        if p.hostname and p.host not in names:
            names[p.host] = p.hostname
    # portlens marks a TCP port closed only on a reset; UDP ones close on ICMP port-unreachable
    closed_reason = None
    if result.options.get("source") != "nmap" and result.options.get("protocol", "tcp") == "tcp":
        closed_reason = "reset" if syn else "conn-refused"
    entries: list[tuple[tuple[int, int], str, HostResult | ExtraHost]] = [
        (addr_key(h.address), h.address, h) for h in result.hosts if list_down or _host_state(h) == "up"
    ]
    answered = {h.address for h in result.hosts}
    entries += [(addr_key(x.address), x.address, x) for x in extra_hosts if x.address not in answered or x.timedout]
    timed_out = {x.address for x in extra_hosts if x.timedout}
    up = 0
    for _, address, h in sorted(entries, key=lambda e: e[0]):
        if isinstance(h, HostResult) and address in timed_out:
            continue  # listed once, as timed out
        listed = by_host.get(address, [])
        if isinstance(h, HostResult):
            counts: Mapping[str, int] = h.counts
            state, timedout, hostname = _host_state(h), False, h.hostname or names.get(address)
            reason = getattr(h, "reason", None) or ("no-response" if state != "up" else None)
            if state == "up" and (user_set or not reason):
                reason = "user-set" if user_set else _host_reason(h.counts, listed, closed_reason or "conn-refused")
        else:
            state, reason, timedout, hostname = h.state, h.reason, h.timedout, h.hostname or names.get(address)
            # -Pn: a host that never answered; its probes not listed went unanswered
            seen = Counter(p.state for p in listed)
            seen["filtered"] += max(0, result.ports_per_host - len(listed))
            counts = dict(seen)
        if state == "up":
            up += 1
            if open_only and not timedout and not counts.get("open"):
                continue  # nmap --open leaves out hosts without an open port
        attrs: dict[str, object] = {}
        if state == "up":
            attrs = {"starttime": start, "endtime": end}
            if timedout:
                attrs["timedout"] = "true"
        host = _el(root, "host", attrs)
        _el(host, "status", {"state": state, "reason": reason, "reason_ttl": 0})
        _el(host, "address", {"addr": address, "addrtype": _addrtype(address)})
        hn = _el(host, "hostnames")
        if hostname:
            _el(hn, "hostname", {"name": hostname, "type": "user"})
        if state == "up" and not timedout:
            _ports(host, counts, listed, list_limit, open_only, closed_reason)

    total = max(result.hosts_total, up)
    elapsed = f"{max(0.0, result.elapsed):.2f}"
    finished = {
        "time": end,
        "timestr": endstr,
        "summary": (
            f"portlens done at {endstr}; {total} IP address{'' if total == 1 else 'es'} "
            f"({up} host{'' if up == 1 else 's'} up) scanned in {elapsed} seconds"
        ),
        "elapsed": elapsed,
        "exit": "success" if result.status == "complete" else "error",
    }
    if result.status != "complete":
        finished["errormsg"] = f"scan {result.status}: partial results"
    stats = _el(root, "runstats")
    _el(stats, "finished", finished)
    _el(stats, "hosts", {"up": up, "down": total - up, "total": total})

    ET.indent(root, space="")
    # a comment cannot hold "--"; escape markup too, so that nothing in it reads as a tag
    comment = html.escape(_clean(f"portlens {__version__} scan initiated {startstr} as: {args}"), quote=False)
    comment = comment.replace("--", "-&#45;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
        f"<!-- {comment} -->\n{ET.tostring(root, encoding='unicode')}\n"
    )


def to_nmap_xml(result: ScanResult, args: str | None = None) -> str:
    """The nmap XML document of ``result`` (see the module documentation)."""
    return render(result, args=args)


# -- reading --------------------------------------------------------------------------------------
def load_nmap_xml(path: str | os.PathLike[str]) -> ScanResult:
    """Read an nmap XML file (``nmap -oX``, or portlens's ``-o scan.xml``) into a ScanResult.

    Its ``options`` say where it came from: ``{"source": "nmap", "args": ..., "scaninfo": [...]}``.
    Port results keep nmap's ``service`` record (name, product, version, extrainfo, method, conf, cpe).

    The file is read through `portlens.files` (a regular file of at most 1 GiB; ``PORTLENS_MAX_INPUT_MB``
    raises the cap) and parsed without DTDs (`portlens.files.xmlsafe`): a document with a DOCTYPE
    internal subset or an entity declaration, in any encoding, is refused with an `InputError`.
    """
    name = os.fspath(path)
    return loads_nmap_xml(read_bytes(name, KIND), name=name)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _state(nmap_state: str) -> str:
    return nmap_state if nmap_state in STATES else STATE_MAP.get(nmap_state, "filtered")


def _read_service(el: ET.Element | None) -> dict[str, Any] | None:
    if el is None:
        return None
    rec: dict[str, Any] = {k: v for k, v in el.attrib.items()}
    if "conf" in rec:
        rec["conf"] = _int(rec["conf"], 0)
    cpes = [c.text for c in el.findall("cpe") if c.text]
    if cpes:
        rec["cpe"] = cpes
    return rec


def _parse(data: bytes, name: str) -> tuple[ET.Element, set[int], bool]:
    """The document's root, the ids of the elements read to their end, and whether it was cut short."""
    doc = xmlsafe.parse(data, name, KIND)
    root, ended, truncated = doc.root, doc.ended, doc.error is not None
    if root is None:
        raise ReadError("not an XML document", name, KIND, doc.line, doc.col)
    if root.tag != "nmaprun":
        raise ReadError("not an nmap XML document (the root element is not <nmaprun>)", name, KIND)
    if truncated and not any(id(h) in ended for h in root.findall("host")) and root.find("scaninfo") is None:
        raise ReadError(f"malformed nmap XML document ({doc.error})", name, KIND, doc.line, doc.col)
    return root, ended, truncated or id(root) not in ended


def loads_nmap_xml(data: str | bytes, name: str = "<nmap xml>") -> ScanResult:
    """`load_nmap_xml` on the document's text."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root, ended, truncated = _parse(raw, name)
    try:
        return _result(root, ended, truncated)
    except (ValueError, OverflowError, OSError) as e:  # times or counts out of range
        raise ReadError(f"a value is out of range ({type(e).__name__})", name, KIND) from None


def _result(root: ET.Element, ended: set[int], truncated: bool) -> ScanResult:

    started_epoch = _int(root.get("start"), -1)
    finished_el = root.find("runstats/finished") if not truncated else None
    hosts_el = root.find("runstats/hosts") if not truncated else None
    scaninfo = [dict(el.attrib) for el in root.findall("scaninfo")]

    ports: list[PortResult] = []
    hosts: list[HostResult] = []
    counts = dict.fromkeys(STATES, 0)
    down: list[HostResult] = []
    odd_states: dict[str, int] = {}
    timed_out: list[str] = []
    host_times: list[int] = []
    n_hosts = 0
    for h in root.findall("host"):
        if id(h) not in ended:
            continue
        n_hosts += 1
        host_times += [t for t in (_int(h.get("starttime"), -1), _int(h.get("endtime"), -1)) if t >= 0]
        status = h.find("status")
        addresses = {a.get("addrtype", "ipv4"): a.get("addr") for a in h.findall("address")}
        address = addresses.get("ipv4") or addresses.get("ipv6")
        names = h.findall("hostnames/hostname")
        named = [n for n in names if n.get("type") == "user"] + [n for n in names if n.get("type") != "user"]
        hostname = next((n.get("name") for n in named if n.get("name")), None)
        if status is not None and status.get("state") == "down" and address and _HOST_STATES:
            reason = status.get("reason") or "no-response"
            down.append(HostResult(address, hostname, {}, None, state="down", reason=reason))
        if status is None or status.get("state") != "up" or not address:
            continue
        if h.get("timedout") == "true":
            timed_out.append(address)
            continue
        hcounts = dict.fromkeys(STATES, 0)
        listed: list[PortResult] = []
        for p in h.findall("ports/port"):
            st = p.find("state")
            portid = _int(p.get("portid"), -1)
            if st is None or portid < 0:
                continue
            nstate = st.get("state", "")
            state = _state(nstate)
            if state != nstate:
                odd_states[nstate] = odd_states.get(nstate, 0) + 1
            hcounts[state] += 1
            listed.append(
                PortResult(
                    host=address,
                    port=portid,
                    protocol=p.get("protocol", "tcp"),
                    state=state,
                    reason=st.get("reason", ""),
                    hostname=hostname,
                    service=_read_service(p.find("service")),
                )
            )
        for x in h.findall("ports/extraports"):
            nstate = x.get("state", "")
            n = _int(x.get("count"))
            hcounts[_state(nstate)] += n
            if _state(nstate) != nstate:
                odd_states[nstate] = odd_states.get(nstate, 0) + n
        for k, v in hcounts.items():
            counts[k] += v
        ports += listed
        answered = (
            status.get("reason") != "user-set"
            or hcounts["open"] + hcounts["closed"] > 0
            or any(p.reason not in ("no-response", "") for p in listed)
        )
        if answered:
            times = h.find("times")
            srtt = _float(times.get("srtt")) if times is not None else None
            hosts.append(
                HostResult(
                    address=address,
                    hostname=hostname,
                    counts=hcounts,
                    rtt=srtt / 1e6 if srtt is not None and srtt >= 0 else None,
                    ports=tuple(sorted(listed, key=port_key)),
                )
            )

    if started_epoch < 0 and host_times:
        started_epoch = min(host_times)
    elif started_epoch < 0:
        started_epoch = _int(finished_el.get("time") if finished_el is not None else None)
    started = datetime.fromtimestamp(started_epoch, timezone.utc)
    elapsed = _float(finished_el.get("elapsed")) if finished_el is not None else None
    if elapsed is not None:
        finished = started + timedelta(seconds=elapsed)
    elif finished_el is not None:
        finished = datetime.fromtimestamp(_int(finished_el.get("time"), started_epoch), timezone.utc)
    else:
        finished = datetime.fromtimestamp(max([started_epoch, *host_times]), timezone.utc)
    failed = finished_el is None or finished_el.get("exit") == "error"

    options: dict[str, Any] = {
        "source": "nmap",
        "scanner": root.get("scanner"),
        "version": root.get("version"),
        "args": root.get("args"),
        "xmloutputversion": root.get("xmloutputversion"),
        "scaninfo": scaninfo,
        "keep": ["open", *sorted({p.state for p in ports} - {"open"})],
    }
    tcp = next((s.get("services") for s in scaninfo if s.get("protocol") == "tcp"), None)
    if tcp:
        options["ports"] = tcp
    if timed_out:
        options["timed_out"] = sorted(timed_out, key=addr_key)
    if odd_states:
        options["nmap_states"] = odd_states
    if finished_el is not None and finished_el.get("errormsg"):
        options["error"] = finished_el.get("errormsg")
    per_host = sum(_int(s.get("numservices")) for s in scaninfo)
    return ScanResult(
        ports=tuple(sorted(ports, key=port_key)),
        hosts=tuple(sorted(hosts, key=lambda x: addr_key(x.address)) + sorted(down, key=lambda x: addr_key(x.address))),
        counts=counts,
        status="cancelled" if failed else "complete",
        started=started,
        finished=finished,
        hosts_total=_int(hosts_el.get("total"), n_hosts) if hosts_el is not None else n_hosts,
        ports_per_host=per_host or max((sum(h.counts.values()) for h in hosts), default=0),
        options=options,
        stats={"hosts_down": _int(hosts_el.get("down")) if hosts_el is not None else len(down)},
    )
