//! A real HTTP server on loopback standing in for the SMS gateway (`sms.gateway_url`): it
//! reads each POST (request line, headers, `Content-Length` body), keeps the JSON
//! `{"to", "text"}` it carried, and answers with the next status of a script the test gives
//! (503 three times then 200, say), 200 once the script is used up.
#![allow(dead_code)]
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request the gateway got.
#[derive(Debug, Clone)]
pub(crate) struct Posted {
    /// Request line's method.
    pub method: String,
    /// Request line's path.
    pub path: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The body as JSON (Null if it was not).
    pub json: serde_json::Value,
    /// The status we answered.
    pub answered: u16,
}

/// The gateway.
pub(crate) struct SmsGateway {
    /// `http://127.0.0.1:<port>/sms`
    pub url: String,
    posted: Mutex<mpsc::Receiver<Posted>>,
}

impl SmsGateway {
    /// Starts on 127.0.0.1:0, answering with `script` in order, then 200.
    pub(crate) fn start(script: &[u16]) -> SmsGateway {
        let listener = TcpListener::bind("127.0.0.1:0").expect("gateway listener");
        let port = listener.local_addr().expect("gateway port").port();
        let script = Arc::new(Mutex::new(
            script.iter().copied().collect::<VecDeque<u16>>(),
        ));
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let script = script.clone();
                let tx = tx.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &script, &tx);
                });
            }
        });
        SmsGateway {
            url: format!("http://127.0.0.1:{port}/sms"),
            posted: Mutex::new(rx),
        }
    }

    /// The next request, waiting at most `within`.
    pub(crate) fn next(&self, within: Duration) -> Option<Posted> {
        self.posted.lock().unwrap().recv_timeout(within).ok()
    }
}

fn serve(
    stream: std::net::TcpStream,
    script: &Mutex<VecDeque<u16>>,
    tx: &mpsc::Sender<Posted>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut content_type = String::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.trim().eq_ignore_ascii_case("content-type") {
                content_type = value.trim().to_owned();
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let status = script.lock().unwrap().pop_front().unwrap_or(200);
    let reason = if status == 200 { "OK" } else { "Scripted" };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    out.flush()?;
    let _ = tx.send(Posted {
        method,
        path,
        content_type,
        json: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        answered: status,
    });
    Ok(())
}
