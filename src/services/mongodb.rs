//! MongoDB wire protocol (OP_MSG, MongoDB 3.6+) with a minimal BSON codec: `isMaster`,
//! `buildInfo`, then `listDatabases`, which only succeeds without credentials when auth is off.
use super::conn::{Conn, CAP};
use super::text;
use super::{Check, Ctx, Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe = Probe {
    name: "mongodb",
    ports: &[(27017, 27019)],
    request: |_| op_msg(REQ_ID, &[("isMaster", B::I32(1)), ("$db", B::Str("admin"))]),
    done,
    parse,
};

pub(crate) const REQ_ID: i32 = 0x504c_0001;
const OP_MSG: i32 = 2013;
const OP_REPLY: i32 = 1;
/// Largest reply we accept (a listDatabases reply of a big server stays well under this).
const MAX_MSG: usize = 1 << 20;

/// BSON values we send.
pub enum B<'a> {
    I32(i32),
    Str(&'a str),
    Bool(bool),
}

pub fn bson(fields: &[(&str, B)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        let (tag, bytes) = match v {
            B::I32(i) => (0x10, i.to_le_bytes().to_vec()),
            B::Bool(b) => (0x08, vec![u8::from(*b)]),
            B::Str(s) => {
                let mut b = ((s.len() + 1) as i32).to_le_bytes().to_vec();
                b.extend_from_slice(s.as_bytes());
                b.push(0);
                (0x02, b)
            }
        };
        body.push(tag);
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(&bytes);
    }
    let mut out = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out.push(0);
    out
}

pub fn op_msg(id: i32, fields: &[(&str, B)]) -> Vec<u8> {
    let doc = bson(fields);
    let len = 16 + 4 + 1 + doc.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as i32).to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&OP_MSG.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&doc);
    out
}

/// Decoded BSON values (what the checks need; the rest is skipped safely).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Double(f64),
    Str(String),
    Doc(Vec<(String, Val)>),
    Array(Vec<Val>),
    Bool(bool),
    Int(i64),
    Null,
    Other,
}

impl Val {
    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Doc(f) => f.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn num(&self) -> Option<f64> {
        match self {
            Val::Double(d) => Some(*d),
            Val::Int(i) => Some(*i as f64),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Decode one BSON document (depth-limited); None on any inconsistency.
pub fn decode(d: &[u8], depth: u8) -> Option<(Val, usize)> {
    let len = usize::try_from(text::le32(d, 0)?).ok()?;
    if len < 5 || len > d.len() || depth > 16 || d[len - 1] != 0 {
        return None;
    }
    let mut fields = Vec::new();
    let mut at = 4;
    while at < len - 1 {
        let tag = d[at];
        let nul = d.get(at + 1..len)?.iter().position(|&b| b == 0)?;
        let key = String::from_utf8_lossy(&d[at + 1..at + 1 + nul]).into_owned();
        at += 2 + nul;
        let rest = d.get(at..len)?;
        let (val, used) = match tag {
            0x01 => (Val::Double(f64::from_le_bytes(rest.get(..8)?.try_into().ok()?)), 8),
            0x02 | 0x0d | 0x0e => {
                let n = usize::try_from(text::le32(rest, 0)?).ok()?;
                let s = rest.get(4..4 + n)?;
                (Val::Str(String::from_utf8_lossy(s.strip_suffix(&[0]).unwrap_or(s)).into_owned()), 4 + n)
            }
            0x03 | 0x04 => {
                let (v, n) = decode(rest, depth + 1)?;
                let v = match (tag, v) {
                    (0x04, Val::Doc(f)) => Val::Array(f.into_iter().map(|(_, v)| v).collect()),
                    (_, v) => v,
                };
                (v, n)
            }
            0x05 => (Val::Other, 5 + usize::try_from(text::le32(rest, 0)?).ok()?),
            0x07 => (Val::Other, 12),
            0x08 => (Val::Bool(*rest.first()? != 0), 1),
            0x09 | 0x11 => (Val::Other, 8),
            0x0a | 0x06 | 0x7f | 0xff => (Val::Null, 0),
            0x10 => (Val::Int(i64::from(i32::from_le_bytes(rest.get(..4)?.try_into().ok()?))), 4),
            0x12 => (Val::Int(i64::from_le_bytes(rest.get(..8)?.try_into().ok()?)), 8),
            0x13 => (Val::Other, 16),
            0x0b => {
                let a = rest.iter().position(|&b| b == 0)?;
                let b = rest.get(a + 1..)?.iter().position(|&b| b == 0)?;
                (Val::Other, a + b + 2)
            }
            _ => return None,
        };
        if used > rest.len() {
            return None;
        }
        fields.push((key, val));
        at += used;
    }
    Some((Val::Doc(fields), len))
}

pub fn done(d: &[u8]) -> bool {
    text::le32(d, 0).is_some_and(|n| (n as usize) <= d.len() || n as usize > MAX_MSG)
}

/// The reply document of an OP_MSG (or legacy OP_REPLY) answering request `id`.
pub fn reply(d: &[u8], id: i32) -> Option<Val> {
    let len = usize::try_from(text::le32(d, 0)?).ok()?;
    if !(21..=MAX_MSG).contains(&len) || len > d.len() {
        return None;
    }
    let response_to = text::le32(d, 8)? as i32;
    let op = text::le32(d, 12)? as i32;
    if response_to != id {
        return None;
    }
    let doc = match op {
        OP_MSG if d[20] == 0 => d.get(21..len)?,
        OP_REPLY => d.get(36..len)?,
        _ => return None,
    };
    decode(doc, 0).map(|(v, _)| v)
}

pub fn parse(d: &[u8]) -> Option<Hit> {
    let v = reply(d, REQ_ID)?;
    v.get("ok")?;
    let conf = if v.get("maxWireVersion").is_some() { 10 } else { 7 };
    Some(Hit::new("mongodb", conf).product("MongoDB", None))
}

async fn command(ctx: &Ctx<'_>, conn: &mut Conn, id: i32, fields: &[(&str, B<'_>)]) -> Option<Val> {
    conn.clear();
    if !conn.send(&op_msg(id, fields)).await {
        return None;
    }
    reply(conn.read(ctx.check_wait(), CAP.max(MAX_MSG / 4), done).await, id)
}

pub async fn followup(ctx: &Ctx<'_>, mut conn: Conn) {
    let title = "MongoDB lists databases without authentication";
    if let Some(info) = command(ctx, &mut conn, REQ_ID + 1, &[("buildInfo", B::I32(1)), ("$db", B::Str("admin"))]).await
    {
        if let Some(v) = info.get("version").and_then(Val::str) {
            let m = super::fingerprints::lookup("mongodb", "version", v);
            ctx.refine(Some("MongoDB".into()), Some(m.and_then(|m| m.version).unwrap_or_else(|| v.to_string())), None);
        }
    }
    let list = command(
        ctx,
        &mut conn,
        REQ_ID + 2,
        &[("listDatabases", B::I32(1)), ("nameOnly", B::Bool(true)), ("$db", B::Str("admin"))],
    )
    .await;
    let check = match list {
        Some(v) if v.get("ok").and_then(Val::num) == Some(1.0) => {
            let names: Vec<String> = match v.get("databases") {
                Some(Val::Array(dbs)) => {
                    dbs.iter().filter_map(|d| d.get("name").and_then(Val::str)).map(str::to_string).collect()
                }
                _ => Vec::new(),
            };
            Check::new("mongodb-no-auth", Some(true), title)
                .with("command", "listDatabases")
                .with("databases", names.len().to_string())
                .with("names", names.iter().take(10).cloned().collect::<Vec<_>>().join(","))
        }
        Some(v) => {
            let code = v.get("code").and_then(Val::num).unwrap_or(-1.0);
            let msg = v.get("errmsg").and_then(Val::str).unwrap_or_default().to_string();
            let denied = code == 13.0 || msg.contains("auth");
            Check::new("mongodb-no-auth", Some(false).filter(|_| denied), title)
                .with("command", "listDatabases")
                .with("code", format!("{code}"))
                .with("errmsg", msg)
        }
        None => Check::new("mongodb-no-auth", None, title).with("reason", "no reply to listDatabases"),
    };
    ctx.check(check);
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "mongodb",
    names: &["mongodb"],
    probes: &[PROBE],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bson_roundtrip() {
        let doc = bson(&[("ok", B::I32(1)), ("version", B::Str("7.0.2")), ("x", B::Bool(true))]);
        let (v, n) = decode(&doc, 0).unwrap();
        assert_eq!(n, doc.len());
        assert_eq!(v.get("version").and_then(Val::str), Some("7.0.2"));
        assert_eq!(v.get("ok").and_then(Val::num), Some(1.0));
        let mut msg = op_msg(7, &[("ok", B::I32(1)), ("maxWireVersion", B::I32(21))]);
        msg[8..12].copy_from_slice(&REQ_ID.to_le_bytes());
        assert!(done(&msg));
        assert_eq!(parse(&msg).unwrap().conf, 10);
        assert!(decode(&[5, 0, 0, 0, 1], 0).is_none());
    }
}
