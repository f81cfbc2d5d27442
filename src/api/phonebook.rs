//! The personal phonebook (contacts CRUD), favourite colleagues (stars) and the call history.
//! All three are the caller's own: ids of other users' objects answer 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::colleagues::{colleague, view, ColleagueView};
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, QueryParams};
use super::me::{check_number, check_text};
use super::ApiState;
use crate::store::{CallDirection, CallRecord, Contact, ContactData, ContactId, UserId};

/// Body of contact create/replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Name.
    pub name: String,
    /// Company.
    #[serde(default)]
    pub company: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Landline.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Mobile.
    #[serde(default)]
    pub mobile_number: Option<String>,
}

fn contact_data(owner: UserId, input: ContactInput) -> Result<ContactData, ApiError> {
    if input.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    check_text("name", &input.name)?;
    for (field, value) in [("company", &input.company), ("email", &input.email)] {
        if let Some(v) = value {
            check_text(field, v)?;
        }
    }
    for (field, value) in [
        ("phone_number", &input.phone_number),
        ("mobile_number", &input.mobile_number),
    ] {
        if let Some(v) = value {
            check_number(field, v)?;
        }
    }
    Ok(ContactData {
        owner_user_id: owner,
        name: input.name,
        company: input.company,
        email: input.email,
        phone_number: input.phone_number,
        mobile_number: input.mobile_number,
    })
}

/// `GET /api/v1/me/contacts?q=`.
pub async fn contacts(
    State(state): State<ApiState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Vec<Contact>>, ApiError> {
    query.only(&["q"])?;
    let q = query.text("q").unwrap_or("");
    if q.chars().count() > 100 {
        return Err(ApiError::invalid("q", "at most 100 characters"));
    }
    Ok(Json(state.store.contacts(caller.user.id, q).await?))
}

/// `POST /api/v1/me/contacts`.
pub async fn create_contact(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    let data = contact_data(caller.user.id, input)?;
    let c = state.store.contact_create(&data, state.now()).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// `PUT /api/v1/me/contacts/{id}`.
pub async fn update_contact(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<Json<Contact>, ApiError> {
    let data = contact_data(caller.user.id, input)?;
    let id = ContactId(id);
    state.store.contact_update(id, &data).await?;
    Ok(Json(Contact { id, data }))
}

/// `DELETE /api/v1/me/contacts/{id}`.
pub async fn delete_contact(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .contact_delete(caller.user.id, ContactId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me/favourites`: starred colleagues with presence.
pub async fn favourites(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<ColleagueView>>, ApiError> {
    let mut out = Vec::new();
    for user in state.store.favourites(caller.user.id).await? {
        if user.org_id == caller.user.org_id {
            out.push(view(&state, &caller, &user).await?);
        }
    }
    Ok(Json(out))
}

/// `PUT /api/v1/me/favourites/{id}` (idempotent).
pub async fn add_favourite(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let user = colleague(&state, &caller, UserId(id)).await?;
    state
        .store
        .favourite_add(caller.user.id, user.id, state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/me/favourites/{id}`.
pub async fn remove_favourite(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .favourite_remove(caller.user.id, UserId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Most history records returned in one page.
const MAX_CALLS: u32 = 500;
/// How deep paging reaches (`offset + limit`); older calls are not shown in the web client.
const MAX_CALL_DEPTH: u32 = 2000;

/// `GET /api/v1/me/calls?kind=incoming|outgoing|missed|all&limit=100&offset=0`, newest first,
/// each with the other party's `name` and `name_source` from the directory lookup.
pub async fn calls(
    State(state): State<ApiState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Vec<super::names::NamedCall>>, ApiError> {
    query.only(&["kind", "limit", "offset"])?;
    let direction = match query.text("kind").unwrap_or("all") {
        "all" => None,
        "incoming" => Some(CallDirection::In),
        "outgoing" => Some(CallDirection::Out),
        "missed" => Some(CallDirection::Missed),
        _ => {
            return Err(ApiError::invalid(
                "kind",
                "one of incoming, outgoing, missed, all",
            ))
        }
    };
    let limit = query.parsed::<u32>("limit")?.unwrap_or(100);
    if !(1..=MAX_CALLS).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("1 to {MAX_CALLS}")));
    }
    let offset = query.parsed::<u32>("offset")?.unwrap_or(0);
    if offset + limit > MAX_CALL_DEPTH {
        return Err(ApiError::invalid(
            "offset",
            format!("offset + limit at most {MAX_CALL_DEPTH}"),
        ));
    }
    let calls = state
        .store
        .call_history(caller.user.id, direction, offset + limit)
        .await?;
    let page: Vec<CallRecord> = calls.into_iter().skip(offset as usize).collect();
    Ok(Json(super::names::name_calls(&state, &caller, page).await?))
}
