//! The writer's group commit: all-or-nothing inside a shared batch,
//! closing, cancelled waiters, batches that keep nothing.

use std::sync::Arc;

use super::super::{
    db::{Db, DbRow, DbTx, args},
    sqlite::SqliteDb,
};
use super::StoreError;

async fn db() -> SqliteDb {
    let dir = std::env::temp_dir().join(format!("writer-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = SqliteDb::connect(&format!("sqlite:{}", dir.join("w.db").display()))
        .await
        .expect("open");
    let mut tx = db.begin_write().await.expect("begin");
    tx.execute(
        "CREATE TABLE unit (n INTEGER PRIMARY KEY, stock INTEGER NOT NULL CHECK (stock >= 0))",
        args![],
    )
    .await
    .expect("create");
    tx.execute("INSERT INTO unit (n, stock) VALUES (0, 100)", args![])
        .await
        .expect("seed");
    tx.commit().await.expect("commit");
    db
}

async fn count(db: &SqliteDb) -> (i64, i64) {
    let mut tx = db.begin_read().await.expect("read");
    let rows = tx
        .fetch_all("SELECT n, stock FROM unit ORDER BY n", args![])
        .await
        .expect("rows");
    let stock = rows.first().map(|r| r.int(1).expect("stock")).unwrap_or(-1);
    (rows.len() as i64 - 1, stock)
}

/// Writers race in one batch; every other one fails halfway (a CHECK
/// violation after an insert) or rolls back on purpose. Exactly the
/// committed ones are visible, each whole, and nobody is left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_write_is_all_or_nothing_inside_a_shared_batch() {
    let db = db().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 1..=300i64 {
        let db = db.clone();
        set.spawn(async move {
            let mut tx = db.begin_write().await?;
            tx.execute("INSERT INTO unit (n, stock) VALUES ($1, 0)", args![i])
                .await?;
            match i % 3 {
                // A guarded decrement that takes 1 while stock lasts.
                0 => {
                    let n = tx
                        .execute(
                            "UPDATE unit SET stock = stock - 1 WHERE n = 0 AND stock > 0",
                            args![],
                        )
                        .await?;
                    if n == 0 {
                        return Ok::<_, StoreError>(false);
                    }
                    tx.commit().await?;
                    Ok(true)
                }
                // Fails on the CHECK: the insert above must vanish too.
                1 => {
                    tx.execute("UPDATE unit SET stock = -1 WHERE n = $1", args![i])
                        .await?;
                    Ok(true)
                }
                // Dropped without commit.
                _ => Ok(false),
            }
        });
    }
    let mut committed = 0;
    while let Some(r) = set.join_next().await {
        if let Ok(Ok(true)) = r {
            committed += 1;
        }
    }
    assert_eq!(committed, 100, "every third writer commits");
    assert_eq!(count(&db).await, (100, 0), "100 rows, 100 units taken");
    db.close().await;
}

/// A write transaction dropped alone ends its batch without a commit:
/// the group commit counters count only batches that kept something.
#[tokio::test]
async fn a_batch_that_kept_nothing_is_not_a_commit() {
    let db = db().await;
    let before = db.counters();
    for _ in 0..3 {
        let mut tx = db.begin_write().await.expect("begin");
        tx.execute("INSERT INTO unit (n, stock) VALUES (7, 0)", args![])
            .await
            .expect("insert");
        drop(tx);
    }
    assert_eq!(db.counters(), before, "nothing kept, nothing counted");
    assert_eq!(count(&db).await, (0, 100), "the inserts are gone");
    let mut tx = db.begin_write().await.expect("begin");
    tx.execute("INSERT INTO unit (n, stock) VALUES (8, 0)", args![])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(count(&db).await, (1, 100));
    let after = db.counters();
    assert_eq!(after[0].1, before[0].1 + 1, "one batch: {after:?}");
    assert_eq!(after[1].1, before[1].1 + 1, "carrying one write: {after:?}");
    db.close().await;
}

/// After `close` the raw handle is gone: a late writer (a background
/// task not yet stopped) is refused instead of touching it.
#[tokio::test]
async fn a_closed_writer_refuses_new_transactions() {
    let db = db().await;
    db.close().await;
    assert!(matches!(
        db.begin_write().await,
        Err(StoreError::Unavailable(_))
    ));
    db.close().await;
}

/// Queued writers that are cancelled before they get the connection do
/// not leave the batch (and the writers waiting on it) hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_queued_writers_do_not_strand_a_batch() {
    let db = Arc::new(db().await);
    for round in 0..50i64 {
        let holder = db.begin_write().await.expect("begin");
        // Queue writers, then cancel them all while the holder works.
        let queued: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { db.begin_write().await.map(drop) })
            })
            .collect();
        tokio::task::yield_now().await;
        let mut holder = holder;
        holder
            .execute(
                "INSERT INTO unit (n, stock) VALUES ($1, 0)",
                args![1000 + round],
            )
            .await
            .expect("insert");
        for q in &queued {
            q.abort();
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), holder.commit())
            .await
            .expect("the commit must not hang")
            .expect("commit");
    }
    assert_eq!(count(&db).await.0, 50);
}
