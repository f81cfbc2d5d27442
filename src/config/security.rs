//! `[security]`: who may speak for a client's address (trusted proxies), and the per-source
//! limits on what an outsider can guess or flood (issue #19): phone PIN attempts per source
//! address and per caller ID, SIP requests per source, live-event streams per user and in
//! total, and the shortest PIN.
//!
//! Every limit has a default that a normal office never meets; an operator behind a proxy
//! names it in `trusted_proxies`, and nothing is trusted otherwise.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::calendar::fetch_policy::Network;

/// `[security]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Addresses or blocks of reverse proxies (HTTP) and SIP proxies/SBCs in front of us.
    /// Only from these is `X-Forwarded-For` (HTTP) or the Via chain (SIP) read for the
    /// client's address; default none.
    pub trusted_proxies: Vec<Network>,
    /// Digits a new PIN needs at least (4 to 8).
    pub pin_min_length: usize,
    /// Wrong mailbox PINs from one source address, or one caller ID, within the window
    /// before that source is refused for `mailbox_ban_secs`.
    pub mailbox_failures_max: u32,
    /// The window of `mailbox_failures_max`.
    #[serde(rename = "mailbox_failures_window_secs", with = "duration::secs")]
    pub mailbox_failures_window: Duration,
    /// How long a source or caller ID that used up its attempts is refused.
    #[serde(rename = "mailbox_ban_secs", with = "duration::secs")]
    pub mailbox_ban: Duration,
    /// SIP requests per second one source may send on average (token bucket rate); 0 turns
    /// the limit off.
    pub sip_requests_per_sec: u32,
    /// SIP requests one source may send in a burst (the bucket's size).
    pub sip_burst: u32,
    /// Requests answered 503 within `[sip] auth_failures_window_secs` before the source is
    /// banned for `[sip] ban_secs` like a password guesser.
    pub sip_refusals_before_ban: u32,
    /// Live-event streams (`GET /api/v1/events`) one user may hold open.
    pub sse_per_user: usize,
    /// Live-event streams open at once on the server.
    pub sse_total: usize,
}

impl Default for SecurityConfig {
    /// No trusted proxy; 4-digit PINs; 10 wrong mailbox PINs per source per 10 minutes ban
    /// it for 30 minutes; 100 SIP requests/s with bursts of 400 and a ban after 200 refusals;
    /// 10 event streams per user and 5,000 in all.
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            pin_min_length: crate::pin::MIN_LEN,
            mailbox_failures_max: 10,
            mailbox_failures_window: Duration::from_secs(600),
            mailbox_ban: Duration::from_secs(1800),
            sip_requests_per_sec: 100,
            sip_burst: 400,
            sip_refusals_before_ban: 200,
            sse_per_user: 10,
            sse_total: 5000,
        }
    }
}

impl SecurityConfig {
    /// The trusted-proxy list as a checker.
    pub fn trusted(&self) -> TrustedProxies {
        TrustedProxies(self.trusted_proxies.clone())
    }

    /// The rule for new PINs.
    pub fn pin_rules(&self) -> crate::pin::PinRules {
        crate::pin::PinRules::with_min_len(self.pin_min_length)
    }

    /// The phone mailbox's PIN check: the shared lockout, the PIN rule, and wrong PINs
    /// counted per source address and caller ID (at most 65,536 of them remembered).
    pub fn pin_check(
        &self,
        store: crate::store::Store,
        lockout: crate::pin::LockoutPolicy,
    ) -> crate::pin::PinCheck {
        let policy = crate::pin::sources::SourcePolicy {
            max_failures: self.mailbox_failures_max,
            window: chrono::Duration::from_std(self.mailbox_failures_window)
                .unwrap_or(chrono::Duration::days(3650)),
            ban_for: chrono::Duration::from_std(self.mailbox_ban)
                .unwrap_or(chrono::Duration::days(3650)),
        };
        crate::pin::PinCheck::new(store, lockout)
            .with_rules(self.pin_rules())
            .with_sources(std::sync::Arc::new(crate::pin::sources::SourceLimits::new(
                policy, 65_536,
            )))
    }
}

/// The configured trusted proxies (`[security] trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(pub Vec<Network>);

impl TrustedProxies {
    /// Whether `ip` is a proxy we believe about the client's address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client behind an HTTP request that reached us from `peer` with these
    /// `X-Forwarded-For` values (in header order). Only when `peer` is trusted is the header
    /// read, right to left (each proxy appends the address it received from): the first
    /// address that is not itself a trusted proxy is the client. Otherwise, or when the header
    /// is missing or unreadable, the peer is the client — a spoofed header from anyone else
    /// changes nothing.
    pub fn http_client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // An unreadable entry ends what we can believe.
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }

    /// The client behind a SIP request that reached us from `peer`, given the request's Via
    /// entries top-most first as (`received`, sent-by host). From an untrusted peer the peer
    /// is the client. From a trusted proxy, its own Via is the top-most; below it, each Via's
    /// `received` (RFC 3261 §18.2.1: stamped by the next hop when the sent-by differs from
    /// where the request came from) or else its sent-by names the hop before; the first that
    /// is not a trusted proxy is the client.
    pub fn sip_client<'a>(
        &self,
        peer: IpAddr,
        vias: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for (received, host) in vias.into_iter().skip(1) {
            let Some(ip) = received.and_then(parse_hop).or_else(|| parse_hop(host)) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, with an
/// optional port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_peer() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.http_client(ip("198.51.100.7"), ["203.0.113.9"]),
            ip("198.51.100.7"),
            "nothing trusted by default: a spoofed header is ignored"
        );
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            proxies.http_client(ip("198.51.100.7"), ["203.0.113.9"]),
            ip("198.51.100.7"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            proxies.http_client(ip("10.0.0.2"), ["203.0.113.9"]),
            ip("203.0.113.9")
        );
        // The client may prepend anything; only what our proxies appended counts.
        assert_eq!(
            proxies.http_client(ip("10.0.0.2"), ["1.2.3.4, 203.0.113.9", "10.0.0.3"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.http_client(ip("10.0.0.2"), ["[2001:db8::5]:443"]),
            ip("2001:db8::5")
        );
        assert_eq!(
            proxies.http_client(ip("10.0.0.2"), ["garbage"]),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxies.http_client(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn the_via_chain_is_read_only_from_a_trusted_peer() {
        let proxies = trusted(&["192.0.2.10"]);
        let vias = [
            (None, "192.0.2.10"),
            (Some("203.0.113.9"), "10.1.1.1"),
            (None, "198.51.100.1"),
        ];
        assert_eq!(
            proxies.sip_client(ip("192.0.2.10"), vias),
            ip("203.0.113.9"),
            "received wins over the sent-by"
        );
        assert_eq!(
            proxies.sip_client(ip("198.51.100.50"), vias),
            ip("198.51.100.50"),
            "an untrusted peer's Vias are not believed"
        );
        assert_eq!(
            TrustedProxies::default().sip_client(ip("192.0.2.10"), vias),
            ip("192.0.2.10")
        );
        let no_received = [(None, "192.0.2.10"), (None, "[2001:db8::7]:5062")];
        assert_eq!(
            proxies.sip_client(ip("192.0.2.10"), no_received),
            ip("2001:db8::7")
        );
        let only_proxy = [(None, "192.0.2.10")];
        assert_eq!(
            proxies.sip_client(ip("192.0.2.10"), only_proxy),
            ip("192.0.2.10")
        );
    }
}
