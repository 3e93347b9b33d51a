//! Probes: one attempt at one (address, port), classified from what the kernel reports.
pub mod tcp;
