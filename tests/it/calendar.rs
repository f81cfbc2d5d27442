//! Calendar import against a real SQLite store (temp file): import, re-import after Exchange
//! changed the feed, the user's edits and deletions surviving re-syncs, a malformed feed
//! keeping the previous copy, routing over the imported entries, and the HTTPS poller's
//! conditional requests against an HTTP server started here on 127.0.0.1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use onestatus::calendar::{self, sync::sync_round, CalendarError};
use onestatus::clock::ManualClock;
use onestatus::domain::{BusyStatus, Origin, Reason};
use onestatus::routing::{
    self, CalendarOverride, CallContext, Device, DeviceKind, GreetingStatus, Route, User,
    UserState, VoicemailSettings, WorkingHours,
};
use onestatus::store::{self, demo, CalendarEntry, CalendarSourceKind, EntryEdit, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const HANS: &str = "1000001";

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Monday 16 March 2026, 08:00 in Copenhagen (UTC+1): two weeks before the DST change.
fn now() -> DateTime<Utc> {
    utc(2026, 3, 16, 7, 0)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/ics")
        .join(name)
}

async fn demo_store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("cal.db").display());
    let store = Store::connect(&url).await.unwrap();
    demo::seed_at(&store, now() - chrono::Duration::days(30))
        .await
        .unwrap();
    store
}

/// The feed at a path that stays the same across versions, as a published file would.
fn install(dir: &tempfile::TempDir, fixture_name: &str) -> PathBuf {
    let path = dir.path().join("hans.ics");
    std::fs::copy(fixture(fixture_name), &path).unwrap();
    path
}

async fn entries(store: &Store) -> Vec<CalendarEntry> {
    let hans = store.user_by_local_number(HANS).await.unwrap();
    store
        .calendar_entries(
            hans.id,
            now() - chrono::Duration::days(1),
            now() + chrono::Duration::days(70),
        )
        .await
        .unwrap()
}

fn find<'a>(list: &'a [CalendarEntry], uid_part: &str, rid: &str) -> Option<&'a CalendarEntry> {
    list.iter()
        .find(|e| e.external_uid.contains(uid_part) && e.recurrence_id == rid)
}

const TEAM: &str = "AA11BB22CC33DD44EE55FF6677889900";

#[tokio::test]
async fn import_maps_an_outlook_feed() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(&dir).await;
    let path = install(&dir, "outlook-hans-v1.ics");
    let report = calendar::import_file(&store, HANS, &path, now())
        .await
        .unwrap();
    assert_eq!(report.events, 15);
    let list = entries(&store).await;
    assert_eq!(list.len(), report.instances);

    // The weekly meeting: 09:00 Copenhagen every Monday in the window (16 March .. 15 May),
    // 23 March excluded, 30 March moved to 13:00 summer time, 13 April cancelled.
    let team: Vec<_> = list
        .iter()
        .filter(|e| e.external_uid.contains(TEAM))
        .map(|e| (e.starts_at, e.subject.as_str()))
        .collect();
    assert_eq!(
        team,
        vec![
            (utc(2026, 3, 16, 8, 0), "Teammøde"),
            (
                utc(2026, 3, 30, 11, 0),
                "Teammøde (flyttet til eftermiddag)"
            ),
            (utc(2026, 4, 6, 7, 0), "Teammøde"),
            (utc(2026, 4, 20, 7, 0), "Teammøde"),
            (utc(2026, 4, 27, 7, 0), "Teammøde"),
            (utc(2026, 5, 4, 7, 0), "Teammøde"),
            (utc(2026, 5, 11, 7, 0), "Teammøde"),
        ]
    );
    let moved = find(&list, TEAM, "20260330T070000Z").expect("override keyed by its RECURRENCE-ID");
    assert_eq!(moved.origin, Origin::Outlook);

    // All-day OOF: Copenhagen midnight to midnight, Monday 30 March .. Saturday 4 April.
    let easter = find(&list, "ooo-easter", "").unwrap();
    assert!(easter.all_day);
    assert_eq!(easter.busy_status, BusyStatus::OutOfOffice);
    assert_eq!(easter.starts_at, utc(2026, 3, 29, 22, 0));
    assert_eq!(easter.ends_at, utc(2026, 4, 3, 22, 0));

    // The "Customized Time Zone" meeting, placed by its VTIMEZONE offsets.
    assert_eq!(
        find(&list, "budget", "").unwrap().starts_at,
        utc(2026, 3, 16, 9, 30)
    );
    // Statuses.
    let status = |uid| find(&list, uid, "").unwrap().busy_status;
    assert_eq!(status("tentative-0317"), BusyStatus::Tentative);
    assert_eq!(status("free-0317"), BusyStatus::Free);
    assert_eq!(status("hjemme-0318"), BusyStatus::WorkingElsewhere);
    assert_eq!(status("review-0320"), BusyStatus::Busy);
    // Floating time: Copenhagen wall clock.
    assert_eq!(
        find(&list, "review-0320", "").unwrap().starts_at,
        utc(2026, 3, 20, 8, 0)
    );
    // Cancelled meetings are not imported.
    assert!(find(&list, "kundemoede-aflyst", "").is_none());

    // Codes stay in the subject and are parsed for routing; the colleague is looked up.
    let hans = store.user_by_local_number(HANS).await.unwrap();
    let routed = calendar::routing_entries(
        &store,
        hans.id,
        hans.org_id,
        now(),
        now() + chrono::Duration::days(60),
    )
    .await
    .unwrap();
    let code = |subject: &str| {
        routed
            .iter()
            .find(|e| e.subject.starts_with(subject))
            .unwrap()
            .override_code
            .clone()
    };
    assert_eq!(code("Tandlæge"), Some(CalendarOverride::KeepOpen));
    assert_eq!(
        code("Messe"),
        Some(CalendarOverride::Forward("4570100002".into()))
    );
    assert_eq!(
        code("Workshop"),
        Some(CalendarOverride::Forward("4570100002".into())),
        "Karen Berg's OneNumber"
    );
    assert_eq!(code("Husk"), Some(CalendarOverride::Ignore));
    assert_eq!(
        code("Påskeferie"),
        Some(CalendarOverride::Reason(Reason::Holiday))
    );
    assert_eq!(code("Styregruppe"), None);
}

#[tokio::test]
async fn reimport_updates_removes_and_respects_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(&dir).await;
    let hans = store.user_by_local_number(HANS).await.unwrap();
    let path = install(&dir, "outlook-hans-v1.ics");
    calendar::import_file(&store, HANS, &path, now())
        .await
        .unwrap();
    let before = entries(&store).await;

    // The user edits Monday's 16 March meeting instance and deletes the 6 April one.
    let team_0316 = find(&before, TEAM, "20260316T080000Z").unwrap().id;
    let team_0406 = find(&before, TEAM, "20260406T070000Z").unwrap().id;
    let edit = EntryEdit {
        subject: "Teammøde – jeg tager telefonen [open]".into(),
        starts_at: utc(2026, 3, 16, 8, 0),
        ends_at: utc(2026, 3, 16, 8, 30),
        all_day: false,
        busy_status: BusyStatus::Busy,
        code_override: None,
    };
    let t1 = now() + chrono::Duration::minutes(5);
    store
        .calendar_user_edit(hans.id, team_0316, &edit, t1)
        .await
        .unwrap();
    store
        .calendar_user_delete(hans.id, team_0406, t1)
        .await
        .unwrap();
    // And edits the 10:30 budget meeting, which Exchange will then delete.
    let budget = find(&before, "budget", "").unwrap().id;
    let budget_edit = EntryEdit {
        subject: "Budget (min note)".into(),
        starts_at: utc(2026, 3, 16, 9, 30),
        ends_at: utc(2026, 3, 16, 11, 0),
        all_day: false,
        busy_status: BusyStatus::Busy,
        code_override: None,
    };
    store
        .calendar_user_edit(hans.id, budget, &budget_edit, t1)
        .await
        .unwrap();
    let styregruppe = find(&before, "styregruppe", "").unwrap().id;

    // A day of Exchange changes later (the same file path, new content).
    install(&dir, "outlook-hans-v2.ics");
    let t2 = now() + chrono::Duration::minutes(10);
    let report = calendar::import_file(&store, HANS, &path, t2)
        .await
        .unwrap();
    assert!(report.kept_as_user_left >= 2, "{report:?}");
    let after = entries(&store).await;

    // Updated in place (same row), new end.
    let s = find(&after, "styregruppe", "").unwrap();
    assert_eq!((s.id, s.ends_at), (styregruppe, utc(2026, 3, 16, 10, 30)));
    // New meeting, W. Europe Standard Time.
    assert_eq!(
        find(&after, "nyt-moede", "").unwrap().starts_at,
        utc(2026, 3, 20, 12, 0)
    );
    // The user's edit is untouched and still WEB.
    let e = find(&after, TEAM, "20260316T080000Z").unwrap();
    assert_eq!(e.subject, edit.subject);
    assert_eq!(e.ends_at, edit.ends_at);
    assert_eq!(e.origin, Origin::Web);
    // The user's deletion is not resurrected (hidden; the tombstone is still there).
    assert!(find(&after, TEAM, "20260406T070000Z").is_none());
    assert!(store.calendar_entry(team_0406).await.unwrap().user_deleted);
    // Deleted in Exchange but edited by the user: the user's now, kept.
    let b = find(&after, "budget", "").unwrap();
    assert_eq!((b.id, b.subject.as_str()), (budget, "Budget (min note)"));

    // Deleted in Exchange and not touched by the user: gone. Remove the edited one from v2's
    // perspective by deleting the series master from the feed entirely.
    let without_team: String = {
        let text = std::fs::read_to_string(&path).unwrap();
        text.split("BEGIN:VEVENT")
            .filter(|chunk| !chunk.contains(TEAM))
            .collect::<Vec<_>>()
            .join("BEGIN:VEVENT")
    };
    std::fs::write(&path, without_team).unwrap();
    let t3 = now() + chrono::Duration::minutes(15);
    calendar::import_file(&store, HANS, &path, t3)
        .await
        .unwrap();
    let last = entries(&store).await;
    let team_left: Vec<_> = last
        .iter()
        .filter(|e| e.external_uid.contains(TEAM))
        .collect();
    assert_eq!(team_left.len(), 1, "only the user-edited instance stays");
    assert_eq!(team_left[0].origin, Origin::Web);
}

#[tokio::test]
async fn malformed_feed_keeps_the_previous_copy_and_stores_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(&dir).await;
    let hans = store.user_by_local_number(HANS).await.unwrap();
    let path = install(&dir, "outlook-hans-v1.ics");
    calendar::import_file(&store, HANS, &path, now())
        .await
        .unwrap();
    let before = entries(&store).await;

    for (i, bad) in ["malformed-truncated.ics", "malformed-bad-date.ics"]
        .into_iter()
        .enumerate()
    {
        install(&dir, bad);
        let at = now() + chrono::Duration::minutes(1 + i as i64);
        let err = calendar::import_file(&store, HANS, &path, at)
            .await
            .unwrap_err();
        assert!(matches!(err, CalendarError::Feed(_)), "{bad}: {err}");
        assert_eq!(entries(&store).await, before, "{bad}: nothing lost");
        let sources = store.calendar_sources(Some(hans.id)).await.unwrap();
        assert_eq!(sources.len(), 1);
        let stored = sources[0].last_error.clone().unwrap();
        assert!(stored.contains("malformed"), "{stored}");
    }
    // A missing file is an error too, and also keeps the entries.
    std::fs::remove_file(&path).unwrap();
    let err = calendar::import_file(&store, HANS, &path, now() + chrono::Duration::minutes(5))
        .await
        .unwrap_err();
    assert!(matches!(err, CalendarError::Fetch(_)), "{err}");
    assert_eq!(entries(&store).await, before);

    // The next good feed clears the error.
    install(&dir, "outlook-hans-v1.ics");
    calendar::import_file(&store, HANS, &path, now() + chrono::Duration::minutes(6))
        .await
        .unwrap();
    let sources = store.calendar_sources(Some(hans.id)).await.unwrap();
    assert_eq!(sources[0].last_error, None);
    // Unknown user.
    assert!(matches!(
        calendar::import_file(&store, "9999999", &path, now()).await,
        Err(CalendarError::UnknownUser(_))
    ));
}

fn routing_state(user: &store::User, calendar: Vec<routing::CalendarEntry>) -> UserState {
    UserState {
        user: User {
            id: user.id.0,
            name: user.profile.name.clone(),
            timezone: chrono_tz::Europe::Copenhagen,
            devices: vec![Device {
                contact: "sip:1000001@127.0.0.1:5070".into(),
                kind: DeviceKind::Desk,
            }],
            mobile: None,
            no_answer_timeout: Duration::from_secs(20),
            allow_second_call: false,
            working_hours: WorkingHours::default(),
        },
        absences: vec![],
        schedules: vec![],
        calendar,
        active_calls: 0,
        voicemail: VoicemailSettings::default(),
    }
}

#[tokio::test]
async fn routing_over_imported_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(&dir).await;
    let hans = store.user_by_local_number(HANS).await.unwrap();
    let path = install(&dir, "outlook-hans-v1.ics");
    calendar::import_file(&store, HANS, &path, now())
        .await
        .unwrap();
    let call = CallContext {
        caller: Some("4522334455".into()),
        dialled: hans.one_number.clone(),
        ..CallContext::default()
    };
    let decide = |at: DateTime<Utc>| {
        let store = store.clone();
        let hans = hans.clone();
        let call = call.clone();
        async move {
            let cal = calendar::routing_entries(
                &store,
                hans.id,
                hans.org_id,
                at - chrono::Duration::days(1),
                at + chrono::Duration::days(60),
            )
            .await
            .unwrap();
            routing::decide(&routing_state(&hans, cal), at, &call)
        }
    };
    // 10:15 local on 16 March: Styregruppe 10:00–11:00 overlaps Budget 10:30–12:00 → back 12:00.
    match decide(utc(2026, 3, 16, 9, 15)).await {
        Route::Voicemail(info) => assert_eq!(
            info.status,
            GreetingStatus::Absent {
                reason: Reason::Meeting,
                back_at: Some(utc(2026, 3, 16, 11, 0)),
                free_text: None,
            }
        ),
        other => panic!("expected voicemail, got {other:?}"),
    }
    // Easter holiday (OOF + [Holiday]): back Saturday 4 April 00:00 local.
    match decide(utc(2026, 4, 1, 10, 0)).await {
        Route::Voicemail(info) => assert!(
            matches!(
                info.status,
                GreetingStatus::Absent { reason: Reason::Holiday, back_at: Some(b), .. }
                    if b == utc(2026, 4, 3, 22, 0)
            ),
            "{info:?}"
        ),
        other => panic!("expected voicemail, got {other:?}"),
    }
    // Tentative, free and working elsewhere ring the phone; so does [open] and [ignore].
    for at in [
        utc(2026, 3, 17, 11, 30),
        utc(2026, 3, 17, 13, 30),
        utc(2026, 3, 18, 10, 0),
        utc(2026, 3, 19, 8, 30),
        utc(2026, 3, 19, 14, 10),
    ] {
        assert!(matches!(decide(at).await, Route::Ring { .. }), "{at}");
    }
    // [FWD 4570100002] forwards.
    assert!(matches!(
        decide(utc(2026, 3, 19, 10, 30)).await,
        Route::Forward { ref number, .. } if number == "4570100002"
    ));
}

/// What the tiny HTTP server does for each request, in order.
#[derive(Clone)]
enum Answer {
    Ok { etag: &'static str, body: String },
    NotModifiedIf(&'static str),
    Status(u16),
}

/// Serves `answers` one per connection on 127.0.0.1; records the request heads.
async fn http_server(answers: Vec<Answer>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in answers {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            log.lock().unwrap().push(head.clone());
            let response = match answer {
                Answer::Ok { etag, body } => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/calendar; charset=utf-8\r\nETag: {etag}\r\nLast-Modified: Mon, 16 Mar 2026 06:00:00 GMT\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                Answer::NotModifiedIf(etag) => {
                    let lower = head.to_ascii_lowercase();
                    if lower.contains(&format!("if-none-match: {}", etag.to_ascii_lowercase())) {
                        "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n".to_owned()
                    } else {
                        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                    }
                }
                Answer::Status(code) => format!(
                    "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
            sock.write_all(response.as_bytes()).await.unwrap();
            let _ = sock.shutdown().await;
        }
    });
    (
        format!("http://{addr}/owa/calendar/hans/calendar.ics"),
        seen,
    )
}

#[tokio::test]
async fn https_poller_uses_etags_and_survives_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(&dir).await;
    let hans = store.user_by_local_number(HANS).await.unwrap();
    let v1 = std::fs::read_to_string(fixture("outlook-hans-v1.ics")).unwrap();
    let bad = std::fs::read_to_string(fixture("malformed-truncated.ics")).unwrap();
    let (url, seen) = http_server(vec![
        Answer::Ok {
            etag: "\"v1\"",
            body: v1,
        },
        Answer::NotModifiedIf("\"v1\""),
        Answer::Status(500),
        Answer::Ok {
            etag: "\"v3\"",
            body: bad,
        },
    ])
    .await;
    let source = store
        .calendar_source_create(
            hans.id,
            CalendarSourceKind::Url,
            &url,
            Some("Bearer s3cret"),
            now(),
        )
        .await
        .unwrap();
    let clock = ManualClock::new(now());
    let mut bodies = HashMap::new();
    // The feed server is on loopback over http: allow-listed, as an on-premises server would be.
    let policy = calendar::FetchPolicy {
        allow_http: true,
        allowed_networks: vec!["127.0.0.1".parse().unwrap()],
    };

    // 1: 200 with ETag → imported.
    sync_round(&store, &clock, &policy, &mut bodies).await;
    let first = entries(&store).await;
    assert!(first.len() > 10);
    let src = &store.calendar_sources(Some(hans.id)).await.unwrap()[0];
    assert_eq!(src.etag.as_deref(), Some("\"v1\""));
    assert_eq!(src.last_error, None);

    // 2: conditional request → 304; the cached body is re-expanded a week later, so next
    // week's instance of the weekly meeting appears and last week's ends are pruned.
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    sync_round(&store, &clock, &policy, &mut bodies).await;
    let src = &store.calendar_sources(Some(hans.id)).await.unwrap()[0];
    assert_eq!(src.last_error, None);
    let later = store
        .calendar_entries(
            hans.id,
            clock_now(&clock),
            clock_now(&clock) + chrono::Duration::days(61),
        )
        .await
        .unwrap();
    assert!(later
        .iter()
        .any(|e| e.external_uid.contains(TEAM) && e.starts_at == utc(2026, 5, 18, 7, 0)));

    // 3: 500 → error stored, entries kept.
    let kept = entries(&store).await;
    clock.advance(Duration::from_secs(60));
    sync_round(&store, &clock, &policy, &mut bodies).await;
    let src = &store.calendar_sources(Some(hans.id)).await.unwrap()[0];
    assert_eq!(src.last_error.as_deref(), Some("HTTP status 500"));
    assert_eq!(entries(&store).await, kept);

    // 4: 200 with a malformed body → rejected, entries kept, old ETag kept.
    clock.advance(Duration::from_secs(60));
    sync_round(&store, &clock, &policy, &mut bodies).await;
    let src = &store.calendar_sources(Some(hans.id)).await.unwrap()[0];
    assert!(src.last_error.as_deref().unwrap().contains("malformed"));
    assert_eq!(src.etag.as_deref(), Some("\"v1\""));
    assert_eq!(entries(&store).await, kept);
    assert_eq!(src.id, source.id);

    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 4);
    assert!(!heads[0].to_ascii_lowercase().contains("if-none-match"));
    let second = heads[1].to_ascii_lowercase();
    assert!(second.contains("if-none-match: \"v1\""), "{second}");
    assert!(second.contains("if-modified-since: mon, 16 mar 2026 06:00:00 gmt"));
    assert!(second.contains("authorization: bearer s3cret"));
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use onestatus::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn pushed_body_and_the_sync_driver() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(&dir).await;
    let hans = store.user_by_local_number(HANS).await.unwrap();
    let v1 = std::fs::read_to_string(fixture("outlook-hans-v1.ics")).unwrap();
    let report = calendar::import_body(&store, hans.id, &v1, now())
        .await
        .unwrap();
    assert_eq!(report.instances, entries(&store).await.len());
    let bad = std::fs::read_to_string(fixture("malformed-bad-date.ics")).unwrap();
    assert!(
        calendar::import_body(&store, hans.id, &bad, now() + chrono::Duration::minutes(1))
            .await
            .is_err()
    );
    let sources = store.calendar_sources(Some(hans.id)).await.unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].url, calendar::PUSHED_SOURCE_URL);
    assert!(sources[0].last_error.is_some());

    // The driver runs a round at once and stops on shutdown. A file source added here is
    // imported by it; the pushed source is not polled (its error stays).
    let path = install(&dir, "outlook-hans-v2.ics");
    let karen = store.user_by_local_number("1000002").await.unwrap();
    store
        .calendar_source_create(
            karen.id,
            CalendarSourceKind::File,
            &path.display().to_string(),
            None,
            now(),
        )
        .await
        .unwrap();
    let shutdown = onestatus::shutdown::Shutdown::new();
    let task = tokio::spawn(calendar::run_sync(
        store.clone(),
        Arc::new(ManualClock::new(now())),
        Duration::from_secs(3600),
        shutdown.listener(),
    ));
    // Wait until the round has recorded the sync (it does so after all upserts and the prune).
    for _ in 0..100 {
        let synced = store.calendar_sources(Some(karen.id)).await.unwrap()[0].last_sync_at;
        if synced.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let imported = store
        .calendar_entries(karen.id, now(), now() + chrono::Duration::days(60))
        .await
        .unwrap();
    assert!(imported
        .iter()
        .any(|e| e.external_uid.contains("nyt-moede")));
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run_sync stops on shutdown")
        .unwrap();
    let pushed = store.calendar_sources(Some(hans.id)).await.unwrap();
    assert!(pushed[0].last_error.is_some());
}
