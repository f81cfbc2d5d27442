//! The server's life cycle, driven through the real binary: start-up on the embedded default,
//! one-line errors with exit code 2, graceful SIGTERM.

use crate::support;

use std::time::Duration;

use crate::support::TestServer;

#[test]
fn serve_demo_listens_on_sip_and_http_within_two_seconds() {
    let mut server = TestServer::start_demo();
    assert!(
        server.startup < Duration::from_secs(2),
        "took {:?}",
        server.startup
    );
    assert_eq!(
        server.sip_udp.port(),
        server.sip_tcp.port(),
        "UDP and TCP share a port"
    );
    std::net::TcpStream::connect(server.sip_tcp).expect("SIP TCP accepts");
    let (status, body) = server.http_get("/api/v1/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ok\""), "{body}");
    assert!(
        server.data_dir.join("onestatus.db").exists(),
        "SQLite file created"
    );
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
}

fn run_failing(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let temp = tempfile::tempdir().unwrap();
    let mut cmd = support::command(temp.path());
    cmd.args(args).stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn corrupt_config_is_one_line_and_exit_2() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("bad.toml");
    std::fs::write(&path, "[sip]\nt1_ms = \"fast\"\n").unwrap();
    let (code, stderr) = run_failing(&["serve", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("onestatus:"))
        .expect(&stderr);
    assert!(
        line.contains("bad.toml:2") && line.contains("sip.t1_ms"),
        "{line}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unreadable_config_is_exit_2() {
    let (code, stderr) = run_failing(&["serve", "--config", "/nonexistent/onestatus.toml"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot read config file"), "{stderr}");
}

#[test]
fn unreachable_database_is_exit_2() {
    let (code, stderr) = run_failing(
        &["serve"],
        &[(
            "ONESTATUS_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/x",
        )],
    );
    assert_eq!(code, Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("onestatus:"))
        .expect(&stderr);
    assert!(
        line.contains("database postgres://postgres@127.0.0.1:1/x"),
        "{line}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn address_in_use_is_exit_2() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (code, stderr) = run_failing(&["serve"], &[("ONESTATUS_HTTP_LISTEN", &addr)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot listen on HTTP"), "{stderr}");
}

#[test]
fn migrate_creates_the_database() {
    let temp = tempfile::tempdir().unwrap();
    let output = support::command(temp.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(temp.path().join("onestatus.db").exists());
}
