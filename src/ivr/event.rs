//! What the driver tells an IVR machine: a key, the end of a prompt or a recording, a hang-up,
//! a deadline reached, or the answer to a store request the machine asked for.

use crate::domain::model::{UserId, VoicemailId, VoicemailMessage};
use crate::domain::Lang;
use crate::media::dtmf::Digit;

use super::action::PlayId;

/// One input to [`super::Deposit::handle`] or [`super::Retrieve::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key press, from RFC 4733 telephone-events or a SIP INFO body (`media::dtmf`). Digits
    /// are delivered whatever plays; see [`super::Action::Play`] for barge-in.
    Digit(Digit),
    /// The prompt started by the `Play` action with this id has played to its end. A prompt
    /// stopped by barge-in or [`super::Action::StopPlayback`] reports nothing; the id lets the
    /// machine ignore a report that crossed a stop on its way in.
    PromptDone(PlayId),
    /// The recording started by `Record` has ended and its audio is held by the driver until
    /// the machine saves or discards it.
    RecordingDone {
        /// Length of the audio kept, without the trailing silence that ended it (the driver
        /// trims what the silence detector waited through, as Asterisk does).
        duration_ms: u64,
        /// Voiced speech in it, as the recorder's voice activity detector heard it
        /// (`media::vad`): the deposit keeps a message only with at least
        /// `media::vad::MIN_SPEECH` of it, whatever its length.
        speech_ms: u64,
        /// Why it ended.
        ended_by: RecordingEnd,
    },
    /// The caller hung up (BYE or CANCEL on the A leg). The machine may still emit actions
    /// (a `StopRecording`, a `SaveMessage`, deletes to commit), which the driver must carry
    /// out before dropping the machine: see `is_finished`.
    Hangup,
    /// The instant returned by `poll_timeout` has been reached.
    Timeout,
    /// The answer to a [`super::Action::Store`] request.
    StoreReply(StoreReply),
    /// The [`super::Action::Transfer`] did not reach the destination (refused, no answer in
    /// time, a REFER refused): the caller is still with us and goes back to the IVR.
    TransferFailed,
}

/// Why a recording ended, as the driver's recorder saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingEnd {
    /// The caller pressed `#` (for a recorder that watches the key itself).
    Pound,
    /// The silence timeout of the `Record` action ran out.
    Silence,
    /// The maximum length of the `Record` action was reached.
    MaxLength,
    /// The media stream ended with the call.
    Hangup,
    /// The machine asked for it with `StopRecording`.
    Stopped,
}

/// The store's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    /// `SaveMessage` is committed durably under this id.
    MessageSaved(VoicemailId),
    /// The answer to `Login`.
    Login(LoginResult),
    /// The answer to `LoadMessages`: the mailbox's messages, in any order.
    Messages(Vec<VoicemailMessage>),
    /// A write (`SetState`, `Delete`, `SaveRecording`, `ChangePin`) is done.
    Written,
    /// The request failed; the driver has logged why. The machine tells the caller nothing
    /// that would be untrue (no "message saved", no "pin changed").
    Failed,
}

/// The outcome of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginResult {
    /// The PIN was right (or not required): the mailbox is open.
    Granted(MailboxInfo),
    /// Wrong PIN, or a local number that names no mailbox (the two are told apart to nobody,
    /// so the keypad cannot be used to find valid local numbers). The driver has counted the
    /// failure against the user (`Store::user_record_pin_failure`).
    WrongPin,
    /// The mailbox is locked after repeated failures.
    Locked,
}

/// What the retrieval menu needs to know about the mailbox once it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// The mailbox owner.
    pub user: UserId,
    /// The owner's local number: a new PIN may not be it (`pin::validate_new_pin`).
    pub local_number: String,
    /// The owner's prompt language; the rest of the call is spoken in it.
    pub lang: Lang,
    /// The owner's timezone, in which envelopes say "today at 14:30".
    pub timezone: chrono_tz::Tz,
    /// Jump straight to the newest new message after login.
    pub quick_listen: bool,
    /// The PIN was given to the user (a random initial PIN, or a reset) and must be changed
    /// before anything else.
    pub pin_must_change: bool,
    /// Digits a new PIN needs at least (`[security] pin_min_length`).
    pub pin_min_length: usize,
}
