//! What the IVR wants said, in meaning rather than in words: "the user's name", "14:30", "3".
//! [`super::render`] turns it into fragments with one language's grammar.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};

use super::fragment::FragmentId;
use crate::domain::Lang;

/// The longest digit string spoken by [`Piece::Digits`]; E.164 allows 15 digits, a SIP user part
/// may carry a prefix or extension. Longer input (from a caller's From header) is cut, so a
/// hostile header cannot make the IVR speak for minutes.
pub const MAX_DIGITS: usize = 32;

/// One semantic piece of an utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A fixed fragment, in the utterance's language.
    Fragment(FragmentId),
    /// A fixed fragment in a given language, whatever the utterance's language: "For
    /// English press 5." is said in English inside a Danish greeting.
    InLanguage(FragmentId, Lang),
    /// A user's name; the IVR plays their recorded name, or the name file made by
    /// `prompts/generate.sh --name`. The number is the store's user id.
    Name(i64),
    /// A moment of the day *with its preposition*: "at 14:30" / "klokken fjorten tredive" /
    /// "at midnight".
    Time(NaiveTime),
    /// A calendar day *with its preposition and weekday*: "on Monday the twenty-fourth of
    /// November" / "på mandag den fireogtyvende november". The year is not spoken.
    Date(NaiveDate),
    /// A day of the coming week *with its preposition*: "on Monday" / "på mandag" / "på
    /// måndag" — how a return two to six days away is said ("back on Monday at eight").
    Weekday(Weekday),
    /// A cardinal number ("twenty-one"); above 999 999 it is read digit by digit.
    Number(u32),
    /// A string read key by key (a phone number): `0`–`9`, `*`, `#`, `+`; other characters
    /// are skipped, and at most [`MAX_DIGITS`] are read.
    Digits(String),
    /// Silence between clauses.
    Pause(Duration),
}

/// A sentence (or several) to be said, as a list of [`Piece`]s.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Utterance {
    pieces: Vec<Piece>,
}

impl Utterance {
    /// An empty utterance.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a piece.
    pub fn push(&mut self, piece: Piece) -> &mut Self {
        self.pieces.push(piece);
        self
    }

    /// Appends a fixed fragment.
    pub fn fragment(&mut self, id: FragmentId) -> &mut Self {
        self.push(Piece::Fragment(id))
    }

    /// Appends a pause.
    pub fn pause(&mut self, pause: Duration) -> &mut Self {
        self.push(Piece::Pause(pause))
    }

    /// Appends all of `other`, so sentences built apart can be played as one prompt.
    pub fn extend(&mut self, other: Utterance) -> &mut Self {
        self.pieces.extend(other.pieces);
        self
    }

    /// The pieces, in speaking order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }
}

impl From<Vec<Piece>> for Utterance {
    fn from(pieces: Vec<Piece>) -> Self {
        Self { pieces }
    }
}

impl FromIterator<Piece> for Utterance {
    fn from_iter<I: IntoIterator<Item = Piece>>(iter: I) -> Self {
        Self {
            pieces: iter.into_iter().collect(),
        }
    }
}
