//! A small W3C WebDriver client (W3C WebDriver, https://www.w3.org/TR/webdriver2/) for the
//! browser tests: Debian's `chromedriver` on a loopback port, driving Debian's `chromium`
//! headless.
//!
//! Why not a crate such as fantoccini: it brings its own HTTP client stack, cookie and
//! WebDriver-protocol crates (a dozen new dependencies for CI to build) for the dozen commands
//! these tests need, which are JSON over HTTP/1.1 on loopback. A blocking `TcpStream` and
//! `serde_json` (already dependencies) do that in the length of this file, and keep the tests
//! synchronous, like the other process-driving tests.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where Debian puts them (`apt-get install chromium chromium-driver`, done by `.ci/run`).
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver. Killed when dropped.
pub(crate) struct Driver {
    child: Child,
    port: u16,
}

/// How a browser window is set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub width: u32,
    pub height: u32,
    /// Emulate a phone of this width (CSS pixels) instead of a desktop window.
    pub mobile: bool,
}

impl Window {
    pub(crate) const DESKTOP: Window = Window {
        width: 1200,
        height: 800,
        mobile: false,
    };
    pub(crate) const PHONE: Window = Window {
        width: 360,
        height: 740,
        mobile: true,
    };
}

impl Driver {
    /// Starts chromedriver. Fails the test (never skips) when chromium or chromedriver is
    /// missing: CI installs them, and a silently skipped browser test proves nothing.
    pub(crate) fn start() -> Driver {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's `{package}` \
                 (apt-get install chromium chromium-driver; .ci/run does it)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, v)) = request(port, "GET", "/status", None) {
                if v["value"]["ready"] == json!(true) {
                    return driver;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new browser session: its own profile, so its own cookies (a separate user).
    pub(crate) fn browser(&self, window: Window) -> Browser {
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--lang=da".to_owned(),
        ];
        let mut options = json!({ "binary": CHROMIUM });
        if window.mobile {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": window.width, "height": window.height, "pixelRatio": 1.0 }
            });
        } else {
            args.push(format!("--window-size={},{}", window.width, window.height));
        }
        options["args"] = json!(args);
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "timeouts": { "script": 60_000, "pageLoad": 30_000, "implicit": 0 }
        }}});
        let (status, v) =
            request(self.port, "POST", "/session", Some(&caps)).expect("chromedriver answers");
        assert_eq!(status, 200, "new session refused: {v}");
        let id = v["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        Browser {
            port: self.port,
            id,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window (a WebDriver session). Closed when dropped.
pub(crate) struct Browser {
    port: u16,
    id: String,
}

impl Browser {
    /// A session command; panics with the driver's message on an error.
    pub(crate) fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// A session command, with the driver's error as `Err`.
    pub(crate) fn try_cmd(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.id);
        let (status, v) = request(self.port, method, &path, body.as_ref())?;
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{status} {}: {}",
                v["value"]["error"],
                v["value"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ))
        }
    }

    pub(crate) fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub(crate) fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Runs an asynchronous script: it calls `arguments[arguments.length - 1]` with the result.
    pub(crate) fn exec_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub(crate) fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.try_cmd(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            );
            if let Ok(v) = found {
                // A web element is an object with one key (the W3C "web element identifier").
                return v
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_str)
                    .expect("element reference")
                    .to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css:?} within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the element matching `css` (as a user would: scrolled into view, hit-tested).
    pub(crate) fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types `text` into the element matching `css`.
    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Sets an input's value and fires `input` and `change`, for inputs whose typing is
    /// locale-dependent (time, date).
    pub(crate) fn set_value(&self, css: &str, value: &str) {
        self.find(css);
        self.exec(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1];
             e.dispatchEvent(new Event('input', {bubbles: true}));
             e.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([css, value]),
        );
    }

    /// Waits up to `limit` for the JavaScript expression `expr` to be truthy; returns its
    /// value. Polls every 25 ms.
    pub(crate) fn wait_for(&self, what: &str, expr: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        let script = format!("return ({expr});");
        loop {
            let v = self.exec(&script, json!([]));
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen within {limit:?}; page says:\n{}",
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The visible text of the page.
    pub(crate) fn body_text(&self) -> String {
        self.exec(
            "return document.body ? document.body.innerText : ''",
            json!([]),
        )
        .as_str()
        .unwrap_or("")
        .to_owned()
    }

    /// Saves a PNG screenshot of the viewport.
    pub(crate) fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 screenshot"))
            .expect("valid base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(self.port, "DELETE", &format!("/session/{}", self.id), None);
    }
}

/// One HTTP/1.1 request to chromedriver; returns (status, JSON body).
fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open despite `Connection: close`: read the head, then
    // exactly the body it announces.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let split = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the HTTP head".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked =
        head.contains("transfer-encoding: chunked") || head.contains("transfer-encoding:chunked");
    let mut payload = raw[split + 4..].to_vec();
    loop {
        let complete = match length {
            Some(n) => payload.len() >= n,
            None if chunked => payload.windows(5).any(|w| w == b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&buf[..n]);
    }
    if chunked {
        payload = dechunk(&payload);
    }
    let value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    Ok((status, value))
}

/// The body of a chunked transfer coding (RFC 9112 §7.1).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}
