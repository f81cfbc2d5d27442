//! Reading every datagram a UDP socket holds in one system call, for the socket sides of the
//! media engine and the relay.
//!
//! In the call flow: the media driver reads a session's socket at each of its frame deadlines
//! (`engine`), and a relay reads the socket that became readable (`anchor`). Either wants
//! what is queued now and no more. A `recvfrom` loop needs one call per datagram and then one
//! more that fails with `EAGAIN` to learn that the queue is empty: on a call's socket, where
//! one RTP packet arrives per ptime (RFC 3551 §4.5: 20 ms), that is two system calls per
//! packet. `recvmmsg(2)` with `MSG_DONTWAIT` returns every queued datagram up to the batch
//! size in one call, and a batch that comes back short means the queue was empty at that
//! instant: one system call per visit (benches/README.md, "Media syscalls").
//!
//! The headers `recvmmsg` fills hold raw pointers (nix's `MultiHeaders` is not `Send`), so
//! they live in a thread-local, built once per thread, next to the batch's buffers; a read
//! borrows them for its duration and never across an `await`.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

/// Datagrams asked for per system call: a visit to a call's socket finds one or two; more
/// after a stall, read in further calls.
pub(crate) const BATCH: usize = 8;

/// Largest datagram read; an RTP packet of 20 ms G.711 is 172 bytes, jumbo SIP-side MTUs are
/// 1500. Larger datagrams are truncated by the kernel and then fail RTP parsing harmlessly.
pub(crate) const MAX_DATAGRAM: usize = 2048;

/// One thread's headers and buffers (16 KiB).
struct Batch {
    headers: MultiHeaders<SockaddrStorage>,
    buffers: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
}

thread_local! {
    static BATCH_STATE: RefCell<Batch> = RefCell::new(Batch {
        headers: MultiHeaders::preallocate(BATCH, None),
        buffers: Box::new([[0u8; MAX_DATAGRAM]; BATCH]),
    });
}

/// What [`recv_each`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    /// Datagrams handed to the callback.
    pub(crate) datagrams: usize,
    /// The last call came back short or with `EAGAIN`: nothing was queued after the last
    /// datagram (as of that call). `false` when `max` stopped the reading first.
    pub(crate) drained: bool,
}

/// Hands `each` every datagram `socket` (non-blocking) holds, with its source, in arrival
/// order, at most `max`. ICMP errors reported by a receive (`ECONNREFUSED`, after a send to
/// a closed port) are skipped: they say nothing about the socket's future. Any other error
/// ends the reading and is returned once nothing was read before it.
pub(crate) fn recv_each(
    socket: &impl AsRawFd,
    max: usize,
    mut each: impl FnMut(SocketAddr, &[u8]),
) -> io::Result<Received> {
    recv_batches(socket, max, |batch| {
        for &(from, datagram) in batch {
            each(from, datagram);
        }
    })
}

/// As [`recv_each`], but hands over each `recvmmsg` call's datagrams at once (at most
/// [`BATCH`], never none), so that the caller can send them on in one system call too (the
/// relay, with [`super::send_batch`]).
pub(crate) fn recv_batches(
    socket: &impl AsRawFd,
    max: usize,
    mut each: impl FnMut(&[(SocketAddr, &[u8])]),
) -> io::Result<Received> {
    BATCH_STATE.with(|state| {
        let mut state = state.borrow_mut();
        let Batch { headers, buffers } = &mut *state;
        let mut datagrams = 0;
        // Bounded: each pass reads at least one datagram or returns; a run of ICMP errors
        // counts against `max` too.
        let mut passes = 0;
        while datagrams < max && passes < max {
            passes += 1;
            let want = BATCH.min(max - datagrams);
            let mut slices = buffers
                .each_mut()
                .map(|buffer| [IoSliceMut::new(&mut buffer[..])]);
            let results = match recvmmsg(
                socket.as_raw_fd(),
                headers,
                slices.iter_mut().take(want),
                MsgFlags::MSG_DONTWAIT,
                None,
            ) {
                Ok(results) => results,
                Err(Errno::EAGAIN) => {
                    return Ok(Received {
                        datagrams,
                        drained: true,
                    })
                }
                Err(Errno::ECONNREFUSED | Errno::ECONNRESET) => continue,
                Err(Errno::EINTR) => continue,
                Err(errno) if datagrams == 0 => return Err(io::Error::from(errno)),
                Err(_) => {
                    return Ok(Received {
                        datagrams,
                        drained: false,
                    })
                }
            };
            let mut got = 0;
            let mut batch = [(UNSPECIFIED, &[][..]); BATCH];
            let mut len = 0;
            for message in results {
                got += 1;
                let Some(from) = message.address.as_ref().and_then(socket_addr) else {
                    continue;
                };
                batch[len] = (from, message.iovs().next().unwrap_or_default());
                len += 1;
            }
            if len > 0 {
                each(&batch[..len]);
            }
            datagrams += got;
            if got < want {
                return Ok(Received {
                    datagrams,
                    drained: true,
                });
            }
        }
        Ok(Received {
            datagrams,
            drained: false,
        })
    })
}

/// A placeholder for the unused entries of a batch.
const UNSPECIFIED: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

/// The source of a received datagram as a std address (an IP socket only receives these).
fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    address.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        (receiver, sender)
    }

    fn read_all(socket: &UdpSocket, max: usize) -> (Vec<(SocketAddr, Vec<u8>)>, Received) {
        let mut seen = Vec::new();
        let received = recv_each(socket, max, |from, datagram| {
            seen.push((from, datagram.to_vec()));
        })
        .unwrap();
        (seen, received)
    }

    #[test]
    fn an_empty_socket_reads_nothing_and_is_drained() {
        let (receiver, _) = pair();
        let (seen, received) = read_all(&receiver, 100);
        assert!(seen.is_empty());
        assert_eq!(
            received,
            Received {
                datagrams: 0,
                drained: true
            }
        );
    }

    #[test]
    fn every_queued_datagram_comes_in_order_with_its_source_across_batches() {
        let (receiver, sender) = pair();
        let to = receiver.local_addr().unwrap();
        for i in 0..(2 * BATCH + 3) {
            sender.send_to(&[i as u8; 3], to).unwrap();
        }
        // Loopback delivers synchronously: all of them are queued now.
        let (seen, received) = read_all(&receiver, 100);
        assert_eq!(received.datagrams, 2 * BATCH + 3);
        assert!(received.drained);
        for (i, (from, datagram)) in seen.iter().enumerate() {
            assert_eq!(*from, sender.local_addr().unwrap());
            assert_eq!(datagram, &vec![i as u8; 3]);
        }
    }

    #[test]
    fn max_bounds_a_read_and_the_rest_waits_for_the_next() {
        let (receiver, sender) = pair();
        let to = receiver.local_addr().unwrap();
        for i in 0..5u8 {
            sender.send_to(&[i], to).unwrap();
        }
        let (seen, received) = read_all(&receiver, 3);
        assert_eq!(seen.len(), 3);
        assert!(!received.drained);
        let (seen, received) = read_all(&receiver, 3);
        assert_eq!(
            seen.iter().map(|(_, d)| d[0]).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(received.drained);
    }

    #[test]
    fn a_refused_send_does_not_stop_the_reading() {
        let (receiver, sender) = pair();
        // A port nobody listens on: the ICMP error comes back to `receiver`.
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        receiver.send_to(b"x", closed_addr).unwrap();
        sender
            .send_to(b"after", receiver.local_addr().unwrap())
            .unwrap();
        let (seen, _) = read_all(&receiver, 10);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, b"after");
    }
}
