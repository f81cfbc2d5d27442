//! Attended transfer from a phone (REFER with `Replaces`, RFC 3515 + RFC 3891), issue #18:
//! Karen's phone (raw UDP here: it holds two calls, which one SIPp scenario cannot) talks to a
//! caller (SIPp), calls Sven (a SIPp UAS) itself, then REFERs the caller to Sven with
//! `Replaces` naming her call with Sven. We re-INVITE the caller onto Sven's call, BYE Karen
//! in both calls, and NOTIFY her `100 Trying` then `200 OK`; the caller talks to Sven until it
//! hangs up, and Sven gets that BYE.
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::voicemail::*;
use crate::support::TestServer;

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn tag(value: &str) -> Option<&str> {
    value
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .map(|t| t.trim_end_matches('>'))
}

/// A response to `request` copying Via, From, To (with `to_tag` added if it has none),
/// Call-ID and CSeq.
fn response(request: &str, status: &str, to_tag: &str, extra: &str, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("via:")
            || lower.starts_with("from:")
            || lower.starts_with("call-id:")
            || lower.starts_with("cseq:")
        {
            out.push_str(line);
            out.push_str("\r\n");
        } else if lower.starts_with("to:") {
            out.push_str(line);
            if tag(line).is_none() {
                out.push_str(&format!(";tag={to_tag}"));
            }
            out.push_str("\r\n");
        }
    }
    out.push_str(extra);
    if body.is_empty() {
        out.push_str("Content-Length: 0\r\n\r\n");
    } else {
        out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    out
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=karen 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
}

/// Karen's phone: one socket, two dialogs.
struct Karen {
    socket: UdpSocket,
    server: std::net::SocketAddr,
}

impl Karen {
    fn send(&self, text: &str) {
        self.socket.send_to(text.as_bytes(), self.server).unwrap();
    }

    /// The next message matching `pred` within `limit`; requests that do not match get
    /// nothing (retransmissions of what we answered already).
    fn wait(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut buffer = vec![0u8; 65536];
        while Instant::now() < deadline {
            self.socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            if let Ok((n, _)) = self.socket.recv_from(&mut buffer) {
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if pred(&text) {
                    return Some(text);
                }
            }
        }
        None
    }
}

#[test]
fn an_attended_transfer_puts_the_caller_in_karens_place_on_the_call_with_sven() {
    let (min, max) = rtp_range();
    let (min, max) = (min.to_string(), max.to_string());
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_T1_MS", "500"),
            ("ONESTATUS_TEST_NOW", TEST_NOW),
            ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
            ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
        ],
    );
    let karen = Karen {
        socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
        server: server.sip_udp,
    };
    let me = karen.socket.local_addr().unwrap();
    let karen_media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = karen_media.local_addr().unwrap().port();
    let sven_port = crate::support::free_udp_port();
    with_store(&server, async |store| {
        for (local, addr) in [
            ("1000002", me.to_string()),
            ("1000003", format!("127.0.0.1:{sven_port}")),
        ] {
            let user = store.user_by_local_number(local).await.unwrap();
            register(store, &user, addr.parse().unwrap(), test_now()).await;
        }
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sip = server.sip_udp.to_string();
    let media = free_media_port().to_string();
    let sven = std::thread::spawn(move || {
        Command::new("timeout")
            .arg("90")
            .arg("sipp")
            .arg("-sf")
            .arg(root.join("testdata/sipp/uas_answer_talk.xml"))
            .arg(&sip)
            .current_dir(root)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &sven_port.to_string(),
                "-mp",
                &media,
            ])
            .args(["-m", "1", "-nostdin", "-timeout", "75s", "-timeout_error"])
            .stdin(Stdio::null())
            .output()
            .expect("sipp runs")
    });
    std::thread::sleep(Duration::from_millis(400));
    let target = server.sip_udp;
    let caller =
        std::thread::spawn(move || sipp("uac_transferred.xml", target, &["-s", "4570100002"]));

    // Call 1: the caller rings Karen; she answers.
    let invite = karen
        .wait(Duration::from_secs(15), |m| m.starts_with("INVITE "))
        .expect("call 1 rings Karen");
    karen.send(&response(
        &invite,
        "200 OK",
        "k1",
        &format!("Contact: <sip:karen@{me}>\r\n"),
        &sdp(media_port),
    ));
    karen
        .wait(Duration::from_secs(5), |m| m.starts_with("ACK "))
        .expect("ACK for call 1");
    let call1_id = header(&invite, "Call-ID").unwrap().to_owned();
    let us_in_call1 = header(&invite, "From").unwrap().to_owned();
    let karen_in_call1 = format!("{};tag=k1", header(&invite, "To").unwrap());
    let our_contact = header(&invite, "Contact")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_owned();

    // Call 2: Karen calls Sven herself (from an outside number: no digest needed here).
    let call2_id = format!("karen-call2-{}", crate::support::rand_token());
    let invite2 = format!(
        "INVITE sip:4570100003@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-k2i\r\n\
         Max-Forwards: 70\r\nFrom: <sip:4599887766@127.0.0.1>;tag=k2\r\nTo: <sip:4570100003@onestatus>\r\n\
         Call-ID: {call2_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:karen@{me}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}",
        sdp(media_port).len(),
        sdp(media_port)
    );
    karen.send(&invite2);
    let ok2 = karen
        .wait(Duration::from_secs(15), |m| {
            m.starts_with("SIP/2.0 200") && m.contains(&call2_id)
        })
        .expect("Sven answers call 2");
    let us_in_call2 = header(&ok2, "To").unwrap().to_owned();
    let our_tag2 = tag(&us_in_call2).unwrap().to_owned();
    let contact2 = header(&ok2, "Contact")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_owned();
    karen.send(&format!(
        "ACK {contact2} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-k2a\r\nMax-Forwards: 70\r\n\
         From: <sip:4599887766@127.0.0.1>;tag=k2\r\nTo: {us_in_call2}\r\nCall-ID: {call2_id}\r\n\
         CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    ));

    // The REFER in call 1, replacing Karen's dialog in call 2 (RFC 3891 §6.1 escaping).
    std::thread::sleep(Duration::from_millis(800));
    karen.send(&format!(
        "REFER {our_contact} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-k1r\r\nMax-Forwards: 70\r\n\
         From: {karen_in_call1}\r\nTo: {us_in_call1}\r\nCall-ID: {call1_id}\r\nCSeq: 1 REFER\r\n\
         Contact: <sip:karen@{me}>\r\n\
         Refer-To: <sip:4570100003@onestatus?Replaces={call2_id}%3Bto-tag%3D{our_tag2}%3Bfrom-tag%3Dk2>\r\n\
         Content-Length: 0\r\n\r\n"
    ));
    // What Karen gets now: 202, the NOTIFYs (answered 200) and a BYE in each call.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut byes = 0;
    while byes < 2 && Instant::now() < deadline {
        let Some(message) = karen.wait(Duration::from_secs(1), |_| true) else {
            continue;
        };
        if message.starts_with("NOTIFY ") || message.starts_with("BYE ") {
            karen.send(&response(&message, "200 OK", "k9", "", ""));
        }
        if message.starts_with("BYE ") {
            byes += 1;
        }
        got.push(message);
    }
    let first_line = |m: &String| m.lines().next().unwrap_or_default().to_owned();
    let summary: Vec<String> = got.iter().map(first_line).collect();
    assert!(
        got.iter().any(|m| m.starts_with("SIP/2.0 202")),
        "{summary:?}"
    );
    let notifies: Vec<&String> = got.iter().filter(|m| m.starts_with("NOTIFY ")).collect();
    assert!(
        notifies.iter().any(|m| m.contains("SIP/2.0 100 Trying")),
        "{summary:?}"
    );
    let last = notifies.last().expect("NOTIFYs");
    assert!(last.contains("SIP/2.0 200 OK"), "{last}");
    assert!(
        header(last, "Subscription-State").is_some_and(|s| s.starts_with("terminated")),
        "{last}"
    );
    assert!(
        header(last, "Content-Type").is_some_and(|c| c.starts_with("message/sipfrag")),
        "{last}"
    );
    let bye_ids: Vec<&str> = got
        .iter()
        .filter(|m| m.starts_with("BYE "))
        .filter_map(|m| header(m, "Call-ID"))
        .collect();
    assert!(
        bye_ids.contains(&call1_id.as_str()) && bye_ids.contains(&call2_id.as_str()),
        "BYEs {bye_ids:?}, {summary:?}"
    );

    // The caller was re-INVITEd onto Sven's call, talked and hung up; Sven got that BYE.
    caller.join().unwrap().unwrap();
    let sven = sven.join().unwrap();
    assert!(
        sven.status.success(),
        "{}",
        String::from_utf8_lossy(&sven.stdout)
    );
    assert!(server
        .wait_log("attended transfer done", Duration::from_secs(5))
        .is_some());
    // Karen's phone sent no RTP: a relay that carried it both ways carried the caller and Sven.
    let field = |line: &str, name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut both_ways = false;
    while !both_ways && Instant::now() < deadline {
        if let Some(line) = server.wait_log("media relay closed", Duration::from_millis(500)) {
            both_ways =
                field(&line, "caller_to_callee") > 50 && field(&line, "callee_to_caller") > 50;
        }
    }
    assert!(both_ways, "no relay carried the caller and Sven both ways");
}
