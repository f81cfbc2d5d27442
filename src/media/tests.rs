//! Seeded random robustness tests across the media parsers: whatever arrives on the RTP port
//! or in an INVITE body must yield a value or an error, never a panic, and whatever parses must
//! print back to the same value. Bounded (fixed seeds and case counts) so they run in the normal
//! test suite in well under a second; failures reproduce from the seed.

use std::net::{IpAddr, Ipv4Addr};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::media::dtmf::{self, Digit, DtmfDetector, TelephoneEvent};
use crate::media::rtp::{RtpPacket, RtpReceiver};
use crate::media::sdp::{self, Direction, LocalMedia, SessionDescription};

const CASES: usize = 20_000;

const SDP_FIXTURES: [&str; 10] = [
    include_str!("../../testdata/sdp/asterisk.sdp"),
    include_str!("../../testdata/sdp/hold_rfc2543.sdp"),
    include_str!("../../testdata/sdp/hold_sendonly.sdp"),
    include_str!("../../testdata/sdp/ipv6.sdp"),
    include_str!("../../testdata/sdp/linphone.sdp"),
    include_str!("../../testdata/sdp/no_common_codec.sdp"),
    include_str!("../../testdata/sdp/opus_first.sdp"),
    include_str!("../../testdata/sdp/sipp_uac.sdp"),
    include_str!("../../testdata/sdp/video_multi.sdp"),
    include_str!("../../testdata/sdp/zoiper.sdp"),
];

/// Bytes that SDP's grammar cares about, so mutations hit the interesting paths.
const SDP_ALPHABET: &[u8] = b"0123456789 /:=.\r\nvoscmtabIPN46RTPAVPCMU-";

fn random_bytes(rng: &mut StdRng, max_len: usize) -> Vec<u8> {
    let len = rng.gen_range(0..=max_len);
    (0..len).map(|_| rng.gen()).collect()
}

#[test]
fn rtp_parser_never_panics_and_round_trips() {
    let mut rng = StdRng::seed_from_u64(0x5254_5020);
    let mut receiver = RtpReceiver::new();
    let mut parsed = 0;
    for _ in 0..CASES {
        let mut bytes = random_bytes(&mut rng, 80);
        // Mostly version 2 so the parser gets past the first check.
        if let Some(first) = bytes.first_mut() {
            if rng.gen_bool(0.9) {
                *first = (*first & 0x3F) | 0x80;
            }
        }
        let Ok(packet) = RtpPacket::parse(&bytes) else {
            continue;
        };
        parsed += 1;
        let written = packet.to_bytes().expect("a parsed packet can be written");
        assert_eq!(written.len(), bytes.len());
        assert_eq!(RtpPacket::parse(&written), Ok(packet.clone()));
        receiver.receive(&packet, rng.gen());
        let _ = receiver.fraction_lost();
        let _ = receiver.cumulative_lost();
    }
    assert!(parsed > CASES / 10, "only {parsed} random packets parsed");
}

#[test]
fn dtmf_parsers_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x4454_4d46);
    let mut detector = DtmfDetector::new();
    for _ in 0..CASES {
        let bytes = random_bytes(&mut rng, 12);
        if let Ok(event) = TelephoneEvent::parse(&bytes) {
            // Rebuilt identically except the reserved R bit, which senders must clear.
            let expected = [bytes[0], bytes[1] & !0x40, bytes[2], bytes[3]];
            assert_eq!(event.to_bytes(), expected);
        }
        // Timestamps and sequence numbers close together, so same-event paths are hit.
        let _ = detector.handle(rng.gen_range(0..4000), rng.gen_range(0..200), &bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = dtmf::parse_info_body("application/dtmf-relay", &text);
        let _ = dtmf::parse_info_body("application/dtmf", &text);
        let relay = format!("Signal={text}\r\nDuration={}\r\n", rng.gen::<i64>());
        let _ = dtmf::parse_dtmf_relay(&relay);
    }
}

#[test]
fn dtmf_detector_yields_each_press_exactly_once_under_random_loss() {
    let mut rng = StdRng::seed_from_u64(0x0050_494e);
    for case in 0..2_000 {
        let mut detector = DtmfDetector::new();
        let mut timestamp: u32 = rng.gen();
        let mut seq: u16 = rng.gen();
        let loss = rng.gen_range(0.0..0.7);
        let mut expected = Vec::new();
        let mut detected = Vec::new();
        for _ in 0..rng.gen_range(1..8) {
            let digit = Digit::ALL[rng.gen_range(0..16)];
            let duration: u16 = rng.gen_range(400..4000);
            // Starts (×3), updates every 400 units, ends (×3), as real senders do.
            let mut reports = vec![(false, 0u16); 3];
            reports.extend((1..=duration / 400).map(|i| (false, i * 400)));
            reports.extend([(true, duration); 3]);
            let mut survived = false;
            for (end, d) in reports {
                let payload = TelephoneEvent {
                    event: digit.event(),
                    end,
                    volume: 10,
                    duration: d,
                }
                .to_bytes();
                let this_seq = seq;
                seq = seq.wrapping_add(1);
                if rng.gen_bool(loss) {
                    continue;
                }
                survived = true;
                if let Some(found) = detector.handle(timestamp, this_seq, &payload).unwrap() {
                    detected.push(found.digit);
                }
            }
            if survived {
                expected.push(digit);
            }
            // Inter-digit gap of at least 40 ms.
            timestamp = timestamp.wrapping_add(u32::from(duration) + rng.gen_range(320..4000));
        }
        assert_eq!(detected, expected, "case {case}, loss {loss}");
    }
}

/// One random edit of an SDP text: flip, insert, delete or duplicate a line.
fn mutate(rng: &mut StdRng, text: &mut Vec<u8>) {
    match rng.gen_range(0..5) {
        0 if !text.is_empty() => {
            let i = rng.gen_range(0..text.len());
            text[i] = SDP_ALPHABET[rng.gen_range(0..SDP_ALPHABET.len())];
        }
        1 => {
            let i = rng.gen_range(0..=text.len());
            text.insert(i, SDP_ALPHABET[rng.gen_range(0..SDP_ALPHABET.len())]);
        }
        2 if !text.is_empty() => {
            let i = rng.gen_range(0..text.len());
            text.remove(i);
        }
        3 if !text.is_empty() => {
            let i = rng.gen_range(0..text.len());
            text[i] = rng.gen();
        }
        _ => {
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            let line = lines[rng.gen_range(0..lines.len())].to_vec();
            let at = rng.gen_range(0..=text.len());
            text.splice(at..at, line.into_iter().chain([b'\n']));
        }
    }
}

#[test]
fn sdp_parser_never_panics_and_what_parses_round_trips() {
    let mut rng = StdRng::seed_from_u64(0x5344_5020);
    let local = LocalMedia {
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 30000,
        session_id: 1,
        session_version: 1,
        direction: Direction::SendRecv,
    };
    let our_offer = sdp::offer(&local);
    let mut parsed = 0;
    for case in 0..CASES {
        let bytes = if case % 10 == 0 {
            random_bytes(&mut rng, 300)
        } else {
            let mut text = SDP_FIXTURES[rng.gen_range(0..SDP_FIXTURES.len())]
                .as_bytes()
                .to_vec();
            for _ in 0..rng.gen_range(1..4) {
                mutate(&mut rng, &mut text);
            }
            text
        };
        let text = String::from_utf8_lossy(&bytes);
        let Ok(offer) = SessionDescription::parse(&text) else {
            continue;
        };
        parsed += 1;
        let printed = offer.to_string();
        assert_eq!(
            SessionDescription::parse(&printed).as_ref(),
            Ok(&offer),
            "case {case}: {text:?}"
        );
        let _ = offer.is_hold();
        if let Ok(answer) = sdp::answer(&offer, &local) {
            assert_eq!(answer.sdp.media.len(), offer.media.len());
            let reparsed = SessionDescription::parse(&answer.sdp.to_string());
            assert_eq!(reparsed.as_ref(), Ok(&answer.sdp), "case {case}");
        }
        let _ = sdp::process_answer(&our_offer, &offer);
    }
    assert!(parsed > CASES / 4, "only {parsed} mutated SDPs parsed");
}
