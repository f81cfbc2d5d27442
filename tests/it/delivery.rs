//! Written messages delivered and "send me a new PIN" by SMS (issue #18), against the real
//! binary: the real SMTP receiver (`support::smtp`) and a real HTTP server standing in for the
//! SMS gateway (`support::sms_gateway`). A message to a colleague, to a typed address and to a
//! typed mobile number arrives, its delivery state goes queued → sent; a gateway that fails is
//! retried on the configured schedule and a refusal ends as failed with the reason; the
//! toll-fraud policy and bad input are answered naming the field.
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::sms_gateway::SmsGateway;
use crate::support::smtp::{Relay, SmtpReceiver};
use crate::support::{http_json, TestServer};

/// The mail's text as a reader sees it: the body after the headers, base64 or
/// quoted-printable decoded.
fn mail_text(data: &str) -> String {
    use base64::Engine;
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .unwrap_or_default();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    if head.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        return String::from_utf8_lossy(&out).into_owned();
    }
    body.to_owned()
}

fn login_with(server: &TestServer, local: &str, pin: &str) -> (u16, Value) {
    http_json(
        server.http,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"local_number": local, "pin": pin})),
    )
}

fn login(server: &TestServer, local: &str) -> String {
    let (status, body) = login_with(server, local, "2580");
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

fn start(smtp: Option<u16>, gateway: Option<&str>, retry_first_secs: &str) -> TestServer {
    let relay = smtp.map(|p| format!("127.0.0.1:{p}"));
    let mut env = vec![
        ("ONESTATUS_DELIVERY_POLL_MS", "100"),
        ("ONESTATUS_DELIVERY_RETRY_FIRST_SECS", retry_first_secs),
        ("ONESTATUS_DELIVERY_RETRY_MAX_SECS", "5"),
        ("ONESTATUS_DELIVERY_MAX_ATTEMPTS", "3"),
    ];
    if let Some(relay) = &relay {
        env.push(("ONESTATUS_SMTP_RELAY", relay.as_str()));
    }
    if let Some(url) = gateway {
        env.push(("ONESTATUS_SMS_GATEWAY_URL", url));
    }
    TestServer::start_with(&["serve", "--demo"], &env)
}

/// The delivery `id` once its state is `want`, polling the API.
fn delivery_becomes(
    server: &TestServer,
    token: &str,
    id: i64,
    want: &str,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (status, d) = http_json(
            server.http,
            "GET",
            &format!("/api/v1/me/messages/sent/{id}"),
            Some(token),
            None,
        );
        assert_eq!(status, 200, "{d}");
        if d["state"] == want {
            return d;
        }
        last = d;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("delivery {id} never became {want}; last: {last}");
}

fn send(server: &TestServer, token: &str, message: Value) -> (u16, Value) {
    http_json(
        server.http,
        "POST",
        "/api/v1/me/messages",
        Some(token),
        Some(message),
    )
}

fn my_id(server: &TestServer, token: &str) -> i64 {
    http_json(server.http, "GET", "/api/v1/me", Some(token), None).1["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn written_messages_arrive_by_mail_and_sms_to_colleagues_and_typed_addresses() {
    let mails = SmtpReceiver::start(Relay::Accept);
    let gateway = SmsGateway::start(&[]);
    let server = start(Some(mails.port), Some(&gateway.url), "60");
    let hans = login(&server, "1000001");
    let karen = login(&server, "1000002");
    let karen_id = my_id(&server, &karen);
    let (status, body) = http_json(
        server.http,
        "PATCH",
        "/api/v1/me",
        Some(&karen),
        Some(json!({"email": "karen@demo.example", "mobile_number": "20 11 22 33"})),
    );
    assert!(status < 300, "{status} {body}");

    // To a colleague by e-mail: in her list, and in her mailbox.
    let (status, sent) = send(
        &server,
        &hans,
        json!({"to_user_id": karen_id, "channel": "email", "body": "Ring Jensen tilbage"}),
    );
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["delivery"]["state"], "queued", "{sent}");
    assert_eq!(sent["delivery"]["address"], "karen@demo.example");
    let mail = mails
        .next_blocking(Duration::from_secs(20))
        .expect("the mail");
    assert!(
        mail.rcpt_to
            .iter()
            .any(|r| r.contains("karen@demo.example")),
        "{:?}",
        mail.rcpt_to
    );
    assert!(
        mail_text(&mail.data).contains("Ring Jensen tilbage"),
        "{}",
        mail.data
    );
    let done = delivery_becomes(
        &server,
        &hans,
        sent["delivery"]["id"].as_i64().unwrap(),
        "sent",
        Duration::from_secs(20),
    );
    assert_eq!(done["attempts"], 1);
    let (_, list) = http_json(
        server.http,
        "GET",
        "/api/v1/me/voicemail",
        Some(&karen),
        None,
    );
    assert!(
        list.to_string().contains("Ring Jensen tilbage"),
        "in her list: {list}"
    );

    // To a colleague by SMS: her mobile, normalised.
    let (status, sent) = send(
        &server,
        &hans,
        json!({"to_user_id": karen_id, "channel": "sms", "body": "Mødet er flyttet"}),
    );
    assert_eq!(status, 201, "{sent}");
    let posted = gateway.next(Duration::from_secs(20)).expect("the SMS");
    assert_eq!(posted.method, "POST");
    assert_eq!(posted.path, "/sms");
    assert!(posted.content_type.starts_with("application/json"));
    assert_eq!(posted.json["to"], "4520112233", "{:?}", posted.json);
    assert!(posted.json["text"]
        .as_str()
        .unwrap()
        .contains("Mødet er flyttet"));
    delivery_becomes(
        &server,
        &hans,
        sent["delivery"]["id"].as_i64().unwrap(),
        "sent",
        Duration::from_secs(20),
    );

    // To a typed address and a typed number: no list entry, just the delivery.
    let (status, sent) = send(
        &server,
        &hans,
        json!({"to_address": "jens@kunde.example", "channel": "email", "body": "Tilbud sendt i dag"}),
    );
    assert_eq!(status, 201, "{sent}");
    assert!(sent["id"].is_null(), "{sent}");
    let mail = mails
        .next_blocking(Duration::from_secs(20))
        .expect("the mail to the typed address");
    assert!(mail
        .rcpt_to
        .iter()
        .any(|r| r.contains("jens@kunde.example")));
    assert!(
        mail_text(&mail.data).contains("Tilbud sendt i dag"),
        "{}",
        mail.data
    );
    let (status, sent) = send(
        &server,
        &hans,
        json!({"to_number": "+45 40 50 60 70", "channel": "sms", "body": "Jeg er forsinket"}),
    );
    assert_eq!(status, 201, "{sent}");
    let posted = gateway
        .next(Duration::from_secs(20))
        .expect("the SMS to the typed number");
    assert_eq!(posted.json["to"], "4540506070");
    let id = sent["delivery"]["id"].as_i64().unwrap();
    delivery_becomes(&server, &hans, id, "sent", Duration::from_secs(20));
    let (_, all) = http_json(
        server.http,
        "GET",
        "/api/v1/me/messages/sent",
        Some(&hans),
        None,
    );
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 4, "{all}");
    assert_eq!(all["deliveries"][0]["id"], id, "newest first");
    // Karen cannot see Hans's deliveries.
    let (status, _) = http_json(
        server.http,
        "GET",
        &format!("/api/v1/me/messages/sent/{id}"),
        Some(&karen),
        None,
    );
    assert_eq!(status, 404);

    // Bad input, each naming its field; a premium-rate number is refused by the policy.
    for (message, field) in [
        (
            json!({"to_address": "not an address", "channel": "email", "body": "x"}),
            "to_address",
        ),
        (
            json!({"to_address": "a@b.example", "channel": "sms", "body": "x"}),
            "channel",
        ),
        (
            json!({"to_number": "12", "channel": "sms", "body": "x"}),
            "to_number",
        ),
        (
            json!({"to_number": "20304050", "to_user_id": karen_id, "channel": "sms", "body": "x"}),
            "to_user_id",
        ),
        (
            json!({"to_number": "20304050", "channel": "sms", "body": " "}),
            "body",
        ),
    ] {
        let (status, error) = send(&server, &hans, message.clone());
        assert_eq!(status, 422, "{message} -> {error}");
        assert_eq!(error["error"]["field"], field, "{message} -> {error}");
    }
    let (status, error) = send(
        &server,
        &hans,
        json!({"to_number": "+882 1234 5678", "channel": "sms", "body": "x"}),
    );
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"]["field"], "to_number");
    assert_eq!(error["error"]["code"], "number_not_allowed");
    assert!(
        gateway.next(Duration::from_millis(500)).is_none(),
        "nothing sent for refused input"
    );
}

#[test]
fn a_failing_gateway_is_retried_and_a_refusal_is_shown_as_failed() {
    // Three 503s: the client's own three tries of the first attempt; the worker retries 3 s
    // later (a window a loaded machine still sees) and the gateway then takes it.
    let gateway = SmsGateway::start(&[503, 503, 503, 200, 400]);
    let server = start(None, Some(&gateway.url), "3");
    let hans = login(&server, "1000001");

    let (status, sent) = send(
        &server,
        &hans,
        json!({"to_number": "20304050", "channel": "sms", "body": "Prøv igen"}),
    );
    assert_eq!(status, 201, "{sent}");
    let id = sent["delivery"]["id"].as_i64().unwrap();
    let retrying = delivery_becomes_with(&server, &hans, id, |d| {
        d["attempts"] == 1 && d["state"] == "queued"
    });
    assert!(
        retrying["last_error"].as_str().unwrap().contains("503"),
        "{retrying}"
    );
    let done = delivery_becomes(&server, &hans, id, "sent", Duration::from_secs(30));
    assert_eq!(done["attempts"], 2, "{done}");
    let answers: Vec<u16> = (0..4)
        .map(|_| {
            gateway
                .next(Duration::from_secs(10))
                .expect("a request")
                .answered
        })
        .collect();
    assert_eq!(answers, [503, 503, 503, 200]);

    // A 400 is a refusal: failed at once, with the reason, no retry.
    let (status, sent) = send(
        &server,
        &hans,
        json!({"to_number": "20304051", "channel": "sms", "body": "Afvist"}),
    );
    assert_eq!(status, 201, "{sent}");
    let id = sent["delivery"]["id"].as_i64().unwrap();
    let failed = delivery_becomes(&server, &hans, id, "failed", Duration::from_secs(20));
    assert_eq!(failed["attempts"], 1);
    assert!(
        failed["last_error"].as_str().unwrap().contains("400"),
        "{failed}"
    );
    assert_eq!(
        gateway
            .next(Duration::from_secs(10))
            .expect("the refused one")
            .answered,
        400
    );
    assert!(
        gateway.next(Duration::from_secs(3)).is_none(),
        "a refusal is not retried"
    );

    // E-mail is not configured on this server: a typed address is refused naming the channel.
    let (status, error) = send(
        &server,
        &hans,
        json!({"to_address": "a@b.example", "channel": "email", "body": "x"}),
    );
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["code"], "channel_unavailable");
    assert_eq!(error["error"]["field"], "channel");
}

fn delivery_becomes_with(
    server: &TestServer,
    token: &str,
    id: i64,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (_, d) = http_json(
            server.http,
            "GET",
            &format!("/api/v1/me/messages/sent/{id}"),
            Some(token),
            None,
        );
        if want(&d) {
            return d;
        }
        last = d;
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("delivery {id} never reached the wanted state; last: {last}");
}

#[test]
fn a_new_pin_goes_by_sms_and_a_failed_delivery_is_said() {
    let gateway = SmsGateway::start(&[]);
    let server = start(None, Some(&gateway.url), "60");

    let (status, channels) =
        http_json(server.http, "GET", "/api/v1/pin-reset/channels", None, None);
    assert_eq!(status, 200);
    assert_eq!(channels, json!({"email": false, "sms": true}));

    let karen = login(&server, "1000002");
    let (_, mine) = http_json(
        server.http,
        "GET",
        "/api/v1/me/channels",
        Some(&karen),
        None,
    );
    assert_eq!(mine, json!({"email": false, "sms": false}), "no mobile yet");
    let (status, body) = http_json(
        server.http,
        "PATCH",
        "/api/v1/me",
        Some(&karen),
        Some(json!({"mobile_number": "20 11 22 33"})),
    );
    assert!(status < 300, "{status} {body}");
    let (_, mine) = http_json(
        server.http,
        "GET",
        "/api/v1/me/channels",
        Some(&karen),
        None,
    );
    assert_eq!(
        mine,
        json!({"email": false, "sms": true}),
        "SMS now; no relay for e-mail"
    );

    let reset = |local: &str, channel: &str| {
        http_json(
            server.http,
            "POST",
            "/api/v1/pin-reset",
            None,
            Some(json!({"local_number": local, "channel": channel})),
        )
    };
    let (status, body) = reset("1000002", "sms");
    assert_eq!(status, 202, "{body}");
    let posted = gateway.next(Duration::from_secs(20)).expect("the PIN SMS");
    assert_eq!(posted.json["to"], "4520112233");
    let text = posted.json["text"].as_str().unwrap().to_owned();
    assert!(text.contains("1000002"), "{text}");
    let pin: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit PIN in the text")
        .to_owned();
    let (status, _) = login_with(&server, "1000002", "2580");
    assert_ne!(status, 200, "the old PIN is gone");
    let (status, body) = login_with(&server, "1000002", &pin);
    assert_eq!(status, 200, "the texted PIN logs in: {body}");

    // A user without a mobile: said, PIN unchanged.
    let (status, error) = reset("1000003", "sms");
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["code"], "no_address");
    assert_eq!(error["error"]["field"], "channel");
    let (status, _) = login_with(&server, "1000003", "2580");
    assert_eq!(status, 200, "PIN unchanged");

    // No mail relay on this server: e-mail is refused up front.
    let (status, error) = reset("1000003", "email");
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["code"], "channel_unavailable");
}

#[test]
fn a_pin_the_gateway_refuses_is_reported_and_not_changed() {
    let gateway = SmsGateway::start(&[400]);
    let server = start(None, Some(&gateway.url), "60");
    let hans = login(&server, "1000001");
    let (status, body) = http_json(
        server.http,
        "PATCH",
        "/api/v1/me",
        Some(&hans),
        Some(json!({"mobile_number": "20 99 88 77"})),
    );
    assert!(status < 300, "{status} {body}");
    let (status, error) = http_json(
        server.http,
        "POST",
        "/api/v1/pin-reset",
        None,
        Some(json!({"local_number": "1000001", "channel": "sms"})),
    );
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "pin_not_delivered");
    assert!(gateway.next(Duration::from_secs(5)).is_some());
    let (status, _) = login_with(&server, "1000001", "2580");
    assert_eq!(status, 200, "PIN unchanged after a failed delivery");
}
