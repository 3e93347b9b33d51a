//! "A reply too short to decide is `unknown`, never a match; no probe's parser accepts a prefix of
//! another protocol's banner." Every parser (each probe's and each banner parser, as `attempt`
//! applies them) gets every truncation of every protocol's sample reply: a prefix may be taken
//! only by the protocol it came from, and only once it holds that protocol's first complete
//! message (a whole line, a whole frame as its length field says).
use super::*;

/// A server's reply: the names a parser may give it, the length from which it is decided (its
/// first complete message), and the bytes.
struct Sample {
    what: &'static str,
    names: &'static [&'static str],
    decided: usize,
    bytes: Vec<u8>,
}

fn sample(what: &'static str, names: &'static [&'static str], decided: usize, bytes: Vec<u8>) -> Sample {
    Sample { what, names, decided, bytes }
}

/// A line-based reply: decided at the end of its first line.
fn line(what: &'static str, names: &'static [&'static str], bytes: &[u8]) -> Sample {
    let decided = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
    sample(what, names, decided, bytes.to_vec())
}

/// A whole binary frame: decided only when complete.
fn frame(what: &'static str, names: &'static [&'static str], bytes: Vec<u8>) -> Sample {
    sample(what, names, bytes.len(), bytes)
}

const HTTP: &[&str] = &["http", "elasticsearch", "couchdb", "docker", "etcd", "kubernetes", "kubelet"];

fn samples() -> Vec<Sample> {
    let mut s = vec![
        line("ssh", &["ssh"], b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
        line("ftp", &["ftp"], b"220 (vsFTPd 3.0.3)\r\n"),
        line("ftp (multi-line)", &["ftp"], b"220-ProFTPD 1.3.8 Server\r\n220 ready\r\n"),
        line("smtp", &["smtp"], b"220 mx.example.org ESMTP Postfix (Debian/GNU)\r\n"),
        line("pop3", &["pop3"], b"+OK Dovecot (Debian) ready.\r\n"),
        line(
            "imap",
            &["imap"],
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID IDLE STARTTLS] Dovecot ready.\r\n",
        ),
        line("rsync", &["rsync"], b"@RSYNCD: 31.0\n"),
        frame("vnc", &["vnc"], b"RFB 003.008\n".to_vec()),
        line("memcached", &["memcached"], b"VERSION 1.6.18\r\n"),
        line("memcached (errors)", &["memcached"], b"ERROR\r\nERROR\r\n"),
        line("redis (noauth)", &["redis"], b"-NOAUTH Authentication required.\r\n"),
        line("redis (to GET)", &["redis"], b"-ERR unknown command 'GET', with args beginning with: '/' \r\n"),
        line(
            "http",
            HTTP,
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: 46\r\n\r\n\
              <html><title>Welcome to nginx!</title></html>",
        ),
        line(
            "elasticsearch",
            HTTP,
            b"HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\n\r\n\
              {\"name\":\"n\",\"version\":{\"number\":\"8.11.1\"},\"tagline\":\"You Know, for Search\"}",
        ),
        line(
            "rtsp",
            &["rtsp"],
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: GStreamer RTSP server\r\nPublic: OPTIONS\r\n\r\n",
        ),
        // Telnet: decided by two negotiation commands.
        sample("telnet", &["telnet"], 6, vec![255, 253, 24, 255, 253, 32, 255, 253, 35, 255, 253, 39]),
        frame("tls alert", &["tls"], vec![21, 3, 3, 0, 2, 2, 40]),
        frame("rdp", &["rdp"], vec![3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 1, 0, 0, 0]),
        frame("s7", &["s7"], vec![3, 0, 0, 22, 17, 0xd0, 0, 1, 0, 1, 0, 0xc0, 1, 0x0a, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2]),
        frame("netbios-ssn", &["netbios-ssn"], vec![0x82, 0, 0, 0]),
        frame("netbios-ssn (refused)", &["netbios-ssn"], vec![0x83, 0, 0, 1, 0x80]),
        frame("mqtt", &["mqtt"], vec![0x20, 2, 0, 5]),
        frame("amqp (version)", &["amqp"], b"AMQP\x00\x00\x09\x01".to_vec()),
        frame("postgresql (sasl)", &["postgresql"], {
            let mut r = vec![b'R', 0, 0, 0, 23, 0, 0, 0, 10];
            r.extend_from_slice(b"SCRAM-SHA-256\0\0");
            r
        }),
        frame("postgresql (refused)", &["postgresql"], {
            let body = b"SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host \"198.18.1.1\"\0\0";
            let mut e = vec![b'E'];
            e.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
            e.extend_from_slice(body);
            e
        }),
        frame("msrpc", &["msrpc"], {
            let mut ack = msrpc::bind();
            ack[2] = 12;
            ack
        }),
        frame("rpcbind", &["rpcbind"], {
            let mut r = (0x8000_0000u32 | 24).to_be_bytes().to_vec();
            for w in [rpc::XID, 1, 0, 0, 0, 0] {
                r.extend_from_slice(&w.to_be_bytes());
            }
            r
        }),
        frame("ldap", &["ldap"], {
            let val = ldap::ber(0x31, &ldap::ber(0x04, b"OpenLDAP"));
            let attr = ldap::ber(0x30, &[ldap::ber(0x04, b"vendorName"), val].concat());
            let entry = ldap::ber(0x64, &[ldap::ber(0x04, b""), ldap::ber(0x30, &attr)].concat());
            ldap::ber(0x30, &[ldap::ber(0x02, &[1]), entry].concat())
        }),
        frame("kerberos", &["kerberos"], {
            let b = ldap::ber;
            let err = b(0x7e, &b(0x30, &[b(0xa0, &b(0x02, &[5])), b(0xa6, &b(0x02, &[68]))].concat()));
            let mut d = (err.len() as u32).to_be_bytes().to_vec();
            d.extend_from_slice(&err);
            d
        }),
        frame("mongodb", &["mongodb"], {
            let mut m = mongodb::op_msg(7, &[("ok", mongodb::B::I32(1)), ("maxWireVersion", mongodb::B::I32(21))]);
            m[8..12].copy_from_slice(&mongodb::REQ_ID.to_le_bytes());
            m
        }),
        frame("mssql", &["mssql"], {
            let mut r = mssql::prelogin();
            r[0] = 0x04;
            r[8 + 26..8 + 32].copy_from_slice(&[15, 0, 0x07, 0xd0, 0, 0]);
            r
        }),
        frame("modbus", &["modbus"], {
            let pdu = [0x2b, 0x0e, 1, 1, 0, 0, 1, 0, 4, b'A', b'C', b'M', b'E'];
            let mut d = vec![0x13, 0x37, 0, 0, 0, pdu.len() as u8 + 1, 0];
            d.extend_from_slice(&pdu);
            d
        }),
        frame("dnp3", &["dnp3"], {
            let mut f = vec![0x05, 0x64, 5, 0x0b, 0, 4, 1, 0];
            let c = dnp3::crc(&f);
            f.extend_from_slice(&c.to_le_bytes());
            f
        }),
        frame("x11 (refused)", &["x11"], {
            let reason = b"No protocol specified\n\0\0";
            let mut d = vec![0, 22, 11, 0, 0, 0, (reason.len() / 4) as u8, 0];
            d.extend_from_slice(reason);
            d
        }),
        frame("smb2", &["smb"], {
            let mut p = b"\xfeSMB".to_vec();
            p.extend_from_slice(&64u16.to_le_bytes());
            p.resize(64, 0);
            p.extend_from_slice(&65u16.to_le_bytes());
            p.extend_from_slice(&1u16.to_le_bytes());
            p.extend_from_slice(&0x0311u16.to_le_bytes());
            p.resize(130, 0);
            let mut d = vec![0, 0, 0, p.len() as u8];
            d.extend_from_slice(&p);
            d
        }),
    ];
    // MySQL / MariaDB: the handshake, and the error a refused client gets.
    let mut hs = vec![0x0a];
    hs.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
    hs.extend_from_slice(&[1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xff, 0xf7, 8, 2, 0, 0xff, 0x81, 21]);
    hs.extend_from_slice(&[0; 10]);
    hs.extend_from_slice(b"abcdefghijkl\0mysql_native_password\0");
    let mut framed = vec![hs.len() as u8, 0, 0, 0];
    framed.extend_from_slice(&hs);
    s.push(frame("mysql", &["mysql"], framed));
    let msg = b"Host '198.18.12.1' is not allowed to connect to this MariaDB server";
    let mut err = vec![msg.len() as u8 + 3, 0, 0, 0, 0xff, 0x6a, 0x04];
    err.extend_from_slice(msg);
    s.push(frame("mysql (refused)", &["mysql"], err));
    // A TLS 1.2 first flight: ServerHello + Certificate + ServerHelloDone in one record.
    let mut sh = vec![3, 3];
    sh.extend_from_slice(&[9u8; 32]);
    sh.extend_from_slice(&[0, 0xc0, 0x2f, 0, 0, 5, 0, 0x2b, 0, 2, 3, 4]);
    let mut hsm = vec![2, 0, 0, sh.len() as u8];
    hsm.extend_from_slice(&sh);
    hsm.extend_from_slice(&[11, 0, 0, 9, 0, 0, 6, 0, 0, 3, 0x30, 0x01, 0x00, 14, 0, 0, 0]);
    let mut rec = vec![22, 3, 3, 0, hsm.len() as u8];
    rec.extend_from_slice(&hsm);
    s.push(frame("tls", &["tls"], rec));
    s
}

/// Every parser `attempt` may hand a reply to, by name.
fn parsers() -> Vec<(String, Parser)> {
    let mut out: Vec<(String, Parser)> = PROBES.iter().map(|p| (format!("probe {}", p.name), p.parse)).collect();
    out.extend(BANNERS.iter().enumerate().map(|(i, &p)| (format!("banner parser #{i}"), p)));
    out
}

#[test]
fn no_parser_takes_a_prefix_of_another_protocols_reply() {
    let parsers = parsers();
    let mut wrong = Vec::new();
    for s in samples() {
        let whole = parsers.iter().filter_map(|(_, p)| p(&s.bytes)).map(|h| h.name).collect::<Vec<_>>();
        if !whole.iter().any(|n| s.names.contains(n)) {
            wrong.push(format!("the whole {} reply is not identified as {:?} (got {whole:?})", s.what, s.names));
        }
        for (name, parse) in &parsers {
            // the shortest prefix each parser gets wrong, if any
            let bad = (0..=s.bytes.len()).find_map(|k| {
                let hit = parse(&s.bytes[..k])?;
                if !s.names.contains(&hit.name) {
                    Some(format!("{name} takes {k} bytes of the {} reply for {}", s.what, hit.name))
                } else if k < s.decided {
                    Some(format!(
                        "{name} decides {} on {k} bytes of the {} reply, before its first message is complete ({})",
                        hit.name, s.what, s.decided
                    ))
                } else {
                    None
                }
            });
            wrong.extend(bad);
        }
    }
    assert!(wrong.is_empty(), "false identifications:\n  {}", wrong.join("\n  "));
}

#[test]
fn the_dispatcher_names_every_sample_right() {
    // What `attempt` does with a reply to a probe of another protocol: the banner parsers.
    for s in samples() {
        if let Some(hit) = parse_any_banner(&s.bytes) {
            assert!(s.names.contains(&hit.name), "banner parsers take the {} reply for {}", s.what, hit.name);
        }
    }
}
