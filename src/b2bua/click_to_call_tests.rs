//! The click-to-call machine without I/O: RFC 3725 Flow I step by step, and its failures.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::headers::{self, Header};
use rsip::{Method, Request, Response};

use super::*;
use crate::sip::dialog::{self, header_value, split_tag};
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::TransactionId;

const OFFER: &str = "v=0\r\no=desk 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\n";
const ANSWER: &str = "v=0\r\no=target 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\n";

fn config() -> CallConfig {
    CallConfig {
        via_sent_by: "192.0.2.10:5060".into(),
        contact: "sip:onestatus@192.0.2.10:5060".into(),
        domain: "onestatus.test".into(),
        server: "OneStatus/test".into(),
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
    }
}

/// Virtual time starts at an arbitrary instant; only differences matter.
fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn desk_addr() -> SocketAddr {
    "192.0.2.1:5062".parse().unwrap()
}

fn start(now: Instant) -> (ClickToCall, Request) {
    let mut c = ClickToCall::new(
        now,
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 12, 9, 0, 0).unwrap(),
        config(),
        Originate {
            user_id: 7,
            caller: crate::b2bua::CallerInfo {
                number: "1000001".into(),
                name: Some("Hans".into()),
                user_id: Some(7),
            },
            to: "1000002".into(),
            desk: DeskTarget {
                uri: "sip:1000001@192.0.2.1:5062".into(),
                destination: desk_addr(),
                transport: TransportKind::Udp,
                sip_username: "1000001".into(),
                route: Vec::new(),
            },
            ring_timeout: Duration::from_secs(30),
            external: None,
        },
    );
    let invite = match c.poll_action() {
        Some(Action::SendRequest {
            request,
            destination,
            ..
        }) => {
            assert_eq!(destination, desk_addr());
            request
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(c.poll_action(), Some(Action::Status(Status::RingingYou)));
    (c, invite)
}

fn with_body(mut response: Response, body: &str) -> Response {
    response
        .headers
        .retain(|h| !matches!(h, Header::ContentLength(_)));
    response
        .headers
        .push(Header::ContentType(headers::ContentType::new(
            "application/sdp",
        )));
    response
        .headers
        .push(Header::ContentLength(headers::ContentLength::new(
            body.len().to_string(),
        )));
    response.body = body.as_bytes().to_vec();
    response
}

fn desk_ok(invite: &Request, body: Option<&str>) -> Response {
    let mut r = response_to(invite, 200, Some("desktag"));
    r.headers.push(Header::Contact(headers::Contact::new(
        "<sip:desk@192.0.2.1:5062>",
    )));
    match body {
        Some(b) => with_body(r, b),
        None => r,
    }
}

fn drain(c: &mut ClickToCall) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

/// The desk answered with OFFER: returns the target INVITE.
fn desk_answers(c: &mut ClickToCall, now: Instant, invite: &Request) -> Request {
    c.handle(now, Event::DeskResponse(desk_ok(invite, Some(OFFER))));
    let actions = drain(c);
    let target = actions
        .iter()
        .find_map(|a| match a {
            Action::StartTarget(r) => Some((**r).clone()),
            _ => None,
        })
        .expect("target INVITE");
    assert!(actions.contains(&Action::Status(Status::RingingThem)));
    // No ACK yet: Flow I sends it with the target's answer.
    assert!(!actions.iter().any(|a| matches!(a, Action::SendAck { .. })));
    target
}

#[test]
fn desk_invite_has_no_sdp_and_cseq_zero() {
    let (_, invite) = start(t0());
    assert_eq!(invite.method, Method::Invite);
    assert!(invite.body.is_empty());
    assert_eq!(dialog::cseq_number(&invite.headers).unwrap(), 0);
    let from = header_value(&invite.headers, "From").unwrap();
    assert!(from.contains("sip:1000002@onestatus.test"), "{from}");
}

#[test]
fn flow_one_offer_to_target_answer_in_the_ack() {
    let now = t0();
    let (mut c, invite) = start(now);
    let target = desk_answers(&mut c, now, &invite);
    // The target INVITE mirrors our dialog with the desk and carries the desk's offer.
    assert_eq!(target.body, OFFER.as_bytes());
    assert_eq!(
        header_value(&target.headers, "Call-ID").unwrap(),
        header_value(&invite.headers, "Call-ID").unwrap()
    );
    let our_tag = split_tag(&header_value(&invite.headers, "From").unwrap()).1;
    let (to, to_tag) = split_tag(&header_value(&target.headers, "To").unwrap());
    assert_eq!(to_tag, our_tag);
    assert!(to.contains("sip:1000002@"), "{to}");
    let (from, from_tag) = split_tag(&header_value(&target.headers, "From").unwrap());
    assert_eq!(from_tag.as_deref(), Some("desktag"));
    assert!(from.contains("sip:1000001@"), "{from}");
    // The B2BUA's dialog built from it is ours with the desk, seen from the other end.
    let mirrored =
        crate::sip::dialog::Dialog::from_uas(&target, our_tag.as_deref().unwrap()).unwrap();
    assert_eq!(mirrored.remote_target, "sip:desk@192.0.2.1:5062");
    assert_eq!(mirrored.remote_tag, "desktag");

    let answer = with_body(response_to(&target, 200, Some("x")), ANSWER);
    c.handle(now, Event::TargetResponse(answer));
    let actions = drain(&mut c);
    let ack = actions
        .iter()
        .find_map(|a| match a {
            Action::SendAck { request, .. } => Some(request.clone()),
            _ => None,
        })
        .expect("ACK to the desk");
    assert_eq!(ack.body, ANSWER.as_bytes());
    assert_eq!(dialog::cseq_number(&ack.headers).unwrap(), 0);
    assert!(actions.iter().any(|a| matches!(a, Action::TargetAcked(_))));
    assert!(actions.contains(&Action::Status(Status::Connected)));
    assert_eq!(c.status(), Status::Connected);
    // The B2BUA finishing the bridged call ends it.
    c.handle(now, Event::BridgeEnded);
    assert!(drain(&mut c).contains(&Action::Status(Status::Ended(EndReason::Completed))));
    assert!(c.is_finished());
}

#[test]
fn target_busy_acks_the_desk_refusing_its_streams_and_hangs_up() {
    let now = t0();
    let (mut c, invite) = start(now);
    let target = desk_answers(&mut c, now, &invite);
    c.handle(
        now,
        Event::TargetResponse(response_to(&target, 486, Some("x"))),
    );
    let actions = drain(&mut c);
    let ack = actions
        .iter()
        .find_map(|a| match a {
            Action::SendAck { request, .. } => Some(request.clone()),
            _ => None,
        })
        .expect("ACK");
    let sdp = String::from_utf8(ack.body).unwrap();
    assert!(sdp.contains("m=audio 0 RTP/AVP 0"), "{sdp}");
    let bye = actions.iter().find_map(|a| match a {
        Action::SendRequest { request, .. } => Some(request.clone()),
        _ => None,
    });
    let bye = bye.expect("BYE");
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(dialog::cseq_number(&bye.headers).unwrap(), 1);
    assert_eq!(c.status(), Status::Ended(EndReason::TargetFailed(486)));
    assert_eq!(EndReason::TargetFailed(486).code(), "busy");
    // Once the target was called, the B2BUA writes the history, not us.
    assert!(!actions.iter().any(|a| matches!(a, Action::Record(_))));
    c.handle(now, Event::DeskResponse(response_to(&bye, 200, None)));
    assert!(c.is_finished());
}

#[test]
fn desk_no_answer_is_cancelled_and_recorded() {
    let now = t0();
    let (mut c, _invite) = start(now);
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(30)));
    c.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(drain(&mut c), vec![Action::CancelDesk]);
    c.handle(
        now + Duration::from_secs(31),
        Event::DeskResponse(response_to(&_invite, 487, Some("t"))),
    );
    let actions = drain(&mut c);
    assert!(actions.contains(&Action::Status(Status::Ended(EndReason::NoAnswer))));
    let record = actions.iter().find_map(|a| match a {
        Action::Record(r) => Some(r.clone()),
        _ => None,
    });
    let record = record.expect("history row");
    assert_eq!(record.other_number, "1000002");
    assert!(record.answered_at.is_none());
    assert!(c.is_finished());
}

#[test]
fn desk_declines() {
    let now = t0();
    let (mut c, invite) = start(now);
    c.handle(
        now,
        Event::DeskResponse(response_to(&invite, 603, Some("t"))),
    );
    assert_eq!(c.status(), Status::Ended(EndReason::Declined(603)));
    assert_eq!(EndReason::Declined(603).code(), "you_declined");
}

#[test]
fn desk_bye_while_the_target_rings_cancels_the_target() {
    let now = t0();
    let (mut c, invite) = start(now);
    let target = desk_answers(&mut c, now, &invite);
    // The desk's BYE in its own dialog.
    let mut bye = target.clone();
    bye.method = Method::Bye;
    bye.body.clear();
    c.handle(
        now,
        Event::DeskRequest {
            transaction: TransactionId(5),
            request: bye,
        },
    );
    let actions = drain(&mut c);
    assert!(actions.contains(&Action::CancelTarget));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Respond { transaction: TransactionId(5), response } if response.status_code.code() == 200
    )));
    assert_eq!(c.status(), Status::Ended(EndReason::YouHungUp));
    // The target answering after all: the bridge is hung up at once.
    c.handle(
        now,
        Event::TargetResponse(with_body(response_to(&target, 200, Some("x")), ANSWER)),
    );
    assert_eq!(drain(&mut c), vec![Action::HangUpBridge]);
}

#[test]
fn desk_answer_without_offer_is_refused() {
    let now = t0();
    let (mut c, invite) = start(now);
    c.handle(now, Event::DeskResponse(desk_ok(&invite, None)));
    let actions = drain(&mut c);
    assert!(actions.iter().any(|a| matches!(a, Action::SendAck { .. })));
    assert!(!actions.iter().any(|a| matches!(a, Action::StartTarget(_))));
    assert_eq!(c.status(), Status::Ended(EndReason::NoOffer));
}

#[test]
fn hang_up_while_connected_hangs_up_the_bridge() {
    let now = t0();
    let (mut c, invite) = start(now);
    let target = desk_answers(&mut c, now, &invite);
    c.handle(
        now,
        Event::TargetResponse(with_body(response_to(&target, 200, Some("x")), ANSWER)),
    );
    drain(&mut c);
    c.handle(now, Event::HangUp);
    let actions = drain(&mut c);
    assert!(actions.contains(&Action::HangUpBridge));
    assert_eq!(c.status(), Status::Ended(EndReason::HungUp));
}

#[test]
fn reject_all_keeps_the_m_lines_with_port_zero() {
    let sdp = String::from_utf8(reject_all(OFFER.as_bytes())).unwrap();
    assert!(sdp.contains("m=audio 0 RTP/AVP 0\r\n"), "{sdp}");
    assert_eq!(sdp.matches("m=").count(), 1);
}

// ---- the B2BUA's side of a click-to-call (the hooks in call.rs) ----------------------------

use crate::b2bua::{
    Action as CallAction, Call, CallerInfo, CallerSide, Event as CallEvent, Inbound, LegId,
    OutboundTarget, Plan, Side, TargetKind,
};
use crate::domain::model::CallDirection;

/// The B2BUA's call for the target INVITE the machine built, dialling the trunk.
fn target_call(now: Instant) -> (Call, Request) {
    let (mut c, invite) = start(now);
    let target = desk_answers(&mut c, now, &invite);
    let call = Call::new(
        now,
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 12, 9, 0, 0).unwrap(),
        config(),
        Inbound {
            side: CallerSide::Originated,
            invite: target.clone(),
            source: desk_addr(),
            transport: TransportKind::Udp,
        },
        CallerInfo {
            number: "1000001".into(),
            name: None,
            user_id: Some(7),
        },
    );
    (call, invite)
}

fn call_actions(call: &mut Call) -> Vec<CallAction> {
    std::iter::from_fn(|| call.poll_action()).collect()
}

fn trunk() -> OutboundTarget {
    OutboundTarget {
        uri: "sip:4512345678@192.0.2.30:5060".into(),
        destination: "192.0.2.30:5060".parse().unwrap(),
        transport: TransportKind::Udp,
        kind: TargetKind::External,
        route: Vec::new(),
        binding: None,
    }
}

/// The target call, routed to the trunk.
fn dialling(now: Instant) -> Call {
    let (mut call, _) = target_call(now);
    call.handle(
        now,
        CallEvent::Routed(Plan::Dial {
            targets: vec![trunk()],
            timeout: Duration::from_secs(30),
        }),
    );
    call
}

#[test]
fn the_target_call_answers_with_our_tag_in_the_desk_dialog() {
    let now = t0();
    let (call, desk_invite) = target_call(now);
    let ours = split_tag(&header_value(&desk_invite.headers, "From").unwrap()).1;
    assert_eq!(Some(call.local_tag().to_owned()), ours);
    assert_eq!(
        call.call_id(),
        header_value(&desk_invite.headers, "Call-ID").unwrap()
    );
}

#[test]
fn dialled_number_busy_answers_486_and_writes_only_the_callers_row() {
    let now = t0();
    let mut call = dialling(now);
    let leg = call_actions(&mut call)
        .into_iter()
        .find_map(|a| match a {
            CallAction::SendRequest { request, .. } => Some(request),
            _ => None,
        })
        .expect("INVITE to the trunk");
    assert_eq!(leg.body, OFFER.as_bytes());
    call.handle(
        now,
        CallEvent::Response {
            side: Side::Callee(LegId(0)),
            response: response_to(&leg, 486, Some("t")),
        },
    );
    let actions = call_actions(&mut call);
    assert!(actions.iter().any(|a| matches!(
        a,
        CallAction::ToOriginator(response) if response.status_code.code() == 486
    )));
    let rows: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            CallAction::Record(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].direction, CallDirection::Out);
    assert_eq!(rows[0].other_number, "1000002");
    assert!(!actions
        .iter()
        .any(|a| matches!(a, CallAction::Voicemail(_) | CallAction::Presence { .. })));
}

#[test]
fn hang_up_event_cancels_a_ringing_call() {
    let now = t0();
    let mut call = dialling(now);
    call_actions(&mut call);
    call.handle(now, CallEvent::HangUp);
    let actions = call_actions(&mut call);
    assert!(actions.contains(&CallAction::Cancel(LegId(0))));
    assert!(actions.iter().any(|a| matches!(
        a,
        CallAction::ToOriginator(response) if response.status_code.code() == 487
    )));
}
