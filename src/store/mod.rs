//! The persistent store: organisations, users, devices, registrar bindings, absences,
//! schedules, calendar entries, voicemail and the rest of what the web client shows.
//!
//! Where it sits in the call flow: the B2BUA asks the store for the callee's absences, calendar
//! entries and bindings *at the instant of the INVITE* (`routing::decide` then runs on that
//! snapshot); the voicemail IVR stores a message here before it says "thank you"; the registrar
//! writes bindings here so phones stay reachable across a restart.
//!
//! # Two backends, one query text
//! SQLite (a file, the embedded default) and PostgreSQL (several nodes) share one schema
//! (`sql/sqlite/0001_init.sql`, `sql/postgres/0001_init.sql`) and one set of query strings.
//! The pool is an enum over the two native pools, and `with_pool!` expands each query once
//! per arm. We chose that over sqlx's `Any` driver because:
//! - the native SQLite options are typed (WAL, `synchronous = FULL`, `foreign_keys`,
//!   `busy_timeout`), where `Any` takes only a URL and pragmas would have to be run by hand;
//! - native unique-violation errors keep their detail (PostgreSQL's `Key (col)=...`), which
//!   [`StoreError::Conflict`] turns into "which column";
//! - `Any` needs an extra sqlx feature and maps fewer types, for no gain here: every query text
//!   is already portable because both backends understand `$1` placeholders, `RETURNING`,
//!   `ON CONFLICT ... DO UPDATE` and boolean literals.
//!
//! Instants are stored as BIGINT epoch milliseconds UTC in both backends (see the SQL header),
//! so comparisons in the hot path are integer comparisons and mean the same everywhere.
//! Every function whose answer depends on time takes `now`: the store never reads a clock.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::domain::UnknownVariant;

/// Runs one expression against whichever pool the store holds. The body is expanded twice,
/// once with `$pool: &SqlitePool` and once with `$pool: &PgPool`, so the same query text and
/// binds serve both backends while each keeps its native driver.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

mod absences;
mod calendar;
mod cluster;
mod cluster_orphans;
mod deliveries;
pub mod demo;
mod devices;
mod directory;
mod error;
mod forwards;
mod generated_names;
mod group_ringing;
mod groups;
mod history;
mod messages;
pub use crate::domain::model;
mod orgs;
mod phonebook;
mod registrations;
mod routing_snapshot;
mod schedules;
mod sessions;
mod source_limits;
mod sqlite_reader;
#[cfg(test)]
mod test_pg;
mod users;
mod voicemail;
mod voicemail_expiry;

pub use cluster_orphans::{OrphanScope, RecordingChunk, SharedRecording};
pub use deliveries::{Delivery, DeliveryId, DeliveryState, NewDelivery};
pub use devices::{ha1_md5, ha1_sha256};
pub use directory::{
    ContactNumber, ImportCounts, ImportMode, NumberKind, SharedContact, SharedContactData,
    SharedContactId, VoicemailDelivery, VoicemailPlayer,
};
pub use error::StoreError;
pub use generated_names::GeneratedName;
pub use group_ringing::{GroupFallback, GroupMember, GroupRinging, GroupStrategy};
pub use model::*;
pub use routing_snapshot::{sqlite_query_text as routing_snapshot_sqlite_text, RoutingSnapshot};
pub use source_limits::{SourceCount, SourceLimit};

/// Migrations for SQLite, embedded at compile time.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("sql/sqlite");
/// Migrations for PostgreSQL, embedded at compile time (same numbering as SQLite's).
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("sql/postgres");

/// How long a SQLite connection waits for another writer before failing with "database is
/// locked": long enough to ride out a voicemail insert, short enough not to stall a call.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite allows one writer at a time; a few connections still let readers (routing lookups)
/// proceed in parallel under WAL.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// PostgreSQL pool size per node; lookups are short, so a small pool serves many calls.
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
/// A pooled PostgreSQL connection idle this long is pinged before use (see
/// [`Store::connect_with`]); busier ones go straight to their statement.
const POSTGRES_PING_IDLE: Duration = Duration::from_secs(1);

/// The two native pools; see the module doc for why this is an enum and not `AnyPool`.
#[derive(Debug, Clone)]
enum Backend {
    /// The embedded default: one database file.
    Sqlite(SqlitePool),
    /// A shared server, for more than one node.
    Postgres(PgPool),
}

/// Handle to the database. Cloning is cheap (the pools are reference counted), so every task
/// holds its own clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// The connection pool of the configured backend.
    backend: Backend,
    /// For a SQLite file: the per-call reads without sqlx's thread hand-offs
    /// ([`sqlite_reader`]). `None` for PostgreSQL and in-memory SQLite (another connection
    /// would see another database).
    reader: Option<Arc<sqlite_reader::SqliteReader>>,
}

impl Store {
    /// Connects and brings the schema up to date.
    ///
    /// `url` is `sqlite://path/to/file.db` (created if missing; `?mode=rwc` is implied) or
    /// `postgres://user@host/db`. SQLite runs in WAL mode with `synchronous = FULL`, so a
    /// committed voicemail survives a power cut, with foreign keys enforced and a busy timeout.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, None).await
    }

    /// [`Store::connect`] with a pool size (`database.max_connections`); `None` keeps the
    /// backend's default (SQLite serialises writers, so its pool stays small either way).
    pub async fn connect_with(
        url: &str,
        max_connections: Option<u32>,
    ) -> Result<Store, StoreError> {
        let mut reader_file = None;
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            // An in-memory database exists once per connection: keep exactly one, forever.
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = if in_memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new()
                    .max_connections(max_connections.unwrap_or(SQLITE_MAX_CONNECTIONS).max(1))
            }
            // No ping before each acquire: a SQLite connection is a file handle in this
            // process, nothing can close it under us, and sqlx's ping is one more round trip
            // to the connection's worker thread per query (the signalling profile showed
            // `ConnectionWorker::ping` at 6% of the server's time).
            .test_before_acquire(false);
            let pool = pool.connect_with(options.clone()).await?;
            if !in_memory {
                reader_file = Some(options.get_filename().to_owned());
            }
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
            // One direct attempt first: an unreachable server is reported at once, where the
            // pool would keep retrying for its whole acquire timeout (30 s by default).
            let probe = sqlx::ConnectOptions::connect(&options).await?;
            sqlx::Connection::close(probe).await?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.unwrap_or(POSTGRES_MAX_CONNECTIONS).max(1))
                .acquire_timeout(std::time::Duration::from_secs(10))
                // sqlx pings every idle connection before handing it out: one more round
                // trip per statement (and sqlx pings again on release). A connection used
                // less than POSTGRES_PING_IDLE ago was just proven alive by that release
                // ping; only one idle longer (the server may have closed it) is tested. One
                // that broke in between fails its statement, as a statement in flight would.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= POSTGRES_PING_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                });
            Backend::Postgres(pool.connect_with(options).await?)
        } else {
            return Err(StoreError::Invalid {
                what: "database url",
                detail: "expected sqlite://... or postgres://...".to_owned(),
            });
        };
        let mut store = Store {
            backend,
            reader: None,
        };
        store.migrate().await?;
        // After the migration: the file exists and has its tables before a reader opens it.
        if let Some(file) = reader_file {
            match sqlite_reader::SqliteReader::open(&file) {
                Ok(reader) => store.reader = Some(Arc::new(reader)),
                Err(error) => {
                    tracing::warn!(%error, "no direct SQLite reads; every read goes through sqlx")
                }
            }
        }
        Ok(store)
    }

    /// Applies any migration not yet applied (idempotent; run by [`Store::connect`]).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// Deletes row `id` of `table` only when its `owner_column` is `owner`: every "delete one of
    /// mine" in the store, so another user's id is NotFound, never someone else's row gone.
    /// `table` and `owner_column` are compile-time names, never input.
    pub(crate) async fn delete_owned(
        &self,
        table: &'static str,
        owner_column: &'static str,
        id: i64,
        owner: i64,
        what: &'static str,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {table} WHERE id = $1 AND {owner_column} = $2");
        let n = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        users::found(n, what)
    }

    /// Closes every connection, waiting for those in use to be returned. For SQLite this also
    /// checkpoints the WAL, so the database file alone holds everything afterwards.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

    /// The same store with every read through sqlx, for tests and benchmarks that compare
    /// the direct SQLite reads ([`sqlite_reader`]) with it.
    #[doc(hidden)]
    pub fn without_direct_reads(&self) -> Store {
        Store {
            backend: self.backend.clone(),
            reader: None,
        }
    }

    /// Whether per-call reads go straight to SQLite ([`sqlite_reader`]).
    pub fn has_direct_reads(&self) -> bool {
        self.reader.is_some()
    }

    /// How many direct reads were handed back to sqlx (busy or failed) since the store
    /// opened; 0 without a direct reader.
    pub fn direct_read_fallbacks(&self) -> u64 {
        self.reader.as_ref().map_or(0, |r| r.fallbacks())
    }

    /// The first row of the SQLite text `sql` as `N` text columns, read directly; `None` when
    /// there is no direct reader or it could not answer (the caller then reads through sqlx).
    fn direct_texts<const N: usize>(
        &self,
        sql: &str,
        params: &[(&str, &dyn rusqlite::ToSql)],
    ) -> Option<Option<[Option<String>; N]>> {
        self.reader.as_ref()?.texts(sql, params).ok()
    }

    /// Which backend this store talks to ("sqlite" or "postgres"), for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// An instant as stored: epoch milliseconds, UTC.
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An optional instant as stored.
fn ms_opt(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

/// A stored instant back as a `DateTime`; out-of-range values mean a corrupted row.
fn ts(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::invalid("timestamp", ms.to_string()))
}

/// An optional stored instant back as a `DateTime`.
fn ts_opt(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(ts).transpose()
}

/// A stored text enumeration back as its Rust type.
fn parse<T: FromStr<Err = UnknownVariant>>(s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e: UnknownVariant| StoreError::invalid(e.kind, e.value))
}

/// A stored minute of the day back as its type; out-of-range values mean a corrupted row.
fn minute_of_day(min: i64) -> Result<MinuteOfDay, StoreError> {
    u16::try_from(min)
        .ok()
        .and_then(MinuteOfDay::new)
        .ok_or_else(|| StoreError::invalid("minute of day", min.to_string()))
}

/// A stored non-negative integer back as a narrower unsigned type.
fn unsigned<T: TryFrom<i64>>(what: &'static str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::invalid(what, v.to_string()))
}

/// Lower-cases for the `search_name` columns and search patterns; Unicode-aware, unlike
/// SQLite's `lower()`, so "Ærø" and "ærø" meet.
fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// A `LIKE` pattern matching `needle` anywhere, with `%`, `_` and `\` escaped (use with
/// `ESCAPE '\'`), so a user typing "50%" searches for that text.
fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in fold(needle).chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A stored IANA timezone name back as a `Tz`.
fn parse_tz(name: &str) -> Result<chrono_tz::Tz, StoreError> {
    name.parse()
        .map_err(|_| StoreError::invalid("timezone", name))
}

/// A stored boolean in a JSON document (the routing snapshot): PostgreSQL's `json_build_object`
/// writes `true`/`false`, SQLite's `json_object` writes the 0/1 it stores booleans as.
fn json_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Stored;
    impl serde::de::Visitor<'_> for Stored {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a boolean, or 0 or 1")
        }
        fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<bool, E> {
            Ok(b)
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<bool, E> {
            match n {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::custom(format!("boolean stored as {n}"))),
            }
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<bool, E> {
            self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
        }
    }
    d.deserialize_any(Stored)
}
