//! [`SqliteArchive`]: reads of archived rows (see `archive`) on read-only
//! connections of their own, pooled, so API handlers and the writer read
//! concurrently with commits (WAL readers see the last committed state).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use drover_types::{Allocation, Evaluation, Job};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::StateError;
use crate::archive::{ArchiveRead, StoredJob};
use crate::backend::decode_row;
use crate::maps::{JobKey, job_key};

/// Idle connections kept for reuse; more are opened when readers overlap.
const POOL_SIZE: usize = 8;

/// Read-only access to the database file, for archived rows.
pub(crate) struct SqliteArchive {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteArchive {
    /// Reads from the database at `path` (opened lazily, on first read).
    pub(crate) fn new(path: &Path) -> SqliteArchive {
        SqliteArchive { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    /// Runs `read` on an idle connection (or a new one), then keeps the connection.
    fn with_connection<R>(
        &self,
        context: &str,
        read: impl FnOnce(&Connection) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(|err| StateError::Storage(format!("{context}: opening {}: {err}", self.path.display())))?,
        };
        let result = read(&connection);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < POOL_SIZE {
            idle.push(connection);
        }
        result
    }

    /// Decoded `data` (column `data_column`) of every row `sql` finds for
    /// `args`, skipping rows whose job key (columns `key_columns`) `keep` rejects.
    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        keep: &dyn Fn(&JobKey) -> bool,
        prefix: Option<&str>,
    ) -> Result<Vec<T>, StateError> {
        let context = format!("reading archived rows of table {table}");
        self.with_connection(&context, |connection| {
            let storage = |err: rusqlite::Error| StateError::Storage(format!("{context}: {err}"));
            let mut statement = connection.prepare_cached(sql).map_err(storage)?;
            let mut rows = statement.query(args).map_err(storage)?;
            let mut found = Vec::new();
            while let Some(row) = rows.next().map_err(storage)? {
                let id: String = row.get(0).map_err(storage)?;
                if prefix.is_some_and(|prefix| !id.starts_with(prefix)) {
                    break;
                }
                let namespace: Option<String> = row.get(1).map_err(storage)?;
                let job_id: Option<String> = row.get(2).map_err(storage)?;
                if !keep(&job_key(&namespace.unwrap_or_default(), &job_id.unwrap_or_default())) {
                    continue;
                }
                let data: String = row.get(3).map_err(storage)?;
                found.push(decode_row(table, &id, &data)?);
            }
            Ok(found)
        })
    }

    fn one<T: serde::de::DeserializeOwned>(&self, table: &str, id: &str) -> Result<Option<T>, StateError> {
        let context = format!("reading archived row {id:?} of table {table}");
        self.with_connection(&context, |connection| {
            let storage = |err: rusqlite::Error| StateError::Storage(format!("{context}: {err}"));
            let data: Option<String> = connection
                .prepare_cached(&format!("SELECT data FROM {table} WHERE id = ?1"))
                .map_err(storage)?
                .query_row(params![id], |row| row.get(0))
                .optional()
                .map_err(storage)?;
            data.map(|data| decode_row(table, id, &data)).transpose()
        })
    }
}

/// Keeps every row.
fn every(_: &JobKey) -> bool {
    true
}

impl ArchiveRead for SqliteArchive {
    fn job(&self, namespace: &str, job_id: &str) -> Result<Option<StoredJob>, StateError> {
        let context = format!("reading archived job {namespace}/{job_id}");
        self.with_connection(&context, |connection| {
            let storage = |err: rusqlite::Error| StateError::Storage(format!("{context}: {err}"));
            let row: Option<(String, Option<u64>)> = connection
                .prepare_cached("SELECT data, spec_version FROM jobs WHERE namespace = ?1 AND id = ?2")
                .map_err(storage)?
                .query_row(params![namespace, job_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .map_err(storage)?;
            let Some((data, spec_version)) = row else { return Ok(None) };
            let job: Job = decode_row("jobs", &format!("{namespace}/{job_id}"), &data)?;
            Ok(Some((job, spec_version)))
        })
    }

    fn eval(&self, eval_id: &str) -> Result<Option<Evaluation>, StateError> {
        self.one("evals", eval_id)
    }

    fn alloc(&self, alloc_id: &str) -> Result<Option<Allocation>, StateError> {
        self.one("allocs", alloc_id)
    }

    fn evals_of_job(&self, namespace: &str, job_id: &str) -> Result<Vec<Evaluation>, StateError> {
        let sql = "SELECT id, namespace, job_id, data FROM evals WHERE namespace = ?1 AND job_id = ?2 ORDER BY id";
        self.rows("evals", sql, &[&namespace, &job_id], &every, None)
    }

    fn allocs_of_job(&self, namespace: &str, job_id: &str) -> Result<Vec<Allocation>, StateError> {
        let sql = "SELECT id, namespace, job_id, data FROM allocs WHERE namespace = ?1 AND job_id = ?2 ORDER BY id";
        self.rows("allocs", sql, &[&namespace, &job_id], &every, None)
    }

    fn evals_by_prefix(&self, prefix: &str, keep: &dyn Fn(&JobKey) -> bool) -> Result<Vec<Evaluation>, StateError> {
        let sql = "SELECT id, namespace, job_id, data FROM evals WHERE id >= ?1 ORDER BY id";
        self.rows("evals", sql, &[&prefix], keep, Some(prefix))
    }

    fn allocs_by_prefix(&self, prefix: &str, keep: &dyn Fn(&JobKey) -> bool) -> Result<Vec<Allocation>, StateError> {
        let sql = "SELECT id, namespace, job_id, data FROM allocs WHERE id >= ?1 ORDER BY id";
        self.rows("allocs", sql, &[&prefix], keep, Some(prefix))
    }

    fn allocs_on_node(&self, node_id: &str, keep: &dyn Fn(&JobKey) -> bool) -> Result<Vec<Allocation>, StateError> {
        let sql = "SELECT id, namespace, job_id, data FROM allocs WHERE node_id = ?1 ORDER BY id";
        self.rows("allocs", sql, &[&node_id], keep, None)
    }
}
