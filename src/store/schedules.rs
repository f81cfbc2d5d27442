//! Recurring weekly absences ("team meeting Mondays 09:00–10:00"). Stored as local times and a
//! weekday mask; the routing core expands them in the organisation's timezone at `now`.

use chrono::{DateTime, Utc};

use super::forwards::{destination, validate_destination};
use super::users::found;
use super::{
    minute_of_day, ms, ms_opt, parse, ts_opt, Schedule, ScheduleData, ScheduleId, Store,
    StoreError, UserId, Weekdays,
};

/// A `schedules` row as stored.
// Also `Deserialize`: the routing snapshot (`routing_snapshot.rs`) reads the same row as a JSON
// array in `COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct ScheduleRow {
    id: i64,
    user_id: i64,
    weekdays: i64,
    start_min: i64,
    end_min: i64,
    reason: String,
    destination_kind: String,
    destination_number: Option<String>,
    free_text: Option<String>,
    valid_from: Option<i64>,
    valid_until: Option<i64>,
}

impl TryFrom<ScheduleRow> for Schedule {
    type Error = StoreError;

    fn try_from(r: ScheduleRow) -> Result<Self, StoreError> {
        let weekdays = u8::try_from(r.weekdays)
            .ok()
            .and_then(Weekdays::from_bits)
            .ok_or_else(|| StoreError::invalid("weekdays", r.weekdays.to_string()))?;
        Ok(Schedule {
            id: ScheduleId(r.id),
            data: ScheduleData {
                user_id: UserId(r.user_id),
                weekdays,
                start: minute_of_day(r.start_min)?,
                end: minute_of_day(r.end_min)?,
                reason: parse(&r.reason)?,
                destination: destination(&r.destination_kind, r.destination_number)?,
                free_text: r.free_text,
                valid_from: ts_opt(r.valid_from)?,
                valid_until: ts_opt(r.valid_until)?,
            },
        })
    }
}

pub(super) const COLUMNS: &str =
    "id, user_id, weekdays, start_min, end_min, reason, destination_kind, \
                       destination_number, free_text, valid_from, valid_until";

/// Checks a schedule: some weekday, end after start, a complete destination.
fn validate(s: &ScheduleData) -> Result<(), StoreError> {
    if s.weekdays.is_empty() {
        return Err(StoreError::invalid("schedule weekdays", "no day selected"));
    }
    if s.end <= s.start {
        return Err(StoreError::invalid(
            "schedule times",
            "end must be after start",
        ));
    }
    validate_destination(&s.destination)
}

impl Store {
    /// Creates a schedule.
    pub async fn schedule_create(
        &self,
        s: &ScheduleData,
        now: DateTime<Utc>,
    ) -> Result<Schedule, StoreError> {
        validate(s)?;
        let sql = format!(
            "INSERT INTO schedules (user_id, weekdays, start_min, end_min, reason, \
             destination_kind, destination_number, free_text, valid_from, valid_until, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING {COLUMNS}"
        );
        let row: ScheduleRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(s.user_id.0)
                .bind(i64::from(s.weekdays.bits()))
                .bind(i64::from(s.start.minutes()))
                .bind(i64::from(s.end.minutes()))
                .bind(s.reason.as_str())
                .bind(s.destination.kind.as_str())
                .bind(&s.destination.number)
                .bind(&s.free_text)
                .bind(ms_opt(s.valid_from))
                .bind(ms_opt(s.valid_until))
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// A user's schedules.
    pub async fn schedules(&self, user: UserId) -> Result<Vec<Schedule>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM schedules WHERE user_id = $1 ORDER BY start_min, id");
        let rows: Vec<ScheduleRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Replaces a schedule's content.
    pub async fn schedule_update(
        &self,
        id: ScheduleId,
        s: &ScheduleData,
    ) -> Result<(), StoreError> {
        validate(s)?;
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE schedules SET user_id = $2, weekdays = $3, start_min = $4, end_min = $5, \
                 reason = $6, destination_kind = $7, destination_number = $8, free_text = $9, \
                 valid_from = $10, valid_until = $11 WHERE id = $1",
            )
            .bind(id.0)
            .bind(s.user_id.0)
            .bind(i64::from(s.weekdays.bits()))
            .bind(i64::from(s.start.minutes()))
            .bind(i64::from(s.end.minutes()))
            .bind(s.reason.as_str())
            .bind(s.destination.kind.as_str())
            .bind(&s.destination.number)
            .bind(&s.free_text)
            .bind(ms_opt(s.valid_from))
            .bind(ms_opt(s.valid_until))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "schedule")
    }

    /// Deletes a schedule.
    pub async fn schedule_delete(&self, id: ScheduleId) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM schedules WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "schedule")
    }
}
