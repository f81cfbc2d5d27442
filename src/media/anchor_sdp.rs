//! Rewriting a relayed call's SDP so each party sends its RTP to us (media anchoring), sans-I/O.
//!
//! A B2BUA that anchors media is the far end of each leg's media session (RFC 7092 §3.2.2,
//! "media relay"): every SDP body that crosses from one leg to the other is rewritten to name
//! *our* address and port on the receiving leg, and what the body said about its sender is
//! kept as where we relay that sender's media to. Nothing else changes: codecs, payload types,
//! telephone-event, `fmtp`, `ptime` and the direction attributes (RFC 3264 §8.4 hold) pass as
//! they came, because the relay forwards packets unchanged and does not transcode.
//!
//! The rewrite works on the text, line by line, after a full parse has validated it, so lines
//! the parser does not model (`b=`, `i=`, `k=`, unknown attributes) survive byte for byte.
//! What it changes:
//! - `o=`: the address becomes ours (RFC 8866 §5.2; it is never used for media, but it would
//!   still tell each party where the other is). The session id and version are the sender's: a
//!   rewrite is a pure function of the body, so an unchanged body stays unchanged (same
//!   version) and a new offer gets the sender's new version (RFC 3264 §8).
//! - `c=`: our address; `0.0.0.0` (or `::`), the RFC 2543 hold that RFC 3264 §8.4 still asks
//!   answerers to understand, is kept so the far side still sees the hold.
//! - the first audio `m=` with a port: our port (one relayed stream per call, so a `/<count>`
//!   is dropped). Other streams with a port (video, a second audio) get port 0, disabled (RFC
//!   3264 §8.2): we relay one stream, and passing the others end to end would defeat the
//!   anchoring. The answer to such an offer carries port 0 for them too.
//! - ICE attributes (RFC 8839 `candidate`, `ice-ufrag`, `ice-pwd`, `ice-options`, `ice-lite`,
//!   `remote-candidates`, `end-of-candidates`) are removed: their candidates are the sender's
//!   addresses and would steer media around us. `a=rtcp` (RFC 3605) is removed as well: it
//!   names the sender's RTCP port, and we relay RTCP only when it is multiplexed on the RTP
//!   port (`a=rtcp-mux`, RFC 5761, kept).

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use super::sdp::{Direction, SdpError, SessionDescription, MAX_SDP_LEN};

/// Attributes removed from relayed SDP (see the module doc).
const DROPPED_ATTRIBUTES: &[&str] = &[
    "candidate",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
    "remote-candidates",
    "end-of-candidates",
    "rtcp",
];

/// A rewritten body and what it said about its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The SDP to send on, naming our relay endpoint.
    pub body: String,
    /// Where the sender wants its audio: the relayed stream's `c=` address and port, `None`
    /// when it holds the stream (RFC 2543 `c=0.0.0.0`, or RFC 3264 §8.4 `sendonly` or
    /// `inactive`: it receives nothing), disabled (port 0) or absent. The relay sends nothing
    /// to such a party and expects no media from the call meanwhile (its RTP timeout).
    pub remote: Option<SocketAddr>,
}

/// Rewrites `body` (an offer or answer from one party) so the other party sends to `local`,
/// our relay endpoint facing it. Fails only when the body is not valid SDP.
pub fn rewrite(body: &[u8], local: SocketAddr) -> Result<Rewritten, SdpError> {
    if body.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge {
            len: body.len(),
            max: MAX_SDP_LEN,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| SdpError::Malformed {
        line: 0,
        reason: "SDP is not UTF-8",
    })?;
    let parsed = SessionDescription::parse(text)?;
    let anchored = parsed
        .media
        .iter()
        .position(|m| m.kind.eq_ignore_ascii_case("audio") && m.port != 0);
    let remote = anchored.and_then(|index| {
        let connection = parsed.connection_for(index)?;
        let port = parsed.media[index].port;
        let holds = connection.is_hold()
            || matches!(
                parsed.direction_for(index),
                Direction::SendOnly | Direction::Inactive
            );
        (!holds).then_some(SocketAddr::new(connection.address, port))
    });

    let ip = local.ip();
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let mut out = String::with_capacity(text.len() + 32);
    // None: session level; Some(i): inside the i-th m= section.
    let mut section: Option<usize> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let (kind, value) = match line.split_once('=') {
            Some((kind, value)) => (kind, value),
            None => (line, ""),
        };
        match kind {
            "o" => {
                let fields: Vec<&str> = value.split_ascii_whitespace().collect();
                if let [user, id, version, nettype, _, _] = fields[..] {
                    let _ = write!(out, "o={user} {id} {version} {nettype} {family} {ip}\r\n");
                    continue;
                }
            }
            "c" => {
                if connection_is_hold(value) {
                    let _ = write!(out, "c={value}\r\n");
                } else {
                    let _ = write!(out, "c=IN {family} {ip}\r\n");
                }
                continue;
            }
            "m" => {
                let index = section.map_or(0, |i| i + 1);
                section = Some(index);
                let mut fields = value.splitn(3, ' ');
                if let (Some(media), Some(port), Some(rest)) =
                    (fields.next(), fields.next(), fields.next())
                {
                    let port = if Some(index) == anchored {
                        local.port().to_string()
                    } else if port.split('/').next() == Some("0") {
                        port.to_owned()
                    } else {
                        "0".to_owned()
                    };
                    let _ = write!(out, "m={media} {port} {rest}\r\n");
                    continue;
                }
            }
            "a" => {
                let name = value.split(':').next().unwrap_or(value);
                if DROPPED_ATTRIBUTES.contains(&name) {
                    continue;
                }
            }
            _ => {}
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    Ok(Rewritten { body: out, remote })
}

/// What a body says about its sender without rewriting it: the relayed stream's address (see
/// [`Rewritten::remote`]).
pub fn remote_of(body: &[u8]) -> Result<Option<SocketAddr>, SdpError> {
    // Any local address does; only `remote` is used.
    rewrite(body, SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0)).map(|r| r.remote)
}

/// Whether a `c=` value (after `c=`) is the unspecified address of RFC 2543 hold.
fn connection_is_hold(value: &str) -> bool {
    value
        .split_ascii_whitespace()
        .nth(2)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse::<IpAddr>().ok())
        .is_some_and(|a| a.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = "127.0.0.1:20002";

    fn local() -> SocketAddr {
        US.parse().unwrap()
    }

    fn testdata(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/testdata/sdp/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn address_and_port_become_ours_codecs_and_events_stay() {
        let offer = "v=0\r\no=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\ns=-\r\n\
                     c=IN IP4 192.0.2.10\r\nb=AS:64\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8 0 101\r\n\
                     a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
                     a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
                     a=sendrecv\r\n";
        let out = rewrite(offer.as_bytes(), local()).unwrap();
        assert_eq!(
            out.body,
            "v=0\r\no=alice 2890844526 2890844527 IN IP4 127.0.0.1\r\ns=-\r\n\
             c=IN IP4 127.0.0.1\r\nb=AS:64\r\nt=0 0\r\nm=audio 20002 RTP/AVP 8 0 101\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
             a=sendrecv\r\n"
        );
        assert_eq!(out.remote, Some("192.0.2.10:49170".parse().unwrap()));
    }

    #[test]
    fn direction_attributes_pass_for_hold_and_resume() {
        for direction in ["sendonly", "recvonly", "inactive", "sendrecv"] {
            let offer = format!(
                "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n\
                 c=IN IP4 10.0.0.5\r\na={direction}\r\n"
            );
            let out = rewrite(offer.as_bytes(), local()).unwrap();
            assert!(out.body.contains(&format!("a={direction}\r\n")), "{out:?}");
            assert!(out
                .body
                .contains("m=audio 20002 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\n"));
            // Holding (sendonly, inactive) receives nothing: no address for the relay.
            let receives = matches!(direction, "recvonly" | "sendrecv");
            let expected = receives.then(|| "10.0.0.5:4000".parse().unwrap());
            assert_eq!(out.remote, expected, "{direction}");
        }
    }

    #[test]
    fn rfc2543_hold_keeps_the_null_address_and_has_no_remote() {
        let out = rewrite(&testdata("hold_rfc2543.sdp"), local()).unwrap();
        assert!(out.body.contains("c=IN IP4 0.0.0.0\r\n"), "{}", out.body);
        assert!(out.body.contains(" 20002 "), "{}", out.body);
        assert_eq!(out.remote, None);
    }

    #[test]
    fn rfc3264_hold_has_no_remote_and_recvonly_keeps_it() {
        let sdp = |direction: &str| {
            format!(
                "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
                 m=audio 49170 RTP/AVP 0\r\na={direction}\r\n"
            )
        };
        for direction in ["sendonly", "inactive"] {
            let out = rewrite(sdp(direction).as_bytes(), local()).unwrap();
            assert_eq!(out.remote, None, "{direction}");
            assert!(
                out.body.contains(&format!("a={direction}\r\n")),
                "{}",
                out.body
            );
        }
        for direction in ["recvonly", "sendrecv"] {
            let out = rewrite(sdp(direction).as_bytes(), local()).unwrap();
            assert_eq!(
                out.remote,
                Some("192.0.2.10:49170".parse().unwrap()),
                "{direction}"
            );
        }
    }

    #[test]
    fn other_streams_are_disabled_and_ice_removed() {
        let offer = "v=0\r\no=- 7 7 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\n\
                     t=0 0\r\na=ice-ufrag:abcd\r\nm=video 5004 RTP/AVP 96\r\n\
                     a=rtpmap:96 H264/90000\r\nm=audio 5000/2 RTP/AVP 0\r\n\
                     a=candidate:1 1 UDP 2130706431 198.51.100.1 5000 typ host\r\n\
                     a=rtcp:5001\r\na=rtcp-mux\r\nm=audio 0 RTP/AVP 8\r\n";
        let out = rewrite(offer.as_bytes(), local()).unwrap();
        assert_eq!(
            out.body,
            "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 20002 RTP/AVP 0\r\n\
             a=rtcp-mux\r\nm=audio 0 RTP/AVP 8\r\n"
        );
        assert_eq!(out.remote, Some("198.51.100.1:5000".parse().unwrap()));
        assert!(!out.body.contains("198.51.100.1"));
    }

    #[test]
    fn media_level_connection_wins_for_the_remote() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                     m=audio 7000 RTP/AVP 0\r\nc=IN IP4 192.0.2.99\r\n";
        let out = rewrite(offer.as_bytes(), local()).unwrap();
        assert_eq!(out.remote, Some("192.0.2.99:7000".parse().unwrap()));
        assert_eq!(out.body.matches("c=IN IP4 127.0.0.1\r\n").count(), 2);
    }

    #[test]
    fn ipv6_peer_behind_an_ipv4_relay_and_back() {
        let out = rewrite(&testdata("ipv6.sdp"), local()).unwrap();
        assert!(!out.body.contains("IP6"), "{}", out.body);
        assert!(out.remote.is_some_and(|r| r.is_ipv6()));
        let v6: SocketAddr = "[2001:db8::1]:30000".parse().unwrap();
        let back = rewrite(out.body.as_bytes(), v6).unwrap();
        assert!(
            back.body.contains("c=IN IP6 2001:db8::1\r\n"),
            "{}",
            back.body
        );
        assert_eq!(back.remote, Some(local()));
    }

    #[test]
    fn every_sample_phone_rewrites_and_stays_valid() {
        for name in [
            "asterisk.sdp",
            "linphone.sdp",
            "zoiper.sdp",
            "sipp_uac.sdp",
            "opus_first.sdp",
            "video_multi.sdp",
            "hold_sendonly.sdp",
            "no_common_codec.sdp",
        ] {
            let body = testdata(name);
            let original = SessionDescription::parse(std::str::from_utf8(&body).unwrap()).unwrap();
            let out = rewrite(&body, local()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let parsed = SessionDescription::parse(&out.body)
                .unwrap_or_else(|e| panic!("{name}: rewritten SDP invalid: {e}\n{}", out.body));
            assert_eq!(parsed.media.len(), original.media.len(), "{name}");
            for (before, after) in original.media.iter().zip(&parsed.media) {
                // Codecs, telephone-event and directions as they came.
                assert_eq!(before.formats, after.formats, "{name}");
                assert_eq!(before.rtpmaps, after.rtpmaps, "{name}");
                assert_eq!(before.fmtps, after.fmtps, "{name}");
                assert_eq!(before.direction, after.direction, "{name}");
                assert_eq!(before.ptime, after.ptime, "{name}");
            }
            assert_eq!(parsed.direction, original.direction, "{name}");
            let audio = parsed
                .media
                .iter()
                .filter(|m| m.port == local().port())
                .count();
            assert_eq!(audio, 1, "{name}: one relayed stream\n{}", out.body);
            // Idempotent: rewriting our own output changes nothing (re-sent bodies keep their
            // o= version meaningful).
            assert_eq!(
                rewrite(out.body.as_bytes(), local()).unwrap().body,
                out.body
            );
        }
    }

    #[test]
    fn invalid_sdp_is_refused() {
        assert!(rewrite(b"hello", local()).is_err());
        assert!(rewrite(&[0xff, 0xfe], local()).is_err());
        assert!(rewrite(
            b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n",
            local()
        )
        .is_err());
    }

    #[test]
    fn disabled_audio_has_no_remote() {
        let answer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                      m=audio 0 RTP/AVP 0\r\n";
        let out = rewrite(answer.as_bytes(), local()).unwrap();
        assert_eq!(out.remote, None);
        assert!(out.body.contains("m=audio 0 RTP/AVP 0\r\n"));
        assert_eq!(remote_of(answer.as_bytes()).unwrap(), None);
    }
}
