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
//! Sockets, pacing and the 20 ms timer live in the media driver; everything here takes bytes,
//! timestamps and seeds as parameters, so tests are deterministic.

pub mod dtmf;
pub mod g711;
pub mod rtp;
pub mod sdp;

#[cfg(test)]
mod tests;
