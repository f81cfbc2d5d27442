//! The inputs of [`decide`](super::decide): a snapshot of one user's state and the context of
//! the call being routed.
//!
//! These types are deliberately independent of the store: the store layer converts its rows into
//! them, so the routing core can be tested (and benchmarked) from plain values, and a schema
//! change cannot silently change a routing rule.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::{BusyStatus, DestinationKind, Origin, Reason};

/// Everything `decide` needs to know about the called user at the instant of the call.
#[derive(Debug, Clone, PartialEq)]
pub struct UserState {
    /// Who is called and how they can be reached.
    pub user: User,
    /// Ad hoc absences (forwardings) set by the user, a receptionist, by phone or imported and
    /// edited; the highest tier of the precedence.
    pub absences: Vec<Absence>,
    /// Recurring weekly absences ("team meeting Mon 9–10"); the middle tier.
    pub schedules: Vec<Schedule>,
    /// Entries imported one way from Exchange/Outlook; the lowest tier.
    pub calendar: Vec<CalendarEntry>,
    /// Calls the user is on right now, desk and mobile. The B2BUA is in the call path of both,
    /// so this is known rather than guessed (product: "Phone state").
    pub active_calls: u32,
    /// The user's OneVoicemail settings that change what the route says.
    pub voicemail: VoicemailSettings,
}

/// The called user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The store's key for the user; carried so the drivers can log and look up the mailbox.
    pub id: i64,
    /// Display name, used by the greeting when no own recorded name exists.
    pub name: String,
    /// The user's time zone: schedules, working hours and "gone for today" are local times.
    pub timezone: Tz,
    /// Registered SIP devices (desk phones, softphones), rung in parallel.
    pub devices: Vec<Device>,
    /// The user's mobile number, rung in parallel with the devices when present.
    pub mobile: Option<String>,
    /// How long to ring before going to voicemail (RFC 3261 §13.3.1.1 leaves this to the UAS).
    pub no_answer_timeout: Duration,
    /// Whether a second call may ring the user while they are on a call (call waiting). When
    /// false, the caller hears "is on the phone" instead.
    pub allow_second_call: bool,
    /// Working hours, used by the "gone for today" quick forward.
    pub working_hours: WorkingHours,
}

/// A registered device of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The Contact URI the device registered (RFC 3261 §10), where the INVITE is sent.
    pub contact: String,
    /// What kind of device it is; carried to the B2BUA for logging and per-kind behaviour.
    pub kind: DeviceKind,
}

/// The kind of a registered device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A desk phone.
    Desk,
    /// A softphone or app registered over SIP.
    Softphone,
}

/// The user's working hours, one optional span per weekday, in the user's local time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkingHours {
    /// Indexed by `Weekday::num_days_from_monday()`; `None` is a day off.
    pub days: [Option<WorkingDay>; 7],
}

/// The working span of one day, in local time. An `end` at or before `start` ends on the next
/// day (a night shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingDay {
    /// Local time work starts.
    pub start: NaiveTime,
    /// Local time work ends.
    pub end: NaiveTime,
}

impl WorkingHours {
    /// The same hours Monday to Friday, weekends off — the common Danish office week.
    pub fn weekdays(start: NaiveTime, end: NaiveTime) -> Self {
        let day = Some(WorkingDay { start, end });
        Self {
            days: [day, day, day, day, day, None, None],
        }
    }

    /// The working span of `weekday`, if it is a working day.
    pub fn on(&self, weekday: Weekday) -> Option<WorkingDay> {
        self.days[weekday.num_days_from_monday() as usize]
    }
}

/// The user's voicemail settings that routing carries into the voicemail route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoicemailSettings {
    /// Whether callers may leave a message. When false, OneVoicemail still answers and tells the
    /// caller the status — a caller never rings into a void — but does not record.
    pub allow_messages: bool,
}

impl Default for VoicemailSettings {
    fn default() -> Self {
        Self {
            allow_messages: true,
        }
    }
}

/// An ad hoc absence ("Viderestil min telefon"): a reason, a period and a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Absence {
    /// The store's key, carried into the route so the drivers can say which absence routed.
    pub id: i64,
    /// Why the user is away; drives the greeting.
    pub reason: Reason,
    /// When the absence takes effect.
    pub starts_at: DateTime<Utc>,
    /// When it ends; `None` is "until further notice" ("Indtil videre").
    pub ends_at: Option<DateTime<Utc>>,
    /// Where calls go while it is in force.
    pub destination: Destination,
    /// Text shown to colleagues.
    pub free_text: Option<String>,
    /// Who set it: shown to colleagues as `OL`, `WEB` or initials.
    pub origin: Origin,
    /// When it was set or last edited; among absences in force at once, the most recently set
    /// one decides the destination.
    pub set_at: DateTime<Utc>,
}

/// Where calls go while an absence, schedule or overridden calendar entry is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// To OneVoicemail, which tells the caller the reason and when the user is back.
    Voicemail,
    /// Forwarded to a number: a colleague, a group or an external number.
    Number(String),
    /// "Keep phone open": shown to colleagues, but calls still ring the user.
    Open,
}

impl Destination {
    /// The shared vocabulary's name for this destination (what the store and API carry).
    pub fn kind(&self) -> DestinationKind {
        match self {
            Destination::Voicemail => DestinationKind::Voicemail,
            Destination::Number(_) => DestinationKind::Number,
            Destination::Open => DestinationKind::Open,
        }
    }
}

/// A weekly recurring absence ("Skema"): on the given weekdays, from `start` to `end` local time.
///
/// The recurrence is in the user's local time zone so that "Monday 9–10" stays 9–10 on the wall
/// clock across daylight-saving changes; see [`schedule`](super::schedule) for the expansion.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The store's key.
    pub id: i64,
    /// The weekdays on which an occurrence *starts*.
    pub weekdays: Vec<Weekday>,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time. At or before `start`, the occurrence ends on the following day (crosses
    /// midnight); equal to `start` is a whole 24-hour day.
    pub end: NaiveTime,
    /// First local date an occurrence may start on (inclusive); `None` is "since always".
    pub valid_from: Option<NaiveDate>,
    /// Last local date an occurrence may start on (inclusive); `None` is "for ever".
    pub valid_until: Option<NaiveDate>,
    /// Why the user is away.
    pub reason: Reason,
    /// Where calls go during an occurrence.
    pub destination: Destination,
    /// Text shown to colleagues.
    pub free_text: Option<String>,
    /// Who set it.
    pub origin: Origin,
    /// When it was set; the tie-break among schedules in force at once.
    pub set_at: DateTime<Utc>,
}

/// An entry imported from Exchange/Outlook, possibly edited in our system.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarEntry {
    /// The store's key.
    pub id: i64,
    /// Start instant. For all-day entries the importer has already resolved the date to the
    /// user's local midnight, so routing sees only instants.
    pub start: DateTime<Utc>,
    /// End instant (exclusive, as `DTEND` in RFC 5545 §3.6.1).
    pub end: DateTime<Utc>,
    /// Exchange's free/busy status (`X-MICROSOFT-CDO-BUSYSTATUS`).
    pub busy: BusyStatus,
    /// The subject as imported; shown to colleagues, never read out to callers.
    pub subject: String,
    /// Whether Exchange marked the entry as all-day; informational for the greeting.
    pub all_day: bool,
    /// The calendar code found in the subject, already parsed by the calendar module.
    pub override_code: Option<CalendarOverride>,
    /// `OL` as imported, `WEB` once edited in our system.
    pub origin: Origin,
}

/// A calendar code in an entry's subject: the user's per-entry override of the default
/// busy-status mapping. Parsing the codes is the calendar module's job; routing only obeys them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarOverride {
    /// Keep the phone open during the entry even though it is Busy/Out of office.
    KeepOpen,
    /// Forward calls to this number during the entry.
    Forward(String),
    /// Treat the entry as if it did not exist (a reminder, a note to self).
    Ignore,
    /// Route as the busy status says, but announce this reason instead of the default.
    Reason(Reason),
}

/// What the B2BUA knows about the incoming call being routed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallContext {
    /// The caller's number (From user part or P-Asserted-Identity), when known.
    pub caller: Option<String>,
    /// Whether the caller is a colleague in the same organisation; the IVR uses it to offer the
    /// secondary language only to external callers.
    pub is_internal: bool,
    /// The number the caller dialled (the user's OneNumber, or the number that forwarded here).
    pub dialled: String,
    /// Numbers this call has already been diverted from, oldest first, from the Diversion
    /// (RFC 5806) or History-Info (RFC 7044) headers. Used to refuse forwarding loops.
    pub history: Vec<String>,
    /// How many times the call has already been diverted, as counted by the headers (may exceed
    /// `history.len()` when a peer only sends a counter, RFC 5806 `counter=`).
    pub forwarded_hops: u32,
}
