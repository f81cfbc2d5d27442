//! [`Transfer`]: "press 9" (and any transfer out of the IVR) carried by the B2BUA, as a
//! sans-I/O state machine over a call we answered for the IVR.
//!
//! # Why we bridge instead of REFER
//! A REFER (RFC 3515) asks the caller's side to place the new call itself. Many trunks and
//! phones refuse it, and then the caller was left with nothing. We are in the call path: the
//! caller's existing dialog with our IVR is kept, a new call to the destination is placed
//! through our own routing (the driver hands an INVITE shaped as if the caller had dialled the
//! number to the B2BUA, as click-to-call does, so a group rings its members and a user's
//! devices ring as for any call), and only once the destination answers is the caller's media
//! moved to it with a re-INVITE (RFC 3261 §14, RFC 3264 §8) whose offer is the destination's
//! answer as anchored by the B2BUA. Until then the caller stays with the IVR, which plays
//! ringback; when the destination refuses, or does not answer in time, the caller is back in
//! voicemail with nothing changed on their side.
//!
//! ```text
//!   Ringing ──2xx──▶ MovingMedia ──caller 2xx──▶ Bridged
//!     │  └─timeout─▶ Cancelling ──final──▶ Failed(NoAnswer)
//!     └─≥300─▶ Failed(Refused)          MovingMedia ──caller ≥300──▶ Failed(MediaNotMoved)
//! ```
//!
//! The machine decides; the driver (`runtime::ivr_leg::transfer`) owns the dialogs, the
//! transaction layer and the B2BUA call.

use std::time::{Duration, Instant};

use tracing::debug;

/// The default time the destination may ring before the caller goes back to voicemail.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What happens to the transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A response of the destination's call (the B2BUA's answer to our INVITE), with its SDP
    /// for a 2xx.
    TargetResponse {
        /// Status code.
        code: u16,
        /// The answer's body (SDP), if any.
        sdp: Option<String>,
    },
    /// The caller's final answer to our re-INVITE moving its media (`true`: 2xx).
    CallerAnswered(bool),
    /// The caller hung up while the transfer was under way.
    CallerHungUp,
}

/// Why the caller stays with (or goes back to) voicemail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The destination did not answer within the timeout.
    NoAnswer,
    /// The destination refused with this status (busy, declined, not found …).
    Refused(u16),
    /// The destination answered without SDP, or the caller refused our re-INVITE.
    MediaNotMoved,
    /// The caller hung up; nothing more to do for them.
    CallerGone,
}

/// What the driver carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Place the call to the destination (hand the INVITE to the B2BUA).
    StartTarget,
    /// ACK the destination's 2xx.
    AckTarget,
    /// Stop ringing the destination (CANCEL its call).
    CancelTarget,
    /// End the destination's call (BYE, after an answer we no longer want).
    HangUpTarget,
    /// Re-INVITE the caller with this offer (the destination's media as anchored).
    ReinviteCaller {
        /// The offer.
        sdp: String,
    },
    /// ACK the caller's 2xx to the re-INVITE.
    AckCaller,
    /// The caller talks to the destination: hand the caller's dialog to the B2BUA call.
    Bridged,
    /// The transfer is over without a bridge: back to voicemail (unless the caller is gone).
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing { deadline: Instant },
    Cancelling,
    MovingMedia,
    Over,
}

/// One transfer.
#[derive(Debug)]
pub struct Transfer {
    state: State,
    actions: std::collections::VecDeque<Action>,
}

impl Transfer {
    /// Starts a transfer at `now`; the destination may ring for `timeout`.
    pub fn new(now: Instant, timeout: Duration) -> Self {
        Transfer {
            state: State::Ringing {
                deadline: now + timeout,
            },
            actions: [Action::StartTarget].into(),
        }
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Ringing { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Whether nothing more will happen.
    pub fn is_over(&self) -> bool {
        self.state == State::Over && self.actions.is_empty()
    }

    /// The destination rang too long: cancel it; its final answer ends the transfer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Ringing { deadline } = self.state {
            if now >= deadline {
                debug!("transfer: no answer in time, cancelling");
                self.actions.push_back(Action::CancelTarget);
                self.state = State::Cancelling;
            }
        }
    }

    /// Feeds an event.
    pub fn handle(&mut self, event: Event) {
        match (self.state, event) {
            (State::Ringing { .. }, Event::TargetResponse { code, sdp }) if code >= 200 => {
                if code >= 300 {
                    self.fail(Failure::Refused(code));
                    return;
                }
                self.actions.push_back(Action::AckTarget);
                match sdp.filter(|s| !s.trim().is_empty()) {
                    Some(sdp) => {
                        self.actions.push_back(Action::ReinviteCaller { sdp });
                        self.state = State::MovingMedia;
                    }
                    None => {
                        self.actions.push_back(Action::HangUpTarget);
                        self.fail(Failure::MediaNotMoved);
                    }
                }
            }
            (State::Cancelling, Event::TargetResponse { code, .. }) if code >= 200 => {
                if code < 300 {
                    // The answer crossed our CANCEL (§9.1): take it and end it.
                    self.actions.push_back(Action::AckTarget);
                    self.actions.push_back(Action::HangUpTarget);
                }
                self.fail(Failure::NoAnswer);
            }
            (State::MovingMedia, Event::CallerAnswered(ok)) => {
                if ok {
                    self.actions.push_back(Action::AckCaller);
                    self.actions.push_back(Action::Bridged);
                    self.state = State::Over;
                } else {
                    self.actions.push_back(Action::HangUpTarget);
                    self.fail(Failure::MediaNotMoved);
                }
            }
            (State::Ringing { .. } | State::Cancelling, Event::CallerHungUp) => {
                self.actions.push_back(Action::CancelTarget);
                self.fail(Failure::CallerGone);
            }
            (State::MovingMedia, Event::CallerHungUp) => {
                self.actions.push_back(Action::HangUpTarget);
                self.fail(Failure::CallerGone);
            }
            _ => {}
        }
    }

    fn fail(&mut self, why: Failure) {
        debug!(?why, "transfer failed");
        self.actions.push_back(Action::Failed(why));
        self.state = State::Over;
    }
}

/// The re-INVITE's offer to the caller: the destination's answer (as anchored), with the
/// origin line of our last SDP to the caller and its version one higher. RFC 3264 §8: a
/// modified session keeps the origin's username, session id and address and increments the
/// version, or the caller's phone takes it for a different session.
pub fn reoffer(our_last_sdp: &str, destination_sdp: &str) -> String {
    let origin = our_last_sdp
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("o="))
        .and_then(|o| {
            let mut parts: Vec<String> = o.split_whitespace().map(str::to_owned).collect();
            let version: u64 = parts.get(2)?.parse().ok()?;
            parts[2] = version.saturating_add(1).to_string();
            Some(format!("o={}", parts.join(" ")))
        });
    let mut out = String::with_capacity(destination_sdp.len());
    for line in destination_sdp.lines() {
        let line = line.trim_end_matches('\r');
        match (&origin, line.starts_with("o=")) {
            (Some(origin), true) => out.push_str(origin),
            _ => out.push_str(line),
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The origin of virtual time: any instant will do, the machine only compares.
    #[allow(clippy::disallowed_methods)] // an arbitrary origin, never a timing
    fn origin() -> Instant {
        Instant::now()
    }

    fn drain(t: &mut Transfer) -> Vec<Action> {
        std::iter::from_fn(|| t.poll_action()).collect()
    }

    fn answered() -> Event {
        Event::TargetResponse {
            code: 200,
            sdp: Some("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n".into()),
        }
    }

    #[test]
    fn an_answer_moves_the_callers_media_then_bridges() {
        let t0 = origin();
        let mut t = Transfer::new(t0, DEFAULT_TIMEOUT);
        assert_eq!(drain(&mut t), [Action::StartTarget]);
        t.handle(Event::TargetResponse {
            code: 180,
            sdp: None,
        });
        assert!(drain(&mut t).is_empty(), "ringing changes nothing");
        t.handle(answered());
        let actions = drain(&mut t);
        assert_eq!(actions[0], Action::AckTarget);
        assert!(matches!(actions[1], Action::ReinviteCaller { .. }));
        assert_eq!(t.poll_timeout(), None, "answered: no more ring timer");
        t.handle(Event::CallerAnswered(true));
        assert_eq!(drain(&mut t), [Action::AckCaller, Action::Bridged]);
        assert!(t.is_over());
    }

    #[test]
    fn a_refusal_sends_the_caller_back_to_voicemail() {
        let mut t = Transfer::new(origin(), DEFAULT_TIMEOUT);
        drain(&mut t);
        t.handle(Event::TargetResponse {
            code: 486,
            sdp: None,
        });
        assert_eq!(drain(&mut t), [Action::Failed(Failure::Refused(486))]);
        assert!(t.is_over());
    }

    #[test]
    fn no_answer_in_time_cancels_and_fails_in_virtual_time() {
        let t0 = origin();
        let mut t = Transfer::new(t0, Duration::from_secs(20));
        drain(&mut t);
        t.handle_timeout(t0 + Duration::from_secs(19));
        assert!(drain(&mut t).is_empty(), "not yet");
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(20)));
        t.handle_timeout(t0 + Duration::from_secs(20));
        assert_eq!(drain(&mut t), [Action::CancelTarget]);
        t.handle(Event::TargetResponse {
            code: 487,
            sdp: None,
        });
        assert_eq!(drain(&mut t), [Action::Failed(Failure::NoAnswer)]);
    }

    #[test]
    fn an_answer_crossing_the_cancel_is_taken_and_hung_up() {
        let t0 = origin();
        let mut t = Transfer::new(t0, Duration::from_secs(5));
        drain(&mut t);
        t.handle_timeout(t0 + Duration::from_secs(6));
        drain(&mut t);
        t.handle(answered());
        assert_eq!(
            drain(&mut t),
            [
                Action::AckTarget,
                Action::HangUpTarget,
                Action::Failed(Failure::NoAnswer)
            ]
        );
    }

    #[test]
    fn a_caller_refusing_the_reinvite_stays_in_voicemail_and_the_destination_is_released() {
        let mut t = Transfer::new(origin(), DEFAULT_TIMEOUT);
        drain(&mut t);
        t.handle(answered());
        drain(&mut t);
        t.handle(Event::CallerAnswered(false));
        assert_eq!(
            drain(&mut t),
            [Action::HangUpTarget, Action::Failed(Failure::MediaNotMoved)]
        );
    }

    #[test]
    fn a_caller_hanging_up_while_it_rings_cancels_the_destination() {
        let mut t = Transfer::new(origin(), DEFAULT_TIMEOUT);
        drain(&mut t);
        t.handle(Event::CallerHungUp);
        assert_eq!(
            drain(&mut t),
            [Action::CancelTarget, Action::Failed(Failure::CallerGone)]
        );
        t.handle(answered());
        assert!(
            drain(&mut t).is_empty(),
            "over: late answers change nothing"
        );
    }

    #[test]
    fn an_answer_without_sdp_is_hung_up() {
        let mut t = Transfer::new(origin(), DEFAULT_TIMEOUT);
        drain(&mut t);
        t.handle(Event::TargetResponse {
            code: 200,
            sdp: None,
        });
        assert_eq!(
            drain(&mut t),
            [
                Action::AckTarget,
                Action::HangUpTarget,
                Action::Failed(Failure::MediaNotMoved)
            ]
        );
    }

    #[test]
    fn the_reoffer_keeps_our_origin_with_a_higher_version() {
        let ours = "v=0\r\no=onestatus 42 7 IN IP4 127.0.0.1\r\ns=-\r\n";
        let theirs = "v=0\r\no=relay 9 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 8\r\n";
        let offer = reoffer(ours, theirs);
        assert!(
            offer.contains("o=onestatus 42 8 IN IP4 127.0.0.1\r\n"),
            "{offer}"
        );
        assert!(offer.contains("m=audio 4000 RTP/AVP 8\r\n"), "{offer}");
        assert!(!offer.contains("relay 9"), "{offer}");
    }
}
