//! Reaching a phone registered directly over TCP to another node (issue #20): through that
//! node, as one more B2BUA hop.
//!
//! # Place in the call flow
//! A phone registered *directly* (no Path, RFC 3327) over TCP or TLS has its one connection to
//! the node that took its REGISTER; a phone listens on no port, so no other node can open one
//! (`crate::sip::registrar::path::held_elsewhere`). OneStatus is a B2BUA, not a proxy, so the
//! other node does not forward the request: it rings that binding as one more B leg whose
//! INVITE goes to the holding node, with the binding's Contact as Request-URI and
//! [`BINDING_HEADER`] naming the binding's row id. The holding node answers that INVITE as an
//! ordinary UAS, and rings that one binding on the connection it holds as its UAC leg, with no
//! routing of its own (the first node already decided forwarding, voicemail and ring time).
//! CANCEL, failures, BYE and re-INVITEs then cross both B2BUAs as in any call.
//!
//! 1. Every node advertises where it takes SIP requests ([`advertised`]), written with its
//!    heartbeat (`cluster_nodes.sip_address`, migration 0013).
//! 2. Ringing a user, a node that finds a binding held by a live node ([`Holders::via`]) sends
//!    that leg to the holder's address; a binding whose holder is dead or advertises no address
//!    is left out, as before.
//! 3. The holder accepts the header only from the source IP of a live node's advertised
//!    address ([`from_a_node`]); from anywhere else the INVITE is routed as an ordinary call,
//!    so nobody outside reaches a phone's connection by naming its binding.
//!
//! The source check compares IPs, not ports: over TCP a node connects from a port of its
//! own. Nodes that advertise a `[sip] public_address` must therefore reach each other from
//! that address (one network, or the same NAT); otherwise leave `public_address` empty or
//! register phones through the proxy (Path), which makes every binding reachable from every
//! node without this hop.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use rsip::Header;

use crate::domain::model::{Binding, RegistrationId};
use crate::sip::registrar::path;
use crate::sip::transaction::TransportKind;

/// The header of a node's INVITE naming the binding (its row id) the holding node is to ring.
pub const BINDING_HEADER: &str = "X-OneStatus-Binding";

/// The SIP URI a node advertises: `public` (`[sip] public_address`) when set, else its bound
/// UDP address, else (TCP only) its TCP address with `;transport=tcp`. `None` when the only
/// address is a wildcard (`0.0.0.0`, `::`): no other node could send there.
pub fn advertised(
    public: Option<&str>,
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
) -> Option<String> {
    if let Some(public) = public {
        return Some(match udp {
            Some(_) => format!("sip:{public}"),
            None if tcp.is_some() => format!("sip:{public};transport=tcp"),
            None => format!("sip:{public}"),
        });
    }
    match (udp, tcp) {
        (Some(udp), _) if !udp.ip().is_unspecified() => Some(format!("sip:{udp}")),
        (None, Some(tcp)) if !tcp.ip().is_unspecified() => Some(format!("sip:{tcp};transport=tcp")),
        _ => None,
    }
}

/// Where a node takes requests, from its advertised URI: an IP literal (names are not
/// resolved on the way to a phone), the port 5060 when absent, its `transport` parameter
/// (read as a name-addr's, so the parameter counts as the URI's).
fn parse(address: &str) -> Option<(SocketAddr, TransportKind)> {
    path::route_address(&format!("<{}>", address.trim()))
}

/// Whether `source` is the IP of a live node's advertised address (`rows`: node, address):
/// only such a request may name a binding for this node to ring.
pub fn from_a_node(source: IpAddr, rows: &[(String, String)]) -> bool {
    let source = canonical(source);
    rows.iter()
        .filter_map(|(_, address)| parse(address))
        .any(|(address, _)| canonical(address.ip()) == source)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The binding a request names in [`BINDING_HEADER`], if any and readable.
pub fn named_binding(request: &rsip::Request) -> Option<RegistrationId> {
    request.headers.iter().find_map(|header| match header {
        Header::Other(name, value) if name.eq_ignore_ascii_case(BINDING_HEADER) => {
            value.trim().parse().ok().map(RegistrationId)
        }
        _ => None,
    })
}

/// How a node reaches a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Itself: where the binding registered from, or through its Path.
    Direct,
    /// Through the live node holding its connection, at that node's address.
    Node {
        /// The holder's id.
        holder: String,
        /// The holder's advertised address.
        destination: SocketAddr,
        /// Over which transport the holder takes requests.
        transport: TransportKind,
    },
    /// Not at all: the holder is not live, or advertises no usable address.
    Unreachable {
        /// The holder's id.
        holder: String,
    },
}

/// This node and, once loaded, the live nodes' addresses: who holds a binding and where to
/// send its INVITE. Loaded only when a binding held elsewhere turns up, so a call that rings
/// none (every call on a single node) costs no query.
#[derive(Debug, Clone, Default)]
pub struct Holders {
    own: String,
    live: Option<HashMap<String, (SocketAddr, TransportKind)>>,
}

impl Holders {
    /// For node `own`, nothing loaded yet.
    pub fn new(own: impl Into<String>) -> Holders {
        Holders {
            own: own.into(),
            live: None,
        }
    }

    /// Whether a binding among `bindings` is held by another node and the live nodes are not
    /// loaded yet.
    pub fn needs_nodes<'a>(&self, mut bindings: impl Iterator<Item = &'a Binding>) -> bool {
        self.live.is_none() && bindings.any(|b| self.holder(b).is_some())
    }

    /// The live nodes' addresses (node, address), from the store.
    pub fn set_live(&mut self, rows: &[(String, String)]) {
        self.live = Some(
            rows.iter()
                .filter_map(|(node, address)| Some((node.clone(), parse(address)?)))
                .collect(),
        );
    }

    /// The node holding `binding`'s connection, when another one. Without an id of its own
    /// (a lone node, a test) this node holds them all, as before several nodes.
    fn holder<'a>(&self, binding: &'a Binding) -> Option<&'a str> {
        if self.own.is_empty() {
            return None;
        }
        path::held_elsewhere(
            &binding.transport,
            &binding.path,
            binding.node_id.as_deref(),
            &self.own,
        )
    }

    /// How this node reaches `binding`.
    pub fn via(&self, binding: &Binding) -> Via {
        let Some(holder) = self.holder(binding) else {
            return Via::Direct;
        };
        match self.live.as_ref().and_then(|live| live.get(holder)) {
            Some(&(destination, transport)) => Via::Node {
                holder: holder.to_owned(),
                destination,
                transport,
            },
            None => Via::Unreachable {
                holder: holder.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::UserId;

    fn binding(transport: &str, path: &[&str], node: Option<&str>) -> Binding {
        Binding {
            user_id: UserId(1),
            device_id: None,
            contact_uri: "sip:1000001@198.51.100.7:40123;transport=tcp".into(),
            expires_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            call_id: "c".into(),
            cseq: 1,
            q_millis: 1000,
            received_addr: "198.51.100.7:40123".into(),
            transport: transport.into(),
            instance_id: None,
            reg_id: None,
            path: path.iter().map(|p| (*p).to_owned()).collect(),
            node_id: node.map(str::to_owned),
        }
    }

    fn rows() -> Vec<(String, String)> {
        vec![
            ("node-a".into(), "sip:192.0.2.1:5070".into()),
            ("node-b".into(), "sip:192.0.2.2:5060;transport=tcp".into()),
            ("node-c".into(), "sip:pbx.example:5060".into()),
        ]
    }

    #[test]
    fn a_node_advertises_its_public_address_else_its_bound_one() {
        let udp: SocketAddr = "192.0.2.1:5070".parse().unwrap();
        let tcp: SocketAddr = "192.0.2.1:5071".parse().unwrap();
        assert_eq!(
            advertised(None, Some(udp), Some(tcp)).as_deref(),
            Some("sip:192.0.2.1:5070")
        );
        assert_eq!(
            advertised(None, None, Some(tcp)).as_deref(),
            Some("sip:192.0.2.1:5071;transport=tcp")
        );
        assert_eq!(
            advertised(Some("203.0.113.9:5060"), Some(udp), None).as_deref(),
            Some("sip:203.0.113.9:5060")
        );
        assert_eq!(
            advertised(Some("203.0.113.9"), None, Some(tcp)).as_deref(),
            Some("sip:203.0.113.9;transport=tcp")
        );
        // A wildcard is nowhere another node can send to.
        let any: SocketAddr = "0.0.0.0:5060".parse().unwrap();
        assert_eq!(advertised(None, Some(any), Some(any)), None);
        assert_eq!(advertised(None, None, None), None);
    }

    #[test]
    fn a_direct_tcp_binding_of_a_live_node_is_reached_through_it() {
        let mut holders = Holders::new("node-b");
        let held = binding("tcp", &[], Some("node-a"));
        assert!(holders.needs_nodes([&held].into_iter()));
        // Before the nodes are loaded nobody is known to be live.
        assert_eq!(
            holders.via(&held),
            Via::Unreachable {
                holder: "node-a".into()
            }
        );
        holders.set_live(&rows());
        assert!(!holders.needs_nodes([&held].into_iter()));
        assert_eq!(
            holders.via(&held),
            Via::Node {
                holder: "node-a".into(),
                destination: "192.0.2.1:5070".parse().unwrap(),
                transport: TransportKind::Udp,
            }
        );
        // A holder that takes TCP only is sent TCP.
        let on_b = binding("tcp", &[], Some("node-b"));
        let holders_c = {
            let mut h = Holders::new("node-a");
            h.set_live(&rows());
            h
        };
        assert!(matches!(
            holders_c.via(&on_b),
            Via::Node {
                transport: TransportKind::Tcp,
                ..
            }
        ));
    }

    #[test]
    fn a_binding_this_node_reaches_itself_needs_no_other_node() {
        let mut holders = Holders::new("node-b");
        holders.set_live(&rows());
        let proxied = binding("tcp", &["<sip:192.0.2.10;lr>"], Some("node-a"));
        let udp = binding("udp", &[], Some("node-a"));
        let own = binding("tcp", &[], Some("node-b"));
        let old = binding("tcp", &[], None);
        for b in [&proxied, &udp, &own, &old] {
            assert_eq!(holders.via(b), Via::Direct, "{b:?}");
        }
        assert!(!Holders::new("node-b").needs_nodes([&proxied, &udp, &own, &old].into_iter()));
        // No node id: one node, which reaches what it has.
        let held = binding("tcp", &[], Some("node-a"));
        assert_eq!(Holders::default().via(&held), Via::Direct);
    }

    #[test]
    fn a_binding_of_a_dead_or_unaddressed_node_is_unreachable() {
        let mut holders = Holders::new("node-b");
        holders.set_live(&rows());
        for holder in ["node-x", "node-c"] {
            assert_eq!(
                holders.via(&binding("tls", &[], Some(holder))),
                Via::Unreachable {
                    holder: holder.into()
                }
            );
        }
    }

    #[test]
    fn only_a_live_nodes_ip_may_name_a_binding() {
        let rows = rows();
        assert!(from_a_node("192.0.2.1".parse().unwrap(), &rows));
        assert!(from_a_node("192.0.2.2".parse().unwrap(), &rows));
        assert!(from_a_node("::ffff:192.0.2.1".parse().unwrap(), &rows));
        assert!(!from_a_node("192.0.2.99".parse().unwrap(), &rows));
        assert!(!from_a_node("192.0.2.1".parse().unwrap(), &[]));
    }

    #[test]
    fn the_binding_header_names_a_row_id() {
        let request = |extra: &str| -> rsip::Request {
            format!(
                "INVITE sip:1000001@198.51.100.7:40123;transport=tcp SIP/2.0\r\n{extra}\
                 Content-Length: 0\r\n\r\n"
            )
            .as_bytes()
            .try_into()
            .unwrap()
        };
        assert_eq!(
            named_binding(&request("X-OneStatus-Binding: 42\r\n")),
            Some(RegistrationId(42))
        );
        assert_eq!(
            named_binding(&request("x-onestatus-binding:  7 \r\n")),
            Some(RegistrationId(7))
        );
        assert_eq!(named_binding(&request("X-OneStatus-Binding: x\r\n")), None);
        assert_eq!(named_binding(&request("")), None);
    }
}
