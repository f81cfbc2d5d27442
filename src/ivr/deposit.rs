//! The caller's side of OneVoicemail: the stitched greeting that tells the truth about the
//! user, the options (secondary language, receptionist), and the message recording.
//!
//! In the call flow: the B2BUA answers the A leg with OneVoicemail when [`crate::routing`]
//! says so (straight away or after ringing), builds a [`Deposit`] from the route's
//! [`GreetingStatus`] and the user's voicemail settings, and drives it with media events.
//!
//! ```text
//! Welcome ─▶ OwnGreeting? ─▶ Options? ─┬▶ LeaveMessage ─▶ Recording ─▶ Saving ─▶ Goodbye (thanks)
//!   ▲  5: language switch              │                     │ no speech ─▶ TooShort
//!   └──────────────────────────────────┤ (no messages) ─▶ AwaitOption? ─▶ Goodbye
//!                     9: Transfer ◀────┘  #: straight to the tone
//! ```
//!
//! A message is never lost to a hang-up: a caller who hangs up while recording still leaves
//! the message (if it holds speech, `media::vad::MIN_SPEECH`), and the save runs to its end
//! whatever the caller does meanwhile.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::action::{Action, Prompt, StoreRequest};
use super::event::{Event, RecordingEnd, StoreReply};
use super::outbox::Outbox;
use crate::domain::model::{RecordingKind, UserId};
use crate::domain::Lang;
use crate::media::dtmf::Digit;
use crate::media::vad::MIN_SPEECH;
use crate::routing::GreetingStatus;
use crate::speech::fragment as f;
use crate::speech::sentences::SENTENCE_PAUSE;
use crate::speech::{self, Piece, Utterance};

/// "For English press 5." The digit is recorded in the offer's fragment
/// (`for_<language>_press_5`): changing the key means regenerating those prompts.
pub const LANGUAGE_KEY: Digit = Digit::Five;
/// "Press 9 for reception." The digit is recorded in `press_9_for_reception`, as above.
pub const RECEPTIONIST_KEY: Digit = Digit::Nine;
/// How long past the maximum length the machine waits for the recorder to end the recording
/// by itself before it sends `StopRecording` (the record tone and packet jitter come first).
pub const RECORDING_GRACE: Duration = Duration::from_secs(2);
/// How long the machine waits for `RecordingDone` after `StopRecording` before it saves
/// anyway, with the duration it measured itself: a recorder that never answers must not
/// lose the message or hold the call.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long the caller waits for "thank you" while the message is stored; after this the
/// caller hears a plain goodbye and the driver finishes the save on its own.
pub const SAVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the deposit needs to know, gathered by the driver when the call reaches
/// voicemail.
#[derive(Debug, Clone, PartialEq)]
pub struct DepositSetup {
    /// The mailbox owner.
    pub user: UserId,
    /// The owner's prompt language (the call starts in it).
    pub lang: Lang,
    /// The owner's timezone: "back at 14:30" and "today" are the owner's.
    pub timezone: Tz,
    /// What the greeting says about the owner, from the routing decision.
    pub status: GreetingStatus,
    /// Whether callers may leave a message.
    pub allow_messages: bool,
    /// Play the owner's recorded name rather than the generated one.
    pub own_name: bool,
    /// Play the owner's recorded greeting after the status.
    pub own_greeting: bool,
    /// Offered to external callers: "For English press 5".
    pub secondary_lang: Option<Lang>,
    /// The receptionist group's number, when "to reach the receptionist, press 9" is on.
    pub receptionist: Option<String>,
    /// Who is calling.
    pub caller: Caller,
    /// Recording limits.
    pub limits: RecordingLimits,
    /// With messages off but options offered: how long to wait for a key after the offers.
    pub option_wait: Duration,
}

/// The calling party, as the INVITE presented it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    /// Calling number, stored with the message and read out in its envelope.
    pub number: Option<String>,
    /// Calling display name, stored with the message.
    pub name: Option<String>,
    /// From outside the organisation (through the trunk): only they get the language offer,
    /// since colleagues share the organisation's language.
    pub external: bool,
}

/// Recording limits (`[calls]` in the configuration, `max_message_secs` per user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingLimits {
    /// Longest message.
    pub max: Duration,
    /// Shortest message kept; shorter ones are discarded (a caller who hangs up at the tone).
    pub min: Duration,
    /// Continuous silence that ends a message.
    pub silence: Duration,
}

impl Default for RecordingLimits {
    /// 3 minutes, 1 second, 5 seconds (the product's defaults).
    fn default() -> Self {
        RecordingLimits {
            max: Duration::from_secs(180),
            min: Duration::from_secs(1),
            silence: Duration::from_secs(5),
        }
    }
}

/// Where the deposit is: one variant per prompt position.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// "<name> is in a meeting and will be back at 14:30."
    Welcome,
    /// The owner's own recorded greeting.
    OwnGreeting,
    /// "For English press 5. Press 9 for reception."
    Options,
    /// Messages are off: waiting a few seconds for 5 or 9 after the offers.
    AwaitOption,
    /// "Leave a message after the tone."
    LeaveMessage,
    /// Tone played, recording.
    Recording {
        /// When recording started, for the guard timer and a measured duration.
        started: Instant,
        /// The same instant on the wall clock: the message's time.
        received_at: DateTime<Utc>,
    },
    /// `StopRecording` sent, waiting for `RecordingDone`.
    Stopping {
        /// As in `Recording`.
        started: Instant,
        /// As in `Recording`.
        received_at: DateTime<Utc>,
        /// Why the machine stopped it.
        why: RecordingEnd,
    },
    /// "Your message was too short and has not been saved. Goodbye." (too little speech)
    TooShort,
    /// `SaveMessage` sent, waiting for the store.
    Saving,
    /// "Thank you for your message. Goodbye." (`thanks`) or "Goodbye."
    Goodbye {
        /// Whether a message was saved.
        thanks: bool,
    },
    /// Transfer asked for; the caller hears ringback from the driver until the destination
    /// answers (the call leaves us) or not ([`Event::TransferFailed`]: back to the message).
    Transferring,
    /// Nothing more to do (hung up, transferred, or the caller has gone).
    Finished,
}

/// The deposit IVR of one call. Sans-I/O: feed [`Deposit::handle`], drain
/// [`Deposit::poll_action`], sleep until [`Deposit::poll_timeout`].
#[derive(Debug)]
pub struct Deposit {
    /// The call's facts.
    setup: DepositSetup,
    /// The language prompts are spoken in now (changes when the caller presses 5).
    lang: Lang,
    /// The caller has switched to the secondary language (the offer is not repeated).
    switched: bool,
    /// The owner's greeting has been heard to its end (not replayed after a switch).
    greeting_heard: bool,
    /// The caller has hung up; the machine finishes saving, silently.
    caller_gone: bool,
    /// The store has confirmed the message (Notify sent once).
    saved: bool,
    /// Where we are.
    state: State,
    /// Actions, prompt and deadline bookkeeping.
    out: Outbox,
}

impl Deposit {
    /// Starts the deposit: the greeting's first prompt is ready to poll. `wall` is the
    /// wall-clock time at `now`.
    pub fn new(now: Instant, wall: DateTime<Utc>, setup: DepositSetup) -> Self {
        let mut deposit = Deposit {
            lang: setup.lang,
            setup,
            switched: false,
            greeting_heard: false,
            caller_gone: false,
            saved: false,
            state: State::Finished,
            out: Outbox::new(now, wall),
        };
        deposit.enter(now, State::Welcome);
        deposit
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Digit(digit) => {
                self.out.key_pressed();
                self.on_digit(now, digit);
            }
            Event::PromptDone(id) => {
                if self.out.prompt_done(id) {
                    self.on_prompt_done(now);
                }
            }
            Event::RecordingDone {
                duration_ms,
                speech_ms,
                ended_by,
            } => self.on_recording_done(now, duration_ms, speech_ms, ended_by),
            Event::Hangup => self.on_hangup(now),
            Event::Timeout => {
                if self.out.timed_out(now) {
                    self.on_timeout(now);
                }
            }
            Event::StoreReply(reply) => self.on_store_reply(now, reply),
            Event::TransferFailed => {
                if self.state == State::Transferring {
                    // Back to voicemail: straight to "leave a message", or goodbye.
                    self.after_options(now);
                }
            }
        }
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop()
    }

    /// When to send [`Event::Timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.out.deadline()
    }

    /// True when the machine has nothing more to do (after draining `poll_action`).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The language prompts are spoken in now.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The secondary language, if it is on offer to this caller now.
    fn language_offer(&self) -> Option<Lang> {
        self.setup
            .secondary_lang
            .filter(|l| *l != self.setup.lang && self.setup.caller.external && !self.switched)
    }

    fn has_options(&self) -> bool {
        self.language_offer().is_some() || self.setup.receptionist.is_some()
    }

    fn say(&mut self, utterance: Utterance) {
        let prompt = Prompt::Speech {
            utterance,
            lang: self.lang,
            own_name: self.setup.own_name,
        };
        self.out.play(prompt, false);
    }

    /// Moves to `state` and starts what it does.
    fn enter(&mut self, now: Instant, state: State) {
        self.state = state;
        match self.state {
            State::Welcome => {
                // "<name> is in a meeting and will be back today at 14:30.": the name once, as
                // the subject of the status. "Welcome. You have called <name>." before it said
                // the name twice and cost 2-3 s before the tone (issue #18: a Danish status
                // greeting reaches the tone within 10 s). After key 5 this is all that is said
                // again, in the caller's language, and the offer and the owner's greeting
                // already heard are not repeated.
                let user = self.setup.user.0;
                let tz = self.setup.timezone;
                let status = spoken_status(&self.setup.status, tz);
                self.say(speech::greeting_status(
                    user,
                    &status,
                    self.out.wall(now).with_timezone(&tz),
                ));
            }
            State::OwnGreeting => {
                self.out
                    .play(Prompt::Recording(RecordingKind::Greeting), false);
            }
            State::Options => {
                // Said once, concisely: both keys have worked since the greeting's first word.
                self.say(speech::offers(
                    self.language_offer(),
                    self.setup.receptionist.is_some(),
                ));
            }
            State::AwaitOption => self.out.arm(now, self.setup.option_wait),
            State::LeaveMessage => {
                self.say(Utterance::from(vec![Piece::Fragment(
                    f::LEAVE_A_MESSAGE_AFTER_THE_TONE,
                )]));
            }
            State::Recording { .. } => {
                let limits = self.setup.limits;
                self.out.push(Action::Record {
                    max: limits.max,
                    silence_timeout: limits.silence,
                    beep_first: true,
                });
                self.out.arm(now, limits.max + RECORDING_GRACE);
            }
            State::Stopping { .. } => {
                self.out.push(Action::StopRecording);
                self.out.arm(now, STOP_GRACE);
            }
            State::TooShort => {
                let mut u = Utterance::new();
                u.fragment(f::YOUR_MESSAGE_WAS_TOO_SHORT)
                    .pause(SENTENCE_PAUSE)
                    .fragment(f::GOODBYE);
                self.say(u);
            }
            State::Saving => self.out.arm(now, SAVE_TIMEOUT),
            State::Goodbye { thanks } => {
                let id = if thanks {
                    f::THANK_YOU_GOODBYE
                } else {
                    f::GOODBYE
                };
                self.say(Utterance::from(vec![Piece::Fragment(id)]));
            }
            State::Finished | State::Transferring => self.out.disarm(),
        }
    }

    fn start_recording(&mut self, now: Instant) {
        let received_at = self.out.wall(now);
        self.enter(
            now,
            State::Recording {
                started: now,
                received_at,
            },
        );
    }

    fn after_welcome(&mut self, now: Instant) {
        if self.setup.own_greeting && !self.greeting_heard {
            self.enter(now, State::OwnGreeting);
        } else {
            self.after_own_greeting(now);
        }
    }

    fn after_own_greeting(&mut self, now: Instant) {
        if self.has_options() {
            self.enter(now, State::Options);
        } else {
            self.after_options(now);
        }
    }

    fn after_options(&mut self, now: Instant) {
        if self.setup.allow_messages {
            self.enter(now, State::LeaveMessage);
        } else if self.has_options() {
            self.enter(now, State::AwaitOption);
        } else {
            self.enter(now, State::Goodbye { thanks: false });
        }
    }

    fn hang_up(&mut self, now: Instant) {
        self.out.push(Action::HangUp);
        self.enter(now, State::Finished);
    }

    fn on_digit(&mut self, now: Instant, digit: Digit) {
        match self.state {
            State::Welcome
            | State::OwnGreeting
            | State::Options
            | State::AwaitOption
            | State::LeaveMessage => {
                if digit == LANGUAGE_KEY {
                    if let Some(lang) = self.language_offer() {
                        self.out.stop_playback();
                        self.lang = lang;
                        self.switched = true;
                        self.enter(now, State::Welcome);
                    }
                } else if digit == RECEPTIONIST_KEY {
                    if let Some(number) = self.setup.receptionist.clone() {
                        self.out.stop_playback();
                        self.out.push(Action::Transfer { number });
                        self.enter(now, State::Transferring);
                    }
                } else if digit == Digit::Pound && self.setup.allow_messages {
                    // Callers who know the greeting skip to the tone, as on every voicemail.
                    self.out.stop_playback();
                    self.start_recording(now);
                }
            }
            State::Recording {
                started,
                received_at,
            } if digit == Digit::Pound => {
                self.enter(
                    now,
                    State::Stopping {
                        started,
                        received_at,
                        why: RecordingEnd::Pound,
                    },
                );
            }
            _ => {}
        }
    }

    fn on_prompt_done(&mut self, now: Instant) {
        match self.state {
            State::Welcome => self.after_welcome(now),
            State::OwnGreeting => {
                self.greeting_heard = true;
                self.after_own_greeting(now);
            }
            State::Options => self.after_options(now),
            State::LeaveMessage => self.start_recording(now),
            State::TooShort | State::Goodbye { .. } => self.hang_up(now),
            _ => {}
        }
    }

    /// A message is kept when it holds [`MIN_SPEECH`] of speech (and is not shorter than the
    /// configured minimum): a caller who hangs up in silence, or lets the silence timeout end
    /// it, leaves nothing — no message, no e-mail, no lamp — and the call stays a missed call
    /// in the history. Length alone decided before, so 2.5 s of silence was kept and 0.8 s of
    /// speech followed by the 5 s silence that ended it was "too short".
    fn on_recording_done(
        &mut self,
        now: Instant,
        duration_ms: u64,
        speech_ms: u64,
        ended_by: RecordingEnd,
    ) {
        // A report with no recording in progress (a duplicate): nothing to save.
        let (State::Recording { received_at, .. } | State::Stopping { received_at, .. }) =
            self.state
        else {
            return;
        };
        if ended_by == RecordingEnd::Hangup {
            self.caller_gone = true;
        }
        let min_ms = u64::try_from(self.setup.limits.min.as_millis()).unwrap_or(u64::MAX);
        let min_speech_ms = u64::try_from(MIN_SPEECH.as_millis()).unwrap_or(u64::MAX);
        if duration_ms < min_ms || speech_ms < min_speech_ms {
            self.out.push(Action::DiscardRecording);
            if self.caller_gone {
                self.enter(now, State::Finished);
            } else {
                self.enter(now, State::TooShort);
            }
            return;
        }
        self.out.push(Action::Store(StoreRequest::SaveMessage {
            user: self.setup.user,
            caller_number: self.setup.caller.number.clone(),
            caller_name: self.setup.caller.name.clone(),
            received_at,
            duration_ms,
        }));
        self.enter(now, State::Saving);
    }

    fn on_hangup(&mut self, now: Instant) {
        self.caller_gone = true;
        match self.state {
            State::Recording {
                started,
                received_at,
            } => self.enter(
                now,
                State::Stopping {
                    started,
                    received_at,
                    why: RecordingEnd::Hangup,
                },
            ),
            // The recording's end or the store's answer is still to come.
            State::Stopping { .. } | State::Saving => {}
            _ => self.enter(now, State::Finished),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        match self.state {
            State::AwaitOption => self.enter(now, State::Goodbye { thanks: false }),
            State::Recording {
                started,
                received_at,
            } => self.enter(
                now,
                State::Stopping {
                    started,
                    received_at,
                    why: RecordingEnd::MaxLength,
                },
            ),
            State::Stopping { started, why, .. } => {
                // The recorder never answered: save what it holds, with our own measure.
                let measured = now
                    .saturating_duration_since(started)
                    .min(self.setup.limits.max);
                let ms = u64::try_from(measured.as_millis()).unwrap_or(u64::MAX);
                // Nobody measured its speech: kept, since nothing the caller said may be lost
                // (CONTRIBUTING.md rule 12).
                self.on_recording_done(now, ms, ms, why);
            }
            State::Saving => self.after_save(now, false),
            _ => {}
        }
    }

    fn on_store_reply(&mut self, now: Instant, reply: StoreReply) {
        match reply {
            StoreReply::MessageSaved(message) => {
                if !self.saved {
                    self.saved = true;
                    self.out.push(Action::Notify {
                        user: self.setup.user,
                        message,
                    });
                }
                if self.state == State::Saving {
                    self.after_save(now, true);
                }
            }
            StoreReply::Failed if self.state == State::Saving => self.after_save(now, false),
            _ => {}
        }
    }

    /// The save is confirmed (`thanks`), failed, or is taking too long.
    fn after_save(&mut self, now: Instant, thanks: bool) {
        if self.caller_gone {
            self.enter(now, State::Finished);
        } else {
            self.enter(now, State::Goodbye { thanks });
        }
    }
}

/// The routing status in the speech core's terms, with "back at" in the owner's timezone.
/// The absence's free text is for colleagues and is not spoken.
fn spoken_status(status: &GreetingStatus, tz: Tz) -> speech::GreetingStatus {
    match status {
        GreetingStatus::OnThePhone => speech::GreetingStatus::OnThePhone,
        GreetingStatus::NotAvailable => speech::GreetingStatus::NotAvailable,
        GreetingStatus::Absent {
            reason, back_at, ..
        } => speech::GreetingStatus::Absent {
            reason: *reason,
            back_at: back_at.map(|b| b.with_timezone(&tz)),
        },
    }
}
