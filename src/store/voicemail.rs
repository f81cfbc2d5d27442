//! OneVoicemail's storage: per-user settings, the user's recorded name and greeting, and the
//! messages callers leave. A message and its audio are written in one transaction and are
//! committed (fsync'ed, with SQLite `synchronous = FULL`) before the insert returns, so the
//! IVR only says "your message has been recorded" about a message that will survive a crash.

use chrono::{DateTime, Utc};

use super::users::found;
use super::{
    ms, parse, ts, unsigned, NewVoicemail, RecordingKind, Store, StoreError, UserId, VoicemailId,
    VoicemailMessage, VoicemailSettings,
};
use crate::domain::MessageState;

/// Longest audio accepted (bytes): 30 minutes of 16-bit 8 kHz mono WAV. Refusing more keeps a
/// runaway recording from filling the database.
pub(crate) const MAX_AUDIO_BYTES: usize = 30 * 60 * 16_000 + 44;

/// A `voicemail_settings` row as stored.
// Also `Deserialize`: the routing snapshot (`routing_snapshot.rs`) reads the same row as a JSON
// array in `SETTINGS_COLUMNS` order, so the fields must stay in that order (tests/it/store.rs checks).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct SettingsRow {
    secondary_lang: Option<String>,
    #[serde(deserialize_with = "super::json_bool")]
    allow_messages: bool,
    #[serde(deserialize_with = "super::json_bool")]
    receptionist_option: bool,
    receptionist_group_number: Option<String>,
    #[serde(deserialize_with = "super::json_bool")]
    use_own_name: bool,
    #[serde(deserialize_with = "super::json_bool")]
    use_own_greeting: bool,
    #[serde(deserialize_with = "super::json_bool")]
    quick_listen: bool,
    notify_channel: String,
    #[serde(deserialize_with = "super::json_bool")]
    attach_audio: bool,
    max_message_secs: i64,
    #[serde(deserialize_with = "super::json_bool")]
    pin_required_from_own_device: bool,
}

/// The columns of [`SettingsRow`].
pub(super) const SETTINGS_COLUMNS: &str = "secondary_lang, allow_messages, receptionist_option, \
    receptionist_group_number, use_own_name, use_own_greeting, quick_listen, notify_channel, \
    attach_audio, max_message_secs, pin_required_from_own_device";

impl TryFrom<SettingsRow> for VoicemailSettings {
    type Error = StoreError;

    fn try_from(r: SettingsRow) -> Result<Self, StoreError> {
        Ok(VoicemailSettings {
            secondary_lang: r.secondary_lang.as_deref().map(parse).transpose()?,
            allow_messages: r.allow_messages,
            receptionist_option: r.receptionist_option,
            receptionist_group_number: r.receptionist_group_number,
            use_own_name: r.use_own_name,
            use_own_greeting: r.use_own_greeting,
            quick_listen: r.quick_listen,
            notify_channel: parse(&r.notify_channel)?,
            attach_audio: r.attach_audio,
            max_message_secs: unsigned("max message seconds", r.max_message_secs)?,
            pin_required_from_own_device: r.pin_required_from_own_device,
        })
    }
}

/// A `voicemail_messages` row as stored, without the audio.
#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    user_id: i64,
    caller_number: Option<String>,
    caller_name: Option<String>,
    received_at: i64,
    duration_ms: i64,
    state: String,
}

impl TryFrom<MessageRow> for VoicemailMessage {
    type Error = StoreError;

    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        Ok(VoicemailMessage {
            id: VoicemailId(r.id),
            user_id: UserId(r.user_id),
            caller_number: r.caller_number,
            caller_name: r.caller_name,
            received_at: ts(r.received_at)?,
            duration_ms: unsigned("duration", r.duration_ms)?,
            state: parse(&r.state)?,
        })
    }
}

const MESSAGE_COLUMNS: &str =
    "id, user_id, caller_number, caller_name, received_at, duration_ms, state";

/// Refuses audio that is empty or larger than [`MAX_AUDIO_BYTES`].
fn check_audio(audio: &[u8]) -> Result<(), StoreError> {
    if audio.is_empty() || audio.len() > MAX_AUDIO_BYTES {
        return Err(StoreError::invalid(
            "audio",
            format!("{} bytes", audio.len()),
        ));
    }
    Ok(())
}

impl Store {
    /// A user's voicemail settings.
    pub async fn voicemail_settings(&self, user: UserId) -> Result<VoicemailSettings, StoreError> {
        let row: Option<SettingsRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT {SETTINGS_COLUMNS} FROM voicemail_settings WHERE user_id = $1"
            ))
            .bind(user.0)
            .fetch_optional(pool)
            .await
        })?;
        row.ok_or(StoreError::NotFound("voicemail settings"))?
            .try_into()
    }

    /// Replaces a user's voicemail settings (creating the row if it is missing).
    pub async fn voicemail_settings_update(
        &self,
        user: UserId,
        s: &VoicemailSettings,
    ) -> Result<(), StoreError> {
        if s.max_message_secs == 0 {
            return Err(StoreError::invalid("max message seconds", "zero"));
        }
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO voicemail_settings (user_id, secondary_lang, allow_messages, \
                 receptionist_option, receptionist_group_number, use_own_name, \
                 use_own_greeting, quick_listen, notify_channel, attach_audio, \
                 max_message_secs, pin_required_from_own_device) VALUES ($1, $2, $3, $4, $5, \
                 $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (user_id) DO UPDATE SET \
                 secondary_lang = excluded.secondary_lang, \
                 allow_messages = excluded.allow_messages, \
                 receptionist_option = excluded.receptionist_option, \
                 receptionist_group_number = excluded.receptionist_group_number, \
                 use_own_name = excluded.use_own_name, \
                 use_own_greeting = excluded.use_own_greeting, \
                 quick_listen = excluded.quick_listen, \
                 notify_channel = excluded.notify_channel, \
                 attach_audio = excluded.attach_audio, \
                 max_message_secs = excluded.max_message_secs, \
                 pin_required_from_own_device = excluded.pin_required_from_own_device",
            )
            .bind(user.0)
            .bind(s.secondary_lang.map(|l| l.as_str()))
            .bind(s.allow_messages)
            .bind(s.receptionist_option)
            .bind(&s.receptionist_group_number)
            .bind(s.use_own_name)
            .bind(s.use_own_greeting)
            .bind(s.quick_listen)
            .bind(s.notify_channel.as_str())
            .bind(s.attach_audio)
            .bind(i64::from(s.max_message_secs))
            .bind(s.pin_required_from_own_device)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Stores (or replaces) the user's recorded name or greeting.
    pub async fn recording_set(
        &self,
        user: UserId,
        kind: RecordingKind,
        audio: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        check_audio(audio)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO recordings (user_id, kind, audio, created_at) VALUES ($1, $2, $3, \
                 $4) ON CONFLICT (user_id, kind) DO UPDATE SET audio = excluded.audio, \
                 created_at = excluded.created_at",
            )
            .bind(user.0)
            .bind(kind.as_str())
            .bind(audio)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The user's recorded name or greeting, if any.
    pub async fn recording(
        &self,
        user: UserId,
        kind: RecordingKind,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT audio FROM recordings WHERE user_id = $1 AND kind = $2")
                .bind(user.0)
                .bind(kind.as_str())
                .fetch_optional(pool)
                .await
        })?)
    }

    /// Deletes the user's recorded name or greeting.
    pub async fn recording_delete(
        &self,
        user: UserId,
        kind: RecordingKind,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM recordings WHERE user_id = $1 AND kind = $2")
                .bind(user.0)
                .bind(kind.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        found(n, "recording")
    }

    /// Stores a new message with its audio in one transaction; when this returns `Ok`, the
    /// message is committed to disk.
    pub async fn voicemail_insert(&self, m: &NewVoicemail) -> Result<VoicemailMessage, StoreError> {
        self.voicemail_insert_in(m, None).await
    }

    /// Stores a message assembled from a dead node's recording `recording` (issue #20) and
    /// deletes that recording's rows in the same transaction, so that a survivor dying
    /// half-way cannot leave it to be stored twice.
    pub async fn voicemail_insert_recovered(
        &self,
        m: &NewVoicemail,
        recording: &str,
    ) -> Result<VoicemailMessage, StoreError> {
        self.voicemail_insert_in(m, Some(recording)).await
    }

    async fn voicemail_insert_in(
        &self,
        m: &NewVoicemail,
        recording: Option<&str>,
    ) -> Result<VoicemailMessage, StoreError> {
        check_audio(&m.audio)?;
        let duration = i64::try_from(m.duration_ms)
            .map_err(|_| StoreError::invalid("duration", m.duration_ms.to_string()))?;
        let sql = format!(
            "INSERT INTO voicemail_messages (user_id, caller_number, caller_name, received_at, \
             duration_ms, state, audio) VALUES ($1, $2, $3, $4, $5, 'new', $6) \
             RETURNING {MESSAGE_COLUMNS}"
        );
        let row: MessageRow = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let row: MessageRow = sqlx::query_as(&sql)
                .bind(m.user_id.0)
                .bind(&m.caller_number)
                .bind(&m.caller_name)
                .bind(ms(m.received_at))
                .bind(duration)
                .bind(&m.audio)
                .fetch_one(&mut *tx)
                .await?;
            if let Some(recording) = recording {
                sqlx::query("DELETE FROM cluster_recording_chunks WHERE recording_id = $1")
                    .bind(recording)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM cluster_recordings WHERE id = $1")
                    .bind(recording)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        }
        .await)?;
        row.try_into()
    }

    /// A user's (not deleted) messages: new ones first, then the rest, each newest first.
    pub async fn voicemails(&self, user: UserId) -> Result<Vec<VoicemailMessage>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM voicemail_messages WHERE user_id = $1 \
             AND NOT deleted ORDER BY CASE state WHEN 'new' THEN 0 ELSE 1 END, \
             received_at DESC, id DESC"
        );
        let rows: Vec<MessageRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The WAV bytes of one of `user`'s messages (never another user's).
    pub async fn voicemail_audio(
        &self,
        user: UserId,
        id: VoicemailId,
    ) -> Result<Vec<u8>, StoreError> {
        let audio: Option<Vec<u8>> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT audio FROM voicemail_messages WHERE id = $1 AND user_id = $2 \
                 AND NOT deleted",
            )
            .bind(id.0)
            .bind(user.0)
            .fetch_optional(pool)
            .await
        })?;
        audio.ok_or(StoreError::NotFound("voicemail message"))
    }

    /// Marks one of `user`'s messages new, read or saved.
    pub async fn voicemail_set_state(
        &self,
        user: UserId,
        id: VoicemailId,
        state: MessageState,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE voicemail_messages SET state = $3 WHERE id = $1 AND user_id = $2 \
                 AND NOT deleted",
            )
            .bind(id.0)
            .bind(user.0)
            .bind(state.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "voicemail message")
    }

    /// Deletes one of `user`'s messages: flagged deleted and its audio emptied, so the space
    /// is reclaimed while the row still explains a gap in ids.
    pub async fn voicemail_delete(&self, user: UserId, id: VoicemailId) -> Result<(), StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE voicemail_messages SET deleted = TRUE, audio = $3 WHERE id = $1 \
                 AND user_id = $2 AND NOT deleted",
            )
            .bind(id.0)
            .bind(user.0)
            .bind(Vec::<u8>::new())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        found(n, "voicemail message")
    }

    /// How many new and how many old (read or saved) messages `user` has: the two numbers of
    /// an RFC 3842 `Voice-Message: new/old` line and of the IVR's "you have ..." prompt.
    pub async fn voicemail_counts(&self, user: UserId) -> Result<(u32, u32), StoreError> {
        let (new, old): (i64, i64) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN state = 'new' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN state = 'new' THEN 0 ELSE 1 END), 0) \
                 FROM voicemail_messages WHERE user_id = $1 AND NOT deleted",
            )
            .bind(user.0)
            .fetch_one(pool)
            .await
        })?;
        Ok((unsigned("count", new)?, unsigned("count", old)?))
    }
}
