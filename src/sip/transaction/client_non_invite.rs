//! The non-INVITE client transaction: RFC 3261 §17.1.2.
//!
//! Used for everything the B2BUA sends that is not an INVITE: BYE, CANCEL, OPTIONS, NOTIFY
//! (MWI), MESSAGE. Over UDP the request is retransmitted by Timer E, doubling from T1 up to T2
//! (and every T2 once a provisional arrived); Timer F gives up; Timer K absorbs retransmitted
//! final responses.
//!
//! ```text
//!        request sent
//!  Timer E  +--------+  Timer F / transport error
//!  resend   | Trying |---------------------------------+
//!  ------>  +--------+                                 |
//!              |1xx     |200-699                       |
//!              v        |                              |
//!  Timer E  +------------+  Timer F / transport error   |
//!  resend   | Proceeding |-----------------------------+|
//!  ------>  +------------+                             ||
//!              |200-699 |                              ||
//!              v        v                              vv
//!           +-----------+  Timer K   +-------------------+
//!           | Completed |----------->|    Terminated     |
//!           +-----------+            +-------------------+
//! ```

use std::time::Instant;

use rsip::{Request, Response, SipMessage};

use super::fields;
use super::timer::{Retransmit, Timer, TimerConfig};
use super::{Action, TransportKind};

/// The states of §17.1.2.2 (Figure 6), each with the timers that run in it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientNonInviteState {
    /// Request sent, nothing heard yet.
    Trying {
        /// Timer E: the next retransmission (unreliable transports only).
        timer_e: Option<Retransmit>,
        /// Timer F: the transaction timeout.
        timer_f: Instant,
    },
    /// A provisional arrived; retransmissions continue, every T2.
    Proceeding {
        /// Timer E, now firing every T2.
        timer_e: Option<Retransmit>,
        /// Timer F, still running.
        timer_f: Instant,
    },
    /// A final response arrived; its retransmissions are absorbed until Timer K.
    Completed {
        /// Timer K: wait time for response retransmits.
        timer_k: Instant,
    },
    /// Done; the owner removes the transaction.
    Terminated,
}

impl ClientNonInviteState {
    /// The state's name as in the RFC, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Trying { .. } => "Trying",
            Self::Proceeding { .. } => "Proceeding",
            Self::Completed { .. } => "Completed",
            Self::Terminated => "Terminated",
        }
    }
}

/// The inputs of the non-INVITE client machine.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientNonInviteInput {
    /// A response matched to this transaction (§17.1.3).
    Response(Response),
    /// One of this machine's timers (E, F, K) reached its deadline.
    TimerFired(Timer),
    /// The transport could not send the request (§17.1.4).
    TransportError,
}

/// One non-INVITE client transaction.
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    /// The request, kept for retransmission.
    request: Request,
    /// T1/T2/T4.
    config: TimerConfig,
    /// Decides whether Timer E runs and whether Timer K is zero.
    transport: TransportKind,
    /// Where the machine is.
    state: ClientNonInviteState,
}

impl ClientNonInvite {
    /// Starts the transaction at `now`: the request is passed to the transport, Timer F is
    /// set to 64·T1 and, for unreliable transports, Timer E to T1 (§17.1.2.2).
    pub fn new(
        now: Instant,
        request: Request,
        config: TimerConfig,
        transport: TransportKind,
        out: &mut Vec<Action>,
    ) -> Self {
        out.push(Action::Transmit(SipMessage::Request(request.clone())));
        let timer_e = config
            .initial(Timer::E, transport)
            .map(|interval| Retransmit::start(now, interval));
        Self {
            request,
            config,
            transport,
            state: ClientNonInviteState::Trying {
                timer_e,
                timer_f: now + config.sixty_four_t1(),
            },
        }
    }

    /// The current state.
    pub fn state(&self) -> &ClientNonInviteState {
        &self.state
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Whether the owner can drop the transaction.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, ClientNonInviteState::Terminated)
    }

    /// The earliest running timer and its deadline.
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        match &self.state {
            ClientNonInviteState::Trying { timer_e, timer_f }
            | ClientNonInviteState::Proceeding { timer_e, timer_f } => match timer_e {
                Some(e) if e.at < *timer_f => Some((Timer::E, e.at)),
                _ => Some((Timer::F, *timer_f)),
            },
            ClientNonInviteState::Completed { timer_k } => Some((Timer::K, *timer_k)),
            ClientNonInviteState::Terminated => None,
        }
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(_, at)| at)
    }

    /// Fires every timer whose deadline is at or before `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        while let Some((timer, at)) = self.next_timer() {
            if at > now {
                break;
            }
            self.handle(now, ClientNonInviteInput::TimerFired(timer), out);
        }
    }

    /// Passes a matched response to the machine.
    pub fn handle_response(&mut self, now: Instant, response: Response, out: &mut Vec<Action>) {
        self.handle(now, ClientNonInviteInput::Response(response), out);
    }

    /// The §17.1.2.2 transitions, as one `match (state, input)`.
    pub fn handle(&mut self, now: Instant, input: ClientNonInviteInput, out: &mut Vec<Action>) {
        use ClientNonInviteInput as In;
        use ClientNonInviteState as S;
        let state = std::mem::replace(&mut self.state, S::Terminated);
        self.state = match (state, input) {
            (
                S::Trying { timer_e, timer_f } | S::Proceeding { timer_e, timer_f },
                In::Response(response),
            ) => {
                let provisional = fields::status(&response) < 200;
                out.push(Action::PassResponse(response));
                if provisional {
                    // "If a provisional response is received while in the Trying state, the
                    // response MUST be passed to the TU, and then the client transaction
                    // SHOULD move to the Proceeding state." (and in Proceeding, passed up too)
                    S::Proceeding { timer_e, timer_f }
                } else {
                    // "If a final response (status codes 200-699) is received while in the
                    // Trying/Proceeding state, the response MUST be passed to the TU, and the
                    // client transaction MUST transition to the Completed state."
                    match self.config.initial(Timer::K, self.transport) {
                        Some(k) if !k.is_zero() => S::Completed { timer_k: now + k },
                        _ => S::Terminated,
                    }
                }
            }
            // "Once the client transaction enters the Completed state, it MUST set Timer K ...
            // [and] buffer any additional response retransmissions" — absorbed.
            (state @ S::Completed { .. }, In::Response(_)) => state,
            // "If timer E fires while still in this [Trying] state, the timer is reset, but
            // this time with a value of MIN(2*T1, T2)."
            (
                S::Trying {
                    timer_e: Some(e),
                    timer_f,
                },
                In::TimerFired(Timer::E),
            ) => {
                out.push(Action::Transmit(SipMessage::Request(self.request.clone())));
                S::Trying {
                    timer_e: Some(e.next(now, Timer::E, &self.config)),
                    timer_f,
                }
            }
            // "If Timer E fires while in the Proceeding state, the request MUST be passed to
            // the transport layer for retransmission, and Timer E MUST be reset with a value
            // of T2 seconds."
            (
                S::Proceeding {
                    timer_e: Some(_),
                    timer_f,
                },
                In::TimerFired(Timer::E),
            ) => {
                out.push(Action::Transmit(SipMessage::Request(self.request.clone())));
                S::Proceeding {
                    timer_e: Some(Retransmit::start(now, self.config.t2)),
                    timer_f,
                }
            }
            // "If Timer F fires while the client transaction is still in the Trying [or
            // Proceeding] state, the client transaction SHOULD inform the TU about the timeout,
            // and then it SHOULD enter the Terminated state."
            (S::Trying { .. } | S::Proceeding { .. }, In::TimerFired(Timer::F)) => {
                out.push(Action::Timeout(Timer::F));
                S::Terminated
            }
            // "If Timer K fires while in this state, the client transaction MUST transition to
            // the Terminated state."
            (S::Completed { .. }, In::TimerFired(Timer::K)) => S::Terminated,
            (S::Terminated, In::TransportError) => S::Terminated,
            (_, In::TransportError) => {
                out.push(Action::TransportError);
                S::Terminated
            }
            (state, _) => state,
        };
    }
}
