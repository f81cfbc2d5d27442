//! Where an anchored call's RTP packets go, sans-I/O: the forwarding decision of the media
//! relay, without sockets or clocks (the socket side is [`super::anchor`]).
//!
//! The relay has two endpoints, one facing each party. A packet that arrives on the endpoint
//! facing the caller goes out of the endpoint facing the callee, to the callee's address, and
//! the other way round. The packet is not touched: payload type, sequence number, timestamp
//! and SSRC stay as the sender wrote them (RFC 3550 §7 calls such an element a translator that
//! only forwards; it is not a mixer and needs no SSRC of its own).
//!
//! The callee's address comes from its SDP, but a phone behind NAT writes its private address
//! there. So each side latches (symmetric RTP, RFC 4961; the practice RFC 7362 §4 describes):
//! the first packet that arrives from a party fixes where its packets come from, and from then
//! on we send to that address, not the SDP's. Packets from any other source are dropped once a
//! side is latched, so a third party cannot inject audio or steal the stream mid-call; the one
//! exception is the address the SDP names, which takes the latch back (early media from a
//! forked leg that lost may have latched first). A new
//! SDP that names a different address (a re-INVITE from a phone that moved, or a resume after
//! hold) unlatches that side: its next packet latches again.

use std::net::SocketAddr;

/// One of the relay's two parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The caller (the B2BUA's inbound leg).
    Caller,
    /// The callee (the winning outbound leg).
    Callee,
}

impl Party {
    /// The other party.
    pub fn other(self) -> Party {
        match self {
            Party::Caller => Party::Callee,
            Party::Callee => Party::Caller,
        }
    }
}

/// What the relay knows of one party.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Peer {
    /// Whether its SDP has been seen (only then may a packet latch this side).
    described: bool,
    /// Where its SDP says it receives; `None` before its SDP or while it is on RFC 2543 hold.
    signalled: Option<SocketAddr>,
    /// Where its packets come from, once one has arrived (symmetric RTP).
    latched: Option<SocketAddr>,
}

impl Peer {
    /// Where packets for this party go: the latched source, else the SDP's address. Nothing
    /// goes to a party whose SDP says hold (`c=0.0.0.0`) or has disabled the stream.
    fn destination(&self) -> Option<SocketAddr> {
        self.signalled.and(self.latched.or(self.signalled))
    }
}

/// Counters of one relay, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Packets forwarded from the caller to the callee.
    pub caller_to_callee: u64,
    /// Packets forwarded from the callee to the caller.
    pub callee_to_caller: u64,
    /// Packets dropped: from an unexpected source, or with nowhere to go yet.
    pub dropped: u64,
}

/// The forwarding state of one anchored call. See the module doc.
#[derive(Debug, Clone, Default)]
pub struct Relay {
    caller: Peer,
    callee: Peer,
    stats: RelayStats,
}

impl Relay {
    /// A relay that knows nothing yet.
    pub fn new() -> Relay {
        Relay::default()
    }

    /// Whether both parties' SDPs are in and neither holds the stream: only then does a
    /// silence of both mean the phones are gone (the RTP timeout). While ringing the callee's
    /// answer is not in yet; on hold (RFC 3264 `sendonly`/`inactive`, RFC 2543 `0.0.0.0`)
    /// nothing need flow at all.
    pub fn expects_media(&self) -> bool {
        self.caller.signalled.is_some() && self.callee.signalled.is_some()
    }

    /// `party`'s SDP (offer or answer) says it receives at `remote` (`None`: hold or no
    /// stream). A changed address unlatches the party.
    pub fn set_remote(&mut self, party: Party, remote: Option<SocketAddr>) {
        let peer = self.peer_mut(party);
        peer.described = true;
        if peer.signalled != remote {
            // Hold (no address) keeps the latch: the holding party may still send (music on
            // hold) from where it did.
            if remote.is_some() {
                peer.latched = None;
            }
            peer.signalled = remote;
        }
    }

    /// A packet arrived from `source` on the endpoint facing `party`: where to send it (out
    /// of the endpoint facing the other party), or `None` to drop it.
    pub fn on_packet(&mut self, party: Party, source: SocketAddr) -> Option<SocketAddr> {
        let peer = self.peer_mut(party);
        match peer.latched {
            // A packet from exactly the address the party's SDP names is always its own: it
            // takes the latch back from an earlier source (a forked leg whose early media
            // arrived first, then was cancelled).
            Some(latched) if latched != source && peer.signalled == Some(source) => {
                peer.latched = Some(source);
            }
            Some(latched) if latched != source => {
                self.stats.dropped += 1;
                return None;
            }
            Some(_) => {}
            // Latch only once the party has told us (by SDP) that it takes part; before that
            // a stray packet could claim the side.
            None if peer.described => peer.latched = Some(source),
            None => {
                self.stats.dropped += 1;
                return None;
            }
        }
        let Some(destination) = self.peer_mut(party.other()).destination() else {
            self.stats.dropped += 1;
            return None;
        };
        match party {
            Party::Caller => self.stats.caller_to_callee += 1,
            Party::Callee => self.stats.callee_to_caller += 1,
        }
        Some(destination)
    }

    /// Where `party`'s packets come from, once latched.
    pub fn latched(&self, party: Party) -> Option<SocketAddr> {
        self.peer(party).latched
    }

    /// The counters.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    fn peer(&self, party: Party) -> &Peer {
        match party {
            Party::Caller => &self.caller,
            Party::Callee => &self.callee,
        }
    }

    fn peer_mut(&mut self, party: Party) -> &mut Peer {
        match party {
            Party::Caller => &mut self.caller,
            Party::Callee => &mut self.callee,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwards_to_the_signalled_address_until_the_peer_speaks() {
        let mut relay = Relay::new();
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        relay.set_remote(Party::Callee, Some(addr("10.0.0.2:5000")));
        assert_eq!(
            relay.on_packet(Party::Caller, addr("10.0.0.1:4000")),
            Some(addr("10.0.0.2:5000"))
        );
        assert_eq!(
            relay.on_packet(Party::Callee, addr("10.0.0.2:5000")),
            Some(addr("10.0.0.1:4000"))
        );
        assert_eq!(relay.stats().caller_to_callee, 1);
        assert_eq!(relay.stats().callee_to_caller, 1);
    }

    #[test]
    fn latches_onto_the_nat_address_and_sends_there() {
        let mut relay = Relay::new();
        // The callee's SDP names its private address; its packets come from the NAT's.
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        relay.set_remote(Party::Callee, Some(addr("192.168.1.5:5000")));
        relay.on_packet(Party::Callee, addr("203.0.113.9:61000"));
        assert_eq!(
            relay.latched(Party::Callee),
            Some(addr("203.0.113.9:61000"))
        );
        assert_eq!(
            relay.on_packet(Party::Caller, addr("10.0.0.1:4000")),
            Some(addr("203.0.113.9:61000"))
        );
    }

    #[test]
    fn drops_packets_from_other_sources_once_latched() {
        let mut relay = Relay::new();
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        relay.set_remote(Party::Callee, Some(addr("10.0.0.2:5000")));
        relay.on_packet(Party::Caller, addr("10.0.0.1:4000"));
        assert_eq!(relay.on_packet(Party::Caller, addr("10.6.6.6:4000")), None);
        assert_eq!(relay.on_packet(Party::Caller, addr("10.0.0.1:4001")), None);
        assert_eq!(relay.stats().dropped, 2);
        // Still the latched one afterwards.
        assert!(relay
            .on_packet(Party::Caller, addr("10.0.0.1:4000"))
            .is_some());
    }

    #[test]
    fn nothing_latches_or_flows_before_the_sides_sdp() {
        let mut relay = Relay::new();
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        // The callee has not answered: the caller's packets have nowhere to go, and a packet
        // on the callee's endpoint does not claim that side.
        assert_eq!(relay.on_packet(Party::Caller, addr("10.0.0.1:4000")), None);
        assert_eq!(relay.on_packet(Party::Callee, addr("10.9.9.9:1")), None);
        assert_eq!(relay.latched(Party::Callee), None);
        relay.set_remote(Party::Callee, Some(addr("10.0.0.2:5000")));
        assert_eq!(
            relay.on_packet(Party::Caller, addr("10.0.0.1:4000")),
            Some(addr("10.0.0.2:5000"))
        );
    }

    #[test]
    fn a_new_address_unlatches_the_same_one_does_not() {
        let mut relay = Relay::new();
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        relay.set_remote(Party::Callee, Some(addr("10.0.0.2:5000")));
        relay.on_packet(Party::Callee, addr("203.0.113.9:61000"));
        // A session refresh with the same SDP keeps the latch.
        relay.set_remote(Party::Callee, Some(addr("10.0.0.2:5000")));
        assert_eq!(
            relay.latched(Party::Callee),
            Some(addr("203.0.113.9:61000"))
        );
        // The phone moved: the new SDP's address is used until it speaks from its new place.
        relay.set_remote(Party::Callee, Some(addr("10.0.0.3:5002")));
        assert_eq!(relay.latched(Party::Callee), None);
        assert_eq!(
            relay.on_packet(Party::Caller, addr("10.0.0.1:4000")),
            Some(addr("10.0.0.3:5002"))
        );
        relay.on_packet(Party::Callee, addr("203.0.113.9:62000"));
        assert_eq!(
            relay.on_packet(Party::Caller, addr("10.0.0.1:4000")),
            Some(addr("203.0.113.9:62000"))
        );
    }

    #[test]
    fn rfc2543_hold_stops_sending_to_the_held_party() {
        let mut relay = Relay::new();
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        relay.set_remote(Party::Callee, Some(addr("10.0.0.2:5000")));
        relay.on_packet(Party::Caller, addr("10.0.0.1:4000"));
        // The caller puts the call on hold with c=0.0.0.0: nothing goes to it...
        relay.set_remote(Party::Caller, None);
        assert_eq!(relay.on_packet(Party::Callee, addr("10.0.0.2:5000")), None);
        // ...while what it sends (music on hold) still reaches the callee...
        assert_eq!(
            relay.on_packet(Party::Caller, addr("10.0.0.1:4000")),
            Some(addr("10.0.0.2:5000"))
        );
        // ...until it resumes.
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        assert_eq!(
            relay.on_packet(Party::Callee, addr("10.0.0.2:5000")),
            Some(addr("10.0.0.1:4000"))
        );
    }

    #[test]
    fn the_signalled_address_takes_the_latch_back_from_a_losing_fork() {
        let mut relay = Relay::new();
        relay.set_remote(Party::Caller, Some(addr("10.0.0.1:4000")));
        // Early media from device A latched the callee side...
        relay.set_remote(Party::Callee, Some(addr("10.0.0.2:5000")));
        relay.on_packet(Party::Callee, addr("10.0.0.2:5000"));
        // ...device B answers from another address; A's last packets arrive first.
        relay.set_remote(Party::Callee, Some(addr("10.0.0.3:6000")));
        relay.on_packet(Party::Callee, addr("10.0.0.2:5000"));
        assert_eq!(relay.latched(Party::Callee), Some(addr("10.0.0.2:5000")));
        // B's first packet, from the address its SDP names, wins the side.
        assert!(relay
            .on_packet(Party::Callee, addr("10.0.0.3:6000"))
            .is_some());
        assert_eq!(relay.latched(Party::Callee), Some(addr("10.0.0.3:6000")));
        assert_eq!(relay.on_packet(Party::Callee, addr("10.0.0.2:5000")), None);
        assert_eq!(
            relay.on_packet(Party::Caller, addr("10.0.0.1:4000")),
            Some(addr("10.0.0.3:6000"))
        );
    }
}
