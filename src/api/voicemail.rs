//! Voicemail in the web client: voice and written messages in one list (new ones marked, with
//! counts), the audio as `audio/wav` with byte ranges so the browser can seek, mark read/saved,
//! delete; sending a written message to a colleague; the organisation's standard messages.
//!
//! Isolation: every lookup is by (owner, id), so another user's message id answers 404 exactly
//! like a missing one — its existence is not revealed either.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::colleagues::colleague;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::range::wav_response;
use super::ApiState;
use crate::domain::{MessageState, Role};
use crate::notify::VoicemailChanged;
use crate::store::{
    MessageChannel, Sender, StandardMessage, StandardMessageId, UserId, VoicemailId,
    WrittenMessageId,
};

/// One entry of the voicemail list.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageView {
    /// A recorded voice message.
    Voice {
        /// Voice message id (`/me/voicemail/{id}`).
        id: VoicemailId,
        /// Calling number.
        caller_number: Option<String>,
        /// Calling name: the directory's name for the number when one is known (issue #23),
        /// else the name the caller presented.
        caller_name: Option<String>,
        /// Where `caller_name` came from (`null`: presented by the caller, or none).
        caller_name_source: Option<crate::directory::NameSource>,
        /// When it was left.
        received_at: DateTime<Utc>,
        /// Length.
        duration_ms: u64,
        /// new, read or saved.
        state: MessageState,
        /// Not yet heard.
        new: bool,
        /// Where to fetch the audio.
        audio_url: String,
    },
    /// A written message (e-mail/SMS) from a colleague or outsider.
    Written {
        /// Written message id (`/me/messages/{id}`).
        id: WrittenMessageId,
        /// Who wrote it.
        from: Sender,
        /// The colleague's name, when from a colleague.
        from_name: Option<String>,
        /// E-mail or SMS.
        channel: MessageChannel,
        /// Text.
        body: String,
        /// When it was written.
        received_at: DateTime<Utc>,
        /// new, read or saved.
        state: MessageState,
        /// Not yet read.
        new: bool,
    },
}

impl MessageView {
    fn received_at(&self) -> DateTime<Utc> {
        match self {
            MessageView::Voice { received_at, .. } | MessageView::Written { received_at, .. } => {
                *received_at
            }
        }
    }
}

/// Message counts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Counts {
    /// New voice messages (the MWI count).
    pub new_voice: u32,
    /// Heard or saved voice messages.
    pub old_voice: u32,
    /// Unread written messages.
    pub new_written: u32,
    /// Everything in the list.
    pub total: u32,
}

/// Answer of `GET /me/voicemail`.
#[derive(Debug, Serialize)]
pub struct VoicemailList {
    /// Counts.
    pub counts: Counts,
    /// Newest first.
    pub messages: Vec<MessageView>,
}

/// `GET /api/v1/me/voicemail`.
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<VoicemailList>, ApiError> {
    let me = caller.user.id;
    let voice = state.store.voicemails(me).await?;
    let written = state.store.written_messages(me).await?;
    let (new_voice, old_voice) = state.store.voicemail_counts(me).await?;
    let mut messages: Vec<MessageView> = Vec::with_capacity(voice.len() + written.len());
    let mut names = super::names::names(&state, &caller).await?;
    for v in voice {
        let named = match &v.caller_number {
            Some(number) => {
                names
                    .name_for(number, crate::directory::External::Cached, state.now())
                    .await?
            }
            None => None,
        };
        messages.push(MessageView::Voice {
            audio_url: format!("/api/v1/me/voicemail/{}/audio", v.id),
            id: v.id,
            caller_number: v.caller_number,
            caller_name_source: named.as_ref().map(|n| n.source),
            caller_name: named.map(|n| n.name).or(v.caller_name),
            received_at: v.received_at,
            duration_ms: v.duration_ms,
            new: v.state == MessageState::New,
            state: v.state,
        });
    }
    let mut new_written = 0u32;
    for w in written {
        let from_name = match &w.from {
            Sender::User(id) => state.store.user(*id).await.ok().map(|u| u.profile.name),
            Sender::External(_) => None,
        };
        let new = w.state == MessageState::New;
        new_written += u32::from(new);
        messages.push(MessageView::Written {
            id: w.id,
            from: w.from,
            from_name,
            channel: w.channel,
            body: w.body,
            received_at: w.created_at,
            state: w.state,
            new,
        });
    }
    messages.sort_by_key(|m| std::cmp::Reverse(m.received_at()));
    let counts = Counts {
        new_voice,
        old_voice,
        new_written,
        total: u32::try_from(messages.len()).unwrap_or(u32::MAX),
    };
    Ok(Json(VoicemailList { counts, messages }))
}

/// `GET /api/v1/me/voicemail/{id}/audio`: the WAV file, whole (200) or one byte range (206).
pub async fn audio(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let bytes = state
        .store
        .voicemail_audio(caller.user.id, VoicemailId(id))
        .await?;
    // A message's audio never changes under its id, so id and length make a strong validator
    // (RFC 9110 §8.8.3) for If-Range.
    let etag = format!("\"vm-{id}-{}\"", bytes.len());
    wav_response(bytes, &etag, &headers)
}

/// Body of the state PATCHes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateInput {
    /// `new`, `read` or `saved`.
    pub state: MessageState,
}

/// Tells the user's live views (and the MWI lamp's driver) the new counts.
async fn voicemail_changed(state: &ApiState, user: UserId) -> Result<(), ApiError> {
    VoicemailChanged::new(state.store.clone(), state.presence.clone())
        .publish(user)
        .await?;
    Ok(())
}

/// `PATCH /api/v1/me/voicemail/{id}`.
pub async fn set_state(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<StateInput>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .voicemail_set_state(caller.user.id, VoicemailId(id), input.state)
        .await?;
    voicemail_changed(&state, caller.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/me/voicemail/{id}`.
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .voicemail_delete(caller.user.id, VoicemailId(id))
        .await?;
    voicemail_changed(&state, caller.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /api/v1/me/messages/{id}`.
pub async fn set_message_state(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<StateInput>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .written_message_set_state(caller.user.id, WrittenMessageId(id), input.state)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/me/messages/{id}`.
pub async fn delete_message(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .written_message_delete(caller.user.id, WrittenMessageId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Longest written message: an SMS concatenation limit's worth, generous for e-mail notes.
const MAX_MESSAGE_CHARS: usize = 1000;

/// Body of `POST /me/messages/{id}/forward`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardMessageInput {
    /// The colleague to pass it on to.
    pub to_user_id: i64,
}

/// `POST /api/v1/me/messages/{id}/forward`: passes one of my written messages on to a
/// colleague, who sees it as from me with the original sender quoted.
pub async fn forward_message(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ForwardMessageInput>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let original = state
        .store
        .written_messages(caller.user.id)
        .await?
        .into_iter()
        .find(|m| m.id.0 == id)
        .ok_or(ApiError::NotFound("message"))?;
    let to = colleague(&state, &caller, UserId(input.to_user_id))
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::invalid("to_user_id", "no such colleague"),
            other => other,
        })?;
    let from = match &original.from {
        Sender::User(id) => state
            .store
            .user(*id)
            .await
            .map(|u| u.profile.name)
            .unwrap_or_default(),
        Sender::External(who) => who.clone(),
    };
    let body: String = format!("Fwd (from {from}): {}", original.body)
        .chars()
        .take(MAX_MESSAGE_CHARS + 100)
        .collect();
    let m = state
        .store
        .written_message_create(
            to.id,
            &Sender::User(caller.user.id),
            original.channel,
            &body,
            state.now(),
        )
        .await?;
    voicemail_changed(&state, to.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": m.id, "to_user_id": to.id, "created_at": m.created_at })),
    ))
}

/// `GET /api/v1/standard-messages`.
pub async fn standard_messages(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<StandardMessage>>, ApiError> {
    Ok(Json(
        state.store.standard_messages(caller.user.org_id).await?,
    ))
}

/// Body of standard message create/replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardMessageInput {
    /// The text.
    pub text: String,
}

fn receptionist(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role == Role::Receptionist {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "receptionist_only",
            "only receptionists manage standard messages",
        ))
    }
}

fn check_standard(input: &StandardMessageInput) -> Result<(), ApiError> {
    if input.text.trim().is_empty() {
        return Err(ApiError::invalid("text", "must not be empty"));
    }
    if input.text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::invalid(
            "text",
            format!("at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(())
}

/// `POST /api/v1/standard-messages` (receptionists).
pub async fn create_standard_message(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<StandardMessageInput>,
) -> Result<(StatusCode, Json<StandardMessage>), ApiError> {
    receptionist(&caller)?;
    check_standard(&input)?;
    let m = state
        .store
        .standard_message_create(
            caller.user.org_id,
            input.text.trim(),
            Some(caller.user.id),
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// `PUT /api/v1/standard-messages/{id}` (receptionists).
pub async fn update_standard_message(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<StandardMessageInput>,
) -> Result<StatusCode, ApiError> {
    receptionist(&caller)?;
    check_standard(&input)?;
    state
        .store
        .standard_message_update(caller.user.org_id, StandardMessageId(id), input.text.trim())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/standard-messages/{id}` (receptionists).
pub async fn delete_standard_message(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    receptionist(&caller)?;
    state
        .store
        .standard_message_delete(caller.user.org_id, StandardMessageId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
