//! The one-way sync: a fetched feed becomes the user's stored calendar entries, without ever
//! undoing what the user did in OneStatus. This is the driver of the calendar core (it talks to
//! the store and, through the sources, to the network); everything before the store is pure.
//!
//! # Rules
//!
//! 1. **All or nothing.** The feed is parsed and expanded completely before the store is
//!    touched. A feed that fails ([`IcsError`]) or cannot be fetched changes no entry: the
//!    error is stored on the source (`last_error`, shown in the API) and the previous good copy
//!    stays in force.
//! 2. **Upsert by instance.** Each instance in the window (`now .. now + 60 days`) is stored
//!    under (user, `UID`, instance key) with origin `OL`; a changed time, subject or busy
//!    status in Exchange updates the row.
//! 3. **The user's edit wins.** An entry the user edited in OneStatus (origin `WEB`,
//!    `user_edited`) or deleted (a `user_deleted` tombstone) is left exactly as the user left
//!    it, whatever Exchange says later; the store's upsert enforces this
//!    (`Store::calendar_upsert_from_sync`).
//! 4. **Removed in Exchange.** Entries of this source that the feed no longer has (deleted or
//!    cancelled in Exchange, or an instance now in the past) are removed — except the ones the
//!    user edited: those are the user's now, and stay until the user deletes them. A tombstone
//!    whose event has gone from Exchange is removed too (nothing is left to resurrect).
//! 5. **Every sync re-expands.** Recurring series move forward with the window on each run,
//!    even when the server answers 304: the driver keeps the last good body in memory and
//!    expands it again at the new `now`.
//!
//! The sync instant is strictly increasing per source (at least 1 ms after the previous
//! sync), because "not seen since the sync started" is how rule 4 finds removed entries.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tracing::{debug, info, warn};

use super::expand::{expand, Occurrence, WINDOW};
use super::fetch_policy::FetchPolicy;
use super::http::UrlSource;
use super::ics::{parse_feed, IcsError};
use super::source::{BodySource, CalendarSource, FetchError, Fetched, FileSource, Validators};
use super::CalendarError;
use crate::clock::Clock;
use crate::domain::model::{
    CalendarSource as SourceRow, CalendarSourceId, CalendarSourceKind, SyncedEntry, UserId,
};
use crate::shutdown::ShutdownListener;
use crate::store::{Store, StoreError};

/// The `url` of the source row that feeds pushed to the HTTP API are recorded under (the
/// schema's kinds are `url` and `file`; a push is a file that arrives by HTTP).
pub const PUSHED_SOURCE_URL: &str = "push:api";

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The source row.
    pub source_id: Option<CalendarSourceId>,
    /// The server said 304 and no cached body was there to re-expand: nothing changed.
    pub not_modified: bool,
    /// Events (`VEVENT`s) in the feed.
    pub events: usize,
    /// Instances in the window, i.e. entries written or confirmed.
    pub instances: usize,
    /// Of those, entries the user edited or deleted, left as the user made them.
    pub kept_as_user_left: usize,
    /// Entries removed because the feed no longer has them.
    pub removed: u64,
}

/// Parses and expands a feed for the window starting at `now` (rule 1: nothing is stored yet).
pub fn prepare(
    text: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<(usize, Vec<Occurrence>), IcsError> {
    let events = parse_feed(text, tz)?;
    let occurrences = expand(&events, now, now + WINDOW)?;
    Ok((events.len(), occurrences))
}

/// Fetches `source` through `fetcher`, and applies the result to `row`'s entries. `cache` is
/// the last good body of this source, re-expanded on a 304 and replaced by a new body.
pub async fn sync_source<S: CalendarSource>(
    store: &Store,
    row: &SourceRow,
    fetcher: &S,
    tz: Tz,
    cache: &mut Option<String>,
    now: DateTime<Utc>,
) -> Result<ImportReport, CalendarError> {
    let sync_at = sync_instant(row, now);
    // Without a cached body a 304 would leave nothing to re-expand: ask unconditionally.
    let validators = if cache.is_some() {
        Validators {
            etag: row.etag.clone(),
            last_modified: row.last_modified.clone(),
        }
    } else {
        Validators::default()
    };
    let (text, next) = match fetcher.fetch(&validators).await {
        Err(e) => return Err(fail(store, row.id, CalendarError::Fetch(e), sync_at).await),
        Ok(Fetched::NotModified) => match cache.clone() {
            Some(text) => (text, Validators::default()),
            None => {
                store
                    .calendar_source_synced(row.id, None, None, None, sync_at)
                    .await?;
                return Ok(ImportReport {
                    source_id: Some(row.id),
                    not_modified: true,
                    ..ImportReport::default()
                });
            }
        },
        Ok(Fetched::Body { text, validators }) => (text, validators),
    };
    let report = apply(store, row.user_id, row.id, tz, &text, sync_at).await?;
    store
        .calendar_source_synced(
            row.id,
            next.etag.as_deref(),
            next.last_modified.as_deref(),
            None,
            sync_at,
        )
        .await?;
    *cache = Some(text);
    Ok(report)
}

/// Parses, expands and stores one feed body for `source` (the rules in the module doc). On a
/// feed error the error is stored on the source and nothing else changes.
pub async fn apply(
    store: &Store,
    user: UserId,
    source: CalendarSourceId,
    tz: Tz,
    text: &str,
    sync_at: DateTime<Utc>,
) -> Result<ImportReport, CalendarError> {
    // Parsing and expanding are CPU work of up to a second or two for a feed at the bounds
    // (ics::MAX_FEED_BYTES, expand::MAX_EXPANSION_STEPS): off the async workers, which also
    // carry calls.
    let owned = text.to_owned();
    let prepared = tokio::task::spawn_blocking(move || prepare(&owned, tz, sync_at))
        .await
        .map_err(|e| CalendarError::Feed(IcsError::Syntax(format!("parse task failed: {e}"))))?;
    let (events, occurrences) = match prepared {
        Ok(x) => x,
        Err(e) => return Err(fail(store, source, CalendarError::Feed(e), sync_at).await),
    };
    let mut report = ImportReport {
        source_id: Some(source),
        events,
        instances: occurrences.len(),
        ..ImportReport::default()
    };
    for o in occurrences {
        let entry = SyncedEntry {
            user_id: user,
            source_id: Some(source),
            external_uid: o.uid,
            recurrence_id: o.recurrence_id,
            subject: o.subject,
            starts_at: o.start,
            ends_at: o.end,
            all_day: o.all_day,
            busy_status: o.busy,
        };
        let stored = store.calendar_upsert_from_sync(&entry, sync_at).await?;
        if stored.user_edited || stored.user_deleted {
            report.kept_as_user_left += 1;
        }
    }
    report.removed = store.calendar_prune_unseen(source, sync_at).await?;
    debug!(source = source.0, ?report, "calendar feed applied");
    Ok(report)
}

/// Records `error` on the source (best effort) and returns it.
async fn fail(
    store: &Store,
    source: CalendarSourceId,
    error: CalendarError,
    at: DateTime<Utc>,
) -> CalendarError {
    let text = error.to_string();
    if let Err(e) = store
        .calendar_source_synced(source, None, None, Some(&text), at)
        .await
    {
        warn!(source = source.0, error = %e, "could not record the calendar sync error");
    }
    warn!(source = source.0, error = %text, "calendar feed rejected; previous entries kept");
    error
}

/// `now`, or 1 ms after the source's last sync if the clock has not moved past it.
fn sync_instant(row: &SourceRow, now: DateTime<Utc>) -> DateTime<Utc> {
    match row.last_sync_at {
        Some(last) if last >= now => last + chrono::Duration::milliseconds(1),
        _ => now,
    }
}

/// The user (by local number) and the zone of their organisation.
async fn user_and_zone(store: &Store, local_number: &str) -> Result<(UserId, Tz), CalendarError> {
    let user = match store.user_by_local_number(local_number).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => {
            return Err(CalendarError::UnknownUser(local_number.to_owned()))
        }
        Err(e) => return Err(e.into()),
    };
    let org = store.org(user.org_id).await?;
    Ok((user.id, org.timezone))
}

/// The source row of `user` with this kind and url, created if missing.
async fn source_row(
    store: &Store,
    user: UserId,
    kind: CalendarSourceKind,
    url: &str,
    now: DateTime<Utc>,
) -> Result<SourceRow, CalendarError> {
    let existing = store.calendar_sources(Some(user)).await?;
    if let Some(row) = existing
        .into_iter()
        .find(|s| s.kind == kind && s.url == url)
    {
        return Ok(row);
    }
    Ok(store
        .calendar_source_create(user, kind, url, None, now)
        .await?)
}

/// Imports an ICS file for the user with `local_number` (`onestatus calendar import`). The
/// file becomes a `file` source of the user, which [`run_sync`] then re-reads on each round.
pub async fn import_file(
    store: &Store,
    local_number: &str,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<ImportReport, CalendarError> {
    let (user, tz) = user_and_zone(store, local_number).await?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let url = absolute.display().to_string();
    let row = source_row(store, user, CalendarSourceKind::File, &url, now).await?;
    let mut cache = None;
    sync_source(
        store,
        &row,
        &FileSource::new(&absolute),
        tz,
        &mut cache,
        now,
    )
    .await
}

/// Imports an ICS body pushed to the HTTP API for `user`, recorded under the user's
/// [`PUSHED_SOURCE_URL`] source (so its last error shows like any other source's).
pub async fn import_body(
    store: &Store,
    user: UserId,
    body: &str,
    now: DateTime<Utc>,
) -> Result<ImportReport, CalendarError> {
    let u = store.user(user).await?;
    let tz = store.org(u.org_id).await?.timezone;
    let row = source_row(
        store,
        user,
        CalendarSourceKind::File,
        PUSHED_SOURCE_URL,
        now,
    )
    .await?;
    let mut cache = None;
    sync_source(store, &row, &BodySource::new(body), tz, &mut cache, now).await
}

/// [`run_sync_with`] under the default [`FetchPolicy`] (https only, public addresses only).
pub async fn run_sync(
    store: Store,
    clock: Arc<dyn Clock>,
    interval: Duration,
    shutdown: ShutdownListener,
) {
    run_sync_with(store, clock, interval, FetchPolicy::default(), shutdown).await;
}

/// Syncs every URL and file source every `interval` until shutdown, fetching URLs under
/// `policy` (`[calendar] allow_http` and `allowed_networks`). Pushed feeds are not polled
/// (there is nothing to fetch). One failing source never stops the others.
pub async fn run_sync_with(
    store: Store,
    clock: Arc<dyn Clock>,
    interval: Duration,
    policy: FetchPolicy,
    shutdown: ShutdownListener,
) {
    run_sync_leased(store, clock, interval, policy, None, shutdown).await
}

/// [`run_sync_with`], polling only the sources whose lease this node holds when `lease` is
/// given (several nodes on one store: one poller per source, [`crate::cluster::lease`]).
pub async fn run_sync_leased(
    store: Store,
    clock: Arc<dyn Clock>,
    interval: Duration,
    policy: FetchPolicy,
    lease: Option<crate::cluster::lease::SourceLease>,
    mut shutdown: ShutdownListener,
) {
    let mut bodies: HashMap<CalendarSourceId, String> = HashMap::new();
    info!(interval_secs = interval.as_secs(), "calendar sync started");
    loop {
        sync_round_leased(&store, clock.as_ref(), &policy, &mut bodies, lease.as_ref()).await;
        tokio::select! {
            _ = shutdown.recv() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    info!("calendar sync stopped");
}

/// One pass over all sources, URLs fetched under `policy`.
pub async fn sync_round(
    store: &Store,
    clock: &dyn Clock,
    policy: &FetchPolicy,
    bodies: &mut HashMap<CalendarSourceId, String>,
) {
    sync_round_leased(store, clock, policy, bodies, None).await
}

/// [`sync_round`], skipping the sources another node holds the lease of.
pub async fn sync_round_leased(
    store: &Store,
    clock: &dyn Clock,
    policy: &FetchPolicy,
    bodies: &mut HashMap<CalendarSourceId, String>,
    lease: Option<&crate::cluster::lease::SourceLease>,
) {
    let sources = match store.calendar_sources(None).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot list calendar sources");
            return;
        }
    };
    for row in sources {
        if row.url == PUSHED_SOURCE_URL {
            continue;
        }
        if let Some(lease) = lease {
            if !lease.take(store, row.id.0, clock.now()).await {
                // Another node polls it; a body cached from when this one did is stale.
                bodies.remove(&row.id);
                continue;
            }
        }
        let tz = match store.user(row.user_id).await {
            Ok(u) => match store.org(u.org_id).await {
                Ok(org) => org.timezone,
                Err(e) => {
                    warn!(source = row.id.0, error = %e, "calendar source without organisation");
                    continue;
                }
            },
            Err(e) => {
                warn!(source = row.id.0, error = %e, "calendar source without user");
                continue;
            }
        };
        let mut cache = bodies.remove(&row.id);
        let now = clock.now();
        let result = match row.kind {
            CalendarSourceKind::File => {
                sync_source(store, &row, &FileSource::new(&row.url), tz, &mut cache, now).await
            }
            CalendarSourceKind::Url => {
                match UrlSource::new(&row.url, row.auth.as_deref(), policy.clone()) {
                    Ok(fetcher) => sync_source(store, &row, &fetcher, tz, &mut cache, now).await,
                    Err(e) => Err(fail(store, row.id, CalendarError::Fetch(e), now).await),
                }
            }
        };
        if let Some(body) = cache {
            bodies.insert(row.id, body);
        }
        match result {
            Ok(report) => debug!(source = row.id.0, ?report, "calendar synced"),
            Err(e) => debug!(source = row.id.0, error = %e, "calendar sync failed"),
        }
    }
}

impl From<FetchError> for CalendarError {
    fn from(e: FetchError) -> Self {
        CalendarError::Fetch(e)
    }
}
