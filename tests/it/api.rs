//! The side API, called through the real router (`tower::ServiceExt::oneshot`) on a store in a
//! temporary SQLite file with the demo organisation, a second organisation, and a set clock;
//! plus one test over real HTTP against the running binary.

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use onestatus::api::notifier::{DeliveryFuture, NewPin, PinNotifier};
use onestatus::api::{router, ApiConfig, ApiState, ROUTES};
use onestatus::clock::ManualClock;
use onestatus::domain::BusyStatus;
use onestatus::domain::{Lang, Role};
use onestatus::presence::Presence;
use onestatus::store::{
    CallData, CallDirection, NewOrganisation, NewUser, NewVoicemail, Profile, Store, SyncedEntry,
    User, UserId,
};

/// Monday 5 January 2026, 10:00 UTC = 11:00 in Copenhagen (working hours 08–16).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
}

/// Captures PINs "sent" by pin-reset, as the e-mail/SMS notifier would deliver them.
#[derive(Default)]
struct Outbox(Mutex<Vec<(UserId, String)>>);

impl PinNotifier for Outbox {
    fn send_new_pin<'a>(&'a self, user: &'a User, pin: &'a NewPin) -> DeliveryFuture<'a> {
        self.0
            .lock()
            .unwrap()
            .push((user.id, pin.expose().to_owned()));
        Box::pin(async { Ok(()) })
    }
}

struct Api {
    app: Router,
    state: ApiState,
    clock: ManualClock,
    outbox: Arc<Outbox>,
    /// The user of the other organisation ("Hanne Other", local number 2000001).
    outsider: User,
    _dir: tempfile::TempDir,
}

async fn setup_with(config: ApiConfig) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    setup_on(&url, config, dir).await
}

async fn setup_on(url: &str, config: ApiConfig, dir: tempfile::TempDir) -> Api {
    let store = Store::connect(url).await.unwrap();
    onestatus::store::demo::seed_at(&store, t0()).await.unwrap();
    let other = store
        .org_create(
            &NewOrganisation {
                customer_code: "200".into(),
                name: "Other ApS".into(),
                timezone: chrono_tz::Europe::Copenhagen,
                allow_external_forwarding: false,
                receptionist_group_number: None,
            },
            t0(),
        )
        .await
        .unwrap();
    let outsider = store
        .user_create(
            &NewUser {
                org_id: other.id,
                one_number: "4570200001".into(),
                role: Role::User,
                profile: Profile::new("Hanne Other", Lang::Da),
                pin_hash: onestatus::pin::hash_pin("2580"),
                pin_must_change: false,
            },
            t0(),
        )
        .await
        .unwrap();
    let clock = ManualClock::new(t0());
    let outbox = Arc::new(Outbox::default());
    let state = ApiState::new(store, Presence::new(), Arc::new(clock.clone()), config)
        .with_notifier(outbox.clone());
    Api {
        app: router(state.clone()),
        state,
        clock,
        outbox,
        outsider,
        _dir: dir,
    }
}

async fn setup() -> Api {
    setup_with(ApiConfig::default()).await
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `field` of an error body.
    fn field(&self) -> String {
        self.json()["error"]["field"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

impl Api {
    async fn request(&self, req: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.request(req).await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn login_reply(&self, local_number: &str, pin: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/login",
            None,
            Some(json!({ "local_number": local_number, "pin": pin })),
        )
        .await
    }

    async fn login(&self, local_number: &str) -> String {
        let r = self.login_reply(local_number, "2580").await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
        r.json()["token"].as_str().unwrap().to_owned()
    }

    async fn user_id(&self, local_number: &str) -> i64 {
        self.state
            .store
            .user_by_local_number(local_number)
            .await
            .unwrap()
            .id
            .0
    }
}

const HANS: &str = "1000001";
const KAREN: &str = "1000002";
const SVEN: &str = "1000003";

#[tokio::test]
async fn login_bearer_cookie_and_logout() {
    let api = setup().await;
    let r = api.login_reply(HANS, "2580").await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert_eq!(body["user"]["name"], "Hans Hansen");
    assert_eq!(body["pin_must_change"], false);
    assert_eq!(body["expires_at"], "2026-01-05T22:00:00Z");
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("onestatus_session={token}")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let me = api.get("/api/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["local_number"], HANS);
    assert!(me.json().get("pin_hash").is_none());

    let by_cookie = api
        .request(
            Request::get("/api/v1/me")
                .header(header::COOKIE, format!("x=1; onestatus_session={token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(by_cookie.status, StatusCode::OK);

    let out = api
        .call(Method::POST, "/api/v1/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = api.get("/api/v1/me", &token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.json()["error"]["code"], "unauthenticated");

    // Sessions expire.
    let token = api.login(HANS).await;
    api.clock.advance(std::time::Duration::from_secs(13 * 3600));
    assert_eq!(
        api.get("/api/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_pins_lock_the_number_with_the_same_answer_as_an_unknown_number() {
    let api = setup().await;
    let unknown = api.login_reply("1009999", "2580").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for _ in 0..5 {
        let r = api.login_reply(HANS, "1111").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body, unknown.body, "no hint whether the number exists");
    }
    let locked = api.login_reply(HANS, "2580").await;
    assert_eq!(
        locked.status,
        StatusCode::UNAUTHORIZED,
        "locked: right PIN refused"
    );
    assert_eq!(locked.body, unknown.body);
    // Other users are not affected.
    api.login(SVEN).await;
    api.clock.advance(std::time::Duration::from_secs(16 * 60));
    api.login(HANS).await;
}

#[tokio::test]
async fn failures_from_one_address_are_limited() {
    let api = setup_with(ApiConfig {
        ip_max_attempts: 3,
        ..ApiConfig::default()
    })
    .await;
    let from = |addr: &str| {
        let mut req = Request::post("/api/v1/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"local_number": SVEN, "pin": "9999"}).to_string(),
            ))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(addr.parse::<SocketAddr>().unwrap()));
        req
    };
    for _ in 0..3 {
        assert_eq!(
            api.request(from("192.0.2.7:5000")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = api.request(from("192.0.2.7:5001")).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers[header::RETRY_AFTER], "600");
    assert_eq!(limited.json()["error"]["code"], "too_many_requests");
    assert_eq!(
        api.request(from("192.0.2.8:5000")).await.status,
        StatusCode::UNAUTHORIZED,
        "another address is not limited"
    );
}

#[tokio::test]
async fn pin_reset_forces_a_pin_change() {
    let api = setup().await;
    // A session opened with the old PIN, which the reset must end.
    let before_reset = api.login(SVEN).await;
    let unknown = api
        .call(
            Method::POST,
            "/api/v1/pin-reset",
            None,
            Some(json!({"local_number": "1009999"})),
        )
        .await;
    let known = api
        .call(
            Method::POST,
            "/api/v1/pin-reset",
            None,
            Some(json!({"local_number": SVEN})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(
        unknown.body, known.body,
        "no hint whether the number exists"
    );
    assert!(!String::from_utf8_lossy(&known.body).contains(char::is_numeric));
    let sent = api.outbox.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let new_pin = sent[0].1.clone();

    assert_eq!(
        api.login_reply(SVEN, "2580").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/api/v1/me", &before_reset).await.status,
        StatusCode::UNAUTHORIZED,
        "a reset ends the sessions of the old PIN"
    );
    let r = api.login_reply(SVEN, &new_pin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["pin_must_change"], true);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let elsewhere = api.login_reply(SVEN, &new_pin).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let blocked = api.get("/api/v1/me", &token).await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert_eq!(blocked.json()["error"]["code"], "pin_change_required");

    let change = |current: &str, new: &str| json!({ "current_pin": current, "new_pin": new });
    for (bad, why) in [
        ("0000", "default"),
        ("0003", "own local number"),
        ("12a4", "digits"),
    ] {
        let r = api
            .call(
                Method::PUT,
                "/api/v1/me/pin",
                Some(&token),
                Some(change(&new_pin, bad)),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        assert_eq!(r.field(), "new_pin");
    }
    let wrong = api
        .call(
            Method::PUT,
            "/api/v1/me/pin",
            Some(&token),
            Some(change("9999", "1357")),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.field(), "current_pin");
    let ok = api
        .call(
            Method::PUT,
            "/api/v1/me/pin",
            Some(&token),
            Some(change(&new_pin, "1357")),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/api/v1/me", &token).await.status, StatusCode::OK);
    assert_eq!(
        api.get("/api/v1/me", &elsewhere).await.status,
        StatusCode::UNAUTHORIZED,
        "the change ends every other session"
    );
    assert_eq!(api.login_reply(SVEN, "1357").await.status, StatusCode::OK);
}

#[tokio::test]
async fn colleague_search_stays_in_the_organisation() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let r = api.get("/api/v1/colleagues?q=han", &hans).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<String> = r.json()["colleagues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["Hans Hansen"],
        "Hanne of the other organisation is not found"
    );
    assert_eq!(r.json()["colleagues"][0]["presence"]["status"], "available");

    let all = api.get("/api/v1/colleagues?scope=internal", &hans).await;
    assert_eq!(all.json()["colleagues"].as_array().unwrap().len(), 4);
    let other = api
        .get(&format!("/api/v1/users/{}", api.outsider.id), &hans)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let timeline = api
        .get(
            &format!("/api/v1/users/{}/timeline", api.outsider.id),
            &hans,
        )
        .await;
    assert_eq!(timeline.status, StatusCode::NOT_FOUND);

    let bad = api.get("/api/v1/colleagues?scope=everyone", &hans).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.field(), "scope");
    let unknown = api.get("/api/v1/colleagues?colour=red", &hans).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.field(), "colour");

    // On the phone, from the presence the B2BUA writes.
    let sven_id = api.user_id(SVEN).await;
    api.state.presence.call_started(sven_id, "call-1");
    let r = api.get("/api/v1/colleagues?q=sven", &hans).await;
    assert_eq!(
        r.json()["colleagues"][0]["presence"]["status"],
        "on_the_phone"
    );
}

#[tokio::test]
async fn receptionists_see_notes_and_set_absences_for_others() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let karen = api.login(KAREN).await;
    let sven = api.login(SVEN).await;
    let r = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({
                "reason": "meeting",
                "to": "2026-01-05T12:00:00+01:00",
                "destination": {"kind": "voicemail"},
                "free_text": "Board meeting",
                "receptionist_note": "urgent: call mobile"
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());

    let seen_by = |token: String| {
        let api = &api;
        async move {
            let r = api.get("/api/v1/colleagues?q=hans", &token).await;
            r.json()["colleagues"][0]["presence"].clone()
        }
    };
    let by_karen = seen_by(karen.clone()).await;
    assert_eq!(by_karen["status"], "absent");
    assert_eq!(by_karen["absence"]["reason"], "meeting");
    assert_eq!(by_karen["absence"]["until"], "2026-01-05T11:00:00Z");
    assert_eq!(by_karen["absence"]["free_text"], "Board meeting");
    assert_eq!(by_karen["absence"]["origin"], "WEB");
    assert_eq!(by_karen["absence"]["keep_phone_open"], false);
    assert_eq!(
        by_karen["absence"]["receptionist_note"],
        "urgent: call mobile"
    );
    let by_sven = seen_by(sven.clone()).await;
    assert_eq!(by_sven["absence"]["free_text"], "Board meeting");
    assert!(
        by_sven["absence"].get("receptionist_note").is_none(),
        "{by_sven}"
    );

    // Karen sets an absence for Sven: origin is her initials.
    let sven_id = api.user_id(SVEN).await;
    let path = format!("/api/v1/users/{sven_id}/absences");
    let r = api
        .post(
            &path,
            &karen,
            json!({"reason": "sick", "destination": {"kind": "voicemail"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["origin"], "KB");
    assert_eq!(r.json()["ends_at"], Value::Null);
    // A user may not.
    let hans_id = api.user_id(HANS).await;
    let r = api
        .post(
            &format!("/api/v1/users/{hans_id}/absences"),
            &sven,
            json!({"reason": "sick", "destination": {"kind": "voicemail"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nor may Karen outside her organisation.
    let r = api
        .post(
            &format!("/api/v1/users/{}/absences", api.outsider.id),
            &karen,
            json!({"reason": "sick", "destination": {"kind": "voicemail"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn absence_crud_and_validation_errors_name_the_field() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let mut events = api.state.presence.subscribe();
    let cases = [
        (
            json!({"reason": "lunch", "from": "2026-01-05T12:00:00Z", "to": "2026-01-05T11:00:00Z",
                "destination": {"kind": "voicemail"}}),
            422,
            "to",
        ),
        (
            json!({"reason": "lunch", "destination": {"kind": "voicemail"}, "colour": "red"}),
            422,
            "colour",
        ),
        (
            json!({"reason": "nap", "destination": {"kind": "voicemail"}}),
            422,
            "reason",
        ),
        (
            json!({"reason": "lunch", "from": "2026-01-05 12:00",
                   "destination": {"kind": "voicemail"}}),
            422,
            "from",
        ),
        (
            json!({"reason": "lunch", "destination": {"kind": "number"}}),
            422,
            "destination.number",
        ),
        (
            json!({"reason": "lunch", "destination": {"kind": "number", "number": "12ab"}}),
            422,
            "destination.number",
        ),
        (
            json!({"reason": "lunch", "destination": {"kind": "number", "number": "4570100001"}}),
            422,
            "destination.number",
        ),
        (json!({"reason": "lunch"}), 422, "destination"),
    ];
    for (body, status, field) in cases {
        let r = api.post("/api/v1/me/absences", &hans, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {:?}", r.json());
        assert_eq!(r.field(), field, "{body}: {:?}", r.json());
    }
    let not_json = api
        .request(
            Request::post("/api/v1/me/absences")
                .header(header::AUTHORIZATION, format!("Bearer {hans}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.json()["error"]["code"], "invalid_json");
    let form = api
        .request(
            Request::post("/api/v1/me/absences")
                .header(header::AUTHORIZATION, format!("Bearer {hans}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("reason=lunch"))
                .unwrap(),
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({"reason": "lunch", "destination": {"kind": "voicemail"},
                   "free_text": "x".repeat(100_000)}),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.json()["error"]["code"], "payload_too_large");
    let long = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({"reason": "lunch", "destination": {"kind": "voicemail"},
                   "free_text": "x".repeat(201)}),
        )
        .await;
    assert_eq!(long.field(), "free_text");

    let created = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({"reason": "meeting", "from": "2026-01-05T13:00:00+01:00",
                   "to": "2026-01-05T14:00:00+01:00",
                   "destination": {"kind": "number", "number": "4570100002"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json());
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(created.json()["starts_at"], "2026-01-05T12:00:00Z");
    assert_eq!(created.json()["destination"]["number"], "4570100002");
    let hans_id = api.user_id(HANS).await;
    assert_eq!(
        events.try_recv().unwrap(),
        onestatus::presence::PresenceEvent::Availability { user_id: hans_id }
    );

    let list = api.get("/api/v1/me/absences", &hans).await;
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    let path = format!("/api/v1/me/absences/{id}");
    let updated = api
        .call(
            Method::PUT,
            &path,
            Some(&hans),
            Some(
                json!({"reason": "meeting", "from": "2026-01-05T13:00:00+01:00",
                        "to": null, "destination": {"kind": "open"}, "free_text": "Offsite"}),
            ),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.json());
    assert_eq!(updated.json()["ends_at"], Value::Null);
    assert_eq!(updated.json()["destination"]["kind"], "open");

    // Another user cannot see, change or delete it.
    let sven = api.login(SVEN).await;
    assert_eq!(api.get(&path, &sven).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::DELETE, &path, Some(&sven), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call(Method::DELETE, &path, Some(&hans), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get(&path, &hans).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn external_forwarding_follows_the_organisation_rule() {
    let api = setup().await;
    // The other organisation forbids external numbers.
    let hanne = api.login("2000001").await;
    let r = api
        .post(
            "/api/v1/me/absences",
            &hanne,
            json!({"reason": "lunch", "destination": {"kind": "number", "number": "4512345678"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "external_forwarding_not_allowed");
    assert_eq!(r.field(), "destination.number");
    // The demo organisation allows them.
    let hans = api.login(HANS).await;
    let r = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({"reason": "lunch", "destination": {"kind": "number", "number": "+4512345678"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn voicemail_is_private_and_audio_supports_ranges() {
    let api = setup().await;
    let hans_id = api.user_id(HANS).await;
    let audio: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let vm = api
        .state
        .store
        .voicemail_insert(&NewVoicemail {
            user_id: UserId(hans_id),
            caller_number: Some("4522334455".into()),
            caller_name: None,
            received_at: t0() - Duration::minutes(5),
            duration_ms: 4000,
            audio: audio.clone(),
        })
        .await
        .unwrap();
    let hans = api.login(HANS).await;
    let sven = api.login(SVEN).await;

    let list = api.get("/api/v1/me/voicemail", &hans).await.json();
    assert_eq!(list["counts"]["new_voice"], 1);
    assert_eq!(list["messages"][0]["kind"], "voice");
    assert_eq!(list["messages"][0]["new"], true);
    assert_eq!(
        api.get("/api/v1/me/voicemail", &sven).await.json()["counts"]["total"],
        0
    );

    let audio_path = format!("/api/v1/me/voicemail/{}/audio", vm.id);
    let item_path = format!("/api/v1/me/voicemail/{}", vm.id);
    assert_eq!(
        api.get(&audio_path, &sven).await.status,
        StatusCode::NOT_FOUND
    );
    let patch = api
        .call(
            Method::PATCH,
            &item_path,
            Some(&sven),
            Some(json!({"state": "read"})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::DELETE, &item_path, Some(&sven), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let full = api.get(&audio_path, &hans).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.headers[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(full.headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(full.body, audio);

    let ranged = |range: &'static str| {
        Request::get(&audio_path)
            .header(header::AUTHORIZATION, format!("Bearer {hans}"))
            .header(header::RANGE, range)
            .body(Body::empty())
            .unwrap()
    };
    let part = api.request(ranged("bytes=100-109")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers[header::CONTENT_RANGE], "bytes 100-109/1000");
    assert_eq!(part.headers[header::CONTENT_LENGTH], "10");
    assert_eq!(part.body, audio[100..110]);
    let tail = api.request(ranged("bytes=-24")).await;
    assert_eq!(tail.headers[header::CONTENT_RANGE], "bytes 976-999/1000");
    assert_eq!(tail.body, audio[976..]);
    let etag = full.headers[header::ETAG].to_str().unwrap().to_owned();
    let if_range = |validator: &str| {
        Request::get(&audio_path)
            .header(header::AUTHORIZATION, format!("Bearer {hans}"))
            .header(header::RANGE, "bytes=0-9")
            .header(header::IF_RANGE, validator)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        api.request(if_range(&etag)).await.status,
        StatusCode::PARTIAL_CONTENT
    );
    let stale = api.request(if_range("\"other\"")).await;
    assert_eq!(
        stale.status,
        StatusCode::OK,
        "a stale validator gets everything"
    );
    assert_eq!(stale.body.len(), 1000);
    let outside = api.request(ranged("bytes=1000-")).await;
    assert_eq!(outside.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.headers[header::CONTENT_RANGE], "bytes */1000");

    let patch = api
        .call(
            Method::PATCH,
            &item_path,
            Some(&hans),
            Some(json!({"state": "saved"})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::NO_CONTENT);
    let list = api.get("/api/v1/me/voicemail", &hans).await.json();
    assert_eq!(list["counts"]["new_voice"], 0);
    assert_eq!(list["messages"][0]["state"], "saved");

    // A written message from Sven shows in Hans's list, not in Sven's.
    let sent = api
        .post(
            "/api/v1/me/messages",
            &sven,
            json!({"to_user_id": hans_id, "channel": "email", "body": "Call me back"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.json());
    let list = api.get("/api/v1/me/voicemail", &hans).await.json();
    assert_eq!(list["counts"]["new_written"], 1);
    assert_eq!(list["messages"][0]["kind"], "written");
    assert_eq!(list["messages"][0]["from_name"], "Sven Svensson");
    let to_outsider = api
        .post(
            "/api/v1/me/messages",
            &sven,
            json!({"to_user_id": api.outsider.id, "channel": "sms", "body": "hi"}),
        )
        .await;
    assert_eq!(to_outsider.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(to_outsider.field(), "to_user_id");

    // Hans passes it on to Karen; Sven cannot forward Hans's message.
    let written_id = list["messages"][0]["id"].as_i64().unwrap();
    let karen_id = api.user_id(KAREN).await;
    let forward = format!("/api/v1/me/messages/{written_id}/forward");
    let r = api
        .post(&forward, &sven, json!({"to_user_id": karen_id}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api
        .post(&forward, &hans, json!({"to_user_id": karen_id}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let karen = api.login(KAREN).await;
    let list = api.get("/api/v1/me/voicemail", &karen).await.json();
    assert_eq!(
        list["messages"][0]["body"],
        "Fwd (from Sven Svensson): Call me back"
    );
    assert_eq!(list["messages"][0]["from_name"], "Hans Hansen");

    assert_eq!(
        api.call(Method::DELETE, &item_path, Some(&hans), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&audio_path, &hans).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn quick_forward_apply_and_open_phone() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let forwards = api.get("/api/v1/me/quick-forwards", &hans).await.json();
    let forwards = forwards.as_array().unwrap();
    assert_eq!(forwards.len(), 5);
    let id_of = |reason: &str| {
        forwards.iter().find(|f| f["reason"] == reason).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let lunch = api
        .post(
            &format!("/api/v1/me/quick-forwards/{}/apply", id_of("lunch")),
            &hans,
            json!({}),
        )
        .await;
    assert_eq!(lunch.status, StatusCode::CREATED, "{:?}", lunch.json());
    assert_eq!(lunch.json()["ends_at"], "2026-01-05T10:30:00Z");
    assert_eq!(lunch.json()["reason"], "lunch");

    let sven = api.login(SVEN).await;
    let seen = api.get("/api/v1/colleagues?q=hans", &sven).await.json();
    assert_eq!(
        seen["colleagues"][0]["presence"]["absence"]["reason"],
        "lunch"
    );
    assert_eq!(
        seen["colleagues"][0]["presence"]["absence"]["until"],
        "2026-01-05T10:30:00Z"
    );

    api.clock.advance(std::time::Duration::from_secs(60));
    let opened = api.post("/api/v1/me/open-phone", &hans, json!({})).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert_eq!(opened.json()["ended"], 1);
    let seen = api.get("/api/v1/colleagues?q=hans", &sven).await.json();
    assert_eq!(seen["colleagues"][0]["presence"]["status"], "available");

    // Gone for today (Monday 11:01 local) lasts until the next working start: Tuesday 08:00
    // Copenhagen = 07:00 UTC, and colleagues see that return.
    let gone = api
        .post(
            &format!(
                "/api/v1/me/quick-forwards/{}/apply",
                id_of("gone_for_today")
            ),
            &hans,
            json!({}),
        )
        .await;
    assert_eq!(gone.json()["ends_at"], "2026-01-06T07:00:00Z");
    let seen = api.get("/api/v1/colleagues?q=hans", &sven).await.json();
    assert_eq!(
        seen["colleagues"][0]["presence"]["absence"]["until"],
        "2026-01-06T07:00:00Z"
    );
    // Pressed the same instant, open phone still ends it.
    let opened = api.post("/api/v1/me/open-phone", &hans, json!({})).await;
    assert_eq!(opened.json()["ended"], 1);
    let timeline = api
        .get(
            &format!("/api/v1/users/{}/timeline", api.user_id(HANS).await),
            &sven,
        )
        .await
        .json();
    assert_eq!(timeline["items"].as_array().unwrap().len(), 0, "{timeline}");

    // Someone else's quick forward is not there.
    let karen = api.login(KAREN).await;
    let r = api
        .post(
            &format!("/api/v1/me/quick-forwards/{}/apply", id_of("break")),
            &karen,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn timeline_marks_current_and_future() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    api.post(
        "/api/v1/me/absences",
        &hans,
        json!({"reason": "lunch", "to": "2026-01-05T10:30:00Z",
               "destination": {"kind": "voicemail"}}),
    )
    .await;
    // Team meeting Tuesdays 09:00–10:00 local.
    let s = api
        .post(
            "/api/v1/me/schedules",
            &hans,
            json!({"weekdays": 2, "start": 540, "end": 600, "reason": "meeting",
                   "destination": {"kind": "voicemail"}}),
        )
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{:?}", s.json());
    let bad = api
        .post(
            "/api/v1/me/schedules",
            &hans,
            json!({"weekdays": 2, "start": 600, "end": 540, "reason": "meeting",
                   "destination": {"kind": "voicemail"}}),
        )
        .await;
    assert_eq!(bad.field(), "end");
    let sven = api.login(SVEN).await;
    let t = api
        .get(
            &format!("/api/v1/users/{}/timeline?days=7", api.user_id(HANS).await),
            &sven,
        )
        .await;
    assert_eq!(t.status, StatusCode::OK);
    let items = t.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["kind"], "absence");
    assert_eq!(items[0]["when"], "current");
    assert_eq!(items[1]["kind"], "schedule");
    assert_eq!(items[1]["when"], "future");
    assert_eq!(items[1]["from"], "2026-01-06T08:00:00Z");
    let bad = api
        .get(
            &format!("/api/v1/users/{}/timeline?days=0", api.user_id(HANS).await),
            &sven,
        )
        .await;
    assert_eq!(bad.field(), "days");
}

#[tokio::test]
async fn events_stream_starts_with_ready_and_carries_colleagues_changes() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let response = api
        .app
        .clone()
        .oneshot(
            Request::get("/api/v1/events")
                .header(header::AUTHORIZATION, format!("Bearer {hans}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(first.starts_with("event: ready\n"), "{first}");

    // The other organisation's change is not sent; Sven's is.
    api.state.presence.call_started(api.outsider.id.0, "x");
    let sven_id = api.user_id(SVEN).await;
    api.state.presence.call_started(sven_id, "y");
    let next = tokio::time::timeout(std::time::Duration::from_secs(1), body.next())
        .await
        .expect("event within a second")
        .unwrap()
        .unwrap();
    let next = String::from_utf8_lossy(&next).into_owned();
    assert!(next.starts_with("event: calls\n"), "{next}");
    assert!(next.contains(&format!("\"user_id\":{sven_id}")), "{next}");
}

#[tokio::test]
async fn openapi_lists_every_route_and_unknown_paths_are_json() {
    let api = setup().await;
    let r = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in ROUTES {
        assert!(
            doc["paths"][route.path][route.method]["summary"].is_string(),
            "{} {} not documented",
            route.method,
            route.path
        );
    }
    assert!(ROUTES.len() >= 55);
    let missing = api.call(Method::GET, "/api/v1/nope", None, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    // Every authenticated route refuses an anonymous caller.
    for route in ROUTES.iter().filter(|r| r.authenticated) {
        let path = route.path.replace("{id}", "1").replace("{absence_id}", "1");
        let method = Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
        let r = api.call(method, &path, None, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{} {}",
            route.method,
            route.path
        );
    }
}

#[tokio::test]
async fn phonebook_favourites_and_history_are_per_user() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let sven = api.login(SVEN).await;
    let c = api
        .post(
            "/api/v1/me/contacts",
            &hans,
            json!({"name": "Plumber", "phone_number": "4588776655"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.json());
    let id = c.json()["id"].as_i64().unwrap();
    let bad = api
        .post(
            "/api/v1/me/contacts",
            &hans,
            json!({"name": "X", "phone_number": "call me"}),
        )
        .await;
    assert_eq!(bad.field(), "phone_number");
    let found = api
        .get("/api/v1/colleagues?q=plumb&scope=external", &hans)
        .await
        .json();
    assert_eq!(found["contacts"][0]["name"], "Plumber");
    assert_eq!(
        api.get("/api/v1/me/contacts", &sven).await.json(),
        json!([])
    );
    let path = format!("/api/v1/me/contacts/{id}");
    let stolen = api
        .call(
            Method::PUT,
            &path,
            Some(&sven),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::DELETE, &path, Some(&sven), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let sven_id = api.user_id(SVEN).await;
    let star = api
        .call(
            Method::PUT,
            &format!("/api/v1/me/favourites/{sven_id}"),
            Some(&hans),
            None,
        )
        .await;
    assert_eq!(star.status, StatusCode::NO_CONTENT);
    let outsider = api
        .call(
            Method::PUT,
            &format!("/api/v1/me/favourites/{}", api.outsider.id),
            Some(&hans),
            None,
        )
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    let favs = api.get("/api/v1/me/favourites", &hans).await.json();
    assert_eq!(favs[0]["name"], "Sven Svensson");

    let hans_id = UserId(api.user_id(HANS).await);
    for (i, (user, direction)) in [
        (hans_id, CallDirection::In),
        (hans_id, CallDirection::Missed),
        (hans_id, CallDirection::Out),
        (UserId(sven_id), CallDirection::Missed),
    ]
    .into_iter()
    .enumerate()
    {
        api.state
            .store
            .call_record_insert(&CallData {
                user_id: user,
                direction,
                other_number: format!("452000000{i}"),
                other_name: None,
                started_at: t0() - Duration::minutes(10 - i as i64),
                answered_at: None,
                ended_at: None,
                route: None,
            })
            .await
            .unwrap();
    }
    let missed = api.get("/api/v1/me/calls?kind=missed", &hans).await.json();
    assert_eq!(missed.as_array().unwrap().len(), 1, "{missed}");
    assert_eq!(missed[0]["other_number"], "4520000001");
    let all = api.get("/api/v1/me/calls", &hans).await.json();
    let numbers: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["other_number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        ["4520000002", "4520000001", "4520000000"],
        "newest first"
    );
    let page = api
        .get("/api/v1/me/calls?limit=1&offset=1", &hans)
        .await
        .json();
    assert_eq!(page[0]["other_number"], "4520000001");
    assert_eq!(
        api.get("/api/v1/me/calls?kind=lost", &hans).await.field(),
        "kind"
    );

    let s = api
        .call(
            Method::PATCH,
            "/api/v1/me/settings",
            Some(&hans),
            Some(json!({"lang": "en", "search_scope": "internal"})),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.json());
    assert_eq!(s.json()["lang"], "en");
    let v = api
        .call(
            Method::PATCH,
            "/api/v1/me/voicemail-settings",
            Some(&hans),
            Some(json!({"quick_listen": true, "secondary_lang": "en"})),
        )
        .await;
    assert_eq!(v.json()["quick_listen"], true);
    assert_eq!(v.json()["secondary_lang"], "en");
}

#[tokio::test]
async fn calendar_entries_show_route_and_can_be_edited_or_deleted() {
    let api = setup().await;
    let hans_id = api.user_id(HANS).await;
    let entry = |uid: &str, busy: BusyStatus, start_h: u32, end_h: u32| SyncedEntry {
        user_id: UserId(hans_id),
        source_id: None,
        external_uid: uid.into(),
        recurrence_id: String::new(),
        subject: format!("{uid} subject"),
        starts_at: Utc.with_ymd_and_hms(2026, 1, 5, start_h, 0, 0).unwrap(),
        ends_at: Utc.with_ymd_and_hms(2026, 1, 5, end_h, 0, 0).unwrap(),
        all_day: false,
        busy_status: busy,
    };
    let store = &api.state.store;
    let busy = store
        .calendar_upsert_from_sync(&entry("busy", BusyStatus::Busy, 9, 11), t0())
        .await
        .unwrap();
    store
        .calendar_upsert_from_sync(&entry("free", BusyStatus::Free, 12, 13), t0())
        .await
        .unwrap();
    let sven = api.login(SVEN).await;
    let hans = api.login(HANS).await;
    let seen = api.get("/api/v1/colleagues?q=hans", &sven).await.json();
    let presence = &seen["colleagues"][0]["presence"];
    assert_eq!(presence["status"], "absent", "{presence}");
    assert_eq!(presence["absence"]["source"], "calendar");
    assert_eq!(presence["absence"]["origin"], "OL");
    assert_eq!(presence["absence"]["until"], "2026-01-05T11:00:00Z");
    let timeline = api
        .get(&format!("/api/v1/users/{hans_id}/timeline"), &sven)
        .await
        .json();
    let items = timeline["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "Free is not shown: {items:?}");
    assert_eq!(items[0]["kind"], "calendar");
    assert_eq!(items[0]["when"], "current");

    let path = format!("/api/v1/me/calendar/{}", busy.id);
    let edit = json!({"subject": "Moved", "starts_at": "2026-01-05T09:00:00Z",
                      "ends_at": "2026-01-05T10:30:00Z", "busy_status": "busy"});
    let stolen = api
        .call(Method::PUT, &path, Some(&sven), Some(edit.clone()))
        .await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND);
    let edited = api.call(Method::PUT, &path, Some(&hans), Some(edit)).await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.json());
    assert_eq!(edited.json()["origin"], "WEB");
    assert_eq!(edited.json()["user_edited"], true);
    let seen = api.get("/api/v1/colleagues?q=hans", &sven).await.json();
    assert_eq!(
        seen["colleagues"][0]["presence"]["absence"]["until"],
        "2026-01-05T10:30:00Z"
    );

    assert_eq!(
        api.call(Method::DELETE, &path, Some(&sven), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call(Method::DELETE, &path, Some(&hans), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let seen = api.get("/api/v1/colleagues?q=hans", &sven).await.json();
    assert_eq!(seen["colleagues"][0]["presence"]["status"], "available");
    let mine = api.get("/api/v1/me/calendar", &hans).await.json();
    assert_eq!(
        mine.as_array().unwrap().len(),
        1,
        "only the Free entry is left: {mine}"
    );
}

#[tokio::test]
async fn standard_messages_are_managed_by_receptionists_of_the_organisation() {
    let api = setup().await;
    let karen = api.login(KAREN).await;
    let sven = api.login(SVEN).await;
    let hanne = api.login("2000001").await;
    let body = json!({"text": "Please call back after 14:00"});
    let r = api
        .post("/api/v1/standard-messages", &sven, body.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "receptionist_only");
    let r = api.post("/api/v1/standard-messages", &karen, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let id = r.json()["id"].as_i64().unwrap();
    let empty = api
        .post("/api/v1/standard-messages", &karen, json!({"text": " "}))
        .await;
    assert_eq!(empty.field(), "text");
    let listed = api.get("/api/v1/standard-messages", &sven).await.json();
    assert_eq!(listed[0]["text"], "Please call back after 14:00");
    assert_eq!(
        api.get("/api/v1/standard-messages", &hanne).await.json(),
        json!([])
    );
    let path = format!("/api/v1/standard-messages/{id}");
    let r = api
        .call(
            Method::PUT,
            &path,
            Some(&karen),
            Some(json!({"text": "Back at 15"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call(Method::DELETE, &path, Some(&karen), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::DELETE, &path, Some(&karen), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Login, lockout, an absence seen as presence, and voicemail isolation on PostgreSQL (at
/// 127.0.0.1:5432, or `ONESTATUS_TEST_PG`), in a fresh database dropped afterwards.
#[tokio::test]
async fn core_flows_on_postgres() {
    use sqlx::Connection;
    let admin_url = std::env::var("ONESTATUS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!(
        "onestatus_api_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let mut admin = sqlx::PgConnection::connect(&format!("{admin_url}/postgres"))
        .await
        .expect("PostgreSQL must be reachable for this test");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{admin_url}/{name}");
    let outcome = tokio::spawn(async move {
        let api = setup_on(&url, ApiConfig::default(), tempfile::tempdir().unwrap()).await;
        for _ in 0..5 {
            assert_eq!(
                api.login_reply(SVEN, "0001").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            api.login_reply(SVEN, "2580").await.status,
            StatusCode::UNAUTHORIZED
        );
        let hans = api.login(HANS).await;
        let karen = api.login(KAREN).await;
        let r = api
            .post(
                "/api/v1/me/absences",
                &hans,
                json!({"reason": "holiday", "to": "2026-01-09T16:00:00+01:00",
                       "destination": {"kind": "voicemail"}, "receptionist_note": "Mallorca"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
        let seen = api.get("/api/v1/colleagues?q=han", &karen).await.json();
        assert_eq!(seen["colleagues"].as_array().unwrap().len(), 1);
        let absence = &seen["colleagues"][0]["presence"]["absence"];
        assert_eq!(absence["reason"], "holiday");
        // A holiday ending Friday at 16:00 (the end of work): back Monday at 08:00.
        assert_eq!(absence["until"], "2026-01-12T07:00:00Z");
        assert_eq!(absence["receptionist_note"], "Mallorca");
        let vm = api
            .state
            .store
            .voicemail_insert(&NewVoicemail {
                user_id: UserId(api.user_id(HANS).await),
                caller_number: None,
                caller_name: None,
                received_at: t0(),
                duration_ms: 1000,
                audio: vec![7; 100],
            })
            .await
            .unwrap();
        let audio = format!("/api/v1/me/voicemail/{}/audio", vm.id);
        assert_eq!(api.get(&audio, &karen).await.status, StatusCode::NOT_FOUND);
        assert_eq!(api.get(&audio, &hans).await.body, vec![7; 100]);
        api.state.store.close().await;
    })
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The real binary: health and a demo login over a real socket.
#[test]
fn real_server_health_and_demo_login() {
    use std::io::{Read, Write};
    let server = support::TestServer::start_demo();
    let (status, body) = server.http_get("/api/v1/health");
    assert_eq!(status, 200, "{body}");
    let payload = json!({"local_number": "1000001", "pin": "2580"}).to_string();
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("onestatus_session="), "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["user"]["name"], "Hans Hansen");
}

impl Api {
    /// A request with a raw body of `content_type` (uploads).
    async fn upload(
        &self,
        method: Method,
        path: &str,
        token: &str,
        ct: &str,
        body: Vec<u8>,
    ) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap();
        self.request(req).await
    }
}

impl Api {
    async fn put_calendar(&self, token: &str, ct: &str, body: String) -> Reply {
        self.upload(
            Method::PUT,
            "/api/v1/me/calendar",
            token,
            ct,
            body.into_bytes(),
        )
        .await
    }

    async fn add_source(&self, token: &str, body: Value) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/me/calendar/sources",
            Some(token),
            Some(body),
        )
        .await
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/testdata/audio/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A 1 kHz tone as a 16-bit WAV at `rate` with `channels`, `secs` long.
fn tone_wav(rate: u32, channels: u16, secs: f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..(f64::from(rate) * secs) as u32 {
        let v = (f64::from(i) * 2.0 * std::f64::consts::PI * 1000.0 / f64::from(rate)).sin();
        for _ in 0..channels {
            w.write_sample((v * 8000.0) as i16).unwrap();
        }
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// Parses a stored recording: it must be the IVR's format, 8 kHz mono 16-bit.
fn telephone_wav(bytes: &[u8]) -> Vec<i16> {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    r.samples::<i16>().map(Result::unwrap).collect()
}

#[tokio::test]
async fn greeting_and_name_uploads_in_any_format_become_telephone_wav() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let sven = api.login(SVEN).await;
    let hans_id = UserId(api.user_id(HANS).await);
    let greeting = "/api/v1/me/voicemail/greeting";
    let name = "/api/v1/me/voicemail/name";
    assert_eq!(api.get(greeting, &hans).await.status, StatusCode::NOT_FOUND);

    // Every container the decoder reads, each labelled as a browser would label it.
    let uploads = [
        ("tone1k_16k_stereo_left.wav", "audio/wav"),
        ("tone1k_44k1.flac", "audio/flac"),
        ("tone1k_22k05_stereo.ogg", "audio/ogg"),
        ("tone1k_48k.mp3", "audio/mpeg"),
    ];
    for (i, (file, ct)) in uploads.iter().enumerate() {
        let r = api
            .upload(Method::PUT, greeting, &hans, ct, fixture(file))
            .await;
        let expected = if i == 0 {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status, expected, "{file}: {:?}", r.json());
        assert_eq!(r.json()["kind"], "greeting");
        assert_eq!(r.json()["in_use"], true);
        let ms = r.json()["duration_ms"].as_u64().unwrap();
        assert!((450..=600).contains(&ms), "{file}: {ms} ms");
        let stored = api
            .state
            .store
            .recording(hans_id, onestatus::store::RecordingKind::Greeting)
            .await
            .unwrap()
            .unwrap();
        let pcm = telephone_wav(&stored);
        // The tone survived the conversion: the middle is loud, not silence or noise floor.
        let peak = pcm[1000..3000]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!(peak > 3000, "{file}: peak {peak}");
        assert_eq!(r.json()["bytes"].as_u64().unwrap() as usize, stored.len());
    }
    let settings = api.get("/api/v1/me/voicemail-settings", &hans).await.json();
    assert_eq!(settings["use_own_greeting"], true);
    assert_eq!(settings["use_own_name"], false);

    // GET is the stored WAV, seekable.
    let full = api.get(greeting, &hans).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.headers[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(&full.body[..4], b"RIFF");
    let part = api
        .request(
            Request::get(greeting)
                .header(header::AUTHORIZATION, format!("Bearer {hans}"))
                .header(header::RANGE, "bytes=0-43")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, full.body[..44]);
    // Another user has their own (none): no way to reach Hans's.
    assert_eq!(api.get(greeting, &sven).await.status, StatusCode::NOT_FOUND);

    // More than the JSON body limit goes through (3 s of 44.1 kHz stereo is ~530 kB), and no
    // Content-Type at all lets the prober decide.
    let big = tone_wav(44_100, 2, 3.0);
    assert!(big.len() > 500_000);
    let r = api
        .upload(Method::PUT, name, &hans, "application/octet-stream", big)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["duration_ms"], 3000);
    assert_eq!(
        api.get("/api/v1/me/voicemail-settings", &hans).await.json()["use_own_name"],
        true
    );

    // Limits and garbage, each naming the field.
    let long_name = api
        .upload(
            Method::PUT,
            name,
            &hans,
            "audio/wav",
            tone_wav(8000, 1, 11.0),
        )
        .await;
    assert_eq!(long_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(long_name.field(), "audio");
    assert_eq!(long_name.json()["error"]["code"], "audio_too_long");
    let huge = api
        .upload(
            Method::PUT,
            greeting,
            &hans,
            "audio/wav",
            vec![0; 10 * 1024 * 1024 + 1],
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.field(), "audio");
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let r = api
        .upload(Method::PUT, greeting, &hans, "audio/mpeg", garbage)
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{:?}",
        r.json()
    );
    assert_eq!(r.field(), "audio");
    let mut truncated = fixture("tone1k_44k1.flac");
    truncated.truncate(60);
    let r = api
        .upload(Method::PUT, greeting, &hans, "audio/flac", truncated)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json());
    assert_eq!(r.json()["error"]["code"], "undecodable_audio");
    assert_eq!(r.field(), "audio");
    let r = api
        .upload(
            Method::PUT,
            greeting,
            &hans,
            "text/plain",
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = api
        .upload(Method::PUT, greeting, &hans, "audio/wav", Vec::new())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "audio");
    // The failed uploads left the previous greeting in place.
    assert_eq!(api.get(greeting, &hans).await.body, full.body);

    // DELETE removes it and turns the option off.
    let del = api.call(Method::DELETE, greeting, Some(&hans), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(greeting, &hans).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::DELETE, greeting, Some(&hans), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let settings = api.get("/api/v1/me/voicemail-settings", &hans).await.json();
    assert_eq!(settings["use_own_greeting"], false);
    assert_eq!(settings["use_own_name"], true);
}

/// A feed with one busy meeting at 13:00–14:00 UTC on the test day (`uid`, `subject`).
fn feed(uid: &str, subject: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T130000Z\r\nDTEND:20260105T140000Z\r\n\
         SUMMARY:{subject}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn calendar_push_is_all_or_nothing_and_sources_show_the_last_error() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    let karen = api.login(KAREN).await;
    let r = api
        .put_calendar(
            &hans,
            "text/calendar; charset=utf-8",
            feed("m1@x", "Budget"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["events"], 1);
    assert_eq!(r.json()["instances"], 1);
    let entries = api.get("/api/v1/me/calendar", &hans).await.json();
    assert_eq!(entries.as_array().unwrap().len(), 1, "{entries}");
    assert_eq!(entries[0]["subject"], "Budget");
    assert_eq!(entries[0]["origin"], "OL");
    assert_eq!(
        api.get("/api/v1/me/calendar", &karen).await.json(),
        json!([]),
        "Karen's calendar is her own"
    );

    // A feed that ends before it starts: refused whole, with the parser's message.
    let broken = feed("m2@x", "Other").replace("DTEND:20260105T140000Z", "DTEND:20260105T120000Z");
    let r = api.put_calendar(&hans, "text/calendar", broken).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json());
    assert_eq!(r.field(), "calendar");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("m2@x") && message.contains("ends before"),
        "{message}"
    );
    let r = api
        .put_calendar(&hans, "text/calendar", "<html>login</html>".into())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("VCALENDAR"));
    let entries = api.get("/api/v1/me/calendar", &hans).await.json();
    assert_eq!(
        entries.as_array().unwrap().len(),
        1,
        "previous entries kept"
    );
    assert_eq!(entries[0]["subject"], "Budget");
    let r = api
        .put_calendar(&hans, "application/json", feed("m1@x", "x"))
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = api
        .upload(
            Method::PUT,
            "/api/v1/me/calendar",
            &hans,
            "text/calendar",
            vec![0xff, 0xfe],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let sources = api.get("/api/v1/me/calendar/sources", &hans).await.json();
    assert_eq!(sources.as_array().unwrap().len(), 1, "{sources}");
    assert_eq!(sources[0]["url"], "push:api");
    assert!(
        sources[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("VCALENDAR"),
        "{sources}"
    );
    // A good push clears the error; a changed subject updates the entry.
    let r = api
        .put_calendar(&hans, "text/calendar", feed("m1@x", "Budget v2"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let sources = api.get("/api/v1/me/calendar/sources", &hans).await.json();
    assert_eq!(sources[0]["last_error"], Value::Null);
    assert_eq!(
        api.get("/api/v1/me/calendar", &hans).await.json()[0]["subject"],
        "Budget v2"
    );

    // URL sources: http(s) only, no duplicates, credentials never echoed, per user.
    let url = "https://outlook.office365.com/owa/calendar/a/b/reachcalendar.ics";
    let r = api
        .add_source(&hans, json!({"url": url, "authorization": "Bearer s3cret"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["kind"], "url");
    assert_eq!(r.json()["has_authorization"], true);
    assert!(!String::from_utf8_lossy(&r.body).contains("s3cret"));
    assert_eq!(
        api.add_source(&hans, json!({"url": url})).await.status,
        StatusCode::CONFLICT
    );
    let r = api
        .add_source(&hans, json!({"url": "ftp://example.com/c.ics"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "url");
    let r = api
        .add_source(&hans, json!({"url": url, "interval": 5}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "interval");
    let sources = api.get("/api/v1/me/calendar/sources", &hans).await.json();
    assert_eq!(sources.as_array().unwrap().len(), 2);
    assert!(!sources.to_string().contains("s3cret"));
    assert_eq!(
        api.get("/api/v1/me/calendar/sources", &karen).await.json(),
        json!([])
    );
}

/// What one calendar code does at t0, as colleagues see it and as routing does it.
struct CodeCase {
    subject: &'static str,
    busy: BusyStatus,
    /// `None`: not shown (presence available, nothing on the timeline).
    shown: Option<(&'static str, bool)>,
    /// What routing does with a call at t0: "ring", "voicemail" or "forward:<number>".
    routing: &'static str,
}

/// Every code of docs/calendar-codes.md: `GET /api/v1/users/{id}`, the timeline and the
/// routing decision at the same instant, from the same stored entry, agree.
#[tokio::test]
async fn presence_timeline_and_routing_agree_for_every_calendar_code() {
    use onestatus::routing::{decide, CallContext, Route};
    let cases = [
        CodeCase {
            subject: "Tandlæge [ÅBEN]",
            busy: BusyStatus::Busy,
            shown: Some(("meeting", true)),
            routing: "ring",
        },
        CodeCase {
            subject: "Tandlæge [open]",
            busy: BusyStatus::OutOfOffice,
            shown: Some(("out_of_office", true)),
            routing: "ring",
        },
        CodeCase {
            subject: "Husk at ringe til Jens [IGNORER]",
            busy: BusyStatus::Busy,
            shown: None,
            routing: "ring",
        },
        CodeCase {
            subject: "Note [ignore]",
            busy: BusyStatus::OutOfOffice,
            shown: None,
            routing: "ring",
        },
        CodeCase {
            subject: "Kundebesøg [FWD 4570100002]",
            busy: BusyStatus::Busy,
            shown: Some(("meeting", false)),
            routing: "forward:4570100002",
        },
        CodeCase {
            subject: "Messe [fwd karen berg]",
            busy: BusyStatus::Free,
            shown: Some(("meeting", false)),
            routing: "forward:4570100002",
        },
        CodeCase {
            subject: "Styregruppe [møde]",
            busy: BusyStatus::OutOfOffice,
            shown: Some(("meeting", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[meeting] Board",
            busy: BusyStatus::Busy,
            shown: Some(("meeting", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "Frokost [frokost]",
            busy: BusyStatus::Busy,
            shown: Some(("lunch", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[lunch]",
            busy: BusyStatus::OutOfOffice,
            shown: Some(("lunch", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "Kaffe [pause]",
            busy: BusyStatus::Busy,
            shown: Some(("break", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[Break]",
            busy: BusyStatus::Busy,
            shown: Some(("break", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "Influenza [syg]",
            busy: BusyStatus::OutOfOffice,
            shown: Some(("sick", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[sick]",
            busy: BusyStatus::Busy,
            shown: Some(("sick", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "Påskeferie [ferie]",
            busy: BusyStatus::OutOfOffice,
            shown: Some(("holiday", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[Holiday]",
            busy: BusyStatus::Busy,
            shown: Some(("holiday", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "Fri [gået]",
            busy: BusyStatus::Busy,
            shown: Some(("gone_for_today", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[gone]",
            busy: BusyStatus::OutOfOffice,
            shown: Some(("gone_for_today", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "Ude [ude]",
            busy: BusyStatus::Busy,
            shown: Some(("out_of_office", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[away]",
            busy: BusyStatus::Busy,
            shown: Some(("out_of_office", false)),
            routing: "voicemail",
        },
        CodeCase {
            subject: "[oof]",
            busy: BusyStatus::OutOfOffice,
            shown: Some(("out_of_office", false)),
            routing: "voicemail",
        },
        // Reason codes do not make a non-routing entry route.
        CodeCase {
            subject: "Måske [ferie]",
            busy: BusyStatus::Tentative,
            shown: None,
            routing: "ring",
        },
        CodeCase {
            subject: "Hjemmekontor",
            busy: BusyStatus::WorkingElsewhere,
            shown: None,
            routing: "ring",
        },
        CodeCase {
            subject: "Without a code [EXTERNAL]",
            busy: BusyStatus::Busy,
            shown: Some(("meeting", false)),
            routing: "voicemail",
        },
    ];
    for case in cases {
        let api = setup().await;
        let hans_id = api.user_id(HANS).await;
        let hans = api.login(HANS).await;
        // A mobile, so that "ring" has something to ring.
        let m = api
            .call(
                Method::PATCH,
                "/api/v1/me",
                Some(&hans),
                Some(json!({"mobile_number": "+4520304050"})),
            )
            .await;
        assert_eq!(m.status, StatusCode::OK, "{:?}", m.json());
        // 10:00–10:45 local on Monday 5 January (t0 is 11:00 local): in force at t0.
        api.state
            .store
            .calendar_upsert_from_sync(
                &SyncedEntry {
                    user_id: UserId(hans_id),
                    source_id: None,
                    external_uid: "code".into(),
                    recurrence_id: String::new(),
                    subject: case.subject.into(),
                    starts_at: t0() - Duration::hours(1),
                    ends_at: t0() + Duration::minutes(45),
                    all_day: false,
                    busy_status: case.busy,
                },
                t0(),
            )
            .await
            .unwrap();
        let sven = api.login(SVEN).await;
        let seen = api.get(&format!("/api/v1/users/{hans_id}"), &sven).await;
        assert_eq!(seen.status, StatusCode::OK);
        let presence = seen.json()["presence"].clone();
        let timeline = api
            .get(&format!("/api/v1/users/{hans_id}/timeline"), &sven)
            .await
            .json();
        let items = timeline["items"].as_array().unwrap().clone();
        let user = api.state.store.user(UserId(hans_id)).await.unwrap();
        let loaded = onestatus::user_state::load(&api.state.store, &api.state.presence, user, t0())
            .await
            .unwrap();
        let call = CallContext {
            dialled: "4570100001".into(),
            ..CallContext::default()
        };
        let route = match decide(&loaded.state, t0(), &call) {
            Route::Ring { .. } => "ring".to_owned(),
            Route::Voicemail(_) => "voicemail".to_owned(),
            Route::Forward { number, .. } => format!("forward:{number}"),
        };
        let what = case.subject;
        assert_eq!(route, case.routing, "{what}: routing");
        match case.shown {
            None => {
                assert_eq!(presence["status"], "available", "{what}: {presence}");
                assert!(items.is_empty(), "{what}: {items:?}");
            }
            Some((reason, keep_open)) => {
                assert_eq!(presence["status"], "absent", "{what}: {presence}");
                let absence = &presence["absence"];
                assert_eq!(absence["reason"], reason, "{what}: {presence}");
                assert_eq!(absence["keep_phone_open"], keep_open, "{what}: {presence}");
                assert_eq!(absence["source"], "calendar", "{what}");
                // Until the entry's end, as the greeting says (not a later entry's).
                assert_eq!(absence["until"], "2026-01-05T10:45:00Z", "{what}");
                assert_eq!(items.len(), 1, "{what}: {items:?}");
                assert_eq!(items[0]["reason"], reason, "{what}");
                assert_eq!(items[0]["keep_phone_open"], keep_open, "{what}");
                assert_eq!(items[0]["when"], "current", "{what}");
                assert_eq!(items[0]["text"], case.subject, "{what}");
                if let Some(number) = case.routing.strip_prefix("forward:") {
                    assert_eq!(absence["forward_to"], number, "{what}");
                }
            }
        }
    }
}

/// Numbers typed the ways people type them are stored in one form (E.164 digits, as OneNumbers
/// are), so they compare with OneNumbers; what is not a number is a 422 naming the field.
#[tokio::test]
async fn numbers_are_stored_normalised_and_bad_ones_name_the_field() {
    let api = setup().await;
    let hans = api.login(HANS).await;
    for (typed, stored) in [
        ("+45 20 30 40 50", "4520304050"),
        ("0045 20304050", "4520304050"),
        ("20 30 40 50", "4520304050"),
        ("+46 8 123 456 78", "46812345678"),
    ] {
        let m = api
            .call(
                Method::PATCH,
                "/api/v1/me",
                Some(&hans),
                Some(json!({ "mobile_number": typed })),
            )
            .await;
        assert_eq!(m.status, StatusCode::OK, "{typed}: {:?}", m.json());
        assert_eq!(m.json()["mobile_number"], stored, "{typed}");
    }
    for bad in ["20 30 4O 50", "+45 20 30", "45+20304050"] {
        let m = api
            .call(
                Method::PATCH,
                "/api/v1/me",
                Some(&hans),
                Some(json!({ "mobile_number": bad })),
            )
            .await;
        assert_eq!(m.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(m.field(), "mobile_number", "{bad}");
    }
    // Forwarding to Karen written with `+` and spaces is forwarding to her OneNumber; to
    // Hans's own number written so is refused as his own.
    let own = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({"reason": "lunch",
                   "destination": {"kind": "number", "number": "+45 70 10 00 01"}}),
        )
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(own.field(), "destination.number");
    let r = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({"reason": "lunch", "to": "2026-01-05T10:30:00Z",
                   "destination": {"kind": "number", "number": "+45 70 10 00 02"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["destination"]["number"], "4570100002");
    let sven = api.login(SVEN).await;
    let seen = api
        .get(&format!("/api/v1/users/{}", api.user_id(HANS).await), &sven)
        .await
        .json();
    assert_eq!(seen["presence"]["absence"]["forward_to"], "4570100002");
    // The other organisation forbids external numbers, and knows its own whatever the spelling.
    let hanne = api.login("2000001").await;
    let saved = api
        .post(
            "/api/v1/me/saved-destinations",
            &hanne,
            json!({"label": "Reception", "kind": "colleague", "number": "0045 70 10 00 02"}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::FORBIDDEN, "{:?}", saved.json());
    let bad = api
        .post(
            "/api/v1/me/saved-destinations",
            &hans,
            json!({"label": "Mum", "kind": "external", "number": "mum"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.field(), "number");
    let saved = api
        .post(
            "/api/v1/me/saved-destinations",
            &hans,
            json!({"label": "Karen", "kind": "colleague", "number": "+45 7010 0002"}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{:?}", saved.json());
    assert_eq!(saved.json()["number"], "4570100002");
}

/// Issue #19 finding 1 and 7, one test per storing entry point: a number that would make the
/// server dial out is refused, naming the field, when the organisation forbids external calls
/// (Hanne's) and, where it allows them (Hans's), when the deny-list names its range.
#[tokio::test]
async fn toll_fraud_policy_at_every_stored_number() {
    let api = setup().await;
    let hanne = api.login("2000001").await;
    let hans = api.login(HANS).await;
    let satellite = "0088213000000";
    let expect = |r: &Reply, code: &str, field: &str| {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{field}: {:?}", r.json());
        assert_eq!(r.json()["error"]["code"], code, "{field}");
        assert_eq!(r.field(), field);
    };
    let patch = |token: &str, path: &'static str, body: Value| {
        let token = token.to_owned();
        let api = &api;
        async move {
            api.call(Method::PATCH, path, Some(&token), Some(body))
                .await
        }
    };

    // The mobile rung in parallel (PATCH /me).
    let r = patch(&hanne, "/api/v1/me", json!({"mobile_number": satellite})).await;
    expect(&r, "external_calls_not_allowed", "mobile_number");
    let r = patch(
        &hanne,
        "/api/v1/me",
        json!({"mobile_number": "20 30 40 50"}),
    )
    .await;
    expect(&r, "external_calls_not_allowed", "mobile_number");
    let r = patch(&hans, "/api/v1/me", json!({"mobile_number": satellite})).await;
    expect(&r, "number_not_allowed", "mobile_number");
    let r = patch(&hans, "/api/v1/me", json!({"mobile_number": "90 12 34 56"})).await;
    expect(&r, "number_not_allowed", "mobile_number");
    let r = patch(&hans, "/api/v1/me", json!({"mobile_number": "20 30 40 50"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["mobile_number"], "4520304050");

    // The receptionist group number ("press 9").
    let path = "/api/v1/me/voicemail-settings";
    let field = "receptionist_group_number";
    let r = patch(&hanne, path, json!({field: satellite})).await;
    expect(&r, "external_calls_not_allowed", field);
    let r = patch(&hans, path, json!({field: "+88213000000"})).await;
    expect(&r, "number_not_allowed", field);
    let r = patch(&hans, path, json!({field: "+468123456"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());

    // A forward destination.
    let r = api
        .post(
            "/api/v1/me/absences",
            &hans,
            json!({"reason": "lunch", "destination": {"kind": "number", "number": satellite}}),
        )
        .await;
    expect(&r, "number_not_allowed", "destination.number");

    // A saved destination.
    let r = api
        .post(
            "/api/v1/me/saved-destinations",
            &hanne,
            json!({"label": "Ship", "kind": "external", "number": satellite}),
        )
        .await;
    expect(&r, "external_forwarding_not_allowed", "number");
    let r = api
        .post(
            "/api/v1/me/saved-destinations",
            &hans,
            json!({"label": "Ship", "kind": "external", "number": satellite}),
        )
        .await;
    expect(&r, "number_not_allowed", "number");
}

/// `[toll_fraud] deny_prefixes` replaces the shipped list.
#[tokio::test]
async fn the_configured_deny_list_is_the_one_applied() {
    let mut api = setup().await;
    let deny: onestatus::toll_fraud::DenyList = serde_json::from_value(json!(["+4520"])).unwrap();
    api.state = api.state.clone().with_deny_list(deny);
    api.app = router(api.state.clone());
    let hans = api.login(HANS).await;
    let r = api
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&hans),
            Some(json!({"mobile_number": "20 30 40 50"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json());
    assert_eq!(r.field(), "mobile_number");
    // +882 is no longer on the list.
    let r = api
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&hans),
            Some(json!({"mobile_number": "0088213000000"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

/// Issue #19 finding 3: `POST /me/calendar/sources` checks with the configured `[calendar]`
/// policy, the one the poller fetches with: refused by default, accepted where configured.
#[tokio::test]
async fn calendar_sources_follow_the_configured_fetch_policy() {
    let mut api = setup().await;
    let hans = api.login(HANS).await;
    let internal = "http://10.1.2.3/owa/calendar.ics";
    let r = api.add_source(&hans, json!({"url": internal})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json());
    assert_eq!(r.field(), "url");
    let config: onestatus::config::CalendarConfig =
        toml::from_str("allow_http = true\nallowed_networks = [\"10.1.2.0/24\"]").unwrap();
    api.state = api
        .state
        .clone()
        .with_fetch_policy(onestatus::calendar::FetchPolicy::from(&config));
    api.app = router(api.state.clone());
    let r = api.add_source(&hans, json!({"url": internal})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    // Outside the allowed block, still refused.
    let r = api
        .add_source(&hans, json!({"url": "http://10.9.9.9/c.ics"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json());
}

/// Groups (issue #17): receptionists create and change them, plain users only read them;
/// numbers are stored normalised, bad values are refused naming the field, and an outside
/// fallback number passes the toll-fraud policy.
#[tokio::test]
async fn groups_are_managed_by_receptionists_with_fields_named() {
    let api = setup().await;
    let karen = api.login(KAREN).await;
    let sven = api.login(SVEN).await;
    let hanne = api.login("2000001").await;
    let (hans_id, karen_id, sven_id) = (
        api.user_id(HANS).await,
        api.user_id(KAREN).await,
        api.user_id(SVEN).await,
    );
    let body = json!({"name": "Support", "number": "+45 70 10 00 09", "strategy": "in_order",
        "ring_timeout_secs": 15, "members": [sven_id, hans_id],
        "fallback": {"kind": "number", "number": "45 70 10 00 02"}});
    let r = api.post("/api/v1/groups", &sven, body.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "receptionist_only");
    let r = api.post("/api/v1/groups", &karen, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let created = r.json();
    assert_eq!(created["number"], "4570100009");
    assert_eq!(created["number_display"], "70 10 00 09");
    assert_eq!(created["strategy"], "in_order");
    assert_eq!(created["ring_timeout_secs"], 15);
    assert_eq!(
        created["fallback"],
        json!({"kind": "number", "number": "4570100002"})
    );
    let order: Vec<i64> = created["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [sven_id, hans_id]);
    let id = created["id"].as_i64().unwrap();

    // Everyone of the organisation sees the groups; another organisation sees none of them.
    let listed = api.get("/api/v1/groups", &sven).await.json();
    let numbers: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["4570100000", "4570100009"]);
    assert_eq!(api.get("/api/v1/groups", &hanne).await.json(), json!([]));
    let path = format!("/api/v1/groups/{id}");
    assert_eq!(api.get(&path, &hanne).await.status, StatusCode::NOT_FOUND);

    // Bad values name their field.
    let cases = [
        (json!({"name": " ", "number": "4570100008"}), "name"),
        (json!({"name": "X", "number": "70 1O"}), "number"),
        (json!({"name": "X", "number": "4570100001"}), "number"),
        (json!({"name": "X", "number": "4570100000"}), "number"),
        (
            json!({"name": "X", "number": "4570100008", "ring_timeout_secs": 2}),
            "ring_timeout_secs",
        ),
        (
            json!({"name": "X", "number": "4570100008", "members": [hans_id, hans_id]}),
            "members[1]",
        ),
        (
            json!({"name": "X", "number": "4570100008", "members": [api.outsider.id.0]}),
            "members[0]",
        ),
        (
            json!({"name": "X", "number": "4570100008",
                "fallback": {"kind": "number", "number": "abc"}}),
            "fallback.number",
        ),
        (
            json!({"name": "X", "number": "4570100008", "voicemail_user_id": api.outsider.id.0}),
            "voicemail_user_id",
        ),
        (
            json!({"name": "X", "number": "4570100008",
                "fallback": {"kind": "number", "number": "4570100000"}}),
            "fallback.number",
        ),
    ];
    for (body, field) in cases {
        let r = api.post("/api/v1/groups", &karen, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.json()
        );
        assert_eq!(r.field(), field, "{body}");
    }
    // A satellite number as fallback: the deny-list refuses it, naming the field.
    let r = api
        .post(
            "/api/v1/groups",
            &karen,
            json!({"name": "X", "number": "4570100008",
                "fallback": {"kind": "number", "number": "+882 13 000000"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json());
    assert_eq!(r.json()["error"]["code"], "number_not_allowed");
    assert_eq!(r.field(), "fallback.number");

    // Update: everything at once, then only the members.
    let r = api
        .call(
            Method::PUT,
            &path,
            Some(&karen),
            Some(
                json!({"name": "Support desk", "number": "4570100009", "strategy": "all",
                "ring_timeout_secs": 25, "fallback": {"kind": "voicemail"},
                "voicemail_user_id": karen_id, "members": [hans_id]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["name"], "Support desk");
    assert_eq!(r.json()["fallback"], json!({"kind": "voicemail"}));
    assert_eq!(r.json()["voicemail_user_id"], karen_id);
    let members_path = format!("{path}/members");
    let r = api
        .call(
            Method::PUT,
            &members_path,
            Some(&sven),
            Some(json!({"members": [sven_id]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::PUT,
            &members_path,
            Some(&karen),
            Some(json!({"members": [karen_id, hans_id]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let stored = api
        .state
        .store
        .group_member_list(onestatus::store::GroupId(id))
        .await
        .unwrap();
    let stored: Vec<i64> = stored.iter().map(|m| m.user.id.0).collect();
    assert_eq!(stored, [karen_id, hans_id]);

    // Delete: plain users may not, receptionists may, once.
    let r = api.call(Method::DELETE, &path, Some(&sven), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api.call(Method::DELETE, &path, Some(&karen), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.call(Method::DELETE, &path, Some(&karen), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A forward to a group of one's own organisation is internal: accepted where external
/// forwards are not allowed, however the number is written (issue #17).
#[tokio::test]
async fn an_absence_forwarded_to_ones_own_group_is_internal() {
    let api = setup().await;
    let other = api.outsider.org_id;
    api.state
        .store
        .group_create(
            other,
            "Reception",
            "4570200000",
            onestatus::store::GroupKind::Receptionist,
            t0(),
        )
        .await
        .unwrap();
    let hanne = api.login("2000001").await;
    let r = api
        .post(
            "/api/v1/me/absences",
            &hanne,
            json!({"reason": "lunch",
                "destination": {"kind": "number", "number": "+45 70 20 00 00"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["destination"]["number"], "4570200000");
    // The demo organisation's group is another organisation's: external, and refused.
    let r = api
        .post(
            "/api/v1/me/absences",
            &hanne,
            json!({"reason": "lunch", "destination": {"kind": "number", "number": "4570100000"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json());
    assert_eq!(r.field(), "destination.number");
}

/// Issue #18: a rename makes a new spoken name for the voicemail greeting (espeak-ng, in the
/// background), in the user's language and at the prompts' level.
#[tokio::test]
async fn a_rename_makes_a_new_spoken_name_for_the_greeting() {
    let api = setup().await;
    let token = api.login(HANS).await;
    let store = &api.state.store;
    let hans = store.user_by_local_number(HANS).await.unwrap();
    // Seeded by the store alone here (not `serve --demo`): no spoken name yet.
    assert!(store.generated_name(hans.id).await.unwrap().is_none());
    let r = api
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&token),
            Some(json!({"name": "Hans Peter Hansen"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut made = None;
    for _ in 0..200 {
        made = store.generated_name(hans.id).await.unwrap();
        if made.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let made = made.expect("a spoken name within 10 s (is espeak-ng installed?)");
    assert_eq!(made.spoken, "Hans Peter Hansen");
    assert_eq!(made.lang, Lang::Da);
    let pcm = onestatus::media::decode::decode(made.audio, None, &Default::default()).unwrap();
    assert!(pcm.len() > 8000 / 2, "{} samples", pcm.len());
    let level = onestatus::speech::level::rms_dbfs(&pcm);
    assert!(
        (level - onestatus::speech::level::TARGET_RMS_DBFS).abs() <= 2.0,
        "{level}"
    );
}
