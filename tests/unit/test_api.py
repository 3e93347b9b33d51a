"""The Python API: streaming, async, progress, event loops, cancellation, Ctrl-C, round trips."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import portlens


def test_load_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(portlens.PortlensError, match="schema"):
        portlens.load(str(bad))
    bad.write_text("{not json")
    with pytest.raises(portlens.PortlensError, match="cannot read"):
        portlens.load(str(bad))


def test_lazy_names_survive_submodule_imports() -> None:
    """`portlens` and `portlens.policy` load names on first use; importing every submodule first must
    not shadow a public name with a module (a submodule import sets the package attribute)."""
    code = textwrap.dedent(
        """
        import importlib, pkgutil, types, portlens, portlens.policy, portlens.report
        for pkg in (portlens.policy, portlens.report):
            for m in pkgutil.iter_modules(pkg.__path__):
                importlib.import_module(f"{pkg.__name__}.{m.name}")
        bad = [f"{mod.__name__}.{n}" for mod in (portlens, portlens.policy) for n in mod.__all__
               if isinstance(getattr(mod, n), types.ModuleType)]
        assert not bad, bad
        assert callable(portlens.assess) and portlens.assess is portlens.policy.assess
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_engine_holds_the_one_copy_of_the_defaults() -> None:
    """`_core.ScanRequest` takes None for every option (the engine's `ScanConfig` default), the same as
    leaving it out; `_options.defaults()` shows them read-only."""
    import inspect

    from portlens import _core, _options

    optional = {
        "exclude", "concurrency", "rate", "max_per_host", "initial_rtt_timeout", "min_rtt_timeout",
        "max_rtt_timeout", "min_retries", "max_retries", "randomize", "seed", "keep", "max_hosts",
        "allow_large", "resolve_timeout", "services", "service_timeout", "udp_fast", "discovery", "icmp_interval",
        "method",
    }  # fmt: skip
    nones = {name: None for name in optional}
    assert _core.ScanRequest(["192.0.2.1"], "1", **nones).options() == _core.ScanRequest(["192.0.2.1"], "1").options()
    engine = _options.defaults()
    assert engine["concurrency"] == 8192 and engine["keep"] == ["open"] and engine["max_retries"] == 10
    assert engine["initial_rtt_timeout"] == 1.0 and engine["service_timeout"] == 5.0 and engine["rate"] is None
    with pytest.raises(TypeError):
        engine["concurrency"] = 1  # type: ignore[index]
    assert _options.defaults()["concurrency"] == 8192
    # the signature names no default of its own: only None
    params = inspect.signature(_core.ScanRequest).parameters
    assert {n for n, p in params.items() if n in optional and p.default is None} == optional
    # a value given is the one used, in the same units the options report
    given = _core.ScanRequest(["192.0.2.1"], "1", concurrency=7, keep=["closed"], min_rtt_timeout=0.25).options()
    assert (given["concurrency"], given["keep"], given["min_rtt_timeout"]) == (7, ["closed"], 0.25)
