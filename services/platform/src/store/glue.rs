//! sqlx plumbing shared by both backends: binding `Value`s, reading rows by
//! position, running statements on a transaction. The two backends differ
//! only in types, so one macro stamps the same plumbing out for each; the
//! differing parts (connect, begin, error mapping) stay in the backend
//! modules.

/// Implements `DbTx` for `$tx` and `DbRow` for `$row`, mapping errors with
/// `$map_err`. `$tx` provides `conn(&mut self)` (the connection its
/// statements run on) and `async fn end(self)` (what `commit` does).
macro_rules! sqlx_glue {
    ($db:ty, $tx:ident, $row:ty, $map_err:path) => {
        fn bind_all<'q>(
            sql: &'static str,
            args: Vec<$crate::store::db::Value>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            use $crate::store::db::Value;
            let mut q = sqlx::query::<$db>(sql);
            for a in args {
                q = match a {
                    Value::Int(v) => q.bind(v),
                    Value::Text(v) => q.bind(v),
                    Value::Bytes(v) => q.bind(v),
                };
            }
            q
        }

        impl $crate::store::db::DbTx for $tx {
            type Row = $row;

            async fn execute(
                &mut self,
                sql: &'static str,
                args: Vec<$crate::store::db::Value>,
            ) -> Result<u64, $crate::store::StoreError> {
                let done = bind_all(sql, args)
                    .execute(self.conn())
                    .await
                    .map_err($map_err)?;
                Ok(done.rows_affected())
            }

            async fn fetch_optional(
                &mut self,
                sql: &'static str,
                args: Vec<$crate::store::db::Value>,
            ) -> Result<Option<$row>, $crate::store::StoreError> {
                bind_all(sql, args)
                    .fetch_optional(self.conn())
                    .await
                    .map_err($map_err)
            }

            async fn fetch_all(
                &mut self,
                sql: &'static str,
                args: Vec<$crate::store::db::Value>,
            ) -> Result<Vec<$row>, $crate::store::StoreError> {
                bind_all(sql, args)
                    .fetch_all(self.conn())
                    .await
                    .map_err($map_err)
            }

            async fn commit(self) -> Result<(), $crate::store::StoreError> {
                self.end().await.map_err($map_err)
            }
        }

        impl $crate::store::db::DbRow for $row {
            fn int(&self, i: usize) -> Result<i64, $crate::store::StoreError> {
                sqlx::Row::try_get(self, i).map_err($map_err)
            }
            fn opt_int(&self, i: usize) -> Result<Option<i64>, $crate::store::StoreError> {
                sqlx::Row::try_get(self, i).map_err($map_err)
            }
            fn text(&self, i: usize) -> Result<String, $crate::store::StoreError> {
                sqlx::Row::try_get(self, i).map_err($map_err)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, $crate::store::StoreError> {
                sqlx::Row::try_get(self, i).map_err($map_err)
            }
            fn bytes(&self, i: usize) -> Result<Vec<u8>, $crate::store::StoreError> {
                sqlx::Row::try_get(self, i).map_err($map_err)
            }
            fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, $crate::store::StoreError> {
                sqlx::Row::try_get(self, i).map_err($map_err)
            }
        }
    };
}
pub(crate) use sqlx_glue;
