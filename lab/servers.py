"""Servers that run inside the lab's target namespaces.

Started by :class:`lab.Lab` as::

    ip netns exec <ns> python3 -m lab.servers <kind> --lab-tag TAG --parent PID [options]

Kinds:

``listen --addr A [--addr B ...] --ports P1,P2,...  [--transparent]``
    Listens on every (address, port) pair, accepts connections and closes them at once.
    An IPv6 address gets its own socket (``IPV6_V6ONLY`` on), so both families answer.
    ``--transparent`` sets ``IP_TRANSPARENT``: the socket may bind an address that is not local and
    receives what an nft ``tproxy`` rule hands it (the defence parts, :mod:`lab.defences`).

``hostile --addr A [--addr B ...] [--base 7101]``
    One asyncio process with six misbehaving services on ports ``base .. base+5``
    (see :data:`lab.constants.HOSTILE_PORTS`).  Every connection handler ends after at most
    :data:`HANDLER_LIMIT` seconds.

Every server raises its ``RLIMIT_NOFILE`` to the hard limit, prints one line ``ready`` on
stdout once all its sockets listen, and exits on SIGTERM or as soon as its parent (the
process that started it) is gone.  ``--lab-tag`` is only a marker so that a later cleanup can
recognise stray servers of one lab by their command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable

from .constants import HOSTILE_BASE, HOSTILE_KINDS

#: Upper bound, in seconds, of every hostile connection handler.
HANDLER_LIMIT = 60.0
#: Connections held at once per hostile service (the tarpit drops its oldest to make room).
CONN_CAP = {"tarpit": 2000, "flood": 256, "garbage": 512, "reset": 512, "drip": 1000, "script": 512}
SCRIPT_BANNER = b"<script>alert(1)</script>\r\n"
DRIP_TEXT = b"220 drip.lab.invalid ESMTP slow banner\r\n"
FLOOD_CHUNK = b"A" * 4096


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def _announce_ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # Nothing more goes to stdout: point it at /dev/null so that a closed pipe cannot hurt.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _family(addr: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


class _Parent:
    """Tells whether the process that started us is still there."""

    def __init__(self, pid: int) -> None:
        self.pid = pid if pid > 0 else os.getppid()

    def alive(self) -> bool:
        return os.getppid() == self.pid


# --------------------------------------------------------------------------- listen


#: IP_TRANSPARENT / IPV6_TRANSPARENT from <linux/in.h>, <linux/in6.h> (not in every Python's socket module).
_TRANSPARENT = {socket.AF_INET: (socket.IPPROTO_IP, 19), socket.AF_INET6: (socket.IPPROTO_IPV6, 75)}


def run_listen(addrs: list[str], ports: list[int], parent: _Parent, transparent: bool = False) -> int:
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    for addr in addrs:
        fam = _family(addr)
        for port in ports:
            s = socket.socket(fam, socket.SOCK_STREAM)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if transparent:
                s.setsockopt(*_TRANSPARENT[fam], 1)
            s.bind((addr, port))
            s.listen(4096)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
    _announce_ready()
    while parent.alive():
        for key, _ in sel.select(timeout=1.0):
            lsock = key.fileobj
            assert isinstance(lsock, socket.socket)
            for _ in range(512):  # bounded burst per wake-up
                try:
                    conn, _peer = lsock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # EMFILE, ECONNABORTED ...: try again on the next round
                    break
                conn.close()
    return 0


# --------------------------------------------------------------------------- hostile


async def _tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:  # never speaks; swallows what the client sends; bounded by wait_for
        if not await reader.read(65536):
            return


async def _flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:  # bounded by wait_for
        writer.write(FLOOD_CHUNK)
        await writer.drain()
        await asyncio.sleep(0)  # drain() need not yield: let the other clients run


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(os.urandom(random.randint(256, 8192)))
    await writer.drain()


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # close with linger 0: the kernel sends RST


async def _drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for i in range(int(HANDLER_LIMIT) - 1):
        writer.write(DRIP_TEXT[i % len(DRIP_TEXT) :][:1])
        await writer.drain()
        await asyncio.sleep(1.0)


async def _script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(SCRIPT_BANNER)
    await writer.drain()


_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_HANDLERS: dict[str, _Handler] = {
    "tarpit": _tarpit,
    "flood": _flood,
    "garbage": _garbage,
    "reset": _reset,
    "drip": _drip,
    "script": _script,
}


def _make_callback(kind: str, active: dict[asyncio.StreamWriter, None]) -> _Handler:
    handler = _HANDLERS[kind]
    cap = CONN_CAP[kind]

    async def callback(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(active) >= cap:
            if kind == "tarpit":  # keep accepting: make room by dropping the oldest
                oldest = next(iter(active))
                active.pop(oldest, None)
                oldest.transport.abort()
            else:
                writer.transport.abort()
                return
        active[writer] = None
        try:
            await asyncio.wait_for(handler(reader, writer), HANDLER_LIMIT)
        except (Exception, asyncio.TimeoutError):  # noqa: BLE001, S110 - peers misbehave
            pass
        finally:
            active.pop(writer, None)
            if not writer.transport.is_closing():
                writer.close()

    return callback


async def _hostile_main(addrs: list[str], base: int, parent: _Parent) -> int:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, _ctx: None)  # peers misbehave too: stay quiet
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = []
    for i, kind in enumerate(HOSTILE_KINDS):
        active: dict[asyncio.StreamWriter, None] = {}
        cb = _make_callback(kind, active)
        for addr in addrs:
            srv = await asyncio.start_server(cb, host=addr, port=base + i, backlog=4096, reuse_address=True)
            servers.append(srv)
    _announce_ready()
    while not stop.is_set() and parent.alive():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    for srv in servers:
        srv.close()
    return 0


def run_hostile(addrs: list[str], base: int, parent: _Parent) -> int:
    return asyncio.run(_hostile_main(addrs, base, parent))


async def _banners_main(addrs: list[str], banners: dict[int, bytes], parent: _Parent) -> int:
    """Each port sends its fixed banner on accept (an SSH identification line, an HTTP response),
    then waits a little for the client and closes: what an older or other server would announce."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def serve(text: bytes) -> _Handler:
        async def cb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                writer.write(text)
                await writer.drain()
                await asyncio.wait_for(reader.read(4096), 3.0)
            except (Exception, asyncio.TimeoutError):  # noqa: BLE001, S110 - the client may go first
                pass
            finally:
                writer.close()

        return cb

    servers = [
        await asyncio.start_server(serve(text), host=addr, port=port, reuse_address=True)
        for addr in addrs
        for port, text in banners.items()
    ]
    _announce_ready()
    while not stop.is_set() and parent.alive():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    for srv in servers:
        srv.close()
    return 0


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lab.servers")
    ap.add_argument("kind", choices=("listen", "hostile", "banners"))
    ap.add_argument("--addr", action="append", required=True)
    ap.add_argument("--ports", default="", help="listen: comma-separated ports")
    ap.add_argument("--transparent", action="store_true", help="listen: IP_TRANSPARENT (tproxy target)")
    ap.add_argument("--base", type=int, default=HOSTILE_BASE, help="hostile: first port")
    ap.add_argument("--banner", action="append", default=[], help="banners: PORT=TEXT (\\r \\n escapes), repeatable")
    ap.add_argument("--lab-tag", default="", help="marker for cleanup only")
    ap.add_argument("--parent", type=int, default=0, help="exit when this parent is gone")
    args = ap.parse_args(argv)
    _raise_nofile()
    parent = _Parent(args.parent)
    if args.kind == "listen":
        ports = [int(p) for p in args.ports.split(",") if p]
        if not ports:
            ap.error("listen needs --ports")
        return run_listen(args.addr, ports, parent, args.transparent)
    if args.kind == "banners":
        banners = {}
        for item in args.banner:
            port, _, text = item.partition("=")
            banners[int(port)] = text.replace("\\r", "\r").replace("\\n", "\n").encode()
        if not banners:
            ap.error("banners needs --banner PORT=TEXT")
        return asyncio.run(_banners_main(args.addr, banners, parent))
    return run_hostile(args.addr, args.base, parent)


if __name__ == "__main__":
    sys.exit(main())
