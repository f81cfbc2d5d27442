//! Telling a user that something arrived: the last step of a voicemail deposit, after the
//! message is stored, and the e-mail side of written messages and PIN resets.
//!
//! - [`email`]: the mails (voicemail with or without the WAV, written message, new PIN) and
//!   [`SmtpMailer`] to the relay.
//! - [`sms`]: the texts and [`HttpSmsGateway`].
//! - [`mwi`]: RFC 3842 `message-summary` bodies and the NOTIFY for each registered contact;
//!   sans-I/O, the SIP driver sends what it builds.
//! - [`voicemail_changed`]: the one publisher of a user's message counts to the web client.
//! - [`Notifier`]: the facade the IVR driver calls with the stored message; it fans out to
//!   e-mail and/or SMS as the user chose (`VoicemailSettings::notify_channel`, `attach_audio`).
//! - [`written`]: one attempt at delivering a written message; [`retry`]: the pure schedule
//!   the delivery worker (`runtime::delivery`) follows between attempts.
//!
//! Delivery failures are logged and reported in [`Delivery`], never returned as errors: the
//! message itself is already stored, and a relay being down must not fail the call that left it.
//! Retrying with backoff happens inside the mailer and the gateway client.

pub mod email;
pub mod mwi;
pub mod pin_sms;
pub mod retry;
pub mod sms;
pub mod voicemail_changed;
mod wording;
pub mod written;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;
use tracing::{info, warn};

pub use email::{
    AttemptFailure as MailAttemptFailure, MailError, Mailer, PinMail, SmtpMailer, SmtpSettings,
    VoicemailMail, WrittenMessageMail,
};
pub use mwi::{MessageSummary, MwiConfig, MwiNotifier, MwiTarget, OutgoingNotify};
pub use sms::{GatewaySettings, HttpSmsGateway, Sms, SmsError, SmsSender};
pub use voicemail_changed::VoicemailChanged;
pub use written::{Channels, WrittenDelivery};

use crate::config::Config;
use crate::domain::model::{NotifyChannel, User, VoicemailMessage, VoicemailSettings};

/// What happened to one channel of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The user did not choose this channel.
    NotChosen,
    /// Chosen, but the server has no relay/gateway configured.
    NotConfigured,
    /// Chosen, but the user has no address/number for it.
    NoAddress,
    /// Handed to the relay or gateway.
    Sent,
    /// Every attempt failed (logged).
    Failed,
}

/// What [`Notifier::notify_new_voicemail`] did, per channel; for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The e-mail.
    pub email: Outcome,
    /// The SMS.
    pub sms: Outcome,
}

/// Why the notifier could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum NotifierConfigError {
    /// `smtp.from` or `smtp.relay` is wrong.
    #[error("smtp: {0}")]
    Mail(#[from] MailError),
    /// `sms.gateway_url` is wrong.
    #[error("sms: {0}")]
    Sms(#[from] SmsError),
}

/// The notification facade: which mailer and SMS gateway to use, and what to put in links.
#[derive(Clone)]
pub struct Notifier {
    mailer: Option<Arc<dyn Mailer>>,
    sms: Option<Arc<dyn SmsSender>>,
    from: Mailbox,
    web_url: String,
    voicemail_number: String,
    /// Names callers (issue #23) and reads the delivery options; `None` in tests that build
    /// a notifier without a store (the presented name and the defaults are used then).
    directory: Option<(
        crate::store::Store,
        Option<crate::directory::ExternalDirectory>,
    )>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("mail", &self.mailer.is_some())
            .field("sms", &self.sms.is_some())
            .field("from", &self.from)
            .field("web_url", &self.web_url)
            .finish()
    }
}

impl Notifier {
    /// A notifier with the given channels (`None`: not configured). `from` is the sender
    /// mailbox, `web_url` the web client's base URL, `voicemail_number` the access number
    /// quoted in SMS texts.
    pub fn new(
        mailer: Option<Arc<dyn Mailer>>,
        sms: Option<Arc<dyn SmsSender>>,
        from: Mailbox,
        web_url: impl Into<String>,
        voicemail_number: impl Into<String>,
    ) -> Self {
        Notifier {
            mailer,
            sms,
            from,
            web_url: web_url.into(),
            voicemail_number: voicemail_number.into(),
            directory: None,
        }
    }

    /// Names callers with the one lookup (`directory::lookup`: colleague, personal contact,
    /// shared contact, then `external`) in the mail and SMS, and reads the user's delivery
    /// options ("e-mail with link") from `store`.
    pub fn with_directory(
        mut self,
        store: crate::store::Store,
        external: Option<crate::directory::ExternalDirectory>,
    ) -> Self {
        self.directory = Some((store, external));
        self
    }

    /// The link to the recording itself: the web client's `#/voicemail/<id>/recording`,
    /// which logs the reader in if needed and then fetches the recording's authenticated
    /// route (`GET /api/v1/me/voicemail/{id}/audio`, owner's session only) into the player
    /// the user chose. Not the API route itself: the session cookie is `SameSite=Strict`, so
    /// a click from a web mail would arrive without it; and never a public, token-in-URL
    /// link that a forwarded mail would hand on.
    pub fn recording_link(&self, message: &VoicemailMessage) -> String {
        format!("{}#/voicemail/{}/recording", self.base_url(), message.id)
    }

    /// The caller's name for `user` (the directory's, waiting for the external one: this runs
    /// after the message is stored, off the call), else what the caller presented; and the
    /// user's delivery options.
    async fn caller_and_delivery(
        &self,
        now: DateTime<Utc>,
        user: &User,
        message: &VoicemailMessage,
    ) -> (Option<String>, crate::store::VoicemailDelivery) {
        let presented = message.caller_name.clone();
        let Some((store, external)) = &self.directory else {
            return (presented, Default::default());
        };
        let delivery = store
            .voicemail_delivery(user.id)
            .await
            .unwrap_or_else(|error| {
                warn!(%error, "voicemail delivery options not read; using the defaults");
                Default::default()
            });
        let Some(number) = &message.caller_number else {
            return (presented, delivery);
        };
        let named = match crate::directory::Viewer::of(store, user).await {
            Ok(viewer) => crate::directory::Names::new(store, external.as_ref(), viewer)
                .name_for(number, crate::directory::External::Wait, now)
                .await
                .unwrap_or_else(|error| {
                    warn!(%error, "caller not named");
                    None
                }),
            Err(error) => {
                warn!(%error, "caller not named");
                None
            }
        };
        (named.map(|n| n.name).or(presented), delivery)
    }

    /// The notifier the configuration describes: SMTP when `smtp.relay` is set, the HTTP
    /// gateway when `sms.gateway_url` is set.
    pub fn from_config(config: &Config) -> Result<Self, NotifierConfigError> {
        let from = email::mailbox(&config.smtp.from)?;
        let mailer: Option<Arc<dyn Mailer>> = if config.smtp.relay.trim().is_empty() {
            None
        } else {
            Some(Arc::new(SmtpMailer::new(SmtpSettings::for_relay(
                &config.smtp.relay,
            )?)))
        };
        let sms: Option<Arc<dyn SmsSender>> = if config.sms.gateway_url.trim().is_empty() {
            None
        } else {
            Some(Arc::new(HttpSmsGateway::new(
                &config.sms.gateway_url,
                GatewaySettings::default(),
            )?))
        };
        Ok(Notifier::new(
            mailer,
            sms,
            from,
            config.smtp.web_url.clone(),
            config.sip.voicemail_number.clone(),
        ))
    }

    /// The web client link to one voicemail message: `<web_url>#/voicemail/<id>`. A fragment,
    /// so the server needs no route for it and the link works whatever page the client serves.
    pub fn voicemail_link(&self, message: &VoicemailMessage) -> String {
        format!("{}#/voicemail/{}", self.base_url(), message.id)
    }

    /// Tells `user` about a stored `message` on the channels their `settings` choose. `audio`
    /// is the WAV file, attached to the mail when `settings.attach_audio`. `timezone` is the
    /// organisation's; `now` goes in the mail's Date header. Never fails: see [`Delivery`].
    pub async fn notify_new_voicemail(
        &self,
        now: DateTime<Utc>,
        user: &User,
        timezone: Tz,
        settings: &VoicemailSettings,
        message: &VoicemailMessage,
        audio: Option<&[u8]>,
    ) -> Delivery {
        let (caller_name, delivery) = self.caller_and_delivery(now, user, message).await;
        let (by_mail, by_sms) = match settings.notify_channel {
            NotifyChannel::Email => (true, false),
            NotifyChannel::Sms => (false, true),
            NotifyChannel::Both => (true, true),
            NotifyChannel::None => (false, false),
        };
        let mail = async {
            if !by_mail {
                return Outcome::NotChosen;
            }
            let Some(to) = user.profile.email.clone().filter(|e| !e.trim().is_empty()) else {
                return Outcome::NoAddress;
            };
            let mail = VoicemailMail {
                to,
                user_name: user.profile.name.clone(),
                lang: user.profile.lang,
                timezone,
                caller_number: message.caller_number.clone(),
                caller_name: caller_name.clone(),
                received_at: message.received_at,
                duration_ms: message.duration_ms,
                audio: audio.filter(|_| settings.attach_audio).map(<[u8]>::to_vec),
                link: self.voicemail_link(message),
                recording_link: delivery.email_link.then(|| self.recording_link(message)),
            };
            self.deliver_mail(mail.to_message(&self.from, now), "voicemail", user)
                .await
        };
        let sms = async {
            if !by_sms {
                return Outcome::NotChosen;
            }
            let Some(to) = user
                .profile
                .mobile_number
                .clone()
                .filter(|n| !n.trim().is_empty())
            else {
                return Outcome::NoAddress;
            };
            let text = sms::voicemail_text(
                user.profile.lang,
                timezone,
                caller_name.as_deref(),
                message.caller_number.as_deref(),
                message.received_at,
                message.duration_ms,
                &self.voicemail_number,
            );
            self.deliver_sms(Sms { to, text }, "voicemail", user).await
        };
        let (email, sms) = tokio::join!(mail, sms);
        Delivery { email, sms }
    }

    /// Sends a written message by e-mail (`to`: the recipient user). Never fails; see
    /// [`Outcome`].
    pub async fn send_written_message_mail(
        &self,
        now: DateTime<Utc>,
        to: &User,
        timezone: Tz,
        sender: &str,
        body: &str,
        created_at: DateTime<Utc>,
    ) -> Outcome {
        let Some(address) = to.profile.email.clone().filter(|e| !e.trim().is_empty()) else {
            return Outcome::NoAddress;
        };
        let mail = WrittenMessageMail {
            to: address,
            user_name: to.profile.name.clone(),
            lang: to.profile.lang,
            timezone,
            sender: sender.to_owned(),
            body: body.to_owned(),
            created_at,
            link: format!("{}#/voicemail", self.base_url()),
        };
        self.deliver_mail(mail.to_message(&self.from, now), "written message", to)
            .await
    }

    /// Sends a written message by SMS to the recipient's mobile number. Never fails.
    pub async fn send_written_message_sms(&self, to: &User, sender: &str, body: &str) -> Outcome {
        let Some(number) = to
            .profile
            .mobile_number
            .clone()
            .filter(|n| !n.trim().is_empty())
        else {
            return Outcome::NoAddress;
        };
        let text = sms::written_message_text(to.profile.lang, sender, body);
        self.deliver_sms(Sms { to: number, text }, "written message", to)
            .await
    }

    /// Mails `user` their new PIN (the API's "send me a new PIN"). Unlike the notifications
    /// this returns the error: the API must tell the user that no mail went out. The PIN is
    /// never logged.
    pub async fn send_new_pin(
        &self,
        now: DateTime<Utc>,
        user: &User,
        pin: &str,
    ) -> Result<(), PinMailError> {
        let Some(mailer) = &self.mailer else {
            return Err(PinMailError::NotConfigured);
        };
        let Some(to) = user.profile.email.clone().filter(|e| !e.trim().is_empty()) else {
            return Err(PinMailError::NoAddress);
        };
        let mail = PinMail {
            to,
            user_name: user.profile.name.clone(),
            lang: user.profile.lang,
            local_number: user.local_number.clone(),
            pin: pin.to_owned(),
            link: self.base_url().to_owned(),
        };
        mailer.send(mail.to_message(&self.from, now)?).await?;
        info!(user = %user.id, "new PIN mailed");
        Ok(())
    }

    fn base_url(&self) -> &str {
        if self.web_url.is_empty() {
            "/"
        } else {
            &self.web_url
        }
    }

    async fn deliver_mail(
        &self,
        message: Result<lettre::Message, MailError>,
        what: &'static str,
        user: &User,
    ) -> Outcome {
        let Some(mailer) = &self.mailer else {
            return Outcome::NotConfigured;
        };
        let result = match message {
            Ok(message) => mailer.send(message).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                info!(user = %user.id, what, "notification mailed");
                Outcome::Sent
            }
            Err(error) => {
                warn!(user = %user.id, what, %error, "notification mail not delivered");
                Outcome::Failed
            }
        }
    }

    async fn deliver_sms(&self, sms: Sms, what: &'static str, user: &User) -> Outcome {
        let Some(sender) = &self.sms else {
            return Outcome::NotConfigured;
        };
        match sender.send(sms).await {
            Ok(()) => {
                info!(user = %user.id, what, "notification SMS sent");
                Outcome::Sent
            }
            Err(error) => {
                warn!(user = %user.id, what, %error, "notification SMS not delivered");
                Outcome::Failed
            }
        }
    }
}

/// Why a new PIN was not mailed.
#[derive(Debug, thiserror::Error)]
pub enum PinMailError {
    /// No `smtp.relay` configured.
    #[error("no mail relay is configured")]
    NotConfigured,
    /// The user has no e-mail address.
    #[error("the user has no e-mail address")]
    NoAddress,
    /// Building or delivering failed.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// No `sms.gateway_url` configured (PIN by SMS).
    #[error("no SMS gateway is configured")]
    SmsNotConfigured,
    /// The user has no mobile number (PIN by SMS).
    #[error("the user has no mobile number")]
    NoMobile,
    /// The gateway did not take the SMS.
    #[error(transparent)]
    Sms(#[from] SmsError),
}
