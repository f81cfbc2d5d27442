//! Voice messages past the retention time (`[retention] voicemail_days`): deleted as
//! [`Store::voicemail_delete`] deletes (flagged, audio emptied), all at once, answering whose
//! mailboxes changed so their lamps can be told.

use chrono::{DateTime, Utc};

use super::{ms, Store, StoreError, UserId};

impl Store {
    /// Deletes every new or read (not saved) message received before `before`; returns the
    /// owners whose mailbox changed, each once.
    pub async fn voicemail_expire(&self, before: DateTime<Utc>) -> Result<Vec<UserId>, StoreError> {
        let owners: Vec<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE voicemail_messages SET deleted = TRUE, audio = $2 \
                 WHERE NOT deleted AND state <> 'saved' AND received_at < $1 \
                 RETURNING user_id",
            )
            .bind(ms(before))
            .bind(Vec::<u8>::new())
            .fetch_all(pool)
            .await
        })?;
        let mut users: Vec<UserId> = owners.into_iter().map(|(id,)| UserId(id)).collect();
        users.sort_by_key(|u| u.0);
        users.dedup();
        Ok(users)
    }
}
