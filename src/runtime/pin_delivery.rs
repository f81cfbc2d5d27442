//! "Send me a new PIN" through the real notification channels: the API's [`PinNotifier`] seam
//! implemented over [`Notifier`] (e-mail to the user's address through `smtp.relay`, or SMS to
//! the mobile number through `sms.gateway_url`).
//!
//! Without a relay or gateway (the embedded default) the PIN cannot reach the user, so the API
//! is told so rather than pretending; the PIN itself is never logged.

use std::sync::Arc;

use crate::api::{DeliveryFuture, NewPin, PinChannel, PinChannels, PinDeliveryError, PinNotifier};
use crate::clock::Clock;
use crate::domain::model::User;
use crate::notify::{Notifier, PinMailError};

/// Delivers new PINs by e-mail or SMS.
pub struct MailedPins {
    /// The notification channels.
    pub notifier: Arc<Notifier>,
    /// For the mail's Date header.
    pub clock: Arc<dyn Clock>,
}

/// The API's terms for a failure: what the user can act on, and what they cannot.
fn delivery_error(error: PinMailError) -> PinDeliveryError {
    match error {
        PinMailError::NotConfigured | PinMailError::SmsNotConfigured => {
            PinDeliveryError::NotConfigured(error.to_string())
        }
        PinMailError::NoAddress | PinMailError::NoMobile => {
            PinDeliveryError::NoAddress(error.to_string())
        }
        PinMailError::Mail(_) | PinMailError::Sms(_) => PinDeliveryError::Failed(error.to_string()),
    }
}

impl PinNotifier for MailedPins {
    fn send_new_pin<'a>(&'a self, user: &'a User, pin: &'a NewPin) -> DeliveryFuture<'a> {
        self.send_new_pin_by(user, pin, PinChannel::Email)
    }

    fn send_new_pin_by<'a>(
        &'a self,
        user: &'a User,
        pin: &'a NewPin,
        channel: PinChannel,
    ) -> DeliveryFuture<'a> {
        Box::pin(async move {
            match channel {
                PinChannel::Email => {
                    self.notifier
                        .send_new_pin(self.clock.now(), user, pin.expose())
                        .await
                }
                PinChannel::Sms => self.notifier.send_new_pin_sms(user, pin.expose()).await,
            }
            .map_err(delivery_error)
        })
    }

    fn channels(&self) -> PinChannels {
        let channels = self.notifier.channels();
        PinChannels {
            email: channels.email,
            sms: channels.sms,
        }
    }
}
