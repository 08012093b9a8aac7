//! Why a node could not start or serve a request.

use crate::config::ConfigError;
use thiserror::Error;

/// Why a node could not start or serve a request.
#[derive(Debug, Error)]
pub enum Error {
    /// The membership file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Settings that do not fit together.
    #[error("{0}")]
    Invalid(String),
    /// The runtime.
    #[error(transparent)]
    Runtime(#[from] argent_runtime::RuntimeError),
    /// A group that is not in the membership file.
    #[error("no group named {0:?} in the membership file")]
    UnknownGroup(String),
}
