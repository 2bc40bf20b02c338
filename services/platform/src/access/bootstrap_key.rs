//! The first admin key's file, written so that a crash at any moment of the
//! very first start leaves something the next start can recover:
//!
//! 1. inside the bootstrap transaction the key goes to `<file>.tmp` (mode
//!    0600, created or truncated, synced): a crash before the commit leaves
//!    an empty database, and the next start simply writes a new one;
//! 2. after the commit `<file>.tmp` is renamed over `<file>` (a stale
//!    `<file>` from an earlier half-done start holds a key the database
//!    never had, so it is replaced);
//! 3. a crash between the commit and the rename leaves the key in
//!    `<file>.tmp`: the next start finds the database bootstrapped and no
//!    `<file>`, checks the pending key against the stored hash, and renames
//!    it into place (or removes it if it is not the stored key).

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use super::AccessStore;
use crate::{
    domain::credential::{api_secret_matches, parse_api_key},
    store::{StoreError, db::Db},
};

/// Where the key waits until its transaction has committed.
pub fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Step 1: the key in `<file>.tmp`, readable by the owner only, on disk
/// (directories made for it are the owner's alone too). The seal key's
/// file is written the same way (`seal_key`).
pub fn write_pending(path: &Path, key: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(pending_path(path))?;
    f.write_all(format!("{key}\n").as_bytes())?;
    f.sync_all()
}

/// Step 2: `<file>.tmp` renamed over `<file>`, the directory synced.
pub fn publish(path: &Path) -> std::io::Result<()> {
    std::fs::rename(pending_path(path), path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// What a start found of an earlier start's pending key.
#[derive(Debug, PartialEq, Eq)]
pub enum Recovery {
    /// No pending key, or `<file>` is already there.
    Nothing,
    /// The pending key is the stored admin key: now at `<file>`.
    Recovered,
    /// The pending key is not a stored key: removed.
    Discarded,
}

/// Step 3, on a start that found the database already bootstrapped.
pub async fn recover<D: Db>(store: &AccessStore<D>, path: &Path) -> Result<Recovery, StoreError> {
    let pending = pending_path(path);
    if path.exists() || !pending.exists() {
        return Ok(Recovery::Nothing);
    }
    let text = std::fs::read_to_string(&pending).unwrap_or_default();
    let valid = match parse_api_key(text.trim()) {
        Some((id, secret)) => store
            .find_api_key(id)
            .await?
            .is_some_and(|k| k.revoked_at.is_none() && api_secret_matches(secret, &k.secret_hash)),
        None => false,
    };
    let io = |e: std::io::Error| StoreError::Bootstrap(format!("{}: {e}", pending.display()));
    if valid {
        publish(path).map_err(io)?;
        Ok(Recovery::Recovered)
    } else {
        std::fs::remove_file(&pending).map_err(io)?;
        Ok(Recovery::Discarded)
    }
}
