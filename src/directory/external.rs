//! The external number directory (`[directory]`): one HTTP GET per unknown number to a
//! configured URL template, the answer read as JSON (a name at an RFC 6901 pointer) or as a
//! vCard (RFC 6350 `FN`), with the answer's size and time bounded and every outcome cached.
//!
//! Where it sits: the last step of [`super::lookup`]. It is never asked while a call is being
//! routed: the new-message e-mail asks it after the message is stored, and lists ask only the
//! cache and start a background fill ([`ExternalDirectory::prefetch`]), so a slow directory
//! delays a mail by at most its timeouts and a page of call history by at most
//! `api::names::LIST_WAIT`.
//!
//! # Cache
//! A name found is kept for `hit_ttl_secs`, "no name" (404, an empty answer, no name at the
//! pointer) for `miss_ttl_secs`. A failed lookup (timeout, refused connection, 5xx, an answer
//! too large or not parseable) is kept as a miss for at most [`FAILURE_TTL`]: long enough
//! that a directory that is down is not asked once per call, short enough that names come
//! back soon after it recovers. The cache is bounded (`cache_entries`); when full, expired
//! entries go first, then the one closest to expiry.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tracing::{debug, info_span, Instrument};

use super::vcard;
use crate::config::{DirectoryAnswer, DirectoryConfig};
use crate::number::LOCAL_NUMBER_DIGITS;

/// Longest a failed lookup is remembered as a miss (see the module doc).
pub const FAILURE_TTL: Duration = Duration::from_secs(60);

/// What the cache knows of a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The directory named it.
    Hit(String),
    /// The directory did not name it (or failed), recently.
    Miss,
    /// Not asked yet, or too long ago.
    Unknown,
}

/// Why one lookup failed (logged at debug; the caller only sees "no name").
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No connection, a timeout, a broken answer.
    #[error("directory unreachable: {0}")]
    Transport(#[source] Box<ureq::Error>),
    /// The whole lookup took longer than its bound.
    #[error("directory lookup took longer than {0:?}")]
    Timeout(Duration),
    /// An HTTP status other than 200 and 404.
    #[error("directory answered {0}")]
    Status(u16),
    /// Longer than `max_answer_bytes`.
    #[error("directory answer larger than the limit")]
    TooLarge,
    /// Not JSON, or not a vCard.
    #[error("directory answer unreadable: {0}")]
    Unreadable(String),
    /// The blocking task died.
    #[error("directory lookup task failed")]
    Task,
}

/// Why the directory could not be set up from `[directory]`.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryConfigError {
    /// The template lacks `{number}`/`{e164}` or is not http(s).
    #[error("directory.url must be an http:// or https:// URL with {{number}} or {{e164}}")]
    Url,
    /// `name_pointer` is not an RFC 6901 pointer.
    #[error("directory.name_pointer must be a JSON pointer such as \"/name\"")]
    Pointer,
}

/// One remembered answer.
#[derive(Debug, Clone)]
struct Entry {
    name: Option<String>,
    expires: DateTime<Utc>,
}

/// The bounded cache of hits and misses; pure (time is a parameter).
#[derive(Debug)]
struct Cache {
    entries: HashMap<String, Entry>,
    capacity: usize,
}

impl Cache {
    fn get(&self, number: &str, now: DateTime<Utc>) -> Cached {
        match self.entries.get(number) {
            Some(e) if e.expires > now => match &e.name {
                Some(name) => Cached::Hit(name.clone()),
                None => Cached::Miss,
            },
            _ => Cached::Unknown,
        }
    }

    fn put(
        &mut self,
        number: &str,
        name: Option<String>,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(number) {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries
            .insert(number.to_owned(), Entry { name, expires });
    }
}

/// The configured directory client with its cache. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ExternalDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    template: String,
    answer: DirectoryAnswer,
    pointer: String,
    max_bytes: u64,
    hit_ttl: chrono::Duration,
    miss_ttl: chrono::Duration,
    /// The whole lookup's bound, beyond ureq's own: connect + read (head) + read (body).
    overall: Duration,
    agent: ureq::Agent,
    cache: Mutex<Cache>,
    /// Numbers with a background lookup running, so a list shown twice asks once.
    in_flight: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for ExternalDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalDirectory")
            .field("template", &self.inner.template)
            .finish()
    }
}

impl ExternalDirectory {
    /// The directory `config` describes; `Ok(None)` when it is off (empty `url`).
    pub fn from_config(config: &DirectoryConfig) -> Result<Option<Self>, DirectoryConfigError> {
        if !config.enabled() {
            return Ok(None);
        }
        Self::new(config).map(Some)
    }

    /// A client for `config.url` (which must be set).
    pub fn new(config: &DirectoryConfig) -> Result<Self, DirectoryConfigError> {
        let template = config.url.trim().to_owned();
        let lower = template.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://"))
            || !(template.contains("{number}") || template.contains("{e164}"))
        {
            return Err(DirectoryConfigError::Url);
        }
        if config.answer == DirectoryAnswer::Json
            && !(config.name_pointer.is_empty() || config.name_pointer.starts_with('/'))
        {
            return Err(DirectoryConfigError::Pointer);
        }
        let agent_config = ureq::Agent::config_builder()
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_recv_body(Some(config.read_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("OneStatus/", env!("CARGO_PKG_VERSION")))
            .build();
        let ttl = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Ok(ExternalDirectory {
            inner: Arc::new(Inner {
                template,
                answer: config.answer,
                pointer: config.name_pointer.clone(),
                max_bytes: config.max_answer_bytes,
                hit_ttl: ttl(config.hit_ttl),
                miss_ttl: ttl(config.miss_ttl),
                overall: config.connect_timeout + config.read_timeout * 2,
                agent: ureq::Agent::new_with_config(agent_config),
                cache: Mutex::new(Cache {
                    entries: HashMap::new(),
                    capacity: config.cache_entries,
                }),
                in_flight: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// What the cache knows of `number` at `now`.
    pub fn cached(&self, number: &str, now: DateTime<Utc>) -> Cached {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(number, now)
    }

    /// The directory's name for `number`: from the cache, or asked (bounded by the timeouts)
    /// and remembered. `None` for a miss or a failure, and for local and service numbers,
    /// which only the organisation knows.
    pub async fn lookup(&self, number: &str, now: DateTime<Utc>) -> Option<String> {
        if !askable(number) {
            return None;
        }
        match self.cached(number, now) {
            Cached::Hit(name) => return Some(name),
            Cached::Miss => return None,
            Cached::Unknown => {}
        }
        let inner = self.inner.clone();
        let asked = number.to_owned();
        let task = tokio::task::spawn_blocking(move || inner.fetch(&asked));
        let outcome = match tokio::time::timeout(self.inner.overall, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(LookupError::Task),
            Err(_) => Err(LookupError::Timeout(self.inner.overall)),
        };
        let (name, ttl) = match outcome {
            Ok(Some(name)) => (Some(name), self.inner.hit_ttl),
            Ok(None) => (None, self.inner.miss_ttl),
            Err(error) => {
                debug!(%error, "directory lookup failed");
                let failure = chrono::Duration::from_std(FAILURE_TTL).unwrap_or_default();
                (None, self.inner.miss_ttl.min(failure))
            }
        };
        self.remember_for(number, name.clone(), now, ttl);
        name
    }

    /// Starts a background [`lookup`](Self::lookup) of `number` unless one is running or the
    /// cache knows it; returns at once, with the task when one was started (a list may wait
    /// for it a little). Needs a tokio runtime.
    pub fn prefetch(&self, number: &str, now: DateTime<Utc>) -> Option<JoinHandle<()>> {
        if !askable(number) || self.cached(number, now) != Cached::Unknown {
            return None;
        }
        {
            let mut running = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !running.insert(number.to_owned()) {
                return None;
            }
        }
        let this = self.clone();
        let number = number.to_owned();
        Some(tokio::spawn(
            async move {
                this.lookup(&number, now).await;
                this.inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&number);
            }
            .instrument(info_span!("directory_prefetch")),
        ))
    }

    /// Remembers an answer for `number` as a fetch does (a hit for `hit_ttl`, a miss for
    /// `miss_ttl`).
    pub fn remember(&self, number: &str, name: Option<String>, now: DateTime<Utc>) {
        let ttl = if name.is_some() {
            self.inner.hit_ttl
        } else {
            self.inner.miss_ttl
        };
        self.remember_for(number, name, now, ttl);
    }

    fn remember_for(
        &self,
        number: &str,
        name: Option<String>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) {
        let expires = now
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(number, name, expires, now);
    }
}

impl Inner {
    /// One GET, on a blocking thread. `Ok(None)`: the directory does not know the number.
    fn fetch(&self, number: &str) -> Result<Option<String>, LookupError> {
        let url = self
            .template
            .replace("{number}", number)
            .replace("{e164}", &format!("%2B{number}"));
        let accept = match self.answer {
            DirectoryAnswer::Json => "application/json",
            DirectoryAnswer::Vcard => "text/vcard, text/x-vcard;q=0.9",
        };
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", accept)
            .call()
            .map_err(|e| LookupError::Transport(Box::new(e)))?;
        match response.status().as_u16() {
            200 => {}
            404 | 204 => return Ok(None),
            other => return Err(LookupError::Status(other)),
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_bytes)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => LookupError::TooLarge,
                other => LookupError::Transport(Box::new(other)),
            })?;
        let name = match self.answer {
            DirectoryAnswer::Json => name_in_json(&body, &self.pointer)?,
            DirectoryAnswer::Vcard => name_in_vcard(&body)?,
        };
        Ok(name
            .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|n| !n.is_empty()))
    }
}

/// Only full numbers go out: a local or service number means nothing outside the organisation,
/// and only digits are put into the URL.
fn askable(number: &str) -> bool {
    number.len() > LOCAL_NUMBER_DIGITS && number.bytes().all(|b| b.is_ascii_digit())
}

/// The string at `pointer` in a JSON answer; an empty document or `null` there is a miss.
fn name_in_json(body: &[u8], pointer: &str) -> Result<Option<String>, LookupError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| LookupError::Unreadable(e.to_string()))?;
    Ok(json
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned))
}

/// The name of the first card of a vCard answer.
fn name_in_vcard(body: &[u8]) -> Result<Option<String>, LookupError> {
    let text =
        std::str::from_utf8(body).map_err(|_| LookupError::Unreadable("not UTF-8".into()))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let card = vcard::parse(text)
        .into_iter()
        .next()
        .ok_or_else(|| LookupError::Unreadable("no vCard".into()))?
        .map_err(|e| LookupError::Unreadable(e.to_string()))?;
    Ok(card.display_name())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn the_cache_keeps_hits_and_misses_until_they_expire() {
        let mut cache = Cache {
            entries: HashMap::new(),
            capacity: 2,
        };
        cache.put("4511111111", Some("A".into()), at(100), at(0));
        cache.put("4522222222", None, at(10), at(0));
        assert_eq!(cache.get("4511111111", at(5)), Cached::Hit("A".into()));
        assert_eq!(cache.get("4522222222", at(5)), Cached::Miss);
        assert_eq!(cache.get("4522222222", at(10)), Cached::Unknown);
        assert_eq!(cache.get("4533333333", at(5)), Cached::Unknown);
        // Full: the entry closest to expiry makes room.
        cache.put("4533333333", Some("C".into()), at(50), at(5));
        assert_eq!(cache.entries.len(), 2);
        assert_eq!(cache.get("4522222222", at(5)), Cached::Unknown);
        assert_eq!(cache.get("4511111111", at(5)), Cached::Hit("A".into()));
    }

    #[test]
    fn answers_are_read_at_the_pointer_or_from_the_vcard() {
        let body = br#"{"results": [{"displayName": "Jens Jensen"}]}"#;
        assert_eq!(
            name_in_json(body, "/results/0/displayName").unwrap(),
            Some("Jens Jensen".into())
        );
        assert_eq!(name_in_json(body, "/name").unwrap(), None);
        assert_eq!(name_in_json(b"  ", "/name").unwrap(), None);
        assert!(name_in_json(b"<html>", "/name").is_err());
        let card = b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Hansen\\, VVS\r\nEND:VCARD\r\n";
        assert_eq!(name_in_vcard(card).unwrap(), Some("Hansen, VVS".into()));
    }

    #[test]
    fn only_full_numbers_are_asked_and_the_template_is_checked() {
        assert!(askable("4512345678"));
        assert!(!askable("1000001"));
        assert!(!askable("8000"));
        assert!(!askable("45123abc78"));
        let bad = DirectoryConfig {
            url: "http://dir.example/lookup".into(),
            ..DirectoryConfig::default()
        };
        assert!(ExternalDirectory::new(&bad).is_err());
        assert!(ExternalDirectory::from_config(&DirectoryConfig::default())
            .unwrap()
            .is_none());
    }
}
