//! Sending a batch of datagrams in one system call, for the relay's socket side.
//!
//! In the call flow: a relay reads what one party's socket holds with one `recvmmsg`
//! ([`super::recv_batch`]) and sends what [`super::relay::Relay`] lets through out of the other
//! party's socket (`anchor`). In a steady stream a socket's visit finds one datagram (one every
//! ptime, RFC 3551 §4.5); after a stall of the relay it finds several, and a `sendto` each
//! would then cost as many system calls as the batch holds, just when the relay is behind.
//! `sendmmsg(2)` sends them all in one.
//!
//! The headers `sendmmsg` fills hold raw pointers (nix's `MultiHeaders` is not `Send`), so
//! they live in a thread-local, built once per thread, as [`super::recv_batch`]'s do; a send
//! borrows them for its duration and never across an `await`.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage};

use super::recv_batch::BATCH;

thread_local! {
    static HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(BATCH, None));
}

/// Sends each of `datagrams` (at most [`BATCH`]; any more are not sent) to its address out of
/// `socket` (non-blocking), in order; how many went. When the kernel's buffer is full the
/// rest are dropped rather than queued (late RTP is useless), and `WouldBlock` comes back if
/// none went, so that a tokio caller's `try_io` clears the socket's write readiness. A
/// datagram the kernel refuses for itself (an ICMP error of an earlier send reported now,
/// `ECONNREFUSED`, or a size it will not take) is dropped and the next ones still go, as a
/// `sendto` each would have done.
pub(crate) fn send_each(
    socket: &impl AsRawFd,
    datagrams: &[(SocketAddr, &[u8])],
) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(BATCH)];
    HEADERS.with(|headers| {
        let mut headers = headers.borrow_mut();
        let mut sent = 0;
        let mut next = 0;
        // Bounded: each pass sends or drops at least one datagram, or returns; EINTR passes
        // count too.
        let mut passes = 0;
        while next < datagrams.len() && passes < 2 * BATCH {
            passes += 1;
            let rest = &datagrams[next..];
            let slices: [[IoSlice<'_>; 1]; BATCH] =
                std::array::from_fn(|i| [IoSlice::new(rest.get(i).map_or(&[][..], |d| d.1))]);
            let addresses: [Option<SockaddrStorage>; BATCH] =
                std::array::from_fn(|i| rest.get(i).map(|d| SockaddrStorage::from(d.0)));
            let no_control: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                socket.as_raw_fd(),
                &mut *headers,
                slices.iter().take(rest.len()),
                &addresses[..rest.len()],
                no_control,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(results) => {
                    let went = results.count();
                    sent += went;
                    // None went without an error cannot happen; skip one not to spin if it did.
                    next += went.max(1);
                }
                Err(Errno::EAGAIN) if sent == 0 => return Err(io::ErrorKind::WouldBlock.into()),
                Err(Errno::EAGAIN) => return Ok(sent),
                Err(Errno::EINTR) => {}
                // This datagram's own failure: dropped, the next ones go.
                Err(_) => next += 1,
            }
        }
        Ok(sent)
    })
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    #[test]
    fn a_batch_goes_in_order_to_each_its_own_address() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.set_nonblocking(true).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let batch = [
            (to_a, &b"one"[..]),
            (to_b, &b"two"[..]),
            (to_a, &b"three"[..]),
        ];
        assert_eq!(send_each(&sender, &batch).unwrap(), 3);
        let mut buffer = [0u8; 16];
        for expected in [&b"one"[..], b"three"] {
            let (len, from) = a.recv_from(&mut buffer).unwrap();
            assert_eq!(&buffer[..len], expected);
            assert_eq!(from, sender.local_addr().unwrap());
        }
        let (len, _) = b.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..len], b"two");
    }

    #[test]
    fn a_datagram_the_kernel_refuses_is_dropped_and_the_rest_go() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.set_nonblocking(true).unwrap();
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let to = receiver.local_addr().unwrap();
        // Larger than any UDP datagram: EMSGSIZE, for that message alone; first in the batch
        // (sendmmsg fails) and in the middle (sendmmsg stops short, the next call fails).
        let huge = vec![0u8; 70_000];
        let batch = [
            (to, &huge[..]),
            (to, &b"first"[..]),
            (to, &huge[..]),
            (to, &b"second"[..]),
        ];
        assert_eq!(send_each(&sender, &batch).unwrap(), 2);
        let mut buffer = [0u8; 16];
        for expected in [&b"first"[..], b"second"] {
            let (len, _) = receiver.recv_from(&mut buffer).unwrap();
            assert_eq!(&buffer[..len], expected);
        }
        assert!(
            receiver.recv_from(&mut buffer).is_err(),
            "nothing else came"
        );
    }

    #[test]
    fn an_empty_batch_sends_nothing() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(send_each(&sender, &[]).unwrap(), 0);
    }
}
