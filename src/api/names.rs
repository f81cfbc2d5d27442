//! Names beside numbers in the API's lists (issue #23): the call history and missed calls,
//! the voicemail list, search results. Every name comes from the one lookup
//! (`directory::lookup`, colleague → personal → shared → external); the external directory
//! is read from its cache, with a background fill that the call history waits for at most
//! [`LIST_WAIT`], so a list never waits long for it.

use std::time::Duration;

use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use super::ApiState;
use crate::directory::{External, NameSource, Names, Viewer};
use crate::store::CallRecord;

/// A call-history record with the other party's name.
#[derive(Debug, Clone, Serialize)]
pub struct NamedCall {
    /// The record as stored (`other_name` is what the caller presented, if anything).
    #[serde(flatten)]
    pub record: CallRecord,
    /// The other party's name from the directory, if any source knows the number.
    pub name: Option<String>,
    /// Where `name` came from.
    pub name_source: Option<NameSource>,
}

/// An item of a list marked with where it comes from (search results).
#[derive(Debug, Clone, Serialize)]
pub struct Sourced<T> {
    /// The item.
    #[serde(flatten)]
    pub item: T,
    /// Its source: colleague, personal or shared.
    pub source: NameSource,
}

/// The lookup from `caller`'s point of view.
pub async fn names<'a>(state: &'a ApiState, caller: &Caller) -> Result<Names<'a>, ApiError> {
    let viewer = Viewer::of(&state.store, &caller.user).await?;
    Ok(Names::new(&state.store, state.directory.as_ref(), viewer))
}

/// Longest a list waits for the external directory's answers to numbers it has not seen:
/// a directory on the operator's network answers in milliseconds, and what comes later is
/// shown on the next look.
pub const LIST_WAIT: Duration = Duration::from_millis(800);

/// Names `calls` for `caller`: from the store, then the external directory's cache, waiting
/// at most [`LIST_WAIT`] for the numbers it did not know.
pub async fn name_calls(
    state: &ApiState,
    caller: &Caller,
    calls: Vec<CallRecord>,
) -> Result<Vec<NamedCall>, ApiError> {
    let mut names = names(state, caller).await?;
    let now = state.now();
    let mut out = Vec::with_capacity(calls.len());
    for record in calls {
        let found = names
            .name_for(&record.data.other_number, External::Cached, now)
            .await?;
        out.push(NamedCall {
            record,
            name: found.as_ref().map(|f| f.name.clone()),
            name_source: found.map(|f| f.source),
        });
    }
    if names.settle(LIST_WAIT).await {
        for call in out.iter_mut().filter(|c| c.name.is_none()) {
            if let Some(found) = names
                .name_for(&call.record.data.other_number, External::Cached, now)
                .await?
            {
                call.name = Some(found.name);
                call.name_source = Some(found.source);
            }
        }
    }
    Ok(out)
}

/// Answer of `GET /api/v1/names`.
#[derive(Debug, Clone, Serialize)]
pub struct NumberName {
    /// The number asked about, as given.
    pub number: String,
    /// Its name, if any source knows it.
    pub name: Option<String>,
    /// Where the name came from.
    pub source: Option<NameSource>,
}

/// Longest number text accepted.
const MAX_NUMBER_CHARS: usize = 40;

/// `GET /api/v1/names?number=…`: the name of one number from my point of view (the dial
/// screen of a `tel:` link says whom it is about to call).
pub async fn name_of(
    axum::extract::State(state): axum::extract::State<ApiState>,
    caller: Caller,
    query: super::extract::QueryParams,
) -> Result<axum::Json<NumberName>, ApiError> {
    query.only(&["number"])?;
    let number = query
        .text("number")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("number", "required"))?;
    if number.chars().count() > MAX_NUMBER_CHARS {
        return Err(ApiError::invalid(
            "number",
            format!("at most {MAX_NUMBER_CHARS} characters"),
        ));
    }
    let mut names = names(&state, &caller).await?;
    let now = state.now();
    let mut found = names.name_for(number, External::Cached, now).await?;
    if found.is_none() && names.settle(LIST_WAIT).await {
        found = names.name_for(number, External::Cached, now).await?;
    }
    Ok(axum::Json(NumberName {
        number: number.to_owned(),
        name: found.as_ref().map(|f| f.name.clone()),
        source: found.map(|f| f.source),
    }))
}
