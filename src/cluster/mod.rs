//! Several nodes on one PostgreSQL store behind a SIP proxy such as Kamailio (issue #20).
//!
//! - [`nonce_secret`]: the digest nonce secret every node shares, so a phone challenged by one
//!   node is accepted by the next.
//! - [`readiness`]: `GET /api/v1/ready` (store reachable, not draining), apart from liveness.

pub mod nonce_secret;
pub mod readiness;
