//! What can go wrong in the store, in terms its callers act on: the API turns `NotFound` into
//! 404, `Conflict` into 409 and `Invalid` into 400/422; `Database` and `Migrate` are internal.

use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;
use sqlx::postgres::PgDatabaseError;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (or is not visible, e.g. an expired session).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique constraint refused the write; `what` names it as `table.column`
    /// (e.g. `users.local_number`), the same on both backends.
    #[error("already exists: {what}")]
    Conflict {
        /// `table.column` (or `table.col1, col2`) of the violated unique key.
        what: String,
    },
    /// A value was refused before it reached the database, or a stored value did not parse
    /// (a corrupted or newer-schema row).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// Which value ("one number", "destination", "timestamp", ...).
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// Any other database failure (connection lost, disk full, ...).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] MigrateError),
}

impl StoreError {
    /// Shorthand for [`StoreError::Invalid`].
    pub(super) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

/// Classifies a driver error: unique violations become [`StoreError::Conflict`] naming the
/// column (so the API can say "local number already in use"), `RowNotFound` becomes
/// [`StoreError::NotFound`]; everything else stays a [`StoreError::Database`].
impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = err {
            return StoreError::NotFound("row");
        }
        if let Some(db) = err.as_database_error() {
            if db.kind() == ErrorKind::UniqueViolation {
                return StoreError::Conflict {
                    what: unique_target(db),
                };
            }
        }
        StoreError::Database(err)
    }
}

/// `table.column` of a unique violation. SQLite says "UNIQUE constraint failed: users.x";
/// PostgreSQL names the table and says "Key (x)=(...) already exists." in the detail.
fn unique_target(db: &dyn sqlx::error::DatabaseError) -> String {
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        let columns = pg
            .detail()
            .and_then(|d| d.strip_prefix("Key ("))
            .and_then(|d| d.split_once(")=").map(|(cols, _)| cols.to_owned()));
        return match (pg.table(), columns) {
            (Some(table), Some(cols)) => format!("{table}.{cols}"),
            _ => pg.constraint().unwrap_or("unique key").to_owned(),
        };
    }
    let message = db.message();
    match message.split_once("constraint failed: ") {
        Some((_, target)) => target.to_owned(),
        None => message.to_owned(),
    }
}
