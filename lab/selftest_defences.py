"""Self-test of the defence parts: ``python3 -m lab.selftest_defences [--seed S] [--parts limit,shared,relay]`` (root).

Creates a lab tagged ``selfdef`` with the defence parts, draws every scenario's parameters from ``--seed``
(printed; a random one if not given), and checks from inside the scanner namespace, with plain sockets and
with ``nmap -sT -T4``, that each defence does what it says:

* a limit of N SYN/s (bucket B) answers about N + B of a burst of 5 N connects spread over 1 s, per address
  (``per_host``) or for all addresses together (one bucket; the ``shared`` router);
* K % SYN loss loses about K % of the connects; K % loss of every packet loses 1 - (1 - K)^2 of them;
* ``drop_closed`` leaves the open ports open and filters the rest; nmap finds exactly the open ports of the
  truth under a limit with loss; redrawn ports take effect at once;
* the relay adds the configured round trip (2 x delay) and measured throughput without loss of its own.

Every connect is abandoned after :data:`WAIT` s, before the kernel's first SYN retransmission (1 s), so a
connect answers only if its first SYN did.  Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import collections
import errno
import math
import random
import resource
import select
import socket
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

from .core import Lab, _list_namespaces
from .selftest import Checks

TAG = "selfdef"
WAIT = 0.9  # s: below the kernel's initial RTO (1 s), so no SYN is sent twice
_LINGER0 = struct.pack("ii", 1, 0)


# --------------------------------------------------------------------------- probing


class Burst:
    """The outcome of one paced burst of connects: per address, answered (SYN-ACK or RST) and lost."""

    def __init__(self) -> None:
        self.answered: collections.Counter[str] = collections.Counter()
        self.lost: collections.Counter[str] = collections.Counter()
        self.open: set[tuple[str, int]] = set()
        self.rtts: list[float] = []
        self.seconds = 0.0  # from the first connect to the last answer or expiry

    def total(self) -> tuple[int, int]:
        return sum(self.answered.values()), sum(self.lost.values())


def burst(targets: list[tuple[str, int]], rate: float, wait: float = WAIT) -> Burst:
    """Connect to every (address, port) in order, paced at ``rate`` per second; each gets ``wait`` s."""
    out = Burst()
    ep = select.epoll()
    pending: dict[int, tuple[socket.socket, float, str, int]] = {}
    # (fd, socket) in send order: they expire in that order; the socket tells a reused fd number apart
    order: collections.deque[tuple[int, socket.socket]] = collections.deque()
    t0, i = time.monotonic(), 0
    while i < len(targets) or pending:
        now = time.monotonic()
        while i < len(targets) and t0 + i / rate <= now:
            order.append(_send(ep, pending, *targets[i]))
            i += 1
        while order and (_done(pending, *order[0]) or pending[order[0][0]][1] + wait <= now):
            fd, s = order.popleft()
            if not _done(pending, fd, s):  # no answer in time: lost
                out.lost[pending.pop(fd)[2]] += 1
                ep.unregister(fd)
                s.close()
        due = pending[order[0][0]][1] + wait if order else math.inf
        nxt = min(t0 + i / rate if i < len(targets) else math.inf, due)
        for fd, _ in ep.poll(max(0.0, min(nxt - time.monotonic(), 0.05))):
            _answered(ep, pending, fd, out)
    ep.close()
    out.seconds = time.monotonic() - t0
    return out


def _done(pending: dict[int, Any], fd: int, s: socket.socket) -> bool:
    entry = pending.get(fd)
    return entry is None or entry[0] is not s


def _send(ep: select.epoll, pending: dict[int, Any], addr: str, port: int) -> tuple[int, socket.socket]:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)  # close with RST: no TIME_WAIT pile-up
    t = time.monotonic()  # before the SYN leaves: a preempted probe can only look slower, never faster
    s.connect_ex((addr, port))
    ep.register(s.fileno(), select.EPOLLOUT)
    pending[s.fileno()] = (s, t, addr, port)
    return s.fileno(), s


def _answered(ep: select.epoll, pending: dict[int, Any], fd: int, out: Burst) -> None:
    s, t, addr, port = pending.pop(fd)
    ep.unregister(fd)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err in (0, errno.ECONNREFUSED):
        out.answered[addr] += 1
        out.rtts.append(time.monotonic() - t)
        if err == 0:
            out.open.add((addr, port))
    else:
        out.lost[addr] += 1
    s.close()


def closed_targets(rng: random.Random, truth: dict[str, Any], addrs: list[str], n: int) -> list[tuple[str, int]]:
    """``n`` (address, port) pairs, addresses round robin, on ports that are not open."""
    out = []
    for k in range(n):
        addr = addrs[k % len(addrs)]
        opened = set(truth["open_ports"][addr])
        port = rng.randint(1, 65535)
        while port in opened:
            port = rng.randint(1, 65535)
        out.append((addr, port))
    return out


def nmap_open(lab: Lab, addrs: list[str], ports: list[int], extra: list[str] | None = None) -> dict[str, list[int]]:
    """``nmap -sT -T4`` from the scanner namespace: the open ports per address."""
    v6 = ["-6"] if ":" in addrs[0] else []
    argv = ["nmap", "-sT", "-T4", "-n", "-Pn", *v6, "-p", ",".join(map(str, sorted(set(ports)))), "-oX", "-"]
    r = subprocess.run(lab.in_scanner_cmd([*argv, *(extra or []), *addrs]), capture_output=True, text=True, timeout=600)
    found: dict[str, list[int]] = {a: [] for a in addrs}
    for host in ET.fromstring(r.stdout).iter("host"):
        addr = host.find("address").get("addr")  # type: ignore[union-attr]
        for p in host.iter("port"):
            if p.find("state").get("state") == "open":  # type: ignore[union-attr]
                found[addr].append(int(p.get("portid", "0")))
    return {a: sorted(ps) for a, ps in found.items()}


# --------------------------------------------------------------------------- expectations


def near(got: float, want: float, rel: float = 0.1, slack: float = 3) -> bool:
    return abs(got - want) <= rel * want + slack


def binomial_ok(lost: int, n: int, p: float) -> bool:
    """``lost`` of ``n`` is within 4 standard deviations (and 1 %) of ``p``."""
    sd = math.sqrt(max(n * p * (1 - p), 1.0))
    return abs(lost - n * p) <= 4 * sd + 0.01 * n


# --------------------------------------------------------------------------- scenarios


def check_limit_per_host(lab: Lab, ch: Checks, rng: random.Random, fam6: bool = False) -> None:
    # B >= 5: with B = 1 a token bucket wastes every token that falls due while it is full, so a sender
    # whose SYNs come in 1-ms clumps gets about 0.85 N through, not N + 1 (measured; a property of the bucket)
    n, b = rng.randint(50, 300), rng.randint(5, 40)
    t = lab.set_defence("limit", syn_limit=n, burst=b, per_host=True)
    addrs = [a for a in t["hosts"] if (":" in a) == fam6]
    res = burst(closed_targets(rng, t, addrs, 5 * n * len(addrs)), rate=5 * n * len(addrs))
    for a in addrs:
        ch.check(
            near(res.answered[a], n + b),
            f"limit per host {'v6' if fam6 else 'v4'} {a}: N={n}/s B={b}, 5N in 1 s",
            f"answered {res.answered[a]}, want ~{n + b} (lost {res.lost[a]})",
        )


def check_limit_one_bucket(lab: Lab, ch: Checks, rng: random.Random, part: str) -> None:
    n, b = rng.randint(50, 400), rng.randint(5, 40)
    t = lab.set_defence(part, syn_limit=n, burst=b, per_host=False)
    addrs = t["hosts"][: 3 if part == "limit" else 64]
    addrs = [a for a in addrs if ":" not in a] + [a for a in addrs if ":" in a]
    res = burst(closed_targets(rng, t, addrs, 5 * n), rate=5 * n)
    got, lost = res.total()
    ch.check(near(got, n + b), f"{part} one bucket for {len(addrs)} hosts: N={n}/s B={b}", f"answered {got} of {5 * n}")


def check_syn_loss(lab: Lab, ch: Checks, rng: random.Random, part: str, every: bool = False) -> None:
    k = round(rng.uniform(2, 30), 1)
    key = "loss_pct" if every else "syn_loss_pct"
    t = lab.set_defence(part, **{key: k})
    addrs = [a for a in t["hosts"] if ":" not in a][:16]
    count = 2000
    res = burst(closed_targets(rng, t, addrs, count), rate=2000)
    got, lost = res.total()
    p = 1 - (1 - k / 100) ** 2 if every else k / 100  # every packet: the SYN and the answer must both pass
    ch.check(
        binomial_ok(lost, count, p),
        f"{part} {key}={k}",
        f"lost {lost} of {count} ({100 * lost / count:.1f} %), want {100 * p:.1f} %",
    )


def check_truth_nmap(lab: Lab, ch: Checks, rng: random.Random, part: str) -> None:
    """The truth is exact (nmap under drop_closed alone finds the open ports and nothing else); then under a
    limit with SYN loss nmap may miss ports (its retries stop early when nothing but open ports answer:
    real defences do that to it) but invents none."""
    seed = rng.randrange(1 << 32)
    kw: dict[str, Any] = {"drop_closed": True, "seed": seed, "open_count": (0, 12)}
    if part != "limit":
        kw["hosts"] = 64
    t = lab.set_defence(part, **kw)
    addrs = [a for a in t["hosts"] if ":" not in a][:8]
    ports = sorted({p for a in addrs for p in t["open_ports"][a]} | {rng.randint(1, 65535) for _ in range(100)})
    want = {a: sorted(set(t["open_ports"][a]) & set(ports)) for a in addrs}
    t0 = time.monotonic()
    found = nmap_open(lab, addrs, ports)
    what = f"{len(addrs)} hosts x {len(ports)} ports in {time.monotonic() - t0:.1f} s"
    ch.check(found == want, f"{part} nmap -sT -T4 under drop_closed finds the truth (seed {seed})", what)
    n, b, k = rng.randint(200, 1000), rng.randint(5, 40), round(rng.uniform(0, 15), 1)
    lab.set_defence(part, syn_limit=n, burst=b, syn_loss_pct=k, drop_closed=True)
    t0 = time.monotonic()
    found = nmap_open(lab, addrs, ports)
    extra = [(a, p) for a in addrs for p in found[a] if p not in want[a]]
    missed = sum(len(want[a]) - len(set(found[a]) & set(want[a])) for a in addrs)
    ch.check(
        not extra, f"{part} nmap -sT -T4 under drop_closed, N={n}/s B={b}, SYN loss {k} %: none invented", str(extra)
    )
    ch.info(f"{part} nmap missed {missed} of {sum(map(len, want.values()))} open ports ({time.monotonic() - t0:.1f} s)")
    res = burst(closed_targets(rng, t, addrs[:1], 20), rate=200)
    ch.check(res.total()[0] == 0, f"{part} drop_closed: closed ports filtered", f"{res.total()[0]} of 20 answered")


def check_redraw(lab: Lab, ch: Checks, rng: random.Random, part: str) -> None:
    before = lab.truth[part]
    t = lab.set_defence(part, seed=rng.randrange(1 << 32), open_count=(5, 20))
    addr = next(a for a in t["hosts"] if ":" not in a)
    now_open = [(addr, p) for p in t["open_ports"][addr]]
    gone = [(addr, p) for p in before["open_ports"][addr] if p not in t["open_ports"][addr]]
    res = burst(now_open + gone, rate=500)
    ok = res.open == set(now_open) and res.total()[1] == 0
    ch.check(
        ok,
        f"{part} redrawn open ports in force at once (seed {t['seed']})",
        f"{len(now_open)} open, {len(gone)} closed now",
    )


# --------------------------------------------------------------------------- the relay


def relay_checks(lab: Lab, ch: Checks, rng: random.Random) -> None:
    from .relay import status

    d = rng.randint(50, 200)
    t = lab.set_defence("relay", delay_ms=d)
    hosts = t["hosts"]
    res = burst(closed_targets(rng, t, hosts, 200), rate=100)
    rtts = sorted(1000 * x for x in res.rtts)
    med = rtts[len(rtts) // 2] if rtts else math.inf
    ch.check(
        len(rtts) == 200 and abs(med - 2 * d) <= 2 + 0.01 * d,
        f"relay delay {d} ms one way: connect RTT = 2 x delay",
        f"median {med:.2f} ms, min {rtts[0]:.2f}, max {rtts[-1]:.2f} of {len(rtts)}" if rtts else "no answer",
    )
    j = rng.randint(5, min(30, d))
    lab.set_defence("relay", delay_ms=d, jitter_ms=j)
    res = burst(closed_targets(rng, t, hosts, 300), rate=150)
    rtts = sorted(1000 * x for x in res.rtts)
    lo, hi = 2 * (d - j) - 1, 2 * (d + j) + 3
    ch.check(
        len(rtts) == 300 and lo <= rtts[0] and rtts[-1] <= hi and rtts[-1] - rtts[0] > j,
        f"relay delay {d} +- {j} ms: RTT spread within 2 x (delay +- jitter)",
        f"min {rtts[0]:.1f} ms, median {rtts[len(rtts) // 2]:.1f}, max {rtts[-1]:.1f} (bounds {lo}..{hi})",
    )
    k = round(rng.uniform(2, 20), 1)
    lab.set_defence("relay", delay_ms=d, loss_pct=k)
    res = burst(closed_targets(rng, t, hosts, 2000), rate=2000)
    got, lost = res.total()
    p = 1 - (1 - k / 100) ** 2
    ch.check(binomial_ok(lost, 2000, p), f"relay loss {k} % each way", f"lost {lost} of 2000, want {100 * p:.1f} %")
    lab.set_defence("relay", delay_ms=50)
    for rate in (2000, 5000, 10000, 20000):
        before = status(lab)
        res = burst(closed_targets(rng, t, hosts, rate), rate=rate)
        after = status(lab)
        got, lost = res.total()
        what = f"{got} answered, {lost} lost, sent in {res.seconds - 0.05:.2f} s; {_relay_delta(before, after)}"
        ok = lost == 0 and after["tun_dropped"] == before["tun_dropped"]
        ch.check(ok, f"relay TCP connects at {rate}/s for 1 s, delay 50 ms: no loss", what)
    udp_throughput(lab, ch, hosts[0])


def _relay_delta(before: dict[str, Any], after: dict[str, Any]) -> str:
    keys = ("relayed", "overflow", "write_errors", "tun_dropped")
    delta = {k: [a - b for a, b in zip(after[k], before[k], strict=True)] for k in keys}
    return f"relay {delta}, max queued {after['max_queued']}"


def udp_throughput(lab: Lab, ch: Checks, host: str) -> None:
    """UDP datagrams through the relay (one way, delay 50 ms) at rising paced rates: how many arrive."""
    from .defences import hosts_ns
    from .relay import status

    ns = hosts_ns(lab, "relay")
    count_table = "table inet portlens_count {\n chain c {\n type filter hook prerouting priority -400;\n"
    count_table += " udp dport 9999 counter\n }\n}\n"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    best = 0
    for rate in (10000, 20000, 50000, 100000, 200000):
        lab._nft(ns, "table inet portlens_count\ndelete table inet portlens_count\n" + count_table)
        before = status(lab)
        t0 = time.monotonic()
        sent = _blast(s, host, rate, 1.0)
        took = time.monotonic() - t0
        time.sleep(0.3)  # the last ones are still held for the delay
        listing = ["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "portlens_count"]
        out = subprocess.run(listing, capture_output=True, text=True)
        arrived = int(out.stdout.split("packets ")[1].split()[0])
        after = status(lab)
        dropped = after["tun_dropped"][0] - before["tun_dropped"][0]
        ch.info(
            f"relay UDP {sent} sent in {took:.2f} s (asked {rate}/s): {arrived} arrived, {dropped} dropped by the "
            f"kernel at TUN A (read too late); {_relay_delta(before, after)}"
        )
        if arrived >= sent * 0.999:
            best = max(best, round(sent / took))
    lab._nft(ns, "delete table inet portlens_count\n")
    s.close()
    ch.check(best >= 20000, "relay carries >= 20000 packets/s without loss", f"best lossless rate {best}/s")


def _blast(s: socket.socket, host: str, rate: int, seconds: float) -> int:
    """Paced sendto(): as many datagrams as due every 1 ms; returns how many went."""
    t0, sent, n = time.monotonic(), 0, int(rate * seconds)
    payload = b"x" * 18  # 64-byte frames, about a SYN
    while sent < n:
        due = min(n, int((time.monotonic() - t0) * rate) + 1)
        while sent < due:
            try:
                s.sendto(payload, (host, 9999))
            except BlockingIOError:
                break
            sent += 1
        time.sleep(0.0005)
    return sent


def run(seed: int, parts: tuple[str, ...]) -> int:
    ch = Checks()
    rng = random.Random(seed)
    print(f"INFO seed {seed} (python3 -m lab.selftest_defences --seed {seed} to replay)", flush=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    t0 = time.monotonic()
    with Lab.create(tag=TAG, parts=parts) as lab:
        ch.info(f"lab up in {time.monotonic() - t0:.2f} s: {lab}")
        lab.enter_scanner()
        if "limit" in parts:
            check_limit_per_host(lab, ch, rng)
            check_limit_per_host(lab, ch, rng, fam6=True)
            check_limit_one_bucket(lab, ch, rng, "limit")
            check_syn_loss(lab, ch, rng, "limit")
            check_syn_loss(lab, ch, rng, "limit", every=True)
            check_truth_nmap(lab, ch, rng, "limit")
            check_redraw(lab, ch, rng, "limit")
        if "shared" in parts:
            check_limit_one_bucket(lab, ch, rng, "shared")
            check_syn_loss(lab, ch, rng, "shared")
            check_syn_loss(lab, ch, rng, "shared", every=True)
            check_truth_nmap(lab, ch, rng, "shared")
            check_redraw(lab, ch, rng, "shared")
        if "relay" in parts:
            relay_checks(lab, ch, rng)
    left = _list_namespaces(f"pl-{TAG}-")
    ch.check(not left, "no namespace left after close", " ".join(left))
    print(f"{'OK' if ch.failed == 0 else 'FAILED'}: {ch.passed} passed, {ch.failed} failed (seed {seed})", flush=True)
    return 0 if ch.failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lab.selftest_defences", description=__doc__)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--parts", default="limit,shared,relay")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    return run(seed, tuple(p for p in args.parts.split(",") if p))


if __name__ == "__main__":
    sys.exit(main())
