//! One attempt at delivering a written message by e-mail or SMS, to a colleague's address or
//! to one the sender typed, and what the attempt says about retrying ([`AttemptOutcome`]).
//! The delivery worker (`runtime::delivery`) calls [`Notifier::deliver_written`] for each
//! queued row and follows [`super::retry::RetrySchedule`] with the outcome.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tracing::info;

use super::retry::AttemptOutcome;
use super::{sms, MailError, Notifier, Sms, SmsError, WrittenMessageMail};
use crate::domain::model::MessageChannel;
use crate::domain::Lang;

/// Which delivery channels this server has (a relay, a gateway): what the API offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Channels {
    /// `smtp.relay` is set.
    pub email: bool,
    /// `sms.gateway_url` is set.
    pub sms: bool,
}

/// What one written-message delivery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDelivery {
    /// E-mail or SMS.
    pub channel: MessageChannel,
    /// The address or the mobile number (stored form).
    pub address: String,
    /// How the mail greets the recipient (the colleague's name, or the typed address).
    pub recipient_name: String,
    /// The recipient's language (a colleague's), else the sender's.
    pub lang: Lang,
    /// The organisation's time zone, for the "wrote at" line.
    pub timezone: Tz,
    /// The sender's name.
    pub sender: String,
    /// The text.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl Notifier {
    /// The channels configured on this server.
    pub fn channels(&self) -> Channels {
        Channels {
            email: self.mailer.is_some(),
            sms: self.sms.is_some(),
        }
    }

    /// One attempt at `delivery`. Never logs the text.
    pub async fn deliver_written(
        &self,
        now: DateTime<Utc>,
        delivery: &WrittenDelivery,
    ) -> AttemptOutcome {
        let outcome = match delivery.channel {
            MessageChannel::Email => self.mail_written(now, delivery).await,
            MessageChannel::Sms => self.text_written(delivery).await,
        };
        info!(channel = %delivery.channel, ?outcome, "written message delivery attempt");
        outcome
    }

    async fn mail_written(&self, now: DateTime<Utc>, d: &WrittenDelivery) -> AttemptOutcome {
        let Some(mailer) = &self.mailer else {
            return AttemptOutcome::Permanent("no mail relay is configured".into());
        };
        let mail = WrittenMessageMail {
            to: d.address.clone(),
            user_name: d.recipient_name.clone(),
            lang: d.lang,
            timezone: d.timezone,
            sender: d.sender.clone(),
            body: d.body.clone(),
            created_at: d.created_at,
            link: format!("{}#/voicemail", self.base_url()),
        };
        let result = match mail.to_message(&self.from, now) {
            Ok(message) => mailer.send(message).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => AttemptOutcome::Sent,
            Err(error @ MailError::Unavailable { .. }) => {
                AttemptOutcome::Transient(error.to_string())
            }
            Err(error) => AttemptOutcome::Permanent(error.to_string()),
        }
    }

    async fn text_written(&self, d: &WrittenDelivery) -> AttemptOutcome {
        let Some(sender) = &self.sms else {
            return AttemptOutcome::Permanent("no SMS gateway is configured".into());
        };
        let text = sms::written_message_text(d.lang, &d.sender, &d.body);
        match sender
            .send(Sms {
                to: d.address.clone(),
                text,
            })
            .await
        {
            Ok(()) => AttemptOutcome::Sent,
            Err(error @ SmsError::Unavailable { .. }) => {
                AttemptOutcome::Transient(error.to_string())
            }
            Err(error) => AttemptOutcome::Permanent(error.to_string()),
        }
    }
}
