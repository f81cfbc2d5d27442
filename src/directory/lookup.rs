//! Names for numbers: the one lookup every place that shows or says a caller uses (call
//! history and missed calls, the voicemail list, the voicemail e-mail and SMS).
//!
//! The order is the guide's and the (#23): a **colleague** of the viewer's
//! organisation (OneNumber, local number or mobile), then the viewer's own **personal
//! contacts**, then the organisation's **shared phonebook**, then the **external directory**.
//! Nearer sources win because they are more specific to the viewer: a supplier's switchboard
//! may be in the shared phonebook as the company, while the viewer's own contact names the
//! person they deal with there. The caller's From display name is not a source: the caller
//! writes it, and it is kept as the presented name beside ours.
//!
//! The external step never runs on a call's critical path: [`External::Wait`] is for the
//! notifications, which run after the message is stored; lists use [`External::Cached`],
//! which answers from the cache at once and starts a background fill; a list may then wait
//! a bounded moment for it ([`Names::settle`]) and ask again.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::task::JoinHandle;

use super::external::{Cached, ExternalDirectory};
use crate::number::{self, Plan};
use crate::store::{OrgId, Store, StoreError, User, UserId};

/// Where a name came from; shown beside it (the web client marks each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// A user of the viewer's organisation.
    Colleague,
    /// One of the viewer's own contacts.
    Personal,
    /// The organisation's shared phonebook.
    Shared,
    /// The configured external directory.
    External,
}

/// A number's name and its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerName {
    /// The name to show or say.
    pub name: String,
    /// Where it came from.
    pub source: NameSource,
}

/// How far the external step may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum External {
    /// Ask the directory when the cache does not know (bounded by its timeouts): for work
    /// that runs after the call, such as the new-message e-mail.
    Wait,
    /// Answer from the cache only, and start a background lookup for a number it does not
    /// know yet: for lists a person is waiting for.
    Cached,
}

/// Whose point of view a lookup takes: their organisation, their own contacts, their plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The user.
    pub user: UserId,
    /// Their organisation.
    pub org: OrgId,
    /// The organisation's numbering plan, to compare numbers as typed in contacts.
    pub plan: Plan,
}

impl Viewer {
    /// The viewer `user`, with the plan of their organisation.
    pub async fn of(store: &Store, user: &User) -> Result<Viewer, StoreError> {
        let org = store.org(user.org_id).await?;
        Ok(Viewer {
            user: user.id,
            org: user.org_id,
            plan: Plan::for_timezone(org.timezone),
        })
    }
}

/// The lookup for one viewer. Holds the viewer's personal contacts once loaded, so naming a
/// page of call history reads them once, not once per row.
pub struct Names<'a> {
    store: &'a Store,
    external: Option<&'a ExternalDirectory>,
    viewer: Viewer,
    /// The viewer's contacts by normalised number; loaded on first need.
    personal: Option<HashMap<String, String>>,
    /// Answers already given by this lookup: a page of history names the same few numbers
    /// many times (the receptionist, a colleague), and each costs two queries.
    answered: HashMap<String, Option<CallerName>>,
    /// External lookups this lookup started ([`External::Cached`]), which [`Names::settle`]
    /// may wait for.
    pending: Vec<(String, JoinHandle<()>)>,
}

impl<'a> Names<'a> {
    /// A lookup for `viewer`; `external` is the configured directory, if any.
    pub fn new(store: &'a Store, external: Option<&'a ExternalDirectory>, viewer: Viewer) -> Self {
        Names {
            store,
            external,
            viewer,
            personal: None,
            answered: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Waits at most `budget` for the external lookups [`External::Cached`] started, so a
    /// list can show names a fast directory gives at once; the ones still running go on and
    /// fill the cache for the next look. Forgets its answers for those numbers so asking
    /// again reads the cache. Returns whether any were started.
    pub async fn settle(&mut self, budget: Duration) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut handles = Vec::with_capacity(pending.len());
        for (number, handle) in pending {
            self.answered.remove(&number);
            handles.push(handle);
        }
        // Dropping a JoinHandle does not cancel the task: the late ones finish on their own.
        let _ = tokio::time::timeout(budget, async {
            for handle in handles {
                let _ = handle.await;
            }
        })
        .await;
        true
    }

    /// THE lookup: the name of `number` for the viewer, in the order colleague → personal
    /// contact → shared contact → external directory; `None` when no source knows it. `now`
    /// dates the external cache.
    pub async fn name_for(
        &mut self,
        number: &str,
        external: External,
        now: DateTime<Utc>,
    ) -> Result<Option<CallerName>, StoreError> {
        // Not a number (an anonymous caller, a SIP name): nothing can name it.
        let Ok(number) = number::normalise(number, &self.viewer.plan) else {
            return Ok(None);
        };
        if let Some(known) = self.answered.get(&number) {
            return Ok(known.clone());
        }
        let found = self.lookup(&number, external, now).await?;
        self.answered.insert(number, found.clone());
        Ok(found)
    }

    /// The four steps, in order, for a normalised number.
    async fn lookup(
        &mut self,
        number: &str,
        external: External,
        now: DateTime<Utc>,
    ) -> Result<Option<CallerName>, StoreError> {
        let named = |name: String, source| Some(CallerName { name, source });
        if let Some(user) = self
            .store
            .colleague_by_number(self.viewer.org, number)
            .await?
        {
            return Ok(named(user.profile.name, NameSource::Colleague));
        }
        if let Some(name) = self.personal().await?.get(number) {
            return Ok(named(name.clone(), NameSource::Personal));
        }
        if let Some(contact) = self
            .store
            .shared_contact_by_number(self.viewer.org, number)
            .await?
        {
            return Ok(named(contact.data.name, NameSource::Shared));
        }
        let Some(directory) = self.external else {
            return Ok(None);
        };
        let found = match external {
            External::Wait => directory.lookup(number, now).await,
            External::Cached => match directory.cached(number, now) {
                Cached::Hit(name) => Some(name),
                Cached::Miss => None,
                Cached::Unknown => {
                    if let Some(handle) = directory.prefetch(number, now) {
                        self.pending.push((number.to_owned(), handle));
                    }
                    None
                }
            },
        };
        Ok(found.and_then(|name| named(name, NameSource::External)))
    }

    /// The viewer's contacts by their numbers normalised with the organisation's plan (the
    /// personal phonebook stores numbers as typed).
    async fn personal(&mut self) -> Result<&HashMap<String, String>, StoreError> {
        if self.personal.is_none() {
            let mut map = HashMap::new();
            for c in self.store.contacts(self.viewer.user, "").await? {
                for typed in [&c.data.phone_number, &c.data.mobile_number]
                    .into_iter()
                    .flatten()
                {
                    if let Ok(n) = number::normalise(typed, &self.viewer.plan) {
                        // The first contact by name keeps a number two contacts share.
                        map.entry(n).or_insert_with(|| c.data.name.clone());
                    }
                }
            }
            self.personal = Some(map);
        }
        Ok(self.personal.get_or_insert_with(HashMap::new))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::DirectoryConfig;
    use crate::domain::{Lang, Role};
    use crate::store::{
        ContactData, ContactNumber, NewOrganisation, NewUser, NumberKind, Profile,
        SharedContactData,
    };

    /// The number every source knows in the first case; each next case removes the winner.
    const NUMBER: &str = "4522334455";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
    }

    struct World {
        store: Store,
        external: ExternalDirectory,
        viewer: Viewer,
        org: OrgId,
    }

    async fn org(store: &Store, code: &str) -> OrgId {
        store
            .org_create(
                &NewOrganisation {
                    customer_code: code.into(),
                    name: format!("Org {code}"),
                    timezone: chrono_tz::Europe::Copenhagen,
                    allow_external_forwarding: true,
                    receptionist_group_number: None,
                },
                now(),
            )
            .await
            .unwrap()
            .id
    }

    async fn user(store: &Store, org: OrgId, name: &str, one: &str) -> User {
        store
            .user_create(
                &NewUser {
                    org_id: org,
                    one_number: one.into(),
                    role: Role::User,
                    profile: Profile::new(name, Lang::Da),
                    pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                    pin_must_change: false,
                },
                now(),
            )
            .await
            .unwrap()
    }

    async fn shared(store: &Store, org: OrgId, name: &str, number: &str) {
        store
            .shared_contact_create(
                &SharedContactData {
                    org_id: org,
                    name: name.into(),
                    company: None,
                    email: None,
                    note: None,
                    numbers: vec![ContactNumber {
                        kind: NumberKind::Work,
                        number: number.into(),
                    }],
                },
                now(),
            )
            .await
            .unwrap();
    }

    /// A viewer in org 100, and the external directory's cache knowing [`NUMBER`] (filled as
    /// a fetch fills it; the HTTP side is tested against a stand-in server in tests/it).
    async fn world() -> World {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let org = org(&store, "100").await;
        let me = user(&store, org, "Viewer", "4570100001").await;
        let config = DirectoryConfig {
            url: "http://127.0.0.1:9/{number}".into(),
            ..DirectoryConfig::default()
        };
        let external = ExternalDirectory::new(&config).unwrap();
        external.remember(NUMBER, Some("Directory Name".into()), now());
        let viewer = Viewer::of(&store, &me).await.unwrap();
        World {
            store,
            external,
            viewer,
            org,
        }
    }

    async fn name(w: &World, number: &str) -> Option<CallerName> {
        Names::new(&w.store, Some(&w.external), w.viewer)
            .name_for(number, External::Cached, now())
            .await
            .unwrap()
    }

    async fn personal(w: &World, name: &str, typed: &str) {
        w.store
            .contact_create(
                &ContactData {
                    owner_user_id: w.viewer.user,
                    name: name.into(),
                    company: None,
                    email: None,
                    phone_number: None,
                    mobile_number: Some(typed.into()),
                },
                now(),
            )
            .await
            .unwrap();
    }

    fn is(name: &str, source: NameSource) -> Option<CallerName> {
        Some(CallerName {
            name: name.into(),
            source,
        })
    }

    #[tokio::test]
    async fn a_colleague_comes_first() {
        let w = world().await;
        user(&w.store, w.org, "Karen Colleague", NUMBER).await;
        personal(&w, "Karen Personal", "+45 22 33 44 55").await;
        shared(&w.store, w.org, "Karen Shared", NUMBER).await;
        assert_eq!(
            name(&w, NUMBER).await,
            is("Karen Colleague", NameSource::Colleague)
        );
        // As the national number a person types, too.
        assert_eq!(
            name(&w, "22 33 44 55").await,
            is("Karen Colleague", NameSource::Colleague)
        );
    }

    #[tokio::test]
    async fn a_colleagues_mobile_and_local_number_name_them() {
        let w = world().await;
        let mut karen = user(&w.store, w.org, "Karen", "4570100002").await;
        karen.profile.mobile_number = Some(NUMBER.into());
        w.store
            .user_update_profile(karen.id, &karen.profile)
            .await
            .unwrap();
        assert_eq!(name(&w, NUMBER).await, is("Karen", NameSource::Colleague));
        assert_eq!(
            name(&w, &karen.local_number).await,
            is("Karen", NameSource::Colleague)
        );
    }

    #[tokio::test]
    async fn a_personal_contact_comes_before_the_shared_phonebook() {
        let w = world().await;
        // Typed with + and spaces in the personal phonebook; compared normalised.
        personal(&w, "Jens (my contact)", "+45 22 33 44 55").await;
        shared(&w.store, w.org, "VVS ApS", NUMBER).await;
        assert_eq!(
            name(&w, NUMBER).await,
            is("Jens (my contact)", NameSource::Personal)
        );
    }

    #[tokio::test]
    async fn the_shared_phonebook_comes_before_the_external_directory() {
        let w = world().await;
        shared(&w.store, w.org, "VVS ApS", NUMBER).await;
        assert_eq!(name(&w, NUMBER).await, is("VVS ApS", NameSource::Shared));
    }

    #[tokio::test]
    async fn the_external_directory_comes_last() {
        let w = world().await;
        assert_eq!(
            name(&w, NUMBER).await,
            is("Directory Name", NameSource::External)
        );
        // Without a directory, nothing names it.
        let none = Names::new(&w.store, None, w.viewer)
            .name_for(NUMBER, External::Cached, now())
            .await
            .unwrap();
        assert_eq!(none, None);
    }

    #[tokio::test]
    async fn another_organisation_and_another_user_name_nothing() {
        let w = world().await;
        let other = org(&w.store, "200").await;
        user(&w.store, other, "Foreign Colleague", NUMBER).await;
        shared(&w.store, other, "Foreign Shared", NUMBER).await;
        let stranger = user(&w.store, w.org, "Stranger", "4570100009").await;
        w.store
            .contact_create(
                &ContactData {
                    owner_user_id: stranger.id,
                    name: "Someone else's contact".into(),
                    company: None,
                    email: None,
                    phone_number: Some(NUMBER.into()),
                    mobile_number: None,
                },
                now(),
            )
            .await
            .unwrap();
        // Only the external directory (the cache) knows it from the viewer's side.
        assert_eq!(
            name(&w, NUMBER).await,
            is("Directory Name", NameSource::External)
        );
        // And a number nobody knows, or no number at all, has no name.
        assert_eq!(name(&w, "4599999999").await, None);
        assert_eq!(name(&w, "anonymous").await, None);
    }
}
