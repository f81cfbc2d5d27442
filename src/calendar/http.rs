//! The HTTPS poller: an Exchange/Outlook "published calendar" URL (or any iCalendar feed),
//! fetched conditionally so an unchanged calendar costs a 304 and no parsing, and fetched
//! safely, since the URL is typed by a user and the fetch comes from inside our network.
//!
//! RFC 9110 §13.1.2/§13.1.3: the last `ETag` goes out as `If-None-Match`, the last
//! `Last-Modified` as `If-Modified-Since`; a 304 answer means "unchanged". Outlook hands out
//! `webcal://` links, which are plain `https://` (the scheme only tells the OS to open a
//! calendar app). The `Authorization` header, when the source has one, is sent as stored
//! (`Basic …` or `Bearer …`), and only to the origin it was given for.
//!
//! # Safety (issue #19, finding 3)
//! - The scheme must pass [`FetchPolicy::scheme_allowed`]: `https`, `http` only if configured.
//! - Names are resolved by [`GuardedResolver`], which hands the connector only addresses the
//!   [`FetchPolicy`] allows, and refuses the host if *any* of its addresses is refused (a name
//!   with one public and one private address is a rebinding trick, not a calendar). The
//!   connection goes to exactly the addresses checked.
//! - Redirects (RFC 9110 §15.4) are followed here, not by the client: at most
//!   [`MAX_REDIRECTS`], each target's scheme checked, and its host resolved through the same
//!   resolver.
//! - [`CONNECT_TIMEOUT`], [`READ_TIMEOUT`] and [`FETCH_TIMEOUT`] bound the time, and
//!   [`MAX_FEED_BYTES`] the body.
//! - A failed connection is stored as one fixed [`FetchError::Unreachable`]: the reason
//!   (refused, reset, timed out) goes to the debug log, never to the user.
//!
//! The client is `ureq` (blocking, rustls, no default features): one request every few
//! minutes per user does not need an async HTTP stack, and each fetch runs on tokio's blocking
//! pool.

use std::io;
use std::time::Duration;

use tracing::debug;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::fetch_policy::{BlockedRange, FetchPolicy};
use super::ics::MAX_FEED_BYTES;
use super::source::{CalendarSource, FetchError, Fetched, Validators};

/// Longest a whole fetch (every redirect, connect, TLS, headers, body) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a TCP connect (and the name lookup before it) may take: a published calendar is
/// served by a CDN that answers in milliseconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the server may take to send the response head, and then the body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Most redirects followed. Outlook's published URLs redirect once at most.
pub const MAX_REDIRECTS: usize = 5;

/// A feed at an `http`, `https` or `webcal` URL.
#[derive(Debug, Clone)]
pub struct UrlSource {
    url: String,
    authorization: Option<String>,
    policy: FetchPolicy,
    agent: ureq::Agent,
}

impl UrlSource {
    /// A source fetching `url` under `policy`, sending `authorization` as the `Authorization`
    /// header. A scheme the policy refuses is refused here already.
    pub fn new(
        url: &str,
        authorization: Option<&str>,
        policy: FetchPolicy,
    ) -> Result<Self, FetchError> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        let url = if let Some(rest) = lower.strip_prefix("webcal://") {
            // Keep the original spelling of everything after the scheme.
            format!("https://{}", &url[url.len() - rest.len()..])
        } else if lower.starts_with("https://") || lower.starts_with("http://") {
            url.to_owned()
        } else {
            return Err(FetchError::BadUrl(url.chars().take(100).collect()));
        };
        if !policy.scheme_allowed(&scheme_of(&url)) {
            return Err(FetchError::HttpNotAllowed);
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(READ_TIMEOUT))
            .timeout_recv_body(Some(READ_TIMEOUT))
            // 304, 3xx and errors are answers we handle, not transport failures.
            .http_status_as_error(false)
            // Redirects are followed by `fetch_blocking`, which checks each target.
            .max_redirects(0)
            // A proxy from the environment would resolve and connect on our behalf, past the
            // resolver's check.
            .proxy(None)
            .user_agent(concat!("OneStatus/", env!("CARGO_PKG_VERSION")))
            .build();
        let resolver = GuardedResolver {
            policy: policy.clone(),
        };
        let agent = ureq::Agent::with_parts(config, DefaultConnector::new(), resolver);
        Ok(Self {
            url,
            authorization: authorization.map(str::to_owned),
            policy,
            agent,
        })
    }

    /// The URL fetched (after `webcal` → `https`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn fetch_blocking(&self, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut url = self.url.clone();
        let origin = origin_of(&url);
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self
                .agent
                .get(&url)
                .header("Accept", "text/calendar, */*;q=0.5");
            if let Some(etag) = &validators.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(lm) = &validators.last_modified {
                request = request.header("If-Modified-Since", lm);
            }
            // The credential belongs to the origin the user gave it for; a redirect elsewhere
            // does not get it.
            if let Some(auth) = self
                .authorization
                .as_ref()
                .filter(|_| origin_of(&url) == origin)
            {
                request = request.header("Authorization", auth);
            }
            let mut response = request.call().map_err(|e| transport_error(&e))?;
            match response.status().as_u16() {
                304 => return Ok(Fetched::NotModified),
                200 => {}
                301 | 302 | 303 | 307 | 308 => {
                    let location = response
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .ok_or(FetchError::Redirect)?;
                    let next = resolve_reference(&url, location).ok_or(FetchError::Redirect)?;
                    if !self.policy.scheme_allowed(&scheme_of(&next)) {
                        return Err(FetchError::HttpNotAllowed);
                    }
                    debug!(from = %url, to = %next, "calendar feed redirected");
                    url = next;
                    continue;
                }
                other => return Err(FetchError::Status(other)),
            }
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let next = Validators {
                etag: header("etag"),
                last_modified: header("last-modified"),
            };
            let bytes = response
                .body_mut()
                .with_config()
                .limit(MAX_FEED_BYTES as u64)
                .read_to_vec()
                .map_err(|e| match e {
                    ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge,
                    other => transport_error(&other),
                })?;
            let text = String::from_utf8(bytes).map_err(|_| FetchError::NotUtf8)?;
            return Ok(Fetched::Body {
                text,
                validators: next,
            });
        }
        Err(FetchError::Redirect)
    }
}

impl CalendarSource for UrlSource {
    async fn fetch(&self, validators: &Validators) -> Result<Fetched, FetchError> {
        let this = self.clone();
        let validators = validators.clone();
        tokio::task::spawn_blocking(move || this.fetch_blocking(&validators))
            .await
            .map_err(|e| {
                debug!(error = %e, "calendar fetch task failed");
                FetchError::Unreachable
            })?
    }
}

/// The resolver the poller's client uses: the system's, with every answer checked against
/// the [`FetchPolicy`]. A refusal travels through the client as an `io::Error` carrying the
/// [`BlockedRange`], which [`transport_error`] turns back into
/// [`FetchError::AddressNotAllowed`].
#[derive(Debug)]
struct GuardedResolver {
    policy: FetchPolicy,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        for addr in addrs.iter() {
            if let Err(range) = self.policy.check(addr.ip()) {
                return Err(ureq::Error::Io(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    range,
                )));
            }
        }
        Ok(addrs)
    }
}

/// A client error as stored: the policy's refusal by name, everything else as the one
/// [`FetchError::Unreachable`] (detail to the debug log).
fn transport_error(e: &ureq::Error) -> FetchError {
    if let ureq::Error::Io(io) = e {
        if let Some(range) = io.get_ref().and_then(|i| i.downcast_ref::<BlockedRange>()) {
            return FetchError::AddressNotAllowed(*range);
        }
    }
    debug!(error = %e, "calendar fetch failed");
    FetchError::Unreachable
}

/// The lower-case scheme of an absolute URL ("" without one).
fn scheme_of(url: &str) -> String {
    url.split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default()
}

/// `scheme://authority` of an absolute URL, lower case: the origin a credential belongs to.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

/// The absolute URL a `Location` value names relative to `base` (RFC 3986 §5.2, enough of it
/// for redirects: absolute, scheme-relative, absolute-path and relative-path references; dot
/// segments are left to the server). `None` for a value that is not a URL we fetch.
fn resolve_reference(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty()
        || location
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let (scheme, rest) = base.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let next = if let Some((s, _)) = location.split_once("://") {
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return None;
        }
        location.to_owned()
    } else if let Some(r) = location.strip_prefix("//") {
        format!("{scheme}://{r}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
        format!("{scheme}://{authority}{dir}{location}")
    };
    let lower = scheme_of(&next);
    (lower == "http" || lower == "https").then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> FetchPolicy {
        FetchPolicy {
            allow_http: true,
            allowed_networks: Vec::new(),
        }
    }

    #[test]
    fn schemes() {
        assert_eq!(
            UrlSource::new(
                "webcal://outlook.office365.com/owa/calendar/x/calendar.ics",
                None,
                FetchPolicy::default(),
            )
            .unwrap()
            .url(),
            "https://outlook.office365.com/owa/calendar/x/calendar.ics"
        );
        assert!(UrlSource::new("HTTPS://example.com/a.ics", None, FetchPolicy::default()).is_ok());
        assert!(matches!(
            UrlSource::new("ftp://example.com/a.ics", None, open()),
            Err(FetchError::BadUrl(_))
        ));
        // https by default; http only when configured.
        assert!(matches!(
            UrlSource::new("http://example.com/a.ics", None, FetchPolicy::default()),
            Err(FetchError::HttpNotAllowed)
        ));
        assert!(UrlSource::new("http://example.com/a.ics", None, open()).is_ok());
    }

    #[test]
    fn redirect_targets() {
        let base = "https://cal.example.com/owa/calendar/a/b.ics?x=1";
        for (location, expected) in [
            (
                "https://cdn.example.net/c.ics",
                "https://cdn.example.net/c.ics",
            ),
            ("//cdn.example.net/c.ics", "https://cdn.example.net/c.ics"),
            ("/other/c.ics", "https://cal.example.com/other/c.ics"),
            ("c2.ics", "https://cal.example.com/owa/calendar/a/c2.ics"),
            ("HTTP://Example.com/", "HTTP://Example.com/"),
        ] {
            assert_eq!(
                resolve_reference(base, location).as_deref(),
                Some(expected),
                "{location}"
            );
        }
        for bad in ["", "file:///etc/passwd", "gopher://x/", "https://a b/"] {
            assert_eq!(resolve_reference(base, bad), None, "{bad}");
        }
        assert_eq!(
            origin_of("https://Cal.Example.com:443/x"),
            "https://cal.example.com:443"
        );
    }

    /// The refusal comes back out of the client as the policy's range, not as a socket error.
    #[test]
    fn loopback_is_refused_before_any_connection() {
        let source = UrlSource::new("http://127.0.0.1:9/c.ics", None, open()).unwrap();
        assert_eq!(
            source.fetch_blocking(&Validators::default()),
            Err(FetchError::AddressNotAllowed(BlockedRange::Loopback))
        );
        let source = UrlSource::new("https://[::ffff:169.254.169.254]/x", None, open()).unwrap();
        assert_eq!(
            source.fetch_blocking(&Validators::default()),
            Err(FetchError::AddressNotAllowed(BlockedRange::Metadata))
        );
    }
}
