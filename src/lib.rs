pub mod engine;
pub mod error;
pub mod files;
pub mod ports;
pub mod probe;
pub mod result;
pub mod services;
pub mod targets;

#[cfg(feature = "python")]
mod bindings;

pub use error::{Error, Result};
