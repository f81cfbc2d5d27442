//! From an [`Utterance`] to the list of things the media player plays, in one language.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};

use super::fragment::{self as f, FragmentId};
use super::utterance::{Piece, Utterance, MAX_DIGITS};
use super::{da, en, sv};
use crate::domain::Lang;

/// Between two words of a clause ("er til møde · og er tilbage · i dag · klokken · fjorten").
/// The fragments are trimmed to their sound, so stitched end to end they ran together with no
/// gap at all; a speaker leaves 50-100 ms at most word boundaries, and 80 ms sounds like one
/// sentence rather than a list of words.
pub const WORD_GAP: Duration = Duration::from_millis(80);
/// Between two digits read key by key (a phone number, "press 5"): people group and separate
/// digits so each is heard; 150 ms keeps a ten-digit number under 6 s.
pub const DIGIT_GAP: Duration = Duration::from_millis(150);

/// Numbers above this are read digit by digit: no prompt needs "millions", and a bounded
/// grammar cannot be made to recurse by a large input.
const MAX_SPOKEN_NUMBER: u32 = 999_999;

/// One thing for the player: a fragment file, a user's name, or silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A fragment of `prompts/` in a language ([`super::FragmentLibrary::path`] finds its file;
    /// language-independent ones such as the beep fall back to `common`).
    Fragment {
        /// Which fragment.
        id: FragmentId,
        /// In which language.
        lang: Lang,
    },
    /// The user's name: their recording, or the generated name file (the IVR decides).
    Name(i64),
    /// Silence of this length.
    Silence(Duration),
}

/// Renders `utterance` with `lang`'s grammar. Adjacent pauses are merged; nothing is dropped;
/// words and digits next to each other get [`WORD_GAP`] / [`DIGIT_GAP`] between them.
pub fn render(utterance: &Utterance, lang: Lang) -> Vec<Segment> {
    spaced(render_words(utterance, lang))
}

/// Puts a short silence between two sounds that follow each other directly: [`DIGIT_GAP`]
/// between two digits, [`WORD_GAP`] between any other two (a name and a word included). A
/// pause already there is left as it is.
fn spaced(segments: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len() * 2);
    for segment in segments {
        let gap = match (out.last(), &segment) {
            (Some(Segment::Silence(_)) | None, _) | (_, Segment::Silence(_)) => None,
            (Some(previous), current) if is_digit(previous) && is_digit(current) => Some(DIGIT_GAP),
            _ => Some(WORD_GAP),
        };
        if let Some(gap) = gap {
            out.push(Segment::Silence(gap));
        }
        out.push(segment);
    }
    out
}

fn is_digit(segment: &Segment) -> bool {
    matches!(segment, Segment::Fragment { id, .. } if id.as_str().starts_with("digit_"))
}

fn render_words(utterance: &Utterance, lang: Lang) -> Vec<Segment> {
    let mut out = Vec::with_capacity(utterance.pieces().len() * 2);
    let mut words = Vec::new();
    for piece in utterance.pieces() {
        words.clear();
        match piece {
            Piece::Fragment(id) => words.push(id.clone()),
            Piece::InLanguage(id, other) => {
                out.push(Segment::Fragment {
                    id: id.clone(),
                    lang: *other,
                });
            }
            Piece::Name(user) => out.push(Segment::Name(*user)),
            Piece::Time(t) => time(lang, *t, &mut words),
            Piece::Date(d) => date(lang, *d, &mut words),
            // "on Monday" / "på mandag" / "på måndag": the preposition and the weekday, the
            // same two words every language's date begins with.
            Piece::Weekday(w) => words.extend([f::ON, FragmentId::weekday(*w)]),
            Piece::Number(n) if *n <= MAX_SPOKEN_NUMBER => number(lang, *n, &mut words),
            Piece::Number(n) => digits(&n.to_string(), &mut words),
            Piece::Digits(s) => digits(s, &mut words),
            Piece::Pause(d) => match out.last_mut() {
                Some(Segment::Silence(previous)) => *previous += *d,
                _ => out.push(Segment::Silence(*d)),
            },
        }
        out.extend(words.drain(..).map(|id| Segment::Fragment { id, lang }));
    }
    out
}

/// Replaces the user's name by their number read digit by digit, for a user with no recorded
/// name ("you have called 4 5 7 0 …"). The number is said once: a greeting names the user
/// twice ("You have called <name>. <name> is in a meeting …"), and a ten-digit number read
/// twice is a long wait for the caller, so later names are left out ("You have called 4 5 7 0
/// … . Is in a meeting …"). An empty number leaves every name out.
pub fn name_as_number(segments: Vec<Segment>, number: &str, lang: Lang) -> Vec<Segment> {
    let mut out = Vec::with_capacity(segments.len() + number.len());
    let mut said = false;
    for segment in segments {
        match segment {
            Segment::Name(_) if said => {}
            Segment::Name(_) => {
                said = true;
                let mut words = Vec::new();
                digits(number, &mut words);
                out.extend(words.into_iter().map(|id| Segment::Fragment { id, lang }));
            }
            other => out.push(other),
        }
    }
    spaced(out)
}

fn time(lang: Lang, t: NaiveTime, out: &mut Vec<FragmentId>) {
    match lang {
        Lang::Da => da::time(t, out),
        Lang::Sv => sv::time(t, out),
        Lang::En => en::time(t, out),
    }
}

fn date(lang: Lang, d: NaiveDate, out: &mut Vec<FragmentId>) {
    match lang {
        Lang::Da => da::date(d, out),
        Lang::Sv => sv::date(d, out),
        Lang::En => en::date(d, out),
    }
}

fn number(lang: Lang, n: u32, out: &mut Vec<FragmentId>) {
    match lang {
        Lang::Da => da::number(n, out),
        Lang::Sv => sv::number(n, out),
        Lang::En => en::number(n, out),
    }
}

/// Key by key, the same in every language (the words differ only in the recordings).
fn digits(s: &str, out: &mut Vec<FragmentId>) {
    let keys = s.chars().filter_map(|c| match c {
        '0'..='9' => c.to_digit(10).map(FragmentId::digit),
        '*' => Some(f::STAR),
        '#' => Some(f::POUND),
        '+' => Some(f::PLUS),
        _ => None,
    });
    out.extend(keys.take(MAX_DIGITS));
}
