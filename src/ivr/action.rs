//! What an IVR machine asks its driver to do: play, record, stop, transfer, hang up, notify,
//! and read or write the store. The driver carries out actions in the order they are polled;
//! store writes in particular must be applied in that order (a `SetState` before the `Delete`
//! of the same message).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::model::{RecordingKind, UserId, VoicemailId};
use crate::domain::{Lang, MessageState};
use crate::speech::Utterance;

/// Names one `Play` action, so its [`super::Event::PromptDone`] can be told from the report of
/// a prompt that was stopped meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayId(pub u64);

/// One output of [`super::Deposit::poll_action`] or [`super::Retrieve::poll_action`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play a prompt; answer [`super::Event::PromptDone`] with `id` when it has played out.
    /// Only one prompt plays at a time: a new `Play` replaces whatever still plays.
    Play {
        /// Echoed in `PromptDone`.
        id: PlayId,
        /// What to play.
        prompt: Prompt,
        /// `true`: any key stops this prompt at once, in the driver, before the digit is
        /// delivered (menus and PIN entry, where every key means something and the caller
        /// must not wait for a round trip). `false`: the prompt plays on through key presses;
        /// the digits are still delivered and the machine sends [`Action::StopPlayback`] when a
        /// key means something (the deposit greeting, where only a few keys do).
        barge_in: bool,
    },
    /// Stop the prompt that plays; no `PromptDone` follows for it.
    StopPlayback,
    /// Start recording the caller: write the audio to durable storage as it arrives (so a
    /// crash keeps what was said) and answer [`super::Event::RecordingDone`] when it ends.
    /// The recording (the "take") stays with the driver until `Store(SaveMessage)`,
    /// `Store(SaveRecording)` or `DiscardRecording` says what becomes of it.
    Record {
        /// End the recording after this long (`RecordingEnd::MaxLength`).
        max: Duration,
        /// End it after this much continuous silence (`RecordingEnd::Silence`).
        silence_timeout: Duration,
        /// Play the record tone (`prompts/common/beep.wav`) immediately before recording, so
        /// no audio is lost between tone and recorder.
        beep_first: bool,
    },
    /// Stop the recording; `RecordingDone { ended_by: Stopped, .. }` follows.
    StopRecording,
    /// Throw the take away (too short, not accepted, re-recorded).
    DiscardRecording,
    /// Hand the caller to `number` through the B2BUA (receptionist group, call back). The IVR
    /// leg is finished after this.
    Transfer {
        /// The number to connect the caller to.
        number: String,
    },
    /// End the call (BYE on the A leg).
    HangUp,
    /// A new message has been stored: light the message-waiting lamp (RFC 3842 NOTIFY) and
    /// send the e-mail/SMS the user chose.
    Notify {
        /// The mailbox owner.
        user: UserId,
        /// The new message.
        message: VoicemailId,
    },
    /// Read or write the store; the answer comes back as [`super::Event::StoreReply`].
    Store(StoreRequest),
}

/// Something the caller hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Stitched fragments: `speech::render(&utterance, lang)`.
    Speech {
        /// What is said.
        utterance: Utterance,
        /// In which language.
        lang: Lang,
        /// For each `Piece::Name`: `true` plays the user's own recorded name (falling back to
        /// the generated name file when they have none), `false` the generated name file.
        own_name: bool,
    },
    /// The mailbox owner's stored recording: their greeting after the status.
    Recording(RecordingKind),
    /// A stored message's audio.
    Message(VoicemailId),
    /// The take just recorded and not yet accepted ("to listen to the recording, press 2").
    Take,
}

/// A store request. Reads and the message save are answered with data; writes with
/// `StoreReply::Written` or `StoreReply::Failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    /// Store the take as a new message (state "new") durably, then answer `MessageSaved`.
    SaveMessage {
        /// The mailbox.
        user: UserId,
        /// Calling number as presented (From / P-Asserted-Identity user part).
        caller_number: Option<String>,
        /// Calling display name as presented.
        caller_name: Option<String>,
        /// When the caller started speaking (the tone).
        received_at: DateTime<Utc>,
        /// Length of the audio, as `RecordingDone` reported it.
        duration_ms: u64,
    },
    /// Check a login: `pin: None` only when the caller is at the owner's own device and the
    /// owner turned the PIN off there. The driver verifies the PIN against the stored hash,
    /// counts failures and applies the lockout, and answers `Login(..)`.
    Login {
        /// Whose mailbox.
        mailbox: Mailbox,
        /// The PIN typed.
        pin: Option<Pin>,
    },
    /// All of the user's messages: answered `Messages(..)`.
    LoadMessages {
        /// The mailbox owner.
        user: UserId,
    },
    /// Mark a message read or saved.
    SetState {
        /// The mailbox owner (the store checks ownership).
        user: UserId,
        /// The message.
        id: VoicemailId,
        /// The new state.
        state: MessageState,
    },
    /// Delete a message (sent when the caller leaves the mailbox: deletes can be undone
    /// until then).
    Delete {
        /// The mailbox owner.
        user: UserId,
        /// The message.
        id: VoicemailId,
    },
    /// Store the take as the user's name or greeting.
    SaveRecording {
        /// The mailbox owner.
        user: UserId,
        /// Name or greeting.
        kind: RecordingKind,
    },
    /// Hash and store a new PIN (already checked against the PIN rules); clears
    /// "must change".
    ChangePin {
        /// The mailbox owner.
        user: UserId,
        /// The new PIN.
        pin: Pin,
    },
}

/// How a caller named the mailbox to log in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailbox {
    /// The caller is at one of the owner's own devices.
    Own(UserId),
    /// The caller typed a local number (calling the access number from elsewhere).
    LocalNumber(String),
}

/// Digits typed as a PIN. `Debug` does not show them: actions are traced, PINs never are.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// Wraps typed digits.
    pub fn new(digits: impl Into<String>) -> Self {
        Pin(digits.into())
    }

    /// The digits, for hashing or verifying.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin(<{} digits>)", self.0.len())
    }
}
