//! HTTP/1.x: status, Server header, title, device signatures; and the JSON APIs that answer over
//! HTTP without credentials (Elasticsearch, CouchDB, Docker, kubelet, Kubernetes, etcd), WinRM.
use super::fingerprints;
use super::text;
use super::{Check, Ctx, Hit, Probe};
use serde_json::Value;
use super::registry::Protocol;

pub const PROBE: Probe = Probe {
    name: "http",
    ports: &[
        (80, 81),
        (591, 591),
        (2375, 2375),
        (2379, 2380),
        (3000, 3000),
        (5000, 5000),
        (5601, 5601),
        (5984, 5986),
        (8000, 8010),
        (8080, 8099),
        (8888, 8888),
        (9000, 9000),
        (9090, 9091),
        (9200, 9200),
        (10250, 10250),
        (10255, 10255),
    ],
    request: root_request,
    done: complete,
    parse,
};

/// Cap of an HTTP reply (titles can sit deep in a page).
const HTTP_CAP: usize = 64 * 1024;

fn host(ctx: &Ctx) -> String {
    match ctx.addr {
        std::net::SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

pub fn request(ctx: &Ctx, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: portlens\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        host(ctx)
    )
    .into_bytes()
}

fn root_request(ctx: &Ctx) -> Vec<u8> {
    request(ctx, "/")
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// "HTTP/1.1", "RTSP/1.0"
    pub protocol: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn title(&self) -> Option<String> {
        let start = text::find_ci(&self.body, b"<title")?;
        let rest = &self.body[start..];
        let open = rest.iter().position(|&b| b == b'>')? + 1;
        let close = text::find_ci(&rest[open..], b"</title")?;
        let t = text::lossy(&rest[open..open + close.min(512)], 512);
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        (!t.is_empty()).then_some(t)
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Where the headers end (index after the blank line).
fn header_end(d: &[u8]) -> Option<usize> {
    text::find(d, b"\r\n\r\n").map(|i| i + 4).or_else(|| text::find(d, b"\n\n").map(|i| i + 2))
}

/// A reply is complete with its headers and all of a Content-Length body or the last chunk.
pub fn complete(d: &[u8]) -> bool {
    let Some(end) = header_end(d) else { return false };
    let Some(r) = parse_head(&d[..end]) else { return true };
    if let Some(n) = r.header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        return d.len() >= end.saturating_add(n);
    }
    if r.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return d.ends_with(b"0\r\n\r\n");
    }
    r.status == 204 || r.status == 304 || (100..200).contains(&r.status)
}

fn parse_head(head: &[u8]) -> Option<Response> {
    let mut lines = text::lines(head);
    let status = lines.next()?;
    if !text::is_text(status) {
        return None;
    }
    let s = std::str::from_utf8(status).ok()?;
    let mut parts = s.splitn(3, ' ');
    let protocol = parts.next()?;
    if !(protocol.starts_with("HTTP/1.") || protocol == "HTTP/2" || protocol == "RTSP/1.0") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines.take(100) {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let k = text::lossy(&line[..colon], 100);
        let v = text::lossy(&line[colon + 1..], 1000).trim().to_string();
        headers.push((k.trim().to_string(), v));
    }
    Some(Response { protocol: protocol.to_string(), status: code.parse().ok()?, headers, body: Vec::new() })
}

/// Parse a reply: status line, headers, body (de-chunked when chunked).
pub fn parse_response(d: &[u8]) -> Option<Response> {
    let end = header_end(d).unwrap_or(d.len());
    let mut r = parse_head(&d[..end])?;
    let raw = &d[end..];
    r.body = if r.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        dechunk(raw)
    } else {
        let n = r.header("content-length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(raw.len());
        raw[..n.min(raw.len())].to_vec()
    };
    Some(r)
}

fn dechunk(mut d: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let Some(nl) = text::find(d, b"\r\n") else { break };
        let size = std::str::from_utf8(&d[..nl])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size else { break };
        if size == 0 {
            break;
        }
        let start = nl + 2;
        let stop = start.saturating_add(size).min(d.len());
        out.extend_from_slice(&d[start..stop]);
        d = d.get(stop + 2..).unwrap_or_default();
    }
    out
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str()
}

/// Which service answers over HTTP, from one reply.
pub fn classify(r: &Response) -> Hit {
    let json = r.json();
    let body = &r.body;
    let server = r.header("server").unwrap_or_default().to_string();
    let mut hit = if r.header("x-elastic-product").is_some()
        || text::find(body, b"You Know, for Search").is_some()
        || (r.status == 401 && r.header("www-authenticate").is_some_and(|w| w.contains("realm=\"security\"")))
    {
        let v = json.as_ref().and_then(|j| str_at(j, &["version", "number"])).map(str::to_string);
        Hit::new("elasticsearch", 9).product("Elasticsearch", v)
    } else if server.starts_with("CouchDB/") || json.as_ref().and_then(|j| str_at(j, &["couchdb"])).is_some() {
        let v = json.as_ref().and_then(|j| str_at(j, &["version"])).map(str::to_string);
        Hit::new("couchdb", 9).product("CouchDB", v)
    } else if server.starts_with("Docker/") || r.header("api-version").is_some() {
        Hit::new("docker", 9)
            .product("Docker", server.strip_prefix("Docker/").map(|v| v.split(' ').next().unwrap_or(v).to_string()))
    } else if json.as_ref().is_some_and(|j| j.get("etcdserver").is_some()) {
        let v = json.as_ref().and_then(|j| str_at(j, &["etcdserver"])).map(str::to_string);
        Hit::new("etcd", 10).product("etcd", v)
    } else if json.as_ref().is_some_and(|j| j.get("gitVersion").is_some() && j.get("major").is_some())
        || text::find(body, b"system:anonymous").is_some()
    {
        let v = json.as_ref().and_then(|j| str_at(j, &["gitVersion"])).map(str::to_string);
        Hit::new("kubernetes", 9).product("Kubernetes", v)
    } else if json.as_ref().is_some_and(|j| j.get("kind").and_then(Value::as_str) == Some("PodList")) {
        Hit::new("kubelet", 10).product("kubelet", None)
    } else {
        Hit::new("http", 10)
    };
    if !server.is_empty() {
        hit = hit.field("server", server);
    }
    if let Some(t) = r.title() {
        hit = hit.field("title", t);
    }
    hit.field("body", text::lossy(&r.body, 4096))
}

pub fn parse(d: &[u8]) -> Option<Hit> {
    if let Some(r) = parse_response(d) {
        if r.protocol == "RTSP/1.0" {
            return Some(Hit::new("rtsp", 8).field("server", r.header("server").unwrap_or_default().to_string()));
        }
        // A TLS server's answer to plain HTTP (nginx, Apache, Go): identify TLS instead.
        if r.status == 400
            && (text::find(&r.body, b"plain HTTP request was sent to HTTPS port").is_some()
                || text::find(&r.body, b"HTTP request to an HTTPS server").is_some())
        {
            return Some(Hit::new("tls", 8));
        }
        return Some(classify(&r));
    }
    // Redis answers an HTTP request line with a RESP error about the GET command (a whole line).
    let line = text::first_line(d)?;
    if line.starts_with(b"-ERR wrong number of arguments for 'get'") || line.starts_with(b"-ERR unknown command") {
        return Some(Hit::new("redis", 7));
    }
    None
}

/// One GET on a fresh connection.
pub async fn get(ctx: &Ctx<'_>, path: &str) -> Option<Response> {
    let mut conn = ctx.connect().await?;
    if !conn.send(&request(ctx, path)).await {
        return None;
    }
    parse_response(conn.read(ctx.check_wait(), HTTP_CAP, complete).await)
}

fn auth_outcome(status: u16) -> Option<bool> {
    match status {
        200..=299 => Some(true),
        401 | 403 => Some(false),
        _ => None,
    }
}

fn check_with(
    id: &str,
    title: &str,
    path: &str,
    r: Option<&Response>,
    vulnerable: impl Fn(&Response) -> bool,
) -> Check {
    match r {
        Some(r) => {
            let outcome = auth_outcome(r.status).map(|v| v && vulnerable(r));
            let outcome = if outcome == Some(false) && (200..300).contains(&r.status) { None } else { outcome };
            Check::new(id, outcome, title).with("request", format!("GET {path}")).with("status", r.status.to_string())
        }
        None => Check::new(id, None, title).with("request", format!("GET {path}")).with("reason", "no HTTP reply"),
    }
}

pub async fn followup(ctx: &Ctx<'_>, conn: super::conn::Conn) {
    let mut data = conn.buf.clone();
    drop(conn);
    if !complete(&data) {
        // The identification read may have stopped early: read the page again, fully.
        if let Some(mut c) = ctx.connect().await {
            if c.send(&request(ctx, "/")).await {
                let full = c.read(ctx.check_wait(), HTTP_CAP, complete).await;
                if parse_response(full).is_some() {
                    data = full.to_vec();
                }
            }
        }
    }
    let Some(root) = parse_response(&data) else { return };
    let hit = classify(&root);
    let mut extra = vec![format!("status {}", root.status)];
    if let Some(t) = root.title() {
        extra.push(format!("title: {t}"));
    }
    ctx.refine(None, None, Some(extra.join("; ")));
    match hit.name {
        "elasticsearch" => {
            let title = "Elasticsearch answers without authentication";
            let mut c = check_with("elasticsearch-no-auth", title, "/", Some(&root), |r| {
                r.json().is_some_and(|j| j.get("version").is_some())
            });
            if let Some(name) = root.json().as_ref().and_then(|j| str_at(j, &["cluster_name"])) {
                c = c.with("cluster_name", name);
            }
            ctx.check(c);
        }
        "couchdb" => {
            let r = get(ctx, "/_all_dbs").await;
            let mut c = check_with(
                "couchdb-no-auth",
                "CouchDB lists databases without authentication",
                "/_all_dbs",
                r.as_ref(),
                |r| r.json().is_some_and(|j| j.is_array()),
            );
            if let Some(n) = r.as_ref().and_then(Response::json).and_then(|j| j.as_array().map(Vec::len)) {
                c = c.with("databases", n.to_string());
            }
            ctx.check(c);
        }
        "docker" => {
            let r = get(ctx, "/version").await;
            let j = r.as_ref().and_then(Response::json);
            let mut c = check_with(
                "docker-api-no-auth",
                "Docker Engine API answers without authentication",
                "/version",
                r.as_ref(),
                |r| r.json().is_some_and(|j| j.get("ApiVersion").is_some()),
            );
            if let Some(j) = &j {
                for key in ["Version", "ApiVersion", "Os"] {
                    if let Some(v) = j.get(key).and_then(Value::as_str) {
                        c = c.with(key, v);
                    }
                }
                ctx.refine(None, j.get("Version").and_then(Value::as_str).map(str::to_string), None);
            }
            ctx.check(c);
        }
        "kubernetes" => {
            let r = get(ctx, "/api/v1/namespaces").await;
            ctx.check(check_with(
                "kubernetes-anonymous",
                "Kubernetes API server answers anonymous requests",
                "/api/v1/namespaces",
                r.as_ref(),
                |r| r.json().is_some_and(|j| j.get("items").is_some()),
            ));
        }
        "etcd" => {
            let r = get(ctx, "/v2/keys").await;
            ctx.check(check_with(
                "etcd-no-auth",
                "etcd key space readable without authentication",
                "/v2/keys",
                r.as_ref(),
                |r| r.json().is_some_and(|j| j.get("node").is_some()),
            ));
        }
        "kubelet" => {
            ctx.check(check_with(
                "kubelet-no-auth",
                "kubelet API answers without authentication",
                "/",
                Some(&root),
                |_| true,
            ));
        }
        _ => {
            kubelet_or_winrm(ctx, &root).await;
            device_signature(ctx, &hit);
        }
    }
}

/// A plain HTTP reply may still be a kubelet (Go's "404 page not found" on /) or WinRM.
async fn kubelet_or_winrm(ctx: &Ctx<'_>, root: &Response) {
    let port = ctx.port();
    if root.header("server").is_some_and(|s| s.starts_with("Microsoft-HTTPAPI")) && matches!(port, 5985 | 5986) {
        ctx.rename("winrm", 8);
        return;
    }
    let go_404 = root.status == 404 && root.body.starts_with(b"404 page not found");
    if !(go_404 || matches!(port, 10250 | 10255)) {
        return;
    }
    let Some(r) = get(ctx, "/pods").await else { return };
    let podlist = r.json().is_some_and(|j| j.get("kind").and_then(Value::as_str) == Some("PodList"));
    let unauthorized = r.status == 401 && matches!(port, 10250 | 10255);
    if podlist || unauthorized {
        ctx.rename("kubelet", if podlist { 10 } else { 6 });
        ctx.refine(Some("kubelet".into()), None, None);
        ctx.check(
            Check::new("kubelet-no-auth", Some(podlist), "kubelet API answers without authentication")
                .with("request", "GET /pods")
                .with("status", r.status.to_string()),
        );
    }
}

/// DVR / camera signatures of the fingerprint file, on the Server header, title and body.
fn device_signature(ctx: &Ctx<'_>, hit: &Hit) {
    let title = "HTTP server matches a DVR / IP camera signature";
    let found = hit.fields.iter().find_map(|(field, t)| fingerprints::device(field, t).map(|d| (field, t, d)));
    let check = match found {
        Some((field, t, device)) => Check::new("http-device-signature", Some(true), title)
            .with("device", device)
            .with("field", *field)
            .with("matched", text::lossy(t.as_bytes(), 200)),
        None => {
            let mut c = Check::new("http-device-signature", Some(false), title);
            for (field, t) in hit.fields.iter().filter(|(f, _)| matches!(*f, "server" | "title")) {
                c = c.with(field, text::lossy(t.as_bytes(), 200));
            }
            c.with("signatures", "none matched")
        }
    };
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "http",
    names: &["http", "elasticsearch", "couchdb", "docker", "kubelet", "kubernetes", "etcd"],
    probes: &[PROBE],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let d =
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 33\r\n\r\n<html><title> Hi  there</title>x";
        assert!(!complete(d));
        let r = parse_response(d).unwrap();
        assert_eq!((r.status, r.header("SERVER"), r.title().as_deref()), (200, Some("nginx/1.22.1"), Some("Hi there")));
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
        assert!(complete(c));
        assert_eq!(parse_response(c).unwrap().body, b"Wikipedia");
        let es = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"name\":\"n\",\"cluster_name\":\"c\",\"version\":{\"number\":\"8.11.1\"},\"tagline\":\"You Know, for Search\"}";
        let h = parse(es).unwrap();
        assert_eq!((h.name, h.version.as_deref()), ("elasticsearch", Some("8.11.1")));
        assert_eq!(parse(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n").unwrap().name, "rtsp");
        assert!(parse(b"<script>alert(1)</script>\r\n").is_none());
    }
}
