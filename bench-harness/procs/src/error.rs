//! What went wrong with a child process, naming it.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A child that could not start, get ready, be told something or report.
#[derive(Debug)]
pub enum Error {
    /// Its log file could not be created.
    Log { path: PathBuf, source: std::io::Error },
    /// It could not be started.
    Start { what: String, source: std::io::Error },
    /// No `ready` line within the timeout.
    NotReady { what: String, timeout: Duration },
    /// Its output ended before a `ready` line.
    ExitedBeforeReady { what: String },
    /// Its stdin could not take a word.
    Say { what: String, word: String, source: std::io::Error },
    /// Stopped at its deadline.
    Killed { what: String },
    /// Exited without a JSON summary.
    NoSummary { what: String, status: ExitStatus },
    /// Exited unsuccessfully (with a summary).
    Failed { what: String, status: ExitStatus },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Log { path, .. } => write!(f, "creating {}", path.display()),
            Error::Start { what, .. } => write!(f, "starting {what}"),
            Error::NotReady { what, timeout } => write!(f, "{what} was not ready within {timeout:?}"),
            Error::ExitedBeforeReady { what } => write!(f, "{what} exited before it was ready"),
            Error::Say { what, word, .. } => write!(f, "telling {what} to {word}"),
            Error::Killed { what } => write!(f, "{what} did not finish in time (killed)"),
            Error::NoSummary { what, status } => {
                write!(f, "{what} exited with {status} and printed no summary")
            }
            Error::Failed { what, status } => write!(f, "{what} exited with {status}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Log { source, .. } | Error::Start { source, .. } | Error::Say { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}
