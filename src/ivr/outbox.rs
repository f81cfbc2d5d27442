//! The bookkeeping both IVR machines share: the queue of actions waiting to be polled, which
//! prompt plays, the one deadline, and the wall clock read at the start of the call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::action::{Action, PlayId, Prompt};

/// Actions not yet polled, the prompt in progress and the pending deadline.
#[derive(Debug)]
pub(super) struct Outbox {
    /// Actions in the order the driver must carry them out.
    actions: VecDeque<Action>,
    /// The id the next `Play` gets.
    next_play: u64,
    /// The prompt that plays, with its barge-in flag; `None` when silent.
    playing: Option<(PlayId, bool)>,
    /// When `Event::Timeout` is due; one deadline is enough because every state waits for at
    /// most one thing at a time.
    deadline: Option<Instant>,
    /// The monotonic instant the machine was created at, paired with `wall_start`.
    start: Instant,
    /// The wall-clock time at `start`: envelopes and "back at" need a date, and the core may
    /// not read a clock, so it is carried forward from the creation instant.
    wall_start: DateTime<Utc>,
}

impl Outbox {
    pub(super) fn new(now: Instant, wall: DateTime<Utc>) -> Self {
        Outbox {
            actions: VecDeque::new(),
            next_play: 0,
            playing: None,
            deadline: None,
            start: now,
            wall_start: wall,
        }
    }

    pub(super) fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    pub(super) fn pop(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Plays `prompt`, replacing whatever played, and clears the deadline (a wait starts when
    /// the prompt has been heard, not while it plays).
    pub(super) fn play(&mut self, prompt: Prompt, barge_in: bool) {
        let id = PlayId(self.next_play);
        self.next_play += 1;
        self.playing = Some((id, barge_in));
        self.deadline = None;
        self.push(Action::Play {
            id,
            prompt,
            barge_in,
        });
    }

    /// Stops the prompt if one still plays.
    pub(super) fn stop_playback(&mut self) {
        if self.playing.take().is_some() {
            self.push(Action::StopPlayback);
        }
    }

    /// A key was pressed: a barge-in prompt has been stopped by the driver.
    pub(super) fn key_pressed(&mut self) {
        if matches!(self.playing, Some((_, true))) {
            self.playing = None;
        }
    }

    /// `PromptDone(id)` arrived: true if it is the prompt in progress (and it has ended).
    pub(super) fn prompt_done(&mut self, id: PlayId) -> bool {
        match self.playing {
            Some((current, _)) if current == id => {
                self.playing = None;
                true
            }
            _ => false,
        }
    }

    pub(super) fn arm(&mut self, now: Instant, after: Duration) {
        self.deadline = Some(now + after);
    }

    pub(super) fn disarm(&mut self) {
        self.deadline = None;
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// `Event::Timeout` arrived: true (and the deadline is consumed) if it is really due. An
    /// early or stale timeout is ignored, so a driver that wakes spuriously changes nothing.
    pub(super) fn timed_out(&mut self, now: Instant) -> bool {
        match self.deadline {
            Some(at) if now >= at => {
                self.deadline = None;
                true
            }
            _ => false,
        }
    }

    /// The wall-clock time at `now`, carried forward from the creation instant.
    pub(super) fn wall(&self, now: Instant) -> DateTime<Utc> {
        let elapsed = now.saturating_duration_since(self.start);
        self.wall_start
            + chrono::Duration::from_std(elapsed).unwrap_or_else(|_| chrono::Duration::zero())
    }
}
