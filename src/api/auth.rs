//! Login with the 7-digit local number and PIN, sessions, logout, PIN change and "send me a new
//! PIN".
//!
//! - The session token is 32 random bytes from the OS generator, sent once (in the JSON body
//!   and as an `HttpOnly; SameSite=Strict` cookie); the store keeps only its SHA-256, so a
//!   leaked database holds no usable session. Clients may send it back as
//!   `Authorization: Bearer` (RFC 6750 §2.1) or as the cookie; `SameSite=Strict` keeps other
//!   sites from riding on the cookie (CSRF).
//! - A wrong local number, a wrong PIN and a locked account all answer the same 401 after the
//!   same argon2 work (the one PIN check, [`crate::pin::check`], verifies an unknown number
//!   against a dummy hash), so the answer and its timing do not tell whether a number exists.
//! - Failures are limited twice: per local number in the store (the PIN check's lockout,
//!   shared with the phone mailbox and surviving restarts) and per source address, in memory
//!   and in the store for every node ([`IpLimiter`](super::rate_limit::IpLimiter), 429). The source address is the peer's,
//!   or, only when the peer is one of `[security] trusted_proxies`, the client it names in
//!   `X-Forwarded-For` ([`ClientAddress`]); a spoofed header from anyone else is ignored.
//! - A user whose PIN was given to them (initial or reset, `pin_must_change`) may only change
//!   it (and log out) until they have.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::ApiJson;
use super::me::MeView;
use super::notifier::NewPin;
use super::ApiState;
use crate::pin::Verdict;
use crate::store::{StoreError, User};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "onestatus_session";

/// The logged-in user behind a request, with a PIN that needs no change.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, as stored at the start of the request.
    pub user: User,
    /// SHA-256 (hex) of the session token, for logout.
    pub token_hash: String,
}

/// The logged-in user, also when their PIN must still be changed (PIN change and logout only).
#[derive(Debug, Clone)]
pub struct PinChangeCaller(pub Caller);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let caller = authenticate(&parts.headers, state).await?;
        if caller.user.pin_must_change {
            return Err(ApiError::PinChangeRequired);
        }
        Ok(caller)
    }
}

impl FromRequestParts<ApiState> for PinChangeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        authenticate(&parts.headers, state)
            .await
            .map(PinChangeCaller)
    }
}

/// The session token of a request: the bearer token if there is one, else the cookie.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    bearer.or_else(|| {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value.trim())
    })
}

async fn authenticate(headers: &HeaderMap, state: &ApiState) -> Result<Caller, ApiError> {
    let token = presented_token(headers).ok_or(ApiError::Unauthenticated)?;
    // Tokens we issue are 64 hex digits; anything else cannot be one of ours.
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::Unauthenticated);
    }
    let token_hash = hash_token(token);
    let session = match state.store.session(&token_hash, state.now()).await {
        Ok(s) => s,
        Err(StoreError::NotFound(_)) => return Err(ApiError::Unauthenticated),
        Err(e) => return Err(e.into()),
    };
    let user = match state.store.user(session.user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(ApiError::Unauthenticated),
        Err(e) => return Err(e.into()),
    };
    Ok(Caller { user, token_hash })
}

/// hex(SHA-256(token)), as the store keeps it.
fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh session token: 32 bytes (256 bits) from the OS generator, hex-encoded.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The source address of the request. Behind a reverse proxy this is the proxy; trusting
/// `X-Forwarded-For` needs a configured proxy list, which we do not have yet.
fn source_address(parts_extensions: &axum::http::Extensions) -> IpAddr {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip())
}

/// Body of `POST /login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The 7-digit local number.
    pub local_number: String,
    /// The PIN.
    pub pin: String,
}

/// Answer of a successful login.
#[derive(Debug, Serialize)]
pub struct LoginResponse {
    /// The session token (also set as the `onestatus_session` cookie).
    pub token: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
    /// The PIN must be changed (`PUT /api/v1/me/pin`) before anything else.
    pub pin_must_change: bool,
    /// Who logged in.
    pub user: MeView,
}

/// The source address as axum exposes it, without failing when it is not there.
pub struct SourceAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for SourceAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(SourceAddress(source_address(&parts.extensions)))
    }
}

/// The client's address for per-address limits: the peer, or behind a trusted proxy the
/// client it names in `X-Forwarded-For` ([`super::limits::ApiSecurity::client_address`]).
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<ApiState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let peer = source_address(&parts.extensions);
        Ok(ClientAddress(
            state.security.client_address(peer, &parts.headers),
        ))
    }
}

/// `POST /api/v1/login`.
pub async fn login(
    State(state): State<ApiState>,
    ClientAddress(addr): ClientAddress,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = state.now();
    if let Some(retry_after_secs) = state.ip_limiter.check(addr, now).await {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let well_formed = req.local_number.len() == 7
        && req.local_number.bytes().all(|b| b.is_ascii_digit())
        && req.pin.len() <= crate::pin::MAX_LEN;
    let user = if well_formed {
        match state.store.user_by_local_number(&req.local_number).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    // Unknown number, locked account and wrong PIN: one 401 after the same argon2 work.
    let user = match state.pin_check.check(user, &req.pin, now).await? {
        Verdict::Granted(user) => user,
        Verdict::Unknown | Verdict::Locked(_) | Verdict::Wrong { .. } | Verdict::SourceBanned => {
            state.ip_limiter.fail(addr, now).await;
            return Err(ApiError::InvalidCredentials);
        }
    };
    // Logins are rare enough to carry the housekeeping: expired sessions go here, so the table
    // stays bounded without a timer task.
    state.store.sessions_purge_expired(now).await?;
    let token = new_token();
    let expires_at = now + state.config.session_ttl;
    state
        .store
        .session_create(&hash_token(&token), user.id, expires_at, now)
        .await?;
    let org = state.store.org(user.org_id).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/api/v1; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.config.session_ttl.num_seconds(),
        if state.config.cookie_secure() {
            "; Secure"
        } else {
            ""
        }
    );
    let body = LoginResponse {
        token,
        expires_at,
        pin_must_change: user.pin_must_change,
        user: MeView::new(&user, &org),
    };
    let mut response = Json(body).into_response();
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|e| ApiError::Internal(format!("cookie header: {e}")))?;
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

/// `POST /api/v1/logout`: deletes the session and clears the cookie.
pub async fn logout(
    State(state): State<ApiState>,
    PinChangeCaller(caller): PinChangeCaller,
) -> Result<Response, ApiError> {
    state.store.session_delete(&caller.token_hash).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "onestatus_session=; Path=/api/v1; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(response)
}

/// `POST /api/v1/logout-everywhere`: ends every session of the user, this one included (a
/// lost phone, a shared computer left logged in), and clears this client's cookie.
pub async fn logout_everywhere(
    State(state): State<ApiState>,
    PinChangeCaller(caller): PinChangeCaller,
) -> Result<Response, ApiError> {
    state
        .store
        .sessions_revoke_for_user(caller.user.id, None)
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "onestatus_session=; Path=/api/v1; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(response)
}

/// Body of `PUT /me/pin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePinRequest {
    /// The PIN now.
    pub current_pin: String,
    /// The PIN wanted.
    pub new_pin: String,
}

/// `PUT /api/v1/me/pin`: checks the current PIN (counting failures like a login), applies the
/// PIN rules, stores the new hash and lifts `pin_must_change`.
pub async fn change_pin(
    State(state): State<ApiState>,
    PinChangeCaller(caller): PinChangeCaller,
    ApiJson(req): ApiJson<ChangePinRequest>,
) -> Result<StatusCode, ApiError> {
    let now = state.now();
    let user = caller.user;
    // The rules first: a new PIN that could never be set does not cost an attempt.
    state
        .pin_check
        .rules()
        .validate(&req.new_pin, &user.local_number)?;
    let user = match state
        .pin_check
        .check(Some(user), &req.current_pin, now)
        .await?
    {
        Verdict::Granted(user) => user,
        Verdict::Locked(_) | Verdict::SourceBanned => {
            return Err(ApiError::forbidden(
                "locked",
                "too many wrong PINs; try again later",
            ))
        }
        Verdict::Wrong { .. } | Verdict::Unknown => {
            return Err(ApiError::Invalid {
                code: "wrong_pin",
                field: "current_pin".to_owned(),
                message: "the current PIN is wrong".to_owned(),
            })
        }
    };
    let new_pin = req.new_pin;
    let new_hash = tokio::task::spawn_blocking(move || crate::pin::hash_pin(&new_pin))
        .await
        .map_err(|e| ApiError::Internal(format!("PIN hashing task: {e}")))?;
    state
        .store
        .user_set_pin_hash(user.id, &new_hash, false)
        .await?;
    // Sessions opened with the old PIN end; the one that changed it goes on.
    state
        .store
        .sessions_revoke_for_user(user.id, Some(&caller.token_hash))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /pin-reset`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinResetRequest {
    /// The 7-digit local number.
    pub local_number: String,
    /// `email` (the default) or `sms`.
    #[serde(default)]
    pub channel: super::PinChannel,
}

/// `GET /api/v1/pin-reset/channels`: which ways "send me a new PIN" can travel on this server
/// (`{"email": bool, "sms": bool}`), so the login page offers only those. Server-wide: it says
/// nothing about any user.
pub async fn pin_reset_channels(State(state): State<ApiState>) -> Json<super::PinChannels> {
    Json(state.notifier.channels())
}

/// Digits of a generated PIN: more than the 4-digit minimum, since it travels by e-mail/SMS
/// and is changed at the next login anyway.
const GENERATED_PIN_LEN: usize = 6;

/// A random PIN that satisfies `rules` for `local_number`: [`GENERATED_PIN_LEN`] digits, or
/// the configured minimum if that is longer (the one generator of new and reset PINs).
pub fn generate_pin(local_number: &str, rules: crate::pin::PinRules) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let len = GENERATED_PIN_LEN.max(rules.min_len);
    loop {
        let pin: String = (0..len)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect();
        if rules.validate(&pin, local_number).is_ok() {
            return pin;
        }
    }
}

/// `POST /api/v1/pin-reset` ("send me a new PIN"): 202 for an unknown number as for a
/// delivered PIN. For a known number a new PIN is generated, must be changed at the next
/// login, and goes to the [`PinNotifier`](super::PinNotifier) on the chosen `channel`. Counted
/// against the source address like a failed login, so the endpoint cannot be used to reset
/// everyone's PIN in a loop.
///
/// A delivery that fails is said (issue #18: a user waiting for a mail that never comes cannot
/// tell why): 422 `channel_unavailable` when the server has no relay/gateway for the channel
/// (checked before the number, so it tells nothing about it), 422 `no_address` when the user has
/// no address or mobile for it, 503 `pin_not_delivered` when the relay or gateway refused. The
/// last two tell a prober that the number exists; the per-address limit above bounds that to
/// the login attempts an address has anyway, and the PIN itself is unchanged.
pub async fn pin_reset(
    State(state): State<ApiState>,
    ClientAddress(addr): ClientAddress,
    ApiJson(req): ApiJson<PinResetRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let now = state.now();
    if let Some(retry_after_secs) = state.ip_limiter.check(addr, now).await {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    state.ip_limiter.fail(addr, now).await;
    let accepted = (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "status": "accepted" })),
    );
    let channels = state.notifier.channels();
    let offered = match req.channel {
        super::PinChannel::Email => channels.email,
        super::PinChannel::Sms => channels.sms,
    };
    if !offered {
        return Err(ApiError::Invalid {
            code: "channel_unavailable",
            field: "channel".into(),
            message: "this server cannot send a PIN that way".into(),
        });
    }
    let well_formed =
        req.local_number.len() == 7 && req.local_number.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Ok(accepted);
    }
    let user = match state.store.user_by_local_number(&req.local_number).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Ok(accepted),
        Err(e) => return Err(e.into()),
    };
    let pin = NewPin::new(generate_pin(&user.local_number, state.pin_check.rules()));
    let for_hash = pin.clone();
    let hash = tokio::task::spawn_blocking(move || crate::pin::hash_pin(for_hash.expose()))
        .await
        .map_err(|e| ApiError::Internal(format!("PIN hashing task: {e}")))?;
    // Deliver first, change second: a PIN that cannot reach the user (no mail relay, no
    // address) must not replace the one they have, or anyone could lock anyone out by asking.
    match state
        .notifier
        .send_new_pin_by(&user, &pin, req.channel)
        .await
    {
        Ok(()) => {
            state.store.user_set_pin_hash(user.id, &hash, true).await?;
            state.store.sessions_revoke_for_user(user.id, None).await?;
            Ok(accepted)
        }
        Err(e) => {
            tracing::warn!(user_id = user.id.0, error = %e, "new PIN not delivered; PIN unchanged");
            Err(match e {
                super::PinDeliveryError::NotConfigured(message) => ApiError::Invalid {
                    code: "channel_unavailable",
                    field: "channel".into(),
                    message,
                },
                super::PinDeliveryError::NoAddress(message) => ApiError::Invalid {
                    code: "no_address",
                    field: "channel".into(),
                    message,
                },
                super::PinDeliveryError::Failed(message) => ApiError::Unavailable {
                    code: "pin_not_delivered",
                    message,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_wins_over_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=b; onestatus_session=c1"),
        );
        assert_eq!(presented_token(&h), Some("c1"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer  t1"));
        assert_eq!(presented_token(&h), Some("t1"));
    }

    #[test]
    fn generated_pins_follow_the_rules() {
        for _ in 0..50 {
            let pin = generate_pin("1000001", crate::pin::PinRules::default());
            assert_eq!(pin.len(), GENERATED_PIN_LEN);
            assert!(crate::pin::validate_new_pin(&pin, "1000001").is_ok());
        }
        let eight = crate::pin::PinRules::with_min_len(8);
        let pin = generate_pin("1000001", eight);
        assert_eq!(pin.len(), 8);
        assert!(eight.validate(&pin, "1000001").is_ok());
        assert_eq!(new_token().len(), 64);
        assert_ne!(new_token(), new_token());
    }
}
