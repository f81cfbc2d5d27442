//! A stand-in for an operator's number directory (issue #23): a real HTTP/1.1 server on a
//! loopback port 0 that answers `GET /lookup?number=<digits>` from a table, the way a Danish
//! number directory would be plugged into `[directory] url`. It counts the requests per
//! number (to see the cache work) and can answer slowly (to see the timeouts work).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the stand-in answers for one number.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// 200 with this JSON document.
    Json(String),
    /// 200 with this vCard.
    Vcard(String),
    /// This status, empty body.
    Status(u16),
    /// The answer after a delay (longer than a client's read timeout, in the timeout test).
    Slow(Duration, Box<Answer>),
}

/// The running stand-in; stops accepting when dropped.
pub(crate) struct DirectoryServer {
    pub addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, u32>>>,
    stop: Arc<AtomicBool>,
}

impl DirectoryServer {
    /// Serves `answers` (number → answer); an unknown number is 404.
    pub(crate) fn start(answers: HashMap<String, Answer>) -> DirectoryServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(answers);
        {
            let (hits, stop) = (hits.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (hits, answers) = (hits.clone(), answers.clone());
                            thread::spawn(move || serve(stream, &answers, &hits));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        DirectoryServer { addr, hits, stop }
    }

    /// `[directory] url` for this stand-in.
    pub(crate) fn url_template(&self) -> String {
        format!("http://{}/lookup?number={{number}}", self.addr)
    }

    /// How many requests asked for `number`.
    pub(crate) fn hits(&self, number: &str) -> u32 {
        self.hits.lock().unwrap().get(number).copied().unwrap_or(0)
    }
}

impl Drop for DirectoryServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: std::net::TcpStream,
    answers: &HashMap<String, Answer>,
    hits: &Mutex<HashMap<String, u32>>,
) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the header fields.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let number = target
        .split_once("number=")
        .map(|(_, n)| n.split('&').next().unwrap_or("").to_owned())
        .unwrap_or_default();
    *hits.lock().unwrap().entry(number.clone()).or_default() += 1;
    let mut answer = answers.get(&number).cloned().unwrap_or(Answer::Status(404));
    while let Answer::Slow(delay, inner) = answer {
        thread::sleep(delay);
        answer = *inner;
    }
    let (status, content_type, body) = match answer {
        Answer::Json(body) => (200, "application/json", body),
        Answer::Vcard(body) => (200, "text/vcard", body),
        Answer::Status(code) => (code, "text/plain", String::new()),
        Answer::Slow(..) => unreachable!("unwrapped above"),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
