//! The methods this server accepts, and the one `Allow` header built from them.
//!
//! RFC 3261 §20.5: "The Allow header field lists the set of methods supported by the UA
//! generating the message." We send it in answers to OPTIONS (§11.2), in 405 Method Not
//! Allowed (§8.2.1), in the 2xx that answers an INVITE, and in the INVITEs we send; one list
//! keeps all of them (and the request validation that refuses other methods) telling the same
//! story.

use std::sync::LazyLock;

use rsip::headers::UntypedHeader;
use rsip::Method;

/// Methods we accept at all; others get 405 with this list in `Allow` (§8.2.1). Request
/// validation ([`super::validate_request`]) is given this list.
pub const ALLOWED_METHODS: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Cancel,
    Method::Bye,
    Method::Options,
    Method::Register,
    Method::Info,
    Method::Notify,
    Method::Subscribe,
    Method::Update,
    Method::PRack,
    Method::Refer,
    Method::Message,
];

/// The value of our `Allow` header: [`ALLOWED_METHODS`], comma-separated, built once.
static ALLOW: LazyLock<String> = LazyLock::new(|| {
    ALLOWED_METHODS
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
});

/// The `Allow` header every message of ours that carries one uses.
pub fn allow_header() -> rsip::Header {
    rsip::Header::Allow(rsip::headers::Allow::new(ALLOW.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_lists_every_accepted_method_once() {
        let rsip::Header::Allow(allow) = allow_header() else {
            panic!("not an Allow header");
        };
        let value = allow.value().to_owned();
        let listed: Vec<&str> = value.split(", ").collect();
        assert_eq!(listed.len(), ALLOWED_METHODS.len(), "{value}");
        for method in ALLOWED_METHODS {
            assert!(
                listed.contains(&method.to_string().as_str()),
                "{method} in {value}"
            );
        }
        assert!(
            value.starts_with("INVITE, ACK, CANCEL, BYE, OPTIONS"),
            "{value}"
        );
    }
}
