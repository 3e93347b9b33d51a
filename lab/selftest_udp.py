"""Self-test of the ``udp`` and ``sparse`` lab parts with plain sockets (called by :mod:`lab.selftest`).

:func:`probe_parts` runs inside the scanner namespace (bounded: one datagram per check, 1 s waits);
:func:`check_outside` runs in the root namespace: the ICMP rate-limit knob, a crashed supervisor, a failed
build, and that no daemon outlives its lab.  ``python3 -m lab.selftest_udp`` builds a lab of just these two
parts and runs both (``--burst ADDR FIRST N`` is a helper that runs inside the scanner namespace).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from .core import NETNS_DIR, REPO_ROOT, Lab, LabError, _cmdline, _gone, _list_namespaces, _stray_servers

if TYPE_CHECKING:
    from .selftest import Checks

WAIT = 1.0


def _fam(addr: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def outcome(addr: str, port: int, timeout: float = WAIT) -> str:
    """One TCP connect: "open", "timeout" or the errno name."""
    s = socket.socket(_fam(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        return "open"
    except TimeoutError:
        return "timeout"
    except OSError as e:
        return errno.errorcode.get(e.errno or 0, str(e.errno))
    finally:
        s.close()


def udp_ask(addr: str, port: int, payload: bytes, wait: float = WAIT, connected: bool = True) -> tuple[str, bytes, Any]:
    """One datagram: ("reply", data, peer) | ("timeout", b"", None) | (errno name, b"", None)."""
    s = socket.socket(_fam(addr), socket.SOCK_DGRAM)
    s.settimeout(wait)
    try:
        if connected:
            s.connect((addr, port))
            s.send(payload)
        else:
            s.sendto(payload, (addr, port))
        data, peer = s.recvfrom(65536)
        return "reply", data, peer
    except TimeoutError:
        return "timeout", b"", None
    except OSError as e:
        return errno.errorcode.get(e.errno or 0, str(e.errno)), b"", None
    finally:
        s.close()


# --------------------------------------------------------------------------- protocol requests


def dns_query(name: str, qtype: int, qclass: int = 1, rd: bool = True, qid: int = 0x504C) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, qclass)


def dns_flags(data: bytes) -> dict[str, Any]:
    if len(data) < 12:
        return {"bad": True}
    _, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
    names = [n for n, bit in (("QR", 15), ("AA", 10), ("TC", 9), ("RD", 8), ("RA", 7)) if flags >> bit & 1]
    return {"flags": " ".join(names), "rcode": flags & 15, "an": an, "ns": ns}


def dns_first_rdata(data: bytes) -> bytes:
    """The rdata of the first answer (question skipped; the answer name must be a pointer or a name)."""
    i = 12
    while i < len(data) and data[i]:
        i += data[i] + 1
    i += 5  # end of name, qtype, qclass
    if i + 2 <= len(data) and data[i] & 0xC0 == 0xC0:
        i += 2
    else:
        while i < len(data) and data[i]:
            i += data[i] + 1
        i += 1
    if i + 10 > len(data):
        return b""
    (rdlen,) = struct.unpack("!H", data[i + 8 : i + 10])
    return data[i + 10 : i + 10 + rdlen]


def _ber(tag: int, content: bytes) -> bytes:
    n = len(content)
    head = bytes([n]) if n < 0x80 else (bytes([0x81, n]) if n < 0x100 else bytes([0x82, n >> 8, n & 0xFF]))
    return bytes([tag]) + head + content


SYS_DESCR_OID = bytes([0x2B, 6, 1, 2, 1, 1, 1, 0])


def snmp_get(community: str, version: int = 1) -> bytes:
    """SNMP GET sysDescr.0; ``version`` 0 is v1, 1 is v2c."""
    varbind = _ber(0x30, _ber(0x06, SYS_DESCR_OID) + b"\x05\x00")
    pdu = _ber(0xA0, _ber(0x02, b"\x2a") + _ber(0x02, b"\0") + _ber(0x02, b"\0") + _ber(0x30, varbind))
    return _ber(0x30, _ber(0x02, bytes([version])) + _ber(0x04, community.encode()) + pdu)


NTP_CLIENT = bytes([0x23]) + bytes(47)
NTP_MONLIST = bytes([0x17, 0x00, 0x03, 0x2A]) + bytes(44)
MEMCACHED_STATS = struct.pack("!HHHH", 0x504C, 0, 1, 0) + b"stats\r\n"
TFTP_RRQ_MISSING = b"\x00\x01portlens-probe.txt\x00octet\x00"


# --------------------------------------------------------------------------- udp part


def probe_udp(c: Checks, t: dict[str, Any]) -> None:
    v = t["versions"]
    for fam, host in (("v4", t["v4"]), ("v6", t["v6"])):
        res, data, _ = udp_ask(host, 53, dns_query("version.bind", 16, 3))
        f = dns_flags(data)
        c.info(f"udp {fam} recursive dnsmasq, version.bind CH TXT: {res} {f}")
        c.check(
            res == "reply" and "RA" in f["flags"] and f["rcode"] == 0 and t["dns_version_bind"].encode() in data,
            f"udp {fam}: recursive dnsmasq answers version.bind with RA and {t['dns_version_bind']}",
            f"{res} {f}",
        )
        res, data, _ = udp_ask(host, 53, dns_query("example.com", 1))
        f = dns_flags(data)
        c.info(f"udp {fam} recursive dnsmasq, example.com A RD: {res} {f}")
        addr = socket.inet_ntoa(dns_first_rdata(data)) if res == "reply" and f["an"] else ""
        c.check(
            res == "reply" and "RA" in f["flags"] and f["rcode"] == 0 and addr == t["dns_upstream"]["A"],
            f"udp {fam}: recursive query answered through the in-lab upstream",
            f"{res} {f} {addr}",
        )
        for ver, name in ((1, "v2c"), (0, "v1")):
            res, data, _ = udp_ask(host, 161, snmp_get("public", ver))
            c.check(
                res == "reply" and t["snmp_sysdescr"].encode() in data,
                f"udp {fam}: snmpd answers {name} GET sysDescr with community public",
                f"{res} {data[-60:]!r}",
            )
        res, data, _ = udp_ask(host, 123, NTP_CLIENT)
        c.check(
            res == "reply" and len(data) >= 48 and data[0] & 7 == 4 and data[1] == t["ntp_stratum"],
            f"udp {fam}: chronyd answers an NTP client request (mode 4, stratum {t['ntp_stratum']})",
            f"{res} {data[:2].hex()}",
        )
        res, _, _ = udp_ask(host, 123, NTP_MONLIST)
        c.check(res == "timeout", f"udp {fam}: chronyd ignores NTP mode 7 (monlist)", res)
        res, data, _ = udp_ask(host, 11211, MEMCACHED_STATS)
        c.check(
            res == "reply" and data[:2] == b"PL" and f"STAT version {v['memcached']}".encode() in data,
            f"udp {fam}: memcached answers stats over UDP (version {v['memcached']})",
            f"{res} {data[:60]!r}",
        )
        res, data, peer = udp_ask(host, 69, TFTP_RRQ_MISSING, connected=False)
        c.check(
            res == "reply" and data[:4] == b"\x00\x05\x00\x01" and peer is not None and peer[1] != 69,
            f"udp {fam}: in.tftpd answers an RRQ for a missing file with ERROR 1 from another port",
            f"{res} {data[:30]!r} from port {peer[1] if peer else '-'}",
        )
        res, data, _ = udp_ask(host, 69, TFTP_RRQ_MISSING, connected=True)
        c.info(f"udp {fam}: TFTP RRQ on a socket connected to port 69 sees: {res} (the reply comes from a new TID)")
    for fam, host in (("v4", t["auth"]), ("v6", t["auth_v6"])):
        res, data, _ = udp_ask(host, 53, dns_query("version.bind", 16, 3))
        f = dns_flags(data)
        c.info(f"udp {fam} authoritative dnsmasq, version.bind CH TXT: {res} {f}")
        c.check(
            res == "reply" and "RA" not in f["flags"] and f["rcode"] == 5,
            f"udp {fam}: authoritative-only dnsmasq REFUSES version.bind, no RA",
            f"{res} {f}",
        )
        res, data, _ = udp_ask(host, 53, dns_query("example.com", 1))
        f = dns_flags(data)
        c.info(f"udp {fam} authoritative dnsmasq, example.com A RD: {res} {f}")
        c.check(
            res == "reply" and "RA" not in f["flags"] and f["rcode"] == 5 and f["an"] == 0,
            f"udp {fam}: authoritative-only dnsmasq REFUSES recursion, no RA",
            f"{res} {f}",
        )
        www = f"www.{t['dns_zone']}"
        res, data, _ = udp_ask(host, 53, dns_query(www, 1))
        f = dns_flags(data)
        addr = socket.inet_ntoa(dns_first_rdata(data)) if res == "reply" and f["an"] else ""
        c.info(f"udp {fam} authoritative dnsmasq, {www} A: {res} {f}")
        c.check(
            res == "reply" and "AA" in f["flags"] and "RA" not in f["flags"] and addr == t["dns_records"][www][0],
            f"udp {fam}: authoritative-only dnsmasq answers its zone with AA",
            f"{res} {f} {addr}",
        )
        res, _, _ = udp_ask(host, 161, snmp_get("public"))
        c.check(res == "timeout", f"udp {fam}: hardened snmpd drops community public silently", res)
        res, data, _ = udp_ask(host, 161, snmp_get(t["auth_snmp_community"]))
        c.check(
            res == "reply" and t["auth_snmp_sysdescr"].encode() in data,
            f"udp {fam}: hardened snmpd answers its own random community",
            res,
        )
    # The filtered host. Each family sends at most 4 probes that raise ICMP errors: within the burst of 6.
    for fam, host in (("v4", t["filt"]), ("v6", t["filt_v6"])):
        got = [udp_ask(host, p, b"x", wait=0.5)[0] for p in (t["drop_ports"][0], t["drop_ports"][-1])]
        c.check(got == ["timeout", "timeout"], f"udp {fam}: nft-dropped ports are silent", str(got))
        got = [udp_ask(host, p, b"x")[0] for p in (t["prohibited_ports"][0], t["prohibited_ports"][-1])]
        c.info(f"udp {fam}: admin-prohibited reject gives {got[0]} on a connected UDP socket")
        want = "EHOSTUNREACH" if fam == "v4" else "EACCES"
        c.check(got == [want, want], f"udp {fam}: admin-prohibited ports fail with {want}", str(got))
        got = [udp_ask(host, p, b"x")[0] for p in (3000, 40000)]
        c.check(got == ["ECONNREFUSED"] * 2, f"udp {fam}: other ports are closed (port unreachable)", str(got))
        expect_tcp = outcome(host, 22)
        c.check(expect_tcp == "ECONNREFUSED", f"udp {fam}: TCP on the filtered host is left to the kernel", expect_tcp)
    for fam, host in (("v4", t["dead"]), ("v6", t["dead_v6"])):
        got = [udp_ask(host, 3000, b"x", wait=0.5)[0], outcome(host, 80, timeout=0.5)]
        c.check(got == ["timeout", "timeout"], f"udp {fam}: the dead address {host} answers nothing", str(got))
    for host in (t["v4"], t["v6"]):
        tcp = {p: outcome(host, p) for p in (*t["tcp_open_ports"], 22)}
        tcp_want = {**{p: "open" for p in t["tcp_open_ports"]}, 22: "ECONNREFUSED"}
        c.check(tcp == tcp_want, f"udp {host}: TCP {t['tcp_open_ports']} open, 22 closed", str(tcp))


# --------------------------------------------------------------------------- sparse part


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping_sweep(addrs: list[str], wait: float = 1.5) -> set[str]:
    """ICMP echo to every IPv4 address of ``addrs`` through one raw socket (root); the ones that replied."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    ident = os.getpid() & 0xFFFF
    want = set(addrs)
    replied: set[str] = set()
    try:
        for seq, addr in enumerate(addrs):
            body = struct.pack("!HH", ident, seq & 0xFFFF) + b"portlens-lab"
            head = struct.pack("!BBH", 8, 0, 0)
            packet = struct.pack("!BBH", 8, 0, _checksum(head + body)) + body
            s.sendto(packet, (addr, 0))
            if seq % 256 == 255:
                time.sleep(0.01)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            data, peer = s.recvfrom(2048)
            ihl = (data[0] & 15) * 4
            if len(data) >= ihl + 8 and data[ihl] == 0 and struct.unpack("!H", data[ihl + 4 : ihl + 6])[0] == ident:
                if peer[0] in want:
                    replied.add(peer[0])
    finally:
        s.close()
    return replied


def connect_sweep(addrs: list[str], port: int, wait: float = 1.0) -> dict[str, str]:
    """Non-blocking TCP connects to ``port`` of every address at once: "open", an errno name or "timeout"."""
    out: dict[str, str] = {}
    for start in range(0, len(addrs), 256):
        socks: dict[socket.socket, str] = {}
        for addr in addrs[start : start + 256]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((addr, port))
            socks[s] = addr
        deadline = time.monotonic() + wait
        pending = dict(socks)
        while pending and time.monotonic() < deadline:
            _, w, _ = select.select([], list(pending), [], max(0.0, deadline - time.monotonic()))
            for s in w:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                out[pending.pop(s)] = "open" if err == 0 else errno.errorcode.get(err, str(err))
        for addr in pending.values():
            out[addr] = "timeout"
        for s in socks:
            s.close()
    return out


def probe_sparse(c: Checks, t: dict[str, Any]) -> None:
    block = ipaddress.IPv4Network(t["block"])
    every = [str(a) for a in block]
    live = set(t["live"])
    c.check(
        len(live) == t["live_count"] == 410
        and t["dead_count"] == 3686
        and live == set(t["ping_only"] + t["tcp_only"] + t["both"]),
        "sparse: truth lists 410 live (137 ping-only, 137 tcp-only, 136 both) of 4096",
    )
    t0 = time.monotonic()
    echoed = ping_sweep(every)
    c.check(
        echoed == set(t["ping_only"]) | set(t["both"]),
        f"sparse: ICMP echo to all 4096 answered by exactly the ping-only and both groups ({len(echoed)})",
        f"extra {sorted(echoed - live)[:5]} missing {sorted(set(t['ping_only'] + t['both']) - echoed)[:5]}",
    )
    rng = random.Random(11)
    dead_sample = rng.sample(sorted(set(every) - live), 200)
    got22 = connect_sweep(t["live"] + dead_sample, t["open_ports"][0])
    by = {g: {got22[a] for a in t[g]} for g in ("ping_only", "tcp_only", "both")}
    c.check(
        by == {"ping_only": {"timeout"}, "tcp_only": {"open"}, "both": {"open"}},
        "sparse: TCP 22 open on tcp-only and both, silent on ping-only",
        str(by),
    )
    c.check({got22[a] for a in dead_sample} == {"timeout"}, "sparse: 200 sampled dead addresses are silent on 22")
    got80 = connect_sweep(t["tcp_only"] + t["both"], t["closed_ports"][0])
    c.check(set(got80.values()) == {"ECONNREFUSED"}, "sparse: TCP 80 closed on the TCP-answering live hosts")
    c.info(f"sparse: sweep took {time.monotonic() - t0:.1f} s")


def probe_parts(c: Checks, truth: dict[str, Any]) -> None:
    if "udp" in truth:
        probe_udp(c, truth["udp"])
    if "sparse" in truth:
        probe_sparse(c, truth["sparse"])


# --------------------------------------------------------------------------- outside checks


def burst(addr: str, first: int, count: int, wait: float = 1.0) -> int:
    """Send one datagram to each of ``count`` ports at once; how many ICMP errors came back within ``wait``."""
    socks = []
    for port in range(first, first + count):
        s = socket.socket(_fam(addr), socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((addr, port))
        s.send(b"x")
        socks.append(s)
    deadline = time.monotonic() + wait
    answered: set[socket.socket] = set()
    while len(answered) < len(socks) and time.monotonic() < deadline:
        r, _, _ = select.select([s for s in socks if s not in answered], [], [], 0.05)
        for s in r:
            try:
                s.recv(16)
            except OSError:
                pass
            answered.add(s)
    for s in socks:
        s.close()
    return len(answered)


def _in_scanner(
    lab: Lab, args: list[str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        lab.in_scanner_cmd([sys.executable, "-m", "lab.selftest_udp", *args]),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=str(REPO_ROOT),
        env=env,
        timeout=timeout,
        check=False,
    )


def _ns_inodes(tag: str) -> set[int]:
    return {os.stat(NETNS_DIR / name).st_ino for name in _list_namespaces(f"pl-{tag}-")}


def _daemons_of(tag: str, inodes: set[int]) -> list[int]:
    """Live processes inside the lab's namespaces (by inode) or whose command line names its run folder."""
    marker = f"/portlens-lab-{tag}/".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid() or _gone(int(entry)):
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                named = marker in f.read()
            inside = os.stat(f"/proc/{entry}/ns/net").st_ino in inodes
        except OSError:
            continue
        if named or inside:
            pids.append(int(entry))
    return pids


def check_ratelimit(c: Checks, lab: Lab) -> None:
    t = lab.truth["udp"]
    time.sleep(2.5)  # let the ICMP buckets of earlier probes refill
    for fam, host, first in (("v4", t["filt"], 30000), ("v6", t["filt_v6"], 31000)):
        p = _in_scanner(lab, ["--burst", host, str(first), "20"])
        n = int(p.stdout.strip() or -1)
        c.check(n == 6, f"icmp ratelimit default, {fam}: 20 closed ports at once, 6 answered (the burst)", str(n))
    old = lab.set_icmp_ratelimit("udp", 0)
    try:
        for fam, host, first in (("v4", t["filt"], 32000), ("v6", t["filt_v6"], 33000)):
            p = _in_scanner(lab, ["--burst", host, str(first), "300"])
            n = int(p.stdout.strip() or -1)
            c.check(n == 300, f"icmp ratelimit 0, {fam}: 300 closed ports at once, all answered", str(n))
    finally:
        back = lab.set_icmp_ratelimit("udp", None)
    c.check(
        old["net.ipv4.icmp_ratelimit"] == 1000 and back["net.ipv4.icmp_ratelimit"] == 0,
        "set_icmp_ratelimit returns the previous values",
        f"{old} {back}",
    )


def check_supervisor_crash(c: Checks) -> None:
    tag = "self_u"
    lab = Lab.create(tag=tag, parts=("udp",))
    inodes = _ns_inodes(tag)
    try:
        sup = lab._servers[0].proc.pid
        daemons = _daemons_of(tag, inodes)
        c.check(len(daemons) == 9, "udp supervisor and its 8 daemons run", str(len(daemons)))
        os.kill(sup, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _daemons_of(tag, inodes):
            time.sleep(0.05)
        left = [" ".join(_cmdline(p))[:60] for p in _daemons_of(tag, inodes)]
        c.check(not left, "udp daemons die with a SIGKILLed supervisor (PR_SET_PDEATHSIG)", str(left))
    finally:
        lab.close()
    c.check(_list_namespaces(f"pl-{tag}-") == [] and not _daemons_of(tag, inodes), "crashed udp lab closed cleanly")

    class Broken(Lab):
        def _build_sparse(self) -> None:
            raise LabError("injected failure")

    try:
        Broken.create(tag=tag, parts=("udp", "sparse"))
        c.check(False, "failure after the udp part raises")
    except LabError:
        pass
    c.check(
        _list_namespaces(f"pl-{tag}-") == [] and _stray_servers(tag) == [] and _daemons_of(tag, set()) == [],
        "failure after the udp part leaves no namespace, supervisor or daemon",
    )


def check_outside(c: Checks, lab: Lab) -> None:
    """Checks run from the root namespace while ``lab`` (with the udp part) is up."""
    if "udp" in lab.parts:
        check_ratelimit(c, lab)


def check_after_close(c: Checks, tag: str, inodes: set[int]) -> None:
    left = [" ".join(_cmdline(p))[:60] for p in _daemons_of(tag, inodes)]
    c.check(not left, f"no process left in lab {tag}'s namespaces, none naming its run folder", str(left))


def main(argv: list[str] | None = None) -> int:
    from .selftest import Checks

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--burst"]:
        print(burst(argv[1], int(argv[2]), int(argv[3])))
        return 0
    if argv[:1] == ["--probe"]:
        c = Checks()
        probe_parts(c, json.load(sys.stdin))
        print(f"PROBE {c.passed} {c.failed}", flush=True)
        return 0 if c.failed == 0 else 1
    c = Checks()
    t0 = time.monotonic()
    tag = "self_udp"
    lab = Lab.create(tag=tag, parts=("udp", "sparse"))
    inodes = _ns_inodes(tag)
    try:
        c.info(f"lab {tag} up in {time.monotonic() - t0:.2f} s")
        proc = _in_scanner(lab, ["--probe"], stdin=json.dumps(lab.truth))
        for line in proc.stdout.splitlines():
            if line.startswith("PROBE "):
                _, p, f = line.split()
                c.passed += int(p)
                c.failed += int(f)
            else:
                print(line, flush=True)
        if "PROBE" not in proc.stdout:
            c.check(False, "probe ran", proc.stderr[-2000:])
        check_outside(c, lab)
    finally:
        lab.close()
    c.check(_list_namespaces(f"pl-{tag}-") == [] and _stray_servers(tag) == [], "lab closed: no namespace, server")
    check_after_close(c, tag, inodes)
    check_supervisor_crash(c)
    print(f"selftest_udp: {c.passed} passed, {c.failed} failed in {time.monotonic() - t0:.1f} s", flush=True)
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
