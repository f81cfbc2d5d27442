//! A [`Call`] ringing a group ([`Plan::Hunt`](super::Plan::Hunt), see [`crate::b2bua::hunt`]):
//! steps one after another, each member's presence ringing while their step rings, the
//! answering member becoming the call's callee (presence, the `in` history row), and one
//! history row per member rung, naming the group and who answered.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::{Action, Call, CalleeInfo, LegId, PresenceChange, State};
use crate::b2bua::hunt::{HuntPlan, HuntStep};
use crate::b2bua::plan::Diversion;
use crate::domain::model::{CallData, CallDirection, UserId};

/// What a call ringing a group keeps between steps.
#[derive(Debug, Clone)]
pub(super) struct Hunt {
    group_number: String,
    steps: VecDeque<HuntStep>,
    mailbox: Option<CalleeInfo>,
    diversion: Option<Diversion>,
    /// The members whose devices ring now.
    ringing: Vec<CalleeInfo>,
    /// Every member rung so far, in order, once each.
    rung: Vec<CalleeInfo>,
    /// Which member each leg is for.
    leg_member: HashMap<LegId, CalleeInfo>,
    /// The member who answered.
    answered_by: Option<CalleeInfo>,
}

impl Call {
    /// Starts ringing a group: its first step (the plan has at least one; without any the
    /// mailbox answers at once).
    pub(super) fn start_hunt(&mut self, now: Instant, plan: HuntPlan) {
        if !self.a.inbound.invite.body.is_empty() {
            let body = self.a.inbound.invite.body.clone();
            self.leg_offer = Some(self.media_body(super::Side::Caller, &body));
        }
        // Who forwarded the call to the group sees it in their history too.
        self.forwarded_from = plan.diversion.as_ref().and_then(|d| {
            Some(CalleeInfo {
                user_id: d.user_id?,
                number: d.from.clone(),
                lang: plan.mailbox.as_ref().map(|m| m.lang).unwrap_or_default(),
            })
        });
        self.hunt = Some(Hunt {
            group_number: plan.group_number,
            steps: plan.steps.into(),
            mailbox: plan.mailbox,
            diversion: plan.diversion,
            ringing: Vec::new(),
            rung: Vec::new(),
            leg_member: HashMap::new(),
            answered_by: None,
        });
        self.state = State::Ringing {
            deadline: now,
            fallback: plan.fallback.clone(),
        };
        if !self.next_hunt_step(now) {
            self.after_ring(now, crate::routing::RingOutcome::NoAnswer, &plan.fallback);
        }
    }

    /// Moves a ringing group call to its next step that starts at least one leg; false when
    /// there is none (not a group call, or the steps are used up): the caller then goes to the
    /// fallback, with the group's mailbox as the callee.
    pub(super) fn next_hunt_step(&mut self, now: Instant) -> bool {
        let State::Ringing { fallback, .. } = &self.state else {
            return false;
        };
        let fallback = fallback.clone();
        let Some(mut hunt) = self.hunt.take() else {
            return false;
        };
        for member in std::mem::take(&mut hunt.ringing) {
            self.actions.push_back(Action::Presence {
                user_id: member.user_id,
                change: PresenceChange::RingingEnded,
            });
        }
        let mut started = false;
        while let Some(step) = hunt.steps.pop_front() {
            for member in step.members {
                let mut legs = 0;
                for target in member.targets {
                    let before = self.legs.len();
                    self.start_leg(target, hunt.diversion.as_ref());
                    if self.legs.len() > before {
                        legs += 1;
                        if let Some(user) = &member.user {
                            let id = LegId(u32::try_from(before).unwrap_or(u32::MAX));
                            hunt.leg_member.insert(id, user.clone());
                        }
                    }
                }
                if legs == 0 {
                    continue;
                }
                started = true;
                if let Some(user) = member.user {
                    self.actions.push_back(Action::Presence {
                        user_id: user.user_id,
                        change: PresenceChange::Ringing,
                    });
                    if !hunt.rung.iter().any(|m| m.user_id == user.user_id) {
                        hunt.rung.push(user.clone());
                    }
                    hunt.ringing.push(user);
                }
            }
            if started {
                tracing::debug!(call_id = %self.a.call_id, "group: next step rings");
                self.state = State::Ringing {
                    deadline: now + step.timeout,
                    fallback: fallback.clone(),
                };
                break;
            }
        }
        if !started {
            // Nobody (more) to ring: the group's mailbox takes the call.
            self.callee = hunt.mailbox.clone();
        }
        self.hunt = Some(hunt);
        started
    }

    /// A group call's leg answered: its member is the callee from now on (presence, history),
    /// and the others stop ringing.
    pub(super) fn hunt_answered(&mut self, winner: LegId) {
        let Some(hunt) = self.hunt.as_mut() else {
            return;
        };
        let member = hunt.leg_member.get(&winner).cloned();
        for other in std::mem::take(&mut hunt.ringing) {
            if member.as_ref().map(|m| m.user_id) != Some(other.user_id) {
                self.actions.push_back(Action::Presence {
                    user_id: other.user_id,
                    change: PresenceChange::RingingEnded,
                });
            }
        }
        hunt.answered_by = member.clone();
        // The fallback number outside our users answered: nobody of ours is on the call.
        self.callee = member;
    }

    /// A group call stops ringing unanswered: every member still ringing is told. True when
    /// the call is a group call (then the single-callee rule does not apply).
    pub(super) fn hunt_ringing_ended(&mut self) -> bool {
        let Some(hunt) = self.hunt.as_mut() else {
            return false;
        };
        if matches!(self.state, State::Ringing { .. }) {
            for member in std::mem::take(&mut hunt.ringing) {
                self.actions.push_back(Action::Presence {
                    user_id: member.user_id,
                    change: PresenceChange::RingingEnded,
                });
            }
        }
        true
    }

    /// A group call's history rows: the member who answered (`in`, route `group:<number>`),
    /// every other member rung (`missed`, with who answered or what became of the call), the
    /// mailbox's owner when the call went there without ringing them, the user who forwarded
    /// the call to the group, and the caller when one of ours. True when the call is a group
    /// call.
    pub(super) fn record_hunt(
        &mut self,
        started_at: chrono::DateTime<chrono::Utc>,
        answered_at: Option<chrono::DateTime<chrono::Utc>>,
        ended_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> bool {
        let Some(hunt) = self.hunt.as_ref() else {
            return false;
        };
        let group = format!("group:{}", hunt.group_number);
        let outcome = self.outcome.unwrap_or("no_answer");
        let row = |user_id: i64, direction: CallDirection, route: String| CallData {
            user_id: UserId(user_id),
            direction,
            other_number: self.caller.number.clone(),
            other_name: self.caller.name.clone(),
            started_at,
            answered_at,
            ended_at,
            route: Some(route),
        };
        let mut rows = Vec::new();
        let winner = hunt.answered_by.as_ref();
        for member in &hunt.rung {
            if winner.is_some_and(|w| w.user_id == member.user_id) {
                rows.push(row(member.user_id, CallDirection::In, group.clone()));
            } else {
                let what = match winner {
                    Some(w) => format!("{group};answered_by={}", w.number),
                    None if answered_at.is_some() => format!("{group};answered_by=fallback"),
                    None => format!("{group};{outcome}"),
                };
                rows.push(row(member.user_id, CallDirection::Missed, what));
            }
        }
        if outcome == "voicemail" {
            if let Some(mailbox) = &hunt.mailbox {
                if !hunt.rung.iter().any(|m| m.user_id == mailbox.user_id) {
                    rows.push(row(
                        mailbox.user_id,
                        CallDirection::Missed,
                        format!("{group};voicemail"),
                    ));
                }
            }
        }
        if let Some(by) = &self.forwarded_from {
            rows.push(row(
                by.user_id,
                CallDirection::Missed,
                format!("forward:{}", hunt.group_number),
            ));
        }
        if let Some(user_id) = self.caller.user_id {
            let mut out = row(user_id, CallDirection::Out, outcome.to_owned());
            out.other_number = hunt.group_number.clone();
            out.other_name = None;
            rows.push(out);
        }
        for data in rows {
            self.actions.push_back(Action::Record(data));
        }
        true
    }

    /// Whether this call rings a group (a member's 6xx is then that member's answer only).
    pub(super) fn is_hunt(&self) -> bool {
        self.hunt.is_some()
    }
}
