"""The ``portlens`` command line, built on the public API only."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import portlens

from .report.jsonfmt import write_jsonl, write_text
from .report.naabu import dumps_naabu

# by file name ending, longest first: ".naabu.jsonl" is naabu's JSON Lines, ".jsonl" portlens's own
OUTPUT_FORMATS = {".naabu.jsonl": "naabu", ".json": "json", ".jsonl": "jsonl", ".xml": "nmap-xml"}
EXIT_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="portlens", description="Find what listens on your networks.")
    p.add_argument("--version", action="version", version=f"portlens {portlens.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scan", help="scan TCP ports", description="Scan TCP ports of TARGETS.")
    s.add_argument("targets", nargs="+", help="addresses, CIDRs, ranges (198.18.1.10-50), hostnames, @file")
    s.add_argument("-p", "--ports", default="top-1000", help="22,80,8000-8100 | all | top-100 | top-1000")
    s.add_argument("--exclude", action="append", default=[], help="targets to skip (repeatable)")
    s.add_argument("--exclude-ports", default="", help="ports to skip")
    s.add_argument("--scope", help="authorised networks: a file (one per line) or a comma list")
    s.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="FILE",
        help="write results; the format follows the extension: .json, .jsonl, .xml (nmap), .naabu.jsonl (repeatable)",
    )
    s.add_argument("--rate", type=float, help="probes per second (default: as fast as limits allow)")
    s.add_argument("--concurrency", type=int, default=8192, help="probes in flight at most")
    s.add_argument("--max-per-host", type=int, help="probes in flight against one host")
    s.add_argument("--max-retries", type=int, default=4, help="retries of silent probes once loss is seen")
    s.add_argument("--min-retries", type=int, default=1, help="retries of silent probes")
    s.add_argument("--initial-rtt-timeout", type=float, default=1.0, help="seconds, before any RTT is known")
    s.add_argument("--min-rtt-timeout", type=float, default=0.1, help="seconds")
    s.add_argument("--max-rtt-timeout", type=float, default=3.0, help="seconds")
    s.add_argument("--keep", default="open", help="states listed one by one: open,closed,filtered")
    s.add_argument("--seed", type=int, help="seed of the probe order (reproducible runs)")
    s.add_argument("--no-randomize", action="store_true", help="probe in natural order")
    s.add_argument("--allow-large", action="store_true", help="allow targets beyond 2^24 addresses")
    s.add_argument("--protocol", choices=("tcp", "udp", "both"), default="tcp", help="what to scan (default tcp)")
    s.add_argument("-sU", "--udp", dest="protocol", action="store_const", const="udp", help="UDP scan (--protocol udp)")
    s.add_argument("--udp-fast", action="store_true", help="UDP: do not wait out ICMP rate limits (open|filtered)")
    d = s.add_mutually_exclusive_group()
    d.add_argument("--discovery", dest="discovery", action="store_const", const=True, help="host discovery first")
    d.add_argument(
        "-Pn",
        "--no-discovery",
        dest="discovery",
        action="store_const",
        const=False,
        help="scan every address (default: discovery when there is more than one)",
    )
    s.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the scan in shards on the Dask cluster of this scheduler (tcp://host:8786); needs portlens[dask]",
    )
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no table")
    _add_assess_options(s, scan=True)
    _add_assess_parser(sub)
    return p


def _scope(arg: str | None) -> list[str] | None:
    if arg is None:
        return None
    path = Path(arg)
    if path.is_file():
        return [
            line.split("#", 1)[0].strip() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()
        ]
    return [x.strip() for x in arg.split(",") if x.strip()]


def _check_outputs(paths: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        name = Path(path).name.lower()
        fmt = next(
            (f for ext, f in sorted(OUTPUT_FORMATS.items(), key=lambda x: -len(x[0])) if name.endswith(ext)), None
        )
        if fmt is None:
            known = ", ".join(OUTPUT_FORMATS)
            raise portlens.OptionError(f"output {path!r}: unknown format (known extensions: {known})", item=path)
        parent = Path(path).parent
        if not parent.is_dir():
            raise portlens.OptionError(f"output {path!r}: directory {str(parent)!r} does not exist", item=path)
        out.append((path, fmt))
    return out


class _Bar:
    """A one-line progress bar on a terminal; silent elsewhere."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, p: portlens.Progress) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * p.fraction)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r[{bar}] {p.fraction * 100:5.1f}%  {p.done}/{p.total} probes  {p.open} open  {p.rate:,.0f}/s "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


@contextlib.contextmanager
def _jsonl_writers(outputs: list[tuple[str, str]]) -> Iterator[list[IO[str]]]:
    files: list[IO[str]] = [open(path, "w", encoding="utf-8") for path, fmt in outputs if fmt == "jsonl"]
    try:
        yield files
    finally:
        for f in files:
            f.close()


def _start(args: argparse.Namespace, bar: _Bar | None, options: dict[str, Any]) -> Any:
    """A local scan, or with ``--dask`` one in shards on that cluster (same interface)."""
    if args.dask is None:
        return portlens.start(args.targets, args.ports, progress=bar, **options)
    from . import distributed

    # start() connects a dask.distributed.Client to the address and closes it when the scan ends
    return distributed.start(args.targets, args.ports, executor=args.dask, progress=bar, **options)


def _scan(args: argparse.Namespace) -> int:
    outputs = _check_outputs(args.output)
    assessor = _assessor(args)  # policy files are read (and refused) before any packet is sent
    options: dict[str, Any] = {
        "exclude": args.exclude,
        "exclude_ports": args.exclude_ports,
        "scope": _scope(args.scope),
        "rate": args.rate,
        "concurrency": args.concurrency,
        "max_per_host": args.max_per_host,
        "max_retries": args.max_retries,
        "min_retries": args.min_retries,
        "initial_rtt_timeout": args.initial_rtt_timeout,
        "min_rtt_timeout": args.min_rtt_timeout,
        "max_rtt_timeout": args.max_rtt_timeout,
        "keep": [k.strip() for k in args.keep.split(",") if k.strip()],
        "seed": args.seed,
        "randomize": not args.no_randomize,
        "allow_large": args.allow_large,
        "protocol": args.protocol,
        "udp_fast": args.udp_fast,
        "discovery": args.discovery,
    }
    bar = _Bar(sys.stderr) if not args.quiet else None
    interrupted = False
    with _jsonl_writers(outputs) as streams:
        s = _start(args, bar, options)
        written = 0
        try:
            for port in s:
                for f in streams:
                    write_jsonl([port], f)
                    f.flush()
                written += 1
        except KeyboardInterrupt:
            interrupted = True
            s.cancel()
        result = s.result()
        # results read while finishing after Ctrl-C
        for f in streams:
            write_jsonl(s.found[written:], f)
    if bar is not None:
        bar.close()
    for path, fmt in outputs:
        if fmt == "json":
            write_text(path, result.to_json())
        elif fmt == "nmap-xml":
            write_text(path, result.to_nmap_xml())
        elif fmt == "naabu":
            write_text(path, dumps_naabu(result))
    if not args.quiet:
        print(result.summary())
        for path, _ in outputs:
            print(f"  written: {path}")
    failed = assessor is not None and assessor(result, args.quiet)
    if interrupted:
        print("portlens: interrupted; partial results written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FINDINGS if failed else 0


# -- risk assessment: `scan --assess ...` and `assess results.json` -----------------------------------

EXIT_FINDINGS = 3  # --fail-on: a finding at or above the threshold


def _add_assess_options(p: argparse.ArgumentParser, scan: bool) -> None:
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
    sev = ", ".join(portlens.policy.SEVERITIES)
    g.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        choices=portlens.policy.SEVERITIES,
        help=f"exit 3 on a finding this severe or worse ({sev})",
    )


def _add_assess_parser(sub: Any) -> None:
    a = sub.add_parser("assess", help="assess saved results", description="Assess a results file (scan -o FILE.json).")
    a.add_argument("results", help="results written by 'portlens scan -o FILE.json'")
    a.add_argument("--json", action="store_true", help="print the assessment as JSON (portlens.assessment/1)")
    a.add_argument("-q", "--quiet", action="store_true", help="print nothing; only the exit status")
    _add_assess_options(a, scan=False)


def _assessor(args: argparse.Namespace) -> Any:
    """Load the policy, baseline and vulnerability data now; return a function that assesses a result."""
    if not (getattr(args, "assess", True) or args.policy or args.baseline or args.vulns or args.fail_on):
        return None
    policy = (portlens.Policy.load(args.policy) if args.policy else portlens.Policy.default()).resolved()
    policy.vulns()  # the policy's own vulnerability files, read now
    baseline = portlens.Baseline.load(args.baseline) if args.baseline else None
    vulns = portlens.policy.VulnDB.load(args.vulns) if args.vulns else None

    def run(result: portlens.ScanResult, quiet: bool) -> bool:
        a = portlens.assess(result, policy, baseline, vulns=vulns)
        if getattr(args, "json", False) and not quiet:
            print(json.dumps(a.to_dict(), indent=2))
        elif not quiet:
            print(_assessment_text(a))
        return args.fail_on is not None and bool(a.at_least(args.fail_on))

    return run


def _assessment_text(a: portlens.Assessment, hosts: int = 10) -> str:
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


def _assess(args: argparse.Namespace) -> int:
    assessor = _assessor(args)
    try:
        result = portlens.load(args.results)
    except portlens.InputError:
        raise
    except portlens.PortlensError as e:
        raise portlens.InputError(str(e), item=args.results) from None
    return EXIT_FINDINGS if assessor(result, args.quiet) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "scan":
            return _scan(args)
        if args.command == "assess":
            return _assess(args)
    except portlens.InputError as e:
        print(f"portlens: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except portlens.PortlensError as e:
        print(f"portlens: scan failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("portlens: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
