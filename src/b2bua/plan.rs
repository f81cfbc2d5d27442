//! What the driver hands a [`Call`](super::Call) once routing has decided: the route with
//! every target resolved to a Request-URI and the address to send to.
//!
//! The routing core speaks of contacts and numbers; a B leg needs a socket address. Resolving
//! registrations (their `received` address, RFC 5626-style flow reuse towards NATed phones),
//! the trunk for mobile and external numbers, and following a forward to a colleague are the
//! driver's work, so the plan is already concrete and the call machine stays pure.

use std::net::SocketAddr;
use std::time::Duration;

use crate::domain::Lang;
use crate::routing::{DiversionReason, VoicemailInfo};
use crate::sip::transaction::TransportKind;

/// What to do with the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Ring these targets in parallel for `timeout`; then voicemail with `fallback`.
    Ring {
        /// The user being rung (presence, history, voicemail box).
        callee: CalleeInfo,
        /// One B leg each.
        targets: Vec<OutboundTarget>,
        /// The ring timeout.
        timeout: Duration,
        /// What voicemail says on no answer ([`crate::routing::after_ring`]).
        fallback: VoicemailInfo,
        /// Set when the call reaches these targets by a forward: the diversion headers.
        diversion: Option<Diversion>,
    },
    /// Ring one binding this node holds, for another node that rang its user
    /// ([`crate::cluster::node_reach`]): a plain B leg, no callee of ours (that node keeps the
    /// history, presence and voicemail), and the leg's own failure status answered back
    /// (486, 603, …) so that node decides on it as if it had rung the phone itself.
    Binding {
        /// The phone, on the connection this node holds.
        target: OutboundTarget,
        /// How long it may ring; the other node's CANCEL ends it sooner.
        timeout: Duration,
    },
    /// Dial a number outside our users (a click-to-call's external target, through the trunk):
    /// no local callee, so no callee history row or presence, and no voicemail to fall back
    /// to: no answer or busy answers the caller 480/486.
    Dial {
        /// The legs to ring (the trunk).
        targets: Vec<OutboundTarget>,
        /// How long they may ring.
        timeout: Duration,
    },
    /// Ring a group's members in steps, then its mailbox ([`super::hunt`]).
    Hunt(Box<super::hunt::HuntPlan>),
    /// Straight to the callee's voicemail.
    Voicemail {
        /// Whose voicemail.
        callee: CalleeInfo,
        /// What the greeting says.
        info: VoicemailInfo,
    },
    /// Answer the caller with a final error (unknown number 404, toll-fraud guard 403, store
    /// trouble 500): nothing to ring and no mailbox to take the call.
    Reject {
        /// The status code.
        status: u16,
        /// A reason phrase of our own, if the canonical one would mislead.
        reason: Option<String>,
    },
}

/// The user a call is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalleeInfo {
    /// Store id.
    pub user_id: i64,
    /// The user's OneNumber: what the caller dialled, and the Diversion entry of a forward.
    pub number: String,
    /// The user's language, for the voicemail greeting.
    pub lang: Lang,
}

/// Who is calling, as far as we know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallerInfo {
    /// The caller's number (From user part); empty when anonymous.
    pub number: String,
    /// Display name from From, if any.
    pub name: Option<String>,
    /// The caller's user id when the call comes from one of our users' devices.
    pub user_id: Option<i64>,
}

/// Where one B leg goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTarget {
    /// The Request-URI of the INVITE (a registered Contact, or `sip:number@trunk`).
    pub uri: String,
    /// Where to send it.
    pub destination: SocketAddr,
    /// Over which transport.
    pub transport: TransportKind,
    /// What it is, for logs.
    pub kind: TargetKind,
    /// The preloaded Route set (RFC 3261 §8.1.2): a device's Path (RFC 3327), so the INVITE
    /// reaches it through the proxy holding its connection; `destination` is then the first
    /// Route's address. Empty for most targets.
    pub route: Vec<String>,
    /// A binding another node holds, rung through that node (`destination`): its row id, sent
    /// in [`crate::cluster::node_reach::BINDING_HEADER`]. `None` for most targets.
    pub binding: Option<i64>,
}

/// The kind of a B leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A registered device of the callee.
    Device,
    /// The callee's mobile, through the trunk.
    Mobile,
    /// A forward to a number outside our users, through the trunk.
    External,
}

/// Why and from where a call was diverted, for the `Diversion` (RFC 5806) and `History-Info`
/// (RFC 7044) headers of the B legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    /// The number the call was diverted from (the absent user's OneNumber).
    pub from: String,
    /// The RFC 5806 reason.
    pub reason: DiversionReason,
    /// How many diversions the call has had including this one (RFC 5806 `counter`).
    pub counter: u32,
    /// The diverting user (store id), who gets a history row for the forwarded call.
    pub user_id: Option<i64>,
}
