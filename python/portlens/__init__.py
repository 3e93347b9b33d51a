"""portlens: find what listens on your networks, fast, from Python.

>>> import portlens
>>> result = portlens.scan("198.18.1.0/24", ports="top-100")   # doctest: +SKIP
"""

from __future__ import annotations

from ._core import __version__, parse_ports, service_name, top_ports
from ._scan import Progress, Scan, scan, scan_async, start
from .exceptions import (
    InputError,
    OptionError,
    PortlensError,
    PortSpecError,
    ResolveError,
    ScanError,
    ScanInterrupted,
    ScopeError,
    TargetError,
    TargetTooLargeError,
)
from .policy import Assessment, Baseline, Finding, Policy, PolicyError, assess
from .report.jsonfmt import load
from .report.nmap_xml import load_nmap_xml
from .results import HostResult, PortResult, ScanResult

__all__ = [
    "__version__",
    "scan",
    "scan_async",
    "start",
    "Scan",
    "Progress",
    "ScanResult",
    "HostResult",
    "PortResult",
    "load",
    "load_nmap_xml",
    "parse_ports",
    "top_ports",
    "service_name",
    "PortlensError",
    "InputError",
    "TargetError",
    "TargetTooLargeError",
    "ResolveError",
    "ScopeError",
    "PortSpecError",
    "OptionError",
    "ScanError",
    "ScanInterrupted",
    "assess",
    "Policy",
    "Baseline",
    "Assessment",
    "Finding",
    "PolicyError",
]


def __getattr__(name: str) -> object:
    # `portlens.store` (scan history, drift) loads SQLAlchemy: imported on first use only
    if name == "store":
        import importlib

        return importlib.import_module(".store", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
