"""The wheel as a user gets it (`make test-dist`, the last stage of `make test`):

1. `make dist`: an abi3 wheel (CPython >= 3.10, manylinux tag checked by maturin and `auditwheel show`)
   and an sdist;
2. a fresh virtualenv, and the wheel installed into it with no Rust toolchain anywhere on PATH (every
   folder holding cargo, rustc, rustup or maturin is dropped from PATH, CARGO*/RUSTUP*/RUSTC* are unset)
   and binary dependencies only (`--only-binary :all:`, so nothing can be compiled);
3. from outside the source tree: `import portlens`, `portlens._core` is the compiled extension inside that
   venv's site-packages, `portlens --version`;
4. a lab (part "open"): the installed `portlens` scans its host from the lab's scanner namespace
   (`ip netns exec`), and the open ports found are the lab's ground truth;
5. the wheel built again from the sdist (`pip wheel`, as `pip install portlens-*.tar.gz` does), reusing
   cargo's target folder: same name and tags but the platform's, same files. (`maturin build --sdist`
   in step 1 already built the tested wheel from the unpacked sdist.)

Run as root (network namespaces) with the project venv's python: python scripts/test_dist.py [--dist dist]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUST_TOOLS = ("cargo", "rustc", "rustup", "rustdoc", "maturin")

_times: list[tuple[str, float]] = []


@contextmanager
def step(name: str) -> Iterator[None]:
    print(f"-- dist: {name}", flush=True)
    t0 = time.monotonic()
    try:
        yield
    finally:
        dt = time.monotonic() - t0
        _times.append((name, dt))
        print(f"-- dist: {name}: {dt:.1f} s", flush=True)


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit(f"dist: failed ({p.returncode}): {' '.join(map(str, cmd))}")
    return p  # type: ignore[no-any-return]


def no_rust_env(tmp: Path) -> dict[str, str]:
    """The environment without a Rust toolchain: its folders off PATH, its variables unset."""
    kept = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or "cargo" in d or "rustup" in d:
            continue
        if any((Path(d) / t).exists() for t in RUST_TOOLS):
            continue  # e.g. Debian's /usr/bin/cargo, pyenv's maturin shim: the whole folder is dropped
        kept.append(d)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO", "RUSTUP", "RUSTC", "MATURIN", "PYO3"))}
    for k in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "RUSTFLAGS"):
        env.pop(k, None)
    bin_dir = tmp / "bin"  # what the test runs itself (ip for the lab), when its folder was dropped
    bin_dir.mkdir()
    for tool in ("ip", "sh"):
        if not shutil.which(tool, path=os.pathsep.join(kept)) and (found := shutil.which(tool)):
            (bin_dir / tool).symlink_to(found)
    env["PATH"] = os.pathsep.join([*kept, str(bin_dir)])
    for tool in RUST_TOOLS:
        found = shutil.which(tool, path=env["PATH"])
        assert found is None, f"{tool} is still on PATH: {found}"
    return env


def wheel_files(whl: Path) -> set[str]:
    with zipfile.ZipFile(whl) as z:
        return set(z.namelist())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", default="dist", help="output folder of `make dist` (default dist)")
    args = ap.parse_args()
    dist = (ROOT / args.dist).resolve()
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="portlens-dist-") as tmp_s:
        tmp = Path(tmp_s)

        with step("make dist (wheel + sdist, auditwheel show)"):
            p = run(["make", "--no-print-directory", "dist", f"DIST={dist}", f"PYTHON={sys.executable}"], cwd=ROOT)
            print("\n".join(line for line in p.stdout.splitlines() if "consistent" in line or "manylinux" in line))
            wheels = sorted(dist.glob("portlens-*.whl"))
            sdists = sorted(dist.glob("portlens-*.tar.gz"))
            assert len(wheels) == 1 and len(sdists) == 1, (wheels, sdists)
            whl, sdist = wheels[0], sdists[0]
            tags = whl.name[: -len(".whl")].split("-")[-3:]
            print(f"wheel {whl.name} ({whl.stat().st_size // 1024} KiB), sdist {sdist.name}")
            assert tags[0] == "cp310" and tags[1] == "abi3", f"not an abi3 wheel for CPython >= 3.10: {whl.name}"
            assert all(t.startswith("manylinux") for t in tags[2].split(".")), f"not a manylinux tag: {whl.name}"
            assert "consistent with the following platform tag" in p.stdout, "auditwheel show said nothing"

        venv = tmp / "venv"
        env = no_rust_env(tmp)
        with step("fresh venv, install the wheel without Rust"):
            run([sys.executable, "-m", "venv", str(venv)], env=env)
            py = venv / "bin" / "python"
            run([str(py), "-m", "pip", "install", "-q", "--only-binary", ":all:", str(whl)], env=env, cwd=tmp)

        with step("import, _core, --version"):
            code = (
                "import json, sys, sysconfig, portlens, portlens._core as c;"
                "print(json.dumps([c.__file__, sysconfig.get_paths()['purelib'], portlens.__version__, sys.prefix]))"
            )
            core, site, version, prefix = json.loads(run([str(py), "-c", code], env=env, cwd=tmp).stdout)
            print(f"portlens {version}: {core}")
            assert Path(prefix).resolve() == venv.resolve(), prefix
            assert Path(core).resolve().is_relative_to(Path(site).resolve() / "portlens"), (core, site)
            assert Path(core).name.startswith("_core.") and Path(core).suffix == ".so", core
            assert not Path(core).resolve().is_relative_to(ROOT), f"imported from the source tree: {core}"
            out = run([str(venv / "bin" / "portlens"), "--version"], env=env, cwd=tmp).stdout.strip()
            assert out == f"portlens {version}", out
            print(out)

        with step("scan a lab host with the installed portlens"):
            from lab import Lab

            with Lab.create(tag=f"dist{os.getpid() % 100000}", parts=("open",)) as lab:
                truth = lab.truth["open"]
                ports = sorted({*range(1, 2001), *truth["open_ports"]})
                spec = "1-2000," + ",".join(str(p) for p in ports if p > 2000)
                out_json = tmp / "x.json"
                cmd = [str(venv / "bin" / "portlens"), "scan", truth["v4"], "-p", spec, "-o", str(out_json), "-q"]
                p = subprocess.run(lab.in_scanner_cmd(cmd), env=env, cwd=tmp, text=True, capture_output=True)
                if p.returncode != 0:
                    raise SystemExit(f"dist: the scan failed ({p.returncode}): {p.stdout[-2000:]}{p.stderr[-2000:]}")
            code = (
                "import json, sys, portlens; r = portlens.load(sys.argv[1]);"
                "print(json.dumps([r.status, sorted(q.port for q in r.open_ports()), r.counts]))"
            )
            status, found, counts = json.loads(run([str(py), "-c", code, str(out_json)], env=env, cwd=tmp).stdout)
            expected = sorted(p for p in truth["open_ports"] if p in set(ports))
            print(f"scan {truth['v4']}: {len(found)} open of {len(ports)} ports, status {status}, counts {counts}")
            assert status == "complete", status
            assert found == expected, f"open ports differ from the lab's truth: {found} != {expected}"

        with step("wheel again from the sdist (pip wheel, cargo's target folder reused)"):
            wheel_dir = tmp / "from-sdist"
            benv = {**os.environ, "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))}
            pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(sdist)]
            run(pip_wheel, env=benv, cwd=tmp)
            rebuilt = sorted(wheel_dir.glob("portlens-*.whl"))
            # pip's build links with the host's cc, so its platform tag is the host's (linux_x86_64)
            same = whl.name.split("-")[:4]
            assert len(rebuilt) == 1 and rebuilt[0].name.split("-")[:4] == same, (rebuilt, whl.name)
            assert wheel_files(rebuilt[0]) == wheel_files(whl), wheel_files(rebuilt[0]) ^ wheel_files(whl)
            print(f"{rebuilt[0].name}: the same {len(wheel_files(whl))} files")

    print("-- dist: times: " + ", ".join(f"{n.split(' (')[0]} {t:.1f} s" for n, t in _times))
    print(f"dist: ok in {time.monotonic() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
