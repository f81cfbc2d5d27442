//! The one face both IVR machines show their driver: events in through `handle(now, event)`,
//! actions out through `poll_action()`, one deadline through `poll_timeout()` (CONTRIBUTING.md
//! rule 6, as quinn-proto's `Connection`). The deposit ([`super::Deposit`]) and the retrieval
//! ([`super::Retrieve`]) differ in what they decide, not in how they are driven, so one driver
//! loop (`runtime::ivr_driver`) runs either, and one test harness (`ivr::tests`) scripts both.
//!
//! In the call flow: the SIP side answered the caller's INVITE (RFC 3261 §13.3.1.4), the media
//! session runs, and the driver feeds keys (RFC 4733 or SIP INFO), prompt and recording ends,
//! the hang-up (a BYE, RFC 3261 §15.1.2: an input, never a cancellation) and store answers to
//! the machine, carrying out what it asks in the order it asks it.

use std::time::Instant;

use crate::domain::Lang;

use super::action::Action;
use super::event::Event;

/// An IVR state machine as its driver sees it. Sans-I/O: no method reads a clock, awaits or
/// touches a socket.
pub trait Machine {
    /// Feeds one event that happened at `now`.
    fn handle(&mut self, now: Instant, event: Event);
    /// The next action to carry out, in order; `None` when the queue is empty.
    fn poll_action(&mut self) -> Option<Action>;
    /// When to feed [`Event::Timeout`]; `None` when nothing is timed.
    fn poll_timeout(&self) -> Option<Instant>;
    /// True when the machine has nothing more to do (after its actions are drained): after a
    /// hang-up, only once the message is saved and the held deletes are sent.
    fn is_finished(&self) -> bool;
    /// The language the caller hears now (the record tone is taken from it).
    fn lang(&self) -> Lang;
}

impl Machine for super::Deposit {
    fn handle(&mut self, now: Instant, event: Event) {
        super::Deposit::handle(self, now, event);
    }
    fn poll_action(&mut self) -> Option<Action> {
        super::Deposit::poll_action(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        super::Deposit::poll_timeout(self)
    }
    fn is_finished(&self) -> bool {
        super::Deposit::is_finished(self)
    }
    fn lang(&self) -> Lang {
        super::Deposit::lang(self)
    }
}

impl Machine for super::Retrieve {
    fn handle(&mut self, now: Instant, event: Event) {
        super::Retrieve::handle(self, now, event);
    }
    fn poll_action(&mut self) -> Option<Action> {
        super::Retrieve::poll_action(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        super::Retrieve::poll_timeout(self)
    }
    fn is_finished(&self) -> bool {
        super::Retrieve::is_finished(self)
    }
    fn lang(&self) -> Lang {
        super::Retrieve::lang(self)
    }
}
