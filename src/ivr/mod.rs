//! OneVoicemail's two IVRs as sans-I/O state machines (style guide §7.3): [`Deposit`] greets a
//! caller and records a message; [`Retrieve`] lets the mailbox owner listen to messages and
//! manage the mailbox by phone.
//!
//! In the call flow they sit behind the B2BUA's A leg, once [`crate::routing`] has sent the
//! call to voicemail (deposit) or the caller dialled the access number (retrieval). A driver
//! owns the media session and the store; it feeds each machine [`Event`]s with `handle(now,
//! event)`, carries out every [`Action`] from `poll_action()` in order, and sends
//! [`Event::Timeout`] when `poll_timeout()` is reached: the [`Machine`] face both share, so one
//! driver loop (`runtime::ivr_driver`) runs either. The machines do no I/O, never read a
//! clock and never await: store reads and writes are actions whose answers come back as
//! [`Event::StoreReply`]. What is said is an [`crate::speech::Utterance`] (rendered with the
//! call's language by [`crate::speech::render`]) or a stored recording ([`Prompt`]).

mod action;
pub mod deposit;
mod event;
mod machine;
mod outbox;
pub mod retrieve;

#[cfg(test)]
mod tests;

pub use action::{Action, Mailbox, Pin, PlayId, Prompt, StoreRequest};
pub use deposit::{Caller, Deposit, DepositSetup, RecordingLimits};
pub use event::{Event, LoginResult, MailboxInfo, RecordingEnd, StoreReply};
pub use machine::Machine;
pub use retrieve::{Entry, Retrieve, RetrieveSetup, Timeouts};
