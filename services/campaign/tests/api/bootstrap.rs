//! The very first start can be interrupted anywhere without blocking the
//! next one (issue 22): a key file left by a start that crashed before its
//! transaction committed is replaced, and a key that committed but never
//! reached its file is recovered from `<file>.tmp`.

use crate::helpers::*;

both_backends!(
    a_stale_key_file_from_a_crashed_first_start_is_replaced,
    a_committed_key_that_missed_its_file_is_recovered,
);

async fn a_stale_key_file_from_a_crashed_first_start_is_replaced(backend: Backend) {
    // The file a first start wrote before it was killed, its database
    // still empty: today's main refused every later start (File exists).
    let stale = "cek_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let app = spawn_app_with(backend, |s| {
        if let Some(dir) = s.bootstrap_key_file.parent() {
            std::fs::create_dir_all(dir).expect("key dir");
        }
        std::fs::write(&s.bootstrap_key_file, format!("{stale}\n")).expect("stale file");
    })
    .await;
    assert_ne!(app.admin_key, stale);
    // The file now holds the key the database has.
    app.wheel(rules(1, 1), vec![thanks(1)], 0, true).await;
    let path = app.db.dir.join("admin.key");
    assert!(!campaign::bootstrap_key::pending_path(&path).exists());
}

async fn a_committed_key_that_missed_its_file_is_recovered(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let path = app.db.dir.join("admin.key");
    let pending = campaign::bootstrap_key::pending_path(&path);
    // A crash between the commit and the rename.
    std::fs::rename(&path, &pending).expect("move the key back");
    app.crash_and_restart().await;
    let recovered = read_key(&path).await;
    assert_eq!(recovered, app.admin_key);
    assert!(!pending.exists());
    app.wheel(rules(1, 1), vec![thanks(1)], 0, true).await;
    // A pending file that is not the stored key is discarded, and the
    // real file is left alone.
    std::fs::write(
        &pending,
        "cek_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
    )
    .expect("junk");
    std::fs::remove_file(&path).expect("remove");
    app.crash_and_restart().await;
    assert!(!pending.exists(), "a key the database never had is removed");
    assert!(!path.exists());
}
