//! Schema parity (issue 23): the SQLite and the PostgreSQL migrations,
//! each applied to an empty database, give the same tables with the same
//! columns (by portable type and nullability), primary keys, unique keys
//! (partial or not), foreign keys and number of CHECK constraints. Both
//! backends run one behavioural suite; this keeps them one schema, so a
//! column or guard added to one migration and forgotten in the other fails
//! here, by name, before any behaviour differs.

use std::collections::{BTreeMap, BTreeSet};

use campaign::store::{postgres::PgDb, sqlite::SqliteDb};
use sqlx::{Connection, Row};

use crate::helpers::{Backend, TestDb};

/// One table as both backends can describe it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    /// name -> (portable type, NOT NULL)
    columns: BTreeMap<String, (String, bool)>,
    primary_key: Vec<String>,
    /// (columns, partial)
    uniques: BTreeSet<(Vec<String>, bool)>,
    /// (column, referenced table, referenced column)
    foreign_keys: BTreeSet<(String, String, String)>,
    checks: usize,
}

type Schema = BTreeMap<String, Table>;

fn portable(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "text" | "character varying" | "varchar" => "text".into(),
        "integer" | "bigint" | "smallint" | "int" | "int8" | "int4" => "int".into(),
        "blob" | "bytea" => "bytes".into(),
        "boolean" | "bool" => "bool".into(),
        other => other.into(),
    }
}

/// CHECK constraints in a CREATE TABLE text (SQLite keeps the text of
/// columns added later in it).
fn count_checks(sql: &str) -> usize {
    let upper = sql.to_ascii_uppercase();
    upper
        .match_indices("CHECK")
        .filter(|(at, _)| {
            let before = upper[..*at].chars().next_back();
            let after = upper[at + 5..].trim_start().chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && after == Some('(')
        })
        .count()
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut c = sqlx::SqliteConnection::connect(url).await.expect("open");
    let tables = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut c)
    .await
    .expect("tables");
    let mut schema = Schema::new();
    for t in &tables {
        let (name, sql): (String, String) = (t.get(0), t.get(1));
        let mut table = Table {
            checks: count_checks(&sql),
            ..Table::default()
        };
        let cols = sqlx::query(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY pk, cid",
        )
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .expect("columns");
        let mut pk: Vec<(i64, String)> = Vec::new();
        for col in &cols {
            let (col_name, ty, notnull, in_pk): (String, String, i64, i64) =
                (col.get(0), col.get(1), col.get(2), col.get(3));
            if in_pk > 0 {
                pk.push((in_pk, col_name.clone()));
            }
            table
                .columns
                .insert(col_name, (portable(&ty), notnull != 0 || in_pk > 0));
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        let indexes =
            sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)")
                .bind(&name)
                .fetch_all(&mut c)
                .await
                .expect("indexes");
        for ix in &indexes {
            let (ix_name, unique, origin, partial): (String, i64, String, i64) =
                (ix.get(0), ix.get(1), ix.get(2), ix.get(3));
            if unique == 0 || origin == "pk" {
                continue;
            }
            let cols: Vec<String> =
                sqlx::query("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                    .bind(&ix_name)
                    .fetch_all(&mut c)
                    .await
                    .expect("index columns")
                    .iter()
                    .map(|r| r.get::<Option<String>, _>(0).unwrap_or_default())
                    .collect();
            table.uniques.insert((cols, partial != 0));
        }
        let fks =
            sqlx::query("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?1)")
                .bind(&name)
                .fetch_all(&mut c)
                .await
                .expect("foreign keys");
        for fk in &fks {
            let (from, to_table, to): (String, String, Option<String>) =
                (fk.get(0), fk.get(1), fk.get(2));
            table
                .foreign_keys
                .insert((from, to_table, to.unwrap_or_default()));
        }
        schema.insert(name, table);
    }
    // A foreign key naming no column refers to the primary key.
    let pks: BTreeMap<String, Vec<String>> = schema
        .iter()
        .map(|(n, t)| (n.clone(), t.primary_key.clone()))
        .collect();
    for t in schema.values_mut() {
        t.foreign_keys = std::mem::take(&mut t.foreign_keys)
            .into_iter()
            .map(|(from, to_table, to)| {
                let to = if to.is_empty() {
                    pks.get(&to_table)
                        .and_then(|pk| pk.first().cloned())
                        .unwrap_or_default()
                } else {
                    to
                };
                (from, to_table, to)
            })
            .collect();
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let mut c = sqlx::PgConnection::connect(url).await.expect("open");
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut c)
    .await
    .expect("tables");
    let mut schema = Schema::new();
    for (name,) in tables {
        let mut table = Table::default();
        let cols = sqlx::query(
            "SELECT column_name::text, data_type::text, is_nullable::text \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .expect("columns");
        for col in &cols {
            let (col_name, ty, nullable): (String, String, String) =
                (col.get(0), col.get(1), col.get(2));
            table
                .columns
                .insert(col_name, (portable(&ty), nullable == "NO"));
        }
        // Columns of a key, in key order.
        const KEY_COLUMNS: &str = "ARRAY(SELECT a.attname::text FROM unnest(k) WITH ORDINALITY \
             AS u(attnum, n) JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = u.attnum \
             ORDER BY u.n)";
        let constraints = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT contype::text, {}, {} FROM ( \
               SELECT contype, conkey AS k, conrelid AS rel, confkey, confrelid \
               FROM pg_constraint WHERE conrelid = $1::regclass \
             ) c",
            KEY_COLUMNS,
            "ARRAY(SELECT a.attname::text FROM unnest(confkey) WITH ORDINALITY AS u(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = confrelid AND a.attnum = u.attnum \
             ORDER BY u.n) || ARRAY[COALESCE(confrelid::regclass::text, '')]",
        )))
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .expect("constraints");
        for k in &constraints {
            let (kind, cols, refs): (String, Vec<String>, Vec<String>) =
                (k.get(0), k.get(1), k.get(2));
            match kind.as_str() {
                "p" => table.primary_key = cols,
                "c" => table.checks += 1,
                "f" => {
                    let to_table = refs.last().cloned().unwrap_or_default();
                    for (from, to) in cols.iter().zip(&refs) {
                        table
                            .foreign_keys
                            .insert((from.clone(), to_table.clone(), to.clone()));
                    }
                }
                // Unique constraints are read with the unique indexes.
                _ => {}
            }
        }
        let uniques = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS}, partial FROM ( \
               SELECT i.indkey::int2[] AS k, i.indrelid AS rel, i.indpred IS NOT NULL AS partial \
               FROM pg_index i WHERE i.indrelid = $1::regclass \
               AND i.indisunique AND NOT i.indisprimary \
             ) x"
        )))
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .expect("unique indexes");
        for u in &uniques {
            let (cols, partial): (Vec<String>, bool) = (u.get(0), u.get(1));
            table.uniques.insert((cols, partial));
        }
        schema.insert(name, table);
    }
    schema
}

/// The differences, one line each, naming the table and what differs.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        match (sqlite.get(name), postgres.get(name)) {
            (Some(_), None) => out.push(format!("{name}: only in SQLite")),
            (None, Some(_)) => out.push(format!("{name}: only in PostgreSQL")),
            (Some(s), Some(p)) => {
                let cols: BTreeSet<&String> = s.columns.keys().chain(p.columns.keys()).collect();
                for col in cols {
                    let (a, b) = (s.columns.get(col), p.columns.get(col));
                    if a != b {
                        out.push(format!("{name}.{col}: SQLite {a:?}, PostgreSQL {b:?}"));
                    }
                }
                if s.primary_key != p.primary_key {
                    out.push(format!(
                        "{name} primary key: SQLite {:?}, PostgreSQL {:?}",
                        s.primary_key, p.primary_key
                    ));
                }
                for u in s.uniques.symmetric_difference(&p.uniques) {
                    let side = if s.uniques.contains(u) {
                        "SQLite"
                    } else {
                        "PostgreSQL"
                    };
                    out.push(format!("{name} unique {u:?}: only in {side}"));
                }
                for f in s.foreign_keys.symmetric_difference(&p.foreign_keys) {
                    let side = if s.foreign_keys.contains(f) {
                        "SQLite"
                    } else {
                        "PostgreSQL"
                    };
                    out.push(format!("{name} foreign key {f:?}: only in {side}"));
                }
                if s.checks != p.checks {
                    out.push(format!(
                        "{name}: {} CHECKs on SQLite, {} on PostgreSQL",
                        s.checks, p.checks
                    ));
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Differences made on purpose, each with its reason; any other fails.
const DELIBERATE: &[(&str, &str)] = &[
    // PostgreSQL 0014: the append-only per-player tables keep no foreign
    // key to `campaign`. Each insert would lock the campaign row FOR KEY
    // SHARE and wait for the draw holding its ledger lock, so every draw,
    // vote and share of a campaign would queue behind it. Campaigns are
    // never deleted (a trigger refuses it), so the key guarded nothing.
    (
        "draw foreign key (\"campaign_id\", \"campaign\", \"campaign_id\"): only in SQLite",
        "0014",
    ),
    (
        "extra_chance foreign key (\"campaign_id\", \"campaign\", \"campaign_id\"): only in SQLite",
        "0014",
    ),
    (
        "prize_award foreign key (\"campaign_id\", \"campaign\", \"campaign_id\"): only in SQLite",
        "0014",
    ),
    (
        "share foreign key (\"campaign_id\", \"campaign\", \"campaign_id\"): only in SQLite",
        "0014",
    ),
    (
        "vote foreign key (\"campaign_id\", \"campaign\", \"campaign_id\"): only in SQLite",
        "0014",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migrations_give_one_schema() {
    let (s, p) = (
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Postgres).await,
    );
    SqliteDb::connect(&s.url)
        .await
        .expect("SQLite migrations")
        .close()
        .await;
    PgDb::connect(&p.url, 2)
        .await
        .expect("PostgreSQL migrations")
        .close()
        .await;
    let (sqlite, postgres) = (sqlite_schema(&s.url).await, postgres_schema(&p.url).await);
    assert!(sqlite.len() > 20, "{:?}", sqlite.keys());
    assert!(sqlite.contains_key("draw") && sqlite["draw"].checks > 0);
    let diff = differences(&sqlite, &postgres);
    let unexpected: Vec<&String> = diff
        .iter()
        .filter(|d| !DELIBERATE.iter().any(|(known, _)| known == d))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the schemas differ:\n{}",
        unexpected
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A deliberate difference that is gone is taken off the list.
    for (known, migration) in DELIBERATE {
        assert!(
            diff.iter().any(|d| d == known),
            "no longer differs (migration {migration}): {known}"
        );
    }
}

#[test]
fn checks_are_counted_as_constraints_only() {
    assert_eq!(
        count_checks(
            "CREATE TABLE t (a INTEGER CHECK (a > 0), b TEXT, checks INT, CHECK(b <> ''))"
        ),
        2
    );
}
