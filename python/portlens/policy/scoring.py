"""Attack-surface scoring.

Each active finding weighs ``10 ** rank(severity) * confidence`` with rank info 0, low 1,
medium 2, high 3, critical 4: 1, 10, 100, 1000, 10000 points at full confidence, so one critical
outweighs a thousand lows and every severity step counts ten times the one below. A host's
score is the sum of its findings' weights; the scan's score is the sum of the host scores.
Hosts are ranked by score, then by their worst severity, then by address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .model import SEVERITIES, Finding, HostScore, severity_rank
from .scope import addr_key

__all__ = ["WEIGHTS", "weight", "host_scores", "severity_counts"]

WEIGHTS: Mapping[str, int] = {s: 10 ** severity_rank(s) for s in SEVERITIES}


def weight(f: Finding) -> float:
    return WEIGHTS[f.severity] * f.confidence


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(reversed(SEVERITIES), 0)
    for f in findings:
        counts[f.severity] += 1
    return counts


def host_scores(
    findings: Iterable[Finding], open_ports: Mapping[str, int], hostnames: Mapping[str, str | None]
) -> tuple[HostScore, ...]:
    """Per-host scores, riskiest first; every host with an open port or a finding is listed."""
    by_host: dict[str, list[Finding]] = {h: [] for h in open_ports}
    for f in findings:
        by_host.setdefault(f.host, []).append(f)
    scores = []
    for host, fs in by_host.items():
        worst = max((f.severity for f in fs), key=severity_rank, default=None)
        scores.append(
            HostScore(
                host=host,
                hostname=hostnames.get(host),
                score=round(sum(weight(f) for f in fs), 2),
                counts=severity_counts(fs),
                max_severity=worst,
                open_ports=open_ports.get(host, 0),
            )
        )
    scores.sort(key=lambda h: (-h.score, -(severity_rank(h.max_severity) if h.max_severity else -1), addr_key(h.host)))
    return tuple(scores)
