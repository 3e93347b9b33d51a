//! Port specifications: parsing `"22,80,8000-8100,top-100,!25"` into a sorted [`PortList`], the
//! built-in named sets [`TOP_100`] and [`TOP_1000`], and [`service_name`].
//!
//! # Grammar
//!
//! Items are separated by commas; whitespace around an item is ignored.
//!
//! | item            | meaning                                                  |
//! |-----------------|----------------------------------------------------------|
//! | `80`            | one port                                                 |
//! | `8000-8100`     | an inclusive range                                       |
//! | `1000-`, `-1024`| open ranges: up to 65535, from 1                         |
//! | `all`, `-`      | 1-65535                                                  |
//! | `top-100`       | a named set (`top-100`, `top-1000`; case-insensitive)    |
//! | `!item`         | remove `item` from the result, wherever it appears       |
//! | `T:item`        | nmap-style TCP prefix, accepted and ignored               |
//!
//! `U:` (UDP) and `S:` (SCTP) prefixes are refused, since this is a TCP connect scan, and so is
//! port 0. Every error is an [`Error::Ports`](crate::error::Error::Ports) naming the offending item and its character
//! offset. Parsing never panics, whatever the input.
//!
//! # How the named lists were built
//!
//! The lists are our own. They are **not** taken from nmap's `nmap-services` frequency data
//! (NPSL-licensed) nor from any list copied from it (such as RustScan's or naabu's top-port
//! lists); none of those were opened or consulted. They were written by hand from public
//! knowledge: the service names and default ports in IANA's Service Name and Transport Protocol
//! Port Number Registry, and the default ports documented by the vendors and projects named in the
//! comments of the tables below.
//!
//! 1. [`TOP_100`] is the hand-curated first tier (`TIER_1` in `lists.rs`), in priority order: first the
//!    risky exposures a defender must see (remote administration and file sharing, cleartext
//!    shells, unauthenticated data stores, container control planes, IoT/camera/DVR and industrial
//!    protocols, databases, legacy Unix services, directory and mail), then everyday services
//!    (web, DNS, mail submission, common alternate HTTP ports, proxies, printing, brokers).
//! 2. [`TOP_1000`] is `TOP_100`, then the second curated tier (`TIER_2`: other well-known TCP
//!    service defaults, grouped by kind), then filled in ascending order with the remaining ports
//!    of 1-1024 (IANA system ports, where assigned services concentrate) and, were that not
//!    enough, ascending from 1025, skipping ports already present, until it holds exactly 1000
//!    unique ports. With 100 + 360 curated ports the fill is, at the time of writing, the
//!    uncurated ports of 1-597. The fill is computed at compile time by `build_top_1000`, which
//!    also refuses (as a compile error) a duplicate or a port 0 in the curated tiers.
//! 3. [`service_name`] answers from the same two curated tables: the IANA service name where the
//!    registry has a fitting one, otherwise the vendor's or the project's name for the service.
//!    Fill ports have no name. Where several products share a default port the name is the most
//!    common one, or a generic `http-alt`, so treat it as a hint, not an identification.

mod lists;
mod spec;

pub use crate::result::Protocol;
pub use lists::{
    named_set, named_set_for, service_name, udp_service_name, TOP_100, TOP_1000, UDP_TOP_100, UDP_TOP_1000,
};
pub use spec::{fuzzing, PortList};
