//! The API side of the toll-fraud policy ([`crate::toll_fraud`]): every route that stores a
//! number the server may later dial out to (a forward or saved destination, the mobile for
//! parallel ringing, the receptionist group number, click-to-call's target) asks [`guard`]
//! first. A number of the same organisation (a user's OneNumber or local number, a group) never
//! leaves through the trunk and passes; any other goes through [`crate::toll_fraud::check`]
//! with the organisation's switch and the configured `[toll_fraud] deny_prefixes`.

use crate::api::{ApiError, ApiState};
use crate::store::{Organisation, StoreError};
use crate::toll_fraud::{self, OrgPolicy, TollFraudError};

/// Whether `number` (stored form, `number::normalise`) is a user or group of `org`.
pub async fn is_internal(
    state: &ApiState,
    org: &Organisation,
    number: &str,
) -> Result<bool, ApiError> {
    for found in [
        state.store.user_by_one_number(number).await,
        state.store.user_by_local_number(number).await,
    ] {
        match found {
            Ok(u) if u.org_id == org.id => return Ok(true),
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match state.store.group_by_number(number).await {
        Ok(g) => Ok(g.org_id == org.id),
        Err(StoreError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Refuses `number` (stored form) for `org` unless it is internal or the policy allows it:
/// 403 naming `field`, with `switch_code` when the organisation's switch is off (routes keep
/// their historical code: `external_forwarding_not_allowed` for forwards) and
/// `number_not_allowed` when the deny-list names its range; 422 if it is not dialable.
pub async fn guard(
    state: &ApiState,
    org: &Organisation,
    number: &str,
    field: &str,
    switch_code: &'static str,
) -> Result<(), ApiError> {
    if is_internal(state, org, number).await? {
        return Ok(());
    }
    refuse(
        toll_fraud::check_stored(number, &OrgPolicy::for_org(org), &state.deny_list),
        field,
        switch_code,
    )
}

/// The API error of a policy answer.
pub fn refuse(
    answer: Result<(), TollFraudError>,
    field: &str,
    switch_code: &'static str,
) -> Result<(), ApiError> {
    match answer {
        Ok(()) => Ok(()),
        Err(e @ TollFraudError::NotANumber) => Err(ApiError::invalid(field, e.to_string())),
        Err(e @ TollFraudError::ExternalCallsNotAllowed) => Err(ApiError::Forbidden {
            code: switch_code,
            message: e.to_string(),
            field: Some(field.to_owned()),
        }),
        Err(e @ TollFraudError::Denied { .. }) => Err(ApiError::Forbidden {
            code: "number_not_allowed",
            message: e.to_string(),
            field: Some(field.to_owned()),
        }),
    }
}
