//! SDP (RFC 8866, formerly RFC 4566) parsing and printing, and the RFC 3264 offer/answer model
//! for what a B2BUA and an IVR need: one G.711 audio stream plus RFC 4733 telephone-events.
//!
//! In the call flow: an INVITE's body is parsed with [`SessionDescription::parse`]; [`answer`]
//! picks the codec and builds our answer (or says [`SdpError::NoCommonCodec`], which the SIP
//! side turns into 488 Not Acceptable Here); for calls we place, [`offer`] builds our offer and
//! [`process_answer`] reads the peer's answer. The resulting [`Negotiated`] tells the media
//! driver where to send RTP, with which payload types.
//!
//! We accept `RTP/AVP` audio with PCMU or PCMA only; every other m-line (video, SRTP, a second
//! audio stream) is rejected in the answer with port 0, as RFC 3264 §6 requires, so the call
//! still succeeds with audio. Connection addresses must be IP literals: resolving an FQDN would
//! be I/O, and no phone we know sends one in `c=`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::media::g711::G711;

/// Largest SDP body we parse. SIP over UDP keeps bodies well below this; the bound stops a
/// hostile INVITE over TCP from making us allocate without limit.
pub const MAX_SDP_LEN: usize = 32 * 1024;

/// Our packetisation time in milliseconds (RFC 3551 §4.5: 20 ms is the G.711 default).
pub const PTIME_MS: u32 = 20;

/// The dynamic payload type we offer for telephone-event (the value Asterisk, FreeSWITCH and
/// most phones use, so captures read familiar).
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// Why an SDP body was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body exceeds [`MAX_SDP_LEN`].
    #[error("SDP body of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A line breaks the RFC 8866 grammar.
    #[error("SDP line {line}: {reason}")]
    Malformed {
        /// 1-based line number in the body.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A mandatory session-level line (`v`, `o`, `s`, `t`) is absent.
    #[error("SDP has no {kind}= line")]
    MissingLine {
        /// The line type.
        kind: char,
    },
    /// A media description has no `c=` of its own and there is none at session level (RFC 8866
    /// §5.7 requires one or the other).
    #[error("media description {media_index} has no connection address")]
    MissingConnection {
        /// 0-based m-line index.
        media_index: usize,
    },
    /// No audio stream offers PCMU or PCMA over RTP/AVP: answer 488 (RFC 3261 §13.3.1.1).
    #[error("no common codec: no RTP/AVP audio stream offers PCMU or PCMA")]
    NoCommonCodec,
    /// An answer does not fit the offer it answers (RFC 3264 §6).
    #[error("SDP answer does not match our offer: {reason}")]
    AnswerMismatch {
        /// What does not match.
        reason: &'static str,
    },
}

impl SdpError {
    /// The SIP status an INVITE with this SDP is rejected with: 488 when we understood the
    /// offer but cannot do what it asks, 400 when it was not valid SDP.
    pub fn sip_status(&self) -> u16 {
        match self {
            Self::NoCommonCodec => 488,
            Self::TooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// Media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1/§6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Send and receive; the default when no attribute is present.
    SendRecv,
    /// Only send: what a phone offers when it puts the call on hold (RFC 3264 §8.4).
    SendOnly,
    /// Only receive.
    RecvOnly,
    /// Neither: also a hold, when the holder plays no music.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// Parses an attribute name.
    pub fn from_attribute(name: &str) -> Option<Self> {
        [
            Self::SendRecv,
            Self::SendOnly,
            Self::RecvOnly,
            Self::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// RFC 3264 §6.1: the answer's direction mirrors the offer's — "If a stream is offered as
    /// sendonly, the corresponding stream MUST be marked as recvonly or inactive in the
    /// answer", and vice versa.
    pub fn mirror(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    /// Whether media flows from the side holding this direction.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the side holding this direction accepts media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The direction allowing only what both allow: our wish narrowed by the offer.
    pub fn intersect(self, other: Self) -> Self {
        Self::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    fn from_flags(send: bool, receive: bool) -> Self {
        match (send, receive) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }
}

/// `o=` (RFC 8866 §5.2): identifies the session and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The originator's login, or "-".
    pub username: String,
    /// Numeric session id, constant for the session's lifetime.
    pub session_id: u64,
    /// Incremented on every new offer (RFC 3264 §8), so a re-INVITE with the same version
    /// changes nothing.
    pub session_version: u64,
    /// Unicast address of the originator; may be an FQDN, and is never used to send media.
    pub address: String,
    /// Whether the address type is IP6.
    pub ipv6: bool,
}

/// `c=` (RFC 8866 §5.7): where media is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The address; 0.0.0.0 is the RFC 2543 way of putting a call on hold.
    pub address: IpAddr,
}

impl Connection {
    /// RFC 2543 hold: "c=IN IP4 0.0.0.0" (RFC 3264 §8.4 still asks answerers to understand
    /// it), or its IPv6 analogue.
    pub fn is_hold(&self) -> bool {
        self.address.is_unspecified()
    }
}

/// `a=rtpmap` (RFC 8866 §6.6): a payload type's encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type it describes.
    pub payload_type: u8,
    /// Encoding name, compared case-insensitively ("PCMU", "telephone-event").
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels, when given.
    pub channels: Option<u16>,
}

/// `a=fmtp` (RFC 8866 §6.15): format parameters, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// The format (payload type) it qualifies.
    pub format: String,
    /// Everything after the format.
    pub parameters: String,
}

/// Any other `a=` line, kept so a B2BUA could relay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Value after the colon, if any.
    pub value: Option<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: "audio", "video", "application", …
    pub kind: String,
    /// Transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// `/<number of ports>` when present (rare, for layered encodings).
    pub port_count: Option<u16>,
    /// Transport protocol: "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", …
    pub protocol: String,
    /// Media formats in the offerer's preference order (payload types for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=`, overriding the session-level one.
    pub connection: Option<Connection>,
    /// `a=rtpmap` lines in order.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` lines in order.
    pub fmtps: Vec<Fmtp>,
    /// `a=ptime`: the packet duration the sender of this SDP wants to receive, in ms.
    pub ptime: Option<u32>,
    /// Media-level direction attribute.
    pub direction: Option<Direction>,
    /// Other attributes in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// The rtpmap for a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == payload_type)
    }

    /// The fmtp parameters for a format.
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.fmtps
            .iter()
            .find(|f| f.format == format)
            .map(|f| f.parameters.as_str())
    }

    /// Payload types among the formats, skipping non-numeric ones.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    /// Whether we can take part in this stream at all: audio over plain RTP/AVP, port set.
    fn is_usable_audio(&self) -> bool {
        self.port != 0
            && self.kind.eq_ignore_ascii_case("audio")
            && self.protocol.eq_ignore_ascii_case("RTP/AVP")
    }

    /// The first G.711 payload type in the offerer's order. A payload type with an rtpmap is
    /// judged by its encoding name (case-insensitive) and clock rate, so a dynamic type mapped
    /// to PCMU counts and a static type remapped to something else does not; 0 and 8 without
    /// rtpmap are the static types of RFC 3551 Table 4.
    fn first_g711(&self) -> Option<(G711, u8)> {
        self.payload_types().find_map(|pt| {
            let codec = match self.rtpmap(pt) {
                Some(map) => G711::from_encoding_name(&map.encoding).filter(|_| {
                    map.clock_rate == 8000 && map.channels.is_none_or(|channels| channels == 1)
                }),
                None => G711::from_payload_type(pt),
            }?;
            Some((codec, pt))
        })
    }

    /// The payload type of telephone-event at 8 kHz, the clock of G.711 (RFC 4733 §7.1.1: the
    /// event clock must match the audio's). Offers often list several rates (Linphone offers
    /// 48000, 16000 and 8000).
    fn telephone_event(&self) -> Option<u8> {
        self.payload_types().find(|&pt| {
            self.rtpmap(pt).is_some_and(|map| {
                map.encoding.eq_ignore_ascii_case("telephone-event") && map.clock_rate == 8000
            })
        })
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`, the default for every m-line.
    pub connection: Option<Connection>,
    /// First `t=`: start and stop (0 0 for the unbounded sessions of SIP, RFC 3264 §5).
    pub timing: (u64, u64),
    /// Session-level direction, the default for every m-line.
    pub direction: Option<Direction>,
    /// Other session-level attributes.
    pub attributes: Vec<Attribute>,
    /// The m-lines in order; the answer must keep this order (RFC 3264 §6).
    pub media: Vec<MediaDescription>,
}

/// One `<type>=<value>` line.
struct Line<'a> {
    number: usize,
    kind: u8,
    value: &'a str,
}

impl SessionDescription {
    /// Parses an SDP body. Lines may end in CRLF or LF (RFC 8866 §5: parsers SHOULD accept
    /// LF); blank lines are skipped; unknown and unused line types (`b=`, `i=`, `k=`, …) are
    /// ignored. Never panics.
    pub fn parse(body: &str) -> Result<Self, SdpError> {
        if body.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge {
                len: body.len(),
                max: MAX_SDP_LEN,
            });
        }
        let mut lines = body
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(number, text)| {
                let bytes = text.as_bytes();
                match bytes {
                    [kind @ b'a'..=b'z', b'=', ..] => Ok(Line {
                        number,
                        kind: *kind,
                        value: &text[2..],
                    }),
                    _ => Err(malformed(number, "expected <type>=<value>")),
                }
            });

        let first = lines.next().ok_or(SdpError::MissingLine { kind: 'v' })??;
        if first.kind != b'v' {
            return Err(SdpError::MissingLine { kind: 'v' });
        }
        if first.value.trim() != "0" {
            return Err(malformed(first.number, "unsupported SDP version"));
        }

        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut timing = None;
        let mut direction = None;
        let mut attributes = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();

        for line in lines {
            let line = line?;
            let Line {
                number,
                kind,
                value,
            } = line;
            if kind == b'm' {
                media.push(parse_media_line(number, value)?);
                continue;
            }
            if let Some(current) = media.last_mut() {
                match kind {
                    b'c' => current.connection = Some(parse_connection(number, value)?),
                    b'a' => parse_media_attribute(current, number, value)?,
                    b'v' | b'o' | b's' | b't' => {
                        return Err(malformed(
                            number,
                            "session-level line inside a media section",
                        ))
                    }
                    _ => {}
                }
                continue;
            }
            match kind {
                b'v' => return Err(malformed(number, "repeated v= line")),
                b'o' if origin.is_some() => return Err(malformed(number, "repeated o= line")),
                b'o' => origin = Some(parse_origin(number, value)?),
                b's' if session_name.is_some() => {
                    return Err(malformed(number, "repeated s= line"))
                }
                b's' => session_name = Some(value.to_owned()),
                b'c' => connection = Some(parse_connection(number, value)?),
                // Several t= lines are legal (RFC 8866 §5.9); SIP sessions use one.
                b't' if timing.is_none() => timing = Some(parse_timing(number, value)?),
                b'a' => {
                    let attribute = parse_attribute(value);
                    match Direction::from_attribute(&attribute.name) {
                        Some(d) if attribute.value.is_none() => direction = Some(d),
                        _ => attributes.push(attribute),
                    }
                }
                _ => {}
            }
        }

        let sdp = Self {
            origin: origin.ok_or(SdpError::MissingLine { kind: 'o' })?,
            session_name: session_name.ok_or(SdpError::MissingLine { kind: 's' })?,
            connection,
            timing: timing.ok_or(SdpError::MissingLine { kind: 't' })?,
            direction,
            attributes,
            media,
        };
        for (media_index, m) in sdp.media.iter().enumerate() {
            if m.port != 0 && m.connection.is_none() && sdp.connection.is_none() {
                return Err(SdpError::MissingConnection { media_index });
            }
        }
        Ok(sdp)
    }

    /// The connection that applies to an m-line: its own, else the session's.
    pub fn connection_for(&self, media_index: usize) -> Option<Connection> {
        self.media
            .get(media_index)
            .and_then(|m| m.connection)
            .or(self.connection)
    }

    /// The direction that applies to an m-line: its own, else the session's, else sendrecv
    /// (RFC 3264 §5.1).
    pub fn direction_for(&self, media_index: usize) -> Direction {
        self.media
            .get(media_index)
            .and_then(|m| m.direction)
            .or(self.direction)
            .unwrap_or(Direction::SendRecv)
    }

    /// Index of the audio stream we would use: the first usable audio m-line with G.711.
    pub fn audio_index(&self) -> Option<usize> {
        self.media
            .iter()
            .position(|m| m.is_usable_audio() && m.first_g711().is_some())
    }

    /// Whether this SDP puts our audio on hold (RFC 3264 §8.4): the stream is sendonly or
    /// inactive, or its address is 0.0.0.0 (the RFC 2543 way older phones still use).
    pub fn is_hold(&self) -> bool {
        self.audio_index().is_some_and(|index| {
            matches!(
                self.direction_for(index),
                Direction::SendOnly | Direction::Inactive
            ) || self.connection_for(index).is_some_and(|c| c.is_hold())
        })
    }
}

impl fmt::Display for SessionDescription {
    /// Prints with CRLF line ends (RFC 8866 §5) in the mandated order: v o s c t a, then per
    /// m-line: m c a.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} {}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            if o.ipv6 { "IP6" } else { "IP4" },
            o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(c) = self.connection {
            write_connection(f, c)?;
        }
        write!(f, "t={} {}\r\n", self.timing.0, self.timing.1)?;
        for attribute in &self.attributes {
            write_attribute(f, attribute)?;
        }
        if let Some(direction) = self.direction {
            write!(f, "a={}\r\n", direction.as_str())?;
        }
        for m in &self.media {
            write!(f, "m={} {}", m.kind, m.port)?;
            if let Some(count) = m.port_count {
                write!(f, "/{count}")?;
            }
            write!(f, " {}", m.protocol)?;
            for format in &m.formats {
                write!(f, " {format}")?;
            }
            write!(f, "\r\n")?;
            if let Some(c) = m.connection {
                write_connection(f, c)?;
            }
            for map in &m.rtpmaps {
                write!(
                    f,
                    "a=rtpmap:{} {}/{}",
                    map.payload_type, map.encoding, map.clock_rate
                )?;
                if let Some(channels) = map.channels {
                    write!(f, "/{channels}")?;
                }
                write!(f, "\r\n")?;
            }
            for fmtp in &m.fmtps {
                write!(f, "a=fmtp:{} {}\r\n", fmtp.format, fmtp.parameters)?;
            }
            if let Some(ptime) = m.ptime {
                write!(f, "a=ptime:{ptime}\r\n")?;
            }
            for attribute in &m.attributes {
                write_attribute(f, attribute)?;
            }
            if let Some(direction) = m.direction {
                write!(f, "a={}\r\n", direction.as_str())?;
            }
        }
        Ok(())
    }
}

fn write_connection(f: &mut fmt::Formatter<'_>, c: Connection) -> fmt::Result {
    let kind = if c.address.is_ipv6() { "IP6" } else { "IP4" };
    write!(f, "c=IN {kind} {}\r\n", c.address)
}

fn write_attribute(f: &mut fmt::Formatter<'_>, attribute: &Attribute) -> fmt::Result {
    match &attribute.value {
        Some(value) => write!(f, "a={}:{value}\r\n", attribute.name),
        None => write!(f, "a={}\r\n", attribute.name),
    }
}

fn malformed(line: usize, reason: &'static str) -> SdpError {
    SdpError::Malformed { line, reason }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
fn parse_origin(line: usize, value: &str) -> Result<Origin, SdpError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().take(7).collect();
    let [username, id, version, nettype, addrtype, address] = fields[..] else {
        return Err(malformed(line, "o= needs six fields"));
    };
    if nettype != "IN" {
        return Err(malformed(line, "o= network type is not IN"));
    }
    Ok(Origin {
        username: username.to_owned(),
        session_id: id
            .parse()
            .map_err(|_| malformed(line, "o= session id is not a 64-bit number"))?,
        session_version: version
            .parse()
            .map_err(|_| malformed(line, "o= session version is not a 64-bit number"))?,
        address: address.to_owned(),
        ipv6: parse_address_type(line, addrtype)?,
    })
}

fn parse_address_type(line: usize, addrtype: &str) -> Result<bool, SdpError> {
    match addrtype {
        "IP4" => Ok(false),
        "IP6" => Ok(true),
        _ => Err(malformed(line, "address type is not IP4 or IP6")),
    }
}

/// `c=<nettype> <addrtype> <connection-address>`; a multicast suffix (`/ttl[/n]`) is dropped.
fn parse_connection(line: usize, value: &str) -> Result<Connection, SdpError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().take(4).collect();
    let [nettype, addrtype, address] = fields[..] else {
        return Err(malformed(line, "c= needs three fields"));
    };
    if nettype != "IN" {
        return Err(malformed(line, "c= network type is not IN"));
    }
    let ipv6 = parse_address_type(line, addrtype)?;
    let host = address.split('/').next().unwrap_or(address);
    let address: IpAddr = host
        .parse()
        .map_err(|_| malformed(line, "c= address is not an IP address"))?;
    if address.is_ipv6() != ipv6 {
        return Err(malformed(
            line,
            "c= address does not match its address type",
        ));
    }
    Ok(Connection { address })
}

/// `t=<start-time> <stop-time>`
fn parse_timing(line: usize, value: &str) -> Result<(u64, u64), SdpError> {
    let mut fields = value.split_ascii_whitespace();
    let (Some(start), Some(stop), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(malformed(line, "t= needs two fields"));
    };
    let start = start
        .parse()
        .map_err(|_| malformed(line, "t= start is not a number"))?;
    let stop = stop
        .parse()
        .map_err(|_| malformed(line, "t= stop is not a number"))?;
    Ok((start, stop))
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`
fn parse_media_line(line: usize, value: &str) -> Result<MediaDescription, SdpError> {
    let mut fields = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(protocol)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(
            line,
            "m= needs media, port, protocol and formats",
        ));
    };
    let formats: Vec<String> = fields.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(malformed(line, "m= lists no formats"));
    }
    let (port, port_count) = match port.split_once('/') {
        Some((port, count)) => (
            port,
            Some(
                count
                    .parse()
                    .map_err(|_| malformed(line, "m= port count is not a number"))?,
            ),
        ),
        None => (port, None),
    };
    let port = port
        .parse()
        .map_err(|_| malformed(line, "m= port is not a number in 0..=65535"))?;
    Ok(MediaDescription {
        kind: kind.to_owned(),
        port,
        port_count,
        protocol: protocol.to_owned(),
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        direction: None,
        attributes: Vec::new(),
    })
}

/// `a=<name>[:<value>]`
fn parse_attribute(value: &str) -> Attribute {
    match value.split_once(':') {
        Some((name, value)) => Attribute {
            name: name.to_owned(),
            value: Some(value.to_owned()),
        },
        None => Attribute {
            name: value.to_owned(),
            value: None,
        },
    }
}

fn parse_media_attribute(
    media: &mut MediaDescription,
    line: usize,
    value: &str,
) -> Result<(), SdpError> {
    let attribute = parse_attribute(value);
    match (attribute.name.as_str(), attribute.value.as_deref()) {
        ("rtpmap", Some(value)) => media.rtpmaps.push(parse_rtpmap(line, value)?),
        ("fmtp", Some(value)) => {
            let (format, parameters) = value.split_once(' ').unwrap_or((value, ""));
            media.fmtps.push(Fmtp {
                format: format.to_owned(),
                parameters: parameters.trim().to_owned(),
            });
        }
        ("ptime", Some(value)) => {
            media.ptime = Some(
                value
                    .trim()
                    .parse()
                    .map_err(|_| malformed(line, "a=ptime is not a whole number of ms"))?,
            );
        }
        (name, None) if Direction::from_attribute(name).is_some() => {
            media.direction = Direction::from_attribute(name);
        }
        _ => media.attributes.push(attribute),
    }
    Ok(())
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`
fn parse_rtpmap(line: usize, value: &str) -> Result<RtpMap, SdpError> {
    let Some((payload_type, encoding)) = value.split_once(' ') else {
        return Err(malformed(
            line,
            "a=rtpmap needs a payload type and an encoding",
        ));
    };
    let payload_type = payload_type
        .parse::<u8>()
        .ok()
        .filter(|pt| *pt <= 127)
        .ok_or(malformed(line, "a=rtpmap payload type is not in 0..=127"))?;
    let mut parts = encoding.trim().split('/');
    let (Some(name), Some(clock_rate)) = (parts.next(), parts.next()) else {
        return Err(malformed(line, "a=rtpmap encoding lacks /<clock rate>"));
    };
    let clock_rate = clock_rate
        .parse()
        .map_err(|_| malformed(line, "a=rtpmap clock rate is not a number"))?;
    let channels = match (parts.next(), parts.next()) {
        (None, _) => None,
        (Some(channels), None) => Some(
            channels
                .parse()
                .map_err(|_| malformed(line, "a=rtpmap channel count is not a number"))?,
        ),
        (Some(_), Some(_)) => return Err(malformed(line, "a=rtpmap has too many fields")),
    };
    if name.is_empty() {
        return Err(malformed(line, "a=rtpmap encoding name is empty"));
    }
    Ok(RtpMap {
        payload_type,
        encoding: name.to_owned(),
        clock_rate,
        channels,
    })
}

/// What we bring to an offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address our RTP socket is reachable at.
    pub address: IpAddr,
    /// Our RTP port (RTCP is port + 1, RFC 3550 §11).
    pub port: u16,
    /// `o=` session id, constant for the dialog.
    pub session_id: u64,
    /// `o=` version: the caller increments it for each new offer or changed answer (RFC 3264
    /// §8).
    pub session_version: u64,
    /// What we want: sendrecv normally, sendonly when the B2BUA holds the other leg.
    pub direction: Direction,
}

/// The outcome of offer/answer for our one audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Index of the audio m-line in both offer and answer.
    pub media_index: usize,
    /// The codec.
    pub codec: G711,
    /// Its payload type in this session (0 or 8 unless a dynamic type was mapped to it).
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides do RFC 4733; otherwise the IVR needs
    /// SIP INFO or in-band detection.
    pub telephone_event: Option<u8>,
    /// Where to send RTP; `None` when the peer gave 0.0.0.0 (hold) or port 0.
    pub remote: Option<SocketAddr>,
    /// Our direction: whether we send and/or receive.
    pub direction: Direction,
    /// The peer's `a=ptime`, if it asked for one; we still send 20 ms unless the driver adapts.
    pub remote_ptime: Option<u32>,
    /// The peer put us on hold (sendonly/inactive or 0.0.0.0).
    pub hold: bool,
}

/// An answer and what it agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The SDP to send back.
    pub sdp: SessionDescription,
    /// The negotiated audio stream.
    pub negotiated: Negotiated,
}

/// Builds our RFC 3264 answer to `offer`: the first RTP/AVP audio stream offering PCMU or PCMA
/// gets the first of those in the offerer's order plus telephone-event at 8 kHz if offered;
/// every other m-line is rejected with port 0 (§6). Errors with
/// [`SdpError::NoCommonCodec`] when no stream qualifies.
pub fn answer(offer: &SessionDescription, local: &LocalMedia) -> Result<Answer, SdpError> {
    let media_index = offer.audio_index().ok_or(SdpError::NoCommonCodec)?;
    let offered = offer
        .media
        .get(media_index)
        .ok_or(SdpError::NoCommonCodec)?;
    let (codec, payload_type) = offered.first_g711().ok_or(SdpError::NoCommonCodec)?;
    let telephone_event = offered.telephone_event();
    let offer_direction = offer.direction_for(media_index);
    let direction = offer_direction.mirror().intersect(local.direction);
    let remote_connection = offer.connection_for(media_index);
    let hold = matches!(offer_direction, Direction::SendOnly | Direction::Inactive)
        || remote_connection.is_some_and(|c| c.is_hold());
    let remote = remote_connection
        .filter(|c| !c.is_hold())
        .map(|c| SocketAddr::new(c.address, offered.port));

    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(index, m)| {
            if index == media_index {
                // RFC 4733 §2.4.1: without an fmtp the offerer sends events 0-15; with one we
                // accept 0-16 (flash is ignored by the detector but harmless to receive).
                let offered_fmtp = telephone_event.and_then(|te| offered.fmtp(&te.to_string()));
                let te_events = if offered_fmtp.is_some() {
                    "0-16"
                } else {
                    "0-15"
                };
                audio_media(
                    local,
                    codec,
                    payload_type,
                    telephone_event,
                    te_events,
                    direction,
                )
            } else {
                rejected_media(m)
            }
        })
        .collect();

    Ok(Answer {
        sdp: local_session(local, media),
        negotiated: Negotiated {
            media_index,
            codec,
            payload_type,
            telephone_event,
            remote,
            direction,
            remote_ptime: offered.ptime,
            hold,
        },
    })
}

/// Builds our offer: one audio stream with PCMU, PCMA and telephone-event/8000 0-16, 20 ms.
pub fn offer(local: &LocalMedia) -> SessionDescription {
    let mut media = audio_media(
        local,
        G711::Pcmu,
        G711::Pcmu.payload_type(),
        Some(TELEPHONE_EVENT_PT),
        "0-16",
        local.direction,
    );
    // Insert PCMA after PCMU, keeping telephone-event last.
    media
        .formats
        .insert(1, G711::Pcma.payload_type().to_string());
    media
        .rtpmaps
        .insert(1, g711_rtpmap(G711::Pcma, G711::Pcma.payload_type()));
    local_session(local, vec![media])
}

/// Reads the answer to our [`offer`]: the answerer chose one of our codecs on the first
/// m-line (RFC 3264 §6: the answer has the same m-lines in the same order).
pub fn process_answer(
    our_offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, SdpError> {
    if answer.media.len() != our_offer.media.len() {
        return Err(SdpError::AnswerMismatch {
            reason: "number of m-lines differs from the offer",
        });
    }
    let media_index = our_offer.audio_index().ok_or(SdpError::AnswerMismatch {
        reason: "our offer has no audio stream",
    })?;
    let answered = answer
        .media
        .get(media_index)
        .ok_or(SdpError::AnswerMismatch {
            reason: "answer lacks the audio m-line",
        })?;
    if answered.port == 0 {
        return Err(SdpError::NoCommonCodec);
    }
    let (codec, payload_type) = answered.first_g711().ok_or(SdpError::NoCommonCodec)?;
    let ours = our_offer.media.get(media_index);
    if !ours.is_some_and(|m| m.payload_types().any(|pt| pt == payload_type)) {
        return Err(SdpError::AnswerMismatch {
            reason: "answer chose a payload type we did not offer",
        });
    }
    let answer_direction = answer.direction_for(media_index);
    let connection = answer.connection_for(media_index);
    Ok(Negotiated {
        media_index,
        codec,
        payload_type,
        telephone_event: answered.telephone_event(),
        remote: connection
            .filter(|c| !c.is_hold())
            .map(|c| SocketAddr::new(c.address, answered.port)),
        direction: answer_direction
            .mirror()
            .intersect(our_offer.direction_for(media_index)),
        remote_ptime: answered.ptime,
        hold: matches!(answer_direction, Direction::SendOnly | Direction::Inactive)
            || connection.is_some_and(|c| c.is_hold()),
    })
}

/// Session-level lines of everything we send.
fn local_session(local: &LocalMedia, media: Vec<MediaDescription>) -> SessionDescription {
    SessionDescription {
        origin: Origin {
            username: "onestatus".to_owned(),
            session_id: local.session_id,
            session_version: local.session_version,
            address: local.address.to_string(),
            ipv6: local.address.is_ipv6(),
        },
        session_name: "OneStatus".to_owned(),
        connection: Some(Connection {
            address: local.address,
        }),
        timing: (0, 0),
        direction: None,
        attributes: Vec::new(),
        media,
    }
}

fn g711_rtpmap(codec: G711, payload_type: u8) -> RtpMap {
    RtpMap {
        payload_type,
        encoding: codec.encoding_name().to_owned(),
        clock_rate: 8000,
        channels: None,
    }
}

/// Our audio m-line.
fn audio_media(
    local: &LocalMedia,
    codec: G711,
    payload_type: u8,
    telephone_event: Option<u8>,
    events: &str,
    direction: Direction,
) -> MediaDescription {
    let mut formats = vec![payload_type.to_string()];
    // Static types need no rtpmap, but RFC 8866 §6.6 recommends one and some gateways insist.
    let mut rtpmaps = vec![g711_rtpmap(codec, payload_type)];
    let mut fmtps = Vec::new();
    if let Some(te) = telephone_event {
        formats.push(te.to_string());
        rtpmaps.push(RtpMap {
            payload_type: te,
            encoding: "telephone-event".to_owned(),
            clock_rate: 8000,
            channels: None,
        });
        fmtps.push(Fmtp {
            format: te.to_string(),
            parameters: events.to_owned(),
        });
    }
    MediaDescription {
        kind: "audio".to_owned(),
        port: local.port,
        port_count: None,
        protocol: "RTP/AVP".to_owned(),
        formats,
        connection: None,
        rtpmaps,
        fmtps,
        ptime: Some(PTIME_MS),
        direction: Some(direction),
        attributes: Vec::new(),
    }
}

/// RFC 3264 §6: "An offered stream MAY be rejected in the answer by setting the port to zero.
/// ... the answer MUST contain at least one media format", so we echo the first one.
fn rejected_media(offered: &MediaDescription) -> MediaDescription {
    MediaDescription {
        kind: offered.kind.clone(),
        port: 0,
        port_count: None,
        protocol: offered.protocol.clone(),
        formats: offered.formats.iter().take(1).cloned().collect(),
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        direction: None,
        attributes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn fixture(name: &str) -> SessionDescription {
        let text = match name {
            "asterisk" => include_str!("../../testdata/sdp/asterisk.sdp"),
            "hold_rfc2543" => include_str!("../../testdata/sdp/hold_rfc2543.sdp"),
            "hold_sendonly" => include_str!("../../testdata/sdp/hold_sendonly.sdp"),
            "ipv6" => include_str!("../../testdata/sdp/ipv6.sdp"),
            "linphone" => include_str!("../../testdata/sdp/linphone.sdp"),
            "no_common_codec" => include_str!("../../testdata/sdp/no_common_codec.sdp"),
            "opus_first" => include_str!("../../testdata/sdp/opus_first.sdp"),
            "sipp_uac" => include_str!("../../testdata/sdp/sipp_uac.sdp"),
            "video_multi" => include_str!("../../testdata/sdp/video_multi.sdp"),
            "zoiper" => include_str!("../../testdata/sdp/zoiper.sdp"),
            other => panic!("no fixture {other}"),
        };
        SessionDescription::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn local() -> LocalMedia {
        LocalMedia {
            address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port: 30000,
            session_id: 4242,
            session_version: 1,
            direction: Direction::SendRecv,
        }
    }

    fn negotiate(name: &str) -> Answer {
        answer(&fixture(name), &local()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn parses_every_fixture_and_round_trips_through_print() {
        for name in [
            "asterisk",
            "hold_rfc2543",
            "hold_sendonly",
            "ipv6",
            "linphone",
            "no_common_codec",
            "opus_first",
            "sipp_uac",
            "video_multi",
            "zoiper",
        ] {
            let sdp = fixture(name);
            let printed = sdp.to_string();
            assert!(printed.ends_with("\r\n"));
            assert_eq!(SessionDescription::parse(&printed), Ok(sdp), "{name}");
        }
    }

    #[test]
    fn parses_fields_of_a_linphone_offer() {
        let sdp = fixture("linphone");
        assert_eq!(sdp.origin.username, "alice");
        assert_eq!(sdp.origin.session_id, 1983);
        assert_eq!(sdp.origin.session_version, 2843);
        assert_eq!(sdp.session_name, "Talk");
        assert_eq!(sdp.timing, (0, 0));
        assert_eq!(sdp.attributes.len(), 2);
        let audio = &sdp.media[0];
        assert_eq!(audio.kind, "audio");
        assert_eq!(audio.port, 7078);
        assert_eq!(audio.protocol, "RTP/AVP");
        assert_eq!(
            audio.payload_types().collect::<Vec<_>>(),
            vec![96, 97, 98, 0, 8, 18, 101, 99, 100]
        );
        assert_eq!(
            audio.rtpmap(96),
            Some(&RtpMap {
                payload_type: 96,
                encoding: "opus".into(),
                clock_rate: 48000,
                channels: Some(2)
            })
        );
        assert_eq!(audio.fmtp("18"), Some("annexb=yes"));
        assert_eq!(
            sdp.connection_for(0),
            Some(Connection {
                address: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 34))
            })
        );
        assert_eq!(sdp.direction_for(0), Direction::SendRecv);
    }

    #[test]
    fn linphone_gets_pcmu_and_the_8khz_telephone_event() {
        let answer = negotiate("linphone");
        let n = answer.negotiated;
        assert_eq!((n.codec, n.payload_type), (G711::Pcmu, 0));
        // 101 is telephone-event/48000 in this offer; only 100 runs at G.711's clock.
        assert_eq!(n.telephone_event, Some(100));
        assert_eq!(n.remote, Some("192.168.1.34:7078".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);
        assert!(!n.hold);
    }

    #[test]
    fn asterisk_offer_prefers_pcma_and_answer_is_exact() {
        let answer = negotiate("asterisk");
        assert_eq!(answer.negotiated.codec, G711::Pcma);
        assert_eq!(answer.negotiated.payload_type, 8);
        assert_eq!(answer.negotiated.telephone_event, Some(101));
        assert_eq!(answer.negotiated.remote_ptime, Some(20));
        assert_eq!(
            answer.sdp.to_string(),
            "v=0\r\n\
             o=onestatus 4242 1 IN IP4 192.0.2.1\r\n\
             s=OneStatus\r\n\
             c=IN IP4 192.0.2.1\r\n\
             t=0 0\r\n\
             m=audio 30000 RTP/AVP 8 101\r\n\
             a=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn zoiper_telephone_event_is_the_8khz_one() {
        let n = negotiate("zoiper").negotiated;
        assert_eq!((n.codec, n.payload_type), (G711::Pcmu, 0));
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote, Some("192.168.1.50:8000".parse().unwrap()));
    }

    #[test]
    fn sipp_default_offer_without_telephone_event() {
        let answer = negotiate("sipp_uac");
        assert_eq!(answer.negotiated.codec, G711::Pcmu);
        assert_eq!(answer.negotiated.telephone_event, None);
        assert_eq!(answer.sdp.media[0].formats, vec!["0"]);
        assert!(!answer.sdp.to_string().contains("telephone-event"));
    }

    #[test]
    fn opus_first_falls_back_to_pcmu() {
        let n = negotiate("opus_first").negotiated;
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (G711::Pcmu, 0, Some(101))
        );
    }

    #[test]
    fn ipv6_offer_and_answer() {
        let sdp = fixture("ipv6");
        assert!(sdp.origin.ipv6);
        let mut ours = local();
        ours.address = IpAddr::V6("2001:db8::1".parse().unwrap());
        let answer = answer(&sdp, &ours).unwrap();
        let n = answer.negotiated;
        assert_eq!(n.codec, G711::Pcmu);
        // rtpmap names compare case-insensitively: TELEPHONE-EVENT/8000.
        assert_eq!(n.telephone_event, Some(96));
        assert_eq!(
            n.remote,
            Some(SocketAddr::new(
                IpAddr::V6("2001:db8::10".parse::<Ipv6Addr>().unwrap()),
                20000
            ))
        );
        let text = answer.sdp.to_string();
        assert!(
            text.contains("o=onestatus 4242 1 IN IP6 2001:db8::1\r\n"),
            "{text}"
        );
        assert!(text.contains("c=IN IP6 2001:db8::1\r\n"), "{text}");
        assert!(text.contains("a=fmtp:96 0-16\r\n"), "{text}");
    }

    #[test]
    fn multiple_m_lines_reject_all_but_the_audio_stream() {
        let offer = fixture("video_multi");
        assert_eq!(offer.origin.address, "host.example.com");
        assert_eq!(offer.connection, None);
        let answer = negotiate("video_multi");
        assert_eq!(answer.negotiated.media_index, 1);
        assert_eq!(answer.negotiated.codec, G711::Pcma);
        assert_eq!(answer.negotiated.payload_type, 8);
        assert_eq!(
            answer.negotiated.remote,
            Some("192.0.2.33:49170".parse().unwrap())
        );
        let media = &answer.sdp.media;
        assert_eq!(media.len(), 3, "one answer m-line per offered m-line");
        assert_eq!((media[0].kind.as_str(), media[0].port), ("video", 0));
        assert_eq!(media[0].formats, vec!["99"]);
        assert_eq!((media[1].kind.as_str(), media[1].port), ("audio", 30000));
        assert_eq!(media[1].formats, vec!["8", "101"]);
        assert_eq!((media[2].protocol.as_str(), media[2].port), ("RTP/SAVP", 0));
        assert!(answer.sdp.to_string().contains("m=video 0 RTP/AVP 99\r\n"));
    }

    #[test]
    fn no_common_codec_is_488() {
        let error = answer(&fixture("no_common_codec"), &local()).unwrap_err();
        assert_eq!(error, SdpError::NoCommonCodec);
        assert_eq!(error.sip_status(), 488);
    }

    #[test]
    fn hold_by_sendonly_is_answered_recvonly() {
        let offer = fixture("hold_sendonly");
        assert!(offer.is_hold());
        let answer = answer(&offer, &local()).unwrap();
        assert!(answer.negotiated.hold);
        assert_eq!(answer.negotiated.direction, Direction::RecvOnly);
        assert!(answer.sdp.to_string().contains("a=recvonly\r\n"));
    }

    #[test]
    fn hold_by_zero_address_gives_no_remote() {
        let offer = fixture("hold_rfc2543");
        assert!(offer.is_hold());
        let n = answer(&offer, &local()).unwrap().negotiated;
        assert!(n.hold);
        assert_eq!(n.remote, None);
        assert!(!fixture("asterisk").is_hold());
    }

    #[test]
    fn directions_mirror_and_intersect() {
        use Direction::*;
        let cases = [
            (SendRecv, SendRecv, SendRecv),
            (SendOnly, SendRecv, RecvOnly),
            (RecvOnly, SendRecv, SendOnly),
            (Inactive, SendRecv, Inactive),
            (SendRecv, SendOnly, SendOnly),
            (SendOnly, SendOnly, Inactive),
        ];
        for (offered, ours, expected) in cases {
            assert_eq!(
                offered.mirror().intersect(ours),
                expected,
                "{offered:?}/{ours:?}"
            );
        }
        // Session-level direction applies when the m-line has none.
        let text = include_str!("../../testdata/sdp/sipp_uac.sdp")
            .replace("t=0 0\n", "t=0 0\na=inactive\n");
        let sdp = SessionDescription::parse(&text).unwrap();
        assert_eq!(sdp.direction_for(0), Inactive);
        assert_eq!(
            answer(&sdp, &local()).unwrap().negotiated.direction,
            Inactive
        );
    }

    #[test]
    fn static_types_without_rtpmap_and_dynamic_pcmu() {
        let base = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n";
        let sdp =
            SessionDescription::parse(&format!("{base}m=audio 5000 RTP/AVP 3 8 0\r\n")).unwrap();
        let n = answer(&sdp, &local()).unwrap().negotiated;
        assert_eq!((n.codec, n.payload_type), (G711::Pcma, 8));
        // A dynamic payload type mapped to PCMU counts, a static type remapped away does not.
        let sdp = SessionDescription::parse(&format!(
            "{base}m=audio 5000 RTP/AVP 0 97\r\na=rtpmap:0 G729/8000\r\na=rtpmap:97 pcmu/8000\r\n"
        ))
        .unwrap();
        let n = answer(&sdp, &local()).unwrap().negotiated;
        assert_eq!((n.codec, n.payload_type), (G711::Pcmu, 97));
        // PCMU at another clock rate is not G.711.
        let sdp = SessionDescription::parse(&format!(
            "{base}m=audio 5000 RTP/AVP 97\r\na=rtpmap:97 PCMU/16000\r\n"
        ))
        .unwrap();
        assert_eq!(answer(&sdp, &local()).unwrap_err(), SdpError::NoCommonCodec);
    }

    #[test]
    fn our_offer_and_the_answer_to_it() {
        let ours = offer(&local());
        assert_eq!(
            ours.to_string(),
            "v=0\r\n\
             o=onestatus 4242 1 IN IP4 192.0.2.1\r\n\
             s=OneStatus\r\n\
             c=IN IP4 192.0.2.1\r\n\
             t=0 0\r\n\
             m=audio 30000 RTP/AVP 0 8 101\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
        // Answering our own offer with our own answerer closes the loop.
        let mut peer = local();
        peer.address = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
        peer.port = 40000;
        let their = answer(&ours, &peer).unwrap().sdp;
        let n = process_answer(&ours, &their).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (G711::Pcmu, 0, Some(101))
        );
        assert_eq!(n.remote, Some("198.51.100.2:40000".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);

        // An answer picking a codec we never offered is refused.
        let mut bogus = their.clone();
        bogus.media[0].formats = vec!["97".into()];
        bogus.media[0].rtpmaps = vec![RtpMap {
            payload_type: 97,
            encoding: "PCMA".into(),
            clock_rate: 8000,
            channels: None,
        }];
        assert_eq!(
            process_answer(&ours, &bogus),
            Err(SdpError::AnswerMismatch {
                reason: "answer chose a payload type we did not offer"
            })
        );
        let mut rejected = their;
        rejected.media[0].port = 0;
        assert_eq!(
            process_answer(&ours, &rejected),
            Err(SdpError::NoCommonCodec)
        );
    }

    #[test]
    fn precise_errors_with_line_numbers() {
        let cases: [(&str, SdpError); 9] = [
            ("", SdpError::MissingLine { kind: 'v' }),
            (
                "o=- 1 1 IN IP4 1.2.3.4\r\n",
                SdpError::MissingLine { kind: 'v' },
            ),
            ("v=1\r\n", malformed(1, "unsupported SDP version")),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n",
                SdpError::MissingLine { kind: 't' },
            ),
            (
                "v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n",
                malformed(2, "o= session id is not a 64-bit number"),
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 example.com\r\n",
                malformed(4, "c= address is not an IP address"),
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n",
                malformed(5, "m= port is not a number in 0..=65535"),
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n",
                SdpError::MissingConnection { media_index: 0 },
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n\
                 m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
                malformed(7, "a=rtpmap encoding lacks /<clock rate>"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(SessionDescription::parse(text), Err(expected), "{text:?}");
        }
        assert_eq!(
            SessionDescription::parse("v=0\r\nhello\r\n"),
            Err(malformed(2, "expected <type>=<value>"))
        );
        assert_eq!(
            SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP6 1.2.3.4\r\n"),
            Err(malformed(3, "c= address does not match its address type"))
        );
        let huge = "a".repeat(MAX_SDP_LEN + 1);
        assert_eq!(
            SessionDescription::parse(&huge),
            Err(SdpError::TooLarge {
                len: MAX_SDP_LEN + 1,
                max: MAX_SDP_LEN
            })
        );
        assert_eq!(malformed(1, "x").sip_status(), 400);
    }

    #[test]
    fn multicast_suffix_and_unknown_lines_are_tolerated() {
        let sdp = SessionDescription::parse(
            "v=0\no=- 1 1 IN IP4 h\ns=x\ni=info\nu=http://x\ne=a@b\nc=IN IP4 224.2.1.1/127/3\n\
             b=AS:64\nt=0 0\nr=7d 1h 0 25h\nz=0 0\nk=clear:x\nm=audio 4000/2 RTP/AVP 0\n",
        )
        .unwrap();
        assert_eq!(
            sdp.connection.map(|c| c.address),
            Some(IpAddr::V4(Ipv4Addr::new(224, 2, 1, 1)))
        );
        assert_eq!(sdp.media[0].port_count, Some(2));
    }
}
