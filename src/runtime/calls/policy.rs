//! The route → plan policy: from the dialled user's routing state to a concrete [`Plan`], as
//! a sans-I/O step machine over prefetched data. The routing task (`route.rs`) fetches what a
//! [`Step`] names and feeds the answer back; this file decides everything else:
//!
//! 1. **Unknown number**: no user has the dialled OneNumber or local number → 404.
//! 2. **Decide**: [`routing::decide`] on the user's state at `now`, with the call's history.
//! 3. **Ring**: each target to an address ([`ring_targets`]): a device where its REGISTER
//!    came from (the flow it keeps open through NAT, as RFC 5626 does), the mobile through the
//!    trunk. Nothing reachable → the route's fallback voicemail.
//! 4. **Forward to a colleague** (a user of the *same organisation*): the diversion is
//!    recorded (RFC 5806 counter, RFC 7044 history) and the colleague's state decides next, at
//!    most [`routing::MAX_FORWARD_HOPS`] + 1 states in all, then 482 (the loop guard of
//!    `routing::forward_loop` normally stops a loop earlier, through the history).
//! 5. **Forward elsewhere** (outside our users, or another organisation's user): the
//!    **toll-fraud policy** ([`toll_fraud::check`]: the organisation's external-calls switch,
//!    then the configured deny-list), and only through a trunk, for at most
//!    [`routing::MAX_RING_TIMEOUT`]; otherwise voicemail with the absence that forwarded.
//!    The mobile of parallel ringing passes the same policy: a refused mobile is not rung
//!    (the desk still is). Checked here again although the API checked it when stored,
//!    because a stored number may predate a policy change.
//!
//! 6. **Group**: no user has the dialled number (or a forward's), but a group of the same
//!    organisation does ([`Step::FindGroup`]): every member's state is loaded as for a direct
//!    call ([`Step::LoadMembers`]), `routing::group::ring_steps` says who rings in which step,
//!    the group's fallback number (a colleague, or outside through the toll-fraud policy and
//!    the trunk) is one more step, and the group's mailbox comes last ([`Plan::Hunt`], built
//!    in [`super::group`]). A forward to a group is a colleague's forward, never an external
//!    one.
//!
//! Steps, in the driver's loop: [`Planner::new`] asks [`Step::FindUser`] for the dialled
//! number; [`Planner::on_user`] answers it; [`Step::LoadState`] is answered by
//! [`Planner::on_state`]; [`Step::ResolveTrunk`] (asked at most once, and only when a target
//! needs the trunk) by [`Planner::on_trunk`]; [`Step::Done`] carries the plan. Every path
//! ends: each state loaded counts towards the hop bound.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::b2bua::trunk::Trunk;
use crate::b2bua::{CalleeInfo, Diversion, Plan, TargetKind};
use crate::domain::model::User;
use crate::routing::{self, CallContext, GreetingStatus, RingTarget, Route, VoicemailInfo};
use crate::toll_fraud::{self, DenyList, OrgPolicy};

use crate::user_state::LoadedUser;

use super::group::{FallbackStep, GroupCall, GroupPending};
use super::targets::ring_targets;
use crate::cluster::node_reach::Holders;

/// What the policy needs next, or its answer.
#[derive(Debug)]
pub(super) enum Step {
    /// The user a number reaches (OneNumber, else local number), or `None`; answer with
    /// [`Planner::on_user`].
    FindUser(String),
    /// This user's routing state at `now`; answer with [`Planner::on_state`].
    LoadState(Box<User>),
    /// The trunk's address; answer with [`Planner::on_trunk`].
    ResolveTrunk,
    /// The group a number reaches ([`super::group::load`]), or `None`; answer with
    /// [`Planner::on_group`].
    FindGroup(String),
    /// These group members' routing states at `now`, each as for a direct call; answer with
    /// [`Planner::on_members`].
    LoadMembers(Vec<User>),
    /// The plan for the call.
    Done(Plan),
}

/// One call's way from the dialled number to its plan.
#[derive(Debug)]
pub(super) struct Planner {
    /// What `routing::decide` knows of the call; grows by one entry per forward followed.
    context: CallContext,
    /// The configured trunk, if any.
    trunk: Option<Trunk>,
    /// The trunk's address once resolved (`Some(None)`: it does not resolve); asked for only
    /// when a target needs it, so calls that never use the trunk never wait for DNS.
    trunk_address: Option<Option<SocketAddr>>,
    /// The latest forward to a colleague, for the B legs' Diversion headers.
    diversion: Option<Diversion>,
    /// Routing states loaded so far (the forward bound).
    states: u32,
    /// The question asked last.
    waiting: Waiting,
    /// The operator's toll-fraud deny-list.
    deny: DenyList,
    /// Which node holds a direct TCP binding, and where it takes requests
    /// ([`crate::cluster::node_reach`]); filled in by the driver when one turns up.
    holders: Holders,
}

/// The question a [`Planner`] waits on.
#[derive(Debug)]
enum Waiting {
    /// The dialled number's user.
    Callee,
    /// A user's state.
    State,
    /// The user a forward names.
    Colleague(Box<Forward>),
    /// The trunk's address, for this decision.
    Trunk(Box<Pending>),
    /// The group the dialled number reaches (no user has it).
    Group,
    /// The group a forward names (no user has its number).
    ForwardGroup(Box<Forward>),
    /// A group's members' states.
    Members(Box<GroupCall>),
    /// The user a group's fallback number reaches.
    GroupFallbackUser(Box<GroupPending>),
    /// That user's state.
    GroupFallbackState(Box<GroupPending>),
    /// Nothing: the plan was given.
    Done,
}

/// A forward being followed.
#[derive(Debug)]
struct Forward {
    /// The forwarding user's organisation (same organisation = colleague).
    org_id: crate::domain::model::OrgId,
    /// That organisation's toll-fraud policy.
    policy: OrgPolicy,
    /// The forwarding user, whose voicemail takes the call if the forward cannot be made.
    callee: CalleeInfo,
    /// What that voicemail says: the absence that forwarded.
    absent: VoicemailInfo,
    /// The number forwarded to.
    number: String,
    /// The diversion this forward adds.
    diversion: Diversion,
}

/// A decision waiting for the trunk's address.
#[derive(Debug)]
enum Pending {
    /// Ring these targets of this user.
    Ring {
        loaded: Box<LoadedUser>,
        callee: CalleeInfo,
        targets: Vec<RingTarget>,
        timeout: std::time::Duration,
        fallback: VoicemailInfo,
    },
    /// Forward outside our users.
    External(Box<Forward>),
    /// Ring a group.
    Group(Box<GroupPending>),
}

impl Planner {
    /// A planner for a call with `context` (dialled number, caller, the history its headers
    /// carry); its first step asks for the dialled number's user. `deny` is the operator's
    /// toll-fraud deny-list (`[toll_fraud] deny_prefixes`).
    pub(super) fn new(
        context: CallContext,
        trunk: Option<Trunk>,
        deny: DenyList,
    ) -> (Planner, Step) {
        let dialled = context.dialled.clone();
        let planner = Planner {
            context,
            trunk,
            trunk_address: None,
            diversion: None,
            states: 0,
            waiting: Waiting::Callee,
            deny,
            holders: Holders::default(),
        };
        (planner, Step::FindUser(dialled))
    }

    /// This node and the live nodes' addresses, for the driver to fill in
    /// ([`Holders::needs_nodes`]) before it hands over a state with a binding held elsewhere.
    pub(super) fn holders_mut(&mut self) -> &mut Holders {
        &mut self.holders
    }

    /// The trunk to resolve for [`Step::ResolveTrunk`].
    pub(super) fn trunk(&self) -> Option<&Trunk> {
        self.trunk.as_ref()
    }

    /// The answer to [`Step::FindUser`].
    pub(super) fn on_user(&mut self, user: Option<User>) -> Step {
        match std::mem::replace(&mut self.waiting, Waiting::Done) {
            Waiting::Callee => match user {
                Some(user) => self.load(user),
                None => {
                    // No user has it: perhaps a group does.
                    self.waiting = Waiting::Group;
                    Step::FindGroup(self.context.dialled.clone())
                }
            },
            Waiting::Colleague(forward) => match user {
                Some(next) if next.org_id == forward.org_id => {
                    info!(to = %forward.number, "forward to a colleague");
                    self.diversion = Some(forward.diversion);
                    if self.states > routing::MAX_FORWARD_HOPS {
                        return Step::Done(Plan::Reject {
                            status: 482,
                            reason: Some("Loop Detected".into()),
                        });
                    }
                    self.load(next)
                }
                // No user has it: a group of the same organisation is a colleague too.
                None => {
                    let number = forward.number.clone();
                    self.waiting = Waiting::ForwardGroup(forward);
                    Step::FindGroup(number)
                }
                // Another organisation's user: an external forward.
                Some(_) => self.external(forward),
            },
            Waiting::GroupFallbackUser(pending) => match user {
                Some(next) if next.org_id == pending.call.group.org_id => {
                    self.waiting = Waiting::GroupFallbackState(pending);
                    Step::LoadState(Box::new(next))
                }
                _ => {
                    let mut pending = pending;
                    let number = match &pending.call.ringing.fallback {
                        crate::store::GroupFallback::Number { number } => number.clone(),
                        crate::store::GroupFallback::Voicemail => String::new(),
                    };
                    let policy = OrgPolicy::for_org(&pending.call.org);
                    match toll_fraud::check_stored(&number, &policy, &self.deny) {
                        Ok(()) => pending.fallback = FallbackStep::External(number),
                        Err(error) => {
                            info!(to = %number, %error, "toll-fraud policy refused the group's fallback number");
                        }
                    }
                    self.conclude(Pending::Group(pending))
                }
            },
            other => self.unexpected(other),
        }
    }

    /// The answer to [`Step::LoadState`]: decides with the user's state at `now`.
    pub(super) fn on_state(&mut self, now: DateTime<Utc>, loaded: LoadedUser) -> Step {
        match std::mem::replace(&mut self.waiting, Waiting::Done) {
            Waiting::State => {}
            Waiting::GroupFallbackState(mut pending) => {
                // The group's fallback colleague rings as their own state says; absent, they
                // are not rung and the group's mailbox takes the call.
                if let Route::Ring { targets, .. } =
                    routing::decide(&loaded.state, now, &self.context)
                {
                    pending.fallback = FallbackStep::Colleague {
                        loaded: Box::new(loaded),
                        targets,
                    };
                }
                return self.conclude(Pending::Group(pending));
            }
            other => return self.unexpected(other),
        }
        self.states += 1;
        let callee = CalleeInfo {
            user_id: loaded.user.id.0,
            number: loaded.user.one_number.clone(),
            lang: loaded.user.profile.lang,
        };
        let route = routing::decide(&loaded.state, now, &self.context);
        info!(
            user_id = callee.user_id,
            route = route_name(&route),
            "routing decision"
        );
        match route {
            Route::Voicemail(info) => Step::Done(Plan::Voicemail { callee, info }),
            Route::Ring {
                targets,
                timeout,
                fallback,
            } => {
                let pending = Pending::Ring {
                    loaded: Box::new(loaded),
                    callee,
                    targets,
                    timeout,
                    fallback,
                };
                self.conclude(pending)
            }
            Route::Forward {
                number,
                reason,
                absence,
            } => {
                let absent = VoicemailInfo {
                    status: GreetingStatus::Absent {
                        reason: absence.reason,
                        back_at: absence.back_at,
                        free_text: absence.free_text.clone(),
                    },
                    allow_messages: loaded.state.voicemail.allow_messages,
                };
                self.context.history.push(loaded.user.one_number.clone());
                self.context.forwarded_hops += 1;
                let diversion = Diversion {
                    from: loaded.user.one_number.clone(),
                    reason,
                    counter: self.context.forwarded_hops,
                    user_id: Some(loaded.user.id.0),
                };
                let forward = Forward {
                    org_id: loaded.user.org_id,
                    policy: OrgPolicy::for_org(&loaded.org),
                    callee,
                    absent,
                    number: number.clone(),
                    diversion,
                };
                self.waiting = Waiting::Colleague(Box::new(forward));
                Step::FindUser(number)
            }
        }
    }

    /// The answer to [`Step::ResolveTrunk`]: the trunk's address, `None` when it does not
    /// resolve.
    pub(super) fn on_trunk(&mut self, address: Option<SocketAddr>) -> Step {
        match std::mem::replace(&mut self.waiting, Waiting::Done) {
            Waiting::Trunk(pending) => {
                self.trunk_address = Some(address);
                self.conclude(*pending)
            }
            other => self.unexpected(other),
        }
    }

    /// The answer to [`Step::FindGroup`].
    pub(super) fn on_group(&mut self, group: Option<GroupCall>) -> Step {
        match std::mem::replace(&mut self.waiting, Waiting::Done) {
            Waiting::Group => match group {
                Some(group) => self.members(group),
                None => {
                    info!(dialled = %self.context.dialled, "call to an unknown number");
                    Step::Done(Plan::Reject {
                        status: 404,
                        reason: None,
                    })
                }
            },
            Waiting::ForwardGroup(forward) => match group {
                Some(group) if group.group.org_id == forward.org_id => {
                    info!(to = %forward.number, "forward to a group");
                    self.diversion = Some(forward.diversion);
                    if self.states > routing::MAX_FORWARD_HOPS {
                        return Step::Done(Plan::Reject {
                            status: 482,
                            reason: Some("Loop Detected".into()),
                        });
                    }
                    self.members(group)
                }
                _ => self.external(forward),
            },
            other => self.unexpected(other),
        }
    }

    /// The answer to [`Step::LoadMembers`]: the members' states, in the order asked.
    pub(super) fn on_members(&mut self, now: DateTime<Utc>, loaded: Vec<LoadedUser>) -> Step {
        let call = match std::mem::replace(&mut self.waiting, Waiting::Done) {
            Waiting::Members(call) => call,
            other => return self.unexpected(other),
        };
        info!(group = %call.group.number, members = loaded.len(), "call to a group");
        let number = match &call.ringing.fallback {
            crate::store::GroupFallback::Number { number } => Some(number.clone()),
            crate::store::GroupFallback::Voicemail => None,
        };
        let pending = Box::new(GroupPending {
            call,
            loaded,
            context: self.context.clone(),
            now,
            fallback: FallbackStep::None,
            diversion: self.diversion.clone(),
        });
        match number {
            Some(number) => {
                self.waiting = Waiting::GroupFallbackUser(pending);
                Step::FindUser(number)
            }
            None => self.conclude(Pending::Group(pending)),
        }
    }

    /// A group reached: its members' states next (the group counts as one state towards the
    /// forward bound).
    fn members(&mut self, group: GroupCall) -> Step {
        self.states += 1;
        let users = group.members.iter().map(|m| m.user.clone()).collect();
        self.waiting = Waiting::Members(Box::new(group));
        Step::LoadMembers(users)
    }

    fn load(&mut self, user: User) -> Step {
        self.waiting = Waiting::State;
        Step::LoadState(Box::new(user))
    }

    /// A forward outside our users: the toll-fraud policy, then the trunk.
    fn external(&mut self, forward: Box<Forward>) -> Step {
        match toll_fraud::check_stored(&forward.number, &forward.policy, &self.deny) {
            Ok(()) => self.conclude(Pending::External(forward)),
            Err(error) => {
                info!(to = %forward.number, %error, "toll-fraud policy refused the forward");
                Step::Done(self.refused(*forward))
            }
        }
    }

    /// Turns a decision into the plan, first asking for the trunk when it needs one.
    fn conclude(&mut self, pending: Pending) -> Step {
        let needs_trunk = match &pending {
            Pending::Ring { targets, .. } => targets
                .iter()
                .any(|t| matches!(t, RingTarget::Mobile { .. })),
            Pending::External(_) => true,
            Pending::Group(group) => group.needs_trunk(),
        };
        if needs_trunk && self.trunk.is_some() && self.trunk_address.is_none() {
            self.waiting = Waiting::Trunk(Box::new(pending));
            return Step::ResolveTrunk;
        }
        let trunk = self.resolved_trunk();
        let plan = match pending {
            Pending::Ring {
                loaded,
                callee,
                targets,
                timeout,
                fallback,
            } => {
                let resolved = ring_targets(&loaded, &targets, trunk, &self.deny, &self.holders);
                if resolved.is_empty() {
                    Plan::Voicemail {
                        callee,
                        info: fallback,
                    }
                } else {
                    Plan::Ring {
                        callee,
                        targets: resolved,
                        timeout,
                        fallback,
                        diversion: self.diversion.clone(),
                    }
                }
            }
            Pending::External(forward) => {
                let target = trunk.and_then(|(trunk, at)| {
                    trunk.target(at, &forward.number, TargetKind::External)
                });
                match target {
                    Some(target) => Plan::Ring {
                        callee: forward.callee,
                        targets: vec![target],
                        timeout: routing::MAX_RING_TIMEOUT,
                        fallback: forward.absent,
                        diversion: Some(forward.diversion),
                    },
                    None => self.refused(*forward),
                }
            }
            Pending::Group(group) => {
                let plan = super::group::hunt_plan(*group, trunk, &self.deny, &self.holders);
                info!(
                    steps = plan.steps.len(),
                    ring_secs = super::group::total_ring(&plan).as_secs(),
                    "group call planned"
                );
                Plan::Hunt(Box::new(plan))
            }
        };
        Step::Done(plan)
    }

    /// The trunk with its address, when there is one and it resolved.
    fn resolved_trunk(&self) -> Option<(&Trunk, SocketAddr)> {
        let trunk = self.trunk.as_ref()?;
        let address = self.trunk_address.flatten()?;
        Some((trunk, address))
    }

    /// An external forward not made (refused by the organisation, or no trunk): the forwarding
    /// user's voicemail tells the caller about the absence.
    fn refused(&self, forward: Forward) -> Plan {
        info!(to = %forward.number, "external forward refused or no trunk: voicemail");
        Plan::Voicemail {
            callee: forward.callee,
            info: forward.absent,
        }
    }

    /// An answer to a question not asked: the driver's bug, not the caller's; the call is
    /// refused rather than routed on a guess.
    fn unexpected(&mut self, waiting: Waiting) -> Step {
        tracing::error!(?waiting, "routing policy fed out of order");
        self.waiting = Waiting::Done;
        Step::Done(Plan::Reject {
            status: 500,
            reason: None,
        })
    }
}

fn route_name(route: &Route) -> &'static str {
    match route {
        Route::Ring { .. } => "ring",
        Route::Forward { .. } => "forward",
        Route::Voicemail(_) => "voicemail",
    }
}

#[cfg(test)]
mod tests;
