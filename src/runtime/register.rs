//! REGISTER handling in the SIP task (RFC 3261 §10.3 with digest authentication, §22 and
//! RFC 8760): challenge, look up the device's HA1 and the AOR's bindings in the store, verify,
//! let the sans-I/O registrar decide, write the bindings, answer 200 with the Contact list.
//!
//! The verify step runs back in the loop because the nonce manager and the ban list are owned
//! by it; only the store work is spawned.

use std::net::SocketAddr;

use chrono::Utc;
use rsip::headers::UntypedHeader;
use rsip::Header;
use tracing::{debug, info, warn};

use super::sip::completion::{Completion, RegisterLookup};
use super::sip::context::Context;
use super::sip::reply::reply;
use crate::clock::Clock;
use crate::domain::model::{self, Device, Registration, User};
use crate::sip::auth::{AuthAnswer, DigestAlgorithm, DigestResponse, NonceBinding, RequestContext};
use crate::sip::registrar::{self, Binding, QValue};
use crate::sip::transaction::{TransactionId, TransportKind};
use crate::store::{Store, StoreError};

/// A new REGISTER: answer a challenge, or start the look-up of the credentials it carries.
pub(super) fn on_register(
    cx: &mut Context,
    transaction: TransactionId,
    request: rsip::Request,
    source: SocketAddr,
    transport: TransportKind,
) {
    let aor = match registrar::address_of_record(&request) {
        Ok(aor) => aor,
        Err(rejection) => {
            let response = reply(
                &request,
                rejection.status_code(),
                Some(rejection.reason_phrase()),
            );
            cx.respond(transaction, response);
            return;
        }
    };
    let credentials = request.headers.iter().find_map(|h| match h {
        Header::Authorization(a) => Some(a.value().to_owned()),
        _ => None,
    });
    let Some(credentials) = credentials else {
        challenge(cx, transaction, &request, source, false);
        return;
    };
    let digest = match DigestResponse::parse(&credentials) {
        Ok(d) => d,
        Err(error) => {
            debug!(%error, "unusable Authorization");
            // A scheme we do not know (RFC 4475 §3.3.7) is answered with our own challenge;
            // only unreadable Digest credentials get 400.
            match error.answer() {
                AuthAnswer::Challenge { stale } => {
                    challenge(cx, transaction, &request, source, stale);
                }
                AuthAnswer::BadRequest => {
                    let response = reply(&request, 400, Some("Malformed Authorization"));
                    cx.respond(transaction, response);
                }
            }
            return;
        }
    };
    let store = cx.store.clone();
    let completions = cx.completions.clone();
    let now = cx.clock.now();
    tokio::spawn(async move {
        let found = look_up(&store, &digest.username, now).await;
        let lookup = RegisterLookup {
            transaction,
            request,
            source,
            transport,
            aor,
            digest,
            found,
        };
        let _ = completions
            .send(Completion::Register(Box::new(lookup)))
            .await;
    });
}

async fn look_up(
    store: &Store,
    username: &str,
    now: chrono::DateTime<Utc>,
) -> Result<(Device, User, Vec<Registration>), StoreError> {
    let device = store.device_by_sip_username(username).await?;
    let user = store.user(device.user_id).await?;
    let bindings = store.registrations_active(user.id, now).await?;
    Ok((device, user, bindings))
}

/// The store answered: verify the digest, apply §10.3, write, answer.
pub(super) fn on_lookup(cx: &mut Context, lookup: RegisterLookup) {
    let RegisterLookup {
        transaction,
        request,
        source,
        transport,
        aor,
        digest,
        found,
    } = lookup;
    let now = cx.clock.now();
    let (device, user, stored) = match found {
        Ok(found) => found,
        Err(StoreError::NotFound(_)) => {
            // Unknown username: the same answer as a wrong password, so names cannot be probed.
            failed(cx, source, &request);
            challenge(cx, transaction, &request, source, false);
            return;
        }
        Err(error) => {
            warn!(%error, "store failed during REGISTER");
            cx.respond(
                transaction,
                reply(&request, 500, Some("Server Internal Error")),
            );
            return;
        }
    };
    if !verify_device(cx, transaction, &request, source, &digest, &device) {
        return;
    }
    // The authenticated device may only bind its own user's address (§10.3 step 3).
    let aor_user = aor_user(&aor);
    if ![&device.sip_username, &user.local_number, &user.one_number].contains(&&aor_user) {
        info!(username = %digest.username, %aor, "device may not register this address");
        cx.respond(transaction, reply(&request, 403, Some("Forbidden")));
        return;
    }
    let existing: Vec<Binding> = stored
        .iter()
        .filter_map(|r| to_registrar(&aor, r))
        .collect();
    let rsip_transport = match transport {
        TransportKind::Udp => rsip::Transport::Udp,
        TransportKind::Tcp => rsip::Transport::Tcp,
    };
    let outcome = match registrar::process_register(
        now,
        &request,
        &aor,
        &existing,
        source,
        rsip_transport,
        &cx.registrar,
    ) {
        Ok(outcome) => outcome,
        Err(rejection) => {
            let mut response = reply(
                &request,
                rejection.status_code(),
                Some(rejection.reason_phrase()),
            );
            if let registrar::RegisterRejection::IntervalTooBrief { min_expires } = rejection {
                response
                    .headers
                    .push(Header::Other("Min-Expires".into(), min_expires.to_string()));
            }
            cx.respond(transaction, response);
            return;
        }
    };
    let store = cx.store.clone();
    let completions = cx.completions.clone();
    let device_id = device.id;
    let node = cx.node_id.clone();
    let path_echo = registrar::path::echo(&request);
    let changed = crate::notify::VoicemailChanged::new(store.clone(), cx.presence.clone());
    tokio::spawn(async move {
        let write = async {
            for b in &outcome.remove {
                store.registration_remove(user.id, &b.contact_uri).await?;
            }
            for b in &outcome.upsert {
                store
                    .registration_upsert(&to_store(user.id, device_id, b, &node), now)
                    .await?;
            }
            Ok::<_, StoreError>(())
        };
        let response = match write.await {
            Ok(()) => {
                let mut response = reply(&request, 200, None);
                for contact in outcome.contact_values(now) {
                    response
                        .headers
                        .push(Header::Contact(rsip::headers::Contact::new(contact)));
                }
                response.headers.push(Header::Other(
                    "Date".into(),
                    now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                ));
                // RFC 3327 §5.3: the Path back to a phone that supports it.
                if let Some(path) = &path_echo {
                    response
                        .headers
                        .push(Header::Other("Path".into(), path.clone()));
                }
                let through = outcome.upsert.first().and_then(|b| b.path.first());
                info!(%aor, bindings = outcome.current.len(), path = through.map(String::as_str), "registered");
                response
            }
            Err(error) => {
                warn!(%error, "could not store bindings");
                reply(&request, 500, Some("Server Internal Error"))
            }
        };
        let registered = response.status_code.code() == 200 && !outcome.current.is_empty();
        let _ = completions
            .send(Completion::Respond {
                transaction,
                response,
            })
            .await;
        // RFC 3842 lamps: the phone that just registered (a reboot, a new phone) learns the
        // mailbox's state now, not at the next change; the counts go the one way every change
        // goes (`runtime::mwi`).
        if registered {
            if let Err(error) = changed.publish(user.id).await {
                warn!(%error, "message counts not read after REGISTER");
            }
        }
    });
}

/// The nonce binding for a request from `source`: always the source address (issue #19: a
/// nonce taken from one address is refused from another). There is no trusted-proxy setting
/// for SIP, so no request arrives through a proxy whose address would be shared.
pub(super) fn binding(source: SocketAddr) -> NonceBinding {
    NonceBinding::Address(source.ip())
}

/// 401 with one WWW-Authenticate per offered algorithm (RFC 8760 §2.4), its nonces bound to
/// `source`.
pub(super) fn challenge(
    cx: &mut Context,
    transaction: TransactionId,
    request: &rsip::Request,
    source: SocketAddr,
    stale: bool,
) {
    let now = cx.clock.now();
    let realm = cx.config.sip.domain.clone();
    let mut response = reply(request, 401, Some("Unauthorized"));
    for value in challenge_values(cx, request, now, &realm, stale, binding(source)) {
        response.headers.push(Header::WwwAuthenticate(
            rsip::headers::WwwAuthenticate::new(value),
        ));
    }
    cx.respond(transaction, response);
}

/// The challenge values for `request`: the algorithms its `User-Agent` is given by
/// `sip.digest_user_agents`, else `sip.digest_algorithms` (see [`crate::sip::auth::algorithms_for`]).
pub(super) fn challenge_values(
    cx: &mut Context,
    request: &rsip::Request,
    now: chrono::DateTime<Utc>,
    realm: &str,
    stale: bool,
    binding: NonceBinding,
) -> Vec<String> {
    let user_agent = request.headers.iter().find_map(|h| match h {
        Header::UserAgent(ua) => Some(ua.value().to_owned()),
        _ => None,
    });
    let algorithms = crate::sip::auth::algorithms_for(
        &cx.config.sip.digest_user_agents,
        &cx.config.sip.digest_algorithms,
        user_agent.as_deref(),
    )
    .to_vec();
    cx.nonces
        .challenge_offering(now, realm, stale, binding, &algorithms)
}

/// Checks a device's digest credentials on `request` (RFC 3261 §22.4, RFC 7616 §3.4, RFC
/// 8760): `true` when they verify. Otherwise the request is answered here — 400 for malformed
/// credentials, else 401 with a fresh challenge (`stale=true` when only the nonce was old) —
/// and a wrong password counts against the client. REGISTER and SUBSCRIBE share it, so a
/// phone meets one rule whichever it sends.
pub(super) fn verify_device(
    cx: &mut Context,
    transaction: TransactionId,
    request: &rsip::Request,
    source: SocketAddr,
    digest: &DigestResponse,
    device: &Device,
) -> bool {
    let ha1 = match digest.algorithm {
        DigestAlgorithm::Md5 => &device.ha1_md5,
        DigestAlgorithm::Sha256 => &device.ha1_sha256,
    };
    // The phone hashed the URI as it wrote it (IPv6 in brackets).
    let uri = crate::sip::message::decode_text(&request.uri.to_string()).into_owned();
    let method = request.method.to_string();
    let context = RequestContext {
        realm: &cx.config.sip.domain,
        method: &method,
        request_uri: &uri,
    };
    let now = cx.clock.now();
    let Err(error) = cx
        .nonces
        .verify_bound(now, &context, digest, ha1, binding(source))
    else {
        return true;
    };
    if error.is_stale() {
        // An old nonce, or a UDP retransmission of credentials already used (its 200 lost):
        // a new nonce, never a failure counted against the phone.
        challenge(cx, transaction, request, source, true);
    } else if error.is_malformed() {
        cx.respond(
            transaction,
            reply(request, 400, Some("Malformed Authorization")),
        );
    } else {
        debug!(%error, username = %digest.username, %method, "authentication failed");
        if error.counts_as_failure() {
            failed(cx, source, request);
        }
        challenge(cx, transaction, request, source, false);
    }
    false
}

/// Counts a failed authentication against the client (the source, or behind a trusted proxy
/// the client its Via chain names, [`crate::sip::client`]); logs one line when a ban starts.
pub(super) fn failed(cx: &mut Context, source: SocketAddr, request: &rsip::Request) {
    let now = cx.instant();
    let client = crate::sip::client::client_ip(&cx.config.security.trusted(), source.ip(), request);
    if let Some(ban) = cx.auth_failed(now, client) {
        warn!(source = %ban.source, failures = ban.failures, "banning source after failed authentications");
    }
}

/// The user part of an AOR URI (`sip:1000001@host` → `1000001`).
fn aor_user(aor: &str) -> String {
    let rest = aor.split_once(':').map_or(aor, |(_, r)| r);
    rest.split('@').next().unwrap_or("").to_owned()
}

fn to_registrar(aor: &str, r: &Registration) -> Option<Binding> {
    let b = &r.binding;
    Some(Binding {
        aor: aor.to_owned(),
        contact_uri: b.contact_uri.clone(),
        expires_at: b.expires_at,
        call_id: b.call_id.clone(),
        cseq: b.cseq,
        q: QValue::parse(&format!("{:.3}", f64::from(b.q_millis) / 1000.0)),
        received: b.received_addr.parse().ok()?,
        transport: if b.transport.eq_ignore_ascii_case("tcp") {
            rsip::Transport::Tcp
        } else {
            rsip::Transport::Udp
        },
        instance: b.instance_id.clone(),
        path: b.path.clone(),
    })
}

fn to_store(
    user: model::UserId,
    device: model::DeviceId,
    b: &Binding,
    node: &str,
) -> model::Binding {
    model::Binding {
        user_id: user,
        device_id: Some(device),
        contact_uri: b.contact_uri.clone(),
        expires_at: b.expires_at,
        call_id: b.call_id.clone(),
        cseq: b.cseq,
        q_millis: b.q.map_or(1000, |q| q.thousandths()),
        received_addr: b.received.to_string(),
        transport: b.transport.to_string().to_ascii_lowercase(),
        instance_id: b.instance.clone(),
        reg_id: None,
        path: b.path.clone(),
        node_id: (!node.is_empty()).then(|| node.to_owned()),
    }
}
