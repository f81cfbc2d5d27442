//! A prompt as the session plays it: shared pieces, not one buffer per call.
//!
//! A stitched greeting ("4 5 7 0 1 0 0 0 1 is not available ... after the tone") is a dozen
//! fragments from the prompt cache with silences between them. Copied into one buffer it cost
//! ~120 KB of 16-bit PCM per call for as long as it played: at 300 simultaneous callers it was
//! 77 % of the server's heap peak (heaptrack, benches/README.md "Sixth session"). Here a prompt
//! is the list of the cache's own `Arc<[i16]>` fragments and silence lengths, so a thousand
//! callers hearing different numbers spelled out still share the same ten digit recordings and
//! each holds a few hundred bytes of list.

use std::sync::Arc;

/// One piece of a prompt.
#[derive(Debug, Clone)]
enum Piece {
    /// 8 kHz PCM shared with the prompt cache (or a recording held by the IVR).
    Pcm(Arc<[i16]>),
    /// Samples of silence.
    Silence(usize),
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Pcm(pcm) => pcm.len(),
            Piece::Silence(n) => *n,
        }
    }
}

/// 8 kHz PCM audio made of shared pieces; cloning it copies no samples.
#[derive(Debug, Clone, Default)]
pub struct Audio {
    pieces: Vec<Piece>,
    len: usize,
}

impl Audio {
    /// No audio.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends shared PCM (empty pieces are left out).
    pub fn push_pcm(&mut self, pcm: Arc<[i16]>) {
        if !pcm.is_empty() {
            self.len += pcm.len();
            self.pieces.push(Piece::Pcm(pcm));
        }
    }

    /// Appends `samples` of silence.
    pub fn push_silence(&mut self, samples: usize) {
        if samples > 0 {
            self.len += samples;
            self.pieces.push(Piece::Silence(samples));
        }
    }

    /// Length in samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no sample at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the samples from `position` on into `out`, as many as fit; returns how many.
    pub fn copy_at(&self, position: usize, out: &mut [i16]) -> usize {
        let mut start = 0;
        let mut written = 0;
        for piece in &self.pieces {
            if written == out.len() {
                break;
            }
            let end = start + piece.len();
            let from = position + written;
            if from < end {
                let offset = from - start;
                let n = (end - from).min(out.len() - written);
                let dest = &mut out[written..written + n];
                match piece {
                    Piece::Pcm(pcm) => dest.copy_from_slice(&pcm[offset..offset + n]),
                    Piece::Silence(_) => dest.fill(0),
                }
                written += n;
            }
            start = end;
        }
        written
    }

    /// All the samples in one buffer (tests, and callers that need a contiguous copy).
    pub fn to_vec(&self) -> Vec<i16> {
        let mut out = vec![0; self.len];
        let n = self.copy_at(0, &mut out);
        out.truncate(n);
        out
    }
}

impl From<Arc<[i16]>> for Audio {
    fn from(pcm: Arc<[i16]>) -> Self {
        let mut audio = Audio::new();
        audio.push_pcm(pcm);
        audio
    }
}

impl From<Vec<i16>> for Audio {
    fn from(pcm: Vec<i16>) -> Self {
        Audio::from(Arc::<[i16]>::from(pcm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces() -> Audio {
        let mut audio = Audio::new();
        audio.push_pcm(vec![1i16, 2, 3].into());
        audio.push_silence(2);
        audio.push_pcm(Vec::new().into());
        audio.push_silence(0);
        audio.push_pcm(vec![4i16, 5].into());
        audio
    }

    #[test]
    fn pieces_read_as_one_buffer_from_any_position() {
        let audio = pieces();
        assert_eq!(audio.len(), 7);
        assert_eq!(audio.to_vec(), [1, 2, 3, 0, 0, 4, 5]);
        let whole = audio.to_vec();
        for position in 0..=8 {
            for size in 0..=8 {
                let mut out = vec![9i16; size];
                let n = audio.copy_at(position, &mut out);
                let expected = whole.get(position..).unwrap_or_default();
                let expected = &expected[..expected.len().min(size)];
                assert_eq!(n, expected.len(), "at {position}, {size}");
                assert_eq!(&out[..n], expected, "at {position}, {size}");
                assert!(out[n..].iter().all(|&s| s == 9), "the rest untouched");
            }
        }
    }

    #[test]
    fn a_shared_piece_is_not_copied() {
        let digit: Arc<[i16]> = vec![7i16; 4000].into();
        let mut audio = Audio::new();
        audio.push_pcm(digit.clone());
        audio.push_pcm(digit.clone());
        let again = audio.clone();
        assert_eq!(again.len(), 8000);
        assert_eq!(Arc::strong_count(&digit), 5);
    }
}
