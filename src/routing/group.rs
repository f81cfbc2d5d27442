//! Who a call to a group number rings (the receptionist group, a support group): the members
//! who can take it, in the group's order, as ring steps for the B2BUA — or the group's fallback
//! when nobody can.
//!
//! In the call flow this sits beside [`decide`]: the B2BUA finds that the dialled number is a
//! group's, loads each member's [`UserState`] (the same loader as a direct call), and asks
//! [`ring_steps`]. Each member is judged by [`decide`] itself, as if the call were made to
//! them, so a group call and a direct call agree: a member shown absent is skipped unless the
//! absence keeps the phone open; a member on a call without call waiting is skipped; a member
//! with nothing registered is skipped. A member's own forward is not followed (the group asked
//! for the member, not for wherever they sent their calls).
//!
//! Strategies: [`RingStrategy::All`] rings every eligible member at once (one step);
//! [`RingStrategy::InOrder`] rings them one after another, each for the per-member timeout. When
//! the steps end unanswered, or there are none, the group's fallback (its voicemail, or a
//! number) takes the call.
//!
//! The call driver's side (the group's store rows, resolving targets, the fallback number and
//! mailbox) is `runtime::calls::group`; the B2BUA rings the steps (`b2bua::hunt`).
//!
//! [`decide`]: super::decide

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::decide::{decide, MAX_RING_TARGETS, MAX_RING_TIMEOUT, MIN_RING_TIMEOUT};
use super::route::{GreetingStatus, RingTarget, Route};
use super::state::{CallContext, UserState};

/// How a group rings its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingStrategy {
    /// Every eligible member at once, for this long.
    All {
        /// How long the group rings before its fallback.
        timeout: Duration,
    },
    /// Eligible members one at a time in the group's order, each for `per_member`.
    InOrder {
        /// How long each member rings.
        per_member: Duration,
    },
}

/// A member of the group: their place in the group's order and their routing state.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The group's order (lower rings first); ties go to the lower user id.
    pub position: u32,
    /// The member's state, loaded as for a direct call.
    pub state: &'a UserState,
}

/// Why a member is not rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// An absence that takes calls away is in force.
    Absent,
    /// On a call, without call waiting.
    OnThePhone,
    /// No registered device and no mobile.
    NothingToRing,
}

/// One step of ringing: these members' targets in parallel, for `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The members rung (user ids), for history and logging.
    pub members: Vec<i64>,
    /// Their devices and mobiles.
    pub targets: Vec<RingTarget>,
    /// How long this step rings.
    pub timeout: Duration,
}

/// What a call to a group does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRing {
    /// The steps, in order; empty when no member can take the call (straight to the fallback).
    pub steps: Vec<Step>,
    /// The members left out, and why.
    pub skipped: Vec<(i64, Skipped)>,
}

/// The ring steps of a call to a group with `members`, at `now`.
pub fn ring_steps(
    members: &[Member<'_>],
    strategy: RingStrategy,
    now: DateTime<Utc>,
    call: &CallContext,
) -> GroupRing {
    let mut ordered: Vec<&Member<'_>> = members.iter().collect();
    ordered.sort_by_key(|m| (m.position, m.state.user.id));
    ordered.dedup_by_key(|m| m.state.user.id);
    let mut eligible: Vec<(i64, Vec<RingTarget>)> = Vec::new();
    let mut skipped = Vec::new();
    for m in ordered {
        let id = m.state.user.id;
        match decide(m.state, now, call) {
            Route::Ring { targets, .. } => eligible.push((id, targets)),
            Route::Forward { .. } => skipped.push((id, Skipped::Absent)),
            Route::Voicemail(info) => skipped.push((
                id,
                match info.status {
                    GreetingStatus::OnThePhone => Skipped::OnThePhone,
                    // A keep-open absence with nothing to ring, or simply nothing registered.
                    GreetingStatus::NotAvailable => Skipped::NothingToRing,
                    GreetingStatus::Absent { .. } if open_without_targets(m.state, now) => {
                        Skipped::NothingToRing
                    }
                    GreetingStatus::Absent { .. } => Skipped::Absent,
                },
            )),
        }
    }
    let clamp = |d: Duration| d.clamp(MIN_RING_TIMEOUT, MAX_RING_TIMEOUT);
    let steps = match strategy {
        RingStrategy::All { timeout } if !eligible.is_empty() => {
            let mut step = Step {
                members: Vec::with_capacity(eligible.len()),
                targets: Vec::new(),
                timeout: clamp(timeout),
            };
            for (id, targets) in eligible {
                step.members.push(id);
                for t in targets {
                    if step.targets.len() < MAX_RING_TARGETS && !step.targets.contains(&t) {
                        step.targets.push(t);
                    }
                }
            }
            vec![step]
        }
        RingStrategy::All { .. } => Vec::new(),
        RingStrategy::InOrder { per_member } => eligible
            .into_iter()
            .map(|(id, targets)| Step {
                members: vec![id],
                targets,
                timeout: clamp(per_member),
            })
            .collect(),
    };
    GroupRing { steps, skipped }
}

/// Whether the member keeps the phone open (shown absent, but reachable) and only has nothing
/// to ring.
fn open_without_targets(state: &UserState, now: DateTime<Utc>) -> bool {
    super::presence(state, now)
        .absence
        .is_some_and(|a| a.keep_phone_open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Origin, Reason};
    use crate::routing::state::{
        Absence, Destination, Device, DeviceKind, User, VoicemailSettings, WorkingHours,
    };
    use chrono::TimeZone;
    use chrono_tz::Europe::Copenhagen;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 12, 10, 0, 0).unwrap()
    }

    fn member_state(id: i64) -> UserState {
        UserState {
            user: User {
                id,
                name: format!("Member {id}"),
                timezone: Copenhagen,
                devices: vec![Device {
                    contact: format!("sip:{id}@10.0.0.{id}:5060"),
                    kind: DeviceKind::Desk,
                }],
                mobile: None,
                no_answer_timeout: Duration::from_secs(20),
                allow_second_call: false,
                working_hours: WorkingHours::default(),
            },
            absences: vec![],
            schedules: vec![],
            calendar: vec![],
            active_calls: 0,
            voicemail: VoicemailSettings::default(),
        }
    }

    fn away(destination: Destination) -> Absence {
        Absence {
            id: 1,
            reason: Reason::Lunch,
            starts_at: now() - chrono::Duration::minutes(10),
            ends_at: Some(now() + chrono::Duration::minutes(20)),
            destination,
            free_text: None,
            origin: Origin::Web,
            set_at: now() - chrono::Duration::minutes(10),
        }
    }

    fn call() -> CallContext {
        CallContext {
            dialled: "4570100000".into(),
            ..CallContext::default()
        }
    }

    fn device(id: i64) -> RingTarget {
        RingTarget::Device {
            contact: format!("sip:{id}@10.0.0.{id}:5060"),
            kind: DeviceKind::Desk,
        }
    }

    #[test]
    fn all_at_once_rings_every_available_member_in_one_step() {
        let (a, b) = (member_state(1), member_state(2));
        let members = [
            Member {
                position: 1,
                state: &b,
            },
            Member {
                position: 0,
                state: &a,
            },
        ];
        let ring = ring_steps(
            &members,
            RingStrategy::All {
                timeout: Duration::from_secs(30),
            },
            now(),
            &call(),
        );
        assert_eq!(
            ring.steps,
            vec![Step {
                members: vec![1, 2],
                targets: vec![device(1), device(2)],
                timeout: Duration::from_secs(30),
            }]
        );
        assert!(ring.skipped.is_empty());
    }

    #[test]
    fn in_order_rings_one_member_per_step_in_the_groups_order() {
        let (a, b, c) = (member_state(1), member_state(2), member_state(3));
        let members = [
            Member {
                position: 2,
                state: &a,
            },
            Member {
                position: 0,
                state: &c,
            },
            Member {
                position: 1,
                state: &b,
            },
        ];
        let ring = ring_steps(
            &members,
            RingStrategy::InOrder {
                per_member: Duration::from_secs(15),
            },
            now(),
            &call(),
        );
        let order: Vec<_> = ring.steps.iter().map(|s| s.members.clone()).collect();
        assert_eq!(order, vec![vec![3], vec![2], vec![1]]);
        assert!(ring
            .steps
            .iter()
            .all(|s| s.timeout == Duration::from_secs(15)));
    }

    #[test]
    fn absent_and_busy_members_are_skipped_keep_open_ones_ring() {
        let mut lunch = member_state(1);
        lunch.absences = vec![away(Destination::Voicemail)];
        let mut forwarded = member_state(2);
        forwarded.absences = vec![away(Destination::Number("4533445566".into()))];
        let mut open = member_state(3);
        open.absences = vec![away(Destination::Open)];
        let mut on_call = member_state(4);
        on_call.active_calls = 1;
        let mut waiting = member_state(5);
        waiting.active_calls = 1;
        waiting.user.allow_second_call = true;
        let mut unregistered = member_state(6);
        unregistered.user.devices.clear();
        let states = [lunch, forwarded, open, on_call, waiting, unregistered];
        let members: Vec<Member<'_>> = states
            .iter()
            .map(|s| Member {
                position: 0,
                state: s,
            })
            .collect();
        let ring = ring_steps(
            &members,
            RingStrategy::All {
                timeout: Duration::from_secs(30),
            },
            now(),
            &call(),
        );
        assert_eq!(ring.steps.len(), 1);
        assert_eq!(ring.steps[0].members, vec![3, 5]);
        assert_eq!(
            ring.skipped,
            vec![
                (1, Skipped::Absent),
                (2, Skipped::Absent),
                (4, Skipped::OnThePhone),
                (6, Skipped::NothingToRing),
            ]
        );
    }

    #[test]
    fn nobody_available_goes_straight_to_the_fallback() {
        let mut lunch = member_state(1);
        lunch.absences = vec![away(Destination::Voicemail)];
        let members = [Member {
            position: 0,
            state: &lunch,
        }];
        for strategy in [
            RingStrategy::All {
                timeout: Duration::from_secs(30),
            },
            RingStrategy::InOrder {
                per_member: Duration::from_secs(10),
            },
        ] {
            let ring = ring_steps(&members, strategy, now(), &call());
            assert!(ring.steps.is_empty(), "{strategy:?}");
        }
        assert!(ring_steps(
            &[],
            RingStrategy::All {
                timeout: Duration::from_secs(30)
            },
            now(),
            &call()
        )
        .steps
        .is_empty());
    }

    #[test]
    fn timeouts_are_clamped_and_duplicates_rung_once() {
        let a = member_state(1);
        let members = [
            Member {
                position: 0,
                state: &a,
            },
            Member {
                position: 1,
                state: &a,
            },
        ];
        let ring = ring_steps(
            &members,
            RingStrategy::InOrder {
                per_member: Duration::from_secs(1),
            },
            now(),
            &call(),
        );
        assert_eq!(ring.steps.len(), 1);
        assert_eq!(ring.steps[0].timeout, MIN_RING_TIMEOUT);
    }
}
