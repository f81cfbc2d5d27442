//! Notifications against real servers on loopback: the tests' SMTP receiver
//! ([`crate::support::smtp`], also able to be busy, silent or refusing) and an axum
//! HTTP server standing in for the SMS gateway. The mails are taken apart as a mail client
//! would (headers unfolded, RFC 2047 subjects decoded, MIME parts split at the boundary, base64
//! and quoted-printable decoded), so the tests check what a user would see.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use chrono::{TimeZone, Utc};
use tokio::net::TcpListener;

use crate::support::smtp::{Received, Relay, SmtpReceiver};
use onestatus::domain::model::{
    NotifyChannel, OrgId, Profile, User, UserId, VoicemailId, VoicemailMessage, VoicemailSettings,
};
use onestatus::domain::{Lang, MessageState, Role};
use onestatus::notify::email::mailbox;
use onestatus::notify::{
    Delivery, GatewaySettings, HttpSmsGateway, MailAttemptFailure, MailError, Mailer, Notifier,
    Outcome, Sms, SmsError, SmsSender, SmtpMailer, SmtpSettings, VoicemailMail,
};

/// Wall-clock start for "gives up quickly" checks: these tests time real sockets and real
/// retries, so the real clock is what must be bounded.
#[allow(clippy::disallowed_methods)]
fn stopwatch() -> Instant {
    Instant::now()
}

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        timeout: Duration::from_millis(500),
        attempts: 3,
        backoff: Duration::from_millis(20),
    }
}

// ---- reading a mail back ----------------------------------------------------------------------

/// A MIME entity: unfolded headers and the raw body.
struct Part {
    headers: Vec<(String, String)>,
    body: String,
}

impl Part {
    fn parse(text: &str) -> Part {
        let (head, body) = text.split_once("\r\n\r\n").expect("header/body separator");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("continuation after a header");
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
        }
        Part {
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body with its Content-Transfer-Encoding undone.
    fn decoded(&self) -> Vec<u8> {
        match self
            .header("Content-Transfer-Encoding")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("base64") => {
                let joined: String = self.body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .expect("valid base64")
            }
            Some("quoted-printable") => quoted_printable(&self.body),
            _ => self.body.as_bytes().to_vec(),
        }
    }

    fn text(&self) -> String {
        String::from_utf8(self.decoded()).expect("UTF-8 text")
    }

    /// The parts of a multipart entity, split at its boundary (RFC 2046 §5.1.1).
    fn parts(&self) -> Vec<Part> {
        let content_type = self.header("Content-Type").expect("Content-Type");
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .expect("boundary")
            .trim_matches('"');
        let delimiter = format!("--{boundary}");
        self.body
            .split(&delimiter)
            .skip(1)
            .take_while(|chunk| !chunk.starts_with("--"))
            .map(|chunk| Part::parse(chunk.trim_start_matches("\r\n")))
            .collect()
    }
}

/// The `filename` parameter of a Content-Disposition, plain or as RFC 2231 §3 continuations
/// (`filename*0="…"; filename*1="…"`, which lettre uses when the line would pass 78 columns).
fn filename(disposition: &str) -> String {
    let mut plain = None;
    let mut pieces: Vec<(u32, String)> = Vec::new();
    for param in disposition.split(';').skip(1) {
        let Some((name, value)) = param.trim().split_once('=') else {
            continue;
        };
        let value = value.trim_matches('"').to_owned();
        if name.eq_ignore_ascii_case("filename") {
            plain = Some(value);
        } else if let Some(index) = name.strip_prefix("filename*") {
            pieces.push((index.parse().expect("unencoded continuation"), value));
        }
    }
    pieces.sort();
    plain.unwrap_or_else(|| pieces.into_iter().map(|(_, v)| v).collect())
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1..i + 3) == Some(b"\r\n") {
                i += 3;
                continue;
            }
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Decodes RFC 2047 encoded-words (`=?utf-8?b?...?=` and `=?utf-8?q?...?=`); whitespace
/// between adjacent encoded-words is dropped (§6.2).
fn decode_header(value: &str) -> String {
    let mut out = String::new();
    let mut previous_was_word = false;
    for token in value.split_whitespace() {
        let lower = token.to_ascii_lowercase();
        let is_word = lower.starts_with("=?utf-8?") && token.ends_with("?=");
        if !(out.is_empty() || is_word && previous_was_word) {
            out.push(' ');
        }
        if is_word {
            let inner = &token[8..token.len() - 2];
            let (encoding, payload) = inner.split_once('?').unwrap();
            let bytes = if encoding.eq_ignore_ascii_case("b") {
                base64::engine::general_purpose::STANDARD
                    .decode(payload)
                    .unwrap()
            } else {
                quoted_printable(&payload.replace('_', " "))
            };
            out.push_str(&String::from_utf8(bytes).unwrap());
        } else {
            out.push_str(token);
        }
        previous_was_word = is_word;
    }
    out
}

// ---- fixtures ---------------------------------------------------------------------------------

/// A real 8 kHz mono 16-bit WAV with every byte value in the samples, so an encoding slip
/// (a dropped CR, a stuffed dot, a 7-bit clamp) changes the bytes.
fn wav() -> Vec<u8> {
    let samples: Vec<u8> = (0..16_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(&samples);
    out
}

fn voicemail_mail(lang: Lang, audio: Option<Vec<u8>>) -> VoicemailMail {
    VoicemailMail {
        to: "Hans Hansen <hans@example.com>".into(),
        user_name: "Hans Hansen".into(),
        lang,
        timezone: chrono_tz::Europe::Copenhagen,
        caller_number: Some("4512345678".into()),
        caller_name: None,
        // 13:30 UTC = 14:30 in Copenhagen in November.
        received_at: Utc.with_ymd_and_hms(2025, 11, 24, 13, 30, 0).unwrap(),
        duration_ms: 10_000,
        audio,
        link: "http://web.example/#/voicemail/42".into(),
        recording_link: None,
    }
}

fn user(email: Option<&str>, mobile: Option<&str>, lang: Lang) -> User {
    let mut profile = Profile::new("Hans Hansen", lang);
    profile.email = email.map(str::to_owned);
    profile.mobile_number = mobile.map(str::to_owned);
    User {
        id: UserId(1),
        org_id: OrgId(1),
        one_number: "4570100001".into(),
        local_number: "1000001".into(),
        role: Role::User,
        profile,
        pin_hash: String::new(),
        pin_must_change: false,
        failed_pin_attempts: 0,
        locked_until: None,
        created_at: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
    }
}

fn message() -> VoicemailMessage {
    VoicemailMessage {
        id: VoicemailId(42),
        user_id: UserId(1),
        caller_number: Some("4512345678".into()),
        caller_name: Some("Eva Berg".into()),
        received_at: Utc.with_ymd_and_hms(2025, 11, 24, 13, 30, 0).unwrap(),
        duration_ms: 10_000,
        state: MessageState::New,
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 24, 13, 30, 12).unwrap()
}

async fn next(smtp: &SmtpReceiver) -> Received {
    smtp.next(Duration::from_secs(5))
        .await
        .expect("a mail within 5 s")
}

// ---- SMTP tests -------------------------------------------------------------------------------

#[tokio::test]
async fn voicemail_mail_with_attachment_arrives_intact() {
    let rx = SmtpReceiver::start(Relay::Accept);
    let port = rx.port;
    let mailer = SmtpMailer::new(settings(port));
    let from = mailbox("OneVoicemail <voicemail@onestatus.example>").unwrap();
    let audio = wav();
    let mail = voicemail_mail(Lang::Da, Some(audio.clone()));
    mailer
        .send(mail.to_message(&from, now()).unwrap())
        .await
        .unwrap();

    let got = next(&rx).await;
    assert!(!got.helo.is_empty());
    assert_eq!(got.mail_from, "FROM:<voicemail@onestatus.example>");
    assert_eq!(got.rcpt_to, vec!["TO:<hans@example.com>".to_owned()]);

    let top = Part::parse(&got.data);
    assert_eq!(
        decode_header(top.header("Subject").unwrap()),
        "Ny talebesked fra 4512345678"
    );
    assert!(top
        .header("From")
        .unwrap()
        .contains("<voicemail@onestatus.example>"));
    assert!(top.header("To").unwrap().contains("<hans@example.com>"));
    assert_eq!(
        top.header("Date").unwrap(),
        "Mon, 24 Nov 2025 13:30:12 +0000"
    );
    assert!(top.header("Message-ID").unwrap().starts_with('<'));
    assert_eq!(top.header("MIME-Version"), Some("1.0"));
    assert!(top
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/mixed"));

    let parts = top.parts();
    assert_eq!(parts.len(), 2);
    let text = &parts[0];
    assert!(text
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(text.header("Content-Type").unwrap().contains("utf-8"));
    let body = text.text();
    assert!(body.contains("Hej Hans Hansen"), "{body}");
    assert!(body.contains("Fra: 4512345678"), "{body}");
    assert!(
        body.contains("mandag 24. november 2025 kl. 14:30"),
        "{body}"
    );
    assert!(body.contains("Varighed: 0:10"), "{body}");
    assert!(body.contains("http://web.example/#/voicemail/42"), "{body}");
    assert!(body.contains("vedhæftet"), "{body}");

    let attachment = &parts[1];
    assert_eq!(attachment.header("Content-Type"), Some("audio/wav"));
    let disposition = attachment.header("Content-Disposition").unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert_eq!(
        filename(disposition),
        "voicemail-20251124-1430-4512345678.wav"
    );
    assert_eq!(
        attachment.header("Content-Transfer-Encoding"),
        Some("base64")
    );
    assert_eq!(attachment.decoded(), audio, "attachment decodes to the WAV");
}

#[tokio::test]
async fn subjects_and_texts_per_language_without_attachment() {
    let rx = SmtpReceiver::start(Relay::Accept);
    let port = rx.port;
    let mailer = SmtpMailer::new(settings(port));
    let from = mailbox("voicemail@onestatus.example").unwrap();
    let cases = [
        (
            Lang::Sv,
            "Nytt röstmeddelande från 4512345678",
            "måndag 24 november 2025 kl. 14:30",
        ),
        (
            Lang::En,
            "New voicemail from 4512345678",
            "Monday 24 November 2025 at 14:30",
        ),
        (Lang::Da, "Ny talebesked fra 4512345678", "Lyt til beskeden"),
    ];
    for (lang, subject, phrase) in cases {
        let mail = voicemail_mail(lang, None);
        mailer
            .send(mail.to_message(&from, now()).unwrap())
            .await
            .unwrap();
        let top = Part::parse(&next(&rx).await.data);
        assert_eq!(decode_header(top.header("Subject").unwrap()), subject);
        // No attachment: one text/plain entity, not a multipart.
        assert!(top
            .header("Content-Type")
            .unwrap()
            .starts_with("text/plain"));
        let body = top.text();
        assert!(body.contains(phrase), "{lang:?}: {body}");
        assert!(body.contains("http://web.example/#/voicemail/42"));
    }
}

#[tokio::test]
async fn relay_down_is_a_typed_error_after_retries_quickly() {
    // A port that was just free: connection refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mailer = SmtpMailer::new(settings(port));
    let from = mailbox("voicemail@onestatus.example").unwrap();
    let started = stopwatch();
    let err = mailer
        .send(
            voicemail_mail(Lang::En, None)
                .to_message(&from, now())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, MailError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
    // Backoff 20 ms + 40 ms: well under a second.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn busy_relay_is_retried_then_given_up() {
    let connections = SmtpReceiver::start(Relay::Busy);
    let port = connections.port;
    let mailer = SmtpMailer::new(settings(port));
    let from = mailbox("voicemail@onestatus.example").unwrap();
    let err = mailer
        .send(
            voicemail_mail(Lang::En, None)
                .to_message(&from, now())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, MailError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(connections.connections(), 3, "one connection per attempt");
}

#[tokio::test]
async fn silent_relay_times_out() {
    let connections = SmtpReceiver::start(Relay::Silent);
    let port = connections.port;
    let mut s = settings(port);
    s.timeout = Duration::from_millis(150);
    s.attempts = 2;
    let mailer = SmtpMailer::new(s);
    let from = mailbox("voicemail@onestatus.example").unwrap();
    let started = stopwatch();
    let err = mailer
        .send(
            voicemail_mail(Lang::En, None)
                .to_message(&from, now())
                .unwrap(),
        )
        .await
        .unwrap_err();
    match &err {
        MailError::Unavailable {
            attempts: 2,
            last: MailAttemptFailure::Timeout(_),
        } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(connections.connections(), 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn permanent_refusal_is_not_retried() {
    let connections = SmtpReceiver::start(Relay::RefuseRecipient);
    let port = connections.port;
    let mailer = SmtpMailer::new(settings(port));
    let from = mailbox("voicemail@onestatus.example").unwrap();
    let err = mailer
        .send(
            voicemail_mail(Lang::En, None)
                .to_message(&from, now())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Rejected(_)), "{err:?}");
    assert_eq!(connections.connections(), 1);
}

// ---- the SMS gateway ----------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Gateway {
    requests: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    /// Statuses to answer, in order; 202 once exhausted.
    script: Arc<Mutex<Vec<u16>>>,
}

async fn gateway_handler(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    gateway.requests.lock().unwrap().push((content_type, json));
    let mut script = gateway.script.lock().unwrap();
    let status = if script.is_empty() {
        202
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(status).unwrap()
}

async fn sms_gateway(script: Vec<u16>) -> (String, Gateway) {
    let gateway = Gateway {
        requests: Arc::default(),
        script: Arc::new(Mutex::new(script)),
    };
    let app = Router::new()
        .route("/sms/send", post(gateway_handler))
        .with_state(gateway.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms/send?key=k1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, gateway)
}

fn fast() -> GatewaySettings {
    GatewaySettings {
        timeout: Duration::from_millis(500),
        attempts: 3,
        backoff: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn sms_is_posted_as_json() {
    let (url, gateway) = sms_gateway(vec![]).await;
    let client = HttpSmsGateway::new(&url, fast()).unwrap();
    client
        .send(Sms {
            to: "4520304050".into(),
            text: "Ny talebesked fra 4512345678".into(),
        })
        .await
        .unwrap();
    let requests = gateway.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, "application/json");
    assert_eq!(
        requests[0].1,
        serde_json::json!({"to": "4520304050", "text": "Ny talebesked fra 4512345678"})
    );
}

#[tokio::test]
async fn sms_gateway_5xx_is_retried_4xx_is_not() {
    let (url, gateway) = sms_gateway(vec![503, 500]).await;
    let client = HttpSmsGateway::new(&url, fast()).unwrap();
    let sms = Sms {
        to: "1".into(),
        text: "t".into(),
    };
    client.send(sms.clone()).await.unwrap();
    assert_eq!(
        gateway.requests.lock().unwrap().len(),
        3,
        "503, 500, then 202"
    );

    let (url, gateway) = sms_gateway(vec![400]).await;
    let client = HttpSmsGateway::new(&url, fast()).unwrap();
    let err = client.send(sms.clone()).await.unwrap_err();
    assert!(matches!(err, SmsError::Rejected(400)), "{err:?}");
    assert_eq!(gateway.requests.lock().unwrap().len(), 1);

    let (url, _) = sms_gateway(vec![500, 500, 500]).await;
    let client = HttpSmsGateway::new(&url, fast()).unwrap();
    let err = client.send(sms).await.unwrap_err();
    assert!(
        matches!(err, SmsError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn sms_gateway_that_never_answers_times_out() {
    // Accepts connections (the kernel backlog does) but never reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    let client = HttpSmsGateway::new(
        &url,
        GatewaySettings {
            timeout: Duration::from_millis(150),
            attempts: 2,
            backoff: Duration::from_millis(10),
        },
    )
    .unwrap();
    let started = stopwatch();
    let err = client
        .send(Sms {
            to: "1".into(),
            text: "t".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SmsError::Unavailable {
                attempts: 2,
                last: onestatus::notify::sms::AttemptFailure::Timeout(_)
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(listener);
}

// ---- the Notifier facade --------------------------------------------------------------------------

async fn notifier(smtp_port: u16, sms_url: &str) -> Notifier {
    Notifier::new(
        Some(Arc::new(SmtpMailer::new(settings(smtp_port)))),
        Some(Arc::new(HttpSmsGateway::new(sms_url, fast()).unwrap())),
        mailbox("OneVoicemail <voicemail@onestatus.example>").unwrap(),
        "http://web.example/",
        "8000",
    )
}

/// Issue #23: with the directory, the mail and the SMS name the caller from the shared
/// phonebook (not the display name the caller presented), and the mail carries the link to
/// the recording only while the user keeps "e-mail with link" on.
#[tokio::test]
async fn notifier_names_the_caller_from_the_shared_phonebook_and_links_the_recording() {
    use onestatus::store::{
        ContactNumber, NumberKind, SharedContactData, Store, VoicemailDelivery,
    };
    let store = Store::connect("sqlite::memory:").await.unwrap();
    onestatus::store::demo::seed_at(&store, now())
        .await
        .unwrap();
    let mut hans = store.user_by_local_number("1000001").await.unwrap();
    hans.profile.email = Some("hans@example.com".into());
    hans.profile.mobile_number = Some("4520304050".into());
    store
        .shared_contact_create(
            &SharedContactData {
                org_id: hans.org_id,
                name: "Jens Jensen".into(),
                company: Some("VVS ApS".into()),
                email: None,
                note: None,
                numbers: vec![ContactNumber {
                    kind: NumberKind::Work,
                    number: "4512345678".into(),
                }],
            },
            now(),
        )
        .await
        .unwrap();
    let rx = SmtpReceiver::start(Relay::Accept);
    let (url, gateway) = sms_gateway(vec![]).await;
    let notifier = notifier(rx.port, &url)
        .await
        .with_directory(store.clone(), None);
    let settings = VoicemailSettings {
        notify_channel: NotifyChannel::Both,
        attach_audio: false,
        ..VoicemailSettings::default()
    };
    let tz = chrono_tz::Europe::Copenhagen;
    let delivery = notifier
        .notify_new_voicemail(now(), &hans, tz, &settings, &message(), None)
        .await;
    assert_eq!(
        (delivery.email, delivery.sms),
        (Outcome::Sent, Outcome::Sent)
    );
    let top = Part::parse(&next(&rx).await.data);
    assert_eq!(
        decode_header(top.header("Subject").unwrap()),
        "Ny talebesked fra Jens Jensen (4512345678)"
    );
    assert!(top.text().contains("Fra: Jens Jensen (4512345678)"));
    assert!(
        top.text()
            .contains("http://web.example/#/voicemail/42/recording"),
        "{}",
        top.text()
    );
    {
        let requests = gateway.requests.lock().unwrap();
        let text = requests[0].1["text"].as_str().unwrap();
        assert!(
            text.starts_with("Ny talebesked fra Jens Jensen (4512345678)"),
            "{text}"
        );
    }
    // "E-mail with link" off: the mail still names the caller, without the recording link.
    store
        .voicemail_delivery_update(
            hans.id,
            &VoicemailDelivery {
                email_link: false,
                ..VoicemailDelivery::default()
            },
        )
        .await
        .unwrap();
    notifier
        .notify_new_voicemail(now(), &hans, tz, &settings, &message(), None)
        .await;
    let top = Part::parse(&next(&rx).await.data);
    assert!(!top.text().contains("/recording"), "{}", top.text());
    assert!(top.text().contains("http://web.example/#/voicemail/42"));
}

#[tokio::test]
async fn notifier_fans_out_per_user_choice() {
    let rx = SmtpReceiver::start(Relay::Accept);
    let port = rx.port;
    let (url, gateway) = sms_gateway(vec![]).await;
    let notifier = notifier(port, &url).await;
    let user = user(Some("hans@example.com"), Some("4520304050"), Lang::Sv);
    let audio = wav();
    let tz = chrono_tz::Europe::Stockholm;

    // Both channels, audio not attached.
    let settings = VoicemailSettings {
        notify_channel: NotifyChannel::Both,
        attach_audio: false,
        ..VoicemailSettings::default()
    };
    let delivery = notifier
        .notify_new_voicemail(now(), &user, tz, &settings, &message(), Some(&audio))
        .await;
    assert_eq!(
        delivery,
        Delivery {
            email: Outcome::Sent,
            sms: Outcome::Sent
        }
    );
    let top = Part::parse(&next(&rx).await.data);
    assert_eq!(
        decode_header(top.header("Subject").unwrap()),
        "Nytt röstmeddelande från Eva Berg (4512345678)"
    );
    assert!(top
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(top.text().contains("http://web.example/#/voicemail/42"));
    {
        let requests = gateway.requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].1["to"], "4520304050");
        let text = requests[0].1["text"].as_str().unwrap();
        assert!(
            text.starts_with("Nytt röstmeddelande från Eva Berg (4512345678) måndag"),
            "{text}"
        );
        assert!(text.contains("Ring 8000"), "{text}");
    }

    // E-mail only, audio attached (the defaults).
    let delivery = notifier
        .notify_new_voicemail(
            now(),
            &user,
            tz,
            &VoicemailSettings::default(),
            &message(),
            Some(&audio),
        )
        .await;
    assert_eq!(delivery.email, Outcome::Sent);
    assert_eq!(delivery.sms, Outcome::NotChosen);
    let top = Part::parse(&next(&rx).await.data);
    let parts = top.parts();
    assert_eq!(parts[1].decoded(), audio);
    assert_eq!(
        gateway.requests.lock().unwrap().len(),
        1,
        "no SMS this time"
    );

    // MWI only: nothing sent.
    let settings = VoicemailSettings {
        notify_channel: NotifyChannel::None,
        ..VoicemailSettings::default()
    };
    let delivery = notifier
        .notify_new_voicemail(now(), &user, tz, &settings, &message(), Some(&audio))
        .await;
    assert_eq!(
        delivery,
        Delivery {
            email: Outcome::NotChosen,
            sms: Outcome::NotChosen
        }
    );

    // SMS chosen but no mobile number.
    let no_mobile = self::user(Some("hans@example.com"), None, Lang::Sv);
    let settings = VoicemailSettings {
        notify_channel: NotifyChannel::Sms,
        ..VoicemailSettings::default()
    };
    let delivery = notifier
        .notify_new_voicemail(now(), &no_mobile, tz, &settings, &message(), None)
        .await;
    assert_eq!(delivery.sms, Outcome::NoAddress);
    assert!(rx.try_next().is_none(), "no stray mail");
}

#[tokio::test]
async fn notifier_swallows_delivery_failures() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (url, _) = sms_gateway(vec![400]).await;
    let notifier = notifier(port, &url).await;
    let user = user(Some("hans@example.com"), Some("4520304050"), Lang::Da);
    let settings = VoicemailSettings {
        notify_channel: NotifyChannel::Both,
        ..VoicemailSettings::default()
    };
    let delivery = notifier
        .notify_new_voicemail(
            now(),
            &user,
            chrono_tz::Europe::Copenhagen,
            &settings,
            &message(),
            None,
        )
        .await;
    assert_eq!(
        delivery,
        Delivery {
            email: Outcome::Failed,
            sms: Outcome::Failed
        }
    );
}

/// A `tracing` writer into a shared buffer, to check what is logged.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn new_pin_mail_carries_the_pin_and_logs_never_do() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rx = SmtpReceiver::start(Relay::Accept);
    let port = rx.port;
    let (url, _) = sms_gateway(vec![]).await;
    let notifier = notifier(port, &url).await;
    let user = user(Some("hans@example.com"), None, Lang::En);
    notifier.send_new_pin(now(), &user, "482913").await.unwrap();

    let top = Part::parse(&next(&rx).await.data);
    assert_eq!(
        decode_header(top.header("Subject").unwrap()),
        "Your new PIN"
    );
    let body = top.text();
    assert!(
        body.contains("Your new PIN for local number 1000001 is: 482913"),
        "{body}"
    );
    assert!(body.contains("http://web.example/"));

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("new PIN mailed"), "{logged}");
    assert!(!logged.contains("482913"), "PIN in the logs: {logged}");

    // Failures are returned to the API (it must tell the user), still without the PIN.
    let no_mail = self::user(None, None, Lang::En);
    let err = notifier
        .send_new_pin(now(), &no_mail, "482913")
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("482913"));
}
