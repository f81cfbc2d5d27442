//! The UDP driver: one task per socket reads datagrams and hands each, whole, to the SIP task.
//! A datagram is one message (§18.3); there is no reassembly, so the buffer size bounds memory.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Inbound, Protocol};

/// Reads `socket` until the task is aborted, forwarding datagrams of at most `max_bytes` to
/// `inbound`. It keeps reading during a shutdown's drain, so running calls still get their BYE;
/// `serve` aborts it once the drain is over.
pub async fn run_receiver(
    socket: Arc<UdpSocket>,
    max_bytes: usize,
    inbound: mpsc::Sender<Inbound>,
) {
    let local = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => {
            warn!(error = %e, "udp socket has no local address");
            return;
        }
    };
    // One byte more than the limit, so an over-long datagram is seen as such, not truncated.
    let mut buffer = vec![0u8; max_bytes.saturating_add(1).min(65536)];
    loop {
        let received = socket.recv_from(&mut buffer).await;
        let (len, from): (usize, SocketAddr) = match received {
            Ok(v) => v,
            // ICMP port unreachable from an earlier send shows up here on Linux: not fatal.
            Err(e) => {
                debug!(error = %e, "udp receive error");
                continue;
            }
        };
        if len > max_bytes {
            debug!(%from, len, "dropping oversized UDP datagram");
            continue;
        }
        let data = &buffer[..len];
        // Keep-alive CRLFs (and other blank datagrams) carry no message.
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let message = Inbound {
            protocol: Protocol::Udp,
            from,
            local,
            bytes: Bytes::copy_from_slice(data),
        };
        // Under overload, shed load at the socket rather than queue without bound.
        if let Err(mpsc::error::TrySendError::Full(_)) = inbound.try_send(message) {
            debug!(%from, "SIP task overloaded: dropping UDP datagram");
        }
    }
}
