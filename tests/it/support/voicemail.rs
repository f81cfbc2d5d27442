//! What the SIPp voicemail tests share: a server on a set clock (`ONESTATUS_TEST_NOW`) with its
//! own RTP port range, a capture of the RTP it sends (testdata/sipp/vm_rtp_capture.py), SIPp
//! run from the crate root (its pcap paths are relative), a loopback SMTP receiver, store
//! access, and the prompts as the IVR should stitch them.
#![allow(dead_code)]
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{rand_token, TestServer};
use onestatus::domain::model::{AbsenceData, Binding, Destination, User};
use onestatus::domain::{Lang, Origin, Reason};
use onestatus::media::decode::{DecodeLimits, PromptCache};
use onestatus::media::g711::G711;
use onestatus::speech::{
    self, fragment as f, FragmentLibrary, GreetingStatus, Piece, Segment, Utterance,
};
use onestatus::store::Store;

/// The wall clock the server starts at: Tuesday 24 November 2026, 10:00 in Copenhagen (the
/// demo organisation's timezone).
pub(crate) const TEST_NOW: &str = "2026-11-24T10:00:00+01:00";
/// The receptionist group of the demo organisation.
pub(crate) const RECEPTIONIST_GROUP: &str = "4570100000";
/// Samples in a 20 ms frame.
pub(crate) const FRAME: usize = 160;
/// A sample no G.711 decoder produces (A-law's largest magnitude is 32,256, µ-law's 32,124):
/// it stands for the samples of a frame that the stream's RTP timestamps say is missing.
pub(crate) const LOST: i16 = i16::MIN;
/// Frames of a compared stretch that may be missing. On a loaded host the server's media
/// driver can stall, and then skips frames rather than bursting them late (`media::session`,
/// RFC 3550 §5.1: the timestamp runs on, the sequence number does not), and a loopback
/// capture can drop a datagram. What matters is that every frame that arrives is the right
/// audio in the right place, so lost frames are left out of the comparison, up to this share.
pub(crate) const MAX_LOST_PERCENT: usize = 3;
/// A timestamp jump larger than this is a new stream or talkspurt, not lost frames.
const MAX_FILLED_GAP: u32 = 50;

/// How many frames are missing between a packet with timestamp `previous` and the next one
/// (`next`, `marker`): a marked packet starts a talkspurt, whose timestamp may jump (RFC 3551
/// §4.1), so only unmarked jumps of up to [`MAX_FILLED_GAP`] frames count as lost.
pub(crate) fn frames_lost_between(previous: u32, next: u32, marker: bool) -> usize {
    let step = next.wrapping_sub(previous) / FRAME as u32;
    if marker || step <= 1 || step > MAX_FILLED_GAP {
        0
    } else {
        (step - 1) as usize
    }
}

/// Demo users by language: (OneNumber, local number, e-mail, language, secondary language).
pub(crate) const HANS: (&str, &str, &str, Lang, Lang) = (
    "4570100001",
    "1000001",
    "hans@example.test",
    Lang::Da,
    Lang::En,
);
pub(crate) const SVEN: (&str, &str, &str, Lang, Lang) = (
    "4570100003",
    "1000003",
    "sven@example.test",
    Lang::Sv,
    Lang::En,
);
pub(crate) const EMMA: (&str, &str, &str, Lang, Lang) = (
    "4570100004",
    "1000004",
    "emma@example.test",
    Lang::En,
    Lang::Da,
);

pub(crate) fn test_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(TEST_NOW)
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) fn copenhagen(h: u32, m: u32) -> DateTime<Tz> {
    chrono_tz::Europe::Copenhagen
        .with_ymd_and_hms(2026, 11, 24, h, m, 0)
        .unwrap()
}

// ---- the server -----------------------------------------------------------------------------

/// A private RTP port range per server, so the capture sees only this server's packets even
/// with other tests (and other test binaries) running: above Linux's ephemeral ports
/// (32768–60999, where every port-0 socket of every test lands) and the default `[rtp]` range.
pub(crate) fn rtp_range() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 10;
    let base = 61_000 + (std::process::id() % 40) as u16 * 100 + n * 10;
    (base, base + 9)
}

/// `serve --demo` at [`TEST_NOW`], mailing through `smtp`, sending RTP from `rtp`.
pub(crate) fn start(smtp: Option<u16>, rtp: (u16, u16)) -> TestServer {
    start_with_env(smtp, rtp, &[])
}

/// [`start`] with more `ONESTATUS_*` settings.
pub(crate) fn start_with_env(
    smtp: Option<u16>,
    rtp: (u16, u16),
    extra: &[(&str, &str)],
) -> TestServer {
    let relay = smtp.map(|p| format!("127.0.0.1:{p}"));
    let (min, max) = (rtp.0.to_string(), rtp.1.to_string());
    let mut env = vec![
        ("ONESTATUS_SIP_T1_MS", "500"),
        ("ONESTATUS_TEST_NOW", TEST_NOW),
        ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
        ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
    ];
    if let Some(relay) = &relay {
        env.push(("ONESTATUS_SMTP_RELAY", relay.as_str()));
    }
    env.extend_from_slice(extra);
    TestServer::start_with(&["serve", "--demo"], &env)
}

pub(crate) fn with_store<T>(server: &TestServer, f: impl AsyncFnOnce(&Store) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
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

/// The user, with an e-mail address, the other language and the receptionist on offer, in a
/// meeting from 09:00 to 14:30 today (set-clock time), with a desk phone registered at `phone`.
pub(crate) fn prepare_user(
    server: &TestServer,
    local: &str,
    email: &str,
    secondary: Lang,
    phone: SocketAddr,
) -> User {
    with_store(server, async |store| {
        let now = test_now();
        let mut user = store.user_by_local_number(local).await.unwrap();
        user.profile.email = Some(email.into());
        store
            .user_update_profile(user.id, &user.profile)
            .await
            .unwrap();
        let mut settings = store.voicemail_settings(user.id).await.unwrap();
        settings.secondary_lang = Some(secondary);
        settings.receptionist_option = true;
        store
            .voicemail_settings_update(user.id, &settings)
            .await
            .unwrap();
        store
            .absence_create(
                &AbsenceData {
                    user_id: user.id,
                    reason: Reason::Meeting,
                    starts_at: copenhagen(9, 0).with_timezone(&Utc),
                    ends_at: Some(copenhagen(14, 30).with_timezone(&Utc)),
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
        register(store, &user, phone, now).await;
        store.user_by_local_number(local).await.unwrap()
    })
}

/// A binding for the user's desk phone at `addr`, as the registrar writes after a REGISTER,
/// valid for an hour of the server's (set) clock.
pub(crate) async fn register(store: &Store, user: &User, addr: SocketAddr, now: DateTime<Utc>) {
    let device = store.devices(user.id).await.unwrap().remove(0);
    store
        .registration_upsert(
            &Binding {
                user_id: user.id,
                device_id: Some(device.id),
                contact_uri: format!("sip:{}@{addr}", user.local_number),
                expires_at: now + chrono::Duration::hours(1),
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
}

// ---- SIPp -----------------------------------------------------------------------------------

/// A free UDP port on loopback for SIPp's media socket (and the one above it, which SIPp
/// takes for video).
pub(crate) fn free_media_port() -> u16 {
    loop {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port.is_multiple_of(2)
            && port < 65_000
            && UdpSocket::bind(("127.0.0.1", port + 2)).is_ok()
        {
            return port;
        }
    }
}

/// Runs SIPp with `testdata/sipp/<scenario>` from the crate root (so the scenario's pcap paths
/// resolve), one call, bounded by a timeout. Ok, or the error with SIPp's logs.
pub(crate) fn sipp(scenario: &str, target: SocketAddr, args: &[&str]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let errors = dir.path().join("errors.log");
    let messages = dir.path().join("messages.log");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let media_port = free_media_port().to_string();
    // SIPp's "-p 0" takes 5060, which parallel tests would share.
    let sip_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let output = Command::new("timeout")
        .arg("90")
        .arg("sipp")
        .arg("-sf")
        .arg(root.join("testdata/sipp").join(scenario))
        .arg(target.to_string())
        .current_dir(root)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &sip_port,
            "-mp",
            &media_port,
            "-m",
            "1",
        ])
        .args(["-nostdin", "-timeout", "75s", "-timeout_error"])
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
            "sipp {scenario} exit {:?}\nstdout:\n{}\nerrors:\n{}\nmessages:\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            std::fs::read_to_string(&errors).unwrap_or_default(),
            std::fs::read_to_string(&messages).unwrap_or_default(),
        ))
    }
}

// ---- capturing the RTP we send ----------------------------------------------------------------

/// The capture process; killed when dropped.
pub(crate) struct Capture {
    child: Child,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

/// One RTP packet OneStatus sent.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub pcm: Vec<i16>,
}

impl Capture {
    /// Starts capturing UDP sent from `range` on the loopback interface.
    pub(crate) fn start(range: (u16, u16)) -> Capture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rtp.txt");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sipp/vm_rtp_capture.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(range.0.to_string())
            .arg(range.1.to_string())
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 for the RTP capture");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let mut error = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut error);
            panic!(
                "the RTP capture needs an AF_PACKET socket (Linux, root or CAP_NET_RAW): {error}"
            );
        }
        Capture {
            child,
            path,
            _dir: dir,
        }
    }

    /// The RTP (PCMA) packets captured so far, in arrival order, with a silent-marked stand-in
    /// ([`LOST`] samples) for each frame the timestamps say is missing, so that packet `k` of
    /// a talkspurt is always its frame `k`.
    pub(crate) fn packets(&self) -> Vec<Sent> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let captured: Vec<Sent> = text
            .lines()
            .filter_map(|line| {
                let hex = line.split(' ').nth(3)?;
                let bytes: Vec<u8> = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
                    .collect::<Result<_, _>>()
                    .ok()?;
                if bytes.len() < 12 || bytes[0] >> 6 != 2 {
                    return None;
                }
                let csrc = usize::from(bytes[0] & 0x0f) * 4;
                let payload_type = bytes[1] & 0x7f;
                Some(Sent {
                    marker: bytes[1] & 0x80 != 0,
                    payload_type,
                    seq: u16::from_be_bytes([bytes[2], bytes[3]]),
                    timestamp: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                    pcm: if payload_type == 8 {
                        G711::Pcma.decode(bytes.get(12 + csrc..)?)
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect();
        let mut packets: Vec<Sent> = Vec::with_capacity(captured.len());
        for packet in captured {
            if let Some(previous) = packets.last() {
                let lost = frames_lost_between(previous.timestamp, packet.timestamp, packet.marker);
                let (seq, timestamp) = (previous.seq, previous.timestamp);
                packets.extend((1..=lost).map(|k| Sent {
                    marker: false,
                    payload_type: packet.payload_type,
                    seq,
                    timestamp: timestamp.wrapping_add((k * FRAME) as u32),
                    pcm: vec![LOST; FRAME],
                }));
            }
            packets.push(packet);
        }
        packets
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The packets where prompts start: each prompt is a talkspurt whose first packet has the
/// marker bit (RFC 3551 §4.1). Silence is marked too where it starts a stream (before the
/// first prompt) or follows a stopped prompt; a marked packet starts a prompt only if its
/// first frames are not silent.
pub(crate) fn prompt_starts(packets: &[Sent]) -> Vec<usize> {
    (0..packets.len())
        .filter(|&i| {
            // The talkspurt's first three packets, up to the next marker.
            let spurt = packets[i + 1..]
                .iter()
                .position(|p| p.marker)
                .map_or(packets.len(), |next| i + 1 + next);
            packets[i].marker
                && packets[i..(i + 3).min(spurt)]
                    .iter()
                    .any(|p| p.pcm.iter().any(|s| s.unsigned_abs() > 100))
        })
        .collect()
}

/// The first packet (from `after`) where `expected` is heard for `frames` frames, whether or
/// not a talkspurt starts there (a prompt that follows another at once is not marked). The
/// first frame is checked first, which keeps the search cheap.
pub(crate) fn find_audio(
    packets: &[Sent],
    after: usize,
    expected: &[i16],
    frames: usize,
) -> Option<usize> {
    let n = frames.min(expected.len() / FRAME);
    // The loudest of the frames is the quick check (a quiet one matches too much).
    let loudest = (0..n)
        .max_by_key(|&k| {
            expected[k * FRAME..(k + 1) * FRAME]
                .iter()
                .map(|s| u64::from(s.unsigned_abs()))
                .sum::<u64>()
        })
        .unwrap_or(0);
    let want = &expected[loudest * FRAME..(loudest + 1) * FRAME];
    (after..packets.len().saturating_sub(n)).find(|&s| {
        packets[s + loudest].pcm.len() == FRAME
            && snr_db(&packets[s + loudest].pcm, want) > 30.0
            && snr_db(&audio(packets, s, s + n), &expected[..n * FRAME]) > 30.0
    })
}

/// The audio of packets `from..to`.
pub(crate) fn audio(packets: &[Sent], from: usize, to: usize) -> Vec<i16> {
    packets[from..to.min(packets.len())]
        .iter()
        .flat_map(|p| p.pcm.iter().copied())
        .collect()
}

/// Signal-to-noise ratio of `received` against `expected` over their common length, in dB,
/// leaving out [`LOST`] samples; minus infinity when more than [`MAX_LOST_PERCENT`] of the
/// stretch is lost.
pub(crate) fn snr_db(received: &[i16], expected: &[i16]) -> f64 {
    let n = received.len().min(expected.len());
    assert!(n > 0, "nothing to compare");
    if lost_samples(&received[..n]) * 100 > n * MAX_LOST_PERCENT {
        return f64::NEG_INFINITY;
    }
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&r, &e) in received[..n].iter().zip(&expected[..n]) {
        if r == LOST {
            continue;
        }
        signal += f64::from(e) * f64::from(e);
        noise += (f64::from(r) - f64::from(e)).powi(2);
    }
    10.0 * (signal / noise.max(1.0)).log10()
}

/// The [`LOST`] samples in `received`.
pub(crate) fn lost_samples(received: &[i16]) -> usize {
    received.iter().filter(|&&s| s == LOST).count()
}

/// G.711 keeps about 38 dB SNR on speech; another prompt, silence or a shifted frame is far
/// below 30 dB.
pub(crate) fn assert_sounds_like(received: &[i16], expected: &[i16], what: &str) {
    let snr = snr_db(received, expected);
    let n = received.len().min(expected.len());
    assert!(
        snr > 30.0,
        "{what}: SNR {snr:.1} dB, {} of {} frames lost",
        lost_samples(&received[..n]) / FRAME,
        n / FRAME
    );
}

/// Mean absolute amplitude.
pub(crate) fn level(pcm: &[i16]) -> f64 {
    pcm.iter().map(|&s| f64::from(s).abs()).sum::<f64>() / pcm.len().max(1) as f64
}

// ---- what should be said ----------------------------------------------------------------------

/// The IVR's prompts, stitched as the deposit driver stitches them.
pub(crate) struct Prompts {
    cache: PromptCache,
}

impl Prompts {
    pub(crate) fn load() -> Prompts {
        let library =
            FragmentLibrary::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap();
        Prompts {
            cache: PromptCache::new(library, DecodeLimits::default()),
        }
    }

    /// `utterance` in `lang`, a user's name read as `number` (no recorded name).
    pub(crate) fn said(&self, utterance: &Utterance, lang: Lang, number: &str) -> Vec<i16> {
        let segments: Vec<Segment> =
            speech::name_as_number(speech::render(utterance, lang), number, lang);
        self.cache.stitch(&segments, None).unwrap().to_vec()
    }

    /// `utterance` in `lang` with the user's name as `name` (the spoken one the server made).
    pub(crate) fn said_with_name(
        &self,
        utterance: &Utterance,
        lang: Lang,
        name: &[i16],
    ) -> Vec<i16> {
        let segments = speech::render(utterance, lang);
        self.cache.stitch(&segments, Some(name)).unwrap().to_vec()
    }
}

/// The user's name as the server spoke it with espeak-ng when the demo was seeded
/// (`onestatus::spoken_name`), decoded; `None` if it made none.
pub(crate) fn spoken_name(
    server: &TestServer,
    user: onestatus::domain::model::UserId,
) -> Option<Vec<i16>> {
    let name = with_store(server, async |store| {
        store.generated_name(user).await.unwrap()
    })?;
    Some(onestatus::media::decode::decode(name.audio, None, &DecodeLimits::default()).unwrap())
}

impl Prompts {
    /// `utterance` as the deposit says it to callers of `user`: with their spoken name, which
    /// every demo user has (espeak-ng is installed for the tests, `.ci/run`).
    pub(crate) fn greeted(
        &self,
        server: &TestServer,
        user: &User,
        utterance: &Utterance,
        lang: Lang,
    ) -> Vec<i16> {
        let name = spoken_name(server, user.id).unwrap_or_else(|| {
            panic!(
                "{} has no spoken name: is espeak-ng installed?",
                user.profile.name
            )
        });
        self.said_with_name(utterance, lang, &name)
    }
}

/// What the deposit says before the tone, to a caller offered `secondary`.
pub(crate) fn greeting(user_id: i64, secondary: Lang) -> [Utterance; 4] {
    let now = copenhagen(10, 1);
    // The name once, as the status's subject (issue #18).
    let welcome = speech::greeting_status(
        user_id,
        &GreetingStatus::Absent {
            reason: Reason::Meeting,
            back_at: Some(copenhagen(14, 30)),
        },
        now,
    );
    let options = speech::offers(Some(secondary), true);
    [
        welcome,
        options,
        Utterance::from(vec![Piece::Fragment(f::LEAVE_A_MESSAGE_AFTER_THE_TONE)]),
        Utterance::from(vec![Piece::Fragment(f::BEEP)]),
    ]
}

/// Whole 20 ms frames in `samples`, the last one partial.
pub(crate) fn frames(samples: usize) -> usize {
    samples.div_ceil(FRAME)
}

/// The first prompt start (from `after`) whose first `frames` frames sound like `expected`.
pub(crate) fn find_prompt(
    packets: &[Sent],
    starts: &[usize],
    after: usize,
    expected: &[i16],
    frames: usize,
) -> Option<usize> {
    let n = frames.min(expected.len() / FRAME);
    starts.iter().copied().filter(|&s| s >= after).find(|&s| {
        s + n <= packets.len() && snr_db(&audio(packets, s, s + n), &expected[..n * FRAME]) > 30.0
    })
}

/// The PCMA audio of a pcap SIPp plays (Ethernet/IPv4/UDP/RTP, no CSRC), decoded.
pub(crate) fn pcap_audio(path: &Path) -> Vec<i16> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut offset = 24;
    while offset + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[offset + 8..offset + 12].try_into().unwrap()) as usize;
        let packet = &data[offset + 16..offset + 16 + incl];
        offset += 16 + incl;
        let ihl = usize::from(packet[14] & 0x0f) * 4;
        out.extend(G711::Pcma.decode(&packet[14 + ihl + 8 + 12..]));
    }
    out
}

// ---- the phone ---------------------------------------------------------------------

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The user's desk phone: a UDP socket that answers every request 200 and keeps the
/// message-waiting NOTIFYs it got.
pub(crate) struct Phone {
    pub socket: UdpSocket,
}

impl Phone {
    pub(crate) fn new() -> Phone {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Phone { socket }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Waits up to `limit` for a NOTIFY whose body contains `needle`; answers every request.
    pub(crate) fn notify_with(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut buffer = [0u8; 65536];
        while Instant::now() < deadline {
            let Ok((n, from)) = self.socket.recv_from(&mut buffer) else {
                continue;
            };
            let m = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if m.starts_with("SIP/2.0") {
                continue;
            }
            let reply = format!(
                "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=ph\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
                header(&m, "Via").unwrap_or_default(),
                header(&m, "From").unwrap_or_default(),
                header(&m, "To").unwrap_or_default(),
                header(&m, "Call-ID").unwrap_or_default(),
                header(&m, "CSeq").unwrap_or_default(),
            );
            let _ = self.socket.send_to(reply.as_bytes(), from);
            if m.starts_with("NOTIFY ")
                && header(&m, "Event") == Some("message-summary")
                && m.contains(needle)
            {
                return Some(m);
            }
        }
        None
    }
}
