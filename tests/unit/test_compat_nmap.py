"""``from portlens.compat import nmap`` without scanning: python-nmap's arguments read into portlens's
options (tests/lab/test_compat_nmap.py scans the lab with them, side by side with nmap)."""

from __future__ import annotations

import warnings
from pathlib import Path

import portlens
from portlens.compat.nmap import _plan


def test_arguments_map_to_portlens_options(tmp_path: Path) -> None:
    p = _plan("198.19.0-1.1,3 2001:db8:1::2", None, "-sT -T4 --max-retries 0 --exclude 198.19.1.3 -F")
    assert p.options == {
        "initial_rtt_timeout": 0.5,
        "min_rtt_timeout": 0.1,
        "max_rtt_timeout": 1.25,
        "max_retries": 0,
        "min_retries": 0,
    }
    assert [t.items for t in p.targets] == [
        ("198.19.0.1", "198.19.0.3", "198.19.1.1", "198.19.1.3"),
        ("2001:db8:1::2",),
    ]
    assert p.addresses() == ["198.19.0.1", "198.19.0.3", "198.19.1.1", "2001:db8:1::2"]
    assert p.ports == sorted(portlens.top_ports("top-100"))
    p = _plan("198.18.1.2", "T:22,80-82", "-T5 --host-timeout 2m --min-rate 50 --max-rate 100 -Pn --open -vv -d")
    assert p.ports == [22, 80, 81, 82] and p.host_timeout == 120 and p.options["rate"] == 100
    assert p.options["max_retries"] == 2 and p.pn and p.open_only and p.list_limit == 25 * (1 + 2 + 20)
    assert _plan("198.18.1.2", None, "-T1 --min-rate 10").options == {"rate": 10}
    assert _plan("198.18.1.2", None, "-T polite").options == {"rate": 2.5, "concurrency": 1}
    assert _plan("198.18.1.2", None, "-T5").host_timeout == 900
    top = portlens.top_ports("top-1000")
    assert _plan("198.18.1.2", None, "--top-ports 10").ports == sorted(top[:10])
    assert len(_plan("198.18.1.2", None, "--top-ports=1005").ports) == 1005
    assert len(_plan("198.18.1.2", "-", "").ports) == 65535
    assert _plan("198.18.1.2", "-1024", "--exclude-ports 1-1000").ports == list(range(1001, 1025))
    assert _plan("198.18.1.2", None, "-p22 -sL").list_only
    (tmp_path / "in.txt").write_text("198.19.0.0/30 # a block\n2001:db8:1::2\n")
    (tmp_path / "out.txt").write_text("198.19.0.1\n2001:db8::/32\n")
    p = _plan("", "80", f"-iL {tmp_path / 'in.txt'} --excludefile={tmp_path / 'out.txt'} 198.19.0.9")
    assert p.addresses() == ["198.19.0.0", "198.19.0.2", "198.19.0.3", "198.19.0.9"]


def test_sU_and_sV_map_to_engine_options() -> None:
    """``-sU`` scans UDP (``protocol="udp"``, named port sets and ``U:`` ports are UDP's), ``-sV``
    identifies services (``services=True``), with no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = _plan("198.18.1.2", None, "-sU -F")
        assert p.protocol == "udp" and p.options == {"protocol": "udp"}
        assert p.ports == sorted(portlens.top_ports("top-100", "udp"))
        p = _plan("198.18.1.2", None, "-sV -sU --top-ports 5 --exclude-ports U:53")
        assert p.options == {"protocol": "udp", "services": True}
        assert p.ports == sorted(set(portlens.top_ports("top-1000", "udp")[:5]) - {53})
        p = _plan("198.18.1.2", "U:53,161", "-sU -sV")
        assert p.ports == [53, 161] and p.options == {"protocol": "udp", "services": True}
        p = _plan("198.18.1.2", "22", "-sV")
        assert p.protocol == "tcp" and p.options == {"services": True} and p.ports == [22]
