//! Routing: what happens to a call to a user's OneNumber, decided from the user's state at the
//! instant the INVITE arrives — the product's core promise that a caller never rings into a
//! void.
//!
//! In the call flow this sits between the B2BUA's A leg and everything else: the B2BUA receives
//! an INVITE (RFC 3261 §13), loads the [`UserState`], asks [`decide`] once with the clock's
//! `now`, and then rings ([`Route::Ring`]), forwards with a Diversion header (RFC 5806,
//! [`Route::Forward`]) or hands the call to OneVoicemail ([`Route::Voicemail`]). When ringing
//! ends unanswered it asks [`after_ring`]. Everything here is pure — no I/O, no clock — so every
//! rule below is a unit test with a set clock.
//!
//! # Precedence
//!
//! 1. **Who speaks for the user.** Ad hoc absences (set by the user on the web or by phone, or
//!    by a receptionist) in force at `now` beat weekly schedule occurrences, which beat calendar
//!    entries. The first tier with anything in force decides. Within a tier the most recently
//!    set item wins the destination and reason (calendar entries, which have no "set" time:
//!    entries that take calls away beat "keep open", then the latest-starting entry; see
//!    [`precedence`]).
//! 2. **Keep phone open.** A winner with [`Destination::Open`] rings the user although they
//!    are shown as absent; if nobody answers, voicemail tells the absence and when it ends.
//! 3. **Calendar.** Free and Tentative never route; Busy and Out of office send calls to
//!    voicemail announcing Meeting / OutOfOffice (or the code's reason); WorkingElsewhere keeps
//!    the phone open and is not announced (the user is reachable). Calendar codes override:
//!    `Ignore` → as if the entry did not exist, `KeepOpen` → ring, `Forward(n)` → forward to
//!    `n` whatever the busy status. See [`calendar`].
//! 4. **Back at.** Callers are told when the user is *really* back: the end of the merged chain
//!    of overlapping or touching busy periods (absences, schedule occurrences, routing calendar
//!    entries) around the one in force, evaluated with this same precedence; an open-ended
//!    period in the chain gives "until further notice" (`None`). Always after `now`. See
//!    [`back_at`].
//! 5. **On the phone.** When nothing takes the calls away (no winner, or a "keep open" winner)
//!    and the user is already on a call without allowing a second one, the caller hears "is on
//!    the phone". An absence that sends calls to voicemail or forwards them wins over this: it
//!    says where the user is, and a forward reaches someone who can answer.
//! 6. **Ring.** Otherwise all registered devices and the mobile ring in parallel for the user's
//!    no-answer timeout (clamped to [`MIN_RING_TIMEOUT`]..=[`MAX_RING_TIMEOUT`]); on no answer or
//!    all busy, [`after_ring`] goes to voicemail. With no device and no mobile the call goes
//!    straight to voicemail: "is not available" (or the open absence). A mobile the call was
//!    already diverted from is not rung again.
//! 7. **Loops.** A forward whose target the call was already diverted from, which is the dialled
//!    number, or that would exceed [`MAX_FORWARD_HOPS`] diversions is refused; the call goes to
//!    voicemail with the absence's greeting instead. See [`forward_loop`].
//!
//! Periods are half-open (`[start, end)`, like RFC 5545 `DTEND`) everywhere, so an item ending
//! at 10:00 and another starting at 10:00 touch without overlapping. Schedules and working hours
//! are local times in the user's zone, resolved across DST as RFC 5545 §3.3.5 says (see
//! [`schedule`] and [`local_time`]).

pub mod absence;
pub mod back_at;
pub mod calendar;
pub mod decide;
pub mod forward_loop;
pub mod group;
pub mod local_time;
pub mod precedence;
pub mod presence;
pub mod quick_forward;
pub mod route;
pub mod schedule;
pub mod state;
pub mod working_time;

#[cfg(test)]
mod tests;

pub use decide::{after_ring, decide, MAX_RING_TARGETS, MAX_RING_TIMEOUT, MIN_RING_TIMEOUT};
pub use forward_loop::MAX_FORWARD_HOPS;
pub use presence::{presence, timeline, Presence, ShownAbsence, Status, TimelineItem};
pub use quick_forward::{quick_forward_period, QuickForward};
pub use route::{
    AbsenceContext, DiversionReason, GreetingStatus, RingOutcome, RingTarget, Route, Source,
    VoicemailInfo,
};
pub use state::{
    Absence, CalendarEntry, CalendarOverride, CallContext, Destination, Device, DeviceKind,
    Schedule, User, UserState, VoicemailSettings, WorkingDay, WorkingHours,
};
