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
            let mut tcp_addr = addr;
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
                sip_udp.push(Arc::new(socket));
            }
            if tcp {
                let listener = TcpListener::bind(tcp_addr)
                    .await
                    .map_err(|source| BindError {
                        protocol: "SIP/TCP",
                        addr: tcp_addr,
                        source,
                    })?;
                sip_tcp.push(listener);
            }
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
