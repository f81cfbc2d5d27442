//! PIN strength: the rule every new PIN must pass, wherever it is set (web PIN change, the
//! phone mailbox, `onestatus user set-pin`/`user add --pin`).
//!
//! A 4-digit PIN has 10,000 values, but people do not pick them evenly: studies of leaked PIN
//! sets (Bonneau, Preibusch & Anderson, "A birthday present every eleven wallets?", FC 2012)
//! find repeated digits, keypad runs and dates covering a large share of real choices, so an
//! attacker with the per-source and per-mailbox attempt limits still wins by trying those
//! first. The rule refuses exactly those families:
//!
//! - one digit repeated (`1111`, `777777`);
//! - a run up or down, also across 9→0 (`1234`, `4321`, `7890`, `09876`);
//! - a date: `DDMM` or `MMDD` for 4 digits, `DDMMYY` or `MMDDYY` for 6, `DDMMYYYY` or
//!   `YYYYMMDD` (years 1900–2099) for 8 — birthdays are the most guessable secret there is;
//! - shorter than `[security] pin_min_length` (4 to 8, default 4).
//!
//! On top come the basic rules of [`super::validate_new_pin`]: digits only, at most 8, not
//! `0000`, not the user's local number.

use super::{validate_basic, PinError};

/// Why a PIN is too easy to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    /// One digit repeated.
    #[error("a PIN may not be one digit repeated")]
    Repeated,
    /// Digits counting up or down.
    #[error("a PIN may not be a run of digits such as 1234 or 4321")]
    Run,
    /// Reads as a date.
    #[error("a PIN may not be a date such as a birthday")]
    Date,
}

/// The configured PIN rule (`[security] pin_min_length`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinRules {
    /// Digits needed at least.
    pub min_len: usize,
}

impl Default for PinRules {
    fn default() -> Self {
        PinRules {
            min_len: super::MIN_LEN,
        }
    }
}

impl PinRules {
    /// Rules with `min_len` digits at least (clamped to what a keypad PIN can be).
    pub fn with_min_len(min_len: usize) -> Self {
        PinRules {
            min_len: min_len.clamp(super::MIN_LEN, super::MAX_LEN),
        }
    }

    /// Checks a PIN a user wants to set for the account with `local_number`.
    pub fn validate(&self, pin: &str, local_number: &str) -> Result<(), PinError> {
        validate_basic(pin, local_number)?;
        if pin.len() < self.min_len {
            return Err(PinError::TooShort(self.min_len));
        }
        match weakness(pin) {
            Some(w) => Err(PinError::Weak(w)),
            None => Ok(()),
        }
    }
}

/// The family of easy guesses `pin` (ASCII digits) belongs to, if any.
pub fn weakness(pin: &str) -> Option<Weakness> {
    let d: Vec<u8> = pin.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    if d.len() < 2 {
        return None;
    }
    if d.iter().all(|&x| x == d[0]) {
        return Some(Weakness::Repeated);
    }
    let steps: Vec<u8> = d.windows(2).map(|w| (w[1] + 10 - w[0]) % 10).collect();
    if steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == 9) {
        return Some(Weakness::Run);
    }
    is_date(&d).then_some(Weakness::Date)
}

fn num(d: &[u8]) -> u32 {
    d.iter().fold(0, |n, &x| n * 10 + u32::from(x))
}

/// Whether `day`/`month` exist in some year (29 February counts: someone was born then).
fn day_month(day: u32, month: u32) -> bool {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_date(d: &[u8]) -> bool {
    let full_year = |y: u32| (1900..=2099).contains(&y);
    match d.len() {
        4 => day_month(num(&d[0..2]), num(&d[2..4])) || day_month(num(&d[2..4]), num(&d[0..2])),
        6 => day_month(num(&d[0..2]), num(&d[2..4])) || day_month(num(&d[2..4]), num(&d[0..2])),
        8 => {
            (day_month(num(&d[0..2]), num(&d[2..4])) && full_year(num(&d[4..8])))
                || (full_year(num(&d[0..4])) && day_month(num(&d[6..8]), num(&d[4..6])))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANS: &str = "1000001";

    #[test]
    fn repeats_runs_and_dates_are_refused() {
        for pin in ["1111", "999999", "00000000"] {
            assert_eq!(weakness(pin), Some(Weakness::Repeated), "{pin}");
        }
        for pin in [
            "1234", "4321", "0123", "9876", "7890", "8901", "123456", "87654321",
        ] {
            assert_eq!(weakness(pin), Some(Weakness::Run), "{pin}");
        }
        // DDMM, MMDD, DDMMYY, MMDDYY, DDMMYYYY, YYYYMMDD; 29 February exists.
        for pin in [
            "2412", "1224", "0101", "2902", "170385", "031785", "17031985", "19850317",
        ] {
            assert_eq!(weakness(pin), Some(Weakness::Date), "{pin}");
        }
        for pin in [
            "2580", "4711", "3190", "3231", "9713", "3104", "803152", "25802581",
        ] {
            assert_eq!(weakness(pin), None, "{pin}");
        }
    }

    #[test]
    fn the_rule_adds_to_the_basic_rules_and_takes_the_configured_length() {
        let rules = PinRules::default();
        assert_eq!(rules.validate("2580", HANS), Ok(()));
        assert_eq!(rules.validate("0000", HANS), Err(PinError::Default));
        assert_eq!(
            rules.validate("1234", HANS),
            Err(PinError::Weak(Weakness::Run))
        );
        assert_eq!(
            rules.validate("1111", HANS),
            Err(PinError::Weak(Weakness::Repeated))
        );
        let six = PinRules::with_min_len(6);
        assert_eq!(six.validate("2580", HANS), Err(PinError::TooShort(6)));
        assert_eq!(six.validate("258031", HANS), Ok(()));
        assert_eq!(PinRules::with_min_len(2).min_len, 4);
        assert_eq!(
            super::super::validate_new_pin("4321", HANS),
            Err(PinError::Weak(Weakness::Run))
        );
    }
}
