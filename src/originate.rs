//! Calls the HTTP API asks the SIP task to make (click-to-call, RFC 3725): the contract both
//! sides import, so neither imports the other.
//!
//! The API holds a [`Handle`]; the SIP task (`runtime::click_to_call`) holds the receiving
//! end of its command channel and writes the statuses the API reads.

use std::net::SocketAddr;

use crate::b2bua::trunk::Trunk;

/// The trunk's address: a DNS look-up of its host (I/O, so here and not in the pure
/// [`Trunk`]); `None` when it does not resolve.
pub async fn resolve_trunk(trunk: &Trunk) -> Option<SocketAddr> {
    tokio::net::lookup_host(trunk.lookup_address())
        .await
        .ok()?
        .next()
}
