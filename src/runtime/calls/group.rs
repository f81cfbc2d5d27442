//! Calls to a group number: what the routing task fetches for one ([`load`]) and how the
//! planner turns the members' states into a [`HuntPlan`] ([`hunt_plan`]).
//!
//! The members are judged by [`routing::group::ring_steps`], which asks
//! [`routing::decide`] about each one as if the call were made to them, on states loaded by
//! the same loader as a direct call (`user_state::load`): a member shown absent is skipped
//! unless the absence keeps the phone open, one on the phone without call waiting is skipped,
//! one with nothing registered is skipped. The group's fallback number, when it has one, is
//! one more step after the members; the group's mailbox comes after every step.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::info;

use super::targets::ring_targets;
use crate::b2bua::hunt::{HuntMember, HuntPlan, HuntStep};
use crate::b2bua::trunk::Trunk;
use crate::b2bua::{CalleeInfo, Diversion, OutboundTarget};
use crate::cluster::node_reach::Holders;
use crate::domain::model::{Group, Organisation, User};
use crate::routing::group::{ring_steps, Member, RingStrategy};
use crate::routing::{self, CallContext, GreetingStatus, RingTarget, Route, VoicemailInfo};
use crate::store::{GroupMember, GroupRinging, GroupStrategy, Store, StoreError};
use crate::toll_fraud::DenyList;
use crate::user_state::LoadedUser;

/// What a call to a group needs from the store: the group, how it rings, its members in order
/// and the owner of its mailbox.
#[derive(Debug, Clone)]
pub(super) struct GroupCall {
    /// The group row.
    pub group: Group,
    /// Its organisation (the toll-fraud policy of an outside fallback number).
    pub org: Organisation,
    /// Strategy, ring time, fallback.
    pub ringing: GroupRinging,
    /// The members, in order.
    pub members: Vec<GroupMember>,
    /// Whose mailbox is the group's: the configured user, else the first member.
    pub mailbox: Option<User>,
}

/// The group a dialled (or forwarded-to) number reaches, in its stored form or normalised
/// (`+45 70 10 00 00` is 4570100000); `None` when no group has it.
pub(super) async fn load(store: &Store, number: &str) -> Result<Option<GroupCall>, StoreError> {
    if number.is_empty() {
        return Ok(None);
    }
    let mut found = store.group_by_number(number).await;
    if matches!(found, Err(StoreError::NotFound(_))) {
        if let Ok(normal) = crate::number::normalise(number, &crate::number::Plan::DK) {
            if normal != number {
                found = store.group_by_number(&normal).await;
            }
        }
    }
    let group = match found {
        Ok(group) => group,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error),
    };
    let org = store.org(group.org_id).await?;
    let ringing = store.group_ringing(group.id).await?;
    let members = store.group_member_list(group.id).await?;
    let mailbox = match ringing.voicemail_user_id {
        Some(id) => match store.user(id).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound(_)) => None,
            Err(error) => return Err(error),
        },
        None => members.first().map(|m| m.user.clone()),
    };
    Ok(Some(GroupCall {
        group,
        org,
        ringing,
        members,
        mailbox,
    }))
}

/// The group's fallback number once the planner has looked it up.
#[derive(Debug)]
pub(super) enum FallbackStep {
    /// No fallback number, or one the policy refused.
    None,
    /// A colleague: their targets, as their own state decides (an absent colleague is not rung).
    Colleague {
        /// Their state.
        loaded: Box<LoadedUser>,
        /// What `routing::decide` rings for them.
        targets: Vec<RingTarget>,
    },
    /// A number outside our users, which passed the toll-fraud policy: through the trunk.
    External(String),
}

/// A group call decided and waiting only for the trunk's address (when a target needs it).
#[derive(Debug)]
pub(super) struct GroupPending {
    /// The group and its members' states.
    pub call: Box<GroupCall>,
    /// The members' states, as loaded.
    pub loaded: Vec<LoadedUser>,
    /// The call as the members' states were judged with.
    pub context: CallContext,
    /// When.
    pub now: DateTime<Utc>,
    /// The fallback number's step.
    pub fallback: FallbackStep,
    /// Set when the call reached the group by a forward.
    pub diversion: Option<Diversion>,
}

impl GroupPending {
    /// Whether any target goes through the trunk (a member's mobile, an outside fallback).
    pub(super) fn needs_trunk(&self) -> bool {
        matches!(self.fallback, FallbackStep::External(_))
            || self.loaded.iter().any(|l| l.state.user.mobile.is_some())
            || matches!(&self.fallback, FallbackStep::Colleague { targets, .. }
                if targets.iter().any(|t| matches!(t, RingTarget::Mobile { .. })))
    }
}

/// The strategy of `ringing` as the routing core's.
pub(super) fn strategy(ringing: &GroupRinging) -> RingStrategy {
    match ringing.strategy {
        GroupStrategy::All => RingStrategy::All {
            timeout: ringing.ring_timeout,
        },
        GroupStrategy::InOrder => RingStrategy::InOrder {
            per_member: ringing.ring_timeout,
        },
    }
}

fn callee(user: &User) -> CalleeInfo {
    CalleeInfo {
        user_id: user.id.0,
        number: user.one_number.clone(),
        lang: user.profile.lang,
    }
}

/// The plan of a group call: each step of [`ring_steps`] with every member's targets resolved
/// to addresses (a member with nothing reachable leaves the step; a step left empty is
/// dropped), then the fallback number's step, then the group's mailbox.
pub(super) fn hunt_plan(
    pending: GroupPending,
    trunk: Option<(&Trunk, SocketAddr)>,
    deny: &DenyList,
    holders: &Holders,
) -> HuntPlan {
    let GroupPending {
        call,
        loaded,
        context,
        now,
        fallback,
        diversion,
    } = pending;
    let members: Vec<Member<'_>> = loaded
        .iter()
        .map(|l| Member {
            position: call
                .members
                .iter()
                .find(|m| m.user.id == l.user.id)
                .map_or(u32::MAX, |m| m.position),
            state: &l.state,
        })
        .collect();
    let ring = ring_steps(&members, strategy(&call.ringing), now, &context);
    for (user_id, why) in &ring.skipped {
        info!(user_id, ?why, group = %call.group.number, "group member not rung");
    }
    let mut steps = Vec::new();
    for step in &ring.steps {
        let mut out = HuntStep {
            members: Vec::new(),
            timeout: step.timeout,
        };
        for id in &step.members {
            let Some(member) = loaded.iter().find(|l| l.user.id.0 == *id) else {
                continue;
            };
            // The member's own targets, as far as the step kept them (the step caps the total).
            let own: Vec<RingTarget> = match routing::decide(&member.state, now, &context) {
                Route::Ring { targets, .. } => targets
                    .into_iter()
                    .filter(|t| step.targets.contains(t))
                    .collect(),
                _ => Vec::new(),
            };
            let targets = ring_targets(member, &own, trunk, deny, holders);
            if !targets.is_empty() {
                out.members.push(HuntMember {
                    user: Some(callee(&member.user)),
                    targets,
                });
            }
        }
        if !out.members.is_empty() {
            steps.push(out);
        }
    }
    let fallback_timeout = call
        .ringing
        .ring_timeout
        .clamp(routing::MIN_RING_TIMEOUT, routing::MAX_RING_TIMEOUT);
    match fallback {
        FallbackStep::None => {}
        FallbackStep::Colleague { loaded, targets } => {
            let targets = ring_targets(&loaded, &targets, trunk, deny, holders);
            if !targets.is_empty() {
                steps.push(HuntStep {
                    members: vec![HuntMember {
                        user: Some(callee(&loaded.user)),
                        targets,
                    }],
                    timeout: fallback_timeout,
                });
            }
        }
        FallbackStep::External(number) => {
            let target: Option<OutboundTarget> = trunk.and_then(|(trunk, at)| {
                trunk.target(at, &number, crate::b2bua::TargetKind::External)
            });
            match target {
                Some(target) => steps.push(HuntStep {
                    members: vec![HuntMember {
                        user: None,
                        targets: vec![target],
                    }],
                    // Long enough for the far end's own voicemail to answer, as a forward.
                    timeout: routing::MAX_RING_TIMEOUT.max(fallback_timeout),
                }),
                None => info!(to = %number, "no trunk for the group's fallback number"),
            }
        }
    }
    let allow_messages = call
        .mailbox
        .as_ref()
        .and_then(|m| loaded.iter().find(|l| l.user.id == m.id))
        .is_none_or(|l| l.state.voicemail.allow_messages);
    HuntPlan {
        group_number: call.group.number.clone(),
        steps,
        mailbox: call.mailbox.as_ref().map(callee),
        fallback: VoicemailInfo {
            status: GreetingStatus::NotAvailable,
            allow_messages,
        },
        diversion,
    }
}

/// How long a group rings at most before its fallback, for logs.
pub(super) fn total_ring(plan: &HuntPlan) -> Duration {
    plan.steps.iter().map(|s| s.timeout).sum()
}
