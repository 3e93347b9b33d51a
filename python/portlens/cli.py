"""The ``portlens`` command line, built on the public API only."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import portlens

from . import _options
from .files.write import check_target, open_stream
from .report.jsonfmt import write_jsonl, write_result, write_text
from .report.naabu import dumps_naabu
from .store import commands as store_commands

# by file name ending, longest first: ".naabu.jsonl" is naabu's JSON Lines, ".jsonl" portlens's own
OUTPUT_FORMATS = {
    ".naabu.jsonl": "naabu",
    ".json": "json",
    ".jsonl": "jsonl",
    ".xml": "nmap-xml",
    # reports (portlens.report): the assessment with the scan's details; `portlens report` writes them too
    ".html": "html",
    ".md": "markdown",
    ".csv": "csv",  # one row per port
    ".findings.csv": "findings-csv",  # one row per finding
    ".assessment.json": "assessment-json",  # portlens.assessment/1
}
REPORT_FORMATS = {"html", "markdown", "findings-csv", "assessment-json"}  # these need an assessment
EXIT_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130
# SIGTERM (systemd, `timeout`, a container stop) and SIGHUP (the terminal went away) end a scan as
# Ctrl-C does, partial results written; the exit status says which signal: 128 + its number
EXIT_SIGNALS: dict[int, int] = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="portlens", description="Find what listens on your networks.")
    p.add_argument("--version", action="version", version=f"portlens {portlens.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scan", help="scan TCP ports", description="Scan TCP ports of TARGETS.")
    s.add_argument(
        "targets", nargs="*", help="addresses, CIDRs, ranges (198.18.1.10-50), hostnames, @file (or --profile NAME)"
    )
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
        help="write results; the format follows the extension: .json, .jsonl, .xml (nmap), .naabu.jsonl, "
        ".csv (ports), and reports of the assessment: .html, .md, .findings.csv, .assessment.json (repeatable)",
    )
    # scan options: converted and checked by portlens._options (the API's table); unset, the engine's default
    engine = _options.defaults()

    def option(flag: str, help: str, name: str | None = None) -> None:
        name = name or flag.lstrip("-").replace("-", "_")
        default = engine.get(name)
        shown = "" if default is None or isinstance(default, bool) else f" (default {_shown(default)})"
        s.add_argument(flag, type=_option(name), metavar=name.upper(), help=help + shown)

    option("--rate", "probes per second at most, 1/86400 to 1e9 (default: as fast as limits allow)")
    option("--concurrency", "probes in flight at most")
    option("--max-per-host", "probes in flight against one host")
    option("--max-retries", "cap on retries of a silent port, 0 to 254 (TCP retries until loss is ruled out)")
    option("--min-retries", "retries of silent probes")
    option("--initial-rtt-timeout", "seconds, before any RTT is known (durations: at most 86400, a day)")
    option("--min-rtt-timeout", "seconds")
    option("--max-rtt-timeout", "seconds")
    option("--keep", "states listed one by one: open,closed,filtered")
    option("--seed", "seed of the probe order (reproducible runs), 0 to 2^64-1")
    s.add_argument("--no-randomize", action="store_true", help="probe in natural order")
    s.add_argument("--allow-large", action="store_true", help="allow targets beyond 2^24 addresses")
    s.add_argument(
        "--services", action="store_true", help="identify the service on each open port and run its safe checks"
    )
    option("--service-timeout", "seconds per open port for --services")
    s.add_argument("--protocol", choices=("tcp", "udp", "both"), help=f"what to scan (default {engine['protocol']})")
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
    _add_report_options(s)
    store_commands.add_scan_options(s)
    _add_assess_parser(sub)
    _add_report_parser(sub)
    store_commands.add_parsers(sub)
    return p


def _option(name: str) -> Any:
    """An argparse type for a scan option: the same conversion, checks and message as the API's."""

    def convert(text: str) -> Any:
        try:
            return _options.parse(name, text)
        except portlens.OptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = name  # argparse names the type in some messages
    convert.option = name  # type: ignore[attr-defined]  # profiles are checked against their flag (store.commands)
    return convert


def _shown(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)


def _scope(arg: str | None) -> list[str] | None:
    if arg is None:
        return None
    if os.path.lexists(arg):
        return ["@" + arg]  # read by portlens.files: a regular file, capped; errors never quote a line
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
        try:
            check_target(path)  # not a symlink, not a device: refused before any packet is sent
        except OSError as e:
            raise portlens.OptionError(f"output {path!r}: {e.strerror}", item=path) from None
        out.append((path, fmt))
    return out


class _Signals:
    """SIGINT, SIGTERM and SIGHUP while a command runs: the first raises `_Interrupted` (a
    KeyboardInterrupt, so a scan stops as on Ctrl-C); once `hold` is called, or after the first,
    later signals are only counted, so that the final writes are not cut short."""

    def __init__(self, program: bool = False) -> None:
        self.signum: int | None = None
        self.holding = False
        self.program = program  # the process is the command (not a caller of main())
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for signum in EXIT_SIGNALS:
            with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them alone
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.signum is not None and self.program:
            # the process exits now: a late signal must not turn the exit status into a kill
            for signum in self._previous:
                signal.signal(signum, signal.SIG_IGN)
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if first and not self.holding:
            self.holding = True
            raise _Interrupted(signum)

    def hold(self) -> None:
        self.holding = True

    @property
    def exit_code(self) -> int:
        return EXIT_SIGNALS.get(self.signum or int(signal.SIGINT), EXIT_INTERRUPTED)


class _Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Outputs:
    """Failures of outputs, collected: one output that cannot be written does not stop the others."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def writing(self, path: str) -> Iterator[None]:
        try:
            yield
        except (OSError, portlens.PortlensError) as e:
            reason = f"{e.strerror}" if isinstance(e, OSError) and e.strerror else str(e)
            self.failed.append((path, reason))
            print(f"portlens: cannot write {path}: {reason}", file=sys.stderr)

    def written(self, outputs: Sequence[tuple[str, str]]) -> list[str]:
        bad = {p for p, _ in self.failed}
        return [p for p, _ in outputs if p not in bad]


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


class _Streams:
    """The JSON Lines outputs, written as results come (`portlens.files.write.open_stream`); one
    that fails is closed and reported, the others go on."""

    def __init__(self, outputs: list[tuple[str, str]], status: _Outputs) -> None:
        self.status = status
        self.files: dict[str, IO[str]] = {}
        try:
            for path, fmt in outputs:
                if fmt == "jsonl":
                    try:
                        self.files[path] = open_stream(path)
                    except OSError as e:
                        raise portlens.OptionError(f"output {path!r}: {e.strerror or e}", item=path) from None
        except BaseException:
            self.close()
            raise

    def write(self, ports: Sequence[portlens.PortResult]) -> None:
        for path, f in list(self.files.items()):
            with self.status.writing(path):
                try:
                    write_jsonl(ports, f)
                    f.flush()
                except BaseException:
                    del self.files[path]
                    with contextlib.suppress(OSError):
                        f.close()
                    raise

    def close(self) -> None:
        for path, f in self.files.items():
            with self.status.writing(path):
                f.close()
        self.files = {}


class _RichBar:
    """A `rich` progress bar on a terminal (stderr), removed when the scan ends."""

    def __init__(self, stream: IO[str], force_terminal: bool | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]scanning"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,}/{task.total:,} probes"),
            TextColumn("[bold]{task.fields[open]}[/] open"),
            TextColumn("{task.fields[rate]}/s"),
            TimeElapsedColumn(),
            console=Console(file=stream, force_terminal=force_terminal),
            transient=True,
        )
        self._task: Any = None

    def __call__(self, p: portlens.Progress) -> None:
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("scan", total=p.total, open=0, rate="0")
        self._progress.update(self._task, completed=p.done, total=p.total, open=p.open, rate=f"{p.rate:,.0f}")

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None


def _bar(quiet: bool) -> Any:
    """rich's bar on a terminal when rich is installed, else the plain one; nothing when quiet."""
    if quiet:
        return None
    if sys.stderr.isatty():
        try:
            return _RichBar(sys.stderr)
        except ImportError:
            pass
    return _Bar(sys.stderr)


def _start(args: argparse.Namespace, bar: Any, options: dict[str, Any]) -> Any:
    """A local scan, or with ``--dask`` one in shards on that cluster (same interface)."""
    if args.dask is None:
        return portlens.start(args.targets, args.ports, progress=bar, **options)
    from . import distributed

    # start() connects a dask.distributed.Client to the address and closes it when the scan ends
    return distributed.start(args.targets, args.ports, executor=args.dask, progress=bar, **options)


def _scan(args: argparse.Namespace) -> int:
    store = store_commands.prepare_scan(args)  # --profile fills args; --save: the open store
    outputs = _check_outputs(args.output)
    assessor = _assessor(args)  # policy files are read (and refused) before any packet is sent
    reporter = _reporter(args, outputs)
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
        "keep": args.keep,
        "seed": args.seed,
        "randomize": not args.no_randomize,
        "allow_large": args.allow_large,
        "services": args.services,
        "service_timeout": args.service_timeout,
        "protocol": args.protocol,
        "udp_fast": args.udp_fast,
        "discovery": args.discovery,
    }
    if store is not None:
        options.update(save=store, profile=args.profile)  # written in batches as results come (shards with --dask)
    bar = _bar(args.quiet)
    interrupted = False
    status = _Outputs()
    streams = _Streams(outputs, status)
    signals: _Signals = args.signals
    try:
        s = _start(args, bar, options)
        written = 0
        try:
            for port in s:
                streams.write([port])
                written += 1
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP (see _Signals)
            interrupted = True
            s.cancel()
        signals.hold()  # from here on a signal does not cut the writes short
        result = s.result()
        # results read while finishing after an interruption
        streams.write(s.found[written:])
    finally:
        streams.close()
    if bar is not None:
        bar.close()
    writers = {
        "json": lambda path: write_result(result, path),
        "nmap-xml": lambda path: write_text(path, result.to_nmap_xml()),
        "naabu": lambda path: write_text(path, dumps_naabu(result)),
        "csv": lambda path: write_text(path, result.to_csv()),
    }
    for path, fmt in outputs:
        if fmt in writers:
            with status.writing(path):
                writers[fmt](path)
    if reporter is not None:
        reporter(result, status)
    if not args.quiet:
        print(result.summary())
        for path in status.written(outputs):
            print(f"  written: {path}")
    for warning in result.warnings:  # even with --quiet: the result may be incomplete
        print(f"portlens: warning: {warning}", file=sys.stderr)
    store_commands.finish_scan(args, store, s, result)
    failed = assessor is not None and assessor(result, args.quiet)
    if interrupted:
        print("portlens: interrupted; partial results written", file=sys.stderr)
        return signals.exit_code
    if status.failed:
        return EXIT_FAILED
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


def _add_assess_parser(sub: Any) -> None:
    a = sub.add_parser("assess", help="assess saved results", description="Assess a results file (scan -o FILE.json).")
    a.add_argument("results", help="results written by 'portlens scan -o FILE.json'")
    a.add_argument("--json", action="store_true", help="print the assessment as JSON (portlens.assessment/1)")
    a.add_argument("-q", "--quiet", action="store_true", help="print nothing; only the exit status")
    _add_assess_options(a, scan=False)


def _assess_fn(args: argparse.Namespace) -> Any:
    """Load the policy, baseline and vulnerability data now; return a function result -> Assessment."""
    policy = (portlens.Policy.load(args.policy) if args.policy else portlens.Policy.default()).resolved()
    policy.vulns()  # the policy's own vulnerability files, read now
    baseline = portlens.Baseline.load(args.baseline) if args.baseline else None
    files = [*args.vulns, *args.advisories]  # each file's format is recognised
    vulns = portlens.policy.VulnDB.load(files) if files else None
    return lambda result: portlens.assess(result, policy, baseline, vulns=vulns)


def _assessor(args: argparse.Namespace) -> Any:
    """Load the policy, baseline and vulnerability data now; return a function that assesses a result."""
    if not (
        getattr(args, "assess", True) or args.policy or args.baseline or args.vulns or args.advisories or args.fail_on
    ):
        return None
    assess = _assess_fn(args)

    def run(result: portlens.ScanResult, quiet: bool) -> bool:
        a = assess(result)
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


def _load(path: str) -> portlens.ScanResult | portlens.Assessment:
    try:
        return portlens.load(path)
    except portlens.InputError:
        raise
    except portlens.PortlensError as e:
        raise portlens.InputError(str(e), item=path) from None


def _assess(args: argparse.Namespace) -> int:
    assessor = _assessor(args)
    result = _load(args.results)
    if not isinstance(result, portlens.ScanResult):
        raise portlens.InputError(f"{args.results!r} is an assessment, not scan results", item=args.results)
    return EXIT_FINDINGS if assessor(result, args.quiet) else 0


# -- reports: `scan -o report.html` and `report results.json -o report.html` ---------------------------------


def _add_report_parser(sub: Any) -> None:
    r = sub.add_parser(
        "report",
        help="write reports of saved results",
        description="Write reports (.html, .md, .csv, .findings.csv, .assessment.json, .json) of a results file "
        "(scan -o FILE.json) or of an assessment (FILE.assessment.json).",
    )
    r.add_argument("results", help="results written by 'portlens scan -o FILE.json', or an assessment JSON")
    r.add_argument("-o", "--output", action="append", default=[], metavar="FILE", required=True, help="report to write")
    r.add_argument("-q", "--quiet", action="store_true", help="do not list the files written")
    _add_assess_options(r, scan=False)
    _add_report_options(r)


def _add_report_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reports (.html, .md)")
    g.add_argument(
        "--previous", metavar="FILE", help="an earlier scan or assessment JSON: the report says what changed"
    )
    g.add_argument("--title", help="the report's title")


def _reporter(args: argparse.Namespace, outputs: list[tuple[str, str]]) -> Any:
    """A function that writes the report outputs of a scan result (None when none is asked for);
    the policy and the previous scan are read now, before any packet is sent."""
    if not any(fmt in REPORT_FORMATS for _, fmt in outputs):
        return None
    assess = _assess_fn(args)
    previous = _load(args.previous) if getattr(args, "previous", None) else None

    def run(result: portlens.ScanResult, status: _Outputs) -> None:
        _write_reports(args, outputs, assess(result), result, previous, assess, status)

    return run


def _write_reports(
    args: argparse.Namespace,
    outputs: list[tuple[str, str]],
    assessment: portlens.Assessment,
    result: portlens.ScanResult | None,
    previous: portlens.ScanResult | portlens.Assessment | None,
    assess: Any,
    status: _Outputs,
) -> None:
    kw: dict[str, Any] = {"title": getattr(args, "title", None)}
    if isinstance(previous, portlens.ScanResult):
        kw.update(previous=previous, previous_assessment=assess(previous))
    elif previous is not None:
        kw.update(previous=previous)
    writers = {
        "html": lambda path: assessment.to_html(path, result, **kw),
        "markdown": lambda path: assessment.to_markdown(path, result, **kw),
        "findings-csv": lambda path: assessment.to_csv(path),
        "assessment-json": lambda path: assessment.to_json(path),
    }
    for path, fmt in outputs:
        if fmt in writers:
            with status.writing(path):
                writers[fmt](path)


def _report(args: argparse.Namespace) -> int:
    outputs = _check_outputs(args.output)
    doc = _load(args.results)
    previous = _load(args.previous) if args.previous else None
    assess = _assess_fn(args)
    result = doc if isinstance(doc, portlens.ScanResult) else None
    allowed = REPORT_FORMATS | ({"json", "csv"} if result is not None else set())
    unfit = [path for path, fmt in outputs if fmt not in allowed]
    if unfit:
        what = "scan results" if result is not None else "an assessment (it has no port results)"
        raise portlens.OptionError(f"output {unfit[0]!r}: not a report format for {what}", item=unfit[0])
    if result is None and (args.policy or args.baseline or args.vulns or args.advisories):
        raise portlens.OptionError(
            "--policy, --baseline, --vulns and --advisories need scan results, not an assessment"
        )
    assessment: portlens.Assessment = doc if isinstance(doc, portlens.Assessment) else assess(doc)
    status = _Outputs()
    signals: _Signals = args.signals
    signals.hold()  # the writes are not cut short by a signal
    for path, fmt in outputs:
        with status.writing(path):
            if result is not None and fmt == "json":
                write_result(result, path)
            elif result is not None and fmt == "csv":
                write_text(path, result.to_csv())
    _write_reports(args, outputs, assessment, result, previous, assess, status)
    if not args.quiet:
        for path in status.written(outputs):
            print(f"written: {path}")
    if signals.signum is not None:
        return signals.exit_code
    if status.failed:
        return EXIT_FAILED
    if args.fail_on is not None and assessment.at_least(args.fail_on):
        return EXIT_FINDINGS
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with _Signals(program=argv is None) as signals:
        args.signals = signals
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "scan":
            return _scan(args)
        if args.command == "assess":
            return _assess(args)
        if args.command == "report":
            return _report(args)
        if args.command in store_commands.COMMANDS:
            return store_commands.run(args)
    except portlens.InputError as e:
        print(f"portlens: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except portlens.PortlensError as e:
        print(f"portlens: scan failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as e:
        print("portlens: interrupted", file=sys.stderr)
        signum: int = getattr(e, "signum", signal.SIGINT)
        return EXIT_SIGNALS.get(signum, EXIT_INTERRUPTED)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
