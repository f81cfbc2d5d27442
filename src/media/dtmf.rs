//! DTMF for the IVR: RFC 4733 telephone-events carried in RTP, and the two SIP INFO bodies some
//! phones send instead (`application/dtmf-relay`, `application/dtmf`).
//!
//! In the call flow: the media driver passes each RTP packet whose payload type is the
//! negotiated telephone-event type (see `sdp`) to a [`DtmfDetector`], which yields one
//! [`DetectedDigit`] per key press; the SIP side passes INFO bodies to [`parse_info_body`]. Both
//! become the IVR's `Digit` event, so a PIN works whichever way the phone signals it.
//!
//! RFC 4733 makes a single key press arrive as many packets that all carry the event's *start*
//! timestamp: a start packet (often sent three times), updates every 50 ms with a growing
//! duration, and an end packet with the E bit, sent three times for redundancy (§2.5.1.4).
//! Any of them may be lost or reordered. The detector therefore keys events by RTP timestamp
//! and reports a digit on the first packet it sees of a new event — start, update or end — so
//! a lost start still yields the digit, and the copies that follow are absorbed.

use std::fmt;

use thiserror::Error;

use crate::media::rtp::RtpPacket;

/// Size of one event report (RFC 4733 §2.3).
pub const EVENT_REPORT_LEN: usize = 4;

/// Timestamp units an event may lag behind the 0xFFFF duration limit and still be taken as
/// running into a next segment (RFC 4733 §2.5.1.3): one second at 8 kHz, since the last
/// updates before the limit may be lost.
const LONG_EVENT_SLACK: u32 = 8000;

/// How many finished events' timestamps to remember, so a late redundant packet of an earlier
/// event is not mistaken for a new key press.
const RECENT_EVENTS: usize = 4;

/// A DTMF key: the sixteen events 0–15 of RFC 4733 §3.2 Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Digit {
    /// Key 0 (event 0).
    Zero,
    /// Key 1 (event 1).
    One,
    /// Key 2 (event 2).
    Two,
    /// Key 3 (event 3).
    Three,
    /// Key 4 (event 4).
    Four,
    /// Key 5 (event 5).
    Five,
    /// Key 6 (event 6).
    Six,
    /// Key 7 (event 7).
    Seven,
    /// Key 8 (event 8).
    Eight,
    /// Key 9 (event 9).
    Nine,
    /// Key * (event 10).
    Star,
    /// Key # (event 11).
    Pound,
    /// Key A (event 12), on military and test phones.
    A,
    /// Key B (event 13).
    B,
    /// Key C (event 14).
    C,
    /// Key D (event 15).
    D,
}

impl Digit {
    /// All digits in event-code order; index = event code.
    pub const ALL: [Self; 16] = [
        Self::Zero,
        Self::One,
        Self::Two,
        Self::Three,
        Self::Four,
        Self::Five,
        Self::Six,
        Self::Seven,
        Self::Eight,
        Self::Nine,
        Self::Star,
        Self::Pound,
        Self::A,
        Self::B,
        Self::C,
        Self::D,
    ];

    /// The digit for an RFC 4733 event code; `None` for flash (16) and non-DTMF events.
    pub fn from_event(event: u8) -> Option<Self> {
        Self::ALL.get(usize::from(event)).copied()
    }

    /// The RFC 4733 event code.
    pub fn event(self) -> u8 {
        // Variants are declared in event-code order, so the discriminant is the code.
        self as u8
    }

    /// The digit for a key label, case-insensitive for A–D.
    pub fn from_char(c: char) -> Option<Self> {
        let event = match c.to_ascii_uppercase() {
            d @ '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            l @ 'A'..='D' => l as u8 - b'A' + 12,
            _ => return None,
        };
        Self::from_event(event)
    }

    /// The key label.
    pub fn as_char(self) -> char {
        char::from(b"0123456789*#ABCD"[usize::from(self.event())])
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Why an RTP telephone-event payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// An event report is four octets (RFC 4733 §2.3).
    #[error("telephone-event payload of {len} bytes is shorter than 4")]
    TooShort {
        /// Payload length.
        len: usize,
    },
}

/// One RFC 4733 §2.3 event report.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–15 DTMF, 16 flash, others tones we ignore.
    pub event: u8,
    /// E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level as 0..=63 dBm0 below zero (6 bits; larger values are masked on build).
    pub volume: u8,
    /// Duration so far, in timestamp units, from the event's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event report of a payload. The R bit is reserved and ignored on
    /// receipt (§2.3.3). Further reports in the same payload (§2.5.1.5, packing several
    /// events) are ignored: the common senders put one event in each packet.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort { len: payload.len() });
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The four octets of the report, R bit clear as §2.3.3 requires of senders.
    pub fn to_bytes(&self) -> [u8; EVENT_REPORT_LEN] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        [self.event, flags, d0, d1]
    }

    /// The DTMF digit this event is, if it is one.
    pub fn digit(&self) -> Option<Digit> {
        Digit::from_event(self.event)
    }
}

/// A key press found in the RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    /// The key.
    pub digit: Digit,
    /// RTP timestamp of the event's start; tells two presses of the same key apart.
    pub timestamp: u32,
}

/// The event the detector is following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CurrentEvent {
    /// RTP timestamp shared by all its packets (of the current segment, for long events).
    timestamp: u32,
    /// Event code.
    event: u8,
    /// Largest duration reported.
    duration: u16,
    /// An end packet was seen.
    ended: bool,
}

/// Turns RFC 4733 telephone-event packets into exactly one [`DetectedDigit`] per key press.
///
/// Handles: retransmitted start packets and the three redundant end packets (same
/// timestamp → same event); lost start packets (any packet of an unseen event reports it,
/// even a lone end packet); presses split by timestamp (two presses of "5" are two events
/// because their timestamps differ); long-duration events split into 0xFFFF segments
/// (§2.5.1.3, the next segment continues the same press); and late packets of earlier events
/// (older sequence number or a remembered timestamp).
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    /// The most recent event.
    current: Option<CurrentEvent>,
    /// Highest sequence number seen, to recognise late packets.
    highest_seq: Option<u16>,
    /// Start timestamps of recently finished events (ring buffer).
    recent: [Option<u32>; RECENT_EVENTS],
    /// Next slot in `recent`.
    recent_next: usize,
}

impl DtmfDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets all state; call when the stream's SSRC changes (a new source restarts its
    /// timestamps and sequence numbers).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Handles one telephone-event packet.
    pub fn handle_packet(
        &mut self,
        packet: &RtpPacket<'_>,
    ) -> Result<Option<DetectedDigit>, DtmfError> {
        self.handle(packet.timestamp, packet.sequence_number, packet.payload)
    }

    /// Handles one telephone-event payload with its RTP timestamp and sequence number. Returns
    /// the digit when this packet is the first one seen of a new DTMF event.
    pub fn handle(
        &mut self,
        timestamp: u32,
        sequence_number: u16,
        payload: &[u8],
    ) -> Result<Option<DetectedDigit>, DtmfError> {
        let report = TelephoneEvent::parse(payload)?;
        let is_late = self
            .highest_seq
            .is_some_and(|highest| (sequence_number.wrapping_sub(highest) as i16) < 0);
        if !is_late {
            self.highest_seq = Some(sequence_number);
        }

        if let Some(current) = self.current {
            if timestamp == current.timestamp {
                // A retransmitted start, an update or a redundant end of the same event.
                self.current = Some(CurrentEvent {
                    duration: current.duration.max(report.duration),
                    ended: current.ended || report.end,
                    ..current
                });
                return Ok(None);
            }
            if is_late || self.recent.contains(&Some(timestamp)) {
                // A straggler from an earlier event; RFC 4733 retransmissions carry new
                // sequence numbers, so the remembered timestamps catch those.
                return Ok(None);
            }
            self.remember(current.timestamp);
            // §2.5.1.3: a long event continues in a new segment whose timestamp is the old one
            // plus the old duration, with the same event code and no end in between.
            let advance = timestamp.wrapping_sub(current.timestamp);
            let near_limit = u32::from(current.duration) + LONG_EVENT_SLACK >= u32::from(u16::MAX);
            if !current.ended
                && report.event == current.event
                && near_limit
                && advance <= u32::from(u16::MAX) + LONG_EVENT_SLACK
            {
                self.current = Some(CurrentEvent {
                    timestamp,
                    event: report.event,
                    duration: report.duration,
                    ended: report.end,
                });
                return Ok(None);
            }
        } else if is_late {
            return Ok(None);
        }

        self.current = Some(CurrentEvent {
            timestamp,
            event: report.event,
            duration: report.duration,
            ended: report.end,
        });
        Ok(report
            .digit()
            .map(|digit| DetectedDigit { digit, timestamp }))
    }

    /// Remembers a finished event's timestamp.
    fn remember(&mut self, timestamp: u32) {
        self.recent[self.recent_next] = Some(timestamp);
        self.recent_next = (self.recent_next + 1) % RECENT_EVENTS;
    }
}

/// Why a SIP INFO DTMF body was not understood; the SIP side answers such an INFO with 400
/// (or 415 for the content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InfoDtmfError {
    /// Neither `application/dtmf-relay` nor `application/dtmf`.
    #[error("content type is not application/dtmf-relay or application/dtmf")]
    UnsupportedContentType,
    /// `application/dtmf-relay` without a `Signal=` line.
    #[error("dtmf-relay body has no Signal line")]
    MissingSignal,
    /// The signal is not a key label nor an event code 0–15.
    #[error("signal is not a DTMF key")]
    InvalidSignal,
    /// `Duration=` is not a number of milliseconds.
    #[error("Duration is not a number of milliseconds")]
    InvalidDuration,
}

/// A key press from a SIP INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDigit {
    /// The key.
    pub digit: Digit,
    /// Tone length in milliseconds, when the body gives one.
    pub duration_ms: Option<u32>,
}

/// Parses an INFO body, choosing the format by its Content-Type (parameters and case
/// ignored).
pub fn parse_info_body(content_type: &str, body: &str) -> Result<InfoDigit, InfoDtmfError> {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/dtmf-relay") {
        parse_dtmf_relay(body)
    } else if media_type.eq_ignore_ascii_case("application/dtmf") {
        parse_application_dtmf(body).map(|digit| InfoDigit {
            digit,
            duration_ms: None,
        })
    } else {
        Err(InfoDtmfError::UnsupportedContentType)
    }
}

/// Parses `application/dtmf-relay` (the Cisco format most phones use):
/// `Signal=5\r\nDuration=160\r\n`. Keys are case-insensitive, whitespace around `=` is
/// tolerated, lines may end in CRLF or LF, unknown lines are skipped.
pub fn parse_dtmf_relay(body: &str) -> Result<InfoDigit, InfoDtmfError> {
    let mut digit = None;
    let mut duration_ms = None;
    for line in body.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("Signal") {
            digit = Some(parse_signal(value)?);
        } else if key.eq_ignore_ascii_case("Duration") {
            duration_ms = Some(value.parse().map_err(|_| InfoDtmfError::InvalidDuration)?);
        }
    }
    let digit = digit.ok_or(InfoDtmfError::MissingSignal)?;
    Ok(InfoDigit { digit, duration_ms })
}

/// Parses `application/dtmf`: the body is the key alone ("5"), maybe with a line break.
pub fn parse_application_dtmf(body: &str) -> Result<Digit, InfoDtmfError> {
    parse_signal(body.trim())
}

/// A key label ("5", "*", "a") or, as some gateways send, an event code ("10" for *).
fn parse_signal(value: &str) -> Result<Digit, InfoDtmfError> {
    let mut chars = value.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Digit::from_char(c).ok_or(InfoDtmfError::InvalidSignal);
    }
    value
        .parse::<u8>()
        .ok()
        .and_then(Digit::from_event)
        .ok_or(InfoDtmfError::InvalidSignal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a telephone-event payload.
    fn report(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    /// A sender's packets for one press, as Asterisk sends them: three starts (M bit on the
    /// first), updates every 50 ms (400 units), three ends.
    fn press(event: u8, timestamp: u32, first_seq: u16, duration: u16) -> Vec<(u32, u16, [u8; 4])> {
        let mut packets = Vec::new();
        let mut seq = first_seq;
        for _ in 0..3 {
            packets.push((timestamp, seq, report(event, false, 0)));
            seq = seq.wrapping_add(1);
        }
        let mut d = 400;
        while d < duration {
            packets.push((timestamp, seq, report(event, false, d)));
            seq = seq.wrapping_add(1);
            d += 400;
        }
        for _ in 0..3 {
            packets.push((timestamp, seq, report(event, true, duration)));
            seq = seq.wrapping_add(1);
        }
        packets
    }

    fn run(detector: &mut DtmfDetector, packets: &[(u32, u16, [u8; 4])]) -> Vec<DetectedDigit> {
        packets
            .iter()
            .filter_map(|(ts, seq, payload)| detector.handle(*ts, *seq, payload).unwrap())
            .collect()
    }

    #[test]
    fn event_report_round_trip_and_rfc_example() {
        // RFC 4733 §2.3: event 5, E set, volume 10, duration 1600 (200 ms).
        let bytes = [0x05, 0x8A, 0x06, 0x40];
        let event = TelephoneEvent::parse(&bytes).unwrap();
        assert_eq!(
            event,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 1600
            }
        );
        assert_eq!(event.to_bytes(), bytes);
        assert_eq!(event.digit(), Some(Digit::Five));
        // The R bit is ignored on receipt.
        assert_eq!(TelephoneEvent::parse(&[0x05, 0xCA, 0x06, 0x40]), Ok(event));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort { len: 3 })
        );
    }

    #[test]
    fn digits_map_to_rfc_4733_events() {
        let labels: String = Digit::ALL.iter().map(|d| d.as_char()).collect();
        assert_eq!(labels, "0123456789*#ABCD");
        for (code, digit) in Digit::ALL.iter().enumerate() {
            assert_eq!(usize::from(digit.event()), code);
            assert_eq!(Digit::from_char(digit.as_char()), Some(*digit));
        }
        assert_eq!(Digit::from_char('b'), Some(Digit::B));
        assert_eq!(Digit::from_event(16), None, "flash is not a digit");
        assert_eq!(Digit::from_char('E'), None);
        assert_eq!(Digit::Pound.to_string(), "#");
    }

    #[test]
    fn one_digit_per_press_despite_redundant_starts_and_ends() {
        let mut detector = DtmfDetector::new();
        let digits = run(&mut detector, &press(5, 1000, 10, 1600));
        assert_eq!(
            digits,
            vec![DetectedDigit {
                digit: Digit::Five,
                timestamp: 1000
            }]
        );
    }

    #[test]
    fn same_key_twice_is_two_events_split_by_timestamp() {
        let mut detector = DtmfDetector::new();
        let mut packets = press(5, 1000, 10, 800);
        let next_seq = 10 + packets.len() as u16;
        packets.extend(press(5, 1000 + 800 + 400, next_seq, 800));
        let digits: Vec<_> = run(&mut detector, &packets)
            .iter()
            .map(|d| d.digit.as_char())
            .collect();
        assert_eq!(digits, vec!['5', '5']);
    }

    #[test]
    fn lost_start_packets_still_yield_the_digit() {
        let mut detector = DtmfDetector::new();
        let packets: Vec<_> = press(7, 5000, 1, 1200).into_iter().skip(3).collect();
        assert_eq!(run(&mut detector, &packets).len(), 1);

        // Only an end packet survives.
        let mut detector = DtmfDetector::new();
        let digit = detector.handle(9000, 50, &report(11, true, 800)).unwrap();
        assert_eq!(
            digit,
            Some(DetectedDigit {
                digit: Digit::Pound,
                timestamp: 9000
            })
        );
        assert_eq!(detector.handle(9000, 51, &report(11, true, 800)), Ok(None));
    }

    #[test]
    fn a_pin_typed_quickly_with_losses() {
        // "1234#" with every second packet lost, including some starts and ends.
        let mut detector = DtmfDetector::new();
        let mut packets = Vec::new();
        let (mut ts, mut seq) = (160_000u32, 60_000u16);
        for event in [1, 2, 3, 4, 11] {
            let one = press(event, ts, seq, 960);
            seq = seq.wrapping_add(one.len() as u16);
            ts += 960 + 480;
            packets.extend(
                one.into_iter()
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, p)| p),
            );
        }
        let digits: String = run(&mut detector, &packets)
            .iter()
            .map(|d| d.digit.as_char())
            .collect();
        assert_eq!(digits, "1234#");
    }

    #[test]
    fn late_packets_of_an_earlier_event_are_ignored() {
        let mut detector = DtmfDetector::new();
        let first = press(1, 1000, 100, 800);
        let second = press(2, 3000, 100 + first.len() as u16, 800);
        let mut packets = first.clone();
        // The last redundant end of "1" is overtaken by the start of "2".
        let straggler = packets.pop().unwrap();
        packets.push(second[0]);
        packets.push(straggler);
        packets.extend_from_slice(&second[1..]);
        // And a copy of "1"'s end arrives much later, re-sent with a fresh sequence number.
        let (ts, _, payload) = first[first.len() - 1];
        packets.push((ts, 100 + 500, payload));
        let digits: String = run(&mut detector, &packets)
            .iter()
            .map(|d| d.digit.as_char())
            .collect();
        assert_eq!(digits, "12");
    }

    #[test]
    fn long_event_segments_are_one_press() {
        // §2.5.1.3: a 10-second "0" at 8 kHz is 80,000 units: one segment of 0xFFFF, then a
        // new segment at timestamp + 0xFFFF.
        let mut detector = DtmfDetector::new();
        let start = 4_294_960_000u32; // and the timestamp wraps in the middle
        let mut packets = Vec::new();
        let mut seq = 0u16;
        let mut d = 0u32;
        while d < 0xFFFF {
            packets.push((start, seq, report(0, false, d as u16)));
            seq += 1;
            d += 400;
        }
        packets.push((start, seq, report(0, false, 0xFFFF)));
        seq += 1;
        let second = start.wrapping_add(0xFFFF);
        for d in [400u16, 800, 14_000] {
            packets.push((second, seq, report(0, false, d)));
            seq += 1;
        }
        for _ in 0..3 {
            packets.push((second, seq, report(0, true, 14_465)));
            seq += 1;
        }
        assert_eq!(run(&mut detector, &packets).len(), 1);
    }

    #[test]
    fn same_key_after_a_short_press_is_not_a_long_event() {
        // A short "3" whose end packets were all lost, then "3" again: two presses.
        let mut detector = DtmfDetector::new();
        let mut packets = press(3, 0, 0, 800);
        packets.truncate(packets.len() - 3);
        packets.extend(press(3, 1600, 20, 800));
        assert_eq!(run(&mut detector, &packets).len(), 2);
    }

    #[test]
    fn flash_and_other_events_yield_no_digit() {
        let mut detector = DtmfDetector::new();
        assert_eq!(detector.handle(100, 1, &report(16, false, 0)), Ok(None));
        assert_eq!(detector.handle(100, 2, &report(16, true, 800)), Ok(None));
        assert_eq!(
            detector.handle(100, 3, &[0, 0]),
            Err(DtmfError::TooShort { len: 2 })
        );
    }

    #[test]
    fn reset_forgets_the_previous_source() {
        let mut detector = DtmfDetector::new();
        assert!(detector
            .handle(100, 500, &report(4, true, 800))
            .unwrap()
            .is_some());
        detector.reset();
        // A new source may start with a lower sequence number and the same timestamp.
        assert!(detector
            .handle(100, 3, &report(4, false, 0))
            .unwrap()
            .is_some());
    }

    #[test]
    fn sip_info_dtmf_relay() {
        assert_eq!(
            parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"),
            Ok(InfoDigit {
                digit: Digit::Five,
                duration_ms: Some(160)
            })
        );
        assert_eq!(
            parse_dtmf_relay("signal = *\nduration= 250"),
            Ok(InfoDigit {
                digit: Digit::Star,
                duration_ms: Some(250)
            })
        );
        assert_eq!(
            parse_dtmf_relay("Signal=11\r\n").map(|d| d.digit),
            Ok(Digit::Pound)
        );
        assert_eq!(
            parse_dtmf_relay("Duration=160\r\n"),
            Err(InfoDtmfError::MissingSignal)
        );
        assert_eq!(
            parse_dtmf_relay("Signal=16\r\n"),
            Err(InfoDtmfError::InvalidSignal)
        );
        assert_eq!(
            parse_dtmf_relay("Signal=5\r\nDuration=long\r\n"),
            Err(InfoDtmfError::InvalidDuration)
        );
    }

    #[test]
    fn sip_info_application_dtmf_and_content_type_dispatch() {
        assert_eq!(parse_application_dtmf("5"), Ok(Digit::Five));
        assert_eq!(parse_application_dtmf("#\r\n"), Ok(Digit::Pound));
        assert_eq!(
            parse_application_dtmf(""),
            Err(InfoDtmfError::InvalidSignal)
        );
        assert_eq!(
            parse_application_dtmf("55"),
            Err(InfoDtmfError::InvalidSignal)
        );
        assert_eq!(
            parse_info_body("Application/DTMF-Relay; charset=utf-8", "Signal=0\r\n")
                .map(|d| d.digit),
            Ok(Digit::Zero)
        );
        assert_eq!(
            parse_info_body("application/dtmf", "d").map(|d| d.digit),
            Ok(Digit::D)
        );
        assert_eq!(
            parse_info_body("text/plain", "5"),
            Err(InfoDtmfError::UnsupportedContentType)
        );
    }
}
