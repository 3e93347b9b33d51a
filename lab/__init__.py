"""portlens test lab: network namespaces with known ground truth (pure standard library, root).

All scans of the project's tests, benchmarks and demo run from the lab's scanner namespace,
which has no default route (see shared/LAB.md)::

    from lab import Lab
    with Lab.create(tag="t1234") as lab:          # or parts=("open", "hostile")
        lab.scanner_ns                             # "pl-t1234-scan"
        lab.truth                                  # JSON-serialisable ground truth
        subprocess.run(lab.in_scanner_cmd(["nmap", "-p", "1-100", "198.18.1.2"]))
        lab.enter_scanner()                        # setns() this thread (call from main thread)
    # close(): servers stopped, namespaces deleted (also registered with atexit)

Topology (scanner namespace ``pl-<tag>-scan``; target namespaces ``pl-<tag>-<part>``; every
link a veth pair created directly inside the namespaces, never in the root namespace):

``open``    198.18.1.2, 2001:db8:1::2 -- 40 reproducible open ports (one < 1024, one > 60000,
            65535), accept-and-close; every other port closed (RST).
``filt``    198.18.2.2 -- nft policy drop; 5 reproducible open ports; 6000-6009 rejected with
            tcp reset (closed); 7000-7009 rejected with ICMP port-unreachable; rest dropped.
``anyip``   198.18.3.2 is the gateway to 198.19.0.0/20 (AnyIP); ports 80, 443 open, 22 closed;
            addresses with block index % 4 == 3 (1024 of them) are dead (nft drop).
``hostile`` 198.18.4.2, 2001:db8:4::2 -- tarpit 7101, flood 7102, garbage 7103, reset 7104,
            drip 7105, script banner 7106 (every handler ends within 60 s).
``udp``     198.18.5.0/24, 2001:db8:5::/64, one namespace (lab/udp.py; real Debian servers, configs in
            the run folder, children of one ``python -m lab.udp serve`` supervisor):
            .2/::2 dnsmasq RECURSIVE (forwards to an in-namespace upstream on 127.0.0.53 that answers
            every name), snmpd community ``public``, chronyd (stratum 8, ignores mode 7), memcached
            with UDP (and TCP) 11211, in.tftpd (its ERROR comes from a new port, not 69);
            .3/::3 dnsmasq AUTHORITATIVE-only for ``portlens.lab`` (REFUSED, no RA, outside it) and
            snmpd with a random community (drops ``public`` silently: open|filtered);
            .4/::4 nft: UDP 1000-1009 dropped, 2000-2009 rejected admin-prohibited, rest to the kernel
            (closed, ICMP rate-limited); .5/::5 assigned but every packet dropped (dead).
            The three hosts share ONE ICMP rate-limit bucket (one kernel, one peer: the scanner).
``sparse``  198.18.6.2 is the gateway to 198.19.32.0/20 (AnyIP); live: index % 10 == 1 (410), the
            rest dead (nft drop); live index % 30 == 1 ping-only (echo answered, all else dropped),
            % 30 == 11 TCP-only (ICMP dropped), % 30 == 21 both; TCP 22 open, 80/443 closed.

``svc``     (optional: ``parts=(..., "svc")`` or ``lab.add_part("svc")``) 198.18.12.2 runs real
            Debian servers with a weakness (anonymous FTP, Redis without a password, SMB1, weak SSH
            algorithms, expired self-signed TLS, anonymous MQTT, VNC without a password, xrdp without
            NLA, Telnet...), 198.18.12.3 their hardened twins; stand-ins written from the protocol
            specifications where Debian ships no server (lab/svc/, ``SERVICES`` is the truth);
            every other TCP port of both addresses is closed (nft reset).

Network defences (optional parts, lab/defences.py; ``python -m lab.selftest_defences`` checks them).  Their
open ports are served by one transparent listener per namespace that an nft ``tproxy`` rule feeds, so the
open set is redrawn in the same nft transaction as the defence; no rule uses conntrack::

    scan --198.18.7.0/24-- limit      .2 .3 .4, 2001:db8:7::2 ::3 ::4, open ports per address
    scan --198.18.8.0/24-- shared (router, forward chain: ONE SYN bucket) --198.18.9.0/24-- shared_t
                           198.19.64.0/23 AnyIP: hosts = index 1..n (n=256 by default), the rest dead
    scan --198.18.10.0/24-- relay (TUN A <-> TUN B) --198.18.11.0/24-- relay_t
                           198.19.96.0/24 AnyIP: hosts = index 1..n (n=16 by default), the rest dead
``limit``   per-address SYN limiters, loss and a drop-closed firewall in the hosts' own namespace.
``shared``  an upstream router limiting the SYNs to every host behind it with one bucket.
``relay``   a high-RTT lossy path (no netem here): policy routing sends each direction through a user-space
            relay (lab/relay.c, compiled with gcc into the run folder, supervised by ``python -m lab.relay``)
            that holds every packet ``delay_ms`` +- ``jitter_ms`` and drops ``loss_pct`` % of them; it
            carries only lab addresses.  Limiter, SYN loss and firewall act in ``relay_t``.
            ``lab.relay.status(lab)``: its counters (relayed, lost, unsafe, overflow per direction).

``lab.set_defence(part, *, syn_limit=None, burst=5, per_host=..., syn_loss_pct=0, loss_pct=0,
drop_closed=False, seed=..., open_count=(1, 32), port_range=(1, 65535), hosts=..., open_ports=None,
delay_ms=0, jitter_ms=0)`` (the last two: ``relay`` only)
puts one scenario in force at once (nft table ``inet portlens_def`` replaced atomically) and returns
``lab.truth[part]``: pure SYNs over ``syn_limit``/s (bucket ``burst``) dropped, per address or with one
bucket; ``syn_loss_pct`` % of SYNs and ``loss_pct`` % of every packet (each direction) dropped at random;
``drop_closed``: everything but the open TCP ports and ICMP dropped.  Settings not given take their
defaults; the open ports are redrawn (per host a random count in ``open_count`` of ports in ``port_range``,
from ``seed``, drawn at random and reported if missing) only when a port setting is given.
``lab.defences.random_defence(part, seed)`` draws the settings from wide ranges.

``lab.set_icmp_ratelimit(part, ms)`` sets ``net.ipv4.icmp_ratelimit`` and ``net.ipv6.icmp.ratelimit``
of a part's namespace (0: none, and the namespace-wide ICMP budget lifted; None: kernel defaults) and
returns the previous values; ``lab.udp.icmp_ratelimit(lab, part, ms)`` is the context manager.

``lab.truth`` has a key per part built, plus ``"scanner": {"ns": ..., "tag": ...}``::

    {"open": {"v4", "v6", "open_ports"},
     "filt": {"v4", "open_ports", "reset_ports", "icmp_ports"},
     "anyip": {"block", "gateway", "open_ports", "closed_ports", "dead", "live_count"},
     "hostile": {"v4", "v6", "ports": {"tarpit": 7101, ...}},
     "udp": {"ns", "v4", "v6", "auth", "auth_v6", "filt", "filt_v6", "dead", "dead_v6",
             "open_ports": [53, 69, 123, 161, 11211], "tcp_open_ports": [53, 11211],
             "services": {"53": "domain", ...}, "auth_open_ports": [53], "auth_silent_ports": [161],
             "auth_tcp_open_ports": [53], "drop_ports", "prohibited_ports", "snmp_community",
             "snmp_sysdescr", "snmp_sysname", "auth_snmp_community", "auth_snmp_sysdescr",
             "dns_version_bind": "dnsmasq-2.90", "dns_zone", "dns_records", "dns_upstream",
             "ntp_stratum", "ntp_mode7": false, "tftp_file", "tftp_reply_from_other_port": true,
             "versions": {"dnsmasq", "memcached", "chrony", "snmpd"}, "icmp_ratelimit_ms",
             "icmp_shared_bucket"},
     "sparse": {"block", "gateway", "live", "ping_only", "tcp_only", "both", "live_count",
                "dead_count", "open_ports": [22], "closed_ports": [80, 443]},
     "svc": {"weak", "hard", "services": {key: {"addr", "port", "name", "checks", "real", ...}}},
     "limit" / "shared" / "relay": {"ns", "hosts_ns", "gateway", "block" (not limit), "hosts": [addr, ...],
                "open_ports": {addr: [port, ...]} (every host, [] for none), "seed",
                "defence": {"syn_limit", "burst", "per_host", "syn_loss_pct", "loss_pct",
                            "drop_closed", "seed", "hosts", "open_count", "port_range",
                            "delay_ms", "jitter_ms" (relay)}}}

CLI: ``python -m lab up --tag X [--json FILE] [--parts open,filt]`` keeps a lab up until
SIGTERM/SIGINT; ``python -m lab down --tag X`` removes it (or a crashed run's leftovers) by
name.  ``python -m lab.selftest`` checks the whole lab (``python -m lab.selftest_udp``: udp, sparse;
``python -m lab.selftest_defences [--seed S]``: limit, shared, relay).
"""

from .core import OPTIONAL_PARTS, PARTS, Lab, LabError, anyip_dead, filt_ports, open_ports, sweep

__all__ = ["OPTIONAL_PARTS", "PARTS", "Lab", "LabError", "anyip_dead", "filt_ports", "open_ports", "sweep"]
