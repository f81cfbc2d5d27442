//! Which addresses the calendar poller may connect to: the guard against server-side request
//! forgery through a feed URL (issue #19, finding 3).
//!
//! A user types the URL of their published calendar, and the server fetches it. Without a
//! guard the server would fetch `http://127.0.0.1:5432/`, `http://169.254.169.254/latest/…`
//! (a cloud metadata service) or any host on the private network behind it, on the user's
//! behalf. So, in the call flow [`http`](super::http) → here, before every connection:
//!
//! - the scheme must be `https` (`webcal` means `https`); `http` only when
//!   [`FetchPolicy::allow_http`] is set (`[calendar] allow_http`);
//! - **every** address the host name resolves to is checked, and the connection is made only
//!   to the checked addresses (the resolver itself filters, so a DNS answer that changes between
//!   a check and the connect cannot slip through); on each redirect too, since the poller
//!   follows redirects itself;
//! - an address in a [`BlockedRange`] is refused unless one of
//!   [`FetchPolicy::allowed_networks`] (`[calendar] allowed_networks`) contains it. The ranges
//!   are the IANA special-purpose registries' non-global blocks that can reach something
//!   inside: RFC 1122 loopback and "this network", RFC 1918 private, RFC 6598 shared (CGNAT),
//!   RFC 3927 / RFC 4291 §2.5.6 link-local (which holds the 169.254.169.254 metadata service),
//!   RFC 4193 unique-local (which holds AWS's `fd00:ec2::254`), multicast, broadcast and the
//!   reserved 240/4. IPv4 addresses embedded in IPv6 (IPv4-mapped `::ffff:a.b.c.d`, RFC 6052
//!   NAT64 `64:ff9b::/96`, RFC 3056 6to4 `2002::/16`) are checked as the IPv4 address they
//!   lead to.
//!
//! Pure: no I/O, no clock. The resolver that applies it is in [`http`](super::http).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the poller may fetch. The default is the safe one: https only, public addresses only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Fetch plain `http://` URLs too (and follow redirects to them). Off by default: a feed
    /// carries people's whereabouts, and an `Authorization` header may go with it.
    pub allow_http: bool,
    /// Networks that may be fetched although they are in a [`BlockedRange`] (an on-premises
    /// Exchange server at 10.1.2.3, or loopback in tests).
    pub allowed_networks: Vec<Network>,
}

impl FetchPolicy {
    /// Whether the poller may connect to `ip`: `Err` names the range that forbids it.
    pub fn check(&self, ip: IpAddr) -> Result<(), BlockedRange> {
        match blocked_range(ip) {
            None => Ok(()),
            Some(_) if self.allowed_networks.iter().any(|n| n.contains(ip)) => Ok(()),
            Some(range) => Err(range),
        }
    }

    /// Whether a URL with this scheme (lower case, `webcal` already mapped to `https`) may be
    /// fetched.
    pub fn scheme_allowed(&self, scheme: &str) -> bool {
        scheme == "https" || (scheme == "http" && self.allow_http)
    }
}

impl From<&crate::config::CalendarConfig> for FetchPolicy {
    fn from(config: &crate::config::CalendarConfig) -> Self {
        FetchPolicy {
            allow_http: config.allow_http,
            allowed_networks: config.allowed_networks.clone(),
        }
    }
}

/// A non-global address range the poller refuses by default. The names say what an attacker
/// would reach through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockedRange {
    /// `127.0.0.0/8`, `::1` (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3): this very server.
    #[error("loopback")]
    Loopback,
    /// `0.0.0.0/8`, `::` (RFC 1122 §3.2.1.3, RFC 4291 §2.5.2): connects to this host on Linux.
    #[error("unspecified")]
    Unspecified,
    /// `10/8`, `172.16/12`, `192.168/16` (RFC 1918): the private network.
    #[error("private")]
    Private,
    /// `100.64/10` (RFC 6598): the carrier's shared (CGNAT) space.
    #[error("shared address space")]
    Shared,
    /// `169.254/16` except the metadata address, `fe80::/10` (RFC 3927, RFC 4291 §2.5.6).
    #[error("link-local")]
    LinkLocal,
    /// `169.254.169.254`: the cloud instance metadata service (credentials).
    #[error("metadata service")]
    Metadata,
    /// `fc00::/7` (RFC 4193): the IPv6 private network.
    #[error("unique-local")]
    UniqueLocal,
    /// `224/4`, `ff00::/8`.
    #[error("multicast")]
    Multicast,
    /// `240/4` and `255.255.255.255` (RFC 1112 §4, RFC 919).
    #[error("reserved")]
    Reserved,
}

/// The range `ip` is in, if it is one the poller refuses by default.
pub fn blocked_range(ip: IpAddr) -> Option<BlockedRange> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => blocked_v4(v4),
            None => blocked_v6(v6),
        },
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<BlockedRange> {
    let [a, b, ..] = ip.octets();
    Some(match (a, b) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => BlockedRange::Metadata,
        (0, _) => BlockedRange::Unspecified,
        (127, _) => BlockedRange::Loopback,
        (10, _) => BlockedRange::Private,
        (172, 16..=31) => BlockedRange::Private,
        (192, 168) => BlockedRange::Private,
        (100, 64..=127) => BlockedRange::Shared,
        (169, 254) => BlockedRange::LinkLocal,
        (224..=239, _) => BlockedRange::Multicast,
        (240..=255, _) => BlockedRange::Reserved,
        _ => return None,
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<BlockedRange> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_loopback() => BlockedRange::Loopback,
        _ if ip.is_unspecified() => BlockedRange::Unspecified,
        0xfe80..=0xfebf => BlockedRange::LinkLocal,
        0xfc00..=0xfdff => BlockedRange::UniqueLocal,
        0xff00..=0xffff => BlockedRange::Multicast,
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address leads to: IPv4-mapped (RFC 4291 §2.5.5.2), the
/// deprecated IPv4-compatible form, NAT64 (RFC 6052 `64:ff9b::/96`) and 6to4 (RFC 3056).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(low());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// An address block written `10.1.0.0/16`, `::1/128` or a bare address (one host). In the
/// configuration it is a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is in this block. An IPv4 block also holds the IPv4-mapped IPv6 form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Why a [`Network`] does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an address or address/prefix: {0:?}")]
pub struct BadNetwork(String);

impl FromStr for Network {
    type Err = BadNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadNetwork(s.chars().take(60).collect());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let base: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(bad)?,
        };
        Ok(Network { base, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_refuses_every_inside_range() {
        let policy = FetchPolicy::default();
        for (addr, range) in [
            ("127.0.0.1", BlockedRange::Loopback),
            ("127.255.0.9", BlockedRange::Loopback),
            ("::1", BlockedRange::Loopback),
            ("0.0.0.0", BlockedRange::Unspecified),
            ("::", BlockedRange::Unspecified),
            ("10.0.0.1", BlockedRange::Private),
            ("172.16.0.1", BlockedRange::Private),
            ("172.31.255.255", BlockedRange::Private),
            ("192.168.1.1", BlockedRange::Private),
            ("100.64.0.1", BlockedRange::Shared),
            ("100.127.255.254", BlockedRange::Shared),
            ("169.254.1.1", BlockedRange::LinkLocal),
            ("fe80::1", BlockedRange::LinkLocal),
            ("169.254.169.254", BlockedRange::Metadata),
            ("fd00:ec2::254", BlockedRange::UniqueLocal),
            ("fc00::1", BlockedRange::UniqueLocal),
            ("224.0.0.1", BlockedRange::Multicast),
            ("ff02::1", BlockedRange::Multicast),
            ("255.255.255.255", BlockedRange::Reserved),
            ("240.0.0.1", BlockedRange::Reserved),
            // IPv4 hidden in IPv6.
            ("::ffff:127.0.0.1", BlockedRange::Loopback),
            ("::ffff:169.254.169.254", BlockedRange::Metadata),
            ("64:ff9b::10.0.0.1", BlockedRange::Private),
            ("2002:c0a8:0101::1", BlockedRange::Private),
        ] {
            assert_eq!(policy.check(ip(addr)), Err(range), "{addr}");
        }
        for public in [
            "52.97.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2603:1026::1",
            "::ffff:52.97.1.1",
        ] {
            assert_eq!(policy.check(ip(public)), Ok(()), "{public}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_what_it_names() {
        let policy = FetchPolicy {
            allow_http: false,
            allowed_networks: vec!["127.0.0.1".parse().unwrap(), "10.1.0.0/16".parse().unwrap()],
        };
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("127.0.0.2")), Err(BlockedRange::Loopback));
        assert_eq!(policy.check(ip("10.1.200.3")), Ok(()));
        assert_eq!(policy.check(ip("10.2.0.1")), Err(BlockedRange::Private));
        assert_eq!(policy.check(ip("::1")), Err(BlockedRange::Loopback));
        let all: Network = "::/0".parse().unwrap();
        assert!(all.contains(ip("fe80::1")) && !all.contains(ip("10.0.0.1")));
    }

    #[test]
    fn schemes_and_network_syntax() {
        let mut policy = FetchPolicy::default();
        assert!(policy.scheme_allowed("https"));
        assert!(!policy.scheme_allowed("http"));
        policy.allow_http = true;
        assert!(policy.scheme_allowed("http"));
        assert!(!policy.scheme_allowed("ftp"));
        for bad in ["", "10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.1.0.0/16".parse::<Network>().unwrap().to_string(),
            "10.1.0.0/16"
        );
    }
}
