//! The transaction layer: owns every transaction, matches incoming messages to them (§17.1.3,
//! §17.2.3), creates server transactions for new requests, answers CANCEL (§9.2) and keeps the
//! timers of all transactions in one queue.
//!
//! The transport driver calls [`TransactionLayer::handle_message`] for each parsed message,
//! [`TransactionLayer::handle_timeout`] when [`TransactionLayer::poll_timeout`] is reached, and
//! drains [`TransactionLayer::poll_transmit`] and [`TransactionLayer::poll_event`]. The TU (the
//! B2BUA core) calls [`TransactionLayer::send_request`], [`TransactionLayer::respond`] and
//! [`TransactionLayer::cancel`].
//!
//! Choices §17 leaves open, made here:
//! * CANCEL never reaches the TU as a request. It is answered 200 by the layer when it matches
//!   an INVITE server transaction, 481 otherwise (§9.2), and the TU is told with
//!   [`TuEvent::Cancelled`] only while the INVITE still waits for its final response.
//! * Responses without a client transaction are passed up as [`TuEvent::StrayResponse`]
//!   (RFC 6026 §8.9) rather than dropped: a B2BUA must re-ACK 2xx retransmissions that outlive
//!   Timer M.
//! * When [`LayerConfig::max_transactions`] is reached, new requests are answered with a
//!   stateless 503 (§21.5.4) and not remembered, so a flood cannot grow memory; our own new
//!   requests fail with [`TransactionError::TooManyTransactions`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rsip::{Method, Request, Response, SipMessage};

use super::key::{ClientKey, ServerKey};
use super::timer::{Timer, TimerConfig};
use super::{
    fields, Action, ClientInvite, ClientInviteState, ClientNonInvite, ServerInvite,
    ServerInviteState, ServerNonInvite, TransactionError, TransactionId, Transmit, TransportKind,
    TuEvent,
};

/// Configuration of a [`TransactionLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerConfig {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// Upper bound on live transactions (default 100 000). Each holds a request of a few KiB
    /// for up to 64·T1, so this bounds the layer's memory at a few hundred MiB worst case.
    pub max_transactions: usize,
}

impl Default for LayerConfig {
    fn default() -> Self {
        Self {
            timers: TimerConfig::default(),
            max_transactions: 100_000,
        }
    }
}

/// The four machines behind one id.
// The variants are named after the four RFC machines, whose names all end in "Invite".
#[allow(clippy::enum_variant_names)]
#[derive(Debug)]
enum Machine {
    ClientInvite(ClientInvite),
    ClientNonInvite(ClientNonInvite),
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
}

impl Machine {
    fn next_timer(&self) -> Option<(Timer, Instant)> {
        match self {
            Self::ClientInvite(m) => m.next_timer(),
            Self::ClientNonInvite(m) => m.next_timer(),
            Self::ServerInvite(m) => m.next_timer(),
            Self::ServerNonInvite(m) => m.next_timer(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            Self::ClientInvite(m) => m.is_terminated(),
            Self::ClientNonInvite(m) => m.is_terminated(),
            Self::ServerInvite(m) => m.is_terminated(),
            Self::ServerNonInvite(m) => m.is_terminated(),
        }
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self {
            Self::ClientInvite(m) => m.handle_timeout(now, out),
            Self::ClientNonInvite(m) => m.handle_timeout(now, out),
            Self::ServerInvite(m) => m.handle_timeout(now, out),
            Self::ServerNonInvite(m) => m.handle_timeout(now, out),
        }
    }
}

/// Which index a transaction is filed under, so removal can clean it up.
#[derive(Debug, Clone)]
enum Key {
    Client(ClientKey),
    Server(ServerKey),
}

/// One live transaction and what the layer needs to route its output.
#[derive(Debug)]
struct Entry {
    /// The RFC machine.
    machine: Machine,
    /// Its key in `client_keys` or `server_keys`.
    key: Key,
    /// Where its messages go: the destination of a client transaction, the source of the
    /// request for a server transaction.
    peer: SocketAddr,
    /// The transport its messages use.
    transport: TransportKind,
    /// The deadline currently filed in `timers`, to remove it when it changes.
    deadline: Option<Instant>,
    /// To tag of the last response sent by a server transaction, for the RFC 2543 ACK match
    /// ("the To tag of the ACK matches the To tag of the response sent", §17.2.3) and for the
    /// 200 to a CANCEL (§9.2: "SHOULD be the same" as the INVITE response's).
    response_to_tag: Option<String>,
}

/// Owner of all transactions of one SIP endpoint; see the module docs.
#[derive(Debug)]
pub struct TransactionLayer {
    /// Timer values and limits.
    config: LayerConfig,
    /// Next id to hand out; ids are never reused.
    next_id: u64,
    /// Live transactions.
    transactions: HashMap<TransactionId, Entry>,
    /// §17.1.3 index.
    client_keys: HashMap<ClientKey, TransactionId>,
    /// §17.2.3 index.
    server_keys: HashMap<ServerKey, TransactionId>,
    /// Every transaction's next deadline, earliest first.
    timers: BTreeSet<(Instant, TransactionId)>,
    /// CANCELs asked for while their INVITE was still in Calling (§9.1: "a CANCEL ... SHOULD
    /// NOT be sent" before a provisional arrives): INVITE id → (reserved CANCEL id, CANCEL).
    deferred_cancels: HashMap<TransactionId, (TransactionId, Request)>,
    /// Messages for the driver.
    transmits: VecDeque<Transmit>,
    /// Events for the TU.
    events: VecDeque<TuEvent>,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(config: LayerConfig) -> Self {
        Self {
            config,
            next_id: 1,
            transactions: HashMap::new(),
            client_keys: HashMap::new(),
            server_keys: HashMap::new(),
            timers: BTreeSet::new(),
            deferred_cancels: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// Transactions started since the layer was made (ids handed out, a reserved CANCEL's
    /// included), for `/metrics`.
    pub fn started(&self) -> u64 {
        self.next_id.saturating_sub(1)
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// The RFC state name of a transaction, for logs and tests.
    pub fn state_name(&self, id: TransactionId) -> Option<&'static str> {
        self.transactions.get(&id).map(|e| match &e.machine {
            Machine::ClientInvite(m) => m.state().name(),
            Machine::ClientNonInvite(m) => m.state().name(),
            Machine::ServerInvite(m) => m.state().name(),
            Machine::ServerNonInvite(m) => m.state().name(),
        })
    }

    // ---- inputs -------------------------------------------------------------------------

    /// A message arrived from `source` over `transport`.
    ///
    /// Errors mean the message lacks what §17 needs to place it (Via, CSeq, ...); the driver
    /// logs and drops it (a request without a usable Via cannot even be answered).
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: SipMessage,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Result<(), TransactionError> {
        match message {
            SipMessage::Request(request) => self.handle_request(now, request, source, transport),
            SipMessage::Response(response) => {
                self.handle_response(now, response, source, transport)
            }
        }
    }

    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, id));
            let mut out = Vec::new();
            if let Some(entry) = self.transactions.get_mut(&id) {
                entry.deadline = None;
                entry.machine.handle_timeout(now, &mut out);
            }
            self.apply(id, out, None);
        }
    }

    /// The driver could not send a message of transaction `id` (§17.1.4, §17.2.4).
    pub fn handle_transport_error(&mut self, now: Instant, id: TransactionId) {
        let mut out = Vec::new();
        let Some(entry) = self.transactions.get_mut(&id) else {
            return;
        };
        // The inputs are infallible for TransportError; results are ignored for that reason.
        match &mut entry.machine {
            Machine::ClientInvite(m) => {
                m.handle(now, super::ClientInviteInput::TransportError, &mut out)
            }
            Machine::ClientNonInvite(m) => {
                m.handle(now, super::ClientNonInviteInput::TransportError, &mut out)
            }
            Machine::ServerInvite(m) => {
                let _ = m.handle(now, super::ServerInviteInput::TransportError, &mut out);
            }
            Machine::ServerNonInvite(m) => {
                let _ = m.handle(now, super::ServerNonInviteInput::TransportError, &mut out);
            }
        }
        self.apply(id, out, None);
    }

    // ---- TU commands --------------------------------------------------------------------

    /// Starts a client transaction for `request` (INVITE or any non-INVITE except ACK) towards
    /// `destination`. The request must carry its top Via with an RFC 3261 branch.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        destination: SocketAddr,
        transport: TransportKind,
    ) -> Result<TransactionId, TransactionError> {
        let id = self.allocate_id();
        self.start_client(now, id, request, destination, transport)?;
        Ok(id)
    }

    /// Sends `response` on server transaction `id`.
    pub fn respond(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: Response,
    ) -> Result<(), TransactionError> {
        let entry = self
            .transactions
            .get_mut(&id)
            .ok_or(TransactionError::UnknownTransaction(id))?;
        let mut out = Vec::new();
        match &mut entry.machine {
            Machine::ServerInvite(m) => m.respond(now, response.clone(), &mut out)?,
            Machine::ServerNonInvite(m) => m.respond(now, response.clone(), &mut out)?,
            Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => {
                return Err(TransactionError::NotAServerTransaction(id))
            }
        }
        if let Ok(Some(tag)) = fields::to_tag(&response.headers) {
            entry.response_to_tag = Some(tag);
        }
        self.apply(id, out, None);
        Ok(())
    }

    /// Cancels the INVITE client transaction `invite` (§9.1) and returns the id of the CANCEL
    /// client transaction. If no provisional response has arrived yet, the CANCEL is held back
    /// until one does ("a CANCEL ... SHOULD NOT be sent" before that, §9.1); if the INVITE
    /// completes first, the held CANCEL is dropped and reported as terminated.
    pub fn cancel(
        &mut self,
        now: Instant,
        invite: TransactionId,
    ) -> Result<TransactionId, TransactionError> {
        let entry = self
            .transactions
            .get(&invite)
            .ok_or(TransactionError::UnknownTransaction(invite))?;
        let Machine::ClientInvite(machine) = &entry.machine else {
            return Err(TransactionError::NotAClientTransaction(invite));
        };
        let (peer, transport) = (entry.peer, entry.transport);
        let cancel = fields::cancel_for(machine.request())?;
        match machine.state() {
            ClientInviteState::Calling { .. } => {
                if let Some((id, _)) = self.deferred_cancels.get(&invite) {
                    return Ok(*id);
                }
                let id = self.allocate_id();
                self.deferred_cancels.insert(invite, (id, cancel));
                Ok(id)
            }
            ClientInviteState::Proceeding => {
                let id = self.allocate_id();
                self.start_client(now, id, cancel, peer, transport)?;
                Ok(id)
            }
            state => Err(TransactionError::InvalidState {
                state: state.name(),
                input: "cancel",
            }),
        }
    }

    /// Sends a message outside any transaction: the ACK for a 2xx (§13.2.2.4) and its
    /// retransmissions, or 2xx retransmissions of a B2BUA after the transaction is gone.
    pub fn send_stateless(
        &mut self,
        message: SipMessage,
        destination: SocketAddr,
        transport: TransportKind,
    ) {
        self.transmits.push_back(Transmit {
            destination,
            transport,
            message,
            transaction: None,
        });
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next message to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TuEvent> {
        self.events.pop_front()
    }

    // ---- internals ----------------------------------------------------------------------

    fn allocate_id(&mut self) -> TransactionId {
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        id
    }

    fn start_client(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: Request,
        destination: SocketAddr,
        transport: TransportKind,
    ) -> Result<(), TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckIsNotATransaction);
        }
        let key = ClientKey::from_request(&request)?;
        fields::cseq(&request.headers)?;
        if self.client_keys.contains_key(&key) {
            return Err(TransactionError::DuplicateTransaction);
        }
        if self.transactions.len() >= self.config.max_transactions {
            return Err(TransactionError::TooManyTransactions(
                self.config.max_transactions,
            ));
        }
        let mut out = Vec::new();
        let timers = self.config.timers;
        let machine = if request.method == Method::Invite {
            Machine::ClientInvite(ClientInvite::new(now, request, timers, transport, &mut out))
        } else {
            Machine::ClientNonInvite(ClientNonInvite::new(
                now, request, timers, transport, &mut out,
            ))
        };
        self.client_keys.insert(key.clone(), id);
        self.transactions.insert(
            id,
            Entry {
                machine,
                key: Key::Client(key),
                peer: destination,
                transport,
                deadline: None,
                response_to_tag: None,
            },
        );
        self.apply(id, out, None);
        Ok(())
    }

    fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Result<(), TransactionError> {
        let key = ClientKey::from_response(&response)?;
        let Some(&id) = self.client_keys.get(&key) else {
            self.events.push_back(TuEvent::StrayResponse {
                response,
                source,
                transport,
            });
            return Ok(());
        };
        let mut out = Vec::new();
        if let Some(entry) = self.transactions.get_mut(&id) {
            match &mut entry.machine {
                Machine::ClientInvite(m) => m.handle_response(now, response, &mut out),
                Machine::ClientNonInvite(m) => m.handle_response(now, response, &mut out),
                Machine::ServerInvite(_) | Machine::ServerNonInvite(_) => {}
            }
        }
        self.apply(id, out, None);
        self.release_deferred_cancel(now, id);
        Ok(())
    }

    /// Sends or drops a CANCEL held back while its INVITE was in Calling.
    fn release_deferred_cancel(&mut self, now: Instant, invite: TransactionId) {
        if !self.deferred_cancels.contains_key(&invite) {
            return;
        }
        // Where the INVITE is now: still Calling (keep waiting), Proceeding (send the
        // CANCEL now, to the INVITE's destination), or anything else (too late: drop it).
        let proceeding_to = match self.transactions.get(&invite) {
            Some(Entry {
                machine: Machine::ClientInvite(m),
                peer,
                transport,
                ..
            }) => match m.state() {
                ClientInviteState::Calling { .. } => return,
                ClientInviteState::Proceeding => Some((*peer, *transport)),
                _ => None,
            },
            _ => None,
        };
        let Some((cancel_id, cancel)) = self.deferred_cancels.remove(&invite) else {
            return;
        };
        let sent = match proceeding_to {
            Some((peer, transport)) => self
                .start_client(now, cancel_id, cancel, peer, transport)
                .map_err(|error| tracing::debug!(%error, "held-back CANCEL could not be sent"))
                .is_ok(),
            None => false,
        };
        if !sent {
            self.events.push_back(TuEvent::Terminated {
                transaction: cancel_id,
            });
        }
    }

    fn handle_request(
        &mut self,
        now: Instant,
        request: Request,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Result<(), TransactionError> {
        let key = ServerKey::for_request(&request)?;
        // CSeq is needed by every response we might build; refuse early without it.
        fields::cseq(&request.headers)?;
        match request.method {
            Method::Ack => {
                self.handle_ack(now, key, request, source, transport);
                Ok(())
            }
            Method::Cancel => self.handle_cancel(now, key, request, source, transport),
            _ => {
                if let Some(&id) = self.server_keys.get(&key) {
                    // A retransmission: absorbed by its transaction, never shown to the TU.
                    let mut out = Vec::new();
                    if let Some(entry) = self.transactions.get_mut(&id) {
                        match &mut entry.machine {
                            Machine::ServerInvite(m) => m.handle_request(now, request, &mut out),
                            Machine::ServerNonInvite(m) => m.handle_request(now, request, &mut out),
                            Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => {}
                        }
                    }
                    self.apply(id, out, None);
                    return Ok(());
                }
                let Some(id) = self.admit(&request, source, transport) else {
                    return Ok(());
                };
                let mut out = Vec::new();
                let timers = self.config.timers;
                let machine = if request.method == Method::Invite {
                    Machine::ServerInvite(ServerInvite::new(
                        request.clone(),
                        timers,
                        transport,
                        &mut out,
                    ))
                } else {
                    Machine::ServerNonInvite(ServerNonInvite::new(
                        request.clone(),
                        timers,
                        transport,
                    ))
                };
                self.insert_server(id, key, machine, source, transport);
                self.events.push_back(TuEvent::Request {
                    transaction: id,
                    request,
                    source,
                    transport,
                });
                self.apply(id, out, None);
                Ok(())
            }
        }
    }

    /// §17.2.3 for ACK: it belongs to the INVITE server transaction (Completed → Confirmed,
    /// absorbed in Confirmed, passed up in Accepted), or else to the dialog (ACK for a 2xx).
    fn handle_ack(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: Request,
        source: SocketAddr,
        transport: TransportKind,
    ) {
        let ack_tag = fields::to_tag(&request.headers).ok().flatten();
        let found = key.ack_candidates().into_iter().find_map(|candidate| {
            let id = *self.server_keys.get(&candidate)?;
            let entry = self.transactions.get(&id)?;
            if !matches!(entry.machine, Machine::ServerInvite(_)) {
                return None;
            }
            if candidate.is_rfc2543() && entry.response_to_tag != ack_tag {
                return None;
            }
            Some(id)
        });
        match found {
            Some(id) => {
                let mut out = Vec::new();
                if let Some(Entry {
                    machine: Machine::ServerInvite(m),
                    ..
                }) = self.transactions.get_mut(&id)
                {
                    m.handle_request(now, request, &mut out);
                }
                self.apply(id, out, Some((source, transport)));
            }
            None => self.events.push_back(TuEvent::Ack {
                transaction: None,
                request,
                source,
                transport,
            }),
        }
    }

    /// §9.2: the CANCEL gets a server transaction of its own, answered by the layer.
    fn handle_cancel(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: Request,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Result<(), TransactionError> {
        if let Some(&id) = self.server_keys.get(&key) {
            // Retransmitted CANCEL: its transaction re-sends the 200.
            let mut out = Vec::new();
            if let Some(Entry {
                machine: Machine::ServerNonInvite(m),
                ..
            }) = self.transactions.get_mut(&id)
            {
                m.handle_request(now, request, &mut out);
            }
            self.apply(id, out, None);
            return Ok(());
        }
        let invite = self
            .server_keys
            .get(&key.cancelled_invite())
            .copied()
            .filter(|id| {
                matches!(
                    self.transactions.get(id).map(|e| &e.machine),
                    Some(Machine::ServerInvite(_))
                )
            });
        let Some(cancel_id) = self.admit(&request, source, transport) else {
            return Ok(());
        };
        let timers = self.config.timers;
        let machine =
            Machine::ServerNonInvite(ServerNonInvite::new(request.clone(), timers, transport));
        self.insert_server(cancel_id, key, machine, source, transport);
        let response = match invite.and_then(|id| self.transactions.get(&id).map(|e| (id, e))) {
            Some((invite_id, entry)) => {
                // §9.2: "the UAS answers the CANCEL request itself with a 200 (OK)"; "The To
                // tag of the response to the CANCEL and the To tag in the response to the
                // original request SHOULD be the same."
                let tag = entry.response_to_tag.clone().unwrap_or_else(new_tag);
                let pending = matches!(
                    &entry.machine,
                    Machine::ServerInvite(m)
                        if matches!(m.state(), ServerInviteState::Proceeding { .. })
                );
                if pending {
                    self.events.push_back(TuEvent::Cancelled {
                        invite: invite_id,
                        cancel: request.clone(),
                    });
                }
                fields::response_to(&request, 200, Some(&tag))
            }
            // §9.2: "If the UAS did not find a matching transaction for the CANCEL ... it
            // SHOULD respond to the CANCEL with a 481 (Call Leg/Transaction Does Not Exist)."
            None => fields::response_to(&request, 481, Some(&new_tag())),
        };
        self.respond(now, cancel_id, response)
    }

    /// Allocates an id for a new server transaction, or — at the limit — answers the request
    /// with a stateless 503 and returns `None`.
    fn admit(
        &mut self,
        request: &Request,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Option<TransactionId> {
        if self.transactions.len() >= self.config.max_transactions {
            tracing::warn!(
                limit = self.config.max_transactions,
                "transaction limit reached; answering 503"
            );
            let response = fields::response_to(request, 503, Some(&new_tag()));
            self.send_stateless(SipMessage::Response(response), source, transport);
            return None;
        }
        Some(self.allocate_id())
    }

    fn insert_server(
        &mut self,
        id: TransactionId,
        key: ServerKey,
        machine: Machine,
        source: SocketAddr,
        transport: TransportKind,
    ) {
        self.server_keys.insert(key.clone(), id);
        self.transactions.insert(
            id,
            Entry {
                machine,
                key: Key::Server(key),
                peer: source,
                transport,
                deadline: None,
                response_to_tag: None,
            },
        );
    }

    /// Routes a machine's actions, refiles its deadline, and removes it once Terminated.
    fn apply(
        &mut self,
        id: TransactionId,
        actions: Vec<Action>,
        ack_source: Option<(SocketAddr, TransportKind)>,
    ) {
        let Some(entry) = self.transactions.get_mut(&id) else {
            return;
        };
        for action in actions {
            match action {
                Action::Transmit(message) => self.transmits.push_back(Transmit {
                    destination: entry.peer,
                    transport: entry.transport,
                    message,
                    transaction: Some(id),
                }),
                Action::PassResponse(response) => self.events.push_back(TuEvent::Response {
                    transaction: id,
                    response,
                }),
                Action::PassAck(request) => {
                    let (source, transport) = ack_source.unwrap_or((entry.peer, entry.transport));
                    self.events.push_back(TuEvent::Ack {
                        transaction: Some(id),
                        request,
                        source,
                        transport,
                    });
                }
                Action::Timeout(timer) => self.events.push_back(TuEvent::Timeout {
                    transaction: id,
                    timer,
                }),
                Action::TransportError => self
                    .events
                    .push_back(TuEvent::TransportError { transaction: id }),
            }
        }
        let next = entry.machine.next_timer().map(|(_, at)| at);
        if next != entry.deadline {
            if let Some(old) = entry.deadline {
                self.timers.remove(&(old, id));
            }
            if let Some(at) = next {
                self.timers.insert((at, id));
            }
            entry.deadline = next;
        }
        if entry.machine.is_terminated() {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: TransactionId) {
        let Some(entry) = self.transactions.remove(&id) else {
            return;
        };
        if let Some(at) = entry.deadline {
            self.timers.remove(&(at, id));
        }
        match entry.key {
            Key::Client(key) => {
                self.client_keys.remove(&key);
            }
            Key::Server(key) => {
                self.server_keys.remove(&key);
            }
        }
        self.events
            .push_back(TuEvent::Terminated { transaction: id });
        if let Some((cancel_id, _)) = self.deferred_cancels.remove(&id) {
            self.events.push_back(TuEvent::Terminated {
                transaction: cancel_id,
            });
        }
    }
}

/// A fresh To tag for responses the layer builds itself: 64 random bits in hex (§19.3: "at
/// least 32 bits of randomness").
fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}
