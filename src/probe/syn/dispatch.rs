//! Tries waiting for their reply, by (target, target port, our port): a sharded map of oneshot
//! senders, so that the receiver thread and thousands of tries rarely meet on one lock.
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::oneshot;

/// (target, target port, our source port): unique among tries in flight, as each try takes the
/// next source port of the range (see `Transport::attempt`).
pub type Key = (IpAddr, u16, u16);

/// What came back for a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    SynAck(Instant),
    Rst(Instant),
    /// ICMP destination unreachable quoting the probe (type, code).
    Icmp(u8, u8, Instant),
    /// The local kernel refused to send it (errno).
    Local(i32),
}

const SHARDS: usize = 64;

pub struct Waiters {
    shards: Vec<Mutex<HashMap<Key, oneshot::Sender<Reply>>>>,
    hash: RandomState,
}

impl Default for Waiters {
    fn default() -> Self {
        Waiters { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hash: RandomState::new() }
    }
}

impl Waiters {
    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, HashMap<Key, oneshot::Sender<Reply>>> {
        let i = self.hash.hash_one(key) as usize % SHARDS;
        // A poisoned shard only means a panic elsewhere while it was held; the map is still whole.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, key: Key, tx: oneshot::Sender<Reply>) {
        self.shard(&key).insert(key, tx);
    }

    pub fn remove(&self, key: &Key) {
        self.shard(key).remove(key);
    }

    /// Hand `reply` to the try waiting for `key`; false when none waits (it gave up, or was answered).
    pub fn wake(&self, key: &Key, reply: Reply) -> bool {
        let tx = self.shard(key).remove(key);
        tx.is_some_and(|tx| tx.send(reply).is_ok())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}
