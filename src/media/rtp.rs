//! RTP (RFC 3550): the packet format of §5.1, the sender's sequencing state, and the receiver's
//! sequence tracking (Appendix A.1), loss accounting (§6.4.1, A.3) and interarrival jitter (A.8).
//!
//! In the call flow: the media driver hands every datagram from the RTP socket to
//! [`RtpPacket::parse`], feeds the result to an [`RtpReceiver`] (statistics, duplicate and stale
//! packet detection) and passes the payload to G.711 or the DTMF detector; the IVR's player
//! wraps each 20 ms frame with an [`RtpSender`].
//!
//! Why not the `rtp-rs` crate named on the design card: it covers only the header reader and
//! builder (about the size of [`RtpPacket::parse`] and [`RtpPacket::write`] here), has its own
//! error enum we would have to wrap to say *which* length was wrong, and none of the sequencing,
//! loss or jitter state, which is most of this module. Owning ~150 lines of parsing costs less
//! than a dependency plus an adapter; the no-panic property is checked by the seeded random
//! test in `media::tests`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;

/// The only RTP version in use (RFC 3550 §5.1: "This specification defines the version to be
/// two (2)").
pub const RTP_VERSION: u8 = 2;

/// Length of the fixed header, before CSRCs and the extension.
pub const FIXED_HEADER_LEN: usize = 12;

/// The CC field is four bits wide.
pub const MAX_CSRC: usize = 15;

/// Samples in one 20 ms packet at 8 kHz: the timestamp step for G.711 and our ptime.
pub const SAMPLES_PER_20MS_AT_8KHZ: u32 = 160;

/// Why a datagram is not an RTP packet. Each variant carries the numbers that disagreed, so a
/// log line tells a broken peer from a stray packet on our port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer than the 12 bytes of the fixed header.
    #[error("RTP packet of {len} bytes is shorter than the 12-byte fixed header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// The V field is not 2 (RFC 1889's predecessor used 1; STUN or DTLS on the port also land
    /// here).
    #[error("RTP version {version} is not 2")]
    UnsupportedVersion {
        /// The two-bit V field.
        version: u8,
    },
    /// The CSRC list announced by CC runs past the end of the datagram.
    #[error("CSRC count {count} needs {needed} header bytes but the packet has {len}")]
    CsrcTruncated {
        /// The CC field.
        count: u8,
        /// Bytes the fixed header plus CSRC list need.
        needed: usize,
        /// Datagram length.
        len: usize,
    },
    /// The X bit is set but the extension header or its announced data is cut short.
    #[error("header extension needs {needed} bytes but the packet has {len}")]
    ExtensionTruncated {
        /// Bytes needed up to the end of the extension.
        needed: usize,
        /// Datagram length.
        len: usize,
    },
    /// The P bit is set but the last octet's padding count is zero or longer than what follows
    /// the header (RFC 3550 §5.1: the count includes itself, so it is at least 1).
    #[error("padding count {count} is invalid for {available} bytes after the header")]
    InvalidPadding {
        /// The last octet of the packet.
        count: u8,
        /// Bytes after the header (payload plus padding).
        available: usize,
    },
}

/// Why a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpBuildError {
    /// More than 15 CSRCs do not fit the 4-bit CC field.
    #[error("{count} CSRCs do not fit the 4-bit CC field")]
    TooManyCsrcs {
        /// CSRCs supplied.
        count: usize,
    },
    /// Payload types are 7 bits.
    #[error("payload type {payload_type} does not fit 7 bits")]
    InvalidPayloadType {
        /// The value supplied.
        payload_type: u8,
    },
    /// Extension data is counted in 32-bit words (RFC 3550 §5.3.1), at most 65535 of them.
    #[error("extension data of {len} bytes is not a whole number of 32-bit words (max 65535)")]
    InvalidExtensionLength {
        /// Bytes supplied.
        len: usize,
    },
}

/// A header extension (RFC 3550 §5.3.1): a profile-defined 16-bit identifier and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// "defined by profile" field, e.g. 0xBEDE for RFC 8285 one-byte headers.
    pub profile: u16,
    /// The extension data, a whole number of 32-bit words.
    pub data: &'a [u8],
}

/// An RTP packet, borrowing its payload from the datagram so the receive path does not copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// M bit: for audio (RFC 3551 §4.1), the first packet of a talkspurt; for RFC 4733 events,
    /// the first packet of an event.
    pub marker: bool,
    /// PT: 0 PCMU, 8 PCMA, dynamic 96..127 for telephone-event.
    pub payload_type: u8,
    /// Increments by one per packet, wrapping; lets the receiver see loss and reordering.
    pub sequence_number: u16,
    /// Sampling instant of the first octet, in clock-rate units (8000 Hz for G.711).
    pub timestamp: u32,
    /// Synchronisation source: identifies the stream; a change means a new source.
    pub ssrc: u32,
    /// Contributing sources, as a mixer lists them (at most 15).
    pub csrc: Vec<u32>,
    /// Header extension when the X bit is set.
    pub extension: Option<RtpExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Padding octets after the payload (including the count octet); 0 means the P bit is
    /// clear. When building, this many octets are appended.
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram per RFC 3550 §5.1. Never panics; every length is checked before it
    /// is used.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, RtpError> {
        let len = datagram.len();
        let [b0, b1, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3, ..] = *datagram else {
            return Err(RtpError::TooShort { len });
        };
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::UnsupportedVersion { version });
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0F;
        let mut offset = FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
        let csrc_bytes = datagram
            .get(FIXED_HEADER_LEN..offset)
            .ok_or(RtpError::CsrcTruncated {
                count: csrc_count,
                needed: offset,
                len,
            })?;
        let csrc = csrc_bytes
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .collect();

        let extension = if has_extension {
            let truncated = |needed| RtpError::ExtensionTruncated { needed, len };
            let head = datagram
                .get(offset..offset + 4)
                .ok_or(truncated(offset + 4))?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let start = offset + 4;
            let end = start + 4 * words;
            let data = datagram.get(start..end).ok_or(truncated(end))?;
            offset = end;
            Some(RtpExtension { profile, data })
        } else {
            None
        };

        let body = datagram.get(offset..).unwrap_or_default();
        let (payload, padding) = if has_padding {
            let count = body.last().copied().unwrap_or(0);
            if count == 0 || usize::from(count) > body.len() {
                return Err(RtpError::InvalidPadding {
                    count,
                    available: body.len(),
                });
            }
            (&body[..body.len() - usize::from(count)], count)
        } else {
            (body, 0)
        };

        Ok(Self {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence_number: u16::from_be_bytes([s0, s1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
            csrc,
            extension,
            payload,
            padding,
        })
    }

    /// Length of the packet on the wire.
    pub fn wire_len(&self) -> usize {
        FIXED_HEADER_LEN
            + 4 * self.csrc.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// Appends the packet to `out` (RFC 3550 §5.1 layout). Padding octets are zero except the
    /// last, which holds the count.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtpBuildError> {
        if self.csrc.len() > MAX_CSRC {
            return Err(RtpBuildError::TooManyCsrcs {
                count: self.csrc.len(),
            });
        }
        if self.payload_type > 0x7F {
            return Err(RtpBuildError::InvalidPayloadType {
                payload_type: self.payload_type,
            });
        }
        let extension_words = match self.extension {
            Some(e) if e.data.len() % 4 != 0 || e.data.len() / 4 > usize::from(u16::MAX) => {
                return Err(RtpBuildError::InvalidExtensionLength { len: e.data.len() })
            }
            // Checked just above: at most 65535 words.
            Some(e) => (e.data.len() / 4) as u16,
            None => 0,
        };
        out.reserve(self.wire_len());
        // Checked above: CC fits four bits.
        let mut b0 = (RTP_VERSION << 6) | self.csrc.len() as u8;
        if self.padding > 0 {
            b0 |= 0x20;
        }
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        out.push(b0);
        out.push((u8::from(self.marker) << 7) | self.payload_type);
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for csrc in &self.csrc {
            out.extend_from_slice(&csrc.to_be_bytes());
        }
        if let Some(extension) = self.extension {
            out.extend_from_slice(&extension.profile.to_be_bytes());
            out.extend_from_slice(&extension_words.to_be_bytes());
            out.extend_from_slice(extension.data);
        }
        out.extend_from_slice(self.payload);
        if self.padding > 0 {
            out.extend(std::iter::repeat_n(0, usize::from(self.padding) - 1));
            out.push(self.padding);
        }
        Ok(())
    }

    /// The packet as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RtpBuildError> {
        let mut out = Vec::with_capacity(self.wire_len());
        self.write(&mut out)?;
        Ok(out)
    }
}

/// The sending side of one RTP stream: SSRC, next sequence number and media timestamp.
///
/// RFC 3550 §5.1: the initial sequence number and timestamp "SHOULD be random (unpredictable)"
/// to make known-plaintext attacks on encryption harder, and the SSRC must be random to avoid
/// collisions. The caller passes the seed, so the core stays deterministic in tests while the
/// driver seeds from the OS.
#[derive(Debug, Clone)]
pub struct RtpSender {
    /// Our SSRC for the stream's lifetime.
    ssrc: u32,
    /// Payload type of media packets (0 or 8).
    payload_type: u8,
    /// Sequence number of the next packet.
    sequence_number: u16,
    /// Media timestamp of the next frame.
    timestamp: u32,
    /// Timestamp step per frame: 160 for 20 ms at 8 kHz.
    samples_per_frame: u32,
    /// Set the M bit on the next media packet: the first packet of a talkspurt.
    talkspurt_start: bool,
}

impl RtpSender {
    /// A stream with random SSRC, initial sequence number and timestamp drawn from `seed`,
    /// sending 20 ms frames at 8 kHz.
    pub fn new(seed: u64, payload_type: u8) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Self::with_initial(
            rng.gen(),
            payload_type,
            rng.gen(),
            rng.gen(),
            SAMPLES_PER_20MS_AT_8KHZ,
        )
    }

    /// A stream with explicit initial values, for a driver that continues an existing stream
    /// (e.g. after a re-INVITE keeps the SSRC) or other frame sizes.
    pub fn with_initial(
        ssrc: u32,
        payload_type: u8,
        sequence_number: u16,
        timestamp: u32,
        samples_per_frame: u32,
    ) -> Self {
        Self {
            ssrc,
            payload_type: payload_type & 0x7F,
            sequence_number,
            timestamp,
            samples_per_frame,
            talkspurt_start: true,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence_number(&self) -> u16 {
        self.sequence_number
    }

    /// Media timestamp of the next frame; RFC 4733 events take their timestamp from here.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Changes the media payload type (after a re-INVITE renegotiates PCMU ↔ PCMA).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type & 0x7F;
    }

    /// The next frame of media: M set if it starts a talkspurt, then sequence +1 (wrapping) and
    /// timestamp + one frame.
    pub fn packet<'p>(&mut self, payload: &'p [u8]) -> RtpPacket<'p> {
        let packet = RtpPacket {
            marker: std::mem::take(&mut self.talkspurt_start),
            payload_type: self.payload_type,
            sequence_number: self.sequence_number,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            csrc: Vec::new(),
            extension: None,
            payload,
            padding: 0,
        };
        self.sequence_number = self.sequence_number.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(self.samples_per_frame);
        packet
    }

    /// `frames` frames of silence were not sent (silence suppression, or the player had
    /// nothing): the timestamp keeps running with the sampling clock but the sequence number
    /// does not (RFC 3550 §5.1), and the next packet starts a talkspurt (RFC 3551 §4.1).
    pub fn skip_frames(&mut self, frames: u32) {
        if frames > 0 {
            self.timestamp = self
                .timestamp
                .wrapping_add(frames.wrapping_mul(self.samples_per_frame));
            self.talkspurt_start = true;
        }
    }

    /// Marks the next media packet as the start of a talkspurt, e.g. when a new prompt begins.
    pub fn start_talkspurt(&mut self) {
        self.talkspurt_start = true;
    }

    /// A packet with its own payload type, timestamp and marker that shares the stream's SSRC
    /// and sequence space, as RFC 4733 events do (all packets of one event carry the event's
    /// start timestamp). Only the sequence number advances.
    pub fn event_packet<'p>(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload: &'p [u8],
    ) -> RtpPacket<'p> {
        let packet = RtpPacket {
            marker,
            payload_type: payload_type & 0x7F,
            sequence_number: self.sequence_number,
            timestamp,
            ssrc: self.ssrc,
            csrc: Vec::new(),
            extension: None,
            payload,
            padding: 0,
        };
        self.sequence_number = self.sequence_number.wrapping_add(1);
        packet
    }

    /// Advances the media timestamp by `samples` without sending (e.g. after an RFC 4733 event
    /// replaced the audio for its duration).
    pub fn advance_timestamp(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }
}

/// RFC 3550 A.1: "a source is declared valid only after MIN_SEQUENTIAL packets have been
/// received in sequence".
const MIN_SEQUENTIAL: u16 = 2;
/// RFC 3550 A.1: the largest forward jump still taken as loss rather than a restart.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: the largest backward step still taken as reordering.
const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1 `RTP_SEQ_MOD`.
const SEQ_MOD: u32 = 1 << 16;

/// What the receiver made of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reception {
    /// In sequence (possibly after a gap): play it. `extended_seq` counts wraps (A.1 `cycles`).
    InOrder {
        /// Sequence number extended with the wrap count.
        extended_seq: u64,
    },
    /// Older than the highest seen (reordered or duplicated); counted but usually too late to
    /// play.
    Late {
        /// Its extended sequence number, in the cycle it belongs to.
        extended_seq: u64,
    },
    /// A new source is on probation until MIN_SEQUENTIAL packets arrive in sequence (A.1).
    Probation,
    /// A large jump: the sender may have restarted. One more packet in sequence after it
    /// re-synchronises (A.1 `bad_seq`).
    BadSequence,
}

/// Per-source receive state: RFC 3550 Appendix A.1 (`source` struct, `init_seq`,
/// `update_seq`), A.3 (loss), A.8 (jitter).
#[derive(Debug, Clone, Default)]
pub struct RtpReceiver {
    /// SSRC being tracked; a different SSRC restarts the state (a new source, §8).
    ssrc: Option<u32>,
    /// Highest sequence number seen (A.1 `max_seq`).
    max_seq: u16,
    /// Shifted count of wraps (A.1 `cycles`, in units of 2^16).
    cycles: u64,
    /// First sequence number after validation (A.1 `base_seq`).
    base_seq: u16,
    /// Sequence number after a large jump that would confirm a restart (A.1 `bad_seq`).
    bad_seq: Option<u16>,
    /// Packets still needed in sequence before the source is valid (A.1 `probation`).
    probation: u16,
    /// Packets received since validation (A.1 `received`).
    received: u64,
    /// `expected` at the last report interval (A.3 `expected_prior`).
    expected_prior: u64,
    /// `received` at the last report interval (A.3 `received_prior`).
    received_prior: u64,
    /// Relative transit time of the previous packet (A.8 `transit`), once one was seen.
    transit: Option<u32>,
    /// Jitter estimate scaled by 16 (A.8's integer form), in timestamp units.
    jitter_q4: u64,
    /// RFC 4733 events reuse one timestamp for a whole event, which would read as jitter; their
    /// payload type is excluded from the estimate.
    event_payload_type: Option<u8>,
    /// Times the SSRC changed mid-call (re-INVITE, transfer, a relaying SBC).
    ssrc_changes: u32,
    /// Times the same source re-synchronised after a large sequence jump (A.1: a sender that
    /// restarted without a new SSRC). Whatever tracks sequence numbers above this layer (the
    /// DTMF detector's late-packet check, the recorder's timestamp base) must start over too.
    resyncs: u32,
}

impl RtpReceiver {
    /// A receiver that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Excludes the negotiated telephone-event payload type from the jitter estimate.
    pub fn set_event_payload_type(&mut self, payload_type: Option<u8>) {
        self.event_payload_type = payload_type;
    }

    /// Accounts for one packet. `arrival` is the arrival time converted to the stream's
    /// timestamp units (e.g. 8000 per second), which the driver computes from its clock.
    pub fn receive(&mut self, packet: &RtpPacket<'_>, arrival: u32) -> Reception {
        if self.ssrc != Some(packet.ssrc) {
            if self.ssrc.is_some() {
                self.ssrc_changes = self.ssrc_changes.saturating_add(1);
            }
            let (event_payload_type, ssrc_changes) = (self.event_payload_type, self.ssrc_changes);
            *self = Self {
                ssrc: Some(packet.ssrc),
                event_payload_type,
                ssrc_changes,
                ..Self::default()
            };
            // A.1: "init_seq(s, seq); s->max_seq = seq - 1; s->probation = MIN_SEQUENTIAL;"
            self.init_seq(packet.sequence_number);
            self.max_seq = packet.sequence_number.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let reception = self.update_seq(packet.sequence_number);
        if Some(packet.payload_type) != self.event_payload_type
            && matches!(
                reception,
                Reception::InOrder { .. } | Reception::Late { .. }
            )
        {
            self.update_jitter(packet.timestamp, arrival);
        }
        reception
    }

    /// A.1 `init_seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq;
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// A.1 `update_seq`, returning what the packet is rather than 0/1.
    fn update_seq(&mut self, seq: u16) -> Reception {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return Reception::InOrder {
                        extended_seq: self.extended_max(),
                    };
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return Reception::Probation;
        }
        if udelta == 0 {
            // A duplicate of the highest packet: A.1 counts it as received.
            self.received += 1;
            return Reception::Late {
                extended_seq: self.extended_max(),
            };
        }
        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                // Sequence number wrapped: count another 64K cycle.
                self.cycles += u64::from(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            // The sequence number made a very large jump.
            if Some(seq) == self.bad_seq {
                // Two sequential packets: assume the other side restarted without telling us,
                // so just re-sync (i.e. pretend this was the first packet).
                self.init_seq(seq);
                self.resyncs += 1;
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                return Reception::BadSequence;
            }
        } else {
            // Duplicate or reordered packet.
            self.received += 1;
            let back = u64::from(self.max_seq.wrapping_sub(seq));
            return Reception::Late {
                extended_seq: self.extended_max().saturating_sub(back),
            };
        }
        self.received += 1;
        Reception::InOrder {
            extended_seq: self.extended_max(),
        }
    }

    /// A.8: `D(i-1,i) = (Rj - Ri) - (Sj - Si)`, `J += (|D| - J) / 16`, in the integer form
    /// that keeps J scaled by 16.
    fn update_jitter(&mut self, timestamp: u32, arrival: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(previous) = self.transit {
            // Wrapping difference as a signed distance, then its magnitude.
            let d = transit.wrapping_sub(previous) as i32;
            let d = u64::from(d.unsigned_abs());
            // J_q4 += |D| - J_q4/16, rounded (A.8: "jitter += d - ((jitter + 8) >> 4)").
            // Cannot underflow: (J_q4 + 8) / 16 ≤ J_q4 + d for any d ≥ 0 once J_q4 ≥ 1, and is
            // 0 when J_q4 is 0. It stays below 16 · 2^31, far from u64's limit.
            self.jitter_q4 = (self.jitter_q4 + d).saturating_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// The SSRC being tracked.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// How often the source's SSRC changed.
    pub fn ssrc_changes(&self) -> u32 {
        self.ssrc_changes
    }

    /// How often the same source re-synchronised after a large sequence jump (A.1 `bad_seq`).
    pub fn resyncs(&self) -> u32 {
        self.resyncs
    }

    /// Whether the source passed probation.
    pub fn is_valid(&self) -> bool {
        self.ssrc.is_some() && self.probation == 0
    }

    /// Highest sequence number received, extended with the wrap count.
    pub fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    /// Packets received since the source became valid, duplicates included (A.3).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// A.3: `expected = extended_max - base_seq + 1`.
    pub fn expected(&self) -> u64 {
        if !self.is_valid() {
            return 0;
        }
        (self.extended_max() + 1).saturating_sub(u64::from(self.base_seq))
    }

    /// A.3 cumulative number of packets lost; negative when duplicates outnumber losses,
    /// exactly as the RFC defines it.
    pub fn cumulative_lost(&self) -> i64 {
        let expected = i64::try_from(self.expected()).unwrap_or(i64::MAX);
        let received = i64::try_from(self.received).unwrap_or(i64::MAX);
        expected - received
    }

    /// A.3 fraction lost since the previous call, in 1/256 units as in an RTCP report block;
    /// starts a new interval.
    pub fn fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        if expected_interval == 0 || lost_interval == 0 {
            0
        } else {
            // lost_interval ≤ expected_interval, so the quotient is at most 256; clamp 256.
            ((lost_interval << 8) / expected_interval).min(255) as u8
        }
    }

    /// A.8 interarrival jitter in timestamp units, as it goes in a report block.
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PCMU packet captured from a softphone: V=2, no P/X/CC, M=1, PT=0.
    const CAPTURED: [u8; 16] = [
        0x80, 0x80, 0x1C, 0x2A, 0x00, 0x01, 0xE2, 0x40, 0xDE, 0xAD, 0xBE, 0xEF, 0xFF, 0xFF, 0x7F,
        0x7E,
    ];

    fn media(seq: u16, ts: u32) -> RtpPacket<'static> {
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence_number: seq,
            timestamp: ts,
            ssrc: 0x1234,
            csrc: Vec::new(),
            extension: None,
            payload: &[],
            padding: 0,
        }
    }

    #[test]
    fn parses_fixed_header() {
        let packet = RtpPacket::parse(&CAPTURED).unwrap();
        assert!(packet.marker);
        assert_eq!(packet.payload_type, 0);
        assert_eq!(packet.sequence_number, 0x1C2A);
        assert_eq!(packet.timestamp, 123_456);
        assert_eq!(packet.ssrc, 0xDEAD_BEEF);
        assert!(packet.csrc.is_empty());
        assert_eq!(packet.extension, None);
        assert_eq!(packet.payload, &[0xFF, 0xFF, 0x7F, 0x7E]);
        assert_eq!(packet.padding, 0);
        assert_eq!(packet.to_bytes().unwrap(), CAPTURED);
    }

    #[test]
    fn round_trips_csrc_extension_and_padding() {
        let data = [1, 2, 3, 4, 5, 6, 7, 8];
        let packet = RtpPacket {
            marker: false,
            payload_type: 101,
            sequence_number: 65535,
            timestamp: u32::MAX,
            ssrc: 7,
            csrc: vec![10, 20, 30],
            extension: Some(RtpExtension {
                profile: 0xBEDE,
                data: &data,
            }),
            payload: &[9, 9, 9],
            padding: 5,
        };
        let bytes = packet.to_bytes().unwrap();
        assert_eq!(bytes.len(), packet.wire_len());
        assert_eq!(bytes[0], 0x80 | 0x20 | 0x10 | 3);
        assert_eq!(bytes[1], 101);
        assert_eq!(&bytes[bytes.len() - 5..], &[0, 0, 0, 0, 5]);
        assert_eq!(RtpPacket::parse(&bytes).unwrap(), packet);
    }

    #[test]
    fn precise_parse_errors() {
        assert_eq!(
            RtpPacket::parse(&CAPTURED[..11]),
            Err(RtpError::TooShort { len: 11 })
        );
        let mut v1 = CAPTURED;
        v1[0] = 0x40;
        assert_eq!(
            RtpPacket::parse(&v1),
            Err(RtpError::UnsupportedVersion { version: 1 })
        );
        let mut csrc = CAPTURED;
        csrc[0] = 0x82; // two CSRCs = 20 bytes of header, packet has 16
        assert_eq!(
            RtpPacket::parse(&csrc),
            Err(RtpError::CsrcTruncated {
                count: 2,
                needed: 20,
                len: 16
            })
        );
        let mut ext = CAPTURED;
        ext[0] = 0x90; // X set: header 12..16, announcing 0x7F7E words
        assert_eq!(
            RtpPacket::parse(&ext),
            Err(RtpError::ExtensionTruncated {
                needed: 16 + 4 * 0x7F7E,
                len: 16
            })
        );
        let mut pad = CAPTURED;
        pad[0] = 0xA0; // P set, last octet 0x7E = 126 > 4 bytes of body
        assert_eq!(
            RtpPacket::parse(&pad),
            Err(RtpError::InvalidPadding {
                count: 0x7E,
                available: 4
            })
        );
        pad[15] = 0;
        assert_eq!(
            RtpPacket::parse(&pad),
            Err(RtpError::InvalidPadding {
                count: 0,
                available: 4
            })
        );
        pad[15] = 4; // all four body bytes are padding
        let packet = RtpPacket::parse(&pad).unwrap();
        assert!(packet.payload.is_empty());
        assert_eq!(packet.padding, 4);
    }

    #[test]
    fn build_errors() {
        let mut packet = media(1, 1);
        packet.csrc = vec![0; 16];
        assert_eq!(
            packet.to_bytes(),
            Err(RtpBuildError::TooManyCsrcs { count: 16 })
        );
        let mut packet = media(1, 1);
        packet.payload_type = 128;
        assert_eq!(
            packet.to_bytes(),
            Err(RtpBuildError::InvalidPayloadType { payload_type: 128 })
        );
        let mut packet = media(1, 1);
        packet.extension = Some(RtpExtension {
            profile: 1,
            data: &[1, 2, 3],
        });
        assert_eq!(
            packet.to_bytes(),
            Err(RtpBuildError::InvalidExtensionLength { len: 3 })
        );
    }

    #[test]
    fn sender_sequences_20ms_frames() {
        let mut sender = RtpSender::new(42, 8);
        let same = RtpSender::new(42, 8);
        let other = RtpSender::new(43, 8);
        assert_eq!(sender.ssrc(), same.ssrc());
        assert_ne!(sender.ssrc(), other.ssrc());
        let (seq0, ts0) = (sender.next_sequence_number(), sender.next_timestamp());
        let frame = [0xD5; 160];
        let first = sender.packet(&frame);
        assert!(
            first.marker,
            "first packet of the stream starts a talkspurt"
        );
        assert_eq!((first.sequence_number, first.timestamp), (seq0, ts0));
        assert_eq!(first.payload_type, 8);
        let second = sender.packet(&frame);
        assert!(!second.marker);
        assert_eq!(second.sequence_number, seq0.wrapping_add(1));
        assert_eq!(second.timestamp, ts0.wrapping_add(160));
        sender.skip_frames(3);
        let after_silence = sender.packet(&frame);
        assert!(after_silence.marker, "talkspurt after silence");
        assert_eq!(after_silence.sequence_number, seq0.wrapping_add(2));
        assert_eq!(after_silence.timestamp, ts0.wrapping_add(160 * 5));
    }

    #[test]
    fn sender_wraps_sequence_and_timestamp() {
        let mut sender = RtpSender::with_initial(1, 0, u16::MAX, u32::MAX - 100, 160);
        let a = sender.packet(&[]);
        let b = sender.packet(&[]);
        assert_eq!((a.sequence_number, b.sequence_number), (u16::MAX, 0));
        assert_eq!(b.timestamp, (u32::MAX - 100).wrapping_add(160));
        let event = sender.event_packet(101, 5000, true, &[1, 0x8A, 0, 160]);
        assert_eq!(event.sequence_number, 1);
        assert_eq!(event.timestamp, 5000);
        assert!(event.marker);
        assert_eq!(sender.next_timestamp(), b.timestamp.wrapping_add(160));
    }

    #[test]
    fn receiver_probation_then_in_order() {
        let mut receiver = RtpReceiver::new();
        assert_eq!(receiver.receive(&media(100, 0), 0), Reception::Probation);
        assert!(!receiver.is_valid());
        assert_eq!(
            receiver.receive(&media(101, 160), 160),
            Reception::InOrder { extended_seq: 101 }
        );
        assert!(receiver.is_valid());
        assert_eq!(
            receiver.receive(&media(102, 320), 320),
            Reception::InOrder { extended_seq: 102 }
        );
        assert_eq!(receiver.expected(), 2);
        assert_eq!(receiver.received(), 2);
        assert_eq!(receiver.cumulative_lost(), 0);
    }

    #[test]
    fn receiver_probation_restarts_on_gap() {
        let mut receiver = RtpReceiver::new();
        assert_eq!(receiver.receive(&media(10, 0), 0), Reception::Probation);
        assert_eq!(receiver.receive(&media(12, 0), 0), Reception::Probation);
        assert_eq!(
            receiver.receive(&media(13, 0), 0),
            Reception::InOrder { extended_seq: 13 }
        );
    }

    #[test]
    fn receiver_counts_wraps_loss_and_reordering() {
        let mut receiver = RtpReceiver::new();
        receiver.receive(&media(65533, 0), 0);
        receiver.receive(&media(65534, 0), 0);
        assert_eq!(
            receiver.receive(&media(65535, 0), 0),
            Reception::InOrder {
                extended_seq: 65535
            }
        );
        // 0 is lost; 1 arrives after the wrap.
        assert_eq!(
            receiver.receive(&media(1, 0), 0),
            Reception::InOrder {
                extended_seq: 65537
            }
        );
        assert_eq!(receiver.cumulative_lost(), 1);
        // 0 arrives late: it belongs to the new cycle.
        assert_eq!(
            receiver.receive(&media(0, 0), 0),
            Reception::Late {
                extended_seq: 65536
            }
        );
        assert_eq!(receiver.cumulative_lost(), 0);
        // A duplicate makes the count negative, as A.3 says it may.
        receiver.receive(&media(1, 0), 0);
        assert_eq!(receiver.cumulative_lost(), -1);
        // 65535 came before the wrap; a reordered copy maps to cycle 0.
        assert_eq!(
            receiver.receive(&media(65535, 0), 0),
            Reception::Late {
                extended_seq: 65535
            }
        );
    }

    #[test]
    fn receiver_fraction_lost_per_interval() {
        let mut receiver = RtpReceiver::new();
        for seq in 0..=3u16 {
            receiver.receive(&media(seq, 0), 0);
        }
        assert_eq!(receiver.fraction_lost(), 0);
        // Interval: 4..=7 expected, 5 and 6 lost.
        receiver.receive(&media(4, 0), 0);
        receiver.receive(&media(7, 0), 0);
        assert_eq!(receiver.fraction_lost(), 128);
        assert_eq!(receiver.fraction_lost(), 0);
    }

    #[test]
    fn receiver_resyncs_after_two_packets_past_a_big_jump() {
        let mut receiver = RtpReceiver::new();
        for seq in 0..5u16 {
            receiver.receive(&media(seq, 0), 0);
        }
        assert_eq!(
            receiver.receive(&media(40_000, 0), 0),
            Reception::BadSequence
        );
        assert_eq!(
            receiver.receive(&media(40_001, 0), 0),
            Reception::InOrder {
                extended_seq: 40_001
            }
        );
        assert_eq!(receiver.expected(), 1);
    }

    #[test]
    fn receiver_restarts_on_new_ssrc() {
        let mut receiver = RtpReceiver::new();
        receiver.receive(&media(1, 0), 0);
        receiver.receive(&media(2, 0), 0);
        let mut other = media(500, 0);
        other.ssrc = 99;
        assert_eq!(receiver.receive(&other, 0), Reception::Probation);
        assert_eq!(receiver.ssrc(), Some(99));
        assert_eq!(receiver.ssrc_changes(), 1);
    }

    #[test]
    fn jitter_is_zero_for_perfect_pacing_and_follows_a8() {
        let mut receiver = RtpReceiver::new();
        for i in 0..50u32 {
            receiver.receive(&media(i as u16, i * 160), 1000 + i * 160);
        }
        assert_eq!(receiver.jitter(), 0);

        // Alternate arrivals 40 units late and on time: |D| = 40 each time after the first, so
        // J follows J += (40 - J) / 16 towards 40.
        let mut receiver = RtpReceiver::new();
        let mut expected = 0.0f64;
        for i in 0..200u32 {
            let skew = if i % 2 == 0 { 40 } else { 0 };
            receiver.receive(&media(i as u16, i * 160), i * 160 + skew);
            if i > 0 {
                expected += (40.0 - expected) / 16.0;
            }
        }
        let jitter = f64::from(receiver.jitter());
        assert!((jitter - expected).abs() <= 1.0, "{jitter} vs {expected}");
    }

    #[test]
    fn telephone_events_do_not_count_as_jitter() {
        let mut receiver = RtpReceiver::new();
        receiver.set_event_payload_type(Some(101));
        for i in 0..20u32 {
            let mut packet = media(i as u16, 8000);
            packet.payload_type = 101;
            receiver.receive(&packet, 8000 + i * 160);
        }
        assert_eq!(receiver.jitter(), 0);
        assert_eq!(receiver.cumulative_lost(), 0);
    }
}
