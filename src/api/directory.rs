//! The shared phonebook over HTTP (issue #23): every user of an organisation reads and
//! searches it; receptionists add, change, remove and import (vCard or CSV, with a report of
//! the rejected records). Plain users get 403 `receptionist_only` for the writes; another
//! organisation's contact id answers 404 like a missing one.
//!
//! Also the two voicemail delivery options of the guide (`/me/voicemail-delivery`): where the
//! web client plays a message, and whether the e-mail carries the link to the recording.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, QueryParams};
use super::me::{check_text, normalise_number};
use super::ApiState;
use crate::directory::import::{self, ColumnMap, ImportError, ImportReport};
use crate::domain::Role;
use crate::number::Plan;
use crate::store::{
    ContactNumber, ImportMode, NumberKind, SharedContact, SharedContactData, SharedContactId,
    VoicemailDelivery, VoicemailPlayer,
};

/// Largest import file accepted: a 20,000-contact Outlook export is a few MiB.
pub const MAX_IMPORT_BYTES: usize = 8 << 20;
/// Media types the import reads.
pub const IMPORT_MEDIA_TYPES: &[&str] = &["text/vcard", "text/x-vcard", "text/csv"];
/// Most numbers on one contact.
const MAX_NUMBERS: usize = 10;
/// Most contacts one list answer holds.
const MAX_LIMIT: u32 = 5000;

/// One number in a contact's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberInput {
    /// work, mobile, home or other (default work).
    #[serde(default)]
    pub kind: Option<NumberKind>,
    /// As typed; normalised with the organisation's plan.
    pub number: String,
}

/// Body of shared contact create/replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedContactInput {
    /// Name.
    pub name: String,
    /// Company.
    #[serde(default)]
    pub company: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Note for colleagues.
    #[serde(default)]
    pub note: Option<String>,
    /// At least one number.
    pub numbers: Vec<NumberInput>,
}

/// 403 unless the caller is a receptionist.
fn receptionist(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role == Role::Receptionist {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "receptionist_only",
            "only receptionists manage the shared phonebook",
        ))
    }
}

async fn plan(state: &ApiState, caller: &Caller) -> Result<Plan, ApiError> {
    let org = state.store.org(caller.user.org_id).await?;
    Ok(Plan::for_timezone(org.timezone))
}

fn optional(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) => {
            check_text(field, &v)?;
            Ok(Some(v.trim().to_owned()).filter(|v| !v.is_empty()))
        }
        None => Ok(None),
    }
}

/// The stored form of `input`, or a 422 naming the field (`numbers[1].number`).
fn contact_data(
    caller: &Caller,
    plan: &Plan,
    input: SharedContactInput,
) -> Result<SharedContactData, ApiError> {
    if input.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    check_text("name", &input.name)?;
    if input.numbers.is_empty() {
        return Err(ApiError::invalid("numbers", "at least one number"));
    }
    if input.numbers.len() > MAX_NUMBERS {
        return Err(ApiError::invalid(
            "numbers",
            format!("at most {MAX_NUMBERS} numbers"),
        ));
    }
    let mut numbers: Vec<ContactNumber> = Vec::new();
    for (i, n) in input.numbers.into_iter().enumerate() {
        let number = normalise_number(&format!("numbers[{i}].number"), &n.number, plan)?;
        if numbers.iter().any(|m| m.number == number) {
            return Err(ApiError::invalid(
                format!("numbers[{i}].number"),
                "the same number twice",
            ));
        }
        numbers.push(ContactNumber {
            kind: n.kind.unwrap_or(NumberKind::Work),
            number,
        });
    }
    let email = optional("email", input.email)?;
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(ApiError::invalid("email", "not an e-mail address"));
    }
    Ok(SharedContactData {
        org_id: caller.user.org_id,
        name: input.name.trim().to_owned(),
        company: optional("company", input.company)?,
        email,
        note: optional("note", input.note)?,
        numbers,
    })
}

/// `GET /api/v1/shared-contacts?q=&limit=`: the organisation's shared phonebook, by name.
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Vec<SharedContact>>, ApiError> {
    query.only(&["q", "limit"])?;
    let q = query.text("q").unwrap_or("");
    if q.chars().count() > 100 {
        return Err(ApiError::invalid("q", "at most 100 characters"));
    }
    let limit = match query.parsed::<u32>("limit")? {
        None => MAX_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid("limit", format!("1 to {MAX_LIMIT}"))),
    };
    Ok(Json(
        state
            .store
            .shared_contacts(caller.user.org_id, q, limit)
            .await?,
    ))
}

/// `GET /api/v1/shared-contacts/{id}`.
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SharedContact>, ApiError> {
    Ok(Json(
        state
            .store
            .shared_contact(caller.user.org_id, SharedContactId(id))
            .await?,
    ))
}

/// `POST /api/v1/shared-contacts` (receptionists).
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<SharedContactInput>,
) -> Result<(StatusCode, Json<SharedContact>), ApiError> {
    receptionist(&caller)?;
    let plan = plan(&state, &caller).await?;
    let data = contact_data(&caller, &plan, input)?;
    let c = state
        .store
        .shared_contact_create(&data, state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// `PUT /api/v1/shared-contacts/{id}` (receptionists).
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<SharedContactInput>,
) -> Result<Json<SharedContact>, ApiError> {
    receptionist(&caller)?;
    let plan = plan(&state, &caller).await?;
    let data = contact_data(&caller, &plan, input)?;
    let c = state
        .store
        .shared_contact_update(SharedContactId(id), &data, state.now())
        .await?;
    Ok(Json(c))
}

/// `DELETE /api/v1/shared-contacts/{id}` (receptionists).
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    receptionist(&caller)?;
    state
        .store
        .shared_contact_delete(caller.user.org_id, SharedContactId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/shared-contacts/import?mode=add|replace&columns=name=Kunde;work=Tlf`
/// (receptionists): a vCard or CSV file as the body. 200 with the report: records read,
/// added, duplicates skipped, removed (replace), and each rejected record with its line,
/// record number and reason. A file that cannot be read at all is 422 naming `file`.
pub async fn import_file(
    State(state): State<ApiState>,
    caller: Caller,
    query: QueryParams,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    receptionist(&caller)?;
    query.only(&["mode", "columns"])?;
    let mode = match query.text("mode").unwrap_or("add") {
        "add" => ImportMode::Add,
        "replace" => ImportMode::Replace,
        _ => return Err(ApiError::invalid("mode", "add or replace")),
    };
    let columns = ColumnMap::parse(query.text("columns").unwrap_or(""))
        .map_err(|e| ApiError::invalid("columns", e.to_string()))?;
    let bytes = read_upload(&headers, body).await?;
    let plan = plan(&state, &caller).await?;
    let parsed =
        import::parse_file(&bytes, caller.user.org_id, &plan, &columns).map_err(|e| match e {
            ImportError::Mapping(_) | ImportError::MissingColumn(_) => {
                ApiError::invalid("columns", e.to_string())
            }
            other => ApiError::Invalid {
                code: "invalid_file",
                field: "file".to_owned(),
                message: other.to_string(),
            },
        })?;
    let counts = state
        .store
        .shared_contacts_import(caller.user.org_id, &parsed.contacts, mode, state.now())
        .await?;
    tracing::info!(
        user = %caller.user.id,
        added = counts.added,
        rejected = parsed.rejected.len(),
        "shared contacts imported"
    );
    Ok(Json(ImportReport::new(parsed, counts)))
}

/// The upload's bytes, with the media type and size checked.
async fn read_upload(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let mime = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if !IMPORT_MEDIA_TYPES
        .iter()
        .any(|m| m.eq_ignore_ascii_case(mime))
    {
        return Err(ApiError::UnsupportedMediaType {
            field: None,
            message: "expected Content-Type: text/vcard or text/csv".to_owned(),
        });
    }
    let too_large = || ApiError::PayloadTooLarge {
        field: Some("file".to_owned()),
        message: format!("the file may be at most {} MiB", MAX_IMPORT_BYTES >> 20),
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_IMPORT_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = Limited::new(body, MAX_IMPORT_BYTES)
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
        })?
        .to_bytes();
    Ok(bytes.to_vec())
}

/// Body of `PATCH /me/voicemail-delivery`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPatch {
    /// `web` or `external`.
    #[serde(default)]
    pub player: Option<VoicemailPlayer>,
    /// The e-mail carries the link to the recording.
    #[serde(default)]
    pub email_link: Option<bool>,
}

/// `GET /api/v1/me/voicemail-delivery`.
pub async fn delivery(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<VoicemailDelivery>, ApiError> {
    Ok(Json(state.store.voicemail_delivery(caller.user.id).await?))
}

/// `PATCH /api/v1/me/voicemail-delivery`.
pub async fn update_delivery(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(patch): ApiJson<DeliveryPatch>,
) -> Result<Json<VoicemailDelivery>, ApiError> {
    let mut d = state.store.voicemail_delivery(caller.user.id).await?;
    if let Some(player) = patch.player {
        d.player = player;
    }
    if let Some(link) = patch.email_link {
        d.email_link = link;
    }
    state
        .store
        .voicemail_delivery_update(caller.user.id, &d)
        .await?;
    Ok(Json(d))
}
