//! Calendar feeds and the entries imported from them (one way, from Exchange/Outlook ICS).
//!
//! The rule the product insists on: an imported entry the user edited (origin becomes `WEB`)
//! or deleted in our system stays as the user left it. A sync upserts by (user, UID,
//! RECURRENCE-ID) and, for such entries, only notes that the feed still has them; a deleted
//! entry is a tombstone (`user_deleted`) rather than a missing row, so the next sync cannot
//! resurrect it. Entries the feed no longer contains are pruned after a sync, except the
//! user's edited ones, which are theirs now.

use chrono::{DateTime, Utc};

use super::users::found;
use super::{
    ms, parse, ts, ts_opt, CalendarEntry, CalendarEntryId, CalendarSource, CalendarSourceId,
    CalendarSourceKind, EntryEdit, Store, StoreError, SyncedEntry, UserId,
};

/// A `calendar_sources` row as stored.
#[derive(sqlx::FromRow)]
struct SourceRow {
    id: i64,
    user_id: i64,
    kind: String,
    url: String,
    auth: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    last_error: Option<String>,
    last_sync_at: Option<i64>,
}

impl TryFrom<SourceRow> for CalendarSource {
    type Error = StoreError;

    fn try_from(r: SourceRow) -> Result<Self, StoreError> {
        Ok(CalendarSource {
            id: CalendarSourceId(r.id),
            user_id: UserId(r.user_id),
            kind: parse(&r.kind)?,
            url: r.url,
            auth: r.auth,
            etag: r.etag,
            last_modified: r.last_modified,
            last_error: r.last_error,
            last_sync_at: ts_opt(r.last_sync_at)?,
        })
    }
}

/// A `calendar_entries` row as stored.
// Also `Deserialize`: the routing snapshot (`routing_snapshot.rs`) reads the same row as a JSON
// array in `ENTRY_COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct EntryRow {
    id: i64,
    user_id: i64,
    source_id: Option<i64>,
    external_uid: String,
    recurrence_id: String,
    subject: String,
    starts_at: i64,
    ends_at: i64,
    #[serde(deserialize_with = "super::json_bool")]
    all_day: bool,
    busy_status: String,
    origin: String,
    #[serde(deserialize_with = "super::json_bool")]
    user_edited: bool,
    #[serde(deserialize_with = "super::json_bool")]
    user_deleted: bool,
    code_override: Option<String>,
    updated_at: i64,
}

impl TryFrom<EntryRow> for CalendarEntry {
    type Error = StoreError;

    fn try_from(r: EntryRow) -> Result<Self, StoreError> {
        Ok(CalendarEntry {
            id: CalendarEntryId(r.id),
            user_id: UserId(r.user_id),
            source_id: r.source_id.map(CalendarSourceId),
            external_uid: r.external_uid,
            recurrence_id: r.recurrence_id,
            subject: r.subject,
            starts_at: ts(r.starts_at)?,
            ends_at: ts(r.ends_at)?,
            all_day: r.all_day,
            busy_status: parse(&r.busy_status)?,
            origin: parse(&r.origin)?,
            user_edited: r.user_edited,
            user_deleted: r.user_deleted,
            code_override: r.code_override,
            updated_at: ts(r.updated_at)?,
        })
    }
}

const SOURCE_COLUMNS: &str =
    "id, user_id, kind, url, auth, etag, last_modified, last_error, last_sync_at";
pub(super) const ENTRY_COLUMNS: &str =
    "id, user_id, source_id, external_uid, recurrence_id, subject, \
    starts_at, ends_at, all_day, busy_status, origin, user_edited, user_deleted, code_override, \
    updated_at";

/// `column = excluded.column` unless the user has taken the entry over.
macro_rules! unless_user_owned {
    ($col:literal) => {
        concat!(
            $col,
            " = CASE WHEN calendar_entries.user_edited OR calendar_entries.user_deleted THEN \
             calendar_entries.",
            $col,
            " ELSE excluded.",
            $col,
            " END"
        )
    };
}

/// The sync upsert; see the module doc.
const UPSERT: &str = concat!(
    "INSERT INTO calendar_entries (user_id, source_id, external_uid, recurrence_id, subject, \
     starts_at, ends_at, all_day, busy_status, origin, seen_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'OL', $10, $10) \
     ON CONFLICT (user_id, external_uid, recurrence_id) DO UPDATE SET \
     seen_at = excluded.seen_at, source_id = excluded.source_id, ",
    unless_user_owned!("subject"),
    ", ",
    unless_user_owned!("starts_at"),
    ", ",
    unless_user_owned!("ends_at"),
    ", ",
    unless_user_owned!("all_day"),
    ", ",
    unless_user_owned!("busy_status"),
    ", ",
    unless_user_owned!("updated_at"),
    " RETURNING id, user_id, source_id, external_uid, recurrence_id, subject, starts_at, \
     ends_at, all_day, busy_status, origin, user_edited, user_deleted, code_override, updated_at"
);

impl Store {
    /// Adds a calendar feed for `user`.
    pub async fn calendar_source_create(
        &self,
        user: UserId,
        kind: CalendarSourceKind,
        url: &str,
        auth: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CalendarSource, StoreError> {
        let sql = format!(
            "INSERT INTO calendar_sources (user_id, kind, url, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {SOURCE_COLUMNS}"
        );
        let row: SourceRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.0)
                .bind(kind.as_str())
                .bind(url)
                .bind(auth)
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// Every calendar feed (for the sync driver), or only `user`'s.
    pub async fn calendar_sources(
        &self,
        user: Option<UserId>,
    ) -> Result<Vec<CalendarSource>, StoreError> {
        let sql = format!(
            "SELECT {SOURCE_COLUMNS} FROM calendar_sources WHERE ($1 IS NULL OR user_id = $1) \
             ORDER BY id"
        );
        let rows: Vec<SourceRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.map(|u| u.0))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Records the outcome of a sync of `source`: the validators for the next conditional
    /// fetch, and the error if it failed (`None` clears it).
    pub async fn calendar_source_synced(
        &self,
        source: CalendarSourceId,
        etag: Option<&str>,
        last_modified: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE calendar_sources SET etag = COALESCE($2, etag), \
                 last_modified = COALESCE($3, last_modified), last_error = $4, \
                 last_sync_at = $5 WHERE id = $1",
            )
            .bind(source.0)
            .bind(etag)
            .bind(last_modified)
            .bind(error)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "calendar source")
    }

    /// Stores one entry read by a sync at `now`, and returns the row as it now stands: a new
    /// entry is inserted with origin `OL`; an existing one is updated, unless the user edited
    /// or deleted it, in which case it is left as the user made it.
    pub async fn calendar_upsert_from_sync(
        &self,
        e: &SyncedEntry,
        now: DateTime<Utc>,
    ) -> Result<CalendarEntry, StoreError> {
        if e.ends_at < e.starts_at {
            return Err(StoreError::invalid(
                "calendar entry",
                "ends before it starts",
            ));
        }
        let row: EntryRow = with_pool!(self, |pool| {
            sqlx::query_as(UPSERT)
                .bind(e.user_id.0)
                .bind(e.source_id.map(|s| s.0))
                .bind(&e.external_uid)
                .bind(&e.recurrence_id)
                .bind(&e.subject)
                .bind(ms(e.starts_at))
                .bind(ms(e.ends_at))
                .bind(e.all_day)
                .bind(e.busy_status.as_str())
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// After a sync of `source` that started at `sync_started`, deletes the entries the feed
    /// no longer had (not seen since), except user-edited ones. Returns how many went.
    pub async fn calendar_prune_unseen(
        &self,
        source: CalendarSourceId,
        sync_started: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM calendar_entries WHERE source_id = $1 AND seen_at < $2 \
                 AND NOT user_edited",
            )
            .bind(source.0)
            .bind(ms(sync_started))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// The user edits an entry in the web client: it becomes `WEB` and `user_edited`, so
    /// syncs no longer touch it. Deleted entries cannot be edited.
    pub async fn calendar_user_edit(
        &self,
        user: UserId,
        id: CalendarEntryId,
        edit: &EntryEdit,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if edit.ends_at < edit.starts_at {
            return Err(StoreError::invalid(
                "calendar entry",
                "ends before it starts",
            ));
        }
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE calendar_entries SET subject = $3, starts_at = $4, ends_at = $5, \
                 all_day = $6, busy_status = $7, code_override = $8, origin = 'WEB', \
                 user_edited = TRUE, updated_at = $9 \
                 WHERE id = $1 AND user_id = $2 AND NOT user_deleted",
            )
            .bind(id.0)
            .bind(user.0)
            .bind(&edit.subject)
            .bind(ms(edit.starts_at))
            .bind(ms(edit.ends_at))
            .bind(edit.all_day)
            .bind(edit.busy_status.as_str())
            .bind(&edit.code_override)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "calendar entry")
    }

    /// The user deletes an entry: it is kept as a tombstone, hidden everywhere, so that the
    /// next sync does not bring it back.
    pub async fn calendar_user_delete(
        &self,
        user: UserId,
        id: CalendarEntryId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE calendar_entries SET user_deleted = TRUE, updated_at = $3 \
                 WHERE id = $1 AND user_id = $2",
            )
            .bind(id.0)
            .bind(user.0)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "calendar entry")
    }

    /// `user`'s visible (not deleted) entries overlapping `[from, to)`, by start. Free and
    /// tentative entries are included; hiding them is the presentation's and routing's rule.
    pub async fn calendar_entries(
        &self,
        user: UserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CalendarEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM calendar_entries WHERE user_id = $1 \
             AND NOT user_deleted AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at, id"
        );
        let rows: Vec<EntryRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.0)
                .bind(ms(from))
                .bind(ms(to))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One entry by id (tombstones included, so callers can see `user_deleted`).
    pub async fn calendar_entry(&self, id: CalendarEntryId) -> Result<CalendarEntry, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM calendar_entries WHERE id = $1");
        let row: Option<EntryRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(pool)
            .await)?;
        row.ok_or(StoreError::NotFound("calendar entry"))?
            .try_into()
    }
}
