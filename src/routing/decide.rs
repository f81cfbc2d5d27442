//! The routing decision itself: [`decide`] once per incoming call, [`after_ring`] when ringing
//! ends unanswered. The precedence is documented on the [`routing`](super) module.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::forward_loop::{check_forward, diverted_from};
use super::precedence::{Effect, Winner};
use super::presence::{standing, Standing};
use super::route::{
    AbsenceContext, DiversionReason, GreetingStatus, RingOutcome, RingTarget, Route, Source,
    VoicemailInfo,
};
use super::state::{CallContext, UserState};

/// The shortest ring we use, whatever the user set: below this a desk phone barely chirps
/// before voicemail answers, which callers and users both read as a fault.
pub const MIN_RING_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest ring we use: RFC 3261 Timer C (§16.6 step 11) is "greater than 3 minutes" for
/// proxies; a B2BUA that rang longer would hold the caller in a void.
pub const MAX_RING_TIMEOUT: Duration = Duration::from_secs(180);

/// How many legs one call may fork to. Registrations are bounded by the registrar, but a stale
/// pile of bindings must not turn one call into a storm of INVITEs.
pub const MAX_RING_TARGETS: usize = 16;

/// Decides what happens to `call`, made to the user described by `state`, at instant `now`.
///
/// Pure: no I/O and no clock, so the same inputs always give the same route.
pub fn decide(state: &UserState, now: DateTime<Utc>, call: &CallContext) -> Route {
    let allow_messages = state.voicemail.allow_messages;
    // The same standing the presence view and the timeline are built from (see
    // [`presence`](super::presence)): who speaks for the user now, and when they are back.
    let Some(Standing {
        winner: w,
        back_at: back,
    }) = standing(state, now)
    else {
        return ring(
            state,
            call,
            VoicemailInfo {
                status: GreetingStatus::NotAvailable,
                allow_messages,
            },
        );
    };
    match w.effect {
        Effect::Voicemail => Route::Voicemail(VoicemailInfo {
            status: absent(&w, back),
            allow_messages,
        }),
        Effect::Forward(number) => {
            if check_forward(number, call).is_some() {
                // Forwarding would loop (rule 7): voicemail still tells the truth.
                return Route::Voicemail(VoicemailInfo {
                    status: absent(&w, back),
                    allow_messages,
                });
            }
            Route::Forward {
                number: number.to_owned(),
                reason: diversion_reason(w.source),
                absence: AbsenceContext {
                    reason: w.reason,
                    back_at: back,
                    free_text: w.free_text.map(str::to_owned),
                    origin: w.origin.clone(),
                    source: w.source,
                },
            }
        }
        // "Keep phone open" (rule 2): ring, and if nobody answers say the absence and when it
        // (and whatever follows it) ends.
        Effect::Open => ring(
            state,
            call,
            VoicemailInfo {
                status: absent(&w, back),
                allow_messages,
            },
        ),
    }
}

/// What to do when a [`Route::Ring`] ended without an answer: voicemail, with the ring's
/// `fallback` greeting on no answer, and "is on the phone" when every device was busy (a 486
/// from every leg means the user is on a call we were not in the path of, e.g. a mobile call
/// placed outside OneStatus).
pub fn after_ring(outcome: RingOutcome, fallback: &VoicemailInfo) -> Route {
    match outcome {
        RingOutcome::NoAnswer => Route::Voicemail(fallback.clone()),
        RingOutcome::AllBusy => Route::Voicemail(VoicemailInfo {
            status: GreetingStatus::OnThePhone,
            allow_messages: fallback.allow_messages,
        }),
    }
}

/// Rules 5 and 6: the user is reachable as far as absences go; ring them unless they are on
/// the phone, or have nothing to ring.
fn ring(state: &UserState, call: &CallContext, fallback: VoicemailInfo) -> Route {
    let user = &state.user;
    if state.active_calls > 0 && !user.allow_second_call {
        return Route::Voicemail(VoicemailInfo {
            status: GreetingStatus::OnThePhone,
            allow_messages: fallback.allow_messages,
        });
    }
    let mut targets: Vec<RingTarget> =
        Vec::with_capacity(user.devices.len().min(MAX_RING_TARGETS) + 1);
    for device in &user.devices {
        let contact = device.contact.trim();
        let duplicate = targets
            .iter()
            .any(|t| matches!(t, RingTarget::Device { contact: c, .. } if c == contact));
        if contact.is_empty() || duplicate {
            continue;
        }
        if targets.len() == MAX_RING_TARGETS {
            break;
        }
        targets.push(RingTarget::Device {
            contact: contact.to_owned(),
            kind: device.kind,
        });
    }
    if let Some(mobile) = user
        .mobile
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        // Do not ring the mobile if the call came from it: its own no-answer forward to the
        // OneNumber would otherwise bounce the call back and forth.
        if !diverted_from(mobile, call) && targets.len() < MAX_RING_TARGETS {
            targets.push(RingTarget::Mobile {
                number: mobile.to_owned(),
            });
        }
    }
    if targets.is_empty() {
        return Route::Voicemail(fallback);
    }
    Route::Ring {
        targets,
        timeout: user
            .no_answer_timeout
            .clamp(MIN_RING_TIMEOUT, MAX_RING_TIMEOUT),
        fallback,
    }
}

/// The greeting status for an absence.
fn absent(w: &Winner<'_>, back_at: Option<DateTime<Utc>>) -> GreetingStatus {
    GreetingStatus::Absent {
        reason: w.reason,
        back_at,
        free_text: w.free_text.map(str::to_owned),
    }
}

/// The RFC 5806 reason for a forward: a weekly schedule is a time-of-day rule; an ad hoc
/// absence or a calendar entry forwards every call while it lasts, which is unconditional.
fn diversion_reason(source: Source) -> DiversionReason {
    match source {
        Source::Schedule(_) => DiversionReason::TimeOfDay,
        Source::Absence(_) | Source::Calendar(_) => DiversionReason::Unconditional,
    }
}
