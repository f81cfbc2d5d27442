//! The notifier side of SIP-specific event notification (RFC 6665) for the `message-summary`
//! package (RFC 3842): which phones subscribed to which mailbox, until when, and the in-dialog
//! NOTIFYs that tell them its state.
//!
//! Sans-I/O (CONTRIBUTING.md rule 6). The SIP task's driver (`runtime::mwi`) authenticates a
//! SUBSCRIBE and resolves the mailbox; it then hands the request here with `now`:
//! [`Subscriptions::subscribe`] creates the subscription (§4.2.1.1) or refreshes it (§4.2.1.2),
//! or ends it on `Expires: 0` (§4.2.1.4), and says what the 2xx carries. The driver asks
//! [`Subscriptions::notify`] for a NOTIFY whenever the mailbox changes and once after every
//! accepted SUBSCRIBE (§4.2.1.1 and §4.2.1.2: "the notifier MUST send a NOTIFY … to communicate
//! the current resource state"); [`Subscriptions::poll_expired`] ends the subscriptions whose
//! time ran out, each with a final NOTIFY saying `terminated;reason=timeout` (§4.2.2).
//!
//! The subscription is a dialog (§4.3): our NOTIFYs reuse the SUBSCRIBE's Call-ID, put the
//! subscriber's tag on To and ours on From, go to the subscriber's Contact (its remote target,
//! RFC 3261 §12.1.1) through its Record-Route set, and number their CSeqs from 1.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use rsip::headers::{self, UntypedHeader};
use rsip::Header;

use crate::sip::dialog::{contact_uri, cseq_number, header_value, split_tag};
use crate::sip::message::{new_branch_with, new_tag_with};
use crate::sip::transaction::TransportKind;

/// RFC 3842 §4: "The default duration for subscriptions to message-summary is one hour."
pub const DEFAULT_EXPIRES: u32 = 3600;

/// Expiry bounds of subscriptions (`sip.min_expires_secs` / `sip.max_expires_secs`, the same
/// bounds the registrar applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionConfig {
    /// Shorter intervals get 423 Interval Too Brief with this in Min-Expires (§4.2.1.1).
    pub min_expires: u32,
    /// Longer intervals are cut to this (§4.2.1.1: the notifier "MAY shorten" it).
    pub max_expires: u32,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            min_expires: 60,
            max_expires: DEFAULT_EXPIRES,
        }
    }
}

/// Identifies one subscription dialog: Call-ID and the two tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionKey {
    /// The SUBSCRIBE's Call-ID.
    pub call_id: String,
    /// The subscriber's From tag.
    pub remote_tag: String,
    /// Our To tag.
    pub local_tag: String,
}

/// Why a SUBSCRIBE is not accepted; the driver answers with [`SubscribeRejection::status_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeRejection {
    /// §8.2.1 / §4.2.1.1: an Event package other than `message-summary`: 489 Bad Event.
    #[error("event package {0:?} is not supported")]
    BadEvent(String),
    /// §4.2.1.1: Expires below the minimum: 423 with Min-Expires.
    #[error("interval too brief, at least {min_expires} s")]
    IntervalTooBrief {
        /// Our minimum.
        min_expires: u32,
    },
    /// A refresh (To tag set) for a subscription we do not have: 481 (§4.2.1.2).
    #[error("no such subscription")]
    NoSuchSubscription,
    /// A header the dialog needs is missing or unreadable: 400.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A refresh whose CSeq is not above the dialog's last: 500 (RFC 3261 §12.2.2).
    #[error("CSeq out of order")]
    OutOfOrder,
}

impl SubscribeRejection {
    /// The status code of the answer.
    pub fn status_code(&self) -> u16 {
        match self {
            SubscribeRejection::BadEvent(_) => 489,
            SubscribeRejection::IntervalTooBrief { .. } => 423,
            SubscribeRejection::NoSuchSubscription => 481,
            SubscribeRejection::Malformed(_) => 400,
            SubscribeRejection::OutOfOrder => 500,
        }
    }
}

/// The mailbox a subscription watches, as the driver resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The mailbox owner (store id).
    pub user_id: i64,
    /// Where the subscriber sent the SUBSCRIBE from: our NOTIFYs go there (as for NOTIFYs to
    /// registered contacts behind NAT), over the same transport.
    pub source: SocketAddr,
    /// The transport of the SUBSCRIBE.
    pub transport: TransportKind,
}

/// What an accepted SUBSCRIBE led to; the 2xx carries `to_tag` and `Expires: expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The dialog.
    pub key: SubscriptionKey,
    /// Our tag for the 2xx's To.
    pub to_tag: String,
    /// The granted duration (0: the subscription ended, §4.2.1.4; a fetch when it was new).
    pub expires: u32,
    /// The mailbox owner.
    pub user_id: i64,
    /// Whether this SUBSCRIBE created the subscription (else it refreshed or ended one).
    pub created: bool,
}

/// The state a NOTIFY reports (§4.1.3 `Subscription-State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyState {
    /// `active;expires=<remaining>`.
    Active,
    /// `terminated;reason=timeout`: the subscription ran out or was ended by the subscriber
    /// (RFC 6665 §4.2.2; "timeout" invites a new SUBSCRIBE).
    Terminated,
}

/// One subscription dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The dialog identifiers.
    pub key: SubscriptionKey,
    /// The mailbox and where to send.
    pub watched: Watched,
    /// The subscriber's From (without tag): the To of our NOTIFYs.
    remote_uri: String,
    /// The SUBSCRIBE's To (without tag): the From of our NOTIFYs.
    local_uri: String,
    /// The subscriber's Contact URI: the Request-URI of our NOTIFYs.
    remote_target: String,
    /// Record-Route of the SUBSCRIBE, in order: our Route set (RFC 3261 §12.1.1).
    route_set: Vec<String>,
    /// The subscriber's last CSeq; a refresh must be higher (RFC 3261 §12.2.2).
    remote_cseq: u32,
    /// Our next NOTIFY CSeq.
    next_cseq: u32,
    /// When it ends unless refreshed.
    expires_at: Instant,
}

impl Subscription {
    /// Seconds left at `now` (0 once due).
    pub fn remaining(&self, now: Instant) -> u32 {
        u32::try_from(self.expires_at.saturating_duration_since(now).as_secs()).unwrap_or(u32::MAX)
    }

    /// The subscriber's Contact.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }
}

/// What a NOTIFY carries: the event package, and the body of its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The `Event` (the package the SUBSCRIBE named).
    pub event: &'a str,
    /// The body's `Content-Type`.
    pub content_type: &'a str,
    /// The body.
    pub body: &'a str,
}

/// A NOTIFY ready for the transaction layer.
#[derive(Debug, Clone, PartialEq)]
pub struct DialogNotify {
    /// The dialog it belongs to.
    pub key: SubscriptionKey,
    /// The request.
    pub request: rsip::Request,
    /// Where to send it.
    pub destination: SocketAddr,
    /// On which transport.
    pub transport: TransportKind,
}

/// Why a NOTIFY could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// No such subscription (ended meanwhile).
    #[error("no such subscription")]
    Unknown,
    /// The subscriber's Contact is not a URI rsip can carry.
    #[error("contact {0:?} cannot be a Request-URI")]
    ContactUri(String),
}

/// Every live subscription, keyed by dialog.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    config: SubscriptionConfig,
    live: HashMap<SubscriptionKey, Subscription>,
}

impl Subscriptions {
    /// No subscriptions yet.
    pub fn new(config: SubscriptionConfig) -> Self {
        Subscriptions {
            config,
            live: HashMap::new(),
        }
    }

    /// Whether `request` refreshes a subscription: it carries a To tag (§4.1.2.2), so it needs
    /// no new authentication; the dialog is the credential the initial SUBSCRIBE earned.
    pub fn is_refresh(request: &rsip::Request) -> bool {
        header_value(&request.headers, "To")
            .map(|to| split_tag(&to).1.is_some())
            .unwrap_or(false)
    }

    /// The mailbox owner of the dialog a refresh names, if we have it.
    pub fn owner_of(&self, request: &rsip::Request) -> Option<i64> {
        let key = key_of(request).ok()?;
        self.live.get(&key).map(|s| s.watched.user_id)
    }

    /// A SUBSCRIBE, authenticated and resolved to a mailbox by the driver (`watched`; ignored
    /// for a refresh, which keeps its own). `rng` makes the To tag of a new dialog.
    pub fn subscribe(
        &mut self,
        now: Instant,
        request: &rsip::Request,
        watched: Watched,
        rng: &mut impl Rng,
    ) -> Result<Accepted, SubscribeRejection> {
        check_event(request)?;
        let expires = self.granted(request)?;
        let cseq =
            cseq_number(&request.headers).map_err(|_| SubscribeRejection::Malformed("CSeq"))?;
        let from = header_value(&request.headers, "From")
            .map_err(|_| SubscribeRejection::Malformed("From"))?;
        let (remote_uri, remote_tag) = split_tag(&from);
        let remote_tag = remote_tag.ok_or(SubscribeRejection::Malformed("From"))?;
        let to = header_value(&request.headers, "To")
            .map_err(|_| SubscribeRejection::Malformed("To"))?;
        let (local_uri, local_tag) = split_tag(&to);
        let call_id = header_value(&request.headers, "Call-ID")
            .map_err(|_| SubscribeRejection::Malformed("Call-ID"))?;
        let remote_target =
            contact_uri(&request.headers).ok_or(SubscribeRejection::Malformed("Contact"))?;

        if let Some(local_tag) = local_tag {
            // §4.2.1.2 refresh, or §4.2.1.4 unsubscribe.
            let key = SubscriptionKey {
                call_id,
                remote_tag,
                local_tag: local_tag.clone(),
            };
            let Some(sub) = self.live.get_mut(&key) else {
                return Err(SubscribeRejection::NoSuchSubscription);
            };
            if cseq <= sub.remote_cseq {
                // RFC 3261 §12.2.2: an out-of-order request gets 500.
                return Err(SubscribeRejection::OutOfOrder);
            }
            sub.remote_cseq = cseq;
            sub.remote_target = remote_target;
            sub.expires_at = now + Duration::from_secs(u64::from(expires));
            tracing::debug!(call_id = %key.call_id, expires, "subscription refreshed");
            return Ok(Accepted {
                user_id: sub.watched.user_id,
                key,
                to_tag: local_tag,
                expires,
                created: false,
            });
        }

        let local_tag = new_tag_with(rng);
        let key = SubscriptionKey {
            call_id,
            remote_tag,
            local_tag: local_tag.clone(),
        };
        let user_id = watched.user_id;
        let route_set = request
            .headers
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
            .collect();
        self.live.insert(
            key.clone(),
            Subscription {
                key: key.clone(),
                watched,
                remote_uri,
                local_uri,
                remote_target,
                route_set,
                remote_cseq: cseq,
                next_cseq: 1,
                expires_at: now + Duration::from_secs(u64::from(expires)),
            },
        );
        tracing::debug!(call_id = %key.call_id, user_id, expires, "subscription created");
        Ok(Accepted {
            key,
            to_tag: local_tag,
            expires,
            user_id,
            created: true,
        })
    }

    /// The NOTIFY for `key` reporting `body` (an `application/simple-message-summary`).
    /// A subscription whose time is up (an `Expires: 0` unsubscribe or fetch, or one that ran
    /// out) gets `terminated` and is forgotten; the others `active;expires=<remaining>`.
    pub fn notify(
        &mut self,
        now: Instant,
        key: &SubscriptionKey,
        payload: Payload<'_>,
        via_sent_by: &str,
        rng: &mut impl Rng,
    ) -> Result<DialogNotify, NotifyError> {
        let sub = self.live.get_mut(key).ok_or(NotifyError::Unknown)?;
        let remaining = sub.remaining(now);
        let state = if remaining == 0 {
            NotifyState::Terminated
        } else {
            NotifyState::Active
        };
        let request = build_notify(sub, state, remaining, payload, via_sent_by, rng)?;
        let out = DialogNotify {
            key: key.clone(),
            request,
            destination: sub.watched.source,
            transport: sub.watched.transport,
        };
        if state == NotifyState::Terminated {
            self.live.remove(key);
        }
        Ok(out)
    }

    /// The live subscriptions watching `user_id`'s mailbox.
    pub fn watching(&self, user_id: i64) -> Vec<SubscriptionKey> {
        self.live
            .values()
            .filter(|s| s.watched.user_id == user_id)
            .map(|s| s.key.clone())
            .collect()
    }

    /// The mailbox owner `key` watches, while it is live.
    pub fn user_of(&self, key: &SubscriptionKey) -> Option<i64> {
        self.live.get(key).map(|s| s.watched.user_id)
    }

    /// Whether some live subscription of `user_id` comes from `source` (the phone then needs no
    /// unsolicited NOTIFY besides).
    pub fn covers(&self, user_id: i64, source: SocketAddr) -> bool {
        self.live
            .values()
            .any(|s| s.watched.user_id == user_id && s.watched.source == source)
    }

    /// Ends a subscription at once (the subscriber answered a NOTIFY with 481, or it timed out:
    /// RFC 6665 §4.2.2). Returns it.
    pub fn remove(&mut self, key: &SubscriptionKey) -> Option<Subscription> {
        self.live.remove(key)
    }

    /// The subscription `call_id` names, if any (responses to our NOTIFYs carry only this and
    /// the tags).
    pub fn by_call_id(&self, call_id: &str) -> Option<SubscriptionKey> {
        self.live
            .values()
            .find(|s| s.key.call_id == call_id)
            .map(|s| s.key.clone())
    }

    /// The subscriptions whose time is up at `now`, still present so that the driver can
    /// send each its final NOTIFY (which removes it).
    pub fn poll_expired(&self, now: Instant) -> Vec<SubscriptionKey> {
        self.live
            .values()
            .filter(|s| s.expires_at <= now)
            .map(|s| s.key.clone())
            .collect()
    }

    /// When the next subscription runs out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.live.values().map(|s| s.expires_at).min()
    }

    /// How many subscriptions are live.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// §4.2.1.1: the duration we grant: the requested Expires (RFC 3842 §4's hour when none),
    /// 0 as asked, below the minimum refused, above the maximum shortened.
    fn granted(&self, request: &rsip::Request) -> Result<u32, SubscribeRejection> {
        let requested = match expires_header(request) {
            Some(Ok(value)) => value,
            Some(Err(())) => return Err(SubscribeRejection::Malformed("Expires")),
            None => DEFAULT_EXPIRES,
        };
        if requested == 0 {
            return Ok(0);
        }
        if requested < self.config.min_expires {
            return Err(SubscribeRejection::IntervalTooBrief {
                min_expires: self.config.min_expires,
            });
        }
        Ok(requested.min(self.config.max_expires))
    }
}

/// RFC 6665 §7.2.1: the Event header names the package; only `message-summary` is ours.
fn check_event(request: &rsip::Request) -> Result<(), SubscribeRejection> {
    let event = request.headers.iter().find_map(|h| match h {
        Header::Event(e) => Some(e.value().to_owned()),
        Header::Other(name, value) if name.eq_ignore_ascii_case("Event") || name == "o" => {
            Some(value.clone())
        }
        _ => None,
    });
    let Some(event) = event else {
        // §8.2.1: a SUBSCRIBE without Event is for the "PINT" package of RFC 2848; not ours.
        return Err(SubscribeRejection::BadEvent(String::new()));
    };
    let package = event.split(';').next().unwrap_or("").trim();
    if package.eq_ignore_ascii_case(crate::notify::mwi::EVENT) {
        Ok(())
    } else {
        Err(SubscribeRejection::BadEvent(package.to_owned()))
    }
}

fn expires_header(request: &rsip::Request) -> Option<Result<u32, ()>> {
    request.headers.iter().find_map(|h| match h {
        Header::Expires(e) => Some(e.value().trim().parse().map_err(|_| ())),
        _ => None,
    })
}

fn key_of(request: &rsip::Request) -> Result<SubscriptionKey, SubscribeRejection> {
    let from = header_value(&request.headers, "From")
        .map_err(|_| SubscribeRejection::Malformed("From"))?;
    let to =
        header_value(&request.headers, "To").map_err(|_| SubscribeRejection::Malformed("To"))?;
    let call_id = header_value(&request.headers, "Call-ID")
        .map_err(|_| SubscribeRejection::Malformed("Call-ID"))?;
    Ok(SubscriptionKey {
        call_id,
        remote_tag: split_tag(&from)
            .1
            .ok_or(SubscribeRejection::Malformed("From"))?,
        local_tag: split_tag(&to)
            .1
            .ok_or(SubscribeRejection::Malformed("To"))?,
    })
}

fn build_notify(
    sub: &mut Subscription,
    state: NotifyState,
    remaining: u32,
    payload: Payload<'_>,
    via_sent_by: &str,
    rng: &mut impl Rng,
) -> Result<rsip::Request, NotifyError> {
    let uri = rsip::Uri::try_from(sub.remote_target.as_str())
        .map_err(|_| NotifyError::ContactUri(sub.remote_target.clone()))?;
    let cseq = sub.next_cseq;
    sub.next_cseq = sub.next_cseq.saturating_add(1);
    let transport = match sub.watched.transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
    };
    let contact_params = match sub.watched.transport {
        TransportKind::Udp => "",
        TransportKind::Tcp => ";transport=tcp",
    };
    let Payload {
        event,
        content_type,
        body,
    } = payload;
    let subscription_state = match state {
        NotifyState::Active => format!("active;expires={remaining}"),
        NotifyState::Terminated => "terminated;reason=timeout".to_owned(),
    };
    let local_user = sub
        .local_uri
        .split_once("sip:")
        .map(|(_, r)| r.split(['@', '>', ';']).next().unwrap_or(""))
        .unwrap_or("");
    let mut headers: Vec<Header> = vec![
        Header::Via(headers::Via::new(format!(
            "SIP/2.0/{transport} {via_sent_by};branch={};rport",
            new_branch_with(rng)
        ))),
        Header::MaxForwards(headers::MaxForwards::new("70")),
    ];
    for route in &sub.route_set {
        headers.push(Header::Route(headers::Route::new(route.clone())));
    }
    let contact = if local_user.is_empty() {
        format!("<sip:{via_sent_by}{contact_params}>")
    } else {
        format!("<sip:{local_user}@{via_sent_by}{contact_params}>")
    };
    headers.extend([
        Header::From(headers::From::new(format!(
            "{};tag={}",
            sub.local_uri, sub.key.local_tag
        ))),
        Header::To(headers::To::new(format!(
            "{};tag={}",
            sub.remote_uri, sub.key.remote_tag
        ))),
        Header::CallId(headers::CallId::new(sub.key.call_id.clone())),
        Header::CSeq(headers::CSeq::new(format!("{cseq} NOTIFY"))),
        Header::Contact(headers::Contact::new(contact)),
        Header::Event(headers::Event::new(event)),
        Header::SubscriptionState(headers::SubscriptionState::new(subscription_state)),
        Header::UserAgent(headers::UserAgent::new(crate::sip::message::SERVER)),
        Header::ContentType(headers::ContentType::new(content_type)),
        Header::ContentLength(headers::ContentLength::new(body.len().to_string())),
    ]);
    Ok(rsip::Request {
        method: rsip::Method::Notify,
        uri,
        version: rsip::Version::V2,
        headers: headers.into(),
        body: body.as_bytes().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::notify::mwi::{CONTENT_TYPE, EVENT};
    use crate::sip::message::parse;

    fn start() -> Instant {
        // Virtual time: one real instant as the origin, every other one an offset from it.
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    fn subscribe_text(
        to_tag: Option<&str>,
        cseq: u32,
        expires: Option<u32>,
        event: &str,
    ) -> String {
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let expires = expires
            .map(|e| format!("Expires: {e}\r\n"))
            .unwrap_or_default();
        format!(
            "SUBSCRIBE sip:1000001@onestatus SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK{cseq}x\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1000001@onestatus>;tag=phone1\r\n\
             To: <sip:1000001@onestatus>{to_tag}\r\n\
             Call-ID: sub-1@10.0.0.5\r\n\
             CSeq: {cseq} SUBSCRIBE\r\n\
             Contact: <sip:1000001@10.0.0.5:5062>\r\n\
             Event: {event}\r\n\
             Accept: application/simple-message-summary\r\n\
             {expires}Content-Length: 0\r\n\r\n"
        )
    }

    fn request(text: &str) -> rsip::Request {
        match parse(text.as_bytes()).expect("parses") {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => panic!("a request"),
        }
    }

    fn watched() -> Watched {
        Watched {
            user_id: 7,
            source: "203.0.113.7:40000".parse().unwrap(),
            transport: TransportKind::Udp,
        }
    }

    fn subs() -> Subscriptions {
        Subscriptions::new(SubscriptionConfig {
            min_expires: 60,
            max_expires: 3600,
        })
    }

    fn notify_of(s: &mut Subscriptions, now: Instant, key: &SubscriptionKey) -> rsip::Request {
        let mut rng = StdRng::seed_from_u64(2);
        s.notify(
            now,
            key,
            Payload {
                event: EVENT,
                content_type: CONTENT_TYPE,
                body: "Messages-Waiting: no\r\n",
            },
            "192.0.2.1:5060",
            &mut rng,
        )
        .expect("notify")
        .request
    }

    fn header(request: &rsip::Request, name: &'static str) -> String {
        let text = String::from_utf8(crate::sip::message::serialize(&rsip::SipMessage::Request(
            request.clone(),
        )))
        .unwrap();
        text.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    }

    #[test]
    fn new_subscription_gets_a_dialog_and_an_active_notify() {
        let t0 = start();
        let mut s = subs();
        let mut rng = StdRng::seed_from_u64(1);
        let accepted = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, Some(600), EVENT)),
                watched(),
                &mut rng,
            )
            .expect("accepted");
        assert!(accepted.created);
        assert_eq!(accepted.expires, 600);
        assert_eq!(accepted.user_id, 7);
        let n = notify_of(&mut s, t0 + Duration::from_secs(10), &accepted.key);
        assert_eq!(n.method, rsip::Method::Notify);
        assert_eq!(n.uri.to_string(), "sip:1000001@10.0.0.5:5062");
        assert_eq!(header(&n, "Subscription-State"), "active;expires=590");
        assert_eq!(header(&n, "Call-ID"), "sub-1@10.0.0.5");
        assert_eq!(header(&n, "To"), "<sip:1000001@onestatus>;tag=phone1");
        assert_eq!(
            header(&n, "From"),
            format!("<sip:1000001@onestatus>;tag={}", accepted.to_tag)
        );
        assert_eq!(header(&n, "CSeq"), "1 NOTIFY");
        assert_eq!(header(&n, "Event"), "message-summary");
        // The next NOTIFY in the dialog counts up.
        let n2 = notify_of(&mut s, t0 + Duration::from_secs(20), &accepted.key);
        assert_eq!(header(&n2, "CSeq"), "2 NOTIFY");
    }

    #[test]
    fn default_interval_is_an_hour_and_long_ones_are_cut() {
        let t0 = start();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = Subscriptions::new(SubscriptionConfig {
            min_expires: 60,
            max_expires: 1800,
        });
        let a = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, None, EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap();
        assert_eq!(a.expires, 1800, "RFC 3842's hour, cut to our maximum");
        let mut s = subs();
        let a = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, None, EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap();
        assert_eq!(a.expires, DEFAULT_EXPIRES);
        let a = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 2, Some(86_400), EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap();
        assert_eq!(a.expires, 3600);
    }

    #[test]
    fn too_brief_and_wrong_event_are_refused() {
        let t0 = start();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = subs();
        let e = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, Some(10), EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap_err();
        assert_eq!(e, SubscribeRejection::IntervalTooBrief { min_expires: 60 });
        assert_eq!(e.status_code(), 423);
        let e = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, Some(600), "presence")),
                watched(),
                &mut rng,
            )
            .unwrap_err();
        assert_eq!(e.status_code(), 489);
        assert!(s.is_empty());
    }

    #[test]
    fn refresh_extends_and_unknown_refresh_is_481() {
        let t0 = start();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = subs();
        let a = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, Some(120), EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap();
        let t1 = t0 + Duration::from_secs(100);
        let refresh = request(&subscribe_text(Some(&a.to_tag), 2, Some(300), EVENT));
        assert!(Subscriptions::is_refresh(&refresh));
        assert_eq!(s.owner_of(&refresh), Some(7));
        let r = s.subscribe(t1, &refresh, watched(), &mut rng).unwrap();
        assert!(!r.created);
        assert_eq!(r.key, a.key);
        assert_eq!(r.expires, 300);
        // Not expired at the old deadline.
        assert!(s.poll_expired(t0 + Duration::from_secs(130)).is_empty());
        assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(300)));
        // An old CSeq in the dialog is refused.
        let stale = request(&subscribe_text(Some(&a.to_tag), 2, Some(300), EVENT));
        let out_of_order = s.subscribe(t1, &stale, watched(), &mut rng).unwrap_err();
        assert_eq!(out_of_order, SubscribeRejection::OutOfOrder);
        assert_eq!(out_of_order.status_code(), 500);
        let unknown = request(&subscribe_text(Some("nope"), 3, Some(300), EVENT));
        assert_eq!(
            s.subscribe(t1, &unknown, watched(), &mut rng).unwrap_err(),
            SubscribeRejection::NoSuchSubscription
        );
    }

    #[test]
    fn unsubscribe_gets_a_terminated_notify_and_ends() {
        let t0 = start();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = subs();
        let a = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, Some(600), EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap();
        let t1 = t0 + Duration::from_secs(5);
        let bye = request(&subscribe_text(Some(&a.to_tag), 2, Some(0), EVENT));
        let r = s.subscribe(t1, &bye, watched(), &mut rng).unwrap();
        assert_eq!(r.expires, 0);
        let n = notify_of(&mut s, t1, &r.key);
        assert_eq!(
            header(&n, "Subscription-State"),
            "terminated;reason=timeout"
        );
        assert!(s.is_empty(), "the final NOTIFY ends it");
    }

    #[test]
    fn fetch_with_expires_zero_gets_one_terminated_notify() {
        let t0 = start();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = subs();
        let a = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, Some(0), EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap();
        assert!(a.created);
        let n = notify_of(&mut s, t0, &a.key);
        assert_eq!(
            header(&n, "Subscription-State"),
            "terminated;reason=timeout"
        );
        assert!(s.is_empty());
    }

    #[test]
    fn expiry_in_virtual_time() {
        let t0 = start();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = subs();
        let a = s
            .subscribe(
                t0,
                &request(&subscribe_text(None, 1, Some(60), EVENT)),
                watched(),
                &mut rng,
            )
            .unwrap();
        assert!(s.poll_expired(t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(s.watching(7), vec![a.key.clone()]);
        assert!(s.covers(7, watched().source));
        let due = s.poll_expired(t0 + Duration::from_secs(60));
        assert_eq!(due, vec![a.key.clone()]);
        let n = notify_of(&mut s, t0 + Duration::from_secs(61), &a.key);
        assert_eq!(
            header(&n, "Subscription-State"),
            "terminated;reason=timeout"
        );
        assert!(s.watching(7).is_empty());
        assert!(s.poll_timeout().is_none());
        assert_eq!(
            notify_of_err(&mut s, t0, &a.key),
            NotifyError::Unknown,
            "gone after its final NOTIFY"
        );
    }

    fn notify_of_err(s: &mut Subscriptions, now: Instant, key: &SubscriptionKey) -> NotifyError {
        let mut rng = StdRng::seed_from_u64(2);
        s.notify(
            now,
            key,
            Payload {
                event: EVENT,
                content_type: CONTENT_TYPE,
                body: "",
            },
            "192.0.2.1:5060",
            &mut rng,
        )
        .unwrap_err()
    }

    #[test]
    fn record_route_becomes_the_route_set() {
        let t0 = start();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = subs();
        let text = subscribe_text(None, 1, Some(600), EVENT).replacen(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nRecord-Route: <sip:proxy.example;lr>\r\n",
            1,
        );
        let a = s
            .subscribe(t0, &request(&text), watched(), &mut rng)
            .unwrap();
        let n = notify_of(&mut s, t0, &a.key);
        assert_eq!(header(&n, "Route"), "<sip:proxy.example;lr>");
        assert_eq!(s.by_call_id("sub-1@10.0.0.5"), Some(a.key.clone()));
        assert!(s.remove(&a.key).is_some());
        assert_eq!(s.len(), 0);
    }
}
