//! `campaignctl`: the command line for a merchant's admins and auditors.
//! A lucky-wheel campaign is described in one TOML file and applied to the
//! engine idempotently over gRPC (the engine's own generated client); the
//! same tool publishes, pauses, resumes and ends campaigns, shows them,
//! prints statistics by day and channel, and writes the auditor's exports.
//!
//! # Layout
//! - [`args`]: the command line (clap) and its help.
//! - [`spec`]: the campaign file: strict TOML, validated before any call,
//!   normalised into the engine's requests.
//! - [`plan`]: the comparison of a file with the live campaign: the changes
//!   (old -> new, field by field) and the calls that make them.
//! - [`state`]: which campaign a file created, per engine (`*.state.toml`).
//! - [`client`]: the channel (TLS for https://), the API key, retries of
//!   UNAVAILABLE.
//! - [`commands`]: one function per command.
//! - [`error`]: every failure and its exit code; how a success ends.

pub mod args;
pub mod client;
pub mod commands;
pub mod error;
pub mod plan;
pub mod spec;
pub mod state;

pub use error::{CtlError, Outcome};

/// Runs a parsed command line ([`args::Args::parse`]).
pub async fn run(args: args::Args) -> Result<Outcome, CtlError> {
    commands::run(args).await
}
