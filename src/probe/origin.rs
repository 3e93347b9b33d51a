//! Where TCP probes leave from: the routing table's choice, or the user's `source=` (an address
//! of this host) and `interface=` (a device, bound with SO_BINDTODEVICE), as nmap's `-S` and `-e`.
//!
//! Both are checked before any packet: a source that is not an address of this host (bind would
//! fail with EADDRNOTAVAIL on every try, or a raw SYN would carry an address whose replies never
//! come back) and an interface that does not exist are `OptionError`s naming the option; a source
//! of one family with targets of the other is one too, once the targets are known.
use crate::{Error, Result};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// The longest interface name Linux takes (IFNAMSIZ, 16, with its NUL).
const IFNAME_MAX: usize = 15;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// Send from this address (None: the route's preferred source).
    pub source: Option<IpAddr>,
    /// Send and receive on this device only (None: the route's).
    pub interface: Option<String>,
}

impl Origin {
    /// Both overrides usable on this host (in this network namespace): the interface exists and
    /// the source is one of its addresses.
    pub fn check(&self) -> Result<()> {
        if let Some(name) = &self.interface {
            check_interface(name)?;
        }
        if let Some(ip) = self.source {
            check_source(ip)?;
        }
        Ok(())
    }

    /// A source of one family and a target of the other cannot be probed: the first such target.
    pub fn check_family(&self, first_other: impl FnOnce(bool) -> Option<IpAddr>) -> Result<()> {
        let Some(src) = self.source else { return Ok(()) };
        match first_other(src.is_ipv4()) {
            Some(target) => Err(Error::option(
                "source",
                format!(
                    "{src} is an IPv{} address but target {target} is IPv{}: a probe leaves from an address of its \
                     target's family; scan the IPv{} targets separately (or without source=)",
                    if src.is_ipv4() { 4 } else { 6 },
                    if target.is_ipv4() { 4 } else { 6 },
                    if target.is_ipv4() { 4 } else { 6 },
                ),
            )),
            None => Ok(()),
        }
    }

    /// The source for a target of this family, if one was given.
    pub fn source_for(&self, v6: bool) -> Option<IpAddr> {
        self.source.filter(|s| s.is_ipv6() == v6)
    }

    /// Bind `sock` to the interface, if one was given.
    pub fn bind_device(&self, sock: &Socket) -> io::Result<()> {
        match &self.interface {
            Some(name) => sock.bind_device(Some(name.as_bytes())),
            None => Ok(()),
        }
    }

    /// Prepare a connect socket to a target of this family: on the interface, from the source
    /// address. The port is left to connect (IP_BIND_ADDRESS_NO_PORT): bind alone would take one
    /// ephemeral port per socket whatever the destination, and run out at a scan's concurrency.
    pub fn bind_connect(&self, sock: &Socket, v6: bool) -> io::Result<()> {
        self.bind_device(sock)?;
        if let Some(src) = self.source_for(v6) {
            super::sockopt::set_int(sock, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
            sock.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
        }
        Ok(())
    }
}

fn check_interface(name: &str) -> Result<()> {
    let bad = |why: String| Error::option("interface", why);
    if name.is_empty() || name.len() > IFNAME_MAX || name.contains(['\0', '/']) || name.chars().any(char::is_whitespace)
    {
        let shown = crate::error::clip(name, 40);
        return Err(bad(format!("{shown:?} is not an interface name (1 to {IFNAME_MAX} bytes, no '/' or spaces)")));
    }
    let c = std::ffi::CString::new(name).map_err(|_| bad(format!("{name:?} is not an interface name")))?;
    // SAFETY: a valid NUL-terminated string.
    if unsafe { libc::if_nametoindex(c.as_ptr()) } == 0 {
        return Err(bad(format!("no interface named {name:?} on this host (see `ip link`)")));
    }
    Ok(())
}

fn check_source(ip: IpAddr) -> Result<()> {
    let bad = |why: String| Error::option("source", why);
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        return Err(bad(format!("{ip} is not an address a probe can be sent from")));
    }
    let domain = if ip.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| {
        bad(format!("cannot open an IPv{} socket to check {ip}: {e}", if ip.is_ipv6() { 6 } else { 4 }))
    })?;
    // Binding is the kernel's own test of "an address of this host", the one every probe's bind
    // (or the replies to a raw SYN from it) depends on.
    match sock.bind(&SockAddr::from(SocketAddr::new(ip, 0))) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
            Err(bad(format!("{ip} is not an address of this host (see `ip addr`)")))
        }
        Err(e) => Err(bad(format!("cannot send from {ip}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(e: Error) -> String {
        match e {
            Error::Option { name, .. } => name,
            other => panic!("not an option error: {other}"),
        }
    }

    #[test]
    fn checks_name_the_option() {
        crate::engine::tests::assert_private_namespace();
        let lo = Origin { source: Some(IpAddr::from([127, 0, 0, 1])), interface: Some("lo".into()) };
        lo.check().unwrap();
        for bad in ["", "no-such-if0", "a/b", "x y", "sixteen_chars_xx"] {
            let o = Origin { interface: Some(bad.into()), ..Origin::default() };
            assert_eq!(name(o.check().unwrap_err()), "interface", "{bad:?}");
        }
        // 198.18.255.253: a lab address nobody configures in this private namespace
        for bad in ["198.18.255.253", "0.0.0.0", "224.0.0.1", "2001:db8:ffff::1"] {
            let o = Origin { source: Some(bad.parse().unwrap()), ..Origin::default() };
            assert_eq!(name(o.check().unwrap_err()), "source", "{bad:?}");
        }
        let err = lo.check_family(|v4| if v4 { Some("2001:db8::2".parse().unwrap()) } else { None }).unwrap_err();
        assert!(err.to_string().contains("2001:db8::2"), "{err}");
        lo.check_family(|_| None).unwrap();
        assert_eq!(lo.source_for(true), None);
    }
}
