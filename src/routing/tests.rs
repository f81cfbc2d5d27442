//! Tests of [`decide`] and [`after_ring`]: one or more per precedence rule in the module doc,
//! the DST and midnight boundaries in Europe/Copenhagen, and a bounded randomised sweep.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Copenhagen;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::precedence::winner;
use super::*;
use crate::domain::{BusyStatus, Origin, Reason};

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Monday 2026-01-12, 10:00 UTC = 11:00 CET.
fn monday(h: u32, min: u32) -> DateTime<Utc> {
    utc(2026, 1, 12, h, min)
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn state() -> UserState {
    UserState {
        user: User {
            id: 42,
            name: "Hans Hansen".into(),
            timezone: Copenhagen,
            devices: vec![Device {
                contact: "sip:hans@10.0.0.7:5060".into(),
                kind: DeviceKind::Desk,
            }],
            mobile: Some("+4520304050".into()),
            no_answer_timeout: Duration::from_secs(20),
            allow_second_call: false,
            // No working hours: the rule tests below see plain ends of periods; the moves to
            // a working start have their own tests (and the random sweeps mix both).
            working_hours: WorkingHours::default(),
        },
        absences: vec![],
        schedules: vec![],
        calendar: vec![],
        active_calls: 0,
        voicemail: VoicemailSettings::default(),
    }
}

/// Monday to Friday 08–16 local.
fn office_hours() -> WorkingHours {
    WorkingHours::weekdays(time(8, 0), time(16, 0))
}

fn call() -> CallContext {
    CallContext {
        caller: Some("+4570101010".into()),
        is_internal: false,
        dialled: "+4570202020".into(),
        history: vec![],
        forwarded_hops: 0,
    }
}

fn absence(
    id: i64,
    reason: Reason,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    destination: Destination,
) -> Absence {
    Absence {
        id,
        reason,
        starts_at: start,
        ends_at: end,
        destination,
        free_text: None,
        origin: Origin::Web,
        set_at: start,
    }
}

fn schedule(
    id: i64,
    day: Weekday,
    start: NaiveTime,
    end: NaiveTime,
    dest: Destination,
) -> Schedule {
    Schedule {
        id,
        weekdays: vec![day],
        start,
        end,
        valid_from: None,
        valid_until: None,
        reason: Reason::Meeting,
        destination: dest,
        free_text: None,
        origin: Origin::Web,
        set_at: utc(2025, 12, 1, 9, 0),
    }
}

fn entry(id: i64, start: DateTime<Utc>, end: DateTime<Utc>, busy: BusyStatus) -> CalendarEntry {
    CalendarEntry {
        id,
        start,
        end,
        busy,
        subject: "Kunde: fortroligt".into(),
        all_day: false,
        override_code: None,
        origin: Origin::Outlook,
    }
}

fn absent(reason: Reason, back_at: Option<DateTime<Utc>>) -> GreetingStatus {
    GreetingStatus::Absent {
        reason,
        back_at,
        free_text: None,
    }
}

fn voicemail(status: GreetingStatus) -> Route {
    Route::Voicemail(VoicemailInfo {
        status,
        allow_messages: true,
    })
}

fn ring_targets() -> Vec<RingTarget> {
    vec![
        RingTarget::Device {
            contact: "sip:hans@10.0.0.7:5060".into(),
            kind: DeviceKind::Desk,
        },
        RingTarget::Mobile {
            number: "+4520304050".into(),
        },
    ]
}

fn ring(fallback: GreetingStatus) -> Route {
    Route::Ring {
        targets: ring_targets(),
        timeout: Duration::from_secs(20),
        fallback: VoicemailInfo {
            status: fallback,
            allow_messages: true,
        },
    }
}

/// The status voicemail would greet with, whatever the route.
fn greeting(route: &Route) -> Option<&GreetingStatus> {
    match route {
        Route::Voicemail(info) | Route::Ring { fallback: info, .. } => Some(&info.status),
        Route::Forward { .. } => None,
    }
}

// ---- Rule 6: nothing in force rings everything -------------------------------------------

#[test]
fn available_user_rings_desk_and_mobile_in_parallel() {
    assert_eq!(
        decide(&state(), monday(10, 0), &call()),
        ring(GreetingStatus::NotAvailable)
    );
}

#[test]
fn no_devices_and_no_mobile_goes_to_voicemail_not_available() {
    let mut s = state();
    s.user.devices.clear();
    s.user.mobile = None;
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(GreetingStatus::NotAvailable)
    );
}

#[test]
fn blank_and_duplicate_devices_are_not_rung() {
    let mut s = state();
    s.user.devices.push(Device {
        contact: "  ".into(),
        kind: DeviceKind::Softphone,
    });
    s.user.devices.push(Device {
        contact: "sip:hans@10.0.0.7:5060".into(),
        kind: DeviceKind::Desk,
    });
    s.user.mobile = Some(" ".into());
    let Route::Ring { targets, .. } = decide(&s, monday(10, 0), &call()) else {
        panic!()
    };
    assert_eq!(targets, ring_targets()[..1]);
}

#[test]
fn ring_targets_are_capped() {
    let mut s = state();
    s.user.devices = (0..100)
        .map(|i| Device {
            contact: format!("sip:hans@10.0.0.{i}"),
            kind: DeviceKind::Softphone,
        })
        .collect();
    let Route::Ring { targets, .. } = decide(&s, monday(10, 0), &call()) else {
        panic!()
    };
    assert_eq!(targets.len(), MAX_RING_TARGETS);
}

#[test]
fn ring_timeout_is_the_users_within_bounds() {
    let mut s = state();
    for (set, used) in [(0, 5), (3, 5), (25, 25), (3_600, 180)] {
        s.user.no_answer_timeout = Duration::from_secs(set);
        let Route::Ring { timeout, .. } = decide(&s, monday(10, 0), &call()) else {
            panic!()
        };
        assert_eq!(timeout, Duration::from_secs(used), "set {set}s");
    }
}

#[test]
fn mobile_the_call_was_diverted_from_is_not_rung_again() {
    let mut c = call();
    c.history = vec!["20 30 40 50".into()];
    c.forwarded_hops = 1;
    let Route::Ring { targets, .. } = decide(&state(), monday(10, 0), &c) else {
        panic!()
    };
    assert_eq!(targets, ring_targets()[..1]);
    // With only the mobile, that leaves nothing to ring: voicemail.
    let mut s = state();
    s.user.devices.clear();
    assert_eq!(
        decide(&s, monday(10, 0), &c),
        voicemail(GreetingStatus::NotAvailable)
    );
}

#[test]
fn messages_setting_is_carried() {
    let mut s = state();
    s.voicemail.allow_messages = false;
    s.absences.push(absence(
        1,
        Reason::Sick,
        monday(6, 0),
        None,
        Destination::Voicemail,
    ));
    let Route::Voicemail(info) = decide(&s, monday(10, 0), &call()) else {
        panic!()
    };
    assert!(!info.allow_messages);
}

// ---- after_ring -----------------------------------------------------------------------------

#[test]
fn after_ring_no_answer_uses_the_fallback() {
    let fallback = VoicemailInfo {
        status: absent(Reason::Lunch, Some(monday(12, 0))),
        allow_messages: false,
    };
    assert_eq!(
        after_ring(RingOutcome::NoAnswer, &fallback),
        Route::Voicemail(fallback.clone())
    );
}

#[test]
fn after_ring_all_busy_says_on_the_phone() {
    let fallback = VoicemailInfo {
        status: GreetingStatus::NotAvailable,
        allow_messages: false,
    };
    assert_eq!(
        after_ring(RingOutcome::AllBusy, &fallback),
        Route::Voicemail(VoicemailInfo {
            status: GreetingStatus::OnThePhone,
            allow_messages: false
        })
    );
}

// ---- Rule 1: tiers and tie-breaks -------------------------------------------------------------

#[test]
fn absence_sends_to_voicemail_with_reason_and_back_at() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Lunch,
        monday(11, 0),
        Some(monday(11, 30)),
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, monday(11, 10), &call()),
        voicemail(absent(Reason::Lunch, Some(monday(11, 30))))
    );
    // Before and at the end it does not apply.
    assert_eq!(
        decide(&s, monday(10, 59), &call()),
        ring(GreetingStatus::NotAvailable)
    );
    assert_eq!(
        decide(&s, monday(11, 30), &call()),
        ring(GreetingStatus::NotAvailable)
    );
}

#[test]
fn absence_free_text_reaches_the_greeting() {
    let mut s = state();
    let mut a = absence(
        1,
        Reason::Custom,
        monday(9, 0),
        Some(monday(14, 0)),
        Destination::Voicemail,
    );
    a.free_text = Some("Kursus i Aarhus".into());
    s.absences.push(a);
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(GreetingStatus::Absent {
            reason: Reason::Custom,
            back_at: Some(monday(14, 0)),
            free_text: Some("Kursus i Aarhus".into()),
        })
    );
}

#[test]
fn absence_beats_schedule() {
    let mut s = state();
    // Monday 11:00–12:00 CET weekly meeting forwarding to a colleague.
    s.schedules.push(schedule(
        5,
        Weekday::Mon,
        time(11, 0),
        time(12, 0),
        Destination::Number("+4533445566".into()),
    ));
    s.absences.push(absence(
        1,
        Reason::Sick,
        monday(6, 0),
        Some(monday(15, 0)),
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, monday(10, 30), &call()),
        voicemail(absent(Reason::Sick, Some(monday(15, 0))))
    );
}

#[test]
fn schedule_beats_calendar() {
    let mut s = state();
    s.schedules.push(schedule(
        5,
        Weekday::Mon,
        time(11, 0),
        time(12, 0),
        Destination::Number("+4533445566".into()),
    ));
    s.calendar.push(entry(
        9,
        monday(9, 0),
        monday(13, 0),
        BusyStatus::OutOfOffice,
    ));
    let route = decide(&s, monday(10, 30), &call());
    let Route::Forward {
        number,
        reason,
        absence,
    } = route
    else {
        panic!("{route:?}")
    };
    assert_eq!(number, "+4533445566");
    assert_eq!(reason, DiversionReason::TimeOfDay);
    assert_eq!(absence.source, Source::Schedule(5));
    assert_eq!(absence.reason, Reason::Meeting);
    // The calendar entry runs on after the occurrence: the user is back at its end.
    assert_eq!(absence.back_at, Some(monday(13, 0)));
}

#[test]
fn calendar_applies_when_nothing_else_does() {
    let mut s = state();
    s.calendar
        .push(entry(9, monday(9, 0), monday(10, 30), BusyStatus::Busy));
    assert_eq!(
        decide(&s, monday(9, 15), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(10, 30))))
    );
}

#[test]
fn most_recently_set_absence_decides_the_destination() {
    let mut s = state();
    let mut older = absence(
        1,
        Reason::Meeting,
        monday(8, 0),
        Some(monday(12, 0)),
        Destination::Voicemail,
    );
    older.set_at = monday(7, 0);
    let mut newer = absence(
        2,
        Reason::Holiday,
        monday(9, 0),
        Some(monday(11, 0)),
        Destination::Number("+4533445566".into()),
    );
    newer.set_at = monday(7, 30);
    newer.origin = Origin::Receptionist("KB".into());
    s.absences = vec![newer.clone(), older.clone()];
    let route = decide(&s, monday(10, 0), &call());
    let Route::Forward {
        number,
        reason,
        absence,
    } = route
    else {
        panic!("{route:?}")
    };
    assert_eq!(number, "+4533445566");
    assert_eq!(reason, DiversionReason::Unconditional);
    assert_eq!(absence.reason, Reason::Holiday);
    assert_eq!(absence.origin, Origin::Receptionist("KB".into()));
    assert_eq!(absence.source, Source::Absence(2));
    // Both take calls away, so the user is back when the longer one ends.
    assert_eq!(absence.back_at, Some(monday(12, 0)));

    // Set the other way round, the older-starting one wins regardless of input order.
    older.set_at = monday(7, 45);
    s.absences = vec![newer, older];
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(12, 0))))
    );
}

#[test]
fn most_recently_set_schedule_wins_among_schedules() {
    let mut s = state();
    let a = schedule(
        1,
        Weekday::Mon,
        time(10, 0),
        time(13, 0),
        Destination::Voicemail,
    );
    let mut b = schedule(
        2,
        Weekday::Mon,
        time(11, 0),
        time(12, 0),
        Destination::Number("+4533445566".into()),
    );
    b.set_at = utc(2025, 12, 2, 9, 0);
    s.schedules = vec![b, a];
    let route = decide(&s, monday(10, 30), &call()); // 11:30 CET
    assert!(
        matches!(route, Route::Forward { ref number, .. } if number == "+4533445566"),
        "{route:?}"
    );
}

// ---- Rule 2: keep phone open -----------------------------------------------------------------

#[test]
fn keep_phone_open_rings_and_tells_the_absence_on_no_answer() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Lunch,
        monday(11, 0),
        Some(monday(11, 30)),
        Destination::Open,
    ));
    let route = decide(&s, monday(11, 10), &call());
    assert_eq!(route, ring(absent(Reason::Lunch, Some(monday(11, 30)))));
    let Route::Ring { fallback, .. } = route else {
        unreachable!()
    };
    assert_eq!(
        after_ring(RingOutcome::NoAnswer, &fallback),
        voicemail(absent(Reason::Lunch, Some(monday(11, 30))))
    );
}

#[test]
fn keep_open_absence_beats_a_busy_calendar_entry() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Custom,
        monday(7, 0),
        Some(monday(15, 0)),
        Destination::Open,
    ));
    s.calendar
        .push(entry(9, monday(9, 0), monday(10, 30), BusyStatus::Busy));
    assert_eq!(
        decide(&s, monday(9, 15), &call()),
        ring(absent(Reason::Custom, Some(monday(15, 0))))
    );
}

#[test]
fn keep_open_with_no_devices_goes_to_voicemail_telling_the_absence() {
    let mut s = state();
    s.user.devices.clear();
    s.user.mobile = None;
    s.absences.push(absence(
        1,
        Reason::Lunch,
        monday(11, 0),
        Some(monday(11, 30)),
        Destination::Open,
    ));
    assert_eq!(
        decide(&s, monday(11, 10), &call()),
        voicemail(absent(Reason::Lunch, Some(monday(11, 30))))
    );
}

// ---- Rule 3: calendar --------------------------------------------------------------------------

#[test]
fn free_tentative_and_working_elsewhere_keep_the_phone_open() {
    for busy in [
        BusyStatus::Free,
        BusyStatus::Tentative,
        BusyStatus::WorkingElsewhere,
    ] {
        let mut s = state();
        s.calendar.push(entry(9, monday(9, 0), monday(12, 0), busy));
        assert_eq!(
            decide(&s, monday(10, 0), &call()),
            ring(GreetingStatus::NotAvailable),
            "{busy:?}"
        );
    }
}

#[test]
fn busy_is_a_meeting_and_out_of_office_is_out_of_office() {
    let mut s = state();
    s.calendar.push(entry(
        9,
        monday(9, 0),
        monday(12, 0),
        BusyStatus::OutOfOffice,
    ));
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::OutOfOffice, Some(monday(12, 0))))
    );
    s.calendar[0].busy = BusyStatus::Busy;
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(12, 0))))
    );
}

#[test]
fn calendar_codes_override_the_busy_status() {
    let mut s = state();
    s.calendar
        .push(entry(9, monday(9, 0), monday(12, 0), BusyStatus::Busy));

    s.calendar[0].override_code = Some(CalendarOverride::Ignore);
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        ring(GreetingStatus::NotAvailable)
    );

    s.calendar[0].override_code = Some(CalendarOverride::KeepOpen);
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        ring(absent(Reason::Meeting, Some(monday(12, 0))))
    );

    s.calendar[0].override_code = Some(CalendarOverride::Reason(Reason::Holiday));
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Holiday, Some(monday(12, 0))))
    );

    s.calendar[0].override_code = Some(CalendarOverride::Forward("+4533445566".into()));
    s.calendar[0].busy = BusyStatus::Free;
    let route = decide(&s, monday(10, 0), &call());
    let Route::Forward {
        number,
        reason,
        absence,
    } = route
    else {
        panic!("{route:?}")
    };
    assert_eq!(
        (number.as_str(), reason),
        ("+4533445566", DiversionReason::Unconditional)
    );
    assert_eq!(absence.source, Source::Calendar(9));
    assert_eq!(absence.origin, Origin::Outlook);
    assert_eq!(
        absence.free_text, None,
        "calendar subjects never reach callers"
    );
}

#[test]
fn ignored_entry_does_not_extend_back_at() {
    let mut s = state();
    s.calendar
        .push(entry(1, monday(9, 0), monday(10, 0), BusyStatus::Busy));
    let mut reminder = entry(2, monday(10, 0), monday(17, 0), BusyStatus::Busy);
    reminder.override_code = Some(CalendarOverride::Ignore);
    s.calendar.push(reminder);
    assert_eq!(
        decide(&s, monday(9, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(10, 0))))
    );
}

#[test]
fn meeting_inside_an_all_day_out_of_office_names_the_meeting() {
    let mut s = state();
    let mut oof = entry(
        1,
        utc(2026, 1, 11, 23, 0),
        utc(2026, 1, 12, 23, 0),
        BusyStatus::OutOfOffice,
    );
    oof.all_day = true;
    s.calendar.push(oof);
    s.calendar
        .push(entry(2, monday(10, 0), monday(11, 0), BusyStatus::Busy));
    assert_eq!(
        decide(&s, monday(10, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 1, 12, 23, 0))))
    );
}

#[test]
fn busy_entry_beats_keep_open_entry_in_the_calendar_tier() {
    let mut s = state();
    let mut open = entry(1, monday(10, 0), monday(11, 0), BusyStatus::Busy);
    open.override_code = Some(CalendarOverride::KeepOpen);
    s.calendar.push(open);
    s.calendar.push(entry(
        2,
        monday(8, 0),
        monday(12, 0),
        BusyStatus::OutOfOffice,
    ));
    assert_eq!(
        decide(&s, monday(10, 30), &call()),
        voicemail(absent(Reason::OutOfOffice, Some(monday(12, 0))))
    );
}

// ---- Rule 4: back at -------------------------------------------------------------------------

#[test]
fn overlapping_absences_latest_end_decides_back_at() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Meeting,
        monday(9, 0),
        Some(monday(11, 0)),
        Destination::Voicemail,
    ));
    s.absences.push(absence(
        2,
        Reason::Meeting,
        monday(10, 0),
        Some(monday(13, 0)),
        Destination::Voicemail,
    ));
    s.absences[0].set_at = monday(9, 30); // the one ending first is the most recent
    assert_eq!(
        decide(&s, monday(10, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(13, 0))))
    );
}

#[test]
fn adjacent_meetings_chain_across_tiers() {
    let mut s = state();
    // Lunch 11:30–12:00 UTC, calendar meeting 12:00–13:00 UTC, weekly schedule 14:00–15:00 CET
    // (13:00–14:00 UTC): back at 14:00 UTC.
    s.absences.push(absence(
        1,
        Reason::Lunch,
        monday(11, 30),
        Some(monday(12, 0)),
        Destination::Voicemail,
    ));
    s.calendar
        .push(entry(2, monday(12, 0), monday(13, 0), BusyStatus::Busy));
    s.schedules.push(schedule(
        3,
        Weekday::Mon,
        time(14, 0),
        time(15, 0),
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, monday(11, 45), &call()),
        voicemail(absent(Reason::Lunch, Some(monday(14, 0))))
    );
    // A gap of five minutes breaks the chain.
    s.calendar[0].start = monday(12, 5);
    assert_eq!(
        decide(&s, monday(11, 45), &call()),
        voicemail(absent(Reason::Lunch, Some(monday(12, 0))))
    );
}

#[test]
fn forwarding_absence_continues_the_chain() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Meeting,
        monday(9, 0),
        Some(monday(10, 0)),
        Destination::Voicemail,
    ));
    s.absences.push(absence(
        2,
        Reason::Holiday,
        monday(10, 0),
        Some(monday(16, 0)),
        Destination::Number("+4533445566".into()),
    ));
    assert_eq!(
        decide(&s, monday(9, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(16, 0))))
    );
}

#[test]
fn open_ended_absence_in_the_chain_is_until_further_notice() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Sick,
        monday(6, 0),
        None,
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Sick, None))
    );
    // A meeting ending soon, followed by open-ended sickness, is also "until further notice".
    let mut s = state();
    s.calendar
        .push(entry(1, monday(9, 0), monday(10, 0), BusyStatus::Busy));
    s.absences.push(absence(
        2,
        Reason::Sick,
        monday(10, 0),
        None,
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, monday(9, 30), &call()),
        voicemail(absent(Reason::Meeting, None))
    );
}

#[test]
fn user_is_back_when_a_keep_open_absence_takes_over() {
    let mut s = state();
    // Meeting until 10:00, then an ad hoc "keep my phone open" over a calendar meeting 10–11:
    // calls ring from 10:00, so the user is back at 10:00, not 11:00.
    s.calendar
        .push(entry(1, monday(9, 0), monday(10, 0), BusyStatus::Busy));
    s.calendar
        .push(entry(2, monday(10, 0), monday(11, 0), BusyStatus::Busy));
    s.absences.push(absence(
        3,
        Reason::Custom,
        monday(10, 0),
        Some(monday(11, 0)),
        Destination::Open,
    ));
    assert_eq!(
        decide(&s, monday(9, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(10, 0))))
    );
}

#[test]
fn back_at_of_a_recurring_chain_is_found_across_days() {
    let mut s = state();
    // Out of office all week; a nightly schedule 16:00–08:00 local every weekday follows on.
    s.calendar.push(entry(
        1,
        monday(7, 0),
        utc(2026, 1, 16, 15, 0),
        BusyStatus::OutOfOffice,
    ));
    let mut nightly = schedule(
        2,
        Weekday::Mon,
        time(16, 0),
        time(8, 0),
        Destination::Voicemail,
    );
    nightly.weekdays = vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    s.schedules.push(nightly);
    // Friday's occurrence (16:00 CET = 15:00 UTC) ends Saturday 08:00 CET = 07:00 UTC.
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::OutOfOffice, Some(utc(2026, 1, 17, 7, 0))))
    );
}

#[test]
fn a_schedule_covering_every_hour_is_until_further_notice() {
    let mut s = state();
    let mut always = schedule(
        1,
        Weekday::Mon,
        time(0, 0),
        time(0, 0),
        Destination::Voicemail,
    );
    always.weekdays = vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    s.schedules.push(always);
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Meeting, None))
    );
    // Bounded by a validity date it ends then (local midnight after 2026-01-20).
    s.schedules[0].valid_until = chrono::NaiveDate::from_ymd_opt(2026, 1, 20);
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 1, 20, 23, 0))))
    );
}

// ---- Schedules across midnight and DST ---------------------------------------------------------

#[test]
fn weekly_meeting_stays_at_nine_local_across_the_spring_change() {
    let mut s = state();
    s.schedules.push(schedule(
        1,
        Weekday::Mon,
        time(9, 0),
        time(10, 0),
        Destination::Voicemail,
    ));
    // Monday 2026-03-23, CET: 09:30 local = 08:30 UTC, back at 10:00 CET = 09:00 UTC.
    assert_eq!(
        decide(&s, utc(2026, 3, 23, 8, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 3, 23, 9, 0))))
    );
    assert_eq!(
        decide(&s, utc(2026, 3, 23, 7, 30), &call()),
        ring(GreetingStatus::NotAvailable)
    );
    // Monday 2026-03-30, CEST: 09:30 local = 07:30 UTC, back at 10:00 CEST = 08:00 UTC.
    assert_eq!(
        decide(&s, utc(2026, 3, 30, 7, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 3, 30, 8, 0))))
    );
    // 08:30 UTC is 10:30 CEST: over.
    assert_eq!(
        decide(&s, utc(2026, 3, 30, 8, 30), &call()),
        ring(GreetingStatus::NotAvailable)
    );
    // 06:30 UTC is 08:30 CEST: not yet.
    assert_eq!(
        decide(&s, utc(2026, 3, 30, 6, 30), &call()),
        ring(GreetingStatus::NotAvailable)
    );
}

#[test]
fn weekly_meeting_stays_at_nine_local_across_the_autumn_change() {
    let mut s = state();
    s.schedules.push(schedule(
        1,
        Weekday::Mon,
        time(9, 0),
        time(10, 0),
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, utc(2026, 10, 19, 7, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 10, 19, 8, 0))))
    );
    assert_eq!(
        decide(&s, utc(2026, 10, 26, 7, 30), &call()),
        ring(GreetingStatus::NotAvailable)
    );
    assert_eq!(
        decide(&s, utc(2026, 10, 26, 8, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 10, 26, 9, 0))))
    );
}

#[test]
fn schedule_crossing_midnight_routes_after_midnight() {
    let mut s = state();
    s.schedules.push(schedule(
        1,
        Weekday::Fri,
        time(22, 0),
        time(6, 0),
        Destination::Voicemail,
    ));
    // Saturday 2026-01-17 03:00 CET = 02:00 UTC; back at 06:00 CET = 05:00 UTC.
    assert_eq!(
        decide(&s, utc(2026, 1, 17, 2, 0), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 1, 17, 5, 0))))
    );
    // Friday 23:30 CET too.
    assert_eq!(
        decide(&s, utc(2026, 1, 16, 22, 30), &call()),
        voicemail(absent(Reason::Meeting, Some(utc(2026, 1, 17, 5, 0))))
    );
    // Saturday 06:00 CET exactly: over.
    assert_eq!(
        decide(&s, utc(2026, 1, 17, 5, 0), &call()),
        ring(GreetingStatus::NotAvailable)
    );
}

#[test]
fn absence_across_midnight_and_the_dst_night() {
    let mut s = state();
    // Holiday from Saturday 2026-03-28 to Monday 2026-03-30 08:00 CEST.
    s.absences.push(absence(
        1,
        Reason::Holiday,
        utc(2026, 3, 28, 7, 0),
        Some(utc(2026, 3, 30, 6, 0)),
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, utc(2026, 3, 29, 1, 30), &call()),
        voicemail(absent(Reason::Holiday, Some(utc(2026, 3, 30, 6, 0))))
    );
}

// ---- Rule 5: on the phone ---------------------------------------------------------------------

#[test]
fn on_the_phone_without_second_call_goes_to_voicemail() {
    let mut s = state();
    s.active_calls = 1;
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(GreetingStatus::OnThePhone)
    );
}

#[test]
fn on_the_phone_with_second_call_allowed_rings() {
    let mut s = state();
    s.active_calls = 2;
    s.user.allow_second_call = true;
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        ring(GreetingStatus::NotAvailable)
    );
}

#[test]
fn absences_that_take_calls_away_win_over_on_the_phone() {
    let mut s = state();
    s.active_calls = 1;
    s.absences.push(absence(
        1,
        Reason::Meeting,
        monday(9, 0),
        Some(monday(11, 0)),
        Destination::Voicemail,
    ));
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Meeting, Some(monday(11, 0))))
    );
    s.absences[0].destination = Destination::Number("+4533445566".into());
    assert!(matches!(
        decide(&s, monday(10, 0), &call()),
        Route::Forward { .. }
    ));
    // A keep-open absence rings the user, who is on the phone.
    s.absences[0].destination = Destination::Open;
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(GreetingStatus::OnThePhone)
    );
}

// ---- Rule 7: forward loops --------------------------------------------------------------------

#[test]
fn forward_back_to_a_number_in_the_history_goes_to_voicemail() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Meeting,
        monday(9, 0),
        Some(monday(11, 0)),
        Destination::Number("33445566".into()),
    ));
    let mut c = call();
    c.history = vec!["sip:+4533445566@pbx.example".into()];
    c.forwarded_hops = 1;
    assert_eq!(
        decide(&s, monday(10, 0), &c),
        voicemail(absent(Reason::Meeting, Some(monday(11, 0))))
    );
    // Without that history it forwards.
    assert!(matches!(
        decide(&s, monday(10, 0), &call()),
        Route::Forward { .. }
    ));
}

#[test]
fn too_many_hops_go_to_voicemail() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Meeting,
        monday(9, 0),
        Some(monday(11, 0)),
        Destination::Number("+4533445566".into()),
    ));
    let mut c = call();
    c.forwarded_hops = MAX_FORWARD_HOPS;
    assert_eq!(
        decide(&s, monday(10, 0), &c),
        voicemail(absent(Reason::Meeting, Some(monday(11, 0))))
    );
    c.forwarded_hops = MAX_FORWARD_HOPS - 1;
    assert!(matches!(
        decide(&s, monday(10, 0), &c),
        Route::Forward { .. }
    ));
}

#[test]
fn forward_to_the_dialled_number_or_nowhere_goes_to_voicemail() {
    let mut s = state();
    s.absences.push(absence(
        1,
        Reason::Lunch,
        monday(9, 0),
        Some(monday(11, 0)),
        Destination::Number("70202020".into()),
    ));
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Lunch, Some(monday(11, 0))))
    );
    s.absences[0].destination = Destination::Number(String::new());
    assert_eq!(
        decide(&s, monday(10, 0), &call()),
        voicemail(absent(Reason::Lunch, Some(monday(11, 0))))
    );
}

// ---- Randomised sweep ---------------------------------------------------------------------------

fn random_time(rng: &mut StdRng, base: DateTime<Utc>) -> DateTime<Utc> {
    base + chrono::Duration::minutes(rng.gen_range(-3 * 24 * 60..10 * 24 * 60))
}

/// The instants the randomised sweeps centre on: around both DST changes and an ordinary week.
fn sweep_bases() -> [DateTime<Utc>; 3] {
    [
        utc(2026, 3, 27, 12, 0),
        utc(2026, 10, 23, 12, 0),
        utc(2026, 1, 12, 9, 0),
    ]
}

fn random_destination(rng: &mut StdRng) -> Destination {
    match rng.gen_range(0..4) {
        0 => Destination::Voicemail,
        1 => Destination::Open,
        2 => {
            Destination::Number(["+4533445566", "70202020", "", "1234"][rng.gen_range(0..4)].into())
        }
        _ => Destination::Number(format!("+45{}", rng.gen_range(10_000_000..99_999_999))),
    }
}

fn random_state(rng: &mut StdRng, now: DateTime<Utc>) -> UserState {
    let mut s = state();
    if rng.gen_bool(0.6) {
        s.user.working_hours = office_hours();
    }
    s.active_calls = rng.gen_range(0..3);
    s.user.allow_second_call = rng.gen_bool(0.3);
    if rng.gen_bool(0.2) {
        s.user.devices.clear();
    }
    if rng.gen_bool(0.2) {
        s.user.mobile = None;
    }
    for id in 0..rng.gen_range(0..6) {
        let start = random_time(rng, now);
        let end = if rng.gen_bool(0.2) {
            None
        } else {
            Some(start + chrono::Duration::minutes(rng.gen_range(-60..3 * 24 * 60)))
        };
        let mut a = absence(
            id,
            Reason::ALL[rng.gen_range(0..Reason::ALL.len())],
            start,
            end,
            random_destination(rng),
        );
        a.set_at = random_time(rng, now);
        s.absences.push(a);
    }
    let days = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    for id in 0..rng.gen_range(0..4) {
        let mut sc = schedule(
            id,
            days[rng.gen_range(0..7)],
            time(rng.gen_range(0..24), [0, 15, 30, 45][rng.gen_range(0..4)]),
            time(rng.gen_range(0..24), [0, 15, 30, 45][rng.gen_range(0..4)]),
            random_destination(rng),
        );
        if rng.gen_bool(0.5) {
            sc.weekdays.push(days[rng.gen_range(0..7)]);
        }
        if rng.gen_bool(0.3) {
            sc.valid_until = Some(random_time(rng, now).date_naive());
        }
        s.schedules.push(sc);
    }
    for id in 0..rng.gen_range(0..8) {
        let start = random_time(rng, now);
        let end = start + chrono::Duration::minutes(rng.gen_range(-30..2 * 24 * 60));
        let mut e = entry(
            id,
            start,
            end,
            BusyStatus::ALL[rng.gen_range(0..BusyStatus::ALL.len())],
        );
        e.override_code = match rng.gen_range(0..8) {
            0 => Some(CalendarOverride::Ignore),
            1 => Some(CalendarOverride::KeepOpen),
            2 => Some(CalendarOverride::Forward("+4544556677".into())),
            3 => Some(CalendarOverride::Reason(Reason::Sick)),
            _ => None,
        };
        s.calendar.push(e);
    }
    s
}

#[test]
fn random_states_always_route_truthfully() {
    let mut rng = StdRng::seed_from_u64(0x0AE5_7A75);
    let bases = sweep_bases();
    for i in 0..3_000 {
        let base = bases[i % bases.len()];
        let now = random_time(&mut rng, base);
        let mut s = random_state(&mut rng, now);
        let mut c = call();
        if rng.gen_bool(0.3) {
            c.history = vec!["+4533445566".into()];
            c.forwarded_hops = rng.gen_range(0..7);
        }
        let route = decide(&s, now, &c);

        // Deterministic, and independent of the order the store returned rows in.
        assert_eq!(decide(&s, now, &c), route);
        s.absences.shuffle(&mut rng);
        s.schedules.shuffle(&mut rng);
        s.calendar.shuffle(&mut rng);
        assert_eq!(
            decide(&s, now, &c),
            route,
            "case {i}: order changed the route"
        );

        match &route {
            Route::Ring {
                targets, timeout, ..
            } => {
                assert!(!targets.is_empty(), "case {i}: ringing nothing");
                assert!((MIN_RING_TIMEOUT..=MAX_RING_TIMEOUT).contains(timeout));
            }
            Route::Forward {
                number, absence, ..
            } => {
                assert!(number.chars().any(|c| c.is_ascii_digit()));
                assert!(!c.history.iter().any(|h| h == number), "case {i}: loop");
                if let Some(back) = absence.back_at {
                    assert!(back > now, "case {i}: back_at {back} not after {now}");
                }
            }
            Route::Voicemail(_) => {}
        }
        if let Some(GreetingStatus::Absent {
            back_at: Some(back),
            ..
        }) = greeting(&route)
        {
            assert!(*back > now, "case {i}: back_at {back} not after {now}");
            // When voicemail says "back at", calls to the user really do stop going away then.
            if matches!(route, Route::Voicemail(_))
                && winner(&s, now).is_some_and(|w| w.effect.takes_calls_away())
            {
                assert!(
                    winner(&s, *back).is_none_or(|w| !w.effect.takes_calls_away()),
                    "case {i}: still away at back_at {back}"
                );
            }
        }
    }
}

/// What the store's routing snapshot reads for `[from, to)`: absences and calendar entries
/// overlapping it (the WHERE clauses of `store::routing_snapshot`), every schedule.
fn read_window(s: &UserState, from: DateTime<Utc>, to: DateTime<Utc>) -> UserState {
    let mut w = s.clone();
    w.absences
        .retain(|a| a.starts_at < to && a.ends_at.is_none_or(|end| end > from));
    w.calendar.retain(|e| e.start < to && e.end > from);
    w
}

#[test]
fn a_short_read_that_settles_routes_as_the_long_read_does() {
    // The call driver reads one day ahead and trusts it when `settled_before` says so
    // (`user_state::load`); it must then give exactly the route of the 60-day read.
    let mut rng = StdRng::seed_from_u64(0x5E77_1ED0);
    let bases = sweep_bases();
    let (mut settled, mut unsettled) = (0, 0);
    for i in 0..6_000 {
        let now = random_time(&mut rng, bases[i % bases.len()]);
        let mut full = random_state(&mut rng, now);
        // Chains of touching meetings from now on, some crossing the short window's end.
        let mut t = now - chrono::Duration::minutes(rng.gen_range(0..120));
        for id in 100..100 + rng.gen_range(0..40) {
            let end = t + chrono::Duration::minutes(rng.gen_range(15..180));
            full.calendar.push(entry(id, t, end, BusyStatus::Busy));
            t = end + chrono::Duration::minutes([0, 0, 0, 30][rng.gen_range(0..4)]);
        }
        let short_end = now + chrono::Duration::days(1);
        let short = read_window(&full, now, short_end);
        let long = read_window(&full, now, now + chrono::Duration::days(60));
        if !back_at::settled_before(&short, now, short_end) {
            unsettled += 1;
            continue;
        }
        settled += 1;
        let c = call();
        assert_eq!(
            decide(&short, now, &c),
            decide(&long, now, &c),
            "case {i}: the one-day read routed differently at {now}"
        );
    }
    // Both branches are exercised, and the short read is the common case.
    assert!(
        settled > 3_000 && unsettled > 300,
        "{settled} / {unsettled}"
    );
}

#[test]
fn a_chain_of_meetings_past_the_short_window_is_not_settled() {
    let now = monday(10, 0);
    let mut s = state();
    // Back-to-back meetings from 09:00 to 11:00 the next day.
    s.calendar = (0..26)
        .map(|h| {
            let start = monday(9, 0) + chrono::Duration::hours(h);
            entry(
                h,
                start,
                start + chrono::Duration::hours(1),
                BusyStatus::Busy,
            )
        })
        .collect();
    let until = now + chrono::Duration::days(1);
    let short = read_window(&s, now, until);
    assert!(!back_at::settled_before(&short, now, until));
    // Read far enough, the walk finds the real end of the chain.
    assert!(back_at::settled_before(
        &s,
        now,
        now + chrono::Duration::days(2)
    ));
    assert_eq!(
        greeting(&decide(&s, now, &call())),
        Some(&absent(
            Reason::Meeting,
            Some(monday(11, 0) + chrono::Duration::days(1))
        ))
    );
    // Available now: nothing to settle.
    let mut free = state();
    free.calendar = vec![entry(1, monday(12, 0), monday(13, 0), BusyStatus::Busy)];
    assert!(back_at::settled_before(
        &free,
        now,
        now + chrono::Duration::hours(1)
    ));
}

// ---- One truth: presence, timeline and greeting agree with routing --------------------------

/// The reason and "back at" a route tells the caller (now, or after an unanswered ring).
fn told(route: &Route) -> Option<(Reason, Option<DateTime<Utc>>)> {
    match route {
        Route::Forward { absence, .. } => Some((absence.reason, absence.back_at)),
        Route::Voicemail(info) | Route::Ring { fallback: info, .. } => match &info.status {
            GreetingStatus::Absent {
                reason, back_at, ..
            } => Some((*reason, *back_at)),
            _ => None,
        },
    }
}

#[test]
fn presence_timeline_and_greeting_agree_with_routing() {
    let mut rng = StdRng::seed_from_u64(0x0E7_7207);
    let bases = sweep_bases();
    let (mut absent_cases, mut open_cases, mut available_cases) = (0, 0, 0);
    for i in 0..4_000 {
        let now = random_time(&mut rng, bases[i % bases.len()]);
        let s = random_state(&mut rng, now);
        let route = decide(&s, now, &call());
        let shown = presence(&s, now);
        let items = timeline(&s, now, now + chrono::Duration::days(7));
        let covering: Vec<&TimelineItem> = items
            .iter()
            .filter(|t| t.from <= now && t.to.is_none_or(|to| now < to))
            .collect();
        assert_eq!(shown.active_calls, s.active_calls);
        match &shown.absence {
            None => {
                available_cases += 1;
                // Not shown absent: the user's phones ring (unless they are on a call, or
                // have nothing to ring), and nothing on the timeline is in force.
                assert!(
                    told(&route).is_none(),
                    "case {i}: {route:?} told an absence"
                );
                assert!(
                    !matches!(route, Route::Forward { .. }),
                    "case {i}: forwarded while shown available"
                );
                let expected = if s.active_calls > 0 {
                    Status::OnThePhone
                } else {
                    Status::Available
                };
                assert_eq!(shown.status, expected, "case {i}");
                assert!(covering.is_empty(), "case {i}: {covering:?} in force");
            }
            Some(a) => {
                // The greeting says what colleagues see: the same reason, the same return —
                // except that a user who keeps the phone open and is on a call without call
                // waiting is "on the phone" (rule 5), which colleagues see too.
                let busy_line =
                    a.keep_phone_open && s.active_calls > 0 && !s.user.allow_second_call;
                if busy_line {
                    assert_eq!(greeting(&route), Some(&GreetingStatus::OnThePhone));
                    assert_eq!(shown.status, Status::OnThePhone);
                } else {
                    assert_eq!(
                        told(&route),
                        Some((a.reason, a.until)),
                        "case {i}: {route:?} vs {a:?}"
                    );
                }
                if a.keep_phone_open {
                    open_cases += 1;
                    // Shown, but calls ring (or go where a ring would end: no device, or
                    // "on the phone" without call waiting).
                    assert!(
                        !matches!(route, Route::Forward { .. }),
                        "case {i}: keep-open forwarded"
                    );
                    let on_call = s.active_calls > 0;
                    assert_eq!(
                        shown.status,
                        if on_call {
                            Status::OnThePhone
                        } else {
                            Status::Absent
                        }
                    );
                } else {
                    absent_cases += 1;
                    // Shown absent: the phones do not ring.
                    assert!(
                        !matches!(route, Route::Ring { .. }),
                        "case {i}: rang while shown absent {a:?}"
                    );
                    assert_eq!(shown.status, Status::Absent);
                    if let Route::Forward { number, .. } = &route {
                        assert_eq!(a.forward_to.as_deref(), Some(number.as_str()));
                    }
                }
                // The item that decides is on the timeline, as it is shown.
                assert!(
                    covering.iter().any(|t| t.source == a.source
                        && t.reason == a.reason
                        && t.keep_phone_open == a.keep_phone_open),
                    "case {i}: {a:?} not on the timeline {covering:?}"
                );
            }
        }
        // Each timeline item, alone, is what routing does while it is in force.
        for item in &items {
            let mut alone = s.clone();
            alone.active_calls = 0;
            alone.user.devices = state().user.devices;
            alone
                .absences
                .retain(|a| Source::Absence(a.id) == item.source);
            alone
                .schedules
                .retain(|x| Source::Schedule(x.id) == item.source);
            alone
                .calendar
                .retain(|e| Source::Calendar(e.id) == item.source);
            let at = item.from.max(now);
            if item.to.is_some_and(|to| at >= to) {
                continue;
            }
            let p = presence(&alone, at);
            let a = p
                .absence
                .unwrap_or_else(|| panic!("case {i}: {item:?} not in force at {at}"));
            assert_eq!(
                (a.reason, a.keep_phone_open),
                (item.reason, item.keep_phone_open),
                "case {i}: {item:?}"
            );
            let rang = matches!(decide(&alone, at, &call()), Route::Ring { .. });
            assert_eq!(rang, item.keep_phone_open, "case {i}: {item:?}");
        }
    }
    // Every branch is exercised.
    assert!(
        absent_cases > 300 && open_cases > 100 && available_cases > 300,
        "{absent_cases} / {open_cases} / {available_cases}"
    );
}

// ---- Return times at the next working start ---------------------------------------------------

#[test]
fn a_return_after_work_is_the_next_working_start() {
    let mut s = state();
    s.user.working_hours = office_hours();
    // Monday: a meeting until 16:00 local (the end of work) → back Tuesday 08:00 local.
    s.absences = vec![absence(
        1,
        Reason::Meeting,
        monday(13, 0),
        Some(monday(15, 0)),
        Destination::Voicemail,
    )];
    assert_eq!(
        greeting(&decide(&s, monday(14, 0), &call())),
        Some(&absent(Reason::Meeting, Some(utc(2026, 1, 13, 7, 0))))
    );
    // Ending during work, the end stands.
    s.absences[0].ends_at = Some(monday(14, 30));
    assert_eq!(
        greeting(&decide(&s, monday(14, 0), &call())),
        Some(&absent(Reason::Meeting, Some(monday(14, 30))))
    );
    // Colleagues see the same "until".
    assert_eq!(
        presence(&s, monday(14, 0)).absence.map(|a| a.until),
        Some(Some(monday(14, 30)))
    );
}

#[test]
fn a_short_read_is_not_settled_when_the_working_start_lies_beyond_it() {
    let mut s = state();
    s.user.working_hours = office_hours();
    // Friday 16 January, away until 16:00 local; Monday 19 January a meeting 08:00–09:00.
    let now = utc(2026, 1, 16, 13, 0);
    s.absences = vec![absence(
        1,
        Reason::Meeting,
        utc(2026, 1, 16, 12, 0),
        Some(utc(2026, 1, 16, 15, 0)),
        Destination::Voicemail,
    )];
    s.calendar = vec![entry(
        2,
        utc(2026, 1, 19, 7, 0),
        utc(2026, 1, 19, 8, 0),
        BusyStatus::Busy,
    )];
    let until = now + chrono::Duration::days(1);
    assert!(!back_at::settled_before(
        &read_window(&s, now, until),
        now,
        until
    ));
    // The long read finds the meeting at the working start: back Monday 09:00 local.
    assert_eq!(
        greeting(&decide(&s, now, &call())),
        Some(&absent(Reason::Meeting, Some(utc(2026, 1, 19, 8, 0))))
    );
}
