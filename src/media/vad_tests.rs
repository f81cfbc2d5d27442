//! The detector on generated signals: what a caller who says nothing leaves behind (silence,
//! comfort noise, a line's hiss, DTMF, mains hum, breathing) must not count as speech; the
//! prompts' espeak-ng speech must.

use std::path::Path;

use super::*;
use crate::media::decode::{decode_file, DecodeLimits};

const RATE: f32 = 8000.0;

/// A deterministic white-noise source (xorshift32), uniform in [−1, 1).
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

fn db(dbfs: f32) -> f32 {
    10f32.powf(dbfs / 20.0)
}

fn to_pcm(x: impl Iterator<Item = f32>) -> Vec<i16> {
    x.map(|v| (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// White noise with an RMS of `dbfs` (a uniform variable's RMS is 1/√3).
fn white(seconds: f32, dbfs: f32, seed: u32) -> Vec<i16> {
    let mut noise = Noise(seed);
    let gain = db(dbfs) * 3f32.sqrt();
    to_pcm((0..(seconds * RATE) as usize).map(|_| noise.next() * gain))
}

fn sine(f: f32, i: usize) -> f32 {
    (2.0 * PI * f * i as f32 / RATE).sin()
}

/// DTMF digits 1–9, *, 0, # at −10 dBFS per tone, 100 ms on, 100 ms off (Q.24 timing), over
/// −65 dBFS noise: what a caller's phone sends in band when they press keys after the tone.
fn dtmf() -> Vec<i16> {
    const KEYS: [(f32, f32); 12] = [
        (697.0, 1209.0),
        (697.0, 1336.0),
        (697.0, 1477.0),
        (770.0, 1209.0),
        (770.0, 1336.0),
        (770.0, 1477.0),
        (852.0, 1209.0),
        (852.0, 1336.0),
        (852.0, 1477.0),
        (941.0, 1209.0),
        (941.0, 1336.0),
        (941.0, 1477.0),
    ];
    let mut noise = Noise(7);
    let mut out = Vec::new();
    for (low, high) in KEYS.iter().cycle().take(24) {
        for i in 0..800 {
            out.push(db(-10.0) * (sine(*low, i) + sine(*high, i)) + db(-65.0) * noise.next());
        }
        for _ in 0..800 {
            out.push(db(-65.0) * noise.next());
        }
    }
    to_pcm(out.into_iter())
}

/// Mains hum: 50 Hz at −20 dBFS with its odd harmonics (a ground loop), and a little hiss.
fn hum(seconds: f32) -> Vec<i16> {
    let mut noise = Noise(11);
    to_pcm((0..(seconds * RATE) as usize).map(|i| {
        db(-20.0) * sine(50.0, i)
            + db(-30.0) * sine(150.0, i)
            + db(-36.0) * sine(250.0, i)
            + db(-60.0) * noise.next()
    }))
}

/// Breathing into the mouthpiece: noise tilted towards the low frequencies (a one-pole
/// low-pass at about 600 Hz), swelling and fading every 2 s up to about −25 dBFS.
fn breathing(seconds: f32) -> Vec<i16> {
    let mut noise = Noise(23);
    let a = (-2.0 * PI * 600.0 / RATE).exp();
    let mut y = 0.0f32;
    to_pcm((0..(seconds * RATE) as usize).map(|i| {
        y = a * y + (1.0 - a) * noise.next();
        let envelope = (PI * i as f32 / (2.0 * RATE)).sin().abs();
        y * 8.0 * envelope * db(-20.0)
    }))
}

fn prompt(path: &str) -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("prompts")
        .join(path);
    decode_file(&path, &DecodeLimits::default()).expect("prompt decodes")
}

/// Speech from the prompts (espeak-ng), 150 ms apart: a caller's short message.
fn speech() -> Vec<i16> {
    let mut out = Vec::new();
    for p in [
        "en/you_have_called.wav",
        "en/is_in_a_meeting.wav",
        "en/and_will_be_back.wav",
        "en/tomorrow.wav",
    ] {
        out.extend(prompt(p));
        out.extend(std::iter::repeat_n(0, 1200));
    }
    out
}

fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
    a.iter()
        .zip(b.iter().chain(std::iter::repeat(&0)))
        .map(|(&x, &y)| x.saturating_add(y))
        .collect()
}

fn speech_ms(pcm: &[i16]) -> u128 {
    analyse(pcm).speech().as_millis()
}

#[test]
fn digital_silence_is_not_speech() {
    let summary = analyse(&vec![0; 8000 * 5]);
    assert_eq!(summary.speech_frames, 0);
    assert!(!summary.is_message());
    assert_eq!(summary.trim(40_000), 0..0);
}

#[test]
fn comfort_noise_is_not_speech() {
    // RFC 3389 comfort noise as phones generate it: −60 to −70 dBFS.
    assert_eq!(speech_ms(&white(5.0, -65.0, 1)), 0);
}

#[test]
fn white_noise_at_minus_50_dbfs_is_not_speech() {
    assert_eq!(speech_ms(&white(5.0, -50.0, 2)), 0);
}

#[test]
fn loud_white_noise_is_not_speech_either() {
    // Above the absolute floor; flat and aperiodic (a wind-blown mobile).
    let summary = analyse(&white(5.0, -20.0, 3));
    assert!(!summary.is_message(), "{:?}", summary.speech());
}

#[test]
fn dtmf_alone_is_not_speech() {
    let summary = analyse(&dtmf());
    assert!(!summary.is_message(), "{:?}", summary.speech());
    assert!(summary.speech() < Duration::from_millis(100));
}

#[test]
fn the_record_tone_echoed_back_is_not_speech() {
    let tone = prompt("common/beep.wav");
    assert_eq!(speech_ms(&tone), 0);
}

#[test]
fn mains_hum_is_not_speech() {
    assert_eq!(speech_ms(&hum(5.0)), 0);
}

#[test]
fn breathing_is_not_speech() {
    let summary = analyse(&breathing(6.0));
    assert!(!summary.is_message(), "{:?}", summary.speech());
}

#[test]
fn espeak_speech_is_speech() {
    let pcm = speech();
    let summary = analyse(&pcm);
    let total = pcm.len() as u128 / 8;
    let voiced = summary.speech().as_millis();
    assert!(summary.is_message());
    // Voiced frames are most of the words, not all: consonants and gaps are not voiced.
    assert!(
        voiced * 100 >= total * 35,
        "{voiced} ms voiced of {total} ms"
    );
}

#[test]
fn one_word_is_a_message_and_a_syllable_is_not() {
    // "Tomorrow": one word says who should call back when.
    assert!(analyse(&prompt("en/tomorrow.wav")).is_message());
    // "Oh" (290 ms, 80 ms of it voiced): a sound, not a message.
    assert!(!analyse(&prompt("en/oh.wav")).is_message());
}

#[test]
fn speech_in_noise_hum_and_dtmf_is_found_and_trimmed() {
    // 2 s of hum and comfort noise, the speech, 3 s of hum: the trim keeps the speech and
    // short margins only.
    let lead = 16_000;
    let talk = speech();
    let mut pcm = vec![0i16; lead];
    pcm.extend(&talk);
    pcm.extend(vec![0i16; 24_000]);
    let noise = mix(&hum(pcm.len() as f32 / RATE), &white(6.0, -65.0, 5));
    let pcm = mix(&pcm, &noise);
    let summary = analyse(&pcm);
    assert!(summary.is_message());
    let kept = summary.trim(pcm.len());
    let margin = samples(LEAD_MARGIN);
    assert!(
        kept.start + margin >= lead && kept.start < lead + 2400,
        "starts at {}",
        kept.start
    );
    let end = lead + talk.len();
    assert!(
        kept.end <= end + samples(TRAIL_MARGIN) && kept.end + 4000 > end,
        "ends at {} (speech ends by {end})",
        kept.end
    );
    assert!(analyse(&pcm[kept]).speech() >= summary.speech() - Duration::from_millis(40));
}

#[test]
fn pushing_in_pieces_equals_analysing_at_once() {
    let pcm = mix(&speech(), &white(5.0, -60.0, 9));
    let mut vad = Vad::new();
    for chunk in pcm.chunks(97) {
        vad.push(chunk);
    }
    assert_eq!(vad.summary(), analyse(&pcm));
}

#[test]
fn features_separate_the_signals() {
    // The figures behind the thresholds, printed with `--nocapture`.
    let signals: [(&str, Vec<i16>); 9] = [
        ("silence", vec![0; 16_000]),
        ("comfort", white(2.0, -65.0, 1)),
        ("white -50", white(2.0, -50.0, 2)),
        ("white -20", white(2.0, -20.0, 4)),
        ("dtmf", dtmf()),
        ("hum", hum(2.0)),
        ("breathing", breathing(4.0)),
        ("beep", prompt("common/beep.wav")),
        ("speech", speech()),
    ];
    for (name, pcm) in &signals {
        let f = frame_features(pcm);
        let loud: Vec<&Features> = f.iter().filter(|f| f.level_dbfs > -45.0).collect();
        let mean = |g: fn(&Features) -> f32| {
            loud.iter().map(|f| g(f)).sum::<f32>() / loud.len().max(1) as f32
        };
        println!(
            "{name:10} frames {:4} loud {:4} level {:6.1} tonality {:.2} flatness {:.2} periodicity {:.2} speech {} ms",
            f.len(),
            loud.len(),
            mean(|f| f.level_dbfs),
            mean(|f| f.tonality),
            mean(|f| f.flatness),
            mean(|f| f.periodicity),
            speech_ms(pcm),
        );
    }
    let beep = frame_features(&prompt("common/beep.wav"));
    assert!(beep[5].tonality > 0.9, "{:?}", beep[5]);
    // The tone is levelled to the speech target: about −21 dBFS.
    assert!((beep[5].level_dbfs + 21.0).abs() < 1.5, "{:?}", beep[5]);
}
