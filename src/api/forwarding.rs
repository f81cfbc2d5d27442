//! Forwarding: absences ("forward my phone"), the quick forwards, "open my phone", weekly
//! schedules and saved destinations. Receptionists may manage colleagues' absences; the origin
//! is then their initials.
//!
//! What is written here routes the very next INVITE (the B2BUA reads the same rows), so input
//! is checked before it is stored: a period must end after it starts, a number must look like
//! one, an external number is refused when the organisation forbids external forwarding (toll
//! fraud guard), and forwarding to oneself is refused (a loop routing would have to break).
//! Every change publishes [`PresenceEvent::Availability`](crate::presence::PresenceEvent).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::colleagues::colleague;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::me::{check_text, normalise_number};
use super::ApiState;
use crate::domain::{DestinationKind, Origin, Reason, Role};
use crate::number::Plan;
use crate::routing::{quick_forward_period, QuickForward as DefaultQuickForward};
use crate::store::{
    Absence, AbsenceData, AbsenceId, Destination, MinuteOfDay, NewQuickForward, QuickDuration,
    QuickForward, QuickForwardId, SavedDestination, SavedDestinationId, SavedDestinationKind,
    Schedule, ScheduleData, StoreError, User, UserId, Weekdays,
};

/// How far ahead absence lists look: far enough for any holiday entered as dates.
const LIST_HORIZON_DAYS: i64 = 3650;

/// Where calls go, as the client sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    /// `voicemail`, `number` or `open` (keep phone open).
    pub kind: DestinationKind,
    /// For `number`: the number (colleague, group or external).
    #[serde(default)]
    pub number: Option<String>,
    /// For `number`: one of the user's saved destinations instead of `number`.
    #[serde(default)]
    pub saved_destination_id: Option<i64>,
}

/// Body of absence create/replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsenceInput {
    /// Why.
    pub reason: Reason,
    /// Start, RFC 3339 with offset; default now.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); `null` or absent = until further notice.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// Where calls go.
    pub destination: DestinationInput,
    /// Shown to colleagues.
    #[serde(default)]
    pub free_text: Option<String>,
    /// Shown to receptionists only.
    #[serde(default)]
    pub receptionist_note: Option<String>,
}

/// Who acts on whose forwarding.
struct Actor<'a> {
    /// The logged-in user.
    caller: &'a Caller,
    /// The user whose forwarding changes.
    target: User,
}

impl Actor<'_> {
    /// `WEB` for oneself; a receptionist's initials for someone else.
    fn origin(&self) -> Origin {
        if self.target.id == self.caller.user.id {
            return Origin::Web;
        }
        receptionist_origin(&self.caller.user)
    }
}

/// A receptionist's initials as an origin: the stored initials, else the initials of the name,
/// else `REC` (an origin must be 2–5 letters).
fn receptionist_origin(user: &User) -> Origin {
    let from_name: String = user
        .profile
        .name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(char::is_ascii_alphabetic)
        .take(5)
        .collect();
    [user.profile.initials.clone().unwrap_or_default(), from_name]
        .into_iter()
        .find_map(|s| s.parse::<Origin>().ok())
        .filter(|o| matches!(o, Origin::Receptionist(_)))
        .unwrap_or_else(|| Origin::Receptionist("REC".to_owned()))
}

/// Resolves and checks a destination for `target`.
async fn destination(
    state: &ApiState,
    target: &User,
    input: &DestinationInput,
    field: &str,
) -> Result<Destination, ApiError> {
    match input.kind {
        DestinationKind::Voicemail | DestinationKind::Open => {
            if input.number.is_some() || input.saved_destination_id.is_some() {
                return Err(ApiError::invalid(
                    format!("{field}.number"),
                    "only a `number` destination has a number",
                ));
            }
            Ok(Destination {
                kind: input.kind,
                number: None,
            })
        }
        DestinationKind::Number => {
            let number = match (&input.number, input.saved_destination_id) {
                (Some(n), None) => n.trim().to_owned(),
                (None, Some(id)) => state
                    .store
                    .saved_destinations(target.id)
                    .await?
                    .into_iter()
                    .find(|d| d.id.0 == id)
                    .map(|d| d.number)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            format!("{field}.saved_destination_id"),
                            "no such saved destination",
                        )
                    })?,
                _ => {
                    return Err(ApiError::invalid(
                        format!("{field}.number"),
                        "give either a number or a saved destination",
                    ))
                }
            };
            let number =
                check_forward_number(state, target, &number, &format!("{field}.number")).await?;
            Ok(Destination::number(number))
        }
    }
}

/// A forward target must be a number, not the user's own, and — if outside the organisation —
/// allowed by the toll-fraud policy (the organisation's switch and the deny-list). Returns it
/// in its stored form (`number::normalise` with the organisation's plan: `+45 70 10 00 02` is
/// `4570100002`), so it compares with OneNumbers.
async fn check_forward_number(
    state: &ApiState,
    target: &User,
    number: &str,
    field: &str,
) -> Result<String, ApiError> {
    let org = state.store.org(target.org_id).await?;
    let number = normalise_number(field, number, &Plan::for_timezone(org.timezone))?;
    let number = number.as_str();
    if number == target.one_number || number == target.local_number {
        return Err(ApiError::invalid(
            field,
            "cannot forward to one's own number",
        ));
    }
    crate::api::toll_fraud::guard(
        state,
        &org,
        number,
        field,
        "external_forwarding_not_allowed",
    )
    .await?;
    Ok(number.to_owned())
}

/// Checks an absence input and builds the row.
async fn absence_data(
    state: &ApiState,
    actor: &Actor<'_>,
    input: AbsenceInput,
    calendar_entry_id: Option<crate::store::CalendarEntryId>,
) -> Result<AbsenceData, ApiError> {
    let now = state.now();
    let starts_at = input.from.unwrap_or(now);
    if let Some(end) = input.to {
        if end <= starts_at {
            return Err(ApiError::invalid("to", "must be after `from`"));
        }
        if end <= now {
            return Err(ApiError::invalid("to", "is already over"));
        }
    }
    for (field, text) in [
        ("free_text", &input.free_text),
        ("receptionist_note", &input.receptionist_note),
    ] {
        if let Some(t) = text {
            check_text(field, t)?;
        }
    }
    let destination = destination(state, &actor.target, &input.destination, "destination").await?;
    Ok(AbsenceData {
        user_id: actor.target.id,
        reason: input.reason,
        starts_at,
        ends_at: input.to,
        destination,
        free_text: input.free_text.filter(|t| !t.trim().is_empty()),
        receptionist_note: input.receptionist_note.filter(|t| !t.trim().is_empty()),
        origin: actor.origin(),
        calendar_entry_id,
        created_by: Some(actor.caller.user.id),
    })
}

/// The target's absence `id`, or 404 (also when it belongs to someone else).
async fn owned_absence(state: &ApiState, target: UserId, id: i64) -> Result<Absence, ApiError> {
    match state.store.absence(AbsenceId(id)).await {
        Ok(a) if a.data.user_id == target => Ok(a),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(ApiError::NotFound("absence")),
        Err(e) => Err(e.into()),
    }
}

async fn list_absences(state: &ApiState, user: UserId) -> Result<Json<Vec<Absence>>, ApiError> {
    let now = state.now();
    Ok(Json(
        state
            .store
            .absences_overlapping(user, now, now + Duration::days(LIST_HORIZON_DAYS))
            .await?,
    ))
}

async fn create_absence(
    state: &ApiState,
    actor: Actor<'_>,
    input: AbsenceInput,
) -> Result<(StatusCode, Json<Absence>), ApiError> {
    let data = absence_data(state, &actor, input, None).await?;
    let absence = state.store.absence_create(&data, state.now()).await?;
    state.availability_changed(actor.target.id);
    Ok((StatusCode::CREATED, Json(absence)))
}

async fn replace_absence(
    state: &ApiState,
    actor: Actor<'_>,
    id: i64,
    input: AbsenceInput,
) -> Result<Json<Absence>, ApiError> {
    let old = owned_absence(state, actor.target.id, id).await?;
    // Editing an imported entry makes it ours (origin WEB or initials), still linked to it.
    let data = absence_data(state, &actor, input, old.data.calendar_entry_id).await?;
    state
        .store
        .absence_update(old.id, &data, state.now())
        .await?;
    state.availability_changed(actor.target.id);
    Ok(Json(state.store.absence(old.id).await?))
}

async fn remove_absence(state: &ApiState, target: UserId, id: i64) -> Result<StatusCode, ApiError> {
    let old = owned_absence(state, target, id).await?;
    state.store.absence_delete(old.id).await?;
    state.availability_changed(target);
    Ok(StatusCode::NO_CONTENT)
}

/// Ends what is in force now: absences started before now get `now` as their end, one
/// starting exactly now is deleted (it would otherwise stay in force for an instant).
async fn open_phone(state: &ApiState, user: UserId) -> Result<Json<serde_json::Value>, ApiError> {
    let now = state.now();
    let mut ended = state.store.absences_end_now(user, now).await?;
    for a in state.store.absences_in_force(user, now).await? {
        state.store.absence_delete(a.id).await?;
        ended += 1;
    }
    state.availability_changed(user);
    Ok(Json(json!({ "ended": ended })))
}

/// The caller themself as the target.
fn me(caller: &Caller) -> Actor<'_> {
    Actor {
        caller,
        target: caller.user.clone(),
    }
}

/// A colleague as the target: only receptionists, only their own organisation.
async fn for_colleague<'a>(
    state: &ApiState,
    caller: &'a Caller,
    id: i64,
) -> Result<Actor<'a>, ApiError> {
    let target = colleague(state, caller, UserId(id)).await?;
    if caller.user.role != Role::Receptionist && target.id != caller.user.id {
        return Err(ApiError::forbidden(
            "receptionist_only",
            "only receptionists manage colleagues' forwarding",
        ));
    }
    Ok(Actor { caller, target })
}

/// `GET /api/v1/me/absences`: current and future absences.
pub async fn my_absences(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<Absence>>, ApiError> {
    list_absences(&state, caller.user.id).await
}

/// `POST /api/v1/me/absences`.
pub async fn create_my_absence(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<AbsenceInput>,
) -> Result<(StatusCode, Json<Absence>), ApiError> {
    create_absence(&state, me(&caller), input).await
}

/// `GET /api/v1/me/absences/{id}`.
pub async fn my_absence(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Absence>, ApiError> {
    Ok(Json(owned_absence(&state, caller.user.id, id).await?))
}

/// `PUT /api/v1/me/absences/{id}`.
pub async fn update_my_absence(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<AbsenceInput>,
) -> Result<Json<Absence>, ApiError> {
    replace_absence(&state, me(&caller), id, input).await
}

/// `DELETE /api/v1/me/absences/{id}`.
pub async fn delete_my_absence(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    remove_absence(&state, caller.user.id, id).await
}

/// `GET /api/v1/users/{id}/absences` (receptionists).
pub async fn user_absences(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Absence>>, ApiError> {
    let actor = for_colleague(&state, &caller, id).await?;
    list_absences(&state, actor.target.id).await
}

/// `POST /api/v1/users/{id}/absences` (receptionists; origin = their initials).
pub async fn create_user_absence(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<AbsenceInput>,
) -> Result<(StatusCode, Json<Absence>), ApiError> {
    let actor = for_colleague(&state, &caller, id).await?;
    create_absence(&state, actor, input).await
}

/// `PUT /api/v1/users/{id}/absences/{absence_id}` (receptionists).
pub async fn update_user_absence(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((id, absence_id)): ApiPath<(i64, i64)>,
    ApiJson(input): ApiJson<AbsenceInput>,
) -> Result<Json<Absence>, ApiError> {
    let actor = for_colleague(&state, &caller, id).await?;
    replace_absence(&state, actor, absence_id, input).await
}

/// `DELETE /api/v1/users/{id}/absences/{absence_id}` (receptionists).
pub async fn delete_user_absence(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((id, absence_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let actor = for_colleague(&state, &caller, id).await?;
    remove_absence(&state, actor.target.id, absence_id).await
}

/// `POST /api/v1/me/open-phone`.
pub async fn open_my_phone(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    open_phone(&state, caller.user.id).await
}

/// `POST /api/v1/users/{id}/open-phone` (receptionists).
pub async fn open_user_phone(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = for_colleague(&state, &caller, id).await?;
    open_phone(&state, actor.target.id).await
}

/// `GET /api/v1/me/quick-forwards`: the five defaults and the user's own, in screen order.
pub async fn quick_forwards(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<QuickForward>>, ApiError> {
    Ok(Json(state.store.quick_forwards(caller.user.id).await?))
}

/// Body of `POST /me/quick-forwards`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickForwardInput {
    /// Button text.
    pub label: String,
    /// Reason of the absence it sets.
    pub reason: Reason,
    /// `{"minutes": 45}` or `"end_of_working_day"`.
    pub duration: QuickDuration,
    /// Where calls go.
    pub destination: DestinationInput,
}

/// Longest quick forward: a week; longer absences are entered with dates.
const MAX_QUICK_MINUTES: u32 = 7 * 24 * 60;

/// `POST /api/v1/me/quick-forwards`.
pub async fn create_quick_forward(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<QuickForwardInput>,
) -> Result<(StatusCode, Json<QuickForward>), ApiError> {
    if input.label.trim().is_empty() {
        return Err(ApiError::invalid("label", "must not be empty"));
    }
    check_text("label", &input.label)?;
    if let QuickDuration::Minutes(m) = input.duration {
        if m == 0 || m > MAX_QUICK_MINUTES {
            return Err(ApiError::invalid(
                "duration.minutes",
                format!("1 to {MAX_QUICK_MINUTES} minutes"),
            ));
        }
    }
    let destination = destination(&state, &caller.user, &input.destination, "destination").await?;
    let qf = state
        .store
        .quick_forward_create(
            &NewQuickForward {
                user_id: caller.user.id,
                label: input.label,
                reason: input.reason,
                duration: input.duration,
                destination,
            },
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(qf)))
}

/// `DELETE /api/v1/me/quick-forwards/{id}`.
pub async fn delete_quick_forward(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .quick_forward_delete(caller.user.id, QuickForwardId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/quick-forwards/{id}/apply`: sets the absence from now; "gone for today"
/// lasts until the start of the next working day, as routing computes
/// (`routing::quick_forward`).
pub async fn apply_quick_forward(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<Absence>), ApiError> {
    let qf = state
        .store
        .quick_forwards(caller.user.id)
        .await?
        .into_iter()
        .find(|q| q.id.0 == id)
        .ok_or(ApiError::NotFound("quick forward"))?;
    let now = state.now();
    let (starts_at, ends_at) = match qf.duration {
        QuickDuration::Minutes(m) => (now, Some(now + Duration::minutes(i64::from(m)))),
        QuickDuration::EndOfWorkingDay => {
            let org = state.store.org(caller.user.org_id).await?;
            let hours = crate::user_state::working_hours(&caller.user.profile.working_hours);
            quick_forward_period(DefaultQuickForward::GoneForToday, now, &hours, org.timezone)
        }
    };
    let data = AbsenceData {
        user_id: caller.user.id,
        reason: qf.reason,
        starts_at,
        ends_at,
        destination: qf.destination,
        free_text: None,
        receptionist_note: None,
        origin: Origin::Web,
        calendar_entry_id: None,
        created_by: Some(caller.user.id),
    };
    let absence = state.store.absence_create(&data, now).await?;
    state.availability_changed(caller.user.id);
    Ok((StatusCode::CREATED, Json(absence)))
}

/// Body of schedule create/replace. Times are minutes after local midnight (0..=1440), the
/// weekdays a Monday-first bitmask, as the API returns them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// Bit 0 = Monday ... bit 6 = Sunday.
    pub weekdays: u8,
    /// Local start, minutes after midnight.
    pub start: u16,
    /// Local end, minutes after midnight (after `start`; 1440 = midnight).
    pub end: u16,
    /// Why.
    pub reason: Reason,
    /// Where calls go.
    pub destination: DestinationInput,
    /// Shown to colleagues.
    #[serde(default)]
    pub free_text: Option<String>,
    /// First instant it applies.
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// Instant after which it no longer applies.
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

async fn schedule_data(
    state: &ApiState,
    caller: &Caller,
    input: ScheduleInput,
) -> Result<ScheduleData, ApiError> {
    let weekdays = Weekdays::from_bits(input.weekdays)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| ApiError::invalid("weekdays", "a non-empty 7-bit weekday mask"))?;
    let start =
        MinuteOfDay::new(input.start).ok_or_else(|| ApiError::invalid("start", "0..=1440"))?;
    let end = MinuteOfDay::new(input.end).ok_or_else(|| ApiError::invalid("end", "0..=1440"))?;
    if end <= start {
        return Err(ApiError::invalid("end", "must be after `start`"));
    }
    if let (Some(from), Some(until)) = (input.valid_from, input.valid_until) {
        if until <= from {
            return Err(ApiError::invalid(
                "valid_until",
                "must be after `valid_from`",
            ));
        }
    }
    if let Some(t) = &input.free_text {
        check_text("free_text", t)?;
    }
    let destination = destination(state, &caller.user, &input.destination, "destination").await?;
    Ok(ScheduleData {
        user_id: caller.user.id,
        weekdays,
        start,
        end,
        reason: input.reason,
        destination,
        free_text: input.free_text,
        valid_from: input.valid_from,
        valid_until: input.valid_until,
    })
}

async fn owned_schedule(state: &ApiState, user: UserId, id: i64) -> Result<Schedule, ApiError> {
    state
        .store
        .schedules(user)
        .await?
        .into_iter()
        .find(|s| s.id.0 == id)
        .ok_or(ApiError::NotFound("schedule"))
}

/// `GET /api/v1/me/schedules`.
pub async fn schedules(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(state.store.schedules(caller.user.id).await?))
}

/// `POST /api/v1/me/schedules`.
pub async fn create_schedule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let data = schedule_data(&state, &caller, input).await?;
    let s = state.store.schedule_create(&data, state.now()).await?;
    state.availability_changed(caller.user.id);
    Ok((StatusCode::CREATED, Json(s)))
}

/// `PUT /api/v1/me/schedules/{id}`.
pub async fn update_schedule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> Result<Json<Schedule>, ApiError> {
    let old = owned_schedule(&state, caller.user.id, id).await?;
    let data = schedule_data(&state, &caller, input).await?;
    state.store.schedule_update(old.id, &data).await?;
    state.availability_changed(caller.user.id);
    Ok(Json(Schedule { id: old.id, data }))
}

/// `DELETE /api/v1/me/schedules/{id}`.
pub async fn delete_schedule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let old = owned_schedule(&state, caller.user.id, id).await?;
    state.store.schedule_delete(old.id).await?;
    state.availability_changed(caller.user.id);
    Ok(StatusCode::NO_CONTENT)
}

/// Body of saved-destination create/replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedDestinationInput {
    /// Display label.
    pub label: String,
    /// `group`, `colleague` or `external`.
    pub kind: SavedDestinationKind,
    /// The number.
    pub number: String,
}

/// Checks a saved destination; returns its number in the stored form.
async fn check_saved(
    state: &ApiState,
    caller: &Caller,
    input: &SavedDestinationInput,
) -> Result<String, ApiError> {
    if input.label.trim().is_empty() {
        return Err(ApiError::invalid("label", "must not be empty"));
    }
    check_text("label", &input.label)?;
    check_forward_number(state, &caller.user, &input.number, "number").await
}

/// `GET /api/v1/me/saved-destinations`.
pub async fn saved_destinations(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<SavedDestination>>, ApiError> {
    Ok(Json(state.store.saved_destinations(caller.user.id).await?))
}

/// `POST /api/v1/me/saved-destinations`.
pub async fn create_saved_destination(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(mut input): ApiJson<SavedDestinationInput>,
) -> Result<(StatusCode, Json<SavedDestination>), ApiError> {
    input.number = check_saved(&state, &caller, &input).await?;
    let d = state
        .store
        .saved_destination_create(
            caller.user.id,
            &input.label,
            input.kind,
            &input.number,
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// `PUT /api/v1/me/saved-destinations/{id}`.
pub async fn update_saved_destination(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(mut input): ApiJson<SavedDestinationInput>,
) -> Result<Json<SavedDestination>, ApiError> {
    input.number = check_saved(&state, &caller, &input).await?;
    let id = SavedDestinationId(id);
    state
        .store
        .saved_destination_update(caller.user.id, id, &input.label, input.kind, &input.number)
        .await?;
    Ok(Json(SavedDestination {
        id,
        user_id: caller.user.id,
        label: input.label,
        kind: input.kind,
        number: input.number,
    }))
}

/// `DELETE /api/v1/me/saved-destinations/{id}`.
pub async fn delete_saved_destination(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .saved_destination_delete(caller.user.id, SavedDestinationId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
