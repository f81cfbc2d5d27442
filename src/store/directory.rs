//! The organisation's shared phonebook (issue #23): customers and suppliers every user
//! searches and that name callers, managed by receptionists; and the per-user voicemail
//! delivery options that sit beside it in migration 0004 (where a message plays, and the
//! e-mail link to the recording).
//!
//! Numbers are stored normalised (`crate::number::normalise` with the organisation's plan) by
//! whoever writes them (API, CLI, import), so naming a caller is one indexed equality on
//! `shared_contact_numbers (org_id, number)`; this module checks only that they are non-empty.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::users::{found, UserRow, USER_COLUMNS};
use super::{contains_pattern, fold, ms, ts, OrgId, Store, StoreError, UserId};
use crate::domain::UnknownVariant;

/// Inserts the `shared_contacts` row of `$c` on `$executor`; evaluates to its id. A macro,
/// not a function, because the executor is a SQLite or a PostgreSQL transaction depending on
/// the `with_pool!` arm it is expanded in.
macro_rules! insert_contact {
    ($executor:expr, $c:expr, $now:expr) => {{
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO shared_contacts (org_id, name, search_name, company, email, note, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind($c.org_id.0)
        .bind(&$c.name)
        .bind(search_text($c))
        .bind(&$c.company)
        .bind(&$c.email)
        .bind(&$c.note)
        .bind(ms($now))
        .fetch_one($executor)
        .await?;
        id
    }};
}

/// Inserts the numbers of `$c` for contact `$id` on `$executor` (see [`insert_contact`]).
macro_rules! insert_numbers {
    ($executor:expr, $id:expr, $c:expr) => {
        for (position, n) in $c.numbers.iter().enumerate() {
            sqlx::query(
                "INSERT INTO shared_contact_numbers (contact_id, org_id, position, kind, number) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind($id)
            .bind($c.org_id.0)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(n.kind.as_str())
            .bind(&n.number)
            .execute($executor)
            .await?;
        }
    };
}

/// A shared contact's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedContactId(pub i64);

impl fmt::Display for SharedContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a number of a shared contact is (vCard `TEL;TYPE=`, the CSV column it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    /// Office / main number.
    Work,
    /// Mobile.
    Mobile,
    /// Private landline.
    Home,
    /// Anything else (fax excluded by the importers: a fax never calls).
    Other,
}

impl NumberKind {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::Work => "work",
            NumberKind::Mobile => "mobile",
            NumberKind::Home => "home",
            NumberKind::Other => "other",
        }
    }
}

impl FromStr for NumberKind {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "work" => Ok(NumberKind::Work),
            "mobile" => Ok(NumberKind::Mobile),
            "home" => Ok(NumberKind::Home),
            "other" => Ok(NumberKind::Other),
            _ => Err(UnknownVariant {
                kind: "number kind",
                value: s.to_owned(),
            }),
        }
    }
}

/// One number of a shared contact, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactNumber {
    /// Work, mobile, home or other.
    pub kind: NumberKind,
    /// E.164 digits without `+` (or a local/service number).
    pub number: String,
}

/// The content of a shared contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedContactData {
    /// The organisation whose phonebook it is in.
    pub org_id: OrgId,
    /// Name as shown and spoken of ("Jens Jensen").
    pub name: String,
    /// Company.
    pub company: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// A note for colleagues.
    pub note: Option<String>,
    /// Numbers, in the order given.
    pub numbers: Vec<ContactNumber>,
}

/// A shared contact as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedContact {
    /// Row id.
    pub id: SharedContactId,
    /// Everything else.
    #[serde(flatten)]
    pub data: SharedContactData,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What an import does with the contacts already in the phonebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Keep them; a contact equal to one already there (same name, same numbers) is skipped.
    Add,
    /// Remove them all first: the file is the whole phonebook (a CRM export, re-imported).
    Replace,
}

/// What [`Store::shared_contacts_import`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// Contacts added.
    pub added: u32,
    /// Contacts skipped because an identical one was already there.
    pub duplicates: u32,
    /// Contacts removed first ([`ImportMode::Replace`]).
    pub removed: u32,
}

/// Where a user's web client plays a voice message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailPlayer {
    /// The web client's own player.
    #[default]
    Web,
    /// The system's player: the client opens the audio route (a download) instead.
    External,
}

impl VoicemailPlayer {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            VoicemailPlayer::Web => "web",
            VoicemailPlayer::External => "external",
        }
    }
}

/// The guide's voicemail delivery options that the `voicemail_settings` row lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VoicemailDelivery {
    /// Where the web client plays a message.
    pub player: VoicemailPlayer,
    /// Whether the new-message e-mail carries the (authenticated) link to the recording,
    /// independently of attaching it (`VoicemailSettings::attach_audio`).
    pub email_link: bool,
}

impl Default for VoicemailDelivery {
    /// The web player, and the link in the mail: what the product did before the option.
    fn default() -> Self {
        VoicemailDelivery {
            player: VoicemailPlayer::Web,
            email_link: true,
        }
    }
}

/// A `shared_contacts` row joined with nothing; numbers are read separately.
#[derive(sqlx::FromRow)]
struct ContactRow {
    id: i64,
    org_id: i64,
    name: String,
    company: Option<String>,
    email: Option<String>,
    note: Option<String>,
    updated_at: i64,
}

/// A `shared_contact_numbers` row.
#[derive(sqlx::FromRow)]
struct NumberRow {
    contact_id: i64,
    kind: String,
    number: String,
}

const COLUMNS: &str = "id, org_id, name, company, email, note, updated_at";

/// The searched text of a contact: its name and company, folded, so "vvs" finds the plumber
/// by company and the list still sorts by name first.
fn search_text(c: &SharedContactData) -> String {
    match &c.company {
        Some(company) if !company.trim().is_empty() => {
            format!("{}\u{1f}{}", fold(&c.name), fold(company))
        }
        _ => fold(&c.name),
    }
}

/// Refuses what no writer should hand the store.
fn check(c: &SharedContactData) -> Result<(), StoreError> {
    if c.name.trim().is_empty() {
        return Err(StoreError::invalid("shared contact name", "empty"));
    }
    if c.numbers.iter().any(|n| n.number.trim().is_empty()) {
        return Err(StoreError::invalid("shared contact number", "empty"));
    }
    Ok(())
}

impl Store {
    /// Adds a contact to its organisation's shared phonebook.
    pub async fn shared_contact_create(
        &self,
        c: &SharedContactData,
        now: DateTime<Utc>,
    ) -> Result<SharedContact, StoreError> {
        check(c)?;
        let id = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let id = insert_contact!(&mut *tx, c, now);
            insert_numbers!(&mut *tx, id, c);
            tx.commit().await?;
            Ok::<_, StoreError>(id)
        }
        .await)?;
        self.shared_contact(c.org_id, SharedContactId(id)).await
    }

    /// Replaces contact `id` of `c.org_id` (another organisation's id is NotFound).
    pub async fn shared_contact_update(
        &self,
        id: SharedContactId,
        c: &SharedContactData,
        now: DateTime<Utc>,
    ) -> Result<SharedContact, StoreError> {
        check(c)?;
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE shared_contacts SET name = $3, search_name = $4, company = $5, \
                 email = $6, note = $7, updated_at = $8 WHERE id = $1 AND org_id = $2",
            )
            .bind(id.0)
            .bind(c.org_id.0)
            .bind(&c.name)
            .bind(search_text(c))
            .bind(&c.company)
            .bind(&c.email)
            .bind(&c.note)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            found(n, "shared contact")?;
            sqlx::query("DELETE FROM shared_contact_numbers WHERE contact_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            insert_numbers!(&mut *tx, id.0, c);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await)?;
        self.shared_contact(c.org_id, id).await
    }

    /// Removes contact `id` of `org`.
    pub async fn shared_contact_delete(
        &self,
        org: OrgId,
        id: SharedContactId,
    ) -> Result<(), StoreError> {
        self.delete_owned("shared_contacts", "org_id", id.0, org.0, "shared contact")
            .await
    }

    /// Contact `id` of `org`.
    pub async fn shared_contact(
        &self,
        org: OrgId,
        id: SharedContactId,
    ) -> Result<SharedContact, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM shared_contacts WHERE id = $1 AND org_id = $2");
        let row: Option<ContactRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id.0)
            .bind(org.0)
            .fetch_optional(pool)
            .await)?;
        let row = row.ok_or(StoreError::NotFound("shared contact"))?;
        self.with_numbers(vec![row])
            .await?
            .pop()
            .ok_or(StoreError::NotFound("shared contact"))
    }

    /// `org`'s contacts whose name, company or a number contains `query` (all if empty), by
    /// name, at most `limit`.
    pub async fn shared_contacts(
        &self,
        org: OrgId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<SharedContact>, StoreError> {
        let pattern = contains_pattern(query.trim());
        let sql = format!(
            "SELECT {COLUMNS} FROM shared_contacts c WHERE org_id = $1 AND (search_name LIKE $2 \
             ESCAPE '\\' OR EXISTS (SELECT 1 FROM shared_contact_numbers n WHERE \
             n.contact_id = c.id AND n.number LIKE $2 ESCAPE '\\')) \
             ORDER BY search_name, id LIMIT $3"
        );
        let rows: Vec<ContactRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(org.0)
            .bind(&pattern)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        self.with_numbers(rows).await
    }

    /// The first (oldest) contact of `org` with exactly this normalised `number`: the shared
    /// phonebook's step of naming a caller.
    pub async fn shared_contact_by_number(
        &self,
        org: OrgId,
        number: &str,
    ) -> Result<Option<SharedContact>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM shared_contacts WHERE id = (SELECT MIN(contact_id) FROM \
             shared_contact_numbers WHERE org_id = $1 AND number = $2)"
        );
        let rows: Vec<ContactRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(org.0)
            .bind(number)
            .fetch_all(pool)
            .await)?;
        Ok(self.with_numbers(rows).await?.pop())
    }

    /// Writes an import's contacts in one transaction (all or none): a file half imported
    /// would leave the receptionist guessing which half.
    pub async fn shared_contacts_import(
        &self,
        org: OrgId,
        contacts: &[SharedContactData],
        mode: ImportMode,
        now: DateTime<Utc>,
    ) -> Result<ImportCounts, StoreError> {
        for c in contacts {
            check(c)?;
            if c.org_id != org {
                return Err(StoreError::invalid(
                    "shared contact",
                    "another organisation",
                ));
            }
        }
        // The keys of what is there already, to skip identical contacts in `Add` mode.
        let mut existing = std::collections::HashSet::new();
        if mode == ImportMode::Add {
            for c in self.shared_contacts(org, "", u32::MAX).await? {
                existing.insert(identity(&c.data));
            }
        }
        with_pool!(self, |pool| async {
            let mut counts = ImportCounts::default();
            let mut tx = pool.begin().await?;
            if mode == ImportMode::Replace {
                let n = sqlx::query("DELETE FROM shared_contacts WHERE org_id = $1")
                    .bind(org.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                counts.removed = u32::try_from(n).unwrap_or(u32::MAX);
            }
            for c in contacts {
                if !existing.insert(identity(c)) {
                    counts.duplicates += 1;
                    continue;
                }
                let id = insert_contact!(&mut *tx, c, now);
                insert_numbers!(&mut *tx, id, c);
                counts.added += 1;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(counts)
        }
        .await)
    }

    /// Rows with their numbers, in the rows' order.
    async fn with_numbers(&self, rows: Vec<ContactRow>) -> Result<Vec<SharedContact>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // One query for all of them; ids are integers from the rows, never input.
        let ids = rows
            .iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT contact_id, kind, number FROM shared_contact_numbers \
             WHERE contact_id IN ({ids}) ORDER BY contact_id, position"
        );
        let numbers: Vec<NumberRow> =
            with_pool!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        let mut by_contact: std::collections::HashMap<i64, Vec<ContactNumber>> =
            std::collections::HashMap::new();
        for n in numbers {
            by_contact
                .entry(n.contact_id)
                .or_default()
                .push(ContactNumber {
                    kind: super::parse(&n.kind)?,
                    number: n.number,
                });
        }
        rows.into_iter()
            .map(|r| {
                Ok(SharedContact {
                    id: SharedContactId(r.id),
                    updated_at: ts(r.updated_at)?,
                    data: SharedContactData {
                        org_id: OrgId(r.org_id),
                        name: r.name,
                        company: r.company,
                        email: r.email,
                        note: r.note,
                        numbers: by_contact.remove(&r.id).unwrap_or_default(),
                    },
                })
            })
            .collect()
    }

    /// A user's voicemail delivery options (the defaults when never set).
    pub async fn voicemail_delivery(&self, user: UserId) -> Result<VoicemailDelivery, StoreError> {
        let row: Option<(String, bool)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT player, email_link FROM voicemail_delivery WHERE user_id = $1"
        )
        .bind(user.0)
        .fetch_optional(pool)
        .await)?;
        let Some((player, email_link)) = row else {
            return Ok(VoicemailDelivery::default());
        };
        let player = match player.as_str() {
            "web" => VoicemailPlayer::Web,
            "external" => VoicemailPlayer::External,
            other => return Err(StoreError::invalid("voicemail player", other)),
        };
        Ok(VoicemailDelivery { player, email_link })
    }

    /// Replaces a user's voicemail delivery options.
    pub async fn voicemail_delivery_update(
        &self,
        user: UserId,
        d: &VoicemailDelivery,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query(
            "INSERT INTO voicemail_delivery (user_id, player, email_link) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET player = excluded.player, \
             email_link = excluded.email_link"
        )
        .bind(user.0)
        .bind(d.player.as_str())
        .bind(d.email_link)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

/// What makes two contacts the same for an import: the folded name and the set of numbers.
fn identity(c: &SharedContactData) -> (String, Vec<String>) {
    let mut numbers: Vec<String> = c.numbers.iter().map(|n| n.number.clone()).collect();
    numbers.sort();
    numbers.dedup();
    (fold(c.name.trim()), numbers)
}

impl Store {
    /// The user of `org` whose OneNumber, local number or mobile is `number` (the oldest when
    /// several share a mobile): the colleague step of naming a caller.
    pub async fn colleague_by_number(
        &self,
        org: OrgId,
        number: &str,
    ) -> Result<Option<super::User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE users.org_id = $1 AND \
             (users.one_number = $2 OR users.local_number = $2 OR users.mobile_number = $2) \
             ORDER BY users.id LIMIT 1"
        );
        let row: Option<UserRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(org.0)
            .bind(number)
            .fetch_optional(pool)
            .await)?;
        row.map(TryInto::try_into).transpose()
    }
}
