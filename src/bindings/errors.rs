//! The one place engine errors become Python exceptions (classes live in portlens/exceptions.py).
use crate::Error;
use pyo3::PyErr;

pyo3::import_exception!(portlens.exceptions, TargetError);
pyo3::import_exception!(portlens.exceptions, TargetTooLargeError);
pyo3::import_exception!(portlens.exceptions, ResolveError);
pyo3::import_exception!(portlens.exceptions, ScopeError);
pyo3::import_exception!(portlens.exceptions, PortSpecError);
pyo3::import_exception!(portlens.exceptions, OptionError);
pyo3::import_exception!(portlens.exceptions, ScanError);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        PyErr::from(&err)
    }
}

impl From<&Error> for PyErr {
    fn from(err: &Error) -> PyErr {
        let msg = err.to_string();
        let (input, item, offset) = match err.span() {
            Some(s) => (Some(s.input.clone()), Some(s.item.clone()), Some(s.offset)),
            None => (None, None, None),
        };
        match err {
            Error::Target { .. } | Error::Empty(_) => TargetError::new_err((msg, input, item, offset)),
            Error::TooLarge { .. } => TargetTooLargeError::new_err((msg, input, item, offset)),
            Error::Resolve { host, .. } => {
                ResolveError::new_err((msg, Some(host.clone()), Some(host.clone()), None::<usize>))
            }
            Error::OutOfScope { target, .. } => {
                ScopeError::new_err((msg, None::<String>, Some(target.clone()), None::<usize>))
            }
            Error::Ports { .. } => PortSpecError::new_err((msg, input, item, offset)),
            Error::Option { name, .. } => {
                OptionError::new_err((msg, None::<String>, Some(name.clone()), None::<usize>))
            }
            _ => ScanError::new_err(msg),
        }
    }
}
