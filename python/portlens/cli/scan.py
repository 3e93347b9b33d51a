"""``portlens scan``: the scan command (a local scan, or in shards on Dask with ``--dask``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import portlens

from .. import _options
from ..progress import terminal_bar
from ..report.jsonfmt import write_result, write_text
from ..report.naabu import dumps_naabu
from . import history
from .assess import add_assess_options, assessor
from .common import EXIT_FAILED, EXIT_FINDINGS, Outputs, Signals, Streams, check_outputs, option_type, scope_arg, shown
from .report import add_report_options, reporter

#: The ports scanned when -p is not given.
PORTS_DEFAULT = "top-1000"


def add_parser(sub: Any) -> None:
    s = sub.add_parser("scan", help="scan TCP ports", description="Scan TCP ports of TARGETS.")
    s.add_argument(
        "targets", nargs="*", help="addresses, CIDRs, ranges (198.18.1.10-50), hostnames, @file (or --profile NAME)"
    )
    s.add_argument("-p", "--ports", default=PORTS_DEFAULT, help="22,80,8000-8100 | all | top-100 | top-1000")
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
        note = "" if default is None or isinstance(default, bool) else f" (default {shown(default)})"
        s.add_argument(flag, type=option_type(name), metavar=name.upper(), help=help + note)

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
    s.add_argument(
        "--method",
        choices=("connect", "syn", "auto"),
        help=f"how TCP ports are probed: syn (half-open, raw sockets: root or CAP_NET_RAW), connect, or auto "
        f"(syn when allowed) (default {engine['method']})",
    )
    s.add_argument("-sS", "--syn", dest="method", action="store_const", const="syn", help="SYN scan (--method syn)")
    s.add_argument(
        "-sT", "--connect", dest="method", action="store_const", const="connect", help="connect scan (--method connect)"
    )
    s.add_argument(
        "-S",
        "--source-ip",
        dest="source",
        type=option_type("source"),
        metavar="ADDRESS",
        help="send TCP probes (SYN or connect, and discovery pings) from this address of this host (nmap's -S)",
    )
    s.add_argument(
        "-e",
        "--interface",
        dest="interface",
        type=option_type("interface"),
        metavar="NAME",
        help="send and receive TCP probes on this network interface only (nmap's -e)",
    )
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
    add_assess_options(s, scan=True)
    add_report_options(s)
    history.add_scan_options(s)


def start(args: argparse.Namespace, bar: Any, options: dict[str, Any]) -> Any:
    """A local scan, or with ``--dask`` one in shards on that cluster (same interface)."""
    if args.resume is not None:
        from .. import _resume

        # options given on the command line (not left at their defaults) must agree with the saved scan's
        defaults = {"randomize": True, "services": False, "udp_fast": False, "allow_large": False}
        given = {
            k: v
            for k, v in options.items()
            if k not in ("save", "profile") and v not in (None, [], "") and (k not in defaults or defaults[k] != v)
        }
        if args.ports != PORTS_DEFAULT:  # refused, as the API refuses ports= (not silently ignored)
            given["ports"] = args.ports
        store = options.get("save")
        if args.dask is not None:
            given["executor"] = args.dask
        return _resume.start(args.resume, store, progress=bar, **given)
    if args.dask is None:
        return portlens.start(args.targets, args.ports, progress=bar, **options)
    from .. import distributed

    # start() connects a dask.distributed.Client to the address and closes it when the scan ends
    return distributed.start(args.targets, args.ports, executor=args.dask, progress=bar, **options)


def run(args: argparse.Namespace) -> int:
    store = history.prepare_scan(args)  # --profile fills args; --save: the open store
    outputs = check_outputs(args.output)
    assess_result = assessor(args)  # policy files are read (and refused) before any packet is sent
    write_reports = reporter(args, outputs)
    options: dict[str, Any] = {
        "exclude": args.exclude,
        "exclude_ports": args.exclude_ports,
        "scope": scope_arg(args.scope),
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
        "method": args.method,
        "source": args.source,
        "interface": args.interface,
        "discovery": args.discovery,
    }
    if store is not None:
        options.update(save=store, profile=args.profile)  # written in batches as results come (shards with --dask)
    bar = terminal_bar(sys.stderr, args.quiet)
    interrupted = False
    status = Outputs()
    streams = Streams(outputs, status)
    signals: Signals = args.signals
    try:
        s = start(args, bar, options)
        written = 0
        try:
            for port in s:
                streams.write([port])
                written += 1
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP (see Signals)
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
    if write_reports is not None:
        write_reports(result, status)
    if not args.quiet:
        print(result.summary())
        for path in status.written(outputs):
            print(f"  written: {path}")
    for warning in result.warnings:  # even with --quiet: the result may be incomplete
        print(f"portlens: warning: {warning}", file=sys.stderr)
    history.finish_scan(args, store, s, result)
    failed = assess_result is not None and assess_result(result, args.quiet)
    if interrupted:
        print("portlens: interrupted; partial results written", file=sys.stderr)
        return signals.exit_code
    if status.failed:
        return EXIT_FAILED
    return EXIT_FINDINGS if failed else 0
