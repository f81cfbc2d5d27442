//! Dialog state (RFC 3261 §12) and the requests built inside a dialog: BYE (§15.1.1) and the
//! ACK for a 2xx (§13.2.2.4).
//!
//! In the call flow the B2BUA holds one dialog per leg: a UAS dialog towards the caller (the A
//! leg, §12.1.1) and a UAC dialog towards the device that answered (the B leg, §12.1.2). This
//! module is sans-I/O: it reads and builds `rsip` messages and never touches a socket or a
//! clock. Header values are read through the few helpers at the bottom, which never panic on
//! malformed input; a message without what §12 needs is a [`DialogError`].

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};

/// Why a dialog could not be created or a request built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header §12 needs is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header §12 needs cannot be read.
    #[error("malformed {0} header")]
    MalformedHeader(&'static str),
    /// The response or request lacks a tag where §12 requires one (To tag of a 2xx, From tag
    /// of a request).
    #[error("missing {0} tag")]
    MissingTag(&'static str),
    /// A URI (remote target, Route) that `rsip` cannot parse.
    #[error("unparseable URI {0:?}")]
    BadUri(String),
    /// §12.2.2: a request whose CSeq is lower than the remote sequence number is out of order
    /// and is answered with 500.
    #[error("CSeq {got} is lower than the remote sequence number {remote}")]
    CSeqOutOfOrder {
        /// The CSeq of the request.
        got: u32,
        /// The highest seen so far.
        remote: u32,
    },
}

/// Which side of the dialog we are (§12.1): decides which tag is local and what CSeq we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE (§12.1.2).
    Uac,
    /// We received the INVITE (§12.1.1).
    Uas,
}

/// The state of one dialog (§12: "Call-ID, local tag, remote tag, local sequence number,
/// remote sequence number, local URI, remote URI, remote target, and route set").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Which side created it.
    pub role: Role,
    /// The Call-ID, shared by both sides.
    pub call_id: String,
    /// Our tag: From tag as UAC, To tag as UAS.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our URI as a header value without tag (`"Bob" <sip:bob@example.com>`): From of our
    /// requests.
    pub local_uri: String,
    /// The peer's URI as a header value without tag: To of our requests.
    pub remote_uri: String,
    /// The CSeq of the last request we sent in the dialog. §12.1.1: a UAS starts "empty"; we
    /// then pick the first value ourselves (see [`Dialog::next_cseq`]).
    pub local_cseq: Option<u32>,
    /// The highest CSeq the peer sent (§12.2.2).
    pub remote_cseq: Option<u32>,
    /// The peer's Contact URI: the Request-URI of our in-dialog requests (§12.2.1.1).
    pub remote_target: String,
    /// Record-Route values in the order our requests carry them as Route (§12.1.1, §12.1.2).
    pub route_set: Vec<String>,
}

impl Dialog {
    /// The dialog a UAC gets from a 2xx (or 1xx with tag) to its `invite` (§12.1.2): route set
    /// is the response's Record-Route in reverse order, remote target its Contact, local CSeq
    /// the INVITE's.
    pub fn from_uac(invite: &Request, response: &Response) -> Result<Dialog, DialogError> {
        let (from_uri, local_tag) = split_tag(&header_value(&invite.headers, "From")?);
        let (to_uri, remote_tag) = split_tag(&header_value(&response.headers, "To")?);
        let mut route_set = record_routes(&response.headers);
        route_set.reverse();
        Ok(Dialog {
            role: Role::Uac,
            call_id: header_value(&invite.headers, "Call-ID")?,
            local_tag: local_tag.ok_or(DialogError::MissingTag("From"))?,
            remote_tag: remote_tag.ok_or(DialogError::MissingTag("To"))?,
            local_uri: from_uri,
            remote_uri: to_uri,
            local_cseq: Some(cseq_number(&invite.headers)?),
            remote_cseq: None,
            remote_target: contact_uri(&response.headers)
                .ok_or(DialogError::MissingHeader("Contact"))?,
            route_set,
        })
    }

    /// The dialog a UAS gets when it answers `invite` with a response carrying `local_tag`
    /// (§12.1.1): route set is the request's Record-Route in order, remote target its Contact,
    /// remote CSeq the INVITE's.
    pub fn from_uas(invite: &Request, local_tag: &str) -> Result<Dialog, DialogError> {
        let (from_uri, remote_tag) = split_tag(&header_value(&invite.headers, "From")?);
        let (to_uri, _) = split_tag(&header_value(&invite.headers, "To")?);
        Ok(Dialog {
            role: Role::Uas,
            call_id: header_value(&invite.headers, "Call-ID")?,
            local_tag: local_tag.to_owned(),
            remote_tag: remote_tag.ok_or(DialogError::MissingTag("From"))?,
            local_uri: to_uri,
            remote_uri: from_uri,
            local_cseq: None,
            remote_cseq: Some(cseq_number(&invite.headers)?),
            remote_target: contact_uri(&invite.headers)
                .ok_or(DialogError::MissingHeader("Contact"))?,
            route_set: record_routes(&invite.headers),
        })
    }

    /// Whether a request (by its Call-ID, From tag and To tag) belongs to this dialog
    /// (§12.2.2: the peer's From tag is our remote tag, its To tag our local tag).
    pub fn matches_request(&self, call_id: &str, from_tag: &str, to_tag: &str) -> bool {
        self.call_id == call_id && self.remote_tag == from_tag && self.local_tag == to_tag
    }

    /// §12.2.2: checks a request's CSeq against the remote sequence number and records it.
    /// "If the remote sequence number was not empty, but the sequence number of the request is
    /// lower than the remote sequence number, the request is out of order and MUST be rejected
    /// with a 500 (Server Internal Error) response."
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> Result<(), DialogError> {
        match self.remote_cseq {
            Some(remote) if cseq < remote => Err(DialogError::CSeqOutOfOrder { got: cseq, remote }),
            _ => {
                self.remote_cseq = Some(cseq);
                Ok(())
            }
        }
    }

    /// The CSeq for our next request, recorded as the local sequence number (§12.2.1.1: "the
    /// local sequence number MUST be incremented by one"). A UAS dialog starts at 1.
    pub fn next_cseq(&mut self) -> u32 {
        let next = self.local_cseq.map_or(1, |c| c.wrapping_add(1).max(1));
        self.local_cseq = Some(next);
        next
    }

    /// A new request in the dialog (§12.2.1.1) with the given top `via` value (ours, with a
    /// fresh branch). BYE is the one the B2BUA sends; re-INVITE and UPDATE use the same shape.
    pub fn request(&mut self, method: Method, via: &str) -> Result<Request, DialogError> {
        let seq = self.next_cseq();
        self.build(method, seq, via)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_cseq` (§13.2.2.4): built like any
    /// in-dialog request, with "the sequence number of the CSeq header field MUST be the same as
    /// the INVITE being acknowledged" and a new branch (it is its own transaction-less message).
    pub fn ack(&self, invite_cseq: u32, via: &str) -> Result<Request, DialogError> {
        self.build(Method::Ack, invite_cseq, via)
    }

    /// §12.2.1.1: Request-URI and Route from the remote target and route set, loose (`;lr`) or
    /// strict routing.
    fn build(&self, method: Method, seq: u32, via: &str) -> Result<Request, DialogError> {
        let (target, routes) = match self.route_set.first() {
            // "If the route set is not empty, and the first URI in the route set contains the
            // lr parameter, the UAC MUST place the remote target URI into the Request-URI and
            // MUST include a Route header field containing the route set values in order."
            Some(first) if !is_loose(first) => {
                // Strict router: "the UAC MUST place the first URI from the route set into the
                // Request-URI, stripping any parameters that are not allowed in a Request-URI",
                // then the rest of the route set and the remote target as the last Route.
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (strip_angle(first).to_owned(), routes)
            }
            _ => (self.remote_target.clone(), self.route_set.clone()),
        };
        let uri = rsip::Uri::try_from(target.as_str()).map_err(|_| DialogError::BadUri(target))?;
        let mut out: Vec<Header> = vec![
            Header::Via(headers::Via::new(via)),
            Header::MaxForwards(headers::MaxForwards::new("70")),
        ];
        for route in routes {
            out.push(Header::Route(headers::Route::new(route)));
        }
        out.push(Header::From(headers::From::new(format!(
            "{};tag={}",
            self.local_uri, self.local_tag
        ))));
        out.push(Header::To(headers::To::new(format!(
            "{};tag={}",
            self.remote_uri, self.remote_tag
        ))));
        out.push(Header::CallId(headers::CallId::new(self.call_id.clone())));
        out.push(Header::CSeq(headers::CSeq::new(format!("{seq} {method}"))));
        out.push(Header::ContentLength(headers::ContentLength::new("0")));
        Ok(Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers: out.into(),
            body: Vec::new(),
        })
    }
}

/// The value of the first header named `name` (From, To, Call-ID, CSeq, Contact are the ones
/// used here), as text.
pub fn header_value(headers: &rsip::Headers, name: &'static str) -> Result<String, DialogError> {
    headers
        .iter()
        .find_map(|h| match (h, name) {
            (Header::From(v), "From") => Some(v.value().to_owned()),
            (Header::To(v), "To") => Some(v.value().to_owned()),
            (Header::CallId(v), "Call-ID") => Some(v.value().to_owned()),
            (Header::CSeq(v), "CSeq") => Some(v.value().to_owned()),
            (Header::Contact(v), "Contact") => Some(v.value().to_owned()),
            (Header::Other(n, v), _) if n.eq_ignore_ascii_case(name) => Some(v.clone()),
            _ => None,
        })
        .map(|v| v.trim().to_owned())
        .ok_or(DialogError::MissingHeader(name))
}

/// The sequence number of the CSeq header.
pub fn cseq_number(headers: &rsip::Headers) -> Result<u32, DialogError> {
    header_value(headers, "CSeq")?
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or(DialogError::MalformedHeader("CSeq"))
}

/// Splits a From/To value into the part without the `tag` parameter and the tag.
///
/// Parameters after the name-addr's closing `>` (or, for a bare addr-spec, after the URI) are
/// header parameters (§20.10); `tag` is found among them case-insensitively.
pub fn split_tag(value: &str) -> (String, Option<String>) {
    let params_from = value
        .rfind('>')
        .map_or_else(|| value.find(';').unwrap_or(value.len()), |i| i + 1);
    let (addr, params) = value.split_at(params_from);
    let mut kept = addr.trim().to_owned();
    let mut tag = None;
    for param in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match param.split_once('=') {
            Some((name, v)) if name.trim().eq_ignore_ascii_case("tag") => {
                tag = Some(v.trim().to_owned());
            }
            _ => {
                kept.push(';');
                kept.push_str(param);
            }
        }
    }
    (kept, tag.filter(|t| !t.is_empty()))
}

/// The URI of the first Contact (`<sip:a@b;transport=udp>;expires=3` → `sip:a@b;transport=udp`).
pub fn contact_uri(headers: &rsip::Headers) -> Option<String> {
    let value = header_value(headers, "Contact").ok()?;
    let first = value.split(',').next()?.trim();
    let uri = match (first.find('<'), first.find('>')) {
        (Some(open), Some(close)) if close > open => &first[open + 1..close],
        _ => first.split(';').next().unwrap_or(first),
    };
    let uri = uri.trim();
    (!uri.is_empty() && uri != "*").then(|| uri.to_owned())
}

/// Every Record-Route value, one entry per URI, in message order.
fn record_routes(headers: &rsip::Headers) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(r) => Some(r.value().to_owned()),
            _ => None,
        })
        .flat_map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn strip_angle(route: &str) -> &str {
    match (route.find('<'), route.find('>')) {
        (Some(open), Some(close)) if close > open => &route[open + 1..close],
        _ => route.trim(),
    }
}

fn is_loose(route: &str) -> bool {
    strip_angle(route).split(';').skip(1).any(|p| {
        p.trim().eq_ignore_ascii_case("lr") || p.trim().to_ascii_lowercase().starts_with("lr=")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message;

    fn request(text: &str) -> Request {
        match message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => panic!("not a request"),
        }
    }

    fn response(text: &str) -> Response {
        match message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
            rsip::SipMessage::Response(r) => r,
            rsip::SipMessage::Request(_) => panic!("not a response"),
        }
    }

    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Content-Length: 0

";

    const OK: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:bob@192.0.2.4:5070;transport=udp>
Record-Route: <sip:p2.example.com;lr>
Record-Route: <sip:p1.example.com;lr>
Content-Length: 0

";

    #[test]
    fn uac_dialog_reverses_record_route_and_targets_contact() {
        let d = Dialog::from_uac(&request(INVITE), &response(OK)).unwrap();
        assert_eq!(d.local_tag, "1928301774");
        assert_eq!(d.remote_tag, "a6c85cf");
        assert_eq!(d.remote_target, "sip:bob@192.0.2.4:5070;transport=udp");
        assert_eq!(
            d.route_set,
            vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(d.local_cseq, Some(314159));
        assert_eq!(d.remote_uri, "Bob <sip:bob@biloxi.example.com>");
    }

    #[test]
    fn uas_dialog_keeps_record_route_order_and_swaps_tags() {
        let mut d = Dialog::from_uas(&request(INVITE), "ourtag").unwrap();
        assert_eq!(d.local_tag, "ourtag");
        assert_eq!(d.remote_tag, "1928301774");
        assert_eq!(
            d.route_set,
            vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(d.remote_target, "sip:alice@pc33.atlanta.example.com");
        assert!(d.matches_request(
            "a84b4c76e66710@pc33.atlanta.example.com",
            "1928301774",
            "ourtag"
        ));
        assert!(!d.matches_request("a84b4c76e66710@pc33.atlanta.example.com", "x", "ourtag"));
        // §12.1.1: a UAS's local sequence number starts empty; our first request uses 1.
        let bye = d
            .request(Method::Bye, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx")
            .unwrap();
        let text = bye.to_string();
        assert!(
            text.starts_with("BYE sip:alice@pc33.atlanta.example.com SIP/2.0"),
            "{text}"
        );
        assert!(text.contains("CSeq: 1 BYE"), "{text}");
        assert!(
            text.contains("From: Bob <sip:bob@biloxi.example.com>;tag=ourtag"),
            "{text}"
        );
        assert!(
            text.contains("To: Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
            "{text}"
        );
        let routes: Vec<_> = text.lines().filter(|l| l.starts_with("Route:")).collect();
        assert_eq!(
            routes,
            vec![
                "Route: <sip:p1.example.com;lr>",
                "Route: <sip:p2.example.com;lr>"
            ]
        );
    }

    #[test]
    fn bye_increments_cseq_and_ack_reuses_invite_cseq() {
        let mut d = Dialog::from_uac(&request(INVITE), &response(OK)).unwrap();
        let ack = d
            .ack(314159, "SIP/2.0/UDP h;branch=z9hG4bK1")
            .unwrap()
            .to_string();
        assert!(
            // rsip prints the transport parameter upper-case; URI parameters compare
            // case-insensitively.
            ack.to_ascii_lowercase()
                .starts_with("ack sip:bob@192.0.2.4:5070;transport=udp sip/2.0"),
            "{ack}"
        );
        assert!(ack.contains("CSeq: 314159 ACK"), "{ack}");
        let bye = d
            .request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bK2")
            .unwrap()
            .to_string();
        assert!(bye.contains("CSeq: 314160 BYE"), "{bye}");
        assert_eq!(d.local_cseq, Some(314160));
    }

    #[test]
    fn strict_router_goes_into_the_request_uri() {
        let mut d = Dialog::from_uac(&request(INVITE), &response(OK)).unwrap();
        d.route_set = vec![
            "<sip:strict.example.com>".into(),
            "<sip:p2.example.com;lr>".into(),
        ];
        let bye = d
            .request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bK3")
            .unwrap()
            .to_string();
        assert!(
            bye.starts_with("BYE sip:strict.example.com SIP/2.0"),
            "{bye}"
        );
        let routes: Vec<_> = bye.lines().filter(|l| l.starts_with("Route:")).collect();
        assert_eq!(
            routes,
            vec![
                "Route: <sip:p2.example.com;lr>",
                "Route: <sip:bob@192.0.2.4:5070;transport=udp>"
            ]
        );
    }

    #[test]
    fn remote_cseq_must_not_go_backwards() {
        let mut d = Dialog::from_uas(&request(INVITE), "t").unwrap();
        assert!(d.accept_remote_cseq(314160).is_ok());
        assert_eq!(
            d.accept_remote_cseq(314159),
            Err(DialogError::CSeqOutOfOrder {
                got: 314159,
                remote: 314160
            })
        );
    }

    #[test]
    fn missing_to_tag_is_an_error_not_a_panic() {
        let no_tag = OK.replace(";tag=a6c85cf", "");
        assert_eq!(
            Dialog::from_uac(&request(INVITE), &response(&no_tag)),
            Err(DialogError::MissingTag("To"))
        );
        let no_contact = OK.replace("Contact: <sip:bob@192.0.2.4:5070;transport=udp>\n", "");
        assert_eq!(
            Dialog::from_uac(&request(INVITE), &response(&no_contact)),
            Err(DialogError::MissingHeader("Contact"))
        );
    }

    #[test]
    fn tags_split_case_insensitively_from_header_params_only() {
        assert_eq!(
            split_tag("<sip:a@b;tag=no>;TAG=yes;x=1"),
            ("<sip:a@b;tag=no>;x=1".to_owned(), Some("yes".to_owned()))
        );
        assert_eq!(
            split_tag("sip:a@b;tag=t"),
            ("sip:a@b".to_owned(), Some("t".to_owned()))
        );
        assert_eq!(split_tag("<sip:a@b>"), ("<sip:a@b>".to_owned(), None));
    }
}
