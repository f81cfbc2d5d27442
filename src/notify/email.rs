//! E-mail notifications (RFC 5322 messages with RFC 2045/2046 MIME parts, sent over RFC 5321
//! SMTP to a local relay): the last step after a voicemail is stored, and the "send me a new
//! PIN" of the web client's login page.
//!
//! The message builders ([`VoicemailMail`], [`WrittenMessageMail`], [`PinMail`]) are pure: they
//! take the send time as a parameter and return a [`lettre::Message`]. The [`Mailer`] trait is
//! the I/O edge; [`SmtpMailer`] speaks SMTP to `smtp.relay` (plain, no TLS: the relay is local
//! and does the onward TLS), bounds every attempt with a timeout and retries transient failures
//! with exponential backoff. Permanent refusals (5xx) are not retried: the relay will not
//! change its mind.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::{debug, warn};

use super::wording;
use crate::domain::Lang;

/// A boxed future, so that [`Mailer`] can be used as `dyn Mailer` (the notifier holds
/// whichever mailer the configuration asks for, or a test's).
pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Something that delivers a finished message: SMTP in production, a capture in tests.
pub trait Mailer: Send + Sync {
    /// Delivers `message` to its envelope recipients, or says why not.
    fn send(&self, message: Message) -> MailFuture<'_>;
}

/// Why a mail was not built or not delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A configured or stored address is not an RFC 5322 mailbox.
    #[error("invalid e-mail address {address:?}: {source}")]
    Address {
        /// The text that did not parse.
        address: String,
        /// Why.
        source: lettre::address::AddressError,
    },
    /// `smtp.relay` is not `host:port` (or `host`, for port 25).
    #[error("smtp.relay {0:?} is not host:port")]
    Relay(String),
    /// lettre refused to assemble the message (a missing From or To).
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// A MIME type did not parse (only constants are used, so this is a programming error).
    #[error("invalid content type: {0}")]
    ContentType(#[from] lettre::message::header::ContentTypeErr),
    /// The relay answered with a permanent (5xx) refusal; retrying would not help.
    #[error("the relay refused the message: {0}")]
    Rejected(smtp::Error),
    /// Every attempt failed with a transient error: connection refused, timeout, 4xx.
    #[error("the relay failed {attempts} attempts, last: {last}")]
    Unavailable {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's failure.
        last: AttemptFailure,
    },
}

/// Why one SMTP attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptFailure {
    /// lettre reported an error (connection refused, a 4xx reply, a broken dialogue).
    #[error("{0}")]
    Smtp(smtp::Error),
    /// The whole attempt did not finish in time. lettre's own timeout only bounds the TCP
    /// connect on its async transport, so a relay that greets and then stalls is cut here.
    #[error("no completion within {0:?}")]
    Timeout(Duration),
}

/// The mail telling a user about a new voicemail message.
#[derive(Debug, Clone)]
pub struct VoicemailMail {
    /// Recipient address (the user's profile e-mail).
    pub to: String,
    /// The user's name, for the greeting line.
    pub user_name: String,
    /// The user's language.
    pub lang: Lang,
    /// The organisation's timezone: the time is written as the user's wall clock showed it.
    pub timezone: Tz,
    /// Calling number, if presented.
    pub caller_number: Option<String>,
    /// Calling name, if presented.
    pub caller_name: Option<String>,
    /// When the message was left.
    pub received_at: DateTime<Utc>,
    /// Length of the recording.
    pub duration_ms: u64,
    /// The WAV file, when the user chose to have it attached.
    pub audio: Option<Vec<u8>>,
    /// Link to the message in the web client.
    pub link: String,
    /// The "e-mail with link" option (issue #23): the web client's link to the recording
    /// (`Notifier::recording_link`), which plays it from its authenticated route — never a
    /// public link; `None` when the user turned the link off.
    pub recording_link: Option<String>,
}

impl VoicemailMail {
    /// "Ny talebesked fra 4512345678" / "Nytt röstmeddelande från …" / "New voicemail from …".
    pub fn subject(&self) -> String {
        let caller = self.caller();
        match self.lang {
            Lang::Da => format!("Ny talebesked fra {caller}"),
            Lang::Sv => format!("Nytt röstmeddelande från {caller}"),
            Lang::En => format!("New voicemail from {caller}"),
        }
    }

    /// The text/plain part in the user's language.
    pub fn text(&self) -> String {
        let caller = self.caller();
        let when = wording::date_time(self.lang, &self.received_at.with_timezone(&self.timezone));
        let length = wording::duration(self.duration_ms);
        let link = &self.link;
        let name = &self.user_name;
        let attached = self.audio.is_some();
        let recording = match (&self.recording_link, self.lang) {
            (None, _) => String::new(),
            (Some(url), Lang::Da) => {
                format!("\r\nHent optagelsen (kræver at du er logget ind):\r\n{url}\r\n")
            }
            (Some(url), Lang::Sv) => {
                format!("\r\nHämta inspelningen (kräver att du är inloggad):\r\n{url}\r\n")
            }
            (Some(url), Lang::En) => {
                format!("\r\nDownload the recording (you must be logged in):\r\n{url}\r\n")
            }
        };
        let text = self.text_without_recording(&caller, &when, &length, link, name, attached);
        text + &recording
    }

    fn text_without_recording(
        &self,
        caller: &str,
        when: &str,
        length: &str,
        link: &str,
        name: &str,
        attached: bool,
    ) -> String {
        match self.lang {
            Lang::Da => format!(
                "Hej {name}\r\n\r\nDu har fået en ny talebesked.\r\n\r\nFra: {caller}\r\n\
                 Modtaget: {when}\r\nVarighed: {length}\r\n\r\n{}Lyt til beskeden i \
                 webklienten:\r\n{link}\r\n",
                if attached {
                    "Beskeden er vedhæftet som lydfil.\r\n"
                } else {
                    ""
                }
            ),
            Lang::Sv => {
                format!(
                "Hej {name}\r\n\r\nDu har fått ett nytt röstmeddelande.\r\n\r\nFrån: {caller}\r\n\
                 Mottaget: {when}\r\nLängd: {length}\r\n\r\n{}Lyssna på meddelandet i \
                 webbklienten:\r\n{link}\r\n",
                if attached { "Meddelandet är bifogat som ljudfil.\r\n" } else { "" }
            )
            }
            Lang::En => {
                format!(
                "Hello {name}\r\n\r\nYou have a new voicemail message.\r\n\r\nFrom: {caller}\r\n\
                 Received: {when}\r\nLength: {length}\r\n\r\n{}Listen to it in the web \
                 client:\r\n{link}\r\n",
                if attached { "The message is attached as a sound file.\r\n" } else { "" }
            )
            }
        }
    }

    /// `voicemail-20251124-1430-4512345678.wav`: sortable, local time, and only characters
    /// that survive every mail client's file-name handling.
    pub fn attachment_name(&self) -> String {
        let local = self.received_at.with_timezone(&self.timezone);
        let caller: String = self
            .caller_number
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '+')
            .take(32)
            .collect();
        let caller = if caller.is_empty() {
            "unknown".to_owned()
        } else {
            caller
        };
        format!("voicemail-{}-{caller}.wav", local.format("%Y%m%d-%H%M"))
    }

    /// The whole message: multipart/mixed with the text and, when chosen, the audio/wav
    /// attachment (base64, RFC 2045 §6.8); a single text/plain part otherwise.
    pub fn to_message(&self, from: &Mailbox, now: DateTime<Utc>) -> Result<Message, MailError> {
        let builder = headers(from, &self.to, self.subject(), now)?;
        let text = SinglePart::plain(self.text());
        let message = match &self.audio {
            Some(audio) => {
                let wav = ContentType::parse("audio/wav")?;
                let attachment = Attachment::new(self.attachment_name()).body(audio.clone(), wav);
                builder.multipart(MultiPart::mixed().singlepart(text).singlepart(attachment))?
            }
            None => builder.singlepart(text)?,
        };
        Ok(message)
    }

    fn caller(&self) -> String {
        wording::caller(
            self.lang,
            self.caller_name.as_deref(),
            self.caller_number.as_deref(),
        )
    }
}

/// A written message from a colleague or a receptionist ("please call Hans back"), delivered
/// by e-mail as the sender chose.
#[derive(Debug, Clone)]
pub struct WrittenMessageMail {
    /// Recipient address.
    pub to: String,
    /// Recipient's name.
    pub user_name: String,
    /// Recipient's language.
    pub lang: Lang,
    /// Recipient's timezone.
    pub timezone: Tz,
    /// Who wrote it (a colleague's name, or the external party as typed).
    pub sender: String,
    /// The text.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Link to the message list in the web client.
    pub link: String,
}

impl WrittenMessageMail {
    /// "Ny besked fra Hans Hansen" and its translations.
    pub fn subject(&self) -> String {
        let sender = wording::caller(self.lang, Some(&self.sender), None);
        match self.lang {
            Lang::Da => format!("Ny besked fra {sender}"),
            Lang::Sv => format!("Nytt meddelande från {sender}"),
            Lang::En => format!("New message from {sender}"),
        }
    }

    /// The text/plain body.
    pub fn text(&self) -> String {
        let when = wording::date_time(self.lang, &self.created_at.with_timezone(&self.timezone));
        let (name, body, link) = (&self.user_name, &self.body, &self.link);
        let sender = wording::caller(self.lang, Some(&self.sender), None);
        match self.lang {
            Lang::Da => format!(
                "Hej {name}\r\n\r\n{sender} skrev {when}:\r\n\r\n{body}\r\n\r\n\
                 Se dine beskeder i webklienten:\r\n{link}\r\n"
            ),
            Lang::Sv => format!(
                "Hej {name}\r\n\r\n{sender} skrev {when}:\r\n\r\n{body}\r\n\r\n\
                 Se dina meddelanden i webbklienten:\r\n{link}\r\n"
            ),
            Lang::En => format!(
                "Hello {name}\r\n\r\n{sender} wrote on {when}:\r\n\r\n{body}\r\n\r\n\
                 See your messages in the web client:\r\n{link}\r\n"
            ),
        }
    }

    /// The message, a single text/plain part.
    pub fn to_message(&self, from: &Mailbox, now: DateTime<Utc>) -> Result<Message, MailError> {
        Ok(headers(from, &self.to, self.subject(), now)?
            .singlepart(SinglePart::plain(self.text()))?)
    }
}

/// "Your new PIN": the web client's "send me a new PIN". The PIN is in the body only, never in
/// the subject (which mail servers log) and never in `Debug` output (which we might).
#[derive(Clone)]
pub struct PinMail {
    /// Recipient address.
    pub to: String,
    /// Recipient's name.
    pub user_name: String,
    /// Recipient's language.
    pub lang: Lang,
    /// The 7-digit login (customer code + last 4 digits of the OneNumber).
    pub local_number: String,
    /// The new PIN, in clear, for this mail only.
    pub pin: String,
    /// Link to the web client's login page.
    pub link: String,
}

impl std::fmt::Debug for PinMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinMail")
            .field("to", &self.to)
            .field("lang", &self.lang)
            .field("local_number", &self.local_number)
            .field("pin", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl PinMail {
    /// "Din nye PIN-kode" and its translations.
    pub fn subject(&self) -> &'static str {
        match self.lang {
            Lang::Da => "Din nye PIN-kode",
            Lang::Sv => "Din nya PIN-kod",
            Lang::En => "Your new PIN",
        }
    }

    /// The text/plain body.
    pub fn text(&self) -> String {
        let (name, login, pin, link) = (&self.user_name, &self.local_number, &self.pin, &self.link);
        match self.lang {
            Lang::Da => format!(
                "Hej {name}\r\n\r\nDin nye PIN-kode til lokalnummer {login} er: {pin}\r\n\r\n\
                 Du skal vælge en ny PIN-kode, næste gang du logger ind:\r\n{link}\r\n\r\n\
                 Har du ikke bedt om en ny PIN-kode, så kontakt din administrator.\r\n"
            ),
            Lang::Sv => format!(
                "Hej {name}\r\n\r\nDin nya PIN-kod för lokalnummer {login} är: {pin}\r\n\r\n\
                 Du måste välja en ny PIN-kod nästa gång du loggar in:\r\n{link}\r\n\r\n\
                 Om du inte har bett om en ny PIN-kod, kontakta din administratör.\r\n"
            ),
            Lang::En => format!(
                "Hello {name}\r\n\r\nYour new PIN for local number {login} is: {pin}\r\n\r\n\
                 You will be asked to choose a new PIN the next time you log in:\r\n{link}\r\n\r\n\
                 If you did not ask for a new PIN, please contact your administrator.\r\n"
            ),
        }
    }

    /// The message, a single text/plain part.
    pub fn to_message(&self, from: &Mailbox, now: DateTime<Utc>) -> Result<Message, MailError> {
        let builder = headers(from, &self.to, self.subject().to_owned(), now)?;
        Ok(builder.singlepart(SinglePart::plain(self.text()))?)
    }
}

/// Parses a configured or stored address (`"Name <a@b>"` or `a@b`).
pub fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|source| MailError::Address {
        address: address.to_owned(),
        source,
    })
}

/// From, To, Subject, Date (the send time, RFC 5322 §3.6.1) and a fresh Message-ID (§3.6.4).
fn headers(
    from: &Mailbox,
    to: &str,
    subject: String,
    now: DateTime<Utc>,
) -> Result<lettre::message::MessageBuilder, MailError> {
    Ok(Message::builder()
        .from(from.clone())
        .to(mailbox(to)?)
        .subject(subject)
        .date(SystemTime::from(now))
        .message_id(None))
}

/// How [`SmtpMailer`] reaches the relay and how hard it tries.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Relay host name or address.
    pub host: String,
    /// Relay port (25 for a local MTA, 2525 or 1025 for test relays).
    pub port: u16,
    /// Bound on one whole attempt: connect, dialogue and the message data.
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each later one.
    pub backoff: Duration,
}

impl SmtpSettings {
    /// Settings for `relay` ("host:port", "[v6]:port" or "host" for port 25) with the defaults:
    /// 30 s per attempt (a 3-minute WAV is 4 MB in base64: seconds on a LAN), 3 attempts, 1 s
    /// then 2 s between them. A stalled relay thus delays a notification by at most about a
    /// minute and a half, and a down relay by 3 s.
    pub fn for_relay(relay: &str) -> Result<Self, MailError> {
        let (host, port) = split_host_port(relay).ok_or_else(|| MailError::Relay(relay.into()))?;
        Ok(SmtpSettings {
            host,
            port,
            timeout: Duration::from_secs(30),
            attempts: 3,
            backoff: Duration::from_secs(1),
        })
    }
}

fn split_host_port(relay: &str) -> Option<(String, u16)> {
    let relay = relay.trim();
    if relay.is_empty() {
        return None;
    }
    if let Some(rest) = relay.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => 25,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match relay.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') => {
            Some((host.to_owned(), port.parse().ok()?))
        }
        Some(_) => None,
        None => Some((relay.to_owned(), 25)),
    }
}

/// Plain SMTP to a local relay with lettre, a connection per message (notifications are rare;
/// a pool would hold connections the relay would time out anyway).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: SmtpSettings,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the relay in `settings`. No connection is made until the first send.
    pub fn new(settings: SmtpSettings) -> Self {
        // builder_dangerous: no TLS, no AUTH. Right for a relay on localhost or the LAN, which
        // is what `smtp.relay` is documented to be.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(settings.timeout))
            .build();
        SmtpMailer {
            transport,
            settings,
        }
    }

    async fn send_with_retry(&self, message: Message) -> Result<(), MailError> {
        let attempts = self.settings.attempts.max(1);
        let mut backoff = self.settings.backoff;
        let mut attempt = 1;
        loop {
            let sent =
                tokio::time::timeout(self.settings.timeout, self.transport.send(message.clone()))
                    .await;
            let failure = match sent {
                Ok(Ok(response)) => {
                    debug!(
                        relay = %self.settings.host,
                        code = %response.code(),
                        attempt,
                        "mail accepted by the relay"
                    );
                    return Ok(());
                }
                // RFC 5321 §4.2.1: 5yz is a permanent negative completion reply.
                Ok(Err(error)) if error.is_permanent() => return Err(MailError::Rejected(error)),
                Ok(Err(error)) => AttemptFailure::Smtp(error),
                Err(_elapsed) => AttemptFailure::Timeout(self.settings.timeout),
            };
            if attempt >= attempts {
                return Err(MailError::Unavailable {
                    attempts,
                    last: failure,
                });
            }
            warn!(relay = %self.settings.host, attempt, error = %failure, "mail relay failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, message: Message) -> MailFuture<'_> {
        Box::pin(self.send_with_retry(message))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn mail(lang: Lang) -> VoicemailMail {
        VoicemailMail {
            to: "hans@example.com".into(),
            user_name: "Hans Hansen".into(),
            lang,
            timezone: chrono_tz::Europe::Copenhagen,
            caller_number: Some("4512345678".into()),
            caller_name: None,
            received_at: Utc.with_ymd_and_hms(2025, 11, 24, 13, 30, 5).unwrap(),
            duration_ms: 10_200,
            audio: None,
            link: "http://web/#voicemail/7".into(),
            recording_link: None,
        }
    }

    #[test]
    fn subjects_per_language() {
        assert_eq!(mail(Lang::Da).subject(), "Ny talebesked fra 4512345678");
        assert_eq!(
            mail(Lang::Sv).subject(),
            "Nytt röstmeddelande från 4512345678"
        );
        assert_eq!(mail(Lang::En).subject(), "New voicemail from 4512345678");
    }

    /// Issue #23: the directory's name in the subject ("Ny talebesked fra <name> (<number>)"),
    /// and the authenticated recording link only when the user keeps "e-mail with link" on.
    #[test]
    fn a_named_caller_and_the_recording_link() {
        let mut m = mail(Lang::Da);
        m.caller_name = Some("Jens Jensen".into());
        assert_eq!(m.subject(), "Ny talebesked fra Jens Jensen (4512345678)");
        assert!(m.text().contains("Fra: Jens Jensen (4512345678)"));
        assert!(!m.text().contains("/recording"));
        m.recording_link = Some("http://web/#/voicemail/7/recording".into());
        assert!(m.text().contains(
            "Hent optagelsen (kræver at du er logget ind):\r\nhttp://web/#/voicemail/7/recording"
        ));
    }

    #[test]
    fn attachment_name_is_local_and_safe() {
        let mut m = mail(Lang::Da);
        assert_eq!(
            m.attachment_name(),
            "voicemail-20251124-1430-4512345678.wav"
        );
        m.caller_number = Some("../\"evil\"".into());
        assert_eq!(m.attachment_name(), "voicemail-20251124-1430-evil.wav");
        m.caller_number = None;
        assert_eq!(m.attachment_name(), "voicemail-20251124-1430-unknown.wav");
    }

    #[test]
    fn text_mentions_attachment_only_when_attached() {
        let mut m = mail(Lang::En);
        assert!(!m.text().contains("attached"));
        assert!(m.text().contains("Monday 24 November 2025 at 14:30"));
        assert!(m.text().contains("Length: 0:10"));
        m.audio = Some(vec![1, 2, 3]);
        assert!(m.text().contains("attached"));
    }

    #[test]
    fn pin_is_not_in_debug_or_subject() {
        let pin = PinMail {
            to: "a@b.c".into(),
            user_name: "A".into(),
            lang: Lang::Da,
            local_number: "1000001".into(),
            pin: "482913".into(),
            link: "http://web/".into(),
        };
        assert!(!format!("{pin:?}").contains("482913"));
        assert!(!pin.subject().contains("482913"));
        assert!(pin.text().contains("482913"));
    }

    #[test]
    fn relay_addresses() {
        assert_eq!(
            split_host_port("127.0.0.1:2525"),
            Some(("127.0.0.1".into(), 2525))
        );
        assert_eq!(split_host_port("mail.lan"), Some(("mail.lan".into(), 25)));
        assert_eq!(split_host_port("[::1]:26"), Some(("::1".into(), 26)));
        assert_eq!(split_host_port("[::1]"), Some(("::1".into(), 25)));
        assert_eq!(split_host_port("::1:25"), None);
        assert_eq!(split_host_port("host:port"), None);
        assert_eq!(split_host_port(""), None);
    }

    #[test]
    fn bad_recipient_is_typed() {
        let mut m = mail(Lang::Da);
        m.to = "not an address".into();
        let from = mailbox("OneVoicemail <vm@example.com>").unwrap();
        let now = Utc.with_ymd_and_hms(2025, 11, 24, 13, 31, 0).unwrap();
        assert!(matches!(
            m.to_message(&from, now),
            Err(MailError::Address { .. })
        ));
    }
}
