//! Cost of the whole per-call routing lookup on SQLite: what the B2BUA's call driver does for
//! every INVITE before it can answer (`runtime::calls::route` and `plan`), timed call by call:
//!
//! 1. the caller's device by SIP username (an outside caller: not found),
//! 2. the callee by OneNumber or local number (`calls::find_user`: `Store::user_by_number`),
//! 3. the callee's routing state at `now` (`user_state::load`: organisation, absences
//!    and calendar entries in the look-ahead window, schedules, bindings, devices, voicemail
//!    settings),
//! 4. `routing::decide`.
//!
//! The store is a fresh SQLite file (WAL, `synchronous = FULL`, as `serve` opens it) holding
//! USERS users (default 10,000), each with 20 absences, 2 weekly schedules, 200 calendar
//! entries, a device and a binding: issue 9's population. Rows go in with plain SQL in one
//! transaction (the store's own `user_create` pays an fsync per user, minutes for 10,000).
//!
//! Run with `cargo bench --bench routing_lookup` (release). `LOOKUPS` (default 20,000) sets the
//! timed lookups, `USERS` the population. A plain timing loop, not criterion: the target is a
//! per-lookup p99, and criterion reports means over batches. `tests/bench_smoke.rs` runs the
//! same code at a tiny scale (and asserts on it) so it cannot rot.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use onestatus::domain::{BusyStatus, Reason};
use onestatus::presence::Presence;
use onestatus::routing::{decide, CallContext, Route};
use onestatus::store::{NewOrganisation, Store, StoreError};
use onestatus::user_state;

/// Absences, calendar entries and schedules per user (issue 9 §3).
pub(crate) const ABSENCES: i64 = 20;
pub(crate) const ENTRIES: i64 = 200;
pub(crate) const SCHEDULES: i64 = 2;
/// The organisation's customer code; OneNumbers are `45` + code + 5 digits.
const CODE: &str = "400";

/// The instant every lookup is made at: a Tuesday morning in Copenhagen.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 17, 9, 40, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// OneNumber of user `i`.
pub(crate) fn one_number(i: u32) -> String {
    format!("45{CODE}{i:05}")
}

/// Creates the population in the (migrated) SQLite store at `db`: `users` users (at most
/// 10,000: local numbers are the code plus the OneNumber's last four digits).
pub(crate) async fn populate(store: &Store, db: &Path, users: u32) -> Result<(), StoreError> {
    assert!(users <= 10_000, "local numbers allow 10,000 users per code");
    let at = now();
    let org = store
        .org_create(
            &NewOrganisation {
                customer_code: CODE.into(),
                name: "Lookup bench".into(),
                timezone: chrono_tz::Europe::Copenhagen,
                allow_external_forwarding: false,
                receptionist_group_number: None,
            },
            at,
        )
        .await?;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .foreign_keys(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let mut tx = pool.begin().await?;
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    let hour = 3_600_000i64;
    let base = ms(at);
    for i in 0..users {
        let one = one_number(i);
        let local = format!("{CODE}{}", &one[one.len() - 4..]);
        let user_id: i64 = sqlx::query_scalar(
            "INSERT INTO users (org_id, name, search_name, one_number, local_number, role, \
             pin_hash, pin_must_change, lang, created_at) VALUES ($1, $2, $3, $4, $5, 'user', \
             'bench', FALSE, 'da', $6) RETURNING id",
        )
        .bind(org.id.0)
        .bind(format!("Lookup User {i:05}"))
        .bind(format!("lookup user {i:05}"))
        .bind(&one)
        .bind(&local)
        .bind(base)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO voicemail_settings (user_id) VALUES ($1)")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let device_id: i64 = sqlx::query_scalar(
            "INSERT INTO devices (user_id, kind, sip_username, realm, ha1_md5, ha1_sha256, \
             created_at) VALUES ($1, 'soft', $2, 'bench', '', '', $3) RETURNING id",
        )
        .bind(user_id)
        .bind(&local)
        .bind(base)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO registrations (user_id, device_id, contact_uri, expires_at, call_id, \
             cseq, received_addr, transport, updated_at) VALUES ($1, $2, $3, $4, $5, 1, \
             '127.0.0.1:5070', 'udp', $6)",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(format!("sip:{local}@127.0.0.1:5070"))
        .bind(base + 365 * 24 * hour)
        .bind(format!("static-{local}"))
        .bind(base)
        .execute(&mut *tx)
        .await?;
        // Users differ by a few hours so the lookups land on different decisions: some in an
        // absence, some in a meeting, most available.
        let shift = i64::from(i % 24) * hour;
        for a in 0..ABSENCES {
            let starts = base - 2 * hour + a * 70 * hour - shift;
            sqlx::query(
                "INSERT INTO absences (user_id, reason, starts_at, ends_at, destination_kind, \
                 origin, created_at, updated_at) VALUES ($1, $2, $3, $4, 'voicemail', 'WEB', \
                 $5, $5)",
            )
            .bind(user_id)
            .bind(Reason::ALL[a as usize % Reason::ALL.len()].as_str())
            .bind(starts)
            .bind(starts + 3 * hour)
            .bind(base)
            .execute(&mut *tx)
            .await?;
        }
        for s in 0..SCHEDULES {
            sqlx::query(
                "INSERT INTO schedules (user_id, weekdays, start_min, end_min, reason, \
                 destination_kind, created_at) VALUES ($1, $2, $3, $4, 'meeting', 'voicemail', $5)",
            )
            .bind(user_id)
            // Monday 09-10 and Tuesday 14-15 local: in the state, not in force at `now`.
            .bind(1i64 << s)
            .bind(540 + 300 * s)
            .bind(600 + 300 * s)
            .bind(base)
            .execute(&mut *tx)
            .await?;
        }
        for e in 0..ENTRIES {
            // Every six hours from three weeks back: the driver reads the ~116 not yet ended.
            let starts = base - 21 * 24 * hour + e * 6 * hour + shift;
            sqlx::query(
                "INSERT INTO calendar_entries (user_id, external_uid, subject, starts_at, \
                 ends_at, busy_status, origin, seen_at, updated_at) VALUES ($1, $2, 'Møde', $3, \
                 $4, $5, 'OL', $6, $6)",
            )
            .bind(user_id)
            .bind(format!("uid-{e}"))
            .bind(starts)
            .bind(starts + hour + (e % 3) * hour / 2)
            .bind(BusyStatus::ALL[e as usize % BusyStatus::ALL.len()].as_str())
            .bind(base)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    // No ANALYZE: `serve` never runs it, and with statistics SQLite (built with STAT4, as
    // libsqlite3-sys bundles it) re-prepares every statement whose WHERE binds an indexed
    // column on each new binding: the profile of the lookup was then 58% `sqlite3Reprepare`
    // (benches/README.md, "Sixth session").
    pool.close().await;
    Ok(())
}

/// One lookup, as the call driver does it for an INVITE from outside to `dialled`.
pub(crate) async fn lookup(
    store: &Store,
    presence: &Presence,
    dialled: &str,
    now: DateTime<Utc>,
) -> Result<Route, StoreError> {
    let caller = "+4512345678";
    match store.device_by_sip_username(caller).await {
        Err(StoreError::NotFound(_)) => {}
        Ok(_) => {
            return Err(StoreError::Invalid {
                what: "caller",
                detail: "unexpectedly a device".into(),
            })
        }
        Err(e) => return Err(e),
    }
    let user = store.user_by_number(dialled).await?;
    let loaded = user_state::load(store, presence, user, now).await?;
    let context = CallContext {
        caller: Some(caller.into()),
        is_internal: false,
        dialled: dialled.into(),
        ..CallContext::default()
    };
    Ok(decide(&loaded.state, now, &context))
}

/// What one timed run found.
#[derive(Debug)]
pub(crate) struct Report {
    pub lookups: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// How many lookups ended in ring / forward / voicemail.
    pub routes: [usize; 3],
    /// Absences and calendar entries in the last user's 60-day read (proves the window holds
    /// them).
    pub last_absences: usize,
    pub last_entries: usize,
    /// Calendar entries the same user's call read (one day ahead, as the driver does).
    pub first_read_entries: usize,
}

/// Times `lookups` lookups over random users of `users` (after a warm-up of a tenth).
pub(crate) async fn measure(
    store: &Store,
    users: u32,
    lookups: usize,
) -> Result<Report, StoreError> {
    let presence = Presence::new();
    let at = now();
    // A fixed xorshift: the same users every run, spread over the whole table.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % u64::from(users)) as u32
    };
    for _ in 0..lookups / 10 {
        lookup(store, &presence, &one_number(next()), at).await?;
    }
    let mut samples = Vec::with_capacity(lookups);
    let mut routes = [0usize; 3];
    for _ in 0..lookups {
        let number = one_number(next());
        let start = Instant::now();
        let route = lookup(store, &presence, &number, at).await?;
        samples.push(start.elapsed());
        routes[match route {
            Route::Ring { .. } => 0,
            Route::Forward { .. } => 1,
            Route::Voicemail(_) => 2,
        }] += 1;
    }
    let user = store.user_by_one_number(&one_number(next())).await?;
    // What a call reads (one day ahead, settled there) and what the 60-day read holds.
    let first = user_state::load(store, &presence, user.clone(), at)
        .await?
        .state;
    let ahead = at + chrono::Duration::days(user_state::LOOK_AHEAD_DAYS);
    let state = user_state::load_until(store, &presence, user, at, ahead)
        .await?
        .state;
    samples.sort_unstable();
    let at_pct = |p: f64| {
        let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[i.clamp(1, samples.len()) - 1]
    };
    Ok(Report {
        lookups,
        p50: at_pct(50.0),
        p99: at_pct(99.0),
        max: at_pct(100.0),
        routes,
        last_absences: state.absences.len(),
        last_entries: state.calendar.len(),
        first_read_entries: first.calendar.len(),
    })
}

/// The routing snapshot's seven JSON texts, undecoded.
type SnapshotTexts = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// p50 of each store call of the lookup on its own (µs), to see where the time goes (the
/// device, user and snapshot reads direct to SQLite, the others and the raw query through sqlx).
pub(crate) async fn breakdown(
    store: &Store,
    db: &Path,
    users: u32,
    rounds: usize,
) -> Result<Vec<(&'static str, f64)>, StoreError> {
    let at = now();
    let ahead = at + chrono::Duration::days(60);
    // A pool of its own on the same file, as `serve` would open it, for the raw snapshot query.
    let raw = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
        )
        .await?;
    let raw = &raw;
    let mut times: Vec<(&'static str, Vec<Duration>)> = [
        "device_by_sip_username",
        "user_by_number",
        "org",
        "absences_overlapping",
        "schedules",
        "calendar::routing_entries",
        "registrations_active",
        "devices",
        "voicemail_settings",
        "routing_snapshot, one day",
        "routing_snapshot (3-8 in one)",
        "  60 days via sqlx, undecoded",
    ]
    .into_iter()
    .map(|n| (n, Vec::with_capacity(rounds)))
    .collect();
    for r in 0..rounds {
        let user = store
            .user_by_one_number(&one_number((r as u32 * 7919) % users))
            .await?;
        let (id, org) = (user.id, user.org_id);
        macro_rules! time {
            ($i:expr, $e:expr) => {{
                let start = Instant::now();
                let _ = $e;
                times[$i].1.push(start.elapsed());
            }};
        }
        time!(0, store.device_by_sip_username("+4512345678").await);
        time!(1, store.user_by_number(&user.one_number).await?);
        time!(2, store.org(org).await?);
        time!(3, store.absences_overlapping(id, at, ahead).await?);
        time!(4, store.schedules(id).await?);
        time!(
            5,
            onestatus::calendar::routing_entries(store, id, org, at, ahead).await?
        );
        time!(6, store.registrations_active(id, at).await?);
        time!(7, store.devices(id).await?);
        time!(8, store.voicemail_settings(id).await?);
        let day = at + chrono::Duration::days(user_state::FIRST_READ_DAYS);
        time!(9, store.routing_snapshot(id, org, at, day).await?);
        time!(10, store.routing_snapshot(id, org, at, ahead).await?);
        // The same query, its seven JSON texts fetched but not decoded.
        time!(11, {
            let row: SnapshotTexts =
                sqlx::query_as(onestatus::store::routing_snapshot_sqlite_text())
                    .bind(id.0)
                    .bind(org.0)
                    .bind(at.timestamp_millis())
                    .bind(ahead.timestamp_millis())
                    .fetch_one(raw)
                    .await?;
            row
        });
    }
    Ok(times
        .into_iter()
        .map(|(n, mut v)| {
            v.sort_unstable();
            (n, v[v.len() / 2].as_secs_f64() * 1e6)
        })
        .collect())
}

/// The lookup as `serve` makes it and the same-run reference.
#[derive(Debug)]
pub(crate) struct Comparison {
    /// Reads straight to SQLite (`store::sqlite_reader`), as `serve` makes them.
    pub direct: Report,
    /// The same lookups with every read through sqlx (the store without its direct reader):
    /// the reference, measured on the same file in the same run.
    pub sqlx: Report,
}

/// Measures `lookups` lookups on `store` with its direct reads, then through sqlx only.
pub(crate) async fn compare(
    store: &Store,
    users: u32,
    lookups: usize,
) -> Result<Comparison, StoreError> {
    if !store.has_direct_reads() {
        return Err(StoreError::Invalid {
            what: "store",
            detail: "a SQLite file store should read directly".into(),
        });
    }
    let direct = measure(store, users, lookups).await?;
    if store.direct_read_fallbacks() > 0 {
        return Err(StoreError::Invalid {
            what: "direct reads",
            detail: format!("{} handed back to sqlx", store.direct_read_fallbacks()),
        });
    }
    let sqlx = measure(&store.without_direct_reads(), users, lookups).await?;
    Ok(Comparison { direct, sqlx })
}

/// Builds a store of `users` users in `dir` and compares `lookups` lookups on it.
// Called by the smoke test (tests/bench_smoke.rs includes this file); this bench's own main
// uses the steps one by one.
#[allow(dead_code)]
pub(crate) async fn run(dir: &Path, users: u32, lookups: usize) -> Result<Comparison, StoreError> {
    let db = dir.join("lookup.db");
    let store = Store::connect(&format!("sqlite://{}", db.display())).await?;
    populate(&store, &db, users).await?;
    let report = compare(&store, users, lookups).await;
    store.close().await;
    report
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[allow(dead_code)] // the smoke test includes this file as a module and calls `run`
fn main() {
    let users: u32 = env("USERS", 10_000);
    let lookups: usize = env("LOOKUPS", 20_000);
    let mut dir = tempfile::tempdir().expect("temp dir");
    // KEEP_DB=1 leaves the populated file for `EXPLAIN QUERY PLAN` or a profile.
    dir.disable_cleanup(env("KEEP_DB", 0u8) == 1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let built = Instant::now();
    let report = runtime.block_on(async {
        let db = dir.path().join("lookup.db");
        if env("KEEP_DB", 0u8) == 1 {
            eprintln!("database kept: {}", db.display());
        }
        let store = Store::connect(&format!("sqlite://{}", db.display())).await?;
        populate(&store, &db, users).await?;
        eprintln!(
            "populated {users} users ({ABSENCES} absences, {ENTRIES} entries each) in {:.1} s",
            built.elapsed().as_secs_f64()
        );
        let report = compare(&store, users, lookups).await;
        if env("BREAKDOWN", 0u8) == 1 {
            for (name, p50) in breakdown(&store, &db, users, 2000).await? {
                println!("  {name:<28} p50 {p50:>8.1} µs");
            }
        }
        store.close().await;
        report
    });
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    match report {
        Ok(Comparison { direct: r, sqlx }) => {
            println!(
                "lookup [sqlite, {users} users, {ABSENCES} absences + {ENTRIES} entries each] \
                 {} lookups: p50 {:.1} µs  p99 {:.1} µs  max {:.1} µs  (ring {} / forward {} / \
                 voicemail {}; last state: {} absences, {} entries in 60 days, {} read by the \
                 call)",
                r.lookups,
                us(r.p50),
                us(r.p99),
                us(r.max),
                r.routes[0],
                r.routes[1],
                r.routes[2],
                r.last_absences,
                r.last_entries,
                r.first_read_entries
            );
            println!(
                "reference, every read through sqlx: p50 {:.1} µs  p99 {:.1} µs  max {:.1} µs \
                 (same decisions: {})",
                us(sqlx.p50),
                us(sqlx.p99),
                us(sqlx.max),
                sqlx.routes == r.routes
            );
        }
        Err(e) => {
            eprintln!("lookup bench failed: {e}");
            std::process::exit(1);
        }
    }
}
