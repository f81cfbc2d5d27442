//! The group tables of migration 0003 (ring strategy, ring time, fallback, mailbox owner, the
//! members' order), run identically against SQLite and PostgreSQL (127.0.0.1:5432, or
//! `ONESTATUS_TEST_PG`), each in a fresh database dropped afterwards.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Connection;

use onestatus::domain::model::GroupKind;
use onestatus::domain::{Lang, Role};
use onestatus::store::{
    GroupFallback, GroupRinging, GroupStrategy, NewOrganisation, NewUser, OrgId, Profile, Store,
    StoreError, User,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 24, 10, 0, 0).unwrap()
}

async fn user(store: &Store, org: OrgId, name: &str, one_number: &str) -> User {
    store
        .user_create(
            &NewUser {
                org_id: org,
                one_number: one_number.to_owned(),
                role: Role::User,
                profile: Profile::new(name, Lang::En),
                pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                    .to_owned(),
                pin_must_change: true,
            },
            t0(),
        )
        .await
        .unwrap()
}

async fn suite(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let org = store
        .org_create(
            &NewOrganisation {
                customer_code: "301".into(),
                name: "Org 301".into(),
                timezone: chrono_tz::Europe::Copenhagen,
                allow_external_forwarding: false,
                receptionist_group_number: None,
            },
            t0(),
        )
        .await
        .unwrap();
    let ann = user(&store, org.id, "Ann", "4530100001").await;
    let bo = user(&store, org.id, "Bo", "4530100002").await;
    let cy = user(&store, org.id, "Cy", "4530100003").await;
    let group = store
        .group_create(org.id, "Support", "4530100009", GroupKind::Hunt, t0())
        .await
        .unwrap();
    assert_eq!(store.group(group.id).await.unwrap(), group);

    // A group made before migration 0003's settings are touched rings as the schema says.
    assert_eq!(
        store.group_ringing(group.id).await.unwrap(),
        GroupRinging::default()
    );
    let settings = GroupRinging {
        strategy: GroupStrategy::InOrder,
        ring_timeout: Duration::from_secs(15),
        fallback: GroupFallback::Number {
            number: "4530100003".into(),
        },
        voicemail_user_id: Some(bo.id),
    };
    store.group_ringing_set(group.id, &settings).await.unwrap();
    store.close().await;
    let store = Store::connect(url).await.expect("reopen");
    assert_eq!(store.group_ringing(group.id).await.unwrap(), settings);
    // Out-of-range ring times are brought into the schema's 5–180 s.
    let long = GroupRinging {
        ring_timeout: Duration::from_secs(600),
        fallback: GroupFallback::Voicemail,
        ..settings.clone()
    };
    store.group_ringing_set(group.id, &long).await.unwrap();
    let stored = store.group_ringing(group.id).await.unwrap();
    assert_eq!(stored.ring_timeout, Duration::from_secs(180));
    assert_eq!(stored.fallback, GroupFallback::Voicemail);

    // Members in the order given; a new list replaces the old one.
    store
        .group_members_set(group.id, &[cy.id, ann.id, bo.id])
        .await
        .unwrap();
    let order: Vec<_> = store
        .group_member_list(group.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.user.id, m.position))
        .collect();
    assert_eq!(order, [(cy.id, 0), (ann.id, 1), (bo.id, 2)]);
    store
        .group_members_set(group.id, &[bo.id, ann.id])
        .await
        .unwrap();
    let order: Vec<_> = store
        .group_member_list(group.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user.id)
        .collect();
    assert_eq!(order, [bo.id, ann.id]);
    // One member twice is refused, and leaves the list as it was (one transaction).
    assert!(store
        .group_members_set(group.id, &[cy.id, cy.id])
        .await
        .is_err());
    assert_eq!(store.group_member_list(group.id).await.unwrap().len(), 2);

    // The CHECK constraints hold against a write that bypasses the store's types.
    let bad = sqlx_update(url, "UPDATE groups SET ring_strategy = 'random'").await;
    assert!(bad.is_err(), "an unknown strategy was stored");
    let bad = sqlx_update(url, "UPDATE groups SET fallback = 'elsewhere'").await;
    assert!(bad.is_err(), "an unknown fallback was stored");

    // Deleting the group takes its members' rows and settings with it.
    store.group_delete(group.id).await.unwrap();
    assert!(matches!(
        store.group_ringing(group.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.group_member_list(group.id).await.unwrap().is_empty());
    store.close().await;
}

/// Runs one statement on a connection of the backend's own driver.
async fn sqlx_update(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    } else {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    }
}

#[tokio::test]
async fn sqlite_group_tables() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("onestatus.db").display());
    suite(&url).await;
}

#[tokio::test]
async fn postgres_group_tables() {
    let admin_url = std::env::var("ONESTATUS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!(
        "onestatus_groups_{}_{:08x}",
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
    let outcome = tokio::spawn(async move { suite(&url).await }).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
