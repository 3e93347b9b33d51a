//! One tokio runtime for the process, and the one way to wait on it from Python.
use pyo3::prelude::*;
use std::future::Future;
use std::time::Duration;

/// How often a blocked call wakes to let Python handle Ctrl-C.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

pub fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Run `fut` to completion without holding the GIL. Every few milliseconds Python's signal
/// handlers run; a KeyboardInterrupt drops the future (which must therefore be cancel-safe) and
/// propagates. Works from a thread that runs an asyncio loop (a Jupyter cell): this is not a
/// tokio thread.
pub fn block_on<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime();
    let mut fut = std::pin::pin!(fut);
    loop {
        let slice = py.detach(|| rt.block_on(async { tokio::time::timeout(SIGNAL_SLICE, fut.as_mut()).await.ok() }));
        match slice {
            Some(out) => return Ok(out),
            None => py.check_signals()?,
        }
    }
}
