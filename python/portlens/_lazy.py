"""Public names that load on first use (PEP 562), so that `import portlens` stays cheap."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def attach(
    package: str, names: Mapping[str, str], modules: Iterable[str] = ()
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each of ``names`` is loaded from its
    (relative) submodule on first access and then kept; ``modules`` are submodules reached as
    attributes. A public name must not be the name of a submodule: importing that submodule
    would set the package attribute to the module."""
    submodules = frozenset(modules)

    def __getattr__(name: str) -> object:
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        mod = sys.modules[package]
        return sorted({*vars(mod), *getattr(mod, "__all__", ()), *submodules})

    return __getattr__, __dir__


def optional(module: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra brings it (``pip install 'portlens[extra]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module.split('.')[0]} is needed for this: pip install 'portlens[{extra}]'") from e
