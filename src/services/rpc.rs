//! ONC RPC over TCP (RFC 5531): a NULL call to the portmapper (rpcbind), then to NFS.
use super::conn::{self, CAP};
use super::text;
use super::{Ctx, Hit, Probe};
use super::registry::{Protocol, UdpProbe};

pub const PROBE: Probe =
    Probe { name: "rpcbind", ports: &[(111, 111), (2049, 2049)], request: |_| call(XID, 100_000, 2), done, parse };

pub(crate) const XID: u32 = 0x504c_0111;

pub fn call(xid: u32, prog: u32, vers: u32) -> Vec<u8> {
    let words = [xid, 0, 2, prog, vers, 0, 0, 0, 0, 0];
    let mut out = (0x8000_0000u32 | 40).to_be_bytes().to_vec();
    for w in words {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// The xid of the UDP NULL calls.
const UDP_XID: u32 = 0x706c_0001;

/// A NULL call over UDP (no record mark).
pub(crate) fn udp_null_call(prog: u32, vers: u32) -> Vec<u8> {
    [UDP_XID, 0, 2, prog, vers, 0, 0, 0, 0, 0].iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// A UDP reply to our call: same xid, message type REPLY.
fn udp_reply(d: &[u8]) -> bool {
    text::be32(d, 0) == Some(UDP_XID) && text::be32(d, 4) == Some(1)
}

fn done(d: &[u8]) -> bool {
    text::be32(d, 0).is_some_and(|m| d.len() >= 4 + (m & 0x7fff_ffff) as usize || (m & 0x7fff_ffff) > 65_536)
}

/// The accept status of a reply to `xid` (0 success, 1 program unavailable, 2 version
/// mismatch...), or 100 + reject status for a denied call.
pub fn reply(d: &[u8], xid: u32) -> Option<u32> {
    let mark = text::be32(d, 0)?;
    let n = (mark & 0x7fff_ffff) as usize;
    if !(12..=65_536).contains(&n) {
        return None;
    }
    let m = d.get(4..4 + n)?;
    if text::be32(m, 0)? != xid || text::be32(m, 4)? != 1 {
        return None;
    }
    match text::be32(m, 8)? {
        0 => {
            let vlen = text::be32(m, 16)? as usize;
            if vlen > 400 {
                return None;
            }
            let stat = text::be32(m, 20 + vlen)?;
            (stat <= 5).then_some(stat)
        }
        1 => Some(100 + text::be32(m, 12)?.min(1)),
        _ => None,
    }
}

fn parse(d: &[u8]) -> Option<Hit> {
    Some(match reply(d, XID)? {
        0 => Hit::new("rpcbind", 10),
        _ => Hit::new("rpc", 8),
    })
}

/// An RPC service that is not the portmapper: NFS answers its own NULL call.
pub async fn followup(ctx: &Ctx<'_>) {
    let Some(mut c) = conn::connect(ctx.addr, ctx.deadline, std::time::Duration::from_secs(2)).await else { return };
    if !c.send(&call(XID + 1, 100_003, 3)).await {
        return;
    }
    if matches!(reply(c.read(ctx.check_wait(), CAP, done).await, XID + 1), Some(0 | 2)) {
        ctx.rename("nfs", 10);
    }
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "rpc",
    names: &["rpc"],
    probes: &[PROBE],
    followup: Some(|ctx, _, _| Box::pin(followup(ctx))),
    // NULL calls to the portmapper (111) and to NFS (2049)
    udp: Some(UdpProbe {
        ports: &[111, 2049],
        request: |port| if port == 2049 { udp_null_call(100_003, 3) } else { udp_null_call(100_000, 2) },
        parse: |_, d, _| udp_reply(d),
        also: None,
        followup: None,
    }),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let mut r = (0x8000_0000u32 | 24).to_be_bytes().to_vec();
        for w in [XID, 1, 0, 0, 0, 0] {
            r.extend_from_slice(&w.to_be_bytes());
        }
        assert!(done(&r));
        assert_eq!(reply(&r, XID), Some(0));
        assert_eq!(parse(&r).unwrap().name, "rpcbind");
        assert!(reply(&r, 1).is_none());
    }
}
