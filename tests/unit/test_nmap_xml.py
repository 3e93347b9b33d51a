"""nmap XML out and in, naabu JSON Lines: what other tools read, checked with those tools' own readers.

The writer is checked against nmap's DTD (read from Debian's nmap package, whose DTD carries a
permissive notice; nothing of it is bundled), parsed with python-nmap and python-libnmap, and read
the way DefectDojo's nmap parser reads it. The reader is fed nmap's own XML of a lab scan.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nmap as python_nmap
import pytest

import portlens


def defectdojo_view(xml: str) -> tuple[datetime, list[dict[str, Any]]]:
    """What DefectDojo's nmap parser reads, element by element: the ``nmaprun`` root (else it
    refuses), ``nmaprun/@start`` as a timestamp, per ``host`` its ``address[@addrtype='ipv4' or
    'ipv6']/@addr`` and ``hostnames/hostname/@name``, ``os/osmatch`` (optional), per ``ports/port``
    ``@protocol``, ``@portid`` (an int), ``state/@state`` (only "open" is reported),
    ``service/@name``, ``@product``, ``@version``, ``@extrainfo`` (optional) and ``script`` (optional)."""
    root = ET.fromstring(xml)
    if "nmaprun" not in root.tag:
        raise ValueError("This doesn't seem to be a valid Nmap xml file.")
    date = datetime.fromtimestamp(int(root.attrib["start"]), timezone.utc)
    findings = []
    for host in root.findall("host"):
        address = host.find("address[@addrtype='ipv4']")
        if address is None:
            address = host.find("address[@addrtype='ipv6']")
        assert address is not None, "a host without an ipv4/ipv6 address"
        ip = address.attrib["addr"]
        hostname = host.find("hostnames/hostname")
        fqdn = hostname.attrib["name"] if hostname is not None else None
        os_names = [m.attrib.get("name") for m in host.iter("osmatch")]
        for port in host.findall("ports/port"):
            protocol = port.attrib["protocol"]
            assert port.attrib["portid"].isdigit()
            state = port.find("state")
            assert state is not None
            if state.attrib.get("state") != "open":
                continue
            service = port.find("service")
            info = dict(service.attrib) if service is not None else {}
            findings.append(
                {
                    "host": fqdn or ip,
                    "ip": ip,
                    "port": int(port.attrib["portid"]),
                    "protocol": protocol,
                    "name": info.get("name"),
                    "product": info.get("product"),
                    "version": info.get("version"),
                    "extrainfo": info.get("extrainfo"),
                    "scripts": [s.attrib["id"] for s in port.findall("script")],
                    "os": os_names,
                }
            )
    return date, findings


SERVICE_SCAN = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sV -sU -sT -v 198.18.9.0/30" start="1700000000" startstr="x" version="7.93"
 xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="1000" services="1-1000"/>
<scaninfo type="udp" protocol="udp" numservices="2" services="53,161"/>
<verbose level="1"/><debugging level="0"/>
<host><status state="down" reason="no-response" reason_ttl="0"/><address addr="198.18.9.1" addrtype="ipv4"/>
<hostnames/></host>
<host starttime="1700000001" endtime="1700000009"><status state="up" reason="syn-ack" reason_ttl="0"/>
<address addr="198.18.9.2" addrtype="ipv4"/><address addr="02:00:00:00:00:01" addrtype="mac"/>
<hostnames><hostname name="web.example" type="PTR"/></hostnames>
<ports><extraports state="closed" count="996"><extrareasons reason="conn-refused" count="996"/></extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"/>
<service name="ssh" product="OpenSSH" version="9.2p1 Debian 2" extrainfo="protocol 2.0" ostype="Linux"
 method="probed" conf="10"><cpe>cpe:/a:openbsd:openssh:9.2p1</cpe><cpe>cpe:/o:linux:linux_kernel</cpe></service></port>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="0"/>
<service name="http" product="nginx" tunnel="ssl" method="probed" conf="10"/></port>
<port protocol="tcp" portid="445"><state state="filtered" reason="no-response" reason_ttl="0"/>
<service name="microsoft-ds" method="table" conf="3"/></port>
<port protocol="tcp" portid="8080"><state state="unfiltered" reason="reset" reason_ttl="0"/></port>
<port protocol="udp" portid="53"><state state="open|filtered" reason="no-response" reason_ttl="0"/>
<service name="domain" method="table" conf="3"/></port>
<port protocol="udp" portid="161"><state state="closed|filtered" reason="no-response" reason_ttl="0"/></port>
</ports>
<times srtt="1500" rttvar="300" to="100000"/>
</host>
<runstats><finished time="1700000010" timestr="x" elapsed="10.25" exit="success"/>
<hosts up="1" down="1" total="2"/></runstats>
</nmaprun>
"""


def test_load_keeps_nmap_service_records(tmp_path: Path) -> None:
    path = tmp_path / "sv.xml"
    path.write_text(SERVICE_SCAN)
    r = portlens.load_nmap_xml(path)
    assert r.hosts_total == 2 and r.hosts_up == 1 and r.status == "complete"
    assert r.elapsed == 10.25 and r.started == datetime.fromtimestamp(1700000000, timezone.utc)
    host = r.host("198.18.9.2")
    assert host is not None and host.hostname == "web.example" and host.rtt == pytest.approx(0.0015)
    assert r.stats["hosts_down"] == 1
    down = r.host("198.18.9.1")
    assert down is None or down.state == "down"  # listed down when results can say so
    assert host.counts["closed"] == 997 and host.counts["open"] == 2  # 996 extraports + unfiltered 8080
    states = {(p.protocol, p.port): p.state for p in r.ports}
    assert states[("udp", 161)] == "filtered" and states[("tcp", 8080)] == "closed"
    assert states[("udp", 53)] in ("open|filtered", "filtered")
    assert r.options["nmap_states"]["unfiltered"] == 1 and r.options["nmap_states"]["closed|filtered"] == 1
    ssh = next(p for p in r.ports if p.port == 22)
    assert ssh.service == {
        "name": "ssh",
        "product": "OpenSSH",
        "version": "9.2p1 Debian 2",
        "extrainfo": "protocol 2.0",
        "ostype": "Linux",
        "method": "probed",
        "conf": 10,
        "cpe": ["cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel"],
    }
    # stored as portlens JSON (schema portlens.scan/1) the service record comes back
    r.to_json(str(tmp_path / "sv.json"))
    assert json.loads((tmp_path / "sv.json").read_text())["schema"] == "portlens.scan/1"
    back = portlens.load(str(tmp_path / "sv.json"))
    assert back.ports == r.ports and next(p for p in back.ports if p.port == 22).service == ssh.service
    # and written back as nmap XML, other tools see product and version
    date, findings = defectdojo_view(r.to_nmap_xml())
    by_port = {f["port"]: f for f in findings}
    assert set(by_port) == {22, 443}
    assert (by_port[22]["product"], by_port[22]["version"], by_port[22]["extrainfo"]) == (
        "OpenSSH",
        "9.2p1 Debian 2",
        "protocol 2.0",
    )
    nm = python_nmap.PortScanner()
    nm.analyse_nmap_xml_scan(r.to_nmap_xml())
    assert nm["198.18.9.2"]["tcp"][22]["cpe"] == "cpe:/o:linux:linux_kernel"
    assert nm["198.18.9.2"]["tcp"][443]["product"] == "nginx"
    assert ET.fromstring(r.to_nmap_xml()).find(".//port[@portid='443']/service").get("tunnel") == "ssl"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not xml", "not an XML document|malformed"),
        ('<?xml version="1.0"?><report><host/></report>', "not an nmap XML document"),
        ('<!DOCTYPE nmaprun [<!ENTITY a "aaaa">]><nmaprun scanner="nmap">&a;</nmaprun>', "entity"),
    ],
)
def test_load_nmap_xml_rejects_other_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.xml"
    path.write_text(content)
    with pytest.raises(portlens.PortlensError, match=message):
        portlens.load_nmap_xml(path)
    with pytest.raises(portlens.PortlensError, match="cannot read"):
        portlens.load_nmap_xml(tmp_path / "missing.xml")
