//! One call's RTP session (RFC 3550), sans-I/O: what to send every ptime, what to make of every
//! datagram received, and the events the IVR acts on.
//!
//! In the call flow: the SIP side answers an INVITE with `sdp::answer`; the media engine builds
//! a [`MediaSession`] from the [`Negotiated`] result and from then on only moves bytes and time
//! in and out of it: [`MediaSession::handle_datagram`] for each packet on the call's port,
//! [`MediaSession::handle_timeout`] and [`MediaSession::poll_transmit`] when
//! [`MediaSession::poll_timeout`] is due, [`MediaSession::poll_event`] for the IVR.
//!
//! Sending: packet *n* is due at `start + n·ptime`, computed from the monotonic start instant,
//! never by adding ptime to the previous send time, so a late wake-up delays one packet but
//! never the ones after it: a 10-minute call sends exactly 30 000 packets in 10 minutes. When
//! no prompt plays we keep sending encoded silence (G.711 has no comfort-noise payload of its
//! own; continuous packets keep NAT bindings open and jitter buffers primed). The marker bit
//! starts each prompt (RFC 3551 §4.1: "the first packet of a talkspurt"). If the driver falls
//! more than [`SessionConfig::max_burst`] frames behind (a stalled host), the excess frames are
//! skipped — timestamps and prompt advance as if sent, sequence numbers do not (RFC 3550 §5.1)
//! — rather than bursting seconds of audio into the peer's jitter buffer.
//!
//! Receiving: symmetric RTP (RFC 4961, and what every SBC calls "comedia"): we send to the SDP
//! address until the peer's own packets validate (RFC 3550 A.1 probation: two in sequence from
//! one SSRC), then to the address they come from, which is the one that crosses the caller's
//! NAT. Once latched, packets from other addresses are dropped, so a stray or injected stream
//! cannot take over the call. Telephone-events (RFC 4733) go to the DTMF detector; audio is
//! decoded and recorded when a recording runs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::media::audio::Audio;
use crate::media::dtmf::{Digit, DtmfDetector};
use crate::media::g711::G711;
use crate::media::player::Player;
use crate::media::recorder::{RecordOptions, RecordStop, Recorder, Recording};
use crate::media::rtp::{Reception, RtpPacket, RtpReceiver, RtpSender};
use crate::media::sdp::{Direction, Negotiated};

/// G.711 samples per millisecond.
const SAMPLES_PER_MS: u32 = 8;

/// Most events queued for the IVR; past it further digits are dropped (a peer flooding
/// telephone-events must not grow memory). Recording and playback events are always queued.
const MAX_QUEUED_DIGITS: usize = 64;

/// Per-session protocol knobs, with the defaults the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Packetisation time: 20 ms (RFC 3551 §4.5: the G.711 default, and our `a=ptime`).
    pub ptime: Duration,
    /// Report [`MediaEvent::MediaTimeout`] after this long without RTP from the peer (while
    /// we expect to receive); `None` disables it. 30 s: long enough for a phone that
    /// suppresses silence, short enough that a vanished caller does not hold a port for hours.
    pub media_timeout: Option<Duration>,
    /// Frames sent back-to-back when the driver is late; beyond this, frames are skipped.
    pub max_burst: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ptime: Duration::from_millis(20),
            media_timeout: Some(Duration::from_secs(30)),
            max_burst: 5,
        }
    }
}

impl SessionConfig {
    /// A config with `ptime_ms` clamped to 10..=60 ms in 10 ms steps (what G.711 endpoints
    /// accept; RFC 3551 §4.5 frames are multiples of 10 ms in practice).
    pub fn with_ptime_ms(ptime_ms: u32) -> Self {
        let ptime_ms = (ptime_ms.clamp(10, 60) / 10) * 10;
        Self {
            ptime: Duration::from_millis(u64::from(ptime_ms)),
            ..Self::default()
        }
    }
}

/// Names one [`MediaSession::play`], chosen by whoever plays (the engine's handle counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaybackId(pub u64);

/// What the session tells the IVR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key was pressed (RFC 4733 event, one per press).
    Digit(Digit),
    /// The prompt given to [`MediaSession::play`] with this id has been sent to its last
    /// sample. The id lets the IVR tell the end of the prompt it is waiting for from the end of
    /// one it replaced, which crossed its `play` on the way in: timing cannot, since a stalled
    /// driver makes prompts end early or late in wall time.
    PlaybackDone(PlaybackId),
    /// Settled audio of the recording, in order, since the previous chunk (only with
    /// `RecordOptions::stream_interval`), handed over for good: the session no longer holds
    /// it, so it must not be dropped. The IVR writes it to disk as it arrives.
    RecordingAudio(Vec<i16>),
    /// A recording ended (trailing silence trimmed). When streamed, the message is the first
    /// [`Recording::streamed`] samples of the `RecordingAudio` chunks followed by its `pcm`;
    /// otherwise its `pcm` is the whole message.
    RecordingDone(Recording),
    /// No RTP from the peer for [`SessionConfig::media_timeout`]: the caller is gone, or
    /// their media path is.
    MediaTimeout,
}

/// One packet to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where: the latched source, else the SDP address.
    pub destination: SocketAddr,
    /// The RTP packet.
    pub payload: Vec<u8>,
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Packets returned by [`MediaSession::poll_transmit`].
    pub sent: u64,
    /// Frames not sent: no destination, not sending (hold), or skipped after a stall.
    pub unsent_frames: u64,
    /// Of those, frames skipped because the driver was late.
    pub skipped_frames: u64,
    /// Valid RTP packets accepted from the peer.
    pub received: u64,
    /// Datagrams that were not RTP (or were RTCP on the RTP port).
    pub malformed: u64,
    /// RTP from an address other than the latched one.
    pub foreign: u64,
    /// RTP with a payload type we did not negotiate (e.g. comfort noise, PT 13).
    pub unknown_payload_type: u64,
    /// Digits dropped because the event queue was full.
    pub dropped_digits: u64,
}

/// One call's media state. See the module documentation.
#[derive(Debug)]
pub struct MediaSession {
    config: SessionConfig,
    /// Samples per frame at 8 kHz.
    frame_samples: usize,
    /// ptime in nanoseconds, for exact deadlines.
    ptime_nanos: u64,
    /// What offer/answer agreed.
    negotiated: Negotiated,
    /// Our stream's SSRC, sequence and timestamp.
    sender: RtpSender,
    /// The instant packet 0 was due.
    start: Instant,
    /// Index of the next frame.
    next_frame: u64,
    /// The peer's stream statistics.
    receiver: RtpReceiver,
    /// RFC 4733 digits.
    dtmf: DtmfDetector,
    /// SSRC of the last accepted packet, to reset the DTMF detector and recorder on a change.
    last_ssrc: Option<u32>,
    /// Address learned from the peer's packets (symmetric RTP).
    latched: Option<SocketAddr>,
    /// The prompt playing, with the id its `PlaybackDone` carries.
    player: Option<(Player, PlaybackId)>,
    /// The recording running, with the instant it began.
    recorder: Option<(Recorder, Instant)>,
    /// Last accepted RTP from the peer (or the start).
    last_received: Instant,
    /// MediaTimeout was reported and not yet cleared by new packets.
    timed_out: bool,
    /// Events for the IVR.
    events: VecDeque<MediaEvent>,
    /// Digits currently queued in `events`.
    queued_digits: usize,
    /// Scratch frame for the player.
    frame: Vec<i16>,
    /// Scratch for decoded received audio.
    decoded: Vec<i16>,
    /// Counters.
    stats: SessionStats,
}

impl MediaSession {
    /// A session starting at `now` (packet 0 is due at once). `seed` draws the SSRC and the
    /// initial sequence number and timestamp (RFC 3550 §5.1: random); the engine passes OS
    /// randomness, tests a constant.
    pub fn new(negotiated: Negotiated, config: SessionConfig, seed: u64, now: Instant) -> Self {
        let ptime_ms = u32::try_from(config.ptime.as_millis()).unwrap_or(20).max(1);
        let frame_samples = ptime_ms * SAMPLES_PER_MS;
        let mut rng = StdRng::seed_from_u64(seed);
        let sender = RtpSender::with_initial(
            rng.gen(),
            negotiated.payload_type,
            rng.gen(),
            rng.gen(),
            frame_samples,
        );
        let mut receiver = RtpReceiver::new();
        receiver.set_event_payload_type(negotiated.telephone_event);
        Self {
            config,
            frame_samples: frame_samples as usize,
            ptime_nanos: u64::from(ptime_ms) * 1_000_000,
            negotiated,
            sender,
            start: now,
            next_frame: 0,
            receiver,
            dtmf: DtmfDetector::new(),
            last_ssrc: None,
            latched: None,
            player: None,
            recorder: None,
            last_received: now,
            timed_out: false,
            events: VecDeque::new(),
            queued_digits: 0,
            frame: vec![0; frame_samples as usize],
            decoded: Vec::with_capacity(frame_samples as usize),
            stats: SessionStats::default(),
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.sender.ssrc()
    }

    /// Where packets go now: the latched source, else the SDP address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.negotiated.remote)
    }

    /// The peer's statistics (loss, jitter) for logs or RTCP.
    pub fn receiver(&self) -> &RtpReceiver {
        &self.receiver
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// What offer/answer agreed.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// A re-INVITE changed the media: codec, payload types, direction or address. The stream
    /// keeps its SSRC and sequence (RFC 3264 §8: a modified stream is the same stream); a new
    /// remote address forgets the latched one.
    pub fn renegotiate(&mut self, negotiated: Negotiated) {
        if negotiated.remote != self.negotiated.remote {
            self.latched = None;
        }
        self.sender.set_payload_type(negotiated.payload_type);
        self.receiver
            .set_event_payload_type(negotiated.telephone_event);
        self.negotiated = negotiated;
    }

    /// Starts playing `pcm` (8 kHz mono) at `now`, replacing any prompt playing (no
    /// `PlaybackDone` for that one); the next packet carries the marker bit.
    ///
    /// Frames that fell due before `now` and were not sent (the driver stalled) are skipped
    /// first, so the prompt starts now rather than inside the backlog: otherwise the burst
    /// catch-up of [`Self::poll_transmit`] would skip the prompt's opening words, unheard.
    pub fn play(&mut self, pcm: impl Into<Audio>, id: PlaybackId, now: Instant) {
        self.player = None;
        let behind = self.frames_due(now).saturating_sub(self.next_frame);
        if behind > 1 {
            self.skip_frames(behind - 1);
        }
        self.player = Some((Player::new(pcm), id));
        self.sender.start_talkspurt();
    }

    /// Stops the prompt; no [`MediaEvent::PlaybackDone`] follows (the IVR knows it stopped it).
    pub fn stop_playback(&mut self) {
        self.player = None;
    }

    /// Whether a prompt is playing.
    pub fn is_playing(&self) -> bool {
        self.player.is_some()
    }

    /// Starts recording what the peer sends; a recording already running ends first with
    /// [`RecordStop::Stopped`].
    pub fn record(&mut self, options: RecordOptions, now: Instant) {
        self.stop_recording();
        self.recorder = Some((Recorder::new(options), now));
    }

    /// Ends the recording (the IVR's `#`); [`MediaEvent::RecordingDone`] follows.
    pub fn stop_recording(&mut self) {
        if let Some(recording) = self.take_recording(RecordStop::Stopped) {
            self.events.push_back(MediaEvent::RecordingDone(recording));
        }
    }

    /// Ends the recording and hands it over directly, for the engine to return on close: the
    /// message left before a hang-up must not be lost.
    pub fn take_recording(&mut self, reason: RecordStop) -> Option<Recording> {
        self.recorder
            .take()
            .map(|(recorder, _)| recorder.finish(reason))
    }

    /// Whether a recording runs.
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// The next event for the IVR.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        let event = self.events.pop_front()?;
        if matches!(event, MediaEvent::Digit(_)) {
            self.queued_digits -= 1;
        }
        Some(event)
    }

    /// When [`Self::handle_timeout`] and [`Self::poll_transmit`] next have work: the next
    /// frame's deadline (every timeout is checked on a frame boundary, at most one ptime late).
    pub fn poll_timeout(&self) -> Instant {
        self.deadline(self.next_frame)
    }

    /// Deadline of frame `n`: start + n·ptime, exactly.
    fn deadline(&self, n: u64) -> Instant {
        self.start + Duration::from_nanos(self.ptime_nanos.saturating_mul(n))
    }

    /// Time-driven checks: media timeout, and recordings that end on silence or length while
    /// the peer sends nothing at all.
    pub fn handle_timeout(&mut self, now: Instant) {
        let receiving = self.negotiated.direction.receives() && !self.negotiated.hold;
        if let Some(limit) = self.config.media_timeout {
            if receiving
                && !self.timed_out
                && now.saturating_duration_since(self.last_received) >= limit
            {
                self.timed_out = true;
                self.events.push_back(MediaEvent::MediaTimeout);
            }
        }
        let Some((recorder, started)) = &self.recorder else {
            return;
        };
        // Silence: the recorded trailing silence plus the time since the last packet (or since
        // the recording began, if none came), so a phone that goes quiet by sending nothing
        // still ends the message.
        let idle_since = self.last_received.max(*started);
        let idle = now.saturating_duration_since(idle_since);
        let idle_samples =
            usize::try_from(idle.as_millis() * u128::from(SAMPLES_PER_MS)).unwrap_or(usize::MAX);
        // Packets are a ptime apart: only idleness beyond one frame is missing audio.
        let missing = idle_samples.saturating_sub(self.frame_samples * 2);
        let reason = if recorder.silent_for(missing) {
            Some(RecordStop::Silence)
        } else if now.saturating_duration_since(*started)
            >= recorder.options().max_duration + self.config.ptime * 10
        {
            // Wall-clock backstop for a peer that stops sending mid-message.
            Some(RecordStop::MaxLength)
        } else {
            None
        };
        if let Some(reason) = reason {
            if let Some(recording) = self.take_recording(reason) {
                self.events.push_back(MediaEvent::RecordingDone(recording));
            }
        }
    }

    /// The next packet due at `now`, if any; call until it returns `None`. Exactly one packet
    /// per frame deadline `start + n·ptime` (frames without a destination, or while we do not
    /// send, are counted and skipped).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        loop {
            if self.deadline(self.next_frame) > now {
                return None;
            }
            let behind = self.frames_due(now).saturating_sub(self.next_frame);
            if behind > u64::from(self.config.max_burst) {
                self.skip_frames(behind - u64::from(self.config.max_burst));
                continue;
            }
            self.next_frame += 1;
            if let Some(transmit) = self.next_packet() {
                self.stats.sent += 1;
                return Some(transmit);
            }
            self.stats.unsent_frames += 1;
        }
    }

    /// Frames due by `now` since the start, the one due exactly at `now` included.
    fn frames_due(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(elapsed / u128::from(self.ptime_nanos))
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Frames the driver was too late for pass unsent; the stream's clock runs on.
    fn skip_frames(&mut self, frames: u64) {
        self.next_frame += frames;
        self.stats.unsent_frames += frames;
        self.stats.skipped_frames += frames;
        // RtpSender counts in u32 frames; a skip beyond 2^32 frames (2.7 years) cannot happen.
        self.sender
            .skip_frames(u32::try_from(frames).unwrap_or(u32::MAX));
        if let Some((player, id)) = &mut self.player {
            player.skip(
                usize::try_from(frames)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(self.frame_samples),
            );
            if player.is_finished() {
                self.events.push_back(MediaEvent::PlaybackDone(*id));
                self.player = None;
            }
        }
    }

    /// Builds the frame for this deadline: the prompt's next samples or silence.
    fn next_packet(&mut self) -> Option<Transmit> {
        let mut playing = false;
        if let Some((player, id)) = &mut self.player {
            playing = player.next_frame(&mut self.frame);
            if player.is_finished() {
                self.events.push_back(MediaEvent::PlaybackDone(*id));
                self.player = None;
            }
        }
        let destination = self.destination();
        let sending = self.negotiated.direction.sends();
        let Some(destination) = destination.filter(|_| sending) else {
            // The clock runs on without a packet (RFC 3550 §5.1); the next one starts a
            // talkspurt.
            self.sender.skip_frames(1);
            return None;
        };
        let codec = self.negotiated.codec;
        let mut payload = Vec::with_capacity(self.frame_samples);
        if playing {
            codec.encode_into(&self.frame, &mut payload);
        } else {
            payload.resize(self.frame_samples, codec.silence());
        }
        let packet = self.sender.packet(&payload);
        // Cannot fail: no CSRCs, no extension, a 7-bit payload type from RtpSender.
        let bytes = packet.to_bytes().ok()?;
        Some(Transmit {
            destination,
            payload: bytes,
        })
    }

    /// One datagram from `from` arrived on the call's port at `now`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Ok(packet) = RtpPacket::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        // RTCP multiplexed on the RTP port (RFC 5761 §4): packet types 200–204 read as
        // payload types 72–76 with the marker set.
        if (72..=76).contains(&packet.payload_type) {
            self.stats.malformed += 1;
            return;
        }
        if self.latched.is_some_and(|latched| latched != from) {
            self.stats.foreign += 1;
            return;
        }
        if !self.negotiated.direction.receives() {
            return;
        }
        let is_audio = packet.payload_type == self.negotiated.payload_type;
        let is_event = Some(packet.payload_type) == self.negotiated.telephone_event;
        if !is_audio && !is_event {
            self.stats.unknown_payload_type += 1;
            return;
        }
        let resyncs = self.receiver.resyncs();
        let reception = self.receiver.receive(&packet, self.arrival_units(now));
        let restarted = self.receiver.resyncs() != resyncs;
        if self.last_ssrc != Some(packet.ssrc) || restarted {
            if self.last_ssrc.is_some() {
                self.dtmf.reset();
                if let Some((recorder, _)) = &mut self.recorder {
                    recorder.rebase();
                }
            }
            self.last_ssrc = Some(packet.ssrc);
        }
        if reception == Reception::BadSequence {
            // Possibly a restarted sender; the next packet in sequence re-synchronises.
            return;
        }
        self.stats.received += 1;
        self.last_received = now;
        self.timed_out = false;
        if self.latched.is_none() && self.receiver.is_valid() {
            self.latched = Some(from);
        }
        if is_event {
            if let Ok(Some(detected)) = self.dtmf.handle_packet(&packet) {
                self.push_digit(detected.digit);
            }
            return;
        }
        if let Some((recorder, _)) = &mut self.recorder {
            self.decoded.clear();
            self.negotiated
                .codec
                .decode_into(packet.payload, &mut self.decoded);
            let stop = recorder.push(packet.timestamp, &self.decoded);
            if let Some(chunk) = recorder.take_settled() {
                self.events.push_back(MediaEvent::RecordingAudio(chunk));
            }
            if let Some(stop) = stop {
                if let Some(recording) = self.take_recording(stop) {
                    self.events.push_back(MediaEvent::RecordingDone(recording));
                }
            }
        }
    }

    /// A digit for the IVR, unless a flood has filled the queue.
    fn push_digit(&mut self, digit: Digit) {
        if self.queued_digits >= MAX_QUEUED_DIGITS {
            self.stats.dropped_digits += 1;
            return;
        }
        self.queued_digits += 1;
        self.events.push_back(MediaEvent::Digit(digit));
    }

    /// Arrival time in 8 kHz units since the start, for the A.8 jitter estimate (wrapping,
    /// as RTP timestamps do).
    fn arrival_units(&self, now: Instant) -> u32 {
        let micros = now.saturating_duration_since(self.start).as_micros();
        // Truncation to 32 bits is the intended wrap.
        (micros * u128::from(SAMPLES_PER_MS) / 1000) as u32
    }

    /// The codec in use.
    pub fn codec(&self) -> G711 {
        self.negotiated.codec
    }

    /// Our direction.
    pub fn direction(&self) -> Direction {
        self.negotiated.direction
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::TelephoneEvent;
    use std::sync::Arc;

    const PEER: &str = "192.0.2.10:40000";

    fn negotiated(remote: Option<&str>) -> Negotiated {
        Negotiated {
            media_index: 0,
            codec: G711::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            remote: remote.map(|r| r.parse().unwrap()),
            direction: Direction::SendRecv,
            remote_ptime: None,
            hold: false,
        }
    }

    fn session(start: Instant) -> MediaSession {
        MediaSession::new(negotiated(Some(PEER)), SessionConfig::default(), 42, start)
    }

    /// An arbitrary origin for virtual time; nothing below waits on the real clock.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A peer's RTP stream towards the session.
    struct Peer {
        seq: u16,
        ts: u32,
        ssrc: u32,
    }

    impl Peer {
        fn new(ssrc: u32) -> Self {
            Self {
                seq: 65_530,
                ts: u32::MAX - 500,
                ssrc,
            }
        }

        fn audio(&mut self, codec: G711, pcm: &[i16]) -> Vec<u8> {
            let payload = codec.encode(pcm);
            let bytes = self.packet(codec.payload_type(), false, self.ts, &payload);
            self.ts = self.ts.wrapping_add(pcm.len() as u32);
            bytes
        }

        fn event(&mut self, timestamp: u32, event: TelephoneEvent, marker: bool) -> Vec<u8> {
            self.packet(101, marker, timestamp, &event.to_bytes())
        }

        fn packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
            let packet = RtpPacket {
                marker,
                payload_type: pt,
                sequence_number: self.seq,
                timestamp: ts,
                ssrc: self.ssrc,
                csrc: Vec::new(),
                extension: None,
                payload,
                padding: 0,
            };
            self.seq = self.seq.wrapping_add(1);
            packet.to_bytes().unwrap()
        }
    }

    fn loud(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f64 * 0.3).sin() * 8000.0) as i16)
            .collect()
    }

    fn events(session: &mut MediaSession) -> Vec<MediaEvent> {
        std::iter::from_fn(|| session.poll_event()).collect()
    }

    #[test]
    fn one_hour_of_ticks_is_exact_with_wrapping_sequence_and_no_drift() {
        let start = origin();
        let mut session = session(start);
        let mut rng = StdRng::seed_from_u64(7);
        let mut previous: Option<(u16, u32)> = None;
        let mut first_seq = 0u64;
        let mut count: u64 = 0;
        let mut wraps = 0;
        let frames: u64 = 3600 * 50;
        for n in 0..frames {
            // The driver wakes 0–15 ms after each deadline, sometimes not at all for a tick.
            if rng.gen_bool(0.05) {
                continue;
            }
            let now = start + ms(20 * n) + Duration::from_micros(rng.gen_range(0..15_000));
            while let Some(transmit) = session.poll_transmit(now) {
                assert_eq!(transmit.destination, PEER.parse().unwrap());
                let packet = RtpPacket::parse(&transmit.payload).unwrap();
                assert_eq!(packet.ssrc, session.ssrc());
                assert_eq!(packet.payload.len(), 160);
                assert!(packet.payload.iter().all(|&b| b == G711::Pcmu.silence()));
                if let Some((seq, ts)) = previous {
                    assert_eq!(packet.sequence_number, seq.wrapping_add(1));
                    assert_eq!(packet.timestamp, ts.wrapping_add(160));
                    if packet.sequence_number < seq {
                        wraps += 1;
                    }
                    assert!(!packet.marker);
                } else {
                    assert!(packet.marker, "the first packet starts a talkspurt");
                    first_seq = u64::from(packet.sequence_number);
                }
                previous = Some((packet.sequence_number, packet.timestamp));
                count += 1;
            }
            // No drift: after polling at `now`, exactly the frames due by `now` are out.
            let due = (now - start).as_nanos() / 20_000_000 + 1;
            assert_eq!(u128::from(count), due, "frame {n}");
        }
        let end = start + ms(20 * (frames - 1)) + ms(15);
        while session.poll_transmit(end).is_some() {
            count += 1;
        }
        assert_eq!(count, frames);
        // 180 000 packets wrap the 16-bit sequence two or three times, depending on the start.
        assert_eq!(wraps, (first_seq + frames - 1) / 65_536);
        assert!(wraps >= 2);
        assert_eq!(session.stats().skipped_frames, 0);
        assert_eq!(session.poll_timeout(), start + ms(20 * frames));
    }

    #[test]
    fn a_stalled_driver_skips_frames_instead_of_bursting() {
        let start = origin();
        let mut session = session(start);
        let first = session.poll_transmit(start).unwrap();
        let first = RtpPacket::parse(&first.payload).unwrap();
        let (seq0, ts0) = (first.sequence_number, first.timestamp);
        assert!(session.poll_transmit(start).is_none());
        // One second late: frames 1..=50 are due; only max_burst go out.
        let now = start + ms(1000);
        let sent: Vec<_> = std::iter::from_fn(|| session.poll_transmit(now)).collect();
        assert_eq!(sent.len(), 5);
        let packets: Vec<_> = sent
            .iter()
            .map(|t| RtpPacket::parse(&t.payload).unwrap())
            .map(|p| (p.sequence_number, p.timestamp, p.marker))
            .collect();
        // Sequence numbers stay contiguous; the timestamp jumps over the 45 skipped frames,
        // and the marker flags the discontinuity.
        assert_eq!(
            packets[0],
            (seq0.wrapping_add(1), ts0.wrapping_add(46 * 160), true)
        );
        assert_eq!(
            packets[4],
            (seq0.wrapping_add(5), ts0.wrapping_add(50 * 160), false)
        );
        assert_eq!(session.stats().skipped_frames, 45);
        assert_eq!(session.poll_timeout(), start + ms(1020));
    }

    /// The N=2,000 voicemail load: the engine stalled, then a prompt was started; the catch-up
    /// skipped the backlog *with the prompt in it*, so the greeting's opening words were never
    /// sent and its `PlaybackDone` came early. A prompt started late starts at its first word.
    #[test]
    fn a_prompt_started_after_a_stall_plays_from_its_first_word() {
        let start = origin();
        let mut session = session(start);
        session.poll_transmit(start).unwrap();
        let pcm: Arc<[i16]> = loud(160 * 3).into();
        let late = start + ms(1000);
        session.play(pcm.clone(), PlaybackId(1), late);
        let sent: Vec<_> = std::iter::from_fn(|| session.poll_transmit(late)).collect();
        assert_eq!(sent.len(), 1, "one frame is due at the play, not a burst");
        let first = RtpPacket::parse(&sent[0].payload).unwrap();
        assert!(first.marker);
        assert_eq!(first.payload, G711::Pcmu.encode(&pcm[..160]).as_slice());
        assert!(events(&mut session).is_empty());
        // The rest follows on the clock, and the end comes when the last frame is sent.
        let second = session.poll_transmit(late + ms(20)).unwrap();
        let second = RtpPacket::parse(&second.payload).unwrap();
        assert_eq!(second.payload, G711::Pcmu.encode(&pcm[160..320]).as_slice());
        assert!(events(&mut session).is_empty());
        session.poll_transmit(late + ms(40)).unwrap();
        assert_eq!(
            events(&mut session),
            vec![MediaEvent::PlaybackDone(PlaybackId(1))]
        );
        assert_eq!(session.stats().skipped_frames, 49);
    }

    #[test]
    fn a_prompt_plays_with_a_marker_then_silence_and_playback_done() {
        let start = origin();
        let mut session = session(start);
        session.poll_transmit(start).unwrap();
        let pcm: Arc<[i16]> = loud(160 * 3 + 40).into();
        session.play(pcm.clone(), PlaybackId(7), start + ms(20));
        let mut frames = Vec::new();
        for n in 1..=5 {
            let t = session.poll_transmit(start + ms(20 * n)).unwrap();
            let p = RtpPacket::parse(&t.payload).unwrap();
            frames.push((p.marker, p.payload.to_vec()));
            if n < 4 {
                assert!(events(&mut session).is_empty(), "frame {n}");
            } else if n == 4 {
                assert_eq!(
                    events(&mut session),
                    vec![MediaEvent::PlaybackDone(PlaybackId(7))]
                );
            }
        }
        let mut padded = pcm.to_vec();
        padded.resize(640, 0);
        let expected = G711::Pcmu.encode(&padded);
        assert_eq!(
            frames.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
            [true, false, false, false, false]
        );
        let sent: Vec<u8> = frames[..4].iter().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(sent, expected);
        assert!(
            frames[4].1.iter().all(|&b| b == 0xFF),
            "silence after the prompt"
        );
        assert!(!session.is_playing());
        // Stopping a prompt is silent.
        session.play(pcm, PlaybackId(8), start + ms(100));
        session.stop_playback();
        session.poll_transmit(start + ms(120)).unwrap();
        assert!(events(&mut session).is_empty());
    }

    #[test]
    fn dtmf_events_with_redundancy_give_one_digit_per_press() {
        let start = origin();
        let mut session = session(start);
        let from: SocketAddr = PEER.parse().unwrap();
        let mut peer = Peer::new(0xABCD);
        let mut t = start;
        for (event, ts) in [(5u8, 1000u32), (11, 3000)] {
            let report = |duration, end| TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            };
            let mut packets = vec![
                peer.event(ts, report(0, false), true),
                peer.event(ts, report(0, false), true),
                peer.event(ts, report(0, false), true),
            ];
            for d in [400, 800, 1200] {
                packets.push(peer.event(ts, report(d, false), false));
            }
            for _ in 0..3 {
                packets.push(peer.event(ts, report(1600, true), false));
            }
            for packet in packets {
                t += ms(20);
                session.handle_datagram(t, from, &packet);
            }
        }
        assert_eq!(
            events(&mut session),
            vec![
                MediaEvent::Digit(Digit::Five),
                MediaEvent::Digit(Digit::Pound)
            ]
        );
        assert_eq!(session.stats().received, 18);
    }

    #[test]
    fn a_key_after_the_sender_restarts_its_sequence_numbers_is_heard() {
        // Some senders (and SIPp's stock per-key pcaps) restart the sequence numbers without a
        // new SSRC. RFC 3550 A.1 re-synchronises after two packets in sequence; the DTMF
        // detector must start over with it, or every later key reads as a late packet.
        let start = origin();
        let mut session = session(start);
        let from: SocketAddr = PEER.parse().unwrap();
        let mut peer = Peer::new(0xABCD);
        let mut t = start;
        for (event, ts, seq) in [(1u8, 1000u32, 40_000u16), (2, 9000, 30_000)] {
            peer.seq = seq;
            for (duration, end) in [(0, false), (400, false), (800, false), (1200, true)] {
                let report = TelephoneEvent {
                    event,
                    end,
                    volume: 10,
                    duration,
                };
                t += ms(20);
                let packet = peer.event(ts, report, duration == 0);
                session.handle_datagram(t, from, &packet);
            }
        }
        assert_eq!(
            events(&mut session),
            vec![MediaEvent::Digit(Digit::One), MediaEvent::Digit(Digit::Two)]
        );
    }

    fn record_options(silence_ms: Option<u64>, max_ms: u64) -> RecordOptions {
        RecordOptions {
            max_duration: ms(max_ms),
            silence_timeout: silence_ms.map(ms),
            silence_threshold: 256,
            stream_interval: None,
        }
    }

    #[test]
    fn recording_stops_on_silence_and_trims_it() {
        let start = origin();
        let mut session = session(start);
        let from: SocketAddr = PEER.parse().unwrap();
        let mut peer = Peer::new(1);
        session.record(record_options(Some(1000), 60_000), start);
        let speech = loud(8000 * 2);
        let mut t = start;
        for frame in speech.chunks(160) {
            t += ms(20);
            session.handle_datagram(t, from, &peer.audio(G711::Pcmu, frame));
        }
        assert!(events(&mut session).is_empty());
        let mut done = None;
        for _ in 0..100 {
            t += ms(20);
            session.handle_datagram(t, from, &peer.audio(G711::Pcmu, &[0; 160]));
            if let Some(event) = session.poll_event() {
                done = Some(event);
                break;
            }
        }
        let Some(MediaEvent::RecordingDone(recording)) = done else {
            panic!("no recording: {done:?}");
        };
        assert_eq!(recording.reason, RecordStop::Silence);
        // Two seconds of speech plus the 200 ms tail kept.
        assert_eq!(recording.pcm.len(), 16_000 + 1600);
        let expected = G711::Pcmu.decode(&G711::Pcmu.encode(&speech));
        assert_eq!(&recording.pcm[..16_000], &expected[..]);
        assert!(!session.is_recording());
    }

    #[test]
    fn recording_stops_on_silence_when_the_peer_sends_nothing() {
        let start = origin();
        let mut session = session(start);
        let from: SocketAddr = PEER.parse().unwrap();
        let mut peer = Peer::new(1);
        session.record(record_options(Some(1000), 60_000), start);
        let mut t = start;
        for frame in loud(8000).chunks(160) {
            t += ms(20);
            session.handle_datagram(t, from, &peer.audio(G711::Pcmu, frame));
        }
        let last = t;
        let mut ended_at = None;
        while ended_at.is_none() {
            t += ms(20);
            session.handle_timeout(t);
            if let Some(MediaEvent::RecordingDone(r)) = session.poll_event() {
                assert_eq!(r.reason, RecordStop::Silence);
                assert_eq!(r.pcm.len(), 8000);
                ended_at = Some(t);
            }
        }
        let waited = ended_at.unwrap() - last;
        assert!(
            waited >= ms(1000) && waited <= ms(1060),
            "ended {waited:?} after the last packet"
        );
    }

    #[test]
    fn recording_stops_at_max_length_and_stop_and_take_work() {
        let start = origin();
        let mut session = session(start);
        let from: SocketAddr = PEER.parse().unwrap();
        let mut peer = Peer::new(1);
        session.record(record_options(None, 1000), start);
        let mut t = start;
        for frame in loud(8000 * 2).chunks(160) {
            t += ms(20);
            session.handle_datagram(t, from, &peer.audio(G711::Pcmu, frame));
        }
        let got = events(&mut session);
        assert_eq!(got.len(), 1);
        let MediaEvent::RecordingDone(recording) = &got[0] else {
            panic!("{got:?}");
        };
        assert_eq!(recording.reason, RecordStop::MaxLength);
        assert_eq!(recording.pcm.len(), 8000);

        session.record(record_options(None, 10_000), t);
        for frame in loud(800).chunks(160) {
            t += ms(20);
            session.handle_datagram(t, from, &peer.audio(G711::Pcmu, frame));
        }
        let hangup = session.take_recording(RecordStop::Hangup).unwrap();
        assert_eq!((hangup.reason, hangup.pcm.len()), (RecordStop::Hangup, 800));
        session.record(record_options(None, 10_000), t);
        session.stop_recording();
        let got = events(&mut session);
        assert!(matches!(
            &got[..],
            [MediaEvent::RecordingDone(Recording { reason: RecordStop::Stopped, pcm, streamed: 0, .. })] if pcm.is_empty()
        ));
    }

    #[test]
    fn symmetric_rtp_latches_to_the_validated_source_and_ignores_others() {
        let start = origin();
        let mut session = session(start);
        let sdp_address: SocketAddr = PEER.parse().unwrap();
        let nat: SocketAddr = "198.51.100.7:61000".parse().unwrap();
        let intruder: SocketAddr = "203.0.113.66:5004".parse().unwrap();
        assert_eq!(
            session.poll_transmit(start).unwrap().destination,
            sdp_address
        );
        let mut peer = Peer::new(99);
        session.record(record_options(None, 10_000), start);
        // One packet is still on probation (RFC 3550 A.1): no latch yet.
        session.handle_datagram(start + ms(5), nat, &peer.audio(G711::Pcmu, &loud(160)));
        assert_eq!(session.destination(), Some(sdp_address));
        session.handle_datagram(start + ms(25), nat, &peer.audio(G711::Pcmu, &loud(160)));
        assert_eq!(session.destination(), Some(nat));
        assert_eq!(
            session.poll_transmit(start + ms(20)).unwrap().destination,
            nat
        );
        // Another stream cannot take over, nor get into the recording.
        let mut other = Peer::new(7);
        for i in 0..5 {
            session.handle_datagram(
                start + ms(30 + i),
                intruder,
                &other.audio(G711::Pcmu, &[9000; 160]),
            );
        }
        assert_eq!(session.destination(), Some(nat));
        assert_eq!(session.stats().foreign, 5);
        let recording = session.take_recording(RecordStop::Hangup).unwrap();
        assert_eq!(recording.pcm.len(), 320);
        // Without an SDP address (hold 0.0.0.0) nothing is sent until the peer shows up.
        let mut held = MediaSession::new(negotiated(None), SessionConfig::default(), 1, start);
        assert!(held.poll_transmit(start + ms(100)).is_none());
        assert_eq!(held.stats().unsent_frames, 6);
        let mut peer = Peer::new(5);
        held.handle_datagram(start + ms(101), nat, &peer.audio(G711::Pcmu, &[0; 160]));
        held.handle_datagram(start + ms(102), nat, &peer.audio(G711::Pcmu, &[0; 160]));
        let t = held.poll_transmit(start + ms(120)).unwrap();
        assert_eq!(t.destination, nat);
        assert!(
            RtpPacket::parse(&t.payload).unwrap().marker,
            "first packet after a gap"
        );
    }

    #[test]
    fn media_timeout_fires_once_and_rearms_on_traffic() {
        let start = origin();
        let config = SessionConfig {
            media_timeout: Some(Duration::from_secs(2)),
            ..SessionConfig::default()
        };
        let mut session = MediaSession::new(negotiated(Some(PEER)), config, 3, start);
        let from: SocketAddr = PEER.parse().unwrap();
        session.handle_timeout(start + ms(1990));
        assert!(events(&mut session).is_empty());
        session.handle_timeout(start + ms(2000));
        session.handle_timeout(start + ms(2500));
        assert_eq!(events(&mut session), vec![MediaEvent::MediaTimeout]);
        let mut peer = Peer::new(1);
        session.handle_datagram(start + ms(3000), from, &peer.audio(G711::Pcmu, &[0; 160]));
        session.handle_timeout(start + ms(4900));
        assert!(events(&mut session).is_empty());
        session.handle_timeout(start + ms(5000));
        assert_eq!(events(&mut session), vec![MediaEvent::MediaTimeout]);
    }

    #[test]
    fn garbage_rtcp_and_unknown_payload_types_are_counted_not_acted_on() {
        let start = origin();
        let mut session = session(start);
        let from: SocketAddr = PEER.parse().unwrap();
        session.handle_datagram(start, from, b"\x00\x01garbage");
        session.handle_datagram(start, from, &[]);
        // An RTCP receiver report (PT 201) on the RTP port.
        session.handle_datagram(
            start,
            from,
            &[0x81, 0xC9, 0x00, 0x07, 0, 0, 0, 1, 0, 0, 0, 0],
        );
        let mut peer = Peer::new(1);
        let cn = peer.packet(13, false, 0, &[40]);
        session.handle_datagram(start, from, &cn);
        let s = session.stats();
        assert_eq!((s.malformed, s.unknown_payload_type, s.received), (3, 1, 0));
        assert!(events(&mut session).is_empty());
    }
}
