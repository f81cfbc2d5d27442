//! The route → plan policy without a store: each test plays the driver, answering the
//! planner's [`Step`]s from a table of users, and checks the plan.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{NaiveTime, TimeZone};
use chrono_tz::Europe::Copenhagen;

use super::*;
use crate::domain::model::{
    Binding, OrgId, Organisation, Profile, Registration, RegistrationId, UserId,
};
use crate::domain::{Lang, Origin, Reason, Role};
use crate::routing::{
    Absence, Destination, Device, DeviceKind, DiversionReason, UserState, VoicemailSettings,
};
use crate::sip::transaction::TransportKind;

/// Monday 2026-01-12 10:00 UTC (11:00 in Copenhagen, inside working hours).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 12, 10, 0, 0).unwrap()
}

fn trunk_address() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

/// A user of organisation `org` with OneNumber `number`, one desk phone registered from
/// 10.0.0.<id>:5060 over `transport`, and optionally a mobile and an absence forwarding to
/// `forward_to`.
struct Fixture {
    id: i64,
    org: i64,
    number: &'static str,
    mobile: Option<&'static str>,
    forward_to: Option<&'static str>,
    registered: bool,
    transport: &'static str,
    allow_external: bool,
}

impl Fixture {
    fn new(id: i64, org: i64, number: &'static str) -> Self {
        Fixture {
            id,
            org,
            number,
            mobile: None,
            forward_to: None,
            registered: true,
            transport: "udp",
            allow_external: false,
        }
    }

    fn contact(&self) -> String {
        format!("sip:u{}@10.0.0.{}:5060", self.id, self.id)
    }

    fn user(&self) -> User {
        User {
            id: UserId(self.id),
            org_id: OrgId(self.org),
            one_number: self.number.to_owned(),
            local_number: format!("100{}", self.id),
            role: Role::User,
            profile: Profile::new(format!("User {}", self.id), Lang::Da),
            pin_hash: String::new(),
            pin_must_change: false,
            failed_pin_attempts: 0,
            locked_until: None,
            created_at: now(),
        }
    }

    fn loaded(&self) -> LoadedUser {
        let time = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        let absences = self
            .forward_to
            .map(|to| Absence {
                id: self.id,
                reason: Reason::Meeting,
                starts_at: now() - chrono::Duration::hours(1),
                ends_at: Some(now() + chrono::Duration::hours(1)),
                destination: Destination::Number(to.to_owned()),
                free_text: None,
                origin: Origin::Web,
                set_at: now() - chrono::Duration::hours(1),
            })
            .into_iter()
            .collect();
        let state = UserState {
            user: crate::routing::User {
                id: self.id,
                name: format!("User {}", self.id),
                timezone: Copenhagen,
                devices: if self.registered {
                    vec![Device {
                        contact: self.contact(),
                        kind: DeviceKind::Desk,
                    }]
                } else {
                    vec![]
                },
                mobile: self.mobile.map(str::to_owned),
                no_answer_timeout: Duration::from_secs(20),
                allow_second_call: false,
                working_hours: crate::routing::WorkingHours::weekdays(time(8), time(16)),
            },
            absences,
            schedules: vec![],
            calendar: vec![],
            active_calls: 0,
            voicemail: VoicemailSettings::default(),
        };
        let registrations = if self.registered {
            vec![Registration {
                id: RegistrationId(self.id),
                binding: Binding {
                    user_id: UserId(self.id),
                    device_id: None,
                    contact_uri: self.contact(),
                    expires_at: now() + chrono::Duration::hours(1),
                    call_id: "reg".into(),
                    cseq: 1,
                    q_millis: 1000,
                    received_addr: format!("10.0.0.{}:5060", self.id),
                    transport: self.transport.to_owned(),
                    instance_id: None,
                    reg_id: None,
                    path: Vec::new(),
                    node_id: None,
                },
                updated_at: now(),
            }]
        } else {
            vec![]
        };
        LoadedUser {
            user: self.user(),
            org: Organisation {
                id: OrgId(self.org),
                customer_code: "100".into(),
                name: format!("Org {}", self.org),
                timezone: Copenhagen,
                allow_external_forwarding: self.allow_external,
                receptionist_group_number: None,
                created_at: now(),
                toll_fraud_allow_list: Vec::new(),
            },
            state,
            registrations,
            absences: vec![],
        }
    }
}

/// The driver's side in memory: users by number, and what the trunk resolves to.
struct Directory {
    users: HashMap<&'static str, Fixture>,
    /// Groups by number.
    groups: HashMap<&'static str, GroupFixture>,
    trunk: Option<SocketAddr>,
    /// The steps asked, in order, for checking what was fetched.
    asked: Vec<String>,
    deny: DenyList,
}

impl Directory {
    fn new(users: Vec<Fixture>) -> Self {
        Directory {
            users: users.into_iter().map(|u| (u.number, u)).collect(),
            groups: HashMap::new(),
            trunk: Some(trunk_address()),
            asked: Vec::new(),
            deny: DenyList::default(),
        }
    }

    /// Runs the planner to its plan, answering each step (bounded: a planner that never ends
    /// fails the test).
    fn plan(&mut self, dialled: &str, trunk: &str) -> Plan {
        let context = CallContext {
            caller: Some("+4570101010".into()),
            is_internal: false,
            dialled: dialled.to_owned(),
            history: vec![],
            forwarded_hops: 0,
        };
        let (mut planner, mut step) = Planner::new(context, Trunk::parse(trunk), self.deny.clone());
        for _ in 0..50 {
            step = match step {
                Step::FindUser(number) => {
                    self.asked.push(format!("user {number}"));
                    let user = self.users.get(number.as_str()).map(Fixture::user);
                    planner.on_user(user)
                }
                Step::LoadState(user) => {
                    self.asked.push(format!("state {}", user.one_number));
                    let loaded = self.users[user.one_number.as_str()].loaded();
                    planner.on_state(now(), loaded)
                }
                Step::ResolveTrunk => {
                    self.asked.push("trunk".into());
                    planner.on_trunk(self.trunk)
                }
                Step::FindGroup(number) => {
                    self.asked.push(format!("group {number}"));
                    let group = self
                        .groups
                        .get(number.as_str())
                        .map(|g| g.call(&self.users));
                    planner.on_group(group)
                }
                Step::LoadMembers(users) => {
                    let numbers: Vec<_> = users.iter().map(|u| u.one_number.clone()).collect();
                    self.asked.push(format!("members {}", numbers.join(",")));
                    let loaded = users
                        .iter()
                        .map(|u| self.users[u.one_number.as_str()].loaded())
                        .collect();
                    planner.on_members(now(), loaded)
                }
                Step::Done(plan) => return plan,
            };
        }
        panic!("the planner did not finish");
    }
}

fn targets(plan: &Plan) -> Vec<(String, TargetKind)> {
    match plan {
        Plan::Ring { targets, .. } | Plan::Dial { targets, .. } => {
            targets.iter().map(|t| (t.uri.clone(), t.kind)).collect()
        }
        _ => vec![],
    }
}

#[test]
fn an_unknown_number_is_refused_404() {
    let mut directory = Directory::new(vec![]);
    let plan = directory.plan("4570999999", "");
    assert_eq!(
        plan,
        Plan::Reject {
            status: 404,
            reason: None
        }
    );
    // No user and no group has it.
    assert_eq!(directory.asked, ["user 4570999999", "group 4570999999"]);
}

#[test]
fn a_present_user_rings_their_device_where_it_registered_from() {
    let mut hans = Fixture::new(7, 1, "4570000007");
    hans.transport = "TCP";
    let mut directory = Directory::new(vec![hans]);
    let plan = directory.plan("4570000007", "sip:127.0.0.1:5070");
    let Plan::Ring {
        callee,
        targets,
        timeout,
        diversion,
        ..
    } = plan
    else {
        panic!("expected ring, got {plan:?}");
    };
    assert_eq!(callee.user_id, 7);
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].uri, "sip:u7@10.0.0.7:5060");
    assert_eq!(targets[0].destination, "10.0.0.7:5060".parse().unwrap());
    assert_eq!(targets[0].transport, TransportKind::Tcp);
    assert_eq!(timeout, Duration::from_secs(20));
    assert_eq!(diversion, None);
    // No mobile: the trunk is never resolved.
    assert_eq!(directory.asked, ["user 4570000007", "state 4570000007"]);
}

#[test]
fn the_mobile_rings_through_the_trunk_only_when_there_is_one() {
    let mut hans = Fixture::new(7, 1, "4570000007");
    hans.mobile = Some("+45 20 30 40 50");
    hans.allow_external = true;
    let mut directory = Directory::new(vec![hans]);
    let plan = directory.plan("4570000007", "sip:127.0.0.1:5070");
    assert_eq!(
        targets(&plan),
        [
            ("sip:u7@10.0.0.7:5060".to_owned(), TargetKind::Device),
            (
                "sip:+4520304050@127.0.0.1:5070".to_owned(),
                TargetKind::Mobile
            ),
        ]
    );
    assert_eq!(
        directory.asked,
        ["user 4570000007", "state 4570000007", "trunk"]
    );

    // Without a trunk: the desk alone, and nothing resolved.
    let mut directory = Directory::new(vec![{
        let mut hans = Fixture::new(7, 1, "4570000007");
        hans.mobile = Some("+4520304050");
        hans.allow_external = true;
        hans
    }]);
    let plan = directory.plan("4570000007", "");
    assert_eq!(
        targets(&plan),
        [("sip:u7@10.0.0.7:5060".to_owned(), TargetKind::Device)]
    );
    assert!(!directory.asked.contains(&"trunk".to_owned()));
}

/// Issue #19 finding 1: parallel ringing dialled the mobile although the organisation forbids
/// external calls. The toll-fraud policy leaves a refused mobile out; the desk still rings.
#[test]
fn a_mobile_the_toll_fraud_policy_refuses_is_not_rung() {
    let desk_only = [("sip:u7@10.0.0.7:5060".to_owned(), TargetKind::Device)];
    // (organisation allows external calls, mobile, configured deny-list)
    let cases: [(bool, &'static str, Option<&str>); 4] = [
        (false, "+4520304050", None),
        (true, "88213000000", None),
        (true, "+45 90 12 34 56", None),
        (true, "+4520304050", Some("+4520")),
    ];
    for (allow, mobile, deny) in cases {
        let mut hans = Fixture::new(7, 1, "4570000007");
        hans.mobile = Some(mobile);
        hans.allow_external = allow;
        let mut directory = Directory::new(vec![hans]);
        if let Some(prefix) = deny {
            directory.deny = DenyList::new([prefix.parse().unwrap()]);
        }
        let plan = directory.plan("4570000007", "sip:127.0.0.1:5070");
        assert_eq!(targets(&plan), desk_only, "{mobile} allow={allow}");
    }
}

/// The deny-list holds for forwards where the organisation allows external ones.
#[test]
fn a_forward_to_a_denied_range_goes_to_voicemail() {
    for (to, deny, rung) in [
        ("+88213000000", None, false),
        ("+4590123456", None, false),
        ("+4533445566", Some("+4533"), false),
        ("+88213000000", Some("+4533"), true),
    ] {
        let mut hans = Fixture::new(7, 1, "4570000007");
        hans.forward_to = Some(to);
        hans.allow_external = true;
        let mut directory = Directory::new(vec![hans]);
        if let Some(prefix) = deny {
            directory.deny = DenyList::new([prefix.parse().unwrap()]);
        }
        let plan = directory.plan("4570000007", "sip:127.0.0.1:5070");
        if rung {
            assert_eq!(
                targets(&plan),
                [(format!("sip:{to}@127.0.0.1:5070"), TargetKind::External)],
                "{to}"
            );
        } else {
            assert!(
                matches!(plan, Plan::Voicemail { ref callee, .. } if callee.user_id == 7),
                "{to}: {plan:?}"
            );
        }
    }
}

#[test]
fn nothing_reachable_goes_to_the_fallback_voicemail() {
    // Only a mobile, and the trunk does not resolve.
    let mut hans = Fixture::new(7, 1, "4570000007");
    hans.registered = false;
    hans.mobile = Some("+4520304050");
    let mut directory = Directory::new(vec![hans]);
    directory.trunk = None;
    let plan = directory.plan("4570000007", "sip:trunk.invalid");
    let Plan::Voicemail { callee, info } = plan else {
        panic!("expected voicemail, got {plan:?}");
    };
    assert_eq!(callee.user_id, 7);
    assert_eq!(info.status, GreetingStatus::NotAvailable);
}

#[test]
fn a_forward_to_a_colleague_rings_the_colleague_with_a_diversion() {
    let mut hans = Fixture::new(7, 1, "4570000007");
    hans.forward_to = Some("4570000008");
    let grete = Fixture::new(8, 1, "4570000008");
    let mut directory = Directory::new(vec![hans, grete]);
    let plan = directory.plan("4570000007", "");
    let Plan::Ring {
        callee,
        targets,
        diversion,
        ..
    } = plan
    else {
        panic!("expected ring, got {plan:?}");
    };
    assert_eq!(callee.user_id, 8);
    assert_eq!(targets[0].uri, "sip:u8@10.0.0.8:5060");
    assert_eq!(
        diversion,
        Some(Diversion {
            from: "4570000007".into(),
            reason: DiversionReason::Unconditional,
            counter: 1,
            user_id: Some(7),
        })
    );
    assert_eq!(
        directory.asked,
        [
            "user 4570000007",
            "state 4570000007",
            "user 4570000008",
            "state 4570000008"
        ]
    );
}

/// The toll-fraud guard, one row per case: (forwarding org allows external forwards, trunk
/// configured, trunk resolves, the target is another organisation's user) → rung through the
/// trunk, else the forwarding user's voicemail with the absence.
#[test]
fn external_forwards_pass_the_toll_fraud_guard_or_go_to_voicemail() {
    let cases = [
        (false, true, true, false, false),
        (true, false, true, false, false),
        (true, true, false, false, false),
        (true, true, true, false, true),
        // Another organisation's user counts as external.
        (false, true, true, true, false),
        (true, true, true, true, true),
    ];
    for (allow, configured, resolves, other_org_user, rung) in cases {
        let mut hans = Fixture::new(7, 1, "4570000007");
        hans.forward_to = Some("+4533445566");
        hans.allow_external = allow;
        let mut users = vec![hans];
        if other_org_user {
            users.push(Fixture::new(9, 2, "+4533445566"));
        }
        let mut directory = Directory::new(users);
        if !resolves {
            directory.trunk = None;
        }
        let trunk = if configured { "sip:127.0.0.1:5070" } else { "" };
        let plan = directory.plan("4570000007", trunk);
        let case = (allow, configured, resolves, other_org_user);
        if rung {
            let Plan::Ring {
                callee,
                targets,
                timeout,
                fallback,
                diversion,
            } = &plan
            else {
                panic!("{case:?}: expected ring, got {plan:?}");
            };
            assert_eq!(callee.user_id, 7, "{case:?}");
            assert_eq!(targets.len(), 1, "{case:?}");
            assert_eq!(targets[0].uri, "sip:+4533445566@127.0.0.1:5070", "{case:?}");
            assert_eq!(targets[0].kind, TargetKind::External, "{case:?}");
            assert_eq!(*timeout, routing::MAX_RING_TIMEOUT, "{case:?}");
            assert!(
                matches!(fallback.status, GreetingStatus::Absent { .. }),
                "{case:?}"
            );
            assert_eq!(diversion.as_ref().map(|d| d.counter), Some(1), "{case:?}");
        } else {
            let Plan::Voicemail { callee, info } = &plan else {
                panic!("{case:?}: expected voicemail, got {plan:?}");
            };
            assert_eq!(callee.user_id, 7, "{case:?}");
            assert!(
                matches!(
                    info.status,
                    GreetingStatus::Absent {
                        reason: Reason::Meeting,
                        ..
                    }
                ),
                "{case:?}"
            );
            // A refused forward never looks at the trunk.
            if !allow {
                assert!(!directory.asked.contains(&"trunk".to_owned()), "{case:?}");
            }
        }
    }
}

#[test]
fn a_chain_of_forwards_ends_within_the_hop_bound() {
    // Ten colleagues, each forwarding to the next.
    const NUMBERS: [&str; 10] = [
        "4570000010",
        "4570000011",
        "4570000012",
        "4570000013",
        "4570000014",
        "4570000015",
        "4570000016",
        "4570000017",
        "4570000018",
        "4570000019",
    ];
    let users = NUMBERS
        .iter()
        .enumerate()
        .map(|(i, number)| {
            let mut user = Fixture::new(10 + i as i64, 1, number);
            user.forward_to = NUMBERS.get(i + 1).copied();
            user
        })
        .collect();
    let mut directory = Directory::new(users);
    let plan = directory.plan(NUMBERS[0], "");
    let states = directory
        .asked
        .iter()
        .filter(|a| a.starts_with("state"))
        .count();
    assert!(
        states <= routing::MAX_FORWARD_HOPS as usize + 1,
        "{states} states loaded"
    );
    match plan {
        Plan::Voicemail { .. } => {}
        Plan::Reject { status: 482, .. } => {}
        other => panic!("a chain must end in voicemail or 482, got {other:?}"),
    }
}

#[test]
fn an_answer_out_of_order_refuses_the_call() {
    let context = CallContext {
        caller: None,
        is_internal: false,
        dialled: "4570000007".into(),
        history: vec![],
        forwarded_hops: 0,
    };
    let (mut planner, _) = Planner::new(context, None, DenyList::default());
    let step = planner.on_trunk(Some(trunk_address()));
    assert!(matches!(step, Step::Done(Plan::Reject { status: 500, .. })));
}

/// A group of organisation `org`: its members (by number, in order), strategy, fallback.
struct GroupFixture {
    org: i64,
    number: &'static str,
    members: Vec<&'static str>,
    ringing: crate::store::GroupRinging,
    allow_external: bool,
}

impl GroupFixture {
    fn new(org: i64, number: &'static str, members: Vec<&'static str>) -> Self {
        GroupFixture {
            org,
            number,
            members,
            ringing: crate::store::GroupRinging::default(),
            allow_external: false,
        }
    }

    fn call(&self, users: &HashMap<&'static str, Fixture>) -> super::super::group::GroupCall {
        let members: Vec<crate::store::GroupMember> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, n)| crate::store::GroupMember {
                user: users[n].user(),
                position: i as u32,
            })
            .collect();
        let mut org = Fixture::new(0, self.org, "0").loaded().org;
        org.allow_external_forwarding = self.allow_external;
        super::super::group::GroupCall {
            group: crate::domain::model::Group {
                id: crate::domain::model::GroupId(1),
                org_id: OrgId(self.org),
                name: "Reception".into(),
                number: self.number.to_owned(),
                kind: crate::domain::model::GroupKind::Receptionist,
            },
            org,
            ringing: self.ringing.clone(),
            mailbox: members.first().map(|m| m.user.clone()),
            members,
        }
    }
}

fn hunt(plan: Plan) -> crate::b2bua::hunt::HuntPlan {
    match plan {
        Plan::Hunt(plan) => *plan,
        other => panic!("expected a group call, got {other:?}"),
    }
}

/// Each step's members (user ids; 0 for an outside number) and target URIs.
fn steps(plan: &crate::b2bua::hunt::HuntPlan) -> Vec<Vec<(i64, Vec<String>)>> {
    plan.steps
        .iter()
        .map(|s| {
            s.members
                .iter()
                .map(|m| {
                    (
                        m.user.as_ref().map_or(0, |u| u.user_id),
                        m.targets.iter().map(|t| t.uri.clone()).collect(),
                    )
                })
                .collect()
        })
        .collect()
}

fn reception(users: Vec<Fixture>, group: GroupFixture) -> Directory {
    let mut directory = Directory::new(users);
    directory.groups.insert(group.number, group);
    directory
}

#[test]
fn a_group_number_rings_every_available_member_at_once() {
    let members = vec![
        Fixture::new(7, 1, "4570000007"),
        Fixture::new(8, 1, "4570000008"),
    ];
    let group = GroupFixture::new(1, "4570000000", vec!["4570000007", "4570000008"]);
    let mut directory = reception(members, group);
    let plan = hunt(directory.plan("4570000000", ""));
    assert_eq!(
        steps(&plan),
        vec![vec![
            (7, vec!["sip:u7@10.0.0.7:5060".to_owned()]),
            (8, vec!["sip:u8@10.0.0.8:5060".to_owned()]),
        ]]
    );
    assert_eq!(plan.steps[0].timeout, Duration::from_secs(20));
    assert_eq!(plan.group_number, "4570000000");
    assert_eq!(plan.mailbox.as_ref().map(|m| m.user_id), Some(7));
    assert_eq!(plan.diversion, None);
    assert_eq!(
        directory.asked,
        [
            "user 4570000000",
            "group 4570000000",
            "members 4570000007,4570000008"
        ]
    );
}

#[test]
fn in_order_rings_one_member_at_a_time_and_skips_the_absent_one() {
    let mut away = Fixture::new(8, 1, "4570000008");
    away.forward_to = Some("4533445566");
    let members = vec![
        Fixture::new(7, 1, "4570000007"),
        away,
        Fixture::new(9, 1, "4570000009"),
    ];
    let mut group = GroupFixture::new(
        1,
        "4570000000",
        vec!["4570000009", "4570000008", "4570000007"],
    );
    group.ringing.strategy = crate::store::GroupStrategy::InOrder;
    group.ringing.ring_timeout = Duration::from_secs(12);
    let mut directory = reception(members, group);
    let plan = hunt(directory.plan("4570000000", ""));
    assert_eq!(
        steps(&plan),
        vec![
            vec![(9, vec!["sip:u9@10.0.0.9:5060".to_owned()])],
            vec![(7, vec!["sip:u7@10.0.0.7:5060".to_owned()])],
        ]
    );
    assert!(plan
        .steps
        .iter()
        .all(|s| s.timeout == Duration::from_secs(12)));
    // The absent member's forward is not followed: the group asked for the member.
    assert!(!directory.asked.iter().any(|a| a.contains("4533445566")));
}

#[test]
fn a_group_nobody_can_take_goes_to_its_mailbox() {
    let mut unregistered = Fixture::new(7, 1, "4570000007");
    unregistered.registered = false;
    let group = GroupFixture::new(1, "4570000000", vec!["4570000007"]);
    let mut directory = reception(vec![unregistered], group);
    let plan = hunt(directory.plan("4570000000", ""));
    assert!(plan.steps.is_empty());
    assert_eq!(plan.mailbox.as_ref().map(|m| m.user_id), Some(7));
    assert_eq!(plan.fallback.status, GreetingStatus::NotAvailable);
}

#[test]
fn a_groups_fallback_number_rings_after_its_members() {
    // A colleague: their own state decides, after the members.
    let members = vec![
        Fixture::new(7, 1, "4570000007"),
        Fixture::new(8, 1, "4570000008"),
    ];
    let mut group = GroupFixture::new(1, "4570000000", vec!["4570000007"]);
    group.ringing.fallback = crate::store::GroupFallback::Number {
        number: "4570000008".into(),
    };
    let mut directory = reception(members, group);
    let plan = hunt(directory.plan("4570000000", ""));
    assert_eq!(
        steps(&plan),
        vec![
            vec![(7, vec!["sip:u7@10.0.0.7:5060".to_owned()])],
            vec![(8, vec!["sip:u8@10.0.0.8:5060".to_owned()])],
        ]
    );
    // Outside: through the trunk when the organisation allows external calls, else not at all.
    for allow in [true, false] {
        let mut group = GroupFixture::new(1, "4570000000", vec!["4570000007"]);
        group.allow_external = allow;
        group.ringing.fallback = crate::store::GroupFallback::Number {
            number: "4533445566".into(),
        };
        let mut directory = reception(vec![Fixture::new(7, 1, "4570000007")], group);
        let plan = hunt(directory.plan("4570000000", "sip:127.0.0.1:5070"));
        let mut expected = vec![vec![(7, vec!["sip:u7@10.0.0.7:5060".to_owned()])]];
        if allow {
            expected.push(vec![(0, vec!["sip:4533445566@127.0.0.1:5070".to_owned()])]);
        }
        assert_eq!(steps(&plan), expected, "allow external: {allow}");
    }
}

#[test]
fn a_forward_to_a_group_number_rings_the_group_as_a_colleague() {
    let mut hans = Fixture::new(7, 1, "4570000007");
    hans.forward_to = Some("4570000000");
    let members = vec![hans, Fixture::new(8, 1, "4570000008")];
    // The organisation does not allow external forwards: the group is internal all the same.
    let group = GroupFixture::new(1, "4570000000", vec!["4570000008"]);
    let mut directory = reception(members, group);
    let plan = hunt(directory.plan("4570000007", ""));
    assert_eq!(
        steps(&plan),
        vec![vec![(8, vec!["sip:u8@10.0.0.8:5060".to_owned()])]]
    );
    assert_eq!(
        plan.diversion,
        Some(Diversion {
            from: "4570000007".into(),
            reason: DiversionReason::Unconditional,
            counter: 1,
            user_id: Some(7),
        })
    );
    // Another organisation's group is not a colleague: voicemail, as any refused forward.
    let mut hans = Fixture::new(7, 1, "4570000007");
    hans.forward_to = Some("4570000000");
    let group = GroupFixture::new(2, "4570000000", vec!["4570000008"]);
    let mut directory = reception(vec![hans, Fixture::new(8, 2, "4570000008")], group);
    let plan = directory.plan("4570000007", "");
    assert!(
        matches!(plan, Plan::Voicemail { ref callee, .. } if callee.user_id == 7),
        "{plan:?}"
    );
}
