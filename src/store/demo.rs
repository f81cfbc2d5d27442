//! Demo data, so that a fresh installation can be called and logged into at once.
//!
//! [`seed`] creates the following, and only when the database has no organisation at all
//! (so it is safe to run at every start):
//!
//! | what | value |
//! |---|---|
//! | organisation | customer code `100`, "Demo A/S", timezone Europe/Copenhagen |
//! | receptionist group | number `4570100000` (member: Karen Berg; all at once for 20 s, then Karen's mailbox) |
//! | Hans Hansen | OneNumber `4570100001`, local number `1000001`, user, Danish |
//! | Karen Berg | OneNumber `4570100002`, local number `1000002`, receptionist, initials KB, Danish |
//! | Sven Svensson | OneNumber `4570100003`, local number `1000003`, user, Swedish |
//! | Emma Evans | OneNumber `4570100004`, local number `1000004`, user, English |
//!
//! - Web/voicemail PIN for everyone: `2580` (no change required).
//! - Each user has one desk SIP device: username = local number, password = `demo` + local
//!   number (e.g. `1000001` / `demo1000001`), realm `onestatus` (MD5 and SHA-256 digest).
//! - Every user gets the five default quick forwards and default voicemail settings.
//! - Working hours 08:00–16:00, Monday–Friday.

use chrono::{DateTime, Utc};

use super::{DeviceKind, GroupKind, NewOrganisation, NewUser, Profile, Store, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::domain::{Lang, Role};

/// Digest realm of the demo devices.
pub const REALM: &str = "onestatus";
/// The demo PIN of every demo user.
pub const PIN: &str = "2580";
/// Customer code of the demo organisation.
pub const CUSTOMER_CODE: &str = "100";
/// Number of the demo receptionist group.
pub const RECEPTIONIST_GROUP: &str = "4570100000";

/// The demo users: name, OneNumber, role, initials, language.
const USERS: [(&str, &str, Role, Option<&str>, Lang); 4] = [
    ("Hans Hansen", "4570100001", Role::User, None, Lang::Da),
    (
        "Karen Berg",
        "4570100002",
        Role::Receptionist,
        Some("KB"),
        Lang::Da,
    ),
    ("Sven Svensson", "4570100003", Role::User, None, Lang::Sv),
    ("Emma Evans", "4570100004", Role::User, None, Lang::En),
];

/// Seeds the demo data (see the module doc) if there is no organisation yet, stamping rows
/// with the system clock. Returns `Ok` without change otherwise.
pub async fn seed(store: &Store) -> Result<(), StoreError> {
    seed_at(store, SystemClock.now()).await
}

/// [`seed`] with the creation time given (for tests and reproducible setups).
pub async fn seed_at(store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
    if !store.org_list().await?.is_empty() {
        return Ok(());
    }
    let org = store
        .org_create(
            &NewOrganisation {
                customer_code: CUSTOMER_CODE.to_owned(),
                name: "Demo A/S".to_owned(),
                timezone: chrono_tz::Europe::Copenhagen,
                allow_external_forwarding: true,
                receptionist_group_number: Some(RECEPTIONIST_GROUP.to_owned()),
            },
            now,
        )
        .await?;
    let group = store
        .group_create(
            org.id,
            "Reception",
            RECEPTIONIST_GROUP,
            GroupKind::Receptionist,
            now,
        )
        .await?;
    let mut receptionists = Vec::new();
    for (name, one_number, role, initials, lang) in USERS {
        let mut profile = Profile::new(name, lang);
        profile.initials = initials.map(str::to_owned);
        let user = store
            .user_create(
                &NewUser {
                    org_id: org.id,
                    one_number: one_number.to_owned(),
                    role,
                    profile,
                    pin_hash: crate::pin::hash_pin(PIN),
                    pin_must_change: false,
                },
                now,
            )
            .await?;
        let password = format!("demo{}", user.local_number);
        store
            .device_create(
                user.id,
                DeviceKind::Desk,
                &user.local_number,
                REALM,
                &password,
                now,
            )
            .await?;
        if role == Role::Receptionist {
            store.group_member_add(group.id, user.id, 0).await?;
            receptionists.push(user.id);
        }
    }
    // The receptionists at once, then the (first) receptionist's mailbox.
    store
        .group_ringing_set(
            group.id,
            &super::GroupRinging {
                voicemail_user_id: receptionists.first().copied(),
                ..super::GroupRinging::default()
            },
        )
        .await?;
    Ok(())
}
