//! The code pool's PostgreSQL-only statement: concurrent deliveries skip
//! the codes other transactions hold instead of waiting for them (SQLite's
//! one writer serialises them, so `pool.rs` reads without a lock there).

use super::pool::sql_next_free_code;

/// `sql_next_free_code!` with the row locked, skipping locked rows.
pub(super) const NEXT_FREE_CODE: &str = concat!(sql_next_free_code!(), " FOR UPDATE SKIP LOCKED");
