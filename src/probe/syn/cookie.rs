//! Stateless reply validation, as masscan and ZMap do it: a probe's sequence number is a keyed
//! hash of (target, target port, our port). A genuine SYN-ACK or RST acknowledges it (ack =
//! seq + 1) and an ICMP error quotes it, so a reply proves it answers a probe of this scan
//! without any per-probe state; someone who did not see the probe would have to guess 32 bits.
use std::hash::Hasher;
use std::net::IpAddr;

/// The scan's secret: 128 random bits, new for every scan.
#[derive(Clone)]
pub struct Cookie {
    k0: u64,
    k1: u64,
}

impl Cookie {
    pub fn random() -> Self {
        Cookie { k0: rand::random(), k1: rand::random() }
    }

    #[cfg(test)]
    pub fn with_keys(k0: u64, k1: u64) -> Self {
        Cookie { k0, k1 }
    }

    /// The sequence number of the probe from our `sport` to `ip`:`port`.
    pub fn seq(&self, ip: IpAddr, port: u16, sport: u16) -> u32 {
        // SipHash-2-4 with our own keys. std's `SipHasher` is deprecated only in favour of
        // `DefaultHasher`, whose algorithm is unspecified and whose keys cannot be set; SipHash
        // is the keyed PRF wanted here (a forged reply needs the key).
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(self.k0, self.k1);
        match ip {
            IpAddr::V4(a) => h.write(&a.octets()),
            IpAddr::V6(a) => h.write(&a.octets()),
        }
        h.write_u16(port);
        h.write_u16(sport);
        h.finish() as u32
    }

    /// Whether `ack` acknowledges our probe from `sport` to `ip`:`port` (its seq + 1).
    pub fn acks(&self, ip: IpAddr, port: u16, sport: u16, ack: u32) -> bool {
        ack == self.seq(ip, port, sport).wrapping_add(1)
    }
}

/// Our source ports: a range outside the kernel's ephemeral one (`ip_local_port_range`), so that
/// no connection of this host (services=True's included) ever shares a 4-tuple with a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub first: u16,
    pub count: u16,
}

impl Ports {
    /// Above the ephemeral range when at least 1024 ports are free there, else below it, else
    /// 61000-65535 (Linux's default range ends at 60999).
    pub fn outside(ephemeral: Option<(u16, u16)>) -> Ports {
        const DEFAULT: Ports = Ports { first: 61000, count: 4536 };
        let Some((lo, hi)) = ephemeral else { return DEFAULT };
        if hi <= 65535 - 1024 {
            return Ports { first: hi + 1, count: (65535 - hi).min(8192) };
        }
        if lo > 1024 + 1024 {
            let count = (lo - 2048).min(8192);
            return Ports { first: lo - count, count };
        }
        DEFAULT
    }

    pub fn of_this_host() -> Ports {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok().and_then(|t| {
            let mut it = t.split_whitespace().map(|w| w.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        });
        Ports::outside(range)
    }

    /// The `n`th port of the range, cycling.
    pub fn nth(&self, n: u32) -> u16 {
        self.first + (n % u32::from(self.count)) as u16
    }

    pub fn contains(&self, port: u16) -> bool {
        port >= self.first && u32::from(port) < u32::from(self.first) + u32::from(self.count)
    }

    pub fn last(&self) -> u16 {
        self.first + (self.count - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_binds_target_port_and_source_port() {
        let c = Cookie::with_keys(1, 2);
        let ip: IpAddr = "198.18.1.2".parse().unwrap();
        let s = c.seq(ip, 80, 61000);
        assert_eq!(s, c.seq(ip, 80, 61000), "deterministic within a scan");
        assert!(c.acks(ip, 80, 61000, s.wrapping_add(1)));
        assert!(!c.acks(ip, 80, 61000, s));
        assert_ne!(s, c.seq(ip, 81, 61000));
        assert_ne!(s, c.seq(ip, 80, 61001));
        assert_ne!(s, c.seq("198.18.1.3".parse().unwrap(), 80, 61000));
        assert_ne!(s, Cookie::with_keys(1, 3).seq(ip, 80, 61000), "another scan's key");
        // SipHash-2-4: std's implementation with these keys is the reference (a known value
        // pins the algorithm, so that a change of hasher is noticed).
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(1, 2);
        h.write(&[198, 18, 1, 2]);
        h.write_u16(80);
        h.write_u16(61000);
        assert_eq!(s, h.finish() as u32);
    }

    #[test]
    fn ports_stay_outside_the_ephemeral_range() {
        assert_eq!(Ports::outside(Some((32768, 60999))), Ports { first: 61000, count: 4536 });
        let p = Ports::outside(Some((32768, 60999)));
        assert_eq!(p.last(), 65535);
        assert_eq!(Ports::outside(Some((1024, 65535))), Ports { first: 61000, count: 4536 });
        let low = Ports::outside(Some((40000, 65535)));
        assert!(low.last() < 40000 && low.first > 1024, "{low:?}");
        let p = Ports::outside(None);
        assert!(p.contains(p.nth(0)) && p.contains(p.nth(u32::MAX)) && !p.contains(p.first - 1));
    }
}
