//! The HTTP side API for the web client (axum), under `/api/v1`: JSON in and out, one error
//! shape ([`ApiError`]), times in RFC 3339 with offset.
//!
//! Where it sits: the web client (OnePresence) talks only to this. It reads and writes the same
//! store the B2BUA routes from, so an absence set here decides the very next INVITE; it reads
//! the in-memory [`Presence`] the B2BUA writes ("on the phone") and streams its events as
//! Server-Sent Events.
//!
//! # Trust
//! Every handler starts from the logged-in [`Caller`](auth::Caller). A user only ever reaches
//! their own messages, history, contacts and settings (another user's object id answers 404,
//! exactly like a missing one), and only colleagues of their own organisation. Receptionists
//! may set absences for colleagues of their own organisation and see receptionist notes.
//!
//! # The route table
//! [`ROUTES`] is the single list of endpoints: the router is built from it and the OpenAPI
//! document ([`openapi`]) is generated from it, so the document cannot miss a route.
//!
//! Click-to-call (`/api/v1/calls`, [`click_to_call`]) asks the SIP task over a channel; the
//! RFC 3725 call control itself is `b2bua::click_to_call`.

pub mod auth;
pub mod calendar;
pub mod click_to_call;
pub mod colleagues;
pub mod csrf;
pub mod directory;
pub mod error;
pub mod events;
pub mod extract;
pub mod forwarding;
pub mod groups;
pub mod limits;
pub mod me;
pub mod names;
pub mod notifier;
pub mod openapi;
pub mod phonebook;
pub mod range;
pub mod rate_limit;
pub mod recordings;
pub mod snapshot;
pub mod timeline;
pub mod toll_fraud;
pub mod voicemail;
pub mod web;
pub mod written;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Json, Router};
use serde_json::json;

use crate::clock::Clock;
pub use crate::config::ApiConfig;
use crate::pin::PinCheck;
use crate::presence::{Presence, PresenceEvent};
use crate::store::{Store, UserId};
pub use error::ApiError;
pub use notifier::{
    DeliveryFuture, LogPinNotifier, NewPin, PinChannel, PinChannels, PinDeliveryError, PinNotifier,
};
use rate_limit::IpLimiter;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// Who is on the phone, and the event bus.
    pub presence: Presence,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Tunables.
    pub config: Arc<ApiConfig>,
    /// How a new PIN reaches the user ("send me a new PIN").
    pub notifier: Arc<dyn PinNotifier>,
    /// Failed attempts per source address.
    pub ip_limiter: Arc<IpLimiter>,
    /// The one PIN check with its lockout (shared with the phone mailbox).
    pub pin_check: PinCheck,
    /// The SIP task's click-to-call channel and statuses; `None` without a SIP task (the
    /// endpoints answer 503 then).
    pub click_to_call: Option<crate::originate::Handle>,
    /// The operator's toll-fraud deny-list (`[toll_fraud] deny_prefixes`).
    pub deny_list: Arc<crate::toll_fraud::DenyList>,
    /// `[calendar] allow_http`, `allowed_networks`: which feed URLs a user may add.
    pub fetch_policy: Arc<crate::calendar::FetchPolicy>,
    /// `[security]`: trusted proxies and the live-event stream caps.
    pub security: Arc<limits::ApiSecurity>,
    /// `[directory]`: the external number directory, when configured.
    pub directory: Option<crate::directory::ExternalDirectory>,
}

impl ApiState {
    /// State with the given parts and the logging PIN notifier.
    pub fn new(
        store: Store,
        presence: Presence,
        clock: Arc<dyn Clock>,
        config: ApiConfig,
    ) -> ApiState {
        let ip_limiter = Arc::new(
            IpLimiter::new(
                config.ip_max_attempts,
                config.ip_window,
                config.ip_table_size,
            )
            .with_store(store.clone()),
        );
        let pin_check = PinCheck::new(store.clone(), config.lockout_policy());
        ApiState {
            pin_check,
            store,
            presence,
            clock,
            config: Arc::new(config),
            notifier: Arc::new(LogPinNotifier),
            ip_limiter,
            click_to_call: None,
            deny_list: Arc::default(),
            fetch_policy: Arc::default(),
            security: Arc::default(),
            directory: None,
        }
    }

    /// Applies `[security]`: trusted proxies, stream caps and the PIN rule.
    pub fn with_security(mut self, config: &crate::config::security::SecurityConfig) -> Self {
        self.security = Arc::new(limits::ApiSecurity::from_config(config));
        self.pin_check = self
            .pin_check
            .with_rules(crate::pin::PinRules::with_min_len(config.pin_min_length));
        self
    }

    /// Replaces the PIN notifier (e-mail/SMS delivery, or a test double).
    pub fn with_notifier(mut self, notifier: Arc<dyn PinNotifier>) -> ApiState {
        self.notifier = notifier;
        self
    }

    /// Replaces the default toll-fraud deny-list with the configured one.
    pub fn with_deny_list(mut self, deny_list: crate::toll_fraud::DenyList) -> Self {
        self.deny_list = Arc::new(deny_list);
        self
    }

    /// Replaces the default calendar fetch policy with the configured one.
    pub fn with_fetch_policy(mut self, policy: crate::calendar::FetchPolicy) -> Self {
        self.fetch_policy = Arc::new(policy);
        self
    }

    /// Names numbers with the configured external directory too (`[directory]`).
    pub fn with_directory(
        mut self,
        directory: Option<crate::directory::ExternalDirectory>,
    ) -> Self {
        self.directory = directory;
        self
    }

    /// Connects click-to-call to the SIP task.
    pub fn with_click_to_call(mut self, handle: crate::originate::Handle) -> Self {
        self.click_to_call = Some(handle);
        self
    }

    /// Now, from the clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Tells live subscribers that `user`'s availability changed.
    pub fn availability_changed(&self, user: UserId) {
        self.presence
            .publish(PresenceEvent::Availability { user_id: user.0 });
    }
}

/// One endpoint, as documented in the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// Lower-case HTTP method (`get`, `post`, ...).
    pub method: &'static str,
    /// Path in OpenAPI/axum template syntax (`/api/v1/users/{id}`).
    pub path: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Whether it needs a session.
    pub authenticated: bool,
    /// The JSON body it reads, if any.
    pub body: Option<BodyDoc>,
    /// The non-JSON body it reads (an upload), if any: the media types accepted.
    pub upload: Option<&'static [&'static str]>,
}

/// A request body: its Rust type, an example, and the parser the handler uses, so a test can
/// prove every documented example is accepted (the examples cannot drift from the types).
#[derive(Debug, Clone, Copy)]
pub struct BodyDoc {
    /// The input type's name.
    pub type_name: &'static str,
    /// A JSON example the handler accepts.
    pub example: &'static str,
    /// Parses a body exactly as the handler's extractor does.
    pub parse: fn(&[u8]) -> Result<(), ApiError>,
}

/// Declares [`ROUTES`] and the function adding them to a router from one table.
macro_rules! routes {
    (@body) => { None };
    (@upload) => { None };
    (@upload $media:expr) => { Some($media) };
    (@body $ty:ty = $example:literal) => {
        Some(BodyDoc {
            type_name: stringify!($ty),
            example: $example,
            parse: |bytes| extract::parse_json::<$ty>(bytes).map(|_| ()),
        })
    };
    ($( $method:ident $path:literal => $handler:path, $auth:literal, $summary:literal
        $(, body $ty:ty = $example:literal)? $(, upload $media:expr)?; )+) => {
        /// Every endpoint of the API, in documentation order.
        pub const ROUTES: &[RouteDoc] = &[$(
            RouteDoc {
                method: stringify!($method),
                path: $path,
                summary: $summary,
                authenticated: $auth,
                body: routes!(@body $($ty = $example)?),
                upload: routes!(@upload $($media)?),
            }
        ),+];

        fn add_routes(router: Router<ApiState>) -> Router<ApiState> {
            router $( .route($path, axum::routing::$method($handler)) )+
        }
    };
}

routes! {
    get "/api/v1/health" => health, false, "Liveness probe";
    get "/api/v1/openapi.json" => openapi::document, false, "This API's OpenAPI 3.1 document";
    post "/api/v1/login" => auth::login, false, "Log in with local number and PIN",
        body auth::LoginRequest = r#"{"local_number": "1000001", "pin": "2580"}"#;
    post "/api/v1/logout" => auth::logout, true, "End the session";
    post "/api/v1/pin-reset" => auth::pin_reset, false, "Send me a new PIN",
        body auth::PinResetRequest = r#"{"local_number": "1000001", "channel": "sms"}"#;
    put "/api/v1/me/pin" => auth::change_pin, true, "Change my PIN",
        body auth::ChangePinRequest = r#"{"current_pin": "2580", "new_pin": "1357"}"#;
    get "/api/v1/me" => me::show, true, "My information";
    patch "/api/v1/me" => me::update, true, "Change my information",
        body me::MePatch = r#"{"mobile_number": "4520304050", "department": null,
            "working_hours": {"start": 480, "end": 960, "days": 31}}"#;
    get "/api/v1/me/settings" => me::settings, true, "My settings";
    patch "/api/v1/me/settings" => me::update_settings, true, "Change my settings",
        body me::SettingsPatch = r#"{"lang": "en", "start_page": "colleagues",
            "search_scope": "internal"}"#;
    get "/api/v1/me/voicemail-settings" => me::voicemail_settings, true, "My voicemail options";
    patch "/api/v1/me/voicemail-settings" => me::update_voicemail_settings, true,
        "Change my voicemail options",
        body me::VoicemailSettingsPatch = r#"{"secondary_lang": "en", "quick_listen": true,
            "notify_channel": "none"}"#;
    get "/api/v1/colleagues" => colleagues::search, true,
        "Search colleagues and contacts, with presence";
    get "/api/v1/users/{id}" => colleagues::show, true, "One colleague with presence";
    get "/api/v1/users/{id}/timeline" => timeline::show, true,
        "A colleague's current and future absences, schedules and calendar entries";
    get "/api/v1/me/quick-forwards" => forwarding::quick_forwards, true, "My quick forwards";
    post "/api/v1/me/quick-forwards" => forwarding::create_quick_forward, true,
        "Add a quick forward",
        body forwarding::QuickForwardInput = r#"{"label": "Dentist", "reason": "custom",
            "duration": {"minutes": 90}, "destination": {"kind": "voicemail"}}"#;
    delete "/api/v1/me/quick-forwards/{id}" => forwarding::delete_quick_forward, true,
        "Remove one of my own quick forwards";
    post "/api/v1/me/quick-forwards/{id}/apply" => forwarding::apply_quick_forward, true,
        "Press a quick forward";
    post "/api/v1/me/open-phone" => forwarding::open_my_phone, true,
        "Open my phone: end the absences in force";
    get "/api/v1/me/absences" => forwarding::my_absences, true, "My current and future absences";
    post "/api/v1/me/absences" => forwarding::create_my_absence, true, "Forward my phone",
        body forwarding::AbsenceInput = r#"{"reason": "meeting",
            "from": "2026-01-05T13:00:00+01:00", "to": "2026-01-05T14:00:00+01:00",
            "destination": {"kind": "number", "number": "4570100002"},
            "free_text": "Board meeting", "receptionist_note": "Urgent: mobile"}"#;
    get "/api/v1/me/absences/{id}" => forwarding::my_absence, true, "One of my absences";
    put "/api/v1/me/absences/{id}" => forwarding::update_my_absence, true,
        "Change one of my absences",
        body forwarding::AbsenceInput = r#"{"reason": "holiday", "to": null,
            "destination": {"kind": "voicemail"}}"#;
    delete "/api/v1/me/absences/{id}" => forwarding::delete_my_absence, true,
        "Delete one of my absences";
    get "/api/v1/users/{id}/absences" => forwarding::user_absences, true,
        "A colleague's absences (receptionists)";
    post "/api/v1/users/{id}/absences" => forwarding::create_user_absence, true,
        "Set an absence for a colleague (receptionists)",
        body forwarding::AbsenceInput = r#"{"reason": "sick",
            "destination": {"kind": "voicemail"}, "free_text": "Back Monday"}"#;
    put "/api/v1/users/{id}/absences/{absence_id}" => forwarding::update_user_absence, true,
        "Change a colleague's absence (receptionists)",
        body forwarding::AbsenceInput = r#"{"reason": "sick", "to": "2026-01-09T16:00:00+01:00",
            "destination": {"kind": "open"}}"#;
    delete "/api/v1/users/{id}/absences/{absence_id}" => forwarding::delete_user_absence, true,
        "Delete a colleague's absence (receptionists)";
    post "/api/v1/users/{id}/open-phone" => forwarding::open_user_phone, true,
        "Open a colleague's phone (receptionists)";
    get "/api/v1/me/calendar" => calendar::entries, true, "My imported calendar entries";
    put "/api/v1/me/calendar" => calendar::push, true,
        "Push my calendar as an iCalendar feed (text/calendar; all or nothing: a malformed feed \
        is refused with the parser's message and the previous entries stay)",
        upload &["text/calendar"];
    get "/api/v1/me/calendar/sources" => calendar::sources, true,
        "My calendar feeds, with the last sync's error";
    post "/api/v1/me/calendar/sources" => calendar::add_source, true,
        "Add a published-calendar URL to be polled",
        body calendar::SourceInput = r#"{"url":
            "https://outlook.office365.com/owa/calendar/abc/def/reachcalendar.ics"}"#;
    put "/api/v1/me/calendar/{id}" => calendar::edit, true,
        "Edit an imported calendar entry (origin becomes WEB; syncs keep the edit)",
        body calendar::EntryInput = r#"{"subject": "Budget", "starts_at": "2026-01-05T09:00:00Z",
            "ends_at": "2026-01-05T10:00:00Z", "busy_status": "busy"}"#;
    delete "/api/v1/me/calendar/{id}" => calendar::delete, true,
        "Delete an imported calendar entry from routing (syncs do not bring it back)";
    get "/api/v1/me/schedules" => forwarding::schedules, true, "My weekly schedules";
    post "/api/v1/me/schedules" => forwarding::create_schedule, true, "Add a weekly schedule",
        body forwarding::ScheduleInput = r#"{"weekdays": 1, "start": 540, "end": 600,
            "reason": "meeting", "destination": {"kind": "voicemail"},
            "free_text": "Team meeting"}"#;
    put "/api/v1/me/schedules/{id}" => forwarding::update_schedule, true,
        "Change a weekly schedule",
        body forwarding::ScheduleInput = r#"{"weekdays": 2, "start": 900, "end": 1440,
            "reason": "gone_for_today", "destination": {"kind": "voicemail"}}"#;
    delete "/api/v1/me/schedules/{id}" => forwarding::delete_schedule, true,
        "Delete a weekly schedule";
    get "/api/v1/me/saved-destinations" => forwarding::saved_destinations, true,
        "My saved forwarding destinations";
    post "/api/v1/me/saved-destinations" => forwarding::create_saved_destination, true,
        "Save a forwarding destination",
        body forwarding::SavedDestinationInput = r#"{"label": "Reception", "kind": "group",
            "number": "4570100000"}"#;
    put "/api/v1/me/saved-destinations/{id}" => forwarding::update_saved_destination, true,
        "Change a saved destination",
        body forwarding::SavedDestinationInput = r#"{"label": "Karen", "kind": "colleague",
            "number": "4570100002"}"#;
    delete "/api/v1/me/saved-destinations/{id}" => forwarding::delete_saved_destination, true,
        "Delete a saved destination";
    get "/api/v1/me/voicemail" => voicemail::list, true,
        "My voice and written messages, new ones marked, with counts";
    get "/api/v1/me/voicemail/{id}/audio" => voicemail::audio, true,
        "A voice message's audio (audio/wav, Range supported)";
    patch "/api/v1/me/voicemail/{id}" => voicemail::set_state, true,
        "Mark a voice message read or saved",
        body voicemail::StateInput = r#"{"state": "saved"}"#;
    delete "/api/v1/me/voicemail/{id}" => voicemail::delete, true, "Delete a voice message";
    put "/api/v1/me/voicemail/greeting" => recordings::put_greeting, true,
        "Upload my greeting (WAV, FLAC, Ogg/Vorbis or MP3; at most 10 MiB and 120 s; \
        converted to 8 kHz WAV; turns use_own_greeting on)",
        upload recordings::UPLOAD_MEDIA_TYPES;
    get "/api/v1/me/voicemail/greeting" => recordings::get_greeting, true,
        "My greeting (audio/wav, Range supported)";
    delete "/api/v1/me/voicemail/greeting" => recordings::delete_greeting, true,
        "Delete my greeting (turns use_own_greeting off)";
    put "/api/v1/me/voicemail/name" => recordings::put_name, true,
        "Upload my name recording (WAV, FLAC, Ogg/Vorbis or MP3; at most 10 MiB and 10 s; \
        converted to 8 kHz WAV; turns use_own_name on)",
        upload recordings::UPLOAD_MEDIA_TYPES;
    get "/api/v1/me/voicemail/name" => recordings::get_name, true,
        "My name recording (audio/wav, Range supported)";
    delete "/api/v1/me/voicemail/name" => recordings::delete_name, true,
        "Delete my name recording (turns use_own_name off)";
    post "/api/v1/me/messages" => written::send_message, true,
        "Send a written message to a colleague (into their list and to their e-mail or \
        mobile) or to a typed e-mail address or mobile number; 201 with the queued delivery",
        body written::SendMessageInput = r#"{"to_user_id": 2, "channel": "sms",
            "body": "Please call Mr Jensen back"}"#;
    patch "/api/v1/me/messages/{id}" => voicemail::set_message_state, true,
        "Mark a written message read or saved",
        body voicemail::StateInput = r#"{"state": "read"}"#;
    delete "/api/v1/me/messages/{id}" => voicemail::delete_message, true,
        "Delete a written message";
    post "/api/v1/me/messages/{id}/forward" => voicemail::forward_message, true,
        "Pass a written message on to a colleague",
        body voicemail::ForwardMessageInput = r#"{"to_user_id": 3}"#;
    get "/api/v1/standard-messages" => voicemail::standard_messages, true,
        "The organisation's standard messages";
    post "/api/v1/standard-messages" => voicemail::create_standard_message, true,
        "Add a standard message (receptionists)",
        body voicemail::StandardMessageInput = r#"{"text": "Please call back after 14:00"}"#;
    put "/api/v1/standard-messages/{id}" => voicemail::update_standard_message, true,
        "Change a standard message (receptionists)",
        body voicemail::StandardMessageInput = r#"{"text": "Back at 15:00"}"#;
    delete "/api/v1/standard-messages/{id}" => voicemail::delete_standard_message, true,
        "Delete a standard message (receptionists)";
    get "/api/v1/me/contacts" => phonebook::contacts, true, "My personal contacts";
    post "/api/v1/me/contacts" => phonebook::create_contact, true, "Add a contact",
        body phonebook::ContactInput = r#"{"name": "Jens Jensen", "company": "VVS ApS",
            "phone_number": "4588776655"}"#;
    put "/api/v1/me/contacts/{id}" => phonebook::update_contact, true, "Change a contact",
        body phonebook::ContactInput = r#"{"name": "Jens Jensen", "mobile_number": "+4520304050"}"#;
    delete "/api/v1/me/contacts/{id}" => phonebook::delete_contact, true, "Delete a contact";
    get "/api/v1/me/favourites" => phonebook::favourites, true, "My starred colleagues";
    put "/api/v1/me/favourites/{id}" => phonebook::add_favourite, true, "Star a colleague";
    delete "/api/v1/me/favourites/{id}" => phonebook::remove_favourite, true,
        "Unstar a colleague";
    get "/api/v1/me/calls" => phonebook::calls, true, "My call history, newest first";
    post "/api/v1/calls" => click_to_call::originate, true,
        "Click-to-call: ring my desk phone, and when I answer call this number and bridge \
        (RFC 3725); 202 with the call's id and Location",
        body click_to_call::CallInput = r#"{"to": "1000002"}"#;
    get "/api/v1/calls/{id}" => click_to_call::show, true,
        "A click-to-call's state: ringing_you, ringing_them, connected, or ended with a reason";
    delete "/api/v1/calls/{id}" => click_to_call::hang_up, true, "Hang up a click-to-call";
    get "/api/v1/events" => events::stream, true,
        "Live presence and voicemail events (Server-Sent Events)";
    get "/api/v1/groups" => groups::list, true,
        "The organisation's groups: number, members in ring order, strategy, fallback";
    post "/api/v1/groups" => groups::create, true,
        "Create a group (receptionists; numbers normalised, an outside fallback number passes \
        the toll-fraud policy)",
        body groups::GroupInput = r#"{"name": "Support", "number": "+45 70 10 00 09",
            "strategy": "in_order", "ring_timeout_secs": 15, "members": [2, 3],
            "fallback": {"kind": "number", "number": "4570100002"}}"#;
    get "/api/v1/groups/{id}" => groups::show, true, "One group";
    put "/api/v1/groups/{id}" => groups::update, true,
        "Change a group: name, number, strategy, ring time, fallback, members (receptionists)",
        body groups::GroupInput = r#"{"name": "Reception", "number": "4570100000",
            "kind": "receptionist", "strategy": "all", "ring_timeout_secs": 25,
            "fallback": {"kind": "voicemail"}, "voicemail_user_id": 2, "members": [2]}"#;
    put "/api/v1/groups/{id}/members" => groups::set_members, true,
        "Set a group's members in ring order (receptionists)",
        body groups::MembersInput = r#"{"members": [3, 2]}"#;
    delete "/api/v1/groups/{id}" => groups::delete, true, "Delete a group (receptionists)";
    post "/api/v1/logout-everywhere" => auth::logout_everywhere, true,
        "End every session of mine, this one included";
    get "/api/v1/shared-contacts" => directory::list, true,
        "The organisation's shared phonebook, searched by name, company or number";
    post "/api/v1/shared-contacts" => directory::create, true,
        "Add a shared contact (receptionists)",
        body directory::SharedContactInput = r#"{"name": "Jens Jensen", "company": "VVS ApS",
            "numbers": [{"kind": "work", "number": "+45 22 33 44 55"}]}"#;
    post "/api/v1/shared-contacts/import" => directory::import_file, true,
        "Import shared contacts from a vCard (3.0/4.0) or CSV file (receptionists; \
        ?mode=add|replace, ?columns=name=Kunde;work=Tlf); the report lists each rejected \
        record with its line and reason",
        upload directory::IMPORT_MEDIA_TYPES;
    get "/api/v1/shared-contacts/{id}" => directory::show, true, "One shared contact";
    put "/api/v1/shared-contacts/{id}" => directory::update, true,
        "Change a shared contact (receptionists)",
        body directory::SharedContactInput = r#"{"name": "Jens Jensen", "note": "Workshop",
            "numbers": [{"kind": "mobile", "number": "20304050"}]}"#;
    delete "/api/v1/shared-contacts/{id}" => directory::delete, true,
        "Remove a shared contact (receptionists)";
    get "/api/v1/me/voicemail-delivery" => directory::delivery, true,
        "Where my messages play, and whether the e-mail links to the recording";
    patch "/api/v1/me/voicemail-delivery" => directory::update_delivery, true,
        "Change where my messages play and the e-mail link",
        body directory::DeliveryPatch = r#"{"player": "external", "email_link": false}"#;
    get "/api/v1/names" => names::name_of, true,
        "The name of a number from my point of view (colleague, my contact, shared, directory)";
    get "/api/v1/me/messages/sent" => written::sent, true,
        "My written messages' deliveries (queued, sent, failed with the reason), newest first";
    get "/api/v1/me/messages/sent/{id}" => written::sent_one, true,
        "One delivery of my written messages";
    get "/api/v1/pin-reset/channels" => auth::pin_reset_channels, false,
        "Which ways a new PIN can be sent on this server (e-mail, SMS)";
    get "/api/v1/me/channels" => written::my_channels, true,
        "Which ways a message or a new PIN can reach me (server configured and address known)";
    get "/api/v1/org/toll-fraud" => toll_fraud::show, true,
        "My organisation's toll-fraud policy: its external-calls switch, the operator's \
        deny-list ranges (and which the allow-list opens) and its allow-list";
    put "/api/v1/org/toll-fraud" => toll_fraud::set_allow_list, true,
        "Replace my organisation's toll-fraud allow-list (receptionists; E.164 prefixes, \
        normalised to +digits; [] clears it)",
        body toll_fraud::AllowListInput = r#"{"allow_list": ["+870", "+881"]}"#;
}

/// The API router with its state; everything outside `/api/` is the web client ([`web`]).
pub fn router(state: ApiState) -> Router {
    add_routes(Router::new())
        .fallback(web::fallback)
        .layer(axum::middleware::from_fn(csrf::require_header))
        .layer(axum::middleware::from_fn(error::log_internal_errors))
        .layer(DefaultBodyLimit::max(extract::MAX_JSON_BYTES))
        .with_state(state)
}

/// Liveness probe for load balancers and the test harness.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}
