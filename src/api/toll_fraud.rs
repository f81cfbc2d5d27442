//! The API side of the toll-fraud policy ([`crate::toll_fraud`]): every route that stores a
//! number the server may later dial out to (a forward or saved destination, the mobile for
//! parallel ringing, the receptionist group number, click-to-call's target) asks [`guard`]
//! first. A number of the same organisation (a user's OneNumber or local number, a group) never
//! leaves through the trunk and passes; any other goes through [`crate::toll_fraud::check`]
//! with the organisation's switch and the configured `[toll_fraud] deny_prefixes`.
//!
//! It also shows the policy to the organisation (`GET /api/v1/org/toll-fraud`, everyone: why
//! a number was refused should not be a mystery) and lets its receptionists replace the
//! organisation's allow-list (`PUT`, the API twin of `onestatus org set-allow-list`). The
//! external-calls switch and the deny-list stay the operator's: the switch is set with the
//! CLI, the deny-list in `[toll_fraud]`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::extract::ApiJson;
use crate::api::{ApiError, ApiState};
use crate::domain::Role;
use crate::store::{Organisation, StoreError};
use crate::toll_fraud::{self, Category, DenyList, OrgPolicy, Prefix, TollFraudError};

/// Most prefixes an allow-list may hold: a few ranges are a business need (a fleet's
/// satellite phones); hundreds would be a second deny-list turned inside out.
pub const MAX_ALLOW_LIST: usize = 50;

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

/// The organisation's toll-fraud policy as `GET /api/v1/org/toll-fraud` shows it.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    /// The organisation's switch for calls and forwards to numbers outside it (the operator's:
    /// `onestatus org add --allow-external-forwarding`).
    pub external_calls_allowed: bool,
    /// The operator's deny-list (`[toll_fraud] deny_prefixes`), as configured.
    pub deny_list: Vec<DenyRuleView>,
    /// The organisation's allow-list, `+`-prefixed, in the order set.
    pub allow_list: Vec<String>,
}

/// One range of the deny-list.
#[derive(Debug, Serialize)]
pub struct DenyRuleView {
    /// `+870`.
    pub prefix: String,
    /// `satellite`, `international_network`, `international_premium`, `national_premium` or
    /// `configured` (a prefix the operator added).
    pub category: &'static str,
    /// Whether this organisation may call (part of) the range: its switch is on and an
    /// allow-list prefix overlaps the range.
    pub opened: bool,
}

/// `PUT /api/v1/org/toll-fraud`: the new allow-list; `[]` clears it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowListInput {
    /// E.164 prefixes (`"+870"`, `"881"`; spaces around are ignored).
    pub allow_list: Vec<String>,
}

fn category_code(category: Category) -> &'static str {
    match category {
        Category::Satellite => "satellite",
        Category::InternationalNetwork => "international_network",
        Category::InternationalPremium => "international_premium",
        Category::NationalPremium => "national_premium",
        Category::Configured => "configured",
    }
}

/// The view of `org`'s policy under the operator's `deny` list.
pub fn policy_view(org: &Organisation, deny: &DenyList) -> PolicyView {
    let policy = OrgPolicy::for_org(org);
    let deny_list = deny
        .rules()
        .map(|(prefix, category)| DenyRuleView {
            prefix: prefix.to_string(),
            category: category_code(category),
            opened: policy.external_calls_allowed
                && policy.allow_list.iter().any(|a| {
                    prefix.digits().starts_with(a.digits())
                        || a.digits().starts_with(prefix.digits())
                }),
        })
        .collect();
    PolicyView {
        external_calls_allowed: org.allow_external_forwarding,
        deny_list,
        allow_list: org.toll_fraud_allow_list.clone(),
    }
}

/// Reads an allow-list as typed: each entry a [`Prefix`] (422 naming `allow_list[i]`
/// otherwise), normalised to `+digits` as the CLI stores it, repeats dropped (first kept).
pub fn parse_allow_list(input: &[String]) -> Result<Vec<String>, ApiError> {
    if input.len() > MAX_ALLOW_LIST {
        return Err(ApiError::invalid(
            "allow_list",
            format!("at most {MAX_ALLOW_LIST} prefixes"),
        ));
    }
    let mut list: Vec<String> = Vec::with_capacity(input.len());
    for (i, raw) in input.iter().enumerate() {
        let prefix: Prefix = raw.parse().map_err(|e: toll_fraud::BadPrefix| {
            ApiError::invalid(format!("allow_list[{i}]"), e.to_string())
        })?;
        let prefix = prefix.to_string();
        if !list.contains(&prefix) {
            list.push(prefix);
        }
    }
    Ok(list)
}

/// `GET /api/v1/org/toll-fraud`: the policy numbers of my organisation are checked against.
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<PolicyView>, ApiError> {
    let org = state.store.org(caller.user.org_id).await?;
    Ok(Json(policy_view(&org, &state.deny_list)))
}

/// `PUT /api/v1/org/toll-fraud`: replaces my organisation's allow-list (receptionists).
/// Numbers stored before stay as they are; each is checked again when dialled.
pub async fn set_allow_list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<AllowListInput>,
) -> Result<Json<PolicyView>, ApiError> {
    if caller.user.role != Role::Receptionist {
        return Err(ApiError::forbidden(
            "receptionist_only",
            "only receptionists change the organisation's allow-list",
        ));
    }
    let list = parse_allow_list(&input.allow_list)?;
    let org = state
        .store
        .org_set_toll_fraud_allow_list(caller.user.org_id, &list)
        .await?;
    // Opening a premium range is a cost decision: say who made it.
    tracing::info!(
        user_id = caller.user.id.0,
        org_id = org.id.0,
        allow_list = %list.join(" "),
        "toll-fraud allow-list changed"
    );
    Ok(Json(policy_view(&org, &state.deny_list)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn an_allow_list_is_normalised_like_the_cli_and_repeats_dropped() {
        let list = parse_allow_list(&strings(&[" +870 ", "881", "+870"])).unwrap();
        assert_eq!(list, ["+870", "+881"]);
        assert!(parse_allow_list(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_bad_prefix_is_named_by_its_index() {
        for bad in ["+0", "", "87a", "+", "1234567890123456"] {
            let err = parse_allow_list(&strings(&["+870", "881", bad])).unwrap_err();
            match err {
                ApiError::Invalid { field, .. } => assert_eq!(field, "allow_list[2]", "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let many: Vec<String> = (0..=MAX_ALLOW_LIST).map(|i| format!("+87{i}")).collect();
        assert!(matches!(
            parse_allow_list(&many),
            Err(ApiError::Invalid { field, .. }) if field == "allow_list"
        ));
    }
}
