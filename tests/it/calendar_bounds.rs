//! Issue #19 finding 6: what one calendar feed may cost. 40 events of `RRULE:FREQ=MINUTELY`
//! (5.8 KB) stored 40,000 rows, and `GET /me/calendar` then answered 13 MB. Rows are counted
//! here, not time: the bounds are counts (`calendar::expand`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use tower::ServiceExt;

use onestatus::api::{router, ApiConfig, ApiState};
use onestatus::calendar::expand::{MAX_INSTANCES_PER_FEED, MAX_INSTANCES_PER_SERIES};
use onestatus::calendar::{self, CalendarError, IcsError};
use onestatus::clock::ManualClock;
use onestatus::presence::Presence;
use onestatus::store::{demo, Store, UserId};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 16, 7, 0, 0).unwrap()
}

async fn store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("cal.db").display());
    let store = Store::connect(&url).await.unwrap();
    demo::seed_at(&store, now() - Duration::days(30))
        .await
        .unwrap();
    store
}

/// `n` events repeating by `rule` from today on, as the probe sent them.
fn feed(n: usize, rule: &str) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//probe//EN\r\n");
    for i in 0..n {
        text.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:probe-{i}@x\r\nDTSTAMP:20260316T060000Z\r\n\
             DTSTART:20260316T070000Z\r\nDURATION:PT1M\r\nSUMMARY:x\r\nRRULE:{rule}\r\n\
             END:VEVENT\r\n"
        ));
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

async fn rows(store: &Store, user: UserId) -> usize {
    store
        .calendar_entries(user, now() - Duration::days(1), now() + Duration::days(61))
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn the_minutely_probe_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let hans = store.user_by_local_number("1000001").await.unwrap().id;
    let probe = feed(40, "FREQ=MINUTELY");
    assert!(
        probe.len() < 8 * 1024,
        "the probe is small: {}",
        probe.len()
    );
    let err = calendar::import_body(&store, hans, &probe, now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CalendarError::Feed(IcsError::TooFrequent { .. })),
        "{err}"
    );
    assert_eq!(rows(&store, hans).await, 0);
    let sources = store.calendar_sources(Some(hans)).await.unwrap();
    assert!(sources[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("more often than hourly"));
}

#[tokio::test]
async fn hourly_series_are_clamped_per_series_and_refused_per_feed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let hans = store.user_by_local_number("1000001").await.unwrap().id;

    // 3 hourly series: 1,440 instances each in 60 days, clamped to the per-series cap.
    let report = calendar::import_body(&store, hans, &feed(3, "FREQ=HOURLY"), now())
        .await
        .unwrap();
    let per_series = usize::from(MAX_INSTANCES_PER_SERIES);
    assert_eq!(report.instances, 3 * per_series);
    assert_eq!(rows(&store, hans).await, 3 * per_series);

    // 40 of them would be 40,000: the feed is refused and the previous copy stays.
    let err = calendar::import_body(
        &store,
        hans,
        &feed(40, "FREQ=HOURLY"),
        now() + Duration::minutes(1),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            CalendarError::Feed(IcsError::TooManyInstances { limit }) if limit == MAX_INSTANCES_PER_FEED
        ),
        "{err}"
    );
    assert_eq!(rows(&store, hans).await, 3 * per_series);
}

async fn get(app: &axum::Router, path: &str, token: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_listing_is_paged() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let hans = store.user_by_local_number("1000001").await.unwrap().id;
    calendar::import_body(&store, hans, &feed(3, "FREQ=HOURLY"), now())
        .await
        .unwrap();
    let clock = ManualClock::new(now());
    let state = ApiState::new(
        store,
        Presence::new(),
        Arc::new(clock),
        ApiConfig::default(),
    );
    let app = router(state);
    let login = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"local_number": "1000001", "pin": "2580"}).to_string(),
        ))
        .unwrap();
    let response = app.clone().oneshot(login).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let token = serde_json::from_slice::<Value>(&body).unwrap()["token"]
        .as_str()
        .expect("demo login")
        .to_owned();

    // 14 days of 3 hourly series: 3 × 336 = 1,008 entries (the first at 07:00 today).
    let (status, page) = get(&app, "/api/v1/me/calendar", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page.as_array().unwrap().len(),
        onestatus::api::calendar::DEFAULT_ENTRY_PAGE as usize
    );
    let (_, first) = get(&app, "/api/v1/me/calendar?limit=1000", &token).await;
    let (_, rest) = get(&app, "/api/v1/me/calendar?limit=1000&offset=1000", &token).await;
    let first = first.as_array().unwrap();
    let rest = rest.as_array().unwrap();
    assert_eq!((first.len(), rest.len()), (1000, 8));
    assert!(first[999]["starts_at"].as_str() <= rest[0]["starts_at"].as_str());
    assert_eq!(first[0], page[0]);

    let (status, error) = get(&app, "/api/v1/me/calendar?limit=1001", &token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "limit");
    let (status, error) = get(&app, "/api/v1/me/calendar?limit=0", &token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "limit");
}
