//! RFC 3261 §17 transactions, sans-I/O: the step between the transport (bytes on a socket) and
//! the transaction user (the B2BUA core, the registrar).
//!
//! There is one type per RFC state machine, each with its own state enum carrying the data and
//! deadlines of that state ([`ClientInvite`] §17.1.1 + RFC 6026, [`ClientNonInvite`] §17.1.2,
//! [`ServerInvite`] §17.2.1 + RFC 6026, [`ServerNonInvite`] §17.2.2), and a
//! [`TransactionLayer`] that owns them, matches messages to them ([`key`], §17.1.3 and
//! §17.2.3), answers CANCEL (§9.2) and bounds their number.
//!
//! Like `quinn-proto`, nothing here does I/O or reads a clock. The driver feeds the layer with
//! `handle_*` calls carrying `now` and drains it with, in this order, `poll_transmit`,
//! `poll_timeout` and `poll_event`; it sleeps until `poll_timeout()` and then calls
//! `handle_timeout(now)`.

mod client_invite;
mod client_non_invite;
pub mod fields;
pub mod key;
mod layer;
mod server_invite;
mod server_non_invite;
pub mod timer;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

pub use client_invite::{ClientInvite, ClientInviteInput, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteInput, ClientNonInviteState};
pub use layer::{LayerConfig, TransactionLayer};
pub use server_invite::{ServerInvite, ServerInviteInput, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteInput, ServerNonInviteState};
pub use timer::{Timer, TimerConfig};

/// The transport a message travelled on, as far as §17 cares: whether it is reliable.
///
/// Reliable transports switch off request/response retransmission (Timers A, E, G) and zero the
/// "wait for stray retransmissions" Timers D, I, J and K.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Unreliable: the transaction layer retransmits.
    Udp,
    /// Reliable: the transport delivers or reports an error.
    Tcp,
}

impl TransportKind {
    /// Whether the transport is reliable in the §17 sense (TCP, TLS, SCTP).
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::Tcp)
    }
}

/// Opaque handle of one transaction in a [`TransactionLayer`]; never reused within a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u64);

impl std::fmt::Display for TransactionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// A message for the driver to put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    /// Where to send it. For responses this is the source address of the request (symmetric
    /// response routing, as RFC 3581 `rport` does), which also reaches peers behind NAT.
    pub destination: SocketAddr,
    /// Which transport to send it on; for TCP the driver reuses the connection to
    /// `destination` (§18.2.2).
    pub transport: TransportKind,
    /// The message itself.
    pub message: rsip::SipMessage,
    /// The transaction it belongs to, so the driver can report a send failure with
    /// [`TransactionLayer::handle_transport_error`]; `None` for stateless sends.
    pub transaction: Option<TransactionId>,
}

/// What the transaction layer tells the transaction user.
#[derive(Debug, Clone, PartialEq)]
pub enum TuEvent {
    /// A new request created a server transaction; answer it with
    /// [`TransactionLayer::respond`]. Retransmissions never produce this event twice.
    Request {
        /// The server transaction to answer on.
        transaction: TransactionId,
        /// The request.
        request: rsip::Request,
        /// Where it came from (responses go back there).
        source: SocketAddr,
        /// The transport it came on.
        transport: TransportKind,
    },
    /// An ACK that is not part of an INVITE transaction: the ACK for a 2xx, which belongs to
    /// the dialog (§13.2.2.4, §17.1.1.3), or any ACK seen by an INVITE server transaction in
    /// the Accepted state (RFC 6026 §8.7: "passed to the TU").
    Ack {
        /// The INVITE server transaction it matched, if it is still in Accepted.
        transaction: Option<TransactionId>,
        /// The ACK.
        request: rsip::Request,
        /// Where it came from.
        source: SocketAddr,
        /// The transport it came on.
        transport: TransportKind,
    },
    /// A CANCEL matched this INVITE server transaction before the TU sent a final response.
    /// The layer has already answered the CANCEL with 200 (§9.2); the TU should answer the
    /// INVITE with 487 (Request Terminated).
    Cancelled {
        /// The INVITE server transaction being cancelled.
        invite: TransactionId,
        /// The CANCEL request.
        cancel: rsip::Request,
    },
    /// A client transaction received a response it passes up: each provisional, the first
    /// final response, and in Accepted every 2xx (RFC 6026 §8.4, retransmissions and forks
    /// alike, because the TU must ACK each one).
    Response {
        /// The client transaction.
        transaction: TransactionId,
        /// The response.
        response: rsip::Response,
    },
    /// A response that matches no client transaction (RFC 6026 §8.9: "passed to the core").
    /// A B2BUA sees 2xx retransmissions of forked or long-lived dialogs here; a UA core that
    /// does not care drops them.
    StrayResponse {
        /// The response.
        response: rsip::Response,
        /// Where it came from.
        source: SocketAddr,
        /// The transport it came on.
        transport: TransportKind,
    },
    /// Timer B or F (client: no final response) or H (server: no ACK) fired. The transaction
    /// is terminated right after.
    Timeout {
        /// The transaction that timed out.
        transaction: TransactionId,
        /// Which timer fired.
        timer: Timer,
    },
    /// The driver reported that sending for this transaction failed (§17.1.4, §17.2.4).
    TransportError {
        /// The transaction.
        transaction: TransactionId,
    },
    /// The transaction reached Terminated and has been removed from the layer.
    Terminated {
        /// The transaction.
        transaction: TransactionId,
    },
}

/// Why a transaction-layer call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// No transaction with this id (never existed, or already terminated and removed).
    #[error("unknown transaction {0}")]
    UnknownTransaction(TransactionId),
    /// The operation needs a server transaction but the id names a client one.
    #[error("{0} is not a server transaction")]
    NotAServerTransaction(TransactionId),
    /// The operation needs a client transaction but the id names a server one.
    #[error("{0} is not a client transaction")]
    NotAClientTransaction(TransactionId),
    /// The input is not allowed in the machine's current state (e.g. a second final response,
    /// or a provisional after the final one).
    #[error("{input} is not allowed in state {state}")]
    InvalidState {
        /// State name as in the RFC.
        state: &'static str,
        /// What was attempted.
        input: &'static str,
    },
    /// ACK is never sent in a client transaction of its own (§17.1.1.3: the ACK for a 2xx is
    /// the TU's, sent with [`TransactionLayer::send_stateless`]).
    #[error("an ACK does not start a transaction")]
    AckIsNotATransaction,
    /// A response given to a transaction for another method, or a status that cannot be sent
    /// (e.g. a 1xx to an ACK).
    #[error("status {0} cannot be sent here")]
    InvalidStatus(u16),
    /// The top Via has no branch parameter; we only originate RFC 3261 transactions.
    #[error("top Via has no branch parameter")]
    MissingBranch,
    /// The branch lacks the `z9hG4bK` cookie required of RFC 3261 elements (§8.1.1.7).
    #[error("branch {0:?} lacks the z9hG4bK magic cookie")]
    BranchWithoutMagicCookie(String),
    /// A header §17 needs is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header §17 needs cannot be parsed.
    #[error("malformed {0} header")]
    MalformedHeader(&'static str),
    /// A transaction with the same key already exists (a TU reusing a branch).
    #[error("a transaction with this branch and method already exists")]
    DuplicateTransaction,
    /// The configured maximum number of transactions is reached.
    #[error("too many transactions (limit {0})")]
    TooManyTransactions(usize),
}

/// What a machine asks of its owner after handling an input. The owner (the layer, or a test)
/// knows the destination and the transaction id; the machine only knows the RFC.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this message to the transaction's peer.
    Transmit(rsip::SipMessage),
    /// Pass this response to the TU (client transactions).
    PassResponse(rsip::Response),
    /// Pass this ACK to the TU (server INVITE in Accepted, RFC 6026 §8.7).
    PassAck(rsip::Request),
    /// Timer B, F or H fired: tell the TU the transaction failed.
    Timeout(Timer),
    /// The transport failed: tell the TU (§17.1.4, §17.2.4).
    TransportError,
}
