//! Written messages (e-mail/SMS notes from colleagues or outside callers, shown in the
//! voicemail list) and the receptionists' standard messages they are often written from.

use chrono::{DateTime, Utc};

use super::users::found;
use super::{
    ms, parse, ts, MessageChannel, OrgId, Sender, StandardMessage, StandardMessageId, Store,
    StoreError, UserId, WrittenMessage, WrittenMessageId,
};
use crate::domain::MessageState;

/// A `written_messages` row as stored.
#[derive(sqlx::FromRow)]
struct WrittenRow {
    id: i64,
    to_user_id: i64,
    from_user_id: Option<i64>,
    from_external: Option<String>,
    channel: String,
    body: String,
    created_at: i64,
    state: String,
}

impl TryFrom<WrittenRow> for WrittenMessage {
    type Error = StoreError;

    fn try_from(r: WrittenRow) -> Result<Self, StoreError> {
        let from = match (r.from_user_id, r.from_external) {
            (Some(id), _) => Sender::User(UserId(id)),
            (None, external) => Sender::External(external.unwrap_or_default()),
        };
        Ok(WrittenMessage {
            id: WrittenMessageId(r.id),
            to_user_id: UserId(r.to_user_id),
            from,
            channel: parse(&r.channel)?,
            body: r.body,
            created_at: ts(r.created_at)?,
            state: parse(&r.state)?,
        })
    }
}

/// A `standard_messages` row as stored.
#[derive(sqlx::FromRow)]
struct StandardRow {
    id: i64,
    org_id: i64,
    text: String,
    created_by: Option<i64>,
    created_at: i64,
}

impl TryFrom<StandardRow> for StandardMessage {
    type Error = StoreError;

    fn try_from(r: StandardRow) -> Result<Self, StoreError> {
        Ok(StandardMessage {
            id: StandardMessageId(r.id),
            org_id: OrgId(r.org_id),
            text: r.text,
            created_by: r.created_by.map(UserId),
            created_at: ts(r.created_at)?,
        })
    }
}

const WRITTEN_COLUMNS: &str =
    "id, to_user_id, from_user_id, from_external, channel, body, created_at, state";

impl Store {
    /// Stores a written message to `to`, state new.
    pub async fn written_message_create(
        &self,
        to: UserId,
        from: &Sender,
        channel: MessageChannel,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<WrittenMessage, StoreError> {
        if body.trim().is_empty() {
            return Err(StoreError::invalid("message", "empty"));
        }
        let (from_user, from_external) = match from {
            Sender::User(id) => (Some(id.0), None),
            Sender::External(who) => (None, Some(who.as_str())),
        };
        let sql = format!(
            "INSERT INTO written_messages (to_user_id, from_user_id, from_external, channel, \
             body, created_at, state) VALUES ($1, $2, $3, $4, $5, $6, 'new') \
             RETURNING {WRITTEN_COLUMNS}"
        );
        let row: WrittenRow = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(to.0)
                .bind(from_user)
                .bind(from_external)
                .bind(channel.as_str())
                .bind(body)
                .bind(ms(now))
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// Written messages to `user`, newest first.
    pub async fn written_messages(&self, user: UserId) -> Result<Vec<WrittenMessage>, StoreError> {
        let sql = format!(
            "SELECT {WRITTEN_COLUMNS} FROM written_messages WHERE to_user_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<WrittenRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Marks one of `user`'s written messages new, read or saved.
    pub async fn written_message_set_state(
        &self,
        user: UserId,
        id: WrittenMessageId,
        state: MessageState,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE written_messages SET state = $3 WHERE id = $1 AND to_user_id = $2")
                .bind(id.0)
                .bind(user.0)
                .bind(state.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "written message")
    }

    /// Deletes one of `user`'s written messages.
    pub async fn written_message_delete(
        &self,
        user: UserId,
        id: WrittenMessageId,
    ) -> Result<(), StoreError> {
        self.delete_owned(
            "written_messages",
            "to_user_id",
            id.0,
            user.0,
            "written message",
        )
        .await
    }

    /// Adds a standard message to `org` (receptionists only; the API checks the role).
    pub async fn standard_message_create(
        &self,
        org: OrgId,
        text: &str,
        created_by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<StandardMessage, StoreError> {
        let row: StandardRow = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO standard_messages (org_id, text, created_by, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id, org_id, text, created_by, created_at",
            )
            .bind(org.0)
            .bind(text)
            .bind(created_by.map(|u| u.0))
            .bind(ms(now))
            .fetch_one(pool)
            .await
        })?;
        row.try_into()
    }

    /// The standard messages of `org`, oldest first.
    pub async fn standard_messages(&self, org: OrgId) -> Result<Vec<StandardMessage>, StoreError> {
        let rows: Vec<StandardRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, org_id, text, created_by, created_at FROM standard_messages \
                 WHERE org_id = $1 ORDER BY id",
            )
            .bind(org.0)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Changes the text of one of `org`'s standard messages.
    pub async fn standard_message_update(
        &self,
        org: OrgId,
        id: StandardMessageId,
        text: &str,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE standard_messages SET text = $3 WHERE id = $1 AND org_id = $2")
                .bind(id.0)
                .bind(org.0)
                .bind(text)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "standard message")
    }

    /// Deletes one of `org`'s standard messages.
    pub async fn standard_message_delete(
        &self,
        org: OrgId,
        id: StandardMessageId,
    ) -> Result<(), StoreError> {
        self.delete_owned(
            "standard_messages",
            "org_id",
            id.0,
            org.0,
            "standard message",
        )
        .await
    }
}
