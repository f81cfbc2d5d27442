//! Groups (the receptionist group, a support group): list them, and — receptionists only —
//! create, change and delete them, their members and order, how they ring (all at once, or in
//! order with a per-member time) and who takes a call nobody answered (the group's mailbox,
//! or a number).
//!
//! Numbers are taken as people type them and stored normalised (`number::normalise` with the
//! organisation's plan), so `+45 70 10 00 00` is the group 4570100000 the call driver finds.
//! A fallback number outside the organisation passes the toll-fraud policy first
//! ([`super::toll_fraud::guard`]): a group's fallback dials out as a forward does.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::me::normalise_number;
use super::ApiState;
use crate::domain::Role;
use crate::number::{self, Plan};
use crate::store::{
    Group, GroupFallback, GroupId, GroupKind, GroupRinging, GroupStrategy, Organisation,
    StoreError, UserId,
};

/// The shortest and longest ring time a group may have (the schema's bounds).
const RING_SECS: std::ops::RangeInclusive<u64> = 5..=180;
/// More members than a reception or support team has; a bound on the work per call.
const MAX_MEMBERS: usize = 50;

/// A group as the API shows it.
#[derive(Debug, Serialize)]
pub struct GroupView {
    /// Group id.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Its number, stored form.
    pub number: String,
    /// Its number as people of the organisation write it (`number::display`).
    pub number_display: String,
    /// `receptionist` (reached by "press 9") or `hunt`.
    pub kind: GroupKind,
    /// `all` or `in_order`.
    pub strategy: GroupStrategy,
    /// How long the group rings (all), or each member rings (in order).
    pub ring_timeout_secs: u64,
    /// `{"kind": "voicemail"}` or `{"kind": "number", "number": ...}`.
    pub fallback: GroupFallback,
    /// Whose mailbox is the group's; `null`: the first member's.
    pub voicemail_user_id: Option<UserId>,
    /// The members in ring order.
    pub members: Vec<MemberView>,
}

/// One member.
#[derive(Debug, Serialize)]
pub struct MemberView {
    /// User id.
    pub user_id: UserId,
    /// Name.
    pub name: String,
    /// OneNumber.
    pub one_number: String,
    /// Place in the ring order (0 first).
    pub position: u32,
}

/// A group's fallback as written.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FallbackInput {
    /// The group's mailbox.
    Voicemail,
    /// A number, then the group's mailbox.
    Number {
        /// As typed.
        number: String,
    },
}

/// `POST /api/v1/groups` and `PUT /api/v1/groups/{id}`: the whole group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    /// Name.
    pub name: String,
    /// Its number, as typed.
    pub number: String,
    /// Default `hunt`.
    #[serde(default)]
    pub kind: Option<GroupKind>,
    /// Default `all`.
    #[serde(default)]
    pub strategy: Option<GroupStrategy>,
    /// Default 20.
    #[serde(default)]
    pub ring_timeout_secs: Option<u64>,
    /// Default the group's mailbox.
    #[serde(default)]
    pub fallback: Option<FallbackInput>,
    /// Whose mailbox is the group's; default the first member's.
    #[serde(default)]
    pub voicemail_user_id: Option<i64>,
    /// User ids in ring order.
    #[serde(default)]
    pub members: Vec<i64>,
}

/// `PUT /api/v1/groups/{id}/members`: the members in ring order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersInput {
    /// User ids in ring order.
    pub members: Vec<i64>,
}

fn receptionist(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role == Role::Receptionist {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "receptionist_only",
            "only receptionists manage groups",
        ))
    }
}

/// The group `id` of the caller's organisation; another organisation's looks missing.
async fn own_group(state: &ApiState, caller: &Caller, id: i64) -> Result<Group, ApiError> {
    match state.store.group(GroupId(id)).await {
        Ok(g) if g.org_id == caller.user.org_id => Ok(g),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(ApiError::NotFound("group")),
        Err(e) => Err(e.into()),
    }
}

async fn view(state: &ApiState, org: &Organisation, group: Group) -> Result<GroupView, ApiError> {
    let ringing = state.store.group_ringing(group.id).await?;
    let members = state.store.group_member_list(group.id).await?;
    Ok(GroupView {
        id: group.id,
        number_display: number::display(&group.number, &Plan::for_timezone(org.timezone)),
        name: group.name,
        number: group.number,
        kind: group.kind,
        strategy: ringing.strategy,
        ring_timeout_secs: ringing.ring_timeout.as_secs(),
        fallback: ringing.fallback,
        voicemail_user_id: ringing.voicemail_user_id,
        members: members
            .into_iter()
            .map(|m| MemberView {
                user_id: m.user.id,
                name: m.user.profile.name,
                one_number: m.user.one_number,
                position: m.position,
            })
            .collect(),
    })
}

/// `GET /api/v1/groups`: the organisation's groups (everyone may see them: a forward to a
/// group is offered to every user).
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<GroupView>>, ApiError> {
    let org = state.store.org(caller.user.org_id).await?;
    let mut out = Vec::new();
    for group in state.store.groups(org.id).await? {
        out.push(view(&state, &org, group).await?);
    }
    Ok(Json(out))
}

/// `GET /api/v1/groups/{id}`.
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<GroupView>, ApiError> {
    let group = own_group(&state, &caller, id).await?;
    let org = state.store.org(caller.user.org_id).await?;
    Ok(Json(view(&state, &org, group).await?))
}

/// What a valid [`GroupInput`] stores.
struct Checked {
    name: String,
    number: String,
    kind: GroupKind,
    ringing: GroupRinging,
    members: Vec<UserId>,
}

/// Members: users of `org`, each once, at most [`MAX_MEMBERS`]; 422 naming `members[i]`.
async fn check_members(
    state: &ApiState,
    org: &Organisation,
    ids: &[i64],
) -> Result<Vec<UserId>, ApiError> {
    if ids.len() > MAX_MEMBERS {
        return Err(ApiError::invalid(
            "members",
            format!("at most {MAX_MEMBERS} members"),
        ));
    }
    let mut out: Vec<UserId> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("members[{i}]");
        match state.store.user(UserId(*id)).await {
            Ok(u) if u.org_id == org.id => {}
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(ApiError::invalid(field, "no such colleague"))
            }
            Err(e) => return Err(e.into()),
        }
        if out.contains(&UserId(*id)) {
            return Err(ApiError::invalid(field, "listed twice"));
        }
        out.push(UserId(*id));
    }
    Ok(out)
}

async fn check(
    state: &ApiState,
    org: &Organisation,
    input: GroupInput,
    current: Option<&Group>,
) -> Result<Checked, ApiError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "1 to 100 characters"));
    }
    let plan = Plan::for_timezone(org.timezone);
    let number = normalise_number("number", &input.number, &plan)?;
    // A user's number cannot also be a group's: a call could reach only one of them.
    for found in [
        state.store.user_by_one_number(&number).await,
        state.store.user_by_local_number(&number).await,
    ] {
        match found {
            Ok(_) => {
                return Err(ApiError::invalid(
                    "number",
                    "this is a user's number already",
                ))
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match state.store.group_by_number(&number).await {
        Ok(g) if current.is_none_or(|c| c.id != g.id) => {
            return Err(ApiError::invalid("number", "another group has this number"))
        }
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let secs = input.ring_timeout_secs.unwrap_or(20);
    if !RING_SECS.contains(&secs) {
        return Err(ApiError::invalid(
            "ring_timeout_secs",
            format!("{} to {} seconds", RING_SECS.start(), RING_SECS.end()),
        ));
    }
    let fallback = match input.fallback {
        None | Some(FallbackInput::Voicemail) => GroupFallback::Voicemail,
        Some(FallbackInput::Number { number: typed }) => {
            let fallback = normalise_number("fallback.number", &typed, &plan)?;
            if fallback == number {
                return Err(ApiError::invalid(
                    "fallback.number",
                    "cannot be the group's own number",
                ));
            }
            // A group's fallback is one more step, not another group's steps: a chain of
            // groups could ring in a circle.
            match state.store.group_by_number(&fallback).await {
                Ok(_) => {
                    return Err(ApiError::invalid(
                        "fallback.number",
                        "cannot be another group's number",
                    ))
                }
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            super::toll_fraud::guard(
                state,
                org,
                &fallback,
                "fallback.number",
                "external_forwarding_not_allowed",
            )
            .await?;
            GroupFallback::Number { number: fallback }
        }
    };
    let voicemail_user_id = match input.voicemail_user_id {
        None => None,
        Some(id) => match state.store.user(UserId(id)).await {
            Ok(u) if u.org_id == org.id => Some(u.id),
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(ApiError::invalid("voicemail_user_id", "no such colleague"))
            }
            Err(e) => return Err(e.into()),
        },
    };
    let members = check_members(state, org, &input.members).await?;
    Ok(Checked {
        name,
        number,
        kind: input
            .kind
            .or(current.map(|c| c.kind))
            .unwrap_or(GroupKind::Hunt),
        ringing: GroupRinging {
            strategy: input.strategy.unwrap_or(GroupStrategy::All),
            ring_timeout: Duration::from_secs(secs),
            fallback,
            voicemail_user_id,
        },
        members,
    })
}

/// `POST /api/v1/groups` (receptionists).
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<GroupInput>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    receptionist(&caller)?;
    let org = state.store.org(caller.user.org_id).await?;
    let c = check(&state, &org, input, None).await?;
    let group = state
        .store
        .group_create(org.id, &c.name, &c.number, c.kind, state.now())
        .await?;
    state.store.group_ringing_set(group.id, &c.ringing).await?;
    state.store.group_members_set(group.id, &c.members).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &org, group).await?)))
}

/// `PUT /api/v1/groups/{id}` (receptionists): the whole group, members included.
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<GroupInput>,
) -> Result<Json<GroupView>, ApiError> {
    receptionist(&caller)?;
    let group = own_group(&state, &caller, id).await?;
    let org = state.store.org(caller.user.org_id).await?;
    let c = check(&state, &org, input, Some(&group)).await?;
    state
        .store
        .group_update(group.id, &c.name, &c.number, c.kind)
        .await?;
    state.store.group_ringing_set(group.id, &c.ringing).await?;
    state.store.group_members_set(group.id, &c.members).await?;
    let group = state.store.group(group.id).await?;
    Ok(Json(view(&state, &org, group).await?))
}

/// `PUT /api/v1/groups/{id}/members` (receptionists): the members in ring order.
pub async fn set_members(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<MembersInput>,
) -> Result<Json<GroupView>, ApiError> {
    receptionist(&caller)?;
    let group = own_group(&state, &caller, id).await?;
    let org = state.store.org(caller.user.org_id).await?;
    let members = check_members(&state, &org, &input.members).await?;
    state.store.group_members_set(group.id, &members).await?;
    Ok(Json(view(&state, &org, group).await?))
}

/// `DELETE /api/v1/groups/{id}` (receptionists).
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    receptionist(&caller)?;
    let group = own_group(&state, &caller, id).await?;
    state.store.group_delete(group.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
