//! Deliveries of written messages by e-mail or SMS (`message_deliveries`, migration 0006): one
//! row per message and address, its state (queued, sent, failed with the reason) and when the
//! delivery worker tries it next. The sender sees the rows of their own messages.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    ms, ms_opt, parse, ts, ts_opt, unsigned, MessageChannel, Store, StoreError, UserId,
    WrittenMessageId,
};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Queued,
    /// Handed to the relay or gateway.
    Sent,
    /// Given up; `last_error` says why.
    Failed,
}

impl DeliveryState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "queued" => Ok(DeliveryState::Queued),
            "sent" => Ok(DeliveryState::Sent),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(StoreError::invalid("delivery state", other)),
        }
    }
}

/// Row id of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DeliveryId(pub i64);

/// One delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Row id.
    pub id: DeliveryId,
    /// Who wrote the message.
    pub sender_user_id: UserId,
    /// The colleague it is for, when it is for one.
    pub to_user_id: Option<UserId>,
    /// The written message in the colleague's list, when there is one.
    pub message_id: Option<WrittenMessageId>,
    /// E-mail or SMS.
    pub channel: MessageChannel,
    /// The e-mail address or the mobile number (stored form).
    pub address: String,
    /// The text.
    pub body: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the worker tries next (queued only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Who wrote it.
    pub sender_user_id: UserId,
    /// The colleague, if any.
    pub to_user_id: Option<UserId>,
    /// The written message, if any.
    pub message_id: Option<WrittenMessageId>,
    /// E-mail or SMS.
    pub channel: MessageChannel,
    /// Address or number.
    pub address: String,
    /// The text.
    pub body: String,
    /// `Some(reason)` to store it failed at once (no address to deliver to); `None` queues it
    /// for an attempt now.
    pub failed: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    sender_user_id: i64,
    to_user_id: Option<i64>,
    message_id: Option<i64>,
    channel: String,
    address: String,
    body: String,
    state: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            id: DeliveryId(r.id),
            sender_user_id: UserId(r.sender_user_id),
            to_user_id: r.to_user_id.map(UserId),
            message_id: r.message_id.map(WrittenMessageId),
            channel: parse(&r.channel)?,
            address: r.address,
            body: r.body,
            state: DeliveryState::parse(&r.state)?,
            attempts: unsigned("attempts", r.attempts)?,
            next_attempt_at: ts_opt(r.next_attempt_at)?,
            last_error: r.last_error,
            created_at: ts(r.created_at)?,
            updated_at: ts(r.updated_at)?,
        })
    }
}

const COLUMNS: &str = "id, sender_user_id, to_user_id, message_id, channel, address, body, \
     state, attempts, next_attempt_at, last_error, created_at, updated_at";

impl Store {
    /// Queues a delivery (due now), or stores it failed when `new.failed` says so.
    pub async fn delivery_create(
        &self,
        new: &NewDelivery,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        let (state, next, error) = match &new.failed {
            Some(reason) => (DeliveryState::Failed, None, Some(reason.as_str())),
            None => (DeliveryState::Queued, Some(ms(now)), None),
        };
        let sql = format!(
            "INSERT INTO message_deliveries (sender_user_id, to_user_id, message_id, channel, \
             address, body, state, attempts, next_attempt_at, last_error, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $10) \
             RETURNING {COLUMNS}"
        );
        let row: DeliveryRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(new.sender_user_id.0)
                .bind(new.to_user_id.map(|u| u.0))
                .bind(new.message_id.map(|m| m.0))
                .bind(new.channel.as_str())
                .bind(&new.address)
                .bind(&new.body)
                .bind(state.as_str())
                .bind(next)
                .bind(error)
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// Queued deliveries whose next attempt is due at `now`, oldest first, at most `limit`.
    pub async fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM message_deliveries WHERE state = 'queued' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        );
        let rows: Vec<DeliveryRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Records an attempt's result: the new state, the attempt count, the next attempt (queued
    /// only) and the error, if any.
    pub async fn delivery_record(
        &self,
        id: DeliveryId,
        state: DeliveryState,
        attempts: u32,
        next_attempt_at: Option<DateTime<Utc>>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE message_deliveries SET state = $2, attempts = $3, next_attempt_at = $4, \
                 last_error = COALESCE($5, last_error), updated_at = $6 WHERE id = $1",
            )
            .bind(id.0)
            .bind(state.as_str())
            .bind(i64::from(attempts))
            .bind(ms_opt(next_attempt_at))
            .bind(error)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        super::users::found(n, "delivery")
    }

    /// The deliveries of messages `sender` wrote, newest first, at most `limit`.
    pub async fn deliveries_by_sender(
        &self,
        sender: UserId,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM message_deliveries WHERE sender_user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<DeliveryRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(sender.0)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One delivery of `sender`'s.
    pub async fn delivery(&self, sender: UserId, id: DeliveryId) -> Result<Delivery, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM message_deliveries WHERE id = $1 AND sender_user_id = $2"
        );
        let row: Option<DeliveryRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .bind(sender.0)
            .fetch_optional(pool)
            .await)?;
        row.ok_or(StoreError::NotFound("delivery"))?.try_into()
    }
}
