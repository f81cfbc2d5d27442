//! Cost of one routing decision over a realistic user state: a handful of absences, two weekly
//! schedules, a fortnight of calendar entries, two devices and a mobile. `decide` runs once per
//! incoming call, so this is the routing share of call set-up latency.
//!
//! Run with `cargo bench --bench routing`. A plain timing loop (no criterion): it times every
//! call on its own and reports p50/p99/max after a warm-up (the target is a p99; criterion
//! reports means over batches). `ITERATIONS` (default 20,000) sets the timed calls per case.
//! `tests/bench_smoke.rs` runs the same code with a few iterations and checks the decisions.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Copenhagen;
use onestatus::domain::{BusyStatus, Origin, Reason};
use onestatus::routing::{
    decide, Absence, CalendarEntry, CallContext, Destination, Device, DeviceKind, Schedule, User,
    UserState, VoicemailSettings, WorkingHours,
};

fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, h, m, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

pub(crate) fn realistic_state() -> UserState {
    let absences = (0..5)
        .map(|i| Absence {
            id: i,
            reason: Reason::Lunch,
            starts_at: utc(23 + i as u32, 11, 0),
            ends_at: Some(utc(23 + i as u32, 11, 30)),
            destination: Destination::Voicemail,
            free_text: None,
            origin: Origin::Web,
            set_at: utc(20, 8, 0),
        })
        .collect();
    let schedules = vec![
        Schedule {
            id: 1,
            weekdays: vec![Weekday::Mon],
            start: time(9, 0),
            end: time(10, 0),
            valid_from: None,
            valid_until: None,
            reason: Reason::Meeting,
            destination: Destination::Voicemail,
            free_text: Some("Teammøde".into()),
            origin: Origin::Web,
            set_at: utc(1, 8, 0),
        },
        Schedule {
            id: 2,
            weekdays: vec![Weekday::Tue],
            start: time(14, 0),
            end: time(16, 0),
            valid_from: None,
            valid_until: None,
            reason: Reason::GoneForToday,
            destination: Destination::Number("+4533445566".into()),
            free_text: None,
            origin: Origin::Receptionist("KB".into()),
            set_at: utc(1, 8, 0),
        },
    ];
    let calendar = (0..40)
        .map(|i| {
            let start = utc(16 + i / 3, 7 + 2 * (i % 3), 0);
            CalendarEntry {
                id: i64::from(i),
                start,
                end: start + chrono::Duration::minutes(90),
                busy: BusyStatus::ALL[i as usize % BusyStatus::ALL.len()],
                subject: "Møde".into(),
                all_day: false,
                override_code: None,
                origin: Origin::Outlook,
            }
        })
        .collect();
    UserState {
        user: User {
            id: 1,
            name: "Hans Hansen".into(),
            timezone: Copenhagen,
            devices: vec![
                Device {
                    contact: "sip:hans@10.0.0.7:5060".into(),
                    kind: DeviceKind::Desk,
                },
                Device {
                    contact: "sip:hans@10.0.0.8:5062;transport=tcp".into(),
                    kind: DeviceKind::Softphone,
                },
            ],
            mobile: Some("+4520304050".into()),
            no_answer_timeout: Duration::from_secs(20),
            allow_second_call: false,
            working_hours: WorkingHours::weekdays(time(8, 0), time(16, 0)),
        },
        absences,
        schedules,
        calendar,
        active_calls: 0,
        voicemail: VoicemailSettings::default(),
    }
}

/// The state issue 9 names: 20 absences and 200 calendar entries (plus the two schedules),
/// spread over the two months around the measured instants.
pub(crate) fn heavy_state() -> UserState {
    let mut state = realistic_state();
    let base = utc(1, 0, 0);
    state.absences = (0..20)
        .map(|i| {
            let starts_at = base + chrono::Duration::hours(i64::from(i) * 70 + 11);
            Absence {
                id: i64::from(i),
                reason: Reason::ALL[i as usize % Reason::ALL.len()],
                starts_at,
                ends_at: Some(starts_at + chrono::Duration::minutes(45)),
                destination: Destination::Voicemail,
                free_text: None,
                origin: Origin::Web,
                set_at: utc(1, 7, 0),
            }
        })
        .collect();
    state.calendar = (0..200)
        .map(|i: i64| {
            let start = base + chrono::Duration::minutes(i * 6 * 60 + 7 * 60);
            CalendarEntry {
                id: i,
                start,
                end: start + chrono::Duration::minutes(60 + (i % 3) * 30),
                busy: BusyStatus::ALL[i as usize % BusyStatus::ALL.len()],
                subject: "Møde".into(),
                all_day: false,
                override_code: None,
                origin: Origin::Outlook,
            }
        })
        .collect();
    state
}

/// Times every call on its own and returns (p50, p99, max) in microseconds.
pub(crate) fn percentiles(
    state: &UserState,
    now: DateTime<Utc>,
    call: &CallContext,
    iterations: usize,
) -> (f64, f64, f64) {
    for _ in 0..iterations / 10 {
        black_box(decide(black_box(state), black_box(now), black_box(call)));
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        black_box(decide(black_box(state), black_box(now), black_box(call)));
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[i.clamp(1, samples.len()) - 1].as_secs_f64() * 1e6
    };
    (at(50.0), at(99.0), at(100.0))
}

/// The instants measured, by what `decide` should find there.
pub(crate) fn cases() -> [(&'static str, DateTime<Utc>); 4] {
    [
        ("available (ring)", utc(25, 13, 0)),
        ("lunch absence (voicemail + back-at chain)", utc(24, 11, 10)),
        ("weekly meeting on the DST Monday", utc(30, 7, 30)),
        ("calendar meeting chain", utc(17, 7, 30)),
    ]
}

/// One row per (state, case): labels and (p50, p99, max) in µs.
pub(crate) fn run(iterations: usize) -> Vec<(String, (f64, f64, f64))> {
    let call = CallContext {
        dialled: "+4570202020".into(),
        ..CallContext::default()
    };
    let mut rows = Vec::new();
    for (label, state) in [
        ("realistic", realistic_state()),
        ("20 absences + 200 entries", heavy_state()),
    ] {
        for (name, now) in cases() {
            rows.push((
                format!("[{label}] {name}"),
                percentiles(&state, now, &call, iterations),
            ));
        }
    }
    rows
}

#[allow(dead_code)] // the smoke test includes this file as a module and calls `run`
fn main() {
    let iterations = std::env::var("ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for (label, (p50, p99, max)) in run(iterations) {
        println!("decide {label:<70} p50 {p50:>7.2} µs  p99 {p99:>7.2} µs  max {max:>8.2} µs");
    }
}
