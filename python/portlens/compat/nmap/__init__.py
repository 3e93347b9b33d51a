"""python-nmap's interface, run by portlens: change ``import nmap`` into
``from portlens.compat import nmap`` and scripts written for python-nmap keep working, with no nmap
binary and no root::

    from portlens.compat import nmap

    nm = nmap.PortScanner()
    nm.scan("198.18.1.0/24", "22-443", "-sT -Pn -T4")
    for host in nm.all_hosts():
        print(host, nm[host].state(), [p for p in nm[host].all_tcp() if nm[host]["tcp"][p]["state"] == "open"])

``scan()`` returns python-nmap's dictionary, built (as python-nmap does) from the nmap XML document
that `get_nmap_last_output` returns; portlens writes that document the way nmap would for the same
command: a state of more than 25 ports (times ``1 + v + 20·d`` with ``-v``/``-d``) goes to
``extraports``, ``-Pn`` lists every target as up, ``--open`` leaves out hosts without an open port,
``-v`` lists down hosts.

Understood arguments: ``-sT`` (a TCP connect scan, ``method="connect"``, the default), ``-sS`` (a SYN
scan, ``method="syn"``: raw sockets, so root or CAP_NET_RAW, as nmap needs), ``-sU`` (portlens's UDP
scan, ``protocol="udp"``; a call scans TCP or UDP, so not together with ``-sT``/``-sS``), ``-sV``
(portlens's service identification, ``services=True``),
``-sL``, ``-p`` (``T:`` prefixes, ``U:`` with ``-sU``), ``-F`` (portlens's top 100 of the protocol),
``--top-ports N`` (the first N of portlens's top 1000, then the other ports in ascending order),
``--exclude-ports``, ``-r``, ``-Pn``, ``-n``, ``-4``, ``-6``, ``-T0``..``-T5``, ``--open``,
``--max-retries``, ``--host-timeout``, ``--min-rate``/``--max-rate``, ``--scan-delay``,
``--initial-rtt-timeout``/``--min-rtt-timeout``/``--max-rtt-timeout``, ``--max-parallelism``,
``-S`` (``source=``) and ``-e`` (``interface=``),
``--exclude``, ``--excludefile``, ``-iL``, ``-v``/``-d`` levels, and the no-ops ``--reason``,
``--privileged``, ``--unprivileged``, ``--system-dns``, ``--min-parallelism``, ``--min-hostgroup``,
``--max-hostgroup``, ``--defeat-rst-ratelimit``, ``--noninteractive``, ``--no-stylesheet`` and
``--version-intensity/-light/-all``. Anything else (``-sn``, ``-O``, ``-A``, ``--script``,
``-P*`` discovery probes, ``-oX`` ...) raises `NmapArgumentError` naming it: a ``portlens.OptionError``
that is also a `PortScannerError`, so both ``except`` clauses catch it.

Differences from nmap worth knowing: service names come from portlens's own port table, not from
nmap's; a port that answers with ICMP port-unreachable is ``filtered``/``port-unreach`` (nmap's
connect scan says ``closed``/``conn-refused``); without ``-Pn`` host discovery is portlens's
(engines without it count a host up when it answered a port probe); no reverse DNS (as with
``-n``); ``--host-timeout`` scans each host on its own (8 at a time) so that each has its own clock;
a scan of more than 65,536 probes keeps only open ports one by one, so its closed and filtered ports
are all counted in ``extraports`` even when nmap would list 25 or fewer of them.
"""

from __future__ import annotations

from .args import CompatWarning, NmapArgumentError, PortScannerError, PortScannerTimeout, read_plan
from .pydict import PortScannerHostDict
from .scanner import PortScanner, PortScannerAsync, PortScannerYield

__all__ = [
    "PortScanner",
    "PortScannerAsync",
    "PortScannerYield",
    "PortScannerHostDict",
    "PortScannerError",
    "PortScannerTimeout",
    "NmapArgumentError",
    "CompatWarning",
]


# the name read_plan had (tests import it)
_plan = read_plan
