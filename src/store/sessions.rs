//! Web-client sessions. The bearer token is only ever known to the client; the store keeps
//! hex(SHA-256(token)), so a leaked database does not hand out logged-in sessions.

use chrono::{DateTime, Utc};

use super::{ms, ts, ApiSession, Store, StoreError, UserId};

/// An `api_sessions` row as stored.
#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: String,
    user_id: i64,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<SessionRow> for ApiSession {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(ApiSession {
            token_hash: r.token_hash,
            user_id: UserId(r.user_id),
            created_at: ts(r.created_at)?,
            expires_at: ts(r.expires_at)?,
        })
    }
}

impl Store {
    /// Stores a new session for `user` valid until `expires_at`.
    pub async fn session_create(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ApiSession, StoreError> {
        let row: SessionRow = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO api_sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4) RETURNING token_hash, user_id, created_at, expires_at",
            )
            .bind(token_hash)
            .bind(user.0)
            .bind(ms(now))
            .bind(ms(expires_at))
            .fetch_one(pool)
            .await
        })?;
        row.try_into()
    }

    /// The session with this token hash, if it has not expired at `now`.
    pub async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiSession, StoreError> {
        let row: Option<SessionRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT token_hash, user_id, created_at, expires_at FROM api_sessions \
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(ms(now))
            .fetch_optional(pool)
            .await
        })?;
        row.ok_or(StoreError::NotFound("session"))?.try_into()
    }

    /// Logs a session out (idempotent).
    pub async fn session_delete(&self, token_hash: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Ends every session of `user` but `keep` (the one that asked, if any): a PIN change, by
    /// the user, a reset or an administrator, must not leave a session opened with the old PIN
    /// alive elsewhere (issue #19, finding 4). Returns how many ended.
    pub async fn sessions_revoke_for_user(
        &self,
        user: UserId,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM api_sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(user.0)
                .bind(keep.unwrap_or(""))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// Deletes sessions expired at `now`; returns how many.
    pub async fn sessions_purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM api_sessions WHERE expires_at <= $1")
                .bind(ms(now))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }
}
