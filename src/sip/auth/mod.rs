//! SIP digest authentication (RFC 3261 §22, with the RFC 7616 grammar and the RFC 8760
//! SHA-256 algorithm), plus the defences a public SIP port needs: per-IP ban tracking after
//! repeated failures and scanner `User-Agent` detection.
//!
//! # Place in the call flow
//! A REGISTER (or an INVITE from a registered phone) reaches the driver; the driver first asks
//! [`AuthFailures::is_banned`] and [`is_scanner`] whether to answer at all, then — when the
//! request has no credentials — sends 401 with the header values of
//! [`NonceManager::challenge`]. The next request carries `Authorization: Digest …`, which
//! [`DigestResponse::parse`] reads and [`NonceManager::verify`] checks against the user's stored
//! HA1 ([`ha1`]). A failure goes to [`AuthFailures::record_failure`].
//!
//! Everything here is sans-I/O: time is a parameter, nothing reads a clock or a socket.
//!
//! # Choices
//! - Algorithms: `MD5` and `SHA-256` only. The `-sess` variants make HA1 depend on the client's
//!   cnonce, so the store could not keep a precomputed HA1; no SIP phone we target needs them,
//!   and since we never offer them in a challenge a response using one is answering a challenge
//!   we did not send: it is rejected with [`AuthError::UnsupportedAlgorithm`].
//! - `qop=auth` is required. RFC 2069 responses (no qop) carry no nonce count, so a captured
//!   REGISTER could be replayed for the whole nonce lifetime; every current phone sends qop.
//!   `auth-int` (body integrity) is not offered.

mod ban;
mod by_agent;
mod digest;
mod error;
mod hmac;
mod nonce;
mod scanner;

pub(crate) use ban::ban_key;
pub use ban::{AuthFailures, BanConfig, BanStarted};
pub use by_agent::{algorithms_for, AgentAlgorithms};
pub use digest::{ha1, DigestAlgorithm, DigestResponse, NonceCount, Qop};
pub use error::{AuthAnswer, AuthError};
pub use nonce::{NonceBinding, NonceConfig, NonceManager, RequestContext};
pub use scanner::{is_scanner, DEFAULT_SCANNER_PATTERNS};
