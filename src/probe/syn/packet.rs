//! The SYN we send and the replies we read: building, checksums and parsing. Parsing takes any
//! bytes (a raw socket delivers whatever reaches the host) and never panics: every field is read
//! through a bounds-checked slice, and anything short or malformed is `None`.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A SYN: the 20-byte TCP header and one option, MSS 1460 (as nmap sends; some stacks and
/// firewalls drop a SYN without options).
pub const SYN_LEN: usize = 24;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// The one's-complement sum of 16-bit words (RFC 1071), folded, not yet inverted.
fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The TCP checksum of `segment` (its checksum field zero or already set) between `src` and `dst`,
/// with the pseudo-header of RFC 793 (IPv4) or RFC 8200 section 8.1 (IPv6).
pub fn tcp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let len = segment.len() as u32;
    let acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(sum(0, &s.octets()), &d.octets()) + 6 + len,
        (IpAddr::V6(s), IpAddr::V6(d)) => sum(sum(0, &s.octets()), &d.octets()) + (len >> 16) + (len & 0xffff) + 6,
        // Mixed families never meet on the wire; a checksum nobody accepts.
        _ => return 0,
    };
    fold(sum(acc, segment))
}

/// A SYN from `sport` to `dport` with sequence number `seq`. The checksum is filled in when the
/// source is known (IPv4); over IPv6 the kernel computes it (IPV6_CHECKSUM).
pub fn syn(src: Option<IpAddr>, dst: IpAddr, sport: u16, dport: u16, seq: u32) -> [u8; SYN_LEN] {
    let mut p = [0u8; SYN_LEN];
    p[0..2].copy_from_slice(&sport.to_be_bytes());
    p[2..4].copy_from_slice(&dport.to_be_bytes());
    p[4..8].copy_from_slice(&seq.to_be_bytes());
    // ack 0; data offset 6 words (24 bytes), flags SYN
    p[12] = (SYN_LEN as u8 / 4) << 4;
    p[13] = SYN;
    p[14..16].copy_from_slice(&1024u16.to_be_bytes()); // window
                                                       // option: MSS (kind 2, length 4) 1460
    p[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    if let Some(src) = src {
        let c = tcp_checksum(src, dst, &p);
        p[16..18].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// The fields of a TCP segment that matter to a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The target's port (the segment's source).
    pub sport: u16,
    /// Our port (the segment's destination).
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

impl Segment {
    pub fn is_syn_ack(&self) -> bool {
        self.flags & (SYN | ACK | RST) == SYN | ACK
    }

    pub fn is_rst(&self) -> bool {
        self.flags & RST != 0
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A TCP header: its data offset at least 5 words (the fixed header) and within `b`. A raw socket
/// gets segments before TCP checks them; one whose header length is impossible is not a reply any
/// stack sends (nor one the kernel's TCP would accept), whatever its flags and numbers say.
pub fn tcp(b: &[u8]) -> Option<Segment> {
    let offset = usize::from(*b.get(12)? >> 4) * 4;
    if offset < 20 || offset > b.len() {
        return None;
    }
    Some(Segment { sport: be16(b, 0)?, dport: be16(b, 2)?, seq: be32(b, 4)?, ack: be32(b, 8)?, flags: *b.get(13)? })
}

/// An IPv4 packet as an IPv4 raw socket delivers it: (source, protocol, payload). Fragments
/// other than the first are refused (their payload does not start with a header), and so is a
/// header longer than the packet's total length. The payload is what follows the header in `b`
/// (at most `SNAP` bytes were read; the total length is not trusted to shorten it further).
pub fn ipv4(b: &[u8]) -> Option<(Ipv4Addr, u8, &[u8])> {
    let first = *b.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || usize::from(be16(b, 2)?) < ihl {
        return None;
    }
    let frag_offset = be16(b, 6)? & 0x1fff;
    if frag_offset != 0 {
        return None;
    }
    let src: [u8; 4] = b.get(12..16)?.try_into().ok()?;
    Some((Ipv4Addr::from(src), *b.get(9)?, b.get(ihl..)?))
}

/// The probe an ICMP error quotes: (target, target port, our port, our sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub dst: IpAddr,
    pub dport: u16,
    pub sport: u16,
    pub seq: u32,
}

/// An ICMPv4 message (after the outer IP header): destination unreachable (type 3) quoting a TCP
/// segment, as (type, code, the quoted probe).
pub fn icmp4(b: &[u8]) -> Option<(u8, u8, Quoted)> {
    let (kind, code) = (*b.first()?, *b.get(1)?);
    if kind != 3 {
        return None;
    }
    let inner = b.get(8..)?;
    let first = *inner.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || *inner.get(9)? != 6 {
        return None;
    }
    let dst: [u8; 4] = inner.get(16..20)?.try_into().ok()?;
    // The quote holds at least the first 8 bytes of the segment: ports and sequence number.
    let seg = inner.get(ihl..)?;
    let q = Quoted { dst: IpAddr::from(dst), sport: be16(seg, 0)?, dport: be16(seg, 2)?, seq: be32(seg, 4)? };
    Some((kind, code, q))
}

/// An ICMPv6 message: destination unreachable (type 1) quoting a TCP segment with no extension
/// header, as (type, code, the quoted probe).
pub fn icmp6(b: &[u8]) -> Option<(u8, u8, Quoted)> {
    let (kind, code) = (*b.first()?, *b.get(1)?);
    if kind != 1 {
        return None;
    }
    let inner = b.get(8..)?;
    if *inner.first()? >> 4 != 6 || *inner.get(6)? != 6 {
        return None;
    }
    let dst: [u8; 16] = inner.get(24..40)?.try_into().ok()?;
    let seg = inner.get(40..)?;
    let q =
        Quoted { dst: IpAddr::V6(Ipv6Addr::from(dst)), sport: be16(seg, 0)?, dport: be16(seg, 2)?, seq: be32(seg, 4)? };
    Some((kind, code, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syn_checksum_verifies_and_fields_round_trip() {
        let (src, dst): (IpAddr, IpAddr) = ("198.18.0.1".parse().unwrap(), "198.18.1.2".parse().unwrap());
        let p = syn(Some(src), dst, 61234, 443, 0xdead_beef);
        // A segment with its checksum in place sums to zero (all ones before inversion).
        assert_eq!(tcp_checksum(src, dst, &p), 0);
        let s = tcp(&p).unwrap();
        assert_eq!((s.sport, s.dport, s.seq, s.ack, s.flags), (61234, 443, 0xdead_beef, 0, SYN));
        assert_eq!(p[12] >> 4, 6, "data offset covers the MSS option");
        // Another destination: the pseudo-header makes the checksum wrong.
        assert_ne!(tcp_checksum(src, "198.18.1.3".parse().unwrap(), &p), 0);
    }

    #[test]
    fn known_checksum() {
        // A SYN 10.0.0.1:1 -> 10.0.0.2:2, seq 0, no options, window 0: worked out by hand.
        let mut seg = [0u8; 20];
        seg[1] = 1;
        seg[3] = 2;
        seg[12] = 0x50;
        seg[13] = SYN;
        let c = tcp_checksum("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), &seg);
        // words: 0a00 0001 0a00 0002 0006 0014 | 0001 0002 0000 0000 0000 0000 5002 0000 0000 0000
        let total: u32 = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 0x0006 + 0x0014 + 0x0001 + 0x0002 + 0x5002;
        assert_eq!(c, !(total as u16));
    }

    #[test]
    fn v6_checksum_verifies() {
        let (src, dst): (IpAddr, IpAddr) = ("2001:db8::1".parse().unwrap(), "2001:db8:1::2".parse().unwrap());
        let mut p = syn(None, dst, 61000, 22, 7);
        assert_eq!(&p[16..18], &[0, 0], "left to the kernel");
        let c = tcp_checksum(src, dst, &p);
        p[16..18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(tcp_checksum(src, dst, &p), 0);
    }

    #[test]
    fn parses_an_ipv4_syn_ack_and_an_icmp_quote() {
        let mut pkt = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 1, 2, 198, 18, 0, 1];
        let mut seg = [0u8; 20];
        seg[0..2].copy_from_slice(&80u16.to_be_bytes());
        seg[2..4].copy_from_slice(&61001u16.to_be_bytes());
        seg[8..12].copy_from_slice(&43u32.to_be_bytes());
        seg[12] = 0x50; // data offset: the fixed 20-byte header
        seg[13] = SYN | ACK;
        pkt.extend_from_slice(&seg);
        let (src, proto, payload) = ipv4(&pkt).unwrap();
        assert_eq!((src, proto), (Ipv4Addr::new(198, 18, 1, 2), 6));
        let s = tcp(payload).unwrap();
        assert!(s.is_syn_ack() && !s.is_rst());
        assert_eq!((s.sport, s.dport, s.ack), (80, 61001, 43));

        // ICMP 3/13 quoting our SYN 198.18.0.1:61001 -> 198.18.1.2:80, seq 42
        let mut icmp = vec![3, 13, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&[0x45, 0, 0, 44, 0, 0, 0, 0, 63, 6, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2]);
        icmp.extend_from_slice(&syn(None, "198.18.1.2".parse().unwrap(), 61001, 80, 42)[..8]);
        let (kind, code, q) = icmp4(&icmp).unwrap();
        assert_eq!((kind, code), (3, 13));
        assert_eq!(q, Quoted { dst: "198.18.1.2".parse().unwrap(), dport: 80, sport: 61001, seq: 42 });
    }

    #[test]
    fn hostile_input_never_panics() {
        // Every prefix of real packets, and bytes from a fixed-seed generator at every length.
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0, 0x4f, 0, 0, 44, 0, 0, 0, 0, 63, 6, 0, 0];
        icmp.extend_from_slice(&[1; 60]);
        let mut icmp6v = vec![1, 4, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 8, 6, 64];
        icmp6v.extend_from_slice(&[2; 40]);
        let samples: [&[u8]; 3] = [&syn(None, "198.18.1.2".parse().unwrap(), 1, 2, 3), &icmp, &icmp6v];
        for s in samples {
            for n in 0..=s.len() {
                let b = &s[..n];
                let _ = (tcp(b), ipv4(b), icmp4(b), icmp6(b));
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..200 {
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = (tcp(&b), ipv4(&b), icmp4(&b), icmp6(&b));
        }
        // A TCP data offset below 5 words or past the bytes, and a total length below the IP
        // header, are refused: no stack sends them.
        let mut seg = syn(None, "198.18.1.2".parse().unwrap(), 1, 2, 3);
        for (offset, ok) in [(0u8, false), (4, false), (5, true), (6, true), (7, false), (15, false)] {
            seg[12] = offset << 4;
            assert_eq!(tcp(&seg).is_some(), ok, "data offset {offset} in a 24-byte segment");
        }
        assert!(tcp(&seg[..13]).is_none() && tcp(&seg[..19]).is_none());
        let mut short_total = vec![0x45, 0, 0, 19, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        short_total.extend_from_slice(&[0; 20]);
        assert!(ipv4(&short_total).is_none());
        short_total[3] = 40;
        assert!(ipv4(&short_total).is_some());
        // An IHL below 5 words, a later fragment and a quote of UDP are refused, not misread.
        assert!(ipv4(&[0x44; 40]).is_none());
        let mut frag = vec![0x45, 0, 0, 40, 0, 0, 0x00, 0x10, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        frag.extend_from_slice(&[0; 20]);
        assert!(ipv4(&frag).is_none());
        let mut udp_quote = vec![3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 28, 0, 0, 0, 0, 63, 17, 0, 0];
        udp_quote.extend_from_slice(&[0; 16]);
        assert!(icmp4(&udp_quote).is_none());
    }
}
