//! Written messages delivered (issue #18): `POST /api/v1/me/messages` to a colleague (it
//! appears in their list, and goes to their e-mail or mobile as the sender chose) or to an
//! e-mail address or mobile number the sender typed; `GET /api/v1/me/messages/sent` and
//! `GET /api/v1/me/messages/sent/{id}` say where each delivery stands (queued, sent, failed
//! with the reason).
//!
//! The request only queues the delivery (`message_deliveries`); the delivery worker
//! (`runtime::delivery`) sends it within a second and retries on failure, so a slow relay never
//! holds the request. A typed mobile number is normalised with the organisation's numbering
//! plan (`number::normalise`) and must pass the toll-fraud policy (`toll_fraud`, as every
//! number we might reach out to): the organisation's external switch and the deny-list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::colleagues::colleague;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::ApiState;
use crate::notify::VoicemailChanged;
use crate::store::{DeliveryId, MessageChannel, NewDelivery, Sender, UserId};

/// Longest written message: an SMS concatenation limit's worth, generous for e-mail notes.
const MAX_MESSAGE_CHARS: usize = 1000;

/// Deliveries listed at most.
const SENT_LIMIT: u32 = 100;

/// Body of `POST /me/messages`: exactly one of `to_user_id`, `to_address`, `to_number`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessageInput {
    /// A colleague of the same organisation.
    #[serde(default)]
    pub to_user_id: Option<i64>,
    /// An e-mail address (channel `email`).
    #[serde(default)]
    pub to_address: Option<String>,
    /// A mobile number as typed (channel `sms`).
    #[serde(default)]
    pub to_number: Option<String>,
    /// `email` or `sms`.
    pub channel: MessageChannel,
    /// The text.
    pub body: String,
}

/// Where the message goes, once the input is checked.
enum Recipient {
    Colleague(Box<crate::store::User>),
    Address(String),
}

/// `POST /api/v1/me/messages`.
pub async fn send_message(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<SendMessageInput>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = input.body.trim();
    if body.is_empty() {
        return Err(ApiError::invalid("body", "must not be empty"));
    }
    if body.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::invalid(
            "body",
            format!("at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    let recipient = recipient(&state, &caller, &input).await?;
    let now = state.now();
    let channels = state.notifier.channels();
    let configured = match input.channel {
        MessageChannel::Email => channels.email,
        MessageChannel::Sms => channels.sms,
    };
    let (message, to_user_id, address) = match recipient {
        Recipient::Colleague(to) => {
            let m = state
                .store
                .written_message_create(
                    to.id,
                    &Sender::User(caller.user.id),
                    input.channel,
                    body,
                    now,
                )
                .await?;
            VoicemailChanged::new(state.store.clone(), state.presence.clone())
                .publish(to.id)
                .await?;
            let address = match input.channel {
                MessageChannel::Email => to.profile.email.clone(),
                MessageChannel::Sms => to.profile.mobile_number.clone(),
            }
            .filter(|a| !a.trim().is_empty());
            (Some(m), Some(to.id), address)
        }
        Recipient::Address(address) => {
            if !configured {
                return Err(ApiError::Invalid {
                    code: "channel_unavailable",
                    field: "channel".into(),
                    message: format!("this server cannot send {}", input.channel),
                });
            }
            (None, None, Some(address))
        }
    };
    // A colleague without an address for the channel still has the message in their list;
    // the delivery says why it went no further.
    let failed = match (&address, configured) {
        (None, _) => Some(match input.channel {
            MessageChannel::Email => "the colleague has no e-mail address".to_owned(),
            MessageChannel::Sms => "the colleague has no mobile number".to_owned(),
        }),
        (Some(_), false) => Some(format!("this server cannot send {}", input.channel)),
        (Some(_), true) => None,
    };
    let delivery = state
        .store
        .delivery_create(
            &NewDelivery {
                sender_user_id: caller.user.id,
                to_user_id,
                message_id: message.as_ref().map(|m| m.id),
                channel: input.channel,
                address: address.unwrap_or_default(),
                body: body.to_owned(),
                failed,
            },
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": message.as_ref().map(|m| m.id),
            "to_user_id": to_user_id,
            "created_at": now,
            "delivery": delivery,
        })),
    ))
}

/// Checks the one recipient the input names.
async fn recipient(
    state: &ApiState,
    caller: &Caller,
    input: &SendMessageInput,
) -> Result<Recipient, ApiError> {
    let given = [
        input.to_user_id.is_some(),
        input.to_address.is_some(),
        input.to_number.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::invalid(
            "to_user_id",
            "give exactly one of to_user_id, to_address and to_number",
        ));
    }
    if let Some(id) = input.to_user_id {
        let to = colleague(state, caller, UserId(id))
            .await
            .map_err(|e| match e {
                ApiError::NotFound(_) => ApiError::invalid("to_user_id", "no such colleague"),
                other => other,
            })?;
        return Ok(Recipient::Colleague(Box::new(to)));
    }
    if let Some(address) = &input.to_address {
        if input.channel != MessageChannel::Email {
            return Err(ApiError::invalid(
                "channel",
                "an e-mail address needs channel email",
            ));
        }
        let address = address.trim();
        crate::notify::email::mailbox(address)
            .map_err(|_| ApiError::invalid("to_address", "not an e-mail address"))?;
        return Ok(Recipient::Address(address.to_owned()));
    }
    let typed = input.to_number.as_deref().unwrap_or_default();
    if input.channel != MessageChannel::Sms {
        return Err(ApiError::invalid(
            "channel",
            "a mobile number needs channel sms",
        ));
    }
    let org = state.store.org(caller.user.org_id).await?;
    let plan = crate::number::Plan::for_timezone(org.timezone);
    let number = crate::number::normalise(typed, &plan)
        .map_err(|e| ApiError::invalid("to_number", e.to_string()))?;
    super::toll_fraud::guard(
        state,
        &org,
        &number,
        "to_number",
        "external_messages_not_allowed",
    )
    .await?;
    Ok(Recipient::Address(number))
}

/// `GET /api/v1/me/channels`: which ways a message or a new PIN can reach me: the server has
/// the relay/gateway and I have the address/number (`{"email": bool, "sms": bool}`).
pub async fn my_channels(State(state): State<ApiState>, caller: Caller) -> Json<serde_json::Value> {
    let server = state.notifier.channels();
    let has = |v: &Option<String>| v.as_deref().is_some_and(|a| !a.trim().is_empty());
    Json(serde_json::json!({
        "email": server.email && has(&caller.user.profile.email),
        "sms": server.sms && has(&caller.user.profile.mobile_number),
    }))
}

/// `GET /api/v1/me/messages/sent`: my messages' deliveries, newest first.
pub async fn sent(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let deliveries = state
        .store
        .deliveries_by_sender(caller.user.id, SENT_LIMIT)
        .await?;
    Ok(Json(serde_json::json!({ "deliveries": deliveries })))
}

/// `GET /api/v1/me/messages/sent/{id}`: one delivery of mine.
pub async fn sent_one(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<crate::store::Delivery>, ApiError> {
    Ok(Json(
        state.store.delivery(caller.user.id, DeliveryId(id)).await?,
    ))
}
