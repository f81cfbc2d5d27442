//! How a freshly generated PIN reaches its user ("send me a new PIN"): by e-mail or SMS, which
//! is the notification module's work. The API only hands the PIN over through [`PinNotifier`];
//! it never returns it in a response and never logs it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::store::User;

/// A new PIN in the clear, on its way to the user. `Debug` does not show it, so it cannot end
/// up in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPin(String);

impl NewPin {
    /// Wraps a PIN.
    pub fn new(pin: String) -> NewPin {
        NewPin(pin)
    }

    /// The digits, for the message that delivers them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPin(***)")
    }
}

/// Delivering the PIN failed; the user is told why and asks again.
#[derive(Debug, thiserror::Error)]
pub enum PinDeliveryError {
    /// The server has no relay/gateway for the channel.
    #[error("{0}")]
    NotConfigured(String),
    /// The user has no address or number for the channel.
    #[error("{0}")]
    NoAddress(String),
    /// The relay or gateway did not take it.
    #[error("PIN delivery failed: {0}")]
    Failed(String),
}

/// A boxed future, so the trait stays object-safe (`Arc<dyn PinNotifier>`).
pub type DeliveryFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), PinDeliveryError>> + Send + 'a>>;

/// How the new PIN travels ("send me a new PIN" by e-mail or by SMS, issue #18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinChannel {
    /// To `profile.email` through the mail relay.
    #[default]
    Email,
    /// To `profile.mobile_number` through the SMS gateway.
    Sms,
}

/// Which channels the server can deliver a PIN on (a relay, a gateway configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PinChannels {
    /// E-mail is configured.
    pub email: bool,
    /// SMS is configured.
    pub sms: bool,
}

/// Delivers a new PIN to its user (e-mail to `profile.email`, or SMS to `profile.mobile_number`).
pub trait PinNotifier: Send + Sync + 'static {
    /// Sends `pin` to `user` by e-mail. Must not log the PIN.
    fn send_new_pin<'a>(&'a self, user: &'a User, pin: &'a NewPin) -> DeliveryFuture<'a>;

    /// Sends `pin` to `user` on `channel`. Must not log the PIN. By default only e-mail
    /// exists.
    fn send_new_pin_by<'a>(
        &'a self,
        user: &'a User,
        pin: &'a NewPin,
        channel: PinChannel,
    ) -> DeliveryFuture<'a> {
        match channel {
            PinChannel::Email => self.send_new_pin(user, pin),
            PinChannel::Sms => Box::pin(async {
                Err(PinDeliveryError::NotConfigured(
                    "no SMS gateway is configured".into(),
                ))
            }),
        }
    }

    /// The channels this notifier can use; by default e-mail only.
    fn channels(&self) -> PinChannels {
        PinChannels {
            email: true,
            sms: false,
        }
    }
}

/// The default until e-mail/SMS delivery is wired: logs *that* a PIN was issued (never the PIN)
/// so an administrator can see the request arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogPinNotifier;

impl PinNotifier for LogPinNotifier {
    fn send_new_pin<'a>(&'a self, user: &'a User, _pin: &'a NewPin) -> DeliveryFuture<'a> {
        Box::pin(async move {
            tracing::info!(
                user_id = user.id.0,
                has_email = user.profile.email.is_some(),
                has_mobile = user.profile.mobile_number.is_some(),
                "new PIN issued; no e-mail/SMS delivery configured"
            );
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::NewPin;

    #[test]
    fn debug_hides_the_pin() {
        let pin = NewPin::new("482913".into());
        assert_eq!(format!("{pin:?}"), "NewPin(***)");
        assert_eq!(pin.expose(), "482913");
    }
}
