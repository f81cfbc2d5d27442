//! Call history written by one task with group commit: the B2BUA hands each ended call's
//! record over a channel and the writer inserts whatever has queued since its last write in
//! one transaction.
//!
//! Why: with SQLite in WAL mode and `synchronous = FULL` every commit is an fsync, and a
//! record per call written as its own transaction (a spawned task each) cost one fsync and
//! one pool connection per call: the signalling benchmark's profile at 750 calls/s showed the
//! inserts' fsyncs and connection hand-offs beside the routing reads, which then waited for a
//! connection. Under light load a record is written at once (the batch is the one record);
//! under heavy load the records that arrive during one fsync share the next one. Asterisk's
//! CDR batch mode (`cdr.conf`: `batch`, `size`, `safeshutdown`) makes the same trade, with a
//! timer; group commit needs none and adds no delay when the line is quiet.
//!
//! Nothing is lost on a clean stop: the writer drains the channel after the SIP task drops its
//! sender, and `serve` waits for it before closing the store. A crash loses at most the
//! records queued in that moment (history, not messages or settings).

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::store::{CallData, Store};

/// Records queued before the B2BUA starts dropping them (with a warning): a store that cannot
/// keep up must not hold the SIP loop, and ten thousand records is seconds of the heaviest load.
const QUEUE: usize = 10_000;
/// The most records in one transaction.
const MAX_BATCH: usize = 512;

/// The B2BUA's end of the writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HistoryWriter {
    records: mpsc::Sender<CallData>,
    /// Counts each ended call by outcome for `/metrics`, when set.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// The same, for the writer task's store latency (set after the task started).
    latency: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<crate::metrics::Metrics>>>,
}

impl HistoryWriter {
    /// Starts the writer task on `store`. The task ends, after writing everything queued, when
    /// every [`HistoryWriter`] is dropped; its handle says when.
    pub fn start(store: Store) -> (HistoryWriter, JoinHandle<()>) {
        let (records, queue) = mpsc::channel(QUEUE);
        let latency = std::sync::Arc::new(std::sync::OnceLock::new());
        (
            HistoryWriter {
                records,
                metrics: None,
                latency: latency.clone(),
            },
            tokio::spawn(run(store, queue, latency)),
        )
    }

    /// Also counts every record in `metrics` (`/metrics`, calls by outcome).
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        let _ = self.latency.set(metrics.clone());
        self.metrics = Some(metrics);
        self
    }

    /// Queues one call's record; never waits.
    pub fn record(&self, data: CallData) {
        if let Some(metrics) = &self.metrics {
            metrics.call_recorded(&data);
        }
        if let Err(error) = self.records.try_send(data) {
            warn!(%error, "call history record dropped: the writer is behind or stopped");
        }
    }
}

async fn run(
    store: Store,
    mut queue: mpsc::Receiver<CallData>,
    latency: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<crate::metrics::Metrics>>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let metrics = latency.get().map(|m| &**m);
        crate::metrics::timed(
            metrics,
            crate::metrics::StoreOp::History,
            write(&store, &batch),
        )
        .await;
        batch.clear();
    }
}

/// One transaction for the batch; when it fails, each record on its own, so only the bad
/// one is lost (and named in the log).
async fn write(store: &Store, batch: &[CallData]) {
    let Err(error) = store.call_records_insert(batch).await else {
        return;
    };
    if batch.len() == 1 {
        warn!(%error, user_id = batch[0].user_id.0, "call history not written");
        return;
    }
    warn!(%error, records = batch.len(), "call history batch failed; writing one by one");
    for record in batch {
        if let Err(error) = store
            .call_records_insert(std::slice::from_ref(record))
            .await
        {
            warn!(%error, user_id = record.user_id.0, "call history not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::CallDirection;
    use crate::store::UserId;
    use chrono::{TimeZone, Utc};

    fn record(user: UserId, n: i64) -> CallData {
        let at = Utc
            .timestamp_opt(1_700_000_000 + n, 0)
            .single()
            .expect("valid time");
        CallData {
            user_id: user,
            direction: CallDirection::In,
            other_number: format!("4512{n:06}"),
            other_name: None,
            started_at: at,
            answered_at: Some(at),
            ended_at: Some(at),
            route: Some("ring".into()),
        }
    }

    /// Every queued record is in the store once the last sender is gone and the task is
    /// joined: what `serve` relies on at shutdown. A record for a user that does not exist
    /// (foreign key) fails alone, not its batch.
    #[tokio::test]
    async fn writes_every_record_and_isolates_a_bad_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("history.db").display());
        let store = Store::connect(&url).await.expect("store");
        crate::store::demo::seed(&store).await.expect("demo data");
        let user = store
            .user_by_one_number("4570100003")
            .await
            .expect("a demo user")
            .id;
        let (writer, task) = HistoryWriter::start(store.clone());
        for n in 0..300 {
            writer.record(record(user, n));
        }
        writer.record(record(UserId(999_999), 300));
        for n in 301..600 {
            writer.record(record(user, n));
        }
        drop(writer);
        task.await.expect("writer ends");
        let rows = store.call_history(user, None, 1000).await.expect("history");
        assert_eq!(rows.len(), 599);
        assert_eq!(rows[0].data.other_number, "4512000599");
        let stray = store.call_history(UserId(999_999), None, 10).await;
        assert!(
            stray.expect("history").is_empty(),
            "foreign keys are enforced"
        );
    }
}
