//! RFC 4028 session timers as the B2BUA applies them: the headers read and written, and the
//! arithmetic of the expiry. The state itself ([`SessionTimer`]) lives in the [`Call`](super::Call).
//!
//! We do not refresh sessions ourselves; we relay refreshes (re-INVITE/UPDATE) end to end and
//! enforce the interval the two ends agreed on: if no refresh succeeds in time, the session is
//! dead (a phone lost power, a NAT binding vanished) and both legs get a BYE (§10), so nobody
//! stays "on the phone" in presence for hours.

use std::time::{Duration, Instant};

use rsip::headers::{Header, UntypedHeader};
use rsip::{Request, Response};

/// Our minimum session interval in seconds, the RFC's own floor (§4: "MUST NOT be less than
/// 90 seconds"); a shorter Session-Expires is answered 422 (§8.1, §9).
pub const MIN_SE: u32 = 90;

/// Which side refreshes (§4 `refresher` parameter), relative to the transaction carrying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::b2bua) enum Refresher {
    /// The UAC of the transaction.
    Uac,
    /// The UAS of the transaction.
    Uas,
}

/// A Session-Expires value: `delta-seconds *(;se-params)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::b2bua) struct SessionExpires {
    /// The session interval, seconds.
    pub delta: u32,
    /// The `refresher` parameter, if any.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// The header value (`1800;refresher=uac`).
    pub(in crate::b2bua) fn value(&self) -> String {
        match self.refresher {
            Some(Refresher::Uac) => format!("{};refresher=uac", self.delta),
            Some(Refresher::Uas) => format!("{};refresher=uas", self.delta),
            None => self.delta.to_string(),
        }
    }
}

/// The session timer of an answered call: when it dies if no refresh comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::b2bua) struct SessionTimer {
    /// The negotiated interval.
    pub interval: Duration,
    /// When we tear the call down without a refresh.
    pub deadline: Instant,
    /// We put Session-Expires into our 2xx to the caller ourselves (the callee does not know
    /// the extension): the caller refreshes, and its refreshes' 2xx need it again.
    pub inserted: bool,
}

impl SessionTimer {
    /// A timer for `delta` seconds starting (or refreshed) at `now`.
    pub(in crate::b2bua) fn start(now: Instant, delta: u32, inserted: bool) -> SessionTimer {
        let interval = Duration::from_secs(u64::from(delta));
        SessionTimer {
            interval,
            deadline: now + expiry_after(interval),
            inserted,
        }
    }
}

/// §10: the side not refreshing "SHOULD send a BYE ... slightly before the session
/// expiration. The minimum of 32 seconds and one third of the session interval is
/// RECOMMENDED." We are that side for both ends, so we end the call that long before.
pub(in crate::b2bua) fn expiry_after(interval: Duration) -> Duration {
    interval - (interval / 3).min(Duration::from_secs(32))
}

/// The text of every header named `name` (case-insensitive), any rsip variant.
pub(in crate::b2bua) fn values<'a>(
    headers: &'a rsip::Headers,
    name: &'a str,
) -> impl Iterator<Item = String> + 'a {
    headers.iter().filter_map(move |h| {
        let text = h.to_string();
        let (n, v) = text.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// The Session-Expires of a message, if present and well-formed.
pub(in crate::b2bua) fn session_expires(headers: &rsip::Headers) -> Option<SessionExpires> {
    let value = values(headers, "Session-Expires").next()?;
    let mut parts = value.split(';');
    let delta = parts.next()?.trim().parse::<u32>().ok()?;
    let refresher = parts.find_map(|p| {
        let (name, v) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match v.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some(SessionExpires { delta, refresher })
}

/// The Min-SE of a request (§5), if present and well-formed.
pub(in crate::b2bua) fn min_se(headers: &rsip::Headers) -> Option<u32> {
    values(headers, "Min-SE")
        .next()?
        .split(';')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Whether a Supported or Require header lists `timer` (option tags are case-insensitive).
pub(in crate::b2bua) fn lists_timer(headers: &rsip::Headers, header: &str) -> bool {
    values(headers, header).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("timer")))
}

/// What the B2BUA does with a request carrying Session-Expires below our minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::b2bua) enum TooSmall {
    /// Fine as it is (or no Session-Expires at all).
    Acceptable,
    /// §8.1/§9: the UAC supports timers, so it can retry: 422 with our Min-SE.
    Reject,
    /// §8.1: the UAC does not say it supports timers, so a 422 would only fail the call; the
    /// interval is raised to our minimum instead (as a proxy does).
    Raise,
}

/// Checks a request's Session-Expires against [`MIN_SE`].
pub(in crate::b2bua) fn check_interval(request: &Request) -> TooSmall {
    match session_expires(&request.headers) {
        Some(se) if se.delta < MIN_SE => {
            if lists_timer(&request.headers, "Supported") {
                TooSmall::Reject
            } else {
                TooSmall::Raise
            }
        }
        _ => TooSmall::Acceptable,
    }
}

/// Adds the caller's session-timer headers to a B leg's INVITE: Session-Expires (raised to our
/// minimum if the caller cannot take a 422), Min-SE (the larger of the caller's and ours, §8.1)
/// and `Supported: timer` when the caller supports the extension, so the callee may choose the
/// refresher knowing both ends can refresh.
pub(in crate::b2bua) fn apply_to_outbound(caller_invite: &Request, invite: &mut Request) {
    let Some(mut se) = session_expires(&caller_invite.headers) else {
        return;
    };
    se.delta = se.delta.max(MIN_SE);
    let min = min_se(&caller_invite.headers).unwrap_or(MIN_SE).max(MIN_SE);
    let mut added = vec![
        Header::Other("Session-Expires".into(), se.value()),
        Header::Other("Min-SE".into(), min.to_string()),
    ];
    if lists_timer(&caller_invite.headers, "Supported") {
        added.push(Header::Supported(rsip::headers::Supported::new("timer")));
    }
    insert_before_content_length(&mut invite.headers, added);
}

/// The 422 extras: `Min-SE: 90` (§6: "MUST contain a Min-SE header field").
pub(in crate::b2bua) fn min_se_header() -> Header {
    Header::Other("Min-SE".into(), MIN_SE.to_string())
}

/// Completes a 2xx towards the caller that the callee answered without Session-Expires: as UAS
/// of the caller's leg (§9) "the UAS ... MUST set the refresher to uac" when the UAC supports
/// the extension, and then requires it. Returns the interval, if a timer now applies.
pub(in crate::b2bua) fn insert_into_2xx(request: &Request, response: &mut Response) -> Option<u32> {
    let se = session_expires(&request.headers)?;
    if !lists_timer(&request.headers, "Supported") {
        return None;
    }
    let delta = se.delta.max(MIN_SE);
    let value = SessionExpires {
        delta,
        refresher: Some(Refresher::Uac),
    }
    .value();
    let mut added = vec![Header::Other("Session-Expires".into(), value)];
    if !lists_timer(&response.headers, "Require") {
        added.push(Header::Require(rsip::headers::Require::new("timer")));
    }
    insert_before_content_length(&mut response.headers, added);
    Some(delta)
}

/// Puts `added` before Content-Length (readability only: order does not matter to SIP).
fn insert_before_content_length(headers: &mut rsip::Headers, added: Vec<Header>) {
    let mut out: Vec<Header> = Vec::new();
    let mut added = Some(added);
    for h in headers.iter() {
        if matches!(h, Header::ContentLength(_)) {
            if let Some(a) = added.take() {
                out.extend(a);
            }
        }
        out.push(h.clone());
    }
    if let Some(a) = added {
        out.extend(a);
    }
    *headers = out.into();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> rsip::Headers {
        let v: Vec<Header> = lines
            .iter()
            .map(|(n, v)| Header::Other((*n).into(), (*v).into()))
            .collect();
        v.into()
    }

    #[test]
    fn parses_session_expires_and_min_se() {
        let h = headers(&[
            ("session-expires", "1800 ; Refresher=UAS"),
            ("Min-SE", "120"),
        ]);
        assert_eq!(
            session_expires(&h),
            Some(SessionExpires {
                delta: 1800,
                refresher: Some(Refresher::Uas)
            })
        );
        assert_eq!(min_se(&h), Some(120));
        assert_eq!(session_expires(&headers(&[("Session-Expires", "x")])), None);
        assert_eq!(min_se(&headers(&[])), None);
    }

    #[test]
    fn expiry_is_a_third_early_capped_at_32_s() {
        assert_eq!(
            expiry_after(Duration::from_secs(90)),
            Duration::from_secs(60)
        );
        assert_eq!(
            expiry_after(Duration::from_secs(1800)),
            Duration::from_secs(1768)
        );
    }

    #[test]
    fn timer_option_tag_is_found_in_a_list() {
        let h = headers(&[("Supported", "100rel, TIMER")]);
        assert!(lists_timer(&h, "supported"));
        assert!(!lists_timer(&h, "Require"));
    }
}
