//! `[sip] public_address` and `[rtp] public_ip`: the address a node behind NAT names in what
//! it sends (issue #20: several nodes, each behind its own NAT or load balancer).
//!
//! A node names itself in the Via sent-by (RFC 3261 §18.1.1) and the Contact (§8.1.1.8,
//! §12.1.1) of its requests and answers, and in the `o=` and `c=` lines of its SDP (RFC 8866
//! §5.2, §5.7). By default these carry the address the node's socket is bound to, which behind
//! NAT is one the phones cannot reach. With these keys set the node still binds where it
//! listens, and says the public address instead. Empty (the default) keeps the bound address.

use std::net::IpAddr;

use super::{RtpConfig, SipConfig};

impl SipConfig {
    /// The configured public `host[:port]` for Via and Contact, if any.
    pub fn public_sent_by(&self) -> Option<&str> {
        let value = self.public_address.trim();
        (!value.is_empty()).then_some(value)
    }
}

impl RtpConfig {
    /// The configured public IP for SDP `o=` and `c=`, if any (an unreadable value is refused
    /// when the configuration is loaded, see [`check`]).
    pub fn advertised_ip(&self) -> Option<IpAddr> {
        self.public_ip.trim().parse().ok()
    }
}

/// The problems of the two keys, for `Config::check`.
pub(super) fn check(sip: &SipConfig, rtp: &RtpConfig) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if let Some(address) = sip.public_sent_by() {
        if !is_host_port(address) {
            problems.push(
                "sip.public_address: a host or IP with an optional port (\"203.0.113.10:5060\", \"[2001:db8::1]:5060\", \"sip1.example.com\")",
            );
        }
    }
    let ip = rtp.public_ip.trim();
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        problems.push("rtp.public_ip: an IPv4 or IPv6 address (\"203.0.113.10\")");
    }
    problems
}

/// `host[:port]` as a Via sent-by (RFC 3261 §20.42): a hostname, an IPv4 address or a
/// bracketed IPv6 reference, and a port of 1 to 65535.
fn is_host_port(value: &str) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Config, String> {
        Config::load(
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn empty_by_default_and_read_from_the_environment() {
        let config = load(&[]).unwrap();
        assert_eq!(config.sip.public_sent_by(), None);
        assert_eq!(config.rtp.advertised_ip(), None);
        let config = load(&[
            ("ONESTATUS_SIP_PUBLIC_ADDRESS", "203.0.113.10:5080"),
            ("ONESTATUS_RTP_PUBLIC_IP", "203.0.113.11"),
        ])
        .unwrap();
        assert_eq!(config.sip.public_sent_by(), Some("203.0.113.10:5080"));
        assert_eq!(
            config.rtp.advertised_ip(),
            Some("203.0.113.11".parse().unwrap())
        );
    }

    #[test]
    fn unreadable_values_are_refused_naming_the_key() {
        let err = load(&[("ONESTATUS_SIP_PUBLIC_ADDRESS", "sip:x@203.0.113.10")]).unwrap_err();
        assert!(err.contains("sip.public_address"), "{err}");
        let err = load(&[("ONESTATUS_RTP_PUBLIC_IP", "nat.example.com")]).unwrap_err();
        assert!(err.contains("rtp.public_ip"), "{err}");
    }

    #[test]
    fn host_port_forms() {
        for ok in [
            "203.0.113.10",
            "203.0.113.10:5060",
            "sip1.example.com",
            "sip1.example.com:5080",
            "[2001:db8::1]",
            "[2001:db8::1]:5060",
        ] {
            assert!(is_host_port(ok), "{ok}");
        }
        for bad in [
            "",
            ":5060",
            "203.0.113.10:0",
            "203.0.113.10:99999",
            "2001:db8::1",
            "[2001:db8::1",
            "[nothost]:5060",
            "a b",
            "host;transport=tcp",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }
}
