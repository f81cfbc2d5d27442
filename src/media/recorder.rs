//! Recording a caller's message from the received RTP: samples placed by RTP timestamp (RFC 3550
//! §5.1: "the sampling instant of the first octet"), so reordered packets land where they
//! belong and lost or suppressed ones leave silence of the right length; silence detection by
//! frame energy; and a hard length limit.
//!
//! In the call flow: after the tone, the IVR asks the session to record; the session decodes
//! each G.711 packet and pushes it here; the first stop condition (silence, maximum length,
//! the IVR's `#`/stop, hang-up) ends it and the PCM goes back to the IVR as
//! `MediaEvent::RecordingDone`, to be stored as a WAV ([`Recording::to_wav`]).
//!
//! Why no jitter-buffer delay: a recorder does not play out in real time, so it needs no
//! playout deadline. Writing each packet at its timestamp offset *is* the reordering: a late
//! packet overwrites the silence its absence left. Only placement limits remain: a packet more
//! than [`MAX_LATE`] behind, or a jump of more than [`MAX_GAP`] ahead (a sender restarting its
//! timestamps), re-bases the timeline at the current end instead of moving it.

use std::time::Duration;

use crate::media::decode::{duration_samples, wav_bytes};

/// Furthest behind the end a packet may be placed (1 s at 8 kHz); older packets re-base.
pub const MAX_LATE: usize = 8000;

/// Largest forward gap filled with silence (2 s at 8 kHz); a larger jump is a new timeline.
pub const MAX_GAP: usize = 16_000;

/// Audio this close to the end is not yet handed out as progress: a reordered packet may still
/// land there (60 ms: three packets of reordering, more than a LAN or a sane WAN produces).
pub const PROGRESS_MARGIN: usize = 480;

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
    /// Hand out the audio as it arrives, in chunks of about this length
    /// (`MediaEvent::RecordingAudio`), so the IVR can append it to a WAV file and a crash
    /// mid-message loses at most one chunk. `None`: only the final recording.
    pub progress_interval: Option<Duration>,
}

impl Default for RecordOptions {
    /// Three minutes, five seconds of silence, threshold 256: the product's defaults; no
    /// progress chunks unless asked.
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(180),
            silence_timeout: Some(Duration::from_secs(5)),
            silence_threshold: 256,
            progress_interval: None,
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

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// 8 kHz mono samples.
    pub pcm: Vec<i16>,
    /// Why it ended.
    pub reason: RecordStop,
}

impl Recording {
    /// Length of the audio.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.pcm.len() as u64 * 125)
    }

    /// The 8 kHz 16-bit mono WAV file stored for the message.
    pub fn to_wav(&self) -> Result<Vec<u8>, hound::Error> {
        wav_bytes(&self.pcm)
    }
}

/// How the recording buffer grows: 4 s of 8 kHz audio at a time. Reserving a minute up front made
/// the recorder the largest item of a voicemail call's heap profile (960 KB per call,
/// benches/README.md); only touched pages count in RSS, so the measured RSS per call did not
/// change with this, but the reservation no longer scales with the allowed maximum.
const GROWTH_STEP: usize = 8000 * 4;

/// A recording in progress.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// The IVR's options.
    options: RecordOptions,
    /// [`RecordOptions::max_duration`] in samples.
    max_samples: usize,
    /// [`RecordOptions::silence_timeout`] in samples.
    silence_samples: Option<usize>,
    /// The audio so far.
    pcm: Vec<i16>,
    /// RTP timestamp of `pcm[0]`; `None` until the first packet, or after [`Self::rebase`]
    /// (then the next packet continues at the end).
    base: Option<u32>,
    /// Samples of silence at the end of `pcm`.
    trailing_silence: usize,
    /// Samples already handed out by [`Self::take_progress`].
    delivered: usize,
}

impl Recorder {
    /// An empty recording.
    pub fn new(options: RecordOptions) -> Self {
        let max_samples = duration_samples(options.max_duration);
        Self {
            options,
            max_samples,
            silence_samples: options.silence_timeout.map(duration_samples),
            // One growth step to start with; see [`GROWTH_STEP`].
            pcm: Vec::with_capacity(max_samples.min(GROWTH_STEP)),
            base: None,
            trailing_silence: 0,
            delivered: 0,
        }
    }

    /// The audio settled since the last call, once at least
    /// [`RecordOptions::progress_interval`] of it has accumulated. Samples within
    /// [`PROGRESS_MARGIN`] of the end wait, since a late packet may still fill them; one that
    /// arrives later still is only in the final [`Recording`], which is authoritative.
    pub fn take_progress(&mut self) -> Option<Vec<i16>> {
        let interval = duration_samples(self.options.progress_interval?).max(1);
        let settled = self.pcm.len().saturating_sub(PROGRESS_MARGIN);
        if settled < self.delivered + interval {
            return None;
        }
        let chunk = self.pcm[self.delivered..settled].to_vec();
        self.delivered = settled;
        Some(chunk)
    }

    /// The options it runs with.
    pub fn options(&self) -> &RecordOptions {
        &self.options
    }

    /// Samples recorded so far.
    pub fn len(&self) -> usize {
        self.pcm.len()
    }

    /// Whether nothing is recorded yet.
    pub fn is_empty(&self) -> bool {
        self.pcm.is_empty()
    }

    /// The source changed (new SSRC or a restart): its timestamps mean nothing relative to the
    /// old ones, so the next packet continues at the current end.
    pub fn rebase(&mut self) {
        self.base = None;
    }

    /// Places one packet's decoded samples at its timestamp. Returns the stop condition when
    /// this packet completed the recording.
    pub fn push(&mut self, timestamp: u32, samples: &[i16]) -> Option<RecordStop> {
        let len = self.pcm.len();
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
        // offset ∈ [len - MAX_LATE, len + MAX_GAP] and ≥ 0 is not guaranteed near the start:
        // clip what would fall before sample 0.
        let (offset, samples) = if offset < 0 {
            let cut = usize::try_from(-offset).unwrap_or(usize::MAX);
            (0usize, samples.get(cut..).unwrap_or_default())
        } else {
            // Non-negative and bounded by len + MAX_GAP.
            (offset as usize, samples)
        };

        if offset < len {
            // Late or duplicate: overwrite what the gap left, append the rest.
            let overlap = (len - offset).min(samples.len());
            self.pcm[offset..offset + overlap].copy_from_slice(&samples[..overlap]);
            if offset + overlap > len - self.trailing_silence.min(len)
                && !self.is_silent(&samples[..overlap])
            {
                self.trailing_silence = len - (offset + overlap);
            }
            return self.append(&samples[overlap..]);
        }
        let gap = offset - len;
        if gap > 0 {
            let room = self.max_samples.saturating_sub(len);
            self.reserve(gap.min(room));
            self.pcm.resize(len + gap.min(room), 0);
            self.trailing_silence += gap.min(room);
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
        let room = self.max_samples.saturating_sub(self.pcm.len());
        let samples = &samples[..samples.len().min(room)];
        self.reserve(samples.len());
        self.pcm.extend_from_slice(samples);
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
        if self.pcm.len() >= self.max_samples {
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
    /// [`SILENCE_TAIL`].
    pub fn finish(mut self, reason: RecordStop) -> Recording {
        if reason == RecordStop::Silence {
            let keep = duration_samples(SILENCE_TAIL);
            let cut = self.trailing_silence.saturating_sub(keep);
            let new_len = self.pcm.len().saturating_sub(cut);
            self.pcm.truncate(new_len);
        }
        Recording {
            pcm: self.pcm,
            reason,
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
            progress_interval: None,
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
    fn progress_hands_out_settled_audio_in_chunks() {
        let mut recorder = Recorder::new(RecordOptions {
            progress_interval: Some(Duration::from_millis(100)),
            ..options(None, 60_000)
        });
        let mut chunks = Vec::new();
        let mut ts = 0;
        for i in 0..50 {
            recorder.push(ts, &[i; 160]);
            ts += 160;
            if let Some(chunk) = recorder.take_progress() {
                chunks.push(chunk);
            }
        }
        assert!(chunks.iter().all(|c| c.len() >= 800));
        let streamed: Vec<i16> = chunks.concat();
        // All but the unsettled margin and the last incomplete chunk.
        let settled = 8000 - PROGRESS_MARGIN;
        assert!(streamed.len() <= settled && streamed.len() > settled - 800);
        let recording = recorder.finish(RecordStop::Hangup);
        assert_eq!(&recording.pcm[..streamed.len()], &streamed[..]);
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
        let wav = recording.to_wav().unwrap();
        assert_eq!(wav.len(), 44 + 16_000);
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
