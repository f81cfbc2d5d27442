//! The INVITE client transaction: RFC 3261 §17.1.1 as amended by RFC 6026 §7.2 / §8.4.
//!
//! Used when the B2BUA calls out (the B leg): it sends the INVITE, retransmits it over UDP
//! (Timer A) until a provisional arrives, gives up at Timer B, ACKs non-2xx final responses
//! itself (§17.1.1.3), and, in the RFC 6026 Accepted state, keeps passing 2xx responses up for
//! Timer M so the TU can ACK every retransmitted or forked 2xx.
//!
//! ```text
//!              INVITE sent
//!  Timer A  +-----------+          Timer B / transport error
//!  resend   |  Calling  |--------------------------------------+
//!  ------>  +-----------+                                      |
//!             |1xx    |2xx        300-699 (send ACK)           |
//!             v       +-----------------------+---------+      |
//!         +------------+  2xx  +----------+   |         |      |
//!         | Proceeding |------>| Accepted |   |         |      |
//!         +------------+       +----------+   v         |      |
//!             |300-699           |Timer M   +-----------+      |
//!             +------------------|--------->| Completed |      |
//!                                |          +-----------+      |
//!                                |            |Timer D         |
//!                                v            v                v
//!                               +----------------------------------+
//!                               |            Terminated            |
//!                               +----------------------------------+
//! ```

use std::time::Instant;

use rsip::{Request, Response, SipMessage};

use super::fields;
use super::timer::{Retransmit, Timer, TimerConfig};
use super::{Action, TransportKind};

/// The states of §17.1.1.2 (Figure 5) plus Accepted from RFC 6026, each with the timers that
/// run in it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientInviteState {
    /// INVITE sent, nothing heard yet.
    Calling {
        /// Timer A: the next retransmission (unreliable transports only).
        timer_a: Option<Retransmit>,
        /// Timer B: the transaction timeout.
        timer_b: Instant,
    },
    /// A provisional response arrived; retransmissions stop and the TU waits (it may CANCEL).
    Proceeding,
    /// A 2xx arrived (RFC 6026): further 2xx are passed to the TU until Timer M.
    Accepted {
        /// Timer M: when to stop listening for 2xx retransmissions and forks.
        timer_m: Instant,
    },
    /// A 300-699 arrived and was ACKed; retransmissions of it are re-ACKed until Timer D.
    Completed {
        /// The ACK we sent, kept to answer retransmitted final responses.
        ack: Request,
        /// Timer D: wait time for response retransmits.
        timer_d: Instant,
    },
    /// Done; the owner removes the transaction.
    Terminated,
}

impl ClientInviteState {
    /// The state's name as in the RFC, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Calling { .. } => "Calling",
            Self::Proceeding => "Proceeding",
            Self::Accepted { .. } => "Accepted",
            Self::Completed { .. } => "Completed",
            Self::Terminated => "Terminated",
        }
    }
}

/// The inputs of the INVITE client machine.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientInviteInput {
    /// A response matched to this transaction (§17.1.3).
    Response(Response),
    /// One of this machine's timers (A, B, D, M) reached its deadline.
    TimerFired(Timer),
    /// The transport could not send the INVITE or the ACK (§17.1.4).
    TransportError,
}

/// One INVITE client transaction.
#[derive(Debug, Clone)]
pub struct ClientInvite {
    /// The INVITE, kept to retransmit it and to build the ACK from it.
    request: Request,
    /// T1/T2/T4.
    config: TimerConfig,
    /// Decides whether Timer A runs and whether Timer D is zero.
    transport: TransportKind,
    /// Where the machine is.
    state: ClientInviteState,
}

impl ClientInvite {
    /// Starts the transaction at `now`: "the client transaction MUST pass the request to the
    /// transport layer" and start Timer A (unreliable only) and Timer B (§17.1.1.2).
    pub fn new(
        now: Instant,
        request: Request,
        config: TimerConfig,
        transport: TransportKind,
        out: &mut Vec<Action>,
    ) -> Self {
        out.push(Action::Transmit(SipMessage::Request(request.clone())));
        let timer_a = config
            .initial(Timer::A, transport)
            .map(|interval| Retransmit::start(now, interval));
        let timer_b = now + config.sixty_four_t1();
        Self {
            request,
            config,
            transport,
            state: ClientInviteState::Calling { timer_a, timer_b },
        }
    }

    /// The current state.
    pub fn state(&self) -> &ClientInviteState {
        &self.state
    }

    /// The INVITE this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Whether the owner can drop the transaction.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, ClientInviteState::Terminated)
    }

    /// The earliest running timer and its deadline.
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        match &self.state {
            ClientInviteState::Calling { timer_a, timer_b } => match timer_a {
                Some(a) if a.at < *timer_b => Some((Timer::A, a.at)),
                _ => Some((Timer::B, *timer_b)),
            },
            ClientInviteState::Accepted { timer_m } => Some((Timer::M, *timer_m)),
            ClientInviteState::Completed { timer_d, .. } => Some((Timer::D, *timer_d)),
            ClientInviteState::Proceeding | ClientInviteState::Terminated => None,
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
            self.handle(now, ClientInviteInput::TimerFired(timer), out);
        }
    }

    /// Passes a matched response to the machine.
    pub fn handle_response(&mut self, now: Instant, response: Response, out: &mut Vec<Action>) {
        self.handle(now, ClientInviteInput::Response(response), out);
    }

    /// The §17.1.1.2 transitions, as one `match (state, input)`.
    pub fn handle(&mut self, now: Instant, input: ClientInviteInput, out: &mut Vec<Action>) {
        use ClientInviteInput as In;
        use ClientInviteState as S;
        let state = std::mem::replace(&mut self.state, S::Terminated);
        self.state = match (state, input) {
            (state @ (S::Calling { .. } | S::Proceeding), In::Response(response)) => {
                match fields::status(&response) {
                    // "If the client transaction receives a provisional response while in the
                    // Calling state, it transitions to the Proceeding state ... the client
                    // transaction SHOULD NOT retransmit the request any longer."
                    100..=199 => {
                        out.push(Action::PassResponse(response));
                        S::Proceeding
                    }
                    // RFC 6026 §8.4: "a 2xx response ... MUST be passed up to the TU, and the
                    // client transaction MUST transition to the Accepted state, and Timer M
                    // MUST be started with a value of 64*T1."
                    200..=299 => {
                        out.push(Action::PassResponse(response));
                        S::Accepted {
                            timer_m: now + self.config.sixty_four_t1(),
                        }
                    }
                    // "When in either the Calling or Proceeding states, reception of a response
                    // with status code from 300-699 MUST cause the client transaction to
                    // transition to Completed. The client transaction MUST pass the received
                    // response up to the TU, and the client transaction MUST generate an ACK
                    // request, even if the transport is reliable."
                    _ => match fields::ack_for(&self.request, &response) {
                        Ok(ack) => {
                            out.push(Action::Transmit(SipMessage::Request(ack.clone())));
                            out.push(Action::PassResponse(response));
                            self.completed(now, ack)
                        }
                        Err(error) => {
                            tracing::debug!(%error, "final response cannot be ACKed; ignored");
                            state
                        }
                    },
                }
            }
            // "Any retransmissions of the final response that are received while in the
            // Completed state MUST cause the ACK to be re-passed to the transport layer for
            // retransmission, but the newly received response MUST NOT be passed up to the TU."
            (S::Completed { ack, timer_d }, In::Response(response)) => {
                if fields::status(&response) >= 300 {
                    out.push(Action::Transmit(SipMessage::Request(ack.clone())));
                }
                S::Completed { ack, timer_d }
            }
            // RFC 6026 §8.4: "any 2xx responses that match this client transaction and that
            // are received while in the Accepted state MUST be passed up to the TU."
            (S::Accepted { timer_m }, In::Response(response)) => {
                if (200..300).contains(&fields::status(&response)) {
                    out.push(Action::PassResponse(response));
                }
                S::Accepted { timer_m }
            }
            // "When timer A fires, the client transaction MUST retransmit the request by
            // passing it to the transport layer, and MUST reset the timer with a value of 2*T1."
            (
                S::Calling {
                    timer_a: Some(a),
                    timer_b,
                },
                In::TimerFired(Timer::A),
            ) => {
                out.push(Action::Transmit(SipMessage::Request(self.request.clone())));
                S::Calling {
                    timer_a: Some(a.next(now, Timer::A, &self.config)),
                    timer_b,
                }
            }
            // "If the client transaction is still in the Calling state when timer B fires, the
            // client transaction SHOULD inform the TU that a timeout has occurred."
            (S::Calling { .. }, In::TimerFired(Timer::B)) => {
                out.push(Action::Timeout(Timer::B));
                S::Terminated
            }
            // "If timer D fires while the client transaction is in the Completed state, the
            // client transaction MUST move to the Terminated state."
            (S::Completed { .. }, In::TimerFired(Timer::D)) => S::Terminated,
            // RFC 6026 §8.4: "If Timer M fires while the client transaction is in the Accepted
            // state, the client transaction MUST move to the Terminated state."
            (S::Accepted { .. }, In::TimerFired(Timer::M)) => S::Terminated,
            // §17.1.4: a transport failure is reported to the TU and ends the transaction.
            (S::Terminated, In::TransportError) => S::Terminated,
            (_, In::TransportError) => {
                out.push(Action::TransportError);
                S::Terminated
            }
            // Anything else (a timer of another state, a message after Terminated) is stale.
            (state, _) => state,
        };
    }

    /// Entering Completed: Timer D, or straight to Terminated when D is zero (reliable
    /// transport: "Timer D ... zero seconds for reliable transports").
    fn completed(&self, now: Instant, ack: Request) -> ClientInviteState {
        match self.config.initial(Timer::D, self.transport) {
            Some(d) if !d.is_zero() => ClientInviteState::Completed {
                ack,
                timer_d: now + d,
            },
            _ => ClientInviteState::Terminated,
        }
    }
}
