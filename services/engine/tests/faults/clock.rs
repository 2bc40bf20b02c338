//! The engine's clock as the harness moves it (RELIABILITY F6), and the
//! campaign's day boundary it is moved across.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use test_kit::harness::{DAY, HOUR};

/// Asia/Shanghai, the campaign's zone, is UTC+8 all year.
const SHANGHAI_OFFSET_MS: i64 = 8 * HOUR;

/// The engine's clock as the harness moves it: wall time plus an offset
/// written (atomically, by rename) to the file the engine follows.
#[derive(Clone)]
pub(crate) struct EngineClock {
    offset_ms: Arc<AtomicI64>,
    file: PathBuf,
}

impl EngineClock {
    pub(crate) fn new(file: PathBuf) -> Self {
        let c = Self {
            offset_ms: Arc::default(),
            file,
        };
        c.shift(0);
        c
    }

    pub(crate) fn now(&self) -> i64 {
        wall_ms() + self.offset_ms.load(Ordering::SeqCst)
    }

    pub(crate) fn shift(&self, by_ms: i64) {
        let off = self.offset_ms.fetch_add(by_ms, Ordering::SeqCst) + by_ms;
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, off.to_string()).expect("write clock offset");
        std::fs::rename(&tmp, &self.file).expect("move clock offset");
        // The engine re-reads the file every 10 ms.
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64
}

/// The first instant of the next campaign day after `t` (Asia/Shanghai).
pub(crate) fn next_local_midnight(t: i64) -> i64 {
    ((t + SHANGHAI_OFFSET_MS) / DAY + 1) * DAY - SHANGHAI_OFFSET_MS
}
