//! Audio files to telephone PCM: any prompt fragment or user recording (WAV, FLAC, OGG/Vorbis,
//! MP3, at any sample rate and channel count) decoded with `symphonia` to 8 kHz mono 16-bit, the
//! linear form G.711 (ITU-T G.711, RFC 3551 §4.5.14) encodes; plus [`PromptCache`], which loads
//! each fragment once and stitches a rendered utterance into one buffer for the player, and
//! [`wav_bytes`], which stores a recorded message as an 8 kHz 16-bit WAV.
//!
//! In the call flow: at start-up or on first use the IVR asks the cache for the fragments of a
//! `speech::render` result; the stitched `Arc<[i16]>` goes to `MediaHandle::play`. A user who
//! replaces a fragment or uploads a greeting may give any common format; this module is why
//! that works.
//!
//! Resampling is a band-limited windowed-sinc interpolator (J. O. Smith, "Digital Audio
//! Resampling"): each output sample is the input convolved with a sinc low-pass whose cutoff is
//! 90 % of the *output* Nyquist frequency (3.6 kHz at 8 kHz), shaped by a Kaiser window (β = 8,
//! about 80 dB stop-band) spanning 24 zero crossings each side. The kernel is tabulated once
//! (512 points per zero crossing, linearly interpolated) so any ratio works — 44.1 kHz, 48 kHz,
//! 22.05 kHz, 11.025 kHz, 16 kHz — with no rational-ratio polyphase tables. Passband is flat to
//! about 3.2 kHz (the telephone band ends at 3.4 kHz) and anything above 4 kHz, which would
//! alias, is suppressed by more than 60 dB. Linear interpolation alone would fold every
//! component above 4 kHz of a 44.1 kHz recording back into the band as audible hiss; that is why
//! it is not used. Cost is ~300 multiply-adds per output sample at 48 kHz: milliseconds per
//! second of audio in a release build, so callers run it on a blocking thread
//! (`tokio::task::spawn_blocking`), never on the media driver.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use thiserror::Error;

use crate::speech::{FragmentLibrary, Segment, SpeechError};

/// The telephone sample rate everything is converted to (G.711, RFC 3551 §4.5.14).
pub const TELEPHONE_RATE: u32 = 8000;

/// Lowest source rate accepted; below this nothing intelligible is left.
const MIN_SOURCE_RATE: u32 = 4000;

/// Highest source rate accepted (DXD); the bound keeps the kernel width finite.
const MAX_SOURCE_RATE: u32 = 384_000;

/// Most channels down-mixed (7.1 plus spares); more is not an audio file we want.
const MAX_CHANNELS: usize = 16;

/// Kaiser window shape: β = 8 gives about 80 dB side-lobe suppression.
const KAISER_BETA: f64 = 8.0;

/// Zero crossings of the sinc kept on each side of the centre.
const ZERO_CROSSINGS: usize = 24;

/// Kernel table points per zero crossing; linear interpolation between them keeps the table
/// error below the window's own stop-band.
const TABLE_RESOLUTION: usize = 512;

/// Cutoff as a fraction of the lower Nyquist frequency: leaves a transition band below 4 kHz.
const CUTOFF: f64 = 0.9;

/// Bounds on what one decode may consume, so an uploaded file cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest encoded file read.
    pub max_bytes: usize,
    /// Longest audio accepted; the decode stops with [`DecodeError::TooLong`] past it.
    pub max_duration: Duration,
}

impl Default for DecodeLimits {
    /// 32 MiB and 10 minutes: far above any prompt, greeting or the 3-minute default message.
    /// Decoding keeps only the 8 kHz result (≤ 19 MB of f32 for 10 minutes) plus one packet
    /// and one kernel width of the source, whatever its rate.
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            max_duration: Duration::from_secs(10 * 60),
        }
    }
}

/// Why a file could not be turned into telephone PCM.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The encoded file is larger than [`DecodeLimits::max_bytes`].
    #[error("audio file of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// File length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// No enabled format reader recognised the container, or its codec is not enabled.
    #[error("unsupported audio: {what}")]
    Unsupported {
        /// Symphonia's description of what is missing.
        what: &'static str,
    },
    /// The container or bitstream is corrupt where it cannot be skipped.
    #[error("malformed audio: {what}")]
    Malformed {
        /// Symphonia's description.
        what: &'static str,
    },
    /// Symphonia refused a resource limit.
    #[error("audio exceeds a decoder limit: {what}")]
    DecoderLimit {
        /// Symphonia's description.
        what: &'static str,
    },
    /// An I/O error inside the demuxer other than the end of the stream.
    #[error("I/O error while demuxing: {0}")]
    Demux(std::io::Error),
    /// The file has no audio track.
    #[error("file has no audio track")]
    NoAudioTrack,
    /// The sample rate is outside what we convert.
    #[error("sample rate {rate} Hz is outside {MIN_SOURCE_RATE}..={MAX_SOURCE_RATE}")]
    UnsupportedRate {
        /// The file's rate.
        rate: u32,
    },
    /// The channel count is zero or above the down-mix limit.
    #[error("{channels} channels is outside 1..={MAX_CHANNELS}")]
    UnsupportedChannels {
        /// The file's channel count.
        channels: usize,
    },
    /// The sample rate changed mid-stream (a chained Ogg file); we do not splice rates.
    #[error("sample rate changed from {from} Hz to {to} Hz mid-stream")]
    RateChanged {
        /// The first rate.
        from: u32,
        /// The later rate.
        to: u32,
    },
    /// The audio runs longer than [`DecodeLimits::max_duration`].
    #[error("audio is longer than the {max:?} limit")]
    TooLong {
        /// The limit.
        max: Duration,
    },
    /// Decoding yielded no samples at all.
    #[error("file decodes to no audio")]
    Empty,
}

impl From<SymphoniaError> for DecodeError {
    fn from(error: SymphoniaError) -> Self {
        match error {
            SymphoniaError::IoError(e) => Self::Demux(e),
            SymphoniaError::DecodeError(what) => Self::Malformed { what },
            SymphoniaError::SeekError(_) => Self::Malformed {
                what: "unexpected seek error",
            },
            SymphoniaError::Unsupported(what) => Self::Unsupported { what },
            SymphoniaError::LimitError(what) => Self::DecoderLimit { what },
            SymphoniaError::ResetRequired => Self::Unsupported {
                what: "stream changes its track layout mid-way",
            },
        }
    }
}

/// Reads and decodes a file to 8 kHz mono. The extension (if any) is a hint to the prober,
/// which still checks the content.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<Vec<i16>, DecodeError> {
    let read_error = |source| DecodeError::Read {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_error)?.len();
    if len > limits.max_bytes as u64 {
        return Err(DecodeError::TooLarge {
            len,
            max: limits.max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    decode(bytes, path.extension().and_then(|e| e.to_str()), limits)
}

/// Decodes an encoded file held in memory to 8 kHz mono 16-bit PCM: probe the container,
/// decode the first audio track, average the channels, resample, round and clamp.
///
/// Corrupt packets are skipped (as players do: one bad MP3 frame should not lose a greeting);
/// a file yielding nothing is [`DecodeError::Empty`].
pub fn decode(
    bytes: Vec<u8>,
    extension: Option<&str>,
    limits: &DecodeLimits,
) -> Result<Vec<i16>, DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            len: bytes.len() as u64,
            max: limits.max_bytes,
        });
    }
    let telephone = decode_to_telephone(bytes, extension, limits)?;
    if telephone.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(telephone.iter().map(|&s| to_i16(s)).collect())
}

/// The first audio track, down-mixed to mono and resampled to 8 kHz as packets arrive.
fn decode_to_telephone(
    bytes: Vec<u8>,
    extension: Option<&str>,
    limits: &DecodeLimits,
) -> Result<Vec<f32>, DecodeError> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = extension {
        hint.with_extension(extension);
    }
    let probed = symphonia::default::get_probe().format(
        &hint,
        source,
        &FormatOptions::default(),
        &MetadataOptions::default(),
    )?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or(DecodeError::NoAudioTrack)?;
    let track_id = track.id;
    let mut decoder =
        symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default())?;

    let max_samples = duration_samples(limits.max_duration);
    let mut out: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut rate: Option<u32> = None;
    let mut resampler = Resampler::new(TELEPHONE_RATE, TELEPHONE_RATE);
    let mut interleaved: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            // The readers signal the end of the stream as an unexpected EOF.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => return Err(e.into()),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A corrupt frame: skip it, as symphonia's own player does.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count();
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(DecodeError::UnsupportedChannels { channels });
        }
        match rate {
            None => {
                if !(MIN_SOURCE_RATE..=MAX_SOURCE_RATE).contains(&spec.rate) {
                    return Err(DecodeError::UnsupportedRate { rate: spec.rate });
                }
                rate = Some(spec.rate);
                resampler = Resampler::new(spec.rate, TELEPHONE_RATE);
            }
            Some(first) if first != spec.rate => {
                return Err(DecodeError::RateChanged {
                    from: first,
                    to: spec.rate,
                })
            }
            Some(_) => {}
        }
        let frames = decoded.frames();
        if frames == 0 {
            continue;
        }
        let buffer = match &mut interleaved {
            Some(buffer) if buffer.capacity() >= decoded.capacity() * channels => buffer,
            slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buffer.copy_interleaved_ref(decoded);
        let scale = 1.0 / channels as f32;
        mono.clear();
        mono.extend(
            buffer
                .samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
        resampler.push(&mono, &mut out);
        if out.len() > max_samples {
            return Err(DecodeError::TooLong {
                max: limits.max_duration,
            });
        }
    }
    resampler.finish(&mut out);
    if out.len() > max_samples {
        return Err(DecodeError::TooLong {
            max: limits.max_duration,
        });
    }
    Ok(out)
}

/// f32 in [-1, 1] to i16, rounded and clamped (a resampler's overshoot on a full-scale square
/// wave must saturate, not wrap).
fn to_i16(sample: f32) -> i16 {
    // The clamp bounds the value to i16's range before the cast.
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Converts `input` at `from` Hz to `to` Hz with the windowed-sinc interpolator described in
/// the module documentation. Equal rates copy.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let mut resampler = Resampler::new(from, to);
    let mut out = Vec::with_capacity(resampler.output_len_for(input.len() as u64));
    resampler.push(input, &mut out);
    resampler.finish(&mut out);
    out
}

/// A streaming windowed-sinc resampler: input arrives packet by packet from the decoder and
/// only a kernel's width of it is kept, so a long 48 kHz file never sits in memory at its own
/// rate; only the 8 kHz result does.
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Kernel scale: the cutoff relative to the input's Nyquist frequency.
    scale: f64,
    /// Kernel half-width in input samples.
    half_width: f64,
    /// Input kept, starting at absolute input index `offset`.
    window: Vec<f32>,
    /// Absolute index of `window[0]`.
    offset: u64,
    /// Input samples pushed so far.
    total_in: u64,
    /// Index of the next output sample.
    next_out: u64,
    /// Rates are equal: copy.
    passthrough: bool,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (both non-zero; zero is treated as equal rates).
    pub fn new(from: u32, to: u32) -> Self {
        let passthrough = from == to || from == 0 || to == 0;
        let (from, to) = if passthrough { (1, 1) } else { (from, to) };
        // Cutoff in units of the input rate's Nyquist frequency: the lower of the two.
        let scale = CUTOFF * (f64::from(to) / f64::from(from)).min(1.0);
        Self {
            step: f64::from(from) / f64::from(to),
            scale,
            half_width: ZERO_CROSSINGS as f64 / scale,
            window: Vec::new(),
            offset: 0,
            total_in: 0,
            next_out: 0,
            passthrough,
        }
    }

    /// Output samples for `input_len` input samples: the same duration, rounded.
    pub fn output_len_for(&self, input_len: u64) -> usize {
        usize::try_from((input_len as f64 / self.step).round() as u64).unwrap_or(usize::MAX)
    }

    /// Feeds input; appends every output sample whose kernel is fully covered.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.total_in += input.len() as u64;
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        self.window.extend_from_slice(input);
        let available_end = self.offset + self.window.len() as u64;
        loop {
            let t = self.next_out as f64 * self.step;
            if (t + self.half_width).floor() as u64 >= available_end {
                break;
            }
            out.push(self.sample_at(t, available_end - 1));
            self.next_out += 1;
        }
        // Keep only what the next output's kernel can still reach.
        let t = self.next_out as f64 * self.step;
        let keep_from = ((t - self.half_width).ceil().max(0.0) as u64).min(available_end);
        if keep_from > self.offset {
            // keep_from - offset ≤ window.len() by the min above.
            self.window.drain(..(keep_from - self.offset) as usize);
            self.offset = keep_from;
        }
    }

    /// Flushes the tail: the outputs near the end, with the kernel clipped at the last input.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if self.passthrough || self.total_in == 0 {
            return;
        }
        let total_out = self.output_len_for(self.total_in) as u64;
        while self.next_out < total_out {
            let t = self.next_out as f64 * self.step;
            out.push(self.sample_at(t, self.total_in - 1));
            self.next_out += 1;
        }
    }

    /// One output sample at input position `t`, using input up to absolute index `last`.
    fn sample_at(&self, t: f64, last: u64) -> f32 {
        let table = kernel_table();
        let first = ((t - self.half_width).ceil().max(0.0) as u64).max(self.offset);
        let end = ((t + self.half_width).floor().max(0.0) as u64).min(last);
        let mut acc = 0.0f64;
        for k in first..=end {
            let Some(&x) = self.window.get((k - self.offset) as usize) else {
                break;
            };
            let distance = (t - k as f64).abs() * self.scale;
            acc += f64::from(x) * kernel_at(table, distance);
        }
        (acc * self.scale) as f32
    }
}

/// The windowed sinc at `distance` zero crossings from the centre, linearly interpolated.
fn kernel_at(table: &[f64], distance: f64) -> f64 {
    let position = distance * TABLE_RESOLUTION as f64;
    let index = position.floor() as usize;
    match (table.get(index), table.get(index + 1)) {
        (Some(a), Some(b)) => {
            let frac = position - index as f64;
            a + (b - a) * frac
        }
        (Some(a), None) => *a,
        _ => 0.0,
    }
}

/// sinc(x)·kaiser(x / ZERO_CROSSINGS) for x in [0, ZERO_CROSSINGS], computed once.
fn kernel_table() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let points = ZERO_CROSSINGS * TABLE_RESOLUTION;
        let denominator = bessel_i0(KAISER_BETA);
        (0..=points)
            .map(|i| {
                let x = i as f64 / TABLE_RESOLUTION as f64;
                let sinc = if i == 0 {
                    1.0
                } else {
                    (PI * x).sin() / (PI * x)
                };
                let r = x / ZERO_CROSSINGS as f64;
                let window = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / denominator;
                sinc * window
            })
            .collect()
    })
}

/// Modified Bessel function of the first kind, order 0, by its power series (converges fast
/// for the β we use).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Length of [`wav_header`]: the canonical RIFF header of 16-bit PCM (`RIFF`, `fmt ` of 16
/// bytes, `data`), the same that [`wav_bytes`] writes.
pub const WAV_HEADER_LEN: usize = 44;

/// The header of [`wav_bytes`]'s format for `data_len` bytes of 16-bit little-endian samples
/// that follow it. For a message already on disk as raw samples (the voicemail spool): header
/// plus file is the WAV, without decoding the samples into memory first. `None` when the data
/// is too long for a RIFF file (4 GiB).
pub fn wav_header(data_len: usize) -> Option<[u8; WAV_HEADER_LEN]> {
    let data = u32::try_from(data_len).ok()?;
    let riff = data.checked_add(36)?;
    let rate = TELEPHONE_RATE;
    let mut h = [0u8; WAV_HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    // Format 1 (PCM), one channel.
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    // Byte rate and block align: 2 bytes per sample, one channel.
    h[28..32].copy_from_slice(&(rate * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    Some(h)
}

/// A recorded message as a WAV file: 8 kHz, mono, 16-bit PCM, the format stored and mailed.
pub fn wav_bytes(pcm: &[i16]) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: TELEPHONE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + pcm.len() * 2));
    {
        let mut writer = hound::WavWriter::new(&mut out, spec)?;
        let mut samples = writer.get_i16_writer(pcm.len() as u32);
        for &sample in pcm {
            samples.write_sample(sample);
        }
        samples.flush()?;
        writer.finalize()?;
    }
    Ok(out.into_inner())
}

/// Why a prompt could not be stitched.
#[derive(Debug, Error)]
pub enum PromptError {
    /// The fragment has no file.
    #[error(transparent)]
    Speech(#[from] SpeechError),
    /// A fragment file did not decode.
    #[error("prompt {path}: {source}")]
    Decode {
        /// The fragment's file.
        path: PathBuf,
        /// Why.
        source: DecodeError,
    },
    /// The utterance names a user whose name audio the caller did not supply.
    #[error("no name audio supplied for user {user}")]
    MissingName {
        /// The user id in the segment.
        user: i64,
    },
    /// The stitched prompt would exceed [`MAX_PROMPT`].
    #[error("stitched prompt exceeds {MAX_PROMPT:?}")]
    TooLong,
}

/// Longest stitched prompt: a greeting plus the full status sentence is under a minute.
pub const MAX_PROMPT: Duration = Duration::from_secs(5 * 60);

/// Fragment audio decoded once and shared: every call saying "is in a meeting" plays the same
/// `Arc<[i16]>`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PromptCache {
    inner: Arc<PromptCacheInner>,
}

#[derive(Debug)]
struct PromptCacheInner {
    library: FragmentLibrary,
    limits: DecodeLimits,
    /// Decoded fragments by file. A std mutex: held only for a map look-up or insert, never
    /// across a decode or an await.
    decoded: Mutex<HashMap<PathBuf, Arc<[i16]>>>,
}

impl PromptCache {
    /// A cache over the fragment library; nothing is decoded until asked.
    pub fn new(library: FragmentLibrary, limits: DecodeLimits) -> Self {
        Self {
            inner: Arc::new(PromptCacheInner {
                library,
                limits,
                decoded: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The library the cache reads.
    pub fn library(&self) -> &FragmentLibrary {
        &self.inner.library
    }

    /// One file's PCM, decoded on first use. Blocking (file I/O and resampling): call from
    /// `spawn_blocking`.
    pub fn load(&self, path: &Path) -> Result<Arc<[i16]>, PromptError> {
        if let Some(pcm) = self.lock().get(path) {
            return Ok(pcm.clone());
        }
        // Decoded outside the lock; two calls racing on a cold fragment both decode it and the
        // second insert wins, which is harmless.
        let pcm: Arc<[i16]> = decode_file(path, &self.inner.limits)
            .map_err(|source| PromptError::Decode {
                path: path.to_owned(),
                source,
            })?
            .into();
        self.lock().insert(path.to_owned(), pcm.clone());
        Ok(pcm)
    }

    /// Stitches rendered segments into one buffer: fragment files from the library, silences
    /// as zeros, [`Segment::Name`] from `name` (the user's recorded or generated name, which
    /// the IVR looks up). Blocking on a cold cache.
    pub fn stitch(
        &self,
        segments: &[Segment],
        name: Option<&[i16]>,
    ) -> Result<Arc<[i16]>, PromptError> {
        // One buffer out of the shared pieces: the same segments, bound and errors.
        let name: Option<Arc<[i16]>> = name.map(Arc::from);
        Ok(self.stitch_shared(segments, name.as_ref())?.to_vec().into())
    }

    /// [`Self::stitch`] without the copy: the same segments as shared pieces
    /// ([`Audio`](crate::media::audio::Audio)), each fragment the cache's own buffer. What a
    /// call plays: a per-call copy of its greeting was most of a voicemail call's memory.
    /// Same bound ([`MAX_PROMPT`]) and errors as `stitch`.
    pub fn stitch_shared(
        &self,
        segments: &[Segment],
        name: Option<&Arc<[i16]>>,
    ) -> Result<crate::media::audio::Audio, PromptError> {
        let max = duration_samples(MAX_PROMPT);
        let mut out = crate::media::audio::Audio::new();
        for segment in segments {
            let (pcm, silence) = match segment {
                Segment::Fragment { id, lang } => {
                    let path = self.inner.library.path(id, *lang)?;
                    (Some(self.load(&path)?), 0)
                }
                Segment::Name(user) => (
                    Some(
                        name.ok_or(PromptError::MissingName { user: *user })?
                            .clone(),
                    ),
                    0,
                ),
                Segment::Silence(duration) => (None, duration_samples(*duration)),
            };
            let added = pcm.as_ref().map_or(silence, |p| p.len());
            if out.len().saturating_add(added) > max {
                return Err(PromptError::TooLong);
            }
            match pcm {
                Some(pcm) => out.push_pcm(pcm),
                None => out.push_silence(silence),
            }
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<[i16]>>> {
        // A panic while holding the lock cannot leave the map inconsistent (insert/get only),
        // so a poisoned lock is still usable.
        self.inner
            .decoded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Samples at 8 kHz in `duration`, rounded to the nearest.
pub fn duration_samples(duration: Duration) -> usize {
    // 8 samples per millisecond; micros keep sub-millisecond silences exact.
    let micros = duration.as_micros();
    usize::try_from((micros * 8 + 500) / 1000).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, seconds: f64, amplitude: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Drops the filter's edges, where the kernel runs off the signal.
    fn middle(x: &[f32]) -> &[f32] {
        &x[x.len() / 4..x.len() * 3 / 4]
    }

    #[test]
    fn passband_tone_keeps_its_level_at_every_common_rate() {
        for rate in [11_025, 16_000, 22_050, 44_100, 48_000, 96_000] {
            let input = sine(rate, 1000.0, 0.5, 0.5);
            let out = resample(&input, rate, 8000);
            assert_eq!(out.len(), 4000, "{rate}");
            let level = rms(middle(&out)) / (0.5 / 2f64.sqrt());
            assert!((level - 1.0).abs() < 0.01, "{rate}: gain {level}");
        }
    }

    #[test]
    fn tones_above_4khz_do_not_alias_into_the_band() {
        // 5 kHz at 16 kHz would fold to 3 kHz; 6 kHz at 44.1 kHz to 2 kHz.
        for (rate, freq) in [(16_000, 5000.0), (44_100, 6000.0), (48_000, 4500.0)] {
            let out = resample(&sine(rate, freq, 0.5, 0.5), rate, 8000);
            let db = 20.0 * (rms(middle(&out)) / (0.5 / 2f64.sqrt())).log10();
            assert!(db < -60.0, "{rate} Hz, {freq} Hz tone: {db:.1} dB");
        }
    }

    #[test]
    fn streaming_in_odd_chunks_equals_one_push() {
        let input = sine(44_100, 700.0, 0.3, 0.4);
        let whole = resample(&input, 44_100, 8000);
        let mut resampler = Resampler::new(44_100, 8000);
        let mut chunked = Vec::new();
        for chunk in input.chunks(37) {
            resampler.push(chunk, &mut chunked);
        }
        resampler.finish(&mut chunked);
        assert_eq!(chunked, whole);
        assert!(resampler.window.len() < 2 * resampler.half_width as usize + 40);
    }

    #[test]
    fn upsampling_keeps_a_tone() {
        let out = resample(&sine(6000, 500.0, 0.5, 0.5), 6000, 8000);
        assert_eq!(out.len(), 4000);
        let level = rms(middle(&out)) / (0.5 / 2f64.sqrt());
        assert!((level - 1.0).abs() < 0.01, "gain {level}");
    }

    #[test]
    fn equal_rates_copy_and_clamping_saturates() {
        let x = [0.1f32, -0.2, 0.3];
        assert_eq!(resample(&x, 8000, 8000), x);
        assert_eq!(to_i16(1.5), i16::MAX);
        assert_eq!(to_i16(-1.5), i16::MIN);
        assert_eq!(to_i16(0.5), 16384);
    }

    #[test]
    fn wav_round_trip_through_symphonia() {
        let pcm: Vec<i16> = (0..800).map(|i| ((i * 37) % 2000 - 1000) as i16).collect();
        let wav = wav_bytes(&pcm).unwrap();
        assert_eq!(wav.len(), 44 + 1600);
        assert_eq!(&wav[..4], b"RIFF");
        let decoded = decode(wav, Some("wav"), &DecodeLimits::default()).unwrap();
        assert_eq!(decoded, pcm);
    }

    #[test]
    fn wav_header_and_raw_samples_are_the_wav() {
        let pcm: Vec<i16> = (0..801).map(|i| ((i * 53) % 4000 - 2000) as i16).collect();
        let raw: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut wav = wav_header(raw.len()).unwrap().to_vec();
        wav.extend_from_slice(&raw);
        assert_eq!(wav, wav_bytes(&pcm).unwrap());
        assert_eq!(wav_header(usize::MAX), None);
    }

    #[test]
    fn limits_and_garbage_give_precise_errors() {
        let wav = wav_bytes(&vec![100; 8000 * 3]).unwrap();
        let limits = DecodeLimits {
            max_bytes: 1000,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode(wav.clone(), None, &limits),
            Err(DecodeError::TooLarge { max: 1000, .. })
        ));
        let limits = DecodeLimits {
            max_duration: Duration::from_secs(2),
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode(wav, None, &limits),
            Err(DecodeError::TooLong { .. })
        ));
        let error = decode(
            b"this is not audio at all".to_vec(),
            None,
            &DecodeLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(error, DecodeError::Unsupported { .. }), "{error}");
        let error = decode(Vec::new(), Some("wav"), &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::Unsupported { .. }
                    | DecodeError::Demux(_)
                    | DecodeError::Malformed { .. }
            ),
            "{error}"
        );
    }

    /// Level of `freq` in `pcm` (8 kHz) by the Goertzel algorithm, as an amplitude 0..1.
    fn tone_amplitude(pcm: &[i16], freq: f64) -> f64 {
        let w = 2.0 * PI * freq / 8000.0;
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in pcm {
            let s0 = f64::from(x) / 32768.0 + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
        2.0 * power.sqrt() / pcm.len() as f64
    }

    #[test]
    fn fixtures_in_every_container_decode_to_8khz_mono() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/audio");
        // (file, expected amplitude of the 1 kHz tone, allowed length error in samples)
        let cases = [
            // Tone in the left channel only: the down-mix halves it.
            ("tone1k_16k_stereo_left.wav", 0.25, 0),
            ("tone1k_44k1.flac", 0.5, 0),
            // Vorbis's last block overlaps past the end; symphonia 0.5 does not trim it to the
            // final granule position (~17 ms here).
            ("tone1k_22k05_stereo.ogg", 0.5, 200),
            // MP3 adds encoder delay and frame padding (up to ~2 frames of 1152 samples).
            ("tone1k_48k.mp3", 0.5, 800),
        ];
        for (file, amplitude, slack) in cases {
            let pcm = decode_file(&dir.join(file), &DecodeLimits::default())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                pcm.len().abs_diff(4000) <= slack,
                "{file}: {} samples",
                pcm.len()
            );
            let middle = &pcm[pcm.len() / 4..pcm.len() * 3 / 4];
            let level = tone_amplitude(middle, 1000.0);
            assert!(
                (level - amplitude).abs() < 0.03,
                "{file}: 1 kHz at {level:.3}, expected {amplitude}"
            );
            // Nothing but the tone: 2 kHz (a harmonic or an alias) is far below it.
            assert!(tone_amplitude(middle, 2000.0) < 0.01, "{file}");
        }
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let error =
            decode_file(Path::new("/nonexistent/x.wav"), &DecodeLimits::default()).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/x.wav"), "{error}");
    }

    #[test]
    fn prompt_cache_stitches_fragments_silence_and_name_and_shares_buffers() {
        use crate::domain::Lang;
        use crate::speech::fragment as f;

        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        let library = FragmentLibrary::load(&dir).unwrap();
        let welcome_path = library.path(&f::WELCOME, Lang::Da).unwrap();
        let beep_path = library.path(&f::BEEP, Lang::Da).unwrap();
        let cache = PromptCache::new(library, DecodeLimits::default());
        let welcome = cache.load(&welcome_path).unwrap();
        let beep = cache.load(&beep_path).unwrap();
        // The committed prompts are already 8 kHz 16-bit: decoding must be exact.
        let exact: Vec<i16> = hound::WavReader::open(&welcome_path)
            .unwrap()
            .into_samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(&welcome[..], &exact[..]);
        assert!(Arc::ptr_eq(&welcome, &cache.load(&welcome_path).unwrap()));

        let name = vec![1000i16; 1234];
        let segments = vec![
            Segment::Fragment {
                id: f::WELCOME,
                lang: Lang::Da,
            },
            Segment::Silence(Duration::from_millis(250)),
            Segment::Name(7),
            Segment::Fragment {
                id: f::BEEP,
                lang: Lang::Da,
            },
        ];
        let stitched = cache.stitch(&segments, Some(&name)).unwrap();
        let mut expected = welcome.to_vec();
        expected.extend(std::iter::repeat_n(0, 2000));
        expected.extend_from_slice(&name);
        expected.extend_from_slice(&beep);
        assert_eq!(&stitched[..], &expected[..]);
        // The shared stitch plays the same samples, holding the cache's own buffers.
        let name: Arc<[i16]> = name.into();
        let shared = cache.stitch_shared(&segments, Some(&name)).unwrap();
        assert_eq!(shared.to_vec(), expected);
        assert_eq!(
            Arc::strong_count(&name),
            2,
            "the name is shared, not copied"
        );

        assert!(matches!(
            cache.stitch(&segments, None),
            Err(PromptError::MissingName { user: 7 })
        ));
        assert!(matches!(
            cache.stitch_shared(&segments, None),
            Err(PromptError::MissingName { user: 7 })
        ));
        assert!(matches!(
            cache.stitch(&[Segment::Silence(MAX_PROMPT * 2)], None),
            Err(PromptError::TooLong)
        ));
        assert!(matches!(
            cache.stitch_shared(&[Segment::Silence(MAX_PROMPT * 2)], None),
            Err(PromptError::TooLong)
        ));
    }

    #[test]
    fn duration_samples_rounds() {
        assert_eq!(duration_samples(Duration::from_millis(200)), 1600);
        assert_eq!(duration_samples(Duration::from_micros(125)), 1);
        assert_eq!(duration_samples(Duration::ZERO), 0);
    }
}
