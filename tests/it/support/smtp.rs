//! The one SMTP receiver of the integration tests: a small RFC 5321 server on 127.0.0.1:0
//! (greeting, EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), on threads
//! of its own so blocking tests (a `onestatus` process mailing) and async ones (the notifier
//! in-process) use it alike. It can also misbehave, for the notifier's failure paths.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How the receiver behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relay {
    /// Accepts every message.
    Accept,
    /// Greets with 421 (service not available, RFC 5321 §4.2.3): a transient failure.
    Busy,
    /// Refuses every recipient with 550: a permanent failure.
    RefuseRecipient,
    /// Accepts the connection and never says anything.
    Silent,
}

/// One message as the receiver got it.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// The EHLO/HELO argument.
    pub helo: String,
    /// The MAIL argument (`FROM:<..>`).
    pub mail_from: String,
    /// The RCPT arguments (`TO:<..>`).
    pub rcpt_to: Vec<String>,
    /// The DATA, dot-unstuffed, without the final dot.
    pub data: String,
}

/// A running receiver: its port, the mails it took and the connections it saw.
pub(crate) struct SmtpReceiver {
    /// The port on 127.0.0.1.
    pub port: u16,
    mails: Mutex<mpsc::Receiver<Received>>,
    connections: Arc<AtomicU32>,
}

impl SmtpReceiver {
    /// Starts a receiver on 127.0.0.1:0 behaving as `mode`. It runs until the test process
    /// ends (its threads block in `accept`).
    pub(crate) fn start(mode: Relay) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("SMTP listener");
        let port = listener.local_addr().expect("SMTP port").port();
        let (tx, rx) = mpsc::channel();
        let connections = Arc::new(AtomicU32::new(0));
        let counter = connections.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let tx = tx.clone();
                thread::spawn(move || {
                    let _ = session(stream, mode, &tx);
                });
            }
        });
        SmtpReceiver {
            port,
            mails: Mutex::new(rx),
            connections,
        }
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> u32 {
        self.connections.load(Ordering::SeqCst)
    }

    /// A mail already received, without waiting.
    pub(crate) fn try_next(&self) -> Option<Received> {
        self.mails.lock().unwrap().try_recv().ok()
    }

    /// The next mail, waiting at most `within` (blocking the thread).
    pub(crate) fn next_blocking(&self, within: Duration) -> Option<Received> {
        self.mails.lock().unwrap().recv_timeout(within).ok()
    }

    /// The next mail, waiting at most `within` without blocking the async runtime.
    pub(crate) async fn next(&self, within: Duration) -> Option<Received> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(mail) = self.mails.lock().unwrap().try_recv() {
                return Some(mail);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One SMTP conversation.
fn session(stream: TcpStream, mode: Relay, tx: &mpsc::Sender<Received>) -> std::io::Result<()> {
    let mut write = stream.try_clone()?;
    let mut read = BufReader::new(stream);
    match mode {
        Relay::Silent => {
            thread::sleep(Duration::from_secs(30));
            return Ok(());
        }
        Relay::Busy => {
            write.write_all(b"421 test.local Service not available, try later\r\n")?;
            return Ok(());
        }
        Relay::Accept | Relay::RefuseRecipient => {
            write.write_all(b"220 test.local ESMTP ready\r\n")?;
        }
    }
    let mut current = Received::default();
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']).to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let argument = |skip: usize| command.get(skip..).unwrap_or("").trim().to_owned();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => {
                current.helo = argument(4);
                b"250 test.local greets you\r\n"
            }
            "MAIL" => {
                current.mail_from = argument(5);
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" if mode == Relay::RefuseRecipient => b"550 5.1.1 No such user\r\n",
            "RCPT" => {
                current.rcpt_to.push(argument(5));
                b"250 2.1.5 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if read.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: remove the first of a leading pair of dots.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                current.data = data;
                let _ = tx.send(std::mem::take(&mut current));
                b"250 2.0.0 Queued\r\n"
            }
            "RSET" | "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n")?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognized\r\n",
        };
        write.write_all(reply)?;
    }
}
