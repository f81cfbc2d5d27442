//! Finding message boundaries in a SIP byte stream (RFC 3261 §18.3): on TCP the header section
//! ends at the first empty line and the body is exactly `Content-Length` bytes, which is
//! mandatory on stream transports. Also the RFC 5626 §4.4.1 keep-alive: a bare CRLFCRLF "ping"
//! is answered with a CRLF "pong".
//!
//! Pure: bytes in, frames out. The TCP driver feeds what it reads and writes what comes back.

use bytes::{Buf, Bytes, BytesMut};

/// Limits that keep a hostile peer from making us buffer without end.
#[derive(Debug, Clone, Copy)]
pub struct FramingLimits {
    /// Largest header section (start line + headers + empty line).
    pub max_header_bytes: usize,
    /// Largest body.
    pub max_body_bytes: usize,
}

impl Default for FramingLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 48 * 1024,
        }
    }
}

/// One unit cut out of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole SIP message (headers and exactly Content-Length bytes of body).
    Message(Bytes),
    /// A CRLFCRLF keep-alive ping; answer with [`PONG`].
    Ping,
}

/// The RFC 5626 §4.4.1 answer to a ping.
pub const PONG: &[u8] = b"\r\n";

/// Why the stream cannot go on. After any of these the connection is closed: there is no way
/// to find the next message boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// No empty line within the header limit.
    #[error("header section larger than {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The declared body is over the limit (answer 513 if possible, then close).
    #[error("body of {declared} bytes larger than {limit}")]
    BodyTooLarge {
        /// What Content-Length said.
        declared: usize,
        /// The limit.
        limit: usize,
        /// The header section, so the driver can try to answer 513.
        headers: Bytes,
    },
    /// Content-Length missing (mandatory on streams, §18.3) or not a number.
    #[error("missing or malformed Content-Length")]
    BadContentLength {
        /// The header section, so the driver can try to answer 400.
        headers: Bytes,
    },
}

/// Accumulates stream bytes and yields frames.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buffer: BytesMut,
    limits: FramingLimits,
}

impl StreamFramer {
    /// A framer with these limits.
    pub fn new(limits: FramingLimits) -> Self {
        Self {
            buffer: BytesMut::new(),
            limits,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        // Keep-alives and stray line ends between messages (§7.5 allows CRLFs before a message).
        loop {
            if self.buffer.starts_with(b"\r\n\r\n") {
                self.buffer.advance(4);
                return Ok(Some(Frame::Ping));
            }
            if self.buffer.starts_with(b"\r\n") && self.buffer.len() >= 4 {
                self.buffer.advance(2);
                continue;
            }
            if self.buffer.first() == Some(&b'\r') || self.buffer.first() == Some(&b'\n') {
                if self.buffer.len() < 4 && self.buffer.iter().all(|b| *b == b'\r' || *b == b'\n') {
                    return Ok(None); // maybe the start of a ping
                }
                if self.buffer.starts_with(b"\n") {
                    self.buffer.advance(1);
                    continue;
                }
            }
            break;
        }
        let Some(end) = find(&self.buffer, b"\r\n\r\n") else {
            if self.buffer.len() > self.limits.max_header_bytes {
                return Err(FramingError::HeadersTooLarge {
                    limit: self.limits.max_header_bytes,
                });
            }
            return Ok(None);
        };
        let header_len = end + 4;
        if header_len > self.limits.max_header_bytes {
            return Err(FramingError::HeadersTooLarge {
                limit: self.limits.max_header_bytes,
            });
        }
        let headers = &self.buffer[..header_len];
        let Some(declared) = content_length(headers) else {
            return Err(FramingError::BadContentLength {
                headers: Bytes::copy_from_slice(headers),
            });
        };
        if declared > self.limits.max_body_bytes {
            return Err(FramingError::BodyTooLarge {
                declared,
                limit: self.limits.max_body_bytes,
                headers: Bytes::copy_from_slice(headers),
            });
        }
        if self.buffer.len() < header_len + declared {
            return Ok(None);
        }
        let message = self.buffer.split_to(header_len + declared).freeze();
        Ok(Some(Frame::Message(message)))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of `Content-Length` (or its compact form `l`, §7.3.3) in a header section.
/// `None` if it is absent, repeated with different values, or not a decimal number.
pub fn content_length(headers: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(headers).ok()?;
    let mut found: Option<usize> = None;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let value = value.trim();
            if value.is_empty() || value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: usize = value.parse().ok()?;
            match found {
                Some(previous) if previous != n => return None,
                _ => found = Some(n),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";

    fn framer() -> StreamFramer {
        StreamFramer::new(FramingLimits::default())
    }

    #[test]
    fn cuts_messages_split_across_reads() {
        let mut f = framer();
        let mut two = OPTIONS.to_vec();
        two.extend_from_slice(b"MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello");
        for chunk in two.chunks(7) {
            f.push(chunk);
        }
        assert_eq!(
            f.next_frame().unwrap(),
            Some(Frame::Message(Bytes::from_static(OPTIONS)))
        );
        match f.next_frame().unwrap() {
            Some(Frame::Message(m)) => assert!(m.ends_with(b"\r\n\r\nhello")),
            other => panic!("{other:?}"),
        }
        assert_eq!(f.next_frame().unwrap(), None);
    }

    #[test]
    fn waits_for_the_whole_body() {
        let mut f = framer();
        f.push(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\n12345");
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(b"67890");
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Message(_))));
    }

    #[test]
    fn keepalive_ping_and_stray_crlf() {
        let mut f = framer();
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        f.push(b"\r\n");
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(OPTIONS);
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Message(_))));
    }

    #[test]
    fn content_length_is_mandatory_and_numeric() {
        for bad in [
            &b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"[..],
            b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1e3\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            let mut f = framer();
            f.push(bad);
            assert!(matches!(
                f.next_frame(),
                Err(FramingError::BadContentLength { .. })
            ));
        }
    }

    #[test]
    fn limits_bound_the_buffer() {
        let mut f = framer();
        f.push(&vec![b'a'; 17 * 1024]);
        assert!(matches!(
            f.next_frame(),
            Err(FramingError::HeadersTooLarge { .. })
        ));
        let mut f = framer();
        f.push(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n");
        assert!(matches!(
            f.next_frame(),
            Err(FramingError::BodyTooLarge {
                declared: 999999,
                ..
            })
        ));
    }
}
