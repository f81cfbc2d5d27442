//! Calendar codes: a short instruction in square brackets in an entry's subject that overrides,
//! for that one entry, what its busy status would do. The seed guide's reason: people keep
//! reminders and notes in their calendar as Busy, and without codes those would send calls to
//! voicemail.
//!
//! A code is written anywhere in the subject, in brackets, in any letter case. Danish spellings
//! are accepted next to the English ones because the users are Danish.
//!
//! | code                                   | effect                                            |
//! |----------------------------------------|---------------------------------------------------|
//! | `[open]` `[åben]`                      | keep the phone open; the entry is still shown     |
//! | `[fwd 4570100002]` `[fwd +45 70 10 00 02]` | forward calls to that number during the entry |
//! | `[fwd hans]` `[viderestil Hans Hansen]`| forward to the colleague of that name (must match exactly one colleague in the organisation) |
//! | `[ignore]` `[ignorer]`                 | ignore the entry: it neither routes nor shows     |
//! | `[meeting]` `[møde]`                   | route as the busy status says, announce "in a meeting" |
//! | `[lunch]` `[frokost]`                  | … announce "at lunch"                             |
//! | `[break]` `[pause]`                    | … "on a break"                                    |
//! | `[sick]` `[syg]`                       | … "off sick"                                      |
//! | `[holiday]` `[ferie]`                  | … "on holiday"                                    |
//! | `[gone]` `[gået]`                      | … "gone for today"                                |
//! | `[away]` `[ude]` `[oof]`               | … "away" (out of office)                          |
//!
//! Examples: `Tandlæge [open]` keeps the phone ringing during a dentist reminder;
//! `Kundebesøg Aarhus [FWD 4570100002]` forwards to a colleague's number; `Ferie [Holiday]` on
//! an all-day OOF entry makes the greeting say "is on holiday and will be back on Monday …";
//! `Husk at ringe til Jens [ignore]` is just a reminder.
//!
//! Rules: the first bracket that is a code wins; brackets that are not codes (`[EXTERNAL]`,
//! `[Teams]`) are left alone, so a subject never fails to import because of its text. A reason
//! code only changes what a routing entry (Busy, Out of office) announces; it does not make a
//! Free entry route — write the entry as Busy for that. Routing obeys the codes as described in
//! [`routing::calendar`](crate::routing::calendar).

use crate::domain::Reason;
use crate::routing::CalendarOverride;

/// Longest text between brackets we consider (a code, not a paragraph).
const MAX_CODE_LEN: usize = 64;

/// A calendar code as written, before a colleague's name is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarCode {
    /// `[open]`.
    KeepOpen,
    /// `[fwd …]`.
    Forward(ForwardTarget),
    /// `[ignore]`.
    Ignore,
    /// `[holiday]`, `[sick]`, ….
    Reason(Reason),
}

/// Where a `[fwd …]` code sends calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTarget {
    /// Digits, with an optional leading `+` (spaces and dashes removed).
    Number(String),
    /// A colleague's name (or part of it), to be looked up in the user's organisation.
    Colleague(String),
}

impl CalendarCode {
    /// The routing override, when no lookup is needed; `None` for a colleague's name, which
    /// the caller must resolve to a number first.
    pub fn to_override(&self) -> Option<CalendarOverride> {
        match self {
            CalendarCode::KeepOpen => Some(CalendarOverride::KeepOpen),
            CalendarCode::Ignore => Some(CalendarOverride::Ignore),
            CalendarCode::Reason(r) => Some(CalendarOverride::Reason(*r)),
            CalendarCode::Forward(ForwardTarget::Number(n)) => {
                Some(CalendarOverride::Forward(n.clone()))
            }
            CalendarCode::Forward(ForwardTarget::Colleague(_)) => None,
        }
    }
}

/// The first calendar code in `subject`, if any.
pub fn parse(subject: &str) -> Option<CalendarCode> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let inner = &after[..close];
        if inner.len() <= MAX_CODE_LEN {
            if let Some(code) = parse_code(inner) {
                return Some(code);
            }
        }
        rest = &after[close + 1..];
    }
    None
}

/// One bracket's content.
fn parse_code(inner: &str) -> Option<CalendarCode> {
    let lower = inner.trim().to_lowercase();
    let (word, arg) = match lower.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (lower.as_str(), ""),
    };
    let simple = |code| arg.is_empty().then_some(code);
    match word {
        "open" | "åben" | "aaben" | "abn" => simple(CalendarCode::KeepOpen),
        "ignore" | "ignorer" => simple(CalendarCode::Ignore),
        "fwd" | "forward" | "viderestil" if !arg.is_empty() => {
            Some(CalendarCode::Forward(forward_target(inner.trim(), arg)))
        }
        "meeting" | "møde" | "mode" => simple(CalendarCode::Reason(Reason::Meeting)),
        "lunch" | "frokost" => simple(CalendarCode::Reason(Reason::Lunch)),
        "break" | "pause" => simple(CalendarCode::Reason(Reason::Break)),
        "sick" | "syg" => simple(CalendarCode::Reason(Reason::Sick)),
        "holiday" | "vacation" | "ferie" => simple(CalendarCode::Reason(Reason::Holiday)),
        "gone" | "gået" | "gaaet" => simple(CalendarCode::Reason(Reason::GoneForToday)),
        "away" | "oof" | "ude" => simple(CalendarCode::Reason(Reason::OutOfOffice)),
        _ => None,
    }
}

/// A number if the argument is digits (with `+`, spaces, dashes), else a colleague's name in
/// its original spelling.
fn forward_target(original: &str, lower_arg: &str) -> ForwardTarget {
    let compact: String = lower_arg
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        return ForwardTarget::Number(compact);
    }
    // The name as the user wrote it, minus the keyword.
    let name = original
        .split_once(char::is_whitespace)
        .map_or(lower_arg, |(_, n)| n)
        .trim();
    ForwardTarget::Colleague(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_case_insensitive_and_found_anywhere() {
        assert_eq!(parse("Tandlæge [open]"), Some(CalendarCode::KeepOpen));
        assert_eq!(parse("[OPEN] Tandlæge"), Some(CalendarCode::KeepOpen));
        assert_eq!(parse("Tandlæge [Åben]"), Some(CalendarCode::KeepOpen));
        assert_eq!(parse("Husk Jens [IGNORE]"), Some(CalendarCode::Ignore));
        assert_eq!(
            parse("Ferie [Holiday]"),
            Some(CalendarCode::Reason(Reason::Holiday))
        );
        assert_eq!(parse("[syg]"), Some(CalendarCode::Reason(Reason::Sick)));
        assert_eq!(
            parse("Frokost med kunde [lunch]"),
            Some(CalendarCode::Reason(Reason::Lunch))
        );
    }

    #[test]
    fn forward_to_numbers_and_colleagues() {
        assert_eq!(
            parse("Kundebesøg [FWD 4570100002]"),
            Some(CalendarCode::Forward(ForwardTarget::Number(
                "4570100002".into()
            )))
        );
        assert_eq!(
            parse("[fwd +45 70 10 00 02]"),
            Some(CalendarCode::Forward(ForwardTarget::Number(
                "+4570100002".into()
            )))
        );
        assert_eq!(
            parse("Messe [viderestil Hans Hansen]"),
            Some(CalendarCode::Forward(ForwardTarget::Colleague(
                "Hans Hansen".into()
            )))
        );
        assert_eq!(
            parse("[fwd 4570100002]").and_then(|c| c.to_override()),
            Some(CalendarOverride::Forward("4570100002".into()))
        );
        assert_eq!(
            parse("[fwd hans]").and_then(|c| c.to_override()),
            None,
            "a name needs a lookup"
        );
    }

    #[test]
    fn non_codes_are_left_alone() {
        assert_eq!(parse("[EXTERNAL] Re: tilbud"), None);
        assert_eq!(
            parse("[EXTERNAL] Tilbud [open]"),
            Some(CalendarCode::KeepOpen)
        );
        assert_eq!(parse("Status [open"), None);
        assert_eq!(parse("[fwd]"), None);
        assert_eq!(parse("[open now]"), None);
        assert_eq!(parse("Møde"), None);
        assert_eq!(parse(&format!("[{}]", "x".repeat(10_000))), None);
    }
}
