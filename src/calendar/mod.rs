//! Calendar integration: users' Exchange/Outlook calendars copied one way into OneStatus, so
//! that meetings and out-of-office periods send calls to voicemail with "back at …".
//!
//! # In the call flow
//! Feed text ([`source`], [`http`]) → [`ics`] (RFC 5545 parsing, [`timezone`] for Windows
//! zone names) → [`expand`] (RRULE/EXDATE/RECURRENCE-ID in a 60-day window) → [`sync`] (store,
//! respecting the user's edits) → [`entries`] (stored rows + [`codes`] → routing inputs) →
//! [`routing::decide`](crate::routing::decide). Everything up to the store is pure.
//!
//! # Sources
//! Built: an HTTPS/`webcal` URL polled by [`run_sync`] with `ETag`/`If-Modified-Since`
//! ([`http::UrlSource`], only to the addresses [`fetch_policy`] allows), an ICS file
//! ([`import_file`], `onestatus calendar import --user … FILE`, re-read by each sync round)
//! and an ICS body pushed to the HTTP API ([`import_body`]). Not built: Microsoft Graph and
//! CalDAV; each would be another [`CalendarSource`] returning iCalendar text, and nothing
//! after the fetch changes.
//!
//! # Mapping
//! See [`busy_status`] for how Exchange's properties become a
//! [`BusyStatus`](crate::domain::BusyStatus), [`routing::calendar`](crate::routing::calendar)
//! for what each status does to calls (Free/Tentative: phone open, not shown; Busy/Out of
//! office: voicemail, shown, back at the end of the merged busy period; WorkingElsewhere:
//! phone open, since the user is reachable), and [`codes`] (and `docs/calendar-codes.md`) for
//! the per-entry codes in subjects.
//!
//! # Sync rules
//! See [`sync`]: all-or-nothing per feed, user edits and deletions are never undone, entries
//! gone from Exchange are removed unless the user edited them.

pub mod busy_status;
pub mod codes;
pub mod entries;
pub mod expand;
pub mod fetch_policy;
pub mod forward_check;
pub mod http;
pub mod ics;
pub mod source;
pub mod sync;
pub mod timezone;

pub use codes::{CalendarCode, ForwardTarget};
pub use entries::{routing_entries, routing_entries_from};
pub use fetch_policy::FetchPolicy;
pub use ics::IcsError;
pub use source::{BodySource, CalendarSource, FetchError, Fetched, FileSource, Validators};
pub use sync::{
    import_body, import_file, run_sync, run_sync_with, ImportReport, PUSHED_SOURCE_URL,
};

use crate::store::StoreError;

/// Why an import or sync failed.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// No user has this local number.
    #[error("no user with local number {0}")]
    UnknownUser(String),
    /// The feed could not be fetched; the previous entries stay.
    #[error(transparent)]
    Fetch(FetchError),
    /// The feed was rejected as a whole; the previous entries stay.
    #[error("malformed calendar feed: {0}")]
    Feed(#[from] IcsError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}
