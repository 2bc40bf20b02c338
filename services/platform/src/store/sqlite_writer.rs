//! The SQLite write path: one connection driven through SQLite's C API on
//! the calling task, with group commit.
//!
//! Why not sqlx statements here: sqlx runs each SQLite connection on a
//! worker thread and every statement is a round trip to it (two thread
//! wake-ups). A draw is about a dozen statements, so it cost ~1 ms of
//! wake-ups while SQLite itself needed under 0.1 ms (`perf`: futex wake-ups
//! dominated). The connection is still opened, configured (WAL,
//! `synchronous=FULL`, foreign keys, busy timeout) and migrated by sqlx;
//! this module then takes its raw handle through sqlx's documented
//! `lock_handle` escape hatch and never sends that connection another sqlx
//! command until it is closed. Long reads stay on sqlx's reader pool, off
//! the async threads.
//!
//! Group commit: a write transaction is a `SAVEPOINT` inside a shared
//! `BEGIN IMMEDIATE` transaction, the batch. Committing a write transaction
//! releases its savepoint; if more writers are queued for the connection it
//! leaves the batch open for them and waits; the last queued writer (or the
//! [`MAX_BATCH`]th) commits the batch, one flush for all, and wakes the
//! others. So each transaction is still all-or-nothing (its savepoint), the
//! SQL guards still see every earlier write of the batch, and no caller
//! hears "done" before the flush that makes its write durable. A
//! transaction that rolls back commits the open batch before returning,
//! because its answer (a replayed response, a refusal) may rest on the
//! batch's writes.
#![allow(unsafe_code)]

use std::{
    collections::HashMap,
    ffi::{CStr, c_char, c_int, c_void},
    ptr::{self, NonNull},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use super::{
    StoreError,
    db::{DbRow, Value},
};

/// At most this many write transactions share one commit, so a batch's
/// latency stays bounded under any load.
pub const MAX_BATCH: usize = 128;

/// How long a writer waits for its batch before committing it itself. Only
/// reached if the writer that should have committed was cancelled.
const BATCH_SAFETY_NET: Duration = Duration::from_millis(100);

/// One cell of a result row.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row read on the write connection.
#[derive(Debug)]
pub struct RawRow(Vec<Cell>);

fn decode(i: usize, want: &str, got: Option<&Cell>) -> StoreError {
    StoreError::Database(format!("column {i}: expected {want}, found {got:?}"))
}

impl DbRow for RawRow {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| decode(i, "integer", self.0.get(i)))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get(i) {
            Some(Cell::Int(v)) => Ok(Some(*v)),
            Some(Cell::Null) => Ok(None),
            // SQLite stores an integral REAL as REAL after some arithmetic.
            Some(Cell::Real(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Some(*v as i64)),
            other => Err(decode(i, "integer", other)),
        }
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| decode(i, "text", self.0.get(i)))
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.0.get(i) {
            Some(Cell::Text(v)) => Ok(Some(v.clone())),
            Some(Cell::Null) => Ok(None),
            other => Err(decode(i, "text", other)),
        }
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes(i)?
            .ok_or_else(|| decode(i, "blob", self.0.get(i)))
    }
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.0.get(i) {
            Some(Cell::Blob(v)) => Ok(Some(v.clone())),
            Some(Cell::Text(v)) => Ok(Some(v.as_bytes().to_vec())),
            Some(Cell::Null) => Ok(None),
            other => Err(decode(i, "blob", other)),
        }
    }
}

/// A prepared statement and, per parameter, which argument it binds
/// (`$N` is argument N, as sqlx binds them).
struct Prepared {
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: Vec<usize>,
}

/// The raw connection and its statement cache. Only ever used by the holder
/// of the writer mutex, so by one thread at a time.
struct RawConn {
    db: NonNull<ffi::sqlite3>,
    /// Keyed by the SQL text's address and length: every statement is a
    /// `&'static str`, and hashing two words is cheaper than hashing the
    /// text on every call.
    cache: HashMap<(usize, usize), Vec<Prepared>>,
}

// SAFETY: the handle is used only through `&mut RawConn`, which only the
// holder of the writer mutex gets; sqlx's worker thread for this connection
// is idle (it is sent no command while we hold the handle). SQLite allows a
// connection to move between threads when it is not used concurrently.
unsafe impl Send for RawConn {}

impl RawConn {
    fn error(&self, rc: c_int) -> StoreError {
        // SAFETY: `db` is an open connection.
        let (code, msg) = unsafe {
            let code = ffi::sqlite3_extended_errcode(self.db.as_ptr());
            let msg = ffi::sqlite3_errmsg(self.db.as_ptr());
            let msg = if msg.is_null() {
                String::new()
            } else {
                CStr::from_ptr(msg).to_string_lossy().into_owned()
            };
            (code, msg)
        };
        let code = if code == 0 { rc } else { code };
        match code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::Conflict(msg)
            }
            c if matches!(c & 0xff, ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED) => {
                StoreError::Unavailable(msg)
            }
            c => StoreError::Database(format!("(code: {c}) {msg}")),
        }
    }

    /// Whether SQLite ended the open transaction by itself (some errors,
    /// such as a full disk, roll the whole transaction back).
    fn autocommit(&self) -> bool {
        // SAFETY: `db` is an open connection.
        unsafe { ffi::sqlite3_get_autocommit(self.db.as_ptr()) != 0 }
    }

    /// Prepares every statement of `sql` once; later calls reuse them.
    fn prepare(&mut self, sql: &'static str) -> Result<(usize, usize), StoreError> {
        let key = (sql.as_ptr() as usize, sql.len());
        if self.cache.contains_key(&key) {
            return Ok(key);
        }
        let mut out: Vec<Prepared> = Vec::new();
        let bytes = sql.as_bytes();
        let mut offset = 0usize;
        while offset < bytes.len() {
            let rest = &bytes[offset..];
            let mut stmt = ptr::null_mut();
            let mut tail: *const c_char = ptr::null();
            let len = c_int::try_from(rest.len())
                .map_err(|_| StoreError::Database("statement too long".into()))?;
            // SAFETY: `rest` is valid for `len` bytes; out-pointers are ours.
            let rc = unsafe {
                ffi::sqlite3_prepare_v3(
                    self.db.as_ptr(),
                    rest.as_ptr().cast::<c_char>(),
                    len,
                    ffi::SQLITE_PREPARE_PERSISTENT,
                    &mut stmt,
                    &mut tail,
                )
            };
            if rc != ffi::SQLITE_OK {
                let e = self.error(rc);
                for p in out {
                    // SAFETY: prepared above, not cached, finalized once.
                    unsafe { ffi::sqlite3_finalize(p.stmt.as_ptr()) };
                }
                return Err(e);
            }
            let used = if tail.is_null() {
                rest.len()
            } else {
                (tail as usize).saturating_sub(rest.as_ptr() as usize)
            };
            offset += used.max(1);
            let Some(stmt) = NonNull::new(stmt) else {
                // Only whitespace or a comment was left.
                continue;
            };
            // SAFETY: `stmt` is a prepared statement.
            let params = unsafe {
                let n = ffi::sqlite3_bind_parameter_count(stmt.as_ptr());
                let mut params = Vec::new();
                for i in 1..=n {
                    let name = ffi::sqlite3_bind_parameter_name(stmt.as_ptr(), i);
                    let index = if name.is_null() {
                        // An anonymous `?` takes the next argument.
                        usize::try_from(i).unwrap_or(0)
                    } else {
                        let name = CStr::from_ptr(name).to_string_lossy();
                        name.trim_start_matches(['$', '?'])
                            .parse::<usize>()
                            .unwrap_or(0)
                    };
                    params.push(index);
                }
                params
            };
            out.push(Prepared { stmt, params });
        }
        self.cache.insert(key, out);
        Ok(key)
    }

    /// Runs every statement of `sql` with `args`; returns the rows of all of
    /// them and the rows changed by the last.
    fn run(&mut self, sql: &'static str, args: &[Value]) -> Result<(Vec<RawRow>, u64), StoreError> {
        let key = self.prepare(sql)?;
        let mut rows = Vec::new();
        let mut changed = 0;
        let Some(prepared) = self.cache.get(&key) else {
            return Err(StoreError::Database("statement not prepared".into()));
        };
        for p in prepared {
            let stmt = p.stmt.as_ptr();
            // SAFETY: `stmt` is a live prepared statement of `db`, reset
            // after every use; bound values are copied (SQLITE_TRANSIENT).
            let result = unsafe { self.step_all(stmt, &p.params, args, &mut rows) };
            // SAFETY: as above.
            unsafe {
                ffi::sqlite3_reset(stmt);
                ffi::sqlite3_clear_bindings(stmt);
            }
            changed = result?;
        }
        Ok((rows, changed))
    }

    /// # Safety
    /// `stmt` must be a prepared statement of this connection.
    unsafe fn step_all(
        &self,
        stmt: *mut ffi::sqlite3_stmt,
        params: &[usize],
        args: &[Value],
        rows: &mut Vec<RawRow>,
    ) -> Result<u64, StoreError> {
        for (i, &arg) in params.iter().enumerate() {
            let at = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
            let value = arg
                .checked_sub(1)
                .and_then(|a| args.get(a))
                .ok_or_else(|| {
                    StoreError::Database(format!("statement parameter {at} has no argument"))
                })?;
            // SAFETY (whole block): binds copy the bytes before returning.
            let rc = unsafe {
                match value {
                    Value::Int(Some(v)) => ffi::sqlite3_bind_int64(stmt, at, *v),
                    Value::Text(Some(s)) => ffi::sqlite3_bind_text(
                        stmt,
                        at,
                        s.as_ptr().cast::<c_char>(),
                        c_int::try_from(s.len()).unwrap_or(c_int::MAX),
                        ffi::SQLITE_TRANSIENT(),
                    ),
                    Value::Bytes(Some(b)) => ffi::sqlite3_bind_blob(
                        stmt,
                        at,
                        b.as_ptr().cast::<c_void>(),
                        c_int::try_from(b.len()).unwrap_or(c_int::MAX),
                        ffi::SQLITE_TRANSIENT(),
                    ),
                    Value::Int(None) | Value::Text(None) | Value::Bytes(None) => {
                        ffi::sqlite3_bind_null(stmt, at)
                    }
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(self.error(rc));
            }
        }
        loop {
            // SAFETY: `stmt` is bound and valid.
            let rc = unsafe { ffi::sqlite3_step(stmt) };
            match rc {
                ffi::SQLITE_ROW => rows.push(unsafe { read_row(stmt) }),
                ffi::SQLITE_DONE => break,
                rc => return Err(self.error(rc)),
            }
        }
        // SAFETY: both calls only read the statement / connection.
        let changed = unsafe {
            if ffi::sqlite3_stmt_readonly(stmt) != 0 {
                0
            } else {
                ffi::sqlite3_changes64(self.db.as_ptr())
            }
        };
        Ok(u64::try_from(changed).unwrap_or(0))
    }

    fn exec(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.run(sql, &[]).map(drop)
    }

    fn finalize_all(&mut self) {
        for (_, stmts) in self.cache.drain() {
            for p in stmts {
                // SAFETY: each cached statement is finalized exactly once.
                unsafe { ffi::sqlite3_finalize(p.stmt.as_ptr()) };
            }
        }
    }
}

/// # Safety
/// `stmt` must have just returned SQLITE_ROW.
unsafe fn read_row(stmt: *mut ffi::sqlite3_stmt) -> RawRow {
    // SAFETY: column accessors on a statement positioned on a row; each
    // pointer is copied out before the next call on the statement.
    unsafe {
        let n = ffi::sqlite3_column_count(stmt);
        let mut cells = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for c in 0..n {
            let cell = match ffi::sqlite3_column_type(stmt, c) {
                ffi::SQLITE_INTEGER => Cell::Int(ffi::sqlite3_column_int64(stmt, c)),
                ffi::SQLITE_FLOAT => Cell::Real(ffi::sqlite3_column_double(stmt, c)),
                ffi::SQLITE_TEXT => {
                    let p = ffi::sqlite3_column_text(stmt, c);
                    let len = usize::try_from(ffi::sqlite3_column_bytes(stmt, c)).unwrap_or(0);
                    if p.is_null() {
                        Cell::Text(String::new())
                    } else {
                        let s = std::slice::from_raw_parts(p, len);
                        Cell::Text(String::from_utf8_lossy(s).into_owned())
                    }
                }
                ffi::SQLITE_BLOB => {
                    let p = ffi::sqlite3_column_blob(stmt, c);
                    let len = usize::try_from(ffi::sqlite3_column_bytes(stmt, c)).unwrap_or(0);
                    if p.is_null() {
                        Cell::Blob(Vec::new())
                    } else {
                        Cell::Blob(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec())
                    }
                }
                _ => Cell::Null,
            };
            cells.push(cell);
        }
        RawRow(cells)
    }
}

type BatchResult = Result<(), String>;

/// What group commit has done since the writer opened: batches committed
/// and the write transactions they carried (their ratio is the mean batch).
#[derive(Default)]
struct GroupCommits {
    batches: AtomicU64,
    transactions: AtomicU64,
}

/// The open shared transaction.
#[derive(Default)]
struct Batch {
    /// Writers whose savepoint was released into the batch and who wait
    /// for its commit.
    waiters: Vec<oneshot::Sender<BatchResult>>,
    released: usize,
}

struct State {
    conn: RawConn,
    batch: Option<Batch>,
    /// Bumped by every batch commit; a waiter uses it to see whether its
    /// batch is still open.
    generation: u64,
    /// sqlx's connection: it owns the handle and closes it when dropped,
    /// after `Drop for State` has finalized our statements.
    owner: Option<SqliteConnection>,
    /// Set by `close`: the handle is gone, nothing may touch it.
    closed: bool,
    commits: Arc<GroupCommits>,
}

impl State {
    /// Commits the open batch (if any) and tells every waiter the result.
    /// A batch that kept nothing (every write in it rolled back: a refusal
    /// alone, the health probe) is rolled back instead: no flush, and no
    /// group commit counted.
    fn commit_batch(&mut self) -> Result<(), StoreError> {
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        if batch.released == 0 && batch.waiters.is_empty() {
            self.generation = self.generation.wrapping_add(1);
            return self.conn.exec("ROLLBACK");
        }
        let result = self.conn.exec("COMMIT");
        if result.is_ok() {
            self.commits.batches.fetch_add(1, Ordering::Relaxed);
            let carried = u64::try_from(batch.released).unwrap_or(u64::MAX);
            self.commits
                .transactions
                .fetch_add(carried, Ordering::Relaxed);
        }
        if result.is_err() && !self.conn.autocommit() {
            // The commit did not happen; end the transaction for good.
            let _ = self.conn.exec("ROLLBACK");
        }
        self.generation = self.generation.wrapping_add(1);
        let shared: BatchResult = result.as_ref().map(|_| ()).map_err(ToString::to_string);
        for w in batch.waiters {
            let _ = w.send(shared.clone());
        }
        result
    }

    /// SQLite rolled the whole batch back (a full disk, an I/O error):
    /// every waiter learns that its write is gone.
    fn batch_lost(&mut self, why: &StoreError) {
        if let Some(batch) = self.batch.take() {
            self.generation = self.generation.wrapping_add(1);
            for w in batch.waiters {
                let _ = w.send(Err(format!("the transaction batch was rolled back: {why}")));
            }
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if self.batch.is_some() && !self.conn.autocommit() {
            // Nobody was told these writes are done; they never happened.
            let _ = self.conn.exec("ROLLBACK");
        }
        self.batch = None;
        self.conn.finalize_all();
    }
}

struct Shared {
    state: Arc<Mutex<State>>,
    /// Writers waiting for the connection. While some are, a committing
    /// writer leaves the batch open for them.
    queued: AtomicUsize,
    commits: Arc<GroupCommits>,
}

/// The write connection. Clones share it.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

/// Counts a writer as queued until it has the connection (or gives up).
struct Queued<'a>(&'a Shared);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.0.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last queued writer left; if it was cancelled, nobody may
            // be left to commit the batch that waits for it.
            self.0.commit_if_idle();
        }
    }
}

impl Shared {
    /// Commits the open batch if nobody holds or waits for the connection.
    fn commit_if_idle(&self) {
        if self.queued.load(Ordering::SeqCst) == 0
            && let Ok(mut state) = self.state.try_lock()
            && state.batch.is_some()
        {
            let _ = state.commit_batch();
        }
    }
}

impl Writer {
    /// Takes over `conn` (opened, configured and migrated by sqlx).
    pub async fn new(mut conn: SqliteConnection) -> Result<Self, StoreError> {
        let db = conn
            .lock_handle()
            .await
            .map_err(StoreError::from_sqlx)?
            .as_raw_handle();
        let commits = Arc::new(GroupCommits::default());
        let state = State {
            conn: RawConn {
                db,
                cache: HashMap::new(),
            },
            batch: None,
            generation: 0,
            owner: Some(conn),
            closed: false,
            commits: commits.clone(),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                state: Arc::new(Mutex::new(state)),
                queued: AtomicUsize::new(0),
                commits,
            }),
        })
    }

    /// Writers waiting for the connection now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// (batches committed, write transactions they carried) so far.
    pub fn group_commits(&self) -> (u64, u64) {
        let c = &self.shared.commits;
        (
            c.batches.load(Ordering::Relaxed),
            c.transactions.load(Ordering::Relaxed),
        )
    }

    /// A write transaction: a savepoint in the open batch.
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        let queued = Queued(&self.shared);
        let mut state = self.shared.state.clone().lock_owned().await;
        // Decrement without the idle check: we hold the connection and will
        // decide about the batch when we are done.
        std::mem::forget(queued);
        self.shared.queued.fetch_sub(1, Ordering::SeqCst);
        if state.closed {
            return Err(StoreError::Unavailable("the database is closed".into()));
        }
        if state.batch.is_none() {
            state.conn.exec("BEGIN IMMEDIATE")?;
            state.batch = Some(Batch::default());
        }
        if let Err(e) = state.conn.exec("SAVEPOINT engine_write") {
            if state.conn.autocommit() {
                state.batch_lost(&e);
            }
            return Err(e);
        }
        Ok(WriteTx {
            state: Some(state),
            shared: self.shared.clone(),
        })
    }

    /// Commits what is open, finalizes the statements and closes the
    /// connection.
    pub async fn close(&self) {
        let mut state = self.shared.state.lock().await;
        if state.closed {
            return;
        }
        let _ = state.commit_batch();
        state.conn.finalize_all();
        state.closed = true;
        if let Some(conn) = state.owner.take() {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

/// An open write transaction (a savepoint in the batch). Dropping it
/// without `commit` rolls it back.
pub struct WriteTx {
    state: Option<OwnedMutexGuard<State>>,
    shared: Arc<Shared>,
}

impl WriteTx {
    fn state(&mut self) -> Result<&mut State, StoreError> {
        self.state
            .as_deref_mut()
            .ok_or_else(|| StoreError::Database("transaction already finished".into()))
    }

    pub fn run(
        &mut self,
        sql: &'static str,
        args: &[Value],
    ) -> Result<(Vec<RawRow>, u64), StoreError> {
        let state = self.state()?;
        let result = state.conn.run(sql, args);
        if let Err(e) = &result
            && state.conn.autocommit()
        {
            state.batch_lost(e);
        }
        result
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut state) = self.state.take() else {
            return Err(StoreError::Database("transaction already finished".into()));
        };
        if let Err(e) = state.conn.exec("RELEASE engine_write") {
            rollback(&mut state);
            return Err(e);
        }
        let Some(batch) = state.batch.as_mut() else {
            return Err(StoreError::Unavailable(
                "the transaction batch was lost".into(),
            ));
        };
        batch.released += 1;
        if self.shared.queued.load(Ordering::SeqCst) == 0 || batch.released >= MAX_BATCH {
            return state.commit_batch();
        }
        // Others are queued: leave the batch open for them.
        let (tx, mut rx) = oneshot::channel();
        batch.waiters.push(tx);
        let generation = state.generation;
        drop(state);
        // The writers we left it for may all have been cancelled meanwhile.
        self.shared.commit_if_idle();
        loop {
            match tokio::time::timeout(BATCH_SAFETY_NET, &mut rx).await {
                Ok(Ok(result)) => return result.map_err(StoreError::Unavailable),
                Ok(Err(_)) => {
                    return Err(StoreError::Unavailable(
                        "the transaction batch was abandoned".into(),
                    ));
                }
                Err(_) => {
                    let mut state = self.shared.state.lock().await;
                    if state.generation == generation {
                        let _ = state.commit_batch();
                    }
                }
            }
        }
    }
}

/// Undoes the savepoint, then commits the rest of the batch: the caller's
/// answer may rest on it, so it must be durable before the caller answers.
fn rollback(state: &mut State) {
    let undone = state
        .conn
        .exec("ROLLBACK TO engine_write")
        .and_then(|()| state.conn.exec("RELEASE engine_write"));
    if state.conn.autocommit() {
        let why = undone.err().unwrap_or(StoreError::Unavailable(
            "the transaction ended early".into(),
        ));
        state.batch_lost(&why);
        return;
    }
    let _ = state.commit_batch();
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(mut state) = self.state.take() {
            rollback(&mut state);
        }
    }
}

#[cfg(test)]
mod tests;
