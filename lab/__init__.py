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

``lab.truth`` has a key per part built, plus ``"scanner": {"ns": ..., "tag": ...}``::

    {"open": {"v4", "v6", "open_ports"},
     "filt": {"v4", "open_ports", "reset_ports", "icmp_ports"},
     "anyip": {"block", "gateway", "open_ports", "closed_ports", "dead", "live_count"},
     "hostile": {"v4", "v6", "ports": {"tarpit": 7101, ...}}}

CLI: ``python -m lab up --tag X [--json FILE] [--parts open,filt]`` keeps a lab up until
SIGTERM/SIGINT; ``python -m lab down --tag X`` removes it (or a crashed run's leftovers) by
name.  ``python -m lab.selftest`` checks the whole lab.
"""

from .core import PARTS, Lab, LabError, anyip_dead, filt_ports, open_ports, sweep

__all__ = ["PARTS", "Lab", "LabError", "anyip_dead", "filt_ports", "open_ports", "sweep"]
