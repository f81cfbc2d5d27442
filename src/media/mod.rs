//! Media codecs, sans-I/O: what the voicemail IVR and the B2BUA's media anchoring use to speak
//! RTP without owning a socket or reading a clock.
//!
//! - [`sdp`]: SDP (RFC 8866) parse/print and RFC 3264 offer/answer — decides *which* codec,
//!   payload types and remote address a call's media uses.
//! - [`rtp`]: RTP packets (RFC 3550 §5.1), the sender's sequencing state and the receiver's
//!   sequence/loss/jitter statistics (RFC 3550 Appendix A).
//! - [`g711`]: G.711 µ-law/A-law, the only audio codecs we negotiate.
//! - [`dtmf`]: RFC 4733 telephone-events and SIP INFO DTMF bodies, turned into IVR digits.
//!
//! - [`decode`]: any audio file (WAV, FLAC, OGG/Vorbis, MP3) to 8 kHz mono PCM, the prompt
//!   cache that stitches rendered utterances, and WAV output for recorded messages.
//! - [`player`] and [`recorder`]: what one call plays (a PCM buffer cut into frames) and
//!   records (a timestamp-placed buffer with silence detection and a length limit).
//! - [`session`]: one call's RTP session, sans-I/O: 20 ms pacing from a monotonic start, the
//!   receive path (symmetric RTP, DTMF, recording) and the events the IVR sees.
//! - [`engine`]: the tokio driver, one task and one timer for every session.
//! - [`anchor_sdp`] and [`relay`]: media anchoring for calls the B2BUA bridges: the SDP
//!   rewrite that points each party at us, and where each relayed packet goes (symmetric RTP
//!   latching); [`anchor`] is their socket side, two ports and one task per call.
//! - `recv_batch`: one `recvmmsg` reads what a socket holds, for [`engine`] and [`anchor`].
//!
//! Sockets, pacing and the 20 ms timer live in [`engine`]; everything else takes bytes,
//! timestamps and seeds as parameters, so tests are deterministic.

pub mod anchor;
pub mod anchor_sdp;
pub mod audio;
pub mod decode;
pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod player;
mod priority;
pub mod recorder;
mod recv_batch;
pub mod relay;
pub mod ringback;
pub mod rtp;
pub mod sdp;
mod send_batch;
pub mod session;
pub mod vad;

#[cfg(test)]
mod tests;
