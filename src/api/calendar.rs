//! The user's imported calendar entries in the web client: list, edit, delete; a feed pushed
//! as a body (`PUT /me/calendar`, `text/calendar`); the user's feed sources with their last
//! sync error, and adding a published-calendar URL for the sync driver to poll.
//!
//! A pushed feed is all or nothing (`calendar::sync`, rule 1): a malformed one answers 422
//! with the parser's message, is recorded as the push source's `last_error`, and leaves the
//! previous entries in force.
//!
//! Entries come one way from Exchange/Outlook. Editing one here makes its origin `WEB` and
//! marks it user-edited, so the next sync leaves it as the user made it; deleting one keeps a
//! tombstone, so it leaves routing and is not resurrected by the next sync — Exchange itself is
//! never touched (product: calendar rule 3).

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, QueryParams};
use super::me::check_text;
use super::ApiState;
use crate::calendar::ics::MAX_FEED_BYTES;
use crate::calendar::{import_body, CalendarError, FetchPolicy, ImportReport};
use crate::domain::BusyStatus;
use crate::store::{
    CalendarEntry, CalendarEntryId, CalendarSource, CalendarSourceId, CalendarSourceKind, EntryEdit,
};

/// Entries in one page of `GET /me/calendar` when the request names no `limit`: two weeks of
/// a full diary.
pub const DEFAULT_ENTRY_PAGE: u32 = 200;
/// Most entries in one page (issue #19: an unpaged listing answered 13 MB).
pub const MAX_ENTRY_PAGE: u32 = 1000;

/// `GET /api/v1/me/calendar?days=14&limit=200&offset=0`: entries from now on, by start (Free
/// and Tentative included, since the user manages their own entries; colleagues never see
/// those). Paged: at most `limit` entries (default [`DEFAULT_ENTRY_PAGE`], at most
/// [`MAX_ENTRY_PAGE`]) after skipping `offset`; a page shorter than `limit` is the last.
pub async fn entries(
    State(state): State<ApiState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Vec<CalendarEntry>>, ApiError> {
    query.only(&["days", "limit", "offset"])?;
    let days = query.parsed::<u32>("days")?.unwrap_or(14);
    if !(1..=366).contains(&days) {
        return Err(ApiError::invalid("days", "1 to 366"));
    }
    let limit = query.parsed::<u32>("limit")?.unwrap_or(DEFAULT_ENTRY_PAGE);
    if !(1..=MAX_ENTRY_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("1 to {MAX_ENTRY_PAGE}")));
    }
    let offset = query.parsed::<u32>("offset")?.unwrap_or(0);
    let now = state.now();
    let to = now + Duration::days(i64::from(days));
    // The rows are bounded by the sync's per-feed cap (`calendar::expand`); the page bounds
    // the answer.
    let rows = state
        .store
        .calendar_entries(caller.user.id, now, to)
        .await?;
    Ok(Json(
        rows.into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect(),
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
    check_forward_code(&state, &caller, &input).await?;
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

/// A `[fwd NUMBER]` code in the edit (the chosen code, else the subject's) goes through the
/// toll-fraud policy like every stored number (`calendar::forward_check`): 403 naming the
/// field it came from.
async fn check_forward_code(
    state: &ApiState,
    caller: &Caller,
    input: &EntryInput,
) -> Result<(), ApiError> {
    use crate::calendar::codes;
    use crate::calendar::forward_check::{check_number, forward_number};
    let (field, code) = match input.code_override.as_deref().and_then(codes::parse) {
        Some(code) => ("code_override", code),
        None => match codes::parse(&input.subject) {
            Some(code) => ("subject", code),
            None => return Ok(()),
        },
    };
    let Some(number) = forward_number(&code) else {
        return Ok(());
    };
    let org = state.store.org(caller.user.org_id).await?;
    let answer = check_number(&state.store, &org, &state.deny_list, number).await?;
    super::toll_fraud::refuse(answer, field, "external_forwarding_not_allowed")
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

/// Answer of `PUT /me/calendar`: what the import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportView {
    /// The push source the feed is recorded under (see `/me/calendar/sources`).
    pub source_id: Option<CalendarSourceId>,
    /// Events (`VEVENT`s) in the feed.
    pub events: usize,
    /// Instances in the sync window, i.e. entries written or confirmed.
    pub instances: usize,
    /// Of those, entries the user edited or deleted here, left as the user made them.
    pub kept_as_user_left: usize,
    /// Entries removed because the feed no longer has them.
    pub removed: u64,
    /// Entries whose `[fwd …]` number the toll-fraud policy refuses: they are kept, but their
    /// calls go to voicemail instead of forwarding (`calendar::forward_check`).
    pub refused_forwards: Vec<crate::calendar::forward_check::RefusedForward>,
}

impl From<ImportReport> for ImportView {
    fn from(r: ImportReport) -> Self {
        ImportView {
            source_id: r.source_id,
            events: r.events,
            instances: r.instances,
            kept_as_user_left: r.kept_as_user_left,
            removed: r.removed,
            refused_forwards: Vec::new(),
        }
    }
}

/// Reads a `text/calendar` body of at most [`MAX_FEED_BYTES`] as UTF-8 (RFC 5545 §3.1.4).
async fn read_feed(headers: &HeaderMap, body: Body) -> Result<String, ApiError> {
    let mime = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if !mime.eq_ignore_ascii_case("text/calendar") {
        return Err(ApiError::UnsupportedMediaType {
            field: None,
            message: "expected Content-Type: text/calendar".to_owned(),
        });
    }
    let too_large = || ApiError::PayloadTooLarge {
        field: Some("calendar".to_owned()),
        message: format!("the feed may be at most {} MiB", MAX_FEED_BYTES >> 20),
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FEED_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = Limited::new(body, MAX_FEED_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                too_large()
            } else {
                ApiError::BadRequest {
                    code: "unreadable_body",
                    message: "the request body could not be read".to_owned(),
                    field: None,
                }
            }
        })?
        .to_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::Invalid {
        code: "invalid_calendar",
        field: "calendar".to_owned(),
        message: "the feed is not UTF-8 (RFC 5545 §3.1.4)".to_owned(),
    })
}

/// `PUT /api/v1/me/calendar`: replaces the entries of my pushed feed with this one (an
/// iCalendar body, e.g. exported from Outlook). Entries I edited or deleted here stay as I
/// left them.
pub async fn push(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportView>, ApiError> {
    let text = read_feed(&headers, body).await?;
    let report = import_body(&state.store, caller.user.id, &text, state.now())
        .await
        .map_err(|e| match e {
            CalendarError::Feed(ics) => ApiError::Invalid {
                code: "invalid_calendar",
                field: "calendar".to_owned(),
                message: ics.to_string(),
            },
            CalendarError::Fetch(fetch) => ApiError::Invalid {
                code: "invalid_calendar",
                field: "calendar".to_owned(),
                message: fetch.to_string(),
            },
            CalendarError::Store(store) => store.into(),
            CalendarError::UnknownUser(_) => ApiError::Unauthenticated,
        })?;
    state.availability_changed(caller.user.id);
    let mut view = ImportView::from(report);
    let now = state.now();
    let imported = state
        .store
        .calendar_entries(caller.user.id, now, now + crate::calendar::expand::WINDOW)
        .await?;
    let org = state.store.org(caller.user.org_id).await?;
    view.refused_forwards = crate::calendar::forward_check::refused_forwards(
        &state.store,
        &org,
        &state.deny_list,
        &imported,
    )
    .await?;
    Ok(Json(view))
}

/// One of my calendar feeds, as listed. The `Authorization` value a URL source may carry is
/// a credential and is never sent back.
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    /// Source id.
    pub id: CalendarSourceId,
    /// `url` (polled), or `file` (a file on the server, or the API push, `url` = `push:api`).
    pub kind: CalendarSourceKind,
    /// The feed URL or path.
    pub url: String,
    /// Whether an `Authorization` header is sent with the fetch.
    pub has_authorization: bool,
    /// Why the last sync failed (`null` when it succeeded); the entries of the last good sync
    /// stay in force meanwhile.
    pub last_error: Option<String>,
    /// When the last sync ran (`null`: not yet).
    pub last_sync_at: Option<DateTime<Utc>>,
}

impl From<CalendarSource> for SourceView {
    fn from(s: CalendarSource) -> Self {
        SourceView {
            id: s.id,
            kind: s.kind,
            url: s.url,
            has_authorization: s.auth.is_some(),
            last_error: s.last_error,
            last_sync_at: s.last_sync_at,
        }
    }
}

/// `GET /api/v1/me/calendar/sources`.
pub async fn sources(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<SourceView>>, ApiError> {
    let rows = state.store.calendar_sources(Some(caller.user.id)).await?;
    Ok(Json(rows.into_iter().map(SourceView::from).collect()))
}

/// Body of `POST /me/calendar/sources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// An `http`/`https` URL of an iCalendar feed (Outlook's `webcal://` links are taken as
    /// `https://`, which is what they mean).
    pub url: String,
    /// `Authorization` header value sent with each fetch (`Basic …` / `Bearer …`), if the
    /// feed needs one.
    #[serde(default)]
    pub authorization: Option<String>,
}

/// Longest feed URL accepted (published Exchange URLs are ~150 characters).
const MAX_URL_LEN: usize = 2048;

/// Checks a feed URL: `https` or `webcal` scheme (`http` only if `policy` allows it), a host,
/// no whitespace or control characters (RFC 3986 §2 has none), bounded length, and no literal
/// address (or `localhost`, RFC 6761 §6.3) that `policy` refuses. Returns it as it will be
/// fetched. Host names are checked again at every fetch, on every address they resolve to
/// (`calendar::http`): a name's addresses can change after it is stored.
pub fn check_feed_url(url: &str, policy: &FetchPolicy) -> Result<String, ApiError> {
    let url = url.trim();
    let bad = |m: &str| ApiError::invalid("url", m);
    if url.len() > MAX_URL_LEN {
        return Err(bad("at most 2048 characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("must be an http or https URL"));
    };
    let scheme = scheme.to_ascii_lowercase();
    let fetched_scheme = match scheme.as_str() {
        "http" | "https" => scheme.as_str(),
        "webcal" => "https",
        _ => return Err(bad("must be an http or https URL")),
    };
    if !policy.scheme_allowed(fetched_scheme) {
        return Err(bad("must be an https URL"));
    }
    // RFC 3986 §3.2: authority = [ userinfo "@" ] host [ ":" port ], ended by "/", "?" or "#".
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if let Some((_, port)) = host_port.rsplit_once("]:").or_else(|| {
        (!host_port.starts_with('['))
            .then(|| host_port.split_once(':'))
            .flatten()
    }) {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad("has an invalid port"));
        }
    }
    let lower = host.to_ascii_lowercase();
    let literal = if lower == "localhost" || lower.ends_with(".localhost") {
        Some(IpAddr::from([127, 0, 0, 1]))
    } else {
        host.parse::<IpAddr>().ok()
    };
    if let Some(range) = literal.and_then(|ip| policy.check(ip).err()) {
        return Err(bad(&format!(
            "must not name a {range} address; use the feed's public https URL"
        )));
    }
    Ok(format!("{fetched_scheme}://{rest}"))
}

/// `POST /api/v1/me/calendar/sources`: adds a published-calendar URL, which the sync driver
/// polls from its next round on.
pub async fn add_source(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<SourceInput>,
) -> Result<(StatusCode, Json<SourceView>), ApiError> {
    // The configured policy (`[calendar]`), the one the poller fetches with.
    let url = check_feed_url(&input.url, &state.fetch_policy)?;
    if let Some(auth) = &input.authorization {
        if auth.is_empty() || auth.len() > 4096 || auth.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "authorization",
                "a header value of 1 to 4096 characters without control characters",
            ));
        }
    }
    let me = caller.user.id;
    if state
        .store
        .calendar_sources(Some(me))
        .await?
        .iter()
        .any(|s| s.kind == CalendarSourceKind::Url && s.url == url)
    {
        return Err(ApiError::Conflict("calendar source with this url".into()));
    }
    let row = state
        .store
        .calendar_source_create(
            me,
            CalendarSourceKind::Url,
            &url,
            input.authorization.as_deref(),
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_urls_are_http_with_a_host() {
        let open = FetchPolicy {
            allow_http: true,
            allowed_networks: vec!["::1".parse().unwrap()],
        };
        let check = |url: &str| check_feed_url(url, &open);
        assert_eq!(
            check(" https://outlook.office365.com/owa/calendar/x/reachcalendar.ics ").unwrap(),
            "https://outlook.office365.com/owa/calendar/x/reachcalendar.ics"
        );
        assert_eq!(
            check("webcal://example.com/cal.ics").unwrap(),
            "https://example.com/cal.ics"
        );
        assert_eq!(
            check("http://[::1]:8080/c.ics").unwrap(),
            "http://[::1]:8080/c.ics"
        );
        assert!(check("http://user:pw@host.example/c").is_ok());
        for bad in [
            "ftp://example.com/c.ics",
            "file:///etc/passwd",
            "example.com/c.ics",
            "https:///c.ics",
            "https://exa mple.com/",
            "https://example.com:99999/",
            "https://example.com:0/",
            "javascript:alert(1)",
        ] {
            let err = check(bad).unwrap_err();
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }

    /// Issue #19 finding 3: loopback, link-local and metadata URLs, and plain http, were
    /// stored for the server to fetch.
    #[test]
    fn inside_addresses_and_http_are_refused_by_default() {
        let policy = FetchPolicy::default();
        for bad in [
            "http://example.com/c.ics",
            "https://127.0.0.1:5432/",
            "https://localhost/c.ics",
            "https://LOCALHOST:8080/c.ics",
            "https://[::1]/c.ics",
            "https://[fe80::1]/c.ics",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/c.ics",
            "https://[::ffff:127.0.0.1]/c.ics",
        ] {
            let err = check_feed_url(bad, &policy).unwrap_err();
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        assert!(check_feed_url("https://outlook.office365.com/c.ics", &policy).is_ok());
        assert!(check_feed_url("https://52.97.1.1/c.ics", &policy).is_ok());
    }
}
