//! SIP transports (RFC 3261 §18): UDP datagrams and TCP streams on the configured listen
//! addresses. The drivers turn socket reads into [`Inbound`] values for the SIP task and carry
//! its [`Outbound`] messages back, over the connection a request came in on where there is one
//! (§18.2.2).

pub mod framing;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;

use bytes::Bytes;

/// Which transport a message travelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// UDP: unreliable, so the transaction layer retransmits.
    Udp,
    /// TCP: reliable, retransmission timers are off and D/I/J/K are zero.
    Tcp,
}

impl Protocol {
    /// The Via transport token.
    pub fn as_via(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
        }
    }
}

/// Bytes that arrived.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Transport it came on.
    pub protocol: Protocol,
    /// The peer (source address and port: what §18.2.1 `received`/`rport` record).
    pub from: SocketAddr,
    /// Our address it arrived at.
    pub local: SocketAddr,
    /// One whole message, or on TCP a frame cut by [`framing`].
    pub bytes: Bytes,
}

/// Bytes to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Transport to use.
    pub protocol: Protocol,
    /// Destination.
    pub to: SocketAddr,
    /// The serialised message.
    pub bytes: Bytes,
}
