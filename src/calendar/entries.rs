//! Stored calendar entries as routing sees them: the step between the store and
//! [`routing::decide`](crate::routing::decide) for the calendar tier.
//!
//! The calendar code of an entry is the one chosen in the web client (`code_override`), else
//! the one in its subject ([`codes`](super::codes)). Imported entries keep their code in the
//! subject, so an Exchange change of subject changes the code on the next sync, and a user's
//! edit of the subject in OneStatus changes it too. A `[fwd name]` code is looked up among the
//! user's colleagues: exactly one match forwards to that colleague's OneNumber; none or several
//! and the code is dropped (the entry routes by its busy status — voicemail, which tells the
//! caller the truth — rather than forwarding to a guess).

use chrono::{DateTime, Utc};
use tracing::debug;

use super::codes::{self, CalendarCode, ForwardTarget};
use crate::domain::model::{CalendarEntry, OrgId, UserId};
use crate::routing::{CalendarEntry as RoutingEntry, CalendarOverride};
use crate::store::{Store, StoreError};

/// The calendar code that applies to `entry` (web choice first, then the subject).
pub fn code_of(entry: &CalendarEntry) -> Option<CalendarCode> {
    entry
        .code_override
        .as_deref()
        .and_then(codes::parse)
        .or_else(|| codes::parse(&entry.subject))
}

/// `user`'s entries overlapping `[from, to)` as routing inputs, codes parsed and colleagues'
/// names resolved within `org`.
pub async fn routing_entries(
    store: &Store,
    user: UserId,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<RoutingEntry>, StoreError> {
    let stored = store.calendar_entries(user, from, to).await?;
    routing_entries_from(store, user, org, stored).await
}

/// [`routing_entries`] for entries already read (the call path's one-query
/// [`routing_snapshot`](Store::routing_snapshot)): codes parsed, colleagues' names resolved
/// within `org` (a store query only for a `[fwd name]` code).
pub async fn routing_entries_from(
    store: &Store,
    user: UserId,
    org: OrgId,
    stored: Vec<CalendarEntry>,
) -> Result<Vec<RoutingEntry>, StoreError> {
    let mut out = Vec::with_capacity(stored.len());
    for e in stored {
        let override_code = match code_of(&e) {
            None => None,
            Some(CalendarCode::Forward(ForwardTarget::Colleague(name))) => {
                resolve_colleague(store, org, user, &name)
                    .await?
                    .map(CalendarOverride::Forward)
            }
            Some(code) => code.to_override(),
        };
        out.push(RoutingEntry {
            id: e.id.0,
            start: e.starts_at,
            end: e.ends_at,
            busy: e.busy_status,
            subject: e.subject,
            all_day: e.all_day,
            override_code,
            origin: e.origin,
        });
    }
    Ok(out)
}

/// The OneNumber of the one colleague (not `user`) whose name matches `name`.
async fn resolve_colleague(
    store: &Store,
    org: OrgId,
    user: UserId,
    name: &str,
) -> Result<Option<String>, StoreError> {
    let found = store.user_search(org, name, 3).await?;
    let candidates: Vec<_> = found.into_iter().filter(|u| u.id != user).collect();
    // An exact (case-insensitive) full-name match beats partial ones ("Hans" vs "Hans Hansen").
    let exact: Vec<_> = candidates
        .iter()
        .filter(|u| u.profile.name.eq_ignore_ascii_case(name))
        .collect();
    let chosen = match (exact.as_slice(), candidates.as_slice()) {
        ([one], _) => Some(one.one_number.clone()),
        ([], [one]) => Some(one.one_number.clone()),
        _ => None,
    };
    if chosen.is_none() {
        debug!(
            name,
            matches = candidates.len(),
            "calendar [fwd] name did not match one colleague"
        );
    }
    Ok(chosen)
}
