//! OneVoicemail's caller side end to end through the real binary: a caller on a raw UDP SIP
//! socket with its own RTP socket dials a demo user who has no phone registered, so routing
//! sends the call to voicemail; OneStatus answers with its own SDP, plays the greeting over
//! RTP, records what the caller sends after the tone, stores it, mails the user (a small SMTP
//! receiver on loopback) and lights the message-waiting lamp (an unsolicited NOTIFY to a
//! registered contact).
// Tests drive a real process over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::smtp::{Received, Relay, SmtpReceiver};
use crate::support::{rand_token, TestServer};
use chrono::{Duration as ChronoDuration, Utc};
use onestatus::domain::model::{AbsenceData, Binding, Destination, UserId};
use onestatus::domain::{Origin, Reason};
use onestatus::media::g711::{linear_to_ulaw, ulaw_to_linear};
use onestatus::store::Store;

const HANS_ONE_NUMBER: &str = "4570100001";
const HANS_LOCAL: &str = "1000001";
const HANS_MAIL: &str = "hans@example.test";
/// PCMU payload octets of a 20 ms frame.
const FRAME: usize = 160;
/// Mean absolute amplitude above which a frame is not silence (the recorder's own threshold).
const SILENCE: f64 = 256.0;

// ---- store access ---------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn with_store<T>(server: &TestServer, f: impl AsyncFnOnce(&Store) -> T) -> T {
    let rt = runtime();
    let url = format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    );
    rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

async fn hans(store: &Store) -> UserId {
    store.user_by_local_number(HANS_LOCAL).await.unwrap().id
}

/// Gives Hans an e-mail address so the new-message mail has somewhere to go.
fn set_mail(server: &TestServer) {
    with_store(server, async |store| {
        let mut user = store.user_by_local_number(HANS_LOCAL).await.unwrap();
        user.profile.email = Some(HANS_MAIL.into());
        store
            .user_update_profile(user.id, &user.profile)
            .await
            .unwrap();
    });
}

/// A binding for Hans's desk phone at `addr`, as the registrar writes after a REGISTER.
fn register(server: &TestServer, addr: SocketAddr) {
    with_store(server, async |store| {
        let now = Utc::now();
        let user = hans(store).await;
        let device = store.devices(user).await.unwrap().remove(0);
        store
            .registration_upsert(
                &Binding {
                    user_id: user,
                    device_id: Some(device.id),
                    contact_uri: format!("sip:{HANS_LOCAL}@{addr}"),
                    expires_at: now + ChronoDuration::hours(1),
                    call_id: format!("mwi-{}", rand_token()),
                    cseq: 1,
                    q_millis: 1000,
                    received_addr: addr.to_string(),
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
    });
}

fn messages(server: &TestServer) -> Vec<onestatus::domain::model::VoicemailMessage> {
    with_store(server, async |store| {
        let user = hans(store).await;
        store.voicemails(user).await.unwrap()
    })
}

// ---- RTP ------------------------------------------------------------------------------------

/// One RTP packet as received, with its arrival time.
#[derive(Debug, Clone)]
struct Packet {
    at: Instant,
    payload_type: u8,
    marker: bool,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

impl Packet {
    fn level(&self) -> f64 {
        if self.payload.is_empty() {
            return 0.0;
        }
        let sum: f64 = self
            .payload
            .iter()
            .map(|&b| f64::from(ulaw_to_linear(b)).abs())
            .sum();
        sum / self.payload.len() as f64
    }
}

/// Reads RTP from `socket` into the shared list until `stop`.
fn rtp_receiver(socket: UdpSocket, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<Packet>>> {
    let packets = Arc::new(Mutex::new(Vec::new()));
    let out = packets.clone();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    thread::spawn(move || {
        let mut buffer = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, _)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            let b = &buffer[..n];
            if n < 12 || b[0] >> 6 != 2 {
                continue;
            }
            let csrc = usize::from(b[0] & 0x0f) * 4;
            out.lock().unwrap().push(Packet {
                at: Instant::now(),
                payload_type: b[1] & 0x7f,
                marker: b[1] & 0x80 != 0,
                seq: u16::from_be_bytes([b[2], b[3]]),
                timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
                payload: b.get(12 + csrc..).unwrap_or_default().to_vec(),
            });
        }
    });
    packets
}

/// A caller's outgoing RTP stream.
struct Sender {
    socket: UdpSocket,
    to: SocketAddr,
    seq: u16,
    timestamp: u32,
}

impl Sender {
    fn packet(&mut self, payload_type: u8, marker: bool, payload: &[u8]) {
        let mut p = vec![0x80, payload_type | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.timestamp.to_be_bytes());
        p.extend_from_slice(&0x5eed_cafe_u32.to_be_bytes());
        p.extend_from_slice(payload);
        self.socket.send_to(&p, self.to).unwrap();
        self.seq = self.seq.wrapping_add(1);
    }

    /// `seconds` of a 440 Hz tone at a speech-like level, paced at 20 ms.
    fn tone(&mut self, seconds: f64) {
        let frames = (seconds * 50.0).round() as usize;
        let start = Instant::now();
        for n in 0..frames {
            let payload: Vec<u8> = (0..FRAME)
                .map(|i| {
                    let t = (n * FRAME + i) as f64 / 8000.0;
                    let s = 6000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin();
                    linear_to_ulaw(s as i16)
                })
                .collect();
            self.packet(0, n == 0, &payload);
            self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
            let due = start + Duration::from_millis(20 * (n as u64 + 1));
            thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }

    /// `seconds` of real speech (espeak-ng prompts, as a caller's voice), paced at 20 ms: a
    /// message is speech, and the server keeps only what its voice detector hears as speech.
    fn speech(&mut self, seconds: f64) {
        let voice = caller_voice();
        let samples = (seconds * 8000.0).round() as usize;
        self.send_pcm(
            &voice
                .iter()
                .copied()
                .cycle()
                .take(samples)
                .collect::<Vec<_>>(),
        );
    }

    /// `seconds` of near-silence (the µ-law codes next to zero, as a quiet line sends).
    fn silence(&mut self, seconds: f64) {
        let samples = (seconds * 8000.0).round() as usize;
        let pcm: Vec<i16> = (0..samples).map(|i| [0, 4, -4, 8][i % 4]).collect();
        self.send_pcm(&pcm);
    }

    /// Linear samples as PCMU packets paced at 20 ms, the first one marked.
    fn send_pcm(&mut self, pcm: &[i16]) {
        let start = Instant::now();
        for (n, frame) in pcm.chunks(FRAME).enumerate() {
            let payload: Vec<u8> = frame.iter().map(|&s| linear_to_ulaw(s)).collect();
            self.packet(0, n == 0, &payload);
            self.timestamp = self.timestamp.wrapping_add(frame.len() as u32);
            let due = start + Duration::from_millis(20 * (n as u64 + 1));
            thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }

    /// One key press as RFC 4733 events: three updates, then the end packet sent three times
    /// (§2.5.1.4), all with the timestamp of the event's start.
    fn key(&mut self, event: u8) {
        for (i, duration) in [160u16, 320, 480].into_iter().enumerate() {
            let mut payload = vec![event, 10];
            payload.extend_from_slice(&duration.to_be_bytes());
            self.packet(101, i == 0, &payload);
            thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..3 {
            let mut payload = vec![event, 0x80 | 10];
            payload.extend_from_slice(&640u16.to_be_bytes());
            self.packet(101, false, &payload);
        }
        self.timestamp = self.timestamp.wrapping_add(640);
    }
}

/// A caller's voice: English prompts one after another with 150 ms between them (about 7 s).
fn caller_voice() -> Vec<i16> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/en");
    let mut pcm = Vec::new();
    for name in [
        "you_have_called",
        "is_in_a_meeting",
        "and_will_be_back",
        "tomorrow",
        "leave_a_message_after_the_tone",
    ] {
        let path = dir.join(format!("{name}.wav"));
        pcm.extend(
            onestatus::media::decode::decode_file(&path, &Default::default()).expect("prompt"),
        );
        pcm.extend(std::iter::repeat_n(0i16, 1200));
    }
    pcm
}

// ---- SIP ------------------------------------------------------------------------------------

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn uri_in(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(o), Some(c)) if c > o => value[o + 1..c].to_owned(),
        _ => value.split(';').next().unwrap_or(value).to_owned(),
    }
}

/// A caller: SIP on one UDP socket, RTP on another.
struct Call {
    sip: UdpSocket,
    server: SocketAddr,
    call_id: String,
    from_tag: String,
    to: String,
    remote_target: String,
    cseq: u32,
    rtp: Sender,
    packets: Arc<Mutex<Vec<Packet>>>,
    stop: Arc<AtomicBool>,
    answered_at: Instant,
    /// Our 200 OK's SDP.
    answer: String,
}

impl Call {
    fn local(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    /// The next SIP message within `limit`.
    fn recv(&self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut buffer = [0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sip.recv_from(&mut buffer) {
                return Some(String::from_utf8_lossy(&buffer[..n]).into_owned());
            }
        }
        None
    }

    /// INVITE with a PCMU + telephone-event offer; returns the answered call after the ACK.
    fn place(server: &TestServer, number: &str) -> Call {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rtp_port = rtp.local_addr().unwrap().port();
        let local = sip.local_addr().unwrap();
        let call_id = format!("vm-{}@test", rand_token());
        let from_tag = format!("c{}", rand_token());
        let target = server.sip_udp;
        let sdp = format!(
            "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let invite = format!(
            "INVITE sip:{number}@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{}-1;rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Test Caller\" <sip:4512345678@{local}>;tag={from_tag}\r\n\
             To: <sip:{number}@{target}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:4512345678@{local}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            from_tag,
            sdp.len()
        );
        sip.send_to(invite.as_bytes(), target).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let ok = loop {
            assert!(Instant::now() < deadline, "no 200 OK to the INVITE");
            let mut buffer = vec![0u8; 65536];
            let Ok((n, _)) = sip.recv_from(&mut buffer) else {
                continue;
            };
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            match status(&message) {
                Some(200) => break message,
                Some(code) if code < 200 => {}
                other => panic!("INVITE answered {other:?}:\n{message}"),
            }
        };
        let answered_at = Instant::now();
        assert_eq!(header(&ok, "Content-Type"), Some("application/sdp"), "{ok}");
        let body = ok.split("\r\n\r\n").nth(1).unwrap_or("");
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .expect("c= in the answer")
            .trim()
            .to_owned();
        let port: u16 = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .expect("m=audio port in the answer");
        let to = header(&ok, "To").unwrap().to_owned();
        assert!(to.contains("tag="), "{ok}");
        let remote_target = uri_in(header(&ok, "Contact").expect("Contact in 200"));
        let stop = Arc::new(AtomicBool::new(false));
        let packets = rtp_receiver(rtp.try_clone().unwrap(), stop.clone());
        let call = Call {
            sip,
            server: target,
            call_id,
            from_tag,
            to,
            remote_target,
            cseq: 1,
            rtp: Sender {
                socket: rtp,
                to: format!("{ip}:{port}").parse().unwrap(),
                seq: 1000,
                timestamp: 80_000,
            },
            packets,
            stop,
            answered_at,
            answer: body.to_owned(),
        };
        call.send_in_dialog("ACK", 1);
        call
    }

    fn send_in_dialog(&self, method: &str, cseq: u32) {
        let local = self.local();
        let message = format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{}-{method}-{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Test Caller\" <sip:4512345678@{local}>;tag={}\r\n\
             To: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            self.from_tag,
            self.from_tag,
            self.to,
            self.call_id,
            target = self.remote_target,
        );
        self.sip.send_to(message.as_bytes(), self.server).unwrap();
    }

    /// Hangs up; returns the status of the answer to the BYE.
    fn bye(&mut self) -> Option<u16> {
        self.cseq += 1;
        self.send_in_dialog("BYE", self.cseq);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let Some(m) = self.recv(Duration::from_millis(500)) else {
                continue;
            };
            if header(&m, "CSeq").is_some_and(|c| c.ends_with("BYE")) {
                if let Some(code) = status(&m) {
                    return Some(code);
                }
            }
        }
        None
    }

    fn packets(&self) -> Vec<Packet> {
        self.packets.lock().unwrap().clone()
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Non-silent audio in `packets`, in seconds.
fn voiced_seconds(packets: &[Packet]) -> f64 {
    packets.iter().filter(|p| p.level() > SILENCE).count() as f64 * 0.02
}

/// The stream from the server is one SSRC, consecutive sequence numbers, timestamps 160 apart,
/// and paced at 20 ms (mean over the stream, and no packet more than 60 ms late).
fn assert_paced(packets: &[Packet]) {
    assert!(packets.len() > 50, "only {} packets", packets.len());
    let ssrc = packets[0].ssrc;
    for pair in packets.windows(2) {
        assert_eq!(pair[1].ssrc, ssrc, "one SSRC per stream");
        assert_eq!(
            pair[1].seq,
            pair[0].seq.wrapping_add(1),
            "consecutive sequence numbers"
        );
        assert_eq!(
            pair[1].timestamp.wrapping_sub(pair[0].timestamp),
            FRAME as u32,
            "timestamps advance 160 per packet"
        );
        assert_eq!(pair[1].payload_type, 0, "PCMU");
    }
    let first = &packets[0];
    let last = &packets[packets.len() - 1];
    let span = last.at.duration_since(first.at).as_secs_f64();
    let mean_ms = span * 1000.0 / (packets.len() - 1) as f64;
    assert!(
        (mean_ms - 20.0).abs() < 1.0,
        "mean packet interval {mean_ms:.2} ms"
    );
    for (n, p) in packets.iter().enumerate() {
        let due = first.at + Duration::from_millis(20 * n as u64);
        let late = p.at.saturating_duration_since(due);
        assert!(late < Duration::from_millis(60), "packet {n} {late:?} late");
    }
}

fn decode_wav_pcm(wav: &[u8]) -> Vec<i16> {
    // 44-byte canonical header written by hound for 16-bit mono.
    assert_eq!(&wav[..4], b"RIFF");
    wav[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn start(smtp_port: Option<u16>) -> TestServer {
    let relay = smtp_port.map(|p| format!("127.0.0.1:{p}"));
    let mut env = vec![("ONESTATUS_SIP_T1_MS", "500")];
    if let Some(relay) = &relay {
        env.push(("ONESTATUS_SMTP_RELAY", relay.as_str()));
    }
    TestServer::start_with(&["serve", "--demo"], &env)
}

/// Waits for the log line saying recording began (after the tone).
fn wait_recording(server: &TestServer) {
    server
        .wait_log("recording started", Duration::from_secs(60))
        .expect("the greeting ends with the tone and recording starts");
}

#[test]
fn a_message_left_after_the_tone_is_stored_mailed_and_lights_the_lamp() {
    let smtp = SmtpReceiver::start(Relay::Accept);
    let smtp_port = smtp.port;
    let server = start(Some(smtp_port));
    set_mail(&server);

    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    let handed = server
        .wait_log("voicemail hand-off", Duration::from_secs(5))
        .expect("routing hands the call to voicemail");
    assert!(handed.contains("reason=not available"), "{handed}");

    // Hans's desk phone registers while the call is in voicemail (a registration before the
    // call would have rung it instead).
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    register(&server, phone.local_addr().unwrap());

    wait_recording(&server);
    let greeting = call.packets();
    let greeting_secs = greeting.len() as f64 * 0.02;
    let voiced = voiced_seconds(&greeting);
    assert!(
        (3.0..60.0).contains(&greeting_secs) && voiced > 2.0,
        "greeting {greeting_secs:.1} s, {voiced:.1} s of it voiced"
    );
    assert_paced(&greeting);
    // The prompt starts a talkspurt (RFC 3550 §5.1, RFC 3551 §4.1: marker bit on its first
    // packet). The stream may open with silence frames while the greeting is being stitched;
    // nothing audible comes before the marked packet.
    let spurt = greeting
        .iter()
        .position(|p| p.marker)
        .expect("the greeting starts a talkspurt with the marker bit");
    let first_sound = greeting
        .iter()
        .position(|p| p.level() > 0.0)
        .expect("the greeting is audible");
    assert!(
        spurt <= first_sound && spurt < 25,
        "marker on packet {spurt}, first sound at {first_sound}"
    );

    call.rtp.speech(3.0);
    // Let the last packets land before the hang-up.
    thread::sleep(Duration::from_millis(200));
    assert_eq!(call.bye(), Some(200));

    let stored = server
        .wait_log("voicemail message stored", Duration::from_secs(10))
        .expect("message stored");
    assert!(stored.contains("duration_ms="), "{stored}");
    let list = messages(&server);
    assert_eq!(list.len(), 1, "{list:?}");
    let message = &list[0];
    assert!(
        message.duration_ms.abs_diff(3000) <= 100,
        "stored {} ms for 3000 ms sent",
        message.duration_ms
    );
    assert_eq!(message.caller_number.as_deref(), Some("4512345678"));
    assert_eq!(message.caller_name.as_deref(), Some("Test Caller"));
    let audio = with_store(&server, async |store| {
        let user = hans(store).await;
        store.voicemail_audio(user, message.id).await.unwrap()
    });
    let pcm = decode_wav_pcm(&audio);
    assert!(pcm.len().abs_diff(24_000) <= 800, "{} samples", pcm.len());
    let level = pcm.iter().map(|&s| f64::from(s).abs()).sum::<f64>() / pcm.len() as f64;
    assert!(
        level > 1000.0,
        "stored audio is the speech, mean level {level:.0}"
    );

    // The mail, with the WAV attached (the default settings).
    let Received {
        rcpt_to: rcpt,
        data,
        ..
    } = smtp
        .next_blocking(Duration::from_secs(15))
        .expect("new-message mail");
    assert!(rcpt.iter().any(|r| r.contains(HANS_MAIL)), "{rcpt:?}");
    assert!(
        data.contains(".wav"),
        "WAV attached:\n{}",
        &data[..data.len().min(2000)]
    );

    // The message-waiting NOTIFY to the registered phone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = [0u8; 65536];
    let notify = loop {
        assert!(Instant::now() < deadline, "no NOTIFY reached the phone");
        let Ok((n, from)) = phone.recv_from(&mut buffer) else {
            continue;
        };
        let m = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if m.starts_with("NOTIFY ") {
            // Answer it, as a phone does.
            let reply = format!(
                "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=ph\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
                header(&m, "Via").unwrap(),
                header(&m, "From").unwrap(),
                header(&m, "To").unwrap(),
                header(&m, "Call-ID").unwrap(),
                header(&m, "CSeq").unwrap(),
            );
            phone.send_to(reply.as_bytes(), from).unwrap();
            break m;
        }
    };
    assert_eq!(
        header(&notify, "Event"),
        Some("message-summary"),
        "{notify}"
    );
    assert!(notify.contains("Messages-Waiting: yes"), "{notify}");
    assert!(notify.contains("Voice-Message: 1/0"), "{notify}");
    drop(call);
}

#[test]
fn a_meeting_with_back_at_makes_a_longer_greeting_than_not_available() {
    let server = start(None);
    let not_available = {
        let mut call = Call::place(&server, HANS_ONE_NUMBER);
        wait_recording(&server);
        let secs = call.packets().len() as f64 * 0.02;
        assert_eq!(call.bye(), Some(200));
        secs
    };
    with_store(&server, async |store| {
        let now = Utc::now();
        let user = hans(store).await;
        store
            .absence_create(
                &AbsenceData {
                    user_id: user,
                    reason: Reason::Meeting,
                    starts_at: now - ChronoDuration::minutes(5),
                    ends_at: Some(now + ChronoDuration::minutes(90)),
                    destination: Destination::voicemail(),
                    free_text: None,
                    receptionist_note: None,
                    origin: Origin::Web,
                    calendar_entry_id: None,
                    created_by: None,
                },
                now,
            )
            .await
            .unwrap();
    });
    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    let handed = server
        .wait_log("reason=meeting", Duration::from_secs(10))
        .expect("the meeting is the hand-off's reason");
    assert!(handed.contains("back_at="), "{handed}");
    wait_recording(&server);
    let meeting = call.packets().len() as f64 * 0.02;
    assert_eq!(call.bye(), Some(200));
    // "… is in a meeting and will be back at <time>" says more than "is not available".
    assert!(
        meeting > not_available + 1.0,
        "meeting greeting {meeting:.1} s, not-available {not_available:.1} s"
    );
    // Nothing was said after the tone: no message.
    thread::sleep(Duration::from_millis(500));
    assert!(messages(&server).is_empty());
}

#[test]
fn pound_ends_the_message_then_goodbye_and_our_bye() {
    let server = start(None);
    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    wait_recording(&server);
    let before = call.packets().len();
    call.rtp.speech(2.0);
    call.rtp.key(11); // '#'
                      // We hear "thank you for your message, goodbye", then OneStatus hangs up.
    let deadline = Instant::now() + Duration::from_secs(20);
    let bye = loop {
        assert!(Instant::now() < deadline, "no BYE from OneStatus");
        let Some(m) = call.recv(Duration::from_millis(500)) else {
            continue;
        };
        if m.starts_with("BYE ") {
            break m;
        }
    };
    let reply = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        header(&bye, "Via").unwrap(),
        header(&bye, "From").unwrap(),
        header(&bye, "To").unwrap(),
        header(&bye, "Call-ID").unwrap(),
        header(&bye, "CSeq").unwrap(),
    );
    call.sip.send_to(reply.as_bytes(), call.server).unwrap();
    assert!(
        header(&bye, "From")
            .is_some_and(|f| f.contains(&call.to[call.to.find("tag=").unwrap() + 4..])),
        "BYE in our dialog: {bye}"
    );
    let after: Vec<Packet> = call.packets()[before..].to_vec();
    assert!(
        voiced_seconds(&after) > 0.5,
        "goodbye heard after the #: {:.1} s voiced",
        voiced_seconds(&after)
    );
    let stored = server
        .wait_log("voicemail message stored", Duration::from_secs(5))
        .expect("message stored");
    let list = messages(&server);
    assert_eq!(list.len(), 1, "{stored}");
    assert!(
        list[0].duration_ms.abs_diff(2000) <= 150,
        "{} ms stored for 2000 ms sent",
        list[0].duration_ms
    );
    let _ = call.answered_at;
}

#[test]
fn a_message_survives_kill_9_mid_recording() {
    let mut server = start(None);
    let call = {
        let mut call = Call::place(&server, HANS_ONE_NUMBER);
        wait_recording(&server);
        call.rtp.speech(3.0);
        call
    };
    // The recorder hands out audio each second; let the last chunk reach the disk.
    thread::sleep(Duration::from_millis(300));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(call);
    assert!(
        messages(&server).is_empty(),
        "nothing was stored before the kill"
    );

    // Same data directory: the spooled recording becomes a message at start-up.
    let restarted = TestServer::start_in(&server.data_dir, &["serve", "--demo"], &[]);
    let list = messages(&restarted);
    assert_eq!(list.len(), 1, "{list:?}");
    let message = &list[0];
    // Whole seconds reach the spool (the last < 1 s may not): at least 2 of the 3 s sent.
    assert!(
        (1900..=3000).contains(&message.duration_ms),
        "{} ms recovered",
        message.duration_ms
    );
    assert_eq!(message.caller_number.as_deref(), Some("4512345678"));
    let audio = with_store(&restarted, async |store| {
        let user = hans(store).await;
        store.voicemail_audio(user, message.id).await.unwrap()
    });
    let pcm = decode_wav_pcm(&audio);
    let level = pcm.iter().map(|&s| f64::from(s).abs()).sum::<f64>() / pcm.len() as f64;
    assert!(
        level > 1000.0,
        "recovered audio is the speech, mean level {level:.0}"
    );
}

#[test]
fn the_access_number_is_answered_for_the_mailbox() {
    let server = start(None);
    // `sip.voicemail_number` defaults to 8000; no user has it, so without the mailbox this
    // call would get 404.
    let mut call = Call::place(&server, "8000");
    let line = server
        .wait_log("call for the mailbox", Duration::from_secs(5))
        .expect("routed to the retrieval IVR");
    assert!(line.contains("AccessNumber"), "{line}");
    // Let the IVR run for a moment, then hang up.
    thread::sleep(Duration::from_millis(500));
    let bye_or_ok = call.bye();
    // Either our BYE is answered, or the IVR ended the call first and ours meets 481.
    assert!(matches!(bye_or_ok, Some(200 | 481)), "{bye_or_ok:?}");
}

/// `[calls] max_message_secs` ends a message at the server's maximum (the user's 180 s is
/// longer), and what was said until then is stored.
#[test]
fn the_servers_max_message_length_ends_the_recording() {
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_T1_MS", "500"),
            ("ONESTATUS_CALLS_MAX_MESSAGE_SECS", "2"),
        ],
    );
    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    wait_recording(&server);
    call.rtp.speech(4.0);
    server
        .wait_log("voicemail message stored", Duration::from_secs(10))
        .expect("message stored");
    let list = messages(&server);
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(
        list[0].duration_ms.abs_diff(2000) <= 100,
        "{} ms stored with a 2 s maximum",
        list[0].duration_ms
    );
    let _ = call.bye();
}

/// `[calls] min_message_ms`: a message shorter than the server's minimum is not kept.
#[test]
fn a_message_shorter_than_the_servers_minimum_is_discarded() {
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_T1_MS", "500"),
            ("ONESTATUS_CALLS_MIN_MESSAGE_MS", "3000"),
        ],
    );
    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    wait_recording(&server);
    call.rtp.speech(2.0);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(call.bye(), Some(200));
    thread::sleep(Duration::from_secs(2));
    assert!(
        messages(&server).is_empty(),
        "2 s is under the 3 s minimum: {:?}",
        messages(&server)
    );
}

/// The caller's SDP offer for RTP at `port`, `o=` version `version`.
fn offer(port: u16, version: u32) -> String {
    format!(
        "v=0\r\no=caller 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

impl Call {
    /// Sends `method` in the dialog with `extra` headers and an SDP body (if any); returns the
    /// final answer.
    fn request(&mut self, method: &str, extra: &str, sdp: Option<&str>) -> String {
        self.cseq += 1;
        let local = self.local();
        let body = sdp.unwrap_or("");
        let content_type = if sdp.is_some() {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        };
        let message = format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{tag}-{method}-{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Test Caller\" <sip:4512345678@{local}>;tag={tag}\r\n\
             To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:4512345678@{local}>\r\n{extra}{content_type}\
             Content-Length: {len}\r\n\r\n{body}",
            target = self.remote_target,
            tag = self.from_tag,
            to = self.to,
            call_id = self.call_id,
            cseq = self.cseq,
            len = body.len(),
        );
        self.sip.send_to(message.as_bytes(), self.server).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < deadline, "no answer to the {method}");
            let Some(m) = self.recv(Duration::from_millis(500)) else {
                continue;
            };
            if header(&m, "CSeq") == Some(&format!("{} {method}", self.cseq))
                && status(&m).is_some_and(|c| c >= 200)
            {
                if method == "INVITE" {
                    self.send_in_dialog("ACK", self.cseq);
                }
                return m;
            }
        }
    }
}

fn origin(sdp: &str) -> &str {
    sdp.lines()
        .find(|l| l.starts_with("o="))
        .expect("o= line")
        .trim()
}

/// A session refresh (RFC 4028) or a repeated offer is answered 200 with our SDP as it was;
/// a changed offer (the caller moved to another port) is followed: 200 with our `o=` version
/// one higher, and the prompts now reach the new port.
#[test]
fn re_invite_and_update_in_the_ivr_are_answered_and_followed() {
    let server = start(None);
    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    let first = origin(&call.answer).to_owned();
    let rtp_port = call.rtp.socket.local_addr().unwrap().port();

    // The same offer again (o= version 1): the same answer, same version.
    let same = call.request(
        "INVITE",
        "Session-Expires: 1800\r\nSupported: timer\r\n",
        Some(&offer(rtp_port, 1)),
    );
    assert_eq!(status(&same), Some(200), "{same}");
    let body = same.split("\r\n\r\n").nth(1).unwrap_or("");
    assert_eq!(origin(body), first, "unchanged session, unchanged o=");
    assert!(
        header(&same, "Session-Expires").is_some_and(|v| v.contains("refresher=uac")),
        "{same}"
    );
    assert_eq!(header(&same, "Require"), Some("timer"), "{same}");

    // An UPDATE without an offer (a session refresh): 200, no body.
    let update = call.request("UPDATE", "Session-Expires: 1800;refresher=uac\r\n", None);
    assert_eq!(status(&update), Some(200), "{update}");
    assert_eq!(header(&update, "Content-Length"), Some("0"), "{update}");

    // The caller moves to another port (o= version 2): followed.
    let moved = UdpSocket::bind("127.0.0.1:0").unwrap();
    moved
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let new_port = moved.local_addr().unwrap().port();
    let changed = call.request("INVITE", "", Some(&offer(new_port, 2)));
    assert_eq!(status(&changed), Some(200), "{changed}");
    let body = changed.split("\r\n\r\n").nth(1).unwrap_or("");
    let (before, after) = (
        first
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        origin(body)
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<u64>()
            .unwrap(),
    );
    assert_eq!(after, before + 1, "o= version one higher: {body}");
    assert!(body.contains("m=audio "), "{body}");
    let mut buffer = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut arrived = 0;
    while Instant::now() < deadline && arrived < 10 {
        if let Ok((n, _)) = moved.recv_from(&mut buffer) {
            if n >= 12 && buffer[0] >> 6 == 2 {
                arrived += 1;
            }
        }
    }
    assert_eq!(arrived, 10, "RTP follows the caller to the new port");
    assert_eq!(call.bye(), Some(200));
}

/// Issue #18: a caller who says nothing and hangs up 2.5 s after the tone leaves nothing — no
/// message, no mail, no lamp — and the call is a missed call in Hans's history.
#[test]
fn a_silent_hang_up_after_the_tone_stores_mails_and_lights_nothing() {
    let smtp = SmtpReceiver::start(Relay::Accept);
    let server = start(Some(smtp.port));
    set_mail(&server);
    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    server
        .wait_log("voicemail hand-off", Duration::from_secs(5))
        .expect("routing hands the call to voicemail");
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    register(&server, phone.local_addr().unwrap());
    wait_recording(&server);

    call.rtp.silence(2.5);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(call.bye(), Some(200));
    let ended = server
        .wait_log("recording ended", Duration::from_secs(10))
        .expect("the hang-up ends the recording");
    assert!(ended.contains("speech_ms=0"), "{ended}");

    assert!(
        server
            .wait_log("voicemail message stored", Duration::from_secs(3))
            .is_none(),
        "a silent recording was stored"
    );
    assert!(messages(&server).is_empty(), "{:?}", messages(&server));
    assert!(
        smtp.next_blocking(Duration::from_secs(2)).is_none(),
        "a new-message mail was sent for silence"
    );
    let mut buffer = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok((n, _)) = phone.recv_from(&mut buffer) {
            let m = String::from_utf8_lossy(&buffer[..n]);
            assert!(!m.starts_with("NOTIFY "), "the lamp was told: {m}");
        }
    }
    let missed = with_store(&server, async |store| {
        let user = hans(store).await;
        store
            .call_history(
                user,
                Some(onestatus::domain::model::CallDirection::Missed),
                10,
            )
            .await
            .unwrap()
    });
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0].data.other_number, "4512345678");
    assert_eq!(missed[0].data.route.as_deref(), Some("voicemail"));
}

/// What is stored is the speech with short margins: 2 s of line noise before it and 2 s after
/// it (then the hang-up) are trimmed.
#[test]
fn a_message_is_stored_trimmed_to_its_speech() {
    let server = start(None);
    let mut call = Call::place(&server, HANS_ONE_NUMBER);
    wait_recording(&server);
    call.rtp.silence(2.0);
    call.rtp.speech(2.5);
    call.rtp.silence(2.0);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(call.bye(), Some(200));
    server
        .wait_log("voicemail message stored", Duration::from_secs(10))
        .expect("the speech is a message");
    let list = messages(&server);
    assert_eq!(list.len(), 1, "{list:?}");
    // 2.5 s of speech, up to 0.3 s before it and 0.5 s after it; of 6.5 s sent.
    let ms = list[0].duration_ms;
    assert!((2200..=3500).contains(&ms), "{ms} ms stored");
    let audio = with_store(&server, async |store| {
        let user = hans(store).await;
        store.voicemail_audio(user, list[0].id).await.unwrap()
    });
    let pcm = decode_wav_pcm(&audio);
    assert!(pcm.len().abs_diff(ms as usize * 8) <= 160);
    // The first 0.4 s already hold the voice: at most 0.3 s of the leading silence is left.
    let head = &pcm[..3200];
    let loud = head.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(
        loud > 100,
        "no speech in the first 0.4 s ({loud} loud samples)"
    );
}

/// Generated line signals with no speech in them, as 8 kHz samples: (name, samples).
fn no_speech_signals(seconds: f64) -> Vec<(&'static str, Vec<i16>)> {
    let n = (seconds * 8000.0) as usize;
    let mut seed = 0x2545_f491_u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (f64::from(seed) / f64::from(u32::MAX)) * 2.0 - 1.0
    };
    let db = |d: f64| 32767.0 * 10f64.powf(d / 20.0);
    let sine = |f: f64, i: usize| (2.0 * std::f64::consts::PI * f * i as f64 / 8000.0).sin();
    // Uniform noise's RMS is 1/√3 of its peak.
    let white = |level: f64, noise: &mut dyn FnMut() -> f64| -> Vec<i16> {
        (0..n)
            .map(|_| (noise() * db(level) * 3f64.sqrt()) as i16)
            .collect()
    };
    let comfort = white(-65.0, &mut noise);
    let hiss = white(-50.0, &mut noise);
    // In-band DTMF: keys 1-9 at -10 dBFS per tone, 100 ms on, 100 ms off.
    let keys = [(697.0, 1209.0), (770.0, 1336.0), (852.0, 1477.0)];
    let dtmf = (0..n)
        .map(|i| {
            let (low, high) = keys[(i / 1600) % 3];
            if i % 1600 < 800 {
                (db(-10.0) * (sine(low, i) + sine(high, i))) as i16
            } else {
                0
            }
        })
        .collect();
    // Mains hum with odd harmonics, and breath-like low-passed noise swelling every 2 s.
    let hum = (0..n)
        .map(|i| (db(-20.0) * sine(50.0, i) + db(-30.0) * sine(150.0, i)) as i16)
        .collect();
    let a = (-2.0 * std::f64::consts::PI * 600.0 / 8000.0).exp();
    let mut y = 0.0;
    let breath = (0..n)
        .map(|i| {
            y = a * y + (1.0 - a) * noise();
            let swell = (std::f64::consts::PI * i as f64 / 16_000.0).sin().abs();
            (y * 8.0 * swell * db(-20.0)) as i16
        })
        .collect();
    vec![
        ("comfort noise", comfort),
        ("white noise at -50 dBFS", hiss),
        ("in-band DTMF", dtmf),
        ("mains hum", hum),
        ("breathing", breath),
    ]
}

/// Issue #18, each as a real RTP call: a caller who presses # to skip the greeting (the tone
/// comes at once) and then sends only line noise, DTMF, hum, breathing or a test tone leaves
/// no message. One server, one call per signal.
#[test]
fn noise_tones_and_breathing_are_not_messages() {
    let server = start(None);
    let mut signals = no_speech_signals(3.0);
    signals.push(("440 Hz tone", Vec::new()));
    for (what, pcm) in signals {
        let mut call = Call::place(&server, HANS_ONE_NUMBER);
        // Into the greeting, then # skips to the tone.
        thread::sleep(Duration::from_millis(1500));
        let pressed = Instant::now();
        call.rtp.key(11);
        wait_recording(&server);
        let skipped = pressed.elapsed();
        assert!(
            skipped < Duration::from_secs(4),
            "{what}: the tone came {skipped:?} after # (the greeting is longer)"
        );
        if pcm.is_empty() {
            call.rtp.tone(3.0);
        } else {
            call.rtp.send_pcm(&pcm);
        }
        thread::sleep(Duration::from_millis(200));
        assert_eq!(call.bye(), Some(200), "{what}");
        let ended = server
            .wait_log("recording ended", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{what}: the hang-up ends the recording"));
        let speech_ms: u64 = ended
            .split("speech_ms=")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what}: {ended}"));
        println!("{what}: {speech_ms} ms of speech heard");
        assert!(speech_ms < 300, "{what}: {ended}");
        thread::sleep(Duration::from_millis(500));
        assert!(messages(&server).is_empty(), "{what}: a message was stored");
    }
}
