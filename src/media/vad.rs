//! Voice activity detection for recorded messages: is there a person speaking in this audio,
//! and where does the speech begin and end?
//!
//! In the call flow: the [`super::recorder::Recorder`] feeds every in-order sample of a
//! voicemail recording to a [`Vad`]; the finished [`super::recorder::Recording`] carries its
//! [`SpeechSummary`]. The deposit IVR keeps a message only with at least [`MIN_SPEECH`] of
//! speech (a caller who hangs up in silence leaves nothing: no message, no e-mail, no lamp),
//! and the driver trims the stored audio to the speech plus [`LEAD_MARGIN`] / [`TRAIL_MARGIN`].
//!
//! Sans-I/O and allocation-free per frame. Each 20 ms frame (160 samples at 8 kHz, the G.711
//! packet) is analysed over a 40 ms window (it and the frame before) with four features:
//!
//! 1. **Level** in the speech band (300–3400 Hz, ITU-T G.712's telephone band) from a 256-point
//!    FFT: hum below 300 Hz does not count. A frame below [`ABSOLUTE_FLOOR_DBFS`], or less than
//!    [`ABOVE_NOISE_DB`] above the running **noise-floor** estimate, is not speech.
//! 2. **Tonality**: the share of the band's power in its two strongest peaks. DTMF (two sines),
//!    the record tone echoed back, dial tone and other signalling tones put nearly all of it
//!    there; speech spreads it over many harmonics and formants.
//! 3. **Spectral flatness** (geometric over arithmetic mean of the band's power spectrum): noise
//!    — comfort noise, a line's hiss, wind — is flat (a white periodogram's expected flatness is
//!    about 0.56); voiced speech is far from it.
//! 4. **Periodicity**: the peak of the normalised autocorrelation at lags of 2.5–16 ms (a voice's
//!    pitch, 62–400 Hz). Voiced speech repeats each glottal period (0.6–0.95); breathing, hiss
//!    and other shaped noise do not, however their spectrum is tilted.
//!
//! Once a recording holds [`MIN_SPEECH`], it will be kept, and only where its speech ends is
//! left to find: every second frame then takes over the features of the frame before (a 40 ms
//! grain against a 500 ms trailing margin), which halves the detector's cost for the rest of a
//! message.
//!
//! A frame is speech when all four agree. Only voiced frames count, so [`MIN_SPEECH`] is voiced
//! speech: consonants and the pauses between words are kept by the margins and by the trim
//! reaching from the first to the last voiced frame.
//!
//! Why not a crate: `webrtc-vad` wraps C code (a C build and `unsafe` FFI, CONTRIBUTING.md rule
//! 10 and the `unsafe_code = "forbid"` lint), the neural VADs need an ONNX runtime and a model
//! file; both are heavy for a yes/no over a finished message that these features answer on
//! every signal the tests generate (silence, comfort noise, white noise, DTMF, hum, breath-like
//! noise, espeak-ng speech).

use std::f32::consts::PI;
use std::time::Duration;

/// Samples per analysed frame: 20 ms at 8 kHz.
pub const FRAME: usize = 160;
/// Samples of the analysis window: the frame and the one before (40 ms; a 62 Hz pitch period
/// of 16 ms fits twice).
const WINDOW: usize = 2 * FRAME;
/// FFT length: the newest 256 samples of the window, 31.25 Hz per bin.
const FFT_LEN: usize = 256;
/// Speech band in FFT bins: 300 Hz (bin 10) to 3400 Hz (bin 108).
const BAND: std::ops::RangeInclusive<usize> = 10..=108;

/// Voiced speech a message needs to be kept: 300 ms. A short "hello, call me back" has over a
/// second of it; one word has about that much (espeak-ng's "tomorrow": 360 ms of 470); a
/// sound ("oh": 80 ms), a breath, hum, DTMF or noise has less or none. Below this a recording
/// is treated as an abandoned call: not stored, not notified, not lamped.
pub const MIN_SPEECH: Duration = Duration::from_millis(300);
/// Audio kept before the first voiced frame: a word's unvoiced start ("s", "f", "t") and a
/// natural breath-in.
pub const LEAD_MARGIN: Duration = Duration::from_millis(300);
/// Audio kept after the last voiced frame: a word's unvoiced end and the decay of the voice.
pub const TRAIL_MARGIN: Duration = Duration::from_millis(500);

/// Below this band level a frame is never speech: −45 dBFS, about 20 dB under a quiet talker on
/// a phone and well above G.711's idle channel noise and comfort noise (−60 to −70 dBFS).
pub const ABSOLUTE_FLOOR_DBFS: f32 = -45.0;
/// Below this level a frame is never part of speech, not even its quiet edges: −60 dBFS.
const ACTIVE_FLOOR_DBFS: f32 = -60.0;
/// How far above the running noise floor a frame must be to be speech.
pub const ABOVE_NOISE_DB: f32 = 6.0;
/// At or above this tonality a frame is a tone (DTMF, signalling), not speech.
pub const MAX_TONALITY: f32 = 0.85;
/// At or above this spectral flatness a frame is noise, not voiced speech.
pub const MAX_FLATNESS: f32 = 0.3;
/// Below this autocorrelation peak a frame has no pitch, so it is not voiced speech.
pub const MIN_PERIODICITY: f32 = 0.5;

/// Shortest and longest pitch period looked for, in samples at 8 kHz (400 Hz and 62.5 Hz).
const MIN_LAG: usize = 20;
const MAX_LAG: usize = 128;
/// How fast the noise floor may rise, per frame: 0.05 dB (2.5 dB a second), so a talker's
/// syllables do not lift it, while a noise that really rises is followed within seconds.
const FLOOR_RISE_DB: f32 = 0.05;

/// The features of one frame, for tests and the figures in the report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// Speech-band RMS level in dBFS (full-scale square = 0 dBFS, as sox measures).
    pub level_dbfs: f32,
    /// Share of the band's power in its two strongest peaks, 0–1.
    pub tonality: f32,
    /// Spectral flatness of the band, 0–1.
    pub flatness: f32,
    /// Normalised autocorrelation peak at pitch lags, −1–1.
    pub periodicity: f32,
}

/// What a stretch of audio holds, in samples from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpeechSummary {
    /// Frames classified as voiced speech.
    pub speech_frames: usize,
    /// Where the speech begins: the first sample of the run of active frames (above the noise
    /// floor) that holds the first voiced frame.
    pub first_speech: Option<usize>,
    /// Where it ends: one past the run of active frames that holds the last voiced frame.
    pub last_speech_end: Option<usize>,
}

impl SpeechSummary {
    /// Voiced speech, in time.
    pub fn speech(&self) -> Duration {
        Duration::from_millis(self.speech_frames as u64 * 20)
    }

    /// Whether there is enough speech for a message ([`MIN_SPEECH`]).
    pub fn is_message(&self) -> bool {
        self.speech() >= MIN_SPEECH
    }

    /// The part of a `len`-sample recording to keep: the speech with its margins, within the
    /// recording. Empty when there is no speech.
    pub fn trim(&self, len: usize) -> std::ops::Range<usize> {
        let (Some(first), Some(end)) = (self.first_speech, self.last_speech_end) else {
            return 0..0;
        };
        let lead = samples(LEAD_MARGIN);
        let trail = samples(TRAIL_MARGIN);
        let start = first.saturating_sub(lead).min(len);
        let end = end.saturating_add(trail).min(len).max(start);
        start..end
    }
}

fn samples(d: Duration) -> usize {
    usize::try_from(d.as_millis() * 8).unwrap_or(usize::MAX)
}

/// The running detector: push samples in order, read [`Vad::summary`].
#[derive(Debug, Clone)]
pub struct Vad {
    /// The analysis window: the previous frame, then the one being filled.
    window: [f32; WINDOW],
    /// Samples of the current frame gathered so far (`window[FRAME..FRAME + filled]`).
    filled: usize,
    /// Frames analysed.
    frames: usize,
    /// Running noise floor of the band level in dB; `None` before the first frame.
    floor: Option<f32>,
    summary: SpeechSummary,
    /// First sample of the current run of active frames, `None` outside one.
    run_start: Option<usize>,
    /// The current run of active frames holds speech: its end extends the speech.
    in_speech_run: bool,
    /// The Hann window and twiddles, computed once.
    tables: Tables,
    /// The last analysed frame's features, which every second frame takes over once the
    /// recording is a message ([`Vad::frame_done`]).
    last: Option<Features>,
}

impl Default for Vad {
    fn default() -> Self {
        Self::new()
    }
}

impl Vad {
    /// A detector at the start of a recording.
    pub fn new() -> Self {
        Vad {
            window: [0.0; WINDOW],
            filled: 0,
            frames: 0,
            floor: None,
            summary: SpeechSummary::default(),
            run_start: None,
            in_speech_run: false,
            tables: Tables::new(),
            last: None,
        }
    }

    /// Feeds the next samples (8 kHz, in order). Whole frames are analysed as they complete.
    pub fn push(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            let take = (FRAME - self.filled).min(samples.len());
            for (slot, &s) in self.window[FRAME + self.filled..FRAME + self.filled + take]
                .iter_mut()
                .zip(&samples[..take])
            {
                *slot = f32::from(s) / 32768.0;
            }
            self.filled += take;
            samples = &samples[take..];
            if self.filled == FRAME {
                self.frame_done();
                self.filled = 0;
            }
        }
    }

    /// What has been found so far (a partial last frame is not analysed).
    pub fn summary(&self) -> SpeechSummary {
        self.summary
    }

    fn frame_done(&mut self) {
        // Once the recording holds a message's worth of speech, what is left to find is where
        // the speech ends, and a 40 ms grain answers that as well as 20 ms (the kept part
        // reaches TRAIL_MARGIN, 500 ms, beyond it): every second frame takes over the features
        // of the one before, counted and judged as if measured. The detector was most of the
        // media driver's time with a thousand recordings (benches/README.md, seventh session).
        if self.summary.is_message() && self.frames % 2 == 1 {
            if let Some(features) = self.last {
                self.classify(&features);
                return;
            }
        }
        let features = self.measure();
        self.last = Some(features);
        self.classify(&features);
    }

    /// The features of the frame just completed.
    fn measure(&self) -> Features {
        // A frame whose whole-band level is under the absolute floor cannot have a band level
        // above it: the spectrum and the pitch search (most of the cost) are skipped, which is
        // most frames of a recording's silences.
        let frame = &self.window[FRAME..];
        let mean_square = frame.iter().map(|x| x * x).sum::<f32>() / FRAME as f32;
        let broadband_dbfs = 10.0 * mean_square.max(1e-12).log10();
        if broadband_dbfs < ABSOLUTE_FLOOR_DBFS {
            Features {
                level_dbfs: broadband_dbfs,
                tonality: 0.0,
                flatness: 1.0,
                periodicity: 0.0,
            }
        } else {
            let mut features = self.tables.features(&self.window, false);
            // The pitch search is the dearest feature: only for a frame the others let through.
            if features.level_dbfs >= ABSOLUTE_FLOOR_DBFS
                && features.tonality < MAX_TONALITY
                && features.flatness < MAX_FLATNESS
            {
                features.periodicity = periodicity(&self.window);
            }
            features
        }
    }

    /// Counts the frame just completed as speech, active or neither, and moves the window on.
    fn classify(&mut self, features: &Features) {
        let (speech, active) = self.judge(features);
        let start = self.frames * FRAME;
        // Speech is found by its voiced frames, but it begins and ends with quieter unvoiced
        // sound ("s", "f", a breath-in, a fading vowel): the kept part reaches out over the
        // run of active frames (above the noise floor) around the voiced ones.
        if active {
            self.run_start.get_or_insert(start);
        } else {
            self.run_start = None;
            self.in_speech_run = false;
        }
        if speech {
            self.summary.speech_frames += 1;
            self.summary
                .first_speech
                .get_or_insert(self.run_start.unwrap_or(start));
            self.summary.last_speech_end = Some(start + FRAME);
            self.in_speech_run = true;
        } else if self.in_speech_run {
            self.summary.last_speech_end = Some(start + FRAME);
        }
        self.frames += 1;
        self.window.copy_within(FRAME.., 0);
    }

    /// Classifies a frame — (speech, active: above the noise floor) — and updates the floor.
    fn judge(&mut self, f: &Features) -> (bool, bool) {
        let level = f.level_dbfs;
        let floor = *self.floor.get_or_insert(level);
        // The floor follows a falling level at once and a rising one slowly (minimum
        // statistics in their simplest form).
        self.floor = Some(if level < floor {
            level
        } else {
            floor + FLOOR_RISE_DB.min(level - floor)
        });
        let active = level >= floor + ABOVE_NOISE_DB && level >= ACTIVE_FLOOR_DBFS;
        let speech = active
            && level >= ABSOLUTE_FLOOR_DBFS
            && f.tonality < MAX_TONALITY
            && f.flatness < MAX_FLATNESS
            && f.periodicity >= MIN_PERIODICITY;
        (speech, active)
    }
}

/// The features of every whole frame of `pcm`, for tests and measurements.
pub fn frame_features(pcm: &[i16]) -> Vec<Features> {
    let tables = Tables::new();
    let mut window = [0.0f32; WINDOW];
    pcm.chunks_exact(FRAME)
        .map(|frame| {
            window.copy_within(FRAME.., 0);
            for (slot, &s) in window[FRAME..].iter_mut().zip(frame) {
                *slot = f32::from(s) / 32768.0;
            }
            tables.features(&window, true)
        })
        .collect()
}

/// The whole of `pcm` analysed at once.
pub fn analyse(pcm: &[i16]) -> SpeechSummary {
    let mut vad = Vad::new();
    vad.push(pcm);
    vad.summary()
}

#[derive(Debug, Clone)]
struct Tables {
    hann: [f32; FFT_LEN],
    /// cos/sin of −2πk/N for k < N/2.
    twiddles: [(f32, f32); FFT_LEN / 2],
}

impl Tables {
    fn new() -> Self {
        let mut hann = [0.0; FFT_LEN];
        for (i, h) in hann.iter_mut().enumerate() {
            *h = 0.5 - 0.5 * (2.0 * PI * i as f32 / FFT_LEN as f32).cos();
        }
        let mut twiddles = [(0.0, 0.0); FFT_LEN / 2];
        for (k, t) in twiddles.iter_mut().enumerate() {
            let a = -2.0 * PI * k as f32 / FFT_LEN as f32;
            *t = (a.cos(), a.sin());
        }
        Tables { hann, twiddles }
    }

    /// The features of the window; the periodicity only `with_pitch` (else 0).
    fn features(&self, window: &[f32; WINDOW], with_pitch: bool) -> Features {
        let power = self.band_power(window);
        let total: f32 = power.iter().sum();
        // Hann-windowed periodogram to RMS: Σ|X|² over both halves / (N · Σw²) is the mean
        // square; the band holds the positive half, hence the factor 2.
        let hann_energy: f32 = self.hann.iter().map(|h| h * h).sum();
        let mean_square = 2.0 * total / (FFT_LEN as f32 * hann_energy);
        // RMS relative to a full-scale square wave, as sox and `prompts/generate.sh` measure
        // (a full-scale sine is −3 dBFS).
        let level_dbfs = 10.0 * mean_square.max(1e-12).log10();
        Features {
            level_dbfs,
            tonality: tonality(&power, total),
            flatness: flatness(&power, total),
            periodicity: if with_pitch { periodicity(window) } else { 0.0 },
        }
    }

    /// The power spectrum of the newest [`FFT_LEN`] samples, in the speech band.
    fn band_power(&self, window: &[f32; WINDOW]) -> [f32; 99] {
        let mut re = [0.0f32; FFT_LEN];
        let mut im = [0.0f32; FFT_LEN];
        let start = WINDOW - FFT_LEN;
        for (i, r) in re.iter_mut().enumerate() {
            *r = window[start + i] * self.hann[i];
        }
        self.fft(&mut re, &mut im);
        let mut out = [0.0f32; 99];
        for (o, k) in out.iter_mut().zip(BAND) {
            *o = re[k] * re[k] + im[k] * im[k];
        }
        out
    }

    /// In-place iterative radix-2 FFT.
    fn fft(&self, re: &mut [f32; FFT_LEN], im: &mut [f32; FFT_LEN]) {
        let bits = FFT_LEN.trailing_zeros();
        for i in 0..FFT_LEN {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut size = 2;
        while size <= FFT_LEN {
            let half = size / 2;
            let step = FFT_LEN / size;
            for start in (0..FFT_LEN).step_by(size) {
                for k in 0..half {
                    let (wr, wi) = self.twiddles[k * step];
                    let (a, b) = (start + k, start + k + half);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            size *= 2;
        }
    }
}

/// Share of the band's power within ±2 bins (a Hann main lobe) of its two strongest peaks.
fn tonality(power: &[f32], total: f32) -> f32 {
    if total <= 0.0 {
        return 0.0;
    }
    let lobe = |k: usize| -> f32 {
        power[k.saturating_sub(2)..(k + 3).min(power.len())]
            .iter()
            .sum()
    };
    let first = argmax(power, |_| true);
    let Some(first) = first else { return 0.0 };
    let second = argmax(power, |k| k.abs_diff(first) > 4);
    let peaks = lobe(first) + second.map_or(0.0, lobe);
    (peaks / total).min(1.0)
}

fn argmax(power: &[f32], allowed: impl Fn(usize) -> bool) -> Option<usize> {
    power
        .iter()
        .enumerate()
        .filter(|(k, _)| allowed(*k))
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k)
}

/// Geometric over arithmetic mean of the band's power.
///
/// The logarithm of the geometric mean is taken of products of [`LOG_CHUNK`] bins in `f64`
/// rather than of each bin: one `ln` per chunk instead of 99 (the logarithms were a fifth of
/// the detector's time, and the detector most of the media driver's at 1,000 recordings). A
/// chunk's product stays within `f64`: each factor is at least 1e-20 and at most 1e10 (a
/// full-scale bin of a 256-point FFT), so ten of them span 1e-200 to 1e100.
fn flatness(power: &[f32], total: f32) -> f32 {
    if total <= 0.0 {
        return 1.0;
    }
    let n = power.len() as f32;
    let log_sum: f64 = power
        .chunks(LOG_CHUNK)
        .map(|chunk| {
            chunk
                .iter()
                .map(|p| f64::from(p.max(1e-20)))
                .product::<f64>()
                .ln()
        })
        .sum();
    let log_mean = (log_sum / f64::from(n)) as f32;
    (log_mean.exp() / (total / n)).min(1.0)
}

/// Bins multiplied before one logarithm in [`flatness`].
const LOG_CHUNK: usize = 10;

/// Peak normalised autocorrelation over the pitch lags, on the whole window with its mean
/// removed, decimated to 4 kHz (pairs averaged): a voice's pitch lies far below 2 kHz, and a
/// quarter of the products keeps the detector cheap enough to run on every recording.
///
/// The two energies of each lag (the head and the tail of the window) come from one running
/// sum of squares instead of being summed again per lag, and the cross products are summed
/// in [`LANES`] independent accumulators, which the compiler turns into vector instructions
/// (one accumulator is a chain of dependent additions it may not reorder). Together they cut
/// the pitch search, the detector's dearest part, to about a sixth.
fn periodicity(window: &[f32; WINDOW]) -> f32 {
    const HALF: usize = WINDOW / 2;
    let mean = window.iter().sum::<f32>() / WINDOW as f32;
    let mut x = [0.0f32; HALF];
    for (o, pair) in x.iter_mut().zip(window.chunks_exact(2)) {
        *o = (pair[0] + pair[1]) / 2.0 - mean;
    }
    // squares[i]: the energy of x[..i].
    let mut squares = [0.0f32; HALF + 1];
    for i in 0..HALF {
        squares[i + 1] = squares[i] + x[i] * x[i];
    }
    let mut best = 0.0f32;
    for lag in MIN_LAG / 2..=MAX_LAG / 2 {
        let (a, b) = (&x[..HALF - lag], &x[lag..]);
        let ab = dot(a, b);
        let aa = squares[HALF - lag];
        let bb = squares[HALF] - squares[lag];
        if aa > 0.0 && bb > 0.0 {
            best = best.max(ab / (aa * bb).sqrt());
        }
    }
    best
}

/// Accumulators of [`dot`]: eight `f32`, one AVX register.
const LANES: usize = 8;

/// Σ a·b over the shorter of the two.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a_body, a_tail) = a[..n].as_chunks::<LANES>();
    let (b_body, b_tail) = b[..n].as_chunks::<LANES>();
    let mut lanes = [0.0f32; LANES];
    for (p, q) in a_body.iter().zip(b_body) {
        for ((lane, p), q) in lanes.iter_mut().zip(p).zip(q) {
            *lane += p * q;
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(p, q)| p * q).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
#[path = "vad_tests.rs"]
mod tests;
