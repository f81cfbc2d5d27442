//! The INVITE server transaction: RFC 3261 §17.2.1 as amended by RFC 6026 §7.1 / §8.5–8.7.
//!
//! Used for every call that reaches the B2BUA (the A leg). It answers 100 Trying at once,
//! re-sends the last provisional when the INVITE is retransmitted, retransmits a 300-699 final
//! response over UDP (Timer G, capped at T2) until the ACK arrives or Timer H gives up, absorbs
//! ACK retransmissions for Timer I, and — RFC 6026 — after a 2xx stays in Accepted for Timer L
//! so a retransmitted INVITE is not mistaken for a new call, while the 2xx retransmissions and
//! the ACK belong to the TU (the dialog).
//!
//! ## Why 100 Trying is sent at once
//! §17.2.1 requires a 100 "unless it knows that the TU will generate a provisional or final
//! response within 200 ms". Our TU often cannot know: routing may wait on the store or the
//! calendar. Sending it immediately is always compliant, stops the caller's Timer A at the
//! first round trip (fewer retransmitted INVITEs under load), and needs no extra timer.
//!
//! ```text
//!                INVITE received / send 100 Trying
//!  INVITE       +------------+  1xx from TU: send
//!  resend 1xx   | Proceeding |<------------------+
//!  ------>      +------------+-------------------+
//!                 |300-699 from TU      |2xx from TU (send)      transport error
//!                 |send response        v                        → Terminated
//!  INVITE, G    +-----------+       +----------+  INVITE: absorb
//!  resend resp  | Completed |       | Accepted |  ACK: to TU; 2xx from TU: send
//!  ------>      +-----------+       +----------+
//!        Timer H  |     |ACK            |Timer L
//!      (to TU)    |     v               |
//!                 |  +-----------+      |
//!                 |  | Confirmed |      |
//!                 |  +-----------+      |
//!                 |     |Timer I        |
//!                 v     v               v
//!               +------------------------------+
//!               |          Terminated          |
//!               +------------------------------+
//! ```

use std::time::Instant;

use rsip::{Method, Request, Response, SipMessage};

use super::fields;
use super::timer::{Retransmit, Timer, TimerConfig};
use super::{Action, TransactionError, TransportKind};

/// The states of §17.2.1 (Figure 7) plus Accepted from RFC 6026, with their data and timers.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerInviteState {
    /// Waiting for the TU's final response; the last provisional sent is kept so a
    /// retransmitted INVITE can be answered with it.
    Proceeding {
        /// The most recent provisional response sent (the automatic 100 at first).
        last_provisional: Response,
    },
    /// A 300-699 was sent; it is retransmitted until the ACK arrives.
    Completed {
        /// The final response, kept for retransmission.
        response: Response,
        /// Timer G: next retransmission (unreliable transports only).
        timer_g: Option<Retransmit>,
        /// Timer H: give up waiting for the ACK.
        timer_h: Instant,
    },
    /// The ACK arrived; further ACKs are absorbed until Timer I.
    Confirmed {
        /// Timer I: wait time for ACK retransmits.
        timer_i: Instant,
    },
    /// RFC 6026: a 2xx was sent; INVITE retransmissions are absorbed until Timer L.
    Accepted {
        /// Timer L: wait time for accepted INVITE request retransmits.
        timer_l: Instant,
    },
    /// Done; the owner removes the transaction.
    Terminated,
}

impl ServerInviteState {
    /// The state's name as in the RFC, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Proceeding { .. } => "Proceeding",
            Self::Completed { .. } => "Completed",
            Self::Confirmed { .. } => "Confirmed",
            Self::Accepted { .. } => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

/// The inputs of the INVITE server machine.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerInviteInput {
    /// A request matched to this transaction: a retransmitted INVITE or an ACK (§17.2.3).
    Request(Request),
    /// The TU sends a response.
    Respond(Response),
    /// One of this machine's timers (G, H, I, L) reached its deadline.
    TimerFired(Timer),
    /// The transport could not send a response (§17.2.4).
    TransportError,
}

/// One INVITE server transaction.
#[derive(Debug, Clone)]
pub struct ServerInvite {
    /// The INVITE that created the transaction.
    request: Request,
    /// T1/T2/T4.
    config: TimerConfig,
    /// Decides whether Timer G runs and whether Timer I is zero.
    transport: TransportKind,
    /// Where the machine is.
    state: ServerInviteState,
}

impl ServerInvite {
    /// Creates the transaction for a new INVITE at `now` and sends 100 Trying (§17.2.1: "the
    /// server transaction MUST generate a 100 (Trying) response"; see the module docs for why
    /// immediately).
    pub fn new(
        request: Request,
        config: TimerConfig,
        transport: TransportKind,
        out: &mut Vec<Action>,
    ) -> Self {
        let trying = fields::response_to(&request, 100, None);
        out.push(Action::Transmit(SipMessage::Response(trying.clone())));
        Self {
            request,
            config,
            transport,
            state: ServerInviteState::Proceeding {
                last_provisional: trying,
            },
        }
    }

    /// The current state.
    pub fn state(&self) -> &ServerInviteState {
        &self.state
    }

    /// The INVITE that created the transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Whether the owner can drop the transaction.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, ServerInviteState::Terminated)
    }

    /// The response whose To tag an ACK or CANCEL must match: the final response once sent,
    /// else the last provisional.
    pub fn last_response(&self) -> Option<&Response> {
        match &self.state {
            ServerInviteState::Proceeding { last_provisional } => Some(last_provisional),
            ServerInviteState::Completed { response, .. } => Some(response),
            _ => None,
        }
    }

    /// The earliest running timer and its deadline.
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        match &self.state {
            ServerInviteState::Completed {
                timer_g, timer_h, ..
            } => match timer_g {
                Some(g) if g.at < *timer_h => Some((Timer::G, g.at)),
                _ => Some((Timer::H, *timer_h)),
            },
            ServerInviteState::Confirmed { timer_i } => Some((Timer::I, *timer_i)),
            ServerInviteState::Accepted { timer_l } => Some((Timer::L, *timer_l)),
            ServerInviteState::Proceeding { .. } | ServerInviteState::Terminated => None,
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
            // Timer inputs never fail.
            let _ = self.handle(now, ServerInviteInput::TimerFired(timer), out);
        }
    }

    /// Passes a matched request (retransmitted INVITE, or ACK) to the machine.
    pub fn handle_request(&mut self, now: Instant, request: Request, out: &mut Vec<Action>) {
        // Request inputs never fail.
        let _ = self.handle(now, ServerInviteInput::Request(request), out);
    }

    /// Sends a response from the TU.
    pub fn respond(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Vec<Action>,
    ) -> Result<(), TransactionError> {
        self.handle(now, ServerInviteInput::Respond(response), out)
    }

    /// The §17.2.1 / RFC 6026 transitions, as one `match (state, input)`. Only a TU response
    /// in a state that cannot send it is an error; the state is then unchanged.
    pub fn handle(
        &mut self,
        now: Instant,
        input: ServerInviteInput,
        out: &mut Vec<Action>,
    ) -> Result<(), TransactionError> {
        use ServerInviteInput as In;
        use ServerInviteState as S;
        let state = std::mem::replace(&mut self.state, S::Terminated);
        let (next, result) = match (state, input) {
            // "If a request retransmission is received while in the Proceeding state, the most
            // recent provisional response that was received from the TU MUST be passed to the
            // transport layer for retransmission."
            (S::Proceeding { last_provisional }, In::Request(request)) => {
                if request.method == Method::Invite {
                    out.push(Action::Transmit(SipMessage::Response(
                        last_provisional.clone(),
                    )));
                }
                (S::Proceeding { last_provisional }, Ok(()))
            }
            (S::Proceeding { last_provisional }, In::Respond(response)) => {
                let code = fields::status(&response);
                out.push(Action::Transmit(SipMessage::Response(response.clone())));
                match code {
                    // "The TU passes any number of provisional responses to the server
                    // transaction. So long as the server transaction is in the Proceeding
                    // state, each of these MUST be passed to the transport layer."
                    100..=199 => (
                        S::Proceeding {
                            last_provisional: response,
                        },
                        Ok(()),
                    ),
                    // RFC 6026 §8.5: "If, while in the Proceeding state, the TU passes a 2xx
                    // response to the server transaction, the server transaction MUST pass this
                    // response to the transport layer for transmission ... [and] MUST then
                    // transition to the Accepted state" and start Timer L (64·T1).
                    200..=299 => {
                        drop(last_provisional);
                        (
                            S::Accepted {
                                timer_l: now + self.config.sixty_four_t1(),
                            },
                            Ok(()),
                        )
                    }
                    // "While in the Proceeding state, if the TU passes a response with status
                    // code from 300 to 699 to the server transaction, the response MUST be
                    // passed to the transport layer for transmission, and the state machine
                    // MUST enter the Completed state. For unreliable transports, timer G is set
                    // to fire in T1 seconds ... timer H MUST be set to fire in 64*T1 seconds."
                    _ => (
                        S::Completed {
                            response,
                            timer_g: self
                                .config
                                .initial(Timer::G, self.transport)
                                .map(|g| Retransmit::start(now, g)),
                            timer_h: now + self.config.sixty_four_t1(),
                        },
                        Ok(()),
                    ),
                }
            }
            // "Furthermore, while in the Completed state, if a request retransmission is
            // received, the server SHOULD pass the response to the transport for
            // retransmission. If an ACK is received while the server transaction is in the
            // Completed state, the server transaction MUST transition to the Confirmed state."
            (
                S::Completed {
                    response,
                    timer_g,
                    timer_h,
                },
                In::Request(request),
            ) => {
                if request.method == Method::Ack {
                    let next = match self.config.initial(Timer::I, self.transport) {
                        Some(i) if !i.is_zero() => S::Confirmed { timer_i: now + i },
                        _ => S::Terminated,
                    };
                    (next, Ok(()))
                } else {
                    out.push(Action::Transmit(SipMessage::Response(response.clone())));
                    (
                        S::Completed {
                            response,
                            timer_g,
                            timer_h,
                        },
                        Ok(()),
                    )
                }
            }
            // "If timer G fires, the response is passed to the transport layer once more for
            // retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds."
            (
                S::Completed {
                    response,
                    timer_g: Some(g),
                    timer_h,
                },
                In::TimerFired(Timer::G),
            ) => {
                out.push(Action::Transmit(SipMessage::Response(response.clone())));
                (
                    S::Completed {
                        response,
                        timer_g: Some(g.next(now, Timer::G, &self.config)),
                        timer_h,
                    },
                    Ok(()),
                )
            }
            // "If timer H fires while in the Completed state, it implies that the ACK was never
            // received. In this case, the server transaction MUST transition to the Terminated
            // state, and MUST indicate to the TU that a transaction failure has occurred."
            (S::Completed { .. }, In::TimerFired(Timer::H)) => {
                out.push(Action::Timeout(Timer::H));
                (S::Terminated, Ok(()))
            }
            // "The purpose of the Confirmed state is to absorb any additional ACK messages"
            (state @ S::Confirmed { .. }, In::Request(_)) => (state, Ok(())),
            // "Once timer I fires, the server MUST transition to the Terminated state."
            (S::Confirmed { .. }, In::TimerFired(Timer::I)) => (S::Terminated, Ok(())),
            // RFC 6026 §8.7: "If an ACK is received while the INVITE server transaction is in
            // the Accepted state, then the ACK must be passed up to the TU." A retransmitted
            // INVITE is absorbed: "the server transaction MUST NOT pass [it] to the TU".
            (state @ S::Accepted { .. }, In::Request(request)) => {
                if request.method == Method::Ack {
                    out.push(Action::PassAck(request));
                }
                (state, Ok(()))
            }
            // RFC 6026 §8.7: "while in the Accepted state, if the TU passes a 2xx response, the
            // server transaction MUST pass the response to the transport layer".
            (state @ S::Accepted { .. }, In::Respond(response))
                if (200..300).contains(&fields::status(&response)) =>
            {
                out.push(Action::Transmit(SipMessage::Response(response)));
                (state, Ok(()))
            }
            // RFC 6026 §8.7: "If Timer L fires while the INVITE server transaction is in the
            // Accepted state, the transaction MUST transition to the Terminated state."
            (S::Accepted { .. }, In::TimerFired(Timer::L)) => (S::Terminated, Ok(())),
            // §17.2.4 / RFC 6026 Figure 7: in Accepted a transport error is only reported (the
            // TU owns 2xx retransmission); elsewhere it ends the transaction.
            (state @ S::Accepted { .. }, In::TransportError) => {
                out.push(Action::TransportError);
                (state, Ok(()))
            }
            (S::Terminated, In::TransportError) => (S::Terminated, Ok(())),
            (_, In::TransportError) => {
                out.push(Action::TransportError);
                (S::Terminated, Ok(()))
            }
            (state, In::Respond(_)) => {
                let error = TransactionError::InvalidState {
                    state: state.name(),
                    input: "respond",
                };
                (state, Err(error))
            }
            (state, _) => (state, Ok(())),
        };
        self.state = next;
        result
    }
}
