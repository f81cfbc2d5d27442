//! A call to a group ([`Plan::Hunt`]): steps one after another, a failed step moving on at
//! once, a member's decline not ending the others' ringing, the group's mailbox after the last
//! step, and the history rows naming the group.

use super::*;
use crate::b2bua::hunt::{HuntMember, HuntPlan, HuntStep};
use crate::domain::model::CallData;

fn member(user_id: i64, port: u16) -> HuntMember {
    HuntMember {
        user: Some(CalleeInfo {
            user_id,
            number: format!("45701000{user_id:02}"),
            lang: Lang::Da,
        }),
        targets: vec![target(port, TargetKind::Device)],
    }
}

fn plan(steps: Vec<Vec<HuntMember>>, mailbox: Option<i64>) -> Plan {
    Plan::Hunt(Box::new(HuntPlan {
        group_number: "4570100000".into(),
        steps: steps
            .into_iter()
            .map(|members| HuntStep {
                members,
                timeout: Duration::from_secs(10),
            })
            .collect(),
        mailbox: mailbox.map(|user_id| CalleeInfo {
            user_id,
            number: format!("45701000{user_id:02}"),
            lang: Lang::Da,
        }),
        fallback: fallback(),
        diversion: None,
    }))
}

fn presence(actions: &[Action]) -> Vec<(i64, PresenceChange)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Presence { user_id, change } => Some((*user_id, *change)),
            _ => None,
        })
        .collect()
}

fn records(actions: &[Action]) -> Vec<&CallData> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn invited(actions: &[Action]) -> Vec<LegId> {
    sent(actions, Method::Invite)
        .into_iter()
        .filter_map(|(side, _)| match side {
            Side::Callee(id) => Some(id),
            Side::Caller => None,
        })
        .collect()
}

#[test]
fn in_order_steps_ring_one_after_another_and_the_answer_wins() {
    let mut h = Harness::new();
    let a = h.event(Event::Routed(plan(
        vec![vec![member(7, 20)], vec![member(8, 21)]],
        Some(7),
    )));
    assert_eq!(invited(&a), vec![LegId(0)]);
    assert_eq!(presence(&a), vec![(7, PresenceChange::Ringing)]);
    // Nothing happens before the step's time is up.
    assert!(h.advance(Duration::from_secs(9)).is_empty());
    let a = h.advance(Duration::from_secs(1));
    assert_eq!(cancels(&a), vec![0]);
    assert_eq!(invited(&a), vec![LegId(1)]);
    assert_eq!(
        presence(&a),
        vec![
            (7, PresenceChange::RingingEnded),
            (8, PresenceChange::Ringing)
        ]
    );
    assert!(voicemail(&a).is_none());
    h.device(0, 487);
    let a = h.device(1, 200);
    assert_eq!(caller_codes(&a), vec![200]);
    assert_eq!(presence(&a), vec![(8, PresenceChange::Started)]);
    // The caller hangs up: rows for both members, the answer naming who took it.
    let bye = bye_from_caller(&h);
    let a = h.event(Event::Request {
        side: Side::Caller,
        transaction: TransactionId(99),
        request: bye,
    });
    let rows: Vec<_> = records(&a)
        .into_iter()
        .map(|d| {
            (
                d.user_id.0,
                d.direction,
                d.route.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                7,
                CallDirection::Missed,
                "group:4570100000;answered_by=4570100008".to_owned()
            ),
            (8, CallDirection::In, "group:4570100000".to_owned()),
        ]
    );
}

#[test]
fn a_step_whose_legs_all_fail_moves_on_at_once() {
    let mut h = Harness::new();
    h.event(Event::Routed(plan(
        vec![vec![member(7, 20)], vec![member(8, 21)]],
        Some(7),
    )));
    let a = h.device(0, 486);
    assert_eq!(invited(&a), vec![LegId(1)]);
    assert!(voicemail(&a).is_none());
}

#[test]
fn a_members_decline_does_not_stop_the_others_ringing() {
    let mut h = Harness::new();
    h.event(Event::Routed(plan(
        vec![vec![member(7, 20), member(8, 21)]],
        Some(7),
    )));
    let a = h.device(0, 603);
    assert!(cancels(&a).is_empty(), "{a:?}");
    assert!(voicemail(&a).is_none());
    assert_eq!(caller_codes(&h.device(1, 200)), vec![200]);
}

#[test]
fn after_the_last_step_the_groups_mailbox_answers_and_its_owner_sees_the_call() {
    let mut h = Harness::new();
    h.event(Event::Routed(plan(vec![vec![member(7, 20)]], Some(9))));
    let a = h.advance(Duration::from_secs(10));
    assert_eq!(cancels(&a), vec![0]);
    let vm = voicemail(&a).expect("hand-off");
    assert_eq!(vm.user_id, 9);
    assert_eq!(vm.info.status, GreetingStatus::NotAvailable);
    let rows: Vec<_> = records(&a)
        .into_iter()
        .map(|d| {
            (
                d.user_id.0,
                d.direction,
                d.route.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                7,
                CallDirection::Missed,
                "group:4570100000;voicemail".to_owned()
            ),
            (
                9,
                CallDirection::Missed,
                "group:4570100000;voicemail".to_owned()
            ),
        ]
    );
}

#[test]
fn nobody_to_ring_and_no_mailbox_answers_480() {
    let mut h = Harness::new();
    let a = h.event(Event::Routed(plan(vec![], None)));
    assert!(invited(&a).is_empty());
    assert_eq!(caller_codes(&a), vec![480]);
    // With a mailbox, it answers at once.
    let mut h = Harness::new();
    let a = h.event(Event::Routed(plan(vec![], Some(9))));
    assert_eq!(voicemail(&a).map(|v| v.user_id), Some(9));
}
