//! The store's behaviour, run identically against both backends: SQLite in a temporary
//! directory and PostgreSQL at 127.0.0.1:5432 (override with `ONESTATUS_TEST_PG`), each in a
//! fresh database that is dropped afterwards. PostgreSQL being unreachable fails the test.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::Connection;

use onestatus::domain::{BusyStatus, DestinationKind, Lang, MessageState, Origin, Reason, Role};
use onestatus::pin::{hash_pin, validate_new_pin, verify_pin, PinError};
use onestatus::store::{
    demo, ha1_md5, ha1_sha256, AbsenceData, Binding, Destination, DeviceKind, EntryEdit,
    NewOrganisation, NewUser, NewVoicemail, OrgId, Organisation, Profile, QuickDuration, Store,
    StoreError, SyncedEntry, User, UserId, VoicemailSettings,
};
use onestatus::store::{MinuteOfDay, ScheduleData, Weekdays};

/// A fixed "now" for the whole suite: Monday 24 November 2025, 10:00 UTC.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 24, 10, 0, 0).unwrap()
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

async fn make_org(store: &Store, code: &str) -> Organisation {
    store
        .org_create(
            &NewOrganisation {
                customer_code: code.to_owned(),
                name: format!("Org {code}"),
                timezone: chrono_tz::Europe::Copenhagen,
                allow_external_forwarding: false,
                receptionist_group_number: None,
            },
            t0(),
        )
        .await
        .unwrap()
}

fn new_user(org: OrgId, name: &str, one_number: &str) -> NewUser {
    NewUser {
        org_id: org,
        one_number: one_number.to_owned(),
        role: Role::User,
        profile: Profile::new(name, Lang::En),
        // A syntactically valid PHC string; these tests do not log in with it.
        pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        pin_must_change: true,
    }
}

async fn make_user(store: &Store, org: OrgId, name: &str, one_number: &str) -> User {
    store
        .user_create(&new_user(org, name, one_number), t0())
        .await
        .unwrap()
}

/// Every case, in order, against one backend. `url` is where `store` came from, so the
/// durability case can close it and reopen it.
async fn suite(url: &str) {
    let store = Store::connect(url).await.expect("connect and migrate");
    // Migrations are idempotent.
    store.migrate().await.unwrap();

    demo_seed_is_idempotent(&store).await;
    users_get_defaults(&store).await;
    local_number_is_unique(&store).await;
    search_is_partial_and_case_insensitive(&store).await;
    absences_in_force(&store).await;
    calendar_sync_respects_user_edits_and_tombstones(&store).await;
    registrations_expire(&store).await;
    routing_snapshot_matches_single_reads(&store).await;
    direct_reads_match_sqlx(&store, url).await;
    pin_change_and_lockout(&store).await;
    org_toll_fraud_allow_list(&store).await;
    message_deliveries_queue(&store).await;
    old_voicemail_expires(&store).await;
    generated_names_are_kept_per_user(&store).await;
    registrations_keep_their_path_and_node(&store).await;
    let store = voicemail_is_durable(store, url).await;
    store.close().await;
}

async fn demo_seed_is_idempotent(store: &Store) {
    demo::seed_at(store, t0()).await.unwrap();
    demo::seed_at(store, t0() + minutes(1)).await.unwrap();
    let orgs = store.org_list().await.unwrap();
    assert_eq!(orgs.len(), 1);
    let org = store.org_by_code("100").await.unwrap();
    assert_eq!(org.name, "Demo A/S");
    assert_eq!(org.timezone, chrono_tz::Europe::Copenhagen);
    let users = store.users_in_org(org.id).await.unwrap();
    let names: Vec<_> = users.iter().map(|u| u.profile.name.as_str()).collect();
    assert_eq!(
        names,
        ["Emma Evans", "Hans Hansen", "Karen Berg", "Sven Svensson"]
    );

    let hans = store.user_by_local_number("1000001").await.unwrap();
    assert_eq!(hans.one_number, "4570100001");
    assert_eq!(hans.profile.lang, Lang::Da);
    assert!(!hans.pin_must_change);
    assert!(verify_pin(demo::PIN, &hans.pin_hash));
    let karen = store.user_by_one_number("4570100002").await.unwrap();
    assert_eq!(karen.role, Role::Receptionist);
    assert_eq!(karen.profile.initials.as_deref(), Some("KB"));
    assert_eq!(
        store
            .user_by_local_number("1000003")
            .await
            .unwrap()
            .profile
            .lang,
        Lang::Sv
    );

    let device = store.device_by_sip_username("1000004").await.unwrap();
    assert_eq!(device.kind, DeviceKind::Desk);
    assert_eq!(device.realm, "onestatus");
    assert_eq!(
        device.ha1_md5,
        ha1_md5("1000004", "onestatus", "demo1000004")
    );
    assert_eq!(
        device.ha1_sha256,
        ha1_sha256("1000004", "onestatus", "demo1000004")
    );
    let emma = store.user_by_sip_username("1000004").await.unwrap();
    assert_eq!(emma.profile.name, "Emma Evans");

    let group = store
        .group_by_number(demo::RECEPTIONIST_GROUP)
        .await
        .unwrap();
    let members = store.group_members(group.id).await.unwrap();
    assert_eq!(members.iter().map(|u| u.id).collect::<Vec<_>>(), [karen.id]);
}

async fn users_get_defaults(store: &Store) {
    let org = make_org(store, "201").await;
    let user = make_user(store, org.id, "Ann Andersen", "4520112345").await;
    assert_eq!(user.local_number, "2012345");
    assert_eq!(store.user(user.id).await.unwrap(), user);

    let qf = store.quick_forwards(user.id).await.unwrap();
    let shape: Vec<_> = qf
        .iter()
        .map(|q| (q.label.as_str(), q.reason, q.duration))
        .collect();
    assert_eq!(
        shape,
        [
            ("Lunch ½ hour", Reason::Lunch, QuickDuration::Minutes(30)),
            ("Break 5 minutes", Reason::Break, QuickDuration::Minutes(5)),
            (
                "Gone for today",
                Reason::GoneForToday,
                QuickDuration::EndOfWorkingDay
            ),
            (
                "Meeting 1 hour",
                Reason::Meeting,
                QuickDuration::Minutes(60)
            ),
            (
                "Meeting 2 hours",
                Reason::Meeting,
                QuickDuration::Minutes(120)
            ),
        ]
    );
    assert!(qf
        .iter()
        .all(|q| q.is_default && q.destination == Destination::voicemail()));
    // The schema's column defaults are the Rust defaults.
    assert_eq!(
        store.voicemail_settings(user.id).await.unwrap(),
        VoicemailSettings::default()
    );

    // Danish users get Danish labels.
    let dane = store
        .user_create(
            &NewUser {
                profile: Profile::new("Bo Bech", Lang::Da),
                ..new_user(org.id, "", "4520100002")
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.quick_forwards(dane.id).await.unwrap()[0].label,
        "Frokost ½ time"
    );

    // Profile update round-trips and feeds search_name.
    let mut profile = user.profile.clone();
    profile.name = "Ann Østergaard".into();
    profile.department = Some("Sales".into());
    profile.no_answer_timeout_secs = 30;
    store.user_update_profile(user.id, &profile).await.unwrap();
    assert_eq!(store.user(user.id).await.unwrap().profile, profile);
    let found = store.user_search(org.id, "øSTER", 10).await.unwrap();
    assert_eq!(found.len(), 1, "Unicode case folding");

    assert!(matches!(
        store.user(UserId(999_999)).await,
        Err(StoreError::NotFound("user"))
    ));
}

async fn local_number_is_unique(store: &Store) {
    let org = make_org(store, "202").await;
    make_user(store, org.id, "First", "4522205555").await;
    // A different OneNumber with the same last four digits gives the same local number.
    let err = store
        .user_create(&new_user(org.id, "Second", "4533305555"), t0())
        .await;
    match err {
        Err(StoreError::Conflict { what }) => assert_eq!(what, "users.local_number"),
        other => panic!("expected a local number conflict, got {other:?}"),
    }
    // The failed transaction left no half-made user (no orphan quick forwards either).
    assert_eq!(store.users_in_org(org.id).await.unwrap().len(), 1);
    // The same OneNumber in another organisation: a different local number, same OneNumber.
    let elsewhere = make_org(store, "212").await;
    let err = store
        .user_create(&new_user(elsewhere.id, "Third", "4522205555"), t0())
        .await;
    assert!(matches!(err, Err(StoreError::Conflict { what }) if what.contains("one_number")));
    // Customer codes are unique too.
    let dup = store
        .org_create(
            &NewOrganisation {
                customer_code: "202".into(),
                name: "dup".into(),
                timezone: chrono_tz::UTC,
                allow_external_forwarding: true,
                receptionist_group_number: None,
            },
            t0(),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { what }) if what.contains("customer_code")));
    assert!(matches!(
        store
            .user_create(&new_user(org.id, "Bad", "45x1"), t0())
            .await,
        Err(StoreError::Invalid { .. })
    ));
}

async fn search_is_partial_and_case_insensitive(store: &Store) {
    let org = make_org(store, "203").await;
    let other = make_org(store, "204").await;
    let hans = make_user(store, org.id, "Hans Hansen", "4520300001").await;
    let johan = make_user(store, org.id, "Johanne Lund", "4520300002").await;
    make_user(store, org.id, "Karen Berg", "4520300003").await;
    make_user(store, other.id, "Hannah Other", "4520400004").await;

    let names = |users: Vec<User>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
    assert_eq!(
        names(store.user_search(org.id, "han", 10).await.unwrap()),
        [hans.id, johan.id]
    );
    assert_eq!(
        names(store.user_search(org.id, "HANS", 10).await.unwrap()),
        [hans.id]
    );
    assert_eq!(
        names(store.user_search(org.id, "0300002", 10).await.unwrap()),
        [johan.id]
    );
    assert_eq!(
        names(store.user_search(org.id, "han", 1).await.unwrap()),
        [hans.id]
    );
    assert!(
        store.user_search(org.id, "%", 10).await.unwrap().is_empty(),
        "wildcards escaped"
    );
    assert!(
        store
            .user_search(org.id, "Hannah", 10)
            .await
            .unwrap()
            .is_empty(),
        "other org"
    );
    assert!(store
        .user_search(org.id, "  ", 10)
        .await
        .unwrap()
        .is_empty());
}

async fn absences_in_force(store: &Store) {
    let org = make_org(store, "205").await;
    let user = make_user(store, org.id, "Absent Person", "4520500001").await;
    let absence = |reason, starts_at, ends_at| AbsenceData {
        user_id: user.id,
        reason,
        starts_at,
        ends_at,
        destination: Destination::voicemail(),
        free_text: None,
        receptionist_note: None,
        origin: Origin::Web,
        calendar_entry_id: None,
        created_by: Some(user.id),
    };
    let lunch = store
        .absence_create(
            &absence(Reason::Lunch, t0(), Some(t0() + minutes(30))),
            t0(),
        )
        .await
        .unwrap();
    let holiday = store
        .absence_create(&absence(Reason::Holiday, t0() + minutes(120), None), t0())
        .await
        .unwrap();

    let in_force = |at| async move {
        let list = store.absences_in_force(user.id, at).await.unwrap();
        list.into_iter().map(|a| a.data.reason).collect::<Vec<_>>()
    };
    assert_eq!(in_force(t0() - minutes(1)).await, []);
    assert_eq!(in_force(t0()).await, [Reason::Lunch], "start is inclusive");
    assert_eq!(in_force(t0() + minutes(29)).await, [Reason::Lunch]);
    assert_eq!(in_force(t0() + minutes(30)).await, [], "end is exclusive");
    assert_eq!(in_force(t0() + minutes(120)).await, [Reason::Holiday]);
    assert_eq!(
        in_force(t0() + Duration::days(400)).await,
        [Reason::Holiday],
        "open-ended"
    );

    let window = store.absences_overlapping(user.id, t0() + minutes(10), t0() + minutes(121));
    let ids: Vec<_> = window.await.unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(ids, [lunch.id, holiday.id]);
    let window = store.absences_overlapping(user.id, t0() + minutes(30), t0() + minutes(120));
    assert!(
        window.await.unwrap().is_empty(),
        "[from, to) touches neither"
    );

    // A receptionist's absence, forwarded to a number, with a note.
    let mut sick = absence(Reason::Sick, t0() + minutes(29), Some(t0() + minutes(60)));
    sick.origin = Origin::Receptionist("KB".into());
    sick.destination = Destination::number("4570100000");
    sick.receptionist_note = Some("called in at 9".into());
    let sick = store.absence_create(&sick, t0()).await.unwrap();
    assert_eq!(
        in_force(t0() + minutes(29)).await,
        [Reason::Sick, Reason::Lunch],
        "newest first"
    );
    assert_eq!(store.absence(sick.id).await.unwrap(), sick);

    // Update, "open my phone", delete.
    let mut changed = lunch.data.clone();
    changed.ends_at = Some(t0() + minutes(45));
    store
        .absence_update(lunch.id, &changed, t0())
        .await
        .unwrap();
    assert_eq!(
        in_force(t0() + minutes(40)).await,
        [Reason::Sick, Reason::Lunch]
    );
    assert_eq!(
        store
            .absences_end_now(user.id, t0() + minutes(40))
            .await
            .unwrap(),
        2
    );
    assert_eq!(in_force(t0() + minutes(40)).await, []);
    assert_eq!(
        in_force(t0() + minutes(120)).await,
        [Reason::Holiday],
        "future kept"
    );
    store.absence_delete(holiday.id).await.unwrap();
    assert_eq!(in_force(t0() + minutes(120)).await, []);

    // Refused: ends before it starts, number destination without a number.
    let bad = absence(Reason::Lunch, t0(), Some(t0()));
    assert!(matches!(
        store.absence_create(&bad, t0()).await,
        Err(StoreError::Invalid { .. })
    ));
    let mut bad = absence(Reason::Lunch, t0(), None);
    bad.destination = Destination {
        kind: DestinationKind::Number,
        number: None,
    };
    assert!(matches!(
        store.absence_create(&bad, t0()).await,
        Err(StoreError::Invalid { .. })
    ));
}

async fn calendar_sync_respects_user_edits_and_tombstones(store: &Store) {
    let org = make_org(store, "206").await;
    let user = make_user(store, org.id, "Cal User", "4520600001").await;
    let source = store
        .calendar_source_create(
            user.id,
            onestatus::store::CalendarSourceKind::Url,
            "https://example.invalid/cal.ics",
            None,
            t0(),
        )
        .await
        .unwrap();
    let entry = |uid: &str, subject: &str, start_min: i64| SyncedEntry {
        user_id: user.id,
        source_id: Some(source.id),
        external_uid: uid.to_owned(),
        recurrence_id: String::new(),
        subject: subject.to_owned(),
        starts_at: t0() + minutes(start_min),
        ends_at: t0() + minutes(start_min + 60),
        all_day: false,
        busy_status: BusyStatus::Busy,
    };
    let sync1 = t0();
    let a = store
        .calendar_upsert_from_sync(&entry("a", "Budget", 60), sync1)
        .await
        .unwrap();
    let b = store
        .calendar_upsert_from_sync(&entry("b", "Standup", 120), sync1)
        .await
        .unwrap();
    let c = store
        .calendar_upsert_from_sync(&entry("c", "Lunch talk", 180), sync1)
        .await
        .unwrap();
    assert_eq!(a.origin, Origin::Outlook);

    // The user edits a and deletes b.
    let edit = EntryEdit {
        subject: "Budget (moved)".into(),
        starts_at: t0() + minutes(90),
        ends_at: t0() + minutes(150),
        all_day: false,
        busy_status: BusyStatus::OutOfOffice,
        code_override: Some("open".into()),
    };
    store
        .calendar_user_edit(user.id, a.id, &edit, t0())
        .await
        .unwrap();
    store
        .calendar_user_delete(user.id, b.id, t0())
        .await
        .unwrap();

    // The next sync brings the original a and b again and changes c.
    let sync2 = t0() + minutes(15);
    let a2 = store
        .calendar_upsert_from_sync(&entry("a", "Budget", 60), sync2)
        .await
        .unwrap();
    let b2 = store
        .calendar_upsert_from_sync(&entry("b", "Standup", 120), sync2)
        .await
        .unwrap();
    let c2 = store
        .calendar_upsert_from_sync(&entry("c", "Lunch talk v2", 200), sync2)
        .await
        .unwrap();
    assert_eq!((a2.id, b2.id, c2.id), (a.id, b.id, c.id), "same rows");
    assert_eq!(a2.subject, "Budget (moved)", "edit kept");
    assert_eq!(a2.starts_at, t0() + minutes(90));
    assert_eq!(a2.busy_status, BusyStatus::OutOfOffice);
    assert_eq!(a2.origin, Origin::Web);
    assert!(a2.user_edited);
    assert!(b2.user_deleted, "tombstone kept");
    assert_eq!(
        c2.subject, "Lunch talk v2",
        "untouched entries follow the feed"
    );
    assert_eq!(c2.starts_at, t0() + minutes(200));

    let visible = store
        .calendar_entries(user.id, t0(), t0() + Duration::days(1))
        .await
        .unwrap();
    let subjects: Vec<_> = visible.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["Budget (moved)", "Lunch talk v2"],
        "deleted b not resurrected"
    );
    let window = store.calendar_entries(user.id, t0() + minutes(150), t0() + minutes(200));
    assert!(
        window.await.unwrap().is_empty(),
        "[from, to) excludes both ends"
    );

    // A third sync no longer has a or c: c goes, the user's edited a stays; the tombstone
    // of b goes too once the feed stops sending b.
    let sync3 = t0() + minutes(30);
    store
        .calendar_upsert_from_sync(&entry("d", "New", 300), sync3)
        .await
        .unwrap();
    assert_eq!(
        store.calendar_prune_unseen(source.id, sync3).await.unwrap(),
        2
    );
    let left = store
        .calendar_entries(user.id, t0(), t0() + Duration::days(1))
        .await
        .unwrap();
    let subjects: Vec<_> = left.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["Budget (moved)", "New"]);
    assert!(matches!(
        store.calendar_entry(b.id).await,
        Err(StoreError::NotFound(_))
    ));

    store
        .calendar_source_synced(source.id, Some("\"e1\""), None, None, sync3)
        .await
        .unwrap();
    let sources = store.calendar_sources(Some(user.id)).await.unwrap();
    assert_eq!(sources[0].etag.as_deref(), Some("\"e1\""));
    assert_eq!(sources[0].last_sync_at, Some(sync3));
}

async fn registrations_expire(store: &Store) {
    let org = make_org(store, "207").await;
    let user = make_user(store, org.id, "Reg User", "4520700001").await;
    let device = store
        .device_create(
            user.id,
            DeviceKind::Desk,
            "2070001",
            "onestatus",
            "secret",
            t0(),
        )
        .await
        .unwrap();
    let dup = store.device_create(user.id, DeviceKind::Soft, "2070001", "onestatus", "x", t0());
    assert!(
        matches!(dup.await, Err(StoreError::Conflict { what }) if what.contains("sip_username"))
    );
    assert_eq!(
        store.devices(user.id).await.unwrap(),
        std::slice::from_ref(&device)
    );

    let binding = |contact: &str, expires_min: i64, q| Binding {
        user_id: user.id,
        device_id: Some(device.id),
        contact_uri: contact.to_owned(),
        expires_at: t0() + minutes(expires_min),
        call_id: "abc@host".into(),
        cseq: 1,
        q_millis: q,
        received_addr: "192.0.2.10:5060".into(),
        transport: "udp".into(),
        instance_id: Some("<urn:uuid:00000000-0000-1000-8000-000a95a0e128>".into()),
        reg_id: Some(1),
        path: Vec::new(),
        node_id: None,
    };
    store
        .registration_upsert(&binding("sip:a@192.0.2.10", 60, 500), t0())
        .await
        .unwrap();
    store
        .registration_upsert(&binding("sip:b@192.0.2.11", 10, 1000), t0())
        .await
        .unwrap();
    // A refresh of a: new expiry and CSeq, same row.
    let mut refresh = binding("sip:a@192.0.2.10", 120, 500);
    refresh.cseq = 2;
    let refreshed = store
        .registration_upsert(&refresh, t0() + minutes(1))
        .await
        .unwrap();
    assert_eq!(refreshed.binding, refresh);

    let active = |at| async move {
        let list = store.registrations_active(user.id, at).await.unwrap();
        list.into_iter()
            .map(|r| r.binding.contact_uri)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        active(t0()).await,
        ["sip:b@192.0.2.11", "sip:a@192.0.2.10"],
        "by q"
    );
    assert_eq!(
        active(t0() + minutes(10)).await,
        ["sip:a@192.0.2.10"],
        "expiry exclusive"
    );
    assert_eq!(
        store
            .registrations_purge_expired(t0() + minutes(10))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        active(t0()).await,
        ["sip:a@192.0.2.10"],
        "b is gone for good"
    );
    assert!(store
        .registration_remove(user.id, "sip:a@192.0.2.10")
        .await
        .unwrap());
    assert!(!store
        .registration_remove(user.id, "sip:a@192.0.2.10")
        .await
        .unwrap());
    assert!(active(t0()).await.is_empty());
}

/// The call path's one-query routing snapshot returns exactly what the seven single-table reads
/// return (values and order), on both backends: booleans (0/1 in SQLite's JSON, true/false in
/// PostgreSQL's), NULLs, non-ASCII text, tombstones, expired bindings and the look-ahead window.
async fn routing_snapshot_matches_single_reads(store: &Store) {
    let org = make_org(store, "208").await;
    let user = make_user(store, org.id, "Snap Shot", "4520800001").await;
    let other = make_user(store, org.id, "Other Person", "4520800002").await;
    let absence = |who: UserId, start: i64, end: Option<i64>, destination| AbsenceData {
        user_id: who,
        reason: Reason::Meeting,
        starts_at: t0() + minutes(start),
        ends_at: end.map(|e| t0() + minutes(e)),
        destination,
        free_text: Some("Møde i Århus".into()),
        receptionist_note: None,
        origin: Origin::Web,
        calendar_entry_id: None,
        created_by: Some(who),
    };
    for (who, start, end, destination) in [
        (user.id, -600, Some(-60), Destination::voicemail()), // ended: not read
        (user.id, 120, None, Destination::number("4520800002")), // until further notice
        (user.id, -30, Some(30), Destination::voicemail()),   // in force now
        (
            user.id,
            61 * 24 * 60,
            Some(62 * 24 * 60),
            Destination::voicemail(),
        ), // beyond
        (other.id, -30, Some(30), Destination::voicemail()),  // someone else's
    ] {
        store
            .absence_create(&absence(who, start, end, destination), t0())
            .await
            .unwrap();
    }
    let source = store
        .calendar_source_create(
            user.id,
            onestatus::store::CalendarSourceKind::Url,
            "https://example.invalid/snap.ics",
            None,
            t0(),
        )
        .await
        .unwrap();
    let entry = |uid: &str, subject: &str, start: i64, all_day| SyncedEntry {
        user_id: user.id,
        source_id: Some(source.id),
        external_uid: uid.to_owned(),
        recurrence_id: String::new(),
        subject: subject.to_owned(),
        starts_at: t0() + minutes(start),
        ends_at: t0() + minutes(start + 60),
        all_day,
        busy_status: BusyStatus::Busy,
    };
    let mut ids = Vec::new();
    for (uid, subject, start, all_day) in [
        ("late", "Budget [fwd Other Person]", 180, false),
        ("now", "Standup \"quoted\" [open]", -20, true),
        ("gone", "Deleted", 60, false),
        ("past", "Yesterday", -24 * 60, false),
    ] {
        let e = store
            .calendar_upsert_from_sync(&entry(uid, subject, start, all_day), t0())
            .await
            .unwrap();
        ids.push(e.id);
    }
    store
        .calendar_user_edit(
            user.id,
            ids[0],
            &EntryEdit {
                subject: "Budget, edited".into(),
                starts_at: t0() + minutes(180),
                ends_at: t0() + minutes(240),
                all_day: false,
                busy_status: BusyStatus::OutOfOffice,
                code_override: Some("[vm]".into()),
            },
            t0(),
        )
        .await
        .unwrap();
    store
        .calendar_user_delete(user.id, ids[2], t0())
        .await
        .unwrap();
    let desk = store
        .device_create(
            user.id,
            DeviceKind::Desk,
            "2080001",
            "onestatus",
            "pw",
            t0(),
        )
        .await
        .unwrap();
    store
        .device_create(
            user.id,
            DeviceKind::Soft,
            "2080002",
            "onestatus",
            "pw",
            t0(),
        )
        .await
        .unwrap();
    for (contact, expires_min, q, device) in [
        ("sip:old@192.0.2.1", -1, 1000, Some(desk.id)),
        ("sip:low@192.0.2.2", 60, 100, None),
        ("sip:high@192.0.2.3", 60, 900, Some(desk.id)),
    ] {
        store
            .registration_upsert(
                &Binding {
                    user_id: user.id,
                    device_id: device,
                    contact_uri: contact.to_owned(),
                    expires_at: t0() + minutes(expires_min),
                    call_id: format!("{contact}-call"),
                    cseq: 7,
                    q_millis: q,
                    received_addr: "192.0.2.10:5060".into(),
                    transport: "udp".into(),
                    instance_id: None,
                    reg_id: Some(2),
                    path: Vec::new(),
                    node_id: None,
                },
                t0() - minutes(5),
            )
            .await
            .unwrap();
    }
    for (days, start, end, valid_until) in [
        (Weekdays::WORKDAYS, 600, 660, None),
        (Weekdays::ALL, 540, 1440, Some(t0() + Duration::days(3))),
    ] {
        store
            .schedule_create(
                &ScheduleData {
                    user_id: user.id,
                    weekdays: days,
                    start: MinuteOfDay::new(start).unwrap(),
                    end: MinuteOfDay::new(end).unwrap(),
                    reason: Reason::Meeting,
                    destination: Destination::voicemail(),
                    free_text: None,
                    valid_from: None,
                    valid_until,
                },
                t0(),
            )
            .await
            .unwrap();
    }
    let settings = VoicemailSettings {
        secondary_lang: Some(Lang::Sv),
        allow_messages: false,
        use_own_greeting: true,
        ..VoicemailSettings::default()
    };
    store
        .voicemail_settings_update(user.id, &settings)
        .await
        .unwrap();

    let (from, to) = (t0(), t0() + Duration::days(60));
    let snap = store
        .routing_snapshot(user.id, org.id, from, to)
        .await
        .unwrap();
    assert_eq!(snap.org, store.org(org.id).await.unwrap());
    let absences = store.absences_overlapping(user.id, from, to).await.unwrap();
    assert_eq!(absences.len(), 2);
    assert_eq!(snap.absences, absences);
    let schedules = store.schedules(user.id).await.unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(snap.schedules, schedules);
    let calendar = store.calendar_entries(user.id, from, to).await.unwrap();
    assert_eq!(
        calendar
            .iter()
            .map(|e| e.external_uid.as_str())
            .collect::<Vec<_>>(),
        ["now", "late"]
    );
    assert_eq!(snap.calendar, calendar);
    let registrations = store.registrations_active(user.id, from).await.unwrap();
    assert_eq!(registrations.len(), 2);
    assert_eq!(snap.registrations, registrations);
    assert_eq!(snap.devices, store.devices(user.id).await.unwrap());
    assert_eq!(snap.voicemail, settings);
    assert_eq!(
        snap.voicemail,
        store.voicemail_settings(user.id).await.unwrap()
    );

    // Missing rows are NotFound, as the single reads say.
    let missing = store
        .routing_snapshot(user.id, OrgId(i64::MAX), from, to)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound("organisation"))));
}

/// The per-call reads a SQLite file store makes directly (`store::sqlite_reader`: caller's
/// device, callee, the caller's user, routing snapshot) answer what the same reads through
/// sqlx answer, see a write as soon as it commits, and say NotFound alike. PostgreSQL has no
/// direct reader, and neither does an in-memory SQLite (another connection would see another
/// database).
async fn direct_reads_match_sqlx(store: &Store, url: &str) {
    assert_eq!(
        store.has_direct_reads(),
        url.starts_with("sqlite:") && !url.contains(":memory:")
    );
    let sqlx = store.without_direct_reads();
    assert!(!sqlx.has_direct_reads());
    let user = store.user_by_one_number("4520800001").await.unwrap();
    let (from, to) = (t0(), t0() + Duration::days(60));
    let direct = store
        .routing_snapshot(user.id, user.org_id, from, to)
        .await
        .unwrap();
    let through = sqlx
        .routing_snapshot(user.id, user.org_id, from, to)
        .await
        .unwrap();
    assert_eq!(direct.org, through.org);
    assert_eq!(direct.absences, through.absences);
    assert_eq!(direct.schedules, through.schedules);
    assert_eq!(direct.calendar, through.calendar);
    assert_eq!(direct.registrations, through.registrations);
    assert_eq!(direct.devices, through.devices);
    assert_eq!(direct.voicemail, through.voicemail);
    assert_eq!(direct.calendar.len(), 2);

    for number in [&user.one_number, &user.local_number] {
        let found = store.user_by_number(number).await.unwrap();
        assert_eq!(found, sqlx.user_by_number(number).await.unwrap());
        assert_eq!(found, user);
    }
    assert_eq!(store.user(user.id).await.unwrap(), user);
    assert_eq!(sqlx.user(user.id).await.unwrap(), user);
    assert_eq!(
        store
            .user_by_local_number(&user.local_number)
            .await
            .unwrap(),
        user
    );
    assert!(matches!(
        store.user_by_number("4599999999").await,
        Err(StoreError::NotFound("user"))
    ));
    assert!(matches!(
        sqlx.user_by_number("4599999999").await,
        Err(StoreError::NotFound("user"))
    ));
    assert!(matches!(
        store.user(UserId(i64::MAX)).await,
        Err(StoreError::NotFound("user"))
    ));

    // A device created through sqlx is read directly at once (WAL: the last commit).
    assert!(matches!(
        store.device_by_sip_username("2080009").await,
        Err(StoreError::NotFound("device"))
    ));
    let device = store
        .device_create(
            user.id,
            DeviceKind::Mobile,
            "2080009",
            "onestatus",
            "pw",
            t0(),
        )
        .await
        .unwrap();
    let read = store.device_by_sip_username("2080009").await.unwrap();
    assert_eq!(read, device);
    assert_eq!(read, sqlx.device_by_sip_username("2080009").await.unwrap());
    // And an update of the user (a boolean, a NULL-able text) too.
    let mut profile = user.profile.clone();
    profile.allow_second_call = !profile.allow_second_call;
    profile.department = Some("Salg & Ærø".into());
    store.user_update_profile(user.id, &profile).await.unwrap();
    let changed = store.user_by_number(&user.one_number).await.unwrap();
    assert_eq!(changed.profile, profile);
    assert_eq!(changed, sqlx.user(user.id).await.unwrap());
    // Every read above was answered directly, none handed back to sqlx.
    assert_eq!(store.direct_read_fallbacks(), 0);
}

async fn pin_change_and_lockout(store: &Store) {
    let hans = store.user_by_local_number("1000001").await.unwrap();
    assert_eq!(
        validate_new_pin("0000", &hans.local_number),
        Err(PinError::Default)
    );
    assert_eq!(
        validate_new_pin("1000001", &hans.local_number),
        Err(PinError::LocalNumber)
    );
    assert_eq!(
        validate_new_pin("0001", &hans.local_number),
        Err(PinError::LocalNumber)
    );
    assert_eq!(
        validate_new_pin("12#4", &hans.local_number),
        Err(PinError::NotDigits)
    );
    assert_eq!(
        validate_new_pin("123", &hans.local_number),
        Err(PinError::Length(3))
    );
    assert_eq!(validate_new_pin("4711", &hans.local_number), Ok(()));

    for _ in 0..2 {
        let u = store
            .user_record_pin_failure(hans.id, 3, minutes(15), t0())
            .await
            .unwrap();
        assert_eq!(u.locked_until, None);
    }
    let locked = store
        .user_record_pin_failure(hans.id, 3, minutes(15), t0())
        .await
        .unwrap();
    assert_eq!(locked.failed_pin_attempts, 3);
    assert_eq!(locked.locked_until, Some(t0() + minutes(15)));

    store
        .user_set_pin_hash(hans.id, &hash_pin("4711"), false)
        .await
        .unwrap();
    let hans = store.user(hans.id).await.unwrap();
    assert!(verify_pin("4711", &hans.pin_hash));
    assert!(!verify_pin(demo::PIN, &hans.pin_hash));
    assert_eq!(
        (hans.failed_pin_attempts, hans.locked_until),
        (0, None),
        "reset clears lockout"
    );
}

async fn voicemail_is_durable(store: Store, url: &str) -> Store {
    let emma = store.user_by_local_number("1000004").await.unwrap();
    let hans = store.user_by_local_number("1000001").await.unwrap();
    // A WAV-shaped payload with every byte value, so BLOB/BYTEA round-trips are exact.
    let mut audio = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    audio.extend((0..=255u8).cycle().take(16_000));
    let message = |at_min, caller: &str| NewVoicemail {
        user_id: emma.id,
        caller_number: Some(caller.to_owned()),
        caller_name: None,
        received_at: t0() + minutes(at_min),
        duration_ms: 2_000,
        audio: audio.clone(),
    };
    let first = store
        .voicemail_insert(&message(0, "4512345678"))
        .await
        .unwrap();
    let second = store
        .voicemail_insert(&message(5, "4587654321"))
        .await
        .unwrap();
    store
        .voicemail_set_state(emma.id, first.id, MessageState::Saved)
        .await
        .unwrap();
    assert_eq!(store.voicemail_counts(emma.id).await.unwrap(), (1, 1));
    // Never another user's message.
    assert!(matches!(
        store.voicemail_audio(hans.id, first.id).await,
        Err(StoreError::NotFound(_))
    ));

    store.close().await;
    let store = Store::connect(url).await.expect("reopen");
    let list = store.voicemails(emma.id).await.unwrap();
    let shape: Vec<_> = list.iter().map(|m| (m.id, m.state)).collect();
    assert_eq!(
        shape,
        [
            (second.id, MessageState::New),
            (first.id, MessageState::Saved)
        ]
    );
    assert_eq!(list[1].caller_number.as_deref(), Some("4512345678"));
    assert_eq!(list[1].received_at, t0());
    assert_eq!(
        store.voicemail_audio(emma.id, first.id).await.unwrap(),
        audio
    );
    assert_eq!(
        store.voicemail_audio(emma.id, second.id).await.unwrap(),
        audio
    );

    store.voicemail_delete(emma.id, second.id).await.unwrap();
    assert_eq!(store.voicemail_counts(emma.id).await.unwrap(), (0, 1));
    assert!(store.voicemail_audio(emma.id, second.id).await.is_err());
    let empty = NewVoicemail {
        audio: Vec::new(),
        ..message(9, "1")
    };
    assert!(matches!(
        store.voicemail_insert(&empty).await,
        Err(StoreError::Invalid { .. })
    ));
    store
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("onestatus.db").display());
    suite(&url).await;
    // The file is really on disk, in WAL mode.
    assert!(dir.path().join("onestatus.db").exists());
}

/// An in-memory database exists once per connection: its store reads through sqlx only.
#[tokio::test]
async fn in_memory_sqlite_has_no_direct_reads() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert!(!store.has_direct_reads());
    store.close().await;
}

#[tokio::test]
async fn postgres_backend() {
    let admin_url = std::env::var("ONESTATUS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!(
        "onestatus_test_{}_{:08x}",
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

    // Run the suite in its own task so that a failing assertion still lets us drop the
    // database, then re-raise the failure.
    let url = format!("{admin_url}/{name}");
    let outcome = tokio::spawn(async move { suite(&url).await }).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Issue #19: an organisation's toll-fraud allow-list (migration 0005) is stored, read back by
/// every organisation read, and opens exactly its prefixes in the one policy module.
async fn org_toll_fraud_allow_list(store: &Store) {
    use onestatus::toll_fraud::{check_stored, DenyList, OrgPolicy, TollFraudError};
    let mut org = make_org(store, "905").await;
    assert!(org.toll_fraud_allow_list.is_empty(), "none by default");
    // The organisation allows external calls; the operator's deny-list still refuses +870.
    org.allow_external_forwarding = true;
    let deny = DenyList::default();
    assert!(matches!(
        check_stored("870771234567", &OrgPolicy::for_org(&org), &deny),
        Err(TollFraudError::Denied { .. })
    ));
    let stored = store
        .org_set_toll_fraud_allow_list(org.id, &["+870".to_owned(), "+4590".to_owned()])
        .await
        .unwrap();
    assert_eq!(stored.toll_fraud_allow_list, ["+870", "+4590"]);
    let mut read = store.org_by_code("905").await.unwrap();
    assert_eq!(read, stored);
    assert_eq!(store.org(org.id).await.unwrap(), stored);
    read.allow_external_forwarding = true;
    let policy = OrgPolicy::for_org(&read);
    assert_eq!(check_stored("870771234567", &policy, &deny), Ok(()));
    assert_eq!(check_stored("4590123456", &policy, &deny), Ok(()));
    // Only those: +881 stays denied.
    assert!(check_stored("881612345678", &policy, &deny).is_err());
    let cleared = store
        .org_set_toll_fraud_allow_list(org.id, &[])
        .await
        .unwrap();
    assert!(cleared.toll_fraud_allow_list.is_empty());
}

/// Written-message deliveries (migration 0006): queued rows come due, an attempt's result is
/// recorded (the last error kept after a later success), failed ones never come due, and a
/// sender sees only their own, newest first.
async fn message_deliveries_queue(store: &Store) {
    use onestatus::store::{DeliveryState, MessageChannel, NewDelivery};
    let hans = store.user_by_local_number("1000001").await.unwrap();
    let karen = store.user_by_local_number("1000002").await.unwrap();
    let new = |address: &str, failed: Option<&str>| NewDelivery {
        sender_user_id: hans.id,
        to_user_id: None,
        message_id: None,
        channel: MessageChannel::Sms,
        address: address.to_owned(),
        body: "Ring tilbage".to_owned(),
        failed: failed.map(str::to_owned),
    };
    let queued = store
        .delivery_create(&new("4520304050", None), t0())
        .await
        .unwrap();
    assert_eq!(queued.state, DeliveryState::Queued);
    assert_eq!(queued.next_attempt_at, Some(t0()));
    let failed = store
        .delivery_create(&new("", Some("no mobile number")), t0() + minutes(1))
        .await
        .unwrap();
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("no mobile number"));

    let due = store.deliveries_due(t0(), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [queued.id]);
    store
        .delivery_record(
            queued.id,
            DeliveryState::Queued,
            1,
            Some(t0() + minutes(5)),
            Some("gateway 503"),
            t0(),
        )
        .await
        .unwrap();
    assert!(store
        .deliveries_due(t0() + minutes(4), 10)
        .await
        .unwrap()
        .is_empty());
    let again = store.deliveries_due(t0() + minutes(5), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("gateway 503"));
    store
        .delivery_record(
            queued.id,
            DeliveryState::Sent,
            2,
            None,
            None,
            t0() + minutes(5),
        )
        .await
        .unwrap();
    let sent = store.delivery(hans.id, queued.id).await.unwrap();
    assert_eq!((sent.state, sent.attempts), (DeliveryState::Sent, 2));
    assert_eq!(
        sent.last_error.as_deref(),
        Some("gateway 503"),
        "kept for the record"
    );
    assert_eq!(sent.updated_at, t0() + minutes(5));
    assert!(store
        .deliveries_due(t0() + minutes(60), 10)
        .await
        .unwrap()
        .is_empty());

    let mine: Vec<_> = store
        .deliveries_by_sender(hans.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(mine, [failed.id, queued.id], "newest first");
    assert!(store
        .deliveries_by_sender(karen.id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.delivery(karen.id, queued.id).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Retention (`[retention] voicemail_days`): new and heard messages older than the limit are
/// deleted, saved ones and younger ones stay, and each changed mailbox is named once.
async fn old_voicemail_expires(store: &Store) {
    let org = make_org(store, "260").await;
    let sven = make_user(store, org.id, "Sven Expiry", "4526000001").await;
    let at = |days: i64| t0() - Duration::days(days);
    let insert = |received_at| NewVoicemail {
        user_id: sven.id,
        caller_number: Some("4511223344".into()),
        caller_name: None,
        received_at,
        duration_ms: 1_000,
        audio: vec![1; 44],
    };
    let old_new = store.voicemail_insert(&insert(at(40))).await.unwrap();
    let old_read = store.voicemail_insert(&insert(at(35))).await.unwrap();
    let old_saved = store.voicemail_insert(&insert(at(50))).await.unwrap();
    let young = store.voicemail_insert(&insert(at(2))).await.unwrap();
    store
        .voicemail_set_state(sven.id, old_read.id, MessageState::Read)
        .await
        .unwrap();
    store
        .voicemail_set_state(sven.id, old_saved.id, MessageState::Saved)
        .await
        .unwrap();
    assert_eq!(store.voicemail_counts(sven.id).await.unwrap(), (2, 2));

    let changed = store.voicemail_expire(at(30)).await.unwrap();
    assert_eq!(changed, [sven.id], "one mailbox, named once");
    let left: Vec<_> = store
        .voicemails(sven.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, [young.id, old_saved.id]);
    assert!(!left.contains(&old_new.id));
    assert_eq!(store.voicemail_counts(sven.id).await.unwrap(), (1, 1));
    assert!(
        store.voicemail_expire(at(30)).await.unwrap().is_empty(),
        "nothing twice"
    );
}
/// Issue #18: a user's spoken name is stored with what was spoken and in which language,
/// replaced by a new one, and gone with the user.
async fn generated_names_are_kept_per_user(store: &Store) {
    use onestatus::store::GeneratedName;
    let org = make_org(store, "918").await;
    let user = make_user(store, org.id, "Name Test", "4591800001").await;
    assert_eq!(store.generated_name(user.id).await.unwrap(), None);
    let first = GeneratedName {
        spoken: "Name Test".into(),
        lang: Lang::Da,
        audio: vec![1, 2, 3],
    };
    store
        .generated_name_set(user.id, &first, t0())
        .await
        .unwrap();
    assert_eq!(store.generated_name(user.id).await.unwrap(), Some(first));
    let renamed = GeneratedName {
        spoken: "Navn Prøve".into(),
        lang: Lang::Sv,
        audio: vec![4, 5],
    };
    store
        .generated_name_set(user.id, &renamed, t0())
        .await
        .unwrap();
    assert_eq!(store.generated_name(user.id).await.unwrap(), Some(renamed));
    let empty = GeneratedName {
        spoken: "x".into(),
        lang: Lang::En,
        audio: Vec::new(),
    };
    assert!(matches!(
        store.generated_name_set(user.id, &empty, t0()).await,
        Err(StoreError::Invalid { .. })
    ));
}

/// RFC 3327: a binding keeps its Path in order (read back alike through the routing snapshot),
/// and the node that accepted it; a refresh without Path clears it.
async fn registrations_keep_their_path_and_node(store: &Store) {
    let org = make_org(store, "312").await;
    let user = make_user(store, org.id, "Path User", "4531200001").await;
    let path = vec![
        "<sip:192.0.2.10:5060;lr;received=sip:198.51.100.7:40123%3Btransport%3Dtcp>".to_owned(),
        "<sip:192.0.2.20;lr>".to_owned(),
    ];
    let mut binding = Binding {
        user_id: user.id,
        device_id: None,
        contact_uri: "sip:p@198.51.100.7:5060;transport=tcp".into(),
        expires_at: t0() + minutes(60),
        call_id: "path@host".into(),
        cseq: 1,
        q_millis: 1000,
        received_addr: "192.0.2.10:5060".into(),
        transport: "udp".into(),
        instance_id: None,
        reg_id: None,
        path: path.clone(),
        node_id: Some("node-a".into()),
    };
    let stored = store.registration_upsert(&binding, t0()).await.unwrap();
    assert_eq!(stored.binding, binding);
    let active = store.registrations_active(user.id, t0()).await.unwrap();
    assert_eq!(active[0].binding.path, path);
    assert_eq!(active[0].binding.node_id.as_deref(), Some("node-a"));
    let snapshot = store
        .routing_snapshot(user.id, org.id, t0(), t0() + minutes(60))
        .await
        .unwrap();
    assert_eq!(snapshot.registrations, active);
    // A line break would split one value in two when read back: refused.
    let mut broken = binding.clone();
    broken.path = vec!["<sip:a;lr>\r\nVia: x".into()];
    assert!(store.registration_upsert(&broken, t0()).await.is_err());
    // The phone now registers directly, on node B.
    binding.path.clear();
    binding.node_id = Some("node-b".into());
    binding.cseq = 2;
    let refreshed = store
        .registration_upsert(&binding, t0() + minutes(1))
        .await
        .unwrap();
    assert!(refreshed.binding.path.is_empty());
    assert_eq!(refreshed.binding.node_id.as_deref(), Some("node-b"));
}
