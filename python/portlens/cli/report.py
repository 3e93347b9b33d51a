"""``portlens report``, and the report options of ``scan``."""

from __future__ import annotations

import argparse
from typing import Any

import portlens

from ..report.jsonfmt import write_result, write_text
from .assess import add_assess_options, assess_fn
from .common import EXIT_FAILED, EXIT_FINDINGS, REPORT_FORMATS, Outputs, Signals, check_outputs, load_document


def add_parser(sub: Any) -> None:
    r = sub.add_parser(
        "report",
        help="write reports of saved results",
        description="Write reports (.html, .md, .csv, .findings.csv, .assessment.json, .json) of a results file "
        "(scan -o FILE.json) or of an assessment (FILE.assessment.json).",
    )
    r.add_argument("results", help="results written by 'portlens scan -o FILE.json', or an assessment JSON")
    r.add_argument("-o", "--output", action="append", default=[], metavar="FILE", required=True, help="report to write")
    r.add_argument("-q", "--quiet", action="store_true", help="do not list the files written")
    add_assess_options(r, scan=False)
    add_report_options(r)


def add_report_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reports (.html, .md)")
    g.add_argument(
        "--previous", metavar="FILE", help="an earlier scan or assessment JSON: the report says what changed"
    )
    g.add_argument("--title", help="the report's title")


def reporter(args: argparse.Namespace, outputs: list[tuple[str, str]]) -> Any:
    """A function that writes the report outputs of a scan result (None when none is asked for);
    the policy and the previous scan are read now, before any packet is sent."""
    if not any(fmt in REPORT_FORMATS for _, fmt in outputs):
        return None
    assess = assess_fn(args)
    previous = load_document(args.previous) if getattr(args, "previous", None) else None

    def run(result: portlens.ScanResult, status: Outputs) -> None:
        write_reports(args, outputs, assess(result), result, previous, assess, status)

    return run


def write_reports(
    args: argparse.Namespace,
    outputs: list[tuple[str, str]],
    assessment: portlens.Assessment,
    result: portlens.ScanResult | None,
    previous: portlens.ScanResult | portlens.Assessment | None,
    assess: Any,
    status: Outputs,
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


def run(args: argparse.Namespace) -> int:
    outputs = check_outputs(args.output)
    doc = load_document(args.results)
    previous = load_document(args.previous) if args.previous else None
    assess = assess_fn(args)
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
    status = Outputs()
    signals: Signals = args.signals
    signals.hold()  # the writes are not cut short by a signal
    for path, fmt in outputs:
        with status.writing(path):
            if result is not None and fmt == "json":
                write_result(result, path)
            elif result is not None and fmt == "csv":
                write_text(path, result.to_csv())
    write_reports(args, outputs, assessment, result, previous, assess, status)
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
