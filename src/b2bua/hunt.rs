//! The plan of a call to a group number (the receptionist group, a support group): the
//! members' legs in steps, rung one step after another, and who takes the call when no step is
//! answered. The driver builds it from [`crate::routing::group::ring_steps`] (who can take the
//! call, in which order) with every target resolved to an address, so the [`Call`](super::Call)
//! stays pure: it starts a step's legs, and on the step's timeout or when every leg of it has
//! failed it cancels what still rings and starts the next step; the first 2xx wins as in any
//! parallel search (RFC 3261 §16.7 step 5: the other legs get CANCEL). After the last step the
//! group's mailbox answers, or the caller gets 480 when the group has none.

use std::time::Duration;

use super::plan::{CalleeInfo, Diversion, OutboundTarget};
use crate::routing::VoicemailInfo;

/// A call to a group.
#[derive(Debug, Clone, PartialEq)]
pub struct HuntPlan {
    /// The group's number: what the caller dialled, and what the history rows name.
    pub group_number: String,
    /// The steps, rung in order; at least one.
    pub steps: Vec<HuntStep>,
    /// Whose mailbox takes the call when no step was answered; `None`: 480.
    pub mailbox: Option<CalleeInfo>,
    /// What that voicemail says.
    pub fallback: VoicemailInfo,
    /// Set when the call reached the group by a forward: the legs' Diversion headers.
    pub diversion: Option<Diversion>,
}

/// One step: these members' legs at once, for `timeout`.
#[derive(Debug, Clone, PartialEq)]
pub struct HuntStep {
    /// Who is rung.
    pub members: Vec<HuntMember>,
    /// How long the step rings.
    pub timeout: Duration,
}

/// A member of a step (or the group's fallback number) and their legs.
#[derive(Debug, Clone, PartialEq)]
pub struct HuntMember {
    /// The user rung; `None` for a fallback number outside our users.
    pub user: Option<CalleeInfo>,
    /// Their devices and mobile, or the fallback number through the trunk.
    pub targets: Vec<OutboundTarget>,
}
