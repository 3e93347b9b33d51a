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
