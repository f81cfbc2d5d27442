//! Absences (forwardings) over `[starts_at, ends_at)`; `ends_at = NULL` is "until further
//! notice". This is the routing hot path: for every INVITE the B2BUA asks which absences are
//! in force at that instant, answered from the `(user_id, starts_at, ends_at)` index.

use chrono::{DateTime, Utc};

use super::forwards::{destination, validate_destination};
use super::users::found;
use super::{
    ms, ms_opt, parse, ts, ts_opt, Absence, AbsenceData, AbsenceId, CalendarEntryId, Store,
    StoreError, UserId,
};

/// An `absences` row as stored.
// Also `Deserialize`: the routing snapshot (`routing_snapshot.rs`) reads the same row as a JSON
// array in `COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct AbsenceRow {
    id: i64,
    user_id: i64,
    reason: String,
    starts_at: i64,
    ends_at: Option<i64>,
    destination_kind: String,
    destination_number: Option<String>,
    free_text: Option<String>,
    receptionist_note: Option<String>,
    origin: String,
    calendar_entry_id: Option<i64>,
    created_by: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AbsenceRow> for Absence {
    type Error = StoreError;

    fn try_from(r: AbsenceRow) -> Result<Self, StoreError> {
        Ok(Absence {
            id: AbsenceId(r.id),
            data: AbsenceData {
                user_id: UserId(r.user_id),
                reason: parse(&r.reason)?,
                starts_at: ts(r.starts_at)?,
                ends_at: ts_opt(r.ends_at)?,
                destination: destination(&r.destination_kind, r.destination_number)?,
                free_text: r.free_text,
                receptionist_note: r.receptionist_note,
                origin: parse(&r.origin)?,
                calendar_entry_id: r.calendar_entry_id.map(CalendarEntryId),
                created_by: r.created_by.map(UserId),
            },
            created_at: ts(r.created_at)?,
            updated_at: ts(r.updated_at)?,
        })
    }
}

pub(super) const COLUMNS: &str = "id, user_id, reason, starts_at, ends_at, destination_kind, \
    destination_number, free_text, receptionist_note, origin, calendar_entry_id, created_by, \
    created_at, updated_at";

/// Checks what the schema's CHECKs would refuse, with a better message.
fn validate(a: &AbsenceData) -> Result<(), StoreError> {
    if a.ends_at.is_some_and(|end| end <= a.starts_at) {
        return Err(StoreError::invalid(
            "absence period",
            "must end after it starts",
        ));
    }
    validate_destination(&a.destination)
}

impl Store {
    /// Creates an absence.
    pub async fn absence_create(
        &self,
        a: &AbsenceData,
        now: DateTime<Utc>,
    ) -> Result<Absence, StoreError> {
        validate(a)?;
        let sql = format!(
            "INSERT INTO absences (user_id, reason, starts_at, ends_at, destination_kind, \
             destination_number, free_text, receptionist_note, origin, calendar_entry_id, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $12) RETURNING {COLUMNS}"
        );
        let row: AbsenceRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(a.user_id.0)
                .bind(a.reason.as_str())
                .bind(ms(a.starts_at))
                .bind(ms_opt(a.ends_at))
                .bind(a.destination.kind.as_str())
                .bind(&a.destination.number)
                .bind(&a.free_text)
                .bind(&a.receptionist_note)
                .bind(a.origin.as_str())
                .bind(a.calendar_entry_id.map(|c| c.0))
                .bind(a.created_by.map(|u| u.0))
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// The absence with this id.
    pub async fn absence(&self, id: AbsenceId) -> Result<Absence, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM absences WHERE id = $1");
        let row: Option<AbsenceRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(pool)
            .await)?;
        row.ok_or(StoreError::NotFound("absence"))?.try_into()
    }

    /// Replaces the content of an absence (its user included, which a caller should keep).
    pub async fn absence_update(
        &self,
        id: AbsenceId,
        a: &AbsenceData,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        validate(a)?;
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE absences SET user_id = $2, reason = $3, starts_at = $4, ends_at = $5, \
                 destination_kind = $6, destination_number = $7, free_text = $8, \
                 receptionist_note = $9, origin = $10, calendar_entry_id = $11, \
                 created_by = $12, updated_at = $13 WHERE id = $1",
            )
            .bind(id.0)
            .bind(a.user_id.0)
            .bind(a.reason.as_str())
            .bind(ms(a.starts_at))
            .bind(ms_opt(a.ends_at))
            .bind(a.destination.kind.as_str())
            .bind(&a.destination.number)
            .bind(&a.free_text)
            .bind(&a.receptionist_note)
            .bind(a.origin.as_str())
            .bind(a.calendar_entry_id.map(|c| c.0))
            .bind(a.created_by.map(|u| u.0))
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "absence")
    }

    /// Ends every absence of `user` in force at `now` by setting its end to `now` ("open my
    /// phone"). Returns how many were ended. Future absences are left alone.
    pub async fn absences_end_now(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE absences SET ends_at = $2, updated_at = $2 WHERE user_id = $1 \
                 AND starts_at < $2 AND (ends_at IS NULL OR ends_at > $2)",
            )
            .bind(user.0)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// Deletes an absence.
    pub async fn absence_delete(&self, id: AbsenceId) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM absences WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "absence")
    }

    /// `user`'s absences overlapping `[from, to)`, by start (the timeline view).
    pub async fn absences_overlapping(
        &self,
        user: UserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Absence>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM absences WHERE user_id = $1 AND starts_at < $3 \
             AND (ends_at IS NULL OR ends_at > $2) ORDER BY starts_at, id"
        );
        let rows: Vec<AbsenceRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.0)
                .bind(ms(from))
                .bind(ms(to))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// `user`'s absences in force at `now` (`starts_at <= now < ends_at`, or open-ended),
    /// most recently started first: when several overlap, the newest decision wins.
    pub async fn absences_in_force(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Absence>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM absences WHERE user_id = $1 AND starts_at <= $2 \
             AND (ends_at IS NULL OR ends_at > $2) ORDER BY starts_at DESC, id DESC"
        );
        let rows: Vec<AbsenceRow> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(user.0)
                .bind(ms(now))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
