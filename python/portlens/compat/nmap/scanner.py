"""python-nmap's scanners (`PortScanner`, `PortScannerAsync`, `PortScannerYield`), running a `Plan` on
portlens."""

from __future__ import annotations

import atexit
import csv
import io
import sys
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import portlens

from ... import _options
from ...exceptions import InputError, PortlensError
from ...report.nmap_xml import ExtraHost
from ...results import ScanResult, merge
from .args import (
    KEEP_ALL_LIMIT,
    NMAP_VERSION,
    NmapArgumentError,
    Plan,
    PortScannerError,
    PortScannerTimeout,
    number_arg,
    option_value,
    read_plan,
)
from .pydict import Outcome, PortScannerHostDict, analyse_xml, nmap_command_line, nmap_document


# -- running a plan -------------------------------------------------------------------------------
def _merge(parts: Sequence[ScanResult]) -> ScanResult:
    """Scans of one host each -> one result (a host cut short by --host-timeout is listed as nmap
    lists it, so the whole stays "complete")."""
    return merge(parts, status="complete", stats={})


class _Runner:
    """Runs plans on portlens; cancellable from another thread (``stop()``, timeouts)."""

    HOST_WORKERS = 8  # hosts scanned at once under --host-timeout (each with its own clock)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[portlens.Scan] = set()
        self.stopped = False
        self._expired = False

    def cancel(self) -> None:
        self.stopped = True
        self._cancel_all()

    def _cancel_all(self) -> None:
        with self._lock:
            for scan in self._active:
                scan.cancel()

    def _expire(self) -> None:
        self._expired = True
        self._cancel_all()

    def _scan(
        self, targets: list[str], exclude: list[str], plan: Plan, keep: list[str], options: dict[str, Any]
    ) -> tuple[ScanResult, bool]:
        """One portlens scan; True if --host-timeout ended it."""
        if plan.pn:
            options = {**options, "discovery": False}  # every address is scanned, as nmap -Pn does
        try:
            try:
                scan = portlens.start(targets, plan.ports, keep=keep, exclude=exclude, **options)
            except TypeError:
                if "discovery" not in options:
                    raise
                # an engine without host discovery scans every address anyway
                options = {k: v for k, v in options.items() if k != "discovery"}
                scan = portlens.start(targets, plan.ports, keep=keep, exclude=exclude, **options)
        except InputError as e:
            raise NmapArgumentError(str(e), item=e.item, input=e.input) from e
        fired: list[bool] = []

        def host_timeout() -> None:
            fired.append(True)
            scan.cancel()

        timer = threading.Timer(plan.host_timeout, host_timeout) if plan.host_timeout else None
        with self._lock:
            self._active.add(scan)
            if self.stopped or self._expired:
                scan.cancel()
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            return scan.result(), bool(fired)
        except KeyboardInterrupt:
            scan.cancel()
            raise
        except PortlensError as e:
            raise PortScannerError(f"portlens scan failed: {e}") from e
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._active.discard(scan)

    def run(self, plan: Plan, addresses: Sequence[str] | None, timeout: float) -> Outcome:
        now = datetime.now(timezone.utc)
        names = plan.hostnames
        if plan.list_only or (addresses is None and not plan.targets) or (addresses is not None and not addresses):
            listed = plan.addresses() if addresses is None else list(addresses)
            empty = ScanResult((), (), {}, "complete", now, now, len(listed), len(plan.ports), {"ports": ""})
            state = "unknown" if plan.list_only else "up"
            return Outcome(empty, [ExtraHost(a, names.get(a), state, "user-set") for a in listed])
        if addresses is not None or plan.host_timeout:
            hosts = list(addresses) if addresses is not None else plan.addresses()
            targets, exclude, probes = hosts, [], len(hosts) * len(plan.ports)
        else:
            targets = [item for t in plan.targets for item in t.items]
            exclude = [item for t in plan.excludes for item in t.items]
            probes = plan.size * len(plan.ports)
        keep = ["open"] if plan.open_only or probes > KEEP_ALL_LIMIT else ["open", "closed", "filtered"]
        self._expired = False
        overall = threading.Timer(timeout, self._expire) if timeout else None
        if overall is not None:
            overall.daemon = True
            overall.start()
        timed_out: set[str] = set()
        try:
            if plan.host_timeout and len(targets) > 1:
                # nmap's clock runs per host: one scan per host, a few at a time
                workers = min(self.HOST_WORKERS, len(targets))
                options = {**plan.options}
                concurrency = options.get("concurrency", _options.defaults()["concurrency"])
                options["concurrency"] = max(1, int(concurrency) // workers)
                with ThreadPoolExecutor(workers, thread_name_prefix="portlens-nmap-host") as pool:
                    try:
                        done = list(pool.map(lambda a: self._scan([a], [], plan, keep, options), targets))
                    except BaseException:
                        self._expire()  # stop the other hosts' scans before the pool waits for them
                        raise
                result = _merge([r for r, _ in done])
                timed_out = {a for a, (_, fired) in zip(targets, done, strict=True) if fired}
            else:
                result, fired = self._scan(targets, exclude, plan, keep, plan.options)
                if fired:
                    result = replace(result, status="complete")
                    timed_out = set(targets)
        except KeyboardInterrupt:
            self._expire()
            raise
        finally:
            if overall is not None:
                overall.cancel()
        if self._expired:
            raise PortScannerTimeout("Timeout from portlens scan")
        extra: list[ExtraHost] = []
        up = [h for h in result.hosts if getattr(h, "state", "up") == "up"]
        answered = {h.address for h in up}
        in_result = {h.address for h in result.hosts}
        for h in up:
            if h.address in timed_out and sum(h.counts.values()) < result.ports_per_host:
                extra.append(ExtraHost(h.address, h.hostname or names.get(h.address), "up", "user-set", True))
        if plan.pn or plan.verbose:
            for a in plan.addresses() if addresses is None else addresses:
                if a in answered:
                    continue
                if plan.pn:
                    extra.append(ExtraHost(a, names.get(a), "up", "user-set", a in timed_out))
                elif a not in in_result:  # down hosts the engine's discovery found are in the result already
                    extra.append(ExtraHost(a, names.get(a), "down", "no-response"))
        return Outcome(result, extra)


def _check_types(hosts: object, ports: object, arguments: object) -> None:
    if not isinstance(hosts, str):
        raise TypeError(f"Wrong type for [hosts], should be a string [was {type(hosts)}]")
    if ports is not None and not isinstance(ports, str):
        raise TypeError(f"Wrong type for [ports], should be a string [was {type(ports)}]")
    if not isinstance(arguments, str):
        raise TypeError(f"Wrong type for [arguments], should be a string [was {type(arguments)}]")


def _group_size(plan: Plan) -> int:
    return max(1, min(256, 65536 // len(plan.ports)))


# -- the scanners ---------------------------------------------------------------------------------
class PortScanner:
    """python-nmap's ``PortScanner``, scanning with portlens (no nmap binary, no root)."""

    def __init__(self, nmap_search_path: Sequence[str] = ()) -> None:
        self._scan_result: dict[str, Any] = {}
        self._nmap_last_output: str | bytes = ""
        self._runner = _Runner()

    def nmap_version(self) -> tuple[int, int]:
        """The nmap version whose behaviour is reproduced (python-nmap returns the installed nmap's)."""
        return NMAP_VERSION

    def get_nmap_last_output(self) -> str | bytes:
        """The nmap XML document of the last scan (bytes, as python-nmap gives them)."""
        return self._nmap_last_output

    def listscan(self, hosts: str = "127.0.0.1") -> list[str]:
        """The target addresses, without scanning (``-sL``)."""
        self.scan(hosts, arguments="-sL")
        return self.all_hosts()

    def scan(
        self,
        hosts: str = "127.0.0.1",
        ports: str | None = None,
        arguments: str = "-sV",
        sudo: bool = False,
        timeout: float = 0,
    ) -> dict[str, Any]:
        """Scan ``hosts`` (nmap's target syntax) on ``ports`` with nmap ``arguments``; returns
        python-nmap's dictionary. ``sudo`` is ignored: portlens needs no privileges."""
        _check_types(hosts, ports, arguments)
        timeout = option_value("timeout", number_arg(timeout), "timeout")
        plan = read_plan(hosts, ports, arguments)
        outcome = self._runner.run(plan, None, timeout)
        xml = nmap_document(plan, outcome, nmap_command_line(hosts, ports, arguments))
        self._nmap_last_output = xml.encode("utf-8")
        self._scan_result = analyse_xml(self._nmap_last_output, plan.notes)
        return self._scan_result

    def _scan_hosts(
        self, plan: Plan, group: Sequence[str], ports: str | None, arguments: str, timeout: float
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """One portlens scan of a group of hosts; python-nmap's per-host results (None on failure)."""
        try:
            outcome = self._runner.run(plan, group, timeout)
        except PortScannerError:
            return [(h, None) for h in group]
        return [
            (h, analyse_xml(nmap_document(plan, outcome, nmap_command_line(h, ports, arguments), only=h), plan.notes))
            for h in group
        ]

    def analyse_nmap_xml_scan(
        self,
        nmap_xml_output: str | bytes | None = None,
        nmap_err: str = "",
        nmap_err_keep_trace: Sequence[str] = (),
        nmap_warn_keep_trace: Sequence[str] = (),
    ) -> dict[str, Any]:
        """python-nmap's reading of an nmap XML document (from nmap or from portlens)."""
        if nmap_xml_output is not None:
            self._nmap_last_output = nmap_xml_output
        self._scan_result = analyse_xml(self._nmap_last_output)
        if nmap_err_keep_trace:
            self._scan_result["nmap"]["scaninfo"]["error"] = list(nmap_err_keep_trace)
        if nmap_warn_keep_trace:
            self._scan_result["nmap"]["scaninfo"]["warning"] = list(nmap_warn_keep_trace)
        return self._scan_result

    def __getitem__(self, host: str) -> PortScannerHostDict:
        if not isinstance(host, str):
            raise TypeError(f"Wrong type for [host], should be a string [was {type(host)}]")
        result: PortScannerHostDict = self._scan_result["scan"][host]
        return result

    def all_hosts(self) -> list[str]:
        return sorted(self._scan_result.get("scan", {}))

    def _nmap(self) -> dict[str, Any]:
        if "nmap" not in self._scan_result:
            raise AssertionError("Do a scan before trying to get result !")
        section: dict[str, Any] = self._scan_result["nmap"]
        return section

    def command_line(self) -> str:
        return str(self._nmap()["command_line"])

    def scaninfo(self) -> dict[str, Any]:
        return dict(self._nmap()["scaninfo"])

    def scanstats(self) -> dict[str, Any]:
        return dict(self._nmap()["scanstats"])

    def has_host(self, host: str) -> bool:
        self._nmap()
        return host in self._scan_result["scan"]

    def csv(self) -> str:
        """python-nmap's CSV export (``;``-separated, one row per port and hostname)."""
        self._nmap()
        out = io.StringIO()
        w = csv.writer(out, delimiter=";")
        cols = ("name", "state", "product", "extrainfo", "reason", "version", "conf", "cpe")
        w.writerow(["host", "hostname", "hostname_type", "protocol", "port", *cols])
        for host in self.all_hosts():
            for proto in self[host].all_protocols():
                if proto not in ("tcp", "udp"):
                    continue
                for port in sorted(self[host][proto]):
                    info = self[host][proto][port]
                    for h in self[host]["hostnames"]:
                        w.writerow([host, h["name"], h["type"], proto, port, *(info[c] for c in cols)])
        return out.getvalue()


Callback = Callable[[str, "dict[str, Any] | None"], object]
_ASYNC: weakref.WeakSet[PortScannerAsync] = weakref.WeakSet()


class PortScannerAsync:
    """python-nmap's ``PortScannerAsync``: scans in the background and calls
    ``callback(host, scan_data)`` host by host (``scan_data`` is None if that host's scan failed).

    The callback runs in a background thread (python-nmap uses a child process)."""

    def __init__(self) -> None:
        self._nm = PortScanner()
        self._thread: threading.Thread | None = None
        _ASYNC.add(self)

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def scan(
        self,
        hosts: str = "127.0.0.1",
        ports: str | None = None,
        arguments: str = "-sV",
        callback: Callback | None = None,
        sudo: bool = False,
        timeout: float = 0,
    ) -> None:
        """Start scanning; arguments are checked (and errors raised) before this returns."""
        _check_types(hosts, ports, arguments)
        if callback is not None and not callable(callback):
            raise TypeError(f"The [callback] {callback!r} should be callable or None.")
        timeout = option_value("timeout", number_arg(timeout), "timeout")
        plan = read_plan(hosts, ports, arguments)
        addresses = plan.addresses()
        if self.still_scanning():
            raise PortScannerError("a scan is already running; stop() or wait() first")
        self._nm._runner = _Runner()
        self._thread = threading.Thread(
            target=self._work,
            args=(plan, addresses, ports, arguments, callback, timeout),
            name="portlens-nmap-async",
            daemon=True,
        )
        self._thread.start()

    def _work(
        self,
        plan: Plan,
        addresses: list[str],
        ports: str | None,
        arguments: str,
        callback: Callback | None,
        timeout: float,
    ) -> None:
        runner = self._nm._runner
        size = _group_size(plan)
        try:
            for start in range(0, len(addresses), size):
                if runner.stopped:
                    return
                for host, data in self._nm._scan_hosts(
                    plan, addresses[start : start + size], ports, arguments, timeout
                ):
                    if runner.stopped:
                        return
                    if callback is not None:
                        callback(host, data)
        except Exception:  # noqa: BLE001 - like python-nmap's child process: report and end
            traceback.print_exc(file=sys.stderr)

    def stop(self) -> None:
        """Stop the scan now; no more callbacks."""
        self._nm._runner.cancel()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the scan to end, at most ``timeout`` seconds."""
        if self._thread is not None:
            self._thread.join(timeout)

    def still_scanning(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class PortScannerYield(PortScannerAsync):
    """python-nmap's ``PortScannerYield``: ``for host, scan_data in nm.scan(...)``."""

    def scan(  # type: ignore[override]
        self,
        hosts: str = "127.0.0.1",
        ports: str | None = None,
        arguments: str = "-sV",
        sudo: bool = False,
        timeout: float = 0,
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        _check_types(hosts, ports, arguments)
        timeout = option_value("timeout", number_arg(timeout), "timeout")
        plan = read_plan(hosts, ports, arguments)
        addresses = plan.addresses()
        size = _group_size(plan)
        for start in range(0, len(addresses), size):
            yield from self._nm._scan_hosts(plan, addresses[start : start + size], ports, arguments, timeout)

    def stop(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> None:
        pass

    def still_scanning(self) -> bool:
        return False


@atexit.register
def _stop_background_scans() -> None:
    """End background scans before the interpreter goes away (their threads run engine code)."""
    scanners = list(_ASYNC)
    for s in scanners:
        s.stop()
    for s in scanners:
        s.wait(5.0)
