"""Hostile files, at every door: what the user names (targets, scope, policies, baselines, feeds,
nmap XML, scan JSON) and what portlens writes (-o outputs, the store), plus signals during a scan.

Each case asserts the typed error (or the correct result), no traceback, and bounded time: FIFOs
and devices must be refused at once, bombs in a child process under an address-space limit.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import resource
import socket
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portlens
import portlens.compat.nmap as compat
from portlens.files import read as reader
from portlens.files import write as writer
from portlens.policy.regex import compile_user
from tests.factories import ROOT

SECRET = "hunter2SECRETsalt"


SHADOW = f"root:$6${SECRET}$Zq9x0dE1lQ8vY:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


NMAP_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


NMAP_BODY = (
    '<nmaprun scanner="nmap" args="nmap -p 22 198.18.1.2" start="1700000000" version="7.94">'
    '<scaninfo type="syn" protocol="tcp" numservices="1" services="22"/>'
    '<host><status state="up" reason="echo-reply"/><address addr="198.18.1.2" addrtype="ipv4"/>'
    '<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/>'
    '<service name="ssh" method="table" conf="3"/></port></ports></host>'
    '<runstats><finished time="1700000001" elapsed="1.0" exit="success"/>'
    '<hosts up="1" down="0" total="1"/></runstats></nmaprun>\n'
)


BOMB_AS = 768 << 20  # address space of the child that meets a bomb


# -- helpers -------------------------------------------------------------------------------------------
def _limited(as_bytes: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))

    return apply


def py_child(code: str, env: dict[str, str] | None = None, limit_as: int = BOMB_AS) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child under an address-space limit; it prints the outcome."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        preexec_fn=_limited(limit_as),
    )


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock.json"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    yield path
    s.close()


@pytest.fixture
def shadow(tmp_path: Path) -> Path:
    path = tmp_path / "shadow"
    path.write_text(SHADOW)
    path.chmod(0o600)
    return path


def gzip_bomb(path: Path, gib: int) -> Path:
    """A gzip file inflating to ``gib`` GiB of zeros, made of identical members (a few MB, fast)."""
    member = gzip.compress(b"\0" * (16 << 20), compresslevel=9)
    with open(path, "wb") as f:
        for _ in range(gib * 64):
            f.write(member)
    return path


def zip_bomb(path: Path, mib: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("feed.json", "w", force_zip64=True) as m:
            for _ in range(mib // 16):
                m.write(b" " * (16 << 20))
    return path


def scan_doc(tmp_path: Path, name: str = "scan.json") -> Path:
    """A valid scan document to feed `portlens.load` and the CLI."""
    path = tmp_path / name
    xml = tmp_path / "src.xml"
    xml.write_text(NMAP_HEAD + NMAP_BODY)
    portlens.load_nmap_xml(xml).to_json(str(path))
    return path


def refused(exc: pytest.ExceptionInfo[BaseException], *words: str) -> None:
    text = str(exc.value)
    for w in words:
        assert w in text, text
    assert SECRET not in text


# -- reading: special files are refused at once ---------------------------------------------------------
LOADERS = {
    "scan json": lambda p: portlens.load(p),
    "nmap xml": lambda p: portlens.load_nmap_xml(p),
    "policy": lambda p: portlens.Policy.load(p),
    "baseline": lambda p: portlens.Baseline.load(p),
    "vulns": lambda p: portlens.policy.VulnDB.load(p),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("loader", LOADERS)
def test_a_fifo_is_refused_at_once(loader: str, fifo: Path) -> None:
    start = time.monotonic()
    with pytest.raises(portlens.InputError) as e:
        LOADERS[loader](fifo)
    refused(e, "not a regular file", "FIFO")
    assert time.monotonic() - start < 2


@pytest.mark.timeout(10)
@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused(loader: str, device: str) -> None:
    with pytest.raises(portlens.InputError) as e:
        LOADERS[loader](device)
    refused(e, "not a regular file", "character device")


@pytest.mark.parametrize("loader", LOADERS)
def test_a_directory_is_refused(loader: str, tmp_path: Path) -> None:
    with pytest.raises(portlens.InputError) as e:
        LOADERS[loader](tmp_path)
    refused(e, "not a regular file", "directory")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("loader", ["scan json", "nmap xml", "policy"])
def test_a_socket_is_refused(loader: str, unix_socket: Path) -> None:
    with pytest.raises(portlens.InputError) as e:
        LOADERS[loader](unix_socket)
    refused(e, "not a regular file")


@pytest.mark.parametrize("loader", LOADERS)
def test_a_file_over_the_cap_is_refused_while_reading(
    loader: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTLENS_MAX_INPUT_MB", "1")
    path = tmp_path / "big"
    path.write_bytes(b" " * ((1 << 20) + 1))
    with pytest.raises(portlens.InputError) as e:
        LOADERS[loader](path)
    refused(e, "larger than 1 MiB", "PORTLENS_MAX_INPUT_MB")


def test_the_cap_is_checked_on_bytes_read_not_on_the_size_reported(tmp_path: Path) -> None:
    # /proc files report size 0 and still have content: the reader counts what it reads
    with pytest.raises(reader.ReadError, match="larger than 16 bytes"):
        with _cap(16):
            reader.read_bytes("/proc/self/maps", "scan file")


@contextlib.contextmanager
def _cap(n: int) -> Iterator[None]:
    saved = dict(reader.LIMITS)
    reader.LIMITS["scan file"] = n
    try:
        yield
    finally:
        reader.LIMITS.update(saved)


def test_a_bad_cap_setting_is_an_input_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORTLENS_MAX_INPUT_MB", "lots")
    with pytest.raises(portlens.InputError, match="PORTLENS_MAX_INPUT_MB must be a whole number"):
        portlens.load(scan_doc(tmp_path))


def test_the_cap_can_be_raised_for_a_big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = scan_doc(tmp_path)
    padded = tmp_path / "padded.json"
    padded.write_text(doc.read_text() + " " * (2 << 20))
    monkeypatch.setenv("PORTLENS_MAX_INPUT_MB", "1")
    with pytest.raises(portlens.InputError):
        portlens.load(padded)
    monkeypatch.setenv("PORTLENS_MAX_INPUT_MB", "4")
    assert [p.port for p in portlens.load(padded).ports] == [22]  # type: ignore[union-attr]


# -- reading: content --------------------------------------------------------------------------------------
def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"schema": "portlens.scan/1",\n  "status": "\xff\xfe"}')
    with pytest.raises(portlens.InputError) as e:
        portlens.load(path)
    refused(e, "not UTF-8", ":2:14")


def test_deep_json_nesting_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(portlens.InputError, match="nested too deeply"):
        portlens.load(path)


def test_deep_json_nesting_in_a_feed_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text('{"vulnerabilities": ' + "[" * 100_000)
    with pytest.raises(portlens.policy.PolicyError, match="nested too deeply"):
        portlens.policy.VulnDB.load(path)


def test_a_number_of_100k_digits_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "num.json"
    path.write_text('{"schema": "portlens.scan/1", "hosts_total": ' + "9" * 100_000 + "}")
    with pytest.raises(portlens.InputError, match="invalid JSON"):
        portlens.load(path)


def test_a_scan_document_of_the_wrong_shape_names_no_value(tmp_path: Path) -> None:
    path = tmp_path / "shape.json"
    path.write_text(json.dumps({"schema": "portlens.scan/1", "status": SECRET, "ports": [{"host": SECRET}]}))
    with pytest.raises(portlens.InputError) as e:
        portlens.load(path)
    refused(e, "not a valid portlens document")


def test_deep_toml_nesting_is_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(portlens.policy.PolicyError, match="nested too deeply"):
        portlens.Policy.load(path)


def test_a_policy_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b'[settings]\nname = "caf\xe9"\n')
    with pytest.raises(portlens.policy.PolicyError) as e:
        portlens.Policy.load(path)
    refused(e, "not UTF-8", "p.toml:2:")
    assert e.value.line == 2


def test_a_secret_file_named_as_policy_is_not_echoed(shadow: Path) -> None:
    with pytest.raises(portlens.policy.PolicyError) as e:
        portlens.Policy.load(shadow)
    refused(e, "invalid TOML", ":1:")


def test_a_secret_file_named_as_scan_json_is_not_echoed(shadow: Path) -> None:
    with pytest.raises(portlens.InputError) as e:
        portlens.load(shadow)
    refused(e, "invalid JSON", ":1:1")


def test_a_secret_file_named_as_nmap_xml_is_not_echoed(shadow: Path) -> None:
    with pytest.raises(portlens.InputError) as e:
        portlens.load_nmap_xml(shadow)
    refused(e, "nmap XML file")


# -- vulnerability feeds: decompression capped ----------------------------------------------------------
BOMB_CODE = """
import portlens.policy, sys
try:
    portlens.policy.VulnDB.load(sys.argv[1] if len(sys.argv) > 1 else {path!r})
except portlens.InputError as e:
    print("InputError:", e)
"""


@pytest.mark.timeout(60)
def test_a_gzip_bomb_is_an_input_error_in_bounded_memory(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "nvd.json.gz", gib=4)
    assert bomb.stat().st_size < 10 << 20
    p = py_child(BOMB_CODE.format(path=str(bomb)))
    assert p.returncode == 0, p.stderr
    assert "InputError:" in p.stdout and "decompresses more than 100 times" in p.stdout, p.stdout + p.stderr
    assert "MemoryError" not in p.stderr


@pytest.mark.timeout(60)
def test_the_inflated_size_cap_holds_below_the_ratio_threshold(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "kev.json.gz", gib=1)
    p = py_child(BOMB_CODE.format(path=str(bomb)), env={"PORTLENS_MAX_INPUT_MB": "8"})
    assert "InputError:" in p.stdout and "decompresses to more than 8 MiB" in p.stdout, p.stdout + p.stderr


@pytest.mark.timeout(60)
def test_a_zip_bomb_is_an_input_error(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "nvd.zip", mib=256)
    p = py_child(BOMB_CODE.format(path=str(bomb)), env={"PORTLENS_MAX_INFLATE_RATIO": "20"})
    assert "InputError:" in p.stdout and "decompression bomb" in p.stdout, p.stdout + p.stderr


def test_a_small_gzip_feed_still_loads(tmp_path: Path) -> None:
    feed = {"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-2024-0001", "vendorProject": "x"}]}
    path = tmp_path / "kev.json.gz"
    path.write_bytes(gzip.compress(json.dumps(feed).encode()))
    db = portlens.policy.VulnDB.load(path)
    assert "CVE-2024-0001" in db.kev


@pytest.mark.parametrize("data", [b"\x1f\x8b\x08\x00garbage", gzip.compress(b"{}" * 1000)[:-12]])
def test_a_corrupt_gzip_feed_is_a_policy_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "feed.json.gz"
    path.write_bytes(data)
    with pytest.raises(portlens.policy.PolicyError, match="gzip"):
        portlens.policy.VulnDB.load(path)


@pytest.mark.parametrize(
    "doc",
    [
        {"vulnerabilities": [{"cve": {"id": "CVE-1", "descriptions": 5}}]},
        {"vulnerabilities": [{"cve": {"id": "CVE-1", "configurations": [{"nodes": 7}]}}]},
        {"catalogVersion": 1, "vulnerabilities": [{"cveID": ["x"], "dateAdded": {}}]},
    ],
)
def test_a_feed_of_the_wrong_shape_is_a_policy_error(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(doc))
    try:
        db = portlens.policy.VulnDB.load(path)
    except portlens.policy.PolicyError as e:
        assert "feed.json" in str(e)
    else:
        assert isinstance(db, portlens.policy.VulnDB)


# -- XML: no DTD internal subset, whatever the encoding or position ------------------------------------
ENTITY_DOC = (
    NMAP_HEAD
    + '<!DOCTYPE nmaprun [<!ENTITY boom "'
    + "x" * 10
    + '">]>\n'
    + NMAP_BODY.replace('reason="syn-ack"', 'reason="&boom;"')
)


def test_an_entity_after_64_kib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "late.xml"
    pad = "<!-- " + "p" * 70_000 + " -->\n"
    path.write_text(NMAP_HEAD + pad + ENTITY_DOC[len(NMAP_HEAD) :])
    assert path.read_bytes().index(b"<!ENTITY") > 65536
    with pytest.raises(portlens.InputError, match="internal subset"):
        portlens.load_nmap_xml(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_an_entity_in_utf16_is_refused(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "u16.xml"
    text = ENTITY_DOC.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    bom = "\ufeff" if encoding != "utf-16" else ""
    path.write_bytes((bom + text).encode(encoding))
    assert b"<!ENTITY" not in path.read_bytes()  # no raw-bytes check can see it
    with pytest.raises(portlens.InputError, match="internal subset"):
        portlens.load_nmap_xml(path)


def test_a_clean_utf16_document_loads(tmp_path: Path) -> None:
    path = tmp_path / "u16.xml"
    path.write_bytes((NMAP_HEAD.replace("UTF-8", "UTF-16") + NMAP_BODY).encode("utf-16"))
    r = portlens.load_nmap_xml(path)
    assert [(p.host, p.port, p.state) for p in r.ports] == [("198.18.1.2", 22, "open")]


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE nmaprun SYSTEM "file:///etc/passwd">',  # an external DTD is never fetched: it is harmless
        "<!DOCTYPE nmaprun>",
        '<!DOCTYPE nmaprun PUBLIC "-//IDN nmap.org//DTD Nmap XML 1.04//EN" "https://svn.nmap.org/nmap/docs/nmap.dtd">',
    ],
)
def test_a_doctype_without_internal_subset_loads(tmp_path: Path, doctype: str) -> None:
    path = tmp_path / "d.xml"
    path.write_text(NMAP_HEAD + doctype + "\n" + NMAP_BODY)
    assert [p.port for p in portlens.load_nmap_xml(path).ports] == [22]


@pytest.mark.parametrize(
    "subset",
    [
        '<!ENTITY x SYSTEM "file:///etc/passwd">',
        '<!ENTITY % p SYSTEM "http://198.18.1.2/x.dtd"> %p;',
        "<!ELEMENT nmaprun ANY>",
        '<!ENTITY a "a"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">',
        '<!NOTATION n SYSTEM "x">',
    ],
)
def test_every_internal_subset_is_refused(tmp_path: Path, subset: str) -> None:
    path = tmp_path / "s.xml"
    path.write_text(NMAP_HEAD + f"<!DOCTYPE nmaprun [{subset}]>\n" + NMAP_BODY)
    with pytest.raises(portlens.InputError, match="internal subset"):
        portlens.load_nmap_xml(path)


def test_an_undeclared_entity_does_not_load_as_text(tmp_path: Path) -> None:
    path = tmp_path / "u.xml"
    path.write_text(NMAP_HEAD + NMAP_BODY.replace("<scaninfo", "&ext;<scaninfo"))
    with pytest.raises(portlens.InputError, match="malformed"):
        portlens.load_nmap_xml(path)


def test_deep_xml_nesting_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.xml"
    path.write_text('<nmaprun scanner="nmap">' + "<a>" * 100_000 + "</a>" * 100_000 + "</nmaprun>")
    with pytest.raises(portlens.InputError, match="nested more than 256 deep"):
        portlens.load_nmap_xml(path)


@pytest.mark.parametrize("attr", ['start="99999999999999999"', 'start="-5"'])
def test_nmap_times_out_of_range_are_an_input_error_or_clamped(tmp_path: Path, attr: str) -> None:
    path = tmp_path / "t.xml"
    path.write_text(
        NMAP_HEAD + NMAP_BODY.replace('start="1700000000"', attr).replace('elapsed="1.0"', 'elapsed="1e308"')
    )
    try:
        r = portlens.load_nmap_xml(path)
    except portlens.InputError as e:
        assert "out of range" in str(e)
    else:
        assert [p.port for p in r.ports] == [22]


def test_the_compat_layer_refuses_entities_too() -> None:
    with pytest.raises(compat.PortScannerError, match="internal subset"):
        compat.PortScanner().analyse_nmap_xml_scan(ENTITY_DOC)


# -- policies: user regexes in linear time ----------------------------------------------------------------
def _policy(tmp_path: Path, product: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(
        f'[[rule]]\nid = "evil"\nkind = "exposure"\nseverity = "high"\ntitle = "t"\nproduct = {json.dumps(product)}\n'
    )
    return path


@pytest.mark.timeout(30)
def test_a_catastrophic_product_regex_runs_in_linear_time(tmp_path: Path) -> None:
    policy = portlens.Policy.load(_policy(tmp_path, "(a+)+$"))
    banner = "a" * 50_000 + "!"  # what a hostile server puts in its banner
    xml = tmp_path / "b.xml"
    xml.write_text(NMAP_HEAD + NMAP_BODY.replace('name="ssh"', f'name="http" product="{banner}"'))
    r = portlens.load_nmap_xml(xml)
    assert r.ports[0].service["product"] == banner  # type: ignore[index]
    start = time.monotonic()
    a = portlens.assess(r, policy)
    assert time.monotonic() - start < 5
    assert not any(f.rule == "evil" for f in a.findings)
    assert any(f.rule == "evil" for f in portlens.assess(r, portlens.Policy.load(_policy(tmp_path, "a+!$"))).findings)


@pytest.mark.parametrize("pattern", [r"(a)\1", "x(?=y)", "(?<!x)y"])
def test_backtracking_only_constructs_are_refused(tmp_path: Path, pattern: str) -> None:
    with pytest.raises(portlens.policy.PolicyError, match="not a valid regular expression"):
        portlens.Policy.load(_policy(tmp_path, pattern))


def test_a_very_long_pattern_is_refused(tmp_path: Path) -> None:
    with pytest.raises(portlens.policy.PolicyError, match="longer than"):
        portlens.Policy.load(_policy(tmp_path, "a" * 5000))


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*b", "(x*)*", "(ab|a)+c", r"(\w+\s?)*$"])
def test_the_fallback_engine_refuses_nested_repetition(pattern: str) -> None:
    with pytest.raises(ValueError, match="exponential time"):
        compile_user(pattern, engine="re")


@pytest.mark.parametrize("pattern", ["hikvision|dvrdvs-webs|app-webs", r"openssh[_ ](\d+)\.(\d+)", "(ab)+c"])
def test_both_engines_match_ordinary_patterns_alike(pattern: str) -> None:
    for text in ("DVRDVS-Webs", "OpenSSH_9.2p1", "xababc", "nothing"):
        a, b = compile_user(pattern, engine="re2"), compile_user(pattern, engine="re")
        assert (a.search(text) is None) == (b.search(text) is None)


# -- writing ---------------------------------------------------------------------------------------------
def test_a_new_output_is_mode_0600(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    portlens.load(scan_doc(tmp_path)).to_json(str(out))  # type: ignore[union-attr]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.port for p in portlens.load(out).ports] == [22]  # type: ignore[union-attr]


def test_an_existing_output_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("old")
    out.chmod(0o640)
    portlens.load(scan_doc(tmp_path)).to_csv(str(out))  # type: ignore[union-attr]
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and "198.18.1.2" in out.read_text()


@pytest.mark.parametrize("method", ["to_json", "to_nmap_xml", "to_markdown", "to_csv"])
def test_no_output_is_written_through_a_symlink(tmp_path: Path, method: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "out"
    link.symlink_to(victim)
    r = portlens.load(scan_doc(tmp_path))
    with pytest.raises(OSError, match="symlink"):
        getattr(r, method)(str(link))
    assert victim.read_text() == "precious" and link.is_symlink()


def test_a_report_is_not_written_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "r.html"
    link.symlink_to(victim)
    r = portlens.load(scan_doc(tmp_path))
    a = portlens.assess(r)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="symlink"):
        a.to_html(str(link), r)
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("target", ["/dev/null", "{fifo}", "{tmp}"])
def test_outputs_over_special_files_are_refused(tmp_path: Path, fifo: Path, target: str) -> None:
    path = target.format(fifo=fifo, tmp=tmp_path)
    with pytest.raises(OSError, match="not a regular file"):
        writer.write_text(path, "x")
    with pytest.raises(OSError, match="not a regular file"):
        writer.open_stream(path)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with writer.atomic(out) as f:
            f.write("half")
            raise RuntimeError("disk full")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_stream_is_refused_through_a_symlink_and_created_0600(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "l.jsonl").symlink_to(victim)
    with pytest.raises(OSError, match="symlink"):
        writer.open_stream(tmp_path / "l.jsonl")
    with writer.open_stream(tmp_path / "n.jsonl") as f:
        f.write("{}\n")
    assert stat.S_IMODE((tmp_path / "n.jsonl").stat().st_mode) == 0o600
    assert victim.read_text() == "precious"


def test_the_store_file_is_private_and_not_a_symlink(tmp_path: Path) -> None:
    db = tmp_path / "new" / "dir" / "history.db"
    portlens.store.open(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    victim = tmp_path / "victim.db"
    victim.write_bytes(b"")
    link = tmp_path / "link.db"
    link.symlink_to(victim)
    with pytest.raises(portlens.store.StoreError, match="symlink"):
        portlens.store.open(link)
    assert victim.read_bytes() == b""


# -- property tests: a random document loads or is an InputError ----------------------------------------
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)


_json = st.recursive(_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4))


_field = _json | st.sampled_from(["open", "tcp", "198.18.1.2", "2024-01-01T00:00:00+00:00", "", -1, 2**70, 1e308])


_port = st.fixed_dictionaries(
    {},
    optional={
        k: _field for k in ("host", "port", "protocol", "state", "reason", "rtt", "attempts", "hostname", "service")
    },
)


_doc = st.fixed_dictionaries(
    {"schema": st.sampled_from(["portlens.scan/1", "portlens.assessment/1"])},
    optional={
        **{
            k: _field
            for k in (
                "status started finished elapsed hosts_total ports_per_host counts options stats findings "
                "suppressed score policy hosts_up counts_by_severity"
            ).split()
        },
        "ports": st.lists(_port, max_size=3),
        "hosts": st.lists(st.dictionaries(st.sampled_from(["address", "counts", "rtt", "state"]), _field), max_size=3),
    },
)


def _load_json_text(data: bytes) -> None:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"portlens-hypo-{os.getpid()}.json"
    path.write_bytes(data)
    try:
        doc = portlens.load(path)
    except portlens.InputError:
        return
    finally:
        path.unlink()
    assert isinstance(doc, (portlens.ScanResult, portlens.Assessment))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_doc)
def test_property_a_random_scan_document_loads_or_is_an_input_error(doc: dict[str, Any]) -> None:
    _load_json_text(json.dumps(doc).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode()))
def test_property_random_bytes_load_or_are_an_input_error(data: bytes) -> None:
    _load_json_text(data)


_xml_text = st.sampled_from(["", "x", "0", "-1", "99999999999999999999", "1e999", "nan", "open", "tcp", "up"])


_attrs = st.dictionaries(
    st.sampled_from(
        "state reason portid protocol addr addrtype start time elapsed count srtt total up down numservices "
        "services exit name conf type starttime timedout".split()
    ),
    _xml_text,
    max_size=4,
)


def _element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    tags = st.sampled_from(
        "host status address ports port state service extraports runstats finished hosts scaninfo hostnames "
        "hostname times cpe".split()
    )

    def build(t: str, a: dict[str, str], kids: list[str]) -> str:
        attrs = "".join(f' {k}="{v}"' for k, v in a.items())
        return f"<{t}{attrs}>{''.join(kids)}</{t}>"

    return st.builds(build, tags, _attrs, st.lists(children, max_size=3))


_tree = st.recursive(st.just(""), _element, max_leaves=12)


_nmap = st.builds(
    lambda root_attrs, kids, cut: (f"<nmaprun{root_attrs}>{''.join(kids)}</nmaprun>")[: cut or None],
    st.sampled_from(["", ' scanner="nmap" start="1700000000"', ' start="-99999999999999"']),
    st.lists(_tree, max_size=4),
    st.integers(min_value=0, max_value=400),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_nmap | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_property_a_random_nmap_document_loads_or_is_an_input_error(text: str) -> None:
    try:
        r = portlens.loads_nmap_xml(text) if hasattr(portlens, "loads_nmap_xml") else _loads_xml(text)
    except portlens.InputError:
        return
    assert isinstance(r, portlens.ScanResult)
    assert r.status in ("complete", "cancelled")


def _loads_xml(text: str) -> portlens.ScanResult:
    from portlens.report.nmap_xml import loads_nmap_xml

    return loads_nmap_xml(text)


def test_gzip_bomb_helper_really_inflates(tmp_path: Path) -> None:
    # the bomb is what it claims: its first 64 MiB are zeros, from a file of a few KB per 16 MiB
    bomb = gzip_bomb(tmp_path / "b.gz", gib=1)
    with gzip.open(bomb) as g:
        head = g.read(64 << 20)
    assert head == b"\0" * (64 << 20) and bomb.stat().st_size < 2 << 20
