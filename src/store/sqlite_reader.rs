//! The per-call reads of the SQLite backend (caller's device, callee, routing snapshot), made on
//! the calling task instead of through sqlx.
//!
//! # Why
//! sqlx-sqlite runs each connection on a thread of its own: every query is a hand-off to that
//! thread and back, 50-100 µs on the 2-core machine, while SQLite answers the same indexed
//! read in a few microseconds (benches/README.md, "Routing lookup"). A call's routing needs
//! three or four reads before the INVITE can be answered, which made the lookup cost most of a
//! millisecond. Here those reads go straight to SQLite (rusqlite, on the same bundled
//! libsqlite3 as sqlx) on the task that asks, with read-only connections kept for reuse and
//! their statements prepared once.
//!
//! # Why blocking the task is acceptable
//! A read of a local file under WAL never waits for the writer (readers see the last committed
//! snapshot). The one case where SQLite would wait (a reader arriving while the WAL index is
//! being rebuilt after a crash) is turned into an immediate `SQLITE_BUSY` by a zero busy
//! timeout, and the caller then makes the same read through sqlx. So a read here costs what
//! SQLite costs, never a sleep on a runtime thread.
//!
//! Only the reads above come here; writes and everything else stay on sqlx. The answers are
//! the same JSON row texts the routing snapshot uses (`json_array(COLUMNS)`), decoded by the
//! same row types, so both paths return the very same values (tests/it/store.rs compares them).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, ToSql};
use tracing::{debug, warn};

/// Idle read connections kept for reuse: enough for the concurrent lookups of both runtime
/// threads and the API, few enough that an idle server holds little.
const MAX_IDLE: usize = 8;

/// How much of the file a reader maps (SQLite maps up to the file size, at most this).
const MMAP_BYTES: i64 = 1 << 30;

/// Statements each connection keeps prepared: the handful of routing reads.
const STATEMENT_CACHE: usize = 16;

/// Read-only connections to the store's SQLite file.
#[derive(Debug)]
pub(super) struct SqliteReader {
    /// The database file (the one sqlx opened and migrated).
    path: PathBuf,
    /// Connections not in use.
    idle: Mutex<Vec<Connection>>,
    /// Reads handed back to sqlx ([`Fallback`]): tests assert none happen on a healthy file,
    /// so a read that silently fails here cannot hide behind the fallback's right answer.
    fallbacks: AtomicU64,
}

/// Why a read was not answered here: the caller makes it through sqlx instead.
#[derive(Debug)]
pub(super) enum Fallback {
    /// SQLite would have had to wait (see the module doc).
    Busy,
    /// Anything else; logged, since it should not happen on a healthy file.
    Failed(rusqlite::Error),
}

impl From<rusqlite::Error> for Fallback {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Fallback::Busy
            }
            _ => Fallback::Failed(e),
        }
    }
}

impl SqliteReader {
    /// Readers of `path`, opening one connection now so a file that cannot be read is found
    /// at start (the store then goes without a reader).
    pub(super) fn open(path: &Path) -> Result<SqliteReader, rusqlite::Error> {
        let reader = SqliteReader {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            fallbacks: AtomicU64::new(0),
        };
        let first = reader.connect()?;
        reader.put_back(first);
        Ok(reader)
    }

    /// How many reads were handed back to sqlx since the store opened.
    pub(super) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::ZERO)?;
        // Pages through a memory map instead of a pread() copy into each connection's own
        // small page cache (the lookup profile showed `readDbPage`/`pread`): the OS page cache
        // is shared by every connection. Read-only, so a mapped page is never written through.
        connection.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }

    fn take(&self) -> Result<Connection, rusqlite::Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(connection) => Ok(connection),
            None => self.connect(),
        }
    }

    fn put_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
    }

    /// The first row of `sql` (SQLite text, `$name` parameters bound by name) as `columns`
    /// text columns, or `None` when there is no row.
    pub(super) fn texts<const N: usize>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
    ) -> Result<Option<[Option<String>; N]>, Fallback> {
        let connection = self.take()?;
        let answer = (|| {
            let mut statement = connection.prepare_cached(sql)?;
            let mut rows = statement.query(params)?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = row.get(i)?;
            }
            Ok(Some(out))
        })();
        // A connection whose read failed may hold a half-stepped statement: let it go.
        if answer.is_ok() {
            self.put_back(connection);
        }
        answer.map_err(|e: rusqlite::Error| {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            let fallback = Fallback::from(e);
            match &fallback {
                Fallback::Busy => debug!("sqlite reader busy; reading through sqlx"),
                Fallback::Failed(error) => {
                    warn!(%error, "sqlite reader failed; reading through sqlx")
                }
            }
            fallback
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_a_row(dir: &Path) -> PathBuf {
        let path = dir.join("reader.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch(
                "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('a', 'x');",
            )
            .expect("create");
        path
    }

    #[test]
    fn reads_by_name_and_says_when_there_is_no_row() {
        let dir = tempfile::tempdir().expect("dir");
        let reader = SqliteReader::open(&file_with_a_row(dir.path())).expect("reader");
        let sql = "SELECT json_array(k, v), v FROM t WHERE k = $1";
        let found = reader.texts::<2>(sql, &[("$1", &"a")]).expect("read");
        assert_eq!(
            found,
            Some([Some(r#"["a","x"]"#.to_owned()), Some("x".to_owned())])
        );
        assert_eq!(reader.texts::<2>(sql, &[("$1", &"b")]).expect("read"), None);
        // The connection went back for reuse, its statement still prepared.
        assert_eq!(reader.idle.lock().map(|i| i.len()).unwrap_or(0), 1);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // measures that the reader does not wait
    fn a_locked_file_is_busy_at_once_not_waited_for() {
        let dir = tempfile::tempdir().expect("dir");
        let path = file_with_a_row(dir.path());
        let reader = SqliteReader::open(&path).expect("reader");
        // Rollback-journal mode: an exclusive transaction keeps every reader out.
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch("BEGIN EXCLUSIVE; UPDATE t SET v = 'y';")
            .expect("lock");
        let started = std::time::Instant::now();
        let answer = reader.texts::<1>("SELECT v FROM t WHERE k = $1", &[("$1", &"a")]);
        assert!(matches!(answer, Err(Fallback::Busy)), "{answer:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        writer.execute_batch("ROLLBACK;").expect("unlock");
        assert_eq!(
            reader
                .texts::<1>("SELECT v FROM t WHERE k = $1", &[("$1", &"a")])
                .expect("read"),
            Some([Some("x".to_owned())])
        );
    }
}
