//! The tokio glue: `serve` loads the store, binds the sockets, starts the SIP, media and HTTP
//! tasks, and on SIGTERM/SIGINT stops accepting, drains calls and exits.
//!
//! # Layout
//! - [`sip`]: the SIP task — [`sip::service`] (sockets, the layer's driver, the router),
//!   [`sip::owners`] (transactions and dialogs → owner), [`sip::context`] (what an owner may
//!   use), [`sip::completion`] (answers from spawned work), [`sip::reply`].
//! - The owners the router hands events to: `calls` (B2BUA calls; `calls/route.rs` the routing
//!   task, `calls/policy.rs` the pure route → plan policy), [`ivr_leg`] (calls answered for an
//!   IVR), [`click_to_call`] (RFC 3725) and `register` (REGISTER).
//! - [`leg`]: the seam between the SIP side and the IVR drivers, [`voicemail`] (deposit) and
//!   [`mailbox`] (retrieval), which import it and nothing of SIP.
//! - `call_history`, [`listeners`], [`pin_delivery`]. A callee's routing state comes from
//!   [`crate::user_state`], the one loader the HTTP API shares.
//!
//! Imports go one way: `sip::service` → owners → `sip::{context, owners, completion, reply}`
//! and `leg`; `click_to_call` → `calls`, `ivr_leg`; `calls` and `ivr_leg` import no other owner.
//!
//! Everything that can go wrong before the server is up (config, database, an address in use)
//! is a [`StartupError`], which `main` turns into one line and exit code 2.

mod call_history;
mod calls;
pub mod click_to_call;
mod delivery;
mod ivr_driver;
pub mod ivr_leg;
pub mod leg;
pub mod listeners;
pub mod mailbox;
mod mwi;
pub mod pin_delivery;
mod register;
mod retention;
pub mod sip;
pub mod voicemail;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::shutdown::Shutdown;
use crate::sip::transport::framing::FramingLimits;
use crate::sip::transport::{tcp, udp, Inbound};
use crate::store::{Store, StoreError};
use listeners::{BindError, Listeners};

/// Inbound SIP messages queued for the SIP task before UDP reads start shedding load.
const INBOUND_QUEUE: usize = 16_384;

/// What `serve` was asked to do beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Seed the demo organisation into an empty database.
    pub demo: bool,
}

/// A failure before the server is up. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database cannot be opened or migrated.
    #[error("database {url}: {source}")]
    Database {
        /// The URL, without password.
        url: String,
        /// Why.
        source: StoreError,
    },
    /// A socket cannot be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// `ONESTATUS_TEST_NOW` is not a time.
    #[error(transparent)]
    TestNow(#[from] crate::clock::TestNowError),
    /// `[smtp]` or `[sms]` is wrong.
    #[error("notifications: {0}")]
    Notifier(#[from] crate::notify::NotifierConfigError),
    /// `[directory]` is wrong.
    #[error("directory: {0}")]
    Directory(#[from] crate::directory::external::DirectoryConfigError),
}

/// Opens (and migrates) the store the configuration names, creating the SQLite data directory.
pub async fn open_store(config: &Config) -> Result<Store, StartupError> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartupError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    }
    Store::connect_with(&url, Some(config.database.max_connections))
        .await
        .map_err(|source| StartupError::Database {
            url: redact(&url),
            source,
        })
}

/// Removes a password from a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A server that has its store and sockets and is ready to run.
pub struct Server {
    config: Config,
    store: Store,
    listeners: Listeners,
    notifier: std::sync::Arc<crate::notify::Notifier>,
    /// The prompt fragments; `None` when `prompt_dir` cannot be read (voicemail is then off
    /// and hand-offs are answered 480, said once at start-up).
    prompts: Option<crate::speech::FragmentLibrary>,
    /// The one clock of every part of the server (routing, IVRs, calendar sync, API).
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    /// Where voicemail recordings are spooled (in memory when the directory failed).
    spool: voicemail::SpoolDir,
    /// `[directory]`: the external number directory, one cache for the notifier and the API.
    directory: Option<crate::directory::ExternalDirectory>,
    /// The digest nonce secret from `sip.nonce_secret` (random per process when `None`).
    nonce_secret: Option<[u8; 32]>,
}

impl Server {
    /// Everything that can fail at start-up: store, demo data, sockets.
    pub async fn prepare(config: Config, options: ServeOptions) -> Result<Server, StartupError> {
        let clock =
            crate::clock::from_test_now(std::env::var(crate::clock::TEST_NOW_VAR).ok().as_deref())?;
        if let Ok(value) = std::env::var(crate::clock::TEST_NOW_VAR) {
            warn!(
                "{}={value}: THE WALL CLOCK IS SET FOR TESTS (now {}); never set this in production",
                crate::clock::TEST_NOW_VAR,
                clock.now()
            );
        }
        let store = open_store(&config).await?;
        let nonce_secret =
            crate::cluster::nonce_secret::resolve_with_store(&config.sip.nonce_secret, &store)
                .await
                .map_err(|e| ConfigError::Inconsistent {
                    origin: "configuration".into(),
                    message: e.to_string(),
                })?;
        if nonce_secret.is_none() && store.backend_name() == "postgres" {
            warn!(
                "sip.nonce_secret is not set: this node's digest nonces are refused by any other \
                 node on the same PostgreSQL store; give every node the same secret, or \
                 nonce_secret = \"store\""
            );
        }
        if options.demo {
            crate::store::demo::seed_at(&store, clock.now())
                .await
                .map_err(|source| StartupError::Database {
                    url: redact(&config.database_url()),
                    source,
                })?;
            demo_spoken_names(&store, clock.now()).await;
        }
        // Messages a crash interrupted are stored before new calls are taken.
        let spool = config.data_dir.join("spool");
        let spool = match voicemail::SpoolDir::create(spool.clone()) {
            Ok(dir) => {
                let recovered = voicemail::recover_spool(&dir, &store).await;
                if recovered > 0 {
                    info!(recovered, "voicemail messages recovered from the spool");
                }
                dir
            }
            Err(error) => {
                warn!(%error, dir = %spool.display(), "no recording spool");
                voicemail::SpoolDir::memory()
            }
        };
        let directory = crate::directory::ExternalDirectory::from_config(&config.directory)?;
        let notifier = std::sync::Arc::new(
            crate::notify::Notifier::from_config(&config)?
                .with_directory(store.clone(), directory.clone()),
        );
        let prompts = match crate::speech::FragmentLibrary::load(&config.prompt_dir) {
            Ok(library) => Some(library),
            Err(error) => {
                warn!(%error, "voicemail prompts not found: calls to voicemail get 480");
                None
            }
        };
        let listeners = Listeners::bind(
            &config.sip.listen,
            config.sip.udp,
            config.sip.tcp,
            config.http.listen,
        )
        .await?;
        Ok(Server {
            config,
            store,
            listeners,
            notifier,
            prompts,
            clock,
            spool,
            directory,
            nonce_secret,
        })
    }

    /// Runs until SIGTERM/SIGINT, then drains.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(crate::shutdown::signal()).await
    }

    /// Runs until `stop` resolves, then drains running calls (bounded) and returns.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Server {
            config,
            store,
            listeners,
            notifier,
            prompts,
            clock,
            spool,
            directory,
            nonce_secret,
        } = self;
        let shutdown = Shutdown::new();
        info!(listening = %listeners.describe(), "onestatus is up");
        let (inbound_tx, inbound_rx) = mpsc::channel::<Inbound>(INBOUND_QUEUE);
        let limits = FramingLimits {
            max_header_bytes: config.sip.max_message_bytes.min(16 * 1024),
            max_body_bytes: config.sip.max_message_bytes,
        };
        let connections = tcp::Connections::new(limits, inbound_tx.clone(), shutdown.listener());
        // Where the other nodes send the calls for the direct TCP bindings this one holds.
        let sip_address = crate::cluster::node_reach::advertised(
            config.sip.public_sent_by(),
            listeners.sip_udp.first().and_then(|s| s.local_addr().ok()),
            listeners.sip_tcp.first().and_then(|l| l.local_addr().ok()),
        );
        let mut tasks = Vec::new();
        for socket in &listeners.sip_udp {
            tasks.push(tokio::spawn(udp::run_receiver(
                socket.clone(),
                config.sip.max_message_bytes,
                inbound_tx.clone(),
            )));
        }
        for listener in listeners.sip_tcp {
            tasks.push(tokio::spawn(connections.clone().run_listener(listener)));
        }
        drop(inbound_tx);
        // One presence for the B2BUA (writes calls) and the API (reads, streams to clients).
        let presence = crate::presence::Presence::new();
        let node = crate::cluster::node_id(&config.cluster);
        let sharing = crate::cluster::presence_share::start(
            store.clone(),
            presence.clone(),
            node.clone(),
            sip_address,
            config.cluster.clone(),
            clock.clone(),
        );
        let mut sip = sip::SipService::new(
            config.clone(),
            store.clone(),
            listeners.sip_udp.clone(),
            connections,
            presence.clone(),
        );
        sip.set_clock(clock.clone());
        // Bans and failure counts in the store: every node's, kept over a restart (issue #20).
        let bans = crate::cluster::bans::start(
            store.clone(),
            clock.clone(),
            node.clone(),
            crate::store::SourceLimit {
                max: config.sip.auth_failures_max,
                window: chrono::Duration::from_std(config.sip.auth_failures_window)
                    .unwrap_or(chrono::Duration::days(3650)),
                ban_for: chrono::Duration::from_std(config.sip.ban_for)
                    .unwrap_or(chrono::Duration::days(3650)),
            },
            config.cluster.heartbeat,
        );
        sip.set_ban_share(bans.reporter, bans.learned);
        tasks.push(bans.task);
        sip.set_node_id(node.clone());
        // Several nodes: recordings in progress and answered calls' dialogs in the store, and
        // a survivor's sweep of what a dead node left (issue #20).
        let (spool, orphans) = share_with_survivors(
            &store,
            &node,
            &config,
            &clock,
            (spool, &mut sip),
            (&notifier, &presence),
        );
        let metrics = crate::metrics::Metrics::new();
        sip.set_metrics(metrics.clone());
        if let Some(secret) = nonce_secret {
            sip.set_nonce_secret(secret);
        }
        if let Some(library) = prompts {
            // One media engine (one task, one timer) for every call we answer ourselves.
            let media = crate::media::engine::MediaEngine::start(&config.rtp, shutdown.listener());
            let deps = leg::IvrDeps {
                store: store.clone(),
                prompts: std::sync::Arc::new(crate::media::decode::PromptCache::new(
                    library,
                    crate::media::decode::DecodeLimits::default(),
                )),
                notifier: notifier.clone(),
                presence: presence.clone(),
                clock: clock.clone(),
                limits: crate::ivr::RecordingLimits {
                    max: config.calls.max_message,
                    min: config.calls.min_message,
                    ..crate::ivr::RecordingLimits::default()
                },
                pin_check: config
                    .security
                    .pin_check(store.clone(), config.api.lockout_policy()),
                deny_list: config.toll_fraud.deny_prefixes.clone(),
                voicemail: voicemail::VoicemailShared::new(
                    spool,
                    crate::notify::VoicemailChanged::new(store.clone(), presence.clone()),
                )
                .with_metrics(metrics.clone()),
            };
            sip.set_ivr(media, deps);
        }
        let click_to_call = sip.click_to_call_handle();
        let history = sip.take_history_task();
        tasks.push(tokio::spawn(sip.run(inbound_rx, shutdown.listener())));

        if !config.calendar.sync_interval.is_zero() {
            // Several nodes on PostgreSQL: one poller per source, by lease (issue #20).
            let lease = (store.backend_name() == "postgres").then(|| {
                crate::cluster::lease::SourceLease::new(
                    node.clone(),
                    config.calendar.sync_interval.saturating_mul(2),
                )
            });
            tasks.push(tokio::spawn(crate::calendar::sync::run_sync_leased(
                store.clone(),
                clock.clone(),
                config.calendar.sync_interval,
                crate::calendar::FetchPolicy::from(&config.calendar),
                lease,
                shutdown.listener(),
            )));
        }

        // Written messages by e-mail/SMS: queued by the API, sent and retried here.
        tasks.push(tokio::spawn(
            delivery::DeliveryWorker {
                store: store.clone(),
                notifier: notifier.clone(),
                clock: clock.clone(),
                schedule: config.delivery.schedule(),
                poll: Duration::from_millis(u64::from(config.delivery.poll_ms.max(50))),
            }
            .run(shutdown.listener()),
        ));

        if config.retention.voicemail_days > 0 {
            tasks.push(tokio::spawn(
                retention::RetentionSweeper {
                    store: store.clone(),
                    changed: crate::notify::VoicemailChanged::new(store.clone(), presence.clone()),
                    clock: clock.clone(),
                    keep: chrono::Duration::days(i64::from(config.retention.voicemail_days)),
                    every: Duration::from_secs(u64::from(config.retention.sweep_secs.max(1))),
                }
                .run(shutdown.listener()),
            ));
        }

        // The API stays up while calls drain, so the readiness probe can say "draining"
        // (503) instead of the port closing; it stops once the drain is over.
        let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let readiness =
            crate::cluster::readiness::Readiness::new(store.clone(), shutdown.listener());
        let metrics_route = crate::metrics::router(crate::metrics::MetricsState {
            metrics: metrics.clone(),
            store: store.clone(),
            clock: clock.clone(),
        });
        let api =
            crate::api::ApiState::new(store.clone(), presence, clock.clone(), config.api.clone())
                .with_notifier(std::sync::Arc::new(pin_delivery::MailedPins {
                    notifier,
                    clock,
                }))
                .with_deny_list(config.toll_fraud.deny_prefixes.clone())
                .with_fetch_policy(crate::calendar::FetchPolicy::from(&config.calendar))
                .with_security(&config.security)
                .with_directory(directory);
        let http = axum::serve(
            listeners.http,
            crate::api::router(api.with_click_to_call(click_to_call))
                .merge(readiness.router())
                .merge(metrics_route)
                .layer(axum::middleware::from_fn_with_state(
                    metrics,
                    crate::metrics::track_sse,
                ))
                .layer(axum::middleware::from_fn(crate::http_ops::layer))
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = http_stopped.await;
        });
        let http_task = tokio::spawn(async move { http.await });

        stop.await;
        info!("shutting down: no new calls, draining running ones");
        shutdown.trigger();
        let left = shutdown.drain(config.calls.drain).await;
        if left > 0 {
            warn!(calls = left, "drain time over: ending remaining calls");
        }
        // The drain is over: stop reading the network and the SIP task.
        let _ = http_stop.send(());
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        // The SIP task is gone and with it the history writer's sender: the writer finishes
        // the records still queued (the calls the drain ended included).
        if let Some(history) = history {
            if tokio::time::timeout(Duration::from_secs(10), history)
                .await
                .is_err()
            {
                warn!("call history writer did not finish within 10 s");
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), http_task)
            .await
            .context("HTTP server did not stop")?;
        if let Some(orphans) = orphans {
            orphans.abort();
        }
        if let Some(sharing) = sharing {
            // After the history writer: the calls the drain ended have left the store, and
            // this node's rows go now rather than when the others find it silent.
            sharing.abort();
            let _ = sharing.await;
            if let Err(error) = store.cluster_forget_node(&node).await {
                warn!(%error, "this node's calls stay in the store until they expire");
            }
        }
        store.close().await;
        info!("stopped");
        Ok(())
    }
}

/// The demo users' spoken names (issue #18: the demo ships with generated names), made at
/// seeding where espeak-ng is installed rather than committed as WAVs: the same code path as
/// any new user, and the names follow a demo user renamed through the web client. Only what is
/// missing or stale is made, so a restart costs a look-up per user.
async fn demo_spoken_names(store: &crate::store::Store, now: chrono::DateTime<chrono::Utc>) {
    let Ok(org) = store.org_by_code(crate::store::demo::CUSTOMER_CODE).await else {
        return;
    };
    match store.users_in_org(org.id).await {
        Ok(users) => {
            for user in &users {
                crate::spoken_name::refresh_logged(store, user, now).await;
            }
        }
        Err(error) => warn!(%error, "demo users not listed; no spoken names"),
    }
}

/// On PostgreSQL (several nodes): mirrors recordings to the store and records answered calls'
/// dialogs, and starts this node's sweep of what dead nodes left (`cluster::orphans`). On
/// SQLite the spool is returned as it is and nothing starts.
fn share_with_survivors(
    store: &Store,
    node: &str,
    config: &Config,
    clock: &std::sync::Arc<dyn crate::clock::Clock>,
    (spool, sip): (voicemail::SpoolDir, &mut sip::SipService),
    (notifier, presence): (
        &std::sync::Arc<crate::notify::Notifier>,
        &crate::presence::Presence,
    ),
) -> (voicemail::SpoolDir, Option<tokio::task::JoinHandle<()>>) {
    if store.pg_pool().is_none() {
        return (spool, None);
    }
    let dialogs = crate::cluster::dialog_share::DialogShare::start(
        store.clone(),
        node.to_owned(),
        clock.clone(),
    );
    sip.set_dialog_share(dialogs.clone());
    let share =
        crate::cluster::spool_share::SpoolShare::new(store.clone(), node.to_owned(), clock.clone())
            .with_dialogs(dialogs);
    let orphans = crate::cluster::orphans::start(crate::cluster::orphans::Survivor {
        store: store.clone(),
        node: node.to_owned(),
        started: clock.now(),
        config: config.cluster.clone(),
        clock: clock.clone(),
        notifier: notifier.clone(),
        changed: crate::notify::VoicemailChanged::new(store.clone(), presence.clone()),
    });
    (spool.with_share(share), orphans)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
