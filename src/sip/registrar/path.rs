//! Path (RFC 3327): reaching a phone through the proxy that holds its connection.
//!
//! # Place in the call flow
//! Behind Kamailio the phone's TCP connection (or its NAT binding) ends at the proxy, not at
//! us: the node that gets the REGISTER cannot open a connection to the phone, and no other
//! node can either. The proxy says so by adding a `Path` header to the REGISTER (§4); the
//! registrar stores its values, in order, with the binding (§5.3), and every request we later
//! send to that binding carries them as a preloaded Route set (RFC 3261 §8.1.2, loose routing)
//! and goes to the first one's address, so it reaches the phone through the proxy that holds
//! its connection, whichever node sends it. [`path_values`] reads the header, [`echo`] is what
//! the 200 says back (§5.3), [`reach`] turns a stored binding into where and how to send.
//!
//! # A binding held by another node
//! A phone registered *directly* over TCP to node A (no Path) has its one connection to node A;
//! node B cannot open one to it (a phone listens on no port; behind NAT nothing reaches it).
//! The binding records the node that accepted it (`node_id`), and [`held_elsewhere`] tells a
//! node that such a direct TCP binding is another node's. Node B does not dial it: it rings it
//! through node A as one more B2BUA leg, and node A rings it on its connection
//! ([`crate::cluster::node_reach`]; no proxy core in OneStatus). A binding whose holder is not
//! live is left out (logged, naming the holder). MWI NOTIFYs to it come from node A only
//! ([`held_here`]). In a deployment of several nodes phones should still register through the
//! proxy, whose Path makes every binding reachable from every node without that hop. README
//! "Running several nodes" says the same to operators.
//!
//! §5.3 leaves the registrar a choice when the phone did not say `Supported: path`: we keep
//! the Path (the proxy needs it to reach the phone; this is Kamailio's "lazy" mode) and leave
//! it out of the 200, as RFC 3261 §8.2.4 bars a UAS from applying an extension the request
//! did not declare support for.

use std::net::{IpAddr, SocketAddr};

use rsip::headers::{self, UntypedHeader};
use rsip::Header;
use thiserror::Error;

use crate::sip::transaction::TransportKind;

use super::contact::{split_values, unescape};

/// Where and how to send a request to a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The first Route's address, or without a Path where the REGISTER came from.
    pub destination: SocketAddr,
    /// The first Route's transport, or without a Path the REGISTER's.
    pub transport: TransportKind,
    /// The preloaded Route set: the Path values in order (empty without a Path).
    pub route: Vec<String>,
}

impl Reach {
    /// The Route header fields of a request to the binding, in order (§8.1.2).
    pub fn route_headers(&self) -> impl Iterator<Item = Header> + '_ {
        self.route
            .iter()
            .map(|value| Header::Route(headers::Route::new(value.clone())))
    }
}

/// Why a stored binding cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReachError {
    /// The stored source address does not parse (only a hand-edited row can do that).
    #[error("stored source address {0:?} is not an address")]
    Received(String),
    /// The first Path value's host is not an IP address with an optional port: we resolve no
    /// names on the way to a phone, so the proxy must put its address in its Path.
    #[error("first Path value {0:?} names no IP address")]
    PathUri(String),
}

/// The Path header values of a request, in order, one per `name-addr` (RFC 3327 §4: the
/// header may be repeated and each may hold a comma-separated list).
pub fn path_values(request: &rsip::Request) -> Vec<String> {
    request
        .headers
        .iter()
        .filter_map(|header| match header {
            Header::Other(name, value) if name.eq_ignore_ascii_case("Path") => Some(value.as_str()),
            _ => None,
        })
        .flat_map(|value| split_values(value).unwrap_or_default())
        .map(str::to_owned)
        .collect()
}

/// Whether the request lists `path` in `Supported` (or its compact form `k`).
pub fn supports_path(request: &rsip::Request) -> bool {
    request.headers.iter().any(|header| {
        let value = match header {
            Header::Supported(value) => value.value(),
            Header::Other(name, value) if name.eq_ignore_ascii_case("k") => value.as_str(),
            _ => return false,
        };
        value
            .split(',')
            .any(|tag| tag.trim().eq_ignore_ascii_case("path"))
    })
}

/// The Path header value for the 200 to a REGISTER (§5.3: "the registrar MUST copy all Path
/// header field values into a Path header field in the successful (200) REGISTER response",
/// when the UAC indicated support): `None` without a Path or without `Supported: path`.
pub fn echo(request: &rsip::Request) -> Option<String> {
    let values = path_values(request);
    (!values.is_empty() && supports_path(request)).then(|| values.join(", "))
}

/// Where and how to send a request to a binding stored with `received` (its source address),
/// `transport` ("udp", "tcp", …) and `path`: through the first Path value when there is one,
/// else straight to the source over the same transport.
pub fn reach(received: &str, transport: &str, path: &[String]) -> Result<Reach, ReachError> {
    let Some(first) = path.first() else {
        let destination = received
            .parse()
            .map_err(|_| ReachError::Received(received.to_owned()))?;
        let transport = if transport.eq_ignore_ascii_case("udp") {
            TransportKind::Udp
        } else {
            TransportKind::Tcp
        };
        return Ok(Reach {
            destination,
            transport,
            route: Vec::new(),
        });
    };
    let (destination, transport) =
        route_address(first).ok_or_else(|| ReachError::PathUri(first.clone()))?;
    Ok(Reach {
        destination,
        transport,
        route: path.to_vec(),
    })
}

/// The node holding a binding's connection, when that is not `own_node`: a binding without a
/// Path over a connection-oriented transport (TCP, TLS), accepted by another node. Such a
/// binding is reachable from that node only (see the module doc). `None` for every binding this
/// node can reach: one with a Path, over UDP, accepted here, or with no node recorded (a
/// single node, or rows from before the column).
pub fn held_elsewhere<'a>(
    transport: &str,
    path: &[String],
    node_id: Option<&'a str>,
    own_node: &str,
) -> Option<&'a str> {
    let connection = !transport.eq_ignore_ascii_case("udp");
    node_id.filter(|holder| connection && path.is_empty() && *holder != own_node)
}

/// Whether this node (`own_node`) holds the binding's connection: a binding without a Path over
/// a connection-oriented transport, accepted here. Only this node can reach such a phone.
pub fn held_here(transport: &str, path: &[String], node_id: Option<&str>, own_node: &str) -> bool {
    let connection = !transport.eq_ignore_ascii_case("udp");
    connection && path.is_empty() && node_id == Some(own_node)
}

/// The address and transport of a Route (or Path) value: `<sip:host[:port];params>`, the host
/// an IP literal, the port 5060 (5061 for `sips`) when absent, the transport its `transport`
/// parameter (UDP when absent, §18.1.1 for a `sip` URI).
pub fn route_address(value: &str) -> Option<(SocketAddr, TransportKind)> {
    let value = value.trim();
    let uri = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or(value),
    };
    let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(uri, "sips:") {
        (true, rest)
    } else {
        (false, strip_prefix_ignore_case(uri, "sip:")?)
    };
    let rest = rest.split('?').next().unwrap_or(rest);
    let mut parts = rest.split(';');
    let hostport = parts.next()?;
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    let tcp = parts.any(|param| {
        param.split_once('=').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transport")
                && !unescape(value.trim()).eq_ignore_ascii_case("udp")
        })
    });
    let default_port = if secure { 5061 } else { 5060 };
    let address = match hostport.parse::<SocketAddr>() {
        Ok(address) => address,
        Err(_) => {
            let host = hostport.trim_start_matches('[').trim_end_matches(']');
            SocketAddr::new(host.parse::<IpAddr>().ok()?, default_port)
        }
    };
    let transport = if tcp || secure {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    };
    Some((address, transport))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str) -> rsip::Request {
        let text = format!(
            "REGISTER sip:onestatus SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n\
             From: <sip:1000001@onestatus>;tag=a\r\nTo: <sip:1000001@onestatus>\r\n\
             Call-ID: p@test\r\nCSeq: 1 REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        rsip::Request::try_from(text.as_bytes()).unwrap()
    }

    const KAMAILIO: &str =
        "<sip:192.0.2.10:5060;lr;received=sip:198.51.100.7:40123%3Btransport%3Dtcp>";

    #[test]
    fn path_values_keep_their_order_across_headers_and_lists() {
        let r = request(&format!(
            "Path: {KAMAILIO}\r\nPath: <sip:p2.example;lr>, <sip:p3.example;lr>\r\n"
        ));
        assert_eq!(
            path_values(&r),
            [KAMAILIO, "<sip:p2.example;lr>", "<sip:p3.example;lr>"]
        );
        assert!(path_values(&request("")).is_empty());
    }

    #[test]
    fn the_200_echoes_path_only_to_a_phone_that_supports_it() {
        let with = request(&format!(
            "Supported: replaces, path\r\nPath: {KAMAILIO}\r\n"
        ));
        assert_eq!(echo(&with).as_deref(), Some(KAMAILIO));
        let compact = request(&format!("k: path\r\nPath: {KAMAILIO}\r\n"));
        assert_eq!(echo(&compact).as_deref(), Some(KAMAILIO));
        let without = request(&format!("Supported: replaces\r\nPath: {KAMAILIO}\r\n"));
        assert_eq!(echo(&without), None);
        assert_eq!(echo(&request("Supported: path\r\n")), None);
    }

    #[test]
    fn a_binding_with_a_path_is_reached_through_its_first_value() {
        let reach = reach(
            "192.0.2.10:5060",
            "udp",
            &[KAMAILIO.to_owned(), "<sip:192.0.2.99;lr>".to_owned()],
        )
        .unwrap();
        assert_eq!(reach.destination, "192.0.2.10:5060".parse().unwrap());
        // The escaped `transport=tcp` inside `received` is the phone's, not the proxy's.
        assert_eq!(reach.transport, TransportKind::Udp);
        assert_eq!(reach.route.len(), 2);
        let headers: Vec<String> = reach.route_headers().map(|h| h.to_string()).collect();
        assert_eq!(headers[0], format!("Route: {KAMAILIO}"));
    }

    #[test]
    fn a_binding_without_path_is_reached_where_it_registered_from() {
        let tcp = reach("198.51.100.7:40123", "tcp", &[]).unwrap();
        assert_eq!(tcp.destination, "198.51.100.7:40123".parse().unwrap());
        assert_eq!(tcp.transport, TransportKind::Tcp);
        assert!(tcp.route.is_empty());
        assert_eq!(
            reach("nowhere", "udp", &[]),
            Err(ReachError::Received("nowhere".into()))
        );
    }

    #[test]
    fn a_direct_tcp_binding_is_held_by_the_node_that_accepted_it() {
        let path = [KAMAILIO.to_owned()];
        assert_eq!(
            held_elsewhere("tcp", &[], Some("node-a"), "node-b"),
            Some("node-a")
        );
        assert_eq!(held_elsewhere("tcp", &[], Some("node-a"), "node-a"), None);
        // Through the proxy, over UDP, or with no node recorded: reachable from anywhere.
        assert_eq!(held_elsewhere("tcp", &path, Some("node-a"), "node-b"), None);
        assert_eq!(held_elsewhere("udp", &[], Some("node-a"), "node-b"), None);
        assert_eq!(held_elsewhere("tcp", &[], None, "node-b"), None);
    }

    #[test]
    fn only_the_node_holding_a_direct_connection_holds_the_binding() {
        let path = [KAMAILIO.to_owned()];
        assert!(held_here("tcp", &[], Some("node-a"), "node-a"));
        assert!(!held_here("tcp", &[], Some("node-a"), "node-b"));
        // Through the proxy or over UDP every node reaches it: nobody holds it.
        assert!(!held_here("tcp", &path, Some("node-a"), "node-a"));
        assert!(!held_here("udp", &[], Some("node-a"), "node-a"));
        assert!(!held_here("tcp", &[], None, "node-a"));
    }

    #[test]
    fn route_addresses_default_their_port_and_read_their_transport() {
        for (value, address, transport) in [
            ("<sip:192.0.2.10;lr>", "192.0.2.10:5060", TransportKind::Udp),
            (
                "<sip:192.0.2.10:5070;transport=TCP;lr>",
                "192.0.2.10:5070",
                TransportKind::Tcp,
            ),
            (
                "<sips:192.0.2.10;lr>",
                "192.0.2.10:5061",
                TransportKind::Tcp,
            ),
            (
                "<sip:[2001:db8::1];lr>",
                "[2001:db8::1]:5060",
                TransportKind::Udp,
            ),
            (
                "<sip:edge@[2001:db8::1]:5080;lr>",
                "[2001:db8::1]:5080",
                TransportKind::Udp,
            ),
            (
                "sip:192.0.2.10:5062;lr",
                "192.0.2.10:5062",
                TransportKind::Udp,
            ),
        ] {
            assert_eq!(
                route_address(value),
                Some((address.parse().unwrap(), transport)),
                "{value}"
            );
        }
        for bad in ["<sip:proxy.example;lr>", "<tel:+4512345678>", "<>", ""] {
            assert_eq!(route_address(bad), None, "{bad}");
        }
        assert!(matches!(
            reach("192.0.2.1:5060", "udp", &["<sip:proxy.example;lr>".into()]),
            Err(ReachError::PathUri(_))
        ));
    }
}
