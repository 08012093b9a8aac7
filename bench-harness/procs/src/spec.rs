//! How to start a child process.

use std::path::PathBuf;

/// A child process to start: program, arguments, and where its input and output go.
#[derive(Debug, Clone)]
pub struct Spec {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) what: String,
    pub(crate) log: Option<PathBuf>,
    pub(crate) stdin: bool,
    pub(crate) own_group: bool,
    pub(crate) env: Vec<(String, String)>,
}

impl Spec {
    /// `program`, named `what` in errors ("subscriber 2"); by default its stdout lines come
    /// back to the parent, its stderr is the parent's, and its stdin is empty.
    pub fn new(program: impl Into<PathBuf>, what: impl Into<String>) -> Spec {
        Spec {
            program: program.into(),
            args: Vec::new(),
            what: what.into(),
            log: None,
            stdin: false,
            own_group: false,
            env: Vec::new(),
        }
    }

    /// Its arguments, after any given before.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Spec {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Its stdout and stderr go to this file (created afresh), not back to the parent.
    pub fn log(mut self, path: impl Into<PathBuf>) -> Spec {
        self.log = Some(path.into());
        self
    }

    /// Its stdin is a pipe from the parent ([`crate::Proc::say`]).
    pub fn talk(mut self) -> Spec {
        self.stdin = true;
        self
    }

    /// It leads its own process group: signals reach the processes it starts too.
    pub fn own_group(mut self) -> Spec {
        self.own_group = true;
        self
    }

    /// An environment variable of its own.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Spec {
        self.env.push((key.into(), value.into()));
        self
    }
}
