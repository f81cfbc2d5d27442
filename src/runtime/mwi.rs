//! Message-waiting lamps in the SIP task: the driver of [`crate::sip::subscription`] (RFC 6665
//! SUBSCRIBE/NOTIFY for RFC 3842 `message-summary`) and of the unsolicited NOTIFYs of
//! [`crate::notify::mwi`].
//!
//! One path for every change: whoever changes a mailbox (a deposit, retrieval by phone, the web
//! API's read/save/delete, a new REGISTER) calls
//! [`crate::notify::VoicemailChanged::publish`], which reads the counts and puts them on the
//! presence bus. The SIP task listens to that bus and hands each
//! [`crate::presence::PresenceEvent::Voicemail`] to [`on_counts`]: a NOTIFY in each of the
//! user's subscriptions and, with `sip.mwi_unsolicited`, an unsolicited NOTIFY to each
//! registered contact that has no subscription from the same address.
//!
//! A SUBSCRIBE is authenticated as a REGISTER is (digest, RFC 3261 §22 with a 401 challenge;
//! the nonce bound to the source), and may watch only the device owner's mailbox: its own
//! address-of-record, or the voicemail access number. A refresh inside the dialog is not
//! challenged again: the dialog identifiers (with our random tag) are what the authenticated
//! SUBSCRIBE earned. Subscriptions live in memory; a restart loses them, and phones
//! re-subscribe when their next refresh gets 481 (RFC 6665 §4.1.2.2).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::Header;
use tracing::{debug, info, warn, Instrument};

use super::register;
use super::sip::completion::{Completion, MwiLookup, SubscribeLookup};
use super::sip::context::Context;
use super::sip::reply::{reply, SERVER};
use crate::notify::mwi::{CONTENT_TYPE, EVENT};
use crate::notify::{MwiConfig, MwiNotifier, MwiTarget};
use crate::sip::auth::{AuthAnswer, DigestResponse};
use crate::sip::registrar::path::{held_elsewhere, held_here};
use crate::sip::subscription::{
    Accepted, Payload, SubscribeRejection, SubscriptionConfig, SubscriptionKey, Subscriptions,
    Watched,
};
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};
use crate::store::UserId;

/// The lamps' state in the SIP task.
#[derive(Debug, Default)]
pub(super) struct Mwi {
    subscriptions: Subscriptions,
    /// Builds the unsolicited NOTIFYs (made once our address is known).
    unsolicited: Option<MwiNotifier>,
    /// The last counts (new, old) per mailbox with a subscription: a refresh, an unsubscribe
    /// and an expiry are answered from here without the store.
    counts: HashMap<i64, (u32, u32)>,
    /// Our NOTIFYs in flight, by client transaction: a 481 or a timeout ends the subscription
    /// (RFC 6665 §4.2.2).
    in_flight: HashMap<TransactionId, SubscriptionKey>,
    /// Our unsolicited NOTIFYs in flight: to which user's contact.
    unsolicited_in_flight: HashMap<TransactionId, UnsolicitedContact>,
    /// Contacts that refused an unsolicited NOTIFY (481: they track subscriptions, as baresip
    /// does, or 405/489: they take none): they get no more until they SUBSCRIBE. Bounded by
    /// [`REFUSED_MAX`]; a restart forgets them.
    refused_unsolicited: HashSet<UnsolicitedContact>,
}

/// A registered contact as unsolicited NOTIFYs know it: user, where the NOTIFY goes and the
/// Contact URI. The URI tells apart the phones behind one proxy (RFC 3327 Path), which all
/// share the proxy's address.
type UnsolicitedContact = (i64, SocketAddr, String);

/// Contacts remembered as refusing unsolicited NOTIFYs; past this the set starts again.
const REFUSED_MAX: usize = 10_000;

impl Mwi {
    /// No subscriptions; expiry bounds from `sip.min_expires_secs` / `sip.max_expires_secs`.
    pub(super) fn new(min_expires: u32, max_expires: u32) -> Self {
        Mwi {
            subscriptions: Subscriptions::new(SubscriptionConfig {
                min_expires,
                max_expires,
            }),
            ..Mwi::default()
        }
    }

    /// When the next subscription runs out.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.subscriptions.poll_timeout()
    }
}

/// A SUBSCRIBE outside or inside a dialog.
pub(super) fn on_subscribe(
    cx: &mut Context,
    mwi: &mut Mwi,
    transaction: TransactionId,
    request: rsip::Request,
    source: SocketAddr,
    transport: TransportKind,
) {
    if Subscriptions::is_refresh(&request) {
        let Some(user_id) = mwi.subscriptions.owner_of(&request) else {
            let response = reply(&request, 481, Some("Subscription Does Not Exist"));
            cx.respond(transaction, response);
            return;
        };
        let watched = Watched {
            user_id,
            source,
            transport,
        };
        accept(cx, mwi, transaction, &request, watched);
        return;
    }
    let credentials = request.headers.iter().find_map(|h| match h {
        Header::Authorization(a) => Some(a.value().to_owned()),
        _ => None,
    });
    let Some(credentials) = credentials else {
        register::challenge(cx, transaction, &request, source, false);
        return;
    };
    let digest = match DigestResponse::parse(&credentials) {
        Ok(d) => d,
        Err(error) => {
            debug!(%error, "unusable Authorization on SUBSCRIBE");
            match error.answer() {
                AuthAnswer::Challenge { stale } => {
                    register::challenge(cx, transaction, &request, source, stale);
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
    tokio::spawn(
        async move {
            let found = async {
                let device = store.device_by_sip_username(&digest.username).await?;
                let user = store.user(device.user_id).await?;
                let counts = store.voicemail_counts(user.id).await?;
                Ok((device, user, counts))
            }
            .await;
            let lookup = SubscribeLookup {
                transaction,
                request,
                source,
                transport,
                digest,
                found,
            };
            let _ = completions
                .send(Completion::Subscribe(Box::new(lookup)))
                .await;
        }
        .in_current_span(),
    );
}

/// The store answered a new SUBSCRIBE's credentials: verify, check the mailbox, accept.
pub(super) fn on_lookup(cx: &mut Context, mwi: &mut Mwi, lookup: SubscribeLookup) {
    let SubscribeLookup {
        transaction,
        request,
        source,
        transport,
        digest,
        found,
    } = lookup;
    let (device, user, counts) = match found {
        Ok(found) => found,
        Err(crate::store::StoreError::NotFound(_)) => {
            register::failed(cx, source, &request);
            register::challenge(cx, transaction, &request, source, false);
            return;
        }
        Err(error) => {
            warn!(%error, "store failed during SUBSCRIBE");
            cx.respond(
                transaction,
                reply(&request, 500, Some("Server Internal Error")),
            );
            return;
        }
    };
    if !register::verify_device(cx, transaction, &request, source, &digest, &device) {
        return;
    }
    // The mailbox watched: the Request-URI names it (RFC 3842 §3.2: "the Request-URI … is the
    // URI of the messaging account"). Only the device owner's own, by any of its names or by
    // the access number.
    let wanted = request.uri.auth.as_ref().map(|a| a.user.clone());
    let own = [
        device.sip_username.as_str(),
        user.local_number.as_str(),
        user.one_number.as_str(),
        cx.config.sip.voicemail_number.as_str(),
    ];
    if !wanted.as_deref().is_some_and(|w| own.contains(&w)) {
        info!(username = %digest.username, uri = %request.uri, "SUBSCRIBE for another mailbox");
        cx.respond(transaction, reply(&request, 403, Some("Forbidden")));
        return;
    }
    mwi.counts.insert(user.id.0, counts);
    let watched = Watched {
        user_id: user.id.0,
        source,
        transport,
    };
    accept(cx, mwi, transaction, &request, watched);
}

/// Hands the SUBSCRIBE to the core; answers 2xx and sends the current state, or the refusal.
fn accept(
    cx: &mut Context,
    mwi: &mut Mwi,
    transaction: TransactionId,
    request: &rsip::Request,
    watched: Watched,
) {
    let now = cx.instant();
    let transport = watched.transport;
    let mut rng = rand::thread_rng();
    let accepted = match mwi.subscriptions.subscribe(now, request, watched, &mut rng) {
        Ok(accepted) => accepted,
        Err(rejection) => {
            refuse(cx, transaction, request, &rejection);
            return;
        }
    };
    let Accepted {
        key,
        to_tag,
        expires,
        user_id,
        created,
    } = accepted;
    let mut response = response_to(request, 200, Some(&to_tag));
    response
        .headers
        .push(Header::Expires(rsip::headers::Expires::new(
            expires.to_string(),
        )));
    response
        .headers
        .push(Header::Contact(rsip::headers::Contact::new(format!(
            "<sip:{}@{}{}>",
            cx.config.sip.voicemail_number,
            cx.sent_by(),
            match transport {
                TransportKind::Udp => "",
                TransportKind::Tcp => ";transport=tcp",
            }
        ))));
    response
        .headers
        .push(Header::Server(rsip::headers::Server::new(SERVER)));
    cx.respond(transaction, response);
    info!(user_id, expires, created, call_id = %key.call_id, "message-summary subscription");
    send_in_dialog(cx, mwi, &key);
}

fn refuse(
    cx: &mut Context,
    transaction: TransactionId,
    request: &rsip::Request,
    rejection: &SubscribeRejection,
) {
    let code = rejection.status_code();
    let reason = rejection.to_string();
    let mut response = reply(request, code, Some(&reason));
    match rejection {
        SubscribeRejection::IntervalTooBrief { min_expires } => response
            .headers
            .push(Header::Other("Min-Expires".into(), min_expires.to_string())),
        // RFC 6665 §7.2.2: a 489 says which packages we have.
        SubscribeRejection::BadEvent(_) => response
            .headers
            .push(Header::Other("Allow-Events".into(), EVENT.into())),
        _ => {}
    }
    debug!(code, %reason, "SUBSCRIBE refused");
    cx.respond(transaction, response);
}

/// Sends one NOTIFY in `key`'s dialog with the cached counts of its mailbox.
fn send_in_dialog(cx: &mut Context, mwi: &mut Mwi, key: &SubscriptionKey) {
    let Some(user_id) = mwi.subscriptions.user_of(key) else {
        return;
    };
    let (new, old) = mwi.counts.get(&user_id).copied().unwrap_or_default();
    let body = summary(cx, new, old).body();
    let now = cx.instant();
    let sent_by = cx.sent_by();
    let mut rng = rand::thread_rng();
    let notify = match mwi.subscriptions.notify(
        now,
        key,
        Payload {
            event: EVENT,
            content_type: CONTENT_TYPE,
            body: &body,
        },
        &sent_by,
        &mut rng,
    ) {
        Ok(notify) => notify,
        Err(error) => {
            debug!(%error, "no NOTIFY for this subscription");
            mwi.subscriptions.remove(key);
            return;
        }
    };
    match cx
        .layer
        .send_request(now, notify.request, notify.destination, notify.transport)
    {
        Ok(id) => {
            mwi.in_flight.insert(id, notify.key);
        }
        Err(error) => debug!(%error, "NOTIFY not sent"),
    }
    if mwi.subscriptions.watching(user_id).is_empty() {
        mwi.counts.remove(&user_id);
    }
}

fn summary(cx: &Context, new: u32, old: u32) -> crate::notify::MessageSummary {
    crate::notify::MessageSummary {
        account: Some(format!(
            "sip:{}@{}",
            cx.config.sip.voicemail_number, cx.config.sip.domain
        )),
        new,
        old,
        urgent_new: 0,
        urgent_old: 0,
    }
}

/// A mailbox's counts changed (or were re-read for a REGISTER): NOTIFY every subscription
/// watching it, and look up the registered contacts for the unsolicited ones.
///
/// `here`: the count changed on this node ([`crate::presence::PresenceEvent::Voicemail`]), which
/// then tells every binding it can reach; a change heard from another node is told only to the
/// phones whose connection this node holds (that node cannot reach them), so that each phone
/// hears it once.
pub(super) fn on_counts(
    cx: &mut Context,
    mwi: &mut Mwi,
    user_id: i64,
    (new, old): (u32, u32),
    here: bool,
) {
    let keys = mwi.subscriptions.watching(user_id);
    if !keys.is_empty() {
        mwi.counts.insert(user_id, (new, old));
    }
    for key in &keys {
        send_in_dialog(cx, mwi, key);
    }
    debug!(
        user_id,
        new,
        old,
        subscriptions = keys.len(),
        "message-waiting state"
    );
    if !cx.config.sip.mwi_unsolicited {
        return;
    }
    let store = cx.store.clone();
    let domain = cx.config.sip.domain.clone();
    let completions = cx.completions.clone();
    let now = cx.now();
    let node = cx.node_id.clone();
    tokio::spawn(
        async move {
            let user = UserId(user_id);
            let lookup = async {
                let owner = store.user(user).await?;
                let aor = format!("sip:{}@{domain}", owner.local_number);
                let targets = store
                    .registrations_active(user, now)
                    .await?
                    .iter()
                    // A direct TCP phone on another node hears from that node only; a change
                    // made elsewhere reaches here only for the phones this node holds.
                    .filter(|r| {
                        let b = &r.binding;
                        let ours = b.node_id.as_deref();
                        if here {
                            held_elsewhere(&b.transport, &b.path, ours, &node).is_none()
                        } else {
                            held_here(&b.transport, &b.path, ours, &node)
                        }
                    })
                    .filter_map(|r| MwiTarget::from_stored(&aor, &r.binding))
                    .collect();
                Ok::<_, crate::store::StoreError>(MwiLookup {
                    user_id,
                    new,
                    old,
                    targets,
                })
            };
            match lookup.await {
                Ok(lookup) => {
                    let _ = completions.send(Completion::Mwi(Box::new(lookup))).await;
                }
                Err(error) => warn!(%error, user_id, "registered contacts not read"),
            }
        }
        .in_current_span(),
    );
}

/// Sends an unsolicited `message-summary` NOTIFY to each registered contact of the user that
/// has no subscription from the same address (it was told inside the subscription).
pub(super) fn on_registered(cx: &mut Context, mwi: &mut Mwi, lookup: MwiLookup) {
    let Some(local) = cx.local_address else {
        return;
    };
    let domain = cx.config.sip.domain.clone();
    let voicemail_number = cx.config.sip.voicemail_number.clone();
    let now = cx.instant();
    let notifier = mwi.unsolicited.get_or_insert_with(|| {
        MwiNotifier::new(MwiConfig {
            local,
            domain,
            voicemail_number,
        })
    });
    let summary = notifier.summary(lookup.new, lookup.old);
    let mut rng = rand::thread_rng();
    let mut notifies = Vec::new();
    for target in &lookup.targets {
        let contact = (
            lookup.user_id,
            target.destination,
            target.contact_uri.clone(),
        );
        // A subscription from the same address covers a phone reached directly; behind a
        // proxy every phone shares its address, so one phone's subscription says nothing of
        // the others (a subscribed one may get both, and answers 481 to the unsolicited one).
        let covered =
            target.route.is_empty() && mwi.subscriptions.covers(lookup.user_id, target.destination);
        if covered || mwi.refused_unsolicited.contains(&contact) {
            continue;
        }
        match notifier.notify(&mut rng, target, &summary) {
            Ok(notify) => notifies.push((notify, contact)),
            Err(error) => debug!(%error, "no NOTIFY for this contact"),
        }
    }
    info!(
        user_id = lookup.user_id,
        new = lookup.new,
        old = lookup.old,
        contacts = notifies.len(),
        "unsolicited message-waiting NOTIFY"
    );
    for (notify, contact) in notifies {
        match cx
            .layer
            .send_request(now, notify.request, notify.destination, notify.transport)
        {
            Ok(id) => {
                mwi.unsolicited_in_flight.insert(id, contact);
            }
            Err(error) => debug!(%error, "NOTIFY not sent"),
        }
    }
}

/// Subscriptions whose time ran out get their final NOTIFY (`terminated;reason=timeout`).
pub(super) fn handle_timeout(cx: &mut Context, mwi: &mut Mwi, now: Instant) {
    for key in mwi.subscriptions.poll_expired(now) {
        info!(call_id = %key.call_id, "message-summary subscription expired");
        send_in_dialog(cx, mwi, &key);
    }
}

/// A final response to one of our in-dialog NOTIFYs: RFC 6665 §4.2.2, a 481 (or any other
/// error but a challenge) means the subscriber no longer has the subscription.
/// Returns false when the transaction was not ours.
pub(super) fn on_response(
    mwi: &mut Mwi,
    transaction: TransactionId,
    response: &rsip::Response,
) -> bool {
    let code = response.status_code.code();
    if code < 200 {
        return mwi.in_flight.contains_key(&transaction)
            || mwi.unsolicited_in_flight.contains_key(&transaction);
    }
    if let Some(contact) = mwi.unsolicited_in_flight.remove(&transaction) {
        if matches!(code, 405 | 481 | 489 | 501) {
            info!(code, user_id = contact.0, destination = %contact.1, contact = %contact.2,
                "contact refuses unsolicited NOTIFYs: no more until it subscribes");
            if mwi.refused_unsolicited.len() >= REFUSED_MAX {
                mwi.refused_unsolicited.clear();
            }
            mwi.refused_unsolicited.insert(contact);
        }
        return true;
    }
    let Some(key) = mwi.in_flight.remove(&transaction) else {
        return false;
    };
    if code >= 300 && code != 401 && code != 407 {
        info!(code, call_id = %key.call_id, "subscriber refused NOTIFY: subscription ends");
        mwi.subscriptions.remove(&key);
    }
    true
}

/// Timer F or a transport error on a NOTIFY: the subscriber is gone (RFC 6665 §4.2.2).
pub(super) fn on_failed(mwi: &mut Mwi, transaction: TransactionId) {
    mwi.unsolicited_in_flight.remove(&transaction);
    if let Some(key) = mwi.in_flight.remove(&transaction) {
        info!(call_id = %key.call_id, "NOTIFY timed out: subscription ends");
        mwi.subscriptions.remove(&key);
    }
}

/// The transaction ended (after its final response was handled).
pub(super) fn on_terminated(mwi: &mut Mwi, transaction: TransactionId) {
    mwi.in_flight.remove(&transaction);
    mwi.unsolicited_in_flight.remove(&transaction);
}
