//! The non-INVITE server transaction: RFC 3261 §17.2.2.
//!
//! Used for REGISTER, BYE, CANCEL, OPTIONS, SUBSCRIBE and friends reaching the B2BUA. It never
//! retransmits on its own: it answers each retransmitted request with the last response sent,
//! and after the final response lingers for Timer J (64·T1 over UDP, zero over TCP) so late
//! retransmissions are answered instead of being seen as new requests.
//!
//! ```text
//!               request received (to TU)
//!   request     +--------+
//!   (absorbed)  | Trying |-------------------------+
//!   ------>     +--------+                         |
//!                 |1xx from TU (send)              |200-699 from TU (send)
//!                 v                                |
//!   request     +------------+  200-699 from TU    |
//!   resend 1xx  | Proceeding |------------------+  |
//!   ------>     +------------+                  v  v
//!   request                                +-----------+
//!   resend final ------------------------> | Completed |
//!                                          +-----------+
//!                                             |Timer J / transport error
//!                                             v
//!                                          +------------+
//!                                          | Terminated |
//!                                          +------------+
//! ```

use std::time::Instant;

use rsip::{Request, Response, SipMessage};

use super::fields;
use super::timer::{Timer, TimerConfig};
use super::{Action, TransactionError, TransportKind};

/// The states of §17.2.2 (Figure 8), with their data and timers.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerNonInviteState {
    /// The request went to the TU; nothing sent yet, so retransmissions are discarded.
    Trying,
    /// A provisional was sent; retransmissions are answered with it.
    Proceeding {
        /// The most recent provisional response.
        last_provisional: Response,
    },
    /// The final response was sent; retransmissions are answered with it until Timer J.
    Completed {
        /// The final response, kept for retransmission.
        response: Response,
        /// Timer J: wait time for non-INVITE request retransmits.
        timer_j: Instant,
    },
    /// Done; the owner removes the transaction.
    Terminated,
}

impl ServerNonInviteState {
    /// The state's name as in the RFC, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Trying => "Trying",
            Self::Proceeding { .. } => "Proceeding",
            Self::Completed { .. } => "Completed",
            Self::Terminated => "Terminated",
        }
    }
}

/// The inputs of the non-INVITE server machine.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerNonInviteInput {
    /// A retransmission of the request (§17.2.3).
    Request(Request),
    /// The TU sends a response.
    Respond(Response),
    /// Timer J reached its deadline.
    TimerFired(Timer),
    /// The transport could not send a response (§17.2.4).
    TransportError,
}

/// One non-INVITE server transaction.
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    /// The request that created the transaction.
    request: Request,
    /// T1/T2/T4.
    config: TimerConfig,
    /// Decides whether Timer J is zero.
    transport: TransportKind,
    /// Where the machine is.
    state: ServerNonInviteState,
}

impl ServerNonInvite {
    /// Creates the transaction for a new request: "The state machine is initialized in the
    /// Trying state and is passed a request other than INVITE or ACK when initialized."
    pub fn new(request: Request, config: TimerConfig, transport: TransportKind) -> Self {
        Self {
            request,
            config,
            transport,
            state: ServerNonInviteState::Trying,
        }
    }

    /// The current state.
    pub fn state(&self) -> &ServerNonInviteState {
        &self.state
    }

    /// The request that created the transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Whether the owner can drop the transaction.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, ServerNonInviteState::Terminated)
    }

    /// The earliest running timer and its deadline.
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        match &self.state {
            ServerNonInviteState::Completed { timer_j, .. } => Some((Timer::J, *timer_j)),
            _ => None,
        }
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(_, at)| at)
    }

    /// Fires every timer whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        while let Some((timer, at)) = self.next_timer() {
            if at > now {
                break;
            }
            // Timer inputs never fail.
            let _ = self.handle(now, ServerNonInviteInput::TimerFired(timer), out);
        }
    }

    /// Passes a retransmitted request to the machine.
    pub fn handle_request(&mut self, now: Instant, request: Request, out: &mut Vec<Action>) {
        // Request inputs never fail.
        let _ = self.handle(now, ServerNonInviteInput::Request(request), out);
    }

    /// Sends a response from the TU.
    pub fn respond(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Vec<Action>,
    ) -> Result<(), TransactionError> {
        self.handle(now, ServerNonInviteInput::Respond(response), out)
    }

    /// The §17.2.2 transitions, as one `match (state, input)`. Only a TU response after the
    /// final one is an error; the state is then unchanged.
    pub fn handle(
        &mut self,
        now: Instant,
        input: ServerNonInviteInput,
        out: &mut Vec<Action>,
    ) -> Result<(), TransactionError> {
        use ServerNonInviteInput as In;
        use ServerNonInviteState as S;
        let state = std::mem::replace(&mut self.state, S::Terminated);
        let (next, result) = match (state, input) {
            // "While in the Trying state, if the TU passes a provisional response to the server
            // transaction, the server transaction MUST enter the Proceeding state." /
            // "If the TU passes a final response (status codes 200-699) to the server while in
            // the Trying [or Proceeding] state, the transaction MUST enter the Completed state".
            (S::Trying | S::Proceeding { .. }, In::Respond(response)) => {
                out.push(Action::Transmit(SipMessage::Response(response.clone())));
                if fields::status(&response) < 200 {
                    (
                        S::Proceeding {
                            last_provisional: response,
                        },
                        Ok(()),
                    )
                } else {
                    (self.completed(now, response), Ok(()))
                }
            }
            // "Once in the Trying state, any further request retransmissions are discarded."
            (S::Trying, In::Request(_)) => (S::Trying, Ok(())),
            // "If a retransmission of the request is received while in the Proceeding state,
            // the most recently sent provisional response MUST be passed to the transport
            // layer for retransmission."
            (S::Proceeding { last_provisional }, In::Request(_)) => {
                out.push(Action::Transmit(SipMessage::Response(
                    last_provisional.clone(),
                )));
                (S::Proceeding { last_provisional }, Ok(()))
            }
            // "While in the Completed state, the server transaction MUST pass the final response
            // to the transport layer for retransmission whenever a retransmission of the request
            // is received."
            (S::Completed { response, timer_j }, In::Request(_)) => {
                out.push(Action::Transmit(SipMessage::Response(response.clone())));
                (S::Completed { response, timer_j }, Ok(()))
            }
            // "The server transaction remains in this state until Timer J fires, at which point
            // it MUST transition to the Terminated state."
            (S::Completed { .. }, In::TimerFired(Timer::J)) => (S::Terminated, Ok(())),
            (S::Terminated, In::TransportError) => (S::Terminated, Ok(())),
            (_, In::TransportError) => {
                out.push(Action::TransportError);
                (S::Terminated, Ok(()))
            }
            // "Any other final responses passed by the TU to the server transaction MUST be
            // discarded while in the Completed state." Reported to the TU as an error.
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

    /// Entering Completed: "Timer J [is set] to fire in 64*T1 seconds for unreliable
    /// transports, and zero seconds for reliable transports."
    fn completed(&self, now: Instant, response: Response) -> ServerNonInviteState {
        match self.config.initial(Timer::J, self.transport) {
            Some(j) if !j.is_zero() => ServerNonInviteState::Completed {
                response,
                timer_j: now + j,
            },
            _ => ServerNonInviteState::Terminated,
        }
    }
}
