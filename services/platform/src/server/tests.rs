//! The assembly with no module and with a pair: an older settings file is
//! read, its moved keys warned about once, and two modules compose in
//! order.

use std::sync::{Arc, Mutex};

use tracing::instrument::WithSubscriber;

use super::*;
use crate::clock::ManualClock;

/// Every log line, for the assertions.
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

impl Capture {
    fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A module that serves `0` and reads section `0`.
struct Named(&'static str);

impl Module for Named {
    fn sections(&self) -> Vec<&'static str> {
        vec![self.0]
    }

    fn install<D: Db>(self, _: &ModuleContext<'_, D>, _: &mut RoutesBuilder) -> Installed {
        Installed {
            serving: vec![self.0],
            ..Installed::default()
        }
    }
}

#[test]
fn two_modules_compose_in_order() {
    let pair = (Named("campaign"), Named("coupon"));
    assert_eq!(pair.sections(), ["campaign", "coupon"]);
    let both = Installed {
        serving: vec!["a"],
        descriptor_sets: vec![&b"x"[..]],
        ..Installed::default()
    }
    .and(Installed {
        serving: vec!["b"],
        descriptor_sets: vec![&b"x"[..]],
        ..Installed::default()
    });
    assert_eq!(both.serving, ["a", "b"]);
    // The same descriptor set from two modules counts once, before health's.
    let sets = served_descriptor_sets(both.descriptor_sets);
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0], &b"x"[..]);
}

#[tokio::test]
async fn an_older_file_starts_and_its_moved_keys_are_warned_about_once() {
    // Arrange: a file from before the services had their sections.
    let dir = std::env::temp_dir().join(format!("platform-server-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let old = "coupon_endpoint = \"none\"\ntill_failure_limit = 3\nplayer_rate_per_sec = 0\n";
    let mut settings = Settings::from_toml(old).expect("an older file parses");
    settings.database_url = format!("sqlite:{}", dir.join("t.db").display());
    settings.bootstrap_key_file = dir.join("admin.key");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();

    // Act: the campaign's module alone, stopped at once.
    let clock = Arc::new(ManualClock::new(1_795_665_600_000));
    let run = run_with(settings, listener, async {}, clock, Named("campaign"));
    let result = run.with_subscriber(subscriber).await;

    // Assert: it served; one warning names both keys; [coupon], which
    // nobody here reads, is logged as such.
    let text = logs.text();
    assert!(result.is_ok(), "{result:?}\n{text}");
    assert_eq!(
        text.matches("belong to a service's section now").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("coupon_endpoint -> [campaign], till_failure_limit -> [coupon]"),
        "{text}"
    );
    let not_read: Vec<_> = text
        .lines()
        .filter(|l| l.contains("settings section not read by this process"))
        .collect();
    assert!(
        not_read.len() == 1 && not_read[0].contains("section=coupon"),
        "{text}"
    );
    assert!(text.contains("campaign engine serving"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
