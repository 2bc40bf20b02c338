//! The seal key's file (`seal_key_file`, default `.campaign/seal.key`):
//! 64 hex digits, readable by its owner only, kept outside the database so
//! that a copy of the database alone (a backup, a stolen file) holds no
//! usable gateway secret. Mount the same file on every replica (a
//! Kubernetes secret); keep it backed up apart from the database, which
//! is unreadable in part without it.
//!
//! A missing file is created with a new random key (written to
//! `<file>.tmp`, synced, then renamed, so a crash leaves either no key or
//! a whole one). The database remembers which key sealed it
//! (`access::seal`): a start with a different or a new key on a database
//! sealed with another is refused there, before anything is served.

use std::path::{Path, PathBuf};

use rand::RngCore;

use super::bootstrap_key;
use crate::domain::seal::{KEY_LEN, SealError, SealKey};

#[derive(Debug, thiserror::Error)]
pub enum SealKeyError {
    #[error("seal key file {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("seal key file {0}: {1}")]
    Bad(PathBuf, SealError),
}

/// The key in `path`, made now if the file does not exist (`true`).
pub fn load_or_create(path: &Path) -> Result<(SealKey, bool), SealKeyError> {
    let io = |e| SealKeyError::Io(path.to_path_buf(), e);
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key =
                SealKey::parse(&text).map_err(|e| SealKeyError::Bad(path.to_path_buf(), e))?;
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut raw = [0u8; KEY_LEN];
            rand::rng().fill_bytes(&mut raw);
            let key = SealKey::from_bytes(raw);
            write_new(path, &key).map_err(io)?;
            Ok((key, true))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes `key` to `<path>.tmp` (0600, synced) and renames it to `path`,
/// as the first admin key is written (`bootstrap_key`).
fn write_new(path: &Path, key: &SealKey) -> std::io::Result<()> {
    bootstrap_key::write_pending(path, &key.to_text())?;
    bootstrap_key::publish(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_made_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("seal-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("keys").join("seal.key");
        let (made, created) = load_or_create(&path).expect("made");
        assert!(created);
        let (read, created) = load_or_create(&path).expect("read");
        assert!(!created);
        assert_eq!(made.to_text(), read.to_text());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.join("keys")), 0o700);
        }
        std::fs::write(&path, "not a key").expect("overwrite");
        assert!(matches!(
            load_or_create(&path),
            Err(SealKeyError::Bad(_, SealError::BadKey))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
