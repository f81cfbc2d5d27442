//! HTTP byte ranges for voicemail audio, so a browser's `<audio>` element can seek
//! (RFC 9110 §14).
//!
//! We serve a single range (`bytes=a-b`, `bytes=a-`, `bytes=-n`). A multi-range request may be
//! answered with the whole representation (§14.2: a server MAY ignore Range), which is what we
//! do rather than build `multipart/byteranges`. A syntactically invalid Range is ignored too
//! (§14.2: "MUST ignore a Range header field that it does not understand"); a valid one that
//! lies wholly outside the representation is 416 (§15.5.17).
//!
//! [`wav_response`] serves voice messages and the user's own greeting and name recordings.

use std::ops::RangeInclusive;

use axum::body::Body;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// What to send for a request with an optional `Range` header over `length` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with everything.
    Full,
    /// 206 with these bytes (inclusive, as in `Content-Range`).
    Partial(RangeInclusive<u64>),
    /// 416.
    NotSatisfiable,
}

/// Decides the answer to `range` (the header's value) for a representation of `length` bytes.
pub fn answer(range: Option<&str>, length: u64) -> RangeAnswer {
    let Some(spec) = range.map(str::trim) else {
        return RangeAnswer::Full;
    };
    let Some(set) = spec.strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if set.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            // §14.1.3: a suffix range of 0 bytes is unsatisfiable.
            Some(0) => RangeAnswer::NotSatisfiable,
            Some(_) if length == 0 => RangeAnswer::NotSatisfiable,
            Some(n) => RangeAnswer::Partial(length.saturating_sub(n)..=length - 1),
            None => RangeAnswer::Full,
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return RangeAnswer::Full;
            };
            let end = if last.is_empty() {
                None
            } else {
                match number(last) {
                    Some(e) if e >= start => Some(e),
                    // §14.1.1: last < first makes the range invalid, hence ignored.
                    _ => return RangeAnswer::Full,
                }
            };
            if start >= length {
                return RangeAnswer::NotSatisfiable;
            }
            let end = end.map_or(length - 1, |e| e.min(length - 1));
            RangeAnswer::Partial(start..=end)
        }
    }
}

/// Answers a GET of a WAV file held in `bytes`: whole (200) or one byte range (206), or 416.
/// `etag` must be a strong validator of exactly these bytes (RFC 9110 §8.8.3), since If-Range
/// compares it.
pub fn wav_response(bytes: Vec<u8>, etag: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let length = bytes.len() as u64;
    // §13.1.5: with If-Range, the range applies only if the validator still matches; a date
    // cannot match (we send no Last-Modified), so anything but our ETag means "send it all".
    let range_applies = headers
        .get(IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| range_applies);
    let (status, body, content_range) = match answer(range, length) {
        RangeAnswer::Full => (StatusCode::OK, bytes, None),
        RangeAnswer::NotSatisfiable => return Err(ApiError::RangeNotSatisfiable { length }),
        RangeAnswer::Partial(r) => {
            let (start, end) = (*r.start(), *r.end());
            // Invariant: `answer` keeps end < length, and length is bytes.len().
            let slice = bytes
                .get(start as usize..=end as usize)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            (
                StatusCode::PARTIAL_CONTENT,
                slice,
                Some(format!("bytes {start}-{end}/{length}")),
            )
        }
    };
    let mut response = (status, Body::from(body)).into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0"),
    );
    if let Ok(tag) = HeaderValue::from_str(etag) {
        h.insert(ETAG, tag);
    }
    if let Some(cr) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(CONTENT_RANGE, cr);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(answer(None, 100), RangeAnswer::Full);
        assert_eq!(answer(Some("bytes=0-9"), 100), RangeAnswer::Partial(0..=9));
        assert_eq!(
            answer(Some("bytes=90-"), 100),
            RangeAnswer::Partial(90..=99)
        );
        assert_eq!(
            answer(Some("bytes=90-500"), 100),
            RangeAnswer::Partial(90..=99)
        );
        assert_eq!(
            answer(Some("bytes=-10"), 100),
            RangeAnswer::Partial(90..=99)
        );
        assert_eq!(
            answer(Some("bytes=-500"), 100),
            RangeAnswer::Partial(0..=99)
        );
        assert_eq!(answer(Some("bytes=100-"), 100), RangeAnswer::NotSatisfiable);
        assert_eq!(answer(Some("bytes=-0"), 100), RangeAnswer::NotSatisfiable);
        assert_eq!(answer(Some("bytes=0-"), 0), RangeAnswer::NotSatisfiable);
    }

    #[test]
    fn ignored_ranges() {
        assert_eq!(answer(Some("bytes=9-0"), 100), RangeAnswer::Full);
        assert_eq!(answer(Some("items=0-9"), 100), RangeAnswer::Full);
        assert_eq!(answer(Some("bytes=0-1,5-6"), 100), RangeAnswer::Full);
        assert_eq!(answer(Some("bytes=a-b"), 100), RangeAnswer::Full);
        assert_eq!(
            answer(Some("bytes=99999999999999999999999-"), 100),
            RangeAnswer::Full
        );
    }
}
