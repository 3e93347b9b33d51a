"""The ``svc`` part's ground truth (:data:`SERVICES`) and what the lab builder does with it."""

from __future__ import annotations

from typing import Any

WEAK = "198.18.12.2"
HARD = "198.18.12.3"
NET = 12  # 198.18.12.0/24 (scanner .1)

V = "vulnerable"
OK = "ok"

#: key -> what runs there and what the scanner must find.  ``checks`` maps check id -> outcome;
#: ``deb`` names the Debian package whose upstream version the service must report.
SERVICES: dict[str, dict[str, Any]] = {
    # FTP: vsftpd, anonymous login on and off
    "ftp-weak": {
        "addr": WEAK,
        "port": 2121,
        "name": "ftp",
        "product": "vsftpd",
        "deb": "vsftpd",
        "checks": {"ftp-anonymous": V},
    },
    "ftp-hard": {
        "addr": HARD,
        "port": 21,
        "name": "ftp",
        "product": "vsftpd",
        "deb": "vsftpd",
        "checks": {"ftp-anonymous": OK},
    },
    # Redis with and without requirepass
    "redis-weak": {
        "addr": WEAK,
        "port": 7379,
        "name": "redis",
        "product": "Redis",
        "deb": "redis-server",
        "checks": {"redis-no-auth": V},
    },
    "redis-hard": {"addr": HARD, "port": 6379, "name": "redis", "product": "Redis", "checks": {"redis-no-auth": OK}},
    # Samba: SMB1 allowed and signing optional, vs SMB2+ with mandatory signing
    "smb-weak": {
        "addr": WEAK,
        "port": 445,
        "name": "smb",
        "product": "Samba smbd",
        "checks": {"smbv1": V, "smb-signing-not-required": V},
    },
    "smb-hard": {
        "addr": HARD,
        "port": 445,
        "name": "smb",
        "product": "Samba smbd",
        "checks": {"smbv1": OK, "smb-signing-not-required": OK},
    },
    "netbios-weak": {"addr": WEAK, "port": 139, "name": "netbios-ssn", "checks": {"smbv1": V}},
    # OpenSSH with weak algorithms added, vs defaults
    "ssh-weak": {
        "addr": WEAK,
        "port": 2222,
        "name": "ssh",
        "product": "OpenSSH",
        "deb": "openssh-server",
        "checks": {"ssh-weak-algorithms": V},
    },
    "ssh-hard": {
        "addr": HARD,
        "port": 22,
        "name": "ssh",
        "product": "OpenSSH",
        "deb": "openssh-server",
        "checks": {"ssh-weak-algorithms": OK},
    },
    # Telnet (inetutils-telnetd): cleartext by nature
    "telnet": {"addr": WEAK, "port": 2323, "name": "telnet", "checks": {"telnet-cleartext": V}},
    # nginx: HTTP; HTTPS with an expired self-signed certificate, TLS 1.0 and 3DES, vs a valid
    # certificate from a test CA with TLS 1.2+ and strong suites
    "http-weak": {
        "addr": WEAK,
        "port": 8080,
        "name": "http",
        "product": "nginx",
        "deb": "nginx-light",
        "checks": {"http-device-signature": OK},
    },
    "https-weak": {
        "addr": WEAK,
        "port": 443,
        "name": "https",
        "product": "nginx",
        "deb": "nginx-light",
        "tls": True,
        "checks": {"tls-expired": V, "tls-self-signed": V, "tls-weak-protocol": V, "tls-weak-cipher": V},
    },
    "https-odd-port": {
        "addr": WEAK,
        "port": 4443,
        "name": "https",
        "product": "nginx",
        "deb": "nginx-light",
        "tls": True,
        "checks": {"tls-expired": V, "tls-self-signed": V},
    },
    "https-hard": {
        "addr": HARD,
        "port": 8443,
        "name": "https",
        "product": "nginx",
        "deb": "nginx-light",
        "tls": True,
        "checks": {"tls-expired": OK, "tls-self-signed": OK, "tls-weak-protocol": OK, "tls-weak-cipher": OK},
    },
    # mosquitto with and without anonymous access
    "mqtt-weak": {"addr": WEAK, "port": 1883, "name": "mqtt", "checks": {"mqtt-anonymous": V}},
    "mqtt-hard": {"addr": HARD, "port": 11883, "name": "mqtt", "checks": {"mqtt-anonymous": OK}},
    # databases and caches: identification
    "postgresql": {"addr": WEAK, "port": 15432, "name": "postgresql", "product": "PostgreSQL", "checks": {}},
    "mariadb": {
        "addr": WEAK,
        "port": 3306,
        "name": "mysql",
        "product": "MariaDB",
        "deb": "mariadb-server",
        "checks": {},
    },
    "memcached": {
        "addr": WEAK,
        "port": 21211,
        "name": "memcached",
        "product": "memcached",
        "deb": "memcached",
        "checks": {"memcached-no-auth": V},
    },
    # TigerVNC without and with a password; its X server without and with access control
    "vnc-weak": {"addr": WEAK, "port": 5900, "name": "vnc", "checks": {"vnc-no-auth": V}},
    "vnc-hard": {"addr": HARD, "port": 5901, "name": "vnc", "checks": {"vnc-no-auth": OK}},
    "x11-weak": {"addr": WEAK, "port": 6001, "name": "x11", "checks": {"x11-no-auth": V}},
    "x11-hard": {"addr": HARD, "port": 6002, "name": "x11", "checks": {"x11-no-auth": OK}},
    # xrdp (standard RDP security and TLS, no NLA) vs a stand-in that requires NLA
    "rdp-weak": {"addr": WEAK, "port": 3389, "name": "rdp", "product": "xrdp", "checks": {"rdp-nla-not-enforced": V}},
    "rdp-hard": {"addr": HARD, "port": 3389, "name": "rdp", "real": False, "checks": {"rdp-nla-not-enforced": OK}},
    # stand-ins written from the protocol specifications
    "mongodb-weak": {"addr": WEAK, "port": 27017, "name": "mongodb", "real": False, "checks": {"mongodb-no-auth": V}},
    "mongodb-hard": {"addr": HARD, "port": 27017, "name": "mongodb", "real": False, "checks": {"mongodb-no-auth": OK}},
    "elasticsearch-weak": {
        "addr": WEAK,
        "port": 9200,
        "name": "elasticsearch",
        "real": False,
        "checks": {"elasticsearch-no-auth": V},
    },
    "elasticsearch-hard": {
        "addr": HARD,
        "port": 9200,
        "name": "elasticsearch",
        "real": False,
        "checks": {"elasticsearch-no-auth": OK},
    },
    "couchdb-weak": {"addr": WEAK, "port": 5984, "name": "couchdb", "real": False, "checks": {"couchdb-no-auth": V}},
    "couchdb-hard": {"addr": HARD, "port": 5984, "name": "couchdb", "real": False, "checks": {"couchdb-no-auth": OK}},
    "docker-weak": {"addr": WEAK, "port": 2375, "name": "docker", "real": False, "checks": {"docker-api-no-auth": V}},
    "docker-hard": {"addr": HARD, "port": 2375, "name": "docker", "real": False, "checks": {"docker-api-no-auth": OK}},
    "kubelet-weak": {
        "addr": WEAK,
        "port": 10250,
        "name": "kubelet",
        "real": False,
        "tls": True,
        "checks": {"kubelet-no-auth": V},
    },
    "kubelet-hard": {
        "addr": HARD,
        "port": 10250,
        "name": "kubelet",
        "real": False,
        "tls": True,
        "checks": {"kubelet-no-auth": OK},
    },
    "rtsp-weak": {"addr": WEAK, "port": 554, "name": "rtsp", "real": False, "checks": {"rtsp-no-auth": V}},
    "rtsp-hard": {"addr": HARD, "port": 8554, "name": "rtsp", "real": False, "checks": {"rtsp-no-auth": OK}},
    "camera-web": {
        "addr": WEAK,
        "port": 8081,
        "name": "http",
        "real": False,
        "checks": {"http-device-signature": V},
    },
}

#: Debian packages the real servers come from (scripts/sysdeps.sh installs them).
PACKAGES = (
    "vsftpd",
    "redis-server",
    "samba",
    "xrdp",
    "openssh-server",
    "inetutils-telnetd",
    "nginx-light",
    "postgresql",
    "mariadb-server",
    "mosquitto",
    "memcached",
    "tigervnc-standalone-server",
    "tigervnc-tools",
    "openssl",
)


def truth() -> dict[str, Any]:
    """What ``lab.truth["svc"]`` holds."""
    services = {k: {"real": True, **v} for k, v in SERVICES.items()}
    return {"weak": WEAK, "hard": HARD, "services": services}


# --------------------------------------------------------------------------- building (lab side)


def build(lab: Any) -> None:
    """Addresses and the supervisor of the ``svc`` part (its link, with ``WEAK``, already exists)."""
    part = "svc"
    ns = f"pl-{lab.tag}-{part}"
    _, _, target_if = lab._veths(part)
    lab._addr(ns, f"{HARD}/24", target_if)
    lab._nft(ns, nft_script())
    root = lab.run_dir / part
    lab._start_server(part, ["run", "--dir", str(root)], module="lab.services")
    lab.truth[part] = truth()


def nft_script() -> str:
    """Only the ports of :data:`SERVICES` accept connections on each address (the rest reset):
    servers that listen on every address (Xtigervnc's X11 ports) then answer only where the
    truth says, and every other port of both hosts is closed."""
    rules = ""
    for addr in (WEAK, HARD):
        ports = ", ".join(str(p) for p in sorted({s["port"] for s in SERVICES.values() if s["addr"] == addr}))
        rules += f"    ct state new ip daddr {addr} tcp dport != {{ {ports} }} reject with tcp reset\n"
    chain = f"  chain input {{\n    type filter hook input priority 0; policy accept;\n{rules}  }}\n"
    return f"table inet svc {{\n{chain}}}\n"
