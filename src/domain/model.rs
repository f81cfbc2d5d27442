//! The domain model: the typed records (organisations, users, devices, absences, calendar
//! entries, voicemail, history, ...) that every layer speaks of. It lives outside `store/` so
//! that the cores (`b2bua`, `ivr`, `routing`), `calendar` and `notify` name these types without
//! importing the store; the store reads and writes them (and re-exports them for its callers).
//! Enumerations are the shared ones of [`crate::domain`] where they exist; the few that only
//! the store and the API speak of (device kind, notification channel, ...) are defined here
//! with the same text-form scheme. Instants are `DateTime<Utc>`; local times of day are
//! [`MinuteOfDay`] in the organisation's timezone.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::{
    BusyStatus, DestinationKind, Lang, MessageState, Origin, Reason, Role, UnknownVariant,
};

/// Declares a row-id newtype, so a user id cannot be passed where an org id is wanted.
macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

id_type!(
    /// An organisation (customer).
    OrgId,
    /// A user.
    UserId,
    /// A SIP device of a user.
    DeviceId,
    /// A registrar binding.
    RegistrationId,
    /// An absence (forwarding).
    AbsenceId,
    /// A recurring weekly absence.
    ScheduleId,
    /// A calendar feed.
    CalendarSourceId,
    /// An imported calendar entry.
    CalendarEntryId,
    /// A quick forward button.
    QuickForwardId,
    /// A saved forwarding destination.
    SavedDestinationId,
    /// A voicemail message.
    VoicemailId,
    /// A written (e-mail/SMS) message.
    WrittenMessageId,
    /// A call-history record.
    CallRecordId,
    /// A personal contact.
    ContactId,
    /// A receptionist's standard message.
    StandardMessageId,
    /// A hunt or receptionist group.
    GroupId,
);

/// Declares a text enumeration local to the store (same scheme as `crate::domain`).
macro_rules! store_enum {
    ($(#[$doc:meta])* $ty:ident, $kind:literal,
     { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $ty { $($(#[$vdoc])* $variant),+ }

        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable text form stored in the database and sent in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(UnknownVariant { kind: $kind, value: s.to_owned() }),
                }
            }
        }
    };
}

store_enum!(
    /// What kind of endpoint a device is; desk phones are rung first by click-to-call.
    DeviceKind, "device kind", {
        /// A desk phone.
        Desk => "desk",
        /// A softphone on a computer.
        Soft => "soft",
        /// A SIP client on a mobile phone.
        Mobile => "mobile",
    }
);
store_enum!(
    /// What a saved forwarding destination points at.
    SavedDestinationKind, "saved destination kind", {
        /// A hunt or receptionist group.
        Group => "group",
        /// A colleague in the same organisation.
        Colleague => "colleague",
        /// A number outside the organisation.
        External => "external",
    }
);
store_enum!(
    /// How a user is told about a new voicemail message.
    NotifyChannel, "notify channel", {
        /// By e-mail (optionally with the audio attached).
        Email => "email",
        /// By SMS.
        Sms => "sms",
        /// Both e-mail and SMS.
        Both => "both",
        /// Only the MWI lamp.
        None => "none",
    }
);
store_enum!(
    /// Which way a call went, for the call history tabs.
    CallDirection, "call direction", {
        /// Incoming, answered.
        In => "in",
        /// Outgoing.
        Out => "out",
        /// Incoming, not answered by the user.
        Missed => "missed",
    }
);
store_enum!(
    /// How a written message is delivered.
    MessageChannel, "message channel", {
        /// E-mail.
        Email => "email",
        /// SMS.
        Sms => "sms",
    }
);
store_enum!(
    /// What a group is for.
    GroupKind, "group kind", {
        /// Rings its members (hunt group).
        Hunt => "hunt",
        /// The receptionists, reached by "press 9" from voicemail.
        Receptionist => "receptionist",
    }
);
store_enum!(
    /// The default scope of the web client's search box.
    SearchScope, "search scope", {
        /// Colleagues and personal contacts.
        All => "all",
        /// Colleagues only.
        Internal => "internal",
        /// Personal contacts only.
        External => "external",
    }
);
store_enum!(
    /// Where a calendar feed is read from.
    CalendarSourceKind, "calendar source kind", {
        /// An ICS URL (Exchange published calendar), fetched with ETag/Last-Modified.
        Url => "url",
        /// A local ICS file.
        File => "file",
    }
);
store_enum!(
    /// Which personal recording.
    RecordingKind, "recording kind", {
        /// The user's own name, used in "You have called &lt;name&gt;".
        Name => "name",
        /// The user's own greeting, played after the status.
        Greeting => "greeting",
    }
);

/// A local time of day, in whole minutes after midnight, 0..=1440 (1440 = end of the day, so
/// a schedule can run "until midnight"). Local to the organisation's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MinuteOfDay(u16);

impl MinuteOfDay {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: MinuteOfDay = MinuteOfDay(0);
    /// Midnight at the end of the day.
    pub const END_OF_DAY: MinuteOfDay = MinuteOfDay(1440);

    /// `minutes` after midnight, if at most 1440.
    pub fn new(minutes: u16) -> Option<Self> {
        (minutes <= 1440).then_some(MinuteOfDay(minutes))
    }

    /// `hour:minute`, if a valid time of day.
    pub fn hm(hour: u8, minute: u8) -> Option<Self> {
        if hour < 24 && minute < 60 {
            Some(MinuteOfDay(u16::from(hour) * 60 + u16::from(minute)))
        } else {
            None
        }
    }

    /// Minutes after midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for MinuteOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A set of weekdays as a bitmask: bit 0 = Monday ... bit 6 = Sunday (ISO 8601 order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Monday to Friday.
    pub const WORKDAYS: Weekdays = Weekdays(0b001_1111);
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    /// From a bitmask; bits above Sunday are refused.
    pub fn from_bits(bits: u8) -> Option<Self> {
        (bits < 0x80).then_some(Weekdays(bits))
    }

    /// From a list of days.
    pub fn of(days: &[Weekday]) -> Self {
        Weekdays(
            days.iter()
                .fold(0, |acc, d| acc | 1 << d.num_days_from_monday()),
        )
    }

    /// The bitmask.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// When a user normally works: "until the end of the working day" quick forwards and
/// "back on Monday at 08:00" greetings are computed from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    /// Local start of the working day.
    pub start: MinuteOfDay,
    /// Local end of the working day.
    pub end: MinuteOfDay,
    /// Days on which the user works.
    pub days: Weekdays,
}

impl Default for WorkingHours {
    /// 08:00–16:00, Monday to Friday.
    fn default() -> Self {
        WorkingHours {
            start: MinuteOfDay(8 * 60),
            end: MinuteOfDay(16 * 60),
            days: Weekdays::WORKDAYS,
        }
    }
}

impl WorkingHours {
    /// Whether `day` is a working day.
    pub fn works_on(&self, day: impl Datelike) -> bool {
        self.days.contains(day.weekday())
    }
}

/// Where calls go while an absence (or schedule, or quick forward) is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Voicemail, a number, or keep the phone open.
    pub kind: DestinationKind,
    /// The number, for [`DestinationKind::Number`] only.
    pub number: Option<String>,
}

impl Destination {
    /// Calls go to voicemail.
    pub fn voicemail() -> Self {
        Destination {
            kind: DestinationKind::Voicemail,
            number: None,
        }
    }

    /// Calls still ring the user.
    pub fn open() -> Self {
        Destination {
            kind: DestinationKind::Open,
            number: None,
        }
    }

    /// Calls are forwarded to `number`.
    pub fn number(number: impl Into<String>) -> Self {
        Destination {
            kind: DestinationKind::Number,
            number: Some(number.into()),
        }
    }
}

/// An organisation (customer), identified to users by its 3-digit customer code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organisation {
    /// Row id.
    pub id: OrgId,
    /// Three digits; the first part of every local number.
    pub customer_code: String,
    /// Display name.
    pub name: String,
    /// IANA timezone of the organisation; all local times are in it.
    #[serde(serialize_with = "serialize_tz")]
    pub timezone: chrono_tz::Tz,
    /// Whether users may forward to numbers outside the organisation (toll fraud guard).
    pub allow_external_forwarding: bool,
    /// Number of the receptionist group ("press 9").
    pub receptionist_group_number: Option<String>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// E.164 prefixes (`+870`) the toll-fraud deny-list does not refuse for this organisation
    /// (`crate::toll_fraud::OrgPolicy::allow_list`); empty for none.
    pub toll_fraud_allow_list: Vec<String>,
}

/// Input for creating an organisation.
#[derive(Debug, Clone)]
pub struct NewOrganisation {
    /// Three digits.
    pub customer_code: String,
    /// Display name.
    pub name: String,
    /// IANA timezone.
    pub timezone: chrono_tz::Tz,
    /// Whether external forwarding is allowed.
    pub allow_external_forwarding: bool,
    /// Number of the receptionist group, if any.
    pub receptionist_group_number: Option<String>,
}

/// A user (employee) with everything routing, voicemail and the web client need about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Row id.
    pub id: UserId,
    /// The user's organisation.
    pub org_id: OrgId,
    /// The single public number that callers dial.
    pub one_number: String,
    /// Customer code + last 4 digits of the OneNumber: the web-client login.
    pub local_number: String,
    /// User or receptionist.
    pub role: Role,
    /// Editable personal data and settings.
    #[serde(flatten)]
    pub profile: Profile,
    /// argon2id PHC string; never the PIN itself. Not serialised.
    #[serde(skip)]
    pub pin_hash: String,
    /// The PIN is the default (or was reset) and must be changed at next login.
    pub pin_must_change: bool,
    /// Consecutive wrong PINs since the last success.
    pub failed_pin_attempts: u32,
    /// PIN login refused until then, after too many failures.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
}

/// The part of a user the user (or an administrator) edits: "My information" and "Settings".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Full name, shown and searched.
    pub name: String,
    /// Mobile number, rung in parallel with the desk phone.
    pub mobile_number: Option<String>,
    /// E-mail address for voicemail notifications.
    pub email: Option<String>,
    /// Department, shown in search results.
    pub department: Option<String>,
    /// Normal working hours.
    pub working_hours: WorkingHours,
    /// Initials, shown as the origin of absences a receptionist sets.
    pub initials: Option<String>,
    /// Language of the web client and of the voicemail prompts.
    pub lang: Lang,
    /// Web-client start page.
    pub start_page: String,
    /// Default scope of the search box.
    pub search_scope: SearchScope,
    /// Seconds to ring the user's devices before going to voicemail.
    pub no_answer_timeout_secs: u32,
    /// Whether a second call may ring while the user is on the phone (else "is on the phone").
    pub allow_second_call: bool,
}

impl Profile {
    /// A profile with the product defaults and the given name and language.
    pub fn new(name: impl Into<String>, lang: Lang) -> Self {
        Profile {
            name: name.into(),
            mobile_number: None,
            email: None,
            department: None,
            working_hours: WorkingHours::default(),
            initials: None,
            lang,
            start_page: "status".to_owned(),
            search_scope: SearchScope::All,
            no_answer_timeout_secs: 20,
            allow_second_call: false,
        }
    }
}

/// Input for creating a user. The local number is derived (customer code + last 4 digits of
/// the OneNumber), so it cannot disagree with the two numbers it is made of.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The organisation.
    pub org_id: OrgId,
    /// The OneNumber (digits, at least 4).
    pub one_number: String,
    /// User or receptionist.
    pub role: Role,
    /// Personal data and settings.
    pub profile: Profile,
    /// argon2id PHC string (see [`crate::pin::hash_pin`]).
    pub pin_hash: String,
    /// Whether the PIN must be changed at first login (true for the default 0000).
    pub pin_must_change: bool,
}

/// A SIP device. Only digest HA1 values are stored (RFC 7616 §3.4.2: A1 = username ":" realm
/// ":" passwd), one per algorithm, so the registrar can challenge with MD5 or SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Row id.
    pub id: DeviceId,
    /// Owner.
    pub user_id: UserId,
    /// Desk, soft or mobile.
    pub kind: DeviceKind,
    /// Digest username (unique across the system).
    pub sip_username: String,
    /// Digest realm the HA1 values were computed for.
    pub realm: String,
    /// hex(MD5(username:realm:password)).
    #[serde(skip)]
    pub ha1_md5: String,
    /// hex(SHA-256(username:realm:password)).
    #[serde(skip)]
    pub ha1_sha256: String,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
}

/// A registrar binding (RFC 3261 §10.3) to write: one Contact of one AOR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The AOR's user.
    pub user_id: UserId,
    /// The device whose credentials authenticated the REGISTER.
    pub device_id: Option<DeviceId>,
    /// The Contact URI, as received.
    pub contact_uri: String,
    /// Now + granted expires.
    pub expires_at: DateTime<Utc>,
    /// Call-ID of the REGISTER (§10.3 step 7 compares it with the stored one).
    pub call_id: String,
    /// CSeq of the REGISTER (§10.3 step 7: must increase within a Call-ID).
    pub cseq: u32,
    /// q-value times 1000 (0..=1000).
    pub q_millis: u16,
    /// Source address the REGISTER came from (for NAT: send requests there).
    pub received_addr: String,
    /// Transport it came over ("udp", "tcp", ...).
    pub transport: String,
    /// RFC 5626 `+sip.instance`.
    pub instance_id: Option<String>,
    /// RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    /// RFC 3327 Path of the REGISTER, in order (empty: none): the preloaded Route set of every
    /// request to this binding, which goes to the first entry's address (the proxy holding the
    /// phone's connection or NAT binding).
    pub path: Vec<String>,
    /// The node that accepted the REGISTER (`cluster.node_id`); for a direct TCP binding the
    /// one node holding its connection (README "Running several nodes").
    pub node_id: Option<String>,
}

/// A stored registrar binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Row id.
    pub id: RegistrationId,
    /// The binding itself.
    pub binding: Binding,
    /// When it was last refreshed.
    pub updated_at: DateTime<Utc>,
}

/// An absence (forwarding) of a user over `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Absence {
    /// Row id.
    pub id: AbsenceId,
    /// Everything else.
    #[serde(flatten)]
    pub data: AbsenceData,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// The content of an absence, for creating and updating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbsenceData {
    /// Whose absence.
    pub user_id: UserId,
    /// Why (drives the greeting).
    pub reason: Reason,
    /// Start (inclusive).
    pub starts_at: DateTime<Utc>,
    /// End (exclusive); `None` = until further notice.
    pub ends_at: Option<DateTime<Utc>>,
    /// Where calls go meanwhile.
    pub destination: Destination,
    /// Text shown to colleagues.
    pub free_text: Option<String>,
    /// Text only receptionists see.
    pub receptionist_note: Option<String>,
    /// OL, WEB or a receptionist's initials.
    pub origin: Origin,
    /// The calendar entry this absence came from, if any.
    pub calendar_entry_id: Option<CalendarEntryId>,
    /// Who set it (the user, or a receptionist).
    pub created_by: Option<UserId>,
}

/// A recurring weekly absence ("team meeting Mondays 09:00–10:00").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// Row id.
    pub id: ScheduleId,
    /// Everything else.
    #[serde(flatten)]
    pub data: ScheduleData,
}

/// The content of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleData {
    /// Whose.
    pub user_id: UserId,
    /// On which weekdays.
    pub weekdays: Weekdays,
    /// Local start time.
    pub start: MinuteOfDay,
    /// Local end time (exclusive, after `start`).
    pub end: MinuteOfDay,
    /// Why.
    pub reason: Reason,
    /// Where calls go.
    pub destination: Destination,
    /// Text shown to colleagues.
    pub free_text: Option<String>,
    /// First instant the schedule applies.
    pub valid_from: Option<DateTime<Utc>>,
    /// Instant after which it no longer applies.
    pub valid_until: Option<DateTime<Utc>>,
}

/// A calendar feed of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSource {
    /// Row id.
    pub id: CalendarSourceId,
    /// Whose calendar.
    pub user_id: UserId,
    /// URL or file.
    pub kind: CalendarSourceKind,
    /// The URL or file path.
    pub url: String,
    /// Value of the Authorization header, if the feed needs one.
    pub auth: Option<String>,
    /// ETag of the last fetch (for If-None-Match).
    pub etag: Option<String>,
    /// Last-Modified of the last fetch (for If-Modified-Since).
    pub last_modified: Option<String>,
    /// Why the last sync failed, if it did.
    pub last_error: Option<String>,
    /// When the last sync ran.
    pub last_sync_at: Option<DateTime<Utc>>,
}

/// One calendar entry as a sync read it from the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedEntry {
    /// Whose calendar.
    pub user_id: UserId,
    /// The feed.
    pub source_id: Option<CalendarSourceId>,
    /// RFC 5545 UID.
    pub external_uid: String,
    /// RFC 5545 RECURRENCE-ID of an overridden instance; "" for the master/single entry.
    pub recurrence_id: String,
    /// SUMMARY (may carry a calendar code).
    pub subject: String,
    /// DTSTART.
    pub starts_at: DateTime<Utc>,
    /// DTEND (exclusive).
    pub ends_at: DateTime<Utc>,
    /// A date-only entry.
    pub all_day: bool,
    /// X-MICROSOFT-CDO-BUSYSTATUS.
    pub busy_status: BusyStatus,
}

/// A user's edit of an imported entry; applying it makes the entry `WEB` and `user_edited`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryEdit {
    /// New subject.
    pub subject: String,
    /// New start.
    pub starts_at: DateTime<Utc>,
    /// New end.
    pub ends_at: DateTime<Utc>,
    /// New all-day flag.
    pub all_day: bool,
    /// New busy status.
    pub busy_status: BusyStatus,
    /// A calendar code chosen in the web client, overriding any in the subject.
    pub code_override: Option<String>,
}

/// A stored calendar entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarEntry {
    /// Row id.
    pub id: CalendarEntryId,
    /// Whose calendar.
    pub user_id: UserId,
    /// The feed it came from.
    pub source_id: Option<CalendarSourceId>,
    /// RFC 5545 UID.
    pub external_uid: String,
    /// RFC 5545 RECURRENCE-ID, or "".
    pub recurrence_id: String,
    /// Subject.
    pub subject: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End (exclusive).
    pub ends_at: DateTime<Utc>,
    /// Date-only entry.
    pub all_day: bool,
    /// Free/busy status.
    pub busy_status: BusyStatus,
    /// OL until the user edits it, then WEB.
    pub origin: Origin,
    /// The user changed it; syncs leave it alone.
    pub user_edited: bool,
    /// The user deleted it; kept as a tombstone so syncs do not bring it back.
    pub user_deleted: bool,
    /// Calendar code chosen in the web client.
    pub code_override: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// How long a quick forward lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuickDuration {
    /// A fixed number of minutes from the moment it is pressed.
    Minutes(u32),
    /// Until the end of the user's working day.
    EndOfWorkingDay,
}

/// A quick-forward button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuickForward {
    /// Row id.
    pub id: QuickForwardId,
    /// Whose.
    pub user_id: UserId,
    /// Button text.
    pub label: String,
    /// Reason of the absence it creates.
    pub reason: Reason,
    /// How long.
    pub duration: QuickDuration,
    /// Where calls go.
    pub destination: Destination,
    /// One of the five defaults seeded for every user.
    pub is_default: bool,
    /// Order on screen.
    pub position: i64,
}

/// Input for a user-defined quick forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuickForward {
    /// Whose.
    pub user_id: UserId,
    /// Button text.
    pub label: String,
    /// Reason.
    pub reason: Reason,
    /// How long.
    pub duration: QuickDuration,
    /// Where calls go.
    pub destination: Destination,
}

/// A saved forwarding destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedDestination {
    /// Row id.
    pub id: SavedDestinationId,
    /// Whose.
    pub user_id: UserId,
    /// Display label.
    pub label: String,
    /// Group, colleague or external.
    pub kind: SavedDestinationKind,
    /// The number.
    pub number: String,
}

/// Per-user voicemail options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoicemailSettings {
    /// The language offered by key 5 ("For English press 5", said in that language); `None` = off.
    pub secondary_lang: Option<Lang>,
    /// Whether callers may leave messages.
    pub allow_messages: bool,
    /// Whether key 9 is offered ("Press 9 for reception").
    pub receptionist_option: bool,
    /// Group reached by 9 (else the organisation's).
    pub receptionist_group_number: Option<String>,
    /// Play the user's own recorded name.
    pub use_own_name: bool,
    /// Play the user's own recorded greeting.
    pub use_own_greeting: bool,
    /// Retrieval jumps straight to the newest unheard message.
    pub quick_listen: bool,
    /// How to notify of a new message.
    pub notify_channel: NotifyChannel,
    /// Attach the audio to the e-mail.
    pub attach_audio: bool,
    /// Longest message recorded.
    pub max_message_secs: u32,
    /// Ask for the PIN even when calling from one's own device.
    pub pin_required_from_own_device: bool,
}

impl Default for VoicemailSettings {
    /// Messages on, notification by e-mail with the audio, 3 minutes, PIN always asked.
    fn default() -> Self {
        VoicemailSettings {
            secondary_lang: None,
            allow_messages: true,
            receptionist_option: false,
            receptionist_group_number: None,
            use_own_name: false,
            use_own_greeting: false,
            quick_listen: false,
            notify_channel: NotifyChannel::Email,
            attach_audio: true,
            max_message_secs: 180,
            pin_required_from_own_device: true,
        }
    }
}

/// A voicemail message (without its audio; see `Store::voicemail_audio`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoicemailMessage {
    /// Row id.
    pub id: VoicemailId,
    /// Mailbox owner.
    pub user_id: UserId,
    /// Calling number, if presented.
    pub caller_number: Option<String>,
    /// Calling name, if presented.
    pub caller_name: Option<String>,
    /// When it was left.
    pub received_at: DateTime<Utc>,
    /// Length of the audio.
    pub duration_ms: u64,
    /// New, read or saved.
    pub state: MessageState,
}

/// Input for storing a voicemail message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVoicemail {
    /// Mailbox owner.
    pub user_id: UserId,
    /// Calling number.
    pub caller_number: Option<String>,
    /// Calling name.
    pub caller_name: Option<String>,
    /// When it was left.
    pub received_at: DateTime<Utc>,
    /// Length of the audio.
    pub duration_ms: u64,
    /// The WAV file bytes.
    pub audio: Vec<u8>,
}

/// The sender of a written message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// A colleague (user of the system).
    User(UserId),
    /// Someone outside, by name and/or number.
    External(String),
}

/// A written (e-mail/SMS) message shown in the voicemail list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenMessage {
    /// Row id.
    pub id: WrittenMessageId,
    /// Recipient.
    pub to_user_id: UserId,
    /// Sender.
    pub from: Sender,
    /// Delivery channel.
    pub channel: MessageChannel,
    /// Text.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// New, read or saved.
    pub state: MessageState,
}

/// A call-history record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// Row id.
    pub id: CallRecordId,
    /// Everything else.
    #[serde(flatten)]
    pub data: CallData,
}

/// The content of a call-history record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallData {
    /// Whose history.
    pub user_id: UserId,
    /// In, out or missed.
    pub direction: CallDirection,
    /// The other party's number.
    pub other_number: String,
    /// The other party's name, if known.
    pub other_name: Option<String>,
    /// When the call started (INVITE).
    pub started_at: DateTime<Utc>,
    /// When it was answered (2xx).
    pub answered_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// What the router did ("ring", "voicemail", "forward:4570...", ...).
    pub route: Option<String>,
}

/// A personal contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// Row id.
    pub id: ContactId,
    /// Everything else.
    #[serde(flatten)]
    pub data: ContactData,
}

/// The content of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactData {
    /// Owner.
    pub owner_user_id: UserId,
    /// Name.
    pub name: String,
    /// Company.
    pub company: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Landline number.
    pub phone_number: Option<String>,
    /// Mobile number.
    pub mobile_number: Option<String>,
}

/// A receptionist's standard message (a canned text for written messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandardMessage {
    /// Row id.
    pub id: StandardMessageId,
    /// The organisation.
    pub org_id: OrgId,
    /// The text.
    pub text: String,
    /// The receptionist who wrote it.
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A hunt or receptionist group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Row id.
    pub id: GroupId,
    /// The organisation.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// The group's number.
    pub number: String,
    /// Hunt or receptionist.
    pub kind: GroupKind,
}

/// A web-client session; only the SHA-256 of the bearer token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSession {
    /// hex(SHA-256(token)).
    pub token_hash: String,
    /// The logged-in user.
    pub user_id: UserId,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Serialises a timezone as its IANA name (chrono-tz's own serde support is not enabled).
fn serialize_tz<S: serde::Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}
