//! The transport on the loopback of the private namespace `cargo test` runs in (as root: raw
//! sockets). It only probes listeners it creates itself.
use super::*;
use std::net::{Ipv4Addr, TcpListener};

/// One transport at a time: two on one host see each other's replies (and count them as spoofed,
/// their cookies being another scan's).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fixed(ms: u64) -> impl Rto {
    move || (Duration::from_millis(ms), true)
}

fn transport() -> Option<Transport> {
    crate::engine::tests::assert_private_namespace();
    match Transport::open(&crate::probe::origin::Origin::default()) {
        Ok(t) => Some(t),
        Err(e) => {
            // Without CAP_NET_RAW the method is refused, which the Python tests check; root must get it.
            assert_ne!(unsafe { libc::geteuid() }, 0, "root must get raw sockets: {e}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_and_closed_without_a_handshake() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(t) = transport() else { return };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let open = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    match t.attempt(open, &fixed(2000), &cancel).await {
        Attempt::Answer { state, reason, rtt } => {
            assert_eq!((state, reason), (PortState::Open, Reason::SynAck));
            assert!(rtt < Duration::from_secs(2));
        }
        other => panic!("expected open, got {other:?}"),
    }
    // The kernel reset the half-open connection: nothing ever reaches accept().
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(listener.accept().map_err(|e| e.kind()).err(), Some(std::io::ErrorKind::WouldBlock));
    drop(listener);
    match t.attempt(open, &fixed(2000), &cancel).await {
        Attempt::Answer { state, reason, .. } => assert_eq!((state, reason), (PortState::Closed, Reason::Reset)),
        other => panic!("expected closed, got {other:?}"),
    }
    assert_eq!(t.spoofed(), 0);
    assert_eq!(t.shared.waiters.len(), 0, "every waiter is gone once answered");
    t.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replies_are_dropped_and_counted() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(t) = transport() else { return };
    let cancel = CancellationToken::new();
    // A SYN-ACK and a RST to our first source port with a wrong ack, from a raw socket.
    let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::RAW, Some(socket2::Protocol::TCP)).unwrap();
    let lo: IpAddr = Ipv4Addr::LOCALHOST.into();
    for flags in [packet::SYN | packet::ACK, packet::RST | packet::ACK] {
        let mut seg = packet::syn(None, lo, 80, t.shared.ports.first, 1);
        seg[8..12].copy_from_slice(&12345u32.to_be_bytes());
        seg[13] = flags;
        let c = packet::tcp_checksum(lo, lo, &seg);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        raw.send_to(&seg, &SocketAddr::new(lo, 0).into()).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while t.spoofed() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(t.spoofed(), 2);
    // A try whose scan is cancelled ends at once and leaves no waiter behind.
    cancel.cancel();
    let got = t.attempt("127.0.0.1:9".parse().unwrap(), &fixed(2000), &cancel).await;
    assert!(matches!(got, Attempt::Cancelled | Attempt::Answer { .. }), "{got:?}");
    assert_eq!(t.shared.waiters.len(), 0);
    t.close();
}
