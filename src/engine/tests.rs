//! End-to-end engine tests on the loopback of a private network namespace (`make test-rust`
//! runs `cargo test` under `unshare --net`), against listeners the tests open themselves.
use super::*;
use crate::targets::{TargetOptions, Targets};
use std::collections::BTreeSet;
use std::net::TcpListener;

/// Refuse to scan anything unless this process has a network namespace of its own: nothing but
/// `lo` may exist, so no other program can be listening on the ports probed here.
pub(crate) fn assert_private_namespace() {
    // /proc/self/net/dev lists this namespace's interfaces (/sys may still show another's).
    let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    let ifaces: Vec<String> =
        dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(|n| n.trim().to_string()).collect();
    assert_eq!(ifaces, vec!["lo".to_string()], "run the engine tests in a private namespace: `make test-rust`");
}

fn targets(spec: &str) -> Targets {
    Targets::build_literal(&[spec.to_string()], &[], &TargetOptions::default(), None).unwrap()
}

async fn collect(mut h: ScanHandle) -> (Vec<PortResult>, ScanSummary) {
    let mut got = Vec::new();
    while let Some(r) = h.results.recv().await {
        got.push(r);
    }
    (got, h.task.await.unwrap().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_open_set_and_counts_on_loopback() {
    assert_private_namespace();
    let listeners: Vec<TcpListener> = (0..5).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let open: BTreeSet<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
    let spec = format!("1-3000,{}", open.iter().map(u16::to_string).collect::<Vec<_>>().join(","));
    let ports = PortList::parse(&spec, "").unwrap();
    let n = ports.len() as u128;
    let mut cfg = ScanConfig::new(ports);
    cfg.keep = [true, true, false, false];
    let h = start(targets("127.0.0.1"), cfg, &tokio::runtime::Handle::current()).unwrap();
    let (got, summary) = collect(h).await;
    let found: BTreeSet<u16> = got.iter().filter(|r| r.state == PortState::Open).map(|r| r.port).collect();
    assert_eq!(found, open);
    assert_eq!(summary.status, ScanStatus::Complete);
    assert_eq!(summary.counts, [open.len() as u128, n - open.len() as u128, 0, 0]);
    assert_eq!(got.len() as u128, n, "open and closed are kept, each exactly once");
    assert_eq!(summary.hosts.len(), 1);
    assert_eq!(summary.progress.done, n);
    assert!(got.iter().all(|r| r.attempts == 1 && r.rtt.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_lab_addresses_are_filtered_not_closed() {
    assert_private_namespace();
    // No route to 198.18.0.0/15 in a private namespace: the kernel answers ENETUNREACH.
    let mut cfg = ScanConfig::new(PortList::parse("80,443", "").unwrap());
    cfg.keep = [true, true, true, true];
    cfg.discovery = Some(false);
    let h = start(targets("198.18.9.0/30"), cfg, &tokio::runtime::Handle::current()).unwrap();
    let (got, summary) = collect(h).await;
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(|r| r.state == PortState::Filtered && r.reason == Reason::NetUnreach), "{got:?}");
    assert!(summary.hosts.is_empty(), "no host answered by itself");
    assert_eq!(summary.counts, [0, 0, 8, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_scan_and_keeps_counts_consistent() {
    assert_private_namespace();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // 2^20 probes: far more than can finish before the cancel below.
    let cfg = ScanConfig::new(PortList::parse(&format!("{port},1-65535"), "").unwrap());
    let h = start(targets("127.0.0.0/28"), cfg, &tokio::runtime::Handle::current()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.monitor.cancel();
    let started = std::time::Instant::now();
    let (_, summary) = collect(h).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(summary.status, ScanStatus::Cancelled);
    assert!(summary.progress.done < summary.progress.total);
    assert_eq!(summary.counts.iter().sum::<u128>(), summary.progress.done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_skips_down_hosts() {
    assert_private_namespace();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = ScanConfig::new(PortList::parse(&port.to_string(), "").unwrap());
    cfg.keep = [true, true, true, true];
    // 127.0.0.0/30 answers (loopback), 198.18.9.0/30 has no route: down, never port-scanned.
    let t = Targets::build_literal(
        &["127.0.0.0/30".to_string(), "198.18.9.0/30".to_string()],
        &[],
        &TargetOptions::default(),
        None,
    )
    .unwrap();
    let h = start(t, cfg, &tokio::runtime::Handle::current()).unwrap();
    let (got, summary) = collect(h).await;
    assert_eq!(summary.hosts_down, Some(4));
    let up: Vec<_> = summary.hosts.iter().filter(|h| h.up).map(|h| h.host.to_string()).collect();
    assert_eq!(up, ["127.0.0.0", "127.0.0.1", "127.0.0.2", "127.0.0.3"]);
    assert!(summary.hosts.iter().filter(|h| !h.up).all(|h| h.reason == Reason::NoResponse));
    assert_eq!(got.len(), 4, "only up hosts are port-scanned: {got:?}");
    assert_eq!(summary.progress.total, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_states_on_loopback() {
    assert_private_namespace();
    let echo = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let open = echo.local_addr().unwrap().port();
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap(); // bound, never answers
    let silent = quiet.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        for _ in 0..8 {
            if let Ok((n, from)) = echo.recv_from(&mut b) {
                let _ = echo.send_to(&b[..n], from);
            }
        }
    });
    let mut cfg = ScanConfig::new(PortList::parse("1", "").unwrap());
    cfg.ports = None;
    cfg.udp_ports = Some(PortList::parse(&format!("{open},{silent},1-40"), "").unwrap());
    cfg.keep = [true, true, true, true];
    cfg.udp_fast = true;
    let h = start(targets("127.0.0.1"), cfg, &tokio::runtime::Handle::current()).unwrap();
    let (got, summary) = collect(h).await;
    let state = |p: u16| got.iter().find(|r| r.port == p).map(|r| (r.state, r.reason));
    assert_eq!(state(open), Some((PortState::Open, Reason::UdpResponse)));
    assert_eq!(state(silent), Some((PortState::OpenFiltered, Reason::NoResponse)));
    // loopback does not rate-limit ICMP errors to itself: every other port is closed
    assert_eq!(summary.counts, [1, 40, 0, 1]);
    assert!(got.iter().all(|r| r.protocol == Protocol::Udp));
}

#[test]
fn invalid_config_is_refused_before_starting() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cfg = ScanConfig::new(PortList::parse("80", "").unwrap());
    cfg.rate = Some(-1.0);
    let err = start(targets("198.18.9.1"), cfg, rt.handle()).err().unwrap();
    assert!(err.to_string().contains("rate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_probe_fails_the_scan_instead_of_completing() {
    assert_private_namespace();
    let listener = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    PANIC_PORT.store(u32::from(port), Ordering::Relaxed);
    let cfg = ScanConfig::new(PortList::parse(&format!("1-200,{port}"), "").unwrap());
    let h = start(targets("127.0.0.2"), cfg, &tokio::runtime::Handle::current()).unwrap();
    let mut results = h.results;
    while results.recv().await.is_some() {}
    let out = h.task.await.unwrap();
    PANIC_PORT.store(u32::MAX, Ordering::Relaxed);
    match out {
        Err(Error::Internal(msg)) => assert!(msg.contains("panicked"), "{msg}"),
        other => panic!("a panicked probe must fail the scan, got {other:?}"),
    }
}

/// A scan cancelled mid-way and started again from its checkpoint reports, with what the first run
/// reported, every (host, port) exactly as an uninterrupted scan does; the second run probes only
/// what was left (plus what finished above the watermark), and its counters start at the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_a_checkpoint_completes_the_scan() {
    assert_private_namespace();
    let listeners: Vec<TcpListener> = (0..4).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let open: BTreeSet<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
    let spec = format!("1-1500,{}", open.iter().map(u16::to_string).collect::<Vec<_>>().join(","));
    for discovery in [false, true] {
        let ports = PortList::parse(&spec, "").unwrap();
        let n = 4 * ports.len() as u128;
        let mut cfg = ScanConfig::new(ports);
        cfg.keep = [true, true, false, false];
        cfg.discovery = Some(discovery);
        cfg.rate = Some(4000.0);
        cfg.concurrency = 64;
        let mut h = start(targets("127.0.0.1-4"), cfg.clone(), &tokio::runtime::Handle::current()).unwrap();
        let mut first = Vec::new();
        while let Some(r) = h.results.recv().await {
            first.push(r);
            if first.len() as u128 >= n / 3 {
                break;
            }
        }
        h.monitor.cancel();
        let monitor = h.monitor.clone();
        let (rest, summary) = collect(h).await;
        first.extend(rest);
        assert_eq!(summary.status, ScanStatus::Cancelled, "discovery={discovery}");
        let cp = monitor.checkpoint();
        assert_eq!(cp.sent, first.len() as u64, "every result sent was read");
        let below: u64 = cp.batches.iter().map(|b| b.counts.iter().sum::<u64>()).sum();
        assert!(below > 0 && (below as u128) < n, "discovery={discovery}: {below} of {n} below the watermarks");

        let mut again = cfg.clone();
        again.resume = Some(cp.clone());
        let h = start(targets("127.0.0.1-4"), again, &tokio::runtime::Handle::current()).unwrap();
        // (the resumed scan is already running: a few results may have come in since its start)
        let done = h.monitor.progress().done;
        assert!(done >= u128::from(below) && done < n, "progress starts at the checkpoint: {done} of {n}, {below}");
        let (second, resumed) = collect(h).await;
        assert_eq!(resumed.status, ScanStatus::Complete);
        let mut all: HashMap<(IpAddr, u16), PortState> = first.iter().map(|r| ((r.host, r.port), r.state)).collect();
        for r in &second {
            let prev = all.insert((r.host, r.port), r.state);
            assert!(prev.is_none() || prev == Some(r.state), "{r:?} changed state");
        }
        assert_eq!(all.len() as u128, n, "discovery={discovery}: every (host, port) reported");
        let found: BTreeSet<(IpAddr, u16)> =
            all.iter().filter(|(_, s)| **s == PortState::Open).map(|(k, _)| *k).collect();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(found, open.iter().map(|&p| (local, p)).collect(), "discovery={discovery}");
        assert_eq!(resumed.counts, [open.len() as u128, n - open.len() as u128, 0, 0], "discovery={discovery}");
        assert!((second.len() as u128) < n, "discovery={discovery}: only what was left was probed again");
    }

    // a checkpoint of other targets or another format is refused before any probe
    let ports = PortList::parse(&spec, "").unwrap();
    let mut cfg = ScanConfig::new(ports.clone());
    let h = start(targets("127.0.0.1-4"), cfg.clone(), &tokio::runtime::Handle::current()).unwrap();
    let cp = h.monitor.checkpoint();
    h.monitor.cancel();
    let _ = collect(h).await;
    cfg.resume = Some(cp.clone());
    assert!(matches!(
        start(targets("127.0.0.1-5"), cfg.clone(), &tokio::runtime::Handle::current()),
        Err(Error::Option { .. })
    ));
    cfg.resume = Some(Checkpoint { format: checkpoint::FORMAT + 1, ..cp.clone() });
    assert!(matches!(
        start(targets("127.0.0.1-4"), cfg.clone(), &tokio::runtime::Handle::current()),
        Err(Error::Option { .. })
    ));
    // as many other ports (the same number of steps): refused by the ports' fingerprint
    let shifted: Vec<String> = ports.as_slice().iter().map(|p| (p ^ 0x8000).to_string()).collect();
    let mut other = ScanConfig::new(PortList::parse(&shifted.join(","), "").unwrap());
    assert_eq!(other.ports.as_ref().unwrap().len(), cfg.ports.as_ref().unwrap().len());
    other.resume = Some(cp.clone());
    assert!(matches!(
        start(targets("127.0.0.1-4"), other, &tokio::runtime::Handle::current()),
        Err(Error::Option { .. })
    ));
    // the same batch twice, and counts that exceed the watermark: refused, not a scan with wrong totals
    // (the checkpoint above was taken at the start: its one batch, of every target, is made here)
    let steps = Permutation::new(4 * ports.len() as u64, true, Some(cp.seed)).steps();
    let whole = checkpoint::BatchMark { hosts: None, watermark: 10, steps, counts: [0, 10, 0, 0] };
    let twice = Checkpoint { batches: vec![whole.clone(), whole.clone()], ..cp.clone() };
    let inflated =
        Checkpoint { batches: vec![checkpoint::BatchMark { counts: [1, 10, 0, 0], ..whole.clone() }], ..cp.clone() };
    cfg.discovery = Some(false); // a batch of every target is a scan's without discovery
    cfg.resume = Some(Checkpoint { batches: vec![whole], ..cp.clone() });
    let h = start(targets("127.0.0.1-4"), cfg.clone(), &tokio::runtime::Handle::current()).unwrap();
    h.monitor.cancel();
    let _ = collect(h).await; // the well-formed one is accepted
    for bad in [twice, inflated] {
        cfg.resume = Some(bad);
        assert!(matches!(
            start(targets("127.0.0.1-4"), cfg.clone(), &tokio::runtime::Handle::current()),
            Err(Error::Option { .. })
        ));
    }
}
