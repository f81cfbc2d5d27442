//! The output of [`decide`](super::decide): what the B2BUA does with the call.
//!
//! A route always ends somewhere a caller is told something true: ringing ends in voicemail
//! ([`after_ring`](super::after_ring)), forwarding is refused when it would loop, and voicemail
//! always knows what to say ([`GreetingStatus`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{Origin, Reason};

/// What to do with an incoming call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Fork the INVITE to every target in parallel (RFC 3261 §16.7 style parallel search, done by
    /// the B2BUA as one B leg per target); on no answer within `timeout`, or when every target is
    /// busy, continue with [`after_ring`](super::after_ring) and `fallback`.
    Ring {
        /// Where to ring, in no particular order (all at once).
        targets: Vec<RingTarget>,
        /// How long to ring before giving up (the user's no-answer timeout, clamped to sane
        /// bounds).
        timeout: Duration,
        /// What voicemail says if nobody answers.
        fallback: VoicemailInfo,
    },
    /// Forward the call to another number, with a Diversion (RFC 5806) / History-Info (RFC 7044)
    /// entry saying why.
    Forward {
        /// The number to forward to, as the user entered it.
        number: String,
        /// The RFC 5806 diversion reason for the header.
        reason: DiversionReason,
        /// The absence that caused the forward, for logs and presence.
        absence: AbsenceContext,
    },
    /// Answer with OneVoicemail straight away.
    Voicemail(VoicemailInfo),
}

/// One leg of a parallel ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingTarget {
    /// A registered SIP device, reached at its Contact URI.
    Device {
        /// The registered Contact URI.
        contact: String,
        /// Desk phone or softphone.
        kind: crate::routing::DeviceKind,
    },
    /// The user's mobile, reached through the trunk.
    Mobile {
        /// The mobile number.
        number: String,
    },
}

/// What OneVoicemail needs to greet the caller truthfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicemailInfo {
    /// What the greeting says about the user.
    pub status: GreetingStatus,
    /// Whether the caller may leave a message after the greeting.
    pub allow_messages: bool,
}

/// The status part of the stitched greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GreetingStatus {
    /// "<name> is on the phone."
    OnThePhone,
    /// "<name> is at lunch and will be back at 12:30." / "… is away until further notice."
    Absent {
        /// Why the user is away.
        reason: Reason,
        /// When the user is really back: the end of the merged chain of busy periods; `None`
        /// is "until further notice". Always after the routing instant when present.
        back_at: Option<DateTime<Utc>>,
        /// The absence's free text, for the IVR to use if it chooses; calendar subjects are never
        /// passed here because callers must not hear them.
        free_text: Option<String>,
    },
    /// "<name> is not available." — no answer, nothing registered, no absence to tell about.
    NotAvailable,
}

/// The absence behind a forward, for logging and the presence view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsenceContext {
    /// Why the user is away.
    pub reason: Reason,
    /// When the user is back (merged chain end), `None` for until further notice.
    pub back_at: Option<DateTime<Utc>>,
    /// Free text shown to colleagues.
    pub free_text: Option<String>,
    /// Who set it (`OL`, `WEB`, initials).
    pub origin: Origin,
    /// Which stored item caused the routing.
    pub source: Source,
}

/// The stored item a routing decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An ad hoc absence, by id.
    Absence(i64),
    /// A weekly schedule, by id.
    Schedule(i64),
    /// A calendar entry, by id.
    Calendar(i64),
}

/// Why a call was diverted, as the `reason` parameter of the Diversion header (RFC 5806 §4.1).
/// The SIP layer maps it to a History-Info `cause` (RFC 4458, RFC 7544) when it sends that
/// header instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiversionReason {
    /// "unknown": diverted for an unknown reason.
    Unknown,
    /// "user-busy": the user was busy.
    UserBusy,
    /// "no-answer": the call was not answered.
    NoAnswer,
    /// "unavailable": the user is unavailable (unregistered, out of service).
    Unavailable,
    /// "unconditional": diverted unconditionally (call forwarding unconditional, CFU) — what
    /// an ad hoc absence or a calendar entry forwarding to a number is at the moment of the
    /// call, and the reason every receiving PBX understands.
    Unconditional,
    /// "time-of-day": diverted by a time-of-day rule — what our weekly schedules are.
    TimeOfDay,
    /// "do-not-disturb": the user asked not to be disturbed.
    DoNotDisturb,
    /// "deflection": deflected by the user while alerting.
    Deflection,
    /// "follow-me": diverted by a follow-me service.
    FollowMe,
    /// "out-of-service": the called party is out of service.
    OutOfService,
    /// "away": the user is away.
    Away,
}

impl DiversionReason {
    /// The token for the Diversion header's `reason=` parameter (RFC 5806 §4.1).
    pub fn as_str(self) -> &'static str {
        match self {
            DiversionReason::Unknown => "unknown",
            DiversionReason::UserBusy => "user-busy",
            DiversionReason::NoAnswer => "no-answer",
            DiversionReason::Unavailable => "unavailable",
            DiversionReason::Unconditional => "unconditional",
            DiversionReason::TimeOfDay => "time-of-day",
            DiversionReason::DoNotDisturb => "do-not-disturb",
            DiversionReason::Deflection => "deflection",
            DiversionReason::FollowMe => "follow-me",
            DiversionReason::OutOfService => "out-of-service",
            DiversionReason::Away => "away",
        }
    }
}

impl std::fmt::Display for DiversionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a parallel ring ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingOutcome {
    /// Nobody answered within the timeout (or every leg failed without a busy response).
    NoAnswer,
    /// Every leg answered 486 Busy Here / 600 Busy Everywhere (RFC 3261 §21.4.24, §21.6.1).
    AllBusy,
}
