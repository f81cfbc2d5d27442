//! "Send me a new PIN" by SMS (issue #18): the short text with the new PIN, and
//! [`Notifier::send_new_pin_sms`], which returns the failure so the API can tell the user (the
//! PIN then stays unchanged). The PIN is never logged.

use tracing::info;

use super::{Notifier, PinMailError, Sms};
use crate::domain::model::User;
use crate::domain::Lang;

/// The SMS with the new PIN: short (one GSM-7 segment), no link (a link in an SMS is what
/// phishing looks like), the local number it is for, and what to do if it was not asked for.
pub fn pin_text(lang: Lang, local_number: &str, pin: &str) -> String {
    match lang {
        Lang::Da => format!(
            "OneStatus: Ny PIN-kode til {local_number}: {pin}. Vælg en ny ved næste login. \
             Ikke dig? Kontakt din administrator."
        ),
        Lang::Sv => format!(
            "OneStatus: Ny PIN-kod för {local_number}: {pin}. Välj en ny vid nästa inloggning. \
             Inte du? Kontakta din administratör."
        ),
        Lang::En => format!(
            "OneStatus: New PIN for {local_number}: {pin}. Choose a new one at your next login. \
             Not you? Contact your administrator."
        ),
    }
}

impl Notifier {
    /// Texts `user` their new PIN. Unlike the notifications this returns the error: the API
    /// must tell the user that no SMS went out.
    pub async fn send_new_pin_sms(&self, user: &User, pin: &str) -> Result<(), PinMailError> {
        let Some(gateway) = &self.sms else {
            return Err(PinMailError::SmsNotConfigured);
        };
        let Some(to) = user
            .profile
            .mobile_number
            .clone()
            .filter(|n| !n.trim().is_empty())
        else {
            return Err(PinMailError::NoMobile);
        };
        let text = pin_text(user.profile.lang, &user.local_number, pin);
        gateway.send(Sms { to, text }).await?;
        info!(user = %user.id, "new PIN sent by SMS");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_texts_fit_one_segment_and_name_the_number() {
        for lang in [Lang::Da, Lang::Sv, Lang::En] {
            let text = pin_text(lang, "1000001", "482913");
            assert!(
                text.contains("1000001") && text.contains("482913"),
                "{text}"
            );
            assert!(
                text.chars().count() <= 160,
                "{lang}: {} chars",
                text.chars().count()
            );
        }
    }
}
