//! The sentences the IVR says that depend on data: the greeting's status, the message count,
//! a message's envelope. Each builds an [`Utterance`]; [`super::render`] picks the words.
//!
//! "Today" and "tomorrow" are decided in the timezone of the time being spoken (the user's),
//! from a `now` the caller passes in: the speech core never reads a clock.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime};
use chrono_tz::Tz;

use super::fragment::{self as f, FragmentId};
use super::utterance::{Piece, Utterance};
use crate::domain::{Lang, Reason};

/// Between two clauses of one sentence ("is in a meeting · and will be back").
pub const CLAUSE_PAUSE: Duration = Duration::from_millis(200);
/// Between two sentences.
pub const SENTENCE_PAUSE: Duration = Duration::from_millis(400);

/// What the caller is told about the user, as the routing decision found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GreetingStatus {
    /// The user is on another call.
    OnThePhone,
    /// An absence is in force; `back_at` is its end in the user's timezone, `None` for "until
    /// further notice".
    Absent {
        /// Why (meeting, lunch, ...).
        reason: Reason,
        /// When the absence ends.
        back_at: Option<DateTime<Tz>>,
    },
    /// No answer or busy, with no absence to explain it.
    NotAvailable,
}

/// "Welcome. You have called <name>."
pub fn welcome(user: i64) -> Utterance {
    Utterance::from(vec![
        Piece::Fragment(f::WELCOME),
        Piece::Pause(CLAUSE_PAUSE),
        Piece::Fragment(f::YOU_HAVE_CALLED),
        Piece::Name(user),
        Piece::Pause(SENTENCE_PAUSE),
    ])
}

/// "<name> is in a meeting and will be back today at 14:30." and its siblings.
///
/// A `back_at` that is not after `now` is not spoken (an absence that should already have
/// ended must not promise a time in the past). A return at 00:00 names only the day ("back
/// tomorrow", "back on Monday the 24th of November"): "tomorrow at midnight" is ambiguous.
pub fn greeting_status(user: i64, status: &GreetingStatus, now: DateTime<Tz>) -> Utterance {
    let mut u = Utterance::new();
    u.push(Piece::Name(user));
    match status {
        GreetingStatus::OnThePhone => {
            u.fragment(f::IS_ON_THE_PHONE);
        }
        GreetingStatus::NotAvailable => {
            u.fragment(f::IS_NOT_AVAILABLE);
        }
        GreetingStatus::Absent { reason, back_at } => {
            u.fragment(reason_fragment(*reason));
            if let Some(back_at) = back_at.filter(|b| *b > now) {
                u.pause(CLAUSE_PAUSE).fragment(f::AND_WILL_BE_BACK);
                when(&mut u, back_at, now, Direction::Future);
            }
        }
    }
    u.pause(SENTENCE_PAUSE);
    u
}

/// "You have one new message and two saved messages." / "You have no messages."
pub fn message_count(new: u32, saved: u32) -> Utterance {
    let mut u = Utterance::new();
    if new == 0 && saved == 0 {
        u.fragment(f::NO_MESSAGES);
    } else {
        u.fragment(f::YOU_HAVE);
        if new > 0 {
            count(&mut u, new, f::NEW_MESSAGE, f::NEW_MESSAGES);
        }
        if new > 0 && saved > 0 {
            u.fragment(f::AND);
        }
        if saved > 0 {
            count(&mut u, saved, f::SAVED_MESSAGE, f::SAVED_MESSAGES);
        }
    }
    u.pause(SENTENCE_PAUSE);
    u
}

/// "Message received today at 14:30, from number 1 2 3 4." The `from` text is a caller's
/// number as the From header gave it; `None`, or one without a single digit, is "from an
/// unknown number".
pub fn envelope(received_at: DateTime<Tz>, from: Option<&str>, now: DateTime<Tz>) -> Utterance {
    let mut u = Utterance::new();
    u.fragment(f::MESSAGE_RECEIVED);
    when(&mut u, received_at, now, Direction::Past);
    u.pause(CLAUSE_PAUSE);
    match from.filter(|s| s.chars().any(|c| c.is_ascii_digit())) {
        Some(number) => {
            u.fragment(f::FROM_NUMBER)
                .push(Piece::Digits(number.to_owned()));
        }
        None => {
            u.fragment(f::UNKNOWN_NUMBER);
        }
    }
    u.pause(SENTENCE_PAUSE);
    u
}

/// "For English press 5.", spoken in `lang` whatever the call's language (the key, 5, is part
/// of the fragment).
pub fn language_offer(lang: Lang) -> Utterance {
    Utterance::from(vec![Piece::InLanguage(f::language_offer(lang), lang)])
}

/// The deposit's offers, said once after the status and before "leave a message after the
/// tone": "For English press 5. · Tast 9 for omstilling. ·" (`language` in that language,
/// `receptionist` in the call's). The keys work from the greeting's first word on, so the
/// offers need no preamble; they are one list of choices and are separated by a
/// [`CLAUSE_PAUSE`] rather than a [`SENTENCE_PAUSE`], as a menu is read. With both offers a
/// Danish status greeting reaches the tone in 9.9 s, within issue #18's 10 s (it took 13.1 s
/// with "For information in English, press · 5. · For at komme til omstillingen, tast · 9.").
/// Empty when there is nothing to offer.
pub fn offers(language: Option<Lang>, receptionist: bool) -> Utterance {
    let mut u = Utterance::new();
    if let Some(lang) = language {
        u.extend(language_offer(lang));
        u.pause(CLAUSE_PAUSE);
    }
    if receptionist {
        u.fragment(f::PRESS_9_FOR_RECEPTION).pause(CLAUSE_PAUSE);
    }
    u
}

/// The fragment a reason is told to callers with. A custom reason's free text is for
/// colleagues; callers hear "is away".
pub fn reason_fragment(reason: Reason) -> FragmentId {
    match reason {
        Reason::Lunch => f::IS_AT_LUNCH,
        Reason::Break => f::IS_ON_A_BREAK,
        Reason::Meeting => f::IS_IN_A_MEETING,
        Reason::Sick => f::IS_ILL,
        Reason::GoneForToday => f::HAS_GONE_FOR_TODAY,
        Reason::Holiday => f::IS_ON_HOLIDAY,
        Reason::OutOfOffice => f::IS_OUT_OF_OFFICE,
        Reason::Custom => f::IS_AWAY,
    }
}

/// Which relative day words apply: a return is today or tomorrow, a message today or
/// yesterday.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Future,
    Past,
}

/// How far ahead a return is still named by its weekday ("on Monday at eight"); from a week on
/// the weekday alone would be ambiguous, so the date is said instead.
const WEEKDAY_DAYS: i64 = 6;

/// The day (relative when near) and the time of `at`, judged in `at`'s timezone — as a person
/// would say it (prompts/README.md, "How times and dates are spoken"):
/// - today or tomorrow: "i dag"/"i morgen" plus the time ("back tomorrow at eight");
/// - a return two to six days ahead: the weekday plus the time ("back on Monday at eight");
/// - a return a week or more ahead: the date alone ("back on Monday the 14th of December") —
///   nobody says the hour of a return three weeks away;
/// - a message received before yesterday: the date plus the time, as the envelope has it.
fn when(u: &mut Utterance, at: DateTime<Tz>, now: DateTime<Tz>, direction: Direction) {
    let day = at.date_naive();
    let today = now.with_timezone(&at.timezone()).date_naive();
    let near = match direction {
        Direction::Future => [
            (today, f::TODAY),
            (today.succ_opt().unwrap_or(today), f::TOMORROW),
        ],
        Direction::Past => [
            (today, f::TODAY),
            (today.pred_opt().unwrap_or(today), f::YESTERDAY),
        ],
    };
    let days_ahead = (day - today).num_days();
    let mut with_time = true;
    match near.into_iter().find(|(d, _)| *d == day) {
        Some((_, word)) => {
            u.fragment(word);
        }
        None if matches!(direction, Direction::Future) && days_ahead <= WEEKDAY_DAYS => {
            u.push(Piece::Weekday(day.weekday()));
        }
        None => {
            u.push(Piece::Date(day));
            with_time = matches!(direction, Direction::Past);
        }
    }
    let time = at.time();
    // A return at 00:00 is the start of the day just named; a message at 00:00 is still told.
    let midnight = NaiveTime::MIN;
    if with_time && !(matches!(direction, Direction::Future) && time == midnight) {
        // The grammars read hours and minutes only: 14:30:59 is "14:30", never rounded up.
        u.push(Piece::Time(time));
    }
}

/// "one new message" / "21 new messages".
fn count(u: &mut Utterance, n: u32, singular: FragmentId, plural: FragmentId) {
    if n == 1 {
        u.fragment(f::COUNT_ONE).fragment(singular);
    } else {
        u.push(Piece::Number(n)).fragment(plural);
    }
}
