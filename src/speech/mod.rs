//! The voice of OneVoicemail: from what the IVR wants said to the prompt files that say it.
//!
//! The IVR (`ivr::deposit`, `ivr::retrieve`) builds an [`Utterance`] of meanings — a name, "back at 14:30",
//! "3 new messages" — with the builders in [`sentences`]; [`render`] turns it into
//! [`Segment`]s with one language's grammar ([`da`], [`sv`], [`en`]: each decides how that
//! language says a time, a date and a number); [`FragmentLibrary`] maps each segment to a WAV
//! file under `prompts/`, whose inventory, voice and keypad layout `prompts/README.md`
//! documents. No audio is decoded here and no clock is read: `now` is a parameter.

mod da;
mod en;
pub mod fragment;
pub mod level;
mod library;
mod render;
pub mod sentences;
mod sv;
mod utterance;

#[cfg(test)]
mod tests;

pub use fragment::FragmentId;
pub use library::{FragmentLibrary, Resolved, SpeechError};
pub use render::{name_as_number, render, Segment, DIGIT_GAP, WORD_GAP};
pub use sentences::{
    envelope, greeting_status, language_offer, message_count, offers, welcome, GreetingStatus,
};
pub use utterance::{Piece, Utterance, MAX_DIGITS};
