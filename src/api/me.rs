//! "My information" and "Settings": name, numbers, local number, e-mail, department, working
//! hours; language, start page, default search scope; voicemail options.
//!
//! The numbers that identify the user (OneNumber, local number) and the role are shown but not
//! editable here: they are the administrator's, and the local number is the login.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use super::ApiState;
use crate::domain::{Lang, Role};
use crate::number::{self, Plan};
use crate::store::{
    MinuteOfDay, NotifyChannel, Organisation, Profile, SearchScope, User, UserId,
    VoicemailSettings, Weekdays, WorkingHours,
};

/// The logged-in user as the web client shows them.
#[derive(Debug, Clone, Serialize)]
pub struct MeView {
    /// Row id.
    pub id: UserId,
    /// Full name.
    pub name: String,
    /// The public number.
    pub one_number: String,
    /// The login.
    pub local_number: String,
    /// Mobile number.
    pub mobile_number: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Working hours (`start`/`end` in minutes after local midnight, `days` a Monday-first
    /// bitmask).
    pub working_hours: WorkingHours,
    /// Initials (receptionists' origin mark).
    pub initials: Option<String>,
    /// User or receptionist.
    pub role: Role,
    /// The organisation's name.
    pub organisation: String,
    /// Its customer code.
    pub customer_code: String,
    /// Its IANA timezone.
    pub timezone: String,
    /// Whether the PIN must be changed.
    pub pin_must_change: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl MeView {
    /// The view of `user` in `org`.
    pub fn new(user: &User, org: &Organisation) -> MeView {
        let p = &user.profile;
        MeView {
            id: user.id,
            name: p.name.clone(),
            one_number: user.one_number.clone(),
            local_number: user.local_number.clone(),
            mobile_number: p.mobile_number.clone(),
            email: p.email.clone(),
            department: p.department.clone(),
            working_hours: p.working_hours,
            initials: p.initials.clone(),
            role: user.role,
            organisation: org.name.clone(),
            customer_code: org.customer_code.clone(),
            timezone: org.timezone.name().to_owned(),
            pin_must_change: user.pin_must_change,
            created_at: user.created_at,
        }
    }
}

/// `GET /api/v1/me`.
pub async fn show(State(state): State<ApiState>, caller: Caller) -> Result<Json<MeView>, ApiError> {
    let org = state.store.org(caller.user.org_id).await?;
    Ok(Json(MeView::new(&caller.user, &org)))
}

/// Working hours as edited: times as "HH:MM" would be friendlier, but minutes keep one format
/// in and out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHoursInput {
    /// Minutes after local midnight, 0..=1440.
    pub start: u16,
    /// Minutes after local midnight, 0..=1440, after `start`.
    pub end: u16,
    /// Monday-first bitmask of working days (bit 0 = Monday).
    pub days: u8,
}

/// Body of `PATCH /me`: every field optional; `null` clears an optional one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// Full name.
    pub name: Option<String>,
    /// Mobile number (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    pub mobile_number: Option<Option<String>>,
    /// E-mail (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
    /// Department (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    pub department: Option<Option<String>>,
    /// Working hours.
    pub working_hours: Option<WorkingHoursInput>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Longest free-text field we store (names, e-mail, department, notes).
pub const MAX_TEXT: usize = 200;

/// Checks a text field's length, naming it.
pub fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

/// Checks a phone number: digits with an optional leading `+`, 2 to 20 of them.
pub fn check_number(field: &str, value: &str) -> Result<(), ApiError> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !(2..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            field,
            "a number is 2 to 20 digits, optionally with a leading +",
        ));
    }
    Ok(())
}

/// A telephone number as entered, in its stored form (`number::normalise` with `plan`: E.164
/// digits, or a local/service number), or a 422 naming `field`.
pub fn normalise_number(field: &str, value: &str, plan: &Plan) -> Result<String, ApiError> {
    number::normalise(value, plan)
        .map_err(|e| ApiError::invalid(field, format!("not a telephone number: {e}")))
}

/// `PATCH /api/v1/me`.
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(patch): ApiJson<MePatch>,
) -> Result<Json<MeView>, ApiError> {
    let mut p = caller.user.profile.clone();
    if let Some(name) = patch.name {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name", "must not be empty"));
        }
        check_text("name", &name)?;
        p.name = name;
    }
    if let Some(mobile) = patch.mobile_number {
        p.mobile_number = match mobile {
            Some(m) => {
                let org = state.store.org(caller.user.org_id).await?;
                let plan = Plan::for_timezone(org.timezone);
                let m = normalise_number("mobile_number", &m, &plan)?;
                // Parallel ringing dials the mobile through the trunk (issue #19 finding 1).
                crate::api::toll_fraud::guard(
                    &state,
                    &org,
                    &m,
                    "mobile_number",
                    "external_calls_not_allowed",
                )
                .await?;
                Some(m)
            }
            None => None,
        };
    }
    if let Some(email) = patch.email {
        if let Some(e) = &email {
            check_text("email", e)?;
            if !e.contains('@') {
                return Err(ApiError::invalid("email", "not an e-mail address"));
            }
        }
        p.email = email;
    }
    if let Some(dept) = patch.department {
        if let Some(d) = &dept {
            check_text("department", d)?;
        }
        p.department = dept;
    }
    if let Some(wh) = patch.working_hours {
        let start = MinuteOfDay::new(wh.start)
            .ok_or_else(|| ApiError::invalid("working_hours.start", "0..=1440"))?;
        let end = MinuteOfDay::new(wh.end)
            .ok_or_else(|| ApiError::invalid("working_hours.end", "0..=1440"))?;
        if end <= start {
            return Err(ApiError::invalid(
                "working_hours.end",
                "must be after the start",
            ));
        }
        let days = Weekdays::from_bits(wh.days)
            .ok_or_else(|| ApiError::invalid("working_hours.days", "a 7-bit weekday mask"))?;
        p.working_hours = WorkingHours { start, end, days };
    }
    save_profile(&state, caller.user.id, &p).await?;
    let user = state.store.user(caller.user.id).await?;
    let org = state.store.org(user.org_id).await?;
    Ok(Json(MeView::new(&user, &org)))
}

async fn save_profile(state: &ApiState, user: UserId, p: &Profile) -> Result<(), ApiError> {
    state.store.user_update_profile(user, p).await?;
    // A rename or a new language makes a new spoken name for the greeting (issue #18); in the
    // background, since espeak-ng is not the web client's business. Unchanged ones are kept.
    let store = state.store.clone();
    let now = state.clock.now();
    tokio::spawn(async move {
        if let Ok(user) = store.user(user).await {
            crate::spoken_name::refresh_logged(&store, &user, now).await;
        }
    });
    Ok(())
}

/// The web client's settings.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    /// Language of the web client and prompts.
    pub lang: Lang,
    /// Start page.
    pub start_page: String,
    /// Default search scope.
    pub search_scope: SearchScope,
    /// Seconds to ring before voicemail.
    pub no_answer_timeout_secs: u32,
    /// Whether a second call may ring while on the phone.
    pub allow_second_call: bool,
}

impl SettingsView {
    fn of(p: &Profile) -> SettingsView {
        SettingsView {
            lang: p.lang,
            start_page: p.start_page.clone(),
            search_scope: p.search_scope,
            no_answer_timeout_secs: p.no_answer_timeout_secs,
            allow_second_call: p.allow_second_call,
        }
    }
}

/// Body of `PATCH /me/settings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// `da`, `sv` or `en`.
    pub lang: Option<Lang>,
    /// Start page.
    pub start_page: Option<String>,
    /// `all`, `internal` or `external`.
    pub search_scope: Option<SearchScope>,
    /// 5..=180 seconds.
    pub no_answer_timeout_secs: Option<u32>,
    /// Call waiting.
    pub allow_second_call: Option<bool>,
}

/// Start pages the web client has.
const START_PAGES: [&str; 6] = [
    "status",
    "colleagues",
    "forwarding",
    "voicemail",
    "calls",
    "phonebook",
];

/// `GET /api/v1/me/settings`.
pub async fn settings(caller: Caller) -> Json<SettingsView> {
    Json(SettingsView::of(&caller.user.profile))
}

/// `PATCH /api/v1/me/settings`.
pub async fn update_settings(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<SettingsView>, ApiError> {
    let mut p = caller.user.profile.clone();
    if let Some(lang) = patch.lang {
        p.lang = lang;
    }
    if let Some(page) = patch.start_page {
        if !START_PAGES.contains(&page.as_str()) {
            return Err(ApiError::invalid(
                "start_page",
                format!("one of {START_PAGES:?}"),
            ));
        }
        p.start_page = page;
    }
    if let Some(scope) = patch.search_scope {
        p.search_scope = scope;
    }
    if let Some(secs) = patch.no_answer_timeout_secs {
        if !(5..=180).contains(&secs) {
            return Err(ApiError::invalid(
                "no_answer_timeout_secs",
                "5 to 180 seconds",
            ));
        }
        p.no_answer_timeout_secs = secs;
    }
    if let Some(allow) = patch.allow_second_call {
        p.allow_second_call = allow;
    }
    save_profile(&state, caller.user.id, &p).await?;
    Ok(Json(SettingsView::of(&p)))
}

/// `GET /api/v1/me/voicemail-settings`.
pub async fn voicemail_settings(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<VoicemailSettings>, ApiError> {
    Ok(Json(state.store.voicemail_settings(caller.user.id).await?))
}

/// Body of `PATCH /me/voicemail-settings`; every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailSettingsPatch {
    /// Secondary language for external callers (`null` = off).
    #[serde(default, deserialize_with = "nullable")]
    pub secondary_lang: Option<Option<Lang>>,
    /// Whether callers may leave messages.
    pub allow_messages: Option<bool>,
    /// "Press 9 for the receptionist".
    pub receptionist_option: Option<bool>,
    /// The group reached by 9 (`null` = the organisation's).
    #[serde(default, deserialize_with = "nullable")]
    pub receptionist_group_number: Option<Option<String>>,
    /// Play my recorded name.
    pub use_own_name: Option<bool>,
    /// Play my recorded greeting.
    pub use_own_greeting: Option<bool>,
    /// Jump to the newest unheard message.
    pub quick_listen: Option<bool>,
    /// `email`, `sms`, `both` or `none`.
    pub notify_channel: Option<NotifyChannel>,
    /// Attach the audio to the e-mail.
    pub attach_audio: Option<bool>,
    /// Ask for the PIN from my own phone too.
    pub pin_required_from_own_device: Option<bool>,
}

/// `PATCH /api/v1/me/voicemail-settings`.
pub async fn update_voicemail_settings(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(patch): ApiJson<VoicemailSettingsPatch>,
) -> Result<Json<VoicemailSettings>, ApiError> {
    let mut s = state.store.voicemail_settings(caller.user.id).await?;
    if let Some(v) = patch.secondary_lang {
        s.secondary_lang = v;
    }
    if let Some(v) = patch.allow_messages {
        s.allow_messages = v;
    }
    if let Some(v) = patch.receptionist_option {
        s.receptionist_option = v;
    }
    if let Some(v) = patch.receptionist_group_number {
        if let Some(n) = &v {
            check_number("receptionist_group_number", n)?;
            // "Press 9" transfers the caller to this number (issue #19 finding 1).
            let org = state.store.org(caller.user.org_id).await?;
            let stored = normalise_number(
                "receptionist_group_number",
                n,
                &Plan::for_timezone(org.timezone),
            )?;
            crate::api::toll_fraud::guard(
                &state,
                &org,
                &stored,
                "receptionist_group_number",
                "external_calls_not_allowed",
            )
            .await?;
        }
        s.receptionist_group_number = v;
    }
    if let Some(v) = patch.use_own_name {
        s.use_own_name = v;
    }
    if let Some(v) = patch.use_own_greeting {
        s.use_own_greeting = v;
    }
    if let Some(v) = patch.quick_listen {
        s.quick_listen = v;
    }
    if let Some(v) = patch.notify_channel {
        if matches!(v, NotifyChannel::Email | NotifyChannel::Both)
            && caller.user.profile.email.is_none()
        {
            return Err(ApiError::invalid(
                "notify_channel",
                "set an e-mail address first",
            ));
        }
        if matches!(v, NotifyChannel::Sms | NotifyChannel::Both)
            && caller.user.profile.mobile_number.is_none()
        {
            return Err(ApiError::invalid(
                "notify_channel",
                "set a mobile number first",
            ));
        }
        s.notify_channel = v;
    }
    if let Some(v) = patch.attach_audio {
        s.attach_audio = v;
    }
    if let Some(v) = patch.pin_required_from_own_device {
        s.pin_required_from_own_device = v;
    }
    state
        .store
        .voicemail_settings_update(caller.user.id, &s)
        .await?;
    Ok(Json(s))
}
