//! Load generator for the voicemail media benchmark (`benches/voicemail.sh` runs it).
//!
//! N callers, each on its own SIP and RTP socket on 127.0.0.1, call N users who have no phone
//! registered, so every call goes to OneVoicemail. Each caller timestamps every RTP packet it
//! receives (the stitched greeting, the beep, the comfort silence), waits for the greeting to end,
//! sends `SPEECH_SECS` of G.711 (speech: the English prompts, looped) paced at 20 ms, and hangs
//! up with BYE. It then reports
//! outbound pacing error (arrival interval minus 20 ms) p50/p99/max, lost packets, and the calls
//! that failed. Bounded: N calls, each with its own deadline; loopback only.
//!
//! Arrivals are stamped by the kernel as each datagram reaches the socket (`SO_TIMESTAMPNS`,
//! socket(7)), not when this generator's task gets to read it: on the 2 cores the server runs
//! on, thousands of caller tasks are often late to read, and a user-space stamp measured the
//! generator's own scheduling as the server's pacing (benches/README.md, "Fifth session").
//!
//! Environment: SERVER (SIP address), NUMBERS (file: one OneNumber per line), CALLS, SPEECH_SECS,
//! RAMP_MS (delay between call starts) or RATE (call starts per second; overrides RAMP_MS).
//!
//! Post-dial delay mode (`benches/post_dial.sh`): with `SPEECH_SECS=0` each caller hangs up as
//! soon as the first RTP packet of the greeting arrives, so a steady RATE of calls keeps few
//! calls up at once and measures INVITE -> 200 and INVITE -> first audio at that rate. NUMBERS
//! is then reused round-robin when CALLS exceeds it.
//!
//! Soak mode (`benches/soak.sh`): with `CONCURRENT=n` (and `UNTIL_SECS`), n callers each call
//! their own number again as soon as the last call ended, so n voicemail calls are up at any
//! time until UNTIL_SECS; the summary line covers every call placed.
//!
//! `tests/bench_smoke.rs` runs this same code (its binary acts as the generator for
//! `benches/voicemail.sh`) with two short calls, so the generator cannot rot.
#![allow(clippy::disallowed_methods)] // a load generator measures wall time by design

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::Mutex;

/// Kernel receive timestamps of UDP datagrams (`SO_TIMESTAMPNS`): what the wire saw, whatever
/// the generator's scheduling. Linux only, as the benchmark is.
#[allow(unsafe_code)] // FFI for SO_TIMESTAMPNS; each block says why it is sound.
pub(crate) mod wire_clock {
    use std::io;
    use std::os::fd::AsRawFd;

    use tokio::io::Interest;
    use tokio::net::UdpSocket;

    /// Asks the kernel to stamp every datagram `socket` receives.
    pub(crate) fn enable(socket: &UdpSocket) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: a valid fd, and a c_int option value of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Receives one datagram into `buf`: its length and the kernel's arrival stamp in ns
    /// (CLOCK_REALTIME; only differences are used), `None` if the kernel gave none.
    pub(crate) async fn recv(
        socket: &UdpSocket,
        buf: &mut [u8],
    ) -> io::Result<(usize, Option<i64>)> {
        socket
            .async_io(Interest::READABLE, || recv_now(socket.as_raw_fd(), buf))
            .await
    }

    fn recv_now(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<i64>)> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // u64s so the control buffer is aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain data; zeroed is its documented empty value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at live buffers of the lengths it states; the socket is
        // non-blocking, so WouldBlock comes back as an error for tokio to wait on.
        let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut stamp = None;
        // SAFETY: the CMSG_* walk stays within msg_controllen, as the kernel filled it.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    stamp = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok((n as usize, stamp))
    }
}

#[derive(Default)]
struct Totals {
    intervals_us: Vec<i64>,
    lost: u64,
    received: u64,
    failed: Vec<String>,
    answered: u64,
    /// INVITE sent -> first RTP packet of the greeting, per call (post-dial delay to audio).
    first_audio_us: Vec<i64>,
    /// INVITE sent -> 200 OK received, per call.
    answer_us: Vec<i64>,
}

pub(crate) fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub(crate) fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Silence after the greeting that means "the beep has sounded, speak now". Longer than any
/// pause inside a greeting (400 ms between sentences plus the fragments' own edges) even when
/// the server's pacing jitter stretches it: at 600 ms the generator started speaking inside a
/// greeting pause at 1,000 concurrent calls, and the server, still playing, missed the start.
const GREETING_END_SILENCE: Duration = Duration::from_millis(1500);

async fn one_call(
    i: usize,
    server: SocketAddr,
    number: String,
    speech: Duration,
    totals: Arc<Mutex<Totals>>,
) -> Result<(), String> {
    let sip = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let rtp = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let local = sip.local_addr().map_err(|e| e.to_string())?;
    let rtp_port = rtp.local_addr().map_err(|e| e.to_string())?.port();
    wire_clock::enable(&rtp).map_err(|e| format!("SO_TIMESTAMPNS: {e}"))?;
    let call_id = format!("vmload-{i}-{}@bench", std::process::id());
    let sdp = format!(
        "v=0\r\no=load {i} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\n"
    );
    let invite = format!(
        "INVITE sip:{number}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-vm{i}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:load{i}@{local}>;tag=l{i}\r\nTo: <sip:{number}@{server}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:load{i}@{local}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let mut buf = vec![0u8; 65536];
    let invited = Instant::now();
    let deadline = invited + Duration::from_secs(20);
    let mut ok = None;
    sip.send_to(invite.as_bytes(), server)
        .await
        .map_err(|e| e.to_string())?;
    let mut next_retry = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline && ok.is_none() {
        match tokio::time::timeout(Duration::from_millis(100), sip.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let code: u16 = msg
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                if code >= 300 {
                    return Err(format!("call {i}: {}", msg.lines().next().unwrap_or("")));
                }
                if code == 200 {
                    ok = Some(msg);
                }
            }
            _ if Instant::now() > next_retry => {
                sip.send_to(invite.as_bytes(), server)
                    .await
                    .map_err(|e| e.to_string())?;
                next_retry = Instant::now() + Duration::from_secs(1);
            }
            _ => {}
        }
    }
    let ok = ok.ok_or(format!("call {i}: no 200"))?;
    let answered_after = invited.elapsed();
    let to = header(&ok, "To").unwrap_or("").to_owned();
    let body = ok.split("\r\n\r\n").nth(1).unwrap_or("");
    let media_ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap_or("127.0.0.1")
        .trim()
        .to_owned();
    let media_port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .ok_or(format!("call {i}: no m=audio in answer"))?;
    let media: SocketAddr = format!("{media_ip}:{media_port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let ack = format!(
        "ACK sip:{number}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-vmack{i}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:load{i}@{local}>;tag=l{i}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    sip.send_to(ack.as_bytes(), server)
        .await
        .map_err(|e| e.to_string())?;
    {
        let mut t = totals.lock().await;
        t.answered += 1;
        t.answer_us.push(answered_after.as_micros() as i64);
    }

    // Receive the greeting; it is over once non-silent audio was heard and then GREETING_END_SILENCE of
    // silence frames followed (the beep is the last sound before recording starts).
    let mut intervals = Vec::new();
    // Kernel arrival stamp (ns) of the previous packet.
    let mut last_arrival: Option<i64> = None;
    let mut last_seq: Option<u16> = None;
    let (mut lost, mut received) = (0u64, 0u64);
    let mut heard = false;
    let mut first_audio: Option<Instant> = None;
    let mut silent_since: Option<Instant> = None;
    let greeting_deadline = Instant::now() + Duration::from_secs(60);
    let mut receive = |data: &[u8], at: Option<i64>, intervals: &mut Vec<i64>| -> bool {
        if data.len() < 12 {
            return false;
        }
        let seq = u16::from_be_bytes([data[2], data[3]]);
        if let Some(prev) = last_seq {
            let gap = seq.wrapping_sub(prev);
            if gap > 1 && gap < 1000 {
                lost += u64::from(gap - 1);
            }
        }
        last_seq = Some(seq);
        received += 1;
        if let (Some(prev), Some(at)) = (last_arrival, at) {
            intervals.push((at - prev) / 1_000 - 20_000);
        }
        last_arrival = at;
        let loud = data[12..]
            .iter()
            .any(|b| *b != 0xFF && *b != 0x7F && *b != 0xD5 && *b != 0x55);
        loud
    };
    while Instant::now() < greeting_deadline {
        if let Ok(Ok((n, wire))) =
            tokio::time::timeout(Duration::from_millis(200), wire_clock::recv(&rtp, &mut buf)).await
        {
            let at = Instant::now();
            first_audio.get_or_insert(at);
            if speech.is_zero() {
                // Post-dial delay mode: the first packet is all that is measured.
                break;
            }
            if receive(&buf[..n], wire, &mut intervals) {
                heard = true;
                silent_since = None;
            } else if heard {
                let since = *silent_since.get_or_insert(at);
                if at.duration_since(since) > GREETING_END_SILENCE {
                    break;
                }
            }
        }
    }
    // Speak: one 160-sample frame of the voice every 20 ms, while still timing what arrives. A
    // tone would not do: the server keeps only recordings its voice detector hears speech in.
    let frames = (speech.as_millis() / 20) as u32;
    let start = Instant::now();
    let ssrc = 0x1000 + i as u32;
    let voice = voice();
    for f in 0..frames {
        let mut packet = Vec::with_capacity(172);
        packet.extend_from_slice(&[0x80, 0x00]);
        packet.extend_from_slice(&(f as u16).to_be_bytes());
        packet.extend_from_slice(&(f * 160).to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.extend_from_slice(&voice[f as usize % voice.len()]);
        rtp.send_to(&packet, media)
            .await
            .map_err(|e| e.to_string())?;
        let next = start + Duration::from_millis(20 * u64::from(f + 1));
        while Instant::now() < next {
            let wait = next.saturating_duration_since(Instant::now());
            if let Ok(Ok((n, wire))) =
                tokio::time::timeout(wait, wire_clock::recv(&rtp, &mut buf)).await
            {
                receive(&buf[..n], wire, &mut intervals);
            }
        }
    }
    let bye = format!(
        "BYE sip:{number}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-vmbye{i}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:load{i}@{local}>;tag=l{i}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
         CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    sip.send_to(bye.as_bytes(), server)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(Duration::from_secs(2), sip.recv_from(&mut buf)).await;
    let mut t = totals.lock().await;
    t.intervals_us.extend(intervals);
    t.lost += lost;
    t.received += received;
    let Some(at) = first_audio else {
        return Err(format!("call {i}: no RTP from the greeting"));
    };
    t.first_audio_us
        .push(at.duration_since(invited).as_micros() as i64);
    Ok(())
}

pub(crate) fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

/// One run's parameters (from the environment in `main`).
pub(crate) struct Load {
    pub server: SocketAddr,
    pub numbers: Vec<String>,
    pub calls: usize,
    /// Speech sent per call; zero for the post-dial delay mode.
    pub speech: Duration,
    /// Between call starts.
    pub ramp: Duration,
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct Summary {
    pub calls: usize,
    pub answered: u64,
    pub failed: Vec<String>,
    pub packets: u64,
    pub lost: u64,
    /// |arrival interval - 20 ms| p50, p99, max (µs).
    pub pacing_us: [i64; 3],
    /// INVITE -> first RTP packet p50, p99, max (µs).
    pub first_audio_us: [i64; 3],
    /// INVITE -> 200 OK p50, p99, max (µs).
    pub answer_us: [i64; 3],
}

impl Summary {
    /// The figures as one line (`key=value`, what the scripts put in their result rows).
    pub(crate) fn line(&self) -> String {
        format!(
            "calls={} answered={} failed={} packets={} lost={} pacing_abs_error_us p50={} p99={} max={} first_audio_us p50={} p99={} max={} answer_us p50={} p99={}",
            self.calls,
            self.answered,
            self.failed.len(),
            self.packets,
            self.lost,
            self.pacing_us[0],
            self.pacing_us[1],
            self.pacing_us[2],
            self.first_audio_us[0],
            self.first_audio_us[1],
            self.first_audio_us[2],
            self.answer_us[0],
            self.answer_us[1],
        )
    }
}

fn spread(values: &mut [i64]) -> [i64; 3] {
    values.sort_unstable();
    [
        percentile(values, 50.0),
        percentile(values, 99.0),
        values.last().copied().unwrap_or(0),
    ]
}

/// The caller's voice as μ-law payloads, computed once (at 2,000 callers encoding per packet
/// cost the generator a core of the same two the server runs on): English prompts one after
/// another, 100 ms apart, looped by the sender.
fn voice() -> &'static [Vec<u8>] {
    static VOICE: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    VOICE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/en");
        let mut pcm = Vec::new();
        for name in [
            "leave_a_message_after_the_tone",
            "you_have_called",
            "is_in_a_meeting",
            "and_will_be_back",
            "tomorrow",
        ] {
            let path = dir.join(format!("{name}.wav"));
            let limits = onestatus::media::decode::DecodeLimits::default();
            pcm.extend(onestatus::media::decode::decode_file(&path, &limits).expect("prompts/en"));
            pcm.extend(std::iter::repeat_n(0i16, 800));
        }
        pcm.chunks_exact(160)
            .map(|frame| {
                frame
                    .iter()
                    .map(|&s| onestatus::media::g711::linear_to_ulaw(s))
                    .collect()
            })
            .collect()
    })
}

/// Places `load.calls` calls, one every `load.ramp`, and waits for all of them.
pub(crate) async fn run(load: Load) -> Summary {
    let totals = Arc::new(Mutex::new(Totals::default()));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for i in 0..load.calls {
        let number = load.numbers[i % load.numbers.len()].clone();
        let totals = totals.clone();
        let (server, speech) = (load.server, load.speech);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = one_call(i, server, number, speech, totals.clone()).await {
                totals.lock().await.failed.push(e);
            }
        }));
        // Paced from the start, not from the last call: a steady rate even when a spawn lags.
        let next = start + load.ramp * (i as u32 + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    summarize(load.calls, &totals).await
}

/// Soak mode (`benches/soak.sh`): `concurrent` callers, started one every `load.ramp`, each
/// calling its own number of `load.numbers` again as soon as its last call ended, until
/// `until` has passed since the start; the summary covers every call placed. The pacing
/// figures keep the latest few million intervals, so a 30-minute soak stays bounded in memory.
pub(crate) async fn sustain(load: Load, concurrent: usize, until: Duration) -> Summary {
    /// Intervals kept (1 Mi, 8 MiB): the last 100 s or so of 200 calls' packets.
    const KEEP: usize = 1 << 20;
    let totals = Arc::new(Mutex::new(Totals::default()));
    let placed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrent {
        let number = load.numbers[w % load.numbers.len()].clone();
        let (totals, placed) = (totals.clone(), placed.clone());
        let (server, speech) = (load.server, load.speech);
        workers.push(tokio::spawn(async move {
            while start.elapsed() < until {
                let i = placed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Err(e) = one_call(i, server, number.clone(), speech, totals.clone()).await {
                    totals.lock().await.failed.push(e);
                }
                let mut t = totals.lock().await;
                if t.intervals_us.len() > 2 * KEEP {
                    let excess = t.intervals_us.len() - KEEP;
                    t.intervals_us.drain(..excess);
                }
            }
        }));
        tokio::time::sleep_until((start + load.ramp * (w as u32 + 1)).into()).await;
    }
    for w in workers {
        let _ = w.await;
    }
    summarize(placed.load(std::sync::atomic::Ordering::Relaxed), &totals).await
}

/// The figures of `calls` calls whose measurements are in `totals`.
async fn summarize(calls: usize, totals: &Mutex<Totals>) -> Summary {
    let mut t = totals.lock().await;
    // For a closer look at the pacing distribution (benches/README.md): every arrival interval
    // minus 20 ms, one per line, in µs.
    if let Some(path) = std::env::var_os("INTERVALS_FILE") {
        let text: String = t.intervals_us.iter().map(|v| format!("{v}\n")).collect();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("cannot write INTERVALS_FILE: {e}");
        }
    }
    let mut abs: Vec<i64> = t.intervals_us.iter().map(|v| v.abs()).collect();
    Summary {
        calls,
        answered: t.answered,
        failed: std::mem::take(&mut t.failed),
        packets: t.received,
        lost: t.lost,
        pacing_us: spread(&mut abs),
        first_audio_us: spread(&mut t.first_audio_us),
        answer_us: spread(&mut t.answer_us),
    }
}

/// The generator as `benches/voicemail.sh` and `benches/post_dial.sh` run it: parameters from
/// the environment, the summary line on stdout, up to five failures on stderr; exit status 1
/// when a call failed.
pub(crate) fn main() {
    let server: SocketAddr = env("SERVER", SocketAddr::from(([127, 0, 0, 1], 25060)));
    let calls: usize = env("CALLS", 10);
    let speech = Duration::from_secs(env("SPEECH_SECS", 30));
    let rate: u64 = env("RATE", 0);
    let ramp = 1_000_000u64
        .checked_div(rate)
        .map(Duration::from_micros)
        .unwrap_or_else(|| Duration::from_millis(env("RAMP_MS", 5)));
    let numbers: Vec<String> = std::fs::read_to_string(env("NUMBERS", String::from("numbers.txt")))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    // Reusing a number while its first call is still up would measure a second call to the
    // same mailbox; only the post-dial delay mode (short calls) may wrap around.
    let needed = match env("CONCURRENT", 0usize) {
        0 => calls,
        concurrent => concurrent,
    };
    if numbers.is_empty() || (numbers.len() < needed && !speech.is_zero()) {
        eprintln!("need {needed} numbers in NUMBERS, have {}", numbers.len());
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Soak mode: CONCURRENT callers calling again and again for UNTIL_SECS (CALLS unused).
    let concurrent: usize = env("CONCURRENT", 0);
    let until = Duration::from_secs(env("UNTIL_SECS", 60));
    let load = Load {
        server,
        numbers,
        calls,
        speech,
        ramp,
    };
    let summary = if concurrent > 0 {
        runtime.block_on(sustain(load, concurrent, until))
    } else {
        runtime.block_on(run(load))
    };
    println!("{}", summary.line());
    for f in summary.failed.iter().take(5) {
        eprintln!("failed: {f}");
    }
    if !summary.failed.is_empty() {
        std::process::exit(1);
    }
}
