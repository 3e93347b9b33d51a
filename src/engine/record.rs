//! The one place a final port result is counted, attributed to its host, and streamed.
use super::Ctx;
use crate::result::{PortResult, PortState, Protocol, Reason};
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// Whether the host itself sent what decided this result (so it proves the host is up).
fn from_the_host(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::SynAck
            | Reason::SynAckReset
            | Reason::ConnRefused
            | Reason::Reset
            | Reason::PortUnreach
            | Reason::UdpResponse
    )
}

pub(super) async fn record(ctx: &Ctx, tx: &mpsc::Sender<PortResult>, result: PortResult) {
    let c = &ctx.counters;
    let port = Some((result.protocol, result.state));
    match result.rtt {
        Some(rtt) if from_the_host(result.reason) => {
            ctx.hosts.answered(result.host, port, result.reason, rtt, result.attempts);
            if result.protocol == Protocol::Tcp && matches!(result.state, PortState::Open | PortState::Closed) {
                ctx.hosts.pilot_candidate(result.host, result.port, result.state == PortState::Closed);
            }
        }
        _ => ctx.hosts.unanswered(result.host, result.protocol, result.state),
    }
    c.states[result.state.index()].fetch_add(1, Ordering::Relaxed);
    if result.state == PortState::Open {
        c.open.fetch_add(1, Ordering::Relaxed);
    }
    if ctx.config.keep[result.state.index()] {
        // A consumer that went away just stops receiving; the counts stay right.
        if tx.send(result).await.is_ok() {
            c.sent.fetch_add(1, Ordering::SeqCst);
        }
    }
    c.done.fetch_add(1, Ordering::Relaxed);
}
