//! `GET /metrics` (Prometheus text) from the real binary: a real call, a registration and a
//! live SSE client move the counters (issue #20, operator basics).
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use crate::support::{self, TestServer};

/// The value of the series `name` (exact, labels included) in the exposition text.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn scrape(server: &TestServer) -> String {
    let (status, body) = server.http_get("/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn metrics_count_calls_by_outcome_registrations_and_sse_clients() {
    let server = TestServer::start_demo();
    let before = scrape(&server);
    assert_eq!(
        value(&before, "onestatus_calls_total{outcome=\"answered\"}"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        value(&before, "onestatus_registrations"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        value(&before, "onestatus_sse_clients"),
        Some(0.0),
        "{before}"
    );

    // An SSE client stays connected.
    let body = r#"{"local_number":"1000002","pin":"2580"}"#;
    let mut login = std::net::TcpStream::connect(server.http).unwrap();
    write!(
        login,
        "POST /api/v1/login HTTP/1.0\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    login.read_to_string(&mut reply).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap();
    let token = json["token"].as_str().unwrap().to_owned();
    let mut sse = std::net::TcpStream::connect(server.http).unwrap();
    write!(
        sse,
        "GET /api/v1/events HTTP/1.0\r\nHost: test\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(sse.try_clone().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = String::new();
    while !line.starts_with("event: ready") && !line.starts_with("event:ready") {
        assert!(Instant::now() < deadline, "no ready event");
        line.clear();
        lines.read_line(&mut line).unwrap();
    }

    // Hans's desk is registered and answers one call.
    let port = support::free_udp_port();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!(
            "sqlite://{}",
            server.data_dir.join("onestatus.db").display()
        );
        let store = onestatus::store::Store::connect(&url).await.unwrap();
        support::bind_device(&store, "1000001", port).await;
        store.close().await;
    });
    let uas = support::sipp_uas(&server, "uas_answer.xml", port);
    support::sipp(
        "uac_call.xml",
        server.sip_udp,
        &["-s", "4570100001", "-m", "1"],
    )
    .unwrap();
    uas.join().unwrap().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let text = scrape(&server);
        if value(&text, "onestatus_calls_total{outcome=\"answered\"}") == Some(1.0)
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        value(&after, "onestatus_calls_total{outcome=\"answered\"}"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        value(&after, "onestatus_registrations"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(value(&after, "onestatus_sse_clients"), Some(1.0), "{after}");
    // The call's transactions, its routing look-up and history write, its relay closed.
    assert!(
        value(&after, "onestatus_sip_transactions_total").is_some_and(|n| n >= 2.0),
        "{after}"
    );
    assert!(
        value(&after, "onestatus_sip_transactions").is_some(),
        "{after}"
    );
    assert!(
        value(&after, "onestatus_store_seconds_count{op=\"route\"}").is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert!(
        value(&after, "onestatus_store_seconds_count{op=\"history\"}").is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert!(
        value(
            &after,
            "onestatus_store_seconds_bucket{op=\"route\",le=\"+Inf\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{after}"
    );
    let relay_closed = Instant::now() + Duration::from_secs(10);
    let mut text = after.clone();
    while value(&text, "onestatus_rtp_sessions") != Some(0.0) && Instant::now() < relay_closed {
        std::thread::sleep(Duration::from_millis(100));
        text = scrape(&server);
    }
    assert_eq!(value(&text, "onestatus_rtp_sessions"), Some(0.0), "{text}");

    // The SSE client leaves: the gauge goes back down (once the server notices the close).
    drop(lines);
    sse.shutdown(std::net::Shutdown::Both).ok();
    drop(sse);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = scrape(&server);
    while value(&text, "onestatus_sse_clients") != Some(0.0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        text = scrape(&server);
    }
    assert_eq!(value(&text, "onestatus_sse_clients"), Some(0.0), "{text}");
}

/// A voicemail left by SIPp (the deposit scenario of `vm_deposit_sipp`): the message counts
/// as stored, its insert is timed, the IVR's RTP session counted while it runs and its loss
/// (none on loopback) added when it closes.
#[test]
fn metrics_count_a_voicemail_its_rtp_session_and_its_store_latency() {
    use crate::support::voicemail::{self as vm, Prompts};
    let (one_number, local, email, lang, secondary) = vm::HANS;
    let rtp = vm::rtp_range();
    let server = vm::start(None, rtp);
    let phone = vm::Phone::new();
    let account = vm::prepare_user(&server, local, email, secondary, phone.addr());
    let prompts = Prompts::load();
    let greeting_ms: usize = vm::greeting(account.id.0, secondary)
        .iter()
        .map(|u| prompts.greeted(&server, &account, u, lang).len() / 8)
        .sum();
    let before = scrape(&server);
    assert_eq!(
        value(&before, "onestatus_voicemail_total{outcome=\"stored\"}"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        value(&before, "onestatus_rtp_sessions"),
        Some(0.0),
        "{before}"
    );
    let listen = (greeting_ms + 1200).to_string();
    vm::sipp(
        "vm_deposit.xml",
        server.sip_udp,
        &["-s", one_number, "-d", &listen],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = scrape(&server);
        let stored = value(&text, "onestatus_voicemail_total{outcome=\"stored\"}");
        if (stored == Some(1.0) && value(&text, "onestatus_rtp_sessions") == Some(0.0))
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        value(&text, "onestatus_voicemail_total{outcome=\"stored\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "onestatus_voicemail_total{outcome=\"dropped\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(value(&text, "onestatus_rtp_sessions"), Some(0.0), "{text}");
    assert!(
        value(&text, "onestatus_store_seconds_count{op=\"voicemail\"}") == Some(1.0),
        "{text}"
    );
    assert!(
        value(&text, "onestatus_store_seconds_sum{op=\"voicemail\"}").is_some_and(|s| s > 0.0),
        "{text}"
    );
    // Loopback loses nothing worth asserting on; the series is there.
    assert!(
        value(&text, "onestatus_rtp_packets_lost_total").is_some(),
        "{text}"
    );
}

#[test]
fn json_log_format_prints_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::command(dir.path())
        .args(["serve", "--demo"])
        .env("ONESTATUS_LOG_FORMAT", "json")
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut up = None;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let object: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            object["timestamp"].is_string() && object["level"].is_string(),
            "{line}"
        );
        if object["message"] == "onestatus is up" {
            up = Some(object);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let up = up.expect("the up line");
    assert_eq!(up["level"], "INFO");
    assert!(
        up["fields"]["listening"]
            .as_str()
            .is_some_and(|l| l.contains("http=127.0.0.1:")),
        "{up}"
    );
}

#[test]
fn every_http_request_gets_a_request_id_and_an_access_line() {
    let server = TestServer::start_demo();
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    write!(
        stream,
        "GET /api/v1/health?token=secret HTTP/1.0\r\nHost: test\r\nX-Request-Id: lb-4711\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("x-request-id: lb-4711"),
        "{reply}"
    );
    let line = server
        .wait_log("request_id=lb-4711", Duration::from_secs(5))
        .expect("an access line");
    assert!(
        line.contains("status=200") && line.contains("path=/api/v1/health"),
        "{line}"
    );
    assert!(
        !line.contains("secret"),
        "the query stays out of the log: {line}"
    );
    // Without one, the server makes one.
    let (status, _) = server.http_get("/api/v1/health");
    assert_eq!(status, 200);
    assert!(server
        .wait_log("onestatus::access", Duration::from_secs(5))
        .is_some());
}
