//! Challenges and their verification (RFC 3261 §22.4, RFC 7616 §3.3–§3.4, RFC 8760).
//!
//! Nonces are self-validating, so issuing a challenge costs no memory — a scanner sending
//! thousands of REGISTERs cannot fill a table. A nonce is the hex form of
//!
//! ```text
//! issued (u64, Unix seconds) ‖ serial (u64) ‖ first 16 bytes of HMAC-SHA256(secret, "nonce" ‖ issued ‖ serial ‖ realm)
//! ```
//!
//! followed by the first 8 bytes of `HMAC-SHA256(secret, "client" ‖ issued ‖ serial ‖ address)`
//! (the [`NonceBinding`]). That is RFC 7616 §3.3's suggestion (`time-stamp H(time-stamp ":"
//! ETag ":" secret-data)`) with an HMAC instead of a bare hash. The serial makes every nonce
//! unique, so two phones challenged in the same second never share a nonce-count sequence.
//! Memory is spent only after a response has been verified: the highest nonce count seen per
//! nonce, for replay detection (RFC 7616 §3.4.5), in a table capped at
//! [`NonceConfig::max_tracked`].
//!
//! The second tag binds the nonce to the address it was issued to (issue #19: a nonce taken
//! from one address was accepted from another). RFC 7616 §3.3 weighs the client's IP address
//! in the nonce against proxy farms that would break; so the driver binds only where no proxy
//! is in between, and leaves nonces unbound behind a proxy it trusts. It is a separate tag so
//! that a nonce presented from another address is still recognised as ours: with the right
//! password it is answered `stale=true` and a nonce for the new address (a phone behind a NAT
//! that rebinds), never accepted.
//!
//! Time is wall-clock (`DateTime<Utc>`) because the issue time travels inside the nonce and
//! must mean the same on every node that shares the secret.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;

use super::digest::{expected_response, DigestAlgorithm, DigestResponse, Qop};
use super::hmac::{constant_time_eq, hmac_sha256};
use super::AuthError;

/// Bytes of HMAC kept in a nonce: 128 bits is far beyond what can be forged online.
const TAG_LEN: usize = 16;
/// Bytes of the address-binding tag: it only has to tell addresses apart under our secret.
const BINDING_TAG_LEN: usize = 8;
/// Bytes of a decoded nonce: issue time, serial, tag, binding tag.
const NONCE_LEN: usize = 8 + 8 + TAG_LEN + BINDING_TAG_LEN;
/// How far in the future an issue time may lie (our own clock stepped back) before the nonce
/// is treated as stale.
const CLOCK_STEP_TOLERANCE_SECS: i64 = 5;

/// Tuning of [`NonceManager`]; the defaults suit a registrar for a few thousand phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceConfig {
    /// How long a nonce stays usable (default 300 s). Phones re-register every few minutes to
    /// an hour; with `stale=true` a newer nonce costs them one extra round trip, no user prompt.
    pub lifetime: Duration,
    /// Most nonces whose nonce count we remember (default 100 000, a few MB). When full, the
    /// oldest is forgotten and answered `stale=true` if it comes back.
    pub max_tracked: usize,
    /// Algorithms offered, one challenge each, most preferred first (RFC 8760 §2.4). Default
    /// SHA-256 then MD5; an MD5-only list helps phones that choke on several challenges. An
    /// empty list is treated as the default.
    pub algorithms: Vec<DigestAlgorithm>,
}

impl Default for NonceConfig {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(300),
            max_tracked: 100_000,
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
        }
    }
}

/// What the request carrying the credentials was, to check the credentials against it.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The realm we challenge with (our SIP domain).
    pub realm: &'a str,
    /// The request method (`REGISTER`, `INVITE`, …): part of HA2.
    pub method: &'a str,
    /// The Request-URI as text, which the digest-uri must designate (RFC 7616 §3.4.6).
    pub request_uri: &'a str,
}

/// Whom a nonce is for. The driver binds to the request's source address when the request
/// came straight from the client (RFC 7616 §3.3), and leaves it [`NonceBinding::Unbound`]
/// when a proxy it trusts is in between (the proxy's address says nothing about the client,
/// and several clients share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceBinding {
    /// Usable from any address (behind a trusted proxy).
    Unbound,
    /// Usable only from this address.
    Address(IpAddr),
}

impl NonceBinding {
    /// The bytes the binding tag covers: none, or the address (IPv4-mapped IPv6 as IPv4, so
    /// a dual-stack socket does not change the binding).
    fn bytes(&self) -> Vec<u8> {
        match self {
            NonceBinding::Unbound => Vec::new(),
            NonceBinding::Address(ip) => match ip.to_canonical() {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            },
        }
    }
}

/// Replay state of one nonce in use.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    /// Highest nonce count accepted so far.
    last_nc: u32,
    /// Issue time (Unix seconds), to drop the entry once the nonce has expired.
    issued: i64,
}

/// Issues digest challenges and verifies the responses to them.
///
/// One per process (or one shared secret across nodes, see [`NonceManager::with_secret`]);
/// `&mut self` because verification records nonce counts — the driver wraps it in a mutex.
#[derive(Debug)]
pub struct NonceManager {
    config: NonceConfig,
    secret: [u8; 32],
    /// Serial of the next nonce; starts at a random value so that nodes sharing a secret do
    /// not issue the same nonces.
    next_serial: u64,
    /// Nonce serial → replay state.
    tracked: HashMap<u64, Tracked>,
    /// Serials in the order they were first used, to expire and evict the oldest first.
    first_use_order: VecDeque<u64>,
    /// Highest serial evicted for lack of room; an untracked nonce at or below it may have
    /// been used before, so it is refused as stale rather than trusted as new.
    forgotten_through: Option<u64>,
}

impl NonceManager {
    /// A manager with a fresh random secret: nonces die with the process, which is fine —
    /// phones answer the next challenge without bothering the user.
    pub fn new(config: NonceConfig) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::with_secret(config, secret)
    }

    /// A manager with a given secret, so several nodes (or a restarted one) accept each
    /// other's nonces. Nonce-count replay state stays per node.
    pub fn with_secret(mut config: NonceConfig, secret: [u8; 32]) -> Self {
        if config.algorithms.is_empty() {
            config.algorithms = NonceConfig::default().algorithms;
        }
        Self {
            config,
            secret,
            next_serial: u64::from(rand::rngs::OsRng.next_u32()),
            tracked: HashMap::new(),
            first_use_order: VecDeque::new(),
            forgotten_through: None,
        }
    }

    /// The `WWW-Authenticate` (or `Proxy-Authenticate`) values for a 401/407: one challenge
    /// per configured algorithm, most preferred first (RFC 8760 §2.4), each with its own
    /// nonce, `qop="auth"` and our opaque. `stale` is set when the client's credentials were
    /// right but its nonce was not (RFC 7616 §3.3), see [`AuthError::is_stale`].
    pub fn challenge(&mut self, now: DateTime<Utc>, realm: &str, stale: bool) -> Vec<String> {
        self.challenge_bound(now, realm, stale, NonceBinding::Unbound)
    }

    /// [`challenge`](Self::challenge) with nonces usable only under `binding` (see
    /// [`verify_bound`](Self::verify_bound)).
    pub fn challenge_bound(
        &mut self,
        now: DateTime<Utc>,
        realm: &str,
        stale: bool,
        binding: NonceBinding,
    ) -> Vec<String> {
        let algorithms = self.config.algorithms.clone();
        self.challenge_offering(now, realm, stale, binding, &algorithms)
    }

    /// [`challenge_bound`](Self::challenge_bound) offering `algorithms` instead of the
    /// configured list (a per-phone rule, see [`super::algorithms_for`]); an empty list offers the
    /// configured one.
    pub fn challenge_offering(
        &mut self,
        now: DateTime<Utc>,
        realm: &str,
        stale: bool,
        binding: NonceBinding,
        algorithms: &[DigestAlgorithm],
    ) -> Vec<String> {
        let issued = now.timestamp();
        let opaque = self.opaque(realm);
        let algorithms = if algorithms.is_empty() {
            self.config.algorithms.clone()
        } else {
            algorithms.to_vec()
        };
        algorithms
            .into_iter()
            .map(|algorithm| {
                let serial = self.next_serial;
                self.next_serial = self.next_serial.wrapping_add(1);
                let nonce = self.nonce(issued, serial, realm, binding);
                let mut value = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", opaque=\"{opaque}\", \
                     algorithm={algorithm}, qop=\"auth\"",
                    escape_quoted(realm)
                );
                if stale {
                    value.push_str(", stale=true");
                }
                value
            })
            .collect()
    }

    /// Checks credentials against the request that carried them and the user's stored HA1
    /// for `response.algorithm` (lower- or upper-case hex, see [`super::ha1`]).
    ///
    /// On success the nonce count is recorded, so the same credentials cannot be replayed.
    /// The order of checks matters: a nonce is reported stale only after the response hash
    /// proved the client knows the password, as RFC 7616 §3.3 asks.
    pub fn verify(
        &mut self,
        now: DateTime<Utc>,
        request: &RequestContext<'_>,
        response: &DigestResponse,
        ha1: &str,
    ) -> Result<(), AuthError> {
        self.verify_bound(now, request, response, ha1, NonceBinding::Unbound)
    }

    /// [`verify`](Self::verify) for a request received under `binding` (its source address,
    /// or unbound behind a trusted proxy). A nonce issued under another binding is refused as
    /// [`AuthError::NonceFromOtherAddress`] once the response proved the password: stale, so
    /// an honest phone whose address changed just gets a new nonce.
    pub fn verify_bound(
        &mut self,
        now: DateTime<Utc>,
        request: &RequestContext<'_>,
        response: &DigestResponse,
        ha1: &str,
        binding: NonceBinding,
    ) -> Result<(), AuthError> {
        let (cnonce, nc) = match (response.qop, &response.cnonce, &response.nc) {
            (None, _, _) => return Err(AuthError::QopRequired),
            (Some(Qop::AuthInt), _, _) => return Err(AuthError::UnsupportedQop),
            (Some(Qop::Auth), Some(cnonce), Some(nc)) => (cnonce, nc),
            // DigestResponse::parse never builds this, but the fields are public.
            (Some(Qop::Auth), None, _) => return Err(AuthError::MissingParam("cnonce")),
            (Some(Qop::Auth), _, None) => return Err(AuthError::MissingParam("nc")),
        };
        if response.realm != request.realm {
            return Err(AuthError::RealmMismatch);
        }
        if !same_resource(&response.uri, request.request_uri) {
            return Err(AuthError::UriMismatch);
        }
        if response
            .opaque
            .as_deref()
            .is_some_and(|opaque| opaque != self.opaque(request.realm))
        {
            return Err(AuthError::OpaqueMismatch);
        }
        let (issued, serial, bound_here) =
            self.open_nonce(&response.nonce, request.realm, binding)?;

        let algorithm = response.algorithm;
        if ha1.len() != algorithm.hex_len() || !ha1.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::InvalidHa1 {
                expected_len: algorithm.hex_len(),
            });
        }
        let expected = expected_response(
            algorithm,
            &ha1.to_ascii_lowercase(),
            &response.nonce,
            nc.as_str(),
            cnonce,
            request.method,
            &response.uri,
        );
        let received = response.response.to_ascii_lowercase();
        if !constant_time_eq(expected.as_bytes(), received.as_bytes()) {
            return Err(AuthError::ResponseMismatch);
        }

        let now = now.timestamp();
        if !self.is_fresh(issued, now) {
            return Err(AuthError::NonceExpired);
        }
        if !bound_here {
            return Err(AuthError::NonceFromOtherAddress);
        }
        self.record_nonce_count(now, serial, issued, nc.value())
    }

    /// Number of nonces whose count is remembered (for metrics and tests).
    pub fn tracked_len(&self) -> usize {
        self.tracked.len()
    }

    fn is_fresh(&self, issued: i64, now: i64) -> bool {
        let lifetime = i64::try_from(self.config.lifetime.as_secs()).unwrap_or(i64::MAX);
        let age = now.saturating_sub(issued);
        (-CLOCK_STEP_TOLERANCE_SECS..=lifetime).contains(&age)
    }

    /// RFC 7616 §3.4.5: the nonce count must grow with each request on a nonce. Gaps are fine
    /// (a phone may have sent a request that never arrived); going back or repeating is not.
    fn record_nonce_count(
        &mut self,
        now: i64,
        serial: u64,
        issued: i64,
        nc: u32,
    ) -> Result<(), AuthError> {
        self.drop_expired(now);
        if let Some(entry) = self.tracked.get_mut(&serial) {
            if nc <= entry.last_nc {
                return Err(AuthError::NonceCountReplayed {
                    last: entry.last_nc,
                    received: nc,
                });
            }
            entry.last_nc = nc;
            return Ok(());
        }
        if self
            .forgotten_through
            .is_some_and(|through| serial <= through)
        {
            return Err(AuthError::NonceForgotten);
        }
        while self.tracked.len() >= self.config.max_tracked.max(1) {
            let Some(oldest) = self.first_use_order.pop_front() else {
                break;
            };
            if self.tracked.remove(&oldest).is_some() {
                self.forgotten_through =
                    Some(self.forgotten_through.map_or(oldest, |f| f.max(oldest)));
            }
        }
        self.tracked.insert(
            serial,
            Tracked {
                last_nc: nc,
                issued,
            },
        );
        self.first_use_order.push_back(serial);
        Ok(())
    }

    /// Forgets nonces that have expired anyway, oldest first use first. An expired entry
    /// behind a younger one waits for it; the table is capped regardless.
    fn drop_expired(&mut self, now: i64) {
        while let Some(&oldest) = self.first_use_order.front() {
            match self.tracked.get(&oldest) {
                Some(entry) if self.is_fresh(entry.issued, now) => break,
                _ => {
                    self.tracked.remove(&oldest);
                    self.first_use_order.pop_front();
                }
            }
        }
    }

    fn nonce(&self, issued: i64, serial: u64, realm: &str, binding: NonceBinding) -> String {
        let issued = issued.to_be_bytes();
        let serial = serial.to_be_bytes();
        let tag = hmac_sha256(
            &self.secret,
            &[b"nonce", &issued, &serial, realm.as_bytes()],
        );
        let bound = self.binding_tag(&issued, &serial, binding);
        let mut bytes = Vec::with_capacity(NONCE_LEN);
        bytes.extend_from_slice(&issued);
        bytes.extend_from_slice(&serial);
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        bytes.extend_from_slice(&bound[..BINDING_TAG_LEN]);
        hex::encode(bytes)
    }

    fn binding_tag(&self, issued: &[u8], serial: &[u8], binding: NonceBinding) -> [u8; 32] {
        hmac_sha256(&self.secret, &[b"client", issued, serial, &binding.bytes()])
    }

    /// Decodes a nonce and checks that we issued it for `realm`; returns (issue time, serial,
    /// whether it was issued under `binding`).
    fn open_nonce(
        &self,
        nonce: &str,
        realm: &str,
        binding: NonceBinding,
    ) -> Result<(i64, u64, bool), AuthError> {
        if nonce.len() != 2 * NONCE_LEN {
            return Err(AuthError::NonceMalformed);
        }
        let mut bytes = [0u8; NONCE_LEN];
        hex::decode_to_slice(nonce, &mut bytes).map_err(|_| AuthError::NonceMalformed)?;
        let (issued, rest) = bytes.split_at(8);
        let (serial, rest) = rest.split_at(8);
        let (tag, bound) = rest.split_at(TAG_LEN);
        let expected = hmac_sha256(&self.secret, &[b"nonce", issued, serial, realm.as_bytes()]);
        if !constant_time_eq(&expected[..TAG_LEN], tag) {
            return Err(AuthError::NonceTampered);
        }
        let expected_bound = self.binding_tag(issued, serial, binding);
        let bound_here = constant_time_eq(&expected_bound[..BINDING_TAG_LEN], bound);
        let mut issued_be = [0u8; 8];
        issued_be.copy_from_slice(issued);
        let mut serial_be = [0u8; 8];
        serial_be.copy_from_slice(serial);
        Ok((
            i64::from_be_bytes(issued_be),
            u64::from_be_bytes(serial_be),
            bound_here,
        ))
    }

    /// Our opaque for a realm: constant, derived from the secret, so it needs no storage.
    fn opaque(&self, realm: &str) -> String {
        hex::encode(&hmac_sha256(&self.secret, &[b"opaque", realm.as_bytes()])[..8])
    }
}

/// Whether the digest-uri designates the Request-URI (RFC 7616 §3.4.6). Identical text is the
/// usual case; otherwise both are parsed and compared on scheme, user, host (ignoring case) and
/// port (absent meaning the scheme's default), because phones re-render the URI — `sip:Host`,
/// `sip:host:5060` — and a mismatch there is not an attack: the hash covers the digest-uri text.
fn same_resource(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    let (Ok(a), Ok(b)) = (
        rsip::Uri::try_from(digest_uri),
        rsip::Uri::try_from(request_uri),
    ) else {
        return false;
    };
    let port = |uri: &rsip::Uri| {
        uri.port().map(|p| *p.value()).unwrap_or(match uri.scheme {
            Some(rsip::Scheme::Sips) => 5061,
            _ => 5060,
        })
    };
    a.scheme == b.scheme
        && a.user() == b.user()
        && a.host()
            .to_string()
            .eq_ignore_ascii_case(&b.host().to_string())
        && port(&a) == port(&b)
}

/// Escapes `"` and `\` for a quoted-string (RFC 7230 §3.2.6); realms come from configuration.
fn escape_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::digest::parse_params;
    use super::super::ha1;
    use super::*;

    const REALM: &str = "onestatus.example";
    const URI: &str = "sip:onestatus.example";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 24, 8, 0, 0).unwrap()
    }

    fn manager() -> NonceManager {
        NonceManager::with_secret(NonceConfig::default(), [7; 32])
    }

    fn context() -> RequestContext<'static> {
        RequestContext {
            realm: REALM,
            method: "REGISTER",
            request_uri: URI,
        }
    }

    /// What a phone does with one of our challenges.
    fn answer(challenge: &str, password: &str, nc: u32) -> DigestResponse {
        let params = parse_params(challenge).unwrap();
        let get = |n: &str| {
            params
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let algorithm = match get("algorithm").as_str() {
            "MD5" => DigestAlgorithm::Md5,
            "SHA-256" => DigestAlgorithm::Sha256,
            other => panic!("unexpected algorithm {other}"),
        };
        let nc = format!("{nc:08x}");
        let ha1 = ha1(algorithm, "alice", &get("realm"), password);
        let response = expected_response(
            algorithm,
            &ha1,
            &get("nonce"),
            &nc,
            "c0ffee",
            "REGISTER",
            URI,
        );
        let header = format!(
            "Digest username=\"alice\", realm=\"{}\", nonce=\"{}\", uri=\"{URI}\", \
             response=\"{response}\", algorithm={algorithm}, cnonce=\"c0ffee\", nc={nc}, \
             qop=auth, opaque=\"{}\"",
            get("realm"),
            get("nonce"),
            get("opaque")
        );
        DigestResponse::parse(&header).unwrap()
    }

    fn stored_ha1(algorithm: DigestAlgorithm) -> String {
        ha1(algorithm, "alice", REALM, "s3cret")
    }

    #[test]
    fn challenges_offer_sha256_first_then_md5() {
        let challenges = manager().challenge(t0(), REALM, false);
        assert_eq!(challenges.len(), 2);
        assert!(
            challenges[0].contains("algorithm=SHA-256"),
            "{}",
            challenges[0]
        );
        assert!(challenges[1].contains("algorithm=MD5"), "{}", challenges[1]);
        for challenge in &challenges {
            let params = parse_params(challenge).unwrap();
            let names: Vec<_> = params.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["realm", "nonce", "opaque", "algorithm", "qop"]);
            assert!(challenge.contains("qop=\"auth\""));
            assert!(!challenge.contains("stale"));
        }
        let nonce = |c: &str| parse_params(c).unwrap()[1].1.clone();
        assert_ne!(
            nonce(&challenges[0]),
            nonce(&challenges[1]),
            "every nonce is unique"
        );
        let stale = manager().challenge(t0(), REALM, true);
        assert!(stale.iter().all(|c| c.ends_with(", stale=true")));
    }

    #[test]
    fn a_per_phone_list_offers_only_its_algorithms_and_still_verifies() {
        let mut nonces = manager();
        let offered = nonces.challenge_offering(
            t0(),
            REALM,
            false,
            NonceBinding::Unbound,
            &[DigestAlgorithm::Md5],
        );
        assert_eq!(offered.len(), 1, "{offered:?}");
        assert!(offered[0].contains("algorithm=MD5"), "{}", offered[0]);
        let response = answer(&offered[0], "s3cret", 1);
        nonces
            .verify(
                t0(),
                &context(),
                &response,
                &stored_ha1(DigestAlgorithm::Md5),
            )
            .unwrap();
        let fallback = nonces.challenge_offering(t0(), REALM, false, NonceBinding::Unbound, &[]);
        assert_eq!(fallback.len(), 2, "an empty list offers the configured one");
    }

    #[test]
    fn realm_is_escaped_in_the_challenge() {
        let challenges = manager().challenge(t0(), "a\"b", false);
        assert_eq!(parse_params(&challenges[0]).unwrap()[0].1, "a\"b");
    }

    #[test]
    fn correct_responses_verify_for_both_algorithms() {
        let mut manager = manager();
        for challenge in manager.challenge(t0(), REALM, false) {
            let response = answer(&challenge, "s3cret", 1);
            let ha1 = stored_ha1(response.algorithm);
            assert_eq!(manager.verify(t0(), &context(), &response, &ha1), Ok(()));
        }
        assert_eq!(manager.tracked_len(), 2);
    }

    #[test]
    fn wrong_password_is_a_mismatch_and_counts() {
        let mut manager = manager();
        let challenge = &manager.challenge(t0(), REALM, false)[0];
        let response = answer(challenge, "guess", 1);
        let err = manager.verify(t0(), &context(), &response, &stored_ha1(response.algorithm));
        assert_eq!(err, Err(AuthError::ResponseMismatch));
        assert!(err.unwrap_err().counts_as_failure());
        assert_eq!(manager.tracked_len(), 0, "failures leave no state behind");
    }

    #[test]
    fn expired_nonce_with_right_password_is_stale() {
        let mut manager = manager();
        let challenge = &manager.challenge(t0(), REALM, false)[1];
        let response = answer(challenge, "s3cret", 1);
        let ha1 = stored_ha1(response.algorithm);
        let at_limit = t0() + chrono::Duration::seconds(300);
        let after = t0() + chrono::Duration::seconds(301);
        let err = manager
            .verify(after, &context(), &response, &ha1)
            .unwrap_err();
        assert_eq!(err, AuthError::NonceExpired);
        assert!(err.is_stale() && !err.counts_as_failure());
        // With a wrong password the nonce's age is never revealed: it is a plain failure.
        let wrong = answer(challenge, "guess", 1);
        assert_eq!(
            manager.verify(after, &context(), &wrong, &ha1),
            Err(AuthError::ResponseMismatch)
        );
        assert_eq!(
            manager.verify(at_limit, &context(), &response, &ha1),
            Ok(())
        );
    }

    #[test]
    fn nonce_from_the_future_is_stale() {
        let mut manager = manager();
        let challenge = &manager.challenge(t0(), REALM, false)[0];
        let response = answer(challenge, "s3cret", 1);
        let earlier = t0() - chrono::Duration::seconds(60);
        assert_eq!(
            manager.verify(
                earlier,
                &context(),
                &response,
                &stored_ha1(response.algorithm)
            ),
            Err(AuthError::NonceExpired)
        );
    }

    #[test]
    fn tampered_nonces_are_refused() {
        let mut manager = manager();
        let challenge = &manager.challenge(t0(), REALM, false)[0];
        let good = answer(challenge, "s3cret", 1);
        let ha1 = stored_ha1(good.algorithm);

        // Push the issue time forward to extend the nonce's life: the HMAC no longer matches.
        let mut forged = good.clone();
        let mut bytes = hex::decode(&forged.nonce).unwrap();
        bytes[7] ^= 0x01;
        forged.nonce = hex::encode(bytes);
        assert_eq!(
            manager.verify(t0(), &context(), &forged, &ha1),
            Err(AuthError::NonceTampered)
        );

        let mut garbage = good.clone();
        garbage.nonce = "not-ours".into();
        assert_eq!(
            manager.verify(t0(), &context(), &garbage, &ha1),
            Err(AuthError::NonceMalformed)
        );

        // A nonce from another server (another secret) is not ours either.
        let mut other = NonceManager::with_secret(NonceConfig::default(), [8; 32]);
        let mut foreign = answer(&other.challenge(t0(), REALM, false)[0], "s3cret", 1);
        foreign.opaque = None;
        assert_eq!(
            manager.verify(t0(), &context(), &foreign, &ha1),
            Err(AuthError::NonceTampered)
        );
        assert!(other.verify(t0(), &context(), &foreign, &ha1).is_ok());
    }

    #[test]
    fn realm_must_match_and_nonce_is_bound_to_its_realm() {
        let mut manager = manager();
        let challenge = &manager.challenge(t0(), REALM, false)[0];
        let response = answer(challenge, "s3cret", 1);
        let ha1 = stored_ha1(response.algorithm);
        let elsewhere = RequestContext {
            realm: "other.example",
            ..context()
        };
        assert_eq!(
            manager.verify(t0(), &elsewhere, &response, &ha1),
            Err(AuthError::RealmMismatch)
        );
        // Claiming the other realm in the credentials does not help: the nonce names ours.
        let mut moved = response.clone();
        moved.realm = "other.example".into();
        moved.opaque = None;
        assert_eq!(
            manager.verify(t0(), &elsewhere, &moved, &ha1),
            Err(AuthError::NonceTampered)
        );
    }

    #[test]
    fn nonce_count_must_increase() {
        let mut manager = manager();
        let challenge = manager.challenge(t0(), REALM, false).remove(0);
        let ha1 = stored_ha1(DigestAlgorithm::Sha256);
        let at = |nc| answer(&challenge, "s3cret", nc);
        assert_eq!(manager.verify(t0(), &context(), &at(1), &ha1), Ok(()));
        let replay = manager.verify(t0(), &context(), &at(1), &ha1).unwrap_err();
        assert_eq!(
            replay,
            AuthError::NonceCountReplayed {
                last: 1,
                received: 1
            }
        );
        assert!(replay.is_stale() && replay.counts_as_failure());
        assert_eq!(manager.verify(t0(), &context(), &at(2), &ha1), Ok(()));
        assert_eq!(
            manager.verify(t0(), &context(), &at(5), &ha1),
            Ok(()),
            "gaps are fine"
        );
        assert_eq!(
            manager.verify(t0(), &context(), &at(4), &ha1),
            Err(AuthError::NonceCountReplayed {
                last: 5,
                received: 4
            })
        );
    }

    #[test]
    fn tracking_is_bounded_and_forgotten_nonces_are_stale() {
        let config = NonceConfig {
            max_tracked: 2,
            ..NonceConfig::default()
        };
        let mut manager = NonceManager::with_secret(config, [7; 32]);
        let ha1 = stored_ha1(DigestAlgorithm::Sha256);
        let challenges: Vec<String> = (0..3)
            .map(|_| manager.challenge(t0(), REALM, false).remove(0))
            .collect();
        for challenge in &challenges {
            let response = answer(challenge, "s3cret", 1);
            assert_eq!(manager.verify(t0(), &context(), &response, &ha1), Ok(()));
        }
        assert_eq!(manager.tracked_len(), 2);
        // The first nonce was evicted: even a higher count is refused, as stale.
        let again = answer(&challenges[0], "s3cret", 2);
        let err = manager.verify(t0(), &context(), &again, &ha1).unwrap_err();
        assert_eq!(err, AuthError::NonceForgotten);
        assert!(err.is_stale());
        // The others still count.
        assert_eq!(
            manager.verify(t0(), &context(), &answer(&challenges[2], "s3cret", 2), &ha1),
            Ok(())
        );
    }

    #[test]
    fn expired_nonces_leave_the_table() {
        let mut manager = manager();
        let ha1 = stored_ha1(DigestAlgorithm::Sha256);
        let old = manager.challenge(t0(), REALM, false).remove(0);
        assert!(manager
            .verify(t0(), &context(), &answer(&old, "s3cret", 1), &ha1)
            .is_ok());
        let later = t0() + chrono::Duration::seconds(400);
        let new = manager.challenge(later, REALM, false).remove(0);
        assert!(manager
            .verify(later, &context(), &answer(&new, "s3cret", 1), &ha1)
            .is_ok());
        assert_eq!(manager.tracked_len(), 1);
    }

    #[test]
    fn request_shape_checks() {
        let mut manager = manager();
        let challenge = manager.challenge(t0(), REALM, false).remove(0);
        let good = answer(&challenge, "s3cret", 1);
        let ha1 = stored_ha1(good.algorithm);

        let invite = RequestContext {
            request_uri: "sip:bob@onestatus.example",
            ..context()
        };
        let err = manager.verify(t0(), &invite, &good, &ha1).unwrap_err();
        assert_eq!(err, AuthError::UriMismatch);
        assert!(err.is_malformed(), "RFC 7616 §3.4.6: answer 400");

        let rerendered = RequestContext {
            request_uri: "sip:OneStatus.example:5060",
            ..context()
        };
        assert_eq!(manager.verify(t0(), &rerendered, &good, &ha1), Ok(()));

        let mut opaque = answer(&challenge, "s3cret", 2);
        opaque.opaque = Some("feed".into());
        assert_eq!(
            manager.verify(t0(), &context(), &opaque, &ha1),
            Err(AuthError::OpaqueMismatch)
        );

        let mut rfc2069 = answer(&challenge, "s3cret", 2);
        rfc2069.qop = None;
        assert_eq!(
            manager.verify(t0(), &context(), &rfc2069, &ha1),
            Err(AuthError::QopRequired)
        );

        let mut auth_int = answer(&challenge, "s3cret", 2);
        auth_int.qop = Some(Qop::AuthInt);
        assert_eq!(
            manager.verify(t0(), &context(), &auth_int, &ha1),
            Err(AuthError::UnsupportedQop)
        );

        let md5_ha1 = stored_ha1(DigestAlgorithm::Md5);
        assert_eq!(
            manager.verify(t0(), &context(), &answer(&challenge, "s3cret", 2), &md5_ha1),
            Err(AuthError::InvalidHa1 { expected_len: 64 })
        );
        // Upper-case hex from a client or the store is the same digest.
        let mut upper = answer(&challenge, "s3cret", 3);
        upper.response = upper.response.to_ascii_uppercase();
        assert_eq!(
            manager.verify(t0(), &context(), &upper, &ha1.to_ascii_uppercase()),
            Ok(())
        );
    }

    /// Issue #19: a nonce taken from one address was accepted from another.
    #[test]
    fn a_bound_nonce_is_refused_from_another_address() {
        let mut manager = manager();
        let phone: IpAddr = "192.0.2.10".parse().unwrap();
        let thief: IpAddr = "198.51.100.7".parse().unwrap();
        let bound = NonceBinding::Address(phone);
        let challenge = manager.challenge_bound(t0(), REALM, false, bound).remove(0);
        let ha1 = stored_ha1(DigestAlgorithm::Sha256);
        let at = |nc| answer(&challenge, "s3cret", nc);

        // From another address: refused, as stale (a new challenge), and not recorded.
        let elsewhere = NonceBinding::Address(thief);
        let err = manager
            .verify_bound(t0(), &context(), &at(1), &ha1, elsewhere)
            .unwrap_err();
        assert_eq!(err, AuthError::NonceFromOtherAddress);
        assert!(err.is_stale() && !err.counts_as_failure());
        assert_eq!(
            manager.verify(t0(), &context(), &at(1), &ha1),
            Err(AuthError::NonceFromOtherAddress),
            "unbound verification does not accept a bound nonce"
        );
        assert_eq!(manager.tracked_len(), 0);
        // With a wrong password the failure is the password's, and it counts.
        let wrong = answer(&challenge, "guess", 1);
        let err = manager
            .verify_bound(t0(), &context(), &wrong, &ha1, elsewhere)
            .unwrap_err();
        assert_eq!(err, AuthError::ResponseMismatch);

        // From the address it was issued to (also written IPv4-mapped): accepted.
        assert_eq!(
            manager.verify_bound(t0(), &context(), &at(1), &ha1, bound),
            Ok(())
        );
        let mapped = NonceBinding::Address("::ffff:192.0.2.10".parse().unwrap());
        assert_eq!(
            manager.verify_bound(t0(), &context(), &at(2), &ha1, mapped),
            Ok(())
        );

        // An unbound nonce (behind a trusted proxy) is refused from a direct client too.
        let proxied = manager.challenge(t0(), REALM, false).remove(0);
        let response = answer(&proxied, "s3cret", 1);
        assert_eq!(
            manager.verify_bound(t0(), &context(), &response, &ha1, bound),
            Err(AuthError::NonceFromOtherAddress)
        );
        assert_eq!(manager.verify(t0(), &context(), &response, &ha1), Ok(()));
    }
}
