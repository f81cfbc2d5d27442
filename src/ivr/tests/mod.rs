//! Scripts of `(t, event) → expected actions` for both IVRs. Actions are written as short
//! strings; speech is rendered with the real grammars (`speech::render`), so a test reads
//! the fragments the caller hears.

use std::time::{Duration, Instant};

use super::action::{Action, PlayId, Prompt, StoreRequest};
use super::event::Event;
use super::Machine;
use crate::domain::model::RecordingKind;
use crate::speech::{render, Segment};

mod deposit;
mod retrieve;

/// The origin of a script's virtual clock. The scripts only add to it, so any instant will
/// do; reading the monotonic clock once is the only way to get one.
#[allow(clippy::disallowed_methods)] // an arbitrary monotonic origin, never read again
pub(super) fn origin() -> Instant {
    Instant::now()
}

/// A machine with a virtual clock and the id of the last prompt it started.
pub(super) struct Script<M> {
    pub(super) t0: Instant,
    pub(super) m: M,
    pub(super) last_play: Option<PlayId>,
}

impl<M: Machine> Script<M> {
    pub(super) fn new(t0: Instant, m: M) -> Self {
        Script {
            t0,
            m,
            last_play: None,
        }
    }

    pub(super) fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Drains the actions, as strings.
    pub(super) fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(action) = self.m.poll_action() {
            if let Action::Play { id, .. } = &action {
                self.last_play = Some(*id);
            }
            out.push(describe(&action));
        }
        out
    }

    /// Feeds `event` at `ms` and returns the actions it caused.
    pub(super) fn send(&mut self, ms: u64, event: Event) -> Vec<String> {
        let now = self.at(ms);
        self.m.handle(now, event);
        self.drain()
    }

    /// The last prompt started has played out, at `ms`.
    pub(super) fn done(&mut self, ms: u64) -> Vec<String> {
        let id = self.last_play.expect("a prompt was started");
        self.send(ms, Event::PromptDone(id))
    }

    /// The deadline is reached: asserts there is one and fires it exactly at it.
    pub(super) fn timeout(&mut self) -> Vec<String> {
        let at = self.m.poll_timeout().expect("a deadline is armed");
        self.m.handle(at, Event::Timeout);
        self.drain()
    }

    /// Milliseconds from t0 to the deadline.
    pub(super) fn deadline_ms(&self) -> Option<u64> {
        self.m
            .poll_timeout()
            .map(|d| d.duration_since(self.t0).as_millis() as u64)
    }

    /// A key at `ms`.
    pub(super) fn key(&mut self, ms: u64, key: char) -> Vec<String> {
        let digit = crate::media::dtmf::Digit::from_char(key).expect("a DTMF key");
        self.send(ms, Event::Digit(digit))
    }

    /// Several keys from `ms` on, 200 ms apart; returns the actions of all of them.
    pub(super) fn keys(&mut self, ms: u64, keys: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, key) in keys.chars().enumerate() {
            out.extend(self.key(ms + 200 * i as u64, key));
        }
        out
    }
}

/// One action as a short string: `play da: welcome you_have_called <name>`, `record ...`.
pub(super) fn describe(action: &Action) -> String {
    match action {
        Action::Play {
            prompt, barge_in, ..
        } => {
            let bang = if *barge_in { "!" } else { "" };
            match prompt {
                Prompt::Speech {
                    utterance,
                    lang,
                    own_name,
                } => {
                    let words: Vec<String> = render(utterance, *lang)
                        .into_iter()
                        .filter_map(|s| match s {
                            Segment::Fragment { id, lang: l } if l == *lang => Some(id.to_string()),
                            Segment::Fragment { id, lang: l } => Some(format!("{id}@{l}")),
                            Segment::Name(_) if *own_name => Some("<own name>".into()),
                            Segment::Name(_) => Some("<name>".into()),
                            Segment::Silence(_) => None,
                        })
                        .collect();
                    format!("play{bang} {lang}: {}", words.join(" "))
                }
                Prompt::Recording(RecordingKind::Greeting) => format!("play{bang} own greeting"),
                Prompt::Recording(RecordingKind::Name) => format!("play{bang} own name"),
                Prompt::Message(id) => format!("play{bang} message {id}"),
                Prompt::Take => format!("play{bang} take"),
            }
        }
        Action::StopPlayback => "stop".into(),
        Action::Record {
            max,
            silence_timeout,
            beep_first,
        } => format!(
            "record max={}s silence={}s{}",
            max.as_secs(),
            silence_timeout.as_secs(),
            if *beep_first { " beep" } else { "" }
        ),
        Action::StopRecording => "stop recording".into(),
        Action::DiscardRecording => "discard".into(),
        Action::Transfer { number } => format!("transfer {number}"),
        Action::HangUp => "hangup".into(),
        Action::Notify { user, message } => format!("notify user {user} message {message}"),
        Action::Store(request) => match request {
            StoreRequest::SaveMessage {
                user,
                caller_number,
                caller_name,
                received_at,
                duration_ms,
            } => format!(
                "save message user {user} from {} ({}) at {} {duration_ms}ms",
                caller_number.as_deref().unwrap_or("-"),
                caller_name.as_deref().unwrap_or("-"),
                received_at.format("%H:%M:%S")
            ),
            StoreRequest::Login { mailbox, pin } => format!(
                "login {mailbox:?} pin {}",
                pin.as_ref().map_or("none", |p| p.as_str())
            ),
            StoreRequest::LoadMessages { user } => format!("load messages {user}"),
            StoreRequest::SetState { id, state, .. } => format!("set {id} {state}"),
            StoreRequest::Delete { id, .. } => format!("delete {id}"),
            StoreRequest::SaveRecording { kind, .. } => format!("save {kind}"),
            StoreRequest::ChangePin { pin, .. } => format!("change pin {}", pin.as_str()),
        },
    }
}
