//! A survivor's BYE on a leg of a dead node's call (RFC 3261 §15.1.1), sent from a socket of
//! its own: the dead node's socket, and its TCP connections, are gone with it. The request is
//! built from the stored dialog ([`super::dialog_share::SharedLeg`]) with the next local CSeq
//! and carried by the non-INVITE client transaction of §17.1.2 (Timer E retransmissions over
//! UDP, Timer F giving up), driven here over a connected UDP socket or a new TCP connection
//! to where the dead node sent its requests.
//!
//! The peer matches the BYE to its dialog by Call-ID and tags (§12.2.2), not by the address
//! it came from; its response goes to our Via, this socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsip::{Method, SipMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

use super::dialog_share::SharedLeg;
use crate::clock::Clock;
use crate::sip::transaction::{Action, ClientNonInvite, TimerConfig, TransportKind};

/// How long a TCP BYE waits for its final response (Timer F's 64·T1).
const TCP_WAIT: Duration = Duration::from_secs(32);

/// Why a BYE got no 2xx.
#[derive(Debug, thiserror::Error)]
pub enum ByeError {
    /// The dialog state cannot make a BYE.
    #[error("no BYE from the stored dialog: {0}")]
    Dialog(#[from] crate::sip::dialog::DialogError),
    /// The socket failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    /// Timer F: no final response.
    #[error("no answer")]
    Timeout,
    /// The peer answered with a failure (481: it had ended the dialog itself).
    #[error("answered {0}")]
    Refused(u16),
}

/// Sends BYE on `leg` and waits for its final response: `Ok` for a 2xx.
pub async fn send_bye(leg: &SharedLeg, clock: Arc<dyn Clock>) -> Result<(), ByeError> {
    let bind: SocketAddr = if leg.destination.is_ipv4() {
        "0.0.0.0:0".parse().map_err(std::io::Error::other)?
    } else {
        "[::]:0".parse().map_err(std::io::Error::other)?
    };
    if leg.tcp {
        let mut stream = tokio::net::TcpStream::connect(leg.destination).await?;
        let local = stream.local_addr()?;
        let bye = build(leg, local, TransportKind::Tcp)?;
        stream.write_all(bye.to_string().as_bytes()).await?;
        let mut buffer = vec![0u8; 65_536];
        let mut filled = 0;
        let read = async {
            loop {
                let n = stream.read(&mut buffer[filled..]).await?;
                if n == 0 {
                    return Err(ByeError::Timeout);
                }
                filled += n;
                if let Some(code) = final_status(&buffer[..filled]) {
                    return Ok(code);
                }
                if filled == buffer.len() {
                    return Err(ByeError::Timeout);
                }
            }
        };
        let code = tokio::time::timeout(TCP_WAIT, read)
            .await
            .map_err(|_| ByeError::Timeout)??;
        return verdict(code);
    }
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    socket.connect(leg.destination).await?;
    let local = socket.local_addr()?;
    let bye = build(leg, local, TransportKind::Udp)?;
    let mut out = Vec::new();
    let mut transaction = ClientNonInvite::new(
        clock.instant(),
        bye,
        TimerConfig::default(),
        TransportKind::Udp,
        &mut out,
    );
    let mut buffer = vec![0u8; 65_536];
    loop {
        for action in out.drain(..) {
            match action {
                Action::Transmit(message) => {
                    socket.send(message.to_string().as_bytes()).await?;
                }
                Action::PassResponse(response) => {
                    let code = response.status_code.code();
                    if code >= 200 {
                        return verdict(code);
                    }
                }
                Action::Timeout(_) | Action::TransportError => return Err(ByeError::Timeout),
                Action::PassAck(_) => {}
            }
        }
        if transaction.is_terminated() {
            return Err(ByeError::Timeout);
        }
        let deadline = transaction.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.recv(&mut buffer) => {
                let n = received?;
                match crate::sip::message::parse(&buffer[..n]) {
                    Ok(SipMessage::Response(response)) => {
                        transaction.handle_response(clock.instant(), response, &mut out);
                    }
                    Ok(SipMessage::Request(_)) => debug!("request on the BYE socket ignored"),
                    Err(error) => debug!(%error, "unparseable answer to a BYE"),
                }
            }
            () = sleep => transaction.handle_timeout(clock.instant(), &mut out),
        }
    }
}

/// The BYE with our Via for `local` (§8.1.1.7: a fresh branch with the magic cookie).
fn build(
    leg: &SharedLeg,
    local: SocketAddr,
    transport: TransportKind,
) -> Result<rsip::Request, ByeError> {
    let proto = match transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
    };
    let via = format!(
        "SIP/2.0/{proto} {local};branch={};rport",
        crate::sip::message::new_branch()
    );
    let mut dialog = leg.dialog();
    Ok(dialog.request(Method::Bye, &via)?)
}

/// The status of the first final response in `bytes`, once it is whole.
fn final_status(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes).ok()?;
    for message in text.split("\r\n\r\n") {
        let code = message
            .trim_start()
            .strip_prefix("SIP/2.0 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        if let Some(code) = code.filter(|c| *c >= 200) {
            return Some(code);
        }
    }
    None
}

fn verdict(code: u16) -> Result<(), ByeError> {
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(ByeError::Refused(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(destination: SocketAddr) -> SharedLeg {
        SharedLeg {
            uac: true,
            call_id: "c1@test".into(),
            local_tag: "ours".into(),
            remote_tag: "theirs".into(),
            local_uri: "<sip:4512345678@onestatus>".into(),
            remote_uri: "<sip:1000001@127.0.0.1>".into(),
            local_cseq: Some(1),
            remote_cseq: None,
            remote_target: format!("sip:1000001@{destination}"),
            route_set: Vec::new(),
            destination,
            tcp: false,
        }
    }

    #[tokio::test]
    async fn a_bye_is_retransmitted_until_answered_with_the_next_cseq() {
        let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        phone
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let to = phone.local_addr().unwrap();
        let answering = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // The first one is "lost"; the retransmission is answered.
            let (n, _) = phone.recv_from(&mut buffer).unwrap();
            let first = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let (n, from) = phone.recv_from(&mut buffer).unwrap();
            let bye = String::from_utf8_lossy(&buffer[..n]).into_owned();
            assert_eq!(first, bye);
            let mut ok = String::from("SIP/2.0 200 OK\r\n");
            for line in bye.lines() {
                let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
                if ["via", "from", "to", "call-id", "cseq"].contains(&name.as_str()) {
                    ok.push_str(line);
                    ok.push_str("\r\n");
                }
            }
            ok.push_str("Content-Length: 0\r\n\r\n");
            phone.send_to(ok.as_bytes(), from).unwrap();
            bye
        });
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        send_bye(&leg(to), clock).await.unwrap();
        let bye = answering.join().unwrap();
        assert!(bye.starts_with("BYE sip:1000001@"), "{bye}");
        assert!(bye.contains("CSeq: 2 BYE"), "{bye}");
        assert!(bye.contains("Call-ID: c1@test"), "{bye}");
    }

    #[test]
    fn the_final_status_is_found_past_provisionals() {
        assert_eq!(final_status(b"SIP/2.0 100 Trying\r\n\r\n"), None);
        assert_eq!(
            final_status(b"SIP/2.0 100 Trying\r\n\r\nSIP/2.0 481 No\r\n\r\n"),
            Some(481)
        );
    }
}
