//! A desk phone on a raw UDP socket that registers with SHA-256 digest, subscribes to its
//! mailbox (RFC 3842 `message-summary`) and keeps the state of its message-waiting lamp from
//! the NOTIFYs it gets, answering each with the status the test chose (200, or 481 to play a
//! phone that has lost the subscription).
#![allow(dead_code)]
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// One NOTIFY the phone got.
#[derive(Debug, Clone)]
pub(crate) struct Notify {
    /// The whole request.
    pub text: String,
    /// `Subscription-State`.
    pub state: String,
    /// The lamp: `Messages-Waiting: yes`.
    pub waiting: bool,
    /// `Voice-Message: new/old`.
    pub new: u32,
    pub old: u32,
    /// Call-ID: the subscription's, or a fresh one for an unsolicited NOTIFY.
    pub call_id: String,
}

/// The phone.
pub(crate) struct LampPhone {
    pub socket: UdpSocket,
    server: SocketAddr,
    user: String,
    password: String,
    cseq: u32,
    /// The status our next answers to NOTIFY carry.
    pub notify_answer: u16,
    /// Requests and responses that arrived while waiting for something else.
    backlog: Vec<String>,
}

/// The value of the first header `name` (case-insensitive).
pub(crate) fn header(message: &str, name: &str) -> Option<String> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn param(challenge: &str, name: &str) -> Option<String> {
    challenge.split(',').find_map(|p| {
        let (k, v) = p.trim().trim_start_matches("Digest ").split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
    })
}

impl LampPhone {
    /// A phone for `user` (the demo password is `demo<user>`).
    pub(crate) fn new(server: SocketAddr, user: &str) -> LampPhone {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        LampPhone {
            socket,
            server,
            user: user.to_owned(),
            password: format!("demo{user}"),
            cseq: 0,
            notify_answer: 200,
            backlog: Vec::new(),
        }
    }

    /// A phone for `user` that knows a wrong `password`.
    pub(crate) fn with_password(server: SocketAddr, user: &str, password: &str) -> LampPhone {
        let mut phone = LampPhone::new(server, user);
        password.clone_into(&mut phone.password);
        phone
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    fn send(&self, text: &str) {
        self.socket.send_to(text.as_bytes(), self.server).unwrap();
    }

    /// Answers a request the server sent us (NOTIFY with `notify_answer`, anything else 200).
    fn answer(&self, request: &str, from: SocketAddr) {
        let code = if request.starts_with("NOTIFY ") {
            self.notify_answer
        } else {
            200
        };
        let reason = if code == 200 { "OK" } else { "Refused" };
        let to = header(request, "To").unwrap_or_default();
        let to = if to.contains("tag=") {
            to
        } else {
            format!("{to};tag=lamp")
        };
        let reply = format!(
            "SIP/2.0 {code} {reason}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
            header(request, "Via").unwrap_or_default(),
            header(request, "From").unwrap_or_default(),
            header(request, "Call-ID").unwrap_or_default(),
            header(request, "CSeq").unwrap_or_default(),
        );
        let _ = self.socket.send_to(reply.as_bytes(), from);
    }

    /// The next message within `limit`; requests are answered on the way.
    fn recv(&mut self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut buffer = [0u8; 65536];
        while Instant::now() < deadline {
            let Ok((n, from)) = self.socket.recv_from(&mut buffer) else {
                continue;
            };
            let m = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if !m.starts_with("SIP/2.0") {
                self.answer(&m, from);
            }
            return Some(m);
        }
        None
    }

    /// The response to `call_id`/`cseq` within `limit`; NOTIFYs meanwhile are kept.
    fn response(&mut self, call_id: &str, cseq: u32, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while let Some(m) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            let matches = m.starts_with("SIP/2.0")
                && header(&m, "Call-ID").as_deref() == Some(call_id)
                && header(&m, "CSeq").is_some_and(|c| c.starts_with(&format!("{cseq} ")));
            if matches {
                return Some(m);
            }
            self.backlog.push(m);
        }
        None
    }

    /// Sends `method` (built by `build` from the CSeq and an Authorization line) and answers a
    /// 401 with SHA-256 digest once; returns the final response.
    fn authenticated(
        &mut self,
        method: &str,
        uri: &str,
        call_id: &str,
        build: impl Fn(u32, &str) -> String,
    ) -> String {
        self.cseq += 1;
        let first = self.cseq;
        self.send(&build(first, ""));
        let answer = self
            .response(call_id, first, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no answer to {method}"));
        if !answer.starts_with("SIP/2.0 401") {
            return answer;
        }
        let challenge = answer
            .lines()
            .find(|l| l.starts_with("WWW-Authenticate:") && l.contains("SHA-256"))
            .expect("a SHA-256 challenge")
            .to_owned();
        let nonce = param(&challenge, "nonce").unwrap();
        let opaque = param(&challenge, "opaque").unwrap();
        let ha1 = sha256_hex(&format!("{}:onestatus:{}", self.user, self.password));
        let ha2 = sha256_hex(&format!("{method}:{uri}"));
        let response = sha256_hex(&format!("{ha1}:{nonce}:00000001:lampc:auth:{ha2}"));
        let auth = format!(
            "Authorization: Digest username=\"{}\", realm=\"onestatus\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=SHA-256, cnonce=\"lampc\", nc=00000001, qop=auth, opaque=\"{opaque}\"\r\n",
            self.user
        );
        self.cseq += 1;
        let second = self.cseq;
        self.send(&build(second, &auth));
        self.response(call_id, second, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no answer to the authenticated {method}"))
    }

    /// REGISTER for 600 s; returns the final response.
    pub(crate) fn register(&mut self) -> String {
        let local = self.addr();
        let user = self.user.clone();
        let call_id = format!("reg-{}-{}", user, local.port());
        self.authenticated("REGISTER", "sip:onestatus", &call_id.clone(), |cseq, auth| {
            format!(
                "REGISTER sip:onestatus SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bK-lr{cseq}-{}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@onestatus>;tag=lampreg\r\nTo: <sip:{user}@onestatus>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\n\
                 Expires: 600\r\n{auth}Content-Length: 0\r\n\r\n",
                super::rand_token()
            )
        })
    }

    /// A new SUBSCRIBE for `message-summary` (or `event`) with `expires`, authenticated;
    /// returns the final response. `call_id` names the dialog.
    pub(crate) fn subscribe(&mut self, call_id: &str, event: &str, expires: u32) -> String {
        let uri = format!("sip:{}@onestatus", self.user);
        self.subscribe_uri(call_id, &uri, event, expires)
    }

    /// A SUBSCRIBE for the mailbox `uri` names (someone else's, to see it refused).
    pub(crate) fn subscribe_to(&mut self, call_id: &str, uri: &str) -> String {
        self.subscribe_uri(call_id, uri, "message-summary", 600)
    }

    fn subscribe_uri(&mut self, call_id: &str, uri: &str, event: &str, expires: u32) -> String {
        let local = self.addr();
        let user = self.user.clone();
        let uri = uri.to_owned();
        let call_id = call_id.to_owned();
        self.authenticated("SUBSCRIBE", &uri.clone(), &call_id.clone(), |cseq, auth| {
            format!(
                "SUBSCRIBE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bK-ls{cseq}-{}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@onestatus>;tag=lampsub\r\nTo: <sip:{user}@onestatus>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:{user}@{local}>\r\n\
                 Event: {event}\r\nAccept: application/simple-message-summary\r\n\
                 Expires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n",
                super::rand_token()
            )
        })
    }

    /// A SUBSCRIBE inside the dialog `call_id` / our tag / `to_tag` (refresh, or unsubscribe
    /// with 0); returns the response.
    pub(crate) fn resubscribe(&mut self, call_id: &str, to_tag: &str, expires: u32) -> String {
        let local = self.addr();
        let user = self.user.clone();
        self.cseq += 1;
        let cseq = self.cseq;
        let text = format!(
            "SUBSCRIBE sip:{user}@onestatus SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bK-lrs{cseq}-{}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@onestatus>;tag=lampsub\r\nTo: <sip:{user}@onestatus>;tag={to_tag}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:{user}@{local}>\r\n\
             Event: message-summary\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
            super::rand_token()
        );
        self.send(&text);
        self.response(call_id, cseq, Duration::from_secs(5))
            .expect("an answer to the refresh")
    }

    /// The next `message-summary` NOTIFY within `limit` (answered as `notify_answer` says).
    pub(crate) fn next_notify(&mut self, limit: Duration) -> Option<Notify> {
        let deadline = Instant::now() + limit;
        loop {
            let m = if self.backlog.is_empty() {
                self.recv(deadline.saturating_duration_since(Instant::now()))?
            } else {
                self.backlog.remove(0)
            };
            if !m.starts_with("NOTIFY ")
                || header(&m, "Event").as_deref() != Some("message-summary")
            {
                continue;
            }
            let body = m.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
            let waiting = header(&body, "Messages-Waiting").as_deref() == Some("yes");
            let counts = header(&body, "Voice-Message").unwrap_or_default();
            let counts = counts.split_whitespace().next().unwrap_or("0/0").to_owned();
            let (new, old) = counts.split_once('/').unwrap_or(("0", "0"));
            return Some(Notify {
                state: header(&m, "Subscription-State").unwrap_or_default(),
                call_id: header(&m, "Call-ID").unwrap_or_default(),
                waiting,
                new: new.trim().parse().unwrap_or(u32::MAX),
                old: old.trim().parse().unwrap_or(u32::MAX),
                text: m,
            });
        }
    }

    /// Waits for the lamp to show `new`/`old` (NOTIFYs with other counts are skipped: a REGISTER
    /// and a change may race); returns the NOTIFY that did.
    pub(crate) fn lamp_shows(&mut self, new: u32, old: u32, limit: Duration) -> Notify {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(n) = self.next_notify(deadline.saturating_duration_since(Instant::now())) {
            if n.new == new && n.old == old {
                assert_eq!(
                    n.waiting,
                    new > 0,
                    "Messages-Waiting contradicts the counts: {}",
                    n.text
                );
                return n;
            }
            seen.push(format!("{}/{} ({})", n.new, n.old, n.state));
        }
        panic!("the lamp never showed {new}/{old}; NOTIFYs seen: {seen:?}");
    }

    /// Whatever NOTIFYs arrive within `window`.
    pub(crate) fn notifies_within(&mut self, window: Duration) -> Vec<Notify> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(n) = self.next_notify(deadline.saturating_duration_since(Instant::now())) {
            out.push(n);
        }
        out
    }
}

/// The tag parameter of a To header value.
pub(crate) fn to_tag(response: &str) -> String {
    header(response, "To")
        .and_then(|to| {
            to.split(";tag=")
                .nth(1)
                .map(|t| t.split(';').next().unwrap_or(t).to_owned())
        })
        .expect("a To tag")
}
