"""``portlens assess``, and the risk assessment options of ``scan`` and ``report``."""

from __future__ import annotations

import argparse
import json
from typing import Any

import portlens

from .common import EXIT_FINDINGS, load_document


def add_assess_options(p: argparse.ArgumentParser, scan: bool) -> None:
    g = p.add_argument_group("risk assessment" + (" (any of these implies --assess)" if scan else ""))
    if scan:
        g.add_argument("--assess", action="store_true", help="assess the results and print the findings")
    g.add_argument("--policy", metavar="FILE", help="policy file (TOML), layered over the default policy")
    g.add_argument("--baseline", metavar="FILE", help="baseline file (TOML): open ports outside it are findings")
    g.add_argument(
        "--vulns",
        metavar="FILE",
        action="append",
        default=[],
        help="CISA KEV catalog or NVD CVE JSON 2.0 feed (.json, .json.gz, .zip; repeatable)",
    )
    g.add_argument(
        "--advisories",
        metavar="FILE",
        action="append",
        default=[],
        help="distribution advisories: OSV records or osv.dev's zip per ecosystem, Debian Security Tracker JSON; "
        "CVEs are then decided by the package revision a banner shows (repeatable)",
    )
    sev = ", ".join(portlens.policy.SEVERITIES)
    g.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        choices=portlens.policy.SEVERITIES,
        help=f"exit 3 on a finding this severe or worse ({sev})",
    )


def add_parser(sub: Any) -> None:
    a = sub.add_parser("assess", help="assess saved results", description="Assess a results file (scan -o FILE.json).")
    a.add_argument("results", help="results written by 'portlens scan -o FILE.json'")
    a.add_argument("--json", action="store_true", help="print the assessment as JSON (portlens.assessment/1)")
    a.add_argument("-q", "--quiet", action="store_true", help="print nothing; only the exit status")
    add_assess_options(a, scan=False)


def assess_fn(args: argparse.Namespace) -> Any:
    """Load the policy, baseline and vulnerability data now; return a function result -> Assessment."""
    policy = (portlens.Policy.load(args.policy) if args.policy else portlens.Policy.default()).resolved()
    policy.vulns()  # the policy's own vulnerability files, read now
    baseline = portlens.Baseline.load(args.baseline) if args.baseline else None
    files = [*args.vulns, *args.advisories]  # each file's format is recognised
    vulns = portlens.policy.VulnDB.load(files) if files else None
    return lambda result: portlens.assess(result, policy, baseline, vulns=vulns)


def assessor(args: argparse.Namespace) -> Any:
    """Load the policy, baseline and vulnerability data now; return a function that assesses a result."""
    if not (
        getattr(args, "assess", True) or args.policy or args.baseline or args.vulns or args.advisories or args.fail_on
    ):
        return None
    assess = assess_fn(args)

    def run(result: portlens.ScanResult, quiet: bool) -> bool:
        a = assess(result)
        if getattr(args, "json", False) and not quiet:
            print(json.dumps(a.to_dict(), indent=2))
        elif not quiet:
            print(assessment_text(a))
        return args.fail_on is not None and bool(a.at_least(args.fail_on))

    return run


def assessment_text(a: portlens.Assessment, hosts: int = 10) -> str:
    counts = ", ".join(f"{s} {n}" for s, n in a.counts.items())
    lines = ["", f"risk assessment ({' + '.join(a.policy)}): score {a.score:g} -- {counts}"]
    shown = [f for f in a.findings if f.severity != "info"]
    width = max((len(f.where) for f in shown), default=0)
    for f in shown:
        lines.append(f"  {f.severity.upper():<8}  {f.where:<{width}}  {f.title}  [{f.id}, conf {f.confidence:g}]")
        if f.remediation:
            lines.append(f"  {'':<8}  {'':<{width}}  fix ({f.remediation[0].practice}): {f.remediation[0].text}")
    if a.counts.get("info"):
        lines.append(f"  {a.counts['info']} info finding(s) not listed (open ports no rule rates)")
    if a.suppressed:
        lines.append(f"  {len(a.suppressed)} finding(s) suppressed by risk acceptances")
    if a.hosts:
        lines.append("riskiest hosts:")
        for h in a.hosts[:hosts]:
            worst = ", ".join(f"{s} {n}" for s, n in h.counts.items() if n)
            lines.append(
                f"  {h.host:<{max(len(x.host) for x in a.hosts[:hosts])}}  score {h.score:g}  ({worst or 'none'})"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    assess_result = assessor(args)
    result = load_document(args.results)
    if not isinstance(result, portlens.ScanResult):
        raise portlens.InputError(f"{args.results!r} is an assessment, not scan results", item=args.results)
    return EXIT_FINDINGS if assess_result(result, args.quiet) else 0
