"""Network defences for the lab: the optional ``limit``, ``shared`` and ``relay`` parts (see ``lab/__init__.py``).

Built by :class:`lab.Lab` (``_build_limit`` etc. call :func:`build`); reconfigured at run time with
:func:`set_defence` (``lab.set_defence(part, ...)``), one nft transaction per namespace, so that one lab
serves many randomized scenarios.

Open ports cost nothing to redraw: every namespace with targets runs ONE transparent listener
(``python -m lab.servers listen --transparent``) bound to an address nobody routes to (198.19.255.N, port 9),
and an nft ``tproxy`` rule hands it the packets whose (address, port) is in the open set.  The accepted socket
keeps the original address and port, so a scanner that reuses one source port for many probes never makes two
flows collide (a DNAT to one port would: one conntrack tuple).  No rule uses conntrack, so a full-range scan
fills no table and the defences add no loss of their own.
"""

from __future__ import annotations

import ipaddress
import json
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Lab

NFT_TABLE = "portlens_def"
TPROXY_PORT = 9
DEFAULT_SEED = 20240612
#: A pure SYN: the first packet of a handshake (not the SYN-ACK coming back through a router).
SYN = "tcp flags & (fin | syn | rst | ack) == syn"

LIMIT_V4 = ["198.18.7.2", "198.18.7.3", "198.18.7.4"]
LIMIT_V6 = ["2001:db8:7::2", "2001:db8:7::3", "2001:db8:7::4"]
SHARED_BLOCK = ipaddress.IPv4Network("198.19.64.0/23")
RELAY_BLOCK = ipaddress.IPv4Network("198.19.96.0/24")


@dataclass(frozen=True)
class _Spec:
    """Where a part's targets live and where each defence is enforced."""

    net: int  # link 198.18.<net>.0/24 to the scanner (also in core._PART_NET)
    inner: int | None  # link 198.18.<inner>.0/24 from the part's namespace to its hosts' namespace
    block: ipaddress.IPv4Network | None  # AnyIP block of the hosts (None: the link addresses)
    max_hosts: int
    default_hosts: int
    limiter: str  # "hosts": in the hosts' namespace (prerouting); "router": forward chain of the part's namespace
    loss: str  # "hosts", "router" or "relay" (the user-space relay drops)


SPECS = {
    "limit": _Spec(7, None, None, 6, 6, "hosts", "hosts"),
    "shared": _Spec(8, 9, SHARED_BLOCK, SHARED_BLOCK.num_addresses - 2, 256, "router", "router"),
    "relay": _Spec(10, 11, RELAY_BLOCK, RELAY_BLOCK.num_addresses - 2, 16, "hosts", "relay"),
}

#: Keys of set_defence() that redraw the open ports (others keep the ports in force).
_PORT_KEYS = ("seed", "open_ports", "open_count", "port_range", "hosts")


# --------------------------------------------------------------------------- ground truth


def host_addresses(part: str, count: int | None = None) -> list[str]:
    """The target addresses of ``part``: the link addresses of ``limit``; block index 1..count otherwise."""
    spec = SPECS[part]
    if spec.block is None:
        return list(LIMIT_V4 + LIMIT_V6)
    n = spec.default_hosts if count is None else count
    if not 1 <= n <= spec.max_hosts:
        raise ValueError(f"{part}: hosts must be 1..{spec.max_hosts}, got {n}")
    base = int(spec.block.network_address)
    return [str(ipaddress.IPv4Address(base + i)) for i in range(1, n + 1)]


def draw_open_ports(
    seed: int, hosts: list[str], count: tuple[int, int] = (1, 32), port_range: tuple[int, int] = (1, 65535)
) -> dict[str, list[int]]:
    """Per host, a random number (``count``, inclusive) of distinct random ports in ``port_range``."""
    lo, hi = port_range
    if not 1 <= lo <= hi <= 65535 or not 0 <= count[0] <= count[1]:
        raise ValueError(f"bad port_range {port_range} or open_count {count}")
    rng = random.Random(seed)
    out = {}
    for addr in hosts:
        n = min(rng.randint(*count), hi - lo + 1)
        out[addr] = sorted(rng.sample(range(lo, hi + 1), n))
    return out


def random_defence(part: str, seed: int) -> dict[str, Any]:
    """Keyword arguments of :func:`set_defence` drawn from wide ranges (reproducible from ``seed``).

    Override any key before passing it on (e.g. ``port_range`` to keep a scan short under a slow limit).
    """
    rng = random.Random(seed)
    kw: dict[str, Any] = {
        "seed": seed,
        "syn_limit": int(math.exp(rng.uniform(math.log(20), math.log(5000)))),  # log-uniform 20..5000/s
        "burst": rng.randint(1, 64),
        "per_host": rng.random() < 0.5 if part != "shared" else False,
        "syn_loss_pct": 0.0 if rng.random() < 0.5 else round(rng.uniform(0, 30), 2),
        "loss_pct": 0.0 if rng.random() < 0.6 else round(rng.uniform(0, 10), 2),
        "drop_closed": rng.random() < 0.5,
        "open_count": (rng.randint(0, 2), rng.randint(3, 64)),
    }
    if part != "limit":
        kw["hosts"] = rng.randint(64, 256) if part == "shared" else rng.randint(4, 64)
    if part == "relay":
        kw["delay_ms"] = rng.randint(50, 200)
        kw["jitter_ms"] = rng.randint(0, 20)
    return kw


# --------------------------------------------------------------------------- nft


def _pct(p: float) -> int:
    """A loss percentage as basis points for ``numgen random mod 10000 < BP``."""
    if not 0 <= p <= 100:
        raise ValueError(f"loss must be 0..100 %, got {p}")
    return round(p * 100)


def _limit_rules(d: dict[str, Any], hook_v6: bool) -> list[str]:
    if d["syn_limit"] is None:
        return []
    rate = f"limit rate over {d['syn_limit']}/second burst {d['burst']} packets"
    if not d["per_host"]:  # one token bucket for every address behind this hook
        return [f"{SYN} {rate} drop"]
    rules = [f"{SYN} update @lim4 {{ ip daddr {rate} }} drop"]
    if hook_v6:
        rules.append(f"{SYN} update @lim6 {{ ip6 daddr {rate} }} drop")
    return rules


def _loss_rules(d: dict[str, Any], every: bool = True) -> list[str]:
    """Random drops: of every packet (``loss_pct``; unless ``every`` is False) and of pure SYNs."""
    rules = []
    if d["loss_pct"] and every:
        rules.append(f"numgen random mod 10000 < {_pct(d['loss_pct'])} drop")
    if d["syn_loss_pct"]:
        rules.append(f"{SYN} numgen random mod 10000 < {_pct(d['syn_loss_pct'])} drop")
    return rules


def _elements(items: list[str]) -> str:
    # nft refuses "elements = { }": an empty set is declared without the line
    return f"elements = {{ {', '.join(items)} }}" if items else ""


def _sets(open_ports: dict[str, list[int]], live: list[str] | None) -> str:
    o4 = [f"{a} . {p}" for a, ps in open_ports.items() if ":" not in a for p in ps]
    o6 = [f"{a} . {p}" for a, ps in open_ports.items() if ":" in a for p in ps]
    dyn = "flags dynamic, timeout; timeout 60s; size 65536;"
    text = f"""
    set open4 {{ type ipv4_addr . inet_service; {_elements(o4)} }}
    set open6 {{ type ipv6_addr . inet_service; {_elements(o6)} }}
    set lim4 {{ type ipv4_addr; {dyn} }}
    set lim6 {{ type ipv6_addr; {dyn} }}"""
    if live is not None:
        text += f"\n    set live {{ type ipv4_addr; {_elements(live)} }}"
    return text


def _replace_table(body: str) -> str:
    """One nft transaction: the old table (if any) goes and the new one comes at once."""
    return f"table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\ntable inet {NFT_TABLE} {{{body}\n}}\n"


def _hosts_script(part: str, d: dict[str, Any], open_ports: dict[str, list[int]]) -> str:
    spec = SPECS[part]
    tp4, tp6 = _tproxy_addrs(part)
    pre = ['iif "lo" accept']
    if spec.loss != "router":  # with the relay, it drops its share of every packet; SYN loss stays here
        pre += _loss_rules(d, every=spec.loss == "hosts")
    if spec.block is not None:  # addresses of the block that are not hosts are dead
        pre.append(f"ip daddr {spec.block} ip daddr != @live drop")
    if spec.limiter == "hosts":
        pre += _limit_rules(d, hook_v6=True)
    pre += [
        f"ip daddr . tcp dport @open4 tproxy ip to {tp4}:{TPROXY_PORT} accept",
        f"ip6 daddr . tcp dport @open6 tproxy ip6 to [{tp6}]:{TPROXY_PORT} accept",
    ]
    if d["drop_closed"]:
        pre += ["meta l4proto { icmp, ipv6-icmp } accept", "drop"]
    live = d["hosts_list"] if spec.block is not None else None
    body = _sets(open_ports, live) + _chain("pre", "prerouting priority raw", pre)
    if spec.loss == "hosts" and d["loss_pct"]:  # the replies lose their share too
        out = ['oif "lo" accept', f"numgen random mod 10000 < {_pct(d['loss_pct'])} drop"]
        body += _chain("out", "output priority raw", out)
    return _replace_table(body)


def _router_script(d: dict[str, Any]) -> str:
    rules = _loss_rules(d) + _limit_rules(d, hook_v6=False)
    return _replace_table(_sets({}, None) + _chain("through", "forward priority filter", rules))


def _chain(name: str, hook: str, rules: list[str]) -> str:
    lines = "\n        ".join(rules)
    return f"\n    chain {name} {{\n        type filter hook {hook}; policy accept;\n        {lines}\n    }}"


# --------------------------------------------------------------------------- namespaces


def part_ns(lab: Lab, part: str) -> str:
    return f"pl-{lab.tag}-{part}"


def hosts_ns(lab: Lab, part: str) -> str:
    """The namespace holding ``part``'s target addresses (the part's own one for ``limit``)."""
    return part_ns(lab, part) + ("_t" if SPECS[part].inner is not None else "")


def _tproxy_addrs(part: str) -> tuple[str, str]:
    """The transparent listener's addresses: routed by nobody, so only a tproxy rule reaches them."""
    n = SPECS[part].net
    return f"198.19.255.{n}", f"2001:db8:ffff::{n}"


def _inner_link(lab: Lab, part: str) -> None:
    """A veth from the part's namespace (``.1``) to its hosts' namespace (``.2``), made inside them."""
    from .core import _PART_LETTER, _run

    spec = SPECS[part]
    ns, inner = part_ns(lab, part), hosts_ns(lab, part)
    lab._add_ns(inner)
    a, b = f"pl{lab._hash4}{_PART_LETTER[part]}2", f"pl{lab._hash4}{_PART_LETTER[part]}3"
    _run(["ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b, "netns", inner])
    lab._addr(ns, f"198.18.{spec.inner}.1/24", a)
    lab._addr(inner, f"198.18.{spec.inner}.2/24", b)
    _run(["ip", "-n", ns, "link", "set", a, "up"])
    _run(["ip", "-n", inner, "link", "set", b, "up"])
    _wait_carrier(inner, b)


def _wait_carrier(ns: str, dev: str, timeout: float = 10.0) -> None:
    from .core import LabError, _run

    deadline = time.monotonic() + timeout
    while True:
        info = json.loads(_run(["ip", "-j", "-n", ns, "link", "show", "dev", dev]) or "[]")
        if info and info[0].get("operstate") == "UP":
            return
        if time.monotonic() > deadline:
            raise LabError(f"link {dev} in {ns} has no carrier after {timeout}s")
        time.sleep(0.02)


def _sysctl(ns: str, key: str, value: str) -> None:
    from .core import _run

    _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}"])


# --------------------------------------------------------------------------- building


def build(lab: Lab, part: str) -> None:
    """Build ``part`` (its link to the scanner exists): hosts, routes, listener, the default defence."""
    from .core import _run

    spec = SPECS[part]
    ns, scan_if, target_if = lab._veths(part)
    if part == "limit":
        for addr in LIMIT_V4[1:]:
            lab._addr(ns, f"{addr}/24", target_if)
        for addr in LIMIT_V6[1:]:
            lab._addr(ns, f"{addr}/64", target_if)
    else:
        assert spec.block is not None and spec.inner is not None
        block, inner = str(spec.block), hosts_ns(lab, part)
        _inner_link(lab, part)
        _run(["ip", "-n", inner, "route", "add", "local", block, "dev", "lo"])
        _run(["ip", "-n", inner, "route", "add", f"198.18.{spec.net}.0/24", "via", f"198.18.{spec.inner}.1"])
        _run(["ip", "-n", lab.scanner_ns, "route", "add", block, "via", f"198.18.{spec.net}.2", "dev", scan_if])
        if part == "shared":
            _run(["ip", "-n", ns, "route", "add", block, "via", f"198.18.{spec.inner}.2"])
            _sysctl(ns, "net.ipv4.ip_forward", "1")
        else:
            from .relay import build_relay

            build_relay(lab)
    tp4, tp6 = _tproxy_addrs(part)
    addrs = ["--addr", tp4] + (["--addr", tp6] if part == "limit" else [])
    listen = ["listen", "--transparent", *addrs, "--ports", str(TPROXY_PORT)]
    lab._start_server(hosts_ns(lab, part).removeprefix(f"pl-{lab.tag}-"), listen)
    lab.truth[part] = {"ns": ns, "hosts_ns": hosts_ns(lab, part), "gateway": f"198.18.{spec.net}.2"}
    if spec.block is not None:
        lab.truth[part]["block"] = str(spec.block)
    set_defence(lab, part, seed=DEFAULT_SEED)


# --------------------------------------------------------------------------- run time


def _settings(part: str, kw: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    """Validated settings of one scenario: defaults for everything not given."""
    spec = SPECS[part]
    allowed = {"seed", "open_ports", "open_count", "port_range", "hosts", "syn_limit", "burst", "per_host"}
    allowed |= {"syn_loss_pct", "loss_pct", "drop_closed"}
    if part == "relay":
        allowed |= {"delay_ms", "jitter_ms"}
    unknown = set(kw) - allowed
    if unknown:
        raise ValueError(f"set_defence({part!r}): unknown settings {sorted(unknown)}")
    d = {
        "syn_limit": kw.get("syn_limit"),
        "burst": int(kw.get("burst", 5)),
        "per_host": bool(kw.get("per_host", spec.limiter == "hosts")),
        "syn_loss_pct": float(kw.get("syn_loss_pct", 0.0)),
        "loss_pct": float(kw.get("loss_pct", 0.0)),
        "drop_closed": bool(kw.get("drop_closed", False)),
    }
    if d["syn_limit"] is not None and (int(d["syn_limit"]) < 1 or d["burst"] < 1):
        raise ValueError("syn_limit and burst must be >= 1 (syn_limit=None: no limit)")
    d["syn_limit"] = None if d["syn_limit"] is None else int(d["syn_limit"])
    for key in ("syn_loss_pct", "loss_pct"):
        _pct(d[key])  # raises ValueError when out of range
    if part == "relay":
        d["delay_ms"] = int(kw.get("delay_ms", 0))
        d["jitter_ms"] = int(kw.get("jitter_ms", 0))
        if not 0 <= d["jitter_ms"] <= d["delay_ms"] <= 2000:
            raise ValueError("relay: need 0 <= jitter_ms <= delay_ms <= 2000")
    _ports(part, kw, truth, d)
    return d


def _ports(part: str, kw: dict[str, Any], truth: dict[str, Any], d: dict[str, Any]) -> None:
    """Fill ``d`` with the hosts and open ports: redrawn when a port key is given, else the ones in force."""
    if "defence" in truth and not any(k in kw for k in _PORT_KEYS):
        for k in ("seed", "hosts", "open_count", "port_range"):
            d[k] = truth["defence"][k]
        d["hosts_list"], d["open_ports"] = truth["hosts"], truth["open_ports"]
        return
    from .core import _assert_lab_addr

    if "hosts" in kw and SPECS[part].block is None:
        raise ValueError(f"{part}: the hosts are fixed ({len(host_addresses(part))} link addresses)")
    d["seed"] = kw.get("seed", random.SystemRandom().randrange(1 << 32))
    d["hosts"] = int(kw.get("hosts", SPECS[part].default_hosts))
    d["open_count"] = tuple(kw.get("open_count", (1, 32)))
    d["port_range"] = tuple(kw.get("port_range", (1, 65535)))
    d["hosts_list"] = host_addresses(part, d["hosts"] if SPECS[part].block is not None else None)
    given = kw.get("open_ports")
    if given is None:
        d["open_ports"] = draw_open_ports(d["seed"], d["hosts_list"], d["open_count"], d["port_range"])
        return
    bad = [a for a in given if a not in d["hosts_list"]]
    if bad:
        raise ValueError(f"{part}: open_ports for addresses that are not hosts: {bad[:5]}")
    for a, ps in given.items():
        _assert_lab_addr(a)
        if any(not 1 <= int(p) <= 65535 for p in ps):
            raise ValueError(f"{part}: port out of range for {a}")
    d["open_ports"] = {a: sorted({int(p) for p in given.get(a, [])}) for a in d["hosts_list"]}


def set_defence(lab: Lab, part: str, **kw: Any) -> dict[str, Any]:
    """Put one scenario in force in ``part`` (``limit``, ``shared`` or ``relay``); returns what is in force.

    Settings (anything not given takes its default; the open ports stay unless a port key is given):

    ``syn_limit`` (None) / ``burst`` (5) / ``per_host`` -- pure SYNs over ``syn_limit``/s (token bucket of
    ``burst``) are dropped; ``per_host`` (default True in ``limit`` and ``relay``, False in ``shared``) gives
    every target address its own bucket, else one bucket serves all of them.  ``limit``/``relay``: enforced in
    the hosts' namespace; ``shared``: in the router's forward chain.
    ``syn_loss_pct`` (0) -- that share of pure SYNs vanishes (before the limiter).
    ``loss_pct`` (0) -- that share of EVERY packet vanishes, in each direction (the relay drops it in ``relay``).
    ``drop_closed`` (False) -- a firewall: all but the open TCP ports and ICMP is dropped (closed ports filtered).
    ``seed`` / ``open_count`` ((1, 32)) / ``port_range`` ((1, 65535)) / ``hosts`` -- redraw the open ports: per
    host a random count in ``open_count`` of ports in ``port_range``; ``hosts`` live addresses (block index
    1..hosts, the rest of the block dead) in ``shared`` (default 256) and ``relay`` (16).  A missing seed is drawn
    (and reported).  ``open_ports={addr: [ports]}`` gives them instead (hosts not named: none open).
    ``delay_ms`` (0) / ``jitter_ms`` (0) -- ``relay`` only: one-way delay of the relay, +- uniform jitter.
    """
    from .core import LabError

    lab._require_open()
    if part not in SPECS or part not in lab.parts:
        raise LabError(f"set_defence: {part!r} is not a defence part of this lab ({lab.parts})")
    truth = lab.truth[part]
    d = _settings(part, kw, truth)
    lab._nft(hosts_ns(lab, part), _hosts_script(part, d, d["open_ports"]))
    if SPECS[part].limiter == "router":
        lab._nft(part_ns(lab, part), _router_script(d))
    if part == "relay":
        from .relay import configure

        configure(lab, d)
    truth["hosts"] = d.pop("hosts_list")
    truth["open_ports"] = d.pop("open_ports")
    truth["seed"] = d["seed"]
    truth["defence"] = d
    lab.truth[part] = json.loads(json.dumps(truth))  # JSON-shaped (tuples become lists)
    return json.loads(json.dumps(truth))
