//! The state file: which campaign a campaign file created, per engine.
//!
//! `wheel.toml` keeps its state in `wheel.state.toml` beside it: one entry
//! per (endpoint, key) with the campaign id. It is written right after
//! `CreateWheel` answers and read by every later command, so the file
//! itself stays exactly as its author wrote it and one file can be applied
//! to several engines (staging, production). If the state is lost between
//! `CreateWheel` and the write, the next `apply` sends the same
//! `CreateWheel` again with the same idempotency key (derived from `key`)
//! and the engine answers with the campaign it created the first time.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CtlError;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub endpoint: String,
    pub key: String,
    pub campaign_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    #[serde(default)]
    campaigns: Vec<Entry>,
}

/// `dir/wheel.toml` -> `dir/wheel.state.toml`.
pub fn path_for(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!("{stem}.state.toml"))
}

fn read(path: &Path) -> Result<Vec<Entry>, CtlError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str::<StateFile>(&text)
            .map(|s| s.campaigns)
            .map_err(|e| CtlError::State(format!("{}: {}", path.display(), e.to_string().trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CtlError::io(format!("read {}", path.display()))(e)),
    }
}

/// The campaign `key` created on `endpoint`, if any.
pub fn lookup(file: &Path, endpoint: &str, key: &str) -> Result<Option<String>, CtlError> {
    Ok(read(&path_for(file))?
        .into_iter()
        .find(|e| e.endpoint == endpoint && e.key == key)
        .map(|e| e.campaign_id))
}

/// TOML basic string (the values here are URLs, keys and UUIDs).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Records that `key` on `endpoint` is `campaign_id` (replacing an older
/// entry), written to a temporary file and renamed over the old one.
pub fn record(file: &Path, endpoint: &str, key: &str, campaign_id: &str) -> Result<(), CtlError> {
    let path = path_for(file);
    let mut entries = read(&path)?;
    entries.retain(|e| !(e.endpoint == endpoint && e.key == key));
    entries.push(Entry {
        endpoint: endpoint.to_owned(),
        key: key.to_owned(),
        campaign_id: campaign_id.to_owned(),
    });
    let name = file
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut text = format!(
        "# Written by `campaignctl apply {name}`: the campaign that file created on each engine.\n\
         # Keep it with the file (commit it); delete an entry to create that campaign anew.\n"
    );
    for e in &entries {
        text.push_str(&format!(
            "\n[[campaigns]]\nendpoint = {}\nkey = {}\ncampaign_id = {}\n",
            quoted(&e.endpoint),
            quoted(&e.key),
            quoted(&e.campaign_id)
        ));
    }
    // A name of its own, so runs racing on one file never share it.
    let tmp = path.with_extension(format!("toml.{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, text).map_err(CtlError::io(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(CtlError::io(format!("write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_per_endpoint_and_key() {
        let dir = std::env::temp_dir().join(format!("ctl-state-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("wheel.toml");
        assert_eq!(path_for(&file), dir.join("wheel.state.toml"));
        assert_eq!(lookup(&file, "http://a", "k").expect("read"), None);
        record(&file, "http://a", "k", "id-1").expect("write");
        record(&file, "http://b", "k", "id-2").expect("write");
        record(&file, "http://a", "k", "id-3").expect("write");
        assert_eq!(
            lookup(&file, "http://a", "k").expect("read").as_deref(),
            Some("id-3")
        );
        assert_eq!(
            lookup(&file, "http://b", "k").expect("read").as_deref(),
            Some("id-2")
        );
        assert_eq!(lookup(&file, "http://b", "other").expect("read"), None);
        std::fs::write(path_for(&file), "campaigns = 3").expect("write");
        assert!(
            lookup(&file, "http://a", "k").is_err(),
            "a broken state file is an error"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
