//! What an owner (a call, an IVR leg, a click-to-call, the registrar) may use when the SIP
//! task hands it an event: the transaction layer, the clock, the completion channel, the
//! configuration and the shared services — and not the other owners, nor the sockets.
//!
//! An owner that needs another owner to act (a call handed to voicemail needs the IVR to
//! answer; a click-to-call's target call answers the INVITE we made) leaves a [`Deferred`]
//! here, which the SIP task hands to that owner once the first is done. So owners do not import
//! each other upwards, and each runs to the end of its turn before the next starts.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tracing::debug;

use crate::clock::Clock;
use crate::config::Config;
use crate::presence::Presence;
use crate::shutdown::{CallGuard, ShutdownListener};
use crate::sip::auth::{AuthFailures, NonceManager};
use crate::sip::registrar::RegistrarConfig;
use crate::sip::transaction::{TransactionId, TransactionLayer, TransportKind};
use crate::store::Store;

use super::super::call_history::HistoryWriter;
use super::super::leg::{Answer, IvrKind};
use super::completion::Completion;
use super::owners::Owners;

/// Work for another owner, handed over by the SIP task after the current owner's turn.
#[derive(Debug)]
pub enum Deferred {
    /// Answer this call for an IVR (a call handed to voicemail, or a call for a mailbox).
    AnswerIvr(Box<Answer>, IvrKind),
    /// A response to a click-to-call's originated INVITE (by the target call, or the IVR that
    /// answered it): the click-to-call carries it to the desk.
    TargetResponse {
        /// The click-to-call.
        click_to_call: String,
        /// The response.
        response: Box<rsip::Response>,
    },
    /// A transfer out of this IVR leg has work that needs the calls
    /// (`runtime::ivr_leg::transfer`).
    Transfer(super::owners::LegKey),
}

/// The owners' context.
pub struct Context {
    /// The server's configuration.
    pub config: Config,
    /// Look-ups run in spawned tasks with a clone.
    pub store: Store,
    /// RFC 3261 §17: every request and response goes through it.
    pub layer: TransactionLayer,
    /// Which owner each transaction and dialog belongs to.
    pub owners: Owners,
    /// Digest nonces (REGISTER and INVITE authentication, RFC 8760).
    pub nonces: NonceManager,
    /// Sources banned after repeated authentication failures.
    pub bans: AuthFailures,
    /// The registrar's expiry bounds.
    pub registrar: RegistrarConfig,
    /// Where spawned work sends its answers.
    pub completions: mpsc::Sender<Completion>,
    /// The one clock of the server.
    pub clock: Arc<dyn Clock>,
    /// Who is on the phone; the B2BUA writes it, routing reads it.
    pub presence: Presence,
    /// For the calls' drain guards (set when the loop starts).
    pub shutdown: Option<ShutdownListener>,
    /// Where ended calls' history records go (one writer task, group commit).
    pub history: HistoryWriter,
    /// Our first UDP address: Via sent-by and Contact of our requests.
    pub local_address: Option<SocketAddr>,
    /// Where failures and bans go for the other nodes and the next start (`cluster::bans`);
    /// `None`: this node's memory only.
    pub ban_reporter: Option<crate::cluster::bans::BanReporter>,
    /// `/metrics` counters (transactions, RTP sessions, store latency), when served.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Work for other owners, handed over after the current turn.
    deferred: VecDeque<Deferred>,
    /// This node's id (`cluster.node_id`), recorded with the bindings it accepts; empty until
    /// the service is told.
    pub node_id: String,
}

impl Context {
    /// A context over its parts; nothing deferred yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        store: Store,
        layer: TransactionLayer,
        auth: (NonceManager, AuthFailures),
        registrar: RegistrarConfig,
        completions: mpsc::Sender<Completion>,
        presence: Presence,
        history: HistoryWriter,
    ) -> Self {
        let (nonces, bans) = auth;
        Context {
            config,
            store,
            layer,
            owners: Owners::default(),
            nonces,
            bans,
            registrar,
            completions,
            clock: Arc::new(crate::clock::SystemClock),
            presence,
            shutdown: None,
            history,
            local_address: None,
            ban_reporter: None,
            metrics: None,
            node_id: String::new(),
            deferred: VecDeque::new(),
        }
    }

    /// The monotonic time (timers, bans).
    pub fn instant(&self) -> Instant {
        self.clock.instant()
    }

    /// The wall-clock time (routing, registrations).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A drain guard for a call that starts (none before the loop runs).
    pub fn call_guard(&self) -> Option<CallGuard> {
        self.shutdown.as_ref().map(|s| s.call_started())
    }

    /// Answers in a server transaction; a transaction that ended meanwhile (CANCEL, timeout)
    /// is not an error worth more than a debug line. A response under an originated id (an
    /// IVR leg answering a click-to-call's target, a transfer's call) goes to the owner the id
    /// names instead.
    pub fn respond(&mut self, transaction: TransactionId, response: rsip::Response) {
        if let Some(click_to_call) = self.owners.originated(transaction) {
            let click_to_call = click_to_call.to_owned();
            self.defer(Deferred::TargetResponse {
                click_to_call,
                response: Box::new(response),
            });
            return;
        }
        let now = self.instant();
        if let Err(error) = self.layer.respond(now, transaction, response) {
            debug!(%transaction, %error, "response not sent");
        }
    }

    /// The address our requests and answers carry (Via sent-by, Contact): `[sip]
    /// public_address` when set (a node behind NAT), else our first UDP socket's, or the SIP
    /// domain without one.
    pub fn sent_by(&self) -> String {
        if let Some(public) = self.config.sip.public_sent_by() {
            return public.to_owned();
        }
        self.local_address
            .map_or_else(|| self.config.sip.domain.clone(), |a| a.to_string())
    }

    /// A Via for a request we send over `transport`, with a new branch (§8.1.1.7) and rport
    /// (RFC 3581).
    pub fn via(&self, transport: TransportKind) -> String {
        crate::sip::via::ours(&self.sent_by(), transport)
    }

    /// The IP our SDP names (`c=`): the SIP socket's, or, when it listens on a wildcard
    /// address, the one the caller addressed the INVITE to (so a phone reaches our media where
    /// it reached us).
    pub fn media_ip(&self, invite: &rsip::Request) -> IpAddr {
        if let Some(ip) = self
            .local_address
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
        {
            return ip;
        }
        invite
            .uri
            .host_with_port
            .host
            .to_string()
            .trim_matches(['[', ']'])
            .parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    }

    /// Counts a failed authentication of `client` ([`AuthFailures::record_failure`]) and
    /// reports it for the shared count, or the ban it started, to the store
    /// (`cluster::bans`).
    pub fn auth_failed(
        &mut self,
        now: Instant,
        client: IpAddr,
    ) -> Option<crate::sip::auth::BanStarted> {
        let ban = self.bans.record_failure(now, client);
        self.report_ban(now, client, ban);
        ban
    }

    /// Bans `client` now ([`AuthFailures::ban`]: a flood) and reports the ban to the store.
    pub fn ban_now(
        &mut self,
        now: Instant,
        client: IpAddr,
    ) -> Option<crate::sip::auth::BanStarted> {
        let ban = self.bans.ban(now, client);
        if ban.is_some() {
            self.report_ban(now, client, ban);
        }
        ban
    }

    fn report_ban(&self, now: Instant, client: IpAddr, ban: Option<crate::sip::auth::BanStarted>) {
        let Some(reporter) = &self.ban_reporter else {
            return;
        };
        match ban {
            Some(ban) => {
                let left = chrono::Duration::from_std(ban.until.saturating_duration_since(now))
                    .unwrap_or(chrono::Duration::zero());
                reporter.banned(ban.source, self.now() + left);
            }
            None => reporter.failure(crate::sip::auth::ban_key(client)),
        }
    }

    /// A relay endpoint as our SDP names it: with `[rtp] public_ip` set, that address (the
    /// socket stays bound where it is).
    pub fn advertised_media(&self, bound: SocketAddr) -> SocketAddr {
        match self.config.rtp.advertised_ip() {
            Some(ip) => SocketAddr::new(ip, bound.port()),
            None => bound,
        }
    }

    /// Our SDP as sent: with `[rtp] public_ip` set, its `o=` and every `c=` but a hold
    /// (RFC 8866 §5.2, §5.7) name that address; else as it is.
    pub fn advertised_sdp(&self, sdp: String) -> String {
        let Some(public) = self.config.rtp.advertised_ip() else {
            return sdp;
        };
        let Ok(mut parsed) = crate::media::sdp::SessionDescription::parse(&sdp) else {
            return sdp;
        };
        parsed.origin.address = public.to_string();
        parsed.origin.ipv6 = public.is_ipv6();
        let connections = parsed.connection.iter_mut().chain(
            parsed
                .media
                .iter_mut()
                .filter_map(|m| m.connection.as_mut()),
        );
        for connection in connections {
            if !connection.is_hold() {
                connection.address = public;
            }
        }
        parsed.to_string()
    }

    /// Leaves work for another owner.
    pub fn defer(&mut self, work: Deferred) {
        self.deferred.push_back(work);
    }

    /// The next work left for another owner.
    pub fn take_deferred(&mut self) -> Option<Deferred> {
        self.deferred.pop_front()
    }
}
