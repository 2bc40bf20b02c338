//! Bytes of database per draw (issue 22): the size of every table and
//! index before and after a run, read from the database itself.
//!
//! - SQLite: the WAL is checkpointed into the file first (`TRUNCATE`), then
//!   `dbstat` gives each table's and index's pages (`pgsize`, free space
//!   included, as it is on disk); the file's size is the total.
//! - PostgreSQL: `pg_total_relation_size` of each table (its indexes and
//!   TOAST included) and `pg_relation_size` of each index.

use std::collections::BTreeMap;

use sqlx::{Connection, Row};

/// Bytes by table or index name, and `"(file)"` / `"(database)"` for the
/// whole.
pub type Sizes = BTreeMap<String, i64>;

pub async fn measure(url: &str) -> anyhow::Result<Sizes> {
    let mut sizes = Sizes::new();
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        for row in sqlx::query("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
            .fetch_all(&mut conn)
            .await?
        {
            sizes.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let file = url.trim_start_matches("sqlite:");
        let file = file.split('?').next().unwrap_or(file);
        sizes.insert("(file)".into(), std::fs::metadata(file)?.len() as i64);
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for row in sqlx::query(
            "SELECT c.relname::text, CASE WHEN c.relkind = 'r' \
             THEN pg_total_relation_size(c.oid) ELSE pg_relation_size(c.oid) END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')",
        )
        .fetch_all(&mut conn)
        .await?
        {
            sizes.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let total: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&mut conn)
            .await?;
        sizes.insert("(database)".into(), total);
    }
    Ok(sizes)
}

/// Prints the growth per draw of each table and index that grew, largest
/// first, and of the whole.
pub fn report(before: &Sizes, after: &Sizes, draws: usize, per_player: u64) {
    if draws == 0 {
        return;
    }
    let mut grown: Vec<(i64, &str)> = after
        .iter()
        .map(|(name, b)| (b - before.get(name).copied().unwrap_or(0), name.as_str()))
        .filter(|(d, _)| *d > 0)
        .collect();
    grown.sort_unstable_by(|a, b| b.cmp(a));
    println!("bytes of database per draw ({draws} draws, {per_player} per player):");
    for (delta, name) in grown {
        println!("  {name:<40} {:>9.1}", delta as f64 / draws as f64);
    }
}
