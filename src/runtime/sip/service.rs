//! The SIP task: one task owns the transaction layer, the nonce manager and the ban list, and
//! feeds them with datagrams/stream frames from the transports and with answers from the store.
//!
//! The layer is sans-I/O (RFC 3261 §17); this file is its driver in quinn's manner: after every
//! input it drains `poll_transmit`, then `poll_event`, and it keeps one sleep armed at
//! `poll_timeout`. Store look-ups never block the loop: they run as spawned tasks whose results
//! come back as [`Completion`]s.
//!
//! It is also the router: each event of the layer, each completion and each piece of work an
//! owner leaves for another goes to one owner, found with one look-up in the owner index
//! ([`super::owners`]). The owners get the [`Context`], not this service.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::clock::Clock;
use crate::config::Config;
use crate::media::engine::MediaEngine;
use crate::originate;
use crate::presence::Presence;
use crate::shutdown::ShutdownListener;
use crate::sip::auth::{AuthFailures, BanConfig, NonceConfig, NonceManager};
use crate::sip::registrar::RegistrarConfig;
use crate::sip::transaction::{
    LayerConfig, TimerConfig, TransactionId, TransactionLayer, TransportKind, TuEvent,
};
use crate::sip::transport::{tcp, Inbound, Protocol};
use crate::sip::{dialog, message};
use crate::store::Store;

use super::super::call_history::HistoryWriter;
use super::super::calls::{self, Calls};
use super::super::click_to_call::{self, ClickToCalls};
use super::super::ivr_leg::{self, IvrLegs, IvrRuntime};
use super::super::leg::IvrDeps;
use super::super::mwi::{self, Mwi};
use super::super::register;
use super::completion::Completion;
use super::context::{Context, Deferred};
use super::owners::Owner;
use super::reply::{reply, SERVER, SUPPORTED};

/// Results of spawned work queued for the loop.
const COMPLETION_QUEUE: usize = 4096;

/// The SIP task: the sockets, the owners, and the context they share.
pub struct SipService {
    /// What the owners may use: the layer, the clock, the owner index, the configuration.
    cx: Context,
    udp: Vec<Arc<UdpSocket>>,
    tcp: tcp::Connections,
    /// User-Agent patterns of scanners, dropped unanswered.
    scanners: Vec<String>,
    completions_rx: Option<mpsc::Receiver<Completion>>,
    /// False once shutdown began: new INVITEs get 503.
    accepting_calls: bool,
    /// The running calls.
    calls: Calls,
    /// The calls answered for an IVR (and the media engine that answers them).
    ivr_legs: IvrLegs,
    /// Click-to-calls (RFC 3725) the API asked for.
    click_to_call: ClickToCalls,
    /// The writer task, until `serve` takes it to wait for the last records at shutdown.
    history_task: Option<tokio::task::JoinHandle<()>>,
    /// `[security] trusted_proxies`: whose Via chain names the client.
    trusted: crate::config::security::TrustedProxies,
    /// Requests per source (`[security] sip_requests_per_sec`, `sip_burst`).
    flood: crate::sip::flood::FloodLimiter,
    /// Message-waiting subscriptions and NOTIFYs (RFC 3842, RFC 6665).
    mwi: Mwi,
    /// Bans the store knows of (other nodes', and ours before a restart): `cluster::bans`.
    learned_bans: Option<mpsc::Receiver<crate::cluster::bans::Learned>>,
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
        let trusted = config.security.trusted();
        let flood = crate::sip::flood::FloodLimiter::new(crate::sip::flood::FloodConfig {
            rate: config.security.sip_requests_per_sec,
            burst: config.security.sip_burst,
            refusals_before_ban: config.security.sip_refusals_before_ban,
            window: config.sip.auth_failures_window,
            max_sources: 65_536,
        });
        let mwi = Mwi::new(config.sip.min_expires_secs, config.sip.max_expires_secs);
        let (completions, completions_rx) = mpsc::channel(COMPLETION_QUEUE);
        let (history, history_task) = HistoryWriter::start(store.clone());
        let mut cx = Context::new(
            config,
            store,
            layer,
            (nonces, bans),
            registrar,
            completions,
            presence,
            history,
        );
        cx.local_address = udp.first().and_then(|s| s.local_addr().ok());
        Self {
            cx,
            udp,
            tcp,
            scanners,
            completions_rx: Some(completions_rx),
            accepting_calls: true,
            calls: Calls::default(),
            ivr_legs: IvrLegs::default(),
            click_to_call: ClickToCalls::default(),
            history_task: Some(history_task),
            trusted,
            flood,
            mwi,
            learned_bans: None,
        }
    }

    /// Shares bans through the store (`cluster::bans`): failures and bans decided here go to
    /// `reporter`, and the bans read back from the store come in on `learned`.
    pub fn set_ban_share(
        &mut self,
        reporter: crate::cluster::bans::BanReporter,
        learned: mpsc::Receiver<crate::cluster::bans::Learned>,
    ) {
        self.cx.ban_reporter = Some(reporter);
        self.learned_bans = Some(learned);
    }

    /// Applies a ban the store knows of to the in-memory table, the one every packet is
    /// checked against.
    fn on_learned_ban(&mut self, ban: crate::cluster::bans::Learned) {
        let (now, wall) = (self.cx.instant(), self.cx.now());
        let Ok(left) = (ban.until - wall).to_std() else {
            return;
        };
        if self.cx.bans.ban_until(now, ban.source, now + left) {
            info!(source = %ban.source, until = %ban.until, "source banned (shared ban)");
        }
    }

    /// The call-history writer's task: it ends once this service is dropped and every queued
    /// record is written, so a clean stop awaits it before closing the store.
    pub fn take_history_task(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.history_task.take()
    }

    /// This node's id (`cluster.node_id`), recorded with every binding it accepts: for a phone
    /// registered directly over TCP, the one node holding its connection (issue #20).
    pub fn set_node_id(&mut self, node: String) {
        self.cx.node_id = node;
    }

    /// Signs digest nonces with `secret` instead of a random per-process one, so every node
    /// sharing it accepts the others' nonces (`sip.nonce_secret`, issue #20).
    pub fn set_nonce_secret(&mut self, secret: [u8; 32]) {
        self.cx.nonces = NonceManager::with_secret(
            NonceConfig {
                lifetime: self.cx.config.sip.nonce_lifetime,
                algorithms: self.cx.config.sip.digest_algorithms.clone(),
                ..NonceConfig::default()
            },
            secret,
        );
    }

    /// Counts ended calls by outcome in `metrics` (`/metrics`).
    pub fn set_metrics(&mut self, metrics: Arc<crate::metrics::Metrics>) {
        self.cx.history = self.cx.history.clone().with_metrics(metrics.clone());
        self.cx.metrics = Some(metrics);
    }

    /// Reads the time from `clock` (routing decisions, registrations, timers) instead of the
    /// system clock; `serve` passes the one clock every part of the server shares.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.cx.clock = clock;
    }

    /// Answers voicemail hand-offs and calls to the voicemail number ourselves, with media
    /// from `media` and the IVR drivers given `deps`.
    pub fn set_ivr(&mut self, media: MediaEngine, deps: IvrDeps) {
        self.ivr_legs.set_runtime(IvrRuntime::new(media, deps));
        self.calls.set_ivr_available();
    }

    /// Sends voicemail hand-offs to another voicemail service instead of answering them 480
    /// (used only without [`SipService::set_ivr`], which answers them here).
    pub fn set_voicemail(&mut self, sender: mpsc::Sender<crate::b2bua::VoicemailRequest>) {
        self.calls.set_voicemail(sender);
    }

    /// Several nodes: records answered calls' dialogs in the store (issue #20).
    pub fn set_dialog_share(&mut self, share: crate::cluster::dialog_share::DialogShare) {
        self.calls.set_dialog_share(share);
    }

    /// The API's way to ask for click-to-calls (RFC 3725) and read their status.
    pub fn click_to_call_handle(&mut self) -> originate::Handle {
        self.click_to_call.handle(self.cx.config.sip.trunk.clone())
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
        self.cx.shutdown = Some(shutdown.clone());
        let mut commands = self.click_to_call.take_commands();
        let mut learned_bans = self.learned_bans.take();
        // Every mailbox change comes by the presence bus (`notify::VoicemailChanged`).
        let mut bus = self.cx.presence.subscribe();
        loop {
            let deadline = [
                self.cx.layer.poll_timeout(),
                self.calls.poll_timeout(),
                self.ivr_legs.poll_timeout(),
                self.click_to_call.poll_timeout(),
                self.mwi.poll_timeout(),
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
            let learned = async {
                match learned_bans.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(ban) = learned => self.on_learned_ban(ban),
                message = inbound.recv() => match message {
                    Some(message) => self.on_inbound(message),
                    None => return,
                },
                Some(command) = command, if self.accepting_calls => {
                    click_to_call::on_command(
                        &mut self.cx,
                        &mut self.click_to_call,
                        &mut self.calls,
                        &mut self.ivr_legs,
                        command,
                    );
                }
                Some(done) = completions.recv() => self.on_completion(done),
                event = bus.recv() => match event {
                    Ok(crate::presence::PresenceEvent::Voicemail { user_id, new, old, here }) => {
                        mwi::on_counts(&mut self.cx, &mut self.mwi, user_id, (new, old), here);
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "presence bus lagged: some lamps may wait for the next change");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        bus = self.cx.presence.subscribe();
                    }
                },
                _ = sleep => {
                    // Read the clock after waking: the sleep may have returned late (quinn's
                    // drive_timer note), and the layer must see the real time.
                    let now = self.cx.instant();
                    self.cx.layer.handle_timeout(now);
                    calls::handle_timeout(&mut self.cx, &mut self.calls, now);
                    ivr_leg::handle_timeout(&mut self.cx, &mut self.ivr_legs, now);
                    mwi::handle_timeout(&mut self.cx, &mut self.mwi, now);
                    click_to_call::handle_timeout(
                        &mut self.cx,
                        &mut self.click_to_call,
                        &mut self.calls,
                        &mut self.ivr_legs,
                        now,
                    );
                }
                _ = shutdown.recv(), if self.accepting_calls => {
                    info!("SIP: no new calls from now on");
                    self.accepting_calls = false;
                }
            }
            self.flush().await;
            if let Some(metrics) = &self.cx.metrics {
                metrics.set_transactions(self.cx.layer.len(), self.cx.layer.started());
            }
            click_to_call::sweep(
                &mut self.cx,
                &mut self.click_to_call,
                &mut self.calls,
                &mut self.ivr_legs,
            );
            self.flush().await;
        }
    }

    /// Hands over the work owners left for each other, sends what the layer queued and
    /// handles its events, until all three are empty.
    async fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(work) = self.cx.take_deferred() {
                progressed = true;
                self.on_deferred(work);
            }
            while let Some(transmit) = self.cx.layer.poll_transmit() {
                progressed = true;
                // The façade prints IPv6 references back from their rsip-safe form and keeps
                // binary bodies intact.
                let bytes = Bytes::from(message::serialize(&transmit.message));
                let sent = self
                    .send(transmit.transport, transmit.destination, bytes)
                    .await;
                if !sent {
                    if let Some(id) = transmit.transaction {
                        let now = self.cx.instant();
                        self.cx.layer.handle_transport_error(now, id);
                    }
                }
            }
            while let Some(event) = self.cx.layer.poll_event() {
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
        let now = self.cx.instant();
        // From a trusted proxy the client is read from the Via chain below (and only the
        // client is banned or limited, never the proxy carrying everyone's traffic).
        let via_proxy = self.trusted.contains(inbound.from.ip());
        if !via_proxy && self.cx.bans.is_banned(now, inbound.from.ip()) {
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
                        // A 501 for an unknown method lists ours (RFC 3261 §21.5.2).
                        let bytes = message::bad_request_response_allowing(
                            &basics,
                            &error,
                            message::ALLOWED_METHODS,
                        );
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
            let client = if via_proxy {
                crate::sip::client::client_ip(&self.trusted, inbound.from.ip(), request)
            } else {
                inbound.from.ip()
            };
            if via_proxy && self.cx.bans.is_banned(now, client) {
                return;
            }
            if !self.admitted(now, client, request, transport, inbound.from) {
                return;
            }
            crate::sip::via::stamp_received(request, inbound.from);
        }
        if let Err(error) = self
            .cx
            .layer
            .handle_message(now, parsed, inbound.from, transport)
        {
            debug!(from = %inbound.from, %error, "message not taken by the transaction layer");
        }
    }

    /// Takes a token of `client`'s request bucket ([`crate::sip::flood`]); when there is none,
    /// answers 503 with `Retry-After` outside any transaction (a flood must not fill the
    /// transaction table) or, past the refusals allowed, bans the client. False: the request
    /// goes no further.
    fn admitted(
        &mut self,
        now: std::time::Instant,
        client: std::net::IpAddr,
        request: &rsip::Request,
        transport: TransportKind,
        from: SocketAddr,
    ) -> bool {
        use crate::sip::flood::Admission;
        match self.flood.admit(now, client) {
            Admission::Admit => true,
            Admission::Refuse { retry_after_secs } => {
                debug!(%client, method = %request.method, "request over the per-source limit");
                if request.method != Method::Ack {
                    // §8.2.6.2: a final response carries a To tag of ours.
                    let tag = message::new_tag();
                    let mut response =
                        crate::sip::transaction::fields::response_to(request, 503, Some(&tag));
                    response
                        .headers
                        .push(Header::RetryAfter(rsip::headers::RetryAfter::new(
                            retry_after_secs.to_string(),
                        )));
                    response
                        .headers
                        .push(Header::Server(rsip::headers::Server::new(SERVER)));
                    let bytes = message::serialize(&rsip::SipMessage::Response(response));
                    self.layer_bypass(transport, from, bytes);
                }
                false
            }
            Admission::Ban => {
                if let Some(ban) = self.cx.ban_now(now, client) {
                    tracing::warn!(source = %ban.source, "banning source after flooding requests");
                }
                false
            }
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
                let call_id = call_id(&request);
                match self.dialog_owner(&call_id) {
                    Some(Owner::Call(key)) => {
                        calls::on_ack(&mut self.cx, &mut self.calls, key, &request);
                    }
                    Some(Owner::IvrLeg(key)) => {
                        ivr_leg::on_ack(&mut self.cx, &mut self.ivr_legs, key);
                    }
                    Some(Owner::ClickToCall(_)) | None => {}
                }
            }
            TuEvent::Cancelled { invite, .. } => {
                debug!(%invite, "INVITE cancelled by the caller");
                let cancelled = match self.cx.owners.transaction(invite) {
                    Some(&Owner::Call(key)) => {
                        calls::on_cancelled(&mut self.cx, &mut self.calls, key, invite)
                    }
                    _ => false,
                };
                if !cancelled {
                    debug!(%invite, "CANCEL for an INVITE no call owns");
                }
            }
            TuEvent::Timeout { transaction, timer } => {
                debug!(%transaction, ?timer, "transaction timed out");
                self.on_transaction_failed(transaction);
            }
            TuEvent::TransportError { transaction } => {
                debug!(%transaction, "transport error");
                self.on_transaction_failed(transaction);
            }
            TuEvent::Response {
                transaction,
                response,
            } => match self.cx.owners.transaction(transaction).cloned() {
                Some(Owner::Call(key)) => {
                    calls::on_response(&mut self.cx, &mut self.calls, key, transaction, response);
                }
                Some(Owner::IvrLeg(key)) => {
                    ivr_leg::on_response(
                        &mut self.cx,
                        &mut self.ivr_legs,
                        key,
                        transaction,
                        &response,
                    );
                }
                Some(Owner::ClickToCall(id)) => click_to_call::on_response(
                    &mut self.cx,
                    &mut self.click_to_call,
                    &mut self.calls,
                    &mut self.ivr_legs,
                    &id,
                    response,
                ),
                None => {
                    if !mwi::on_response(&mut self.mwi, transaction, &response) {
                        debug!(%transaction, "response for a transaction no one owns");
                    }
                }
            },
            TuEvent::StrayResponse { response, .. } => {
                let call_id =
                    dialog::header_value(&response.headers, "Call-ID").unwrap_or_default();
                match self.cx.owners.dialog(&call_id).cloned() {
                    Some(Owner::Call(key)) => {
                        calls::on_stray_response(&mut self.cx, &mut self.calls, key, response);
                    }
                    // Only our INVITE to the desk has CSeq 0; the target call relays its own.
                    Some(Owner::ClickToCall(id))
                        if dialog::cseq_number(&response.headers).ok() == Some(0) =>
                    {
                        click_to_call::on_desk_response(
                            &mut self.cx,
                            &mut self.click_to_call,
                            &mut self.calls,
                            &mut self.ivr_legs,
                            &id,
                            response,
                        );
                    }
                    _ => {}
                }
            }
            TuEvent::Terminated { transaction } => {
                match self.cx.owners.release_transaction(transaction) {
                    Some(Owner::Call(key)) => {
                        calls::on_terminated(&mut self.calls, key, transaction)
                    }
                    Some(Owner::ClickToCall(id)) => {
                        click_to_call::on_terminated(&mut self.click_to_call, &id, transaction);
                    }
                    Some(Owner::IvrLeg(_)) => {}
                    None => mwi::on_terminated(&mut self.mwi, transaction),
                }
            }
        }
    }

    /// Timer B/F/H or a transport error: the transaction goes, and its owner hears of it.
    fn on_transaction_failed(&mut self, transaction: TransactionId) {
        match self.cx.owners.release_transaction(transaction) {
            Some(Owner::Call(key)) => {
                calls::on_transaction_failed(&mut self.cx, &mut self.calls, key, transaction);
            }
            Some(Owner::IvrLeg(key)) => {
                ivr_leg::on_transaction_failed(&mut self.cx, &mut self.ivr_legs, key, transaction);
            }
            Some(Owner::ClickToCall(id)) => click_to_call::on_transaction_failed(
                &mut self.cx,
                &mut self.click_to_call,
                &mut self.calls,
                &mut self.ivr_legs,
                &id,
                transaction,
            ),
            None => mwi::on_failed(&mut self.mwi, transaction),
        }
    }

    /// The owner of a dialog's ACKs and requests other than a click-to-call's own: a
    /// click-to-call's desk dialog is, once bridged, its target's (the call, or the IVR leg
    /// that took the call over).
    fn dialog_owner(&self, call_id: &str) -> Option<Owner> {
        match self.cx.owners.dialog(call_id)? {
            Owner::ClickToCall(id) => {
                click_to_call::target_of(&self.click_to_call, &self.calls, &self.ivr_legs, id)
            }
            owner => Some(owner.clone()),
        }
    }

    /// A request inside a dialog (a to-tag, or a method that only exists in one): to the
    /// dialog's owner, or 481 (§12.2.2).
    fn on_in_dialog(&mut self, transaction: TransactionId, request: rsip::Request) {
        match self.dialog_owner(&call_id(&request)) {
            Some(Owner::Call(key)) => {
                calls::on_in_dialog(&mut self.cx, &mut self.calls, key, transaction, request);
            }
            Some(Owner::IvrLeg(key)) => {
                ivr_leg::on_in_dialog(&mut self.cx, &mut self.ivr_legs, key, transaction, request);
            }
            Some(Owner::ClickToCall(_)) | None => {
                let response = reply(&request, 481, Some("Call/Transaction Does Not Exist"));
                self.cx.respond(transaction, response);
            }
        }
    }

    /// Work one owner left for another.
    fn on_deferred(&mut self, work: Deferred) {
        match work {
            Deferred::AnswerIvr(answer, kind) => {
                ivr_leg::answer(&mut self.cx, &mut self.ivr_legs, *answer, kind);
            }
            Deferred::TargetResponse {
                click_to_call,
                response,
            } if ivr_leg::transfer_leg_of(&click_to_call).is_some() => {
                if let Some(key) = ivr_leg::transfer_leg_of(&click_to_call) {
                    ivr_leg::on_transfer_response(
                        &mut self.cx,
                        &mut self.ivr_legs,
                        &mut self.calls,
                        key,
                        &response,
                    );
                }
            }
            Deferred::TargetResponse {
                click_to_call,
                response,
            } if calls::refer_call_of(&click_to_call).is_some() => {
                if let Some(key) = calls::refer_call_of(&click_to_call) {
                    calls::on_refer_response(&mut self.cx, &mut self.calls, key, &response);
                }
            }
            Deferred::Transfer(key) => {
                ivr_leg::run_transfer(&mut self.cx, &mut self.ivr_legs, &mut self.calls, key);
            }
            Deferred::TargetResponse {
                click_to_call,
                response,
            } => click_to_call::on_target_response(
                &mut self.cx,
                &mut self.click_to_call,
                &mut self.calls,
                &mut self.ivr_legs,
                &click_to_call,
                *response,
            ),
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
                self.cx.respond(transaction, response);
                return;
            }
        }
        match request.method {
            Method::Options if !self.accepting_calls => {
                // Draining (issue #20): a dispatcher probing with OPTIONS (Kamailio's
                // `ds_ping_interval`) marks this node inactive on a 503 and sends new calls to
                // the others while ours end (RFC 3261 §21.5.4, Retry-After §20.33).
                let mut response = reply(&request, 503, Some("Shutting Down"));
                response
                    .headers
                    .push(Header::Other("Retry-After".into(), "30".into()));
                self.cx.respond(transaction, response);
            }
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
                self.cx.respond(transaction, response);
            }
            Method::Register => {
                register::on_register(&mut self.cx, transaction, request, source, transport)
            }
            Method::Subscribe => {
                mwi::on_subscribe(
                    &mut self.cx,
                    &mut self.mwi,
                    transaction,
                    request,
                    source,
                    transport,
                );
            }
            // A desk's request while its click-to-call is not bridged yet (RFC 3725).
            _ if has_to_tag(&request) && self.click_to_call_takes(transaction, &request) => {}
            Method::Invite if has_to_tag(&request) => {
                // A re-INVITE belongs to its dialog (§14.2).
                self.on_in_dialog(transaction, request);
            }
            Method::Invite => {
                if !self.accepting_calls {
                    let mut response = reply(&request, 503, Some("Shutting Down"));
                    response
                        .headers
                        .push(Header::Other("Retry-After".into(), "30".into()));
                    self.cx.respond(transaction, response);
                    return;
                }
                calls::on_invite(
                    &mut self.cx,
                    &mut self.calls,
                    transaction,
                    request,
                    source,
                    transport,
                );
            }
            Method::Bye | Method::Info | Method::Update | Method::PRack | Method::Refer => {
                self.on_in_dialog(transaction, request);
            }
            // A NOTIFY in a dialog: the progress of a transfer we asked for (RFC 3515).
            Method::Notify if has_to_tag(&request) => {
                self.on_in_dialog(transaction, request);
            }
            _ => {
                let mut response = reply(&request, 405, None);
                response.headers.push(message::allow_header());
                self.cx.respond(transaction, response);
            }
        }
    }

    /// Whether the request is in a click-to-call's desk dialog that is not bridged yet, and
    /// the click-to-call took it.
    fn click_to_call_takes(&mut self, transaction: TransactionId, request: &rsip::Request) -> bool {
        let Some(Owner::ClickToCall(id)) = self.cx.owners.dialog(&call_id(request)).cloned() else {
            return false;
        };
        click_to_call::on_in_dialog(
            &mut self.cx,
            &mut self.click_to_call,
            &mut self.calls,
            &mut self.ivr_legs,
            &id,
            transaction,
            request,
        )
    }

    fn on_completion(&mut self, completion: Completion) {
        let cx = &mut self.cx;
        match completion {
            Completion::Respond {
                transaction,
                response,
            } => cx.respond(transaction, response),
            Completion::Register(lookup) => register::on_lookup(cx, *lookup),
            Completion::Routed(lookup) => calls::on_routed(cx, &mut self.calls, *lookup),
            Completion::Leg(key, command) => {
                ivr_leg::on_command(cx, &mut self.ivr_legs, key, command);
            }
            Completion::LegDone(key) => ivr_leg::on_done(cx, &mut self.ivr_legs, key),
            Completion::Mwi(lookup) => mwi::on_registered(cx, &mut self.mwi, *lookup),
            Completion::Subscribe(lookup) => mwi::on_lookup(cx, &mut self.mwi, *lookup),
            Completion::MediaTimeout(key) => calls::on_media_timeout(cx, &mut self.calls, key),
        }
    }
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
