//! The HTTPS poller: an Exchange/Outlook "published calendar" URL (or any iCalendar feed),
//! fetched conditionally so an unchanged calendar costs a 304 and no parsing.
//!
//! RFC 9110 §13.1.2/§13.1.3: the last `ETag` goes out as `If-None-Match`, the last
//! `Last-Modified` as `If-Modified-Since`; a 304 answer means "unchanged". Outlook hands out
//! `webcal://` links, which are plain `https://` (the scheme only tells the OS to open a
//! calendar app). The `Authorization` header, when the source has one, is sent as stored
//! (`Basic …` or `Bearer …`).
//!
//! The client is `ureq` (blocking, rustls, no default features): one request every few
//! minutes per user does not need an async HTTP stack, and each fetch runs on tokio's blocking
//! pool, bounded by [`FETCH_TIMEOUT`] and [`MAX_FEED_BYTES`].

use std::time::Duration;

use super::ics::MAX_FEED_BYTES;
use super::source::{CalendarSource, FetchError, Fetched, Validators};

/// Longest a whole fetch (connect, TLS, headers, body) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A feed at an `http`, `https` or `webcal` URL.
#[derive(Debug, Clone)]
pub struct UrlSource {
    url: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

impl UrlSource {
    /// A source fetching `url`, sending `authorization` as the `Authorization` header.
    pub fn new(url: &str, authorization: Option<&str>) -> Result<Self, FetchError> {
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
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            // 304 and errors are answers we handle, not transport failures.
            .http_status_as_error(false)
            .max_redirects(5)
            .user_agent(concat!("OneStatus/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            url,
            authorization: authorization.map(str::to_owned),
            agent,
        })
    }

    /// The URL fetched (after `webcal` → `https`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn fetch_blocking(&self, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut request = self
            .agent
            .get(&self.url)
            .header("Accept", "text/calendar, */*;q=0.5");
        if let Some(etag) = &validators.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header("If-Modified-Since", lm);
        }
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        let mut response = request
            .call()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        match response.status().as_u16() {
            304 => return Ok(Fetched::NotModified),
            200 => {}
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
                other => FetchError::Transport(other.to_string()),
            })?;
        let text = String::from_utf8(bytes).map_err(|_| FetchError::NotUtf8)?;
        Ok(Fetched::Body {
            text,
            validators: next,
        })
    }
}

impl CalendarSource for UrlSource {
    async fn fetch(&self, validators: &Validators) -> Result<Fetched, FetchError> {
        let this = self.clone();
        let validators = validators.clone();
        tokio::task::spawn_blocking(move || this.fetch_blocking(&validators))
            .await
            .map_err(|e| FetchError::Transport(format!("fetch task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(
            UrlSource::new(
                "webcal://outlook.office365.com/owa/calendar/x/calendar.ics",
                None
            )
            .unwrap()
            .url(),
            "https://outlook.office365.com/owa/calendar/x/calendar.ics"
        );
        assert!(UrlSource::new("HTTPS://example.com/a.ics", None).is_ok());
        assert!(matches!(
            UrlSource::new("ftp://example.com/a.ics", None),
            Err(FetchError::BadUrl(_))
        ));
    }
}
