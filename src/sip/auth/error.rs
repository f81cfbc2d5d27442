//! Why a digest credential was refused — one variant per check, so the driver can choose the
//! response (400, 401 with `stale=true`, 401) and the log line says exactly what went wrong.

use thiserror::Error;

/// A digest credential that cannot be accepted. Never contains the password or the HA1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    // --- syntax of the Authorization / Proxy-Authorization value (RFC 7616 §3.4) ---
    /// The header value is longer than we are willing to parse (a scanner or an attack).
    #[error("credentials are {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// Length of the value received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The scheme is not `Digest` (e.g. `Basic`, which SIP forbids: RFC 3261 §22.1).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// The parameter list does not follow `auth-param *( "," auth-param )`.
    #[error("malformed digest parameters at byte {position}: expected {expected}")]
    Syntax {
        /// Byte offset into the header value where parsing stopped.
        position: usize,
        /// What the grammar wanted there.
        expected: &'static str,
    },
    /// More parameters than any legitimate client sends.
    #[error("more than {max} digest parameters")]
    TooManyParams {
        /// The limit.
        max: usize,
    },
    /// A parameter appeared twice; RFC 7235 §2.1: each parameter name MUST only occur once.
    #[error("digest parameter `{0}` appears more than once")]
    DuplicateParam(String),
    /// A parameter required by RFC 7616 §3.4 is absent.
    #[error("digest parameter `{0}` is missing")]
    MissingParam(&'static str),
    /// An algorithm we do not offer (see the module documentation for why `-sess` is refused).
    #[error("digest algorithm `{0}` is not supported")]
    UnsupportedAlgorithm(String),
    /// A qop value that is not `auth` / `auth-int`.
    #[error("unknown qop `{0}`")]
    UnknownQop(String),
    /// The client used `auth-int`, which we never offer.
    #[error("qop auth-int is not supported")]
    UnsupportedQop,
    /// The client sent no qop (RFC 2069 style): no nonce count, so no replay protection.
    #[error("qop is required")]
    QopRequired,
    /// `nc` is not `8LHEX` (RFC 7616 §3.4).
    #[error("nonce count `{0}` is not 8 hexadecimal digits")]
    InvalidNonceCount(String),
    /// `userhash=true` (RFC 7616 §3.4.4): the username is hashed and we cannot look it up.
    #[error("userhash is not supported")]
    UserhashUnsupported,

    // --- verification against our challenge (RFC 3261 §22.4, RFC 7616 §3.4.6) ---
    /// The realm is not the one we challenged with.
    #[error("realm does not match")]
    RealmMismatch,
    /// The digest-uri is not the Request-URI of the request carrying it.
    #[error("digest uri does not match the Request-URI")]
    UriMismatch,
    /// The opaque value is not the one we sent.
    #[error("opaque does not match")]
    OpaqueMismatch,
    /// The nonce is not in our format at all.
    #[error("nonce is malformed")]
    NonceMalformed,
    /// The nonce decodes but its HMAC is wrong: it was not issued by us for this realm.
    #[error("nonce was not issued by this server for this realm")]
    NonceTampered,
    /// The response hash is wrong: wrong password, or an HA1 for another user/realm.
    #[error("digest response does not match")]
    ResponseMismatch,
    /// The credentials are right but the nonce is older than its lifetime: re-challenge with
    /// `stale=true` (RFC 7616 §3.3) so the phone retries without asking the user.
    #[error("nonce has expired")]
    NonceExpired,
    /// The nonce count did not increase: a replayed request (RFC 7616 §3.4.5).
    #[error("nonce count {received} is not above the last one seen ({last})")]
    NonceCountReplayed {
        /// The highest count accepted so far for this nonce.
        last: u32,
        /// The count in this request.
        received: u32,
    },
    /// The nonce is valid but its replay state was dropped to bound memory; re-challenge with
    /// `stale=true` rather than risk accepting a replay.
    #[error("nonce is no longer tracked")]
    NonceForgotten,
    /// The nonce is ours and the password right, but the nonce was issued to another source
    /// address (`NonceBinding`): re-challenge with `stale=true` and a nonce for this address.
    /// A thief of the nonce learns nothing; a phone whose NAT mapping changed retries silently.
    #[error("nonce was issued to another address")]
    NonceFromOtherAddress,
    /// The HA1 handed in by the caller is not the hex digest of the algorithm used: a store
    /// problem, not the client's fault.
    #[error("stored HA1 is not a {expected_len}-digit hex digest")]
    InvalidHa1 {
        /// Hex digits expected for the algorithm.
        expected_len: usize,
    },
}

impl AuthError {
    /// Whether the client proved knowledge of the password and only the nonce is unusable,
    /// so the 401 carries `stale=true` (RFC 7616 §3.3) and the phone retries silently.
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            Self::NonceExpired
                | Self::NonceCountReplayed { .. }
                | Self::NonceForgotten
                | Self::NonceFromOtherAddress
        )
    }

    /// Whether the error should count towards a ban of the source address. Expired or
    /// forgotten nonces happen to honest phones; everything else is a wrong password, a
    /// forgery, a replay or garbage.
    pub fn counts_as_failure(&self) -> bool {
        !matches!(
            self,
            Self::NonceExpired
                | Self::NonceForgotten
                | Self::NonceFromOtherAddress
                | Self::InvalidHa1 { .. }
        )
    }

    /// The one answer to credentials refused with this error, for every place that reads an
    /// `Authorization` (parsing it and verifying it alike):
    /// - malformed Digest credentials → 400 ([`is_malformed`](Self::is_malformed));
    /// - everything else → 401 with our challenge, `stale=true` when
    ///   [`is_stale`](Self::is_stale). That includes a scheme we do not know: RFC 4475 §3.3.7
    ///   (`NoOneKnowsThisScheme`) expects "a 401 Unauthorized response with its own
    ///   challenge", since the client may well know Digest once offered it (RFC 3261 §22.1,
    ///   RFC 7235 §4.1).
    pub fn answer(&self) -> AuthAnswer {
        if self.is_malformed() {
            AuthAnswer::BadRequest
        } else {
            AuthAnswer::Challenge {
                stale: self.is_stale(),
            }
        }
    }

    /// Whether to answer 400 rather than 401: the credentials are malformed, or (RFC 7616
    /// §3.4.6) their digest-uri names another resource than the Request-URI. Never for an
    /// unknown scheme ([`AuthError::NotDigest`]), which gets our challenge.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::TooLong { .. }
                | Self::Syntax { .. }
                | Self::TooManyParams { .. }
                | Self::DuplicateParam(_)
                | Self::MissingParam(_)
                | Self::UnknownQop(_)
                | Self::InvalidNonceCount(_)
                | Self::UriMismatch
        )
    }
}

/// How to answer refused credentials ([`AuthError::answer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAnswer {
    /// 401 (or 407) with a fresh challenge.
    Challenge {
        /// Set `stale=true`: the password was right, only the nonce was not.
        stale: bool,
    },
    /// 400: the credentials cannot be read.
    BadRequest,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::auth::DigestResponse;

    /// RFC 4475 §3.3.7: an unknown scheme is answered with our own challenge, not a 400.
    #[test]
    fn unknown_scheme_gets_our_challenge() {
        let error = DigestResponse::parse("NoOneKnowsThisScheme opaque-data=here").unwrap_err();
        assert_eq!(error, AuthError::NotDigest);
        assert_eq!(error.answer(), AuthAnswer::Challenge { stale: false });
        let basic = DigestResponse::parse("Basic YWxhZGRpbjpvcGVuc2VzYW1l").unwrap_err();
        assert_eq!(basic.answer(), AuthAnswer::Challenge { stale: false });
        // Broken Digest credentials stay a 400; an expired nonce is a stale challenge.
        let broken = DigestResponse::parse("Digest username=").unwrap_err();
        assert_eq!(broken.answer(), AuthAnswer::BadRequest);
        assert_eq!(
            AuthError::NonceExpired.answer(),
            AuthAnswer::Challenge { stale: true }
        );
    }
}
