"""Stand-ins written from the protocols' specifications where Debian ships no server (MongoDB,
Elasticsearch, CouchDB, the Docker Engine API, kubelet, an RTSP camera, RDP with NLA, a DVR web page)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .truth import SERVICES


def _http(status: int, body: bytes, headers: dict[str, str] | None = None, ctype: str = "application/json") -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "OK")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


HttpApp = Callable[[str], bytes]


def _es(weak: bool) -> HttpApp:
    doc = {
        "name": "lab-node",
        "cluster_name": "portlens-lab",
        "version": {"number": "8.11.1", "build_flavor": "default"},
        "tagline": "You Know, for Search",
    }

    def app(path: str) -> bytes:
        if weak:
            return _http(200, json.dumps(doc).encode(), {"X-elastic-product": "Elasticsearch"})
        err = {"error": {"type": "security_exception", "reason": "missing authentication credentials"}, "status": 401}
        auth = 'Basic realm="security" charset="UTF-8"'
        return _http(401, json.dumps(err).encode(), {"WWW-Authenticate": auth})

    return app


def _couch(weak: bool) -> HttpApp:
    server = {"Server": "CouchDB/3.3.2 (Erlang OTP/24)"}

    def app(path: str) -> bytes:
        if path == "/_all_dbs":
            if weak:
                return _http(200, b'["_replicator","_users","lab"]', server)
            return _http(401, b'{"error":"unauthorized","reason":"You are not a server admin."}', server)
        welcome = b'{"couchdb":"Welcome","version":"3.3.2","vendor":{"name":"The Apache Software Foundation"}}'
        return _http(200, welcome, server)

    return app


def _docker(weak: bool) -> HttpApp:
    h = {"Api-Version": "1.43", "Server": "Docker/24.0.7 (linux)", "Docker-Experimental": "false"}

    def app(path: str) -> bytes:
        if path.endswith("/version"):
            if weak:
                v = {"Version": "24.0.7", "ApiVersion": "1.43", "Os": "linux", "Arch": "amd64"}
                return _http(200, json.dumps(v).encode(), h)
            # an authorization plugin refusing the anonymous client
            return _http(403, b'{"message":"authorization denied by plugin lab-authz: anonymous"}', h)
        return _http(404, b'{"message":"page not found"}', h)

    return app


def _kubelet(weak: bool) -> HttpApp:
    def app(path: str) -> bytes:
        if path == "/pods":
            if weak:
                return _http(200, b'{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}')
            return _http(401, b"Unauthorized", ctype="text/plain")
        return _http(404, b"404 page not found\n", ctype="text/plain; charset=utf-8")

    return app


def _camera(path: str) -> bytes:
    body = b'<html><head><title>index</title></head><body><script>location="/doc/page/login.asp"</script></body></html>'
    return _http(200, body, {"Server": "Hikvision-Webs"}, "text/html")


async def _serve_http(app: HttpApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        parts = head.split(b" ", 2)
        path = parts[1].decode(errors="replace") if len(parts) > 1 else "/"
        writer.write(app(path))
        await writer.drain()
    writer.close()


async def _serve_rtsp(weak: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        for _ in range(8):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode(errors="replace").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            cseq = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("cseq:")), "0")
            base = f"CSeq: {cseq}\r\nServer: GStreamer RTSP server\r\n"
            if method == "OPTIONS":
                out = f"RTSP/1.0 200 OK\r\n{base}Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
            elif method == "DESCRIBE" and weak:
                sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=lab camera\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
                sdp_head = f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n"
                out = f"RTSP/1.0 200 OK\r\n{base}{sdp_head}{sdp}"
            elif method == "DESCRIBE":
                out = f'RTSP/1.0 401 Unauthorized\r\n{base}WWW-Authenticate: Digest realm="lab", nonce="0"\r\n\r\n'
            else:
                out = f"RTSP/1.0 405 Method Not Allowed\r\n{base}\r\n"
            writer.write(out.encode())
            await writer.drain()
    writer.close()


async def _serve_rdp_nla(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """X.224 Connection Confirm of a server that requires CredSSP (MS-RDPBCGR 2.2.1.2)."""
    with contextlib.suppress(Exception):
        head = await asyncio.wait_for(reader.readexactly(4), 10)
        body = await asyncio.wait_for(reader.readexactly(struct.unpack(">H", head[2:4])[0] - 4), 10)
        requested = struct.unpack("<I", body[-4:])[0] if len(body) >= 8 and body[-8] == 1 else 0
        if requested & 2:
            neg = struct.pack("<BBHI", 2, 0, 8, 2)  # RDP_NEG_RSP: PROTOCOL_HYBRID
        else:
            neg = struct.pack("<BBHI", 3, 0, 8, 5)  # RDP_NEG_FAILURE: HYBRID_REQUIRED_BY_SERVER
        x224 = bytes([6 + len(neg), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg
        writer.write(struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224)
        await writer.drain()
    writer.close()


def _bson(doc: dict[str, Any]) -> bytes:
    out = b""
    for k, v in doc.items():
        key = k.encode() + b"\0"
        if isinstance(v, bool):
            out += b"\x08" + key + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x10" + key + struct.pack("<i", v)
        elif isinstance(v, float):
            out += b"\x01" + key + struct.pack("<d", v)
        elif isinstance(v, str):
            s = v.encode() + b"\0"
            out += b"\x02" + key + struct.pack("<i", len(s)) + s
        elif isinstance(v, dict):
            out += b"\x03" + key + _bson(v)
        elif isinstance(v, list):
            out += b"\x04" + key + _bson({str(i): x for i, x in enumerate(v)})
    return struct.pack("<i", len(out) + 5) + out + b"\0"


def _first_key(doc: bytes) -> str:
    """The first field name of a BSON document (the command name)."""
    if len(doc) < 6:
        return ""
    end = doc.index(b"\0", 5)
    return doc[5:end].decode(errors="replace")


def _mongo_legacy(req_id: int, body: bytes) -> bytes:
    """OP_QUERY (2004) as MongoDB 6.0 answers it: only the handshake (``isMaster``/``hello`` on a
    ``$cmd`` collection) is still served, every other command gets error 352; the answer is an
    OP_REPLY (1): flags, cursor id 0, starting from 0, one document."""
    name_end = body.index(b"\0", 4)
    query = body[name_end + 9 :]
    cmd = _first_key(query)
    if cmd.lower() in ("ismaster", "hello"):
        reply: dict[str, Any] = {"ismaster": True, "maxWireVersion": 17, "minWireVersion": 0, "ok": 1.0}
    else:
        reply = {
            "ok": 0.0,
            "errmsg": f"Unsupported OP_QUERY command: {cmd}. The client driver may require an upgrade.",
            "code": 352,
            "codeName": "UnsupportedOpQueryCommand",
        }
    doc = struct.pack("<iqii", 0, 0, 0, 1) + _bson(reply)
    return struct.pack("<iiii", 16 + len(doc), req_id + 1000, req_id, 1) + doc


async def _serve_mongo(weak: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A MongoDB 6.0 stand-in (wire protocol: OP_MSG 2013, legacy OP_QUERY 2004 handshake only)."""
    with contextlib.suppress(Exception):
        for _ in range(16):
            head = await asyncio.wait_for(reader.readexactly(16), 10)
            length, req_id, _, opcode = struct.unpack("<iiii", head)
            if not 16 < length < 1 << 20 or opcode not in (2004, 2013):
                break
            body = await asyncio.wait_for(reader.readexactly(length - 16), 10)
            if opcode == 2004:
                writer.write(_mongo_legacy(req_id, body))
                await writer.drain()
                continue
            cmd = _first_key(body[5:]).lower()
            if cmd in ("ismaster", "hello"):
                reply: dict[str, Any] = {"ismaster": True, "maxWireVersion": 17, "minWireVersion": 0, "ok": 1.0}
            elif cmd == "buildinfo":
                reply = {"version": "6.0.12", "ok": 1.0}
            elif cmd == "listdatabases" and weak:
                reply = {"databases": [{"name": "admin"}, {"name": "lab"}], "ok": 1.0}
            else:
                reply = {
                    "ok": 0.0,
                    "errmsg": f"command {cmd} requires authentication",
                    "code": 13,
                    "codeName": "Unauthorized",
                }
            doc = struct.pack("<I", 0) + b"\0" + _bson(reply)
            writer.write(struct.pack("<iiii", 16 + len(doc), req_id + 1000, req_id, 2013) + doc)
            await writer.drain()
    writer.close()


async def _standins(certs: dict[str, Path]) -> list[asyncio.AbstractServer]:
    tls_weak = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_weak.load_cert_chain(str(certs["expired"]), str(certs["expired_key"]))
    tls_hard = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_hard.load_cert_chain(str(certs["ok"]), str(certs["ok_key"]))

    def http(app: HttpApp) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        return lambda r, w: _serve_http(app, r, w)

    def with_weak(fn: Any, weak: bool) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        return lambda r, w: fn(weak, r, w)

    plan: list[tuple[str, Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any], ssl.SSLContext | None]] = [
        ("mongodb-weak", with_weak(_serve_mongo, True), None),
        ("mongodb-hard", with_weak(_serve_mongo, False), None),
        ("elasticsearch-weak", http(_es(True)), None),
        ("elasticsearch-hard", http(_es(False)), None),
        ("couchdb-weak", http(_couch(True)), None),
        ("couchdb-hard", http(_couch(False)), None),
        ("docker-weak", http(_docker(True)), None),
        ("docker-hard", http(_docker(False)), None),
        ("kubelet-weak", http(_kubelet(True)), tls_weak),
        ("kubelet-hard", http(_kubelet(False)), tls_hard),
        ("rtsp-weak", with_weak(_serve_rtsp, True), None),
        ("rtsp-hard", with_weak(_serve_rtsp, False), None),
        ("rdp-hard", _serve_rdp_nla, None),
        ("camera-web", http(_camera), None),
    ]
    servers: list[asyncio.AbstractServer] = []
    for key, cb, ctx in plan:
        s = SERVICES[key]
        servers.append(await asyncio.start_server(cb, s["addr"], s["port"], ssl=ctx, reuse_address=True))
    return servers
