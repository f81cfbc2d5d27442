//! Message waiting indication (RFC 3842): the `message-summary` body and the NOTIFY that lights
//! the lamp on the user's phones after a voicemail is stored, read or deleted.
//!
//! Sans-I/O. [`MwiNotifier::notify`] turns a [`MessageSummary`] and one registered contact
//! ([`MwiTarget`]) into an [`OutgoingNotify`]: a complete [`rsip::Request`] plus where and how to
//! send it, so that the SIP driver needs one call, `TransactionLayer::send_request(now,
//! n.request, n.destination, n.transport)`, and gets the §17.1.2 non-INVITE client transaction
//! (retransmissions, Timer F) for free.
//!
//! The NOTIFY is *unsolicited*: sent to each registered contact without a SUBSCRIBE, as
//! Asterisk, FreeSWITCH and most PBXes do for desk phones configured so (RFC 3842 §4 lets a
//! device be told about its mailbox "through some means", and phones accept an out-of-dialog
//! NOTIFY for `message-summary` from their registrar). Each NOTIFY is a new out-of-dialog request:
//! fresh Call-ID, From tag and branch (RFC 3261 §8.1.1), no To tag, and a CSeq from the
//! notifier's counter. It carries `Subscription-State: terminated` (RFC 6665 §8.2.3 makes the
//! header mandatory in every NOTIFY) and `Contact` (§8.1.2 there: a NOTIFY MUST have one).
//! Not `active`: there is no subscription, and a phone that tracks its subscriptions answers a
//! NOTIFY claiming an active one it does not have with 481 and drops it (baresip does,
//! RFC 6665 §4.1.3). `terminated` without a reason says "no subscription", which such a phone
//! reads as the invitation to SUBSCRIBE (§4.1.3: with no reason "the client MAY attempt to
//! re-subscribe"), while phones configured for unsolicited MWI read the body as before. Phones
//! that do subscribe get their NOTIFYs inside the subscription (`sip::subscription`), and the
//! driver sends no unsolicited one to them.

use std::fmt;
use std::net::SocketAddr;

use rand::Rng;
use rsip::headers::{self, UntypedHeader};
use rsip::Header;

use crate::domain::model;
use crate::sip::message::{new_branch_with, new_call_id_with, new_tag_with, SERVER};
use crate::sip::registrar::{self, path};
use crate::sip::transaction::TransportKind;

/// RFC 3842 §6 media type of the body.
pub const CONTENT_TYPE: &str = "application/simple-message-summary";

/// RFC 3842 §6 event package name.
pub const EVENT: &str = "message-summary";

/// The mailbox state of one account, as RFC 3842 §5.2 carries it: the status line, the account
/// and the `Voice-Message` summary line (new/old, urgent new/urgent old).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSummary {
    /// `Message-Account`: the URI of the mailbox (the voicemail access number at our domain,
    /// which phones use for their "messages" key). `None` leaves the line out (§5.2: optional).
    pub account: Option<String>,
    /// Messages not yet heard.
    pub new: u32,
    /// Messages heard and kept (read or saved).
    pub old: u32,
    /// Urgent messages among the new (none: callers cannot mark urgency).
    pub urgent_new: u32,
    /// Urgent messages among the old.
    pub urgent_old: u32,
}

impl MessageSummary {
    /// §5.2: "Messages-Waiting: yes" when the account has new messages, "no" otherwise.
    pub fn messages_waiting(&self) -> bool {
        self.new > 0
    }

    /// The `application/simple-message-summary` body (§5.2 ABNF; lines end in CRLF):
    ///
    /// ```text
    /// Messages-Waiting: yes
    /// Message-Account: sip:8000@onestatus
    /// Voice-Message: 2/8 (0/0)
    /// ```
    pub fn body(&self) -> String {
        self.to_string()
    }

    /// Reads a body back (for tests and for a subscriber's view). Accepts any header order after
    /// the status line, case-insensitive names, and ignores other message-context classes.
    pub fn parse(body: &str) -> Result<MessageSummary, SummaryParseError> {
        let mut lines = body.lines().map(str::trim).filter(|l| !l.is_empty());
        let status = lines.next().ok_or(SummaryParseError::MissingStatus)?;
        let (name, value) = status
            .split_once(':')
            .ok_or(SummaryParseError::MissingStatus)?;
        if !name.trim().eq_ignore_ascii_case("Messages-Waiting") {
            return Err(SummaryParseError::MissingStatus);
        }
        let waiting = match value.trim().to_ascii_lowercase().as_str() {
            "yes" => true,
            "no" => false,
            _ => return Err(SummaryParseError::BadLine(status.to_owned())),
        };
        let mut summary = MessageSummary::default();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(SummaryParseError::BadLine(line.to_owned()));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("Message-Account") {
                summary.account = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("Voice-Message") {
                let bad = || SummaryParseError::BadLine(line.to_owned());
                let (counts, urgent) = match value.split_once('(') {
                    Some((counts, urgent)) => (counts, Some(urgent.trim_end_matches(')'))),
                    None => (value, None),
                };
                (summary.new, summary.old) = pair(counts).ok_or_else(bad)?;
                if let Some(urgent) = urgent {
                    (summary.urgent_new, summary.urgent_old) = pair(urgent).ok_or_else(bad)?;
                }
            }
        }
        if waiting != summary.messages_waiting() && summary.new + summary.old > 0 {
            return Err(SummaryParseError::Inconsistent);
        }
        Ok(summary)
    }
}

fn pair(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

impl fmt::Display for MessageSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = if self.messages_waiting() { "yes" } else { "no" };
        write!(f, "Messages-Waiting: {waiting}\r\n")?;
        if let Some(account) = &self.account {
            write!(f, "Message-Account: {account}\r\n")?;
        }
        write!(
            f,
            "Voice-Message: {}/{} ({}/{})\r\n",
            self.new, self.old, self.urgent_new, self.urgent_old
        )
    }
}

/// Why a `message-summary` body did not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryParseError {
    /// §5.2: the body must start with the `Messages-Waiting` status line.
    #[error("no Messages-Waiting status line")]
    MissingStatus,
    /// A line is not `name: value` or its value does not fit the ABNF.
    #[error("malformed line {0:?}")]
    BadLine(String),
    /// The status line contradicts the counts.
    #[error("Messages-Waiting contradicts the Voice-Message counts")]
    Inconsistent,
}

/// One registered contact of a user, as the NOTIFY needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwiTarget {
    /// The address-of-record (`sip:1000001@onestatus`): the To of the NOTIFY.
    pub aor: String,
    /// The Contact URI the phone registered: the Request-URI (RFC 3261 §8.1.1.1).
    pub contact_uri: String,
    /// Where the REGISTER came from; behind NAT the Contact's own address is unreachable, so
    /// the request goes here (as for INVITEs, RFC 5626 §5.3 style).
    pub destination: SocketAddr,
    /// The transport the phone registered over; a TCP phone listens on its own connection.
    pub transport: TransportKind,
    /// The binding's Path (RFC 3327) as a preloaded Route set (RFC 3261 §8.1.2): the NOTIFY
    /// then goes to the first Route's address, the proxy holding the phone's connection.
    pub route: Vec<String>,
}

impl From<&registrar::Binding> for MwiTarget {
    fn from(binding: &registrar::Binding) -> Self {
        let mut target = MwiTarget {
            aor: binding.aor.clone(),
            contact_uri: binding.contact_uri.clone(),
            destination: binding.received,
            transport: match binding.transport {
                rsip::Transport::Udp => TransportKind::Udp,
                _ => TransportKind::Tcp,
            },
            route: Vec::new(),
        };
        if let Some((destination, transport)) = binding
            .path
            .first()
            .and_then(|first| path::route_address(first))
        {
            target.destination = destination;
            target.transport = transport;
            target.route = binding.path.clone();
        }
        target
    }
}

impl MwiTarget {
    /// The target for a binding as the store keeps it (`received_addr` as text), through its
    /// Path when it has one. `None` when the stored address does not parse (only a hand-edited
    /// row can cause that) or the Path names no address.
    pub fn from_stored(aor: &str, binding: &model::Binding) -> Option<Self> {
        let reach = path::reach(&binding.received_addr, &binding.transport, &binding.path).ok()?;
        Some(MwiTarget {
            aor: aor.to_owned(),
            contact_uri: binding.contact_uri.clone(),
            destination: reach.destination,
            transport: reach.transport,
            route: reach.route,
        })
    }
}

/// What [`MwiNotifier`] needs to know about us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwiConfig {
    /// Our SIP address as the phones reach it: Via sent-by and Contact.
    pub local: SocketAddr,
    /// Our domain (`sip.domain`): From host and Message-Account host.
    pub domain: String,
    /// The voicemail access number (`sip.voicemail_number`): From user and Message-Account
    /// user, so the phone's "messages" key dials it.
    pub voicemail_number: String,
}

/// A NOTIFY ready for `TransactionLayer::send_request`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingNotify {
    /// The request.
    pub request: rsip::Request,
    /// Where to send it.
    pub destination: SocketAddr,
    /// On which transport.
    pub transport: TransportKind,
}

/// Why a NOTIFY could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MwiError {
    /// The registered Contact is not a URI rsip can carry as a Request-URI (e.g. an IPv6
    /// reference, which rsip 0.4 cannot parse).
    #[error("contact {0:?} cannot be a Request-URI")]
    ContactUri(String),
}

/// Builds unsolicited `message-summary` NOTIFYs, numbering them with one CSeq counter.
#[derive(Debug, Clone)]
pub struct MwiNotifier {
    config: MwiConfig,
    next_cseq: u32,
}

impl MwiNotifier {
    /// A notifier whose first NOTIFY has CSeq 1.
    pub fn new(config: MwiConfig) -> Self {
        MwiNotifier {
            config,
            next_cseq: 1,
        }
    }

    /// The summary for a mailbox with `new` unheard and `old` kept messages, with our
    /// Message-Account.
    pub fn summary(&self, new: u32, old: u32) -> MessageSummary {
        MessageSummary {
            account: Some(self.account()),
            new,
            old,
            urgent_new: 0,
            urgent_old: 0,
        }
    }

    /// The NOTIFY telling `target` about `summary`. Random parts (tag, branch, Call-ID) come
    /// from `rng`, seeded in tests.
    pub fn notify(
        &mut self,
        rng: &mut impl Rng,
        target: &MwiTarget,
        summary: &MessageSummary,
    ) -> Result<OutgoingNotify, MwiError> {
        let uri = rsip::Uri::try_from(target.contact_uri.as_str())
            .map_err(|_| MwiError::ContactUri(target.contact_uri.clone()))?;
        let cseq = self.next_cseq;
        // §8.1.1.5: the sequence number "MUST be expressible as a 32-bit unsigned integer and
        // MUST be less than 2**31"; wrap back to 1 long before that.
        self.next_cseq = if cseq >= (1 << 31) - 1 { 1 } else { cseq + 1 };

        let local = self.config.local;
        let transport = match target.transport {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        };
        let contact_params = match target.transport {
            TransportKind::Udp => "",
            TransportKind::Tcp => ";transport=tcp",
        };
        let body = summary.body().into_bytes();
        let mut headers: Vec<Header> = vec![
            // §18.2.1 / RFC 3581: ask for the response at the port we sent from.
            Header::Via(headers::Via::new(format!(
                "SIP/2.0/{transport} {local};branch={};rport",
                new_branch_with(rng)
            ))),
            Header::MaxForwards(headers::MaxForwards::new("70")),
        ];
        // RFC 3261 §8.1.2: the phone's Path as a preloaded Route set, loose routing.
        headers.extend(
            target
                .route
                .iter()
                .map(|value| Header::Route(headers::Route::new(value.clone()))),
        );
        headers.extend([
            Header::From(headers::From::new(format!(
                "<{}>;tag={}",
                self.account(),
                new_tag_with(rng)
            ))),
            Header::To(headers::To::new(format!("<{}>", target.aor))),
            Header::CallId(headers::CallId::new(new_call_id_with(
                rng,
                Some(&self.config.domain),
            ))),
            Header::CSeq(headers::CSeq::new(format!("{cseq} NOTIFY"))),
            Header::Contact(headers::Contact::new(format!(
                "<sip:{}@{local}{contact_params}>",
                self.config.voicemail_number
            ))),
            Header::Event(headers::Event::new(EVENT)),
            Header::SubscriptionState(headers::SubscriptionState::new("terminated")),
            Header::UserAgent(headers::UserAgent::new(SERVER)),
            Header::ContentType(headers::ContentType::new(CONTENT_TYPE)),
            Header::ContentLength(headers::ContentLength::new(body.len().to_string())),
        ]);
        Ok(OutgoingNotify {
            request: rsip::Request {
                method: rsip::Method::Notify,
                uri,
                version: rsip::Version::V2,
                headers: headers.into(),
                body,
            },
            destination: target.destination,
            transport: target.transport,
        })
    }

    /// `sip:<voicemail number>@<domain>`.
    fn account(&self) -> String {
        format!(
            "sip:{}@{}",
            self.config.voicemail_number, self.config.domain
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::sip::message::{parse, validate_request};

    fn notifier() -> MwiNotifier {
        MwiNotifier::new(MwiConfig {
            local: "192.0.2.10:5060".parse().unwrap(),
            domain: "onestatus".into(),
            voicemail_number: "8000".into(),
        })
    }

    fn target(transport: TransportKind) -> MwiTarget {
        MwiTarget {
            aor: "sip:1000001@onestatus".into(),
            contact_uri: "sip:1000001@10.0.0.5:5062;ob".into(),
            destination: "203.0.113.7:40123".parse().unwrap(),
            transport,
            route: Vec::new(),
        }
    }

    #[test]
    fn body_matches_rfc_3842_example_shape() {
        let n = notifier();
        assert_eq!(
            n.summary(2, 8).body(),
            "Messages-Waiting: yes\r\nMessage-Account: sip:8000@onestatus\r\n\
             Voice-Message: 2/8 (0/0)\r\n"
        );
        assert_eq!(
            n.summary(0, 3).body(),
            "Messages-Waiting: no\r\nMessage-Account: sip:8000@onestatus\r\n\
             Voice-Message: 0/3 (0/0)\r\n"
        );
    }

    #[test]
    fn body_parses_back() {
        let summary = notifier().summary(2, 8);
        assert_eq!(MessageSummary::parse(&summary.body()), Ok(summary));
        // RFC 3842 §5.2 example with other classes and no account.
        let asterisk = "Messages-Waiting: yes\r\nVoice-Message: 4/8 (1/2)\r\nFax-Message: 1/0\r\n";
        let parsed = MessageSummary::parse(asterisk).unwrap();
        assert_eq!(
            (parsed.new, parsed.old, parsed.urgent_new, parsed.urgent_old),
            (4, 8, 1, 2)
        );
        assert_eq!(
            MessageSummary::parse("Voice-Message: 1/0\r\n"),
            Err(SummaryParseError::MissingStatus)
        );
        assert!(MessageSummary::parse("Messages-Waiting: no\r\nVoice-Message: 1/0\r\n").is_err());
        assert!(MessageSummary::parse("Messages-Waiting: yes\r\nVoice-Message: x/0\r\n").is_err());
    }

    #[test]
    fn notify_parses_back_and_is_a_valid_request() {
        let mut n = notifier();
        let mut rng = StdRng::seed_from_u64(7);
        let out = n
            .notify(&mut rng, &target(TransportKind::Udp), &n.summary(2, 8))
            .unwrap();
        assert_eq!(out.destination, "203.0.113.7:40123".parse().unwrap());
        assert_eq!(out.transport, TransportKind::Udp);

        let text = out.request.to_string();
        let rsip::SipMessage::Request(parsed) = parse(text.as_bytes()).unwrap() else {
            panic!("not a request: {text}");
        };
        validate_request(&parsed, &[], &[rsip::Method::Notify]).unwrap();
        assert_eq!(parsed.method, rsip::Method::Notify);
        assert_eq!(parsed.uri.to_string(), "sip:1000001@10.0.0.5:5062;ob");
        assert!(text.starts_with("NOTIFY sip:1000001@10.0.0.5:5062;ob SIP/2.0\r\n"));
        for line in [
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK",
            "Max-Forwards: 70\r\n",
            "From: <sip:8000@onestatus>;tag=",
            "To: <sip:1000001@onestatus>\r\n",
            "CSeq: 1 NOTIFY\r\n",
            "Contact: <sip:8000@192.0.2.10:5060>\r\n",
            "Event: message-summary\r\n",
            "Subscription-State: terminated\r\n",
            "Content-Type: application/simple-message-summary\r\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let body = String::from_utf8(parsed.body.clone()).unwrap();
        assert_eq!(MessageSummary::parse(&body), Ok(n.summary(2, 8)));
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn each_notify_is_a_new_request_with_the_next_cseq() {
        let mut n = notifier();
        let mut rng = StdRng::seed_from_u64(1);
        let summary = n.summary(1, 0);
        let a = n
            .notify(&mut rng, &target(TransportKind::Tcp), &summary)
            .unwrap();
        let b = n
            .notify(&mut rng, &target(TransportKind::Tcp), &summary)
            .unwrap();
        let (a, b) = (a.request.to_string(), b.request.to_string());
        assert!(a.contains("CSeq: 1 NOTIFY") && b.contains("CSeq: 2 NOTIFY"));
        assert!(a.contains("Via: SIP/2.0/TCP ") && a.contains(";transport=tcp>"));
        let call_id = |t: &str| {
            t.lines()
                .find(|l| l.starts_with("Call-ID:"))
                .map(str::to_owned)
        };
        assert_ne!(call_id(&a), call_id(&b));
        assert!(call_id(&a).unwrap().ends_with("@onestatus"));
    }

    #[test]
    fn one_call_hands_it_to_the_transaction_layer() {
        use crate::sip::transaction::{LayerConfig, TransactionLayer, TuEvent};

        let mut n = notifier();
        let mut rng = StdRng::seed_from_u64(3);
        let out = n
            .notify(&mut rng, &target(TransportKind::Udp), &n.summary(1, 0))
            .unwrap();
        let mut layer = TransactionLayer::new(LayerConfig::default());
        // Any instant will do as the origin of the layer's virtual time.
        #[allow(clippy::disallowed_methods)]
        let t0 = std::time::Instant::now();
        let tx = layer
            .send_request(t0, out.request.clone(), out.destination, out.transport)
            .unwrap();
        let sent = layer.poll_transmit().expect("the NOTIFY goes out at once");
        assert_eq!(sent.destination, out.destination);
        assert_eq!(sent.transaction, Some(tx));
        assert_eq!(sent.message, rsip::SipMessage::Request(out.request.clone()));
        // The phone's 200 OK completes the non-INVITE client transaction (§17.1.2.2).
        let ok = crate::sip::message::make_response(&out.request, 200, "OK", Some("phone"));
        layer
            .handle_message(
                t0,
                rsip::SipMessage::Response(ok),
                out.destination,
                out.transport,
            )
            .unwrap();
        let event = layer.poll_event().expect("response passed up");
        assert!(
            matches!(event, TuEvent::Response { transaction, ref response }
                if transaction == tx && u16::from(response.status_code.clone()) == 200),
            "{event:?}"
        );
    }

    #[test]
    fn stored_bindings_become_targets() {
        let binding = model::Binding {
            user_id: model::UserId(1),
            device_id: None,
            contact_uri: "sip:1000001@10.0.0.5:5062".into(),
            expires_at: chrono::DateTime::UNIX_EPOCH,
            call_id: "c".into(),
            cseq: 1,
            q_millis: 1000,
            received_addr: "203.0.113.7:40123".into(),
            transport: "tcp".into(),
            instance_id: None,
            reg_id: None,
            path: Vec::new(),
            node_id: None,
        };
        let target = MwiTarget::from_stored("sip:1000001@onestatus", &binding).unwrap();
        assert_eq!(target.transport, TransportKind::Tcp);
        assert_eq!(target.destination, "203.0.113.7:40123".parse().unwrap());
        let broken = model::Binding {
            received_addr: "nowhere".into(),
            ..binding
        };
        assert_eq!(MwiTarget::from_stored("sip:a@b", &broken), None);
    }

    #[test]
    fn cseq_wraps_below_two_to_the_31() {
        let mut n = notifier();
        n.next_cseq = (1 << 31) - 1;
        let mut rng = StdRng::seed_from_u64(1);
        let summary = n.summary(1, 0);
        let last = n
            .notify(&mut rng, &target(TransportKind::Udp), &summary)
            .unwrap();
        assert!(last.request.to_string().contains("CSeq: 2147483647 NOTIFY"));
        let next = n
            .notify(&mut rng, &target(TransportKind::Udp), &summary)
            .unwrap();
        assert!(next.request.to_string().contains("CSeq: 1 NOTIFY"));
    }

    #[test]
    fn unusable_contact_is_an_error_not_a_panic() {
        let mut n = notifier();
        let mut rng = StdRng::seed_from_u64(1);
        let mut bad = target(TransportKind::Udp);
        bad.contact_uri = "sip:1000001@[2001:db8::1]:5060".into();
        let summary = n.summary(1, 0);
        assert!(matches!(
            n.notify(&mut rng, &bad, &summary),
            Err(MwiError::ContactUri(_))
        ));
    }
}
