//! The media relay's sockets: two UDP endpoints per anchored call and one small task that
//! moves datagrams between them, deciding nothing itself ([`super::relay::Relay`] decides).
//!
//! In the call flow: when the B2BUA rings a call whose media is anchored (`calls.media =
//! "anchor"`), the driver opens a [`RelayHandle`] (two even ports from `[rtp]`, RFC 3550 §11),
//! the call's SDP is rewritten to name them ([`super::anchor_sdp`]), and every SDP that crosses
//! tells the handle where that party receives. Dropping the handle (call over, voicemail
//! hand-off, failure) ends the task, which closes both sockets and frees the ports.
//!
//! Cost: two sockets and one tokio task per call; no thread, no buffer of its own, and no
//! timer or allocation per packet (the RTP timeout is a coarse tick, a quarter of the timeout,
//! that only looks at whether anything came since the last one). The task waits until either
//! socket is readable, then drains it with one `recvmmsg` ([`super::recv_batch`]: a short
//! batch says the queue is empty, so no further `recvfrom` has to fail with `EAGAIN` to learn
//! it) and sends what the batch lets through out of the other socket in one `sendmmsg`
//! ([`super::send_batch`]), dropping what the kernel's buffer has no room for rather than
//! queue it (late RTP is useless). A steady stream brings one datagram per visit (one every
//! ptime, RFC 3551 §4.5): two system calls per relayed datagram where a `recv_from` loop made
//! three; a relay that fell behind finds several and catches up at two calls per batch, not
//! per datagram (benches/README.md, "Relay syscalls"). RTCP is relayed only when multiplexed on
//! the RTP port (RFC 5761): a third and fourth socket per call for RTCP on port+1 would double
//! the relay's cost for reports that are optional for the calls we carry.
//!
//! When the node dies (issue #20) its relays die with it: an anchored call's audio stops both
//! ways at once, where a `"passthrough"` call's RTP, phone to phone, goes on. Either way a
//! surviving node ends the call with BYE on both legs once the dead node's heartbeat expires
//! (`cluster::orphans`), since no node is left to carry its signalling; the README's "Running
//! several nodes" says what each side hears meanwhile.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::engine::{MediaError, PortRange};
use super::recv_batch;
use super::relay::{Party, Relay};
use super::send_batch;
use crate::config::RtpConfig;

/// Datagrams read from one socket per visit before the task looks at the other socket and
/// its commands again (what is left is read on the next visit): a flood on one side cannot
/// hold the task for long. Four `recvmmsg` batches; a call's socket holds one datagram per
/// visit in a steady stream, more only after a stall.
const READ_MAX: usize = 4 * recv_batch::BATCH;

/// Opens relays on the ports of `[rtp]`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaRelay {
    ports: Arc<PortRange>,
    /// `rtp.timeout_secs`: silence of both parties after which a relay reports it.
    timeout: Option<Duration>,
}

/// Called once when a relay has carried no RTP either way for the RTP timeout while both
/// parties' SDPs said media should flow. The call driver ends the call.
pub type OnTimeout = Box<dyn FnOnce() + Send>;

/// Ticks per timeout: the timeout fires between (TICKS-1)/TICKS and all of it after the last
/// packet; one tick per quarter keeps the cost at four wake-ups per timeout per call.
const TICKS: u32 = 4;

impl MediaRelay {
    /// A relay factory for `config`'s port range. The voicemail engine allocates from the same
    /// range; a port either of them holds is skipped by the other (the bind fails).
    pub fn new(config: &RtpConfig) -> MediaRelay {
        MediaRelay {
            ports: Arc::new(PortRange::new(config.port_min, config.port_max)),
            timeout: (!config.timeout.is_zero()).then_some(config.timeout),
        }
    }

    /// The same relays with another RTP timeout (`None`: never), for tests.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> MediaRelay {
        self.timeout = timeout;
        self
    }

    /// Binds the two endpoints of a new relay, written in SDP as `ip`, and starts its task;
    /// `on_timeout` runs if the relay falls silent (see [`OnTimeout`]). Must be called inside
    /// a tokio runtime. [`MediaError::NoFreePort`] when the range is full.
    pub fn open(&self, ip: IpAddr, on_timeout: OnTimeout) -> Result<RelayHandle, MediaError> {
        let caller = self.bind(ip)?;
        let callee = self.bind(ip)?;
        let caller_port = caller.local_addr().map_err(MediaError::Socket)?.port();
        let callee_port = callee.local_addr().map_err(MediaError::Socket)?.port();
        let (control, commands) = mpsc::unbounded_channel();
        let timeout = self.timeout.map(|timeout| (timeout, on_timeout));
        tokio::spawn(run(caller, callee, commands, timeout));
        Ok(RelayHandle {
            caller_facing: SocketAddr::new(ip, caller_port),
            callee_facing: SocketAddr::new(ip, callee_port),
            control,
        })
    }

    fn bind(&self, ip: IpAddr) -> Result<UdpSocket, MediaError> {
        let socket = self.ports.bind(ip)?;
        socket.set_nonblocking(true).map_err(MediaError::Socket)?;
        UdpSocket::from_std(socket).map_err(MediaError::Socket)
    }
}

/// One call's relay. Dropping it stops the relay and frees its two ports.
#[derive(Debug)]
#[must_use = "dropping the handle closes the relay"]
pub struct RelayHandle {
    caller_facing: SocketAddr,
    callee_facing: SocketAddr,
    control: mpsc::UnboundedSender<(Party, Option<SocketAddr>)>,
}

impl RelayHandle {
    /// Our endpoint facing `party`: the address its SDP from us names.
    pub fn facing(&self, party: Party) -> SocketAddr {
        match party {
            Party::Caller => self.caller_facing,
            Party::Callee => self.callee_facing,
        }
    }

    /// `party`'s SDP says it receives at `remote` (see [`Relay::set_remote`]).
    pub fn set_remote(&self, party: Party, remote: Option<SocketAddr>) {
        // The task only ends when the handle is dropped; a send cannot fail before.
        let _ = self.control.send((party, remote));
    }
}

/// The relay task: until the handle is dropped, datagrams from either socket go out of the
/// other one, where [`Relay`] says.
async fn run(
    caller: UdpSocket,
    callee: UdpSocket,
    mut commands: mpsc::UnboundedReceiver<(Party, Option<SocketAddr>)>,
    timeout: Option<(Duration, OnTimeout)>,
) {
    let mut relay = Relay::new();
    // The RTP timeout: a tick every quarter of it; `idle` counts ticks in a row with no packet
    // while media was expected. Without a timeout the tick never fires.
    let (period, mut on_timeout) = match timeout {
        Some((timeout, on_timeout)) => (timeout / TICKS, Some(on_timeout)),
        None => (Duration::from_secs(86_400 * 365), None),
    };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut active = false;
    let mut idle = 0u32;
    let ports = (
        caller.local_addr().map(|a| a.port()).unwrap_or_default(),
        callee.local_addr().map(|a| a.port()).unwrap_or_default(),
    );
    tracing::debug!(
        caller_port = ports.0,
        callee_port = ports.1,
        "media relay opened"
    );
    loop {
        let (party, readable) = tokio::select! {
            // SDP news first: a packet that arrives with it is sent where it says.
            biased;
            command = commands.recv() => match command {
                Some((party, remote)) => {
                    relay.set_remote(party, remote);
                    continue;
                }
                None => break,
            },
            readable = caller.readable() => (Party::Caller, readable),
            readable = callee.readable() => (Party::Callee, readable),
            _ = tick.tick(), if on_timeout.is_some() => {
                if std::mem::take(&mut active) || !relay.expects_media() {
                    idle = 0;
                } else {
                    idle += 1;
                    if idle >= TICKS {
                        tracing::info!(
                            caller_port = ports.0,
                            callee_port = ports.1,
                            "no RTP either way: media timeout"
                        );
                        if let Some(on_timeout) = on_timeout.take() {
                            on_timeout();
                        }
                    }
                }
                continue;
            }
        };
        let (from, to) = match party {
            Party::Caller => (&caller, &callee),
            Party::Callee => (&callee, &caller),
        };
        // Then the other socket, when tokio has seen it readable too (`try_io` looks at that
        // first: no system call otherwise): the select is biased, and a flood on one side
        // that keeps its socket readable must not starve the other direction.
        let read = readable
            .and_then(|()| forward(&mut relay, party, from, to))
            .and_then(|n| Ok(n + forward(&mut relay, party.other(), to, from)?));
        match read {
            Ok(0) => {}
            Ok(_) => active = true,
            Err(e) => {
                tracing::warn!(error = %e, "media relay receive failed; relay stopped");
                break;
            }
        }
    }
    let stats = relay.stats();
    tracing::debug!(
        caller_port = ports.0,
        callee_port = ports.1,
        caller_to_callee = stats.caller_to_callee,
        callee_to_caller = stats.callee_to_caller,
        dropped = stats.dropped,
        "media relay closed"
    );
}

/// Reads what `from` (facing `party`) holds, at most [`READ_MAX`] datagrams, and sends what
/// `relay` lets through out of `to`, each `recvmmsg` batch in one `sendmmsg`; the number read
/// (forwarded or not). A short `recvmmsg` batch means the queue was empty: the closure then
/// answers `WouldBlock`, so tokio clears the socket's readiness (unless a datagram arrived
/// since the reactor's event: tokio compares its tick) and the task sleeps until the next
/// one, with no `recvfrom` failing with `EAGAIN` to find that out. ICMP errors of earlier
/// sends (the peer not listening yet) are skipped by [`recv_batch::recv_batches`]; any other
/// receive error stops the relay.
fn forward(relay: &mut Relay, party: Party, from: &UdpSocket, to: &UdpSocket) -> io::Result<usize> {
    let mut read = 0;
    let result = from.try_io(Interest::READABLE, || {
        let received = recv_batch::recv_batches(from, READ_MAX, |batch| {
            let mut out = [(UNSPECIFIED, &[][..]); recv_batch::BATCH];
            let mut len = 0;
            for &(source, datagram) in batch {
                if let Some(destination) = relay.on_packet(party, source) {
                    out[len] = (destination, datagram);
                    len += 1;
                }
            }
            if len > 0 {
                // What the kernel's buffer has no room for is dropped: a late packet is worth
                // nothing. `try_io` clears the write readiness when nothing went.
                let _ = to.try_io(Interest::WRITABLE, || {
                    send_batch::send_each(to, &out[..len])
                });
            }
        })?;
        read = received.datagrams;
        if received.drained {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(())
        }
    });
    match result {
        Ok(()) => Ok(read),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(read),
        Err(e) => Err(e),
    }
}

/// A placeholder for the unused entries of an outgoing batch.
const UNSPECIFIED: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(min: u16, max: u16) -> RtpConfig {
        RtpConfig {
            port_min: min,
            port_max: max,
            ptime_ms: 20,
            ..RtpConfig::default()
        }
    }

    async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buffer = [0u8; 256];
        let (len, from) =
            tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buffer))
                .await
                .expect("a relayed packet")
                .unwrap();
        (buffer[..len].to_vec(), from)
    }

    #[tokio::test]
    async fn relays_both_ways_unchanged_and_frees_its_ports() {
        let relays = MediaRelay::new(&config(47_200, 47_203));
        let ip = IpAddr::from([127, 0, 0, 1]);
        let handle = relays.open(ip, Box::new(|| {})).unwrap();
        // Two even ports: the range is full now.
        assert!(matches!(
            relays.open(ip, Box::new(|| {})),
            Err(MediaError::NoFreePort { .. })
        ));
        let alice = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let bob = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        handle.set_remote(Party::Caller, Some(alice.local_addr().unwrap()));
        handle.set_remote(Party::Callee, Some(bob.local_addr().unwrap()));
        let packet = b"\x80\x08\x00\x01rtp bytes as they came";
        alice
            .send_to(packet, handle.facing(Party::Caller))
            .await
            .unwrap();
        let (data, from) = recv(&bob).await;
        assert_eq!(data, packet);
        assert_eq!(from.port(), handle.facing(Party::Callee).port());
        bob.send_to(b"back", handle.facing(Party::Callee))
            .await
            .unwrap();
        let (data, from) = recv(&alice).await;
        assert_eq!(data, b"back");
        assert_eq!(from.port(), handle.facing(Party::Caller).port());
        drop(handle);
        // The task ends and the sockets close once it sees the handle gone.
        let mut reopened = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if let Ok(h) = relays.open(ip, Box::new(|| {})) {
                reopened = Some(h);
                break;
            }
        }
        assert!(reopened.is_some(), "ports not freed");
    }

    /// A burst queued while the relay task could not run (the test's current-thread runtime
    /// runs it only when the test waits) is read in `recvmmsg` batches, over more than one
    /// visit ([`READ_MAX`]), and goes out in `sendmmsg` batches: every datagram, in order,
    /// from our port.
    #[tokio::test]
    async fn a_burst_goes_through_in_batches_complete_and_in_order() {
        let relays = MediaRelay::new(&config(47_400, 47_499));
        let ip = IpAddr::from([127, 0, 0, 1]);
        let handle = relays.open(ip, Box::new(|| {})).unwrap();
        let alice = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let bob = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        handle.set_remote(Party::Caller, Some(alice.local_addr().unwrap()));
        handle.set_remote(Party::Callee, Some(bob.local_addr().unwrap()));
        let burst = READ_MAX + recv_batch::BATCH + 3;
        for i in 0..burst {
            let packet = [0x80, 0x08, 0, i as u8];
            alice
                .send_to(&packet, handle.facing(Party::Caller))
                .await
                .unwrap();
        }
        for i in 0..burst {
            let (data, from) = recv(&bob).await;
            assert_eq!(data, [0x80, 0x08, 0, i as u8], "datagram {i}");
            assert_eq!(from.port(), handle.facing(Party::Callee).port());
        }
    }

    /// Waits up to `within` for the relay's timeout to fire.
    async fn fired(rx: &mut mpsc::UnboundedReceiver<()>, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, rx.recv()).await, Ok(Some(())))
    }

    /// In tokio's paused time (CONTRIBUTING.md rule 5): the relay's tick is a tokio interval,
    /// so its timeouts run on the virtual clock, which moves only when every task waits; the
    /// loopback packets still travel for real, and the runtime takes them in before it moves
    /// the clock on. Seconds of waiting become none, and the elapsed-time bound is exact.
    #[tokio::test(start_paused = true)]
    async fn silence_both_ways_fires_the_timeout_once_but_not_on_hold_or_while_rtp_flows() {
        let timeout = Duration::from_millis(400);
        let relays = MediaRelay::new(&config(47_300, 47_399)).with_timeout(Some(timeout));
        let ip = IpAddr::from([127, 0, 0, 1]);
        let alice = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let bob = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let open = |tx: mpsc::UnboundedSender<()>| {
            relays
                .open(
                    ip,
                    Box::new(move || {
                        let _ = tx.send(());
                    }),
                )
                .unwrap()
        };

        // Both SDPs in, nothing sent: fires after the timeout (within a tick of it), once.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let silent = open(tx);
        silent.set_remote(Party::Caller, Some(alice.local_addr().unwrap()));
        silent.set_remote(Party::Callee, Some(bob.local_addr().unwrap()));
        let started = tokio::time::Instant::now();
        assert!(fired(&mut rx, timeout * 3).await, "silence fires");
        assert!(
            started.elapsed() >= timeout * 3 / 4,
            "{:?}",
            started.elapsed()
        );
        assert!(!fired(&mut rx, timeout * 2).await, "only once");

        // The callee's answer not in yet (ringing): never.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ringing = open(tx);
        ringing.set_remote(Party::Caller, Some(alice.local_addr().unwrap()));
        assert!(!fired(&mut rx, timeout * 3).await, "ringing does not fire");

        // On hold (the caller's sendonly SDP gives no address): never.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let held = open(tx);
        held.set_remote(Party::Caller, None);
        held.set_remote(Party::Callee, Some(bob.local_addr().unwrap()));
        assert!(!fired(&mut rx, timeout * 3).await, "hold does not fire");

        // One party sending keeps the call: RTP every 50 ms for three timeouts.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let talking = open(tx);
        talking.set_remote(Party::Caller, Some(alice.local_addr().unwrap()));
        talking.set_remote(Party::Callee, Some(bob.local_addr().unwrap()));
        let until = tokio::time::Instant::now() + timeout * 3;
        while tokio::time::Instant::now() < until {
            alice
                .send_to(b"\x80\x00rtp", talking.facing(Party::Caller))
                .await
                .unwrap();
            assert!(
                !fired(&mut rx, Duration::from_millis(50)).await,
                "RTP flows"
            );
        }
        // And when it stops, the timeout comes.
        assert!(
            fired(&mut rx, timeout * 3).await,
            "silence after talk fires"
        );
        drop((silent, ringing, held, talking));
    }
}
