//! Ring targets to addresses: where a device that REGISTERed is reached (where it registered
//! from, through its Path, RFC 3327, or through the node holding its TCP connection,
//! [`crate::cluster::node_reach`]), and the mobile through the trunk under the toll-fraud
//! policy. Used by the planner of a direct call ([`super::policy`]) and by group ringing
//! ([`super::group`]), which is why it sits apart from both.

use std::net::SocketAddr;

use tracing::info;

use crate::b2bua::trunk::Trunk;
use crate::b2bua::{OutboundTarget, TargetKind};
use crate::cluster::node_reach::{Holders, Via};
use crate::routing::RingTarget;
use crate::sip::registrar::path;
use crate::toll_fraud::{self, DenyList, OrgPolicy};
use crate::user_state::LoadedUser;

/// One member's ring targets to addresses: a device is reached where its REGISTER came from,
/// or through the node holding its connection (`holders`), the mobile through the trunk (when
/// there is one and it resolved, and the toll-fraud policy of the member's organisation with
/// `deny` allows it). Targets that cannot be reached are left out. One call per member rung,
/// so a group is the concatenation.
pub(super) fn ring_targets(
    loaded: &LoadedUser,
    targets: &[RingTarget],
    trunk: Option<(&Trunk, SocketAddr)>,
    deny: &DenyList,
    holders: &Holders,
) -> Vec<OutboundTarget> {
    let mut out = Vec::new();
    for target in targets {
        match target {
            RingTarget::Device { contact, .. } => {
                let Some(reg) = loaded
                    .registrations
                    .iter()
                    .find(|r| r.binding.contact_uri == *contact)
                else {
                    continue;
                };
                // Where it registered from, or through its Path (RFC 3327) to the proxy that
                // holds its connection.
                let b = &reg.binding;
                match holders.via(b) {
                    Via::Direct => {}
                    Via::Node {
                        holder,
                        destination,
                        transport,
                    } => {
                        // Its connection is another node's: that node rings it for us.
                        info!(%contact, %holder, "ringing a TCP binding through the node holding it");
                        out.push(OutboundTarget {
                            uri: contact.clone(),
                            destination,
                            transport,
                            kind: TargetKind::Device,
                            route: Vec::new(),
                            binding: Some(reg.id.0),
                        });
                        continue;
                    }
                    Via::Unreachable { holder } => {
                        info!(%contact, %holder,
                            "a TCP binding held by another node is not rung from here: that node is not live or advertises no address");
                        continue;
                    }
                }
                let reach = match path::reach(&b.received_addr, &b.transport, &b.path) {
                    Ok(reach) => reach,
                    Err(error) => {
                        info!(%contact, %error, "a registered device cannot be reached");
                        continue;
                    }
                };
                out.push(OutboundTarget {
                    uri: contact.clone(),
                    destination: reach.destination,
                    transport: reach.transport,
                    kind: TargetKind::Device,
                    route: reach.route,
                    binding: None,
                });
            }
            RingTarget::Mobile { number } => {
                if let Err(error) =
                    toll_fraud::check_stored(number, &OrgPolicy::for_org(&loaded.org), deny)
                {
                    info!(to = %number, %error, "toll-fraud policy: the mobile is not rung");
                    continue;
                }
                if let Some(t) =
                    trunk.and_then(|(trunk, at)| trunk.target(at, number, TargetKind::Mobile))
                {
                    out.push(t);
                }
            }
        }
    }
    out
}
