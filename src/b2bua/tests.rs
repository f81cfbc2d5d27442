//! Scripted events in virtual time → expected actions: forking, CANCEL races, the 2xx race,
//! timeouts, BYE either way.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};

use super::*;
use crate::domain::{Lang, Reason};
use crate::routing::{GreetingStatus, VoicemailInfo};
use crate::sip::message;
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};
use crate::store::model::CallDirection;

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
    let text = format!(
        "INVITE sip:4570100001@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcaller1\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:4512345678@192.0.2.10>;tag=alice1\r\n\
         To: <sip:4570100001@192.0.2.1>\r\n\
         Call-ID: call-a@192.0.2.10\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
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
        // Virtual time starts at an arbitrary instant; only differences matter.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let call = Call::new(
            now,
            Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap(),
            config(),
            Inbound {
                transaction: A_TX,
                invite: caller_invite(),
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
