//! The Python face of the engine: owned inputs in, owned outputs out, nothing else.
mod errors;
mod runtime;
mod scan;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::scan::{parse_ports, service_name, start_scan, start_scan_async, top_ports, CoreScan, ScanRequest};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("MAX_SECONDS", super::scan::MAX_SECONDS)?;
        m.add("MAX_RETRIES", super::scan::MAX_RETRIES)
    }
}
