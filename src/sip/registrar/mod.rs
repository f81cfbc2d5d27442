//! The registrar (RFC 3261 §10.3): what a REGISTER does to the bindings of an
//! address-of-record, sans-I/O and storage-agnostic.
//!
//! # Place in the call flow
//! The driver receives a REGISTER in a server transaction, checks the credentials
//! ([`crate::sip::auth`], §10.3 steps 3–4), computes the address-of-record with
//! [`address_of_record`] and checks that it is a user of ours (step 5), loads that AOR's
//! bindings from the store and calls [`process_register`] (steps 6–7). It then writes the
//! outcome's removals and upserts to the store — all or nothing — and answers 200 with
//! [`RegisterOutcome::contact_values`] (step 8), or the status of the [`RegisterRejection`].
//! Steps 1–2 (domain of the Request-URI, Require) are the driver's as well.
//!
//! The B2BUA later rings an AOR's [`Binding`]s, highest `q` first.

mod binding;
mod contact;
pub mod path;

use std::net::SocketAddr;

use chrono::{DateTime, Duration, Utc};
use rsip::headers::UntypedHeader;
use rsip::Header;
use thiserror::Error;

pub use binding::{Binding, QValue};
use contact::{parse_element, parse_list, same_uri, ContactElement, ContactSyntax};

/// The expiration a phone gets when it asks for none and its value is malformed: RFC 3261
/// §10.2.1.1 treats a malformed expiration value as 3600 seconds.
const MALFORMED_EXPIRES: u32 = 3600;

/// §10.3 step 7: only intervals "smaller than one hour" may be refused as too brief.
const TOO_BRIEF_CEILING: u32 = 3600;

/// Limits on registration intervals and contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest interval accepted (default 60 s); shorter requests get 423 with this as
    /// Min-Expires. Keeps re-registration load bounded.
    pub min_expires: u32,
    /// Longest interval granted (default 3600 s); longer requests are shortened to it, which
    /// the RFC allows (§10.3 step 7) and which bounds how long a dead phone stays bound.
    pub max_expires: u32,
    /// Interval when the request names none (default 3600 s, the RFC's suggestion).
    pub default_expires: u32,
    /// Most bindings per address-of-record (default 10): a desk phone, a softphone and a
    /// mobile client are three; a hundred is a misconfigured or hostile client.
    pub max_bindings: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings: 10,
        }
    }
}

/// What a successful REGISTER changes, for the driver to commit atomically (§10.3 step 7:
/// "The binding updates MUST be committed … if and only if all binding updates and additions
/// succeed").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// Bindings to delete, as they were stored. A binding refreshed under an equivalent but
    /// differently written URI is removed here and re-added in `upsert`, so a store keyed on
    /// `(aor, contact_uri)` applies `remove` first, then `upsert`.
    pub remove: Vec<Binding>,
    /// Bindings to insert or replace.
    pub upsert: Vec<Binding>,
    /// Every binding of the AOR after the change, unexpired, highest `q` first: the 200's
    /// Contact list (§10.3 step 8).
    pub current: Vec<Binding>,
}

impl RegisterOutcome {
    /// The Contact header values of the 200, one per current binding, each with its
    /// remaining `expires` (§10.3 step 8).
    pub fn contact_values(&self, now: DateTime<Utc>) -> Vec<String> {
        self.current
            .iter()
            .map(|binding| binding.contact_value(now))
            .collect()
    }
}

/// A REGISTER the registrar refuses, with the response it calls for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegisterRejection {
    /// A header the registrar needs is absent or unreadable (400).
    #[error("missing or malformed {0} header")]
    BadHeader(&'static str),
    /// A Contact value could not be parsed (400).
    #[error("malformed Contact header")]
    MalformedContact,
    /// A `q` parameter outside the qvalue grammar (400).
    #[error("malformed q value `{0}`")]
    MalformedQ(String),
    /// `Contact: *` together with other contacts (400, §10.3 step 6).
    #[error("Contact: * must be the only contact")]
    WildcardWithOtherContacts,
    /// `Contact: *` without `Expires: 0` (400, §10.3 step 6 and §10.2.2).
    #[error("Contact: * requires Expires: 0")]
    WildcardWithoutZeroExpires,
    /// The To URI is not a SIP or SIPS URI, so it cannot be an address-of-record of ours
    /// (404, §10.3 step 5).
    #[error("To is not a SIP or SIPS address-of-record")]
    NotSipAddressOfRecord,
    /// An interval below `min_expires` (423 with `Min-Expires`, §10.3 step 7).
    #[error("interval too brief; minimum is {min_expires} s")]
    IntervalTooBrief {
        /// The value for the Min-Expires header.
        min_expires: u32,
    },
    /// Same Call-ID as a stored binding but a CSeq that is not higher: a delayed or
    /// replayed REGISTER. §10.3 steps 6–7: "the update MUST be aborted and the request
    /// fails"; a failed update is answered 500 (step 7).
    #[error("CSeq {received} is not above {stored} for Call-ID {call_id}")]
    OutOfOrder {
        /// The Call-ID shared with the stored binding.
        call_id: String,
        /// CSeq of the stored binding.
        stored: u32,
        /// CSeq of this request.
        received: u32,
    },
    /// More bindings than `max_bindings` would result (403).
    #[error("more than {max} bindings for one address-of-record")]
    TooManyBindings {
        /// The limit.
        max: usize,
    },
}

impl RegisterRejection {
    /// The status code to answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadHeader(_)
            | Self::MalformedContact
            | Self::MalformedQ(_)
            | Self::WildcardWithOtherContacts
            | Self::WildcardWithoutZeroExpires => 400,
            Self::TooManyBindings { .. } => 403,
            Self::NotSipAddressOfRecord => 404,
            Self::IntervalTooBrief { .. } => 423,
            Self::OutOfOrder { .. } => 500,
        }
    }

    /// The reason phrase to answer with.
    pub fn reason_phrase(&self) -> &'static str {
        match self {
            Self::BadHeader(_) => "Bad Request",
            Self::MalformedContact | Self::MalformedQ(_) => "Invalid Contact",
            Self::WildcardWithOtherContacts | Self::WildcardWithoutZeroExpires => {
                "Invalid Wildcard Contact"
            }
            Self::TooManyBindings { .. } => "Too Many Registrations",
            Self::NotSipAddressOfRecord => "Not Found",
            Self::IntervalTooBrief { .. } => "Interval Too Brief",
            Self::OutOfOrder { .. } => "Out Of Order Registration",
        }
    }
}

/// The address-of-record of a REGISTER in canonical form (§10.3 step 5): the To URI with its
/// parameters removed, escapes resolved and the host lower-cased (hosts compare without case,
/// §19.1.4), e.g. `To: "Bob" <sip:Bob%41@Example.COM;transport=udp>` → `sip:BobA@example.com`.
pub fn address_of_record(request: &rsip::Request) -> Result<String, RegisterRejection> {
    let to = header_values(request, "To", Some("t"))
        .next()
        .ok_or(RegisterRejection::BadHeader("To"))?;
    let to = match parse_element(to) {
        Ok(ContactElement::Address(to)) => to,
        Err(ContactSyntax::UnsupportedScheme) => {
            return Err(RegisterRejection::NotSipAddressOfRecord)
        }
        Ok(ContactElement::Wildcard) | Err(_) => return Err(RegisterRejection::BadHeader("To")),
    };
    // rsip cannot parse IPv6 references; an AOR is a name at our domain, so that is no loss.
    let Some(uri) = to.uri else {
        return Err(RegisterRejection::BadHeader("To"));
    };
    let scheme = match uri.scheme {
        Some(rsip::Scheme::Sip) => "sip",
        Some(rsip::Scheme::Sips) => "sips",
        _ => return Err(RegisterRejection::NotSipAddressOfRecord),
    };
    let host = uri.host().to_string().to_ascii_lowercase();
    let port = uri
        .port()
        .map(|p| format!(":{}", p.value()))
        .unwrap_or_default();
    Ok(match &uri.auth {
        Some(auth) => format!("{scheme}:{}@{host}{port}", contact::unescape(&auth.user)),
        None => format!("{scheme}:{host}{port}"),
    })
}

/// Applies a REGISTER to the AOR's `existing` bindings (§10.3 steps 6–7).
///
/// - No Contact: a query; nothing changes (§10.2.3).
/// - `Contact: *` with `Expires: 0`: removes every binding (step 6), subject to the
///   Call-ID/CSeq rule; with anything else, 400.
/// - Otherwise each contact's interval is its `expires` parameter, else the Expires header,
///   else `default_expires` (step 7). Zero removes the binding; below `min_expires` (and below
///   an hour) the whole request is refused with 423; above `max_expires` it is shortened.
/// - A contact matching an existing binding (§19.1.4 URI equality) with the same Call-ID must
///   have a higher CSeq, else the whole request fails (500); a different Call-ID always
///   replaces it.
///
/// `received` and `transport` describe where the request came from; `aor` is what
/// [`address_of_record`] returned; bindings of other AORs in `existing` are ignored.
pub fn process_register(
    now: DateTime<Utc>,
    request: &rsip::Request,
    aor: &str,
    existing: &[Binding],
    received: SocketAddr,
    transport: rsip::Transport,
    config: &RegistrarConfig,
) -> Result<RegisterOutcome, RegisterRejection> {
    let existing: Vec<&Binding> = existing
        .iter()
        .filter(|binding| binding.aor == aor && !binding.is_expired(now))
        .collect();
    let call_id = header_values(request, "Call-ID", Some("i"))
        .next()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(RegisterRejection::BadHeader("Call-ID"))?;
    let cseq = header_values(request, "CSeq", None)
        .next()
        .and_then(|value| value.split_whitespace().next())
        .and_then(|number| number.parse::<u32>().ok())
        .ok_or(RegisterRejection::BadHeader("CSeq"))?;
    let expires_header = header_values(request, "Expires", None)
        .next()
        .map(parse_delta_seconds);

    // RFC 3327 §5.3: the Path, in order, is stored with each contact of the request; a refresh
    // without one (the phone now registers directly) clears it.
    let path = path::path_values(request);
    let mut elements = Vec::new();
    for value in header_values(request, "Contact", Some("m")) {
        elements.extend(parse_list(value).map_err(|_| RegisterRejection::MalformedContact)?);
    }

    // §10.2.3: without Contact the request only asks for the current list.
    if elements.is_empty() {
        return Ok(outcome(now, &existing, Vec::new(), Vec::new()));
    }

    // §10.3 step 6: the wildcard.
    if elements.contains(&ContactElement::Wildcard) {
        if elements.len() > 1 {
            return Err(RegisterRejection::WildcardWithOtherContacts);
        }
        if expires_header != Some(0) {
            return Err(RegisterRejection::WildcardWithoutZeroExpires);
        }
        for binding in &existing {
            check_order(binding, call_id, cseq)?;
        }
        let remove = existing.iter().map(|binding| (*binding).clone()).collect();
        return Ok(outcome(now, &existing, remove, Vec::new()));
    }

    // §10.3 step 7: each contact in turn; any failure aborts the whole request.
    let mut remove: Vec<Binding> = Vec::new();
    let mut upsert: Vec<Binding> = Vec::new();
    for element in elements {
        let ContactElement::Address(address) = element else {
            continue;
        };
        let requested = match address.param("expires") {
            Some(Some(value)) => parse_delta_seconds(value),
            Some(None) => MALFORMED_EXPIRES,
            None => expires_header.unwrap_or(config.default_expires),
        };
        let q = match address.param("q") {
            Some(Some(text)) => Some(
                QValue::parse(text).ok_or_else(|| RegisterRejection::MalformedQ(text.into()))?,
            ),
            Some(None) => return Err(RegisterRejection::MalformedQ(String::new())),
            None => None,
        };
        if requested > 0 && requested < TOO_BRIEF_CEILING && requested < config.min_expires {
            return Err(RegisterRejection::IntervalTooBrief {
                min_expires: config.min_expires,
            });
        }
        let matching = existing
            .iter()
            .find(|binding| same_uri(&binding.contact_uri, &address.text));
        if let Some(binding) = matching {
            check_order(binding, call_id, cseq)?;
        }
        // A contact listed twice in one request: the later element wins.
        upsert.retain(|pending| !same_uri(&pending.contact_uri, &address.text));
        if requested == 0 {
            if let Some(binding) = matching {
                push_unique(&mut remove, binding);
            }
            continue;
        }
        if let Some(binding) = matching.filter(|binding| binding.contact_uri != address.text) {
            push_unique(&mut remove, binding);
        }
        let granted = requested.min(config.max_expires);
        upsert.push(Binding {
            aor: aor.to_owned(),
            contact_uri: address.text.clone(),
            expires_at: now + Duration::seconds(i64::from(granted)),
            call_id: call_id.to_owned(),
            cseq,
            q,
            received,
            transport,
            instance: address.param("+sip.instance").flatten().map(str::to_owned),
            path: path.clone(),
        });
    }
    let result = outcome(now, &existing, remove, upsert);
    if result.current.len() > config.max_bindings {
        return Err(RegisterRejection::TooManyBindings {
            max: config.max_bindings,
        });
    }
    Ok(result)
}

/// Bindings that have lapsed at `now`, for the driver's periodic purge of the store.
pub fn expired(now: DateTime<Utc>, bindings: &[Binding]) -> Vec<&Binding> {
    bindings
        .iter()
        .filter(|binding| binding.is_expired(now))
        .collect()
}

/// §10.3 steps 6–7: with the same Call-ID, only a higher CSeq may change a binding.
fn check_order(binding: &Binding, call_id: &str, cseq: u32) -> Result<(), RegisterRejection> {
    if binding.call_id == call_id && cseq <= binding.cseq {
        return Err(RegisterRejection::OutOfOrder {
            call_id: call_id.to_owned(),
            stored: binding.cseq,
            received: cseq,
        });
    }
    Ok(())
}

fn push_unique(list: &mut Vec<Binding>, binding: &Binding) {
    if !list.contains(binding) {
        list.push(binding.clone());
    }
}

/// Builds the outcome: the resulting list is the existing bindings minus removals, with
/// upserts replacing or adding, highest q first (absent q ranks as 1.0, §16.6 step 1 treats
/// it as the highest), then longest-lived.
fn outcome(
    now: DateTime<Utc>,
    existing: &[&Binding],
    remove: Vec<Binding>,
    upsert: Vec<Binding>,
) -> RegisterOutcome {
    let mut current: Vec<Binding> = existing
        .iter()
        .filter(|binding| !remove.contains(binding))
        .filter(|binding| {
            !upsert
                .iter()
                .any(|new| new.contact_uri == binding.contact_uri)
        })
        .map(|binding| (*binding).clone())
        .chain(upsert.iter().cloned())
        .filter(|binding| !binding.is_expired(now))
        .collect();
    current.sort_by(|a, b| {
        let q = |binding: &Binding| binding.q.map_or(1000, QValue::thousandths);
        q(b).cmp(&q(a)).then(b.expires_at.cmp(&a.expires_at))
    });
    RegisterOutcome {
        remove,
        upsert,
        current,
    }
}

/// `delta-seconds` (§25.1): digits only. Too large for 32 bits means "very long" and is
/// clamped later; anything else is malformed and counts as 3600 (§10.2.1.1).
fn parse_delta_seconds(value: &str) -> u32 {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return MALFORMED_EXPIRES;
    }
    value.parse().unwrap_or(u32::MAX)
}

/// Values of the headers called `name` (or its compact form), in order. rsip knows the long
/// names as typed variants but leaves compact forms (`m`, `i`, `t`) as `Other`.
fn header_values<'a>(
    request: &'a rsip::Request,
    name: &'static str,
    compact: Option<&'static str>,
) -> impl Iterator<Item = &'a str> + 'a {
    request
        .headers
        .iter()
        .filter_map(move |header| match (name, header) {
            ("Contact", Header::Contact(value)) => Some(value.value()),
            ("Call-ID", Header::CallId(value)) => Some(value.value()),
            ("CSeq", Header::CSeq(value)) => Some(value.value()),
            ("To", Header::To(value)) => Some(value.value()),
            ("Expires", Header::Expires(value)) => Some(value.value()),
            (_, Header::Other(other, value))
                if other.eq_ignore_ascii_case(name)
                    || compact.is_some_and(|short| other.eq_ignore_ascii_case(short)) =>
            {
                Some(value.as_str())
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests;
