//! Issue #19 through the real binary over real sockets: first login without takeover (random
//! initial PINs from the CLI, by e-mail where the user has an address; 0000 never works), the
//! PIN strength rule, trusted proxies for HTTP `X-Forwarded-For` and the SIP Via chain,
//! per-source limits (mailbox PINs by SIPp, SIP requests by raw UDP, live-event streams by
//! HTTP), the `Secure` cookie, the organisation's toll-fraud allow-list, "press 9" and
//! calendar codes under the toll-fraud policy.
//!
//! The HTTP client is a few lines of std `TcpStream` with `Connection: close`, as in
//! `api_http.rs`: what is tested is the server's wire behaviour.
// Tests drive a real process over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::smtp::{Relay, SmtpReceiver};
use crate::support::voicemail::{self as vm, with_store};
use crate::support::{self, rand_token, TestServer};

const HANS: &str = "1000001";
const KAREN: &str = "1000002";
const SVEN: &str = "1000003";

/// One HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a request and reads its head; the stream is returned for bodies that stay open.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> (u16, Vec<(String, String)>, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some((mime, bytes)) = body {
        head.push_str(&format!(
            "Content-Type: {mime}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    if let Some((_, bytes)) = body {
        stream.write_all(bytes).unwrap();
    }
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
    let status = status_line[9..12].parse().unwrap();
    let mut response_headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            response_headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (status, response_headers, reader)
}

/// A whole request/response (JSON body when given).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let (status, headers, mut reader) = send(
        addr,
        method,
        path,
        headers,
        bytes.as_deref().map(|b| ("application/json", b)),
    );
    let mut body = Vec::new();
    reader.read_to_end(&mut body).unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

fn login_from(addr: SocketAddr, local: &str, pin: &str, forwarded_for: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = forwarded_for
        .map(|x| vec![("X-Forwarded-For", x)])
        .unwrap_or_default();
    http(
        addr,
        "POST",
        "/api/v1/login",
        &headers,
        Some(&json!({ "local_number": local, "pin": pin })),
    )
}

fn token(addr: SocketAddr, local: &str, pin: &str) -> String {
    let r = login_from(addr, local, pin, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_owned()
}

fn run_cli(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = support::command(data);
    cmd.args(args).stdout(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run onestatus")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------
// First login without takeover; the PIN rule.

/// `user add` without `--pin` prints a random PIN once (no e-mail address), which opens the
/// web client only to change it; 0000 opens nothing. With an address and a relay the PIN is
/// mailed and not printed. Weak PINs are refused by `set-pin` and `add --pin`.
#[test]
fn new_users_get_a_random_initial_pin_and_0000_never_works() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let smtp = SmtpReceiver::start(Relay::Accept);
    let relay = format!("127.0.0.1:{}", smtp.port);
    let env = [("ONESTATUS_SMTP_RELAY", relay.as_str())];
    let o = run_cli(d, &["org", "add", "--code", "321", "--name", "Acme"], &env);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let o = run_cli(
        d,
        &[
            "user",
            "add",
            "--org",
            "321",
            "--name",
            "Hans Hansen",
            "--one-number",
            "4533334444",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let pin = out
        .lines()
        .find_map(|l| l.strip_prefix("initial PIN (shown once; must be changed at first login): "))
        .unwrap_or_else(|| panic!("no initial PIN printed: {out}"))
        .to_owned();
    assert_eq!(pin.len(), 6, "{pin}");
    assert!(onestatus::pin::validate_new_pin(&pin, "3214444").is_ok());
    assert!(!text(&o.stderr).contains(&pin), "the PIN is never logged");

    let o = run_cli(
        d,
        &[
            "user",
            "add",
            "--org",
            "321",
            "--name",
            "Karen Berg",
            "--one-number",
            "4533335555",
            "--email",
            "karen@example.com",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("initial PIN e-mailed"), "{out}");
    let mail = smtp
        .next_blocking(Duration::from_secs(10))
        .expect("the initial PIN is mailed");
    assert!(
        mail.rcpt_to.iter().any(|r| r.contains("karen@example.com")),
        "{mail:?}"
    );
    let mailed: String = mail
        .data
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6 && onestatus::pin::validate_new_pin(w, "3215555").is_ok())
        .expect("a 6-digit PIN in the mail")
        .to_owned();
    assert!(!out.contains(&mailed), "a mailed PIN is not printed: {out}");

    // Weak PINs are refused where an operator sets one.
    for weak in ["1234", "4321", "1111", "2412", "0000"] {
        let o = run_cli(d, &["user", "set-pin", "3214444", weak], &[]);
        assert!(!o.status.success(), "set-pin {weak} must be refused");
    }
    let o = run_cli(
        d,
        &[
            "user",
            "add",
            "--org",
            "321",
            "--name",
            "Weak",
            "--one-number",
            "4533336666",
            "--pin",
            "9876",
        ],
        &[],
    );
    assert!(!o.status.success(), "add --pin 9876 must be refused");
    assert!(text(&o.stderr).contains("run"), "{}", text(&o.stderr));

    // An old-style row that still carries 0000 (created before this change).
    let url = format!("sqlite://{}", d.join("onestatus.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = onestatus::store::Store::connect(&url).await.unwrap();
        let o = run_cli(
            d,
            &[
                "user",
                "add",
                "--org",
                "321",
                "--name",
                "Old Row",
                "--one-number",
                "4533337777",
            ],
            &[],
        );
        assert!(o.status.success());
        let old = store.user_by_local_number("3217777").await.unwrap();
        store
            .user_set_pin_hash(old.id, &onestatus::pin::hash_pin("0000"), true)
            .await
            .unwrap();
        store.close().await;
    });

    let server = TestServer::start_in(d, &["serve"], &[]);
    let r = login_from(server.http, "3214444", &pin, None);
    assert_eq!(r.status, 200, "{}", text(&r.body));
    assert_eq!(r.json()["pin_must_change"], true);
    let r = login_from(server.http, "3215555", &mailed, None);
    assert_eq!(r.status, 200, "{}", text(&r.body));
    for (local, what) in [
        ("3214444", "a new user"),
        ("3215555", "a mailed user"),
        ("3217777", "a row storing 0000"),
    ] {
        let r = login_from(server.http, local, "0000", None);
        assert_eq!(r.status, 401, "0000 must not open {what}");
    }
}

/// `PUT /me/pin` applies the strength rule: 422 naming `new_pin` for repeats, runs and dates.
#[test]
fn the_web_pin_change_refuses_weak_pins_naming_the_field() {
    let server = TestServer::start_demo();
    let token = token(server.http, HANS, "2580");
    let bearer = format!("Bearer {token}");
    for weak in ["1111", "1234", "9876", "2412", "170385"] {
        let r = http(
            server.http,
            "PUT",
            "/api/v1/me/pin",
            &[("Authorization", &bearer)],
            Some(&json!({ "current_pin": "2580", "new_pin": weak })),
        );
        assert_eq!(r.status, 422, "{weak}: {}", text(&r.body));
        assert_eq!(r.json()["error"]["field"], "new_pin", "{weak}");
        assert_eq!(r.json()["error"]["code"], "pin_rule", "{weak}");
    }
    let r = http(
        server.http,
        "PUT",
        "/api/v1/me/pin",
        &[("Authorization", &bearer)],
        Some(&json!({ "current_pin": "2580", "new_pin": "4711" })),
    );
    assert_eq!(r.status, 204, "{}", text(&r.body));
}

/// "Log out everywhere" ends every session of the user, the one asking included; another
/// user's session is untouched.
#[test]
fn logging_out_everywhere_ends_every_session() {
    let server = TestServer::start_demo();
    let phone = token(server.http, HANS, "2580");
    let desk = token(server.http, HANS, "2580");
    let karen = token(server.http, KAREN, "2580");
    let me = |token: &str| {
        http(
            server.http,
            "GET",
            "/api/v1/me",
            &[("Authorization", &format!("Bearer {token}"))],
            None,
        )
        .status
    };
    assert_eq!((me(&phone), me(&desk)), (200, 200));
    let r = http(
        server.http,
        "POST",
        "/api/v1/logout-everywhere",
        &[("Authorization", &format!("Bearer {desk}"))],
        None,
    );
    assert_eq!(r.status, 204, "{}", text(&r.body));
    assert!(r
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!((me(&phone), me(&desk)), (401, 401));
    assert_eq!(me(&karen), 200);
}

// ---------------------------------------------------------------------------------------
// Trusted proxies (HTTP) and the Secure cookie.

/// With no trusted proxy, a client cannot escape the per-address login limit by writing
/// `X-Forwarded-For`; behind a trusted proxy the header names the client, so one client's
/// failures do not lock out another behind the same proxy.
#[test]
fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let limit = [("ONESTATUS_API_IP_MAX_ATTEMPTS", "3")];
    // Nothing trusted: every spoofed address is counted against the real peer.
    let server = TestServer::start_with(&["serve", "--demo"], &limit);
    for n in 1..=3 {
        let r = login_from(
            server.http,
            "1009999",
            "2580",
            Some(&format!("203.0.113.{n}")),
        );
        assert_eq!(r.status, 401);
    }
    let r = login_from(server.http, HANS, "2580", Some("203.0.113.77"));
    assert_eq!(r.status, 429, "a spoofed header must not reset the limit");
    assert!(r.header("retry-after").is_some());
    drop(server);

    // 127.0.0.1 trusted: the header names the client.
    let env = [
        limit[0],
        ("ONESTATUS_SECURITY_TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
    ];
    let server = TestServer::start_with(&["serve", "--demo"], &env);
    for _ in 0..3 {
        let r = login_from(server.http, "1009999", "2580", Some("203.0.113.1"));
        assert_eq!(r.status, 401);
    }
    let r = login_from(server.http, HANS, "2580", Some("203.0.113.1"));
    assert_eq!(r.status, 429, "the client behind the proxy is limited");
    // The client may prepend anything; the address our proxy appended is the one counted.
    let r = login_from(server.http, HANS, "2580", Some("203.0.113.1, 203.0.113.2"));
    assert_eq!(r.status, 200, "another client behind the proxy is not");
    // The default public URL is http: no Secure cookie.
    let cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

/// `[api] secure_cookie = "auto"` (the default) marks the cookie `Secure` when the public URL
/// is https; `false` overrides it.
#[test]
fn the_cookie_is_secure_when_the_public_url_is_https() {
    let https = [("ONESTATUS_SMTP_WEB_URL", "https://status.example.com/")];
    let server = TestServer::start_with(&["serve", "--demo"], &https);
    let r = login_from(server.http, HANS, "2580", None);
    assert_eq!(r.status, 200);
    let cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    drop(server);
    let off = [https[0], ("ONESTATUS_API_SECURE_COOKIE", "false")];
    let server = TestServer::start_with(&["serve", "--demo"], &off);
    let r = login_from(server.http, HANS, "2580", None);
    let cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

// ---------------------------------------------------------------------------------------
// Live-event streams.

fn open_stream(
    addr: SocketAddr,
    token: &str,
) -> (u16, Vec<(String, String)>, BufReader<TcpStream>) {
    send(
        addr,
        "GET",
        "/api/v1/events",
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
}

/// Streams beyond `sse_per_user` of one user, or `sse_total` in all, get 429 JSON with
/// Retry-After; a closed stream frees its place.
#[test]
fn live_event_streams_are_capped_per_user_and_in_total() {
    let env = [
        ("ONESTATUS_SECURITY_SSE_PER_USER", "2"),
        ("ONESTATUS_SECURITY_SSE_TOTAL", "3"),
    ];
    let server = TestServer::start_with(&["serve", "--demo"], &env);
    let hans = token(server.http, HANS, "2580");
    let karen = token(server.http, KAREN, "2580");
    let (s, _, hans1) = open_stream(server.http, &hans);
    assert_eq!(s, 200);
    let (s, _, hans2) = open_stream(server.http, &hans);
    assert_eq!(s, 200);
    let (s, headers, mut rest) = open_stream(server.http, &hans);
    assert_eq!(s, 429, "a third stream of one user");
    let mut body = Vec::new();
    rest.read_to_end(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    assert!(headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("retry-after")));
    let (s, _, _karen1) = open_stream(server.http, &karen);
    assert_eq!(s, 200, "another user, total 3");
    let (s, _, _) = open_stream(server.http, &karen);
    assert_eq!(s, 429, "over the total");
    // Closing a stream gives its place back (the server notices the closed socket, at the
    // latest at its next keep-alive comment, 15 s).
    drop(hans1);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (s, _, stream) = open_stream(server.http, &karen);
        if s == 200 {
            drop(stream);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(hans2);
}

// ---------------------------------------------------------------------------------------
// SIP requests per source; trusted SIP proxies.

fn options_via(socket: &UdpSocket, server: SocketAddr, lower_via: Option<&str>) -> String {
    let local = socket.local_addr().unwrap();
    let branch = format!("z9hG4bK-fl-{}", rand_token());
    let lower = lower_via
        .map(|v| format!("Via: {v};branch=z9hG4bK-c-{}\r\n", rand_token()))
        .unwrap_or_default();
    let msg = format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\n{lower}\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=f1\r\nTo: <sip:{server}>\r\n\
         Call-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(msg.as_bytes(), server).unwrap();
    branch
}

/// Status codes of every answer arriving within `window`, with the Retry-After of 503s.
fn answers(socket: &UdpSocket, window: Duration) -> Vec<(u16, Option<String>)> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    let mut buffer = [0u8; 65536];
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < deadline {
        if let Ok((n, _)) = socket.recv_from(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let code = text.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0);
            let retry = text
                .lines()
                .find_map(|l| l.strip_prefix("Retry-After:"))
                .map(|v| v.trim().to_owned());
            out.push((code, retry));
        }
    }
    out
}

fn flood_env() -> [(&'static str, &'static str); 3] {
    [
        ("ONESTATUS_SECURITY_SIP_REQUESTS_PER_SEC", "5"),
        ("ONESTATUS_SECURITY_SIP_BURST", "10"),
        ("ONESTATUS_SECURITY_SIP_REFUSALS_BEFORE_BAN", "20"),
    ]
}

/// 60 OPTIONS at once from one source: the burst is answered 200, the next ones 503 with
/// Retry-After, and after 20 refusals the source is banned (no answer at all), while another
/// source is still answered. A lower Via naming other clients changes nothing: 127.0.0.1 is
/// no trusted proxy here.
#[test]
fn sip_requests_over_the_rate_get_503_with_retry_after_then_a_ban() {
    let server = TestServer::start_with(&["serve", "--demo"], &flood_env());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..60 {
        let spoof = format!("SIP/2.0/UDP 10.0.0.1:5060;received=198.51.100.{}", n % 50);
        options_via(&socket, server.sip_udp, Some(&spoof));
    }
    let got = answers(&socket, Duration::from_secs(3));
    let ok = got.iter().filter(|(c, _)| *c == 200).count();
    let busy: Vec<_> = got.iter().filter(|(c, _)| *c == 503).collect();
    assert!((10..=16).contains(&ok), "the burst, plus a refill: {got:?}");
    assert!((3..20).contains(&busy.len()), "503s until the ban: {got:?}");
    assert!(
        busy.iter().all(|(_, r)| r
            .as_deref()
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1))),
        "every 503 carries Retry-After: {got:?}"
    );
    assert!(got.len() < 60, "the rest is dropped: {got:?}");
    assert!(server
        .wait_log(
            "banning source after flooding requests",
            Duration::from_secs(5)
        )
        .is_some());
    // Banned: even a single, slow request from the address goes unanswered.
    std::thread::sleep(Duration::from_secs(1));
    options_via(&socket, server.sip_udp, None);
    assert!(answers(&socket, Duration::from_secs(2)).is_empty());
    // Another source (127.0.0.2 is loopback too) has its own bucket.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    options_via(&other, server.sip_udp, None);
    let got = answers(&other, Duration::from_secs(2));
    assert_eq!(got.first().map(|a| a.0), Some(200), "{got:?}");
}

/// Behind a trusted SIP proxy the client is the first Via below it (its `received`): one
/// client flooding through the proxy is refused and banned, the proxy and its other clients
/// are not.
#[test]
fn behind_a_trusted_sip_proxy_the_via_chain_names_the_client() {
    let mut env = flood_env().to_vec();
    env.push(("ONESTATUS_SECURITY_TRUSTED_PROXIES", "[\"127.0.0.1\"]"));
    let server = TestServer::start_with(&["serve", "--demo"], &env);
    let proxy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client_a = "SIP/2.0/UDP 10.0.0.1:5060;received=198.51.100.1";
    for _ in 0..60 {
        options_via(&proxy, server.sip_udp, Some(client_a));
    }
    let got = answers(&proxy, Duration::from_secs(3));
    let ok = got.iter().filter(|(c, _)| *c == 200).count();
    let busy = got.iter().filter(|(c, _)| *c == 503).count();
    assert!((10..=16).contains(&ok), "{got:?}");
    assert!(busy >= 3, "{got:?}");
    assert!(server
        .wait_log(
            "banning source after flooding requests",
            Duration::from_secs(5)
        )
        .is_some_and(|l| l.contains("198.51.100.1")));
    // Client A stays banned; client B through the same proxy is answered.
    options_via(&proxy, server.sip_udp, Some(client_a));
    assert!(answers(&proxy, Duration::from_secs(2)).is_empty());
    options_via(
        &proxy,
        server.sip_udp,
        Some("SIP/2.0/UDP 10.0.0.2:5060;received=198.51.100.2"),
    );
    let got = answers(&proxy, Duration::from_secs(2));
    assert_eq!(got.first().map(|a| a.0), Some(200), "{got:?}");
}

// ---------------------------------------------------------------------------------------
// Mailbox PIN attempts per source.

fn digits(var: &str, value: &str) -> Vec<String> {
    value
        .chars()
        .enumerate()
        .flat_map(|(i, c)| ["-set".to_owned(), format!("{var}{}", i + 1), c.to_string()])
        .collect()
}

/// Wrong PINs against different mailboxes from one source: each mailbox stays under its own
/// lockout, but the source (and caller ID) reaches `mailbox_failures_max` and is refused —
/// even the right PIN of another mailbox, which is not counted against that mailbox.
#[test]
fn mailbox_pin_guessing_across_mailboxes_bans_the_source() {
    let (min, max) = vm::rtp_range();
    let (min, max) = (min.to_string(), max.to_string());
    let env = [
        ("ONESTATUS_SIP_T1_MS", "500"),
        ("ONESTATUS_TEST_NOW", vm::TEST_NOW),
        ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
        ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
        ("ONESTATUS_SECURITY_MAILBOX_FAILURES_MAX", "4"),
    ];
    let server = TestServer::start_with(&["serve", "--demo"], &env);
    let attempts = |local: &str, n: u32, pin: &str| {
        let mut args = vec!["-s".to_owned(), "8000".to_owned()];
        args.extend(digits("d", local));
        args.extend(digits("p", pin));
        args.extend(["-set".to_owned(), "attempts".to_owned(), n.to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        vm::sipp("vm_retrieve_pins.xml", server.sip_udp, &args).unwrap();
    };
    let user = |local: &'static str| {
        with_store(&server, async move |store| {
            store.user_by_local_number(local).await.unwrap()
        })
    };
    attempts(HANS, 3, "1357");
    // The fourth wrong PIN from this source, on another mailbox: the ban starts and the call
    // ends at once (the scenario expects the hang-up after this one attempt).
    attempts(SVEN, 1, "1357");
    assert!(server
        .wait_log(
            "banning a source after wrong mailbox PINs",
            Duration::from_secs(5)
        )
        .is_some());
    // Sven's right PIN from the banned source: the call ends at once (the scenario expects
    // the hang-up after one attempt), nothing is counted, Sven is not locked.
    attempts(SVEN, 1, "2580");
    let sven = user(SVEN);
    assert_eq!(sven.failed_pin_attempts, 1, "only the one wrong PIN");
    assert_eq!(sven.locked_until, None);
    assert!(server
        .wait_log(
            "voicemail login from a banned source",
            Duration::from_secs(5)
        )
        .is_some());
    assert_eq!(
        user(HANS).locked_until,
        None,
        "three wrong PINs do not lock Hans"
    );
}

// ---------------------------------------------------------------------------------------
// Toll fraud: the organisation's allow-list, "press 9", calendar codes.

/// `org set-allow-list` stores prefixes that the deny-list then lets through for that
/// organisation only: `user add --mobile +870…` is refused before and accepted after.
#[test]
fn the_organisation_allow_list_opens_a_denied_range_from_the_cli() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    for code in ["321", "322"] {
        let o = run_cli(
            d,
            &[
                "org",
                "add",
                "--code",
                code,
                "--name",
                "Shipping",
                "--allow-external-forwarding",
            ],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let add = |org: &str, one: &str| {
        run_cli(
            d,
            &[
                "user",
                "add",
                "--org",
                org,
                "--name",
                "Captain",
                "--one-number",
                one,
                "--mobile",
                "+870 771 234 567",
            ],
            &[],
        )
    };
    let o = add("321", "4533334444");
    assert_eq!(o.status.code(), Some(2), "denied without the allow-list");
    assert!(text(&o.stderr).contains("--mobile"), "{}", text(&o.stderr));
    let o = run_cli(d, &["org", "set-allow-list", "--code", "321", "+0"], &[]);
    assert_eq!(o.status.code(), Some(2), "not a prefix");
    let o = run_cli(
        d,
        &["org", "set-allow-list", "--code", "321", "+870", "881"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), "321\t+870 +881");
    let o = add("321", "4533334444");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = add("322", "4533335555");
    assert_eq!(
        o.status.code(),
        Some(2),
        "the other organisation has no allow-list"
    );
}

/// "Press 9" transfers only where the toll-fraud policy allows: a user's own receptionist
/// number stored before the policy (a premium-rate range) is passed over for the
/// organisation's receptionist group, which the REFER names (`calls.transfer = "refer"`, so
/// the destination is seen on the wire; the bridged default takes the same destination).
#[test]
fn press_9_never_transfers_to_a_number_the_policy_refuses() {
    let (one_number, local, email, _, secondary) = vm::HANS;
    let server = vm::start_with_env(
        None,
        vm::rtp_range(),
        &[("ONESTATUS_CALLS_TRANSFER", "refer")],
    );
    let phone = vm::Phone::new();
    let account = vm::prepare_user(&server, local, email, secondary, phone.addr());
    with_store(&server, async |store| {
        let mut settings = store.voicemail_settings(account.id).await.unwrap();
        // Stored directly, as a row from before the policy would be (the API refuses it).
        settings.receptionist_group_number = Some("4590123456".into());
        store
            .voicemail_settings_update(account.id, &settings)
            .await
            .unwrap();
    });
    vm::sipp(
        "vm_deposit_key9.xml",
        server.sip_udp,
        &["-s", one_number, "-set", "group", vm::RECEPTIONIST_GROUP],
    )
    .unwrap();
    // The log is read in order: the refusal comes before the transfer.
    let refusal = server
        .wait_log("toll-fraud policy: no transfer", Duration::from_secs(5))
        .expect("the user's number refused");
    assert!(refusal.contains("4590123456"), "{refusal}");
    let transfer = server
        .wait_log("transferring the caller (REFER)", Duration::from_secs(5))
        .expect("a transfer");
    assert!(transfer.contains(vm::RECEPTIONIST_GROUP), "{transfer}");
    assert!(!transfer.contains("4590123456"), "{transfer}");
}

/// A `[fwd …]` calendar code is a number we dial: an edit in the web client naming a denied
/// range is refused (403 naming the field), and an imported feed says which entries will not
/// forward.
#[test]
fn calendar_forward_codes_are_checked_when_saved_and_imported() {
    let server = vm::start(None, vm::rtp_range());
    let token = token(server.http, HANS, "2580");
    let bearer = format!("Bearer {token}");
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
        BEGIN:VEVENT\r\nUID:a@test\r\nDTSTAMP:20261124T080000Z\r\n\
        DTSTART:20261125T090000Z\r\nDTEND:20261125T100000Z\r\n\
        SUMMARY:Kundebesøg [viderestil 0088213000000]\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:b@test\r\nDTSTAMP:20261124T080000Z\r\n\
        DTSTART:20261126T090000Z\r\nDTEND:20261126T100000Z\r\n\
        SUMMARY:Møde [fwd 4570100002]\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    let (status, _, mut reader) = send(
        server.http,
        "PUT",
        "/api/v1/me/calendar",
        &[("Authorization", &bearer)],
        Some(("text/calendar", ics.as_bytes())),
    );
    let mut body = Vec::new();
    reader.read_to_end(&mut body).unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    let view: Value = serde_json::from_slice(&body).unwrap();
    let refused = view["refused_forwards"].as_array().expect("a list");
    assert_eq!(refused.len(), 1, "{view}");
    assert_eq!(refused[0]["number"], "0088213000000");
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("+882"),
        "{view}"
    );

    let entries = http(
        server.http,
        "GET",
        "/api/v1/me/calendar?days=30",
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(entries.status, 200);
    let meeting = entries
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"].as_str().is_some_and(|s| s.starts_with("Møde")))
        .cloned()
        .expect("the meeting");
    let id = meeting["id"].as_i64().unwrap();
    let edit = |subject: &str, code: Option<&str>| {
        http(
            server.http,
            "PUT",
            &format!("/api/v1/me/calendar/{id}"),
            &[("Authorization", &bearer)],
            Some(&json!({
                "subject": subject,
                "starts_at": meeting["starts_at"],
                "ends_at": meeting["ends_at"],
                "busy_status": "busy",
                "code_override": code,
            })),
        )
    };
    let r = edit("Møde [fwd +882 13000000]", None);
    assert_eq!(r.status, 403, "{}", text(&r.body));
    assert_eq!(r.json()["error"]["code"], "number_not_allowed");
    assert_eq!(r.json()["error"]["field"], "subject");
    let r = edit("Møde", Some("[viderestil 90123456]"));
    assert_eq!(r.status, 403, "Danish premium rate: {}", text(&r.body));
    assert_eq!(r.json()["error"]["field"], "code_override");
    let r = edit("Møde [fwd 4570100002]", None);
    assert_eq!(r.status, 200, "a colleague's number: {}", text(&r.body));
}

/// The allow-list over the API: everyone of the organisation reads the policy, only a
/// receptionist replaces the allow-list (a bad prefix is 422 naming its index); a saved
/// destination in `+870` is then accepted (the demo organisation allows external calls) while
/// `+881` stays refused, also for click-to-call; clearing the list refuses `+870` again.
#[test]
fn the_organisation_allow_list_is_read_by_all_and_set_by_receptionists() {
    let server = TestServer::start_demo();
    let hans = format!("Bearer {}", token(server.http, HANS, "2580"));
    let karen = format!("Bearer {}", token(server.http, KAREN, "2580"));
    let policy = |auth: &str| {
        let r = http(
            server.http,
            "GET",
            "/api/v1/org/toll-fraud",
            &[("Authorization", auth)],
            None,
        );
        assert_eq!(r.status, 200, "{}", text(&r.body));
        r.json()
    };
    let set = |auth: &str, list: Value| {
        http(
            server.http,
            "PUT",
            "/api/v1/org/toll-fraud",
            &[("Authorization", auth)],
            Some(&json!({ "allow_list": list })),
        )
    };
    let save = |number: &str| {
        http(
            server.http,
            "POST",
            "/api/v1/me/saved-destinations",
            &[("Authorization", &hans)],
            Some(&json!({ "label": "Vessel", "kind": "external", "number": number })),
        )
    };
    let p = policy(&hans);
    assert_eq!(p["external_calls_allowed"], true);
    assert_eq!(p["allow_list"], json!([]));
    let rule = |p: &Value, prefix: &str| {
        p["deny_list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["prefix"] == prefix)
            .cloned()
            .unwrap_or_else(|| panic!("{prefix} in {p}"))
    };
    assert_eq!(rule(&p, "+870")["category"], "satellite");
    assert_eq!(rule(&p, "+870")["opened"], false);
    let r = save("+870 771 234 567");
    assert_eq!(r.status, 403, "denied before: {}", text(&r.body));
    assert_eq!(r.json()["error"]["code"], "number_not_allowed");

    let r = set(&hans, json!(["+870"]));
    assert_eq!(r.status, 403, "{}", text(&r.body));
    assert_eq!(r.json()["error"]["code"], "receptionist_only");
    let r = set(&karen, json!(["+870", "881", "+0"]));
    assert_eq!(r.status, 422, "{}", text(&r.body));
    assert_eq!(r.json()["error"]["field"], "allow_list[2]");
    assert_eq!(policy(&hans)["allow_list"], json!([]), "nothing stored");

    let r = set(&karen, json!([" 870 ", "+870"]));
    assert_eq!(r.status, 200, "{}", text(&r.body));
    assert_eq!(r.json()["allow_list"], json!(["+870"]), "normalised, once");
    let p = policy(&hans);
    assert_eq!(p["allow_list"], json!(["+870"]));
    assert_eq!(rule(&p, "+870")["opened"], true);
    assert_eq!(rule(&p, "+881")["opened"], false);
    let r = save("+870 771 234 567");
    assert_eq!(r.status, 201, "allow-listed: {}", text(&r.body));
    let r = save("+881 631 234 567");
    assert_eq!(r.status, 403, "{}", text(&r.body));
    assert_eq!(r.json()["error"]["code"], "number_not_allowed");
    assert_eq!(r.json()["error"]["field"], "number");
    let call = |to: &str| {
        http(
            server.http,
            "POST",
            "/api/v1/calls",
            &[("Authorization", &hans)],
            Some(&json!({ "to": to })),
        )
    };
    let r = call("+881631234567");
    assert_eq!(r.status, 403, "click-to-call: {}", text(&r.body));
    assert_eq!(r.json()["error"]["field"], "to");
    // +870 passes the policy and stops at the next check: the demo has no trunk.
    let r = call("+870771234567");
    assert_eq!(r.status, 503, "{}", text(&r.body));
    assert_eq!(r.json()["error"]["code"], "no_trunk");

    let r = set(&karen, json!([]));
    assert_eq!(r.status, 200, "{}", text(&r.body));
    assert_eq!(policy(&hans)["allow_list"], json!([]));
    let r = save("+870 771 234 568");
    assert_eq!(r.status, 403, "cleared: {}", text(&r.body));
    assert_eq!(r.json()["error"]["code"], "number_not_allowed");
}
