//! The one loudness every prompt is spoken at, and the arithmetic that measures and applies
//! it: `prompts/generate.sh` levels each fragment with sox to [`TARGET_RMS_DBFS`]; a name
//! spoken at run time (`runtime::spoken_name`) is levelled here the same way, so a stitched
//! greeting does not jump in loudness at the name.
//!
//! Pure functions on 8 kHz samples: no I/O.

/// RMS level of every prompt, in dBFS relative to a full-scale square wave (sox's "RMS lev dB";
/// a full-scale sine is −3 dBFS). −21 dBFS is about −18 dBm0 on a G.711 line: a normal
/// talker. `target_rms` in `prompts/generate.sh` must agree.
pub const TARGET_RMS_DBFS: f64 = -21.0;
/// Highest peak a levelled sound may reach: a gain that would pass it stops there instead.
pub const MAX_PEAK_DBFS: f64 = -0.5;
/// Leading and trailing samples below this magnitude are trimmed (sox `silence … 0.5%`).
const TRIM_THRESHOLD: i16 = 164;

/// RMS level of `pcm` in dBFS; −∞ for silence.
pub fn rms_dbfs(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / pcm.len() as f64).sqrt() / 32768.0;
    20.0 * rms.log10()
}

/// `pcm` without its leading and trailing near-silence, then brought to [`TARGET_RMS_DBFS`]
/// (never past [`MAX_PEAK_DBFS`]): what `generate.sh`'s `speak` does to a fragment.
pub fn trim_and_level(pcm: &[i16]) -> Vec<i16> {
    let loud = |s: &i16| s.unsigned_abs() >= TRIM_THRESHOLD.unsigned_abs();
    let (Some(start), Some(end)) = (pcm.iter().position(loud), pcm.iter().rposition(loud)) else {
        return Vec::new();
    };
    let pcm = &pcm[start..=end];
    let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    let peak_dbfs = 20.0 * (f64::from(peak) / 32768.0).log10();
    let gain_db = (TARGET_RMS_DBFS - rms_dbfs(pcm)).min(MAX_PEAK_DBFS - peak_dbfs);
    let gain = 10f64.powf(gain_db / 20.0);
    pcm.iter()
        .map(|&s| (f64::from(s) * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}
