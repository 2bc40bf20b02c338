//! Every way a command fails, and the exit code each one gives: 1 (a
//! command line that does not parse exits 1 too, in `args`, before any of
//! this);
//! and how a command that succeeded ends: 0, or 2 for `apply --dry-run`
//! with changes pending.

use crate::{plan::PlanError, spec::SpecError};

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{file}: {source}")]
    Plan { file: String, source: PlanError },
    /// The engine refused a call; `what` says which (and, for a prize, which
    /// field of the file).
    #[error("{what}: {code:?}: {message}")]
    Rpc {
        what: String,
        code: tonic::Code,
        message: String,
    },
    #[error("cannot connect to {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("{0}")]
    Credential(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "{file}: the live campaign differs from the file (above); run again with --yes to apply it"
    )]
    NotConfirmed { file: String },
    #[error("{0}")]
    State(String),
    /// An input file campaignctl reads (not a campaign file) is malformed.
    #[error("{0}")]
    Input(String),
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        1
    }

    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// How a command that succeeded ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or nothing to do (exit 0).
    Done,
    /// `apply --dry-run` found changes to make (exit 2, as terraform's
    /// `plan -detailed-exitcode`).
    ChangesPending,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Done => 0,
            Self::ChangesPending => 2,
        }
    }
}
