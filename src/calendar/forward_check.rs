//! Calendar codes' forward numbers under the toll-fraud policy at save and import time
//! (issue #19): a `[fwd 0088213000000]` / `[viderestil +882…]` in a subject is a number the
//! server will dial out to while the entry runs, exactly like a stored forward.
//!
//! The planner checks it again when a call forwards (`runtime::calls::policy`), so a refused
//! number never rings; this module makes the refusal visible when the number enters:
//!
//! - `PUT /api/v1/me/calendar/{id}` (an edit in the web client) is refused, 403 naming
//!   `subject` or `code_override`, like every other stored number;
//! - an imported feed (`PUT /api/v1/me/calendar`, `onestatus calendar import`) cannot be
//!   refused for one entry's text (an Exchange subject is not ours to reject, and the rest of
//!   the calendar must still route), so the import answers which entries forward where the
//!   policy refuses — those calls go to voicemail instead.
//!
//! A number of the same organisation (a user's OneNumber or local number, a group) never
//! leaves through the trunk and passes, as in `api::toll_fraud`.

use serde::Serialize;

use super::codes::{CalendarCode, ForwardTarget};
use crate::domain::model::{CalendarEntry, Organisation};
use crate::store::{Store, StoreError};
use crate::toll_fraud::{self, DenyList, OrgPolicy, TollFraudError};

/// An entry whose forward number the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedForward {
    /// The entry's subject.
    pub subject: String,
    /// The number as written in the code.
    pub number: String,
    /// Why, in words (`calls to international network numbers (+882…) are not allowed`).
    pub reason: String,
}

/// The forward number of a code, if it is a number (a colleague's name is internal).
pub fn forward_number(code: &CalendarCode) -> Option<&str> {
    match code {
        CalendarCode::Forward(ForwardTarget::Number(n)) => Some(n),
        _ => None,
    }
}

/// Checks one forward number for `org`: `Ok` when it is internal or the policy allows it.
pub async fn check_number(
    store: &Store,
    org: &Organisation,
    deny: &DenyList,
    number: &str,
) -> Result<Result<(), TollFraudError>, StoreError> {
    let plan = crate::number::Plan::for_timezone(org.timezone);
    let Ok(stored) = crate::number::normalise(number, &plan) else {
        return Ok(Err(TollFraudError::NotANumber));
    };
    if is_internal(store, org, &stored).await? {
        return Ok(Ok(()));
    }
    Ok(toll_fraud::check_stored(
        &stored,
        &OrgPolicy::for_org(org),
        deny,
    ))
}

/// The entries among `entries` (not deleted) whose code forwards to a number the policy
/// refuses for `org`.
pub async fn refused_forwards(
    store: &Store,
    org: &Organisation,
    deny: &DenyList,
    entries: &[CalendarEntry],
) -> Result<Vec<RefusedForward>, StoreError> {
    let mut out = Vec::new();
    for entry in entries.iter().filter(|e| !e.user_deleted) {
        let Some(code) = super::entries::code_of(entry) else {
            continue;
        };
        let Some(number) = forward_number(&code) else {
            continue;
        };
        if out
            .iter()
            .any(|r: &RefusedForward| r.subject == entry.subject && r.number == number)
        {
            continue;
        }
        if let Err(e) = check_number(store, org, deny, number).await? {
            out.push(RefusedForward {
                subject: entry.subject.clone(),
                number: number.to_owned(),
                reason: e.to_string(),
            });
        }
    }
    Ok(out)
}

/// Whether `number` (stored form) is a user or group of `org`.
async fn is_internal(store: &Store, org: &Organisation, number: &str) -> Result<bool, StoreError> {
    for found in [
        store.user_by_one_number(number).await,
        store.user_by_local_number(number).await,
    ] {
        match found {
            Ok(u) if u.org_id == org.id => return Ok(true),
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    match store.group_by_number(number).await {
        Ok(g) => Ok(g.org_id == org.id),
        Err(StoreError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
