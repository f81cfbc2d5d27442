//! The SIP task: one task owns the transaction layer, the nonce manager and the ban list, and
//! feeds them with datagrams/stream frames from the transports and with answers from the store.
//!
//! The layer is sans-I/O (RFC 3261 §17); this file is its driver in quinn's manner: after every
//! input it drains `poll_transmit`, then `poll_event`, and it keeps one sleep armed at
//! `poll_timeout`. Store look-ups never block the loop: they run as spawned tasks whose results
//! come back as [`Completion`]s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::shutdown::ShutdownListener;
use crate::sip::auth::{AuthFailures, BanConfig, NonceConfig, NonceManager};
use crate::sip::message;
use crate::sip::registrar::RegistrarConfig;
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{
    LayerConfig, TimerConfig, TransactionId, TransactionLayer, TransportKind, TuEvent,
};
use crate::sip::transport::{tcp, Inbound, Protocol};
use crate::store::Store;

use super::call_history::HistoryWriter;
use super::calls::{self, Calls};
use super::click_to_call::{self, ClickToCalls};
use super::ivr_leg::{self, IvrDeps, IvrLegs, IvrRuntime};
use super::register::{self, RegisterLookup};
use crate::media::engine::MediaEngine;
use crate::presence::Presence;

/// Option tags we support (Supported, and what Require may name without a 420).
pub const SUPPORTED: &[&str] = &["path", "outbound", "timer"];
/// The Server / User-Agent string.
pub const SERVER: &str = concat!("OneStatus/", env!("CARGO_PKG_VERSION"));
/// Results of spawned work queued for the loop.
const COMPLETION_QUEUE: usize = 4096;

/// Answers from spawned work, handled back in the loop that owns the layer.
#[derive(Debug)]
pub enum Completion {
    /// Send this response in this server transaction.
    Respond {
        /// The transaction.
        transaction: TransactionId,
        /// The response.
        response: rsip::Response,
    },
    /// The store answered a REGISTER's credential and binding look-up.
    Register(Box<RegisterLookup>),
    /// Routing decided for a new call.
    Routed(Box<super::calls::RouteLookup>),
    /// An IVR driver asks for something only the SIP side can do.
    Leg(super::ivr_leg::LegKey, super::ivr_leg::LegCommand),
    /// An IVR driver has ended.
    LegDone(super::ivr_leg::LegKey),
    /// The store answered for a message-waiting update.
    Mwi(Box<super::ivr_leg::MwiLookup>),
    /// An anchored call's relay carried no RTP either way for the RTP timeout.
    MediaTimeout(super::calls::CallKey),
}

/// The SIP task's state.
pub struct SipService {
    pub(super) config: Config,
    pub(super) store: Store,
    udp: Vec<Arc<UdpSocket>>,
    tcp: tcp::Connections,
    pub(super) layer: TransactionLayer,
    pub(super) nonces: NonceManager,
    pub(super) bans: AuthFailures,
    pub(super) registrar: RegistrarConfig,
    scanners: Vec<String>,
    pub(super) completions: mpsc::Sender<Completion>,
    completions_rx: Option<mpsc::Receiver<Completion>>,
    pub(super) clock: Arc<dyn Clock>,
    accepting_calls: bool,
    /// Who is on the phone; the B2BUA writes it, routing reads it.
    pub(super) presence: Presence,
    /// The running calls.
    pub(super) calls: Calls,
    /// For the calls' drain guards (set when `run` starts).
    pub(super) shutdown: Option<ShutdownListener>,
    /// Media engine and drivers for the calls we answer ourselves (voicemail); `None`: such
    /// calls get 480.
    pub(super) ivr: Option<IvrRuntime>,
    /// The calls answered for an IVR.
    pub(super) ivr_legs: IvrLegs,
    /// Click-to-calls (RFC 3725) the API asked for.
    pub(super) click_to_call: ClickToCalls,
    /// Where ended calls' history records go (one writer task, group commit).
    pub(super) history: HistoryWriter,
    /// The writer task, until `serve` takes it to wait for the last records at shutdown.
    history_task: Option<tokio::task::JoinHandle<()>>,
}

impl SipService {
    /// A service over the bound sockets.
    pub fn new(
        config: Config,
        store: Store,
        udp: Vec<Arc<UdpSocket>>,
        tcp: tcp::Connections,
        presence: Presence,
    ) -> Self {
        let timers = TimerConfig {
            t1: config.sip.t1,
            t2: config.sip.t2,
            t4: config.sip.t4,
        };
        let layer = TransactionLayer::new(LayerConfig {
            timers,
            max_transactions: config.sip.max_transactions,
        });
        let nonces = NonceManager::new(NonceConfig {
            lifetime: config.sip.nonce_lifetime,
            algorithms: config.sip.digest_algorithms.clone(),
            ..NonceConfig::default()
        });
        let bans = AuthFailures::new(BanConfig {
            threshold: config.sip.auth_failures_max,
            window: config.sip.auth_failures_window,
            ban_for: config.sip.ban_for,
            ..BanConfig::default()
        });
        let registrar = RegistrarConfig {
            min_expires: config.sip.min_expires_secs,
            max_expires: config.sip.max_expires_secs,
            default_expires: config.sip.max_expires_secs.min(3600),
            ..RegistrarConfig::default()
        };
        let scanners = config.sip.scanner_user_agents.clone();
        let (completions, completions_rx) = mpsc::channel(COMPLETION_QUEUE);
        let (history, history_task) = HistoryWriter::start(store.clone());
        Self {
            config,
            store,
            udp,
            tcp,
            layer,
            nonces,
            bans,
            registrar,
            scanners,
            completions,
            completions_rx: Some(completions_rx),
            clock: Arc::new(SystemClock),
            accepting_calls: true,
            presence,
            calls: Calls::default(),
            shutdown: None,
            ivr: None,
            ivr_legs: IvrLegs::default(),
            click_to_call: ClickToCalls::default(),
            history,
            history_task: Some(history_task),
        }
    }

    /// The call-history writer's task: it ends once this service is dropped and every queued
    /// record is written, so a clean stop awaits it before closing the store.
    pub fn take_history_task(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.history_task.take()
    }

    /// Reads the time from `clock` (routing decisions, registrations, timers) instead of the
    /// system clock; `serve` passes the one clock every part of the server shares.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// Answers voicemail hand-offs and calls to the voicemail number ourselves, with media
    /// from `media` and the IVR drivers given `deps`.
    pub fn set_ivr(&mut self, media: MediaEngine, deps: IvrDeps) {
        self.ivr = Some(IvrRuntime::new(media, deps));
    }

    /// Sends voicemail hand-offs to another voicemail service instead of answering them 480
    /// (used only without [`SipService::set_ivr`], which answers them here).
    pub fn set_voicemail(&mut self, sender: mpsc::Sender<crate::b2bua::VoicemailRequest>) {
        self.calls.set_voicemail(sender);
    }

    /// The API's way to ask for click-to-calls (RFC 3725) and read their status.
    pub fn click_to_call_handle(&mut self) -> click_to_call::Handle {
        self.click_to_call.handle(self.config.sip.trunk.clone())
    }

    /// Our first UDP address: Via sent-by and Contact of the calls' requests.
    pub(super) fn local_address(&self) -> Option<SocketAddr> {
        self.udp.first().and_then(|s| s.local_addr().ok())
    }

    /// Runs until the inbound channel closes or the task is aborted after the drain.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut shutdown: ShutdownListener,
    ) {
        let Some(mut completions) = self.completions_rx.take() else {
            return;
        };
        self.shutdown = Some(shutdown.clone());
        let mut commands = self.click_to_call.take_commands();
        loop {
            let deadline = [
                self.layer.poll_timeout(),
                self.calls.poll_timeout(),
                self.ivr_legs.poll_timeout(),
                self.click_to_call.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let command = async {
                match commands.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = inbound.recv() => match message {
                    Some(message) => self.on_inbound(message),
                    None => return,
                },
                Some(command) = command, if self.accepting_calls => {
                    click_to_call::on_command(&mut self, command);
                }
                Some(done) = completions.recv() => self.on_completion(done),
                _ = sleep => {
                    // Read the clock after waking: the sleep may have returned late (quinn's
                    // drive_timer note), and the layer must see the real time.
                    let now = self.clock.instant();
                    self.layer.handle_timeout(now);
                    calls::handle_timeout(&mut self, now);
                    ivr_leg::handle_timeout(&mut self, now);
                    click_to_call::handle_timeout(&mut self, now);
                }
                _ = shutdown.recv(), if self.accepting_calls => {
                    info!("SIP: no new calls from now on");
                    self.accepting_calls = false;
                }
            }
            self.flush().await;
            click_to_call::sweep(&mut self);
            self.flush().await;
        }
    }

    /// Sends what the layer queued and handles its events, until both are empty.
    async fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(transmit) = self.layer.poll_transmit() {
                progressed = true;
                // The façade prints IPv6 references back from their rsip-safe form and keeps
                // binary bodies intact.
                let bytes = Bytes::from(message::serialize(&transmit.message));
                let sent = self
                    .send(transmit.transport, transmit.destination, bytes)
                    .await;
                if !sent {
                    if let Some(id) = transmit.transaction {
                        let now = self.clock.instant();
                        self.layer.handle_transport_error(now, id);
                    }
                }
            }
            while let Some(event) = self.layer.poll_event() {
                progressed = true;
                self.on_event(event);
            }
            if !progressed {
                return;
            }
        }
    }

    /// Writes bytes to the network; false when they could not be handed to the OS.
    async fn send(&self, transport: TransportKind, to: SocketAddr, bytes: Bytes) -> bool {
        match transport {
            TransportKind::Udp => {
                let socket = self
                    .udp
                    .iter()
                    .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == to.is_ipv4()))
                    .or_else(|| self.udp.first());
                match socket {
                    Some(socket) => match socket.send_to(&bytes, to).await {
                        Ok(_) => true,
                        Err(e) => {
                            debug!(%to, error = %e, "UDP send failed");
                            false
                        }
                    },
                    None => false,
                }
            }
            TransportKind::Tcp => match self.tcp.send(to, bytes).await {
                Ok(()) => true,
                Err(e) => {
                    debug!(%to, error = %e, "TCP send failed");
                    false
                }
            },
        }
    }

    /// Bytes from a transport: parse, answer what cannot be parsed, feed the layer.
    fn on_inbound(&mut self, inbound: Inbound) {
        let now = self.clock.instant();
        if self.bans.is_banned(now, inbound.from.ip()) {
            return;
        }
        let transport = match inbound.protocol {
            Protocol::Udp => TransportKind::Udp,
            Protocol::Tcp => TransportKind::Tcp,
        };
        let mut parsed = match message::parse(&inbound.bytes) {
            Ok(m) => m,
            Err(error) => {
                // §21.4.1 / house rule: a request we can read enough of gets a 400 naming the
                // problem; anything else is dropped.
                match message::recover_request_basics(&inbound.bytes) {
                    Some(basics) => {
                        debug!(from = %inbound.from, %error, "answering unparseable request");
                        let bytes = message::bad_request_response(&basics, &error);
                        self.layer_bypass(transport, inbound.from, bytes);
                    }
                    None => debug!(from = %inbound.from, %error, "dropping unparseable message"),
                }
                return;
            }
        };
        if let rsip::SipMessage::Request(request) = &mut parsed {
            if let Some(ua) = user_agent(request) {
                let patterns: Vec<&str> = self.scanners.iter().map(String::as_str).collect();
                if crate::sip::auth::is_scanner(&ua, &patterns) {
                    debug!(from = %inbound.from, user_agent = %ua, "dropping scanner");
                    return;
                }
            }
            crate::sip::via::stamp_received(request, inbound.from);
        }
        if let Err(error) = self
            .layer
            .handle_message(now, parsed, inbound.from, transport)
        {
            debug!(from = %inbound.from, %error, "message not taken by the transaction layer");
        }
    }

    /// Sends bytes outside any transaction (a 400 to something the layer could not key).
    fn layer_bypass(&self, transport: TransportKind, to: SocketAddr, bytes: Vec<u8>) {
        let udp = self.udp.clone();
        let tcp = self.tcp.clone();
        tokio::spawn(async move {
            match transport {
                TransportKind::Udp => {
                    if let Some(s) = udp
                        .iter()
                        .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == to.is_ipv4()))
                    {
                        let _ = s.send_to(&bytes, to).await;
                    }
                }
                TransportKind::Tcp => {
                    let _ = tcp.send(to, Bytes::from(bytes)).await;
                }
            }
        });
    }

    fn on_event(&mut self, event: TuEvent) {
        match event {
            TuEvent::Request {
                transaction,
                request,
                source,
                transport,
            } => {
                let span = tracing::debug_span!("request", call_id = %call_id(&request), method = %request.method);
                let _enter = span.enter();
                self.on_request(transaction, request, source, transport);
            }
            TuEvent::Ack { request, .. } => {
                if !ivr_leg::on_ack(self, &request) {
                    calls::on_ack(self, &request);
                }
            }
            TuEvent::Cancelled { invite, .. } => {
                debug!(%invite, "INVITE cancelled by the caller");
                if !calls::on_cancelled(self, invite) {
                    debug!(%invite, "CANCEL for an INVITE no call owns");
                }
            }
            TuEvent::Timeout { transaction, timer } => {
                debug!(%transaction, ?timer, "transaction timed out");
                if !click_to_call::on_transaction_failed(self, transaction)
                    && !ivr_leg::on_transaction_failed(self, transaction)
                {
                    calls::on_transaction_failed(self, transaction);
                }
            }
            TuEvent::TransportError { transaction } => {
                debug!(%transaction, "transport error");
                if !click_to_call::on_transaction_failed(self, transaction)
                    && !ivr_leg::on_transaction_failed(self, transaction)
                {
                    calls::on_transaction_failed(self, transaction);
                }
            }
            TuEvent::Response {
                transaction,
                response,
            } => {
                if !click_to_call::on_response(self, transaction, &response)
                    && !ivr_leg::on_response(self, transaction, &response)
                {
                    calls::on_response(self, transaction, response);
                }
            }
            TuEvent::StrayResponse { response, .. } => {
                if !click_to_call::on_stray_response(self, &response) {
                    calls::on_stray_response(self, response);
                }
            }
            TuEvent::Terminated { transaction } => {
                click_to_call::on_terminated(self, transaction);
                calls::on_terminated(self, transaction);
            }
        }
    }

    /// A new request from the layer (retransmissions never get here).
    fn on_request(
        &mut self,
        transaction: TransactionId,
        request: rsip::Request,
        source: SocketAddr,
        transport: TransportKind,
    ) {
        if let Err(rejection) =
            message::validate_request(&request, SUPPORTED, message::ALLOWED_METHODS)
        {
            // §11: an OPTIONS with Max-Forwards 0 is answered by the element it reached.
            let options_hop = request.method == Method::Options && rejection.status_code == 483;
            if !options_hop {
                let tag = message::new_tag();
                let mut response = rejection.to_response(&request, Some(&tag));
                response
                    .headers
                    .push(Header::Server(rsip::headers::Server::new(SERVER)));
                self.respond(transaction, response);
                return;
            }
        }
        match request.method {
            Method::Options => {
                let mut response = reply(&request, 200, None);
                response.headers.push(message::allow_header());
                response
                    .headers
                    .push(Header::Accept(rsip::headers::Accept::new(
                        "application/sdp",
                    )));
                response
                    .headers
                    .push(Header::Other("Accept-Language".into(), "da, sv, en".into()));
                response
                    .headers
                    .push(Header::Supported(rsip::headers::Supported::new(
                        SUPPORTED.join(", "),
                    )));
                self.respond(transaction, response);
            }
            Method::Register => {
                register::on_register(self, transaction, request, source, transport)
            }
            // A desk's request while its click-to-call is not bridged yet (RFC 3725).
            _ if has_to_tag(&request)
                && click_to_call::on_in_dialog(self, transaction, &request) => {}
            Method::Invite if has_to_tag(&request) => {
                // A re-INVITE belongs to its dialog (§14.2).
                calls::on_in_dialog(self, transaction, request);
            }
            Method::Invite => {
                if !self.accepting_calls {
                    let mut response = reply(&request, 503, Some("Shutting Down"));
                    response
                        .headers
                        .push(Header::Other("Retry-After".into(), "30".into()));
                    self.respond(transaction, response);
                    return;
                }
                calls::on_invite(self, transaction, request, source, transport);
            }
            Method::Bye | Method::Info | Method::Update | Method::PRack | Method::Refer => {
                calls::on_in_dialog(self, transaction, request);
            }
            // A NOTIFY in a dialog: the progress of a transfer we asked for (RFC 3515).
            Method::Notify if has_to_tag(&request) => {
                calls::on_in_dialog(self, transaction, request);
            }
            _ => {
                let mut response = reply(&request, 405, None);
                response.headers.push(message::allow_header());
                self.respond(transaction, response);
            }
        }
    }

    fn on_completion(&mut self, completion: Completion) {
        match completion {
            Completion::Respond {
                transaction,
                response,
            } => self.respond(transaction, response),
            Completion::Register(lookup) => register::on_lookup(self, *lookup),
            Completion::Routed(lookup) => calls::on_routed(self, *lookup),
            Completion::Leg(key, command) => ivr_leg::on_command(self, key, command),
            Completion::LegDone(key) => ivr_leg::on_done(self, key),
            Completion::Mwi(lookup) => ivr_leg::on_mwi(self, *lookup),
            Completion::MediaTimeout(key) => calls::on_media_timeout(self, key),
        }
    }

    /// Answers in a server transaction; a transaction that ended meanwhile (CANCEL, timeout)
    /// is not an error worth more than a debug line.
    pub(super) fn respond(&mut self, transaction: TransactionId, response: rsip::Response) {
        // The target call of a click-to-call answers an INVITE we made: no transaction.
        if click_to_call::on_respond(self, transaction, &response) {
            return;
        }
        let now = self.clock.instant();
        if let Err(error) = self.layer.respond(now, transaction, response) {
            debug!(%transaction, %error, "response not sent");
        }
    }

    /// The monotonic time, for ban bookkeeping.
    pub(super) fn instant(&self) -> Instant {
        self.clock.instant()
    }
}

/// A response to `request` with a tag on To for anything but 100, our Server header, and an
/// optional reason phrase of our own.
pub fn reply(request: &rsip::Request, code: u16, reason: Option<&str>) -> rsip::Response {
    let tag = (code > 100).then(message::new_tag);
    let mut response = response_to(request, code, tag.as_deref());
    let reason = reason.unwrap_or_else(|| message::canonical_reason(code));
    response.status_code = rsip::StatusCode::Other(code, reason.to_owned());
    response
        .headers
        .push(Header::Server(rsip::headers::Server::new(SERVER)));
    response
}

fn user_agent(request: &rsip::Request) -> Option<String> {
    request.headers.iter().find_map(|h| match h {
        Header::UserAgent(ua) => Some(ua.value().to_owned()),
        _ => None,
    })
}

fn call_id(request: &rsip::Request) -> String {
    request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::CallId(c) => Some(c.value().to_owned()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Whether the To header carries a tag: the request is inside a dialog (§12.2.2).
fn has_to_tag(request: &rsip::Request) -> bool {
    crate::sip::dialog::header_value(&request.headers, "To")
        .map(|to| crate::sip::dialog::split_tag(&to).1.is_some())
        .unwrap_or(false)
}
