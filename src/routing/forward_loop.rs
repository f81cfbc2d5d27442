//! Refusing forwards that would loop (rule 7 of the precedence in [`routing`](super)).
//!
//! Two users forwarding to each other, or a user forwarding to a colleague whose own absence
//! forwards back, would bounce a call between B2BUA legs until something times out — and the
//! caller would ring into a void. Each hop arrives with its history in the Diversion header
//! (RFC 5806 §4: one entry per diversion, newest first, with `counter=`) or in History-Info
//! (RFC 7044 §4); the B2BUA hands us the numbers and the count in
//! [`CallContext`](super::CallContext). We refuse to forward when the target is one the call was
//! already diverted from, is the number dialled, or when the call has already been diverted
//! [`MAX_FORWARD_HOPS`] times; `decide` then sends the call to voicemail, which tells the
//! caller the truth.

use super::state::CallContext;

/// How many diversions a call may have had before we stop forwarding it. RFC 5806 leaves the
/// limit to local policy; five covers user → colleague → group → external with room to spare.
pub const MAX_FORWARD_HOPS: u32 = 5;

/// Shortest national number compared by suffix with an international one: shorter strings are
/// internal extensions and must match exactly, or "1234" would match every number ending so.
const MIN_NATIONAL_DIGITS: usize = 6;

/// Why a forward was refused; logged by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopReason {
    /// The target has no digits at all: nothing to forward to.
    NoNumber,
    /// The target is the number the caller dialled.
    Dialled,
    /// The call was already diverted from the target.
    InHistory,
    /// The call has been diverted [`MAX_FORWARD_HOPS`] times already.
    TooManyHops,
}

/// Whether forwarding `call` to `target` must be refused, and why.
pub fn check_forward(target: &str, call: &CallContext) -> Option<LoopReason> {
    let Some(target) = Number::parse(target) else {
        return Some(LoopReason::NoNumber);
    };
    let hops = call
        .forwarded_hops
        .max(u32::try_from(call.history.len()).unwrap_or(u32::MAX));
    if hops >= MAX_FORWARD_HOPS {
        return Some(LoopReason::TooManyHops);
    }
    if Number::parse(&call.dialled).is_some_and(|d| d.same_as(&target)) {
        return Some(LoopReason::Dialled);
    }
    if call
        .history
        .iter()
        .filter_map(|h| Number::parse(h))
        .any(|h| h.same_as(&target))
    {
        return Some(LoopReason::InHistory);
    }
    None
}

/// Whether the call has already been diverted from `number` (used to avoid ringing a mobile
/// whose own no-answer forward sent the call here).
pub fn diverted_from(number: &str, call: &CallContext) -> bool {
    Number::parse(number).is_some_and(|n| {
        call.history
            .iter()
            .filter_map(|h| Number::parse(h))
            .any(|h| h.same_as(&n))
    })
}

/// A telephone number reduced to what identifies it, from a bare number, a `tel:` URI
/// (RFC 3966) or the user part of a `sip:`/`sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Number {
    /// Written in international form (`+45…` or `0045…`).
    international: bool,
    /// The digits, without the `+`/`00` and, for national numbers, without a trunk `0`.
    digits: String,
}

impl Number {
    fn parse(text: &str) -> Option<Number> {
        let text = text.trim();
        let text = text.trim_start_matches('<');
        let lower_scheme = text.get(..5).map(str::to_ascii_lowercase);
        let rest = match lower_scheme.as_deref() {
            Some("sips:") => &text[5..],
            Some(s) if s.starts_with("sip:") || s.starts_with("tel:") => &text[4..],
            _ => text,
        };
        // The user part ends at the host or at the first parameter.
        let user = rest.split(['@', ';', '>']).next().unwrap_or("");
        let plus = user.trim_start().starts_with('+');
        let mut digits: String = user.chars().filter(char::is_ascii_digit).take(32).collect();
        let international = plus || digits.starts_with("00");
        if !plus && international {
            digits.drain(..2);
        } else if !international && digits.len() > MIN_NATIONAL_DIGITS && digits.starts_with('0') {
            // National trunk prefix (Swedish 08-…); Danish numbers have none.
            digits.remove(0);
        }
        (!digits.is_empty()).then_some(Number {
            international,
            digits,
        })
    }

    fn same_as(&self, other: &Number) -> bool {
        match (self.international, other.international) {
            (true, true) | (false, false) => self.digits == other.digits,
            (true, false) => suffix_match(&self.digits, &other.digits),
            (false, true) => suffix_match(&other.digits, &self.digits),
        }
    }
}

/// An international number matches a national one when it ends with it: `+4533445566` is
/// `33445566` dialled in Denmark.
fn suffix_match(international: &str, national: &str) -> bool {
    national.len() >= MIN_NATIONAL_DIGITS && international.ends_with(national)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(dialled: &str, history: &[&str], hops: u32) -> CallContext {
        CallContext {
            caller: Some("+4570101010".into()),
            is_internal: false,
            dialled: dialled.into(),
            history: history.iter().map(|s| s.to_string()).collect(),
            forwarded_hops: hops,
        }
    }

    #[test]
    fn forward_to_a_fresh_number_is_allowed() {
        assert_eq!(
            check_forward("+4533445566", &call("+4570202020", &[], 0)),
            None
        );
        assert_eq!(
            check_forward("33445566", &call("+4570202020", &["+4511111111"], 1)),
            None
        );
    }

    #[test]
    fn forward_back_to_where_the_call_came_from_is_refused() {
        let c = call("+4570202020", &["+4533445566"], 1);
        assert_eq!(
            check_forward("+4533445566", &c),
            Some(LoopReason::InHistory)
        );
        assert_eq!(
            check_forward("33 44 55 66", &c),
            Some(LoopReason::InHistory)
        );
        assert_eq!(
            check_forward("004533445566", &c),
            Some(LoopReason::InHistory)
        );
        assert_eq!(
            check_forward("sip:+4533445566@pbx.example;user=phone", &c),
            Some(LoopReason::InHistory)
        );
    }

    #[test]
    fn forward_to_the_dialled_number_is_refused() {
        let c = call("sip:70202020@onestatus.example", &[], 0);
        assert_eq!(check_forward("+4570202020", &c), Some(LoopReason::Dialled));
    }

    #[test]
    fn too_many_hops_are_refused() {
        assert_eq!(
            check_forward("+4533445566", &call("+4570202020", &[], 4)),
            None
        );
        assert_eq!(
            check_forward("+4533445566", &call("+4570202020", &[], MAX_FORWARD_HOPS)),
            Some(LoopReason::TooManyHops)
        );
        let five = ["1", "2", "3", "4", "5"];
        assert_eq!(
            check_forward("+4533445566", &call("+4570202020", &five, 0)),
            Some(LoopReason::TooManyHops)
        );
    }

    #[test]
    fn a_target_without_digits_is_refused() {
        assert_eq!(
            check_forward("", &call("+4570202020", &[], 0)),
            Some(LoopReason::NoNumber)
        );
        assert_eq!(
            check_forward("sip:reception@pbx", &call("+4570202020", &[], 0)),
            Some(LoopReason::NoNumber)
        );
    }

    #[test]
    fn short_extensions_match_only_exactly() {
        let c = call("+4570202020", &["1234"], 1);
        assert_eq!(check_forward("+4555551234", &c), None);
        assert_eq!(check_forward("1234", &c), Some(LoopReason::InHistory));
    }

    #[test]
    fn swedish_trunk_prefix_is_ignored() {
        let c = call("+4570202020", &["+4681234567"], 1);
        assert_eq!(
            check_forward("08-123 45 67", &c),
            Some(LoopReason::InHistory)
        );
    }

    #[test]
    fn diverted_from_finds_the_mobile() {
        let c = call("+4570202020", &["+4520304050"], 1);
        assert!(diverted_from("20304050", &c));
        assert!(!diverted_from("+4520304051", &c));
    }
}
