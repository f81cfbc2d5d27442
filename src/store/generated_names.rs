//! A user's generated spoken name (issue #18): WAV bytes in the prompts' format, made by
//! `spoken_name` when the user is created or renamed, played by the deposit greeting when the
//! user has no recorded name. Marked by the text and language it was spoken from, so a stale one
//! is recognised.

use chrono::{DateTime, Utc};

use super::{ms, Store, StoreError, UserId};
use crate::domain::Lang;

/// A stored generated name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedName {
    /// The text that was spoken (the user's name when it was made).
    pub spoken: String,
    /// The voice's language.
    pub lang: Lang,
    /// 8 kHz mono 16-bit WAV.
    pub audio: Vec<u8>,
}

impl Store {
    /// Stores (or replaces) `user`'s generated name.
    pub async fn generated_name_set(
        &self,
        user: UserId,
        name: &GeneratedName,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if name.audio.is_empty() {
            return Err(StoreError::invalid("audio", "empty"));
        }
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO generated_names (user_id, spoken, lang, audio, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
                 spoken = excluded.spoken, lang = excluded.lang, audio = excluded.audio, \
                 created_at = excluded.created_at",
            )
            .bind(user.0)
            .bind(&name.spoken)
            .bind(name.lang.as_str())
            .bind(&name.audio)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// `user`'s generated name, if one was made.
    pub async fn generated_name(&self, user: UserId) -> Result<Option<GeneratedName>, StoreError> {
        let row: Option<(String, String, Vec<u8>)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT spoken, lang, audio FROM generated_names WHERE user_id = $1")
                .bind(user.0)
                .fetch_optional(pool)
                .await
        })?;
        row.map(|(spoken, lang, audio)| {
            let lang = lang
                .parse()
                .map_err(|_| StoreError::invalid("lang", lang.clone()))?;
            Ok(GeneratedName {
                spoken,
                lang,
                audio,
            })
        })
        .transpose()
    }
}
