//! "Send me a new PIN" through the real notification channels: the API's [`PinNotifier`] seam
//! implemented over [`Notifier`] (e-mail to the user's address through `smtp.relay`).
//!
//! Without a relay (the embedded default) the PIN cannot reach the user, so the API is told so
//! rather than pretending; the PIN itself is never logged.

use std::sync::Arc;

use crate::api::{DeliveryFuture, NewPin, PinDeliveryError, PinNotifier};
use crate::clock::Clock;
use crate::notify::Notifier;
use crate::store::model::User;

/// Delivers new PINs by e-mail.
pub struct MailedPins {
    /// The notification channels.
    pub notifier: Arc<Notifier>,
    /// For the mail's Date header.
    pub clock: Arc<dyn Clock>,
}

impl PinNotifier for MailedPins {
    fn send_new_pin<'a>(&'a self, user: &'a User, pin: &'a NewPin) -> DeliveryFuture<'a> {
        Box::pin(async move {
            self.notifier
                .send_new_pin(self.clock.now(), user, pin.expose())
                .await
                .map_err(|e| PinDeliveryError(e.to_string()))
        })
    }
}
