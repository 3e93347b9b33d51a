"""The lab's certificates, made with openssl (see :func:`make_certs`)."""

from __future__ import annotations

from pathlib import Path

from .common import _run, _write
from .truth import HARD, WEAK


def make_certs(d: Path) -> dict[str, Path]:
    """An expired self-signed certificate, a test CA, a valid certificate it signed, and one for
    the stand-ins' TLS."""
    d.mkdir(parents=True, exist_ok=True)
    ca_conf = _write(
        d / "ca.cnf",
        f"""[ca]
default_ca = lab
[lab]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_self]
basicConstraints = CA:FALSE
subjectAltName = IP:{WEAK}
""",
    )
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    # expired, self-signed (2020-2021)
    _run(["openssl", "genrsa", "-out", str(d / "expired.key"), "2048"])
    _run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            str(d / "expired.key"),
            "-subj",
            "/CN=svc-weak.lab.invalid",
            "-out",
            str(d / "expired.csr"),
        ]
    )
    _run(
        [
            "openssl",
            "ca",
            "-batch",
            "-config",
            str(ca_conf),
            "-selfsign",
            "-keyfile",
            str(d / "expired.key"),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
            "-extensions",
            "v3_self",
            "-in",
            str(d / "expired.csr"),
            "-out",
            str(d / "expired.pem"),
            "-notext",
        ]
    )
    # test CA and a valid leaf
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(d / "ca.key"),
            "-out",
            str(d / "ca.pem"),
            "-days",
            "30",
            "-subj",
            "/CN=portlens lab test CA",
        ]
    )
    _run(
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(d / "ok.key"),
            "-out",
            str(d / "ok.csr"),
            "-subj",
            "/CN=svc-hard.lab.invalid",
        ]
    )
    ext = _write(d / "ok.ext", f"subjectAltName = DNS:svc-hard.lab.invalid, IP:{HARD}\nbasicConstraints = CA:FALSE\n")
    _run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(d / "ok.csr"),
            "-CA",
            str(d / "ca.pem"),
            "-CAkey",
            str(d / "ca.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            str(ext),
            "-out",
            str(d / "ok.pem"),
        ]
    )
    (d / "ok-chain.pem").write_text((d / "ok.pem").read_text() + (d / "ca.pem").read_text())
    return {
        "expired": d / "expired.pem",
        "expired_key": d / "expired.key",
        "ok": d / "ok-chain.pem",
        "ok_key": d / "ok.key",
        "ca": d / "ca.pem",
    }
