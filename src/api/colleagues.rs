//! Colleague search with presence: "han" finds Hans, each result available / on the phone /
//! absent (reason, until, free text, origin, keep-phone-open). Only the caller's own
//! organisation is ever searched; another organisation's user id answers 404.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiPath, QueryParams};
use super::names::Sourced;
use super::snapshot::{presence_of, PresenceView};
use super::ApiState;
use crate::directory::NameSource;
use crate::domain::Role;
use crate::store::{Contact, SearchScope, SharedContact, StoreError, User, UserId};

/// A colleague in a search result.
#[derive(Debug, Clone, Serialize)]
pub struct ColleagueView {
    /// Row id.
    pub id: UserId,
    /// Name.
    pub name: String,
    /// The number to call.
    pub one_number: String,
    /// Local number.
    pub local_number: String,
    /// Mobile number.
    pub mobile_number: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// User or receptionist.
    pub role: Role,
    /// Presence now.
    pub presence: PresenceView,
}

/// Answer of `GET /colleagues`.
#[derive(Debug, Serialize)]
pub struct SearchResult {
    /// The scope searched.
    pub scope: SearchScope,
    /// Colleagues (internal users), by name.
    pub colleagues: Vec<Sourced<ColleagueView>>,
    /// Personal contacts (external), by name.
    pub contacts: Vec<Sourced<Contact>>,
    /// The organisation's shared contacts (external), by name.
    pub shared_contacts: Vec<Sourced<SharedContact>>,
}

/// The colleague `id` as seen by `caller`: 404 unless in the caller's organisation.
pub async fn colleague(state: &ApiState, caller: &Caller, id: UserId) -> Result<User, ApiError> {
    match state.store.user(id).await {
        Ok(u) if u.org_id == caller.user.org_id => Ok(u),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(ApiError::NotFound("user")),
        Err(e) => Err(e.into()),
    }
}

/// The view of `user` with presence now.
pub async fn view(
    state: &ApiState,
    caller: &Caller,
    user: &User,
) -> Result<ColleagueView, ApiError> {
    let show_note = caller.user.role == Role::Receptionist;
    let presence = presence_of(state, user, state.now(), show_note).await?;
    Ok(ColleagueView {
        id: user.id,
        name: user.profile.name.clone(),
        one_number: user.one_number.clone(),
        local_number: user.local_number.clone(),
        mobile_number: user.profile.mobile_number.clone(),
        email: user.profile.email.clone(),
        department: user.profile.department.clone(),
        role: user.role,
        presence,
    })
}

/// Longest search text accepted.
const MAX_QUERY: usize = 100;

/// Most results one search may ask for with `limit` (the receptionist board lists the whole
/// organisation; beyond this a board would need paging).
const MAX_LIMIT: u32 = 5000;

/// `GET /api/v1/colleagues?q=han&scope=all|internal|external&limit=N`. Without `q`, the whole
/// organisation (up to `limit`, default the configured search limit, at most [`MAX_LIMIT`]);
/// the scope defaults to the user's setting.
pub async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<SearchResult>, ApiError> {
    query.only(&["q", "scope", "limit"])?;
    let q = query.text("q").unwrap_or("").trim();
    if q.chars().count() > MAX_QUERY {
        return Err(ApiError::invalid(
            "q",
            format!("at most {MAX_QUERY} characters"),
        ));
    }
    let scope = query
        .parsed::<SearchScope>("scope")?
        .unwrap_or(caller.user.profile.search_scope);
    let limit = match query.parsed::<u32>("limit")? {
        None => state.config.search_limit,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid("limit", format!("1 to {MAX_LIMIT}"))),
    };
    let org = state.store.org(caller.user.org_id).await?;
    let mut colleagues = Vec::new();
    if matches!(scope, SearchScope::All | SearchScope::Internal) {
        let users = if q.is_empty() {
            let mut all = state.store.users_in_org(org.id).await?;
            all.truncate(limit as usize);
            all
        } else {
            state.store.user_search(org.id, q, limit).await?
        };
        for user in &users {
            colleagues.push(Sourced {
                item: view(&state, &caller, user).await?,
                source: NameSource::Colleague,
            });
        }
    }
    // "External" is everyone outside the organisation the user can call: their own contacts
    // and the organisation's shared phonebook, each marked with its source.
    let (contacts, shared_contacts) = if matches!(scope, SearchScope::All | SearchScope::External) {
        let mut c = state.store.contacts(caller.user.id, q).await?;
        c.truncate(limit as usize);
        let shared = state.store.shared_contacts(org.id, q, limit).await?;
        (
            c.into_iter()
                .map(|item| Sourced {
                    item,
                    source: NameSource::Personal,
                })
                .collect(),
            shared
                .into_iter()
                .map(|item| Sourced {
                    item,
                    source: NameSource::Shared,
                })
                .collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Json(SearchResult {
        scope,
        colleagues,
        contacts,
        shared_contacts,
    }))
}

/// `GET /api/v1/users/{id}`: one colleague with presence.
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ColleagueView>, ApiError> {
    let user = colleague(&state, &caller, UserId(id)).await?;
    Ok(Json(view(&state, &caller, &user).await?))
}
