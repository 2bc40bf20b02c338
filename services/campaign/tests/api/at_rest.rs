//! Secrets at rest (issue 22): the SQLite database and its WAL and
//! shared-memory files are readable by their owner only, whatever the
//! umask, and an existing file that others could read is tightened.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::*;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".db") || name.ends_with("-wal") || name.ends_with("-shm")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_files_are_the_owners_alone() {
    let app = spawn_app(Backend::Sqlite).await;
    // Something is written, so the WAL exists.
    app.wheel(rules(1, 1), vec![thanks(1)], 0, true).await;
    let found = files(&app.db.dir);
    assert!(found.len() >= 2, "database and WAL expected: {found:?}");
    for f in &found {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // A file others can read is tightened on the next start.
    let db = found
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("the database")
        .clone();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut app = app;
    app.crash_and_restart().await;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(
        mode(&wal),
        0o600,
        "a WAL others could read is tightened too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_made_for_the_database_are_the_owners_alone() {
    // Arrange: a database path two directories below one that exists.
    let db = TestDb::new(Backend::Sqlite).await;
    let top = db.dir.join("state");
    let url = format!(
        "sqlite:{}",
        top.join("engine").join("campaign.db").display()
    );

    // Act: the engine starts on it and writes.
    let app = spawn_app_with(Backend::Sqlite, |s| s.database_url = url).await;
    app.wheel(rules(1, 1), vec![thanks(1)], 0, true).await;

    // Assert: both directories it made are 0700, the files 0600.
    assert_eq!(mode(&top), 0o700);
    assert_eq!(mode(&top.join("engine")), 0o700);
    for f in files(&top.join("engine")) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    app.stop().await;
}
