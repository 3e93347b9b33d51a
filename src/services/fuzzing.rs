//! Entry points of every protocol parser, for the cargo-fuzz targets under `fuzz/` and for the
//! deterministic fuzz-style test that CI runs. A parser must return (never panic, never loop)
//! whatever the bytes.
use super::*;

/// A named parser entry point.
pub type Target = (&'static str, fn(&[u8]));

/// (name, entry point) of each parser family.
pub const TARGETS: &[Target] = &[
    ("banners", |d| {
        let _ = parse_any_banner(d);
        let _ = banner_done(d);
    }),
    ("ssh", |d| {
        let _ = ssh::parse_banner(d);
        let _ = ssh::packet_end(d);
        let _ = ssh::parse_kexinit(d);
        let _ = ssh::parse_kexinit_packet(d);
    }),
    ("ftp_mail", |d| {
        let _ = ftp::reply_code(d);
        let _ = ftp::parse_banner(d);
        let _ = mail::parse_banner(d);
    }),
    ("http", |d| {
        let _ = http::complete(d);
        if let Some(r) = http::parse_response(d) {
            let _ = http::classify(&r);
            let _ = r.title();
        }
        let _ = http::parse(d);
        let _ = (rtsp::PROBE.parse)(d);
    }),
    ("tls", |d| {
        let _ = tls::parse_flight(d);
        let _ = tls::flight_done(d);
        let _ = tls::parse(d);
    }),
    ("x509", |d| {
        let _ = tls::cert_facts(d);
    }),
    ("smb", |d| {
        let _ = smb::negotiate_reply(d);
        let _ = smb::session_reply(d);
        let _ = smb::frame_done(d);
        let ntlm = smb::ntlm_challenge(d);
        let _ = ntlm.as_ref().map(smb::NtlmInfo::describe);
        let _ = smb::product(d, ntlm.as_ref());
    }),
    ("rdp", |d| {
        let _ = rdp::confirm(d);
        let _ = rdp::tpkt_done(d);
        let _ = (s7modbus::S7_PROBE.parse)(d);
    }),
    ("mongodb", |d| {
        let _ = mongodb::decode(d, 0);
        let _ = mongodb::reply(d, 1);
        let _ = mongodb::done(d);
        let _ = (mongodb::PROBE.parse)(d);
    }),
    ("databases", |d| {
        let _ = mysql::parse_handshake(d);
        let _ = postgres::parse_startup(d);
        let _ = redis::parse(d);
        let _ = redis::done(d);
        let _ = (mssql::PROBE.parse)(d);
        let _ = (memcached::PROBE.parse)(d);
        let _ = memcached::stats(d);
        let _ = memcached::parse_errors(d);
    }),
    ("binary", |d| {
        let _ = vnc::parse_banner(d);
        let _ = vnc::security_types(d, false);
        let _ = vnc::security_types(d, true);
        let _ = telnet::parse(d);
        let _ = x11::setup_reply(d);
        let _ = mqtt::connack(d);
        let _ = ldap::reply(d);
        let _ = kerberos::reply(d);
        let _ = rpc::reply(d, 0x504c_0111);
        let _ = (msrpc::PROBE.parse)(d);
        let _ = amqp::start_properties(d);
        let _ = (amqp::PROBE.parse)(d);
        let _ = s7modbus::modbus_reply(d);
        let _ = (dnp3::PROBE.parse)(d);
    }),
    ("dns_snmp", |d| {
        let _ = (dns::TCP_PROBE.parse)(d);
        let _ = (dns::TCP_PROBE.done)(d);
        let _ = dns::product_version(&String::from_utf8_lossy(d));
        let _ = snmp::engine(d).map(|e| e.enterprise());
    }),
    ("udp", |d| {
        // every protocol's UDP reply parser, on its own ports and as a guess on an odd one
        for (p, u) in registry::udp_protocols() {
            for &port in u.ports {
                let _ = udp::parse_reply(port, d);
            }
            let _ = udp::parse_other(p.name, 40000, d);
        }
        let mut info = ServiceInfo::default();
        if let Some(f) = udp::followup(123) {
            (f.apply)(&mut info, Some(d));
        }
    }),
    ("fingerprints", |d| {
        let t = String::from_utf8_lossy(d);
        for field in ["banner", "server", "title", "body", "version"] {
            let _ = fingerprints::lookup("*", field, &t);
            let _ = fingerprints::device(field, &t);
        }
    }),
];

/// Run one named target (false when no target has that name).
pub fn run(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => {
            f(data);
            true
        }
        None => false,
    }
}

/// Every parser on the same bytes.
pub fn all(data: &[u8]) {
    for (_, f) in TARGETS {
        f(data);
    }
}

/// Well-formed samples of each protocol, seeds for mutation.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut s: Vec<Vec<u8>> = vec![
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
        b"220 (vsFTPd 3.0.3)\r\n".to_vec(),
        b"220 mx ESMTP Postfix\r\n".to_vec(),
        b"+OK Dovecot ready.\r\n".to_vec(),
        b"* OK [CAPABILITY IMAP4rev1] ready\r\n".to_vec(),
        b"RFB 003.008\n".to_vec(),
        vec![2, 1, 2],
        vec![255, 253, 24, 255, 253, 32, 255, 250, 24, 1, 255, 240],
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 20\r\n\r\n<title>x</title>abcd".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\n\r\n".to_vec(),
        b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: GStreamer RTSP server\r\n\r\n".to_vec(),
        b"$40\r\n# Server\r\nredis_version:7.0.15\r\nos:Linux\r\n\r\n".to_vec(),
        b"-NOAUTH Authentication required.\r\n".to_vec(),
        b"VERSION 1.6.18\r\nSTAT pid 1\r\nEND\r\n".to_vec(),
        vec![0x20, 2, 0, 5],
        vec![3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 1, 0, 0, 0],
        vec![0x82, 0, 0, 0],
        smb::smb1_negotiate(&["NT LM 0.12"]),
        smb::smb2_negotiate(),
        smb::smb2_session_setup(),
        snmp::discovery(),
        ldap::root_dse_search(),
        kerberos::as_req(),
        rpc::call(0x504c_0111, 100_000, 2),
        msrpc::bind(),
        mssql::prelogin(),
        mqtt::connect(),
        postgres::startup(),
        vec![b'R', 0, 0, 0, 8, 0, 0, 0, 10],
        dnp3::request(),
        vec![0x13, 0x37, 0, 0, 0, 8, 0, 0x2b, 0x0e, 1, 1, 0, 0, 1, 0, 1, b'x'],
        b"AMQP\x00\x00\x09\x01".to_vec(),
        vec![1, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0],
        vec![0x15, 3, 3, 0, 2, 2, 70],
    ];
    for (_, u) in registry::udp_protocols() {
        s.extend(u.ports.iter().map(|&port| (u.request)(port)));
    }
    s.push(mongodb::op_msg(1, &[("ok", mongodb::B::I32(1)), ("maxWireVersion", mongodb::B::I32(21))]));
    let mut mysql = vec![0x0a];
    mysql.extend_from_slice(b"5.5.5-10.11.6-MariaDB\0");
    mysql.extend_from_slice(&[1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xff, 0xf7, 8, 2, 0]);
    let mut framed = vec![mysql.len() as u8, 0, 0, 0];
    framed.extend_from_slice(&mysql);
    s.push(framed);
    // A TLS 1.2 first flight: ServerHello + Certificate + ServerHelloDone.
    let mut sh = vec![3, 3];
    sh.extend_from_slice(&[9u8; 32]);
    sh.extend_from_slice(&[0, 0xc0, 0x2f, 0, 0, 5, 0, 0x2b, 0, 2, 3, 4]);
    let mut hs = vec![2, 0, 0, sh.len() as u8];
    hs.extend_from_slice(&sh);
    hs.extend_from_slice(&[11, 0, 0, 9, 0, 0, 6, 0, 0, 3, 0x30, 0x01, 0x00, 14, 0, 0, 0]);
    let mut rec = vec![22, 3, 3, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    s.push(rec);
    s
}
