//! The user's own greeting and name recordings, uploaded from the web client: any format
//! `symphonia` decodes (WAV, FLAC, Ogg/Vorbis, MP3, any rate and channel count), converted to
//! what the voicemail IVR plays — 8 kHz mono 16-bit WAV — and stored in place of the one
//! recorded by phone (the store keeps one of each kind per user).
//!
//! Uploading turns the matching voicemail option on (`use_own_greeting` / `use_own_name`):
//! someone who took the trouble to upload a greeting wants callers to hear it. Deleting turns
//! it off again, so the IVR never looks for a recording that is gone.
//!
//! # Limits
//! The encoded body is read up to [`MAX_UPLOAD_BYTES`] (413 past it, decided from
//! `Content-Length` before reading when the client sends one); the decoded audio may last at
//! most [`GREETING_MAX`] / [`NAME_MAX`] (422, field `audio`). A body the decoder does not
//! recognise as audio at all is 415; audio it recognises but cannot decode is 422. Decoding
//! and resampling cost milliseconds per second of audio, so they run on the blocking pool, not
//! on the request's worker thread.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::error::ApiError;
use super::range::wav_response;
use super::ApiState;
use crate::media::decode::{decode, wav_bytes, DecodeError, DecodeLimits, TELEPHONE_RATE};
use crate::store::{RecordingKind, UserId};

/// Largest encoded upload read: a 2-minute greeting is ~2 MB as 16-bit 8 kHz WAV and far less
/// compressed; 10 MiB leaves room for a 44.1 kHz stereo WAV of a minute.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Longest greeting: callers hear it before they can leave a message.
pub const GREETING_MAX: Duration = Duration::from_secs(120);

/// Longest name recording: it is spoken inside "You have called <name>".
pub const NAME_MAX: Duration = Duration::from_secs(10);

/// Media types an upload may be labelled with, and the file extension each hints to the
/// decoder's prober (which still checks the content). `application/octet-stream` (or no
/// `Content-Type`) lets the prober decide alone.
const AUDIO_TYPES: &[(&str, Option<&str>)] = &[
    ("audio/wav", Some("wav")),
    ("audio/wave", Some("wav")),
    ("audio/x-wav", Some("wav")),
    ("audio/vnd.wave", Some("wav")),
    ("audio/flac", Some("flac")),
    ("audio/x-flac", Some("flac")),
    ("audio/ogg", Some("ogg")),
    ("application/ogg", Some("ogg")),
    ("audio/vorbis", Some("ogg")),
    ("audio/mpeg", Some("mp3")),
    ("audio/mp3", Some("mp3")),
    ("application/octet-stream", None),
];

/// The media types documented for the upload endpoints.
pub const UPLOAD_MEDIA_TYPES: &[&str] = &[
    "audio/wav",
    "audio/flac",
    "audio/ogg",
    "audio/mpeg",
    "application/octet-stream",
];

/// Answer of an upload.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingView {
    /// `greeting` or `name`.
    pub kind: RecordingKind,
    /// Length of the converted audio.
    pub duration_ms: u64,
    /// Size of the stored WAV file.
    pub bytes: usize,
    /// Whether the IVR now plays it (`use_own_greeting` / `use_own_name`).
    pub in_use: bool,
    /// Where to fetch it.
    pub audio_url: &'static str,
}

fn audio_url(kind: RecordingKind) -> &'static str {
    match kind {
        RecordingKind::Greeting => "/api/v1/me/voicemail/greeting",
        RecordingKind::Name => "/api/v1/me/voicemail/name",
    }
}

/// The decode limits for `kind`.
pub fn limits(kind: RecordingKind) -> DecodeLimits {
    DecodeLimits {
        max_bytes: MAX_UPLOAD_BYTES,
        max_duration: match kind {
            RecordingKind::Greeting => GREETING_MAX,
            RecordingKind::Name => NAME_MAX,
        },
    }
}

/// The decoder's extension hint for the request's `Content-Type`; 415 for a type that is not
/// audio.
fn extension_hint(headers: &HeaderMap) -> Result<Option<&'static str>, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(None);
    };
    let mime = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    AUDIO_TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(mime))
        .map(|(_, ext)| *ext)
        .ok_or_else(|| ApiError::UnsupportedMediaType {
            field: None,
            message: format!(
                "expected an audio file ({}), not {mime:?}",
                UPLOAD_MEDIA_TYPES.join(", ")
            ),
        })
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge {
        field: Some("audio".to_owned()),
        message: format!(
            "the audio file may be at most {} MiB",
            MAX_UPLOAD_BYTES / (1024 * 1024)
        ),
    }
}

/// Reads the body, refusing more than [`MAX_UPLOAD_BYTES`] without buffering past it.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD_BYTES as u64) {
        return Err(too_large());
    }
    let collected = Limited::new(body, MAX_UPLOAD_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                too_large()
            } else {
                ApiError::BadRequest {
                    code: "unreadable_body",
                    message: "the request body could not be read".to_owned(),
                    field: None,
                }
            }
        })?;
    let bytes = collected.to_bytes().to_vec();
    if bytes.is_empty() {
        return Err(ApiError::invalid("audio", "the audio file is empty"));
    }
    Ok(bytes)
}

/// Maps a decode failure to the API: unrecognised content is 415, recognised but unusable
/// audio 422, both naming the field.
fn decode_error(kind: RecordingKind, err: DecodeError) -> ApiError {
    let undecodable = |message: String| ApiError::Invalid {
        code: "undecodable_audio",
        field: "audio".to_owned(),
        message,
    };
    match err {
        DecodeError::TooLarge { .. } => too_large(),
        DecodeError::TooLong { max } => ApiError::Invalid {
            code: "audio_too_long",
            field: "audio".to_owned(),
            message: format!(
                "the {} may last at most {} seconds",
                kind.as_str(),
                max.as_secs()
            ),
        },
        DecodeError::Unsupported { what } => ApiError::UnsupportedMediaType {
            field: Some("audio".to_owned()),
            message: format!("not an audio file this server decodes ({what})"),
        },
        DecodeError::Read { .. } => ApiError::Internal(err.to_string()),
        other @ (DecodeError::Malformed { .. }
        | DecodeError::DecoderLimit { .. }
        | DecodeError::Demux(_)
        | DecodeError::NoAudioTrack
        | DecodeError::UnsupportedRate { .. }
        | DecodeError::UnsupportedChannels { .. }
        | DecodeError::RateChanged { .. }
        | DecodeError::Empty) => undecodable(other.to_string()),
    }
}

/// Turns the "play my own …" option for `kind` on or off.
async fn set_in_use(
    state: &ApiState,
    user: UserId,
    kind: RecordingKind,
    on: bool,
) -> Result<(), ApiError> {
    let mut s = state.store.voicemail_settings(user).await?;
    match kind {
        RecordingKind::Greeting => s.use_own_greeting = on,
        RecordingKind::Name => s.use_own_name = on,
    }
    state.store.voicemail_settings_update(user, &s).await?;
    Ok(())
}

/// Decodes, converts, stores and enables an uploaded recording. 201 when the user had none
/// of this kind, 200 when it replaced one (RFC 9110 §9.3.4).
async fn upload(
    state: ApiState,
    caller: Caller,
    kind: RecordingKind,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RecordingView>), ApiError> {
    let hint = extension_hint(&headers)?;
    let bytes = read_body(&headers, body).await?;
    let limits = limits(kind);
    let pcm = tokio::task::spawn_blocking(move || decode(bytes, hint, &limits))
        .await
        .map_err(|e| ApiError::Internal(format!("decoder task: {e}")))?
        .map_err(|e| decode_error(kind, e))?;
    let wav = wav_bytes(&pcm).map_err(|e| ApiError::Internal(format!("WAV encoding: {e}")))?;
    let me = caller.user.id;
    let existed = state.store.recording(me, kind).await?.is_some();
    state
        .store
        .recording_set(me, kind, &wav, state.now())
        .await?;
    set_in_use(&state, me, kind, true).await?;
    tracing::info!(
        user = me.0,
        kind = kind.as_str(),
        samples = pcm.len(),
        "recording uploaded"
    );
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(RecordingView {
            kind,
            duration_ms: pcm.len() as u64 * 1000 / u64::from(TELEPHONE_RATE),
            bytes: wav.len(),
            in_use: true,
            audio_url: audio_url(kind),
        }),
    ))
}

/// Serves the stored WAV, with byte ranges.
async fn fetch(
    state: &ApiState,
    caller: &Caller,
    kind: RecordingKind,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let wav = state
        .store
        .recording(caller.user.id, kind)
        .await?
        .ok_or(ApiError::NotFound("recording"))?;
    // The recording can be replaced under the same URL, so the validator is the content's
    // hash (a strong validator, RFC 9110 §8.8.3), not an id.
    let digest = Sha256::digest(&wav);
    let etag = format!("\"{}-{}\"", kind.as_str(), hex::encode(&digest[..12]));
    wav_response(wav, &etag, headers)
}

/// Deletes the recording and stops the IVR from looking for it.
async fn remove(state: &ApiState, caller: &Caller, kind: RecordingKind) -> Result<(), ApiError> {
    state.store.recording_delete(caller.user.id, kind).await?;
    set_in_use(state, caller.user.id, kind, false).await
}

/// `PUT /api/v1/me/voicemail/greeting`: upload my greeting (any decodable audio).
pub async fn put_greeting(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RecordingView>), ApiError> {
    upload(state, caller, RecordingKind::Greeting, headers, body).await
}

/// `GET /api/v1/me/voicemail/greeting`: my greeting as 8 kHz WAV.
pub async fn get_greeting(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    fetch(&state, &caller, RecordingKind::Greeting, &headers).await
}

/// `DELETE /api/v1/me/voicemail/greeting`.
pub async fn delete_greeting(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    remove(&state, &caller, RecordingKind::Greeting).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/me/voicemail/name`: upload my name recording.
pub async fn put_name(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RecordingView>), ApiError> {
    upload(state, caller, RecordingKind::Name, headers, body).await
}

/// `GET /api/v1/me/voicemail/name`: my name recording as 8 kHz WAV.
pub async fn get_name(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    fetch(&state, &caller, RecordingKind::Name, &headers).await
}

/// `DELETE /api/v1/me/voicemail/name`.
pub async fn delete_name(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    remove(&state, &caller, RecordingKind::Name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn content_type_gives_the_decoder_a_hint_or_is_refused() {
        assert_eq!(extension_hint(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            extension_hint(&with_type("audio/mpeg")).unwrap(),
            Some("mp3")
        );
        assert_eq!(
            extension_hint(&with_type("Audio/FLAC; foo=bar")).unwrap(),
            Some("flac")
        );
        assert_eq!(
            extension_hint(&with_type("application/octet-stream")).unwrap(),
            None
        );
        let err = extension_hint(&with_type("application/json")).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn decode_errors_name_the_audio_field() {
        let long = decode_error(RecordingKind::Name, DecodeError::TooLong { max: NAME_MAX });
        assert_eq!(long.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            long.to_string(),
            "audio: the name may last at most 10 seconds"
        );
        let big = decode_error(
            RecordingKind::Greeting,
            DecodeError::TooLarge { len: 1, max: 0 },
        );
        assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            decode_error(RecordingKind::Greeting, DecodeError::NoAudioTrack).status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
