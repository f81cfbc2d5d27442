//! The holding node's side of [`crate::cluster::node_reach`]: another node rings a phone
//! registered directly over TCP to this one, and sends the INVITE here naming the binding. The
//! routing task asks [`for_a_node`] first; when the INVITE comes from a live node and names a
//! binding this node holds, the plan is to ring that one binding ([`Plan::Binding`]), with no
//! routing, authentication, voicemail or history here: the other node decided all that and
//! keeps the call's record. From anywhere else the header is ignored and the INVITE is routed
//! as an ordinary call.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::route::Numbers;
use crate::b2bua::{OutboundTarget, Plan, TargetKind};
use crate::cluster::node_reach;
use crate::domain::model::RegistrationId;
use crate::sip::registrar::path;
use crate::store::Store;

/// How long the phone may ring here: longer than any ring time the other node sets
/// ([`crate::routing::MAX_RING_TIMEOUT`]), so its CANCEL, not this timer, ends an unanswered
/// call (as a proxy's Timer C outlasts the UAC's, RFC 3261 §16.6 step 11).
const RING_LIMIT: Duration = Duration::from_secs(crate::routing::MAX_RING_TIMEOUT.as_secs() + 30);

/// The plan for an INVITE naming binding `id`, when it comes from `source`: `None` when
/// `source` is no live node's (route the INVITE as any other), else ring the binding, or 480
/// when this node does not hold it (expired, or the phone moved to another node meanwhile).
pub(super) async fn for_a_node(
    store: &Store,
    numbers: &Numbers,
    id: RegistrationId,
    source: SocketAddr,
    now: DateTime<Utc>,
) -> Option<Plan> {
    let nodes = match store
        .cluster_node_addresses(now - numbers.node_expiry)
        .await
    {
        Ok(nodes) => nodes,
        Err(error) => {
            warn!(%error, "store failed reading the nodes' addresses");
            return Some(reject(500));
        }
    };
    if !node_reach::from_a_node(source.ip(), &nodes) {
        warn!(%source, binding = id.0,
            "an INVITE naming a binding from no node's address: routed as an ordinary call");
        return None;
    }
    let registration = match store.registration_active_by_id(id, now).await {
        Ok(registration) => registration,
        Err(error) => {
            warn!(%error, "store failed reading the binding");
            return Some(reject(500));
        }
    };
    let held = registration.filter(|r| {
        let b = &r.binding;
        path::held_here(&b.transport, &b.path, b.node_id.as_deref(), &numbers.node)
    });
    let Some(registration) = held else {
        info!(
            binding = id.0,
            "another node named a binding this node does not hold"
        );
        return Some(reject(480));
    };
    let b = &registration.binding;
    let reach = match path::reach(&b.received_addr, &b.transport, &b.path) {
        Ok(reach) => reach,
        Err(error) => {
            info!(%error, "the binding named cannot be reached");
            return Some(reject(480));
        }
    };
    info!(contact = %b.contact_uri, "ringing a binding held here for another node");
    Some(Plan::Binding {
        target: OutboundTarget {
            uri: b.contact_uri.clone(),
            destination: reach.destination,
            transport: reach.transport,
            kind: TargetKind::Device,
            route: reach.route,
            binding: None,
        },
        timeout: RING_LIMIT,
    })
}

fn reject(status: u16) -> Plan {
    Plan::Reject {
        status,
        reason: None,
    }
}
