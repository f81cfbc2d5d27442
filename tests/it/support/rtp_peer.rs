//! The far end's outgoing RTP stream in media tests: G.711 A-law audio and RFC 4733 key presses
//! as phones send them.

use onestatus::media::dtmf::TelephoneEvent;
use onestatus::media::g711::G711;
use onestatus::media::rtp::RtpPacket;

/// Sequence and timestamp state of one peer stream (payload types 8 = PCMA, 101 = events).
pub(crate) struct PeerStream {
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
}

impl PeerStream {
    pub(crate) fn packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let packet = RtpPacket {
            marker,
            payload_type: pt,
            sequence_number: self.seq,
            timestamp: ts,
            ssrc: self.ssrc,
            csrc: Vec::new(),
            extension: None,
            payload,
            padding: 0,
        };
        self.seq = self.seq.wrapping_add(1);
        packet.to_bytes().expect("a valid test packet")
    }

    /// One frame of audio; the clock advances by its length.
    pub(crate) fn audio(&mut self, pcm: &[i16]) -> Vec<u8> {
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(pcm.len() as u32);
        self.packet(8, false, ts, &G711::Pcma.encode(pcm))
    }

    /// An RFC 4733 key press as phones send it: start ×3, two updates, end ×3 (§2.5.1.4), all
    /// with the timestamp of the event's start; the audio clock advances by its duration.
    pub(crate) fn key_press(&mut self, event: u8) -> Vec<Vec<u8>> {
        let ts = self.ts;
        let report = |duration, end| {
            TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            }
            .to_bytes()
        };
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(self.packet(101, true, ts, &report(160, false)));
        }
        out.push(self.packet(101, false, ts, &report(480, false)));
        out.push(self.packet(101, false, ts, &report(800, false)));
        for _ in 0..3 {
            out.push(self.packet(101, false, ts, &report(960, true)));
        }
        self.ts = self.ts.wrapping_add(960);
        out
    }
}
