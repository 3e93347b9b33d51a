//! Probes: one attempt at one (address, port), classified from what the kernel reports.
pub(crate) mod errno;
pub(crate) mod errqueue;
pub mod icmp;
pub mod origin;
pub(crate) mod sockopt;
pub mod syn;
pub mod tcp;
pub mod udp;
