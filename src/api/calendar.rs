//! The user's imported calendar entries in the web client: list, edit, delete.
//!
//! Entries come one way from Exchange/Outlook. Editing one here makes its origin `WEB` and
//! marks it user-edited, so the next sync leaves it as the user made it; deleting one keeps a
//! tombstone, so it leaves routing and is not resurrected by the next sync — Exchange itself is
//! never touched (product: calendar rule 3).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, QueryParams};
use super::me::check_text;
use super::ApiState;
use crate::domain::BusyStatus;
use crate::store::{CalendarEntry, CalendarEntryId, EntryEdit};

/// `GET /api/v1/me/calendar?days=14`: entries from now on (Free/Tentative included, since the
/// user manages their own entries; colleagues never see those).
pub async fn entries(
    State(state): State<ApiState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Vec<CalendarEntry>>, ApiError> {
    query.only(&["days"])?;
    let days = query.parsed::<u32>("days")?.unwrap_or(14);
    if !(1..=366).contains(&days) {
        return Err(ApiError::invalid("days", "1 to 366"));
    }
    let now = state.now();
    let to = now + Duration::days(i64::from(days));
    Ok(Json(
        state
            .store
            .calendar_entries(caller.user.id, now, to)
            .await?,
    ))
}

/// Body of `PUT /me/calendar/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    /// Subject (may carry a calendar code).
    pub subject: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End (exclusive), after the start.
    pub ends_at: DateTime<Utc>,
    /// Date-only entry.
    #[serde(default)]
    pub all_day: bool,
    /// `free`, `tentative`, `busy`, `out_of_office` or `working_elsewhere`.
    pub busy_status: BusyStatus,
    /// A calendar code chosen in the web client, overriding one in the subject.
    #[serde(default)]
    pub code_override: Option<String>,
}

/// `PUT /api/v1/me/calendar/{id}`.
pub async fn edit(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<EntryInput>,
) -> Result<Json<CalendarEntry>, ApiError> {
    if input.ends_at <= input.starts_at {
        return Err(ApiError::invalid("ends_at", "must be after `starts_at`"));
    }
    check_text("subject", &input.subject)?;
    if let Some(code) = &input.code_override {
        check_text("code_override", code)?;
    }
    let id = CalendarEntryId(id);
    let edit = EntryEdit {
        subject: input.subject,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        all_day: input.all_day,
        busy_status: input.busy_status,
        code_override: input.code_override,
    };
    state
        .store
        .calendar_user_edit(caller.user.id, id, &edit, state.now())
        .await?;
    state.availability_changed(caller.user.id);
    Ok(Json(state.store.calendar_entry(id).await?))
}

/// `DELETE /api/v1/me/calendar/{id}`: removes the entry from routing and views (a tombstone
/// keeps the sync from bringing it back).
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .calendar_user_delete(caller.user.id, CalendarEntryId(id), state.now())
        .await?;
    state.availability_changed(caller.user.id);
    Ok(StatusCode::NO_CONTENT)
}
