//! One poller per calendar source across nodes (issue #20): before a node polls a source it
//! takes the source's lease in the store (`cluster_leases`, one atomic upsert). The holder
//! renews it each round; the others skip the source while it is held. A holder that dies
//! stops renewing, and once the lease has expired the next node to try takes it over. Without
//! this every node polled and rewrote every feed every interval.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use crate::store::Store;

/// This node's claim on calendar sources.
#[derive(Debug, Clone)]
pub struct SourceLease {
    holder: String,
    ttl: Duration,
}

impl SourceLease {
    /// Leases held by `holder` (the node id) for `ttl` from each renewal. `serve` gives twice
    /// the poll interval: the holder renews every round, and a dead holder's sources are taken
    /// over within two intervals.
    pub fn new(holder: String, ttl: Duration) -> Self {
        Self { holder, ttl }
    }

    /// The lease's name for a calendar source.
    pub fn name(source: i64) -> String {
        format!("calendar_source:{source}")
    }

    /// Whether this node holds (now took or renewed) the lease of `source` and should poll
    /// it. A store error counts as "not ours": better a round skipped than every node
    /// polling.
    pub async fn take(&self, store: &Store, source: i64, now: DateTime<Utc>) -> bool {
        let until = now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX);
        match store
            .lease_acquire(&Self::name(source), &self.holder, now, until)
            .await
        {
            Ok(held) => {
                if !held {
                    debug!(source, "calendar source polled by another node");
                }
                held
            }
            Err(error) => {
                warn!(source, %error, "calendar lease not taken; source skipped this round");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_node_polls_a_source_until_it_stops_renewing() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let a = SourceLease::new("a".into(), Duration::from_secs(600));
        let b = SourceLease::new("b".into(), Duration::from_secs(600));
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(a.take(&store, 1, t0).await);
        assert!(!b.take(&store, 1, t0).await);
        // Another source is free for b.
        assert!(b.take(&store, 2, t0).await);
        // a renews at the next round; b still skips.
        let t1 = t0 + chrono::Duration::seconds(300);
        assert!(a.take(&store, 1, t1).await);
        assert!(!b.take(&store, 1, t1).await);
        // a died after t1: once its lease expired, b takes over.
        let t2 = t1 + chrono::Duration::seconds(601);
        assert!(b.take(&store, 1, t2).await);
        assert!(!a.take(&store, 1, t2).await);
    }
}
