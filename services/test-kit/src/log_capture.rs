//! Captures every log line of every crate at TRACE level, for the suites
//! that prove secrets never reach the logs (`tests/logs.rs` of the campaign
//! and the coupon crates).

use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Capture::default();
        let writer = c.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        c
    })
}

/// Installs the capturing subscriber (once per test binary).
pub fn start() {
    capture();
}

/// Everything logged so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&capture().0.lock().expect("lock")).into_owned()
}
