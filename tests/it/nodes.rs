//! Several nodes behind a SIP proxy (issue #20), with the real binary: two `onestatus`
//! processes on one PostgreSQL database (a fresh database per test at 127.0.0.1:5432, or
//! `ONESTATUS_TEST_PG`), and a draining node as a dispatcher sees it.
// Tests drive real processes over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::{self, SipClient, TestServer};

/// A shared secret, as `openssl rand -hex 32` would make one.
pub(crate) const SECRET: &str = "5f1c0a9e3b7d4e2f8a6c1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f";
pub(crate) const HANS_ONE_NUMBER: &str = "4570100001";

/// A fresh PostgreSQL database, dropped with the value.
pub(crate) struct PgDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub(crate) fn create() -> PgDatabase {
        let admin = std::env::var("ONESTATUS_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let name = format!(
            "onestatus_nodes_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        Self::admin_sql(&admin, &format!("CREATE DATABASE {name}"));
        let url = format!("{admin}/{name}");
        PgDatabase { admin, name, url }
    }

    fn admin_sql(admin: &str, sql: &str) {
        use sqlx::{Connection, Executor};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut connection = sqlx::PgConnection::connect(&format!("{admin}/postgres"))
                .await
                .expect("PostgreSQL must be reachable for this test");
            connection.execute(sql).await.unwrap();
        });
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        Self::admin_sql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A node on `db`; the first one seeds the demo organisation (the seed is idempotent).
pub(crate) fn node(db: &PgDatabase, env: &[(&str, &str)]) -> TestServer {
    let mut all = vec![("ONESTATUS_DATABASE_URL", db.url.as_str())];
    all.extend_from_slice(env);
    TestServer::start_with(&["serve", "--demo"], &all)
}

pub(crate) fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

pub(crate) fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    challenge.split(',').find_map(|p| {
        let (k, v) = p.trim().trim_start_matches("Digest ").split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A REGISTER for 1000003 from `local`, with `auth` as its Authorization.
fn register(local: SocketAddr, cseq: u32, auth: Option<String>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:onestatus SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bK-n{cseq}-{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:1000003@onestatus>;tag=t1\r\nTo: <sip:1000003@onestatus>\r\n\
         Call-ID: nodes-{}@test\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:1000003@{local}>\r\n\
         Expires: 600\r\n{auth}Content-Length: 0\r\n\r\n",
        support::rand_token(),
        std::process::id()
    )
}

/// The answer to a REGISTER challenged by the node at `challenger` and answered (with the
/// right password) to the node at `answerer`.
fn challenged_by_one_answered_to_other(challenger: SocketAddr, answerer: SocketAddr) -> String {
    let client = SipClient::new(challenger);
    let local = client.local();
    client.send(register(local, 1, None).as_bytes());
    let challenge = client.recv_within(Duration::from_secs(5)).expect("401");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let offer = header(&challenge, "WWW-Authenticate")
        .into_iter()
        .find(|c| c.contains("algorithm=SHA-256"))
        .expect("a SHA-256 challenge")
        .to_owned();
    let nonce = param(&offer, "nonce").unwrap();
    let opaque = param(&offer, "opaque").unwrap_or_default();
    let ha1 = sha256_hex("1000003:onestatus:demo1000003");
    let ha2 = sha256_hex("REGISTER:sip:onestatus");
    let response = sha256_hex(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    let authorization = format!(
        "Digest username=\"1000003\", realm=\"onestatus\", nonce=\"{nonce}\", uri=\"sip:onestatus\", \
         response=\"{response}\", algorithm=SHA-256, cnonce=\"c0ffee\", nc=00000001, qop=auth, opaque=\"{opaque}\""
    );
    // The dispatcher sends the retry to the other node.
    client
        .socket
        .send_to(register(local, 2, Some(authorization)).as_bytes(), answerer)
        .unwrap();
    client.recv_within(Duration::from_secs(5)).expect("answer")
}

#[test]
fn a_phone_challenged_by_one_node_is_accepted_by_the_other_with_a_shared_nonce_secret() {
    let db = PgDatabase::create();
    let secret = [("ONESTATUS_SIP_NONCE_SECRET", SECRET)];
    let a = node(&db, &secret);
    let b = node(&db, &secret);
    let answer = challenged_by_one_answered_to_other(a.sip_udp, b.sip_udp);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    // And the other way round.
    let answer = challenged_by_one_answered_to_other(b.sip_udp, a.sip_udp);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
}

#[test]
fn nodes_share_a_nonce_secret_kept_in_the_store() {
    let db = PgDatabase::create();
    let secret = [("ONESTATUS_SIP_NONCE_SECRET", "store")];
    let a = node(&db, &secret);
    let b = node(&db, &secret);
    let answer = challenged_by_one_answered_to_other(a.sip_udp, b.sip_udp);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
}

/// The control: with a random secret per node (the default), the same exchange fails, which
/// is what the shared secret fixes.
#[test]
fn without_a_shared_secret_the_other_node_refuses_the_nonce() {
    let db = PgDatabase::create();
    let a = node(&db, &[]);
    let b = node(&db, &[]);
    let answer = challenged_by_one_answered_to_other(a.sip_udp, b.sip_udp);
    assert!(answer.starts_with("SIP/2.0 401"), "{answer}");
}

/// Answers a ringing INVITE datagram with 180, as a desk phone that rings and is not picked
/// up.
fn ringing(invite: &str) -> String {
    let mut out = String::from("SIP/2.0 180 Ringing\r\n");
    for line in invite.lines() {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag=desk1\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// The whole answer to an OPTIONS from `client`.
fn options(client: &SipClient) -> Option<String> {
    let branch = format!("z9hG4bK-drain-{}", support::rand_token());
    let msg = format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:dispatcher@{local}>;tag=d1\r\nTo: <sip:{server}>\r\n\
         Call-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        server = client.server,
        local = client.local(),
    );
    client.send(msg.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let reply = client.recv_within(Duration::from_millis(500))?;
        if reply.contains(&branch) {
            return Some(reply);
        }
    }
    None
}

/// Rings Hans's desk (a socket of the test's, bound through `store_url`) with a call through
/// `server` and answers 180 only: a call that keeps running. The sockets keep it alive.
fn ring_without_answer(server: &TestServer, store_url: &str) -> (UdpSocket, SipClient) {
    let desk = UdpSocket::bind("127.0.0.1:0").unwrap();
    desk.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let desk_port = desk.local_addr().unwrap().port();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = onestatus::store::Store::connect(store_url).await.unwrap();
        support::bind_device(&store, "1000001", desk_port).await;
        store.close().await;
    });
    let caller = SipClient::new(server.sip_udp);
    let local = caller.local();
    let sdp = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        support::free_udp_port()
    );
    caller.send(
        format!(
            "INVITE sip:{HANS_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-drain-call\r\n\
             Max-Forwards: 70\r\nFrom: \"Caller\" <sip:4512345678@{local}>;tag=c1\r\n\
             To: <sip:{HANS_ONE_NUMBER}@{srv}>\r\nCall-ID: drain-call-{}@test\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:4512345678@{local}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            support::rand_token(),
            sdp.len(),
            srv = server.sip_udp,
        )
        .as_bytes(),
    );
    let mut buffer = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    let (invite, from) = loop {
        assert!(Instant::now() < deadline, "the desk phone never rang");
        if let Ok((n, from)) = desk.recv_from(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if text.starts_with("INVITE") {
                break (text, from);
            }
        }
    };
    desk.send_to(ringing(&invite).as_bytes(), from).unwrap();
    (desk, caller)
}

#[test]
fn a_draining_node_answers_options_503_and_is_not_ready_while_its_call_runs() {
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[("ONESTATUS_CALLS_NO_ANSWER_TIMEOUT_SECS", "120")],
    );
    let dispatcher = SipClient::new(server.sip_udp);
    let up = options(&dispatcher).expect("OPTIONS answered");
    assert!(up.starts_with("SIP/2.0 200"), "{up}");
    let (status, body) = server.http_get("/api/v1/ready");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ready\""), "{body}");

    // Hans's desk phone rings and nobody picks up: a call is running.
    let sqlite = format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    );
    let _call = ring_without_answer(&server, &sqlite);

    // SIGTERM: the node drains, the ringing call keeps it up.
    Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(server
        .wait_log("shutting down", Duration::from_secs(10))
        .is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    let drained = loop {
        let answer = options(&dispatcher).expect("OPTIONS answered while draining");
        if answer.starts_with("SIP/2.0 503") || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(drained.starts_with("SIP/2.0 503"), "{drained}");
    assert!(
        !header(&drained, "Retry-After").is_empty(),
        "Retry-After tells the dispatcher when to probe again: {drained}"
    );
    let (status, body) = server.http_get("/api/v1/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    // Liveness is another question: the process still answers.
    let (status, _) = server.http_get("/api/v1/health");
    assert_eq!(status, 200);
}

/// Logs in on `server` as the demo user `local_number`; the bearer token.
pub(crate) fn login(server: &TestServer, local_number: &str) -> String {
    let body = format!(r#"{{"local_number":"{local_number}","pin":"2580"}}"#);
    let (status, reply) = http(server, "POST", "/api/v1/login", None, Some(&body));
    assert_eq!(status, 200, "{reply}");
    let value: serde_json::Value = serde_json::from_str(&reply).unwrap();
    value["token"].as_str().unwrap().to_owned()
}

/// One HTTP/1.0 request over a real socket: (status, body).
fn http(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: test\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        reply.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    )
}

/// Hans's calls in progress as `server` shows them (GET /api/v1/users/{id}).
pub(crate) fn active_calls_seen(server: &TestServer, token: &str, user: i64) -> i64 {
    let (status, body) = http(
        server,
        "GET",
        &format!("/api/v1/users/{user}"),
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["presence"]["active_calls"]
        .as_i64()
        .unwrap_or_else(|| panic!("no presence.active_calls in {body}"))
}

/// Polls until `f` holds or `limit` passes; whether it held.
pub(crate) fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_call_carried_by_node_a_is_on_the_phone_on_node_b_and_its_sse_clients_hear_it() {
    use std::io::{BufRead, BufReader, Write};
    let db = PgDatabase::create();
    let env = [("ONESTATUS_CLUSTER_HEARTBEAT_SECS", "1")];
    let a = node(&db, &env);
    let b = node(&db, &env);
    let desk_port = support::free_udp_port();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hans = runtime.block_on(async {
        let store = onestatus::store::Store::connect(&db.url).await.unwrap();
        support::bind_device(&store, "1000001", desk_port).await;
        let id = store.user_by_local_number("1000001").await.unwrap().id.0;
        store.close().await;
        id
    });
    // Karen watches node B's live stream.
    let token = login(&b, "1000002");
    assert_eq!(active_calls_seen(&b, &token, hans), 0);
    let mut stream = std::net::TcpStream::connect(b.http).unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.0\r\nHost: test\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                if tx.send(data.trim().to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("ready event");

    // The call goes through node A and is held for a few seconds.
    let uas = support::sipp_uas(&a, "uas_answer.xml", desk_port);
    let target = a.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp(
            "uac_call_held.xml",
            target,
            &["-s", HANS_ONE_NUMBER, "-m", "1", "-d", "10000"],
        )
    });
    // Node B's SSE client hears Hans go on the phone (generous bound: arrival, not timing).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut heard = false;
    while let Ok(data) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let v: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
        if v["user_id"] == hans && v["type"] == "calls" && v["active"] == 1 {
            heard = true;
            break;
        }
    }
    assert!(
        heard,
        "node B's SSE client never heard of the call on node A"
    );
    // And node B, which does not carry the call, shows Hans on the phone.
    assert_eq!(active_calls_seen(&b, &token, hans), 1);
    // A second call to Hans through node B: routed as "on the phone" (to his voicemail),
    // not rung on the desk that is busy on node A's call.
    support::sipp(
        "uac_unavailable.xml",
        b.sip_udp,
        &["-s", HANS_ONE_NUMBER, "-m", "1"],
    )
    .unwrap();
    let line = b
        .wait_log("voicemail hand-off", Duration::from_secs(10))
        .expect("node B hands the second call to voicemail");
    assert!(line.contains("reason=on the phone"), "{line}");
    caller.join().unwrap().unwrap();
    uas.join().unwrap().unwrap();
    // The call is over: node B shows him free again.
    assert!(
        eventually(Duration::from_secs(15), || active_calls_seen(
            &b, &token, hans
        ) == 0),
        "node B still shows Hans on the phone after the call"
    );
}

#[test]
fn the_calls_of_a_node_killed_mid_call_stop_counting_on_the_other() {
    let db = PgDatabase::create();
    let env = [
        ("ONESTATUS_CLUSTER_HEARTBEAT_SECS", "1"),
        ("ONESTATUS_CLUSTER_MISSED_HEARTBEATS", "3"),
    ];
    let mut a = node(&db, &env);
    let b = node(&db, &env);
    let desk_port = support::free_udp_port();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hans = runtime.block_on(async {
        let store = onestatus::store::Store::connect(&db.url).await.unwrap();
        support::bind_device(&store, "1000001", desk_port).await;
        let id = store.user_by_local_number("1000001").await.unwrap().id.0;
        store.close().await;
        id
    });
    let token = login(&b, "1000002");
    let uas = support::sipp_uas(&a, "uas_answer.xml", desk_port);
    let target = a.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp(
            "uac_call_held.xml",
            target,
            &["-s", HANS_ONE_NUMBER, "-m", "1", "-d", "20000"],
        )
    });
    assert!(
        eventually(Duration::from_secs(15), || active_calls_seen(
            &b, &token, hans
        ) == 1),
        "node B never saw the call on node A"
    );
    // Node A dies without a word (no BYE, no NOTIFY, no clean-up).
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(20), || active_calls_seen(
            &b, &token, hans
        ) == 0),
        "the dead node's call still counts on node B"
    );
    // The orphaned SIPps end on their own timeout (their failure is not this test's subject);
    // not waited for.
    drop((caller, uas));
}

/// A feed server on loopback counting its requests (bounded, in a thread of its own).
fn counting_feed() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//nodes//EN\r\n\
        BEGIN:VEVENT\r\nUID:nodes-1@test\r\nDTSTAMP:20260316T070000Z\r\n\
        DTSTART:20260317T090000Z\r\nDTEND:20260317T100000Z\r\nSUMMARY:Budget\r\n\
        END:VEVENT\r\nEND:VCALENDAR\r\n";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed.ics", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{FEED}",
                FEED.len()
            );
        }
    });
    (url, count)
}

#[test]
fn one_node_polls_a_calendar_source_and_the_other_takes_over_when_it_dies() {
    use std::sync::atomic::Ordering;
    let db = PgDatabase::create();
    let common = [
        ("ONESTATUS_CALENDAR_SYNC_INTERVAL_SECS", "2"),
        ("ONESTATUS_CALENDAR_ALLOW_HTTP", "true"),
        ("ONESTATUS_CALENDAR_ALLOWED_NETWORKS", "[\"127.0.0.1\"]"),
    ];
    let with_id = |id: &'static str| {
        let mut env = common.to_vec();
        env.push(("ONESTATUS_CLUSTER_NODE_ID", id));
        env
    };
    let mut a = node(&db, &with_id("node-a"));
    let (url, fetches) = counting_feed();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime
        .block_on(onestatus::store::Store::connect(&db.url))
        .unwrap();
    runtime.block_on(async {
        let hans = store.user_by_local_number("1000001").await.unwrap();
        store
            .calendar_source_create(
                hans.id,
                onestatus::domain::model::CalendarSourceKind::Url,
                &url,
                None,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    });
    let mut b = node(&db, &with_id("node-b"));
    let holder = || -> Option<String> {
        runtime.block_on(async {
            use sqlx::Row;
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let row = sqlx::query("SELECT holder FROM cluster_leases")
                .fetch_optional(&pool)
                .await
                .unwrap();
            pool.close().await;
            row.map(|r| r.get::<String, _>(0))
        })
    };

    // Both nodes run their 2-second rounds for 9 seconds: one poller makes about 4 or 5
    // fetches, two would make about 9.
    let started = fetches.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(9));
    let polled = fetches.load(Ordering::SeqCst) - started;
    assert!(
        (2..=6).contains(&polled),
        "{polled} fetches in 9 s at a 2 s interval: not one poller"
    );

    // The holder dies without a word; after its lease (two intervals) the other takes over.
    let first = holder().expect("a node holds the source's lease");
    let survivor = if first == "node-a" {
        a.child.kill().unwrap();
        a.child.wait().unwrap();
        "node-b"
    } else {
        b.child.kill().unwrap();
        b.child.wait().unwrap();
        "node-a"
    };
    let before = fetches.load(Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(20), || {
            holder().as_deref() == Some(survivor) && fetches.load(Ordering::SeqCst) > before
        }),
        "{survivor} did not take over the calendar source from {first}"
    );
    runtime.block_on(store.close());
}

/// Debian's `kamailio` with `deploy/kamailio/kamailio.cfg` on a loopback port, dispatching to
/// `nodes`. Killed when dropped.
pub(crate) struct Kamailio {
    child: std::process::Child,
    pub(crate) address: SocketAddr,
    /// Where it listens for TCP phones ([`Kamailio::start_with_tcp`]).
    pub(crate) tcp: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    fn start(nodes: &[SocketAddr]) -> Kamailio {
        Self::start_listening(nodes, false)
    }

    /// Also listening on a loopback TCP port, for phones on TCP (`LISTEN_TCP`).
    pub(crate) fn start_with_tcp(nodes: &[SocketAddr]) -> Kamailio {
        Self::start_listening(nodes, true)
    }

    fn start_listening(nodes: &[SocketAddr], with_tcp: bool) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("dispatcher.list");
        let lines: String = nodes.iter().map(|n| format!("1 sip:{n}\n")).collect();
        std::fs::write(&list, lines).unwrap();
        let port = support::free_udp_port();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let tcp: Option<SocketAddr> = with_tcp.then(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
        });
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-f"])
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/deploy/kamailio/kamailio.cfg"
            ))
            .arg("-A")
            .arg(format!("LISTEN=udp:{address}"))
            .arg("-A")
            .arg(format!("DISPATCHER_LIST=\"{}\"", list.display()))
            .args(
                tcp.iter()
                    .flat_map(|t| ["-A".to_owned(), format!("LISTEN_TCP=tcp:{t}")]),
            )
            .arg("-Y")
            .arg(dir.path())
            // Its own process group, so that the drop can end the workers it forks too.
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("kamailio runs (Debian package kamailio)");
        let kamailio = Kamailio {
            child,
            address,
            tcp,
            _dir: dir,
        };
        // Up once it answers a keepalive OPTIONS addressed to itself.
        let probe = SipClient::new(address);
        assert!(
            eventually(Duration::from_secs(15), || probe
                .options()
                .is_some_and(|s| s.contains("200"))),
            "kamailio did not come up"
        );
        kamailio
    }
}

impl Drop for Kamailio {
    /// Ends the whole process group: a SIGKILL to the main process alone left its forked
    /// workers running (seven idle Kamailios after one run of the nodes tests). SIGTERM first,
    /// on which the main process stops its workers; SIGKILL to the group if it has not ended
    /// within 5 s.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            let _ = Command::new("kill")
                .args([name, "--", &group])
                .stderr(std::process::Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("-KILL");
        let _ = self.child.wait();
    }
}

#[test]
fn registrations_through_kamailio_spread_over_two_nodes_and_all_succeed() {
    let db = PgDatabase::create();
    let secret = [("ONESTATUS_SIP_NONCE_SECRET", SECRET)];
    let a = node(&db, &secret);
    let b = node(&db, &secret);
    let kamailio = Kamailio::start(&[a.sip_udp, b.sip_udp]);
    // Round robin: a REGISTER's challenge and its answer go to different nodes. An OPTIONS to
    // a user (forwarded, unlike a keepalive) in between shifts the turn, so that each node
    // accepts a REGISTER challenged by the other. On a loaded machine a retransmission through
    // the dispatcher can shift the turn too, so the rounds go on (bounded) until each node has
    // accepted one; every REGISTER must succeed whichever node answers.
    let mut answers = Vec::new();
    let (mut accepted_by_a, mut accepted_by_b) = (false, false);
    for round in 0..8 {
        answers.push(challenged_by_one_answered_to_other(
            kamailio.address,
            kamailio.address,
        ));
        // The log is a queue: each line is read once, so remember what was seen.
        let accepted = |node: &TestServer| {
            node.wait_log("registered", Duration::from_millis(300))
                .is_some()
        };
        accepted_by_a |= accepted(&a);
        accepted_by_b |= accepted(&b);
        if accepted_by_a && accepted_by_b {
            break;
        }
        if round % 2 == 0 {
            let client = SipClient::new(kamailio.address);
            let branch = format!("z9hG4bK-kam-{}", support::rand_token());
            client.send(
                format!(
                    "OPTIONS sip:1000001@onestatus SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=k1\r\nTo: <sip:1000001@onestatus>\r\n\
                     Call-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                    local = client.local()
                )
                .as_bytes(),
            );
            client
                .recv_within(Duration::from_secs(5))
                .expect("OPTIONS answered by a node");
        }
    }
    for answer in &answers {
        assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    }
    assert!(
        accepted_by_a,
        "node A accepted none in {} rounds",
        answers.len()
    );
    assert!(
        accepted_by_b,
        "node B accepted none in {} rounds",
        answers.len()
    );
}

#[test]
fn a_draining_node_is_taken_out_of_kamailios_rotation() {
    let db = PgDatabase::create();
    let env = [
        ("ONESTATUS_SIP_NONCE_SECRET", SECRET),
        ("ONESTATUS_CALLS_NO_ANSWER_TIMEOUT_SECS", "120"),
    ];
    let a = node(&db, &env);
    let b = node(&db, &env);
    let kamailio = Kamailio::start(&[a.sip_udp, b.sip_udp]);
    // A call keeps node A draining once it is told to stop.
    let _call = ring_without_answer(&a, &db.url);
    Command::new("kill")
        .arg("-TERM")
        .arg(a.child.id().to_string())
        .status()
        .unwrap();
    assert!(a
        .wait_log("shutting down", Duration::from_secs(10))
        .is_some());
    // Kamailio probes every 2 s; A answers 503 and is taken out. Give it a few probes.
    std::thread::sleep(Duration::from_secs(6));
    for _ in 0..2 {
        let answer = challenged_by_one_answered_to_other(kamailio.address, kamailio.address);
        assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    }
    // Every REGISTER went to B: A (which would still accept one while draining) saw none.
    assert!(b.wait_log("registered", Duration::from_secs(5)).is_some());
    assert!(
        a.wait_log("registered", Duration::from_secs(2)).is_none(),
        "the draining node A still got REGISTERs from Kamailio"
    );
}

#[test]
fn calls_through_kamailio_are_carried_by_either_node_end_to_end() {
    let db = PgDatabase::create();
    let secret = [("ONESTATUS_SIP_NONCE_SECRET", SECRET)];
    let a = node(&db, &secret);
    let b = node(&db, &secret);
    let kamailio = Kamailio::start(&[a.sip_udp, b.sip_udp]);
    let desk_port = support::free_udp_port();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = onestatus::store::Store::connect(&db.url).await.unwrap();
        support::bind_device(&store, "1000001", desk_port).await;
        store.close().await;
    });
    // Two calls in a row through the proxy: round robin hands one to each node; ACK and BYE
    // follow the Record-Route set through Kamailio to the node that carries the call.
    for _ in 0..2 {
        let uas = support::sipp_uas(&a, "uas_answer.xml", desk_port);
        support::sipp(
            "uac_call_routed.xml",
            kamailio.address,
            &["-s", HANS_ONE_NUMBER, "-m", "1"],
        )
        .unwrap();
        uas.join().unwrap().unwrap();
    }
    assert!(
        a.wait_log("call over", Duration::from_secs(5)).is_some(),
        "node A carried no call"
    );
    assert!(
        b.wait_log("call over", Duration::from_secs(5)).is_some(),
        "node B carried no call"
    );
}
