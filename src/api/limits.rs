//! The side API's share of `[security]`: whose `X-Forwarded-For` is believed, and how many
//! live-event streams may be open (issue #19: 2,000 streams of one user were accepted, each
//! holding a task, a broadcast receiver and a socket).
//!
//! A stream takes an [`SseTicket`] before it starts and gives it back when it is dropped (the
//! client went away or the server shut down), so the counts can never drift from the streams.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;

use crate::config::security::{SecurityConfig, TrustedProxies};
use crate::store::UserId;

/// What the API needs of `[security]`.
#[derive(Debug, Default)]
pub struct ApiSecurity {
    /// `[security] trusted_proxies`.
    pub trusted: TrustedProxies,
    /// Open live-event streams.
    pub sse: Arc<SseLimits>,
}

impl ApiSecurity {
    /// From the configuration.
    pub fn from_config(config: &SecurityConfig) -> Self {
        ApiSecurity {
            trusted: config.trusted(),
            sse: Arc::new(SseLimits::new(config.sse_per_user, config.sse_total)),
        }
    }

    /// The client's address for a request from `peer` with `headers`: `X-Forwarded-For` is
    /// read only when `peer` is a trusted proxy ([`TrustedProxies::http_client`]).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let values = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        self.trusted.http_client(peer, values)
    }
}

/// Why a stream may not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseRefused {
    /// The user holds `sse_per_user` streams already.
    PerUser,
    /// The server holds `sse_total` streams already.
    Total,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_user: HashMap<i64, usize>,
}

/// Counts of open live-event streams.
#[derive(Debug)]
pub struct SseLimits {
    per_user: usize,
    total: usize,
    open: Mutex<Open>,
}

impl Default for SseLimits {
    fn default() -> Self {
        let config = SecurityConfig::default();
        SseLimits::new(config.sse_per_user, config.sse_total)
    }
}

impl SseLimits {
    /// At most `per_user` streams of one user and `total` in all.
    pub fn new(per_user: usize, total: usize) -> Self {
        SseLimits {
            per_user,
            total,
            open: Mutex::new(Open::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // Each critical section is a counter update; a panic cannot leave it half-done.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A ticket for one more stream of `user`, or why not.
    pub fn acquire(self: &Arc<Self>, user: UserId) -> Result<SseTicket, SseRefused> {
        let mut open = self.lock();
        if open.total >= self.total {
            return Err(SseRefused::Total);
        }
        let mine = open.per_user.entry(user.0).or_insert(0);
        if *mine >= self.per_user {
            return Err(SseRefused::PerUser);
        }
        *mine += 1;
        open.total += 1;
        Ok(SseTicket {
            limits: Arc::clone(self),
            user,
        })
    }

    /// Streams open now: in all, and of `user`.
    pub fn open(&self, user: UserId) -> (usize, usize) {
        let open = self.lock();
        (open.total, open.per_user.get(&user.0).copied().unwrap_or(0))
    }
}

/// One open stream; dropping it frees its place.
#[derive(Debug)]
pub struct SseTicket {
    limits: Arc<SseLimits>,
    user: UserId,
}

impl Drop for SseTicket {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.per_user.get_mut(&self.user.0) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.per_user.remove(&self.user.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_count_per_user_and_in_all_and_free_on_drop() {
        let limits = Arc::new(SseLimits::new(2, 3));
        let (a, b) = (UserId(1), UserId(2));
        let a1 = limits.acquire(a).unwrap();
        let a2 = limits.acquire(a).unwrap();
        assert_eq!(limits.acquire(a).unwrap_err(), SseRefused::PerUser);
        let b1 = limits.acquire(b).unwrap();
        assert_eq!(limits.acquire(b).unwrap_err(), SseRefused::Total);
        drop(a1);
        assert_eq!(limits.open(a), (2, 1));
        let b2 = limits.acquire(b).unwrap();
        drop((a2, b1, b2));
        assert_eq!(limits.open(a), (0, 0));
        assert!(limits.lock().per_user.is_empty());
    }

    #[test]
    fn forwarded_for_only_from_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        let none = ApiSecurity::default();
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(none.client_address(peer, &headers), peer);
        let config = SecurityConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..SecurityConfig::default()
        };
        let trusting = ApiSecurity::from_config(&config);
        assert_eq!(
            trusting.client_address(peer, &headers),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }
}
