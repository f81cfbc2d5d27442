//! The delivery worker: sends the queued written messages (`message_deliveries`) by e-mail or
//! SMS and records what happened, retrying on the schedule of [`RetrySchedule`].
//!
//! A thin driver (CONTRIBUTING.md rule 6): it reads the clock, polls the store for due rows
//! every `[delivery] poll_ms`, makes one attempt per row through
//! [`Notifier::deliver_written`] and stores the step [`RetrySchedule::next`] decides. The API
//! only queues (the request returns at once with state `queued`); the first attempt follows
//! within one poll. Rows survive a restart, so a queued message is tried again after one.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn, Instrument};

use crate::clock::Clock;
use crate::notify::retry::{NextStep, RetrySchedule};
use crate::notify::{Notifier, WrittenDelivery};
use crate::shutdown::ShutdownListener;
use crate::store::{Delivery, DeliveryState, Store, StoreError};

/// Deliveries taken per poll; the rest wait for the next.
const BATCH: u32 = 20;

/// The worker's parts.
pub(super) struct DeliveryWorker {
    /// The queue.
    pub store: Store,
    /// The relay and the gateway.
    pub notifier: Arc<Notifier>,
    /// "Now" for due times and records.
    pub clock: Arc<dyn Clock>,
    /// Between attempts.
    pub schedule: RetrySchedule,
    /// Between polls.
    pub poll: Duration,
}

impl DeliveryWorker {
    /// Runs until shutdown.
    pub(super) async fn run(self, mut shutdown: ShutdownListener) {
        loop {
            if let Err(error) = self.run_once().await {
                warn!(%error, "delivery queue not read");
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll) => {}
                () = shutdown.recv() => return,
            }
        }
    }

    /// One poll: every due delivery gets one attempt. Returns how many were tried.
    pub(super) async fn run_once(&self) -> Result<usize, StoreError> {
        let due = self.store.deliveries_due(self.clock.now(), BATCH).await?;
        let n = due.len();
        for delivery in due {
            let span =
                tracing::info_span!("delivery", id = delivery.id.0, channel = %delivery.channel);
            if let Err(error) = self.attempt(&delivery).instrument(span).await {
                warn!(%error, id = delivery.id.0, "delivery not recorded");
            }
        }
        Ok(n)
    }

    async fn attempt(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let sender = self.store.user(delivery.sender_user_id).await?;
        let org = self.store.org(sender.org_id).await?;
        let (recipient_name, lang) = match delivery.to_user_id {
            Some(id) => match self.store.user(id).await {
                Ok(to) => (to.profile.name, to.profile.lang),
                Err(StoreError::NotFound(_)) => (delivery.address.clone(), sender.profile.lang),
                Err(e) => return Err(e),
            },
            None => (delivery.address.clone(), sender.profile.lang),
        };
        let written = WrittenDelivery {
            channel: delivery.channel,
            address: delivery.address.clone(),
            recipient_name,
            lang,
            timezone: org.timezone,
            sender: sender.profile.name.clone(),
            body: delivery.body.clone(),
            created_at: delivery.created_at,
        };
        let outcome = self
            .notifier
            .deliver_written(self.clock.now(), &written)
            .await;
        let attempts = delivery.attempts + 1;
        let now = self.clock.now();
        match self.schedule.next(now, attempts, outcome.clone()) {
            NextStep::Sent => {
                info!(attempts, "written message delivered");
                self.store
                    .delivery_record(delivery.id, DeliveryState::Sent, attempts, None, None, now)
                    .await
            }
            NextStep::RetryAt(at) => {
                let error = match &outcome {
                    crate::notify::retry::AttemptOutcome::Transient(e) => Some(e.as_str()),
                    _ => None,
                };
                debug!(attempts, next = %at, "written message queued again");
                self.store
                    .delivery_record(
                        delivery.id,
                        DeliveryState::Queued,
                        attempts,
                        Some(at),
                        error,
                        now,
                    )
                    .await
            }
            NextStep::Failed(reason) => {
                warn!(attempts, %reason, "written message not delivered");
                self.store
                    .delivery_record(
                        delivery.id,
                        DeliveryState::Failed,
                        attempts,
                        None,
                        Some(&reason),
                        now,
                    )
                    .await
            }
        }
    }
}
