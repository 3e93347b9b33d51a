"""Risk policy and attack-surface assessment (pure Python; the only I/O is loading files).

::

    import portlens
    result = portlens.scan("198.18.1.0/24")
    a = portlens.assess(result)                                   # the default policy
    a = portlens.assess(result, policy="policy.toml", baseline="baseline.toml", vulns=["kev.json"])
    for f in a.findings:                                           # most severe first
        print(f.severity, f.where, f.title, [r.practice for r in f.remediation])
    a.hosts[0]                                                     # the riskiest host

Modules: `contract` (what service identification attaches to a port: the ``service`` mapping
and its check ids), `rules` (policies as TOML data), `default.toml` (the built-in policy),
`baseline`, `scoring`, `vulns` (CISA KEV and NVD CVE 2.0 matching), `cpe` and `versions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .baseline import Baseline, Expectation
    from .contract import CHECKS, SERVICE_ALIASES, CheckResult, ServiceInfo, canonical_service
    from .evaluate import assess, finding_id
    from .model import PRACTICES, SEVERITIES, Acceptance, Assessment, Finding, HostScore, PolicyError, Remedy
    from .rules import Policy, Rule
    from .scoring import WEIGHTS
    from .versions import compare_versions
    from .vulns import VulnDB

__all__ = [
    "assess",
    "finding_id",
    "Policy",
    "Rule",
    "Baseline",
    "Expectation",
    "Assessment",
    "Finding",
    "HostScore",
    "Remedy",
    "Acceptance",
    "PolicyError",
    "VulnDB",
    "SEVERITIES",
    "PRACTICES",
    "WEIGHTS",
    "CHECKS",
    "SERVICE_ALIASES",
    "CheckResult",
    "ServiceInfo",
    "canonical_service",
    "compare_versions",
]

# Submodules load on first use: `import portlens.policy.model` (the CLI, the readers) stays cheap.
_LAZY = {
    "assess": ".evaluate",
    "finding_id": ".evaluate",
    "Baseline": ".baseline",
    "Expectation": ".baseline",
    "CHECKS": ".contract",
    "SERVICE_ALIASES": ".contract",
    "CheckResult": ".contract",
    "ServiceInfo": ".contract",
    "canonical_service": ".contract",
    "PRACTICES": ".model",
    "SEVERITIES": ".model",
    "Acceptance": ".model",
    "Assessment": ".model",
    "Finding": ".model",
    "HostScore": ".model",
    "PolicyError": ".model",
    "Remedy": ".model",
    "Policy": ".rules",
    "Rule": ".rules",
    "WEIGHTS": ".scoring",
    "compare_versions": ".versions",
    "VulnDB": ".vulns",
}


__getattr__, __dir__ = attach(__name__, _LAZY)
