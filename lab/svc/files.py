"""File sharing: vsftpd (anonymous FTP on and off) and Samba (SMB1 and optional signing, or SMB2+ with
mandatory signing)."""

from __future__ import annotations

from .common import _Supervisor, _write


def _vsftpd(sv: _Supervisor, name: str, addr: str, port: int, anonymous: bool) -> None:
    d = sv.root / name
    empty = d / "empty"
    anon = d / "anon"
    empty.mkdir(parents=True, exist_ok=True)
    anon.mkdir(parents=True, exist_ok=True)
    (anon / "README").write_text("portlens lab\n")
    for p in (d, empty, anon):
        p.chmod(0o755)
    conf = _write(
        d / "vsftpd.conf",
        f"""listen=YES
listen_ipv6=NO
listen_address={addr}
listen_port={port}
background=NO
anonymous_enable={"YES" if anonymous else "NO"}
anon_root={anon}
local_enable={"NO" if anonymous else "YES"}
write_enable=NO
pam_service_name=vsftpd
secure_chroot_dir={empty}
ftp_username=ftp
nopriv_user=nobody
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
dual_log_enable=NO
vsftpd_log_file={d}/vsftpd.log
""",
        0o600,
    )
    sv.start(name, ["/usr/sbin/vsftpd", str(conf)])


def _samba(sv: _Supervisor, name: str, addr: str, ports: str, weak: bool) -> None:
    policy = (
        "server min protocol = NT1\n  server signing = auto\n"
        if weak
        else "server min protocol = SMB2_02\n  server signing = mandatory\n"
    )
    samba(sv, name, addr, ports, policy)


def samba(sv: _Supervisor, name: str, addr: str, ports: str, policy: str, workgroup: str = "PORTLENS") -> None:
    """smbd for `addr` on `ports` (space-separated), with `policy` lines in [global] (dialects,
    signing) and a read-only share; its state lives under the supervisor's folder."""
    d = sv.root / name
    for sub in ("lock", "state", "cache", "private", "pid", "ncalrpc", "share"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    conf = _write(
        d / "smb.conf",
        f"""[global]
  server role = standalone server
  workgroup = {workgroup}
  netbios name = {name.upper().replace("-", "")}
  interfaces = {addr}
  bind interfaces only = yes
  smb ports = {ports}
  {policy}
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  private dir = {d}/private
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  passdb backend = tdbsam:{d}/private/passdb.tdb
  log file = {d}/log.%m
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never

[lab]
  path = {d}/share
  read only = yes
""",
    )
    sv.start(name, ["/usr/sbin/smbd", "--foreground", "--no-process-group", "-s", str(conf)])
