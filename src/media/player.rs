//! The playback position in one prompt: a shared 8 kHz PCM buffer cut into ptime frames for the
//! RTP sender (RFC 3551 §4.5.14: one G.711 octet per sample, 160 per 20 ms).
//!
//! In the call flow: the IVR stitches a prompt (`decode::PromptCache::stitch_shared`) and
//! hands the [`Audio`] to the session, which owns one `Player` while it plays. Its pieces are
//! shared, never copied: a thousand callers hearing the same fragments share their allocations.

use crate::media::audio::Audio;

/// A prompt being played.
#[derive(Debug, Clone)]
pub struct Player {
    /// The whole prompt.
    pcm: Audio,
    /// Next sample to play.
    position: usize,
}

impl Player {
    /// Starts at the beginning of `pcm`.
    pub fn new(pcm: impl Into<Audio>) -> Self {
        Self {
            pcm: pcm.into(),
            position: 0,
        }
    }

    /// Fills `frame` with the next samples, zero-padding the last partial frame so every packet
    /// is a full ptime. Returns false, leaving `frame` untouched, when nothing is left.
    pub fn next_frame(&mut self, frame: &mut [i16]) -> bool {
        if self.position >= self.pcm.len() {
            return false;
        }
        let n = self.pcm.copy_at(self.position, frame);
        frame[n..].fill(0);
        self.position += n;
        true
    }

    /// Skips `samples` without playing them: frames the driver was too late to send still
    /// pass in the caller's time, so the prompt stays aligned with the RTP timestamps.
    pub fn skip(&mut self, samples: usize) {
        self.position = self.position.saturating_add(samples).min(self.pcm.len());
    }

    /// Whether every sample has been played.
    pub fn is_finished(&self) -> bool {
        self.position >= self.pcm.len()
    }

    /// Samples played so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Length of the prompt in samples.
    pub fn len(&self) -> usize {
        self.pcm.len()
    }

    /// Whether the prompt is empty (finished before it starts).
    pub fn is_empty(&self) -> bool {
        self.pcm.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_the_prompt_and_pad_the_tail() {
        let pcm: Vec<i16> = (1..=400).collect();
        let mut player = Player::new(pcm);
        let mut frame = [7i16; 160];
        assert!(player.next_frame(&mut frame));
        assert_eq!(frame[0], 1);
        assert!(player.next_frame(&mut frame));
        assert_eq!(frame[159], 320);
        assert!(player.next_frame(&mut frame));
        assert_eq!(frame[79], 400);
        assert!(frame[80..].iter().all(|&s| s == 0));
        assert!(player.is_finished());
        assert!(!player.next_frame(&mut frame));
        assert_eq!(frame[0], 321, "untouched when finished");
    }

    #[test]
    fn skip_stops_at_the_end() {
        let mut player = Player::new(vec![1i16; 500]);
        player.skip(320);
        assert_eq!(player.position(), 320);
        player.skip(10_000);
        assert!(player.is_finished());
        assert!(Player::new(Vec::new()).is_finished());
    }
}
