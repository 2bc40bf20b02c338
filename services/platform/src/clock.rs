//! The one clock authority: time windows, campaign days, daily caps and
//! claim deadlines all read "now" from here, so tests can move it.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use crate::domain::Millis;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// Wall-clock UTC time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(at: Millis) -> Self {
        Self(Arc::new(AtomicI64::new(at)))
    }
    pub fn set(&self, at: Millis) {
        self.0.store(at, Ordering::SeqCst);
    }
    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wall-clock time plus an offset that a file says, re-read every 10 ms:
/// the fault suite writes the file to jump the real engine binary's clock
/// backwards or across the campaign's midnight (RELIABILITY F6). Only
/// started when `CAMPAIGN_FAULT_CLOCK_FILE` is set; never in production.
#[derive(Debug, Clone)]
pub struct FileOffsetClock {
    offset_ms: Arc<AtomicI64>,
}

impl FileOffsetClock {
    /// Reads the offset now and keeps following the file on a background
    /// thread. A missing or unreadable file keeps the last offset (0 at
    /// first), so a half-written file never moves the clock.
    pub fn follow(path: std::path::PathBuf) -> Self {
        let offset_ms = Arc::new(AtomicI64::new(read_offset(&path).unwrap_or(0)));
        let shared = offset_ms.clone();
        std::thread::spawn(move || {
            loop {
                if let Some(off) = read_offset(&path) {
                    shared.store(off, Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        Self { offset_ms }
    }
}

/// The offset in milliseconds: one signed integer, optionally surrounded
/// by whitespace.
pub fn parse_offset(text: &str) -> Option<Millis> {
    text.trim().parse().ok()
}

fn read_offset(path: &std::path::Path) -> Option<Millis> {
    parse_offset(&std::fs::read_to_string(path).ok()?)
}

impl Clock for FileOffsetClock {
    fn now_ms(&self) -> Millis {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_signed_and_trimmed_and_refuse_garbage() {
        assert_eq!(parse_offset("-5000\n"), Some(-5000));
        assert_eq!(parse_offset(" 86400000 "), Some(86_400_000));
        assert_eq!(parse_offset(""), None);
        assert_eq!(parse_offset("12ab"), None);
    }

    #[test]
    fn the_clock_follows_the_file() {
        let path = std::env::temp_dir().join(format!("clock-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "3600000").expect("write");
        let clock = FileOffsetClock::follow(path.clone());
        let ahead = clock.now_ms() - SystemClock.now_ms();
        assert!((3_599_000..=3_600_100).contains(&ahead), "{ahead}");
        std::fs::write(&path, "-5000").expect("write");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let behind = clock.now_ms() - SystemClock.now_ms();
            if (-5_100..=-4_900).contains(&behind) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "offset not followed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = std::fs::remove_file(path);
    }
}
