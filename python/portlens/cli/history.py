"""The command line of the store (`portlens.store`): ``scan --save/--db/--profile``, ``history``,
``diff``, ``profile``.

`portlens.cli` builds its parser with `add_scan_options` and `add_parsers` and hands these commands
to `run` (with the whole parser as ``args.parser``: a profile's options are checked by the scan's
own flags); SQLAlchemy is imported only when a command needs the store.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import OptionError
from ..files.write import check_target
from ..policy.model import SEVERITIES
from ..store.errors import NotFoundError, StoreError

if TYPE_CHECKING:
    from ..results import ScanResult
    from ..store.store import Store

__all__ = ["COMMANDS", "EXIT_DRIFT", "add_scan_options", "add_parsers", "prepare_scan", "finish_scan", "run"]

COMMANDS = ("history", "diff", "profile")
EXIT_DRIFT = 4  # `diff --fail-on`: a new finding at or above the threshold
_NOT_OPTIONS = {"command", "targets", "ports", "policy", "baseline", "db", "save", "profile"}
_DB_HELP = (
    "store: a file path or postgresql://user@host/db (default: $PORTLENS_DB, else $XDG_DATA_HOME/portlens/history.db)"
)


def add_scan_options(s: argparse.ArgumentParser) -> None:
    g = s.add_argument_group("history (see 'portlens history', 'portlens diff')")
    g.add_argument("--save", action="store_true", help="save the scan to the store, as it runs")
    g.add_argument(
        "--resume",
        type=int,
        metavar="SCAN_ID",
        help="continue a saved scan that was interrupted (no TARGETS; --rate, --concurrency, timeouts and "
        "retries may change, other options must match)",
    )
    g.add_argument("--db", metavar="PATH|URL", help=_DB_HELP)
    g.add_argument(
        "--profile",
        metavar="NAME",
        help="scan the profile's targets and ports with its options, policy and baseline ('portlens profile add')",
    )


def _db(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    # in a nested parser the default must not overwrite a --db given before the subcommand
    p.add_argument("--db", metavar="PATH|URL", help=_DB_HELP, default=argparse.SUPPRESS if suppress else None)


def add_parsers(sub: Any) -> None:
    h = sub.add_parser(
        "history", help="list saved scans", description="List saved scans: targets, time, counts, status."
    )
    _db(h)
    h.add_argument("--profile", metavar="NAME", help="only the scans of this profile")
    h.add_argument("--json", action="store_true", help="print JSON")
    hs = h.add_subparsers(dest="history_command", metavar="{prune}")
    pr = hs.add_parser("prune", help="delete old scans", description="Keep the N most recent scans of each target set.")
    pr.add_argument("--keep", type=int, required=True, metavar="N", help="scans to keep per profile or target set")
    pr.add_argument("--profile", metavar="NAME", default=argparse.SUPPRESS, help="only this profile")
    _db(pr, suppress=True)

    d = sub.add_parser(
        "diff",
        help="what changed between two saved scans",
        description="Drift between two scans of the same target set (default: the last two complete ones): ports "
        "newly opened, closed or reopened, services changed, findings new, resolved or changed in severity.",
    )
    _db(d)
    d.add_argument("scans", nargs="*", type=int, metavar="A B", help="two scan ids ('portlens history' lists them)")
    d.add_argument("--profile", metavar="NAME", help="the last two complete scans of this profile")
    d.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="FILE",
        help="write the drift; the format follows the extension: .html, .md, .json (repeatable)",
    )
    d.add_argument("--policy", metavar="FILE", help="assess both scans with this policy (default: the profile's)")
    d.add_argument("--baseline", metavar="FILE", help="and this baseline (default: the profile's)")
    d.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        choices=SEVERITIES,
        help=f"exit {EXIT_DRIFT} when a finding this severe or worse is new ({', '.join(SEVERITIES)})",
    )
    d.add_argument("--json", action="store_true", help="print the drift as JSON (portlens.drift/1)")
    d.add_argument("-q", "--quiet", action="store_true", help="print nothing; only the exit status")

    p = sub.add_parser("profile", help="named target sets", description="Named target sets for recurring scans.")
    _db(p)
    ps = p.add_subparsers(dest="profile_command", required=True)
    a = ps.add_parser(
        "add",
        help="add (or --replace) a profile",
        description="Add a profile: 'portlens profile add NAME TARGETS... [-p PORTS] [--policy F] [--baseline F] "
        "[scan options]'. Then 'portlens scan --profile NAME --save' runs it.",
    )
    _db(a, suppress=True)
    a.add_argument("--replace", action="store_true", help="replace a profile of that name")
    a.add_argument("name")
    a.add_argument("scan_args", nargs=argparse.REMAINDER, metavar="TARGETS... [options]", help="as for 'portlens scan'")
    ls = ps.add_parser("list", help="list the profiles")
    _db(ls, suppress=True)
    ls.add_argument("--json", action="store_true", help="print JSON")
    rm = ps.add_parser("rm", help="remove a profile (its scans stay)")
    _db(rm, suppress=True)
    rm.add_argument("name")


def _open(db: str | None) -> Store:
    from ..store import open as open_store

    return open_store(db)


def _scan_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    scan: argparse.ArgumentParser = sub.choices["scan"]
    return scan


def _scan_defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return vars(_scan_parser(parser).parse_args([]))


def _profile_options(profile: str, options: Mapping[str, Any], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """A profile's options (by the scan's flags' names), each checked as its flag checks the command
    line: the scan options by the API's table (`portlens._options`), switches as True/False, choices
    among theirs, repeatable flags as lists of strings. A profile edited in the store with a wrong
    value fails here (`OptionError`), before anything is sent. Names no flag has are ignored."""
    flags: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        flags.setdefault(action.dest, []).append(action)
    out = {}
    for key, value in options.items():
        if key in _NOT_OPTIONS or key not in flags:
            continue
        out[key] = _flag_value(profile, key, value, flags[key])
    return out


def _flag_value(profile: str, key: str, value: Any, actions: list[argparse.Action]) -> Any:
    from .. import _options

    def wrong(expected: str) -> OptionError:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return OptionError(f"profile {profile!r}: option {key} is {shown}; expected {expected}", item=key)

    if value is None:  # the default
        return None
    first = actions[0]
    name = getattr(first.type, "option", None)
    try:
        if name is not None:  # a scan option: the table's checks (text as the command line gives it)
            return _options.parse(name, value) if isinstance(value, str) else _options.check(name, value)
    except OptionError as e:
        raise OptionError(f"profile {profile!r}: {e}", e.input, key) from None
    if all(a.nargs == 0 for a in actions):  # switches: store_true, store_const (True/False/"udp"...)
        allowed = [a.const for a in actions] + [first.default]
        if not any(value is v or (type(value) is type(v) and value == v) for v in allowed):
            raise wrong(" or ".join(repr(v) for v in dict.fromkeys(allowed)))
        return value
    if isinstance(first, argparse._AppendAction):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong("a list of strings")
        return value
    choices = [c for a in actions for c in (a.choices or ())]
    if choices:
        if value not in choices:
            raise wrong("one of " + ", ".join(map(repr, choices)))
        return value
    if not isinstance(value, str):
        raise wrong("a string")
    return value


# -- scan --save / --profile -------------------------------------------------------------------------
def prepare_scan(args: argparse.Namespace) -> Store | None:
    """Fill ``args`` from ``--profile`` (targets, ports, policy, baseline and options; those given on
    the command line win); with ``--save``, return the open store the scan is saved to."""
    if args.resume is not None:
        if args.targets or args.profile:
            raise OptionError("--resume continues a saved scan: give no TARGETS and no --profile")
        return _open(args.db)  # the scan's own row is written, as with --save
    store = _open(args.db) if (args.save or args.profile) else None
    try:
        if args.profile is not None:
            assert store is not None
            prof = store.profile(args.profile)
            if args.targets:
                raise OptionError(f"profile {args.profile!r} has its targets: give none on the command line")
            parser = _scan_parser(args.parser)
            defaults = vars(parser.parse_args([]))
            args.targets = list(prof.targets)
            if args.ports == defaults["ports"]:
                args.ports = prof.ports
            args.policy = args.policy or prof.policy
            args.baseline = args.baseline or prof.baseline
            for key, value in _profile_options(prof.name, prof.options, parser).items():
                current = getattr(args, key)
                if isinstance(value, list) and isinstance(current, list):  # repeatable flags: both
                    setattr(args, key, value + [x for x in current if x not in value])
                elif current == defaults.get(key):  # the command line wins
                    setattr(args, key, value)
        if not args.targets:
            raise OptionError("nothing to scan: give TARGETS or --profile NAME")
    except BaseException:
        if store is not None:
            store.close()
        raise
    if store is not None and not args.save:
        store.close()
        return None
    return store


def finish_scan(args: argparse.Namespace, store: Store | None, scan: Any, result: ScanResult) -> None:
    """After the scan: a Dask scan is saved now (a local one was saved as it ran); say where."""
    if store is None:
        return
    try:
        scan_id = getattr(scan, "saved_id", None)
        if scan_id is None:
            scan_id = store.save(result, profile=args.profile)
        # its findings, for 'portlens history' (the policy files were read before the scan)
        store.set_assessment(scan_id, store.assess(scan_id, args.policy, args.baseline))
        if not args.quiet:
            from ..store.engine import display_url

            print(f"  saved: scan #{scan_id} ({store.scan(scan_id).status}) to {display_url(store.url)}")
    finally:
        store.close()


# -- history, diff, profile ---------------------------------------------------------------------------
def _pop_db(args: argparse.Namespace) -> None:
    """``profile add NAME TARGETS... --db X``: the store option may come among the scan's tokens."""
    tokens, rest = list(args.scan_args), []
    while tokens:
        t = tokens.pop(0)
        if t == "--db" and tokens:
            args.db = tokens.pop(0)
        elif t.startswith("--db="):
            args.db = t[len("--db=") :]
        else:
            rest.append(t)
    args.scan_args = rest


def run(args: argparse.Namespace) -> int:
    if args.command == "profile" and args.profile_command == "add":
        _pop_db(args)
    try:
        store = _open(args.db)
    except NotFoundError:
        raise
    except StoreError as e:
        print(f"portlens: {e}", file=sys.stderr)
        return 1
    try:
        if args.command == "history":
            return _history(args, store)
        if args.command == "diff":
            return _diff(args, store)
        return _profile(args, store)
    except NotFoundError:
        raise
    except StoreError as e:
        print(f"portlens: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def _history(args: argparse.Namespace, store: Store) -> int:
    if args.history_command == "prune":
        removed = store.prune(args.keep, getattr(args, "profile", None))
        print(f"pruned {len(removed)} scan(s)" + (f": {' '.join(f'#{i}' for i in removed)}" if removed else ""))
        return 0
    found = store.scans(args.profile)
    if args.json:
        print(json.dumps([s.to_dict() for s in found], indent=2))
        return 0
    if not found:
        print("no saved scans" + (f" of profile {args.profile!r}" if args.profile else ""))
        return 0
    rows = [("ID", "STARTED (UTC)", "STATUS", "PROFILE", "OPEN", "CLOSED", "FILTERED", "FINDINGS", "TARGETS", "PORTS")]
    for s in found:
        findings = "-" if s.assessment is None else str(s.assessment.get("findings", "-"))
        rows.append(
            (
                f"#{s.id}",
                _when(s.started),
                s.status,
                s.profile or "-",
                str(s.open_ports),
                str(s.counts.get("closed", "-")),
                str(s.counts.get("filtered", "-")),
                findings,
                " ".join(s.targets),
                s.ports,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return 0


def _diff(args: argparse.Namespace, store: Store) -> int:
    from ..store.render import format_for

    if len(args.scans) not in (0, 2):
        raise OptionError("diff takes two scan ids (A B), or none")
    if args.scans and args.profile:
        raise OptionError("give either two scan ids or --profile, not both")
    for path in args.output:
        format_for(path)
        parent = Path(path).parent
        if not parent.is_dir():
            raise OptionError(f"output {path!r}: directory {str(parent)!r} does not exist", item=path)
        try:
            check_target(path)  # not a symlink nor a special file (portlens.files.write)
        except OSError as e:
            raise OptionError(f"output {path!r}: {e.strerror}", item=path) from None
    a, b = (args.scans[0], args.scans[1]) if args.scans else (None, None)
    drift = store.diff(a, b, profile=args.profile, policy=args.policy, baseline=args.baseline)
    if not args.quiet:
        print(json.dumps(drift.to_dict(), indent=2) if args.json else drift.to_text())
    failed = False
    for path in args.output:  # each on its own: one that cannot be written does not lose the others
        try:
            drift.write(path)
        except OSError as e:
            failed = True
            print(f"portlens: cannot write {path}: {e.strerror or e}", file=sys.stderr)
            continue
        if not args.quiet and not args.json:
            print(f"  written: {path}")
    alerts = drift.alerts(args.fail_on) if args.fail_on else []
    if alerts and not args.quiet and not args.json:
        print(f"portlens: {len(alerts)} new finding(s) at or above {args.fail_on}", file=sys.stderr)
    if failed:
        return 1
    return EXIT_DRIFT if alerts else 0


def _profile(args: argparse.Namespace, store: Store) -> int:
    if args.profile_command == "list":
        profs = store.profiles()
        if args.json:
            print(json.dumps([p.to_dict() for p in profs], indent=2))
        elif not profs:
            print("no profiles")
        for p in profs if not args.json else ():
            extra = " ".join(f"{k}={v}" for k, v in sorted(p.options.items()))
            print(f"{p.name}: {' '.join(p.targets)}  -p {p.ports}" + (f"  {extra}" if extra else ""))
            for label, value in (("policy", p.policy), ("baseline", p.baseline)):
                if value:
                    print(f"    {label}: {value}")
        return 0
    if args.profile_command == "rm":
        if not store.remove_profile(args.name):
            raise NotFoundError(f"no profile {args.name!r}", item=args.name)
        print(f"removed profile {args.name!r} (its saved scans stay; 'portlens history prune' removes old ones)")
        return 0
    tokens = list(args.scan_args)
    replace = args.replace or "--replace" in tokens
    tokens = [t for t in tokens if t != "--replace"]
    ns = args.parser.parse_args(["scan", *tokens])  # the scan's own checks (argparse exits 2)
    if not ns.targets:
        raise OptionError(f"profile {args.name!r}: give its targets")
    if ns.profile:
        raise OptionError("a profile cannot refer to another profile")
    for label, path in (("policy", ns.policy), ("baseline", ns.baseline)):
        if path is not None and not Path(path).is_file():
            raise OptionError(f"profile {args.name!r}: {label} file {path!r} not found", item=path)
    defaults = _scan_defaults(args.parser)
    options = {k: v for k, v in vars(ns).items() if k not in _NOT_OPTIONS and v != defaults.get(k)}
    prof = store.add_profile(
        args.name,
        ns.targets,
        ns.ports,
        options=options,
        policy=ns.policy,
        baseline=ns.baseline,
        replace=replace,
    )
    print(
        f"profile {prof.name!r}: {' '.join(prof.targets)} -p {prof.ports}; "
        f"run it: portlens scan --profile {prof.name} --save"
    )
    return 0
