//! The media engine against a real UDP peer on 127.0.0.1: a stitched prompt is played and
//! received as paced RTP and compared sample for sample; RFC 4733 DTMF and G.711 speech sent to
//! the engine come back as a digit and a recording of the right length.

use crate::support::rtp_peer::PeerStream;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onestatus::config::RtpConfig;
use onestatus::domain::Lang;
use onestatus::media::decode::{DecodeLimits, PromptCache};
use onestatus::media::dtmf::Digit;
use onestatus::media::engine::MediaEngine;
use onestatus::media::g711::G711;
use onestatus::media::recorder::{RecordOptions, RecordStop};
use onestatus::media::rtp::RtpPacket;
use onestatus::media::sdp::SessionDescription;
use onestatus::media::session::MediaEvent;
use onestatus::shutdown::Shutdown;
use onestatus::speech::{fragment as f, FragmentLibrary, Segment};
use tokio::net::UdpSocket;

/// Packets the peer collects: 8 seconds of 20 ms frames.
const PACKETS: usize = 400;

/// The peer's clock, for arrival times.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn offer(peer: SocketAddr) -> SessionDescription {
    let text = format!(
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n",
        peer.port()
    );
    SessionDescription::parse(&text).unwrap()
}

fn speech(samples: usize) -> Vec<i16> {
    // A vowel-like mix of harmonics, well above the silence threshold.
    (0..samples)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let s = (2.0 * std::f64::consts::PI * 150.0 * t).sin() * 6000.0
                + (2.0 * std::f64::consts::PI * 700.0 * t).sin() * 3000.0;
            s as i16
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plays_paced_rtp_and_records_and_detects_dtmf_over_real_udp() {
    let peer = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let peer_addr = peer.local_addr().unwrap();

    let shutdown = Shutdown::new();
    let config = RtpConfig {
        port_min: 42_000,
        port_max: 42_999,
        ptime_ms: 20,
        ..RtpConfig::default()
    };
    let engine = MediaEngine::start(&config, shutdown.listener());
    let (mut handle, answer) = engine
        .open_session(&offer(peer_addr), IpAddr::V4(Ipv4Addr::LOCALHOST))
        .unwrap();
    let engine_port = answer.media[0].port;
    assert_eq!(engine_port % 2, 0, "RTP on an even port");
    assert!((42_000..=42_998).contains(&engine_port));
    assert_eq!(handle.local_addr().port(), engine_port);
    assert_eq!(answer.media[0].formats, vec!["8", "101"]);
    let engine_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), engine_port);

    // A stitched prompt from the real fragment files.
    let library =
        FragmentLibrary::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap();
    let cache = PromptCache::new(library, DecodeLimits::default());
    let segments = vec![
        Segment::Fragment {
            id: f::WELCOME,
            lang: Lang::Da,
        },
        Segment::Silence(Duration::from_millis(300)),
        Segment::Fragment {
            id: f::BEEP,
            lang: Lang::Da,
        },
    ];
    let prompt = cache.stitch(&segments, None).unwrap();
    assert!(
        prompt.len() > 8000 && prompt.len() < 8000 * 7,
        "{}",
        prompt.len()
    );
    let playback = handle.play(prompt.clone());

    // The peer collects 400 packets with their arrival times.
    let receiver = tokio::spawn({
        let peer = peer.clone();
        async move {
            let mut packets = Vec::with_capacity(PACKETS);
            let mut buffer = [0u8; 2048];
            while packets.len() < PACKETS {
                let (len, from) = peer.recv_from(&mut buffer).await.unwrap();
                assert_eq!(
                    from, engine_addr,
                    "symmetric: we hear it from where we send"
                );
                packets.push((now(), buffer[..len].to_vec()));
            }
            packets
        }
    });

    // Meanwhile the peer presses 5, then speaks for 2 s and goes quiet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut stream = PeerStream {
        seq: 100,
        ts: 8000,
        ssrc: 0x5EED_0001,
    };
    for packet in stream.key_press(5) {
        peer.send_to(&packet, engine_addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.record(RecordOptions {
        max_duration: Duration::from_secs(60),
        silence_timeout: Some(Duration::from_secs(1)),
        silence_threshold: 256,
        stream_interval: Some(Duration::from_millis(500)),
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let spoken = speech(16_000);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for frame in spoken.chunks(160) {
        ticker.tick().await;
        peer.send_to(&stream.audio(frame), engine_addr)
            .await
            .unwrap();
    }
    for _ in 0..75 {
        ticker.tick().await;
        peer.send_to(&stream.audio(&[0; 160]), engine_addr)
            .await
            .unwrap();
    }

    let mut digits = Vec::new();
    let mut playback_done = false;
    let mut recording = None;
    let mut streamed: Vec<i16> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while recording.is_none() || !playback_done || digits.is_empty() {
        let event = tokio::time::timeout_at(deadline, handle.next_event())
            .await
            .expect("events in time")
            .expect("engine running");
        match event {
            MediaEvent::Digit(d) => digits.push(d),
            MediaEvent::PlaybackDone(done) => {
                assert_eq!(done, playback);
                playback_done = true;
            }
            MediaEvent::RecordingAudio(chunk) => streamed.extend(chunk),
            MediaEvent::RecordingDone(r) => recording = Some(r),
            MediaEvent::MediaTimeout => panic!("media timeout"),
        }
    }
    assert_eq!(digits, vec![Digit::Five]);
    let recording = recording.unwrap();
    assert_eq!(recording.reason, RecordStop::Silence);
    // The chunks streamed while recording are handed over for good, at least 2 s of them
    // (the silence after the speech was streamed too, before the trim): the session kept
    // only the rest.
    assert!(streamed.len() >= 16_000, "{} streamed", streamed.len());
    assert!(recording.streamed <= streamed.len());
    let mut message = streamed.clone();
    message.truncate(recording.streamed);
    message.extend_from_slice(&recording.pcm);
    // 2 s of speech plus the 200 ms of silence kept; loopback loses nothing.
    assert_eq!(message.len(), 16_000 + 1600, "{:?}", recording.duration());
    assert_eq!(recording.len(), message.len());
    let expected = G711::Pcma.decode(&G711::Pcma.encode(&spoken));
    assert_eq!(&message[..16_000], &expected[..]);

    let packets = tokio::time::timeout(Duration::from_secs(15), receiver)
        .await
        .expect("400 packets in time")
        .unwrap();
    assert!(
        handle.close().await.recording.is_none(),
        "recording already delivered"
    );

    // Headers: one stream, consecutive sequence numbers and timestamps, PCMA.
    let parsed: Vec<_> = packets
        .iter()
        .map(|(_, bytes)| RtpPacket::parse(bytes).unwrap())
        .collect();
    for pair in parsed.windows(2) {
        assert_eq!(pair[1].ssrc, pair[0].ssrc);
        assert_eq!(pair[1].payload_type, 8);
        assert_eq!(
            pair[1].sequence_number,
            pair[0].sequence_number.wrapping_add(1)
        );
        assert_eq!(pair[1].timestamp, pair[0].timestamp.wrapping_add(160));
    }

    // Pacing: report the distribution, assert only a loose bound.
    let intervals: Vec<f64> = packets
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64() * 1000.0)
        .collect();
    let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
    let mut deviations: Vec<f64> = intervals.iter().map(|i| (i - 20.0).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let p99 = deviations[deviations.len() * 99 / 100];
    eprintln!(
        "pacing over {} intervals: mean {mean:.3} ms, p99 |deviation| {p99:.3} ms, max {:.3} ms",
        intervals.len(),
        deviations[deviations.len() - 1]
    );
    assert!((mean - 20.0).abs() < 2.0, "mean interval {mean} ms");

    // Audio: the prompt starts at the last marker (the first packet, sent before the play
    // command arrived, may carry one too) and is byte-exact PCMA of the stitched PCM.
    let markers: Vec<usize> = (0..parsed.len()).filter(|&i| parsed[i].marker).collect();
    assert!(!markers.is_empty() && markers.len() <= 2, "{markers:?}");
    let start = *markers.last().unwrap();
    let frames = prompt.len().div_ceil(160);
    assert!(start + frames < PACKETS);
    let received: Vec<u8> = parsed[start..start + frames]
        .iter()
        .flat_map(|p| p.payload.to_vec())
        .collect();
    let mut padded = prompt.to_vec();
    padded.resize(frames * 160, 0);
    assert_eq!(received, G711::Pcma.encode(&padded));
    let decoded = G711::Pcma.decode(&received);
    for (i, (&got, &sent)) in decoded.iter().zip(padded.iter()).enumerate() {
        let error = (i32::from(got) - i32::from(sent)).abs();
        assert!(
            error <= i32::from(sent).abs() / 16 + 16,
            "sample {i}: {sent} came back as {got}"
        );
    }
    // Before and after the prompt: encoded silence.
    for p in parsed[..start].iter().chain(&parsed[start + frames..]) {
        assert!(p.payload.iter().all(|&b| b == G711::Pcma.silence()));
    }
}

#[tokio::test]
async fn unanswerable_offers_and_shutdown_are_refused() {
    let shutdown = Shutdown::new();
    let config = RtpConfig {
        port_min: 43_000,
        port_max: 43_099,
        ptime_ms: 20,
        ..RtpConfig::default()
    };
    let engine = MediaEngine::start(&config, shutdown.listener());
    let g729_only = SessionDescription::parse(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 5000 RTP/AVP 18\r\n",
    )
    .unwrap();
    let error = engine
        .open_session(&g729_only, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .unwrap_err();
    assert_eq!(error.sip_status(), 488);

    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let (handle, _) = engine
        .open_session(&offer(peer), IpAddr::V4(Ipv4Addr::LOCALHOST))
        .unwrap();
    drop(handle);
    shutdown.trigger();
    let error = engine
        .open_session(&offer(peer), IpAddr::V4(Ipv4Addr::LOCALHOST))
        .unwrap_err();
    assert_eq!(error.sip_status(), 503);
}

/// A peer socket and one engine session answering its offer, on ports from `port_min` (a
/// hundred of them, so tests running at once do not meet): what the close tests start from.
async fn session(
    port_min: u16,
) -> (
    UdpSocket,
    Shutdown,
    MediaEngine,
    onestatus::media::engine::MediaHandle,
    SocketAddr,
) {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let shutdown = Shutdown::new();
    let config = RtpConfig {
        port_min,
        port_max: port_min + 99,
        ptime_ms: 20,
        ..RtpConfig::default()
    };
    let engine = MediaEngine::start(&config, shutdown.listener());
    let (handle, answer) = engine
        .open_session(
            &offer(peer.local_addr().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
        .unwrap();
    let engine_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), answer.media[0].port);
    (peer, shutdown, engine, handle, engine_addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_mid_message_returns_what_was_recorded() {
    let (peer, _shutdown, _engine, handle, engine_addr) = session(43_100).await;
    handle.record(RecordOptions::default());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut stream = PeerStream {
        seq: 1,
        ts: 0,
        ssrc: 0x5EED_0001,
    };
    let spoken = speech(8000);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for frame in spoken.chunks(160) {
        ticker.tick().await;
        peer.send_to(&stream.audio(frame), engine_addr)
            .await
            .unwrap();
    }
    // Let the last packets reach the driver, then hang up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let recording = handle
        .close()
        .await
        .recording
        .expect("the message survives the hang-up");
    assert_eq!(recording.reason, RecordStop::Hangup);
    assert_eq!((recording.streamed, recording.pcm.len()), (0, 8000));
}

/// A hang-up that arrives while the caller's last packets are still queued (in the socket, or
/// between the receive task and the driver: what an overloaded engine has behind it) does not
/// cut them off: 2 s of speech sent in a burst and the close at once, with no pause to let the
/// engine catch up, still give the whole 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_up_right_behind_the_speech_keeps_all_of_it() {
    let (peer, _shutdown, _engine, handle, engine_addr) = session(43_200).await;
    handle.record(RecordOptions::default());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut stream = PeerStream {
        seq: 1,
        ts: 0,
        ssrc: 0x5EED_0003,
    };
    let spoken = speech(16_000);
    for frame in spoken.chunks(160) {
        peer.send_to(&stream.audio(frame), engine_addr)
            .await
            .unwrap();
    }
    let recording = handle
        .close()
        .await
        .recording
        .expect("the message survives the hang-up");
    assert_eq!(recording.reason, RecordStop::Hangup);
    // Without the close waiting for the queue, 4,320 of the 16,000 samples (stable across
    // runs). Once, under the whole suite's load, 8 frames of the burst were missing with the
    // fix in place (14,720): not the close (the socket was drained), an unexplained loss inside
    // the burst, so the bound leaves room for a few frames and still tells the two apart.
    let kept = recording.streamed + recording.pcm.len();
    assert!(kept >= 14_400, "{kept} of 16,000 samples kept");
}

/// A streamed recording that the IVR does not read while it runs: more chunks than the event
/// queue takes (the driver holds the rest), then a hang-up. Closing hands back every chunk and
/// the tail: together, the whole message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_an_unread_streamed_recording_loses_no_chunk() {
    let (peer, _shutdown, _engine, handle, engine_addr) = session(43_300).await;
    // One chunk per packet once the margin is filled: 400 packets, ~390 chunks.
    handle.record(RecordOptions {
        stream_interval: Some(Duration::from_millis(20)),
        ..RecordOptions::default()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut stream = PeerStream {
        seq: 1,
        ts: 0,
        ssrc: 0x5EED_0002,
    };
    let spoken = speech(8000 * 8);
    for frame in spoken.chunks(160) {
        peer.send_to(&stream.audio(frame), engine_addr)
            .await
            .unwrap();
        // Faster than real time (the recorder places by timestamp), slow enough for loopback.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closed = handle.close().await;
    let recording = closed.recording.expect("the recording was still running");
    assert_eq!(recording.reason, RecordStop::Hangup);
    let mut message: Vec<i16> = Vec::new();
    let mut chunks = 0;
    for event in closed.events {
        match event {
            MediaEvent::RecordingAudio(chunk) => {
                chunks += 1;
                message.extend(chunk);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        chunks > 256,
        "{chunks} chunks: more than the event queue holds"
    );
    assert_eq!(recording.streamed, message.len());
    message.extend_from_slice(&recording.pcm);
    let expected = G711::Pcma.decode(&G711::Pcma.encode(&spoken));
    assert_eq!(message.len(), expected.len());
    assert!(message == expected, "the message is the speech, in order");
}

/// Sessions opened at once against one peer socket: one driver task and one timer carry them.
const STREAMS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_driver_task_carries_hundreds_of_streams() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let config = RtpConfig {
        port_min: 44_000,
        port_max: 44_999,
        ptime_ms: 20,
        ..RtpConfig::default()
    };
    let engine = MediaEngine::start(&config, shutdown.listener());
    let handles: Vec<_> = (0..STREAMS)
        .map(|_| {
            engine
                .open_session(&offer(peer_addr), IpAddr::V4(Ipv4Addr::LOCALHOST))
                .unwrap()
                .0
        })
        .collect();
    let window = Duration::from_secs(2);
    let started = now();
    let mut counts = std::collections::HashMap::<u32, usize>::new();
    let mut buffer = [0u8; 2048];
    while now() - started < window {
        let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_millis(100), peer.recv_from(&mut buffer)).await
        else {
            continue;
        };
        let packet = RtpPacket::parse(&buffer[..len]).unwrap();
        *counts.entry(packet.ssrc).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let expected = STREAMS * 100;
    eprintln!(
        "{STREAMS} streams for {window:?}: {total} packets of ~{expected} expected, {} SSRCs heard",
        counts.len()
    );
    assert_eq!(counts.len(), STREAMS, "every stream is heard");
    // Loose: a loaded 2-core debug build and the peer's socket buffer may drop some.
    assert!(total * 10 >= expected * 7, "{total} packets");
    for handle in handles {
        handle.close().await;
    }
}

/// Thousands of sessions on one driver (a debug build's): it cannot send every frame in time,
/// so some session's timer is always due. It must still read what a caller sends and answer
/// a close. With a biased select that served the timer first, every round went to the timers
/// at 2,000 voicemail calls on one free core: no datagram was read, no close answered, so
/// nothing was recorded and every call hung at its hang-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_that_is_behind_still_records_and_answers_closes() {
    const BUSY: usize = 3_000;
    // Where the busy sessions send; never read (the kernel drops what its buffer cannot hold).
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let shutdown = Shutdown::new();
    let config = RtpConfig {
        port_min: 50_000,
        port_max: 59_999,
        ptime_ms: 20,
        ..RtpConfig::default()
    };
    let engine = MediaEngine::start(&config, shutdown.listener());
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let busy: Vec<_> = (0..BUSY)
        .map(|_| {
            engine
                .open_session(&offer(sink.local_addr().unwrap()), localhost)
                .unwrap()
                .0
        })
        .collect();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (handle, answer) = engine
        .open_session(&offer(peer.local_addr().unwrap()), localhost)
        .unwrap();
    let engine_addr = SocketAddr::new(localhost, answer.media[0].port);
    handle.record(RecordOptions {
        silence_timeout: None,
        ..RecordOptions::default()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One second of speech, paced as a phone sends it.
    let mut stream = PeerStream {
        seq: 1,
        ts: 0,
        ssrc: 0x5EED_0004,
    };
    let started = now();
    for (n, frame) in speech(8_000).chunks(160).enumerate() {
        peer.send_to(&stream.audio(frame), engine_addr)
            .await
            .unwrap();
        let next = started + Duration::from_millis(20 * (n as u64 + 1));
        tokio::time::sleep_until(next.into()).await;
    }
    // A liveness bound, generous: a close is answered in the driver's next round (it reads the
    // socket, then ends the session). Without the fix the answer never came.
    let closing = now();
    let closed = tokio::time::timeout(Duration::from_secs(10), handle.close())
        .await
        .expect("the close is answered while the driver is behind");
    eprintln!(
        "{BUSY} busy sessions: close answered in {:?}",
        now() - closing
    );
    let recording = closed.recording.expect("the recording comes back");
    let kept = recording.streamed + recording.pcm.len();
    eprintln!("{BUSY} busy sessions: {kept} of 8,000 samples recorded");
    assert!(kept >= 6_400, "{kept} of 8,000 samples recorded");
    drop(busy);
}
