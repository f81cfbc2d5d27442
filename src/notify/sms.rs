//! SMS notifications through an HTTP gateway: after a voicemail is stored (when the user chose
//! SMS), and for written messages sent by SMS.
//!
//! The gateway contract is the smallest most gateways (or a ten-line adapter in front of one)
//! accept: `POST <sms.gateway_url>` with `Content-Type: application/json` and the body
//! `{"to": "<number>", "text": "<text>"}`; any 2xx means accepted. The client is hyper's HTTP/1
//! connection API, already in the tree under axum, over plain TCP: the gateway is expected on
//! the local network (TLS would add rustls and its roots for one POST). Every exchange is bounded
//! by a timeout; connection failures, timeouts and 5xx are retried with exponential backoff,
//! 4xx are not (the gateway refused this message and will again).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::{debug, warn};

use super::wording;
use crate::domain::Lang;

/// Longest text sent: ten concatenated GSM-7 segments. Bounds what a written message (typed by
/// a person) makes us send and pay for.
pub const MAX_SMS_CHARS: usize = 1530;

/// A boxed future, so that [`SmsSender`] can be used as `dyn SmsSender`.
pub type SmsFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// Recipient number, as stored (the gateway normalises it).
    pub to: String,
    /// The text, at most [`MAX_SMS_CHARS`] characters.
    pub text: String,
}

/// Something that delivers an SMS: the HTTP gateway in production, a capture in tests.
pub trait SmsSender: Send + Sync {
    /// Hands `sms` to the gateway, or says why not.
    fn send(&self, sms: Sms) -> SmsFuture<'_>;
}

/// Why an SMS was not delivered to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// `sms.gateway_url` is not an absolute `http://host[:port]/path` URL.
    #[error("sms.gateway_url {0:?} is not an http:// URL")]
    InvalidUrl(String),
    /// The gateway answered 4xx: it refuses this message and retrying would not help.
    #[error("the SMS gateway refused the message with status {0}")]
    Rejected(u16),
    /// Every attempt failed with a transient error.
    #[error("the SMS gateway failed {attempts} attempts, last: {last}")]
    Unavailable {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's failure.
        last: AttemptFailure,
    },
}

/// Why one attempt at the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptFailure {
    /// No TCP connection.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// The request could not be assembled (cannot happen: a method, a path from a parsed URI
    /// and header values from it).
    #[error("cannot build the request: {0}")]
    Request(hyper::http::Error),
    /// The exchange did not finish within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The HTTP exchange broke (connection closed, malformed response).
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    /// The gateway answered 5xx (or another non-2xx, non-4xx status).
    #[error("status {0}")]
    Status(u16),
}

/// The SMS telling a user about a new voicemail: "Ny talebesked fra 4512345678 mandag 24.
/// november 2025 kl. 14:30 (0:10). Ring 8000 for at lytte."
pub fn voicemail_text(
    lang: Lang,
    timezone: Tz,
    caller_name: Option<&str>,
    caller_number: Option<&str>,
    received_at: DateTime<Utc>,
    duration_ms: u64,
    voicemail_number: &str,
) -> String {
    let caller = wording::caller(lang, caller_name, caller_number);
    let when = wording::date_time(lang, &received_at.with_timezone(&timezone));
    let length = wording::duration(duration_ms);
    match lang {
        Lang::Da => format!(
            "Ny talebesked fra {caller} {when} ({length}). Ring {voicemail_number} for at lytte."
        ),
        Lang::Sv => format!(
            "Nytt röstmeddelande från {caller} {when} ({length}). Ring {voicemail_number} för \
             att lyssna."
        ),
        Lang::En => format!(
            "New voicemail from {caller} on {when} ({length}). Call {voicemail_number} to listen."
        ),
    }
}

/// The SMS carrying a written message: "Besked fra Hans Hansen: <text>", cut to
/// [`MAX_SMS_CHARS`].
pub fn written_message_text(lang: Lang, sender: &str, body: &str) -> String {
    let sender = wording::caller(lang, Some(sender), None);
    let text = match lang {
        Lang::Da => format!("Besked fra {sender}: {body}"),
        Lang::Sv => format!("Meddelande från {sender}: {body}"),
        Lang::En => format!("Message from {sender}: {body}"),
    };
    text.chars().take(MAX_SMS_CHARS).collect()
}

/// How [`HttpSmsGateway`] reaches the gateway and how hard it tries.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Bound on one whole attempt: connect, send, response head.
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each later one.
    pub backoff: Duration,
}

impl Default for GatewaySettings {
    /// 5 s per attempt, 3 attempts, 1 s then 2 s between them.
    fn default() -> Self {
        GatewaySettings {
            timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

/// An HTTP gateway taking `{"to", "text"}` JSON POSTs.
#[derive(Debug, Clone)]
pub struct HttpSmsGateway {
    uri: Uri,
    host: String,
    port: u16,
    settings: GatewaySettings,
}

impl HttpSmsGateway {
    /// A gateway client for `url` (`http://host[:port]/path`). No connection is made yet.
    pub fn new(url: &str, settings: GatewaySettings) -> Result<Self, SmsError> {
        let invalid = || SmsError::InvalidUrl(url.to_owned());
        let uri: Uri = url.trim().parse().map_err(|_| invalid())?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid());
        }
        let authority = uri.authority().ok_or_else(invalid)?;
        // Credentials in the URL would go out in clear over plain HTTP; refuse them.
        if authority.as_str().contains('@') {
            return Err(invalid());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(invalid());
        }
        let port = authority.port_u16().unwrap_or(80);
        Ok(HttpSmsGateway {
            uri,
            host,
            port,
            settings,
        })
    }

    async fn send_with_retry(&self, sms: Sms) -> Result<(), SmsError> {
        let body = Bytes::from(serde_json::json!({ "to": sms.to, "text": sms.text }).to_string());
        let attempts = self.settings.attempts.max(1);
        let mut backoff = self.settings.backoff;
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout(self.settings.timeout, self.post(body.clone()))
                .await
                .unwrap_or(Err(AttemptFailure::Timeout(self.settings.timeout)));
            match result {
                Ok(status) if status.is_success() => {
                    debug!(gateway = %self.host, %status, attempt, "SMS accepted by the gateway");
                    return Ok(());
                }
                Ok(status) if status.is_client_error() => {
                    return Err(SmsError::Rejected(status.as_u16()))
                }
                Ok(status) => {
                    let last = AttemptFailure::Status(status.as_u16());
                    if attempt >= attempts {
                        return Err(SmsError::Unavailable { attempts, last });
                    }
                    warn!(gateway = %self.host, attempt, error = %last, "SMS gateway failed; retrying");
                }
                Err(last) => {
                    if attempt >= attempts {
                        return Err(SmsError::Unavailable { attempts, last });
                    }
                    warn!(gateway = %self.host, attempt, error = %last, "SMS gateway failed; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }

    /// One HTTP/1.1 POST on a fresh connection; returns the response status.
    async fn post(&self, body: Bytes) -> Result<StatusCode, AttemptFailure> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(AttemptFailure::Connect)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection task ends when the response is read and `sender` is dropped.
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "SMS gateway connection ended with an error");
            }
        });
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let host = self
            .uri
            .authority()
            .map_or(self.host.as_str(), |a| a.as_str());
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(AttemptFailure::Request)?;
        let response = sender.send_request(request).await?;
        Ok(response.status())
    }
}

impl SmsSender for HttpSmsGateway {
    fn send(&self, sms: Sms) -> SmsFuture<'_> {
        Box::pin(self.send_with_retry(sms))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn voicemail_texts_per_language() {
        let at = Utc.with_ymd_and_hms(2025, 11, 24, 13, 30, 0).unwrap();
        let cph = chrono_tz::Europe::Copenhagen;
        let da = voicemail_text(Lang::Da, cph, None, Some("4512345678"), at, 10_000, "8000");
        assert_eq!(
            da,
            "Ny talebesked fra 4512345678 mandag 24. november 2025 kl. 14:30 (0:10). \
             Ring 8000 for at lytte."
        );
        let sv = voicemail_text(Lang::Sv, cph, Some("Eva"), None, at, 61_000, "8000");
        assert!(sv.starts_with("Nytt röstmeddelande från Eva måndag 24 november"));
        assert!(sv.contains("(1:01)"));
        let en = voicemail_text(Lang::En, cph, None, None, at, 1_000, "8000");
        assert!(en.starts_with("New voicemail from unknown number on Monday"));
        assert!(en.chars().count() <= 160, "one SMS segment: {en}");
    }

    #[test]
    fn written_texts_are_bounded() {
        let long = "ø".repeat(5000);
        let text = written_message_text(Lang::Da, "Hans", &long);
        assert!(text.starts_with("Besked fra Hans: øø"));
        assert_eq!(text.chars().count(), MAX_SMS_CHARS);
    }

    #[test]
    fn gateway_urls() {
        let ok = HttpSmsGateway::new("http://127.0.0.1:9000/send?x=1", GatewaySettings::default())
            .unwrap();
        assert_eq!((ok.host.as_str(), ok.port), ("127.0.0.1", 9000));
        let default_port =
            HttpSmsGateway::new("http://sms.lan/api", GatewaySettings::default()).unwrap();
        assert_eq!(default_port.port, 80);
        for bad in [
            "https://sms.lan/",
            "sms.lan/x",
            "",
            "http://u:p@sms.lan/",
            "/path",
        ] {
            assert!(
                matches!(
                    HttpSmsGateway::new(bad, GatewaySettings::default()),
                    Err(SmsError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
    }
}
