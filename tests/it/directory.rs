//! Issue #23, the directory: the shared phonebook in the store (SQLite and PostgreSQL), over
//! the real binary's HTTP API (receptionists manage and import it, everyone searches it, 403
//! and 422 name what is wrong), names in the call history and the voicemail list, the
//! external directory against a stand-in HTTP server (hits, misses cached, timeouts), and the
//! `contacts` CLI.
// Tests drive real processes over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use sqlx::Connection;

use crate::support::directory_server::{Answer, DirectoryServer};
use crate::support::{self, TestServer};
use onestatus::config::{DirectoryAnswer, DirectoryConfig};
use onestatus::directory::external::Cached;
use onestatus::directory::ExternalDirectory;
use onestatus::domain::model::{CallData, CallDirection, ContactData, NewVoicemail};
use onestatus::domain::Role;
use onestatus::store::{
    demo, ContactNumber, ImportMode, NumberKind, SharedContactData, Store, StoreError,
    VoicemailDelivery, VoicemailPlayer,
};

const HANS: &str = "1000001";
const KAREN: &str = "1000002";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
}

fn contact(
    org: onestatus::store::OrgId,
    name: &str,
    company: &str,
    numbers: &[&str],
) -> SharedContactData {
    SharedContactData {
        org_id: org,
        name: name.into(),
        company: Some(company.into()).filter(|c: &String| !c.is_empty()),
        email: None,
        note: None,
        numbers: numbers
            .iter()
            .map(|n| ContactNumber {
                kind: NumberKind::Work,
                number: (*n).into(),
            })
            .collect(),
    }
}

// ---- the store, on both backends ------------------------------------------------------------

async fn store_suite(url: &str) {
    let store = Store::connect(url).await.expect("connect and migrate");
    demo::seed_at(&store, t0()).await.unwrap();
    let org = store.org_by_code("100").await.unwrap().id;
    let other = store
        .org_create(
            &onestatus::store::NewOrganisation {
                customer_code: "200".into(),
                name: "Other".into(),
                timezone: chrono_tz::Europe::Copenhagen,
                allow_external_forwarding: true,
                receptionist_group_number: None,
            },
            t0(),
        )
        .await
        .unwrap()
        .id;

    // Create, read, search by name (case-folded, Unicode), company and number.
    let jens = store
        .shared_contact_create(
            &contact(org, "Jens Jensen", "VVS ApS", &["4522334455", "4520304050"]),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(jens.data.numbers.len(), 2);
    store
        .shared_contact_create(&contact(org, "Ærø Tømrer", "", &["4570707070"]), t0())
        .await
        .unwrap();
    store
        .shared_contact_create(&contact(other, "Foreign", "VVS ApS", &["4522334455"]), t0())
        .await
        .unwrap();
    let names = |list: Vec<onestatus::store::SharedContact>| {
        list.into_iter().map(|c| c.data.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.shared_contacts(org, "", 100).await.unwrap()),
        vec!["Jens Jensen", "Ærø Tømrer"]
    );
    assert_eq!(
        names(store.shared_contacts(org, "ærø", 100).await.unwrap()),
        vec!["Ærø Tømrer"]
    );
    assert_eq!(
        names(store.shared_contacts(org, "vvs", 100).await.unwrap()),
        vec!["Jens Jensen"]
    );
    assert_eq!(
        names(store.shared_contacts(org, "2030", 100).await.unwrap()),
        vec!["Jens Jensen"]
    );
    assert_eq!(store.shared_contacts(org, "", 1).await.unwrap().len(), 1);

    // Naming a caller: exact number, own organisation only.
    let by_number = store
        .shared_contact_by_number(org, "4520304050")
        .await
        .unwrap()
        .expect("Jens by his second number");
    assert_eq!(by_number.id, jens.id);
    assert!(store
        .shared_contact_by_number(org, "452030405")
        .await
        .unwrap()
        .is_none());
    let foreign = store
        .shared_contact_by_number(other, "4522334455")
        .await
        .unwrap();
    assert_eq!(foreign.unwrap().data.name, "Foreign");

    // Update replaces the numbers; another organisation's id is NotFound.
    let updated = store
        .shared_contact_update(
            jens.id,
            &contact(org, "Jens Jensen", "VVS ApS", &["4599887766"]),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(updated.data.numbers[0].number, "4599887766");
    assert!(store
        .shared_contact_by_number(org, "4522334455")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .shared_contact_update(jens.id, &contact(other, "X", "", &["4511111111"]), t0())
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.shared_contact_delete(other, jens.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .shared_contact_create(&contact(org, " ", "", &["4511111111"]), t0())
            .await,
        Err(StoreError::Invalid { .. })
    ));

    // Import: add skips what is there already; replace starts over; all in one transaction.
    let file = vec![
        contact(org, "Jens Jensen", "VVS ApS", &["4599887766"]),
        contact(org, "New One", "", &["4533333333"]),
        contact(org, "New One", "", &["4533333333"]),
    ];
    let counts = store
        .shared_contacts_import(org, &file, ImportMode::Add, t0())
        .await
        .unwrap();
    assert_eq!((counts.added, counts.duplicates, counts.removed), (1, 2, 0));
    assert_eq!(store.shared_contacts(org, "", 100).await.unwrap().len(), 3);
    let counts = store
        .shared_contacts_import(org, &file[1..2], ImportMode::Replace, t0())
        .await
        .unwrap();
    assert_eq!((counts.added, counts.removed), (1, 3));
    assert_eq!(
        names(store.shared_contacts(org, "", 100).await.unwrap()),
        vec!["New One"]
    );
    assert_eq!(
        store.shared_contacts(other, "", 100).await.unwrap().len(),
        1
    );
    let only = store.shared_contacts(org, "", 100).await.unwrap().remove(0);
    store.shared_contact_delete(org, only.id).await.unwrap();
    assert!(store
        .shared_contacts(org, "", 100)
        .await
        .unwrap()
        .is_empty());

    // The colleague step: OneNumber, local number or mobile, own organisation.
    let karen = store.colleague_by_number(org, "4570100002").await.unwrap();
    assert_eq!(karen.unwrap().profile.name, "Karen Berg");
    assert_eq!(
        store
            .colleague_by_number(org, KAREN)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Receptionist
    );
    assert!(store
        .colleague_by_number(other, "4570100002")
        .await
        .unwrap()
        .is_none());

    // Delivery options: defaults until set.
    let hans = store.user_by_local_number(HANS).await.unwrap().id;
    assert_eq!(
        store.voicemail_delivery(hans).await.unwrap(),
        VoicemailDelivery::default()
    );
    let set = VoicemailDelivery {
        player: VoicemailPlayer::External,
        email_link: false,
    };
    store.voicemail_delivery_update(hans, &set).await.unwrap();
    assert_eq!(store.voicemail_delivery(hans).await.unwrap(), set);
    store.close().await;
}

#[tokio::test]
async fn shared_contacts_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    store_suite(&format!("sqlite://{}", dir.path().join("dir.db").display())).await;
}

#[tokio::test]
async fn shared_contacts_on_postgres() {
    let admin_url = std::env::var("ONESTATUS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!(
        "onestatus_dir_{}_{:08x}",
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
    let outcome = tokio::spawn(async move { store_suite(&url).await }).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

// ---- the external directory against the stand-in ---------------------------------------------

fn directory(
    server: &DirectoryServer,
    answer: DirectoryAnswer,
    pointer: &str,
) -> ExternalDirectory {
    ExternalDirectory::new(&DirectoryConfig {
        url: server.url_template(),
        answer,
        name_pointer: pointer.into(),
        connect_timeout: Duration::from_millis(1000),
        read_timeout: Duration::from_millis(700),
        ..DirectoryConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_lookup_hits_misses_and_timeouts_against_the_stand_in() {
    let server = DirectoryServer::start(HashMap::from([
        (
            "4533221100".to_owned(),
            Answer::Json(r#"{"results": [{"displayName": "Bager Olsen"}]}"#.into()),
        ),
        ("4544556677".to_owned(), Answer::Status(500)),
        (
            "4599999999".to_owned(),
            Answer::Slow(
                Duration::from_secs(4),
                Box::new(Answer::Json(
                    r#"{"results": [{"displayName": "Too Late"}]}"#.into(),
                )),
            ),
        ),
    ]));
    let dir = directory(&server, DirectoryAnswer::Json, "/results/0/displayName");
    let now = t0();

    // A hit, then from the cache: one request.
    assert_eq!(
        dir.lookup("4533221100", now).await.as_deref(),
        Some("Bager Olsen")
    );
    assert_eq!(
        dir.lookup("4533221100", now).await.as_deref(),
        Some("Bager Olsen")
    );
    assert_eq!(server.hits("4533221100"), 1);
    // Until the hit TTL (a day by default) is over.
    let later = now + chrono::Duration::hours(25);
    assert_eq!(dir.cached("4533221100", later), Cached::Unknown);
    assert_eq!(
        dir.lookup("4533221100", later).await.as_deref(),
        Some("Bager Olsen")
    );
    assert_eq!(server.hits("4533221100"), 2);

    // A 404 is a miss, cached: the directory is asked once.
    assert_eq!(dir.lookup("4512121212", now).await, None);
    assert_eq!(dir.cached("4512121212", now), Cached::Miss);
    assert_eq!(dir.lookup("4512121212", now).await, None);
    assert_eq!(server.hits("4512121212"), 1);

    // A 500 is a failure: no name, remembered briefly (a minute), then asked again.
    assert_eq!(dir.lookup("4544556677", now).await, None);
    assert_eq!(dir.lookup("4544556677", now).await, None);
    assert_eq!(server.hits("4544556677"), 1);
    let after_a_minute = now + chrono::Duration::seconds(61);
    assert_eq!(dir.lookup("4544556677", after_a_minute).await, None);
    assert_eq!(server.hits("4544556677"), 2);

    // A directory slower than the read timeout: no name, well before its answer would come.
    let started = Instant::now();
    assert_eq!(dir.lookup("4599999999", now).await, None);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "the lookup waited {took:?}");
    assert_eq!(dir.lookup("4599999999", now).await, None);
    assert_eq!(server.hits("4599999999"), 1, "the timeout is cached too");

    // Local and service numbers never leave the organisation.
    assert_eq!(dir.lookup("1000001", now).await, None);
    assert_eq!(server.hits("1000001"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_lookup_reads_a_vcard_answer() {
    let server = DirectoryServer::start(HashMap::from([(
        "4587654321".to_owned(),
        Answer::Vcard(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Hansen\\, Kurt\r\n  (VVS)\r\nTEL:+4587654321\r\nEND:VCARD\r\n"
                .into(),
        ),
    )]));
    let dir = directory(&server, DirectoryAnswer::Vcard, "");
    assert_eq!(
        dir.lookup("4587654321", t0()).await.as_deref(),
        Some("Hansen, Kurt (VVS)")
    );
    // The prefetch of a list: returns at once, the cache has the name shortly after.
    assert!(
        dir.prefetch("4511223344", t0()).is_some(),
        "a lookup started"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.cached("4511223344", t0()) == Cached::Unknown {
        assert!(Instant::now() < deadline, "the prefetch never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dir.cached("4511223344", t0()), Cached::Miss);
    assert!(
        dir.prefetch("4511223344", t0()).is_none(),
        "known: nothing to fetch"
    );
    assert_eq!(server.hits("4511223344"), 1);
}

#[test]
fn the_external_directory_is_off_by_default() {
    let config = onestatus::config::Config::load(None, Vec::<(String, String)>::new()).unwrap();
    assert!(!config.directory.enabled());
    assert!(ExternalDirectory::from_config(&config.directory)
        .unwrap()
        .is_none());
}

// ---- the API over HTTP -------------------------------------------------------------------------

/// One HTTP/1.1 exchange: (status, JSON body). `content_type` and a raw body for uploads.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (content_type, bytes) = body.unwrap_or(("application/json", b""));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n",
        bytes.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(bytes).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head[9..12].parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn json_body(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn login(server: &TestServer, number: &str) -> String {
    let body = json_body(&json!({"local_number": number, "pin": demo::PIN}));
    let (status, answer) = http(
        server.http,
        "POST",
        "/api/v1/login",
        None,
        Some(("application/json", &body)),
    );
    assert_eq!(status, 200, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

fn with_store<T>(server: &TestServer, f: impl AsyncFnOnce(&Store) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    );
    rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

/// Hans's history and mailbox hold these callers (as the B2BUA and the IVR write them).
fn seed_calls(server: &TestServer, numbers: &[&str]) {
    with_store(server, async |store| {
        let hans = store.user_by_local_number(HANS).await.unwrap();
        let records: Vec<CallData> = numbers
            .iter()
            .enumerate()
            .map(|(i, n)| CallData {
                user_id: hans.id,
                direction: if i % 2 == 0 {
                    CallDirection::Missed
                } else {
                    CallDirection::In
                },
                other_number: (*n).into(),
                other_name: Some("Presented Name".into()),
                started_at: Utc::now() - chrono::Duration::minutes(i as i64),
                answered_at: None,
                ended_at: None,
                route: Some("voicemail".into()),
            })
            .collect();
        store.call_records_insert(&records).await.unwrap();
        for n in numbers {
            store
                .voicemail_insert(&NewVoicemail {
                    user_id: hans.id,
                    caller_number: Some((*n).into()),
                    caller_name: Some("Presented Name".into()),
                    received_at: Utc::now(),
                    duration_ms: 1000,
                    audio: vec![1; 64],
                })
                .await
                .unwrap();
        }
        store
            .contact_create(
                &ContactData {
                    owner_user_id: hans.id,
                    name: "Mor".into(),
                    company: None,
                    email: None,
                    phone_number: Some("+45 11 22 33 44".into()),
                    mobile_number: None,
                },
                Utc::now(),
            )
            .await
            .unwrap();
    });
}

/// Number → (name, source) of Hans's call history.
fn history_names(server: &TestServer, token: &str) -> HashMap<String, (Value, Value)> {
    let (status, calls) = http(server.http, "GET", "/api/v1/me/calls", Some(token), None);
    assert_eq!(status, 200, "{calls}");
    calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["other_number"].as_str().unwrap().to_owned(),
                (c["name"].clone(), c["name_source"].clone()),
            )
        })
        .collect()
}

const VCARDS: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jens Jensen\r\nORG:VVS ApS\r\nTEL;TYPE=WORK,VOICE:+45 22 33 44 55\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nFN:Uden\r\n  Nummer\r\nEMAIL:u@example.test\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nFN:Karin Berg\r\nTEL;VALUE=uri;TYPE=cell:tel:+46-70-123-45-67\r\nEND:VCARD\r\n";

#[test]
fn receptionists_manage_and_import_everyone_searches_and_lists_show_names() {
    let server = TestServer::start_demo();
    let hans = login(&server, HANS);
    let karen = login(&server, KAREN);
    let body = json_body(&json!({"name": "Bager Olsen", "company": "Bageriet",
        "numbers": [{"kind": "work", "number": "+45 33 44 55 66"}]}));
    let upload = Some(("application/json", body.as_slice()));

    // A plain user may read but not write.
    let (status, answer) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts",
        Some(&hans),
        upload,
    );
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "receptionist_only");
    let (status, answer) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts/import",
        Some(&hans),
        Some(("text/vcard", VCARDS.as_bytes())),
    );
    assert_eq!(status, 403, "{answer}");

    // The receptionist adds one; numbers are normalised; a bad number names its field.
    let (status, created) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts",
        Some(&karen),
        upload,
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["numbers"][0]["number"], "4533445566");
    let bad =
        json_body(&json!({"name": "X", "numbers": [{"number": "4512345678"}, {"number": "12ab"}]}));
    let (status, answer) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts",
        Some(&karen),
        Some(("application/json", &bad)),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "numbers[1].number");
    let none = json_body(&json!({"name": "X", "numbers": []}));
    let (status, answer) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts",
        Some(&karen),
        Some(("application/json", &none)),
    );
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (422, json!("numbers"))
    );

    // Import: a report with the rejected record's line and reason.
    let (status, report) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts/import",
        Some(&karen),
        Some(("text/vcard", VCARDS.as_bytes())),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["format"], "vcard");
    assert_eq!(
        (report["records"].clone(), report["added"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(report["rejected"][0]["line"], 7);
    assert_eq!(report["rejected"][0]["record"], 2);
    assert_eq!(report["rejected"][0]["name"], "Uden Nummer");
    assert_eq!(report["rejected"][0]["reason"], "no telephone number");
    assert_eq!(report["rejected"][0]["code"], "no_number");
    // The same file again: nothing new.
    let (_, again) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts/import",
        Some(&karen),
        Some(("text/vcard", VCARDS.as_bytes())),
    );
    assert_eq!(
        (again["added"].clone(), again["duplicates"].clone()),
        (json!(0), json!(2))
    );
    // A CSV without a name column is refused whole, naming the file.
    let (status, answer) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts/import?mode=add",
        Some(&karen),
        Some(("text/csv", b"Kunde;Tlf\nX;22334455\n")),
    );
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (422, json!("file"))
    );
    let (status, answer) = http(
        server.http,
        "POST",
        "/api/v1/shared-contacts/import?mode=merge",
        Some(&karen),
        Some(("text/csv", b"Name,Phone\n")),
    );
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (422, json!("mode"))
    );

    // Everyone searches it: "external" and "all", each result marked with its source.
    let (status, found) = http(
        server.http,
        "GET",
        "/api/v1/colleagues?q=vvs&scope=external",
        Some(&hans),
        None,
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["colleagues"], json!([]));
    assert_eq!(found["shared_contacts"][0]["name"], "Jens Jensen");
    assert_eq!(found["shared_contacts"][0]["source"], "shared");
    let (_, all) = http(
        server.http,
        "GET",
        "/api/v1/colleagues?q=berg&scope=all",
        Some(&hans),
        None,
    );
    assert_eq!(all["colleagues"][0]["name"], "Karen Berg");
    assert_eq!(all["colleagues"][0]["source"], "colleague");
    assert_eq!(all["shared_contacts"][0]["name"], "Karin Berg");
    assert_eq!(all["shared_contacts"][0]["source"], "shared");
    let (_, internal) = http(
        server.http,
        "GET",
        "/api/v1/colleagues?q=berg&scope=internal",
        Some(&hans),
        None,
    );
    assert_eq!(internal["shared_contacts"], json!([]));

    // Changing and removing: receptionists only; another organisation's id is 404.
    let id = created["id"].as_i64().unwrap();
    let change = json_body(&json!({"name": "Bager Olsen", "note": "Morgenbrød",
        "numbers": [{"kind": "mobile", "number": "20304050"}]}));
    let path = format!("/api/v1/shared-contacts/{id}");
    let (status, _) = http(
        server.http,
        "PUT",
        &path,
        Some(&hans),
        Some(("application/json", &change)),
    );
    assert_eq!(status, 403);
    let (status, changed) = http(
        server.http,
        "PUT",
        &path,
        Some(&karen),
        Some(("application/json", &change)),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        changed["numbers"][0],
        json!({"kind": "mobile", "number": "4520304050"})
    );
    let (status, _) = http(
        server.http,
        "GET",
        "/api/v1/shared-contacts/999999",
        Some(&hans),
        None,
    );
    assert_eq!(status, 404);

    // Names in Hans's call history and voicemail list: colleague, personal, shared, none.
    seed_calls(
        &server,
        &[
            "4570100002",
            "4511223344",
            "4522334455",
            "4520304050",
            "4599990000",
        ],
    );
    let names = history_names(&server, &hans);
    assert_eq!(
        names["4570100002"],
        (json!("Karen Berg"), json!("colleague"))
    );
    assert_eq!(names["4511223344"], (json!("Mor"), json!("personal")));
    assert_eq!(names["4522334455"], (json!("Jens Jensen"), json!("shared")));
    assert_eq!(names["4520304050"], (json!("Bager Olsen"), json!("shared")));
    assert_eq!(names["4599990000"], (Value::Null, Value::Null));
    let (status, vm) = http(
        server.http,
        "GET",
        "/api/v1/me/voicemail",
        Some(&hans),
        None,
    );
    assert_eq!(status, 200, "{vm}");
    let voice: HashMap<String, (Value, Value)> = vm["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "voice")
        .map(|m| {
            (
                m["caller_number"].as_str().unwrap().to_owned(),
                (m["caller_name"].clone(), m["caller_name_source"].clone()),
            )
        })
        .collect();
    assert_eq!(voice["4522334455"], (json!("Jens Jensen"), json!("shared")));
    assert_eq!(voice["4511223344"], (json!("Mor"), json!("personal")));
    // Nobody knows it: the name the caller presented stays, unmarked.
    assert_eq!(voice["4599990000"], (json!("Presented Name"), Value::Null));

    // One number's name, as the dial screen asks: typed nationally, named by the shared book.
    let (status, one) = http(
        server.http,
        "GET",
        "/api/v1/names?number=22%2033%2044%2055",
        Some(&hans),
        None,
    );
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (one["name"].clone(), one["source"].clone()),
        (json!("Jens Jensen"), json!("shared"))
    );
    let (status, answer) = http(
        server.http,
        "GET",
        "/api/v1/names?number=",
        Some(&hans),
        None,
    );
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (422, json!("number"))
    );

    let (status, _) = http(server.http, "DELETE", &path, Some(&hans), None);
    assert_eq!(status, 403);
    let (status, _) = http(server.http, "DELETE", &path, Some(&karen), None);
    assert_eq!(status, 204);
    let names = history_names(&server, &hans);
    assert_eq!(
        names["4520304050"],
        (Value::Null, Value::Null),
        "the name went with the contact"
    );

    // The delivery options round-trip.
    let patch = json_body(&json!({"player": "external", "email_link": false}));
    let (status, d) = http(
        server.http,
        "PATCH",
        "/api/v1/me/voicemail-delivery",
        Some(&hans),
        Some(("application/json", &patch)),
    );
    assert_eq!(status, 200, "{d}");
    let (_, d) = http(
        server.http,
        "GET",
        "/api/v1/me/voicemail-delivery",
        Some(&hans),
        None,
    );
    assert_eq!(d, json!({"player": "external", "email_link": false}));
}

/// The configured external directory names an unknown caller in the call history: the first
/// listing answers at once without it and starts the lookup; a later one has the name.
#[test]
fn the_call_history_names_a_caller_from_the_external_directory() {
    let directory = DirectoryServer::start(HashMap::from([(
        "4533221100".to_owned(),
        Answer::Json(r#"{"name": "Bager Olsen"}"#.into()),
    )]));
    let url = directory.url_template();
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[("ONESTATUS_DIRECTORY_URL", url.as_str())],
    );
    let hans = login(&server, HANS);
    seed_calls(&server, &["4533221100", "4544000000"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let names = loop {
        let names = history_names(&server, &hans);
        if names["4533221100"].0 != Value::Null {
            break names;
        }
        assert!(
            Instant::now() < deadline,
            "the external name never arrived: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        names["4533221100"],
        (json!("Bager Olsen"), json!("external"))
    );
    assert_eq!(names["4544000000"], (Value::Null, Value::Null));
    // Asked once each, whatever the number of listings (the miss is cached too).
    for _ in 0..3 {
        history_names(&server, &hans);
    }
    assert_eq!(directory.hits("4533221100"), 1);
    assert_eq!(directory.hits("4544000000"), 1);
}

// ---- the CLI -----------------------------------------------------------------------------------

#[test]
fn the_contacts_cli_imports_lists_adds_and_removes() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = support::command(data.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&["org", "add", "--code", "300", "--name", "Kunde A/S"]);
    assert_eq!(code, Some(0), "{err}");
    let csv = data.path().join("outlook.csv");
    std::fs::write(
        &csv,
        "First Name,Last Name,Company,Business Phone,Mobile Phone\r\nJens,Jensen,VVS ApS,22 33 44 55,\r\n,,Uden Nummer,,\r\n",
    )
    .unwrap();
    let (code, out, err) = run(&["contacts", "import", "--org", "300", csv.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("2 records: 1 added, 0 duplicates skipped, 0 removed, 1 rejected"),
        "{out}"
    );
    assert!(
        out.contains("rejected: line 3 (record 2) (Uden Nummer): no telephone number"),
        "{out}"
    );
    let (code, out, err) = run(&[
        "contacts",
        "add",
        "--org",
        "300",
        "--name",
        "Bager",
        "--number",
        "mobile:20 30 40 50",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let id = out.split('\t').next().unwrap().trim().to_owned();
    let (_, list, _) = run(&["contacts", "list", "--org", "300"]);
    assert!(list.contains("Bager\t\tmobile:4520304050"), "{list}");
    assert!(
        list.contains("Jens Jensen\tVVS ApS\twork:4522334455"),
        "{list}"
    );
    let (code, _, err) = run(&[
        "contacts", "add", "--org", "300", "--name", "X", "--number", "12ab",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--number"), "{err}");
    let (code, _, err) = run(&["contacts", "remove", "--org", "300", &id]);
    assert_eq!(code, Some(0), "{err}");
    let (_, list, _) = run(&["contacts", "list", "--org", "300"]);
    assert!(!list.contains("Bager"), "{list}");
}

/// A list's lookup: the cache does not know the number, so the first answer is none and a
/// lookup starts; `settle` waits (bounded) for it and the second answer is the directory's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_waits_briefly_for_the_directory_then_names_the_number() {
    use onestatus::directory::{External, NameSource, Names, Viewer};
    let server = DirectoryServer::start(HashMap::from([(
        "4533221100".to_owned(),
        Answer::Json(r#"{"name": "Bager Olsen"}"#.into()),
    )]));
    let dir = directory(&server, DirectoryAnswer::Json, "/name");
    let store = Store::connect("sqlite::memory:").await.unwrap();
    demo::seed_at(&store, t0()).await.unwrap();
    let hans = store.user_by_local_number(HANS).await.unwrap();
    let viewer = Viewer::of(&store, &hans).await.unwrap();
    let mut names = Names::new(&store, Some(&dir), viewer);
    assert_eq!(
        names
            .name_for("4533221100", External::Cached, t0())
            .await
            .unwrap(),
        None
    );
    // A colleague's number is never sent to the directory.
    names
        .name_for("4570100002", External::Cached, t0())
        .await
        .unwrap();
    assert!(names.settle(Duration::from_secs(10)).await);
    let named = names
        .name_for("4533221100", External::Cached, t0())
        .await
        .unwrap()
        .expect("named after settling");
    assert_eq!(
        (named.name.as_str(), named.source),
        ("Bager Olsen", NameSource::External)
    );
    assert_eq!(server.hits("4533221100"), 1);
    assert_eq!(server.hits("4570100002"), 0);
    assert!(
        !names.settle(Duration::from_secs(1)).await,
        "nothing pending"
    );
}
