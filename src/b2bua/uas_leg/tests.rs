//! The leg in virtual time: the 2xx retransmission schedule and its stop on the ACK, BYE only
//! after the ACK, offers by re-INVITE and UPDATE, INFO key presses, REFER either way, our
//! re-INVITE, the session expiry, and bad input answered without a panic.

use std::time::{Duration, Instant};

use rsip::{Method, Request, Response};

use super::*;
use crate::media::dtmf::Digit;
use crate::sip::message;
use crate::sip::transaction::fields::response_to;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const OFFER_V2: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=- 7 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
const ANSWER_V2: &str = "v=0\r\no=- 7 8 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";

const T1: Duration = Duration::from_millis(500);

fn config() -> UasConfig {
    UasConfig {
        via_sent_by: "192.0.2.1:5060".into(),
        contact: "sip:onestatus@192.0.2.1:5060".into(),
        server: "OneStatus/test".into(),
        t1: T1,
        t2: Duration::from_secs(4),
    }
}

fn parse(text: &str) -> Request {
    match message::parse(text.as_bytes()).unwrap() {
        rsip::SipMessage::Request(r) => r,
        rsip::SipMessage::Response(_) => unreachable!(),
    }
}

fn invite() -> Request {
    parse(&format!(
        "INVITE sip:4570100001@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcaller1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:4512345678@192.0.2.10>;tag=alice1\r\n\
         To: <sip:4570100001@192.0.2.1>\r\n\
         Call-ID: call-a@192.0.2.10\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    ))
}

/// A request from the caller in the dialog, with `extra` header lines and a body.
fn in_dialog(method: &str, cseq: u32, extra: &str, content_type: &str, body: &str) -> Request {
    let ct = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {content_type}\r\n")
    };
    parse(&format!(
        "{method} sip:onestatus@192.0.2.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKin{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:4512345678@192.0.2.10>;tag=alice1\r\n\
         To: <sip:4570100001@192.0.2.1>;tag=ours1\r\n\
         Call-ID: call-a@192.0.2.10\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
         {extra}{ct}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

struct Harness {
    leg: UasLeg,
    t0: Instant,
    now: Instant,
    next_tx: u64,
}

impl Harness {
    fn new(transport: TransportKind) -> Harness {
        // Virtual time starts at an arbitrary instant; only differences matter.
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let invite = invite();
        let mut answer = response_to(&invite, 200, Some("ours1"));
        answer.body = ANSWER.as_bytes().to_vec();
        let leg = UasLeg::new(
            t0,
            config(),
            Answered {
                invite,
                local_tag: "ours1".into(),
                source: "192.0.2.10:5060".parse().unwrap(),
                transport,
                answer,
            },
        )
        .unwrap();
        Harness {
            leg,
            t0,
            now: t0,
            next_tx: 10,
        }
    }

    fn udp() -> Harness {
        Harness::new(TransportKind::Udp)
    }

    /// A UDP leg whose 2xx is sent and ACKed.
    fn acked() -> Harness {
        let mut h = Harness::udp();
        h.drain();
        h.handle(UasEvent::Ack);
        h
    }

    fn handle(&mut self, event: UasEvent) -> Vec<UasAction> {
        self.leg.handle(self.now, event);
        self.drain()
    }

    fn request(&mut self, request: Request) -> (TransactionId, Vec<UasAction>) {
        self.next_tx += 1;
        let transaction = TransactionId(self.next_tx);
        let actions = self.handle(UasEvent::Request {
            transaction,
            request,
        });
        (transaction, actions)
    }

    fn drain(&mut self) -> Vec<UasAction> {
        std::iter::from_fn(|| self.leg.poll_action()).collect()
    }

    /// Advances to the next deadline and fires it.
    fn fire(&mut self) -> Vec<UasAction> {
        self.now = self.leg.poll_timeout().expect("a timer is armed");
        self.leg.handle_timeout(self.now);
        self.drain()
    }
}

/// The status of the one response among `actions`.
fn status(actions: &[UasAction]) -> u16 {
    let codes: Vec<u16> = actions
        .iter()
        .filter_map(|a| match a {
            UasAction::Respond { response, .. } | UasAction::SendAnswer(response) => {
                Some(response.status_code.code())
            }
            _ => None,
        })
        .collect();
    assert_eq!(codes.len(), 1, "one response expected in {actions:?}");
    codes[0]
}

fn response(actions: &[UasAction]) -> &Response {
    actions
        .iter()
        .find_map(|a| match a {
            UasAction::Respond { response, .. } | UasAction::SendAnswer(response) => Some(response),
            _ => None,
        })
        .expect("a response")
}

fn sent(actions: &[UasAction]) -> Vec<(Method, &Request)> {
    actions
        .iter()
        .filter_map(|a| match a {
            UasAction::SendRequest { request, .. } => Some((request.method, request)),
            _ => None,
        })
        .collect()
}

fn header(message_headers: &rsip::Headers, name: &'static str) -> Option<String> {
    crate::sip::dialog::header_value(message_headers, name).ok()
}

/// A response of the caller to our request `request`.
fn answer_to(request: &Request, code: u16) -> Response {
    response_to(request, code, Some("alice1"))
}

#[test]
fn the_2xx_is_the_first_action_and_is_retransmitted_until_64_t1_then_bye() {
    let mut h = Harness::udp();
    let first = h.drain();
    assert_eq!(status(&first), 200);
    let mut resends = Vec::new();
    for _ in 0..100 {
        let actions = h.fire();
        if actions.contains(&UasAction::Ending) {
            let bye = sent(&actions);
            assert_eq!(bye.len(), 1);
            assert_eq!(bye[0].0, Method::Bye);
            break;
        }
        assert_eq!(status(&actions), 200);
        resends.push((h.now - h.t0).as_millis());
    }
    // §13.3.1.4 with T1 = 500 ms, T2 = 4 s: 0.5, 1.5, 3.5, 7.5, 11.5, ... s; BYE at 64·T1.
    assert_eq!(&resends[..5], &[500, 1500, 3500, 7500, 11500]);
    assert_eq!(h.now - h.t0, T1 * 64);
    assert_eq!(h.leg.poll_timeout(), None);
}

#[test]
fn the_ack_stops_the_retransmission() {
    let mut h = Harness::udp();
    h.drain();
    assert_eq!(status(&h.fire()), 200);
    assert!(h.handle(UasEvent::Ack).is_empty());
    assert!(h.leg.is_acked());
    assert_eq!(h.leg.poll_timeout(), None);
}

#[test]
fn over_tcp_the_2xx_is_not_retransmitted() {
    let mut h = Harness::new(TransportKind::Tcp);
    assert_eq!(status(&h.drain()), 200);
    assert_eq!(h.leg.poll_timeout(), None);
}

#[test]
fn a_hang_up_before_the_ack_waits_for_it() {
    let mut h = Harness::udp();
    h.drain();
    assert!(h.handle(UasEvent::HangUp).is_empty());
    let actions = h.handle(UasEvent::Ack);
    assert_eq!(actions[0], UasAction::Ending);
    let bye = sent(&actions);
    assert_eq!(bye.len(), 1);
    assert_eq!(bye[0].0, Method::Bye);
    let bye = bye[0].1.clone();
    // The caller answers the BYE: nothing is left.
    let actions = h.handle(UasEvent::Response(answer_to(&bye, 200)));
    assert_eq!(actions, [UasAction::Closed]);
    assert!(h.leg.is_closed());
}

#[test]
fn a_hang_up_before_an_ack_that_never_comes_byes_after_64_t1() {
    let mut h = Harness::new(TransportKind::Tcp);
    h.drain();
    h.handle(UasEvent::HangUp);
    assert_eq!(h.leg.poll_timeout(), Some(h.t0 + T1 * 64));
    let actions = h.fire();
    assert_eq!(sent(&actions)[0].0, Method::Bye);
}

#[test]
fn a_hang_up_after_the_ack_byes_at_once_and_only_once() {
    let mut h = Harness::acked();
    let actions = h.handle(UasEvent::HangUp);
    assert_eq!(sent(&actions)[0].0, Method::Bye);
    assert!(h.handle(UasEvent::HangUp).is_empty());
    // A failed BYE (Timer F) closes the leg too.
    assert_eq!(
        h.handle(UasEvent::RequestFailed {
            method: Method::Bye
        }),
        [UasAction::Closed]
    );
}

#[test]
fn the_callers_bye_is_answered_and_ends_the_dialog() {
    let mut h = Harness::acked();
    let (_, actions) = h.request(in_dialog("BYE", 2, "", "", ""));
    assert_eq!(status(&actions), 200);
    assert_eq!(actions.last(), Some(&UasAction::HungUp));
    assert!(h.leg.is_closed());
    // Anything after it is outside any dialog.
    let (_, actions) = h.request(in_dialog("INFO", 3, "", "", ""));
    assert_eq!(status(&actions), 481);
}

#[test]
fn a_request_of_another_dialog_gets_481_and_an_old_cseq_500() {
    let mut h = Harness::acked();
    let other = parse(
        &in_dialog("INFO", 2, "", "", "")
            .to_string()
            .replace("tag=ours1", "tag=other"),
    );
    assert_eq!(status(&h.request(other).1), 481);
    assert_eq!(status(&h.request(in_dialog("INFO", 5, "", "", "")).1), 200);
    assert_eq!(status(&h.request(in_dialog("INFO", 4, "", "", "")).1), 500);
}

#[test]
fn a_changed_offer_is_handed_up_and_answered() {
    for method in ["INVITE", "UPDATE"] {
        let mut h = Harness::acked();
        let (_, actions) = h.request(in_dialog(method, 2, "", "application/sdp", OFFER_V2));
        let [UasAction::Offer { id, offer }] = &actions[..] else {
            panic!("an offer expected: {actions:?}");
        };
        assert_eq!(offer.origin.session_version, 2);
        let id = *id;
        // A second offer while the first is open: 491 (§14.2).
        let (_, actions) = h.request(in_dialog(method, 3, "", "application/sdp", OFFER_V2));
        assert_eq!(status(&actions), 491);
        let actions = h.handle(UasEvent::Answer {
            id,
            sdp: Some(ANSWER_V2.into()),
        });
        let answer = response(&actions);
        assert_eq!(answer.status_code.code(), 200);
        assert_eq!(answer.body, ANSWER_V2.as_bytes());
        assert!(header(&answer.headers, "Contact").is_some());
        assert_eq!(h.leg.local_sdp(), ANSWER_V2);
        assert_eq!(h.leg.remote_sdp(), OFFER_V2.as_bytes());
        // The same offer again is the same session: answered as before, not handed up.
        let (_, actions) = h.request(in_dialog(method, 4, "", "application/sdp", OFFER_V2));
        assert_eq!(response(&actions).body, ANSWER_V2.as_bytes());
    }
}

#[test]
fn an_offer_not_answerable_gets_488_and_a_lost_one_500() {
    let mut h = Harness::acked();
    let (_, actions) = h.request(in_dialog("INVITE", 2, "", "application/sdp", OFFER_V2));
    let [UasAction::Offer { id, .. }] = actions[..] else {
        panic!("an offer expected");
    };
    assert_eq!(status(&h.handle(UasEvent::Answer { id, sdp: None })), 488);
    assert_eq!(h.leg.local_sdp(), ANSWER);
    // An answer to an offer no longer open does nothing.
    assert!(h.handle(UasEvent::Answer { id, sdp: None }).is_empty());
    let (_, actions) = h.request(in_dialog("INVITE", 3, "", "application/sdp", OFFER_V2));
    let [UasAction::Offer { id, .. }] = actions[..] else {
        panic!("an offer expected");
    };
    assert_eq!(status(&h.handle(UasEvent::OfferLost { id })), 500);
}

#[test]
fn offerless_refreshes_get_our_sdp_for_invite_and_nothing_for_update() {
    let mut h = Harness::acked();
    let (_, actions) = h.request(in_dialog("INVITE", 2, "", "", ""));
    assert_eq!(response(&actions).body, ANSWER.as_bytes());
    let (_, actions) = h.request(in_dialog("UPDATE", 3, "", "", ""));
    assert_eq!(status(&actions), 200);
    assert!(response(&actions).body.is_empty());
}

#[test]
fn bad_sdp_in_an_offer_is_refused_and_the_session_stays() {
    let mut h = Harness::acked();
    let (_, actions) = h.request(in_dialog("INVITE", 2, "", "application/sdp", "garbage"));
    let code = status(&actions);
    assert!(code == 400 || code == 488, "{code}");
    assert_eq!(h.leg.local_sdp(), ANSWER);
}

#[test]
fn a_session_refresh_is_echoed_and_arms_the_expiry() {
    let mut h = Harness::acked();
    let (_, actions) = h.request(in_dialog(
        "UPDATE",
        2,
        "Session-Expires: 90\r\nSupported: timer\r\n",
        "",
        "",
    ));
    let answer = response(&actions);
    assert_eq!(
        header(&answer.headers, "Session-Expires").as_deref(),
        Some("90;refresher=uac")
    );
    // RFC 4028 §10: 90 s less a third.
    assert_eq!(h.leg.poll_timeout(), Some(h.now + Duration::from_secs(60)));
    // A refresh in time moves the expiry.
    h.now += Duration::from_secs(50);
    h.request(in_dialog("UPDATE", 3, "Session-Expires: 90\r\n", "", ""));
    assert_eq!(h.leg.poll_timeout(), Some(h.now + Duration::from_secs(60)));
    // None in time: BYE.
    let actions = h.fire();
    assert_eq!(actions[0], UasAction::Ending);
    assert_eq!(sent(&actions)[0].0, Method::Bye);
}

#[test]
fn too_small_a_session_interval_gets_422_with_min_se() {
    let mut h = Harness::acked();
    let (_, actions) = h.request(in_dialog(
        "INVITE",
        2,
        "Session-Expires: 30\r\nSupported: timer\r\n",
        "",
        "",
    ));
    let answer = response(&actions);
    assert_eq!(answer.status_code.code(), 422);
    assert_eq!(header(&answer.headers, "Min-SE").as_deref(), Some("90"));
    assert_eq!(h.leg.poll_timeout(), None);
}

#[test]
fn info_key_presses_become_digits() {
    let mut h = Harness::acked();
    let (_, actions) = h.request(in_dialog(
        "INFO",
        2,
        "",
        "application/dtmf-relay",
        "Signal=5\r\nDuration=160\r\n",
    ));
    assert_eq!(status(&actions), 200);
    assert_eq!(actions.last(), Some(&UasAction::Digit(Digit::Five)));
    // An empty INFO is a keep-alive.
    assert_eq!(h.request(in_dialog("INFO", 3, "", "", "")).1.len(), 1);
    // Another type: 415 with Accept; no key: 400.
    let (_, actions) = h.request(in_dialog("INFO", 4, "", "text/plain", "hello"));
    assert_eq!(status(&actions), 415);
    assert!(header(&response(&actions).headers, "Accept").is_some());
    let (_, actions) = h.request(in_dialog("INFO", 5, "", "application/dtmf-relay", "x=y"));
    assert_eq!(status(&actions), 400);
}

#[test]
fn the_callers_refer_is_handed_up_and_answered_as_told() {
    let mut h = Harness::acked();
    let refer = in_dialog("REFER", 2, "Refer-To: <sip:100@192.0.2.1>\r\n", "", "");
    let (transaction, actions) = h.request(refer.clone());
    assert_eq!(
        actions,
        [UasAction::Refer {
            transaction,
            request: Box::new(refer.clone()),
        }]
    );
    let actions = h.handle(UasEvent::Reply {
        transaction,
        request: Box::new(refer),
        code: 501,
    });
    assert_eq!(status(&actions), 501);
}

#[test]
fn unknown_methods_get_501_and_notify_200() {
    let mut h = Harness::acked();
    assert_eq!(
        status(&h.request(in_dialog("MESSAGE", 2, "", "", "")).1),
        501
    );
    assert_eq!(
        status(&h.request(in_dialog("NOTIFY", 3, "", "", "")).1),
        200
    );
}

#[test]
fn our_refer_names_the_target_and_its_answer_is_reported() {
    let mut h = Harness::acked();
    let actions = h.handle(UasEvent::Refer {
        refer_to: "sip:100@192.0.2.1".into(),
    });
    let [(Method::Refer, refer)] = &sent(&actions)[..] else {
        panic!("a REFER expected: {actions:?}");
    };
    let refer = (*refer).clone();
    assert_eq!(
        header(&refer.headers, "Refer-To").as_deref(),
        Some("<sip:100@192.0.2.1>")
    );
    assert!(header(&refer.headers, "Referred-By").is_some());
    // A second one while it is under way is not sent.
    assert!(h
        .handle(UasEvent::Refer {
            refer_to: "sip:200@192.0.2.1".into()
        })
        .is_empty());
    assert_eq!(
        h.handle(UasEvent::Response(answer_to(&refer, 202))),
        [UasAction::ReferAnswered { accepted: true }]
    );
    // Refused or unanswered REFERs are reported too.
    let mut h = Harness::acked();
    h.handle(UasEvent::Refer {
        refer_to: "sip:100@192.0.2.1".into(),
    });
    assert_eq!(
        h.handle(UasEvent::RequestFailed {
            method: Method::Refer
        }),
        [UasAction::ReferAnswered { accepted: false }]
    );
}

#[test]
fn our_reinvite_offers_and_acks_the_callers_2xx() {
    let mut h = Harness::acked();
    let actions = h.handle(UasEvent::Reinvite {
        sdp: ANSWER_V2.into(),
    });
    let [(Method::Invite, invite)] = &sent(&actions)[..] else {
        panic!("a re-INVITE expected: {actions:?}");
    };
    let invite = (*invite).clone();
    assert_eq!(invite.body, ANSWER_V2.as_bytes());
    assert_eq!(h.leg.local_sdp(), ANSWER_V2);
    let actions = h.handle(UasEvent::Response(answer_to(&invite, 200)));
    let [UasAction::SendAck { request: ack, .. }, UasAction::ReinviteAnswered { accepted: true }] =
        &actions[..]
    else {
        panic!("ACK and the report expected: {actions:?}");
    };
    assert_eq!(
        crate::sip::dialog::cseq_number(&ack.headers).ok(),
        crate::sip::dialog::cseq_number(&invite.headers).ok()
    );
    // A refusal is reported without an ACK (the transaction layer ACKs non-2xx, §17.1.1.3).
    h.handle(UasEvent::Reinvite {
        sdp: ANSWER_V2.into(),
    });
    assert_eq!(
        h.handle(UasEvent::RequestFailed {
            method: Method::Invite
        }),
        [UasAction::ReinviteAnswered { accepted: false }]
    );
}

#[test]
fn garbage_never_panics() {
    let mut h = Harness::acked();
    // Responses to nothing, for methods we never sent, provisional ones.
    let stray = answer_to(&in_dialog("OPTIONS", 9, "", "", ""), 200);
    assert!(h.handle(UasEvent::Response(stray)).is_empty());
    let ringing = answer_to(&in_dialog("INVITE", 9, "", "", ""), 180);
    assert!(h.handle(UasEvent::Response(ringing)).is_empty());
    assert!(h
        .handle(UasEvent::RequestFailed {
            method: Method::Invite
        })
        .is_empty());
    assert!(h.handle(UasEvent::OfferLost { id: 99 }).is_empty());
    // A request without CSeq or tags; garbage bodies of every kind.
    let mut bare = in_dialog("INFO", 2, "", "application/dtmf", "\u{0}\u{1}");
    bare.headers.retain(|h| !matches!(h, rsip::Header::CSeq(_)));
    let _ = h.request(bare);
    let _ = h.request(in_dialog("UPDATE", 3, "Session-Expires: x;;=\r\n", "", ""));
    let _ = h.request(in_dialog(
        "INVITE",
        4,
        "",
        "application/sdp",
        "v=0\r\no=\r\n",
    ));
    // Timers fired at odd times.
    h.leg.handle_timeout(h.t0);
    h.leg.handle_timeout(h.t0 + Duration::from_secs(100_000));
    h.drain();
}

#[test]
fn the_2xx_we_make_copies_record_route_and_names_our_contact() {
    let text = invite().to_string().replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRecord-Route: <sip:proxy.example;lr>\r\n",
    );
    let invite = parse(&text);
    let ok = ok_with_sdp(&config(), &invite, "ours1", ANSWER.as_bytes().to_vec());
    assert_eq!(ok.status_code.code(), 200);
    let record_route = ok.headers.iter().find_map(|h| match h {
        rsip::Header::RecordRoute(r) => Some(r.to_string()),
        _ => None,
    });
    assert!(record_route.is_some_and(|r| r.contains("<sip:proxy.example;lr>")));
    assert_eq!(
        header(&ok.headers, "Contact").as_deref(),
        Some("<sip:onestatus@192.0.2.1:5060>")
    );
    assert!(header(&ok.headers, "To").is_some_and(|to| to.contains("tag=ours1")));
    assert_eq!(ok.body, ANSWER.as_bytes());
}

#[test]
fn the_callers_bye_while_ours_waits_for_the_ack_ends_it_without_ours() {
    let mut h = Harness::udp();
    h.drain();
    h.handle(UasEvent::HangUp);
    let (_, actions) = h.request(in_dialog("BYE", 2, "", "", ""));
    assert_eq!(status(&actions), 200);
    assert_eq!(actions.last(), Some(&UasAction::HungUp));
    // No timer is left to send a BYE of ours, nor a 2xx.
    assert_eq!(h.leg.poll_timeout(), None);
    assert!(h.handle(UasEvent::Ack).is_empty());
}

/// The B2BUA's leg: what the leg answers itself and what it hands up in relay mode.
fn relaying() -> Harness {
    let mut h = Harness::udp();
    h.leg = h.leg.clone().relaying();
    h.drain();
    h.handle(UasEvent::Ack);
    h
}

#[test]
fn in_relay_mode_requests_but_bye_are_handed_up_unanswered() {
    let mut h = relaying();
    for (cseq, method) in [(2, "INVITE"), (3, "UPDATE"), (4, "INFO"), (5, "NOTIFY")] {
        let request = in_dialog(method, cseq, "", "application/sdp", OFFER_V2);
        let (transaction, actions) = h.request(request.clone());
        assert_eq!(
            actions,
            [UasAction::Request {
                transaction,
                request: Box::new(request)
            }],
            "{method}"
        );
    }
    // CSeq order is still the leg's (§12.2.2).
    assert_eq!(status(&h.request(in_dialog("INFO", 4, "", "", "")).1), 500);
    // The caller's BYE is answered here.
    let (_, actions) = h.request(in_dialog("BYE", 6, "", "", ""));
    assert_eq!(status(&actions), 200);
    assert_eq!(actions.last(), Some(&UasAction::HungUp));
}

#[test]
fn in_relay_mode_the_owner_keeps_the_session_timer() {
    let mut h = Harness::udp();
    let mut answer = h.drain();
    let UasAction::SendAnswer(response) = answer.remove(0) else {
        panic!("the 2xx first");
    };
    let mut response = response;
    response.headers.push(rsip::Header::Other(
        "Session-Expires".into(),
        "1800;refresher=uac".into(),
    ));
    let leg = UasLeg::new(
        h.t0,
        config(),
        Answered {
            invite: invite(),
            local_tag: "ours1".into(),
            source: "192.0.2.10:5060".parse().unwrap(),
            transport: TransportKind::Tcp,
            answer: response,
        },
    )
    .unwrap();
    assert!(leg.poll_timeout().is_some(), "the IVR's leg arms it");
    assert_eq!(leg.relaying().poll_timeout(), None);
}

#[test]
fn an_immediate_hang_up_byes_before_the_ack() {
    let mut h = Harness::udp();
    h.drain();
    let actions = h.handle(UasEvent::HangUpNow);
    assert_eq!(actions[0], UasAction::Ending);
    assert_eq!(sent(&actions)[0].0, Method::Bye);
    assert!(h.leg.bye_pending());
    assert_eq!(h.leg.poll_timeout(), None, "no more 2xx retransmission");
    assert!(h.handle(UasEvent::Ack).is_empty());
    assert_eq!(
        h.handle(UasEvent::RequestFailed {
            method: Method::Bye
        }),
        [UasAction::Closed]
    );
    assert!(!h.leg.bye_pending());
}

#[test]
fn an_adopted_dialog_is_acked_and_byes_at_once() {
    let invite = invite();
    let dialog = Dialog::from_uas(&invite, "ours1").unwrap();
    let mut leg = UasLeg::adopted(
        config(),
        dialog,
        "192.0.2.30:5062".parse().unwrap(),
        TransportKind::Udp,
    );
    assert!(leg.is_acked());
    assert_eq!(leg.poll_timeout(), None);
    assert_eq!(leg.poll_action(), None, "no 2xx of ours to send");
    // Our CSeq in it goes on from where its previous holder left it.
    leg.dialog_mut().local_cseq = Some(7);
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    leg.handle(now, UasEvent::HangUp);
    assert_eq!(leg.poll_action(), Some(UasAction::Ending));
    let Some(UasAction::SendRequest {
        request,
        destination,
        ..
    }) = leg.poll_action()
    else {
        panic!("a BYE");
    };
    assert_eq!(request.method, Method::Bye);
    assert_eq!(destination, "192.0.2.30:5062".parse().unwrap());
    assert!(request.to_string().contains("CSeq: 8 BYE"), "{request}");
}
