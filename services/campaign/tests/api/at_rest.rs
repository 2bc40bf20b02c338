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
    let mut app = app;
    app.crash_and_restart().await;
    assert_eq!(mode(&db), 0o600);
}
