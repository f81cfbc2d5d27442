//! ITU-T G.711 companding: µ-law (PCMU, static RTP payload type 0) and A-law (PCMA, payload
//! type 8), RFC 3551 §4.5.14.
//!
//! In the call flow this sits between the RTP payload and the 16-bit linear PCM the IVR plays
//! (prompts) and records (voicemail): every 20 ms packet carries 160 G.711 octets, one per
//! 8 kHz sample.
//!
//! Both laws are *segmented* (piecewise-linear) approximations of a logarithm: a code is a sign
//! bit, a 3-bit segment number (the position of the magnitude's highest set bit) and a 4-bit
//! step within that segment. Encoding computes the segment with `leading_zeros` (one
//! instruction, no search loop) so the hot path of the RTP pacer stays branch-light; decoding is
//! a lookup in a 256-entry table built at compile time by a `const fn`.
//!
//! The decoder returns the *midpoint* of each quantisation interval (G.711 Table 1/2), so the
//! round-trip error is at most half a step of the segment, except where µ-law clips
//! (|x| > 32635), which it must by design.

/// µ-law bias added before finding the segment (G.711 µ-law adds 33 on the 14-bit scale; that
/// is 132 = 33 · 4 on our 16-bit scale). It makes the segment boundaries powers of two.
const ULAW_BIAS: i32 = 0x84;

/// Largest magnitude µ-law can represent before the bias would overflow segment 7.
pub const ULAW_CLIP: i32 = 32635;

/// Code a sender emits for silence in µ-law (+0).
pub const ULAW_SILENCE: u8 = 0xFF;

/// Code a sender emits for silence in A-law (+8 on the 16-bit scale; A-law has no zero code).
pub const ALAW_SILENCE: u8 = 0xD5;

/// µ-law decode table: index is the code octet as received on the wire.
static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_table();

/// A-law decode table: index is the code octet as received on the wire.
static ALAW_TO_LINEAR: [i16; 256] = build_alaw_table();

/// Which G.711 law a stream uses. The SDP answer picks one (see `sdp`), and the RTP payload
/// type tells them apart on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// µ-law, "PCMU" in SDP; the North American/Japanese law and the payload type most
    /// softphones list first.
    Pcmu,
    /// A-law, "PCMA" in SDP; the European law, so Danish and Swedish trunks prefer it.
    Pcma,
}

impl G711 {
    /// Static RTP payload type from RFC 3551 Table 4.
    pub const fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The law for a static payload type, if it is one of ours.
    pub const fn from_payload_type(payload_type: u8) -> Option<Self> {
        match payload_type {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// Encoding name as written in `a=rtpmap` (RFC 3551 §6).
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// The law whose encoding name this is; SDP encoding names compare case-insensitively
    /// (RFC 4855 §3).
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Self::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Self::Pcma)
        } else {
            None
        }
    }

    /// The code a comfort-silence frame is filled with.
    pub const fn silence(self) -> u8 {
        match self {
            Self::Pcmu => ULAW_SILENCE,
            Self::Pcma => ALAW_SILENCE,
        }
    }

    /// Encodes one sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => linear_to_ulaw(sample),
            Self::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decodes one code octet.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_to_linear(code),
            Self::Pcma => alaw_to_linear(code),
        }
    }

    /// Appends the encoding of `samples` to `out` (one octet per sample), so a caller can reuse
    /// one buffer per packet instead of allocating.
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.reserve(samples.len());
        match self {
            Self::Pcmu => out.extend(samples.iter().map(|&s| linear_to_ulaw(s))),
            Self::Pcma => out.extend(samples.iter().map(|&s| linear_to_alaw(s))),
        }
    }

    /// Appends the decoding of `codes` to `out` (one sample per octet).
    pub fn decode_into(self, codes: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Self::Pcmu => &ULAW_TO_LINEAR,
            Self::Pcma => &ALAW_TO_LINEAR,
        };
        out.reserve(codes.len());
        out.extend(codes.iter().map(|&c| table[usize::from(c)]));
    }

    /// Encodes `samples` into a new buffer.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        let mut out = Vec::with_capacity(samples.len());
        self.encode_into(samples, &mut out);
        out
    }

    /// Decodes `codes` into a new buffer.
    pub fn decode(self, codes: &[u8]) -> Vec<i16> {
        let mut out = Vec::with_capacity(codes.len());
        self.decode_into(codes, &mut out);
        out
    }
}

/// Encodes a 16-bit linear sample as µ-law.
///
/// G.711 µ-law: bias the magnitude by 33 (14-bit scale), take the segment as the position of
/// the highest set bit above bit 5, keep the next four bits, and transmit the one's complement
/// with the sign in bit 7 (1 = positive).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let value = i32::from(sample);
    let (sign, magnitude) = if value < 0 {
        (0x80, -value)
    } else {
        (0x00, value)
    };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // `biased` is in 132..=32767, so its highest set bit is bit 7..=14: segment 0..=7.
    let segment = 31 - biased.leading_zeros() as i32 - 7;
    let mantissa = (biased >> (segment + 3)) & 0x0F;
    // The casts are lossless: every part fits in its bit field.
    !((sign | (segment << 4) | mantissa) as u8)
}

/// Decodes a µ-law code to a 16-bit linear sample (table lookup).
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Encodes a 16-bit linear sample as A-law.
///
/// G.711 A-law works on 13 bits: segments 0 and 1 share one step size (the linear part of the
/// curve), segment `s ≥ 2` has twice the step of `s - 1`. Even bits are inverted on the wire
/// (XOR 0x55) so that idle channels carry transitions.
pub fn linear_to_alaw(sample: i16) -> u8 {
    // Arithmetic shift to the 13-bit scale; for negatives G.711 codes the magnitude of
    // `-x - 1` (one's complement), which keeps the code table symmetric.
    let value = i32::from(sample) >> 3;
    let (mask, magnitude) = if value >= 0 {
        (0xD5, value)
    } else {
        (0x55, -value - 1)
    };
    // `magnitude` is 0..=4095 (12 bits). Segment = highest set bit - 4, floored at 0.
    let highest = 31 - (magnitude | 1).leading_zeros() as i32;
    let segment = (highest - 4).max(0);
    let mantissa = if segment == 0 {
        (magnitude >> 1) & 0x0F
    } else {
        (magnitude >> segment) & 0x0F
    };
    (((segment << 4) | mantissa) ^ mask) as u8
}

/// Decodes an A-law code to a 16-bit linear sample (table lookup).
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// The G.711 µ-law decoder, as a `const fn` so the table is built by the compiler.
const fn decode_ulaw(code: u8) -> i16 {
    let code = !code;
    let segment = (code >> 4) & 0x07;
    let mantissa = (code & 0x0F) as i32;
    // Midpoint of the interval: ((2·m + 33) << segment) on the 14-bit scale, unbiased.
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    if code & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// The G.711 A-law decoder, as a `const fn` so the table is built by the compiler.
const fn decode_alaw(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = ((code & 0x70) >> 4) as i32;
    let mut magnitude = ((code & 0x0F) as i32) << 4;
    // Add half a step (8) to land on the interval's midpoint, and the implicit leading one of
    // segments ≥ 1 (0x100).
    magnitude += if segment == 0 { 8 } else { 0x108 };
    if segment > 1 {
        magnitude <<= segment - 1;
    }
    if code & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = decode_ulaw(code as u8);
        code += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = decode_alaw(code as u8);
        code += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Half the quantisation step of the segment a code belongs to, on the 16-bit scale.
    fn ulaw_half_step(code: u8) -> i32 {
        let segment = i32::from((!code >> 4) & 0x07);
        4 << segment
    }

    fn alaw_half_step(code: u8) -> i32 {
        let segment = i32::from(((code ^ 0x55) >> 4) & 0x07);
        if segment <= 1 {
            8
        } else {
            8 << (segment - 1)
        }
    }

    #[test]
    fn ulaw_known_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        // First step of segment 1: (33 << 1) - 33 on the 14-bit scale, times 4.
        assert_eq!(ulaw_to_linear(0xEF), 132);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(ulaw_to_linear(0xCE), 988);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(alaw_to_linear(0xFA), 1008);
    }

    #[test]
    fn ulaw_round_trip_within_quantisation_for_every_sample() {
        for sample in i16::MIN..=i16::MAX {
            let code = linear_to_ulaw(sample);
            let decoded = i32::from(ulaw_to_linear(code));
            let value = i32::from(sample);
            if value.abs() > ULAW_CLIP {
                assert_eq!(decoded, 32124 * value.signum(), "clipped sample {sample}");
            } else {
                let error = (value - decoded).abs();
                assert!(
                    error <= ulaw_half_step(code),
                    "sample {sample} → {code:#04x} → {decoded}: error {error}"
                );
            }
            // The sign survives except for the two zero codes.
            if decoded != 0 {
                assert_eq!(decoded.signum(), value.signum(), "sample {sample}");
            }
        }
    }

    #[test]
    fn alaw_round_trip_within_quantisation_for_every_sample() {
        for sample in i16::MIN..=i16::MAX {
            let code = linear_to_alaw(sample);
            let decoded = i32::from(alaw_to_linear(code));
            let error = (i32::from(sample) - decoded).abs();
            assert!(
                error <= alaw_half_step(code),
                "sample {sample} → {code:#04x} → {decoded}: error {error}"
            );
        }
    }

    #[test]
    fn every_code_is_a_fixed_point() {
        for code in 0..=255u8 {
            for law in [G711::Pcmu, G711::Pcma] {
                let linear = law.decode_sample(code);
                assert_eq!(
                    law.decode_sample(law.encode_sample(linear)),
                    linear,
                    "{law:?} code {code:#04x}"
                );
            }
            // Apart from µ-law's negative zero (0x7F decodes to 0, which encodes as 0xFF), the
            // code itself comes back.
            if code != 0x7F {
                assert_eq!(linear_to_ulaw(ulaw_to_linear(code)), code);
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(code)), code);
        }
    }

    #[test]
    fn decode_tables_are_monotonic() {
        // Positive µ-law codes run 0xFF (0) down to 0x80 (max); A-law positives sorted by the
        // de-inverted code. Monotonicity catches a swapped segment or mantissa bit.
        let ulaw: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_to_linear).collect();
        assert!(ulaw.windows(2).all(|w| w[0] < w[1]), "{ulaw:?}");
        let alaw: Vec<i16> = (0x80..=0xFFu8).map(|c| alaw_to_linear(c ^ 0x55)).collect();
        assert!(alaw.windows(2).all(|w| w[0] < w[1]), "{alaw:?}");
    }

    #[test]
    fn buffer_helpers_and_payload_types() {
        let samples = [0i16, 1000, -1000, i16::MAX, i16::MIN];
        let pcmu = G711::Pcmu.encode(&samples);
        assert_eq!(pcmu, vec![0xFF, 0xCE, 0x4E, 0x80, 0x00]);
        assert_eq!(G711::Pcmu.decode(&pcmu), vec![0, 988, -988, 32124, -32124]);
        let pcma = G711::Pcma.encode(&samples);
        assert_eq!(pcma, vec![0xD5, 0xFA, 0x7A, 0xAA, 0x2A]);
        assert_eq!(
            G711::Pcma.decode(&pcma),
            vec![8, 1008, -1008, 32256, -32256]
        );
        assert_eq!(G711::from_payload_type(0), Some(G711::Pcmu));
        assert_eq!(G711::from_payload_type(8), Some(G711::Pcma));
        assert_eq!(G711::from_payload_type(18), None);
        assert_eq!(G711::from_encoding_name("pcma"), Some(G711::Pcma));
        assert_eq!(G711::Pcma.silence(), 0xD5);
    }
}
