//! Recording a caller's message from the received RTP: samples placed by RTP timestamp (RFC 3550
//! §5.1: "the sampling instant of the first octet"), so reordered packets land where they
//! belong and lost or suppressed ones leave silence of the right length; silence detection by
//! frame energy; and a hard length limit.
//!
//! In the call flow: after the tone, the IVR asks the session to record; the session decodes
//! each G.711 packet and pushes it here; the first stop condition (silence, maximum length,
//! the IVR's `#`/stop, hang-up) ends it and the PCM goes back to the IVR as
//! `MediaEvent::RecordingDone`, to be stored as a WAV.
//!
//! Streaming ([`RecordOptions::stream_interval`]): a voicemail message is written to a spool
//! file as it is spoken, and holding it in RAM as well cost 16 KB per second per call (a
//! 30 s message, 480 KB: most of a deposit call's memory). So the recorder can hand the
//! settled audio over for good ([`Recorder::take_settled`]) and keep only what a reordered
//! packet may still change ([`SETTLE_MARGIN`]) plus the chunk being gathered; the final
//! [`Recording`] then carries only the rest, and says how much of the handed-over audio
//! belongs to the message ([`Recording::streamed`]: trailing silence is trimmed after the
//! fact).
//!
//! Why no jitter-buffer delay: a recorder does not play out in real time, so it needs no
//! playout deadline. Writing each packet at its timestamp offset *is* the reordering: a late
//! packet overwrites the silence its absence left. Only placement limits remain: a packet more
//! than [`MAX_LATE`] behind, or a jump of more than [`MAX_GAP`] ahead (a sender restarting its
//! timestamps), re-bases the timeline at the current end instead of moving it.

use std::time::Duration;

use crate::media::decode::duration_samples;
use crate::media::vad::{SpeechSummary, Vad};

/// Furthest behind the end a packet may be placed (1 s at 8 kHz); older packets re-base.
pub const MAX_LATE: usize = 8000;

/// Largest forward gap filled with silence (2 s at 8 kHz); a larger jump is a new timeline.
pub const MAX_GAP: usize = 16_000;

/// Audio this close to the end is not yet handed out by [`Recorder::take_settled`]: a reordered
/// packet may still land there. 200 ms: ten packets of reordering, more than a LAN or a sane
/// WAN produces, and more than a phone's own jitter buffer usually absorbs. A packet later
/// than this (but less than [`MAX_LATE`]) finds its place handed out already and is dropped,
/// leaving the silence of a lost packet. Why not keep the whole [`MAX_LATE`] second: the
/// margin is what a crash can lose on top of the chunk being gathered, and what each call
/// holds in RAM; a second of it would double both for packets that practically never come.
pub const SETTLE_MARGIN: usize = 1600;

/// Silence kept at the end when a recording stops on silence: a message should not end on a
/// clipped syllable, but five seconds of nothing is not part of it. app_voicemail keeps about
/// the same.
pub const SILENCE_TAIL: Duration = Duration::from_millis(200);

/// What the IVR asks for when it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOptions {
    /// Longest message; the recording stops with [`RecordStop::MaxLength`] when reached.
    pub max_duration: Duration,
    /// Stop after this much continuous silence (`None`: never).
    pub silence_timeout: Option<Duration>,
    /// A 20 ms frame whose mean absolute amplitude is below this is silence. 256 (about
    /// −42 dBFS) sits above a G.711 line's idle noise and well below quiet speech (Asterisk's
    /// `silencethreshold` default is 256 on the same scale).
    pub silence_threshold: u16,
    /// Hand the settled audio over as it arrives, in chunks of about this length
    /// (`MediaEvent::RecordingAudio`), and forget it: the receiver owns it from then on (the
    /// deposit writes it to the spool file, so a crash mid-message loses at most one chunk and
    /// the call's RAM holds no more than a chunk and [`SETTLE_MARGIN`]). The final
    /// [`Recording`] carries only the rest. `None`: everything in the final recording.
    pub stream_interval: Option<Duration>,
}

impl Default for RecordOptions {
    /// Three minutes, five seconds of silence, threshold 256: the product's defaults; no
    /// streaming unless asked.
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(180),
            silence_timeout: Some(Duration::from_secs(5)),
            silence_threshold: 256,
            stream_interval: None,
        }
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordStop {
    /// [`RecordOptions::silence_timeout`] of silence; the silence is trimmed to
    /// [`SILENCE_TAIL`].
    Silence,
    /// [`RecordOptions::max_duration`] reached.
    MaxLength,
    /// The IVR stopped it (a `#`, or a new recording).
    Stopped,
    /// The call ended (the handle closed).
    Hangup,
}

/// A finished recording: `streamed` samples handed out by [`Recorder::take_settled`] (the
/// receiver has them), then `pcm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// How many of the samples handed out as streamed chunks belong to the message: all of
    /// them, or fewer when the trailing-silence trim reached back into them (the receiver
    /// truncates what it has to this length). 0 without [`RecordOptions::stream_interval`].
    pub streamed: usize,
    /// 8 kHz mono samples after the streamed ones: the whole message when nothing was
    /// streamed.
    pub pcm: Vec<i16>,
    /// Why it ended.
    pub reason: RecordStop,
    /// Where the voice activity detector heard speech, in samples of the whole recording
    /// (streamed part included): whether it is a message at all, and what to trim.
    pub speech: SpeechSummary,
}

impl Recording {
    /// Length of the message in samples, streamed part included.
    pub fn len(&self) -> usize {
        self.streamed + self.pcm.len()
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of the message, streamed part included.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.len() as u64 * 125)
    }
}

/// How the recording buffer grows without streaming: 4 s of 8 kHz audio at a time. Reserving a minute up front made
/// the recorder the largest item of a voicemail call's heap profile (960 KB per call,
/// benches/README.md); only touched pages count in RSS, so the measured RSS per call did not
/// change with this, but the reservation no longer scales with the allowed maximum.
const GROWTH_STEP: usize = 8000 * 4;

/// A frame of silence, to tell the voice activity detector about a gap without allocating.
const ZEROS: [i16; 160] = [0; 160];

/// A recording in progress.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// The IVR's options.
    options: RecordOptions,
    /// [`RecordOptions::max_duration`] in samples.
    max_samples: usize,
    /// [`RecordOptions::silence_timeout`] in samples.
    silence_samples: Option<usize>,
    /// The audio not handed out yet: samples `delivered..self.len()` of the recording.
    pcm: Vec<i16>,
    /// RTP timestamp of sample 0 of the recording; `None` until the first packet, or after
    /// [`Self::rebase`] (then the next packet continues at the end).
    base: Option<u32>,
    /// Samples of silence at the end of the recording (may reach into delivered audio).
    trailing_silence: usize,
    /// Samples handed out by [`Self::take_settled`] and no longer held.
    delivered: usize,
    /// Voice activity over the in-order audio (a gap counts as the silence it leaves; a late
    /// packet that fills one afterwards is not heard again: the detector only moves forward).
    vad: Box<Vad>,
}

impl Recorder {
    /// An empty recording.
    pub fn new(options: RecordOptions) -> Self {
        let max_samples = duration_samples(options.max_duration);
        let capacity = match options.stream_interval {
            // What streaming holds at most: the chunk being gathered, the margin, and a
            // silence gap filled in one push; it never grows past this.
            Some(interval) => duration_samples(interval) + SETTLE_MARGIN + MAX_GAP + 320,
            // One growth step to start with; see [`GROWTH_STEP`].
            None => GROWTH_STEP,
        };
        Self {
            options,
            max_samples,
            silence_samples: options.silence_timeout.map(duration_samples),
            pcm: Vec::with_capacity(max_samples.min(capacity)),
            base: None,
            trailing_silence: 0,
            delivered: 0,
            vad: Box::default(),
        }
    }

    /// With [`RecordOptions::stream_interval`]: the audio settled since the last call, once at
    /// least an interval of it has accumulated, handed over for good (the recorder forgets
    /// it). Samples within [`SETTLE_MARGIN`] of the end wait, since a late packet may still
    /// land there.
    pub fn take_settled(&mut self) -> Option<Vec<i16>> {
        let interval = duration_samples(self.options.stream_interval?).max(1);
        let settled = self.pcm.len().saturating_sub(SETTLE_MARGIN);
        if settled < interval {
            return None;
        }
        // Moves the margin (at most a chunk's worth) to the front: cheap, once a chunk.
        let chunk: Vec<i16> = self.pcm.drain(..settled).collect();
        self.delivered += settled;
        Some(chunk)
    }

    /// Samples held in memory now (not handed out yet): bounded by a chunk, the margin and one
    /// gap when streaming.
    pub fn buffered(&self) -> usize {
        self.pcm.len()
    }

    /// Bytes the recorder has reserved for samples (its capacity), for memory checks.
    pub fn reserved_bytes(&self) -> usize {
        self.pcm.capacity() * std::mem::size_of::<i16>()
    }

    /// The options it runs with.
    pub fn options(&self) -> &RecordOptions {
        &self.options
    }

    /// Samples recorded so far, handed out or not.
    pub fn len(&self) -> usize {
        self.delivered + self.pcm.len()
    }

    /// Whether nothing is recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The source changed (new SSRC or a restart): its timestamps mean nothing relative to the
    /// old ones, so the next packet continues at the current end.
    pub fn rebase(&mut self) {
        self.base = None;
    }

    /// Places one packet's decoded samples at its timestamp. Returns the stop condition when
    /// this packet completed the recording.
    pub fn push(&mut self, timestamp: u32, samples: &[i16]) -> Option<RecordStop> {
        // Positions are in the whole recording, handed-out samples included.
        let len = self.len();
        let base = *self
            .base
            .get_or_insert_with(|| timestamp.wrapping_sub(len as u32));
        // Signed distance in a 32-bit wrapping clock, relative to the current end.
        let offset = i64::from(timestamp.wrapping_sub(base) as i32);
        let end = len as i64;
        let offset = if offset < end - MAX_LATE as i64 || offset > end + MAX_GAP as i64 {
            self.base = Some(timestamp.wrapping_sub(len as u32));
            end
        } else {
            offset
        };
        // offset ∈ [len - MAX_LATE, len + MAX_GAP], but what it covers may lie before what is
        // still held: before sample 0 near the start, or in audio already handed out (a packet
        // later than SETTLE_MARGIN). That part is clipped.
        let floor = self.delivered as i64;
        let (offset, samples) = if offset < floor {
            let cut = usize::try_from(floor - offset).unwrap_or(usize::MAX);
            (self.delivered, samples.get(cut..).unwrap_or_default())
        } else {
            // At least `delivered` (≥ 0) and bounded by len + MAX_GAP.
            (offset as usize, samples)
        };

        if offset < len {
            // Late or duplicate: overwrite what the gap left, append the rest.
            let overlap = (len - offset).min(samples.len());
            let at = offset - self.delivered;
            self.pcm[at..at + overlap].copy_from_slice(&samples[..overlap]);
            if offset + overlap > len - self.trailing_silence.min(len)
                && !self.is_silent(&samples[..overlap])
            {
                self.trailing_silence = len - (offset + overlap);
            }
            return self.append(&samples[overlap..]);
        }
        let gap = offset - len;
        if gap > 0 {
            let fill = gap.min(self.max_samples.saturating_sub(len));
            self.reserve(fill);
            self.pcm.resize(self.pcm.len() + fill, 0);
            self.trailing_silence += fill;
            let mut left = fill;
            while left > 0 {
                let n = left.min(ZEROS.len());
                self.vad.push(&ZEROS[..n]);
                left -= n;
            }
            if let Some(stop) = self.check_limits() {
                return Some(stop);
            }
        }
        self.append(samples)
    }

    /// Appends in-order audio, tracking silence and the length limit.
    fn append(&mut self, samples: &[i16]) -> Option<RecordStop> {
        if samples.is_empty() {
            return self.check_limits();
        }
        let room = self.max_samples.saturating_sub(self.len());
        let samples = &samples[..samples.len().min(room)];
        self.reserve(samples.len());
        self.pcm.extend_from_slice(samples);
        self.vad.push(samples);
        if self.is_silent(samples) {
            self.trailing_silence += samples.len();
        } else {
            self.trailing_silence = 0;
        }
        self.check_limits()
    }

    /// Makes room for `additional` samples in steps of [`GROWTH_STEP`] (never past the
    /// maximum length), instead of `Vec`'s doubling: a long message then holds at most 4 s of
    /// unused capacity, not up to as much again as it has recorded.
    fn reserve(&mut self, additional: usize) {
        let needed = self.pcm.len() + additional;
        if needed > self.pcm.capacity() {
            let target = (needed + GROWTH_STEP).min(self.max_samples.max(needed));
            self.pcm.reserve_exact(target - self.pcm.len());
        }
    }

    /// Mean absolute amplitude below the threshold.
    fn is_silent(&self, samples: &[i16]) -> bool {
        if samples.is_empty() {
            return true;
        }
        let sum: u64 = samples.iter().map(|&s| u64::from(s.unsigned_abs())).sum();
        sum < u64::from(self.options.silence_threshold) * samples.len() as u64
    }

    fn check_limits(&self) -> Option<RecordStop> {
        if self.len() >= self.max_samples {
            return Some(RecordStop::MaxLength);
        }
        match self.silence_samples {
            Some(limit) if self.trailing_silence >= limit => Some(RecordStop::Silence),
            _ => None,
        }
    }

    /// Whether the trailing silence has reached the timeout, counting `extra` samples of time
    /// in which no packet arrived at all (a phone with silence suppression sends nothing).
    pub fn silent_for(&self, extra: usize) -> bool {
        self.silence_samples
            .is_some_and(|limit| self.trailing_silence.saturating_add(extra) >= limit)
    }

    /// Ends the recording. On [`RecordStop::Silence`] the trailing silence is cut to
    /// [`SILENCE_TAIL`], which may reach back into audio already handed out
    /// ([`Recording::streamed`] then says how much of it to keep).
    pub fn finish(mut self, reason: RecordStop) -> Recording {
        let mut len = self.len();
        if reason == RecordStop::Silence {
            let keep = duration_samples(SILENCE_TAIL);
            len = len.saturating_sub(self.trailing_silence.saturating_sub(keep));
        }
        self.pcm.truncate(len.saturating_sub(self.delivered));
        Recording {
            streamed: self.delivered.min(len),
            pcm: self.pcm,
            reason,
            speech: self.vad.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loud(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| if i % 2 == 0 { 3000 } else { -3000 })
            .collect()
    }

    fn options(silence_ms: Option<u64>, max_ms: u64) -> RecordOptions {
        RecordOptions {
            max_duration: Duration::from_millis(max_ms),
            silence_timeout: silence_ms.map(Duration::from_millis),
            silence_threshold: 256,
            stream_interval: None,
        }
    }

    /// Pushes `packets` and gathers what is streamed; returns the chunks' concatenation.
    fn push_all(recorder: &mut Recorder, packets: &[(u32, Vec<i16>)]) -> Vec<i16> {
        let mut streamed = Vec::new();
        for (ts, samples) in packets {
            recorder.push(*ts, samples);
            if let Some(chunk) = recorder.take_settled() {
                streamed.extend(chunk);
            }
        }
        streamed
    }

    /// The message as a receiver of the stream assembles it (what the spool holds).
    fn assembled(mut streamed: Vec<i16>, recording: Recording) -> Vec<i16> {
        streamed.truncate(recording.streamed);
        streamed.extend(recording.pcm);
        streamed
    }

    fn streaming(silence_ms: Option<u64>, max_ms: u64) -> RecordOptions {
        RecordOptions {
            stream_interval: Some(Duration::from_secs(1)),
            ..options(silence_ms, max_ms)
        }
    }

    #[test]
    fn reordered_and_lost_packets_land_at_their_timestamps() {
        let mut recorder = Recorder::new(options(None, 10_000));
        let frame = |v: i16| vec![v; 160];
        assert_eq!(recorder.push(1000, &frame(1)), None);
        // 1160 arrives after 1320; 1480 is lost.
        recorder.push(1320, &frame(3));
        recorder.push(1160, &frame(2));
        recorder.push(1640, &frame(5));
        let pcm = recorder.finish(RecordStop::Stopped).pcm;
        assert_eq!(pcm.len(), 800);
        for (i, expected) in [1, 2, 3, 0, 5].into_iter().enumerate() {
            assert!(
                pcm[i * 160..(i + 1) * 160].iter().all(|&s| s == expected),
                "frame {i}"
            );
        }
    }

    #[test]
    fn timestamps_wrap_and_jumps_rebase() {
        let mut recorder = Recorder::new(options(None, 10_000));
        recorder.push(u32::MAX - 79, &[1; 160]);
        recorder.push(80, &[2; 160]);
        assert_eq!(recorder.len(), 320);
        // A restart far away continues at the end instead of inserting hours of silence.
        recorder.push(123_456_789, &[3; 160]);
        assert_eq!(recorder.len(), 480);
        recorder.push(123_456_789 + 160, &[4; 160]);
        assert_eq!(recorder.len(), 640);
        recorder.rebase();
        recorder.push(7, &[5; 160]);
        let pcm = recorder.finish(RecordStop::Hangup).pcm;
        assert_eq!(pcm.len(), 800);
        assert_eq!(pcm[799], 5);
    }

    #[test]
    fn silence_ends_the_recording_and_is_trimmed() {
        let mut recorder = Recorder::new(options(Some(1000), 60_000));
        let mut ts = 0u32;
        for _ in 0..50 {
            assert_eq!(recorder.push(ts, &loud(160)), None);
            ts += 160;
        }
        let mut stop = None;
        let mut frames = 0;
        while stop.is_none() {
            stop = recorder.push(ts, &[20; 160]);
            ts += 160;
            frames += 1;
        }
        assert_eq!(stop, Some(RecordStop::Silence));
        assert_eq!(frames, 50, "exactly 1 s of silence");
        let recording = recorder.finish(RecordStop::Silence);
        assert_eq!(recording.pcm.len(), 8000 + 1600);
        assert_eq!(recording.duration(), Duration::from_millis(1200));
    }

    #[test]
    fn a_gap_counts_as_silence_and_speech_resets_it() {
        let mut recorder = Recorder::new(options(Some(1000), 60_000));
        recorder.push(0, &loud(160));
        // 0.9 s gap, then speech: no stop.
        assert_eq!(recorder.push(160 + 7200, &loud(160)), None);
        // A 1.1 s gap ends it.
        assert_eq!(
            recorder.push(160 + 7200 + 160 + 8800, &loud(160)),
            Some(RecordStop::Silence)
        );
        assert!(recorder.silent_for(0));
    }

    #[test]
    fn streaming_hands_out_settled_audio_in_chunks_and_forgets_it() {
        let mut recorder = Recorder::new(RecordOptions {
            stream_interval: Some(Duration::from_millis(100)),
            ..options(None, 60_000)
        });
        let mut chunks = Vec::new();
        let mut ts = 0;
        for i in 0..50 {
            recorder.push(ts, &[i; 160]);
            ts += 160;
            if let Some(chunk) = recorder.take_settled() {
                chunks.push(chunk);
            }
            assert!(recorder.buffered() < 800 + SETTLE_MARGIN + 160);
        }
        assert!(chunks.iter().all(|c| c.len() >= 800));
        let streamed: Vec<i16> = chunks.concat();
        // All but the unsettled margin and the last incomplete chunk.
        let settled = 8000 - SETTLE_MARGIN;
        assert!(streamed.len() <= settled && streamed.len() > settled - 800);
        assert_eq!(recorder.len(), 8000);
        let recording = recorder.finish(RecordStop::Hangup);
        assert_eq!(recording.streamed, streamed.len());
        assert_eq!(recording.len(), 8000);
        let whole = assemble_expected(50);
        assert_eq!(assembled(streamed, recording), whole);
    }

    fn assemble_expected(packets: i16) -> Vec<i16> {
        (0..packets).flat_map(|i| [i; 160]).collect()
    }

    #[test]
    fn streaming_and_holding_give_the_same_message() {
        // Reordered (within the margin), lost and duplicated packets, a gap, then silence
        // that ends it and is trimmed back into audio already streamed.
        let mut packets: Vec<(u32, Vec<i16>)> = Vec::new();
        for n in 0..400u32 {
            // Half a second of nothing before packet 150.
            let ts = n * 160 + if n >= 150 { 4000 } else { 0 };
            match n {
                100 | 250 => {}
                101 => {
                    packets.push((ts, loud(160)));
                    packets.push((100 * 160, vec![7; 160]));
                }
                _ if n >= 300 => packets.push((ts, vec![10; 160])),
                _ => packets.push((ts + n % 7, loud(160))),
            }
            if n == 200 {
                packets.push((ts, loud(160)));
            }
        }
        let mut held = Recorder::new(options(Some(1500), 60_000));
        let mut streaming = Recorder::new(streaming(Some(1500), 60_000));
        let streamed = push_all(&mut streaming, &packets);
        for (ts, samples) in &packets {
            held.push(*ts, samples);
        }
        assert!(streaming.silent_for(0) && held.silent_for(0));
        let held = held.finish(RecordStop::Silence);
        let streamed_len = streamed.len();
        let recording = streaming.finish(RecordStop::Silence);
        assert!(
            recording.streamed < streamed_len && recording.pcm.is_empty(),
            "the trim reached into streamed audio: {} of {streamed_len}",
            recording.streamed
        );
        assert_eq!(recording.duration(), held.duration());
        assert_eq!(held.streamed, 0);
        assert_eq!(assembled(streamed, recording), held.pcm);
    }

    #[test]
    fn a_packet_later_than_the_margin_does_not_move_the_timeline() {
        let mut recorder = Recorder::new(RecordOptions {
            stream_interval: Some(Duration::from_millis(100)),
            ..options(None, 60_000)
        });
        let mut streamed = Vec::new();
        for n in (0..100u32).filter(|&n| n != 81) {
            recorder.push(n * 160, &[1; 160]);
            streamed.extend(recorder.take_settled().unwrap_or_default());
        }
        // Packet 81 arrives 0.3 s late, within MAX_LATE but after its place was handed out.
        assert!(streamed.len() >= 82 * 160);
        recorder.push(81 * 160, &[5; 160]);
        assert_eq!(recorder.len(), 100 * 160);
        recorder.push(100 * 160, &[2; 160]);
        let message = assembled(streamed, recorder.finish(RecordStop::Stopped));
        assert_eq!(message.len(), 101 * 160);
        assert!(
            message[81 * 160..82 * 160].iter().all(|&s| s == 0),
            "left as lost"
        );
        assert!(message[16_000..].iter().all(|&s| s == 2));
    }

    #[test]
    fn thirty_seconds_streamed_hold_about_one_chunk() {
        // The deposit's case: 1 s chunks, 30 s of 20 ms packets with a 1.5 s gap (a phone
        // suppressing silence) in the middle. What the recorder holds must not grow with the
        // message: at most a chunk, the margin and a gap, and its reservation never grows.
        let mut recorder = Recorder::new(streaming(None, 180_000));
        let reserved = recorder.reserved_bytes();
        assert!(reserved <= 64 * 1024, "{reserved} bytes reserved");
        let mut streamed = 0;
        let mut most = 0;
        for packet in (0..1500u32).filter(|p| !(700..775).contains(p)) {
            recorder.push(packet * 160, &loud(160));
            if let Some(chunk) = recorder.take_settled() {
                streamed += chunk.len();
            }
            most = most.max(recorder.buffered());
        }
        assert_eq!(recorder.len(), 240_000);
        assert!(most <= 8000 + SETTLE_MARGIN + 12_160, "{most} samples held");
        assert!(recorder.buffered() < 8000 + SETTLE_MARGIN);
        assert_eq!(recorder.reserved_bytes(), reserved, "the buffer grew");
        let recording = recorder.finish(RecordStop::Hangup);
        assert_eq!(recording.streamed, streamed);
        assert_eq!(recording.len(), 240_000);
    }

    #[test]
    fn the_recording_says_where_the_speech_is() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("prompts/en/leave_a_message_after_the_tone.wav");
        let speech = crate::media::decode::decode_file(
            &path,
            &crate::media::decode::DecodeLimits::default(),
        )
        .unwrap();
        // 1 s of silence sent, a 0.5 s gap (silence suppression), the speech, 2 s of silence.
        let mut pcm = vec![0i16; 8000];
        pcm.extend(&speech);
        pcm.extend(vec![0i16; 16_000]);
        let mut recorder = Recorder::new(streaming(Some(5000), 60_000));
        let mut ts = 0u32;
        for (n, packet) in pcm.chunks(160).enumerate() {
            if n == 50 {
                ts += 4000;
            }
            recorder.push(ts, packet);
            recorder.take_settled();
            ts += packet.len() as u32;
        }
        let recording = recorder.finish(RecordStop::Hangup);
        let found = recording.speech;
        assert!(found.is_message(), "{found:?}");
        let first = found.first_speech.unwrap();
        assert!(
            (12_000..12_000 + 2400).contains(&first),
            "speech from {first}"
        );
        let end = found.last_speech_end.unwrap();
        assert!(end <= 12_000 + speech.len() + 160 && end + 2400 > 12_000 + speech.len());

        let mut silent = Recorder::new(options(Some(5000), 60_000));
        for n in 0..125u32 {
            silent.push(n * 160, &[3; 160]);
        }
        assert!(!silent.finish(RecordStop::Hangup).speech.is_message());
    }

    #[test]
    fn max_length_cuts_exactly() {
        let mut recorder = Recorder::new(options(Some(1000), 1000));
        let mut ts = 0;
        let mut stop = None;
        while stop.is_none() {
            stop = recorder.push(ts, &loud(240));
            ts += 240;
        }
        assert_eq!(stop, Some(RecordStop::MaxLength));
        let recording = recorder.finish(RecordStop::MaxLength);
        assert_eq!(recording.pcm.len(), 8000);
        assert_eq!(recording.streamed, 0);
    }

    #[test]
    fn the_buffer_grows_in_steps_not_to_the_maximum() {
        // Three minutes allowed, 30 s spoken (20 ms packets, one of them lost).
        let mut recorder = Recorder::new(options(None, 180_000));
        assert!(recorder.pcm.capacity() <= GROWTH_STEP);
        for packet in 0..1500u32 {
            if packet != 700 {
                recorder.push(packet * 160, &loud(160));
            }
        }
        assert_eq!(recorder.len(), 240_000);
        let slack = recorder.pcm.capacity() - recorder.len();
        assert!(slack <= GROWTH_STEP, "slack {slack} samples");
    }
}
