//! Extractors whose rejections speak the API's error shape: a JSON body whose serde errors name
//! the field, path ids, and query parameters read one by one with named errors.
//!
//! axum's own `Json`/`Path`/`Query` reject with plain-text bodies; the web client would then
//! have to parse two error formats.

use std::collections::HashMap;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest JSON body any endpoint reads; absences and contacts are a few hundred bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// A JSON request body. Unknown fields are refused by the input types
/// (`#[serde(deny_unknown_fields)]`); the error names the field at fault, as a dotted path.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::json_expected());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::body_too_large()
                } else {
                    ApiError::BadRequest {
                        code: "unreadable_body",
                        message: e.body_text(),
                        field: None,
                    }
                }
            })?;
        if bytes.len() > MAX_JSON_BYTES {
            return Err(ApiError::body_too_large());
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialises `bytes`, turning a serde error into 400 (not JSON) or 422 (JSON of the wrong
/// shape, naming the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                ApiError::Invalid {
                    code: "invalid_field",
                    field: field_name(&path, &message),
                    message: strip_position(&message),
                }
            }
            _ => ApiError::BadRequest {
                code: "invalid_json",
                message: strip_position(&inner.to_string()),
                field: None,
            },
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        code: "invalid_json",
        message: strip_position(&e.to_string()),
        field: None,
    })?;
    Ok(value)
}

/// The field a serde data error is about: the path, extended by the name in "unknown field
/// `x`" / "missing field `x`" messages (serde reports those at the parent).
fn field_name(path: &str, message: &str) -> String {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.split(prefix).nth(1))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) | ("", Some(name)) => name.to_owned(),
        // serde_path_to_error already ends the path with an unknown field's name.
        (p, Some(name)) if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        (p, Some(name)) => format!("{p}.{name}"),
        (p, None) => p.to_owned(),
    }
}

/// serde_json appends " at line 1 column 42", which means nothing to a form.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A path parameter (an object id). An unparsable id is a 404: no object has that name.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|_| ApiError::NotFound("object"))
    }
}

/// The query string as name → value, read parameter by parameter so each error names its
/// parameter; unknown parameters are refused like unknown JSON fields.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| QueryParams(map))
            .map_err(|e| ApiError::BadRequest {
                code: "invalid_query",
                message: e.body_text(),
                field: None,
            })
    }
}

impl QueryParams {
    /// Refuses parameters not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::BadRequest {
                code: "unknown_parameter",
                message: format!("unknown query parameter; expected one of {known:?}"),
                field: Some(unknown.clone()),
            }),
            None => Ok(()),
        }
    }

    /// A text parameter.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter parsed with `FromStr` (enums in their text form, numbers).
    pub fn parsed<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.text(name)
            .map(|v| {
                v.parse::<T>().map_err(|_| ApiError::Invalid {
                    code: "invalid_parameter",
                    field: name.to_owned(),
                    message: format!("{v:?} is not a valid {name}"),
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    fn field_of(body: &str) -> (StatusCode, Option<String>) {
        let err = parse_json::<Outer>(body.as_bytes()).unwrap_err();
        let field = match &err {
            ApiError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        (err.status(), field)
    }

    #[test]
    fn serde_errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"inner": {"n": "x"}}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("inner.n".into()))
        );
        assert_eq!(
            field_of(r#"{"inner": {"n": 1, "m": 2}}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("inner.m".into()))
        );
        assert_eq!(
            field_of(r#"{}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("inner".into()))
        );
        assert_eq!(field_of(r#"{"inner": "#), (StatusCode::BAD_REQUEST, None));
        assert_eq!(
            field_of(r#"{"inner": {"n": 1}} trailing"#),
            (StatusCode::BAD_REQUEST, None)
        );
    }
}
