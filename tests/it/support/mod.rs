//! What the integration tests share. This module: starting the real `onestatus` binary on
//! loopback ports, SIPp, a raw SIP client. [`rtp_peer`]: the far end of an RTP stream.
//! [`smtp`]: the one SMTP receiver. [`voicemail`]: the SIPp voicemail tests' server, capture
//! and prompts.
//!
//! The server is told to bind port 0 everywhere; the ports it got are read from its
//! "onestatus is up" log line, so tests can run in parallel without port clashes.
#![allow(dead_code)]
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

pub(crate) mod directory_server;
pub(crate) mod lamp_phone;
pub(crate) mod rtp_peer;
pub(crate) mod sms_gateway;
pub(crate) mod smtp;
pub(crate) mod voicemail;
pub(crate) mod webdriver;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running server. Killed when dropped.
pub(crate) struct TestServer {
    pub child: Child,
    pub sip_udp: SocketAddr,
    pub sip_tcp: SocketAddr,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    pub startup: Duration,
    /// Log lines after start-up, for tests that look for a message.
    pub log: mpsc::Receiver<String>,
    _temp: Option<tempfile::TempDir>,
}

pub(crate) fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_onestatus")
}

/// Base command with a private data dir and port-0 listeners.
pub(crate) fn command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,onestatus=debug,sqlx=warn")
        .env("ONESTATUS_DATA_DIR", data_dir)
        .env("ONESTATUS_SIP_LISTEN", "[\"127.0.0.1:0\"]")
        .env("ONESTATUS_HTTP_LISTEN", "127.0.0.1:0")
        .env(
            "ONESTATUS_PROMPT_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl TestServer {
    /// `onestatus serve --demo` on a fresh SQLite database.
    pub(crate) fn start_demo() -> TestServer {
        Self::start_with(&["serve", "--demo"], &[])
    }

    /// Starts with extra args and env, on a fresh data dir.
    pub(crate) fn start_with(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(temp.path(), args, env);
        server._temp = Some(temp);
        server
    }

    /// Starts on an existing data dir (for restart tests).
    pub(crate) fn start_in(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut cmd = command(data_dir);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn onestatus");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("ONESTATUS_TEST_ECHO").is_some() {
                    eprintln!("server: {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(remaining) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not come up; log:\n{}", seen.join("\n"));
            };
            if let Some(listening) = line.split("listening=").nth(1) {
                let field = |key: &str| -> SocketAddr {
                    listening
                        .split([' ', '"'])
                        .find_map(|part| part.strip_prefix(key))
                        .and_then(|a| a.parse().ok())
                        .unwrap_or_else(|| panic!("no {key} in {line}"))
                };
                return TestServer {
                    sip_udp: field("sip+udp="),
                    sip_tcp: field("sip+tcp="),
                    http: field("http="),
                    data_dir: data_dir.to_owned(),
                    startup: started.elapsed(),
                    child,
                    log: rx,
                    _temp: None,
                };
            }
            seen.push(line);
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for a log line containing `needle`.
    pub(crate) fn wait_log(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while let Ok(line) = self
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    }

    /// A plain HTTP/1.1 GET over a real socket; returns (status, body).
    pub(crate) fn http_get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.http).expect("connect http");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (status, body)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sipp` with a scenario from `testdata/sipp/` against the server; returns whether every
/// call succeeded, with SIPp's error log on failure. Bounded: `-m` calls and a timeout.
pub(crate) fn sipp(scenario: &str, target: SocketAddr, args: &[&str]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let errors = dir.path().join("errors.log");
    let messages = dir.path().join("messages.log");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/sipp")
        .join(scenario);
    let output = Command::new("timeout")
        .arg("60")
        .arg("sipp")
        .arg("-sf")
        .arg(&path)
        .arg(target.to_string())
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .args(["-trace_err", "-error_file"])
        .arg(&errors)
        .args(["-trace_msg", "-message_file"])
        .arg(&messages)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sipp runs (Debian package sip-tester)");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "sipp {scenario} exit {:?}\nerrors:\n{}\nmessages:\n{}",
            output.status.code(),
            std::fs::read_to_string(&errors).unwrap_or_default(),
            std::fs::read_to_string(&messages).unwrap_or_default(),
        ))
    }
}

/// A UDP socket on loopback that talks raw SIP to the server.
pub(crate) struct SipClient {
    pub socket: std::net::UdpSocket,
    pub server: SocketAddr,
}

impl SipClient {
    pub(crate) fn new(server: SocketAddr) -> SipClient {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        SipClient { socket, server }
    }

    pub(crate) fn local(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    pub(crate) fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).unwrap();
    }

    /// The next datagram within `limit`, as text.
    pub(crate) fn recv_within(&self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut buffer = [0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.socket.recv_from(&mut buffer) {
                return Some(String::from_utf8_lossy(&buffer[..n]).into_owned());
            }
        }
        None
    }

    /// The first response that arrives within `limit`, passing over requests (a registered
    /// test phone also gets our message-waiting NOTIFY after its REGISTER).
    pub(crate) fn recv_response_within(&self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let message = self.recv_within(deadline.saturating_duration_since(Instant::now()))?;
            if message.starts_with("SIP/2.0 ") {
                return Some(message);
            }
        }
        None
    }

    /// Every datagram that arrives within `window`.
    pub(crate) fn collect(&self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while Instant::now() < deadline {
            if let Some(m) = self.recv_within(deadline.saturating_duration_since(Instant::now())) {
                out.push(m);
            }
        }
        out
    }

    /// An OPTIONS with a fresh branch; returns the status line of the answer, if any.
    pub(crate) fn options(&self) -> Option<String> {
        let branch = format!("z9hG4bK-opt-{}", rand_token());
        let msg = format!(
            "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p1\r\nTo: <sip:{server}>\r\n\
             Call-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            server = self.server,
            local = self.local(),
        );
        self.send(msg.as_bytes());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let reply = self.recv_within(Duration::from_millis(500))?;
            if reply.contains(&branch) {
                return reply.lines().next().map(str::to_owned);
            }
        }
        None
    }
}

/// A random token for branches and tags.
pub(crate) fn rand_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}x{n}", std::process::id())
}

/// Resident set size of a process in KiB (Linux /proc).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A UDP port on loopback free right now, for a SIPp UAS to bind.
pub(crate) fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a registrar binding for the first device of the user with `local_number` at
/// 127.0.0.1:`port` (UDP, one hour), as the registrar would after a REGISTER.
pub(crate) async fn bind_device(store: &onestatus::store::Store, local_number: &str, port: u16) {
    let now = chrono::Utc::now();
    let user = store.user_by_local_number(local_number).await.unwrap();
    let device = store.devices(user.id).await.unwrap().remove(0);
    store
        .registration_upsert(
            &onestatus::domain::model::Binding {
                user_id: user.id,
                device_id: Some(device.id),
                contact_uri: format!("sip:{local_number}@127.0.0.1:{port}"),
                expires_at: now + chrono::Duration::hours(1),
                call_id: format!("test-{port}"),
                cseq: 1,
                q_millis: 1000,
                received_addr: format!("127.0.0.1:{port}"),
                transport: "udp".into(),
                instance_id: None,
                reg_id: None,
                path: Vec::new(),
                node_id: None,
            },
            now,
        )
        .await
        .unwrap();
}

/// Runs a SIPp UAS `scenario` on 127.0.0.1:`port` for one call in a thread (join for its
/// result), after giving it time to bind.
pub(crate) fn sipp_uas(
    server: &TestServer,
    scenario: &'static str,
    port: u16,
) -> std::thread::JoinHandle<Result<(), String>> {
    let target = server.sip_udp;
    let port = port.to_string();
    let handle = std::thread::spawn(move || sipp(scenario, target, &["-p", &port, "-m", "1"]));
    std::thread::sleep(Duration::from_millis(400));
    handle
}

/// Gives the user with `local_number` working hours around the clock, every day, in the
/// running server's database: routing then never moves a return time to the next working
/// start, so a test that runs at any hour of the wall clock can expect "back at" to be the
/// absence's own end.
pub(crate) fn work_around_the_clock(server: &TestServer, local_number: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!(
            "sqlite://{}",
            server.data_dir.join("onestatus.db").display()
        );
        let store = onestatus::store::Store::connect(&url).await.unwrap();
        let user = store.user_by_local_number(local_number).await.unwrap();
        let mut profile = user.profile.clone();
        profile.working_hours = onestatus::store::WorkingHours {
            start: onestatus::store::MinuteOfDay::MIDNIGHT,
            end: onestatus::store::MinuteOfDay::END_OF_DAY,
            days: onestatus::store::Weekdays::ALL,
        };
        store.user_update_profile(user.id, &profile).await.unwrap();
    });
}

/// One HTTP/1.1 request with `Connection: close` and an optional bearer token; the status and
/// the JSON body (`Null` when there is none). Shared by the MWI, baresip and delivery tests.
pub(crate) fn http_json(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
    std::io::Write::write_all(&mut stream, body.as_bytes()).unwrap();
    let mut response = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b.trim()).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}
