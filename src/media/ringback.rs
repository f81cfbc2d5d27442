//! The ringback tone a caller hears from the IVR while a transfer rings its destination
//! (`b2bua::transfer`): the caller's dialog is still ours, so the tone is our media, as a
//! PBX plays it, rather than a 180 the caller's phone already had its answer for.
//!
//! The European cadence (ETSI ES 201 970, CEPT; Denmark and Sweden use it): 425 Hz, 1 s on,
//! 4 s off, at −20 dBFS, a comfortable level below speech prompts.

/// Samples per second (G.711).
const RATE: usize = 8000;
/// Tone frequency in Hz.
const FREQUENCY: f64 = 425.0;
/// Peak amplitude: −20 dBFS.
const AMPLITUDE: f64 = 3277.0;

/// One cadence of ringback (1 s of tone, 4 s of silence), 8 kHz linear PCM; the driver plays
/// it again each time it ends.
pub fn cadence() -> Vec<i16> {
    let mut pcm = Vec::with_capacity(RATE * 5);
    for n in 0..RATE {
        let t = n as f64 / RATE as f64;
        // A 10 ms ramp at each end keeps the tone from clicking.
        let ramp = (n.min(RATE - 1 - n) as f64 / 80.0).min(1.0);
        let sample = AMPLITUDE * ramp * (2.0 * std::f64::consts::PI * FREQUENCY * t).sin();
        pcm.push(sample.round() as i16);
    }
    pcm.resize(RATE * 5, 0);
    pcm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_of_425_hz_then_four_of_silence_at_minus_20_dbfs() {
        let pcm = cadence();
        assert_eq!(pcm.len(), 5 * RATE);
        assert!(pcm[RATE..].iter().all(|&s| s == 0));
        let peak = pcm[..RATE].iter().map(|s| s.unsigned_abs()).max().unwrap();
        let dbfs = 20.0 * (f64::from(peak) / 32768.0).log10();
        assert!((-20.5..=-19.5).contains(&dbfs), "{dbfs} dBFS");
        // 425 cycles in a second: 850 sign changes, give or take the ramps.
        let crossings = pcm[..RATE]
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        assert!((840..=860).contains(&crossings), "{crossings}");
    }
}
