//! Scripted events in virtual time → expected actions: forking, CANCEL races, the 2xx race,
//! timeouts, BYE either way.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};

use super::*;
use crate::domain::model::CallDirection;
use crate::domain::{Lang, Reason};
use crate::routing::{GreetingStatus, VoicemailInfo};
use crate::sip::message;
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};

const SDP_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const SDP_ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

fn config() -> CallConfig {
    CallConfig {
        via_sent_by: "192.0.2.1:5060".into(),
        contact: "sip:onestatus@192.0.2.1:5060".into(),
        domain: "onestatus".into(),
        server: "OneStatus/test".into(),
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
    }
}

fn caller_invite() -> Request {
    caller_invite_with("")
}

/// The caller's INVITE with `extra` header lines (each ending in CRLF).
fn caller_invite_with(extra: &str) -> Request {
    let text = format!(
        "INVITE sip:4570100001@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcaller1\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:4512345678@192.0.2.10>;tag=alice1\r\n\
         To: <sip:4570100001@192.0.2.1>\r\n\
         Call-ID: call-a@192.0.2.10\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
         {extra}\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP_OFFER}",
        SDP_OFFER.len()
    );
    match message::parse(text.as_bytes()).unwrap() {
        rsip::SipMessage::Request(r) => r,
        rsip::SipMessage::Response(_) => unreachable!(),
    }
}

const A_TX: TransactionId = TransactionId(1);

fn callee() -> CalleeInfo {
    CalleeInfo {
        user_id: 7,
        number: "4570100001".into(),
        lang: Lang::Da,
    }
}

fn target(port: u16, kind: TargetKind) -> OutboundTarget {
    OutboundTarget {
        uri: format!("sip:1000001@192.0.2.{port}:5060"),
        destination: format!("192.0.2.{port}:5060").parse().unwrap(),
        transport: TransportKind::Udp,
        kind,
        route: Vec::new(),
        binding: None,
    }
}

fn fallback() -> VoicemailInfo {
    VoicemailInfo {
        status: GreetingStatus::NotAvailable,
        allow_messages: true,
    }
}

struct Harness {
    call: Call,
    now: Instant,
    /// INVITEs sent on each B leg, by leg.
    invites: Vec<(LegId, Request)>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_invite(caller_invite())
    }

    fn with_invite(invite: Request) -> Harness {
        // Virtual time starts at an arbitrary instant; only differences matter.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let call = Call::new(
            now,
            Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap(),
            config(),
            Inbound {
                side: CallerSide::Transaction(A_TX),
                invite,
                source: "192.0.2.10:5060".parse().unwrap(),
                transport: TransportKind::Udp,
            },
            CallerInfo {
                number: "4512345678".into(),
                name: Some("Alice".into()),
                user_id: None,
            },
        );
        Harness {
            call,
            now,
            invites: Vec::new(),
        }
    }

    /// Routes to `n` devices with a 20 s timeout and returns the actions.
    fn ring(&mut self, n: u16) -> Vec<Action> {
        let targets = (0..n).map(|i| target(20 + i, TargetKind::Device)).collect();
        self.event(Event::Routed(Plan::Ring {
            callee: callee(),
            targets,
            timeout: Duration::from_secs(20),
            fallback: fallback(),
            diversion: None,
        }))
    }

    fn event(&mut self, event: Event) -> Vec<Action> {
        self.call.handle(self.now, event);
        self.drain()
    }

    fn advance(&mut self, by: Duration) -> Vec<Action> {
        self.now += by;
        self.call.handle_timeout(self.now);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Action> {
        let actions: Vec<Action> = std::iter::from_fn(|| self.call.poll_action()).collect();
        for a in &actions {
            if let Action::SendRequest {
                side: Side::Callee(id),
                request,
                ..
            } = a
            {
                if request.method == Method::Invite {
                    self.invites.push((*id, request.clone()));
                }
            }
        }
        actions
    }

    fn invite(&self, leg: u32) -> &Request {
        &self.invites.iter().find(|(id, _)| id.0 == leg).unwrap().1
    }

    /// The device on `leg` answers `code` (with its tag, Contact and, for 2xx, SDP).
    fn device(&mut self, leg: u32, code: u16) -> Vec<Action> {
        let mut response = response_to(self.invite(leg), code, Some(&format!("dev{leg}")));
        if (101..300).contains(&code) {
            response
                .headers
                .push(Header::Contact(headers::Contact::new(format!(
                    "<sip:1000001@192.0.2.{}:5060>",
                    20 + leg
                ))));
        }
        if code == 200 || code == 183 {
            with_sdp(&mut response);
        }
        self.event(Event::Response {
            side: Side::Callee(LegId(leg)),
            response,
        })
    }
}

fn with_sdp(response: &mut Response) {
    let mut hs: Vec<Header> = response
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_)))
        .cloned()
        .collect();
    hs.push(Header::ContentType(headers::ContentType::new(
        "application/sdp",
    )));
    hs.push(Header::ContentLength(headers::ContentLength::new(
        SDP_ANSWER.len().to_string(),
    )));
    response.headers = hs.into();
    response.body = SDP_ANSWER.as_bytes().to_vec();
}

fn caller_codes(actions: &[Action]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond {
                transaction,
                response,
            } if *transaction == A_TX => Some(response.status_code.code()),
            _ => None,
        })
        .collect()
}

fn cancels(actions: &[Action]) -> Vec<u32> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Cancel(id) => Some(id.0),
            _ => None,
        })
        .collect()
}

fn voicemail(actions: &[Action]) -> Option<&VoicemailRequest> {
    actions.iter().find_map(|a| match a {
        Action::Voicemail(v) => Some(&**v),
        _ => None,
    })
}

fn sent(actions: &[Action], method: Method) -> Vec<(Side, Request)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendRequest { side, request, .. } if request.method == method => {
                Some((*side, request.clone()))
            }
            Action::SendAck { request, .. } if method == Method::Ack => {
                Some((Side::Caller, request.clone()))
            }
            _ => None,
        })
        .collect()
}

fn header(request: &Request, name: &str) -> Option<String> {
    request.headers.iter().find_map(|h| match h {
        Header::Other(n, v) if n.eq_ignore_ascii_case(name) => Some(v.clone()),
        Header::MaxForwards(v) if name == "Max-Forwards" => Some(v.value().to_owned()),
        _ => None,
    })
}

#[test]
fn forks_to_every_target_with_the_callers_offer() {
    let mut h = Harness::new();
    let actions = h.ring(3);
    let invites = sent(&actions, Method::Invite);
    assert_eq!(invites.len(), 3);
    let call_ids: std::collections::HashSet<String> = invites
        .iter()
        .map(|(_, r)| crate::sip::dialog::header_value(&r.headers, "Call-ID").unwrap())
        .collect();
    assert_eq!(call_ids.len(), 3, "each leg is its own dialog");
    for (_, invite) in &invites {
        assert_eq!(invite.body, SDP_OFFER.as_bytes());
        assert_eq!(header(invite, "Max-Forwards").as_deref(), Some("69"));
        let from = crate::sip::dialog::header_value(&invite.headers, "From").unwrap();
        assert!(
            from.starts_with("\"Alice\" <sip:4512345678@192.0.2.10>;tag="),
            "{from}"
        );
        assert!(!from.contains("alice1"), "a new From tag per leg: {from}");
    }
    assert_eq!(caller_codes(&actions), Vec::<u16>::new());
}

#[test]
fn first_200_wins_others_cancelled_and_answer_sdp_goes_back() {
    let mut h = Harness::new();
    h.ring(2);
    let a = h.device(0, 180);
    assert_eq!(caller_codes(&a), vec![180]);
    let a = h.device(1, 180);
    assert_eq!(caller_codes(&a), Vec::<u16>::new(), "one 180 is enough");
    let a = h.device(1, 200);
    assert_eq!(caller_codes(&a), vec![200]);
    assert_eq!(cancels(&a), vec![0]);
    let acks = sent(&a, Method::Ack);
    assert_eq!(acks.len(), 1);
    assert!(acks[0].1.to_string().contains("CSeq: 1 ACK"));
    let answer = a
        .iter()
        .find_map(|x| match x {
            Action::Respond { response, .. } => Some(response.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(answer.body, SDP_ANSWER.as_bytes());
    let text = answer.to_string();
    assert!(
        text.contains("Contact: <sip:onestatus@192.0.2.1:5060>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("tag={}", h.call.local_tag())),
        "{text}"
    );
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::Started
    }));
    // The cancelled leg answers 487; nothing reaches the caller.
    let a = h.device(0, 487);
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn late_second_200_after_cancel_is_acked_and_byed() {
    let mut h = Harness::new();
    h.ring(2);
    h.device(0, 180);
    h.device(1, 180);
    h.device(0, 200);
    let a = h.device(1, 200);
    assert_eq!(caller_codes(&a), Vec::<u16>::new());
    assert_eq!(sent(&a, Method::Ack).len(), 1);
    let byes = sent(&a, Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].0, Side::Callee(LegId(1)));
    assert!(byes[0].1.to_string().contains("tag=dev1"));
}

#[test]
fn retransmitted_200_is_acked_again() {
    let mut h = Harness::new();
    h.ring(1);
    let first = h.device(0, 200);
    let again = h.device(0, 200);
    assert_eq!(sent(&again, Method::Ack).len(), 1);
    assert_eq!(
        sent(&first, Method::Ack)[0].1,
        sent(&again, Method::Ack)[0].1
    );
    assert_eq!(caller_codes(&again), Vec::<u16>::new());
}

#[test]
fn busy_from_every_device_goes_to_voicemail_on_the_phone() {
    let mut h = Harness::new();
    h.ring(2);
    let a = h.device(0, 486);
    assert!(voicemail(&a).is_none(), "one leg still ringing");
    let a = h.device(1, 486);
    let vm = voicemail(&a).expect("hand-off");
    assert_eq!(vm.info.status, GreetingStatus::OnThePhone);
    assert_eq!(vm.user_id, 7);
    assert_eq!(vm.offer.as_deref(), Some(SDP_OFFER.as_bytes()));
    assert_eq!(vm.local_tag, h.call.local_tag());
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Record(d) if d.direction == CallDirection::Missed)));
    assert!(h.call.is_finished());
}

#[test]
fn busy_and_unavailable_mixed_is_not_answering() {
    let mut h = Harness::new();
    h.ring(2);
    h.device(0, 486);
    let a = h.device(1, 480);
    assert_eq!(
        voicemail(&a).unwrap().info.status,
        GreetingStatus::NotAvailable
    );
}

#[test]
fn no_answer_within_timeout_cancels_and_hands_off_with_fallback() {
    let mut h = Harness::new();
    let absent = VoicemailInfo {
        status: GreetingStatus::Absent {
            reason: Reason::Meeting,
            back_at: Some(Utc.with_ymd_and_hms(2026, 1, 12, 10, 0, 0).unwrap()),
            free_text: None,
        },
        allow_messages: true,
    };
    h.event(Event::Routed(Plan::Ring {
        callee: callee(),
        targets: vec![
            target(20, TargetKind::Device),
            target(21, TargetKind::Mobile),
        ],
        timeout: Duration::from_secs(5),
        fallback: absent.clone(),
        diversion: None,
    }));
    h.device(0, 180);
    assert!(h.advance(Duration::from_millis(4_999)).is_empty());
    assert_eq!(
        h.call.poll_timeout(),
        Some(h.now + Duration::from_millis(1))
    );
    let a = h.advance(Duration::from_millis(1));
    assert_eq!(cancels(&a), vec![0, 1]);
    assert_eq!(voicemail(&a).unwrap().info, absent);
    assert!(!h.call.is_finished(), "legs still winding down");
    h.device(0, 487);
    h.device(1, 487);
    assert!(h.call.is_finished());
}

#[test]
fn caller_cancel_while_ringing_cancels_all_legs_and_answers_487() {
    let mut h = Harness::new();
    h.ring(2);
    h.device(0, 180);
    let a = h.event(Event::Cancelled);
    assert_eq!(caller_codes(&a), vec![487]);
    assert_eq!(cancels(&a), vec![0, 1]);
    assert!(voicemail(&a).is_none());
    // The CANCEL race: leg 1 answers 200 although cancelled: ACK and BYE, caller untouched.
    let a = h.device(1, 200);
    assert_eq!(caller_codes(&a), Vec::<u16>::new());
    assert_eq!(sent(&a, Method::Bye).len(), 1);
    // And nothing rings after the timeout any more.
    assert!(h.advance(Duration::from_secs(30)).is_empty());
}

#[test]
fn cancel_before_routing_answers_487_and_ignores_the_late_route() {
    let mut h = Harness::new();
    let a = h.event(Event::Cancelled);
    assert_eq!(caller_codes(&a), vec![487]);
    assert!(h.ring(2).is_empty());
    assert!(h.call.is_finished());
}

#[test]
fn bye_from_caller_byes_callee_and_ends_presence() {
    let mut h = Harness::new();
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    let bye = bye_from_caller(&h);
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(9),
        request: bye,
    });
    assert!(a.iter().any(|x| matches!(x, Action::Respond { transaction, response } if transaction.0 == 9 && response.status_code.code() == 200)));
    let byes = sent(&a, Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].0, Side::Callee(LegId(0)));
    assert!(byes[0].1.to_string().contains("CSeq: 2 BYE"));
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::Ended
    }));
    assert!(a.iter().any(|x| matches!(x, Action::Record(d) if d.direction == CallDirection::In && d.answered_at.is_some())));
    assert!(!h.call.is_finished());
    let ok = response_to(&byes[0].1, 200, None);
    h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: ok,
    });
    assert!(h.call.is_finished());
}

#[test]
fn bye_from_callee_byes_caller() {
    let mut h = Harness::new();
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    let ack = h.invite(0).clone();
    // The device's BYE: its From is the To of our INVITE (with its tag), and vice versa.
    let from = crate::sip::dialog::header_value(&ack.headers, "To").unwrap();
    let to = crate::sip::dialog::header_value(&ack.headers, "From").unwrap();
    let call_id = crate::sip::dialog::header_value(&ack.headers, "Call-ID").unwrap();
    let bye = parse_request(&format!(
        "BYE sip:onestatus@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKdevbye\r\n\
         From: {from};tag=dev0\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n"
    ));
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(11),
        request: bye,
    });
    let byes = sent(&a, Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].0, Side::Caller);
    let text = byes[0].1.to_string();
    assert!(
        text.starts_with("BYE sip:alice@192.0.2.10:5060 SIP/2.0"),
        "{text}"
    );
    assert!(
        text.contains("To: \"Alice\" <sip:4512345678@192.0.2.10>;tag=alice1"),
        "{text}"
    );
    assert!(text.contains("Call-ID: call-a@192.0.2.10"), "{text}");
}

#[test]
fn our_2xx_is_retransmitted_until_ack_then_bye_after_64_t1() {
    let mut h = Harness::new();
    h.ring(1);
    h.device(0, 200);
    let a = h.advance(Duration::from_millis(500));
    assert_eq!(caller_codes(&a), vec![200]);
    let a = h.advance(Duration::from_millis(999));
    assert!(a.is_empty());
    let a = h.advance(Duration::from_millis(1));
    assert_eq!(caller_codes(&a), vec![200], "doubling: T1, 2·T1");
    // No ACK at all: after 64·T1 the call is torn down with BYE both ways.
    let mut byes = Vec::new();
    for _ in 0..40 {
        byes.extend(sent(&h.advance(Duration::from_secs(1)), Method::Bye));
    }
    let sides: Vec<Side> = byes.iter().map(|(s, _)| *s).collect();
    assert_eq!(sides, vec![Side::Callee(LegId(0)), Side::Caller]);
}

#[test]
fn ack_stops_retransmission() {
    let mut h = Harness::new();
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn unknown_dialog_request_gets_481() {
    let mut h = Harness::new();
    h.ring(1);
    let bye = bye_from_caller(&h);
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(3),
        request: bye,
    });
    assert_eq!(
        a.iter()
            .filter_map(|x| match x {
                Action::Respond { response, .. } => Some(response.status_code.code()),
                _ => None,
            })
            .collect::<Vec<_>>(),
        vec![481]
    );
}

#[test]
fn forward_carries_diversion_and_history_info() {
    let mut h = Harness::new();
    let a = h.event(Event::Routed(Plan::Ring {
        callee: callee(),
        targets: vec![target(30, TargetKind::External)],
        timeout: Duration::from_secs(20),
        fallback: fallback(),
        diversion: Some(Diversion {
            from: "4570100001".into(),
            reason: crate::routing::DiversionReason::Unconditional,
            counter: 1,
            user_id: None,
        }),
    }));
    let invite = &sent(&a, Method::Invite)[0].1;
    assert_eq!(
        header(invite, "Diversion").as_deref(),
        Some("<sip:4570100001@onestatus>;reason=unconditional;counter=1")
    );
    let hi = header(invite, "History-Info").unwrap();
    assert!(hi.starts_with("<sip:4570100001@onestatus>;index=1, <sip:1000001@192.0.2.30:5060?Reason=SIP%3Bcause%3D302>;index=1.1"), "{hi}");
}

#[test]
fn voicemail_plan_hands_off_at_once_and_reject_answers() {
    let mut h = Harness::new();
    let info = VoicemailInfo {
        status: GreetingStatus::OnThePhone,
        allow_messages: false,
    };
    let a = h.event(Event::Routed(Plan::Voicemail {
        callee: callee(),
        info: info.clone(),
    }));
    assert_eq!(voicemail(&a).unwrap().info, info);
    assert!(h.call.is_finished());

    let mut h = Harness::new();
    let a = h.event(Event::Routed(Plan::Reject {
        status: 404,
        reason: None,
    }));
    assert_eq!(caller_codes(&a), vec![404]);
}

#[test]
fn decline_6xx_ends_the_search() {
    let mut h = Harness::new();
    h.ring(2);
    let a = h.device(0, 600);
    assert_eq!(cancels(&a), vec![1]);
    assert_eq!(
        voicemail(&a).unwrap().info.status,
        GreetingStatus::OnThePhone
    );
}

#[test]
fn leg_timeout_counts_as_no_answer() {
    let mut h = Harness::new();
    h.ring(1);
    let a = h.event(Event::RequestFailed {
        side: Side::Callee(LegId(0)),
        method: Method::Invite,
    });
    assert_eq!(
        voicemail(&a).unwrap().info.status,
        GreetingStatus::NotAvailable
    );
}

fn bye_from_caller(h: &Harness) -> Request {
    parse_request(&format!(
        "BYE sip:onestatus@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye1\r\n\
         From: \"Alice\" <sip:4512345678@192.0.2.10>;tag=alice1\r\nTo: <sip:4570100001@192.0.2.1>;tag={}\r\n\
         Call-ID: call-a@192.0.2.10\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        h.call.local_tag()
    ))
}

fn parse_request(text: &str) -> Request {
    match message::parse(text.as_bytes()).unwrap() {
        rsip::SipMessage::Request(r) => r,
        rsip::SipMessage::Response(_) => unreachable!(),
    }
}

// ---- mid-call: re-INVITE, UPDATE, INFO relayed across; glare; §15; RFC 4028 ------------------

const SDP_HOLD: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
const SDP_HELD: &str = "v=0\r\no=- 2 3 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=recvonly\r\n";

/// Rings one device, which answers; the caller ACKs.
fn answered() -> Harness {
    let mut h = Harness::new();
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    h
}

fn with_body(headers: &str, body: Option<&str>) -> String {
    match body {
        Some(b) => format!(
            "{headers}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ),
        None => format!("{headers}Content-Length: 0\r\n\r\n"),
    }
}

/// An in-dialog request from the caller (its dialog: our tag, its tag alice1).
fn from_caller(h: &Harness, method: &str, cseq: u32, body: Option<&str>, extra: &str) -> Request {
    parse_request(&with_body(
        &format!(
            "{method} sip:onestatus@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKc{method}{cseq}\r\n\
             From: \"Alice\" <sip:4512345678@192.0.2.10>;tag=alice1\r\nTo: <sip:4570100001@192.0.2.1>;tag={}\r\n\
             Call-ID: call-a@192.0.2.10\r\nCSeq: {cseq} {method}\r\nContact: <sip:alice@192.0.2.10:5060>\r\n{extra}",
            h.call.local_tag()
        ),
        body,
    ))
}

/// An in-dialog request from the device on leg 0 (its dialog with our leg INVITE).
fn from_device(h: &Harness, method: &str, cseq: u32, body: Option<&str>) -> Request {
    let invite = h.invite(0);
    let from = crate::sip::dialog::header_value(&invite.headers, "To").unwrap();
    let to = crate::sip::dialog::header_value(&invite.headers, "From").unwrap();
    let call_id = crate::sip::dialog::header_value(&invite.headers, "Call-ID").unwrap();
    parse_request(&with_body(
        &format!(
            "{method} sip:onestatus@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKd{method}{cseq}\r\n\
             From: {from};tag=dev0\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:1000001@192.0.2.20:5060>\r\n"
        ),
        body,
    ))
}

/// The peer's response to a request we sent, with Contact and an optional SDP body.
fn answer_to(request: &Request, code: u16, body: Option<&str>, extra: &[(&str, &str)]) -> Response {
    let mut response = response_to(request, code, None);
    response.headers.push(Header::Contact(headers::Contact::new(
        "<sip:peer@192.0.2.99:5060>",
    )));
    for (n, v) in extra {
        response
            .headers
            .push(Header::Other((*n).into(), (*v).into()));
    }
    if let Some(b) = body {
        let mut hs: Vec<Header> = response
            .headers
            .iter()
            .filter(|h| !matches!(h, Header::ContentLength(_)))
            .cloned()
            .collect();
        hs.push(Header::ContentType(headers::ContentType::new(
            "application/sdp",
        )));
        hs.push(Header::ContentLength(headers::ContentLength::new(
            b.len().to_string(),
        )));
        response.headers = hs.into();
        response.body = b.as_bytes().to_vec();
    }
    response
}

fn responses(actions: &[Action], tx: u64) -> Vec<Response> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond {
                transaction,
                response,
            } if transaction.0 == tx => Some(response.clone()),
            _ => None,
        })
        .collect()
}

fn codes(actions: &[Action], tx: u64) -> Vec<u16> {
    responses(actions, tx)
        .iter()
        .map(|r| r.status_code.code())
        .collect()
}

fn acks(actions: &[Action]) -> Vec<(std::net::SocketAddr, Request)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAck {
                request,
                destination,
                ..
            } => Some((*destination, request.clone())),
            _ => None,
        })
        .collect()
}

fn text_header(message: &str, name: &str) -> Option<String> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

#[test]
fn caller_hold_reinvite_is_relayed_and_acked_across_both_legs() {
    let mut h = answered();
    let reinvite = from_caller(&h, "INVITE", 2, Some(SDP_HOLD), "");
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(20),
        request: reinvite.clone(),
    });
    assert!(codes(&a, 20).is_empty(), "no answer before the callee's");
    let relayed = sent(&a, Method::Invite);
    assert_eq!(relayed.len(), 1);
    let (side, out) = &relayed[0];
    assert_eq!(*side, Side::Callee(LegId(0)));
    let text = out.to_string();
    // The callee's dialog: its Contact as Request-URI, its tag, the next local CSeq (§12.2.1.1).
    assert!(
        text.starts_with("INVITE sip:1000001@192.0.2.20:5060 SIP/2.0"),
        "{text}"
    );
    assert!(text.contains("CSeq: 2 INVITE"), "{text}");
    assert!(text.contains(";tag=dev0"), "{text}");
    assert!(
        text.contains("Contact: <sip:onestatus@192.0.2.1:5060>"),
        "{text}"
    );
    assert!(
        !text.contains("call-a@192.0.2.10"),
        "the leg's own Call-ID: {text}"
    );
    assert_eq!(out.body, SDP_HOLD.as_bytes(), "SDP passed through");

    // The callee answers 200 with a=recvonly: relayed on the caller's re-INVITE transaction.
    let ok = answer_to(out, 200, Some(SDP_HELD), &[]);
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: ok.clone(),
    });
    let back = responses(&a, 20);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].status_code.code(), 200);
    assert_eq!(back[0].body, SDP_HELD.as_bytes());
    let back_text = back[0].to_string();
    assert!(back_text.contains("CSeq: 2 INVITE"), "{back_text}");
    assert!(
        back_text.contains(&format!("tag={}", h.call.local_tag())),
        "{back_text}"
    );
    assert!(
        back_text.contains("Contact: <sip:onestatus@192.0.2.1:5060>"),
        "{back_text}"
    );
    assert!(
        acks(&a).is_empty(),
        "the far leg is ACKed when the caller ACKs"
    );

    // The callee retransmits its 2xx: it goes on to the caller again, still no ACK.
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: ok.clone(),
    });
    assert_eq!(codes(&a, 20), vec![200]);
    assert!(acks(&a).is_empty());

    // The caller's ACK (CSeq 2) becomes our ACK on the callee's leg, CSeq 2 (§13.2.2.4).
    let caller_ack = from_caller(&h, "ACK", 2, None, "");
    let a = h.event(Event::DialogAck {
        side: Side::Caller,
        request: caller_ack.clone(),
    });
    let sent_acks = acks(&a);
    assert_eq!(sent_acks.len(), 1);
    assert_eq!(sent_acks[0].0, "192.0.2.20:5060".parse().unwrap());
    let ack_text = sent_acks[0].1.to_string();
    assert!(
        ack_text.starts_with("ACK sip:peer@192.0.2.99:5060"),
        "target refreshed: {ack_text}"
    );
    assert!(ack_text.contains("CSeq: 2 ACK"), "{ack_text}");
    // A late 2xx retransmission is ACKed again, with the same ACK.
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: ok,
    });
    assert_eq!(acks(&a)[0].1, sent_acks[0].1);

    // Resume (a=sendrecv): the next re-INVITE is relayed with the next CSeq.
    let resume = from_caller(&h, "INVITE", 3, Some(SDP_OFFER), "");
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(21),
        request: resume,
    });
    let relayed = sent(&a, Method::Invite);
    assert!(relayed[0].1.to_string().contains("CSeq: 3 INVITE"));
    assert_eq!(relayed[0].1.body, SDP_OFFER.as_bytes());
}

#[test]
fn callee_reinvite_reaches_the_caller_in_its_dialog() {
    let mut h = answered();
    let reinvite = from_device(&h, "INVITE", 7, Some(SDP_HOLD));
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(30),
        request: reinvite,
    });
    let (side, out) = sent(&a, Method::Invite).remove(0);
    assert_eq!(side, Side::Caller);
    let text = out.to_string();
    assert!(
        text.starts_with("INVITE sip:alice@192.0.2.10:5060 SIP/2.0"),
        "{text}"
    );
    // A UAS dialog's first request of ours has CSeq 1 (§12.1.1).
    assert!(text.contains("CSeq: 1 INVITE"), "{text}");
    assert!(text.contains("Call-ID: call-a@192.0.2.10"), "{text}");
    let a = h.event(Event::Response {
        side: Side::Caller,
        response: answer_to(&out, 200, Some(SDP_HELD), &[]),
    });
    assert_eq!(codes(&a, 30), vec![200]);
    let device_ack = from_device(&h, "ACK", 7, None);
    let a = h.event(Event::DialogAck {
        side: Side::Callee(LegId(0)),
        request: device_ack,
    });
    let sent_acks = acks(&a);
    assert_eq!(sent_acks[0].0, "192.0.2.10:5060".parse().unwrap());
    assert!(sent_acks[0].1.to_string().contains("CSeq: 1 ACK"));
}

#[test]
fn reinvite_glare_gets_491_and_overlap_gets_500_with_retry_after() {
    let mut h = answered();
    // The callee's re-INVITE is on its way to the caller...
    h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(40),
        request: from_device(&h, "INVITE", 7, Some(SDP_HOLD)),
    });
    // ...when the caller's crosses it: 491 (§14.2).
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(41),
        request: from_caller(&h, "INVITE", 2, Some(SDP_HOLD), ""),
    });
    assert_eq!(codes(&a, 41), vec![491]);
    assert!(sent(&a, Method::Invite).is_empty());
    // A second INVITE from the callee before its first is answered: 500 + Retry-After.
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(42),
        request: from_device(&h, "INVITE", 8, Some(SDP_HOLD)),
    });
    let r = responses(&a, 42);
    assert_eq!(r[0].status_code.code(), 500);
    let secs: u32 = text_header(&r[0].to_string(), "Retry-After")
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs <= 10);
}

#[test]
fn callee_reinvite_before_the_callers_ack_gets_491() {
    let mut h = Harness::new();
    h.ring(1);
    h.device(0, 200);
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(43),
        request: from_device(&h, "INVITE", 7, Some(SDP_HOLD)),
    });
    assert_eq!(codes(&a, 43), vec![491]);
}

#[test]
fn update_and_info_are_relayed_and_failures_come_back() {
    let mut h = answered();
    let info = from_caller(
        &h,
        "INFO",
        2,
        None,
        "Info-Package: dtmf\r\nX-Private: secret\r\n",
    );
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(50),
        request: info,
    });
    let (_, out) = sent(&a, Method::Info).remove(0);
    let text = out.to_string();
    assert!(text.contains("Info-Package: dtmf"), "{text}");
    assert!(
        !text.contains("X-Private"),
        "only what describes the request: {text}"
    );
    assert!(
        !text.contains("Contact:"),
        "INFO is no target refresh: {text}"
    );
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: answer_to(&out, 469, None, &[]),
    });
    assert_eq!(codes(&a, 50), vec![469]);

    let update = from_caller(&h, "UPDATE", 3, Some(SDP_HOLD), "");
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(51),
        request: update,
    });
    let (_, out) = sent(&a, Method::Update).remove(0);
    assert!(out.to_string().contains("CSeq: 3 UPDATE"));
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: answer_to(&out, 200, Some(SDP_HELD), &[]),
    });
    let r = responses(&a, 51);
    assert_eq!(r[0].status_code.code(), 200);
    assert_eq!(r[0].body, SDP_HELD.as_bytes());
    assert!(acks(&a).is_empty(), "UPDATE has no ACK");
}

#[test]
fn relayed_request_timeout_answers_408_and_ends_the_call() {
    let mut h = answered();
    h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(60),
        request: from_caller(&h, "INVITE", 2, Some(SDP_HOLD), ""),
    });
    let a = h.event(Event::RequestFailed {
        side: Side::Callee(LegId(0)),
        method: Method::Invite,
    });
    assert_eq!(codes(&a, 60), vec![408]);
    let sides: Vec<Side> = sent(&a, Method::Bye).into_iter().map(|(s, _)| s).collect();
    assert_eq!(sides, vec![Side::Callee(LegId(0)), Side::Caller]);
}

#[test]
fn pending_relay_gets_487_when_the_other_side_hangs_up() {
    let mut h = answered();
    h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(61),
        request: from_caller(&h, "INVITE", 2, Some(SDP_HOLD), ""),
    });
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(62),
        request: from_device(&h, "BYE", 8, None),
    });
    assert_eq!(codes(&a, 62), vec![200]);
    assert_eq!(codes(&a, 61), vec![487], "§15.1.2");
}

#[test]
fn callee_bye_before_the_callers_ack_waits_for_the_ack() {
    let mut h = Harness::new();
    h.ring(1);
    h.device(0, 200);
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(70),
        request: from_device(&h, "BYE", 8, None),
    });
    assert_eq!(codes(&a, 70), vec![200]);
    assert!(sent(&a, Method::Bye).is_empty(), "§15: not before the ACK");
    let a = h.advance(Duration::from_millis(500));
    assert_eq!(
        caller_codes(&a),
        vec![200],
        "our 2xx is still retransmitted"
    );
    let a = h.event(Event::Ack);
    let byes = sent(&a, Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].0, Side::Caller);
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::Ended
    }));
}

#[test]
fn callee_bye_without_any_ack_goes_after_64_t1_over_tcp() {
    let mut invite = Harness::new();
    invite.call = Call::new(
        invite.now,
        Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap(),
        config(),
        Inbound {
            side: CallerSide::Transaction(A_TX),
            invite: caller_invite(),
            source: "192.0.2.10:5060".parse().unwrap(),
            transport: TransportKind::Tcp,
        },
        CallerInfo::default(),
    );
    let mut h = invite;
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(71),
        request: from_device(&h, "BYE", 8, None),
    });
    assert_eq!(h.call.poll_timeout(), Some(h.now + Duration::from_secs(32)));
    assert!(sent(&h.advance(Duration::from_millis(31_999)), Method::Bye).is_empty());
    let byes = sent(&h.advance(Duration::from_millis(1)), Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].0, Side::Caller);
}

#[test]
fn session_expires_passes_to_the_callee_and_is_inserted_for_the_caller() {
    let mut h = Harness::with_invite(caller_invite_with(
        "Session-Expires: 1800\r\nMin-SE: 120\r\nSupported: timer, 100rel\r\n",
    ));
    let a = h.ring(1);
    let text = sent(&a, Method::Invite)[0].1.to_string();
    assert_eq!(
        text_header(&text, "Session-Expires").as_deref(),
        Some("1800")
    );
    assert_eq!(text_header(&text, "Min-SE").as_deref(), Some("120"));
    assert_eq!(text_header(&text, "Supported").as_deref(), Some("timer"));
    // The device knows nothing of timers: we tell the caller to refresh (RFC 4028 §9).
    let a = h.device(0, 200);
    let ok = responses(&a, A_TX.0).remove(0).to_string();
    assert_eq!(
        text_header(&ok, "Session-Expires").as_deref(),
        Some("1800;refresher=uac")
    );
    assert_eq!(text_header(&ok, "Require").as_deref(), Some("timer"));
    h.event(Event::Ack);
    // A refresh at 1000 s moves the expiry.
    h.advance(Duration::from_secs(1000));
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(80),
        request: from_caller(
            &h,
            "UPDATE",
            2,
            None,
            "Session-Expires: 1800;refresher=uac\r\nSupported: timer\r\n",
        ),
    });
    let (_, update) = sent(&a, Method::Update).remove(0);
    assert_eq!(
        text_header(&update.to_string(), "Session-Expires").as_deref(),
        Some("1800;refresher=uac")
    );
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: answer_to(&update, 200, None, &[]),
    });
    let ok = responses(&a, 80).remove(0).to_string();
    assert_eq!(
        text_header(&ok, "Session-Expires").as_deref(),
        Some("1800;refresher=uac"),
        "inserted again for the caller's refresh: {ok}"
    );
    // 1768 s after the refresh (1800 − min(32, 600)) the call is torn down, not before.
    assert!(sent(&h.advance(Duration::from_secs(1767)), Method::Bye).is_empty());
    let a = h.advance(Duration::from_secs(1));
    let sides: Vec<Side> = sent(&a, Method::Bye).into_iter().map(|(s, _)| s).collect();
    assert_eq!(sides, vec![Side::Callee(LegId(0)), Side::Caller]);
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Record(d) if d.direction == CallDirection::In)));
}

#[test]
fn callees_session_expires_is_passed_back_and_enforced() {
    let mut h = Harness::with_invite(caller_invite_with(
        "Session-Expires: 300\r\nSupported: timer\r\n",
    ));
    h.ring(1);
    let mut ok = response_to(h.invite(0), 200, Some("dev0"));
    ok.headers.push(Header::Contact(headers::Contact::new(
        "<sip:1000001@192.0.2.20:5060>",
    )));
    ok.headers.push(Header::Other(
        "Session-Expires".into(),
        "120;refresher=uas".into(),
    ));
    ok.headers
        .push(Header::Require(headers::Require::new("timer")));
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: ok,
    });
    let ours = responses(&a, A_TX.0).remove(0).to_string();
    assert_eq!(
        text_header(&ours, "Session-Expires").as_deref(),
        Some("120;refresher=uas")
    );
    assert_eq!(text_header(&ours, "Require").as_deref(), Some("timer"));
    h.event(Event::Ack);
    // 120 − min(32, 40) = 88 s.
    assert!(sent(&h.advance(Duration::from_secs(87)), Method::Bye).is_empty());
    assert_eq!(
        sent(&h.advance(Duration::from_secs(1)), Method::Bye).len(),
        2
    );
}

#[test]
fn too_small_session_expires_gets_422_with_min_se() {
    let mut h = Harness::with_invite(caller_invite_with(
        "Session-Expires: 60\r\nSupported: timer\r\n",
    ));
    let a = h.ring(1);
    let r = responses(&a, A_TX.0);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status_code.code(), 422);
    assert_eq!(
        text_header(&r[0].to_string(), "Min-SE").as_deref(),
        Some("90")
    );
    assert!(sent(&a, Method::Invite).is_empty());
    assert!(h.call.is_finished());

    // Without Supported: timer a 422 would only fail the call: raised to 90 instead (§8.1).
    let mut h = Harness::with_invite(caller_invite_with("Session-Expires: 60\r\n"));
    let a = h.ring(1);
    let text = sent(&a, Method::Invite)[0].1.to_string();
    assert_eq!(text_header(&text, "Session-Expires").as_deref(), Some("90"));

    // A refresh below the minimum is refused the same way.
    let mut h = answered();
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(81),
        request: from_caller(
            &h,
            "INVITE",
            2,
            Some(SDP_HOLD),
            "Session-Expires: 30\r\nSupported: timer\r\n",
        ),
    });
    assert_eq!(codes(&a, 81), vec![422]);
}

#[test]
fn presence_rings_then_talks_then_ends_and_ringing_ends_on_voicemail() {
    let mut h = Harness::new();
    let a = h.ring(2);
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::Ringing
    }));
    let a = h.device(0, 200);
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::Started
    }));

    let mut h = Harness::new();
    h.ring(1);
    let a = h.device(0, 486);
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::RingingEnded
    }));
    let mut h = Harness::new();
    h.ring(1);
    let a = h.event(Event::Cancelled);
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::RingingEnded
    }));
}

#[test]
fn forwarded_call_writes_a_row_for_the_forwarding_user_too() {
    let mut h = Harness::new();
    h.event(Event::Routed(Plan::Ring {
        callee: CalleeInfo {
            user_id: 8,
            number: "4570100002".into(),
            lang: Lang::Da,
        },
        targets: vec![target(20, TargetKind::Device)],
        timeout: Duration::from_secs(20),
        fallback: fallback(),
        diversion: Some(Diversion {
            from: "4570100001".into(),
            reason: crate::routing::DiversionReason::Away,
            counter: 1,
            user_id: Some(7),
        }),
    }));
    h.device(0, 200);
    h.event(Event::Ack);
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(90),
        request: bye_from_caller(&h),
    });
    let rows: Vec<_> = a
        .iter()
        .filter_map(|x| match x {
            Action::Record(d) => Some((d.user_id.0, d.direction, d.route.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (8, CallDirection::In, Some("answered".into())),
            (7, CallDirection::Missed, Some("forward:4570100002".into())),
        ]
    );
}

#[test]
fn local_caller_gets_an_out_row_and_callee_an_in_row() {
    let mut h = Harness::new();
    h.call.set_caller(CallerInfo {
        number: "1000002".into(),
        name: Some("Karen".into()),
        user_id: Some(5),
    });
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(91),
        request: bye_from_caller(&h),
    });
    let rows: Vec<_> = a
        .iter()
        .filter_map(|x| match x {
            Action::Record(d) => Some((d.user_id.0, d.direction, d.other_number.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (7, CallDirection::In, "1000002".to_owned()),
            (5, CallDirection::Out, "4570100001".to_owned()),
        ]
    );
    // Both parties were "on the phone" and are not any more.
    for user_id in [7, 5] {
        assert!(a.contains(&Action::Presence {
            user_id,
            change: PresenceChange::Ended
        }));
    }
}

// ---- anchored media: every crossing SDP names our relay; the relay learns each party ---------

fn anchor() -> MediaAnchor {
    MediaAnchor {
        caller_facing: "192.0.2.1:20000".parse().unwrap(),
        callee_facing: "192.0.2.1:20002".parse().unwrap(),
    }
}

fn media_peers(
    actions: &[Action],
) -> Vec<(crate::media::relay::Party, Option<std::net::SocketAddr>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::MediaPeer { party, remote } => Some((*party, *remote)),
            _ => None,
        })
        .collect()
}

fn body_text(body: &[u8]) -> String {
    String::from_utf8(body.to_vec()).unwrap()
}

fn anchored() -> Harness {
    let mut h = Harness::new();
    h.call.anchor_media(anchor());
    h
}

#[test]
fn anchored_offer_and_answer_name_our_relay_and_report_each_party() {
    use crate::media::relay::Party;
    let mut h = anchored();
    assert!(h.call.media_anchored());
    let a = h.ring(2);
    assert_eq!(
        media_peers(&a),
        vec![(Party::Caller, Some("192.0.2.10:4000".parse().unwrap()))]
    );
    for (_, invite) in sent(&a, Method::Invite) {
        let body = body_text(&invite.body);
        assert!(body.contains("c=IN IP4 192.0.2.1\r\n"), "{body}");
        assert!(body.contains("m=audio 20002 RTP/AVP 0\r\n"), "{body}");
        assert!(
            !body.contains("192.0.2.10"),
            "the caller's address is hidden: {body}"
        );
        assert_eq!(
            text_header(&invite.to_string(), "Content-Length"),
            Some(body.len().to_string())
        );
    }
    // Early media from one device: the caller gets our caller-facing endpoint.
    let a = h.device(0, 183);
    let early = responses(&a, A_TX.0);
    assert_eq!(early[0].status_code.code(), 183);
    let body = body_text(&early[0].body);
    assert!(body.contains("m=audio 20000 RTP/AVP 0\r\n"), "{body}");
    assert!(!body.contains("192.0.2.20"), "{body}");
    assert_eq!(
        media_peers(&a),
        vec![(Party::Callee, Some("192.0.2.20:5000".parse().unwrap()))]
    );
    // The other device answers: its answer, rewritten, in our 2xx.
    let a = h.device(1, 200);
    let answer = responses(&a, A_TX.0).remove(0);
    let body = body_text(&answer.body);
    assert!(body.contains("c=IN IP4 192.0.2.1\r\n"), "{body}");
    assert!(body.contains("m=audio 20000 RTP/AVP 0\r\n"), "{body}");
    assert_eq!(
        text_header(&answer.to_string(), "Content-Length"),
        Some(body.len().to_string())
    );
    assert_eq!(media_peers(&a).len(), 1);
    assert!(!h.call.is_over());
    // BYE: the call (and so its relay) is over.
    let bye = bye_from_caller(&h);
    h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(9),
        request: bye,
    });
    assert!(h.call.is_over());
}

#[test]
fn anchored_hold_and_resume_keep_directions_and_move_the_relay_targets() {
    use crate::media::relay::Party;
    let mut h = anchored();
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    // The caller holds (a=sendonly): the callee gets our address with the direction kept.
    let hold = from_caller(&h, "INVITE", 2, Some(SDP_HOLD), "");
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(20),
        request: hold,
    });
    let relayed = sent(&a, Method::Invite).remove(0).1;
    let body = body_text(&relayed.body);
    assert!(body.contains("m=audio 20002 RTP/AVP 0\r\n"), "{body}");
    assert!(body.contains("a=sendonly\r\n"), "{body}");
    // A sendonly party receives nothing: the relay sends it nothing and, with no address for
    // it, expects no media from the call (no RTP timeout on hold).
    assert_eq!(media_peers(&a), vec![(Party::Caller, None)]);
    // The callee's recvonly answer goes back pointing at our caller-facing endpoint; the
    // callee has moved its media (a new port): the relay is told.
    let held = SDP_HELD.replace("5000", "5002");
    let ok = answer_to(&relayed, 200, Some(&held), &[]);
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: ok,
    });
    let back = responses(&a, 20).remove(0);
    let body = body_text(&back.body);
    assert!(body.contains("m=audio 20000 RTP/AVP 0\r\n"), "{body}");
    assert!(body.contains("a=recvonly\r\n"), "{body}");
    assert_eq!(
        media_peers(&a),
        vec![(Party::Callee, Some("192.0.2.20:5002".parse().unwrap()))]
    );
    let ack = from_caller(&h, "ACK", 2, None, "");
    h.event(Event::DialogAck {
        side: Side::Caller,
        request: ack,
    });

    // An offerless re-INVITE from the callee: the caller's offer comes in its 2xx, the
    // callee's answer in its ACK; both cross rewritten.
    let reinvite = from_device(&h, "INVITE", 7, None);
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(30),
        request: reinvite,
    });
    let towards_caller = sent(&a, Method::Invite).remove(0).1;
    let ok = answer_to(&towards_caller, 200, Some(SDP_OFFER), &[]);
    let a = h.event(Event::Response {
        side: Side::Caller,
        response: ok,
    });
    let to_device = responses(&a, 30).remove(0);
    assert!(body_text(&to_device.body).contains("m=audio 20002 "));
    let device_ack = from_device(&h, "ACK", 7, Some(SDP_ANSWER));
    let a = h.event(Event::DialogAck {
        side: Side::Callee(LegId(0)),
        request: device_ack,
    });
    let ack = acks(&a).remove(0).1;
    let body = body_text(&ack.body);
    assert!(body.contains("m=audio 20000 RTP/AVP 0\r\n"), "{body}");
    assert_eq!(
        media_peers(&a),
        vec![(Party::Callee, Some("192.0.2.20:5000".parse().unwrap()))]
    );
}

#[test]
fn anchored_call_to_voicemail_hands_over_the_callers_own_offer() {
    let mut h = anchored();
    h.ring(1);
    let a = h.device(0, 486);
    let request = voicemail(&a).expect("hand-off");
    // The IVR answers the caller with its own media: it needs the caller's real address.
    assert_eq!(request.offer.as_deref(), Some(SDP_OFFER.as_bytes()));
    assert_eq!(request.invite.body, SDP_OFFER.as_bytes());
    assert!(h.call.is_over(), "the relay can go");
}

#[test]
fn info_bodies_cross_an_anchored_call_untouched() {
    let mut h = anchored();
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    let mut info = from_caller(&h, "INFO", 2, None, "");
    info.body = b"Signal=5\r\nDuration=160\r\n".to_vec();
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(40),
        request: info,
    });
    assert!(media_peers(&a).is_empty());
}

#[test]
fn a_refused_mid_call_offer_puts_the_relay_back_where_it_was() {
    use crate::media::relay::Party;
    let mut h = anchored();
    h.ring(1);
    h.device(0, 200);
    h.event(Event::Ack);
    // The caller offers to move its media; the callee refuses (488): the session goes on as
    // before (RFC 3264 §8), so the relay sends to the caller's old address again.
    let moved = SDP_OFFER.replace("4000", "4100").replace(" 1 1 ", " 1 2 ");
    let reinvite = from_caller(&h, "INVITE", 2, Some(&moved), "");
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(50),
        request: reinvite,
    });
    assert_eq!(
        media_peers(&a),
        vec![(Party::Caller, Some("192.0.2.10:4100".parse().unwrap()))]
    );
    let out = sent(&a, Method::Invite).remove(0).1;
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: answer_to(&out, 488, None, &[]),
    });
    assert_eq!(codes(&a, 50), vec![488]);
    assert_eq!(
        media_peers(&a),
        vec![(Party::Caller, Some("192.0.2.10:4000".parse().unwrap()))]
    );
    // A refused refresh with the same SDP changes nothing, so there is nothing to undo.
    let same = from_caller(&h, "INVITE", 3, Some(SDP_OFFER), "");
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(51),
        request: same,
    });
    let out = sent(&a, Method::Invite).remove(0).1;
    let a = h.event(Event::Response {
        side: Side::Callee(LegId(0)),
        response: answer_to(&out, 488, None, &[]),
    });
    assert!(media_peers(&a).is_empty(), "{a:?}");
}

#[test]
fn media_timeout_ends_an_answered_call_with_bye_on_both_legs_and_nothing_before() {
    let mut h = Harness::new();
    h.ring(1);
    // Ringing: no media yet, the timeout means nothing.
    let a = h.event(Event::MediaTimeout);
    assert!(sent(&a, Method::Bye).is_empty());
    assert!(cancels(&a).is_empty());
    h.device(0, 200);
    h.event(Event::Ack);
    let a = h.event(Event::MediaTimeout);
    let byes: Vec<Side> = sent(&a, Method::Bye)
        .into_iter()
        .map(|(side, _)| side)
        .collect();
    assert_eq!(byes, vec![Side::Callee(LegId(0)), Side::Caller]);
    assert!(a.contains(&Action::Presence {
        user_id: 7,
        change: PresenceChange::Ended
    }));
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Record(d) if d.answered_at.is_some())));
    // Once over, a second timeout does nothing.
    assert!(sent(&h.event(Event::MediaTimeout), Method::Bye).is_empty());
}

mod hunt;
// ---- transfer by REFER (issue #18): the call hands the REFER over and lets the transferee go

#[test]
fn refer_from_the_callee_goes_to_the_driver_and_nothing_crosses() {
    let mut h = answered();
    let refer = from_device(&h, "REFER", 2, None);
    let a = h.event(Event::Request {
        side: Side::Callee(LegId(0)),
        transaction: TransactionId(21),
        request: refer,
    });
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        matches!(
            &a[0],
            Action::Refer {
                side: Side::Callee(LegId(0)),
                transaction: TransactionId(21),
                ..
            }
        ),
        "{a:?}"
    );
    assert_eq!(
        h.call.other_side(Side::Callee(LegId(0))),
        Some(Side::Caller)
    );
    // The NOTIFY to the transferor is a request in its dialog, to its address.
    let (notify, destination, _) = h
        .call
        .request_to(Side::Callee(LegId(0)), Method::Notify)
        .expect("the device's dialog");
    assert_eq!(destination, "192.0.2.20:5060".parse().unwrap());
    assert!(notify.to_string().contains(";tag=dev0"), "{notify}");
}

#[test]
fn a_detached_transferee_gets_no_bye_when_the_old_call_ends() {
    let mut h = answered();
    h.call.detach(Side::Caller);
    let a = h.event(Event::HangUp);
    let byes = sent(&a, Method::Bye);
    assert_eq!(byes.len(), 1, "{a:?}");
    assert_eq!(byes[0].0, Side::Callee(LegId(0)));
}

/// Ringing one binding for another node (`cluster::node_reach`): one leg, the phone's own
/// failure answered back (603 stays a decline, 486 busy), no voicemail, history or presence
/// here (the other node keeps them).
#[test]
fn a_binding_rung_for_another_node_answers_the_phones_own_failure() {
    for code in [603, 486, 404] {
        let mut h = Harness::new();
        let a = h.event(Event::Routed(Plan::Binding {
            target: target(20, TargetKind::Device),
            timeout: Duration::from_secs(210),
        }));
        assert_eq!(sent(&a, Method::Invite).len(), 1);
        let a = h.device(0, code);
        assert_eq!(caller_codes(&a), vec![code]);
        assert!(voicemail(&a).is_none());
        assert!(
            !a.iter()
                .any(|a| matches!(a, Action::Record(_) | Action::Presence { .. })),
            "{a:?}"
        );
    }
}

#[test]
fn a_leg_through_the_holding_node_names_the_binding() {
    let mut h = Harness::new();
    let mut via_node = target(30, TargetKind::Device);
    via_node.binding = Some(42);
    h.event(Event::Routed(Plan::Ring {
        callee: callee(),
        targets: vec![via_node, target(20, TargetKind::Device)],
        timeout: Duration::from_secs(20),
        fallback: fallback(),
        diversion: None,
    }));
    assert_eq!(
        header(h.invite(0), "X-OneStatus-Binding").as_deref(),
        Some("42")
    );
    assert_eq!(header(h.invite(1), "X-OneStatus-Binding"), None);
}
