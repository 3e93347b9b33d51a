"""Hostile files, at every door: what the user names (targets, scope, policies, baselines, feeds,
nmap XML, scan JSON) and what portlens writes (-o outputs, the store), plus signals during a scan.

Each case asserts the typed error (or the correct result), no traceback, and bounded time: FIFOs
and devices must be refused at once, bombs in a child process under an address-space limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import portlens
import portlens.compat.nmap as compat
from tests.factories import ROOT, run_cli
from tests.unit.test_hostile_files import (
    BOMB_AS,
    SECRET,
    _limited,
    gzip_bomb,
    refused,
    scan_doc,
)


def cli(
    *args: str, env: dict[str, str] | None = None, limit_as: int | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``portlens ARGS`` in a child (optionally under an address-space limit); never a traceback."""
    full_env = {**os.environ, **(env or {})}
    preexec = _limited(limit_as) if limit_as else None
    p = run_cli(*args, timeout=timeout, env=full_env, preexec_fn=preexec)
    assert "Traceback" not in p.stderr, p.stderr
    return p


@pytest.mark.timeout(60)
def test_the_cli_meets_a_gzip_bomb_with_exit_2(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "nvd.json.gz", gib=2)
    p = cli("assess", str(scan_doc(tmp_path)), "--vulns", str(bomb), limit_as=BOMB_AS)
    assert p.returncode == 2, p.stderr
    assert "decompression bomb" in p.stderr


# -- targets and scope files ------------------------------------------------------------------------------
@pytest.mark.timeout(10)
def test_a_targets_fifo_is_refused_at_once(fifo: Path) -> None:
    with pytest.raises(portlens.TargetError) as e:
        portlens.scan(f"@{fifo}", ports="80")
    refused(e, "targets file", "FIFO")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("spec", ["@/dev/zero", "!@/dev/zero", "198.18.1.2,@/dev/urandom"])
def test_a_targets_device_is_refused(spec: str) -> None:
    with pytest.raises(portlens.InputError, match="character device"):
        portlens.scan(["198.18.1.2", spec], ports="80")


def test_a_targets_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "many.txt"
    path.write_text("198.18.1.2\n" * 200_000)
    monkeypatch.setenv("PORTLENS_MAX_INPUT_MB", "1")
    with pytest.raises(portlens.TargetError, match="larger than 1 MiB"):
        portlens.scan(f"@{path}", ports="80")


def test_a_secret_targets_file_is_located_not_quoted(shadow: Path) -> None:
    with pytest.raises(portlens.TargetError) as e:
        portlens.scan(f"@{shadow}", ports="80")
    refused(e, f"targets file {shadow}:1:1", "invalid target")
    assert "root:" not in str(e.value) and "$6$" not in str(e.value)


def test_a_secret_excluded_file_is_located_not_quoted(shadow: Path, truth: dict[str, Any]) -> None:
    with pytest.raises(portlens.TargetError) as e:
        portlens.scan(truth["open"]["v4"], ports="80", exclude=[f"@{shadow}"])
    refused(e, f"{shadow}:1:1")


def test_targets_file_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("# lab\n198.18.1.2\n198.18.1.3, 198.18.1.300  # typo\n")
    with pytest.raises(portlens.TargetError) as e:
        portlens.scan(f"@{path}", ports="80")
    refused(e, f"{path}:3:13", "out of range")
    assert "198.18.1.300" not in str(e.value)


def test_a_targets_file_cannot_include_another(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(f"198.18.1.2\n@{tmp_path / 'other.txt'}\n")
    with pytest.raises(portlens.TargetError, match=r"t.txt:2:1: nested @file"):
        portlens.scan(f"@{path}", ports="80")


def test_an_excluded_file_cannot_exclude_again(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("198.18.1.3\n!198.18.1.4\n")
    with pytest.raises(portlens.TargetError, match=r"x.txt:2:1: '!' inside a file"):
        portlens.scan(["198.18.1.2", f"!@{path}"], ports="80")


def test_a_targets_file_with_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"198.18.1.2\n198.18.1.\xff\n")
    with pytest.raises(portlens.TargetError, match=r"t.txt:2:10: not UTF-8"):
        portlens.scan(f"@{path}", ports="80")


def test_targets_files_still_scan(tmp_path: Path, truth: dict[str, Any]) -> None:
    path = tmp_path / "t.txt"
    ex = tmp_path / "x.txt"
    path.write_text(f"\ufeff# lab hosts\n{truth['open']['v4']}  # the open host\n{truth['filt']['v4']}\n")
    ex.write_text(f"{truth['filt']['v4']}\n")
    port = truth["open"]["open_ports"][0]
    r = portlens.scan([f"@{path}", f"!@{ex}"], ports=str(port), discovery=False)
    assert [(p.host, p.port) for p in r.ports] == [(truth["open"]["v4"], port)]
    assert r.options["targets"] == [f"@{path}", f"!@{ex}"]  # recorded as given, not as lines


@pytest.mark.timeout(30)
def test_cli_secret_targets_file_is_never_echoed(shadow: Path) -> None:
    p = cli("scan", f"@{shadow}", "-p", "80")
    assert p.returncode == 2
    assert f"{shadow}:1:1" in p.stderr
    assert SECRET not in p.stderr + p.stdout


@pytest.mark.timeout(30)
def test_cli_secret_scope_file_is_never_echoed(shadow: Path, truth: dict[str, Any]) -> None:
    p = cli("scan", truth["open"]["v4"], "-p", "80", "--scope", str(shadow))
    assert p.returncode == 2
    assert f"scope file {shadow}:1:1" in p.stderr
    assert SECRET not in p.stderr + p.stdout


@pytest.mark.timeout(30)
def test_cli_scope_fifo_and_device_are_refused(fifo: Path, truth: dict[str, Any]) -> None:
    for bad in (str(fifo), "/dev/zero"):
        p = cli("scan", truth["open"]["v4"], "-p", "80", "--scope", bad, timeout=15)
        assert p.returncode == 2 and "not a regular file" in p.stderr, p.stderr


@pytest.mark.timeout(30)
def test_cli_targets_fifo_does_not_hang(fifo: Path) -> None:
    p = cli("scan", f"@{fifo}", "-p", "80", timeout=15)
    assert p.returncode == 2 and "FIFO" in p.stderr


@pytest.mark.timeout(10)
def test_compat_input_list_fifo_is_refused(fifo: Path) -> None:
    with pytest.raises(compat.PortScannerError, match="FIFO"):
        compat.PortScanner().scan(arguments=f"-iL {fifo} -p 80")


# -- the CLI's other file arguments -----------------------------------------------------------------------
@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "args",
    [
        ("assess", "{fifo}"),
        ("assess", "/dev/zero"),
        ("assess", "{shadow}"),
        ("report", "{doc}", "-o", "{tmp}/r.html", "--previous", "{fifo}"),
        ("assess", "{doc}", "--policy", "/dev/zero"),
        ("assess", "{doc}", "--policy", "{shadow}"),
        ("assess", "{doc}", "--baseline", "{fifo}"),
        ("assess", "{doc}", "--vulns", "{tmp}"),
        ("assess", "{doc}", "--vulns", "{shadow}"),
    ],
)
def test_cli_hostile_file_arguments_exit_2(tmp_path: Path, fifo: Path, shadow: Path, args: tuple[str, ...]) -> None:
    doc = scan_doc(tmp_path)
    argv = [a.format(fifo=fifo, shadow=shadow, doc=doc, tmp=tmp_path) for a in args]
    p = cli(*argv, timeout=20)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("portlens: error:")
    assert SECRET not in p.stderr + p.stdout


@pytest.mark.timeout(30)
def test_cli_refuses_a_symlinked_output_before_anything(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "r.html").symlink_to(victim)
    p = cli("report", str(scan_doc(tmp_path)), "-o", str(tmp_path / "r.html"), "-o", str(tmp_path / "ok.md"))
    assert p.returncode == 2 and "symlink" in p.stderr
    assert victim.read_text() == "precious"


@pytest.mark.timeout(30)
def test_cli_one_failing_output_does_not_lose_the_others(tmp_path: Path) -> None:
    doc = scan_doc(tmp_path)
    ok = [tmp_path / "r.html", tmp_path / "r.md", tmp_path / "r.json"]
    p = cli("report", str(doc), "-o", "/proc/portlens-test.csv", *[x for o in ok for x in ("-o", str(o))])
    assert p.returncode == 1, p.stderr
    assert "cannot write /proc/portlens-test.csv" in p.stderr
    assert all(o.exists() and o.stat().st_size > 0 for o in ok)
    assert "written: /proc" not in p.stdout


# -- signals during a scan ---------------------------------------------------------------------------------
def _slow_scan(truth: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portlens.cli",
            "scan",
            truth["filt"]["v4"],
            "-p",
            "all",
            "-o",
            str(tmp_path / "r.json"),
            "-o",
            str(tmp_path / "r.jsonl"),
            "-o",
            str(tmp_path / "r.xml"),
            "-q",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _wait_for_first_results(tmp_path: Path, proc: subprocess.Popen[str], n: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        jl = tmp_path / "r.jsonl"
        if jl.exists() and len(jl.read_text().splitlines()) >= n:
            return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the scan produced no results: {proc.communicate()} exit {proc.returncode}")


@pytest.mark.timeout(150)
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_end_a_scan_with_partial_results(
    truth: dict[str, Any], tmp_path: Path, signum: int, code: int
) -> None:
    db = tmp_path / "h.db"
    proc = _slow_scan(truth, tmp_path, "--save", "--db", str(db))
    _wait_for_first_results(tmp_path, proc, 1)
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=20)
    assert time.monotonic() - sent < 5
    assert proc.returncode == code, err
    assert "Traceback" not in err and "partial results written" in err
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["status"] == "cancelled"
    found = sorted(x["port"] for x in doc["ports"])
    assert found and set(found) <= set(truth["filt"]["open_ports"])
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == len(found)
    assert portlens.load_nmap_xml(tmp_path / "r.xml").status == "cancelled"
    with portlens.store.open(db) as store:
        assert [s.status for s in store.scans()] == ["incomplete"]


@pytest.mark.timeout(150)
def test_more_signals_during_the_final_writes_do_not_lose_them(truth: dict[str, Any], tmp_path: Path) -> None:
    proc = _slow_scan(truth, tmp_path)
    _wait_for_first_results(tmp_path, proc, 1)
    proc.send_signal(signal.SIGINT)
    while proc.poll() is None:  # a user hammering Ctrl-C, and a supervisor's SIGTERM
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT if time.monotonic() % 1 < 0.5 else signal.SIGTERM)
        time.sleep(0.01)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["status"] == "cancelled" and doc["ports"]
    assert portlens.load_nmap_xml(tmp_path / "r.xml").status == "cancelled"


@pytest.mark.timeout(60)
def test_cli_scan_one_failing_output_keeps_the_others(truth: dict[str, Any], tmp_path: Path) -> None:
    port = str(truth["filt"]["open_ports"][0])
    good = tmp_path / "r.json"
    p = cli("scan", truth["filt"]["v4"], "-p", port, "-o", "/proc/portlens-test.xml", "-o", str(good), "-q")
    assert p.returncode == 1, p.stderr
    assert "cannot write /proc/portlens-test.xml" in p.stderr
    assert [x["port"] for x in json.loads(good.read_text())["ports"]] == [int(port)]


@pytest.mark.timeout(30)
def test_cli_scan_refuses_a_symlinked_stream_before_sending(truth: dict[str, Any], tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "r.jsonl").symlink_to(victim)
    p = cli("scan", truth["filt"]["v4"], "-p", "80", "-o", str(tmp_path / "r.jsonl"))
    assert p.returncode == 2 and "symlink" in p.stderr
    assert victim.read_text() == "precious"


@pytest.mark.timeout(60)
def test_cli_diff_outputs_are_written_each_on_its_own(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    r = portlens.load(scan_doc(tmp_path))
    with portlens.store.open(db) as store:
        a, b = store.save(r), store.save(r)  # type: ignore[arg-type]
    good = tmp_path / "d.json"
    p = cli("diff", str(a), str(b), "--db", str(db), "-q", "-o", "/proc/portlens-test.md", "-o", str(good))
    assert p.returncode == 1 and "cannot write /proc/portlens-test.md" in p.stderr, p.stderr
    assert json.loads(good.read_text())["schema"].startswith("portlens.drift")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "l.html").symlink_to(victim)
    p = cli("diff", str(a), str(b), "--db", str(db), "-q", "-o", str(tmp_path / "l.html"))
    assert p.returncode == 2 and "symlink" in p.stderr and victim.read_text() == "precious"
