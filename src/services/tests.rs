//! The fuzz-style run CI does (cargo-fuzz needs nightly; this is deterministic and stable), and
//! identification against small servers on the loopback of a private network namespace.
use super::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// splitmix64: a small deterministic generator (the same inputs on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, b'\r', b'\n', b' ', b'0', 0xfe];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => d.truncate(rng.below(len + 1)),
            3 => {
                let i = rng.below(len + 1);
                let n = rng.below(16);
                let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(i..i, fill);
            }
            4 if len > 0 => {
                // Corrupt what is often a length field.
                let i = rng.below(len.min(24));
                d[i] = [0, 0xff, 0x80, 0x7f][rng.below(4)];
            }
            5 if len > 2 => {
                let a = rng.below(len);
                let b = rng.below(len);
                d.swap(a, b);
            }
            6 => {
                let n = rng.below(64);
                d.extend(std::iter::repeat_n(d.last().copied().unwrap_or(0), n));
            }
            _ if len > 0 => {
                let i = rng.below(len);
                let j = rng.below(len);
                let (lo, hi) = (i.min(j), i.max(j));
                let chunk = d[lo..hi].to_vec();
                d.extend_from_slice(&chunk);
            }
            _ => {}
        }
    }
    d
}

/// Every parser gets 300,000 inputs: random bytes, then mutations of well-formed samples.
#[test]
fn parsers_survive_random_and_mutated_input() {
    let mut rng = Rng(0x504c_2024);
    let seeds = fuzzing::seeds();
    for seed in &seeds {
        fuzzing::all(seed);
    }
    let n = 300_000;
    let started = std::time::Instant::now();
    for i in 0..n {
        let data = if i % 3 == 0 {
            let len = rng.below(512);
            (0..len).map(|_| rng.next() as u8).collect::<Vec<u8>>()
        } else {
            let pick = rng.below(seeds.len());
            mutate(&mut rng, &seeds[pick])
        };
        // Each target on its own input (the full set per input would only repeat work).
        let (_, target) = fuzzing::TARGETS[i % fuzzing::TARGETS.len()];
        target(&data);
        if i % 7 == 0 {
            fuzzing::all(&data);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(300));
}

#[test]
fn plans_put_the_likely_protocol_first() {
    let names = |port| {
        plan(port)
            .into_iter()
            .map(|s| match s {
                Step::Banner => "banner",
                Step::Probe(p) => p.name,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(names(22)[0], "banner");
    assert_eq!(names(443)[0], "tls");
    assert_eq!(names(6379)[..2], ["redis", "banner"]);
    assert_eq!(names(40000)[0], "banner");
    assert_eq!(names(40000).len(), PROBES.len() + 1);
}

// ------------------------------------------------------------------ against local servers

async fn serve(
    handler: fn(tokio::net::TcpStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(handler(s));
        }
    });
    addr
}

async fn id(addr: SocketAddr, budget: Duration) -> ServiceInfo {
    identify(addr, budget, &CancellationToken::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_end_unknown_within_budget() {
    crate::engine::tests::assert_private_namespace();
    let tarpit = serve(|mut s| {
        Box::pin(async move {
            let mut b = [0u8; 1024];
            while matches!(s.read(&mut b).await, Ok(n) if n > 0) {}
        })
    })
    .await;
    let flood = serve(|mut s| Box::pin(async move { while s.write_all(&[b'A'; 4096]).await.is_ok() {} })).await;
    let garbage = serve(|mut s| {
        Box::pin(async move {
            let mut rng = Rng(u64::from(s.peer_addr().map(|a| a.port()).unwrap_or(1)));
            let junk: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
            let _ = s.write_all(&junk).await;
        })
    })
    .await;
    let drip = serve(|mut s| {
        Box::pin(async move {
            for b in b"220 drip.lab.invalid ESMTP slow banner\r\n" {
                if s.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    })
    .await;
    let reset = serve(|s| {
        Box::pin(async move {
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            drop(s);
        })
    })
    .await;
    let script = serve(|mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"<script>alert(1)</script>\r\n").await;
        })
    })
    .await;
    let budget = Duration::from_millis(2500);
    let all = [tarpit, flood, garbage, drip, reset, script];
    let results = identify_all(&all, budget).await;
    for (addr, info) in all.iter().zip(&results) {
        assert_eq!(info.status, "unknown", "{addr}: {info:?}");
        assert_eq!(info.method, "port");
        assert!(info.checks.is_empty());
        assert!(info.elapsed < budget.as_secs_f64() + 0.3, "{addr} took {}", info.elapsed);
    }
    assert!(results[1].banner.as_deref().unwrap_or_default().starts_with("AAAA"));
    assert!(results[1].banner.as_ref().is_some_and(|b| b.len() <= BANNER_KEEP * 4));
    assert_eq!(results[5].banner.as_deref(), Some("<script>alert(1)</script>\\r\\n"));
}

async fn identify_all(addrs: &[SocketAddr], budget: Duration) -> Vec<ServiceInfo> {
    let tasks: Vec<_> = addrs.iter().map(|&a| tokio::spawn(id(a, budget))).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_and_ftp_on_unusual_ports() {
    crate::engine::tests::assert_private_namespace();
    let ssh = serve(|mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_7.4\r\n").await;
            let mut b = [0u8; 256];
            let _ = s.read(&mut b).await;
            let mut lists = [""; 10];
            lists[0] = "diffie-hellman-group1-sha1";
            lists[1] = "ssh-rsa";
            lists[2] = "aes128-cbc";
            lists[3] = "aes128-ctr";
            lists[4] = "hmac-md5";
            lists[5] = "hmac-sha2-256";
            let mut payload = vec![20u8];
            payload.extend_from_slice(&[0; 16]);
            for l in lists {
                payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
                payload.extend_from_slice(l.as_bytes());
            }
            payload.extend_from_slice(&[0; 5]);
            let pad = 4usize;
            let mut pkt = ((payload.len() + pad + 1) as u32).to_be_bytes().to_vec();
            pkt.push(pad as u8);
            pkt.extend_from_slice(&payload);
            pkt.extend_from_slice(&[0; 4]);
            let _ = s.write_all(&pkt).await;
            let _ = s.read(&mut b).await;
        })
    })
    .await;
    let ftp = serve(|mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"220-Welcome\r\n220 (vsFTPd 3.0.3)\r\n").await;
            let mut b = [0u8; 256];
            loop {
                let n = match s.read(&mut b).await {
                    Ok(n) if n > 0 => n,
                    _ => return,
                };
                let reply: &[u8] = if b[..n].starts_with(b"USER") {
                    b"331 Please specify the password.\r\n"
                } else if b[..n].starts_with(b"PASS") {
                    b"230 Login successful.\r\n"
                } else {
                    b"221 Goodbye.\r\n"
                };
                let _ = s.write_all(reply).await;
            }
        })
    })
    .await;
    let info = id(ssh, Duration::from_secs(3)).await;
    assert_eq!(
        (info.name.as_deref(), info.method.as_str(), info.status.as_str()),
        (Some("ssh"), "banner", "identified")
    );
    assert_eq!((info.product.as_deref(), info.version.as_deref()), (Some("OpenSSH"), Some("7.4")));
    let c = &info.checks[0];
    assert_eq!((c.id.as_str(), c.outcome.as_str()), ("ssh-weak-algorithms", "vulnerable"));
    assert_eq!(c.evidence["kex"], "diffie-hellman-group1-sha1");
    assert_eq!(c.evidence["macs"], "hmac-md5");
    let info = id(ftp, Duration::from_secs(3)).await;
    assert_eq!(info.name.as_deref(), Some("ftp"));
    assert_eq!(info.product.as_deref(), None, "the first line of a multi-line greeting names no product");
    let c = info.checks.iter().find(|c| c.id == "ftp-anonymous").unwrap();
    assert_eq!(c.outcome, "vulnerable", "{c:?}");
}

#[test]
fn check_ids_are_documented() {
    let doc = include_str!("mod.rs");
    for id in [
        "ftp-anonymous",
        "smbv1",
        "smb-signing-not-required",
        "rdp-nla-not-enforced",
        "redis-no-auth",
        "mongodb-no-auth",
        "elasticsearch-no-auth",
        "couchdb-no-auth",
        "docker-api-no-auth",
        "kubelet-no-auth",
        "vnc-no-auth",
        "mqtt-anonymous",
        "rtsp-no-auth",
        "telnet-cleartext",
        "ssh-weak-algorithms",
        "tls-expired",
        "tls-self-signed",
        "tls-weak-protocol",
        "tls-weak-cipher",
        "http-device-signature",
        "memcached-no-auth",
        "x11-no-auth",
        "kubernetes-anonymous",
        "etcd-no-auth",
        "cleartext-no-starttls",
    ] {
        assert!(doc.contains(&format!("`{id}`")), "{id} is not in the check table of services/mod.rs");
    }
}
