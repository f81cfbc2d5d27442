//! A binding of the location service (RFC 3261 §10): one contact address registered for an
//! address-of-record, with what the registrar needs to order and expire it and to reach the
//! phone behind NAT.

use std::fmt;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};

/// One registered contact of an address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The address-of-record in canonical form (§10.3 step 5), e.g. `sip:alice@example.com`.
    pub aor: String,
    /// The Contact URI exactly as the phone sent it; echoed in the 200 so the phone recognises
    /// its own binding (§10.2.4), and the target of requests to the AOR.
    pub contact_uri: String,
    /// When the binding lapses unless refreshed. Wall-clock, because bindings are stored.
    pub expires_at: DateTime<Utc>,
    /// Call-ID of the REGISTER that created or last refreshed it (§10.3 step 7).
    pub call_id: String,
    /// CSeq of that REGISTER: a later REGISTER with the same Call-ID must have a higher one.
    pub cseq: u32,
    /// Preference among the AOR's contacts (§10.2.1.2); absent means the phone gave none.
    pub q: Option<QValue>,
    /// Source address the REGISTER came from: behind NAT the Contact is unreachable and
    /// requests go here instead.
    pub received: SocketAddr,
    /// Transport it came over (a TCP/TLS phone is reached over its own connection).
    pub transport: rsip::Transport,
    /// The `+sip.instance` feature tag (RFC 5626 §4.1), identifying the device across
    /// contact address changes.
    pub instance: Option<String>,
    /// The REGISTER's Path values in order (RFC 3327 §5.3; empty: none): the preloaded Route
    /// set of requests to this binding ([`super::path`]).
    pub path: Vec<String>,
}

impl Binding {
    /// Whether the binding has lapsed at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// Seconds left, for the `expires` parameter of the 200 (§10.3 step 8).
    pub fn expires_in(&self, now: DateTime<Utc>) -> u32 {
        let seconds = (self.expires_at - now).num_seconds();
        u32::try_from(seconds.max(0)).unwrap_or(u32::MAX)
    }

    /// The Contact header value listing this binding in a 200 to REGISTER:
    /// `<uri>;expires=N[;q=…][;+sip.instance="…"]`.
    pub fn contact_value(&self, now: DateTime<Utc>) -> String {
        let mut value = format!("<{}>;expires={}", self.contact_uri, self.expires_in(now));
        if let Some(q) = self.q {
            value.push_str(&format!(";q={q}"));
        }
        if let Some(instance) = &self.instance {
            value.push_str(&format!(
                ";+sip.instance=\"{}\"",
                instance.replace(['"', '\\'], "")
            ));
        }
        value
    }
}

/// A `q` value (RFC 3261 §20.10, `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`),
/// kept in thousandths so it orders and compares exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QValue(u16);

impl QValue {
    /// Parses the grammar above; anything else is `None` (the registrar answers 400).
    pub fn parse(text: &str) -> Option<Self> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut thousandths: u16 = 0;
        for (i, digit) in fraction.bytes().enumerate() {
            thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
        }
        match whole {
            "0" => Some(Self(thousandths)),
            "1" if thousandths == 0 => Some(Self(1000)),
            _ => None,
        }
    }

    /// The value in thousandths (0–1000).
    pub fn thousandths(self) -> u16 {
        self.0
    }
}

impl fmt::Display for QValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("0"),
            1000.. => f.write_str("1"),
            thousandths => {
                let digits = format!("{thousandths:03}");
                write!(f, "0.{}", digits.trim_end_matches('0'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values_parse_and_print() {
        for (text, thousandths, printed) in [
            ("0", 0, "0"),
            ("0.5", 500, "0.5"),
            ("0.25", 250, "0.25"),
            ("0.001", 1, "0.001"),
            ("1", 1000, "1"),
            ("1.000", 1000, "1"),
        ] {
            let q = QValue::parse(text).unwrap();
            assert_eq!(q.thousandths(), thousandths, "{text}");
            assert_eq!(q.to_string(), printed, "{text}");
        }
        for bad in ["", "1.5", "2", "0.1234", ".5", "0.x", "-0", "01"] {
            assert_eq!(QValue::parse(bad), None, "{bad}");
        }
    }
}
