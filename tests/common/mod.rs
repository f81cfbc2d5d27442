//! Starting the real `onestatus` binary on loopback ports for integration tests.
//!
//! The server is told to bind port 0 everywhere; the ports it got are read from its
//! "onestatus is up" log line, so tests can run in parallel without port clashes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running server. Killed when dropped.
pub struct TestServer {
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

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_onestatus")
}

/// Base command with a private data dir and port-0 listeners.
pub fn command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,onestatus=debug")
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
    pub fn start_demo() -> TestServer {
        Self::start_with(&["serve", "--demo"], &[])
    }

    /// Starts with extra args and env, on a fresh data dir.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(temp.path(), args, env);
        server._temp = Some(temp);
        server
    }

    /// Starts on an existing data dir (for restart tests).
    pub fn start_in(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
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
            let line = match rx.recv_timeout(remaining) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!("server did not come up; log:\n{}", seen.join("\n"));
                }
            };
            if let Some(listening) = line.split("listening=").nth(1) {
                let field = |key: &str| -> SocketAddr {
                    listening
                        .split(|c: char| c == ' ' || c == '"')
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
    pub fn terminate(&mut self) -> std::process::ExitStatus {
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
    pub fn wait_log(&self, needle: &str, limit: Duration) -> Option<String> {
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
    pub fn http_get(&self, path: &str) -> (u16, String) {
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
