//! MQTT 3.1.1: a CONNECT without username or password; CONNACK return code 0 means anonymous
//! clients may read and publish.
use super::conn::Conn;
use super::{Check, Ctx, Hit, Probe};
use super::registry::Protocol;

pub const PROBE: Probe =
    Probe { name: "mqtt", ports: &[(1883, 1883)], request: |_| connect(), done: |d| d.len() >= 4, parse };

pub fn connect() -> Vec<u8> {
    let client = b"portlens";
    let mut v = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30];
    v.extend_from_slice(&(client.len() as u16).to_be_bytes());
    v.extend_from_slice(client);
    let mut out = vec![0x10, v.len() as u8];
    out.extend_from_slice(&v);
    out
}

/// The CONNACK return code.
pub fn connack(d: &[u8]) -> Option<u8> {
    match d {
        [0x20, 0x02, flags, rc, ..] if *flags <= 1 && *rc <= 5 => Some(*rc),
        _ => None,
    }
}

fn parse(d: &[u8]) -> Option<Hit> {
    connack(d)?;
    Some(Hit::new("mqtt", 10))
}

pub fn rc_name(rc: u8) -> &'static str {
    match rc {
        0 => "accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown",
    }
}

pub async fn followup(ctx: &Ctx<'_>, mut conn: Conn) {
    let Some(rc) = connack(&conn.buf) else { return };
    let outcome = match rc {
        0 => Some(true),
        4 | 5 => Some(false),
        _ => None,
    };
    if rc == 0 {
        let _ = conn.send(&[0xe0, 0]).await; // DISCONNECT
    }
    ctx.check(
        Check::new("mqtt-anonymous", outcome, "MQTT broker accepts anonymous clients")
            .with("connack", format!("{rc} ({})", rc_name(rc))),
    );
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "mqtt",
    names: &["mqtt"],
    probes: &[PROBE],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};
