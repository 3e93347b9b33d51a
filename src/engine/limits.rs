//! What the machine can hold: file descriptors, an adaptive concurrency limit, an optional rate.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// File descriptors kept free for the host process (Python, its files, the runtime itself).
pub const FD_RESERVE: u64 = 48;

/// Raise the soft RLIMIT_NOFILE to the hard one; returns the soft limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 256;
        }
        let want = lim.rlim_max.min(1 << 20);
        if lim.rlim_cur < want {
            let raised = libc::rlimit { rlim_cur: want, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = want;
            }
        }
    }
    lim.rlim_cur
}

/// Concurrency the fd limit allows, capped by what the user asked for.
pub fn concurrency_for(fd_limit: u64, wanted: usize) -> usize {
    let by_fds = fd_limit.saturating_sub(FD_RESERVE).max(1);
    (wanted as u64).min(by_fds).max(1) as usize
}

/// A semaphore whose size adapts: each time the kernel refuses a socket the slot that hit it is
/// given up (multiplicative decrease, since every probe in flight hits it at once), and slots come
/// back one at a time after runs of successful probes (additive increase).
#[derive(Debug)]
pub struct Limiter {
    sem: Arc<Semaphore>,
    max: usize,
    capacity: AtomicUsize,
    successes: AtomicU64,
}

impl Limiter {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Limiter {
            sem: Arc::new(Semaphore::new(max)),
            max,
            capacity: AtomicUsize::new(max),
            successes: AtomicU64::new(0),
        }
    }

    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        // The semaphore is never closed, so acquire cannot fail.
        Arc::clone(&self.sem).acquire_owned().await.expect("limiter semaphore is never closed")
    }

    /// Several slots at once (never more than the current capacity), released together.
    pub async fn acquire_many(&self, n: u32) -> OwnedSemaphorePermit {
        let n = n.min(self.capacity() as u32).max(1);
        Arc::clone(&self.sem).acquire_many_owned(n).await.expect("limiter semaphore is never closed")
    }

    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// The kernel refused a resource while this permit was held: retire the slot (keeping one).
    pub fn shrink(&self, permit: OwnedSemaphorePermit) {
        let shrunk =
            self.capacity.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| (c > 1).then(|| c - 1)).is_ok();
        if shrunk {
            permit.forget();
        }
        self.successes.store(0, Ordering::Relaxed);
    }

    /// A probe finished without a resource error.
    pub fn success(&self) {
        let cap = self.capacity.load(Ordering::Relaxed);
        if cap >= self.max {
            return;
        }
        let n = self.successes.fetch_add(1, Ordering::Relaxed) + 1;
        // Grow by one slot per `cap / 16` successes: back to full size in a few round trips.
        if n >= (cap as u64 / 16).max(1)
            && self.capacity.compare_exchange(cap, cap + 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            self.successes.store(0, Ordering::Relaxed);
            self.sem.add_permits(1);
        }
    }
}

/// The shortest wait after the kernel refused a resource (EMFILE, ENFILE, ENOBUFS, ...).
/// Sockets come free as probes in flight finish, which on a LAN takes milliseconds: a longer
/// wait would idle a starved probe well after its slot came back.
const BACK_OFF_MIN: Duration = Duration::from_millis(5);
/// Random milliseconds added to [`BACK_OFF_MIN`] (0 to 19): every probe in flight meets the
/// shortage at once, and spreading their retries over 20 ms keeps them from all hitting it again
/// at the same instant.
const BACK_OFF_JITTER_MS: u8 = 20;

/// What a probe that met a resource shortage does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Starved {
    /// It waited a little: try again.
    Retry,
    /// The scan was cancelled during the wait.
    Cancelled,
    /// The shortage has lasted past [`super::RESOURCE_PATIENCE`] since `since` was set.
    OutOfPatience,
}

/// How often a running scan gives glibc's free heap pages back to the kernel (see `trim_heap`).
pub const TRIM_EVERY: Duration = Duration::from_millis(500);

/// Until `stop`, every `TRIM_EVERY`: hand glibc's free pages back to the kernel. Probes allocate
/// and free millions of small blocks across the runtime's threads; glibc returns only the top of
/// each heap by itself, so without this a /16's RSS grows by tens of megabytes of pages that are
/// free but kept (`malloc_trim` releases every free page, and touches no live allocation).
pub(super) async fn trim_heap(stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(TRIM_EVERY) => {}
        }
        trim();
    }
}

/// Free heap pages back to the kernel now (glibc only; elsewhere nothing to do).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The one back-off of the engine after the kernel refused a resource: counts the wait in
/// `waits`, gives up once the shortage has lasted [`super::RESOURCE_PATIENCE`] (`since` holds
/// when it began; the caller keeps it across tries), else sleeps 5-24 ms unless `cancel` fires.
pub(super) async fn back_off(waits: &AtomicU64, cancel: &CancellationToken, since: &mut Option<Instant>) -> Starved {
    waits.fetch_add(1, Ordering::Relaxed);
    if since.get_or_insert_with(Instant::now).elapsed() > super::RESOURCE_PATIENCE {
        return Starved::OutOfPatience;
    }
    let jitter = Duration::from_millis(u64::from(rand::random::<u8>() % BACK_OFF_JITTER_MS));
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Starved::Cancelled,
        _ = tokio::time::sleep(BACK_OFF_MIN + jitter) => Starved::Retry,
    }
}

/// The next send slot of a paced stream whose following slot is `next`, and advance it. Unused
/// time is not banked beyond one interval: no burst after a pause.
pub fn next_slot(next: &mut Instant, now: Instant, interval: Duration) -> Instant {
    let at = (*next).max(now.checked_sub(interval).unwrap_or(now));
    *next = at + interval;
    at
}

/// Spaces probe starts evenly to keep an average rate (probes per second).
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    pub fn new(rate: f64) -> Self {
        Pacer { interval: Duration::from_secs_f64(1.0 / rate), next: Mutex::new(Instant::now()) }
    }

    pub async fn wait(&self) {
        let at = next_slot(&mut self.next.lock().unwrap_or_else(|e| e.into_inner()), Instant::now(), self.interval);
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_limit_is_raised_to_the_hard_limit() {
        let soft = raise_fd_limit();
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        assert_eq!(soft, lim.rlim_cur);
        assert_eq!(lim.rlim_cur, lim.rlim_max.min(1 << 20));
    }

    #[test]
    fn concurrency_respects_fds() {
        assert_eq!(concurrency_for(256, 10_000), 256 - FD_RESERVE as usize);
        assert_eq!(concurrency_for(1_000_000, 5000), 5000);
        assert_eq!(concurrency_for(10, 5000), 1);
    }

    #[tokio::test]
    async fn limiter_shrinks_and_grows_back() {
        let l = Limiter::new(64);
        let p = l.acquire().await;
        l.shrink(p);
        assert_eq!(l.capacity(), 63);
        for _ in 0..10_000 {
            l.success();
        }
        assert_eq!(l.capacity(), 64);
        // never below one slot
        let tiny = Limiter::new(1);
        let p = tiny.acquire().await;
        tiny.shrink(p);
        assert_eq!(tiny.capacity(), 1);
        let _again = tiny.acquire().await;
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_keeps_the_rate() {
        let pacer = Pacer::new(100.0);
        let start = Instant::now();
        for _ in 0..50 {
            pacer.wait().await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(480), "{took:?}");
        assert!(took <= Duration::from_millis(520), "{took:?}");
    }
    #[tokio::test(start_paused = true)]
    async fn back_off_waits_a_little_and_counts() {
        let (waits, cancel, mut since) = (AtomicU64::new(0), CancellationToken::new(), None);
        let start = Instant::now();
        assert_eq!(back_off(&waits, &cancel, &mut since).await, Starved::Retry);
        let took = start.elapsed();
        assert!(took >= BACK_OFF_MIN, "{took:?}");
        assert!(took < BACK_OFF_MIN + Duration::from_millis(BACK_OFF_JITTER_MS.into()), "{took:?}");
        assert_eq!(since, Some(start));
        assert_eq!(back_off(&waits, &cancel, &mut since).await, Starved::Retry);
        assert_eq!(since, Some(start), "the shortage began at the first refusal");
        assert_eq!(waits.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn back_off_honours_cancellation() {
        let (waits, cancel, mut since) = (AtomicU64::new(0), CancellationToken::new(), None);
        cancel.cancel();
        let start = Instant::now();
        assert_eq!(back_off(&waits, &cancel, &mut since).await, Starved::Cancelled);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(waits.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn back_off_gives_up_after_patience() {
        let (waits, cancel) = (AtomicU64::new(0), CancellationToken::new());
        let mut since = Some(Instant::now());
        tokio::time::advance(super::super::RESOURCE_PATIENCE + Duration::from_millis(1)).await;
        assert_eq!(back_off(&waits, &cancel, &mut since).await, Starved::OutOfPatience);
        assert_eq!(waits.load(Ordering::Relaxed), 1);
    }
}
