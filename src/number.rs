//! One normalisation of telephone numbers, applied where a number enters OneStatus (API
//! fields, calendar codes, the CLI, the SIP Request-URI, From and Diversion headers) so that
//! every comparison afterwards is a plain string comparison.
//!
//! The stored form is E.164 (ITU-T E.164 §6: country code + national significant number)
//! written as digits without the `+`, the way OneNumbers are provisioned (`4570100002`). What
//! people type is turned into it with the organisation's numbering plan ([`Plan`]):
//!
//! | typed                | becomes        | why                                               |
//! |----------------------|----------------|---------------------------------------------------|
//! | `+45 70 10 00 02`    | `4570100002`   | international with `+`; spaces, dashes, dots, `()` are layout |
//! | `0045 70100002`      | `4570100002`   | the international prefix `00`                     |
//! | `4570100002`         | `4570100002`   | already E.164 (country code + national length)    |
//! | `70 10 00 02`        | `4570100002`   | a national number (8 digits in Denmark)           |
//! | `08-123 456 78` (SE) | `46812345678`  | Swedish trunk prefix `0` dropped                  |
//! | `1000002`            | `1000002`      | a 7-digit local number (customer code + last four digits of a OneNumber), kept: only the store can say whose it is |
//! | `8000`               | `8000`         | a short service number (the voicemail number), kept |
//!
//! Anything else — letters, a `+` in the middle, no digits, more than 15 digits (E.164 §6.1) —
//! is an error the API answers with 422 naming the field. A `tel:` URI (RFC 3966 §3) or the
//! user part of a `sip:` URI (RFC 3261 §19.1.1) is accepted where SIP carries a number.
//!
//! The organisation's country is not stored; it follows from the organisation's time zone
//! ([`Plan::for_timezone`]), which every organisation has and which names the country for the
//! zones OneStatus serves.

use chrono_tz::Tz;

/// The longest E.164 number (ITU-T E.164 §6.1): 15 digits including the country code.
pub const MAX_E164_DIGITS: usize = 15;

/// Local numbers (the web-client login and internal dialling) have exactly this many digits.
pub const LOCAL_NUMBER_DIGITS: usize = 7;

/// Numbers of at most this many digits are service numbers (voicemail `8000`, group short
/// numbers) and are kept as typed.
pub const MAX_SERVICE_DIGITS: usize = 6;

/// An organisation's numbering plan: enough to turn what people type into E.164.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The country calling code, without `+` (`45` for Denmark).
    pub country_code: &'static str,
    /// National significant numbers have this many digits when fixed (Denmark: 8), `None`
    /// when they vary (Sweden: 7 to 9).
    pub national_digits: Option<usize>,
    /// The trunk prefix dialled before a national number (Sweden, UK: `0`); Denmark has none.
    pub trunk_prefix: Option<char>,
}

impl Plan {
    /// Denmark: `+45`, 8-digit closed numbering, no trunk prefix.
    pub const DK: Plan = Plan {
        country_code: "45",
        national_digits: Some(8),
        trunk_prefix: None,
    };
    /// Sweden: `+46`, open numbering, trunk prefix `0`.
    pub const SE: Plan = Plan {
        country_code: "46",
        national_digits: None,
        trunk_prefix: Some('0'),
    };
    /// Norway: `+47`, 8-digit closed numbering, no trunk prefix.
    pub const NO: Plan = Plan {
        country_code: "47",
        national_digits: Some(8),
        trunk_prefix: None,
    };
    /// The United Kingdom: `+44`, trunk prefix `0`.
    pub const GB: Plan = Plan {
        country_code: "44",
        national_digits: None,
        trunk_prefix: Some('0'),
    };

    /// The plan of the country an organisation's time zone names; Denmark for any other zone
    /// (OneStatus's home market, and the demo's).
    pub fn for_timezone(tz: Tz) -> Plan {
        match tz {
            Tz::Europe__Stockholm => Plan::SE,
            Tz::Europe__Oslo => Plan::NO,
            Tz::Europe__London => Plan::GB,
            _ => Plan::DK,
        }
    }
}

/// Why a text is not a telephone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Nothing but layout.
    #[error("no digits")]
    Empty,
    /// A character that is neither a digit nor layout.
    #[error("'{0}' is not part of a telephone number")]
    Character(char),
    /// A `+` after a digit.
    #[error("'+' only at the start")]
    Plus,
    /// Longer than E.164 allows.
    #[error("more than {MAX_E164_DIGITS} digits")]
    TooLong,
    /// A length that is neither a service, a local, a national nor an international number.
    #[error("{0} digits is not a complete number")]
    Incomplete(usize),
}

/// Characters people put inside numbers for readability.
fn is_layout(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}')
}

/// Normalises `text` with `plan`: E.164 digits without `+`, or a local/service number as is.
pub fn normalise(text: &str, plan: &Plan) -> Result<String, NumberError> {
    let text = text.trim();
    let mut digits = String::with_capacity(text.len());
    let mut plus = false;
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            // Only before the first digit: "(+45) 70…" is international, "45+70…" is not.
            '+' if digits.is_empty() && !plus => plus = true,
            '+' => return Err(NumberError::Plus),
            c if is_layout(c) => {}
            c => return Err(NumberError::Character(c)),
        }
        if digits.len() > MAX_E164_DIGITS + 2 {
            return Err(NumberError::TooLong);
        }
    }
    if digits.is_empty() {
        return Err(NumberError::Empty);
    }
    let e164 = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if digits.len() <= MAX_SERVICE_DIGITS || digits.len() == LOCAL_NUMBER_DIGITS {
        // Service and local numbers are the organisation's own; only the store resolves them.
        return Ok(digits);
    } else if let Some(rest) = plan
        .trunk_prefix
        .and_then(|p| digits.strip_prefix(p))
        .filter(|rest| !rest.starts_with('0'))
    {
        format!("{}{rest}", plan.country_code)
    } else if plan.national_digits == Some(digits.len()) {
        format!("{}{digits}", plan.country_code)
    } else {
        // Already E.164 without the `+`: how OneNumbers are provisioned and numbers stored, so
        // normalising a stored number changes nothing.
        digits
    };
    if e164.len() > MAX_E164_DIGITS {
        return Err(NumberError::TooLong);
    }
    // The home country's numbers must be complete where its numbering is closed.
    if let (Some(national), Some(rest)) =
        (plan.national_digits, e164.strip_prefix(plan.country_code))
    {
        if rest.len() != national {
            return Err(NumberError::Incomplete(e164.len()));
        }
    }
    match e164.len() {
        0..=MAX_SERVICE_DIGITS => Err(NumberError::Incomplete(e164.len())),
        n if n > MAX_E164_DIGITS => Err(NumberError::TooLong),
        _ => Ok(e164),
    }
}

/// The number in a SIP or tel URI, or a bare number: the user part of `sip:`/`sips:` (RFC
/// 3261 §19.1.1) or the number of `tel:` (RFC 3966 §3), before any parameter; `<…>` and
/// visual separators allowed. Normalised with `plan`.
pub fn from_uri(uri: &str, plan: &Plan) -> Result<String, NumberError> {
    let text = uri.trim().trim_start_matches('<');
    let scheme_end = text.find(':').filter(|i| {
        matches!(
            text[..*i].to_ascii_lowercase().as_str(),
            "sip" | "sips" | "tel"
        )
    });
    let rest = scheme_end.map_or(text, |i| &text[i + 1..]);
    let user = rest.split(['@', ';', '>', '?']).next().unwrap_or("");
    normalise(user, plan)
}

/// Whether two numbers as typed are the same number in `plan` (both normalised). Text that is
/// not a number is never the same as anything.
pub fn same(a: &str, b: &str, plan: &Plan) -> bool {
    match (normalise(a, plan), normalise(b, plan)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A stored number as a person of the organisation reads it: the country's own numbers in
/// national form with the usual grouping (`70 10 00 02`), others international
/// (`+46 812345678`); local and service numbers as they are.
pub fn display(stored: &str, plan: &Plan) -> String {
    if stored.len() <= LOCAL_NUMBER_DIGITS || !stored.bytes().all(|b| b.is_ascii_digit()) {
        return stored.to_owned();
    }
    match stored.strip_prefix(plan.country_code) {
        Some(national) if plan.national_digits == Some(national.len()) => national
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        Some(national) if plan.trunk_prefix.is_some() => {
            format!("{}{national}", plan.trunk_prefix.unwrap_or('0'))
        }
        _ => {
            let cc_len = country_code_len(stored);
            format!("+{} {}", &stored[..cc_len], &stored[cc_len..])
        }
    }
}

/// The length of the country code at the start of an E.164 number (ITU-T E.164 Annex: codes
/// are one to three digits, prefix-free): `1` and `7` stand alone, the two-digit zones 2x–9x
/// listed here, three digits otherwise.
fn country_code_len(e164: &str) -> usize {
    const TWO_DIGIT: [&str; 42] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94",
    ];
    if e164.starts_with('1') || e164.starts_with('7') {
        1
    } else if TWO_DIGIT.iter().any(|cc| e164.starts_with(cc)) {
        2
    } else {
        3.min(e164.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DK: Plan = Plan::DK;

    #[test]
    fn every_danish_spelling_of_karens_number_is_one_number() {
        for typed in [
            "+45 70 10 00 02",
            "+4570100002",
            "0045 70 10 00 02",
            "004570100002",
            "4570100002",
            "45 70 10 00 02",
            "70 10 00 02",
            "70100002",
            "70-10-00-02",
            "(+45) 70.10.00.02",
            " 7010 0002 ",
        ] {
            assert_eq!(
                normalise(typed, &DK).as_deref(),
                Ok("4570100002"),
                "{typed}"
            );
        }
    }

    #[test]
    fn local_and_service_numbers_are_kept() {
        assert_eq!(normalise("1000002", &DK).as_deref(), Ok("1000002"));
        assert_eq!(normalise("100 0002", &DK).as_deref(), Ok("1000002"));
        assert_eq!(normalise("8000", &DK).as_deref(), Ok("8000"));
        assert_eq!(normalise("112", &DK).as_deref(), Ok("112"));
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(
            normalise("+46 8 123 456 78", &DK).as_deref(),
            Ok("46812345678")
        );
        assert_eq!(
            normalise("0046812345678", &DK).as_deref(),
            Ok("46812345678")
        );
        assert_eq!(
            normalise("+1 (212) 555-0100", &DK).as_deref(),
            Ok("12125550100")
        );
    }

    #[test]
    fn swedish_plan_drops_the_trunk_prefix() {
        let se = Plan::SE;
        assert_eq!(
            normalise("08-123 456 78", &se).as_deref(),
            Ok("46812345678")
        );
        assert_eq!(
            normalise("070-123 45 67", &se).as_deref(),
            Ok("46701234567")
        );
        assert_eq!(
            normalise("+46 70 123 45 67", &se).as_deref(),
            Ok("46701234567")
        );
        assert_eq!(normalise("46701234567", &se).as_deref(), Ok("46701234567"));
        assert_eq!(normalise("0045 70100002", &se).as_deref(), Ok("4570100002"));
    }

    #[test]
    fn stored_foreign_numbers_normalise_to_themselves() {
        assert_eq!(normalise("46812345678", &DK).as_deref(), Ok("46812345678"));
        assert_eq!(
            normalise("4570100002", &Plan::SE).as_deref(),
            Ok("4570100002")
        );
    }

    #[test]
    fn what_is_not_a_number_is_refused() {
        assert_eq!(normalise("", &DK), Err(NumberError::Empty));
        assert_eq!(normalise(" - ", &DK), Err(NumberError::Empty));
        assert_eq!(normalise("hans", &DK), Err(NumberError::Character('h')));
        assert_eq!(normalise("45+70100002", &DK), Err(NumberError::Plus));
        assert_eq!(
            normalise("+45 7010 000", &DK),
            Err(NumberError::Incomplete(9))
        );
        assert_eq!(normalise("+45 70", &DK), Err(NumberError::Incomplete(4)));
        assert_eq!(normalise("457010000", &DK), Err(NumberError::Incomplete(9)));
        assert_eq!(normalise("+4570", &DK), Err(NumberError::Incomplete(4)));
        assert_eq!(
            normalise("+4512345678901234", &DK),
            Err(NumberError::TooLong)
        );
        assert_eq!(normalise(&"9".repeat(200), &DK), Err(NumberError::TooLong));
    }

    #[test]
    fn uris_carry_numbers() {
        for uri in [
            "sip:4570100002@10.0.0.1",
            "<sip:+4570100002@pbx.example;user=phone>",
            "sips:004570100002@pbx.example",
            "tel:+45-70-10-00-02",
            "tel:70100002;phone-context=+45",
            "SIP:70100002@host",
        ] {
            assert_eq!(from_uri(uri, &DK).as_deref(), Ok("4570100002"), "{uri}");
        }
        assert!(from_uri("sip:hans@pbx.example", &DK).is_err());
    }

    #[test]
    fn same_compares_normalised_forms() {
        assert!(same("+45 70 10 00 02", "4570100002", &DK));
        assert!(same("70100002", "0045 70100002", &DK));
        assert!(!same("70100002", "70100003", &DK));
        assert!(!same("hans", "hans", &DK));
    }

    #[test]
    fn display_is_national_at_home_and_international_abroad() {
        assert_eq!(display("4570100002", &DK), "70 10 00 02");
        assert_eq!(display("46812345678", &DK), "+46 812345678");
        assert_eq!(display("46812345678", &Plan::SE), "0812345678");
        assert_eq!(display("12125550100", &DK), "+1 2125550100");
        assert_eq!(display("1000002", &DK), "1000002");
        assert_eq!(display("8000", &DK), "8000");
    }

    #[test]
    fn plan_follows_the_organisations_zone() {
        assert_eq!(Plan::for_timezone(Tz::Europe__Copenhagen), Plan::DK);
        assert_eq!(Plan::for_timezone(Tz::Europe__Stockholm), Plan::SE);
        assert_eq!(Plan::for_timezone(Tz::UTC), Plan::DK);
    }

    #[test]
    fn normalising_is_idempotent() {
        for typed in [
            "+45 70 10 00 02",
            "08-123 456 78",
            "+46 8 123 456 78",
            "1000002",
            "8000",
            "+1 212 555 0100",
        ] {
            for plan in [Plan::DK, Plan::SE] {
                if let Ok(once) = normalise(typed, &plan) {
                    assert_eq!(normalise(&once, &plan), Ok(once.clone()), "{typed}");
                }
            }
        }
    }
}
