//! Where a feed comes from: the [`CalendarSource`] trait and its local implementations (a file,
//! a body pushed to the API). The HTTPS poller is in [`http`](super::http).
//!
//! A source only *fetches*: it returns the feed's text (or "not modified"), and the sync
//! ([`sync`](super::sync)) parses, expands and stores it the same way whatever the source. A
//! Microsoft Graph (`/me/calendarView`) or CalDAV (`REPORT calendar-query`) source would be one
//! more implementation that renders what it fetched as iCalendar text (CalDAV returns it
//! as such); neither is built yet.

use std::future::Future;
use std::path::{Path, PathBuf};

use super::fetch_policy::BlockedRange;
use super::ics::MAX_FEED_BYTES;

/// The validators of the last fetch, for a conditional request (RFC 9110 §13.1.2
/// `If-None-Match`, §13.1.3 `If-Modified-Since`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` of the last good fetch.
    pub etag: Option<String>,
    /// `Last-Modified` of the last good fetch.
    pub last_modified: Option<String>,
}

/// What a fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The feed has not changed since the validators were issued (HTTP 304).
    NotModified,
    /// The feed's text, with the validators to send next time.
    Body {
        /// The iCalendar text.
        text: String,
        /// Validators for the next conditional fetch.
        validators: Validators,
    },
}

/// Why a fetch failed. The text form is stored on the source and shown in the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The URL is not an `http`, `https` or `webcal` URL.
    #[error("not an http(s) URL: {0}")]
    BadUrl(String),
    /// A plain `http` URL (or a redirect to one) while `[calendar] allow_http` is off.
    #[error("only https URLs are fetched")]
    HttpNotAllowed,
    /// The host resolves to an address the [`FetchPolicy`](super::fetch_policy::FetchPolicy)
    /// refuses (loopback, private, link-local, metadata, …), directly or after a redirect.
    #[error("the feed's address is not allowed ({0} network)")]
    AddressNotAllowed(BlockedRange),
    /// More redirects than [`MAX_REDIRECTS`](super::http::MAX_REDIRECTS), or a redirect
    /// without a usable `Location`.
    #[error("too many or malformed redirects")]
    Redirect,
    /// The server answered with a status other than 200 or 304.
    #[error("HTTP status {0}")]
    Status(u16),
    /// Resolving, connecting, TLS or reading failed, or timed out. Deliberately one message
    /// without the socket's detail: "connection refused" against "timed out" would tell an
    /// open port from a closed one (issue #19); the detail goes to the debug log only.
    #[error("the feed's server could not be reached, or did not answer in time")]
    Unreachable,
    /// The body is larger than [`MAX_FEED_BYTES`].
    #[error("feed is larger than {MAX_FEED_BYTES} bytes")]
    TooLarge,
    /// The body is not UTF-8 (RFC 5545 §3.1.4 says UTF-8).
    #[error("feed is not UTF-8")]
    NotUtf8,
}

/// A place a user's calendar feed is fetched from.
pub trait CalendarSource: Send + Sync {
    /// Fetches the feed; with validators from a previous fetch, a source that supports
    /// conditional requests may answer [`Fetched::NotModified`].
    fn fetch(
        &self,
        validators: &Validators,
    ) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}

/// A local ICS file (`onestatus calendar import --user … FILE`, or a file the sync re-reads).
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// A source reading `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
        }
    }
}

impl CalendarSource for FileSource {
    async fn fetch(&self, _validators: &Validators) -> Result<Fetched, FetchError> {
        let err = |reason: String| FetchError::File {
            path: self.path.display().to_string(),
            reason,
        };
        let meta = tokio::fs::metadata(&self.path)
            .await
            .map_err(|e| err(e.to_string()))?;
        if meta.len() > MAX_FEED_BYTES as u64 {
            return Err(FetchError::TooLarge);
        }
        let bytes = tokio::fs::read(&self.path)
            .await
            .map_err(|e| err(e.to_string()))?;
        if bytes.len() > MAX_FEED_BYTES {
            return Err(FetchError::TooLarge);
        }
        let text = String::from_utf8(bytes).map_err(|_| FetchError::NotUtf8)?;
        Ok(Fetched::Body {
            text,
            validators: Validators::default(),
        })
    }
}

/// A feed body already in hand (pushed to the HTTP API).
#[derive(Debug, Clone)]
pub struct BodySource {
    text: String,
}

impl BodySource {
    /// A source that returns `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }
}

impl CalendarSource for BodySource {
    async fn fetch(&self, _validators: &Validators) -> Result<Fetched, FetchError> {
        if self.text.len() > MAX_FEED_BYTES {
            return Err(FetchError::TooLarge);
        }
        Ok(Fetched::Body {
            text: self.text.clone(),
            validators: Validators::default(),
        })
    }
}
