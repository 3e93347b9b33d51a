"""The Makefile's environment detection (scripts/env.sh, run by `make test`, `make demo`, `make dev`) with a
system Python only: it makes a virtualenv and never runs the system interpreter's pip (PEP 668), installs
python3-venv when Debian's `python3 -m venv` fails, and Rust from Debian (rustc-web, cargo-web) when cargo
is missing or older than the crate's rust-version.

The system Python is the real one, Debian's /usr/bin/python3 (externally managed: its stdlib folder holds
the EXTERNALLY-MANAGED marker), reached through a `python3` on PATH that logs every call; PATH holds no
pyenv, no virtualenv and no rustup. `pip`, `pip3`, `apt-get` and `dpkg-query` are stand-ins that log their
calls (apt-get "installs" by flipping the stand-ins' state), so nothing on this machine is installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
ENV_SH = ROOT / "scripts" / "env.sh"
SYSTEM_PYTHON = Path("/usr/bin/python3")
MARKER = Path(f"/usr/lib/python3.{sys.version_info[1]}/EXTERNALLY-MANAGED")

# Debian's own words when python3-venv is missing (ensurepip is split off into that package)
DEBIAN_NO_ENSUREPIP = """The virtual environment was not created successfully because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv
package using the following command.

    apt install python3.11-venv

You may need to use sudo with that command.  After installing the python3-venv
package, recreate your virtual environment.
"""


def _system_python_ok() -> str | None:
    if not SYSTEM_PYTHON.exists():
        return "no /usr/bin/python3"
    p = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys, sysconfig, ensurepip; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        return "the system python3 has no ensurepip (python3-venv)"
    if not (Path(p.stdout.strip()) / "EXTERNALLY-MANAGED").exists():
        return "the system python3 is not externally managed (no EXTERNALLY-MANAGED marker)"
    return None


needs_system_python = pytest.mark.skipif(_system_python_ok() is not None, reason=str(_system_python_ok()))


class Sandbox:
    """A PATH of stand-ins ahead of the system folders, and the logs of what was called."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.state = tmp / "state"
        self.log = tmp / "calls.log"
        self.bin.mkdir()
        self.state.mkdir()
        self.log.touch()
        self.venv = tmp / "proj" / ".venv"
        self.venv.parent.mkdir()

    def tool(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >>"{self.log}"\n{body}\n')
        path.chmod(0o755)

    def calls(self, name: str) -> list[str]:
        return [
            line.split(" ", 1)[1] if " " in line else ""
            for line in self.log.read_text().splitlines()
            if line.split(" ", 1)[0] == name
        ]

    def run(self, what: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
            "VENV": str(self.venv),
            "ENV_POLICY_RC_D": str(self.tmp / "policy-rc.d"),
            **extra,
        }
        return subprocess.run(["bash", str(ENV_SH), what], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    b = Sandbox(tmp_path)
    # the system interpreter, logged; its pip and the pip scripts must never run
    b.tool("python3", f'exec {SYSTEM_PYTHON} "$@"')
    for pip in ("pip", "pip3"):
        b.tool(pip, "echo 'pip of the system python called' >&2; exit 97")
    # Debian's package tools: apt-get records the install and flips the stand-ins' state
    b.tool("dpkg-query", "exit 1")
    b.tool("apt-get", f'case "$*" in *install*) for p in "$@"; do touch "{b.state}/$p"; done ;; esac; exit 0')
    return b


def _no_system_pip(box: Sandbox) -> None:
    assert box.calls("pip") == [] and box.calls("pip3") == []
    pip_runs = [c for c in box.calls("python3") if re.search(r"(^|\s)-m\s+(pip|ensurepip)\b", c)]
    assert pip_runs == [], f"the system python ran pip: {pip_runs}"


@needs_system_python
def test_system_python_gets_a_venv_and_its_pip_is_never_run(box: Sandbox) -> None:
    assert MARKER.exists() or _system_python_ok() is None  # externally managed, as on a fresh Debian 12
    p = box.run("python")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"env: created {box.venv}" in p.stdout and "/usr/bin/python3" in p.stdout, p.stdout
    assert any(c.startswith("-m venv ") for c in box.calls("python3")), box.log.read_text()
    _no_system_pip(box)
    assert box.calls("apt-get") == []  # python3-venv is there: nothing installed
    # the venv is a real one on the system interpreter, with its own pip
    q = subprocess.run(
        [str(box.venv / "bin" / "python"), "-c", "import sys, pip; print(sys.base_prefix, sys.prefix, pip.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    base, prefix, pip_file = q.stdout.split()
    assert base == "/usr" and Path(prefix) == box.venv and pip_file.startswith(str(box.venv)), q.stdout
    # a second run keeps the venv and says nothing
    again = box.run("python")
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


@needs_system_python
@pytest.mark.skipif(os.geteuid() != 0, reason="env.sh installs packages only as root")
def test_debian_without_python3_venv_gets_it_installed(box: Sandbox) -> None:
    # Debian's python3 before python3-venv: `-m venv` leaves a half-made folder and says so
    box.tool(
        "python3",
        f'if [ "$1 $2" = "-m venv" ] && [ ! -e "{box.state}/python3-venv" ]; then\n'
        f'  mkdir -p "$3/bin" && echo "home = /usr/bin" >"$3/pyvenv.cfg"\n'
        f"  cat >&2 <<'EOF'\n{DEBIAN_NO_ENSUREPIP}EOF\n  exit 1\nfi\nexec {SYSTEM_PYTHON} \"$@\"",
    )
    p = box.run("python")
    assert p.returncode == 0, p.stdout + p.stderr
    installs = [c for c in box.calls("apt-get") if "install" in c]
    assert len(installs) == 1 and installs[0].split()[-1] == "python3-venv", box.log.read_text()
    said = [line for line in p.stdout.splitlines() if "installed" in line]
    assert said == ["env: installed python3-venv (Debian: /usr/bin/python3 -m venv needs it)"], p.stdout
    assert len([c for c in box.calls("python3") if c.startswith("-m venv ")]) == 2  # failed, then made
    assert (box.venv / "bin" / "python").exists()
    _no_system_pip(box)


@needs_system_python
def test_an_active_virtualenv_is_used_as_it_is(box: Sandbox, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(mine)], check=True)
    (mine / "keep").touch()
    p = box.run("python", VIRTUAL_ENV=str(mine), VENV=str(mine))
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr
    assert (mine / "keep").exists() and not box.venv.exists()
    assert box.calls("python3") == []  # not even the base interpreter was needed


def _fake_rust(box: Sandbox, old: str, new: str) -> None:
    """cargo and rustc at version `old`, at `new` once apt-get installed cargo-web / rustc-web."""
    for tool, pkg in (("cargo", "cargo-web"), ("rustc", "rustc-web")):
        box.tool(tool, f'if [ -e "{box.state}/{pkg}" ]; then echo "{tool} {new}"; else echo "{tool} {old}"; fi')


@pytest.mark.skipif(os.geteuid() != 0, reason="env.sh installs packages only as root")
def test_an_old_debian_rust_is_replaced_by_rustc_web(box: Sandbox) -> None:
    need = re.search(r'^rust-version\s*=\s*"([0-9.]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    assert need
    _fake_rust(box, "1.63.0", "1.96.0")  # Debian 12's rustc, then its rustc-web
    p = box.run("rust")
    assert p.returncode == 0, p.stdout + p.stderr
    installs = [c for c in box.calls("apt-get") if "install" in c]
    assert len(installs) == 1 and installs[0].split()[-2:] == ["rustc-web", "cargo-web"], box.log.read_text()
    said = [line for line in p.stdout.splitlines() if line.startswith("env:")]
    assert said == [
        f"env: installed rustc-web cargo-web (Debian; Rust 1.96.0, the crate needs >= {need[1]}; "
        "was: cargo 1.63.0, rustc 1.63.0)"
    ], p.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="env.sh installs packages only as root")
def test_no_rust_at_all_gets_rustc_web(box: Sandbox) -> None:
    # no cargo, no rustc: the stand-ins appear only once apt-get "installed" them
    for tool, pkg in (("cargo", "cargo-web"), ("rustc", "rustc-web")):
        box.tool(tool, f'[ -e "{box.state}/{pkg}" ] || exit 127; echo "{tool} 1.96.0"')
    p = box.run("rust")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "env: installed rustc-web cargo-web" in p.stdout and "was: missing)" in p.stdout, p.stdout
    assert [c for c in box.calls("apt-get") if "install" in c], box.log.read_text()


def test_a_new_enough_rust_installs_nothing(box: Sandbox) -> None:
    _fake_rust(box, "1.95.0", "1.95.0")
    p = box.run("rust")
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr
    assert box.calls("apt-get") == []
