//! SIP source bans every node knows and a restart keeps (issue #20: bans lived in each
//! node's memory, so a guesser banned by one node went on at the next, and a restart
//! forgave everyone).
//!
//! The SIP task keeps its in-memory table (`sip::auth::ban`, `sip::flood`) as the fast path:
//! every packet is checked there, and a flood costs no database write per packet. What the
//! others must know goes through this driver, which the SIP task never waits for
//! ([`BanReporter`] only queues):
//! - a failed authentication that did not ban locally is counted in the store
//!   (`source_limits`, scope `sip`), so failures spread over several nodes (a dispatcher
//!   balancing a guesser's REGISTERs) add up; when the shared count bans, the ban comes back
//!   to this node and goes to the others;
//! - a ban decided here (the local count, or a flood) is written to the store.
//!
//! Each new ban is announced by PostgreSQL `NOTIFY` on [`CHANNEL`] (as presence is, in
//! `presence_share`), so the other nodes drop the source within a round trip; every
//! `cluster.heartbeat_secs` each node also re-reads the bans in force, which repairs a missed
//! notification, and at start it reads them all, which keeps a ban over a restart. On SQLite
//! (one node) the store still keeps the bans over a restart; nothing is listened to.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::clock::Clock;
use crate::store::{SourceLimit, Store};

/// The `NOTIFY` channel of new bans.
pub const CHANNEL: &str = "onestatus_bans";
/// The `source_limits` scope of SIP sources.
pub const SCOPE: &str = "sip";
/// Reports queued before new ones are dropped (a node under attack keeps its local bans;
/// the store only learns less).
const REPORT_QUEUE: usize = 4096;
/// Bans learned and not yet taken by the SIP task.
const LEARNED_QUEUE: usize = 4096;
/// Rows with no ban in force and no failure for this long are purged.
const PURGE_IDLE: chrono::Duration = chrono::Duration::days(1);

/// What the SIP task tells the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// A failed authentication that did not ban here.
    Failure(IpAddr),
    /// A ban this node started.
    Banned(IpAddr, DateTime<Utc>),
}

/// A ban in force, from the store or another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// The banned source's key (an IPv4 address, an IPv6 /64's first address).
    pub source: IpAddr,
    /// When the ban ends.
    pub until: DateTime<Utc>,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Wire {
    node: String,
    source: IpAddr,
    until_ms: i64,
}

/// The SIP task's handle: queues reports without waiting.
#[derive(Debug, Clone)]
pub struct BanReporter {
    tx: mpsc::Sender<Report>,
}

impl BanReporter {
    /// A failed authentication of `source` (its ban key) that did not start a ban here.
    pub fn failure(&self, source: IpAddr) {
        self.send(Report::Failure(source));
    }

    /// This node banned `source` (its ban key) until `until`.
    pub fn banned(&self, source: IpAddr, until: DateTime<Utc>) {
        self.send(Report::Banned(source, until));
    }

    fn send(&self, report: Report) {
        if self.tx.try_send(report).is_err() {
            debug!(
                ?report,
                "ban report queue full: the store learns it later or not at all"
            );
        }
    }
}

/// A running ban share: the SIP task's reporter, the bans it must learn, and the task.
pub struct BanShare {
    /// For the SIP task.
    pub reporter: BanReporter,
    /// Bans to apply, for the SIP task.
    pub learned: mpsc::Receiver<Learned>,
    /// The driver (ends when aborted or when the SIP task is gone).
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts sharing SIP bans through `store` as node `node`, counting shared failures under
/// `limit` and re-reading the bans in force every `refresh`.
pub fn start(
    store: Store,
    clock: Arc<dyn Clock>,
    node: String,
    limit: SourceLimit,
    refresh: Duration,
) -> BanShare {
    let (tx, reports) = mpsc::channel(REPORT_QUEUE);
    let (learned_tx, learned) = mpsc::channel(LEARNED_QUEUE);
    let listener = store
        .pg_pool()
        .cloned()
        .map(|pool| tokio::spawn(listen(pool, node.clone(), learned_tx.clone())));
    let task = tokio::spawn(async move {
        // Aborted with this task (at shutdown): the listener's connection goes back to the
        // pool before the pool closes.
        let _listener = AbortOnDrop(listener);
        run(store, clock, node, limit, refresh, reports, learned_tx).await;
    });
    BanShare {
        reporter: BanReporter { tx },
        learned,
        task,
    }
}

/// Aborts the task it holds when dropped.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Hears the other nodes' bans, reconnecting after a lost connection.
async fn listen(pool: sqlx::PgPool, me: String, learned: mpsc::Sender<Learned>) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(error) = listener.listen(CHANNEL).await {
                    warn!(%error, "cannot LISTEN for other nodes' bans");
                } else {
                    loop {
                        let notification = match listener.recv().await {
                            Ok(n) => n,
                            Err(error) => {
                                warn!(%error, "ban listener lost its connection");
                                break;
                            }
                        };
                        match serde_json::from_str::<Wire>(notification.payload()) {
                            Ok(wire) if wire.node != me => {
                                let Some(until) = DateTime::from_timestamp_millis(wire.until_ms)
                                else {
                                    continue;
                                };
                                let ban = Learned {
                                    source: wire.source,
                                    until,
                                };
                                if learned.send(ban).await.is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(error) => debug!(%error, "unreadable ban notification"),
                        }
                    }
                }
            }
            Err(error) => warn!(%error, "cannot connect the ban listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Writes reports, announces new bans and re-reads the bans in force.
async fn run(
    store: Store,
    clock: Arc<dyn Clock>,
    node: String,
    limit: SourceLimit,
    refresh: Duration,
    mut reports: mpsc::Receiver<Report>,
    learned: mpsc::Sender<Learned>,
) {
    // The first tick is at once: the bans in force when the node starts.
    let mut tick = tokio::time::interval(refresh.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refreshes = 0u64;
    loop {
        tokio::select! {
            report = reports.recv() => {
                let Some(report) = report else { return };
                let now = clock.now();
                let ban = match report {
                    Report::Failure(source) => {
                        match store.source_failure(SCOPE, &source.to_string(), now, limit).await {
                            Ok(count) if count.ban_started => {
                                warn!(%source, failures = count.failures,
                                    "banning source after failed authentications on every node");
                                count.banned_until.map(|until| Learned { source, until })
                            }
                            Ok(_) => None,
                            Err(error) => {
                                warn!(%error, "failed authentication not counted in the store");
                                None
                            }
                        }
                    }
                    Report::Banned(source, until) => {
                        match store.source_ban(SCOPE, &source.to_string(), now, until).await {
                            Ok(true) => Some(Learned { source, until }),
                            Ok(false) => None,
                            Err(error) => {
                                warn!(%error, "ban not written to the store");
                                None
                            }
                        }
                    }
                };
                if let Some(ban) = ban {
                    announce(&store, &node, ban).await;
                    if learned.send(ban).await.is_err() {
                        return;
                    }
                }
            }
            _ = tick.tick() => {
                let now = clock.now();
                match store.source_bans_active(SCOPE, now).await {
                    Ok(bans) => {
                        for (source, until) in bans {
                            let Ok(source) = source.parse() else { continue };
                            if learned.send(Learned { source, until }).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(error) => warn!(%error, "cannot read the bans in force"),
                }
                refreshes += 1;
                if refreshes % 100 == 1 {
                    if let Err(error) = store.source_limits_purge(now, now - PURGE_IDLE).await {
                        debug!(%error, "old source counts not purged");
                    }
                }
            }
        }
    }
}

/// Tells the other nodes (PostgreSQL only; best effort: the refresh repairs a miss).
async fn announce(store: &Store, node: &str, ban: Learned) {
    let wire = Wire {
        node: node.to_owned(),
        source: ban.source,
        until_ms: ban.until.timestamp_millis(),
    };
    let Ok(payload) = serde_json::to_string(&wire) else {
        return;
    };
    if let Err(error) = store.notify(CHANNEL, &payload).await {
        debug!(%error, "ban not announced; the others read it at their next refresh");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_counted_in_the_store_ban_and_a_new_share_reads_the_ban_back() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let limit = SourceLimit {
            max: 2,
            window: chrono::Duration::seconds(60),
            ban_for: chrono::Duration::seconds(600),
        };
        let mut a = start(
            store.clone(),
            clock.clone(),
            "a".into(),
            limit,
            Duration::from_secs(3600),
        );
        let x: IpAddr = "198.51.100.7".parse().unwrap();
        a.reporter.failure(x);
        a.reporter.failure(x);
        let ban = tokio::time::timeout(Duration::from_secs(5), a.learned.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ban.source, x);
        let y: IpAddr = "2001:db8::".parse().unwrap();
        let until = clock.now() + chrono::Duration::seconds(60);
        a.reporter.banned(y, until);
        // The start-up read may hand x over once more first (it races the reports).
        let ban = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let ban = a.learned.recv().await.unwrap();
                if ban.source != x {
                    return ban;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(ban.source, y);
        a.task.abort();
        // A node starting (or restarting) on the store learns both at once.
        let mut b = start(store, clock, "b".into(), limit, Duration::from_secs(3600));
        let mut got = Vec::new();
        for _ in 0..2 {
            let ban = tokio::time::timeout(Duration::from_secs(5), b.learned.recv())
                .await
                .unwrap()
                .unwrap();
            got.push(ban.source);
        }
        got.sort();
        assert_eq!(got, vec![x, y]);
        b.task.abort();
    }
}
