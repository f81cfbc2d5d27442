//! Binding the sockets `serve` listens on. Done before anything starts so that an address in
//! use is a start-up error (exit code 2), and so tests can pass port 0 and read the real ports.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};

/// The bound SIP and HTTP sockets.
#[derive(Debug)]
pub struct Listeners {
    /// One UDP socket per SIP listen address (if UDP is on).
    pub sip_udp: Vec<Arc<UdpSocket>>,
    /// One TCP listener per SIP listen address (if TCP is on).
    pub sip_tcp: Vec<TcpListener>,
    /// The HTTP side API listener.
    pub http: TcpListener,
}

/// Why a socket could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {protocol} {addr}: {source}")]
pub struct BindError {
    /// "SIP/UDP", "SIP/TCP" or "HTTP".
    pub protocol: &'static str,
    /// The address.
    pub addr: SocketAddr,
    /// The OS error.
    pub source: std::io::Error,
}

impl Listeners {
    /// Binds every configured address. With port 0, UDP and TCP of one SIP address share the
    /// port the OS picks for UDP, since phones expect both on one port.
    pub async fn bind(
        sip: &[SocketAddr],
        udp: bool,
        tcp: bool,
        http: SocketAddr,
    ) -> Result<Listeners, BindError> {
        let mut sip_udp = Vec::new();
        let mut sip_tcp = Vec::new();
        for &addr in sip {
            let (udp_socket, tcp_listener) = bind_sip(addr, udp, tcp).await?;
            sip_udp.extend(udp_socket.map(Arc::new));
            sip_tcp.extend(tcp_listener);
        }
        let http = TcpListener::bind(http).await.map_err(|source| BindError {
            protocol: "HTTP",
            addr: http,
            source,
        })?;
        Ok(Listeners {
            sip_udp,
            sip_tcp,
            http,
        })
    }

    /// The addresses actually bound, for the "listening" log line.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for s in &self.sip_udp {
            if let Ok(a) = s.local_addr() {
                parts.push(format!("sip+udp={a}"));
            }
        }
        for l in &self.sip_tcp {
            if let Ok(a) = l.local_addr() {
                parts.push(format!("sip+tcp={a}"));
            }
        }
        if let Ok(a) = self.http.local_addr() {
            parts.push(format!("http={a}"));
        }
        parts.join(" ")
    }
}

/// How often a port-0 SIP address tries another OS-picked port when TCP finds the one UDP got
/// already taken. The OS picks the UDP port from the UDP table alone, so the same number can be
/// held by a TCP socket (an outgoing connection's ephemeral port, another test's listener).
const PORT_PAIR_ATTEMPTS: usize = 20;

/// Binds UDP and/or TCP for one SIP address. With port 0 and both transports, UDP picks the port
/// and TCP takes the same one; if that number is in use for TCP, both are let go and another pair
/// is tried. A fixed port gets exactly one try: "in use" there is the operator's to know.
async fn bind_sip(
    addr: SocketAddr,
    udp: bool,
    tcp: bool,
) -> Result<(Option<UdpSocket>, Option<TcpListener>), BindError> {
    let retry = addr.port() == 0 && udp && tcp;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tcp_addr = addr;
        let mut udp_socket = None;
        if udp {
            let socket = UdpSocket::bind(addr).await.map_err(|source| BindError {
                protocol: "SIP/UDP",
                addr,
                source,
            })?;
            let bound = socket.local_addr().map_err(|source| BindError {
                protocol: "SIP/UDP",
                addr,
                source,
            })?;
            tcp_addr.set_port(bound.port());
            udp_socket = Some(socket);
        }
        if !tcp {
            return Ok((udp_socket, None));
        }
        match TcpListener::bind(tcp_addr).await {
            Ok(listener) => return Ok((udp_socket, Some(listener))),
            Err(source)
                if retry
                    && source.kind() == std::io::ErrorKind::AddrInUse
                    && attempt < PORT_PAIR_ATTEMPTS =>
            {
                tracing::debug!(%tcp_addr, "SIP/TCP port taken; picking another UDP/TCP pair");
            }
            Err(source) => {
                return Err(BindError {
                    protocol: "SIP/TCP",
                    addr: tcp_addr,
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Port 0 with both transports must never fail because the UDP port's number is held on
    /// TCP (the CI failure: "cannot listen on SIP/TCP ...: Address already in use"). Hold 500
    /// ports of the ephemeral range on TCP, then bind 2,000 pairs: about 1.8% of the OS's UDP
    /// picks land on a held port, so without the retry this fails all but certainly.
    #[tokio::test]
    async fn a_port_0_pair_avoids_ports_taken_on_tcp() {
        let localhost: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let mut held = std::collections::HashSet::new();
        let mut listeners = Vec::new();
        while listeners.len() < 500 {
            let probe = std::net::TcpListener::bind(localhost).expect("hold a port");
            held.insert(probe.local_addr().expect("held addr").port());
            listeners.push(probe);
        }
        for _ in 0..2_000 {
            let (u, t) = bind_sip(localhost, true, true).await.expect("pair");
            let (u, t) = (u.expect("udp"), t.expect("tcp"));
            let port = u.local_addr().expect("udp addr").port();
            assert_eq!(t.local_addr().expect("tcp addr").port(), port);
            assert!(!held.contains(&port), "{port} is held on TCP");
        }
    }
}
