//! PIN rules and hashing: the secret a user types on the phone keypad (voicemail retrieval) and
//! in the web-client login.
//!
//! PINs are short, so a stolen hash is cheap to brute-force unless the hash is slow: they are
//! stored only as argon2id PHC strings (RFC 9106, with a per-PIN random salt), never in the clear,
//! and compared through argon2's own verification (constant-time on the derived key). Lockout on
//! repeated failures lives with the user row (`failed_pin_attempts`, `locked_until`), because
//! a 4-digit space is small whatever the hash; [`check`] is the one place that applies it.

pub mod check;
pub mod sources;
pub mod strength;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub use check::{LockoutPolicy, PinCheck, Verdict};
pub use strength::{PinRules, Weakness};

/// Shortest PIN accepted: four digits, as the keypad prompts assume.
pub const MIN_LEN: usize = 4;
/// Longest PIN accepted: eight digits, enough for anyone and still typeable on a keypad.
pub const MAX_LEN: usize = 8;
/// The PIN every new account once started with (issue #19: anyone could take a new account
/// over with it). New accounts now get a random PIN; `0000` is never chosen and never accepted
/// at login, web or phone ([`check`]).
pub const DEFAULT_PIN: &str = "0000";

/// Why a proposed new PIN was refused. Each variant maps to one spoken/displayed explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Something other than 0–9 was entered (a keypad only has digits; `*`/`#` are commands).
    #[error("a PIN may contain digits only")]
    NotDigits,
    /// Fewer than [`MIN_LEN`] or more than [`MAX_LEN`] digits.
    #[error("a PIN must have {MIN_LEN} to {MAX_LEN} digits, not {0}")]
    Length(usize),
    /// `0000`, once every new account's PIN: never chosen, never accepted ([`check`]).
    #[error("the PIN 0000 may not be chosen")]
    Default,
    /// The user's own local number, or its last four digits: the first thing an attacker tries.
    #[error("the PIN may not be your local number or its last four digits")]
    LocalNumber,
    /// Shorter than the configured minimum (`[security] pin_min_length`).
    #[error("a PIN must have at least {0} digits")]
    TooShort(usize),
    /// Among the first guesses of anyone ([`strength`]): one digit repeated, a run, a date.
    #[error("{0}")]
    Weak(Weakness),
}

/// Checks a PIN the user wants to set under the default [`PinRules`] (4 digits at least).
pub fn validate_new_pin(pin: &str, local_number: &str) -> Result<(), PinError> {
    PinRules::default().validate(pin, local_number)
}

/// The rules every PIN obeys whatever the configuration (product: "digits only, may not be
/// 0000 or the user's own local number"). `local_number` is the 7-digit login (customer code +
/// last 4 of the OneNumber). [`PinRules::validate`] adds the minimum length and strength.
fn validate_basic(pin: &str, local_number: &str) -> Result<(), PinError> {
    if !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinError::NotDigits);
    }
    if !(MIN_LEN..=MAX_LEN).contains(&pin.len()) {
        return Err(PinError::Length(pin.len()));
    }
    if pin == DEFAULT_PIN {
        return Err(PinError::Default);
    }
    let last_four = local_number
        .get(local_number.len().saturating_sub(4)..)
        .unwrap_or("");
    if pin == local_number || (!last_four.is_empty() && pin == last_four) {
        return Err(PinError::LocalNumber);
    }
    Ok(())
}

/// Hashes a PIN with argon2id (default parameters of the `argon2` crate: 19 MiB, 2 passes, the
/// OWASP minimum) and a fresh random salt, as a PHC string (`$argon2id$v=19$m=...`), which
/// carries its own parameters so they can be raised later without breaking old hashes.
pub fn hash_pin(pin: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    match Argon2::default().hash_password(pin.as_bytes(), &salt) {
        Ok(hash) => hash.to_string(),
        // Invariant: hashing fails only for out-of-range parameters or salt, and both come from
        // the crate's own defaults here; any input PIN (even empty) is accepted by argon2.
        Err(e) => unreachable!("argon2 with default parameters failed: {e}"),
    }
}

/// Checks `pin` against a stored PHC string. A malformed hash verifies nothing (false), so a
/// corrupted row locks the user out rather than letting anyone in.
pub fn verify_pin(pin: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(validate_new_pin("2580", "1000001"), Ok(()));
        assert_eq!(validate_new_pin("25802581", "1000001"), Ok(()));
        assert_eq!(validate_new_pin("0000", "1000001"), Err(PinError::Default));
        assert_eq!(validate_new_pin("123", "1000001"), Err(PinError::Length(3)));
        assert_eq!(
            validate_new_pin("123456789", "1000001"),
            Err(PinError::Length(9))
        );
        assert_eq!(
            validate_new_pin("12a4", "1000001"),
            Err(PinError::NotDigits)
        );
        assert_eq!(validate_new_pin("", "1000001"), Err(PinError::Length(0)));
        assert_eq!(
            validate_new_pin("1000001", "1000001"),
            Err(PinError::LocalNumber)
        );
        assert_eq!(
            validate_new_pin("0001", "1000001"),
            Err(PinError::LocalNumber)
        );
        assert_eq!(
            validate_new_pin("١٢٣٤", "1000001"),
            Err(PinError::NotDigits)
        );
    }

    #[test]
    fn hash_round_trip() {
        let hash = hash_pin("2580");
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("2580$"));
        assert!(verify_pin("2580", &hash));
        assert!(!verify_pin("2581", &hash));
        assert!(!verify_pin("2580", "not a hash"));
        assert_ne!(hash, hash_pin("2580"), "salted");
    }
}
