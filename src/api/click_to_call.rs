//! Click-to-call: `POST /api/v1/calls {to}` rings the user's own desk phone and, once it is
//! answered, calls `to` and bridges the two (RFC 3725 third-party call control, carried out in
//! the SIP task by `b2bua::click_to_call`). `GET /api/v1/calls/{id}` shows how far it got,
//! `DELETE` hangs up.
//!
//! What is checked here, before any SIP message is sent: `to` is a number; a number outside
//! the user's organisation is refused (403 `external_calls_not_allowed`) unless the
//! organisation allows external calls — the same toll-fraud rule as external forwards — and
//! then goes to the trunk (503 `no_trunk` without one); the user has a registered phone (409
//! `no_registered_device`) and fewer than [`MAX_PER_USER`] click-to-calls under way (409
//! `too_many_calls`). Only the user who asked sees or
//! hangs up a click-to-call: anyone else's id answers 404, like a missing one.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::me::check_number;
use super::ApiState;
use crate::b2bua::click_to_call::{DeskTarget, Originate, Status};
use crate::b2bua::CallerInfo;
use crate::originate::{View, MAX_PER_USER};
use crate::store::{DeviceKind, StoreError, User};

/// How long the user's own phone rings before the click-to-call gives up.
pub const DESK_RING: Duration = Duration::from_secs(30);

/// `POST /api/v1/calls`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallInput {
    /// The number to call: a colleague's local number or OneNumber, or an external number.
    pub to: String,
}

/// A click-to-call as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    /// Its id (for `GET`/`DELETE /api/v1/calls/{id}`).
    pub id: String,
    /// The number called.
    pub to: String,
    /// `ringing_you`, `ringing_them`, `connected` or `ended`.
    pub state: &'static str,
    /// Why it ended (`no_answer`, `you_declined`, `busy`, `completed`, `hung_up`, ...).
    pub reason: Option<&'static str>,
    /// Whether it ended without ever connecting.
    pub failed: bool,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it was bridged.
    pub connected_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

impl CallView {
    fn new(id: &str, view: &View) -> CallView {
        let (state, reason, failed) = match view.status {
            Status::RingingYou => ("ringing_you", None, false),
            Status::RingingThem => ("ringing_them", None, false),
            Status::Connected => ("connected", None, false),
            // Failed: it never got as far as both phones answering.
            Status::Ended(r) => ("ended", Some(r.code()), view.connected_at.is_none()),
        };
        CallView {
            id: id.to_owned(),
            to: view.to.clone(),
            state,
            reason,
            failed,
            created_at: view.created_at,
            connected_at: view.connected_at,
            ended_at: view.ended_at,
        }
    }
}

fn unavailable() -> ApiError {
    ApiError::Unavailable {
        code: "sip_unavailable",
        message: "the SIP service is not taking calls".to_owned(),
    }
}

/// `POST /api/v1/calls`: 202 with the new call and its `Location`.
pub async fn originate(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<CallInput>,
) -> Result<Response, ApiError> {
    let handle = state.click_to_call.as_ref().ok_or_else(unavailable)?;
    let user = &caller.user;
    let to = input.to.trim().to_owned();
    if to.is_empty() {
        return Err(ApiError::invalid("to", "must not be empty"));
    }
    check_number("to", &to)?;
    let external = if !is_colleague(&state, user, &to).await? {
        // The toll-fraud policy: the organisation's switch, then the deny-list (issue #19
        // finding 7: click-to-call to +882 went out through the trunk).
        let org = state.store.org(user.org_id).await?;
        let plan = crate::number::Plan::for_timezone(org.timezone);
        let stored = super::me::normalise_number("to", &to, &plan)?;
        super::toll_fraud::guard(&state, &org, &stored, "to", "external_calls_not_allowed").await?;
        let trunk = handle
            .external_target(&to)
            .await
            .ok_or(ApiError::Unavailable {
                code: "no_trunk",
                message: "no trunk is configured for numbers outside the organisation".to_owned(),
            })?;
        Some(trunk)
    } else {
        None
    };
    if handle.registry.active(user.id.0) >= MAX_PER_USER {
        return Err(ApiError::NotNow {
            code: "too_many_calls",
            message: format!("at most {MAX_PER_USER} click-to-calls at a time"),
        });
    }
    let desk = desk(&state, user).await?;
    let request = Originate {
        user_id: user.id.0,
        caller: CallerInfo {
            number: user.local_number.clone(),
            name: Some(user.profile.name.clone()),
            user_id: Some(user.id.0),
        },
        to,
        desk,
        ring_timeout: DESK_RING,
        external,
    };
    let now = state.now();
    let id = handle.originate(request, now).map_err(|_| unavailable())?;
    let view = handle
        .registry
        .get(&id, user.id.0)
        .ok_or_else(|| ApiError::Internal("click-to-call vanished".into()))?;
    let location = format!("/api/v1/calls/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(CallView::new(&id, &view)),
    )
        .into_response())
}

/// Whether `number` is a user of `user`'s own organisation (local number or OneNumber).
async fn is_colleague(state: &ApiState, user: &User, number: &str) -> Result<bool, ApiError> {
    for found in [
        state.store.user_by_local_number(number).await,
        state.store.user_by_one_number(number).await,
    ] {
        match found {
            Ok(other) => return Ok(other.org_id == user.org_id),
            Err(StoreError::NotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(false)
}

/// The phone to ring: a registered desk phone, else the preferred registered contact (highest
/// q, most recently refreshed: the order the store returns).
async fn desk(state: &ApiState, user: &User) -> Result<DeskTarget, ApiError> {
    let registrations = state
        .store
        .registrations_active(user.id, state.now())
        .await?;
    let devices = state.store.devices(user.id).await?;
    let device_of = |r: &crate::store::Registration| {
        r.binding
            .device_id
            .and_then(|id| devices.iter().find(|d| d.id == id))
    };
    let chosen = registrations
        .iter()
        .find(|r| device_of(r).is_some_and(|d| d.kind == DeviceKind::Desk))
        .or_else(|| registrations.first());
    let no_device = || ApiError::NotNow {
        code: "no_registered_device",
        message: "none of your phones is registered".to_owned(),
    };
    let registration = chosen.ok_or_else(no_device)?;
    let device = device_of(registration)
        .or_else(|| devices.first())
        .ok_or_else(no_device)?;
    // Straight to where it registered from, or through its Path (RFC 3327).
    let b = &registration.binding;
    let reach = crate::sip::registrar::path::reach(&b.received_addr, &b.transport, &b.path)
        .map_err(|_| no_device())?;
    Ok(DeskTarget {
        uri: b.contact_uri.clone(),
        destination: reach.destination,
        transport: reach.transport,
        sip_username: device.sip_username.clone(),
        route: reach.route,
    })
}

/// `GET /api/v1/calls/{id}`.
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CallView>, ApiError> {
    let handle = state.click_to_call.as_ref().ok_or_else(unavailable)?;
    let view = handle
        .registry
        .get(&id, caller.user.id.0)
        .ok_or(ApiError::NotFound("call"))?;
    Ok(Json(CallView::new(&id, &view)))
}

/// `DELETE /api/v1/calls/{id}`: 202, the hang-up is under way (CANCEL or BYE).
pub async fn hang_up(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let handle = state.click_to_call.as_ref().ok_or_else(unavailable)?;
    let view = handle
        .registry
        .get(&id, caller.user.id.0)
        .ok_or(ApiError::NotFound("call"))?;
    if !matches!(view.status, Status::Ended(_)) {
        handle.hang_up(&id).map_err(|_| unavailable())?;
    }
    Ok((StatusCode::ACCEPTED, Json(CallView::new(&id, &view))).into_response())
}
