//! The owner's side of OneVoicemail: log in, hear the message count, listen to, save and
//! delete messages, and manage name, greeting and PIN by phone.
//!
//! In the call flow: the B2BUA hands a call to the voicemail access number, or a call from one
//! of the owner's own devices to their own OneNumber, to a [`Retrieve`]. The keypad layout is
//! the one in `prompts/README.md` (Asterisk VoiceMail's, which users recognise):
//!
//! ```text
//! login:    [local number #] PIN #            3 wrong PINs end the call; lockout from the store
//! main:     1 new (then saved)  2 saved  0 options  * help  # exit
//! message:  3 envelope  4 previous  5 replay  6 next  7 delete/undelete  9 save
//!           8 call back (when allowed; not in the spoken menu)  * main menu  # exit
//! options:  1 greeting  3 name  5 PIN  * main menu
//! review:   1 accept  2 listen  3 re-record  * cancel
//! ```
//!
//! Deletes are held in the call and sent to the store when the caller leaves the mailbox
//! (exit, hang-up, transfer), so 7 on a deleted message undoes the delete until then, as the
//! product promises. Read and saved states are written at once.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::action::{Action, Mailbox, Pin, Prompt, StoreRequest};
use super::deposit::RecordingLimits;
use super::event::{Event, LoginResult, MailboxInfo, RecordingEnd, StoreReply};
use super::outbox::Outbox;
use crate::domain::model::{RecordingKind, UserId, VoicemailMessage};
use crate::domain::{Lang, MessageState};
use crate::media::dtmf::Digit;
use crate::pin;
use crate::speech::fragment as f;
use crate::speech::sentences::SENTENCE_PAUSE;
use crate::speech::{self, FragmentId, Piece, Utterance};

/// A local number has exactly this many digits (customer code + last four of the OneNumber),
/// so entry ends by itself at the seventh digit.
pub const LOCAL_NUMBER_LEN: usize = 7;
/// The longest digit string collected at any prompt; more keys are ignored.
const MAX_ENTRY: usize = 16;
/// The most messages the menu handles (far more than any mailbox holds; a bound for memory).
pub const MAX_MESSAGES: usize = 9_999;
/// The call-back key in the message menu. `prompts/README.md` has no row for it and there is
/// no fragment announcing it yet, so it works but is not read out.
pub const CALL_BACK_KEY: Digit = Digit::Eight;

/// How a caller reached the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Through the access number from any phone: local number first, then PIN.
    AccessNumber,
    /// From one of the owner's own registered devices.
    OwnDevice {
        /// The owner.
        user: UserId,
        /// Whether the PIN is still asked (the owner may turn it off for their own devices).
        pin_required: bool,
    },
}

/// Waiting times and counts of the retrieval menus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// After a menu or a prompt for digits, how long to wait for the first key.
    pub menu: Duration,
    /// Between two keys of a number or PIN; the entry ends when it runs out.
    pub inter_digit: Duration,
    /// Menus repeated ("are you still there?") without a key before the call ends.
    pub max_reprompts: u32,
    /// How long to wait for a store answer that the caller waits for (login, messages, PIN).
    pub store: Duration,
}

impl Default for Timeouts {
    /// 6 s for a key, 3 s between keys, 3 repeats, 10 s for the store.
    fn default() -> Self {
        Timeouts {
            menu: Duration::from_secs(6),
            inter_digit: Duration::from_secs(3),
            max_reprompts: 3,
            store: Duration::from_secs(10),
        }
    }
}

/// Everything the retrieval menu needs before login.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrieveSetup {
    /// How the caller came in.
    pub entry: Entry,
    /// The language before login (the device owner's, or the organisation's); after login
    /// the mailbox owner's.
    pub lang: Lang,
    /// Wrong PINs in this call before it ends (the product says three).
    pub max_pin_attempts: u32,
    /// Whether the organisation allows calling a message's sender back.
    pub allow_call_back: bool,
    /// Limits for recording the owner's name.
    pub name_limits: RecordingLimits,
    /// Limits for recording the owner's greeting.
    pub greeting_limits: RecordingLimits,
    /// Waiting times.
    pub timeouts: Timeouts,
}

impl RetrieveSetup {
    /// The product's defaults for an entry: 3 PIN attempts, call back allowed, a 10-second
    /// name and a 60-second greeting.
    pub fn new(entry: Entry, lang: Lang) -> Self {
        RetrieveSetup {
            entry,
            lang,
            max_pin_attempts: 3,
            allow_call_back: true,
            name_limits: RecordingLimits {
                max: Duration::from_secs(10),
                min: Duration::from_millis(500),
                silence: Duration::from_secs(3),
            },
            greeting_limits: RecordingLimits {
                max: Duration::from_secs(60),
                min: Duration::from_secs(1),
                silence: Duration::from_secs(5),
            },
            timeouts: Timeouts::default(),
        }
    }
}

/// A menu to go back to after "invalid choice".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Menu {
    Main,
    Options,
    Message(usize),
    Review(RecordingKind),
}

/// Why the call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Farewell {
    /// "Goodbye." (exit, no answer to the menus, store trouble)
    Goodbye,
    /// "Wrong pin code. Goodbye."
    TooManyWrongPins,
    /// "Your mailbox is locked. Please contact your administrator."
    Locked,
}

/// Where the retrieval is: one variant per prompt position. `index` is a position in the
/// folder being listened to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// "Please enter your local number." + digits.
    AskLocalNumber,
    /// "Please enter your pin code." + digits.
    AskPin { mailbox: Mailbox },
    /// Login sent, waiting for the store.
    CheckingPin,
    /// "Wrong pin code." then the login starts over.
    WrongPin,
    /// "You must change your pin code before you continue."
    MustChangePin,
    /// "Enter your new pin code. Press hash when you have finished." + digits.
    NewPin { forced: bool },
    /// "Enter the new pin code again." + digits.
    NewPinAgain { forced: bool, first: Pin },
    /// "That pin code is not allowed. Please choose another."
    PinNotAllowed { forced: bool },
    /// "The pin codes do not match."
    PinsDoNotMatch { forced: bool },
    /// ChangePin sent, waiting for the store.
    SavingPin { forced: bool },
    /// "Your pin code has been changed."
    PinChanged { forced: bool },
    /// LoadMessages sent, waiting for the store.
    Loading,
    /// "You have 2 new messages and 1 saved message." + the main menu.
    MainMenu,
    /// "Message number 1. Message received today at 14:30 from number 4 5 ..."
    Envelope { index: usize },
    /// The message's audio.
    Message { index: usize },
    /// The message menu, then waiting for a key.
    MessageMenu { index: usize },
    /// The envelope alone (key 3), then waiting for a key.
    EnvelopeAgain { index: usize },
    /// "Message deleted." then waiting for a key.
    Deleted { index: usize },
    /// "Message undeleted." then waiting for a key.
    Undeleted { index: usize },
    /// "Message saved." then waiting for a key.
    Saved { index: usize },
    /// "There are no more messages." at key 4 on the first message, then waiting for a key.
    FirstMessage { index: usize },
    /// "There are no more messages." after the last one (or an empty folder): main menu next.
    EndOfMessages,
    /// The options menu.
    OptionsMenu,
    /// "Record your greeting after the tone. Press hash when you have finished."
    RecordPrompt { kind: RecordingKind },
    /// Recording a name or greeting.
    Recording {
        kind: RecordingKind,
        started: Instant,
    },
    /// `StopRecording` sent, waiting for `RecordingDone`.
    StoppingRecording {
        kind: RecordingKind,
        started: Instant,
    },
    /// "Your message was too short." then the record prompt again.
    TooShort { kind: RecordingKind },
    /// "To accept press 1. To listen press 2. To record again press 3."
    Review { kind: RecordingKind },
    /// The take, played back.
    ListenTake { kind: RecordingKind },
    /// "Invalid choice." then the menu again.
    Invalid { back: Menu },
    /// The last words, then `HangUp`.
    Goodbye(Farewell),
    /// Nothing more to do.
    Finished,
}

/// A message of the mailbox as this call sees it.
#[derive(Debug, Clone)]
struct Listed {
    message: VoicemailMessage,
    /// Deleted in this call; undone by 7 again, sent to the store when the caller leaves.
    deleted: bool,
}

/// The retrieval IVR of one call. Sans-I/O: feed [`Retrieve::handle`], drain
/// [`Retrieve::poll_action`], sleep until [`Retrieve::poll_timeout`].
#[derive(Debug)]
pub struct Retrieve {
    /// The call's facts.
    setup: RetrieveSetup,
    /// The language prompts are spoken in.
    lang: Lang,
    /// The open mailbox, after login.
    mailbox: Option<MailboxInfo>,
    /// Wrong PINs so far in this call.
    wrong_pins: u32,
    /// Digits typed at the current prompt.
    entry: String,
    /// Menus repeated without a key since the last key.
    idle: u32,
    /// Prefix the next prompt with "are you still there?".
    still_there: bool,
    /// The mailbox's messages: new first, then the others, each newest first.
    messages: Vec<Listed>,
    /// The folder being listened to: indexes into `messages`.
    folder: Vec<usize>,
    /// The driver holds a take not yet saved or discarded.
    take: bool,
    /// The caller has hung up.
    caller_gone: bool,
    /// Where we are.
    state: State,
    /// Actions, prompt and deadline bookkeeping.
    out: Outbox,
}

impl Retrieve {
    /// Starts the retrieval: the first prompt (or the login request) is ready to poll. `wall`
    /// is the wall-clock time at `now`.
    pub fn new(now: Instant, wall: DateTime<Utc>, setup: RetrieveSetup) -> Self {
        let mut retrieve = Retrieve {
            lang: setup.lang,
            setup,
            mailbox: None,
            wrong_pins: 0,
            entry: String::new(),
            idle: 0,
            still_there: false,
            messages: Vec::new(),
            folder: Vec::new(),
            take: false,
            caller_gone: false,
            state: State::Finished,
            out: Outbox::new(now, wall),
        };
        retrieve.start_login(now);
        retrieve
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        if self.state == State::Finished {
            return;
        }
        match event {
            Event::Digit(digit) => {
                self.out.key_pressed();
                self.idle = 0;
                self.on_digit(now, digit);
            }
            Event::PromptDone(id) => {
                if self.out.prompt_done(id) {
                    self.on_prompt_done(now);
                }
            }
            Event::RecordingDone {
                duration_ms,
                ended_by,
                ..
            } => {
                if ended_by == RecordingEnd::Hangup && !self.caller_gone {
                    self.caller_gone = true;
                    self.flush_deletes();
                }
                self.on_recording_done(now, duration_ms);
            }
            Event::Hangup => self.on_hangup(now),
            Event::Timeout => {
                if self.out.timed_out(now) {
                    self.on_timeout(now);
                }
            }
            Event::StoreReply(reply) => self.on_store_reply(now, reply),
            // The retrieval driver ends the call on a failed transfer itself.
            Event::TransferFailed => {}
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

    // ---- prompts ---------------------------------------------------------------------------

    /// Plays `utterance` in the call's language, after "are you still there?" when a menu is
    /// repeated for want of a key.
    fn say(&mut self, utterance: Utterance, barge_in: bool) {
        let mut u = Utterance::new();
        if std::mem::take(&mut self.still_there) {
            u.fragment(f::ARE_YOU_STILL_THERE).pause(SENTENCE_PAUSE);
        }
        u.extend(utterance);
        let prompt = Prompt::Speech {
            utterance: u,
            lang: self.lang,
            own_name: true,
        };
        self.out.play(prompt, barge_in);
    }

    fn say_one(&mut self, id: FragmentId, barge_in: bool) {
        self.say(Utterance::from(vec![Piece::Fragment(id)]), barge_in);
    }

    /// Moves to `state` and starts what it does.
    fn enter(&mut self, now: Instant, state: State) {
        self.state = state;
        self.out.disarm();
        match self.state.clone() {
            State::AskLocalNumber => {
                self.entry.clear();
                self.say_one(f::PLEASE_ENTER_YOUR_LOCAL_NUMBER, true);
            }
            State::AskPin { .. } => {
                self.entry.clear();
                self.say_one(f::PLEASE_ENTER_YOUR_PIN, true);
            }
            State::CheckingPin | State::Loading | State::SavingPin { .. } => {
                self.out.arm(now, self.setup.timeouts.store);
            }
            State::WrongPin => self.say_one(f::WRONG_PIN, false),
            State::MustChangePin => self.say_one(f::YOU_MUST_CHANGE_YOUR_PIN, false),
            State::NewPin { .. } => {
                self.entry.clear();
                self.say(
                    sentences(&[f::ENTER_NEW_PIN, f::PRESS_POUND_WHEN_DONE]),
                    true,
                );
            }
            State::NewPinAgain { .. } => {
                self.entry.clear();
                self.say_one(f::ENTER_NEW_PIN_AGAIN, true);
            }
            State::PinNotAllowed { .. } => self.say_one(f::PIN_NOT_ALLOWED, false),
            State::PinsDoNotMatch { .. } => self.say_one(f::PINS_DO_NOT_MATCH, false),
            State::PinChanged { .. } => self.say_one(f::PIN_CHANGED, false),
            State::MainMenu => {
                let (new, saved) = self.counts();
                let mut u = speech::message_count(new, saved);
                u.extend(sentences(&[
                    f::MENU_NEW_MESSAGES,
                    f::MENU_SAVED_MESSAGES,
                    f::MENU_MAILBOX_OPTIONS,
                    f::MENU_HELP,
                    f::MENU_EXIT,
                ]));
                self.say(u, true);
            }
            State::Envelope { index } => {
                let mut u = Utterance::new();
                u.fragment(f::MESSAGE_NUMBER)
                    .push(Piece::Number(u32::try_from(index + 1).unwrap_or(u32::MAX)))
                    .pause(SENTENCE_PAUSE);
                u.extend(self.envelope(now, index));
                self.say(u, true);
            }
            State::Message { index } => match self.listed(index) {
                Some(listed) => {
                    let id = listed.message.id;
                    self.out.play(Prompt::Message(id), true);
                }
                // No such message (cannot happen while the folder is intact): never leave
                // the caller in silence with nothing to wait for.
                None => self.enter(now, State::MainMenu),
            },
            State::MessageMenu { .. } => {
                self.say(
                    sentences(&[
                        f::MENU_MESSAGE_ENVELOPE,
                        f::MENU_MESSAGE_PREVIOUS,
                        f::MENU_MESSAGE_REPLAY,
                        f::MENU_MESSAGE_NEXT,
                        f::MENU_MESSAGE_DELETE,
                        f::MENU_MESSAGE_SAVE,
                        f::MENU_RETURN,
                        f::MENU_EXIT,
                    ]),
                    true,
                );
            }
            State::EnvelopeAgain { index } => {
                let u = self.envelope(now, index);
                self.say(u, true);
            }
            State::Deleted { .. } => self.say_one(f::MESSAGE_DELETED, true),
            State::Undeleted { .. } => self.say_one(f::UNDELETED, true),
            State::Saved { .. } => self.say_one(f::MESSAGE_SAVED, true),
            State::FirstMessage { .. } | State::EndOfMessages => {
                self.say_one(f::END_OF_MESSAGES, true);
            }
            State::OptionsMenu => self.say(
                sentences(&[
                    f::MENU_OPTIONS_GREETING,
                    f::MENU_OPTIONS_NAME,
                    f::MENU_OPTIONS_PIN,
                    f::MENU_RETURN,
                ]),
                true,
            ),
            State::RecordPrompt { kind } => {
                let what = match kind {
                    RecordingKind::Name => f::RECORD_YOUR_NAME,
                    RecordingKind::Greeting => f::RECORD_YOUR_GREETING,
                };
                self.say(sentences(&[what, f::PRESS_POUND_WHEN_DONE]), false);
            }
            State::Recording { kind, .. } => {
                let limits = self.limits(kind);
                self.out.push(Action::Record {
                    max: limits.max,
                    silence_timeout: limits.silence,
                    beep_first: true,
                });
                self.out
                    .arm(now, limits.max + super::deposit::RECORDING_GRACE);
            }
            State::StoppingRecording { .. } => {
                self.out.push(Action::StopRecording);
                self.out.arm(now, super::deposit::STOP_GRACE);
            }
            State::TooShort { .. } => self.say_one(f::YOUR_MESSAGE_WAS_TOO_SHORT, false),
            State::Review { .. } => {
                let mut u = Utterance::new();
                for (id, key) in [
                    (f::TO_ACCEPT_PRESS, 1),
                    (f::TO_LISTEN_PRESS, 2),
                    (f::TO_RERECORD_PRESS, 3),
                ] {
                    u.fragment(id)
                        .push(Piece::Fragment(FragmentId::digit(key)))
                        .pause(SENTENCE_PAUSE);
                }
                u.fragment(f::MENU_RETURN);
                self.say(u, true);
            }
            State::ListenTake { .. } => self.out.play(Prompt::Take, true),
            State::Invalid { .. } => self.say_one(f::INVALID_CHOICE, true),
            State::Goodbye(farewell) => {
                let words: &[FragmentId] = match farewell {
                    Farewell::Goodbye => &[f::GOODBYE],
                    Farewell::TooManyWrongPins => &[f::WRONG_PIN, f::GOODBYE],
                    Farewell::Locked => &[f::MAILBOX_LOCKED],
                };
                self.say(sentences(words), false);
            }
            State::Finished => {}
        }
    }

    /// "Message received today at 14:30, from number 4 5 2 2 ..."
    fn envelope(&self, now: Instant, index: usize) -> Utterance {
        let (Some(listed), Some(mailbox)) = (self.listed(index), self.mailbox.as_ref()) else {
            return Utterance::new();
        };
        let tz = mailbox.timezone;
        speech::envelope(
            listed.message.received_at.with_timezone(&tz),
            listed.message.caller_number.as_deref(),
            self.out.wall(now).with_timezone(&tz),
        )
    }

    fn limits(&self, kind: RecordingKind) -> RecordingLimits {
        match kind {
            RecordingKind::Name => self.setup.name_limits,
            RecordingKind::Greeting => self.setup.greeting_limits,
        }
    }

    // ---- login -----------------------------------------------------------------------------

    fn start_login(&mut self, now: Instant) {
        match self.setup.entry.clone() {
            Entry::AccessNumber => self.enter(now, State::AskLocalNumber),
            Entry::OwnDevice {
                user,
                pin_required: true,
            } => self.enter(
                now,
                State::AskPin {
                    mailbox: Mailbox::Own(user),
                },
            ),
            Entry::OwnDevice {
                user,
                pin_required: false,
            } => {
                self.out.push(Action::Store(StoreRequest::Login {
                    mailbox: Mailbox::Own(user),
                    pin: None,
                }));
                self.enter(now, State::CheckingPin);
            }
        }
    }

    fn on_login(&mut self, now: Instant, result: LoginResult) {
        match result {
            LoginResult::Granted(info) => {
                self.lang = info.lang;
                let must_change = info.pin_must_change;
                self.mailbox = Some(info);
                if must_change {
                    self.enter(now, State::MustChangePin);
                } else {
                    self.load(now);
                }
            }
            LoginResult::WrongPin => {
                self.wrong_pins += 1;
                if self.wrong_pins >= self.setup.max_pin_attempts {
                    self.enter(now, State::Goodbye(Farewell::TooManyWrongPins));
                } else {
                    self.enter(now, State::WrongPin);
                }
            }
            LoginResult::Locked => self.enter(now, State::Goodbye(Farewell::Locked)),
        }
    }

    fn user(&self) -> Option<UserId> {
        self.mailbox.as_ref().map(|m| m.user)
    }

    fn load(&mut self, now: Instant) {
        if let Some(user) = self.user() {
            self.out
                .push(Action::Store(StoreRequest::LoadMessages { user }));
            self.enter(now, State::Loading);
        }
    }

    fn on_messages(&mut self, now: Instant, mut messages: Vec<VoicemailMessage>) {
        messages.truncate(MAX_MESSAGES);
        messages.sort_by_key(|m| {
            (
                m.state != MessageState::New,
                Reverse(m.received_at),
                Reverse(m.id),
            )
        });
        self.messages = messages
            .into_iter()
            .map(|message| Listed {
                message,
                deleted: false,
            })
            .collect();
        let quick = self.mailbox.as_ref().is_some_and(|m| m.quick_listen);
        if quick && self.counts().0 > 0 {
            // Quick listen: straight to the newest new message, which heads the list.
            self.open_folder(now, false);
        } else {
            self.enter(now, State::MainMenu);
        }
    }

    // ---- digit entry (local number, PIN, new PIN) ------------------------------------------

    fn on_entry_key(&mut self, now: Instant, digit: Digit) {
        let forced = match &self.state {
            State::NewPin { forced } | State::NewPinAgain { forced, .. } => Some(*forced),
            _ => None,
        };
        match digit {
            Digit::Pound if !self.entry.is_empty() => return self.submit_entry(now),
            Digit::Star if forced == Some(false) => return self.enter(now, State::OptionsMenu),
            Digit::Star => self.entry.clear(),
            d => {
                let c = d.as_char();
                if c.is_ascii_digit() && self.entry.len() < MAX_ENTRY {
                    self.entry.push(c);
                }
            }
        }
        let full = match self.state {
            State::AskLocalNumber => self.entry.len() >= LOCAL_NUMBER_LEN,
            State::AskPin { .. } | State::NewPin { .. } | State::NewPinAgain { .. } => {
                self.entry.len() >= pin::MAX_LEN
            }
            _ => false,
        };
        if full {
            self.submit_entry(now);
        } else if self.entry.is_empty() {
            self.out.arm(now, self.setup.timeouts.menu);
        } else {
            self.out.arm(now, self.setup.timeouts.inter_digit);
        }
    }

    fn submit_entry(&mut self, now: Instant) {
        let typed = std::mem::take(&mut self.entry);
        match self.state.clone() {
            State::AskLocalNumber => self.enter(
                now,
                State::AskPin {
                    mailbox: Mailbox::LocalNumber(typed),
                },
            ),
            State::AskPin { mailbox } => {
                self.out.push(Action::Store(StoreRequest::Login {
                    mailbox,
                    pin: Some(Pin::new(typed)),
                }));
                self.enter(now, State::CheckingPin);
            }
            State::NewPin { forced } => {
                let (local_number, min_len) =
                    self.mailbox.as_ref().map_or(("", pin::MIN_LEN), |m| {
                        (m.local_number.as_str(), m.pin_min_length)
                    });
                if pin::PinRules::with_min_len(min_len)
                    .validate(&typed, local_number)
                    .is_ok()
                {
                    self.enter(
                        now,
                        State::NewPinAgain {
                            forced,
                            first: Pin::new(typed),
                        },
                    );
                } else {
                    self.enter(now, State::PinNotAllowed { forced });
                }
            }
            State::NewPinAgain { forced, first } => {
                if first.as_str() != typed {
                    self.enter(now, State::PinsDoNotMatch { forced });
                } else if let Some(user) = self.user() {
                    self.out
                        .push(Action::Store(StoreRequest::ChangePin { user, pin: first }));
                    self.enter(now, State::SavingPin { forced });
                }
            }
            _ => {}
        }
    }

    // ---- menus -----------------------------------------------------------------------------

    fn on_digit(&mut self, now: Instant, digit: Digit) {
        match self.state.clone() {
            State::AskLocalNumber
            | State::AskPin { .. }
            | State::NewPin { .. }
            | State::NewPinAgain { .. } => self.on_entry_key(now, digit),
            State::MainMenu | State::EndOfMessages | State::Invalid { back: Menu::Main } => {
                self.on_main_key(now, digit)
            }
            State::OptionsMenu
            | State::Invalid {
                back: Menu::Options,
            } => self.on_options_key(now, digit),
            State::Message { index } => {
                self.heard(index);
                self.on_message_key(now, index, digit);
            }
            State::Envelope { index }
            | State::MessageMenu { index }
            | State::EnvelopeAgain { index }
            | State::Deleted { index }
            | State::Undeleted { index }
            | State::Saved { index }
            | State::FirstMessage { index }
            | State::Invalid {
                back: Menu::Message(index),
            } => self.on_message_key(now, index, digit),
            State::Review { kind }
            | State::ListenTake { kind }
            | State::Invalid {
                back: Menu::Review(kind),
            } => self.on_review_key(now, kind, digit),
            State::RecordPrompt { .. } if digit == Digit::Star => {
                self.out.stop_playback();
                self.enter(now, State::OptionsMenu);
            }
            State::Recording { kind, started } if digit == Digit::Pound => {
                self.enter(now, State::StoppingRecording { kind, started });
            }
            // An announcement that plays on (barge-in off): the key is not for it.
            _ => {}
        }
    }

    fn on_main_key(&mut self, now: Instant, digit: Digit) {
        match digit {
            Digit::One => self.open_folder(now, false),
            Digit::Two => self.open_folder(now, true),
            Digit::Zero => self.enter(now, State::OptionsMenu),
            Digit::Star => self.enter(now, State::MainMenu),
            Digit::Pound => self.leave(now, Farewell::Goodbye),
            _ => self.enter(now, State::Invalid { back: Menu::Main }),
        }
    }

    fn on_options_key(&mut self, now: Instant, digit: Digit) {
        match digit {
            Digit::One => self.enter(
                now,
                State::RecordPrompt {
                    kind: RecordingKind::Greeting,
                },
            ),
            Digit::Three => self.enter(
                now,
                State::RecordPrompt {
                    kind: RecordingKind::Name,
                },
            ),
            Digit::Five => self.enter(now, State::NewPin { forced: false }),
            Digit::Star => self.enter(now, State::MainMenu),
            _ => self.enter(
                now,
                State::Invalid {
                    back: Menu::Options,
                },
            ),
        }
    }

    /// Key 1 (`saved_only` false): every message, new ones first; key 2: the saved ones.
    fn open_folder(&mut self, now: Instant, saved_only: bool) {
        self.folder = (0..self.messages.len())
            .filter(|&i| !saved_only || self.messages[i].message.state != MessageState::New)
            .collect();
        if self.folder.is_empty() {
            self.enter(now, State::EndOfMessages);
        } else {
            self.enter(now, State::Envelope { index: 0 });
        }
    }

    fn on_message_key(&mut self, now: Instant, index: usize, digit: Digit) {
        let last = self.folder.len().saturating_sub(1);
        match digit {
            Digit::Three => self.enter(now, State::EnvelopeAgain { index }),
            Digit::Four if index == 0 => self.enter(now, State::FirstMessage { index }),
            Digit::Four => self.enter(now, State::Envelope { index: index - 1 }),
            Digit::Five => self.enter(now, State::Message { index }),
            Digit::Six if index >= last => self.enter(now, State::EndOfMessages),
            Digit::Six => self.enter(now, State::Envelope { index: index + 1 }),
            Digit::Seven => {
                let now_deleted = match self.listed_mut(index) {
                    Some(listed) => {
                        listed.deleted = !listed.deleted;
                        listed.deleted
                    }
                    None => return,
                };
                if now_deleted {
                    self.enter(now, State::Deleted { index });
                } else {
                    self.enter(now, State::Undeleted { index });
                }
            }
            Digit::Nine => {
                self.set_state(index, MessageState::Saved);
                if let Some(listed) = self.listed_mut(index) {
                    listed.deleted = false;
                }
                self.enter(now, State::Saved { index });
            }
            d if d == CALL_BACK_KEY => {
                let number = self
                    .listed(index)
                    .and_then(|l| l.message.caller_number.clone())
                    .filter(|n| !n.is_empty() && n.len() <= speech::MAX_DIGITS);
                match number {
                    Some(number) if self.setup.allow_call_back => {
                        self.flush_deletes();
                        self.out.push(Action::Transfer { number });
                        self.enter(now, State::Finished);
                    }
                    _ => self.enter(
                        now,
                        State::Invalid {
                            back: Menu::Message(index),
                        },
                    ),
                }
            }
            Digit::Star => self.enter(now, State::MainMenu),
            Digit::Pound => self.leave(now, Farewell::Goodbye),
            _ => self.enter(
                now,
                State::Invalid {
                    back: Menu::Message(index),
                },
            ),
        }
    }

    fn on_review_key(&mut self, now: Instant, kind: RecordingKind, digit: Digit) {
        match digit {
            Digit::One => {
                if let Some(user) = self.user() {
                    self.out
                        .push(Action::Store(StoreRequest::SaveRecording { user, kind }));
                    self.take = false;
                }
                self.enter(now, State::OptionsMenu);
            }
            Digit::Two => self.enter(now, State::ListenTake { kind }),
            Digit::Three => {
                self.discard_take();
                self.enter(now, State::RecordPrompt { kind });
            }
            Digit::Star => {
                self.discard_take();
                self.enter(now, State::OptionsMenu);
            }
            _ => self.enter(
                now,
                State::Invalid {
                    back: Menu::Review(kind),
                },
            ),
        }
    }

    // ---- prompt ends, recordings, time-outs, store answers, hang-up ------------------------

    fn on_prompt_done(&mut self, now: Instant) {
        match self.state.clone() {
            // Prompts that wait for a key once heard.
            State::AskLocalNumber
            | State::AskPin { .. }
            | State::NewPin { .. }
            | State::NewPinAgain { .. }
            | State::MainMenu
            | State::OptionsMenu
            | State::MessageMenu { .. }
            | State::EnvelopeAgain { .. }
            | State::Deleted { .. }
            | State::Undeleted { .. }
            | State::Saved { .. }
            | State::FirstMessage { .. }
            | State::Review { .. } => self.out.arm(now, self.setup.timeouts.menu),
            State::WrongPin => self.start_login(now),
            State::MustChangePin => self.enter(now, State::NewPin { forced: true }),
            State::PinNotAllowed { forced } | State::PinsDoNotMatch { forced } => {
                self.enter(now, State::NewPin { forced });
            }
            State::PinChanged { forced: true } => self.load(now),
            State::PinChanged { forced: false } => self.enter(now, State::OptionsMenu),
            State::Envelope { index } => self.enter(now, State::Message { index }),
            State::Message { index } => {
                self.heard(index);
                self.enter(now, State::MessageMenu { index });
            }
            State::EndOfMessages => self.enter(now, State::MainMenu),
            State::RecordPrompt { kind } => {
                self.enter(now, State::Recording { kind, started: now })
            }
            State::TooShort { kind } => self.enter(now, State::RecordPrompt { kind }),
            State::ListenTake { kind } => self.enter(now, State::Review { kind }),
            State::Invalid { back } => self.enter_menu(now, back),
            State::Goodbye(_) => {
                self.out.push(Action::HangUp);
                self.enter(now, State::Finished);
            }
            State::CheckingPin
            | State::SavingPin { .. }
            | State::Loading
            | State::Recording { .. }
            | State::StoppingRecording { .. }
            | State::Finished => {}
        }
    }

    fn enter_menu(&mut self, now: Instant, menu: Menu) {
        let state = match menu {
            Menu::Main => State::MainMenu,
            Menu::Options => State::OptionsMenu,
            Menu::Message(index) => State::MessageMenu { index },
            Menu::Review(kind) => State::Review { kind },
        };
        self.enter(now, state);
    }

    fn on_recording_done(&mut self, now: Instant, duration_ms: u64) {
        let (State::Recording { kind, .. } | State::StoppingRecording { kind, .. }) = self.state
        else {
            return;
        };
        self.take = true;
        if self.caller_gone {
            // A name or greeting is only kept when accepted.
            self.discard_take();
            self.enter(now, State::Finished);
            return;
        }
        let min = u64::try_from(self.limits(kind).min.as_millis()).unwrap_or(u64::MAX);
        if duration_ms < min {
            self.discard_take();
            self.enter(now, State::TooShort { kind });
        } else {
            self.enter(now, State::Review { kind });
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        match self.state.clone() {
            State::AskLocalNumber
            | State::AskPin { .. }
            | State::NewPin { .. }
            | State::NewPinAgain { .. }
                if !self.entry.is_empty() =>
            {
                self.submit_entry(now)
            }
            state @ (State::AskLocalNumber
            | State::AskPin { .. }
            | State::NewPin { .. }
            | State::NewPinAgain { .. }
            | State::MainMenu
            | State::OptionsMenu
            | State::MessageMenu { .. }
            | State::Review { .. }) => self.reprompt(now, state),
            State::EnvelopeAgain { index }
            | State::Deleted { index }
            | State::Undeleted { index }
            | State::Saved { index }
            | State::FirstMessage { index } => self.reprompt(now, State::MessageMenu { index }),
            State::SavingPin { forced: false } => self.enter(now, State::OptionsMenu),
            State::CheckingPin | State::Loading | State::SavingPin { forced: true } => {
                self.leave(now, Farewell::Goodbye)
            }
            State::Recording { kind, started } => {
                self.enter(now, State::StoppingRecording { kind, started })
            }
            State::StoppingRecording { kind, started } => {
                let measured = now
                    .saturating_duration_since(started)
                    .min(self.limits(kind).max);
                self.on_recording_done(now, u64::try_from(measured.as_millis()).unwrap_or(0));
            }
            _ => {}
        }
    }

    /// No key: say the prompt again after "are you still there?", or give up.
    fn reprompt(&mut self, now: Instant, state: State) {
        self.idle += 1;
        if self.idle >= self.setup.timeouts.max_reprompts {
            self.leave(now, Farewell::Goodbye);
        } else {
            self.still_there = true;
            self.enter(now, state);
        }
    }

    fn on_store_reply(&mut self, now: Instant, reply: StoreReply) {
        match (self.state.clone(), reply) {
            (State::CheckingPin, StoreReply::Login(result)) => self.on_login(now, result),
            (State::Loading, StoreReply::Messages(messages)) => self.on_messages(now, messages),
            (State::SavingPin { forced }, StoreReply::Written) => {
                if let Some(mailbox) = self.mailbox.as_mut() {
                    mailbox.pin_must_change = false;
                }
                self.enter(now, State::PinChanged { forced });
            }
            (State::SavingPin { forced: false }, StoreReply::Failed) => {
                self.enter(now, State::OptionsMenu)
            }
            (State::CheckingPin | State::Loading | State::SavingPin { .. }, StoreReply::Failed) => {
                self.leave(now, Farewell::Goodbye)
            }
            // Acknowledgements of writes not waited for.
            _ => {}
        }
    }

    fn on_hangup(&mut self, now: Instant) {
        self.caller_gone = true;
        self.flush_deletes();
        match self.state {
            State::Recording { kind, started } => {
                self.enter(now, State::StoppingRecording { kind, started });
            }
            // The recording's end is still to come; it is then discarded.
            State::StoppingRecording { .. } => {}
            _ => {
                self.discard_take();
                self.enter(now, State::Finished);
            }
        }
    }

    /// Leaves the mailbox: deletes are committed, an unaccepted take thrown away, last words.
    fn leave(&mut self, now: Instant, farewell: Farewell) {
        self.flush_deletes();
        self.discard_take();
        self.enter(now, State::Goodbye(farewell));
    }

    // ---- the message list ------------------------------------------------------------------

    fn listed(&self, index: usize) -> Option<&Listed> {
        self.folder.get(index).and_then(|&i| self.messages.get(i))
    }

    fn listed_mut(&mut self, index: usize) -> Option<&mut Listed> {
        let i = *self.folder.get(index)?;
        self.messages.get_mut(i)
    }

    /// New and saved (read or saved) messages, not counting those deleted in this call.
    fn counts(&self) -> (u32, u32) {
        let live = self.messages.iter().filter(|l| !l.deleted);
        let (new, old) = live.fold((0u32, 0u32), |(n, o), l| {
            if l.message.state == MessageState::New {
                (n + 1, o)
            } else {
                (n, o + 1)
            }
        });
        (new, old)
    }

    /// The message has been heard (to its end, or until a key acted on it): no longer new.
    fn heard(&mut self, index: usize) {
        if self
            .listed(index)
            .is_some_and(|l| l.message.state == MessageState::New)
        {
            self.set_state(index, MessageState::Read);
        }
    }

    fn set_state(&mut self, index: usize, state: MessageState) {
        let Some(user) = self.user() else { return };
        let Some(listed) = self.listed_mut(index) else {
            return;
        };
        if listed.message.state == state {
            return;
        }
        listed.message.state = state;
        let id = listed.message.id;
        self.out
            .push(Action::Store(StoreRequest::SetState { user, id, state }));
    }

    /// Sends the deletes held in the call, once.
    fn flush_deletes(&mut self) {
        let Some(user) = self.user() else { return };
        for listed in self.messages.iter().filter(|l| l.deleted) {
            self.out.push(Action::Store(StoreRequest::Delete {
                user,
                id: listed.message.id,
            }));
        }
        self.messages.retain(|l| !l.deleted);
        // Positions in the folder no longer match; the caller is leaving anyway.
        self.folder.clear();
    }

    fn discard_take(&mut self) {
        if std::mem::take(&mut self.take) {
            self.out.push(Action::DiscardRecording);
        }
    }
}

/// Fragments as sentences, each followed by a sentence pause.
fn sentences(ids: &[FragmentId]) -> Utterance {
    let mut u = Utterance::new();
    for id in ids {
        u.fragment(id.clone()).pause(SENTENCE_PAUSE);
    }
    u
}
