//! Load generator for the anchored relay benchmark (`benches/relay.sh` runs it): N calls with
//! G.711-sized RTP both ways for `SECS`, through a relay or straight, measured at the receiver.
//!
//! Modes (`MODE`):
//! - `sip`: each caller sends an INVITE to `SERVER` (onestatus) for a number of `NUMBERS`; every
//!   user's device is bound to `UAS_PORT`, where this generator answers as the callee (one SIP
//!   socket, an RTP socket per call). The relay's SDP tells each side where to send. Each side
//!   starts sending once the call is confirmed (the caller after its ACK, the callee when the
//!   ACK arrives), so no packet reaches the relay before both SDPs did.
//! - `pairs`: `PAIRS` is a file of `a_port b_port a_dest b_dest` lines (written by
//!   `benches/rtpengine_ng.py` after its offer/answer with rtpengine); both ends bind their port
//!   and send to the relay's address for them.
//! - `direct`: pairs of sockets sending to each other, no relay: the floor of the same run.
//!
//! What is measured, per received packet: the sender writes its wall clock (CLOCK_REALTIME, ns)
//! into the first 8 payload bytes just before `send_to`; the kernel stamps the arrival
//! (`SO_TIMESTAMPNS`, the voicemail generator's `wire_clock`). The interarrival difference
//! against the sender's own spacing, |(R_i - R_{i-1}) - (S_i - S_{i-1})| (RFC 3550 §6.4.1's D),
//! is the jitter the path added, free of the generator's own send and receive scheduling; R - S
//! is the one-way delay through the path. Loss is packets sent minus packets received, each
//! side receiving for `LINGER_MS` after its last send. With `RELAY_PID`, the relay's CPU
//! (`/proc/<pid>/stat` utime + stime, `CLK_TCK` ticks per second) over the steady window, when
//! every stream is up, comes out as % of a core and % of a core per 1,000 streams (a call is
//! two streams). Bounded: N calls, each with its own deadlines; loopback only.
//!
//! `tests/bench_smoke.rs` runs this code as `benches/relay.sh`'s generator with two calls.
#![allow(clippy::disallowed_methods)] // a load generator measures wall time by design

// The voicemail generator's kernel arrival stamps and helpers, reused (`tests/bench_smoke.rs`
// reaches the voicemail generator through here too: a file may be one module only once).
#[path = "voicemail_load.rs"]
#[allow(dead_code)]
pub(crate) mod voicemail_load;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::Mutex;

use voicemail_load::{env, header, percentile, wire_clock};

/// RTP packetisation of G.711 at 8 kHz: 160 samples every 20 ms, 12 + 160 bytes.
const FRAME: Duration = Duration::from_millis(20);
const PACKET_LEN: usize = 172;
/// A received packet whose send stamp is further than this from its arrival is not ours.
const STRAY_NS: i64 = 60_000_000_000;

/// What the receiving ends measured, merged.
#[derive(Default)]
struct Totals {
    sent: u64,
    received: u64,
    /// Datagrams skipped as not of this run (see `STRAY_NS`).
    stray: u64,
    /// |D| per consecutive pair of packets, µs.
    jitter_us: Vec<i64>,
    /// R - S per packet, µs.
    transit_us: Vec<i64>,
    streams_done: u64,
    failed: Vec<String>,
}

type Shared = Arc<Mutex<Totals>>;

fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// One RTP endpoint: sends `frames` packets to `peer` every 20 ms while timing what arrives,
/// then keeps receiving for `linger`; merges its figures into `totals`.
async fn stream(socket: UdpSocket, peer: SocketAddr, ssrc: u32, secs: u32, totals: Shared) {
    let linger = Duration::from_millis(env("LINGER_MS", 1000));
    let frames = secs * 50;
    let mut packet = [0u8; PACKET_LEN];
    packet[0] = 0x80; // V=2, PT 0 (PCMU)
    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
    packet[20..].fill(0xFF); // μ-law silence after the stamp
    let mut buf = [0u8; 2048];
    let (mut sent, mut received, mut stray) = (0u64, 0u64, 0u64);
    let (mut jitter, mut transit) = (Vec::new(), Vec::new());
    // (seq, R, S) of the previous packet received.
    let mut last: Option<(u16, i64, i64)> = None;
    let mut on_packet = |data: &[u8], arrival: Option<i64>| {
        if data.len() < 20 || data[0] & 0xC0 != 0x80 {
            return;
        }
        let seq = u16::from_be_bytes([data[2], data[3]]);
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&data[12..20]);
        let sent_at = i64::from_be_bytes(stamp);
        // Not a packet of this run: a stray datagram to a reused ephemeral port (at 1,000 calls
        // the generator holds 3,000 of them on a machine other programs send RTP on too) has
        // no send stamp of ours, and its bytes overflowed the arithmetic below once.
        if arrival.is_some_and(|at| at.checked_sub(sent_at).is_none_or(|d| d.abs() > STRAY_NS)) {
            stray += 1;
            return;
        }
        received += 1;
        let Some(at) = arrival else { return };
        transit.push((at - sent_at) / 1_000);
        if let Some((prev_seq, prev_at, prev_sent)) = last {
            if seq == prev_seq.wrapping_add(1) {
                jitter.push((((at - prev_at) - (sent_at - prev_sent)) / 1_000).abs());
            }
        }
        last = Some((seq, at, sent_at));
    };
    let start = Instant::now();
    for f in 0..frames {
        packet[2..4].copy_from_slice(&(f as u16).to_be_bytes());
        packet[4..8].copy_from_slice(&(f * 160).to_be_bytes());
        packet[12..20].copy_from_slice(&wall_ns().to_be_bytes());
        if socket.send_to(&packet, peer).await.is_ok() {
            sent += 1;
        }
        let next = start + FRAME * (f + 1);
        // Receive until the next send is due (a receive error only skips that datagram).
        while let Ok(got) =
            tokio::time::timeout_at(next.into(), wire_clock::recv(&socket, &mut buf)).await
        {
            if let Ok((n, at)) = got {
                on_packet(&buf[..n], at);
            }
        }
    }
    let end = Instant::now() + linger;
    while let Ok(got) =
        tokio::time::timeout_at(end.into(), wire_clock::recv(&socket, &mut buf)).await
    {
        if let Ok((n, at)) = got {
            on_packet(&buf[..n], at);
        }
    }
    let mut t = totals.lock().await;
    t.sent += sent;
    t.received += received;
    t.stray += stray;
    t.jitter_us.extend(jitter);
    t.transit_us.extend(transit);
    t.streams_done += 1;
}

async fn rtp_socket(port: u16) -> Result<UdpSocket, String> {
    let socket = UdpSocket::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    wire_clock::enable(&socket).map_err(|e| format!("SO_TIMESTAMPNS: {e}"))?;
    Ok(socket)
}

/// The `c=` address and `m=audio` port of an SDP body.
fn sdp_media(body: &str) -> Option<SocketAddr> {
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .map_or("127.0.0.1", str::trim);
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split(' ')
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

fn sdp(port: u16, session: usize) -> String {
    format!(
        "v=0\r\no=relay {session} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

fn status(msg: &str) -> u16 {
    msg.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The calling side of call `i` in `sip` mode: INVITE, ACK, RTP for `secs`, BYE.
async fn caller(
    i: usize,
    server: SocketAddr,
    number: String,
    secs: u32,
    totals: Shared,
) -> Result<(), String> {
    let sip = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let rtp = rtp_socket(0).await?;
    let local = sip.local_addr().map_err(|e| e.to_string())?;
    let rtp_port = rtp.local_addr().map_err(|e| e.to_string())?.port();
    let call_id = format!("relay-{i}-{}@bench", std::process::id());
    let body = sdp(rtp_port, i);
    let dialog = |method: &str, cseq: u32, to: &str| {
        format!(
            "{method} sip:{number}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-rl{method}{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:caller{i}@{local}>;tag=c{i}\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:caller{i}@{local}>\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        dialog("INVITE", 1, &format!("<sip:{number}@{server}>")),
        body.len()
    );
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut retry = Duration::from_millis(500);
    let mut next_send = Instant::now();
    let ok = loop {
        if Instant::now() >= deadline {
            return Err(format!("call {i}: no 200 to the INVITE"));
        }
        if Instant::now() >= next_send {
            sip.send_to(invite.as_bytes(), server)
                .await
                .map_err(|e| e.to_string())?;
            next_send = Instant::now() + retry;
            retry = (retry * 2).min(Duration::from_secs(4));
        }
        if let Ok(Ok((n, _))) =
            tokio::time::timeout_at(next_send.into(), sip.recv_from(&mut buf)).await
        {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            match status(&msg) {
                200 => break msg,
                code if code >= 300 => {
                    return Err(format!("call {i}: {}", msg.lines().next().unwrap_or("")));
                }
                _ => {}
            }
        }
    };
    let to = header(&ok, "To").unwrap_or("").to_owned();
    let media = ok
        .split("\r\n\r\n")
        .nth(1)
        .and_then(sdp_media)
        .ok_or(format!("call {i}: no media address in the 200"))?;
    let ack = format!("{}Content-Length: 0\r\n\r\n", dialog("ACK", 1, &to));
    sip.send_to(ack.as_bytes(), server)
        .await
        .map_err(|e| e.to_string())?;
    stream(rtp, media, 0x2000_0000 + i as u32, secs, totals).await;
    let bye = format!("{}Content-Length: 0\r\n\r\n", dialog("BYE", 2, &to));
    for _ in 0..4 {
        sip.send_to(bye.as_bytes(), server)
            .await
            .map_err(|e| e.to_string())?;
        let until = Instant::now() + Duration::from_secs(2);
        while let Ok(Ok((n, _))) =
            tokio::time::timeout_at(until.into(), sip.recv_from(&mut buf)).await
        {
            let msg = String::from_utf8_lossy(&buf[..n]);
            if status(&msg) >= 200 && header(&msg, "CSeq").is_some_and(|c| c.ends_with("BYE")) {
                return Ok(());
            }
        }
    }
    Err(format!("call {i}: no answer to the BYE"))
}

/// A response to `request` with `code`, echoing its dialog headers; `tag` goes on the To.
fn response(request: &str, code: &str, tag: &str, contact: SocketAddr, body: &str) -> String {
    let mut out = format!("SIP/2.0 {code}\r\n");
    for line in request.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" | "record-route" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" if !line.contains(";tag=") => {
                out.push_str(&format!("{line};tag={tag}\r\n"));
            }
            "to" | "t" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(&format!("Contact: <sip:callee@{contact}>\r\n"));
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

/// An answered INVITE waiting for its ACK.
struct Pending {
    ok: String,
    from: SocketAddr,
    rtp: Option<(UdpSocket, SocketAddr)>,
    resent: u32,
    resend_at: Instant,
}

/// The called side in `sip` mode: answers every INVITE on `socket` with 200 and an RTP port of
/// its own, starts that call's stream when the ACK comes, answers BYEs, until `done` is set.
async fn callee(socket: UdpSocket, secs: u32, totals: Shared, done: Arc<tokio::sync::Notify>) {
    let Ok(contact) = socket.local_addr() else {
        return;
    };
    let mut calls: HashMap<String, Pending> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let mut n_calls = 0usize;
    let finished = done.notified();
    tokio::pin!(finished);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        let (n, from) = tokio::select! {
            _ = &mut finished => break,
            _ = tick.tick() => {
                // RFC 3261 §13.3.1.4: the 200 is retransmitted until the ACK comes.
                let now = Instant::now();
                for p in calls.values_mut().filter(|p| p.rtp.is_some() && p.resend_at <= now) {
                    if p.resent < 7 {
                        let _ = socket.send_to(p.ok.as_bytes(), p.from).await;
                        p.resent += 1;
                        p.resend_at = now + Duration::from_millis(500 << p.resent.min(3));
                    }
                }
                continue;
            }
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue,
            },
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let Some(call_id) = header(&msg, "Call-ID").or_else(|| header(&msg, "i")) else {
            continue;
        };
        let call_id = call_id.to_owned();
        let method = msg.split(' ').next().unwrap_or("");
        match method {
            "INVITE" => {
                if let Some(p) = calls.get(&call_id) {
                    let _ = socket.send_to(p.ok.as_bytes(), from).await;
                    continue;
                }
                let offer = msg.split("\r\n\r\n").nth(1).and_then(sdp_media);
                let rtp = match rtp_socket(0).await {
                    Ok(s) => s,
                    Err(e) => {
                        totals.lock().await.failed.push(format!("callee: {e}"));
                        continue;
                    }
                };
                let (Some(peer), Ok(local)) = (offer, rtp.local_addr()) else {
                    totals
                        .lock()
                        .await
                        .failed
                        .push(format!("callee: no SDP offer in {call_id}"));
                    continue;
                };
                n_calls += 1;
                let ok = response(
                    &msg,
                    "200 OK",
                    &format!("callee{n_calls}"),
                    contact,
                    &sdp(local.port(), n_calls),
                );
                let _ = socket.send_to(ok.as_bytes(), from).await;
                calls.insert(
                    call_id,
                    Pending {
                        ok,
                        from,
                        rtp: Some((rtp, peer)),
                        resent: 0,
                        resend_at: Instant::now() + Duration::from_millis(500),
                    },
                );
            }
            "ACK" => {
                if let Some((rtp, peer)) = calls.get_mut(&call_id).and_then(|p| p.rtp.take()) {
                    let ssrc = 0x4000_0000 + n_calls as u32;
                    tokio::spawn(stream(rtp, peer, ssrc, secs, totals.clone()));
                }
            }
            "BYE" | "CANCEL" => {
                let ok = response(&msg, "200 OK", "callee", contact, "");
                let _ = socket.send_to(ok.as_bytes(), from).await;
                if let Some(p) = calls.remove(&call_id) {
                    if p.rtp.is_some() {
                        totals
                            .lock()
                            .await
                            .failed
                            .push(format!("callee: {call_id} ended before its ACK"));
                    }
                }
            }
            _ if status(&msg) == 0 && !method.is_empty() => {
                let ok = response(&msg, "200 OK", "callee", contact, "");
                let _ = socket.send_to(ok.as_bytes(), from).await;
            }
            _ => {}
        }
    }
}

/// `/proc/<pid>/stat` utime + stime, in clock ticks (every thread of the process).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields count from after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The relay's CPU over [from, to] as a fraction of one core, and the window's length.
async fn cpu_over(pid: u32, from: Instant, to: Instant) -> Option<(f64, Duration)> {
    tokio::time::sleep_until(from.into()).await;
    let (t0, at0) = (cpu_ticks(pid)?, Instant::now());
    tokio::time::sleep_until(to.into()).await;
    let (t1, at1) = (cpu_ticks(pid)?, Instant::now());
    let hz: f64 = env("CLK_TCK", 100.0);
    let window = at1 - at0;
    Some(((t1 - t0) as f64 / hz / window.as_secs_f64(), window))
}

fn spread(values: &mut [i64]) -> [i64; 3] {
    values.sort_unstable();
    [
        percentile(values, 50.0),
        percentile(values, 99.0),
        values.last().copied().unwrap_or(0),
    ]
}

/// One pair of ends, `a` and `b`, each sending to its `dest`.
struct Pair {
    a: u16,
    b: u16,
    a_dest: Option<SocketAddr>,
    b_dest: Option<SocketAddr>,
}

fn read_pairs(path: &str) -> Result<Vec<Pair>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("PAIRS {path}: {e}"))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [a, b, a_dest, b_dest] = f[..] else {
                return Err(format!(
                    "PAIRS line {l:?}: want a_port b_port a_dest b_dest"
                ));
            };
            Ok(Pair {
                a: a.parse().map_err(|e| format!("{a}: {e}"))?,
                b: b.parse().map_err(|e| format!("{b}: {e}"))?,
                a_dest: Some(a_dest.parse().map_err(|e| format!("{a_dest}: {e}"))?),
                b_dest: Some(b_dest.parse().map_err(|e| format!("{b_dest}: {e}"))?),
            })
        })
        .collect()
}

/// Starts pair `i`'s two ends (`direct` and `pairs` modes).
async fn start_pair(i: usize, pair: Pair, secs: u32, totals: Shared) -> Result<(), String> {
    let a = rtp_socket(pair.a).await?;
    let b = rtp_socket(pair.b).await?;
    let a_addr = a.local_addr().map_err(|e| e.to_string())?;
    let b_addr = b.local_addr().map_err(|e| e.to_string())?;
    let a_dest = pair.a_dest.unwrap_or(b_addr);
    let b_dest = pair.b_dest.unwrap_or(a_addr);
    let ssrc = 0x2000_0000 + i as u32;
    tokio::spawn(stream(a, a_dest, ssrc, secs, totals.clone()));
    tokio::spawn(stream(b, b_dest, ssrc + 0x2000_0000, secs, totals));
    Ok(())
}

/// Runs the mode of the environment; the summary line, and whether every call went through.
async fn run() -> Result<(String, bool), String> {
    let mode: String = env("MODE", String::from("direct"));
    let secs: u32 = env("SECS", 30);
    let ramp = Duration::from_micros((env("RAMP_MS", 2.0f64) * 1000.0) as u64);
    let totals: Shared = Arc::default();
    let start = Instant::now();
    let mut calls = env("CALLS", 10usize);
    let mut tasks = Vec::new();
    let done = Arc::new(tokio::sync::Notify::new());
    let mut uas = None;
    match mode.as_str() {
        "sip" => {
            let server: SocketAddr = env("SERVER", SocketAddr::from(([127, 0, 0, 1], 19060)));
            let uas_port: u16 = env("UAS_PORT", 19062);
            let numbers: Vec<String> = std::fs::read_to_string(env("NUMBERS", String::new()))
                .map_err(|e| format!("NUMBERS: {e}"))?
                .lines()
                .map(str::to_owned)
                .collect();
            if numbers.len() < calls {
                return Err(format!("need {calls} numbers, have {}", numbers.len()));
            }
            let socket = UdpSocket::bind(("127.0.0.1", uas_port))
                .await
                .map_err(|e| format!("UAS 127.0.0.1:{uas_port}: {e}"))?;
            uas = Some(tokio::spawn(callee(
                socket,
                secs,
                totals.clone(),
                done.clone(),
            )));
            for (i, number) in numbers.into_iter().take(calls).enumerate() {
                let totals = totals.clone();
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = caller(i, server, number, secs, totals.clone()).await {
                        totals.lock().await.failed.push(e);
                    }
                }));
                tokio::time::sleep_until((start + ramp * (i as u32 + 1)).into()).await;
            }
        }
        "direct" | "pairs" => {
            let pairs = if mode == "pairs" {
                read_pairs(&env("PAIRS", String::new()))?
            } else {
                (0..calls)
                    .map(|_| Pair {
                        a: 0,
                        b: 0,
                        a_dest: None,
                        b_dest: None,
                    })
                    .collect()
            };
            calls = pairs.len();
            for (i, pair) in pairs.into_iter().enumerate() {
                if let Err(e) = start_pair(i, pair, secs, totals.clone()).await {
                    totals.lock().await.failed.push(e);
                }
                tokio::time::sleep_until((start + ramp * (i as u32 + 1)).into()).await;
            }
        }
        other => return Err(format!("MODE={other}: want sip, pairs or direct")),
    }
    // Steady window: from when the last call had time to set up to just before the first
    // streams end (the whole run when that leaves less than a second).
    let cpu = match std::env::var("RELAY_PID").ok().and_then(|p| p.parse().ok()) {
        Some(pid) => {
            let setup = Duration::from_secs(2).min(Duration::from_secs(u64::from(secs)) / 5);
            let from = start + ramp * calls as u32 + setup;
            let to = start + Duration::from_secs(u64::from(secs)) - setup / 2;
            let (from, to) = if to > from + Duration::from_secs(1) {
                (from, to)
            } else {
                (start, start + Duration::from_secs(u64::from(secs)))
            };
            Some(tokio::spawn(cpu_over(pid, from, to)))
        }
        None => None,
    };
    for t in tasks {
        let _ = t.await;
    }
    // Every stream ends on its own within secs + linger after it started.
    let streams = 2 * calls as u64;
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs) + 30);
    while totals.lock().await.streams_done < streams && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.notify_one();
    if let Some(uas) = uas {
        let _ = uas.await;
    }
    let cpu = match cpu {
        Some(task) => task.await.ok().flatten(),
        None => None,
    };
    let mut t = totals.lock().await;
    let jitter = spread(&mut t.jitter_us);
    let transit = spread(&mut t.transit_us);
    let lost = t.sent.saturating_sub(t.received);
    let mut line = format!(
        "mode={mode} calls={calls} streams={streams} streams_done={} failed={} sent={} received={} lost={lost} loss_pct={:.3} added_jitter_us p50={} p99={} max={} transit_us p50={} p99={} max={} stray={}",
        t.streams_done,
        t.failed.len(),
        t.sent,
        t.received,
        100.0 * lost as f64 / t.sent.max(1) as f64,
        jitter[0],
        jitter[1],
        jitter[2],
        transit[0],
        transit[1],
        transit[2],
        t.stray,
    );
    if let Some((core, window)) = cpu {
        line.push_str(&format!(
            " relay_cpu_pct={:.1} cpu_pct_per_1000_streams={:.2} cpu_window_s={:.1}",
            100.0 * core,
            100.0 * core * 1000.0 / streams.max(1) as f64,
            window.as_secs_f64()
        ));
    }
    // Failures by kind (the call's number left out), with one example each: at 1,000 calls
    // the first five alone may all be of one kind and hide the cause of the rest.
    let mut kinds: Vec<(String, usize, &String)> = Vec::new();
    for f in &t.failed {
        let kind = match f.split_once(": ") {
            Some((call, rest)) if call.starts_with("call ") => rest.to_owned(),
            _ => f.clone(),
        };
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, n, _)) => *n += 1,
            None => kinds.push((kind, 1, f)),
        }
    }
    for (kind, n, example) in kinds.iter().take(10) {
        eprintln!("failed: {n} × {kind} (e.g. {example})");
    }
    Ok((line, t.failed.is_empty() && t.streams_done == streams))
}

/// The generator as `benches/relay.sh` runs it: parameters from the environment, the summary
/// line on stdout; exit status 1 when a call failed, 2 on bad parameters.
pub(crate) fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run()) {
        Ok((line, ok)) => {
            println!("{line}");
            if !ok {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
