"""portlens: find what listens on your networks, fast, from Python.

>>> import portlens
>>> result = portlens.scan("198.18.1.0/24", ports="top-100")   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._core import __version__, parse_ports, service_name, top_ports
from ._lazy import attach
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
from .results import HostResult, PortResult, ScanResult

if TYPE_CHECKING:
    from . import store as store
    from .policy import Assessment, Baseline, Finding, Policy, PolicyError, assess
    from .report.jsonfmt import load
    from .report.nmap_xml import load_nmap_xml

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


# Loaded on first use, so that `import portlens` (and the CLI) starts fast: the policy engine,
# the readers, and the history store (SQLAlchemy).
_LAZY = {
    "assess": ".policy",
    "Policy": ".policy",
    "Baseline": ".policy",
    "Assessment": ".policy",
    "Finding": ".policy",
    "PolicyError": ".policy",
    "load": ".report.jsonfmt",
    "load_nmap_xml": ".report.nmap_xml",
}


__getattr__, __dir__ = attach(__name__, _LAZY, modules=("store",))
