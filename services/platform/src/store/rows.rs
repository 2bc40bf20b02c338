//! The rows a hot path writes, each defined once: a table's columns (name
//! and type) in a [`Table`], its values in that order by one function
//! beside the path that writes it. Every backend's statement is built from
//! the definition (SQLite's step-by-step `INSERT … VALUES`, PostgreSQL's
//! one statement of CTEs, PostgreSQL's batch insert from a JSON array), so
//! a new column is added in one place and the statements cannot disagree
//! on the order of their `$N`.
//!
//! The statements are built once per process (`LazyLock<String>` where
//! they are used) and are then as static as a literal, so the drivers'
//! statement caches see one text each.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::{StoreError, db::Value};

/// A column's type, as bound and as declared in a PostgreSQL record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Text,
    Bytes,
}

impl Ty {
    fn record_type(self) -> &'static str {
        match self {
            Ty::Int => "bigint",
            // Bytes travel as hex text in JSON and are decoded on insert.
            Ty::Text | Ty::Bytes => "text",
        }
    }

    fn holds(self, value: &Value) -> bool {
        matches!(
            (self, value),
            (Ty::Int, Value::Int(_)) | (Ty::Text, Value::Text(_)) | (Ty::Bytes, Value::Bytes(_))
        )
    }
}

/// A table as one write path inserts it: the columns it fills, in order.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Ty)],
}

impl Table {
    /// `a, b, c`
    pub fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    /// `$first, $first+1, …`, one per column.
    pub fn params(&self, first: usize) -> String {
        let mut s = String::new();
        for i in 0..self.columns.len() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "${}", first + i);
        }
        s
    }

    /// `INSERT INTO t (a, b) VALUES ($first, $first+1)`
    pub fn insert_values(&self, first: usize) -> String {
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.name,
            self.column_list(),
            self.params(first)
        )
    }

    /// `INSERT INTO t (a, b) SELECT $first, $first+1`: the caller appends
    /// a `FROM` or `WHERE` that decides whether the row is written.
    pub fn insert_select(&self, first: usize) -> String {
        format!(
            "INSERT INTO {} ({}) SELECT {}",
            self.name,
            self.column_list(),
            self.params(first)
        )
    }

    /// PostgreSQL: `INSERT INTO t (a, b) SELECT x.a, x.b FROM
    /// json_to_recordset(CAST($param AS json)) AS x(a bigint, b text)`, the
    /// rows being a JSON array of [`Table::json_row`]s. `where_` (may be
    /// empty) filters them, naming the record `x`.
    pub fn insert_json(&self, param: usize, where_: &str) -> String {
        self.insert_json_with(param, &[], where_)
    }

    /// [`Table::insert_json`] whose record also declares `extra` fields
    /// (not inserted) for `where_` to test.
    pub fn insert_json_with(&self, param: usize, extra: &[(&str, Ty)], where_: &str) -> String {
        let mut select = Vec::with_capacity(self.columns.len());
        let mut record = Vec::with_capacity(self.columns.len() + extra.len());
        for (name, ty) in self.columns {
            select.push(match ty {
                Ty::Bytes => format!("decode(x.{name}, 'hex')"),
                Ty::Int | Ty::Text => format!("x.{name}"),
            });
            record.push(format!("{name} {}", ty.record_type()));
        }
        for (name, ty) in extra {
            record.push(format!("{name} {}", ty.record_type()));
        }
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM json_to_recordset(CAST(${param} AS json)) \
             AS x({}){}{}",
            self.name,
            self.column_list(),
            select.join(", "),
            record.join(", "),
            if where_.is_empty() { "" } else { " WHERE " },
            where_,
        )
    }

    /// A row of typed nulls, bound where a statement of CTEs has a row it
    /// does not write this time (its `WHERE` tests the first column).
    pub fn nulls(&self) -> Vec<Value> {
        self.columns
            .iter()
            .map(|(_, ty)| match ty {
                Ty::Int => Value::Int(None),
                Ty::Text => Value::Text(None),
                Ty::Bytes => Value::Bytes(None),
            })
            .collect()
    }

    /// `insert_select(first)` writing the row only when its first column
    /// is bound (not a row of [`Table::nulls`]).
    pub fn insert_if_bound(&self, first: usize) -> String {
        let ty = match self.columns.first().map(|(_, ty)| ty) {
            Some(Ty::Int) => "BIGINT",
            Some(Ty::Bytes) => "BYTEA",
            Some(Ty::Text) | None => "TEXT",
        };
        format!(
            "{} WHERE CAST(${first} AS {ty}) IS NOT NULL",
            self.insert_select(first)
        )
    }

    /// Checks that `values` are this table's row: one per column, each of
    /// its column's type.
    pub fn check(&self, values: &[Value]) -> Result<(), StoreError> {
        if values.len() != self.columns.len() {
            return Err(StoreError::Corrupt(format!(
                "{} row: {} values for {} columns",
                self.name,
                values.len(),
                self.columns.len()
            )));
        }
        for ((name, ty), v) in self.columns.iter().zip(values) {
            if !ty.holds(v) {
                return Err(StoreError::Corrupt(format!(
                    "{} row: {name} is not {ty:?}",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// One row for [`Table::insert_json`]: an object by column name.
    pub fn json_row(&self, values: &[Value]) -> Result<Json, StoreError> {
        self.check(values)?;
        let mut row = serde_json::Map::with_capacity(values.len());
        for ((name, _), v) in self.columns.iter().zip(values) {
            let j = match v {
                Value::Int(i) => i.map_or(Json::Null, Json::from),
                Value::Text(t) => t.as_ref().map_or(Json::Null, |t| Json::from(t.as_str())),
                Value::Bytes(b) => b
                    .as_ref()
                    .map_or(Json::Null, |b| Json::from(hex::encode(b))),
            };
            row.insert((*name).to_owned(), j);
        }
        Ok(Json::Object(row))
    }
}

/// The key of a request with its answer, inserted by the paths that write
/// the key last (`sql_key_lookup!`); the values come from
/// [`answered_key_values`].
pub static ANSWERED_KEY: Table = Table {
    name: "idempotency",
    columns: &[
        ("scope", Ty::Text),
        ("method", Ty::Text),
        ("idem_key", Ty::Text),
        ("fingerprint", Ty::Bytes),
        ("created_at", Ty::Int),
        ("response", Ty::Bytes),
    ],
};

/// [`ANSWERED_KEY`]'s values.
pub fn answered_key_values(
    idem: &crate::domain::idempotency::Idempotency,
    now: i64,
    answer: Vec<u8>,
) -> Vec<Value> {
    super::db::args![
        &idem.scope,
        idem.method,
        idem.key.as_str(),
        idem.fingerprint.clone(),
        now,
        answer
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    static T: Table = Table {
        name: "t",
        columns: &[("a", Ty::Int), ("b", Ty::Text), ("c", Ty::Bytes)],
    };

    #[test]
    fn statements_follow_the_columns() {
        assert_eq!(
            T.insert_values(3),
            "INSERT INTO t (a, b, c) VALUES ($3, $4, $5)"
        );
        assert_eq!(
            T.insert_select(1),
            "INSERT INTO t (a, b, c) SELECT $1, $2, $3"
        );
        assert_eq!(
            T.insert_json(2, "x.b IS NOT NULL"),
            "INSERT INTO t (a, b, c) SELECT x.a, x.b, decode(x.c, 'hex') FROM \
             json_to_recordset(CAST($2 AS json)) AS x(a bigint, b text, c text) \
             WHERE x.b IS NOT NULL"
        );
    }

    #[test]
    fn rows_are_checked_against_the_columns() {
        let ok = vec![
            Value::Int(Some(1)),
            Value::Text(None),
            Value::Bytes(Some(vec![0xab])),
        ];
        assert_eq!(
            T.json_row(&ok).ok(),
            Some(serde_json::json!({"a": 1, "b": null, "c": "ab"}))
        );
        assert!(T.check(&ok[..2]).is_err());
        let swapped = vec![Value::Text(None), Value::Int(Some(1)), Value::Bytes(None)];
        assert!(T.check(&swapped).is_err());
    }
}
