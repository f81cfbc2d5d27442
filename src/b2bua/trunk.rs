//! The trunk: the SIP peer (`sip.trunk`, `sip:host[:port]`) that reaches numbers outside our
//! users — a callee's mobile, an external forward, a click-to-call to an outside number.
//!
//! Pure: parsing the configured URI and making a B leg's [`OutboundTarget`] once the driver has
//! resolved the host (a DNS look-up is I/O, so it stays in the drivers:
//! `originate::resolve_trunk`).

use std::net::SocketAddr;

use crate::sip::transaction::TransportKind;

use super::plan::{OutboundTarget, TargetKind};

/// Digits (and `+`) of a dialled number kept at most: a Request-URI user part, not a buffer
/// anyone may fill.
const MAX_NUMBER_DIGITS: usize = 32;

/// The configured trunk, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// `host[:port]` from the URI, as written (the Request-URI's host part).
    host_port: String,
}

impl Trunk {
    /// The trunk `sip.trunk` names; `None` when it is empty (no trunk: mobiles and external
    /// numbers cannot be reached).
    pub fn parse(config: &str) -> Option<Trunk> {
        let config = config.trim();
        if config.is_empty() {
            return None;
        }
        let host_port = config
            .trim_start_matches("sips:")
            .trim_start_matches("sip:")
            .split(';')
            .next()?
            .rsplit('@')
            .next()?
            .to_owned();
        Some(Trunk { host_port })
    }

    /// What the driver resolves: `host:port`, port 5060 when the URI names none.
    pub fn lookup_address(&self) -> String {
        if self.host_port.contains(':') {
            self.host_port.clone()
        } else {
            format!("{}:5060", self.host_port)
        }
    }

    /// The B leg for `number` through the trunk at `destination`; `None` when the number has
    /// no digits (nothing to dial).
    pub fn target(
        &self,
        destination: SocketAddr,
        number: &str,
        kind: TargetKind,
    ) -> Option<OutboundTarget> {
        let number = dialable(number)?;
        Some(OutboundTarget {
            uri: format!("sip:{number}@{}", self.host_port),
            destination,
            transport: TransportKind::Udp,
            kind,
            route: Vec::new(),
            binding: None,
        })
    }
}

/// The digits and `+` of `number` (spaces, dashes and anything else dropped), at most
/// [`MAX_NUMBER_DIGITS`]; `None` when nothing is left.
pub fn dialable(number: &str) -> Option<String> {
    let number: String = number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .take(MAX_NUMBER_DIGITS)
        .collect();
    (!number.is_empty()).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SocketAddr {
        "127.0.0.1:5070".parse().unwrap()
    }

    #[test]
    fn parses_the_uri_forms_the_config_allows() {
        assert_eq!(Trunk::parse(""), None);
        assert_eq!(Trunk::parse("   "), None);
        let trunk = Trunk::parse("sip:127.0.0.1:5070").unwrap();
        assert_eq!(trunk.lookup_address(), "127.0.0.1:5070");
        let trunk = Trunk::parse("sips:user@carrier.example;transport=tls").unwrap();
        assert_eq!(trunk.lookup_address(), "carrier.example:5060");
    }

    #[test]
    fn targets_carry_the_dialable_number() {
        let trunk = Trunk::parse("sip:127.0.0.1:5070").unwrap();
        let target = trunk
            .target(at(), "+45 20-30 40 50", TargetKind::Mobile)
            .unwrap();
        assert_eq!(target.uri, "sip:+4520304050@127.0.0.1:5070");
        assert_eq!(target.destination, at());
        assert_eq!(target.kind, TargetKind::Mobile);
        assert_eq!(trunk.target(at(), "no digits", TargetKind::External), None);
        let long = "1".repeat(100);
        let target = trunk.target(at(), &long, TargetKind::External).unwrap();
        assert_eq!(target.uri, format!("sip:{}@127.0.0.1:5070", "1".repeat(32)));
    }
}
