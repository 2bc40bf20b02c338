//! Logging: structured `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`). Spans carry the RPC name, campaign id and outcome;
//! secrets (roll secrets, API keys, tokens) are never recorded.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber once; later calls are no-ops.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
