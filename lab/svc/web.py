"""The web server: nginx with the lab's certificates."""

from __future__ import annotations

from pathlib import Path

from .common import _Supervisor, _write
from .truth import HARD, WEAK


def _nginx(sv: _Supervisor, certs: dict[str, Path]) -> None:
    d = sv.root / "nginx"
    tmp = d / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    page = "<html><head><title>portlens lab {which}</title></head><body>{which}</body></html>"
    temps = "".join(f"  {k}_temp_path {tmp}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = _write(
        d / "nginx.conf",
        f"""daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
{temps}  server {{
    listen {WEAK}:8080;
    location / {{ default_type text/html; return 200 "{page.format(which="weak web")}"; }}
  }}
  server {{
    listen {WEAK}:443 ssl;
    listen {WEAK}:4443 ssl;
    ssl_certificate {certs["expired"]};
    ssl_certificate_key {certs["expired_key"]};
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_ciphers "ALL:@SECLEVEL=0";
    location / {{ default_type text/html; return 200 "{page.format(which="weak tls")}"; }}
  }}
  server {{
    listen {HARD}:8443 ssl;
    ssl_certificate {certs["ok"]};
    ssl_certificate_key {certs["ok_key"]};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers "ECDHE+AESGCM:ECDHE+CHACHA20";
    location / {{ default_type text/html; return 200 "{page.format(which="hardened tls")}"; }}
  }}
}}
""",
    )
    sv.start("nginx", ["/usr/sbin/nginx", "-c", str(conf), "-p", str(d)])
