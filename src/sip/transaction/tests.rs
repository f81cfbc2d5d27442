//! Virtual-time tests of the §17 machines through the [`TransactionLayer`]: one test per timer
//! (A, B, D, E, F, G, H, I, J, K, L, M) and per transition. Time is an `Instant` advanced by
//! hand to the layer's own `poll_timeout()`; there is no sleep and no socket. Messages are
//! parsed from text with `rsip`, as they would arrive off the wire.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response, SipMessage};

use super::key::{ClientKey, ServerKey};
use super::*;

const ALICE: &str = "192.0.2.10:5060";
const BOB: &str = "198.51.100.20:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// The origin of virtual time. Only its differences matter.
fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    // Tests need one real Instant as the origin; everything after is added by hand.
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request(method: &str, branch: Option<&str>, to_tag: Option<&str>) -> Request {
    let via_branch = branch.map(|b| format!(";branch={b}")).unwrap_or_default();
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let text = format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP pc33.atlanta.example.com:5060{via_branch}\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy.example.com;lr>\r\n\
         To: Bob <sip:bob@biloxi.example.com>{to_tag}\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
         CSeq: 314159 {method}\r\n\
         Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match SipMessage::try_from(text.as_str()).expect("test request parses") {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("not a request"),
    }
}

fn invite(branch: &str) -> Request {
    request("INVITE", Some(branch), None)
}

fn response(code: u16, branch: &str, method: &str, to_tag: Option<&str>) -> Response {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let text = format!(
        "SIP/2.0 {code} Whatever\r\n\
         Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch={branch}\r\n\
         To: Bob <sip:bob@biloxi.example.com>{to_tag}\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
         CSeq: 314159 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match SipMessage::try_from(text.as_str()).expect("test response parses") {
        SipMessage::Response(r) => r,
        SipMessage::Request(_) => panic!("not a response"),
    }
}

/// Builds a response the way a TU would, from the request it answers.
fn answer(request: &Request, code: u16, tag: &str) -> Response {
    fields::response_to(request, code, Some(tag))
}

/// A layer plus a virtual clock.
struct Harness {
    layer: TransactionLayer,
    start: Instant,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with(LayerConfig::default())
    }

    fn with(config: LayerConfig) -> Self {
        let start = t0();
        Self {
            layer: TransactionLayer::new(config),
            start,
            now: start,
        }
    }

    /// Time since the start, for assertions.
    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn set(&mut self, since_start: Duration) {
        self.now = self.start + since_start;
        self.layer.handle_timeout(self.now);
    }

    /// Jumps to the next deadline and fires it; returns false when there is none.
    fn step(&mut self) -> bool {
        match self.layer.poll_timeout() {
            Some(at) => {
                assert!(at >= self.now, "deadline in the past");
                self.now = at;
                self.layer.handle_timeout(at);
                true
            }
            None => false,
        }
    }

    fn receive(&mut self, message: impl Into<SipMessage>, from: &str, transport: TransportKind) {
        self.layer
            .handle_message(self.now, message.into(), addr(from), transport)
            .expect("message accepted");
    }

    fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.layer.poll_transmit()).collect()
    }

    fn events(&mut self) -> Vec<TuEvent> {
        std::iter::from_fn(|| self.layer.poll_event()).collect()
    }

    /// Receives a new request and returns the server transaction the TU is told about.
    fn incoming(&mut self, request: Request, transport: TransportKind) -> TransactionId {
        self.receive(request, ALICE, transport);
        match self.events().as_slice() {
            [TuEvent::Request { transaction, .. }] => *transaction,
            other => panic!("expected one Request event, got {other:?}"),
        }
    }
}

fn as_request(t: &Transmit) -> &Request {
    match &t.message {
        SipMessage::Request(r) => r,
        SipMessage::Response(r) => panic!("expected a request, got {r}"),
    }
}

fn as_response(t: &Transmit) -> &Response {
    match &t.message {
        SipMessage::Response(r) => r,
        SipMessage::Request(r) => panic!("expected a response, got {r}"),
    }
}

fn code(t: &Transmit) -> u16 {
    fields::status(as_response(t))
}

fn header_value(headers: &rsip::Headers, name: &str) -> Option<String> {
    headers.iter().find_map(|h| {
        let text = h.to_string();
        let (n, v) = text.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn terminated(events: &[TuEvent], id: TransactionId) -> bool {
    events
        .iter()
        .any(|e| matches!(e, TuEvent::Terminated { transaction } if *transaction == id))
}

// ---- INVITE client (§17.1.1, RFC 6026) --------------------------------------------------

#[test]
fn timer_a_doubles_from_t1_and_timer_b_times_out_at_64_t1() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKa1"), addr(BOB), TransportKind::Udp)
        .unwrap();
    assert_eq!(h.transmits().len(), 1, "the INVITE is sent at once");
    let mut sent_at = Vec::new();
    while h.step() {
        for t in h.transmits() {
            assert_eq!(as_request(&t).method, Method::Invite);
            assert_eq!(t.destination, addr(BOB));
            sent_at.push(h.elapsed());
        }
        if h.layer.state_name(id).is_none() {
            break;
        }
    }
    // Timer A: T1, 2·T1, 4·T1 ... → retransmissions at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    let expected: Vec<Duration> = [500, 1500, 3500, 7500, 15500, 31500].map(ms).to_vec();
    assert_eq!(sent_at, expected);
    // Timer B: 64·T1 = 32 s.
    assert_eq!(h.elapsed(), Duration::from_secs(32));
    let events = h.events();
    assert!(events.contains(&TuEvent::Timeout {
        transaction: id,
        timer: Timer::B
    }));
    assert!(terminated(&events, id));
    assert!(h.layer.is_empty());
}

#[test]
fn invite_over_tcp_is_not_retransmitted_and_still_times_out_by_timer_b() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKtcp"), addr(BOB), TransportKind::Tcp)
        .unwrap();
    assert_eq!(h.transmits().len(), 1);
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.start + Duration::from_secs(32))
    );
    assert!(h.step());
    assert!(
        h.transmits().is_empty(),
        "no Timer A on a reliable transport"
    );
    assert!(h.events().contains(&TuEvent::Timeout {
        transaction: id,
        timer: Timer::B
    }));
}

#[test]
fn provisional_stops_timer_a_and_moves_to_proceeding() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKp1"), addr(BOB), TransportKind::Udp)
        .unwrap();
    h.transmits();
    h.set(ms(100));
    h.receive(
        response(180, "z9hG4bKp1", "INVITE", Some("b1")),
        BOB,
        TransportKind::Udp,
    );
    assert_eq!(h.layer.state_name(id), Some("Proceeding"));
    assert_eq!(h.layer.poll_timeout(), None, "Proceeding runs no timer");
    h.set(Duration::from_secs(60));
    assert!(h.transmits().is_empty());
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [TuEvent::Response { transaction, response }]
        if *transaction == id && fields::status(response) == 180)
    );
}

#[test]
fn non_2xx_final_is_acked_per_17_1_1_3_and_retransmissions_are_re_acked() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKf1"), addr(BOB), TransportKind::Udp)
        .unwrap();
    h.transmits();
    h.receive(
        response(486, "z9hG4bKf1", "INVITE", Some("callee")),
        BOB,
        TransportKind::Udp,
    );
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    let ack = as_request(&sent[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri.to_string(), "sip:bob@biloxi.example.com");
    let via = fields::top_via(&ack.headers).unwrap();
    assert_eq!(
        fields::branch(&via).as_deref(),
        Some("z9hG4bKf1"),
        "same branch"
    );
    assert_eq!(fields::cseq(&ack.headers).unwrap(), (314159, Method::Ack));
    assert_eq!(
        fields::to_tag(&ack.headers).unwrap().as_deref(),
        Some("callee")
    );
    assert_eq!(
        fields::from_tag(&ack.headers).unwrap().as_deref(),
        Some("1928301774")
    );
    assert_eq!(
        fields::call_id(&ack.headers).unwrap(),
        "a84b4c76e66710@pc33.atlanta.example.com"
    );
    assert_eq!(
        header_value(&ack.headers, "Route").as_deref(),
        Some("<sip:proxy.example.com;lr>")
    );
    assert_eq!(h.layer.state_name(id), Some("Completed"));
    assert_eq!(h.events().len(), 1, "the 486 is passed up once");

    // A retransmitted 486 is answered with the same ACK and not passed up.
    h.set(ms(1000));
    h.receive(
        response(486, "z9hG4bKf1", "INVITE", Some("callee")),
        BOB,
        TransportKind::Udp,
    );
    let again = h.transmits();
    assert_eq!(again.len(), 1);
    assert_eq!(as_request(&again[0]), ack);
    assert!(h.events().is_empty());
}

#[test]
fn timer_d_is_32_s_on_udp() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKd1"), addr(BOB), TransportKind::Udp)
        .unwrap();
    h.set(ms(200));
    h.receive(
        response(603, "z9hG4bKd1", "INVITE", Some("x")),
        BOB,
        TransportKind::Udp,
    );
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.start + ms(200) + Duration::from_secs(32))
    );
    h.set(ms(200) + Duration::from_secs(32) - ms(1));
    assert_eq!(h.layer.state_name(id), Some("Completed"));
    assert!(h.step());
    assert!(terminated(&h.events(), id));
}

#[test]
fn timer_d_is_zero_on_tcp() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKd2"), addr(BOB), TransportKind::Tcp)
        .unwrap();
    h.transmits();
    h.receive(
        response(404, "z9hG4bKd2", "INVITE", Some("x")),
        BOB,
        TransportKind::Tcp,
    );
    let sent = h.transmits();
    assert_eq!(
        as_request(&sent[0]).method,
        Method::Ack,
        "ACK even over TCP"
    );
    assert!(terminated(&h.events(), id));
    assert_eq!(h.layer.state_name(id), None);
}

#[test]
fn two_xx_moves_to_accepted_passes_every_2xx_up_and_timer_m_ends_it() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKm1"), addr(BOB), TransportKind::Udp)
        .unwrap();
    h.transmits();
    h.receive(
        response(200, "z9hG4bKm1", "INVITE", Some("fork1")),
        BOB,
        TransportKind::Udp,
    );
    assert_eq!(h.layer.state_name(id), Some("Accepted"));
    assert!(h.transmits().is_empty(), "the ACK for a 2xx is the TU's");
    // Retransmission and a second fork: both passed up (RFC 6026 §8.4).
    h.set(ms(500));
    h.receive(
        response(200, "z9hG4bKm1", "INVITE", Some("fork1")),
        BOB,
        TransportKind::Udp,
    );
    h.receive(
        response(200, "z9hG4bKm1", "INVITE", Some("fork2")),
        BOB,
        TransportKind::Udp,
    );
    // A late non-2xx is ignored in Accepted.
    h.receive(
        response(486, "z9hG4bKm1", "INVITE", Some("fork3")),
        BOB,
        TransportKind::Udp,
    );
    let events = h.events();
    let codes: Vec<u16> = events
        .iter()
        .filter_map(|e| match e {
            TuEvent::Response { response, .. } => Some(fields::status(response)),
            _ => None,
        })
        .collect();
    assert_eq!(codes, vec![200, 200, 200]);
    // Timer M: 64·T1 after the first 2xx.
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.start + Duration::from_secs(32))
    );
    assert!(h.step());
    assert!(terminated(&h.events(), id));
    // After Timer M a 2xx is stray (the B2BUA must still ACK it).
    h.receive(
        response(200, "z9hG4bKm1", "INVITE", Some("fork1")),
        BOB,
        TransportKind::Udp,
    );
    assert!(matches!(
        h.events().as_slice(),
        [TuEvent::StrayResponse { .. }]
    ));
}

#[test]
fn cancel_waits_for_a_provisional_then_matches_the_invite_branch() {
    let mut h = Harness::new();
    let invite_id = h
        .layer
        .send_request(h.now, invite("z9hG4bKc1"), addr(BOB), TransportKind::Udp)
        .unwrap();
    h.transmits();
    let cancel_id = h.layer.cancel(h.now, invite_id).unwrap();
    assert!(
        h.transmits().is_empty(),
        "§9.1: no CANCEL before a provisional"
    );
    h.receive(
        response(180, "z9hG4bKc1", "INVITE", Some("b")),
        BOB,
        TransportKind::Udp,
    );
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    let cancel = as_request(&sent[0]);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(
        fields::cseq(&cancel.headers).unwrap(),
        (314159, Method::Cancel)
    );
    let via = fields::top_via(&cancel.headers).unwrap();
    assert_eq!(fields::branch(&via).as_deref(), Some("z9hG4bKc1"));
    h.events();
    // The 200 to the CANCEL and the 487 to the INVITE share the branch; CSeq method tells
    // them apart (§17.1.3).
    h.receive(
        response(200, "z9hG4bKc1", "CANCEL", Some("b")),
        BOB,
        TransportKind::Udp,
    );
    h.receive(
        response(487, "z9hG4bKc1", "INVITE", Some("b")),
        BOB,
        TransportKind::Udp,
    );
    let events = h.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, TuEvent::Response { transaction, response }
        if *transaction == cancel_id && fields::status(response) == 200)));
    assert!(events
        .iter()
        .any(|e| matches!(e, TuEvent::Response { transaction, response }
        if *transaction == invite_id && fields::status(response) == 487)));
    assert_eq!(as_request(&h.transmits()[0]).method, Method::Ack);
}

// ---- non-INVITE client (§17.1.2) --------------------------------------------------------

#[test]
fn timer_e_doubles_capped_at_t2_and_timer_f_times_out() {
    let mut h = Harness::new();
    let options = request("OPTIONS", Some("z9hG4bKe1"), None);
    let id = h
        .layer
        .send_request(h.now, options, addr(BOB), TransportKind::Udp)
        .unwrap();
    h.transmits();
    let mut sent_at = Vec::new();
    while h.step() {
        if !h.transmits().is_empty() {
            sent_at.push(h.elapsed());
        }
    }
    // 0.5, then +1, +2, +4 (T2 cap), +4, ... until Timer F at 32 s.
    let expected: Vec<Duration> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .map(ms)
    .to_vec();
    assert_eq!(sent_at, expected);
    assert_eq!(h.elapsed(), Duration::from_secs(32), "Timer F = 64·T1");
    let events = h.events();
    assert!(events.contains(&TuEvent::Timeout {
        transaction: id,
        timer: Timer::F
    }));
    assert!(terminated(&events, id));
}

#[test]
fn timer_e_fires_every_t2_in_proceeding() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(
            h.now,
            request("BYE", Some("z9hG4bKe2"), Some("b")),
            addr(BOB),
            TransportKind::Udp,
        )
        .unwrap();
    h.transmits();
    h.set(ms(100));
    h.receive(
        response(100, "z9hG4bKe2", "BYE", Some("b")),
        BOB,
        TransportKind::Udp,
    );
    assert_eq!(h.layer.state_name(id), Some("Proceeding"));
    assert!(h.step());
    assert_eq!(h.elapsed(), ms(500), "the running Timer E is kept");
    assert_eq!(h.transmits().len(), 1);
    assert!(h.step());
    assert_eq!(h.elapsed(), ms(4500), "then reset to T2");
    assert_eq!(h.transmits().len(), 1);
}

#[test]
fn final_response_completes_and_timer_k_absorbs_retransmissions() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(
            h.now,
            request("OPTIONS", Some("z9hG4bKk1"), None),
            addr(BOB),
            TransportKind::Udp,
        )
        .unwrap();
    h.transmits();
    h.set(ms(50));
    h.receive(
        response(200, "z9hG4bKk1", "OPTIONS", Some("b")),
        BOB,
        TransportKind::Udp,
    );
    assert_eq!(h.layer.state_name(id), Some("Completed"));
    assert_eq!(h.events().len(), 1);
    h.receive(
        response(200, "z9hG4bKk1", "OPTIONS", Some("b")),
        BOB,
        TransportKind::Udp,
    );
    assert!(
        h.events().is_empty(),
        "retransmitted final response absorbed"
    );
    // Timer K = T4 = 5 s; no request retransmission in Completed.
    assert_eq!(h.layer.poll_timeout(), Some(h.start + ms(5050)));
    assert!(h.step());
    assert!(h.transmits().is_empty());
    assert!(terminated(&h.events(), id));
}

#[test]
fn timer_k_is_zero_on_tcp() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(
            h.now,
            request("OPTIONS", Some("z9hG4bKk2"), None),
            addr(BOB),
            TransportKind::Tcp,
        )
        .unwrap();
    h.receive(
        response(200, "z9hG4bKk2", "OPTIONS", Some("b")),
        BOB,
        TransportKind::Tcp,
    );
    assert!(terminated(&h.events(), id));
    assert!(h.layer.is_empty());
}

// ---- INVITE server (§17.2.1, RFC 6026) --------------------------------------------------

#[test]
fn new_invite_is_delivered_once_with_immediate_100_and_retransmissions_resend_last_1xx() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs1");
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(code(&sent[0]), 100);
    assert_eq!(
        sent[0].destination,
        addr(ALICE),
        "responses go back to the source"
    );
    assert_eq!(
        fields::to_tag(&as_response(&sent[0]).headers).unwrap(),
        None
    );

    h.set(ms(500));
    h.receive(inv.clone(), ALICE, TransportKind::Udp);
    assert!(
        h.events().is_empty(),
        "retransmitted INVITE is not a new call"
    );
    assert_eq!(code(&h.transmits()[0]), 100);

    h.layer
        .respond(h.now, id, answer(&inv, 180, "uas"))
        .unwrap();
    assert_eq!(code(&h.transmits()[0]), 180);
    h.receive(inv, ALICE, TransportKind::Udp);
    assert_eq!(code(&h.transmits()[0]), 180, "the most recent provisional");
    assert!(h.events().is_empty());
}

#[test]
fn timer_g_doubles_capped_at_t2_until_timer_h() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKg1");
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    h.transmits();
    h.layer
        .respond(h.now, id, answer(&inv, 486, "uas"))
        .unwrap();
    assert_eq!(code(&h.transmits()[0]), 486);
    let mut sent_at = Vec::new();
    while h.step() {
        for t in h.transmits() {
            assert_eq!(code(&t), 486);
            sent_at.push(h.elapsed());
        }
    }
    let expected: Vec<Duration> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .map(ms)
    .to_vec();
    assert_eq!(sent_at, expected);
    assert_eq!(h.elapsed(), Duration::from_secs(32), "Timer H = 64·T1");
    let events = h.events();
    assert!(events.contains(&TuEvent::Timeout {
        transaction: id,
        timer: Timer::H
    }));
    assert!(terminated(&events, id));
}

#[test]
fn retransmitted_invite_in_completed_resends_the_final_response() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKg2");
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    h.layer
        .respond(h.now, id, answer(&inv, 480, "uas"))
        .unwrap();
    h.transmits();
    h.set(ms(100));
    h.receive(inv, ALICE, TransportKind::Udp);
    assert_eq!(code(&h.transmits()[0]), 480);
    assert!(h.events().is_empty());
}

#[test]
fn ack_confirms_stops_timer_g_and_timer_i_absorbs_ack_retransmissions() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKi1");
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    h.layer
        .respond(h.now, id, answer(&inv, 486, "uas"))
        .unwrap();
    h.transmits();
    h.set(ms(700)); // one G retransmission at 500 ms
    assert_eq!(h.transmits().len(), 1);
    let ack = request("ACK", Some("z9hG4bKi1"), Some("uas"));
    h.receive(ack.clone(), ALICE, TransportKind::Udp);
    assert_eq!(h.layer.state_name(id), Some("Confirmed"));
    h.receive(ack, ALICE, TransportKind::Udp);
    assert!(
        h.events().is_empty(),
        "ACKs of a non-2xx stay in the transaction"
    );
    // Timer I = T4 = 5 s, and no more Timer G.
    assert_eq!(h.layer.poll_timeout(), Some(h.start + ms(5700)));
    assert!(h.step());
    assert!(h.transmits().is_empty());
    assert!(terminated(&h.events(), id));
}

#[test]
fn timer_i_is_zero_on_tcp_and_no_timer_g() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKi2");
    let id = h.incoming(inv.clone(), TransportKind::Tcp);
    h.layer
        .respond(h.now, id, answer(&inv, 486, "uas"))
        .unwrap();
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.start + Duration::from_secs(32)),
        "only Timer H runs over TCP"
    );
    h.receive(
        request("ACK", Some("z9hG4bKi2"), Some("uas")),
        ALICE,
        TransportKind::Tcp,
    );
    assert!(terminated(&h.events(), id));
}

#[test]
fn two_xx_moves_server_to_accepted_and_timer_l_ends_it() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKl1");
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    h.transmits();
    let ok = answer(&inv, 200, "uas");
    h.layer.respond(h.now, id, ok.clone()).unwrap();
    assert_eq!(code(&h.transmits()[0]), 200);
    assert_eq!(h.layer.state_name(id), Some("Accepted"));
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.start + Duration::from_secs(32))
    );

    // Retransmitted INVITE: absorbed, neither answered nor delivered (RFC 6026 §8.7).
    h.set(ms(500));
    h.receive(inv, ALICE, TransportKind::Udp);
    assert!(h.transmits().is_empty());
    assert!(h.events().is_empty());
    // The TU retransmits its 2xx through the transaction.
    h.layer.respond(h.now, id, ok).unwrap();
    assert_eq!(code(&h.transmits()[0]), 200);
    // The ACK for the 2xx (a new branch) is a dialog-level event.
    h.receive(
        request("ACK", Some("z9hG4bKack2xx"), Some("uas")),
        ALICE,
        TransportKind::Udp,
    );
    assert!(matches!(h.events().as_slice(),
        [TuEvent::Ack { transaction: None, request, .. }] if request.method == Method::Ack));
    // A non-compliant ACK reusing the INVITE branch is passed up from Accepted too.
    h.receive(
        request("ACK", Some("z9hG4bKl1"), Some("uas")),
        ALICE,
        TransportKind::Udp,
    );
    assert!(matches!(h.events().as_slice(),
        [TuEvent::Ack { transaction: Some(t), .. }] if *t == id));
    // A non-2xx after the 2xx is refused.
    let err = h
        .layer
        .respond(h.now, id, response(486, "z9hG4bKl1", "INVITE", Some("uas")))
        .unwrap_err();
    assert_eq!(
        err,
        TransactionError::InvalidState {
            state: "Accepted",
            input: "respond"
        }
    );
    assert!(h.step());
    assert_eq!(h.elapsed(), Duration::from_secs(32));
    assert!(terminated(&h.events(), id));
}

// ---- non-INVITE server (§17.2.2) --------------------------------------------------------

#[test]
fn non_invite_server_absorbs_in_trying_resends_provisional_and_final_then_timer_j() {
    let mut h = Harness::new();
    let register = request("REGISTER", Some("z9hG4bKj1"), None);
    let id = h.incoming(register.clone(), TransportKind::Udp);
    assert!(h.transmits().is_empty(), "no automatic 100 for non-INVITE");
    h.receive(register.clone(), ALICE, TransportKind::Udp);
    assert!(h.transmits().is_empty(), "Trying discards retransmissions");
    assert!(h.events().is_empty());

    h.layer
        .respond(h.now, id, answer(&register, 100, "r"))
        .unwrap();
    h.transmits();
    h.receive(register.clone(), ALICE, TransportKind::Udp);
    assert_eq!(
        code(&h.transmits()[0]),
        100,
        "Proceeding resends the provisional"
    );

    h.set(ms(300));
    h.layer
        .respond(h.now, id, answer(&register, 200, "r"))
        .unwrap();
    assert_eq!(code(&h.transmits()[0]), 200);
    h.receive(register.clone(), ALICE, TransportKind::Udp);
    assert_eq!(code(&h.transmits()[0]), 200, "Completed resends the final");
    assert!(h.events().is_empty(), "never delivered twice");
    assert_eq!(
        h.layer.respond(h.now, id, answer(&register, 500, "r")),
        Err(TransactionError::InvalidState {
            state: "Completed",
            input: "respond"
        })
    );
    // Timer J = 64·T1 after the final response.
    assert_eq!(h.layer.poll_timeout(), Some(h.start + ms(32_300)));
    assert!(h.step());
    assert!(terminated(&h.events(), id));
}

#[test]
fn timer_j_is_zero_on_tcp() {
    let mut h = Harness::new();
    let bye = request("BYE", Some("z9hG4bKj2"), Some("uas"));
    let id = h.incoming(bye.clone(), TransportKind::Tcp);
    h.layer
        .respond(h.now, id, answer(&bye, 200, "uas"))
        .unwrap();
    assert_eq!(h.transmits().len(), 1);
    assert!(terminated(&h.events(), id));
    assert!(h.layer.is_empty());
}

// ---- CANCEL (§9.2) ----------------------------------------------------------------------

#[test]
fn cancel_matches_the_invite_is_answered_200_and_tu_told_once() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKx1");
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    h.layer
        .respond(h.now, id, answer(&inv, 180, "uas"))
        .unwrap();
    h.transmits();
    let cancel = request("CANCEL", Some("z9hG4bKx1"), None);
    h.receive(cancel.clone(), ALICE, TransportKind::Udp);
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    let ok = as_response(&sent[0]);
    assert_eq!(fields::status(ok), 200);
    assert_eq!(fields::cseq(&ok.headers).unwrap(), (314159, Method::Cancel));
    assert_eq!(
        fields::to_tag(&ok.headers).unwrap().as_deref(),
        Some("uas"),
        "§9.2: same To tag as the INVITE's response"
    );
    let events = h.events();
    assert!(
        matches!(events.as_slice(),
        [TuEvent::Cancelled { invite, .. }] if *invite == id),
        "{events:?}"
    );
    // A retransmitted CANCEL gets the 200 again, the TU hears nothing new.
    h.receive(cancel, ALICE, TransportKind::Udp);
    assert_eq!(code(&h.transmits()[0]), 200);
    assert!(h.events().is_empty());
    // The TU answers 487 on the INVITE.
    h.layer
        .respond(h.now, id, answer(&inv, 487, "uas"))
        .unwrap();
    assert_eq!(code(&h.transmits()[0]), 487);
}

#[test]
fn cancel_without_matching_invite_gets_481_and_after_final_no_event() {
    let mut h = Harness::new();
    h.receive(
        request("CANCEL", Some("z9hG4bKnothing"), None),
        ALICE,
        TransportKind::Udp,
    );
    assert_eq!(code(&h.transmits()[0]), 481);
    assert!(h.events().is_empty());

    let inv = invite("z9hG4bKx2");
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    h.layer
        .respond(h.now, id, answer(&inv, 486, "uas"))
        .unwrap();
    h.transmits();
    h.receive(
        request("CANCEL", Some("z9hG4bKx2"), None),
        ALICE,
        TransportKind::Udp,
    );
    assert_eq!(
        code(&h.transmits()[0]),
        200,
        "matched: answered 200 regardless"
    );
    assert!(h.events().is_empty(), "too late to cancel: TU not told");
}

// ---- RFC 2543 fallback (§17.2.3) --------------------------------------------------------

#[test]
fn rfc2543_requests_without_cookie_match_by_dialog_fields() {
    let mut h = Harness::new();
    let inv = request("INVITE", None, None);
    let id = h.incoming(inv.clone(), TransportKind::Udp);
    h.transmits();
    h.receive(inv.clone(), ALICE, TransportKind::Udp);
    assert!(
        h.events().is_empty(),
        "retransmission matched without a branch"
    );
    assert_eq!(code(&h.transmits()[0]), 100);
    h.layer
        .respond(h.now, id, answer(&inv, 486, "uas2543"))
        .unwrap();
    h.transmits();
    // An ACK with another To tag is not this transaction's.
    h.receive(
        request("ACK", None, Some("other")),
        ALICE,
        TransportKind::Udp,
    );
    assert!(matches!(
        h.events().as_slice(),
        [TuEvent::Ack {
            transaction: None,
            ..
        }]
    ));
    assert_eq!(h.layer.state_name(id), Some("Completed"));
    // The ACK carrying the tag of our response confirms it.
    h.receive(
        request("ACK", None, Some("uas2543")),
        ALICE,
        TransportKind::Udp,
    );
    assert_eq!(h.layer.state_name(id), Some("Confirmed"));
    assert!(h.events().is_empty());
    // A cookie-less branch is RFC 2543 too.
    let old = request("OPTIONS", Some("1234abcd"), None);
    let key = ServerKey::for_request(&old).unwrap();
    assert!(key.is_rfc2543());
}

// ---- layer bounds and errors ------------------------------------------------------------

#[test]
fn requests_beyond_max_transactions_get_a_stateless_503() {
    let mut h = Harness::with(LayerConfig {
        max_transactions: 2,
        ..LayerConfig::default()
    });
    h.incoming(
        request("OPTIONS", Some("z9hG4bKn1"), None),
        TransportKind::Udp,
    );
    h.incoming(
        request("OPTIONS", Some("z9hG4bKn2"), None),
        TransportKind::Udp,
    );
    h.receive(invite("z9hG4bKn3"), ALICE, TransportKind::Udp);
    assert!(h.events().is_empty(), "not delivered");
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(code(&sent[0]), 503);
    assert_eq!(sent[0].transaction, None, "stateless");
    assert_eq!(h.layer.len(), 2);
    // Our own requests are refused with an error.
    assert_eq!(
        h.layer
            .send_request(h.now, invite("z9hG4bKn4"), addr(BOB), TransportKind::Udp),
        Err(TransactionError::TooManyTransactions(2))
    );
}

#[test]
fn stray_responses_are_passed_up() {
    let mut h = Harness::new();
    h.receive(
        response(200, "z9hG4bKunknown", "INVITE", Some("t")),
        BOB,
        TransportKind::Udp,
    );
    assert!(matches!(h.events().as_slice(),
        [TuEvent::StrayResponse { response, source, .. }]
            if fields::status(response) == 200 && *source == addr(BOB)));
}

#[test]
fn tu_misuse_is_reported_with_exact_errors() {
    let mut h = Harness::new();
    let client = h
        .layer
        .send_request(h.now, invite("z9hG4bKu1"), addr(BOB), TransportKind::Udp)
        .unwrap();
    let resp = response(200, "z9hG4bKu1", "INVITE", Some("t"));
    assert_eq!(
        h.layer.respond(h.now, client, resp.clone()),
        Err(TransactionError::NotAServerTransaction(client))
    );
    assert_eq!(
        h.layer.respond(h.now, TransactionId(999), resp),
        Err(TransactionError::UnknownTransaction(TransactionId(999)))
    );
    assert_eq!(
        h.layer
            .send_request(h.now, invite("z9hG4bKu1"), addr(BOB), TransportKind::Udp),
        Err(TransactionError::DuplicateTransaction)
    );
    assert_eq!(
        h.layer.send_request(
            h.now,
            request("OPTIONS", None, None),
            addr(BOB),
            TransportKind::Udp
        ),
        Err(TransactionError::MissingBranch)
    );
    assert_eq!(
        h.layer.send_request(
            h.now,
            request("OPTIONS", Some("abc"), None),
            addr(BOB),
            TransportKind::Udp
        ),
        Err(TransactionError::BranchWithoutMagicCookie("abc".into()))
    );
    assert_eq!(
        h.layer.send_request(
            h.now,
            request("ACK", Some("z9hG4bKu2"), None),
            addr(BOB),
            TransportKind::Udp
        ),
        Err(TransactionError::AckIsNotATransaction)
    );
}

#[test]
fn transport_error_is_reported_and_terminates() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, invite("z9hG4bKt1"), addr(BOB), TransportKind::Tcp)
        .unwrap();
    let sent = h.transmits();
    assert_eq!(sent[0].transaction, Some(id));
    h.layer.handle_transport_error(h.now, id);
    let events = h.events();
    assert!(events.contains(&TuEvent::TransportError { transaction: id }));
    assert!(terminated(&events, id));
    assert!(h.layer.is_empty());
}

// ---- keys (§17.1.3, §17.2.3) ------------------------------------------------------------

#[test]
fn client_key_separates_cancel_from_invite_by_cseq_method() {
    let invite_key = ClientKey::from_response(&response(487, "z9hG4bKk", "INVITE", None));
    let cancel_key = ClientKey::from_response(&response(200, "z9hG4bKk", "CANCEL", None));
    assert_ne!(invite_key.unwrap(), cancel_key.unwrap());
}

#[test]
fn server_key_folds_ack_onto_invite_and_includes_sent_by() {
    let inv = ServerKey::for_request(&invite("z9hG4bKq")).unwrap();
    let ack = ServerKey::for_request(&request("ACK", Some("z9hG4bKq"), Some("t"))).unwrap();
    assert_eq!(inv, ack);
    let cancel = ServerKey::for_request(&request("CANCEL", Some("z9hG4bKq"), None)).unwrap();
    assert_ne!(inv, cancel);
    assert_eq!(cancel.cancelled_invite(), inv);
    // Same branch from another host is another transaction.
    let text = invite("z9hG4bKq")
        .to_string()
        .replace("pc33.atlanta.example.com:5060", "evil.example.net:5060");
    let SipMessage::Request(other) = SipMessage::try_from(text.as_str()).unwrap() else {
        panic!("request")
    };
    assert_ne!(ServerKey::for_request(&other).unwrap(), inv);
}

#[test]
fn missing_via_is_an_error_not_a_panic() {
    let text = "OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n\
                To: <sip:bob@biloxi.example.com>\r\n\
                From: <sip:alice@atlanta.example.com>;tag=1\r\n\
                Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let message = SipMessage::try_from(text).unwrap();
    let mut h = Harness::new();
    assert_eq!(
        h.layer
            .handle_message(h.now, message, addr(ALICE), TransportKind::Udp),
        Err(TransactionError::MissingHeader("Via"))
    );
    assert!(h.transmits().is_empty());
}

#[test]
fn held_back_cancel_is_dropped_when_the_invite_completes_first() {
    let mut h = Harness::new();
    let invite_id = h
        .layer
        .send_request(h.now, invite("z9hG4bKc2"), addr(BOB), TransportKind::Udp)
        .unwrap();
    h.transmits();
    let cancel_id = h.layer.cancel(h.now, invite_id).unwrap();
    h.receive(
        response(486, "z9hG4bKc2", "INVITE", Some("b")),
        BOB,
        TransportKind::Udp,
    );
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        as_request(&sent[0]).method,
        Method::Ack,
        "no CANCEL after a final"
    );
    assert!(terminated(&h.events(), cancel_id));
}

#[test]
fn machines_run_without_the_layer() {
    // The machines are usable on their own: inputs in, actions out.
    let now = t0();
    let mut out = Vec::new();
    let config = TimerConfig::default();
    let mut tx = ClientNonInvite::new(
        now,
        request("OPTIONS", Some("z9hG4bKm"), None),
        config,
        TransportKind::Udp,
        &mut out,
    );
    assert!(matches!(
        out.as_slice(),
        [Action::Transmit(SipMessage::Request(_))]
    ));
    out.clear();
    tx.handle(
        now + ms(500),
        ClientNonInviteInput::TimerFired(Timer::E),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert!(
        matches!(tx.state(), ClientNonInviteState::Trying { timer_e: Some(e), .. }
        if e.interval == ms(1000))
    );
    out.clear();
    // A timer of another state is stale and ignored.
    tx.handle(
        now + ms(600),
        ClientNonInviteInput::TimerFired(Timer::K),
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(tx.state().name(), "Trying");

    let inv = invite("z9hG4bKsrv");
    let mut server = ServerInvite::new(inv.clone(), config, TransportKind::Udp, &mut out);
    assert_eq!(out.len(), 1, "100 Trying");
    out.clear();
    server
        .respond(now, answer(&inv, 603, "u"), &mut out)
        .unwrap();
    assert!(matches!(
        server.state(),
        ServerInviteState::Completed { .. }
    ));
    assert_eq!(server.poll_timeout(), Some(now + ms(500)), "Timer G first");
}
