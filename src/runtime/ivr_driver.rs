//! The one driver loop of both IVRs: runs an [`ivr::Machine`](crate::ivr::Machine) (the
//! deposit or the retrieval) over one answered call's media session and the SIP side's
//! channels, and hands what only one kind of IVR does to its [`Handler`].
//!
//! In the call flow: the SIP side answered the caller's INVITE (`ivr_leg`, RFC 3261
//! §13.3.1.4) and spawned `voicemail::run_deposit` or `mailbox::run_retrieve`, which build
//! their machine and handler and call [`IvrDriver::run`]. The loop is the sans-I/O contract of
//! CONTRIBUTING.md rule 6 made concrete: feed the machine what happened (keys from RFC 4733 or
//! SIP INFO, a prompt's end, a recording's end, the hang-up, a deadline reached, a store
//! answer), then carry out every action it polls, in order. What both IVRs do alike is done
//! here:
//!
//! - `Play`: the handler resolves the prompt to audio, at once or in the background (a stitch
//!   on the blocking pool); the loop keeps serving events meanwhile and plays it when it is
//!   ready, unless a newer `Play` or a stop came first. A prompt with nothing to hear is over
//!   at once. The media session's `PlaybackDone` becomes `PromptDone` only for the playback it
//!   belongs to (an earlier prompt's end can cross our `play`).
//! - A key stops a barge-in prompt before the machine hears it.
//! - `Record`: the record tone, then the recorder from the tone's last sample; the audio and
//!   the end go to the handler, which keeps the take.
//! - `Transfer`: the caller hears ringback until the SIP side takes the call away (its events
//!   end) or reports `TransferFailed`, which goes to the machine (a machine already finished
//!   has nothing to go back to, and the call ends).
//! - `HangUp`, re-INVITE offers, the RTP timeout and a stopped media engine.
//!
//! CONTRIBUTING.md rule 12: a hang-up is an input. It is fed to the machine once, and the loop
//! goes on until the machine is finished: the message being recorded is stopped and saved, the
//! deletes held in the call are done. Only then is the media session closed, and what it
//! still held (a recording cut by the close) goes to [`Handler::finish`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;
use tracing::{debug, info, warn, Instrument};

use super::leg::{LegCommand, LegEvent};
use crate::clock::Clock;
use crate::domain::model::{UserId, VoicemailId};
use crate::domain::Lang;
use crate::ivr::{Action, Event, Machine, PlayId, Prompt, RecordingEnd, StoreReply, StoreRequest};
use crate::media::audio::Audio;
use crate::media::engine::{Closed, MediaHandle};
use crate::media::recorder::{RecordOptions, RecordStop, Recording};
use crate::media::sdp::SessionDescription;
use crate::media::session::{MediaEvent, PlaybackId};

/// A prompt's audio being made off the loop (stitched on the blocking pool, read from the
/// spool); `Err` says why it cannot be played, for the log.
pub(super) type Pending = Pin<Box<dyn Future<Output = Result<Audio, String>> + Send + 'static>>;

/// A prompt as the handler resolved it.
pub(super) enum PromptAudio {
    /// Play this now.
    Ready(Audio),
    /// Play this when it is ready; the loop serves events meanwhile.
    Pending(Pending),
    /// Nothing to hear: the prompt is over at once.
    Nothing,
}

/// What only one kind of IVR does: where its prompts' audio comes from, what becomes of a
/// recording, and the store requests it answers. The loop calls these in the order of the
/// machine's actions.
pub(super) trait Handler {
    /// The audio of `prompt`.
    async fn prompt(&mut self, prompt: Prompt) -> PromptAudio;
    /// The record tone, in the language the caller hears; `None` records without it.
    async fn tone(&mut self, lang: Lang) -> Option<Arc<[i16]>>;
    /// How to record for a `Record` action.
    fn record_options(&self, max: Duration, silence_timeout: Duration) -> RecordOptions {
        RecordOptions {
            max_duration: max,
            silence_timeout: Some(silence_timeout),
            ..RecordOptions::default()
        }
    }
    /// The recorder has started (after the tone).
    fn recording_started(&mut self) {}
    /// A streamed chunk of the recording in progress: the only copy of it.
    fn recording_audio(&mut self, chunk: Vec<i16>) {
        debug!(samples = chunk.len(), "recording audio not kept");
    }
    /// The recording ended: keep it as the take; returns its `(duration_ms, speech_ms)` for
    /// [`Event::RecordingDone`].
    fn recording_done(&mut self, recording: Recording) -> (u64, u64);
    /// `StopRecording` came during the tone: the take is empty.
    fn recording_stopped_at_tone(&mut self);
    /// `DiscardRecording`: throw the take away.
    fn discard_recording(&mut self);
    /// Answers a store request.
    async fn store(&mut self, request: StoreRequest) -> StoreReply;
    /// `Notify`: a new message is stored.
    fn notify(&mut self, user: UserId, message: VoicemailId) {
        debug!(user = user.0, message = message.0, "notify ignored");
    }
    /// Every action polled so far is carried out (the retrieval publishes changed counts once
    /// per batch here).
    async fn actions_done(&mut self) {}
    /// The machine is finished and the media session closed: `closed` holds what the session
    /// still had (events not read, a recording cut by the close).
    async fn finish(&mut self, closed: Closed);
}

/// The media session as the loop uses it: [`MediaHandle`] in a call, a scripted one in the
/// loop's tests.
pub(super) trait IvrMedia {
    /// Plays `audio`, replacing what plays.
    fn play(&mut self, audio: Audio) -> PlaybackId;
    /// Stops the prompt; no `PlaybackDone` follows.
    fn stop_playback(&self);
    /// Starts the recorder.
    fn record(&self, options: RecordOptions);
    /// Ends the recording now.
    fn stop_recording(&self);
    /// Answers a re-INVITE's or UPDATE's offer (`LegCommand::Answer`).
    fn answer(&mut self, id: u64, offer: &SessionDescription) -> LegCommand;
    /// The next event; `None` once the engine has stopped.
    async fn next_event(&mut self) -> Option<MediaEvent>;
    /// Closes the session, handing back what it still held.
    async fn close(self) -> Closed;
}

impl IvrMedia for MediaHandle {
    fn play(&mut self, audio: Audio) -> PlaybackId {
        MediaHandle::play(self, audio)
    }
    fn stop_playback(&self) {
        MediaHandle::stop_playback(self);
    }
    fn record(&self, options: RecordOptions) {
        MediaHandle::record(self, options);
    }
    fn stop_recording(&self) {
        MediaHandle::stop_recording(self);
    }
    fn answer(&mut self, id: u64, offer: &SessionDescription) -> LegCommand {
        super::leg::answer_offer(Some(self), id, offer)
    }
    async fn next_event(&mut self) -> Option<MediaEvent> {
        MediaHandle::next_event(self).await
    }
    async fn close(self) -> Closed {
        MediaHandle::close(self).await
    }
}

/// What the media session plays on the loop's behalf, and under which playback id: only the
/// `PlaybackDone` carrying it ends it.
#[derive(Debug, Clone, Copy)]
struct OnAir {
    what: Playing,
    playback: PlaybackId,
}

#[derive(Debug, Clone, Copy)]
enum Playing {
    /// A `Play` action's prompt.
    Prompt { id: PlayId, barge_in: bool },
    /// The record tone; the recorder starts when it has played.
    Tone(RecordOptions),
    /// Ringback while a transfer rings its destination; played again until it ends.
    Ringback,
}

/// A prompt resolved in the background.
struct Resolved {
    /// The [`IvrDriver::generation`] it was asked for in: an older one is dropped.
    generation: u64,
    id: PlayId,
    barge_in: bool,
    audio: Result<Audio, String>,
}

/// One call's IVR: the machine, its handler, the media session and the SIP side's channels.
pub(super) struct IvrDriver<M, H, Md> {
    machine: M,
    handler: H,
    media: Md,
    events: mpsc::Receiver<LegEvent>,
    commands: mpsc::Sender<LegCommand>,
    clock: Arc<dyn Clock>,
    /// Events produced while carrying out actions, fed before waiting for new ones.
    pending: VecDeque<Event>,
    on_air: Option<OnAir>,
    /// The prompt being resolved in the background, with its barge-in flag.
    resolving: Option<(PlayId, bool)>,
    /// Bumped by every `Play` and stop: a prompt resolved for an older one is dropped.
    generation: u64,
    resolved_tx: mpsc::Sender<Resolved>,
    resolved_rx: mpsc::Receiver<Resolved>,
    media_open: bool,
    leg_open: bool,
    /// `Event::Hangup` has been fed (the caller hung up, or their media is gone).
    caller_gone: bool,
    /// No BYE is needed from us: the caller hung up, we sent `HangUp`, or the SIP side took
    /// the call away.
    call_over: bool,
    /// A transfer rings its destination (ringback on air).
    transferring: bool,
}

impl<M, H, Md> IvrDriver<M, H, Md>
where
    M: Machine,
    H: Handler,
    Md: IvrMedia,
{
    /// A driver for `machine` (its first actions not yet polled) on this call.
    pub(super) fn new(
        machine: M,
        handler: H,
        media: Md,
        events: mpsc::Receiver<LegEvent>,
        commands: mpsc::Sender<LegCommand>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (resolved_tx, resolved_rx) = mpsc::channel(4);
        IvrDriver {
            machine,
            handler,
            media,
            events,
            commands,
            clock,
            pending: VecDeque::new(),
            on_air: None,
            resolving: None,
            generation: 0,
            resolved_tx,
            resolved_rx,
            media_open: true,
            leg_open: true,
            caller_gone: false,
            call_over: false,
            transferring: false,
        }
    }

    /// Runs the machine until it is finished (and, after a transfer it asked for last, until
    /// the SIP side has moved the call), closes the media session, lets the handler keep what
    /// it still held, and ends the call if nobody has. Returns the handler.
    pub(super) async fn run(mut self) -> H {
        loop {
            while let Some(action) = self.machine.poll_action() {
                debug!(?action, "ivr action");
                self.execute(action).await;
            }
            self.handler.actions_done().await;
            if let Some(event) = self.pending.pop_front() {
                self.feed(event);
                continue;
            }
            if self.machine.is_finished() && !self.ringing_after_the_end() {
                break;
            }
            match self.next_event().await {
                Some(Some(event)) => self.feed(event),
                Some(None) => {}
                None => {
                    // No media, no SIP side and nothing to wait for: the machine can do no
                    // more than it has done.
                    warn!("ivr abandoned: no event source left");
                    break;
                }
            }
        }
        let IvrDriver {
            mut handler,
            media,
            commands,
            call_over,
            ..
        } = self;
        let closed = media.close().await;
        handler.finish(closed).await;
        if !call_over {
            send(&commands, LegCommand::HangUp).await;
        }
        debug!("ivr over");
        handler
    }

    /// After the machine asked for a transfer and finished, the call is still ours (and its
    /// media) until the SIP side moves it or says the transfer failed.
    fn ringing_after_the_end(&self) -> bool {
        self.transferring && !self.call_over && self.leg_open && self.media_open
    }

    fn feed(&mut self, event: Event) {
        let now = self.clock.instant();
        self.machine.handle(now, event);
    }

    /// Waits for the next input. `Some(Some(event))` for the machine, `Some(None)` when what
    /// happened was the loop's own business, `None` when nothing is left to wait for.
    async fn next_event(&mut self) -> Option<Option<Event>> {
        let deadline = self.machine.poll_timeout().map(|at| {
            let wait = at.saturating_duration_since(self.clock.instant());
            TokioInstant::now() + wait
        });
        let resolving = self.resolving.is_some();
        tokio::select! {
            event = self.media.next_event(), if self.media_open => Some(match event {
                Some(event) => self.on_media(event).await,
                None => {
                    warn!("media engine stopped under the call");
                    self.media_open = false;
                    self.caller_left().await
                }
            }),
            event = self.events.recv(), if self.leg_open => Some(match event {
                Some(event) => self.on_leg(event).await,
                None => {
                    // The SIP side dropped the call (bridged after a transfer, or gone).
                    self.leg_open = false;
                    self.call_over = true;
                    self.hangup_event()
                }
            }),
            Some(resolved) = self.resolved_rx.recv(), if resolving => Some(self.on_resolved(resolved)),
            () = sleep_until(deadline), if deadline.is_some() => Some(Some(Event::Timeout)),
            else => None,
        }
    }

    /// `Event::Hangup`, the first time only.
    fn hangup_event(&mut self) -> Option<Event> {
        if self.caller_gone {
            return None;
        }
        self.caller_gone = true;
        Some(Event::Hangup)
    }

    /// The caller's media is gone (RTP timeout, engine stopped): we end the call, as a hang-up
    /// the SIP side has not seen.
    async fn caller_left(&mut self) -> Option<Event> {
        self.hang_up().await;
        self.hangup_event()
    }

    async fn on_leg(&mut self, event: LegEvent) -> Option<Event> {
        match event {
            LegEvent::Hangup => {
                info!("caller hung up");
                self.call_over = true;
                self.hangup_event()
            }
            LegEvent::Digit(digit) => self.on_digit(digit),
            LegEvent::Offer { id, offer } => {
                let answer = if self.media_open {
                    self.media.answer(id, &offer)
                } else {
                    LegCommand::Answer { id, sdp: None }
                };
                send(&self.commands, answer).await;
                None
            }
            LegEvent::TransferFailed if self.transferring => {
                self.transferring = false;
                self.stop_playback();
                if self.machine.is_finished() {
                    info!("transfer failed: ending the call");
                    self.hang_up().await;
                    None
                } else {
                    info!("transfer failed: back to the IVR");
                    Some(Event::TransferFailed)
                }
            }
            LegEvent::TransferFailed => {
                debug!("transfer failure with no transfer under way; ignored");
                None
            }
        }
    }

    async fn on_media(&mut self, event: MediaEvent) -> Option<Event> {
        match event {
            MediaEvent::Digit(digit) => self.on_digit(digit),
            MediaEvent::PlaybackDone(playback) => self.on_playback_done(playback),
            MediaEvent::RecordingAudio(chunk) => {
                self.handler.recording_audio(chunk);
                None
            }
            MediaEvent::RecordingDone(recording) => {
                let ended_by = match recording.reason {
                    RecordStop::Silence => RecordingEnd::Silence,
                    RecordStop::MaxLength => RecordingEnd::MaxLength,
                    RecordStop::Stopped => RecordingEnd::Stopped,
                    RecordStop::Hangup => RecordingEnd::Hangup,
                };
                let (duration_ms, speech_ms) = self.handler.recording_done(recording);
                info!(duration_ms, speech_ms, ?ended_by, "recording ended");
                Some(Event::RecordingDone {
                    duration_ms,
                    speech_ms,
                    ended_by,
                })
            }
            MediaEvent::MediaTimeout => {
                warn!("no RTP from the caller: ending the call");
                self.caller_left().await
            }
        }
    }

    /// A key, from the media or SIP INFO: a barge-in prompt stops before the machine hears it
    /// (`Action::Play`), whether it plays or is still being made.
    fn on_digit(&mut self, digit: crate::media::dtmf::Digit) -> Option<Event> {
        if self.caller_gone {
            return None;
        }
        debug!(digit = %digit.as_char(), "key pressed");
        let on_air = matches!(
            self.on_air,
            Some(OnAir {
                what: Playing::Prompt { barge_in: true, .. },
                ..
            })
        );
        let coming = matches!(self.resolving, Some((_, true)));
        if on_air || coming {
            self.stop_playback();
        }
        Some(Event::Digit(digit))
    }

    fn on_playback_done(&mut self, playback: PlaybackId) -> Option<Event> {
        let on_air = self.on_air?;
        if on_air.playback != playback {
            debug!("end of a replaced prompt ignored");
            return None;
        }
        self.on_air = None;
        match on_air.what {
            Playing::Prompt { id, .. } => Some(Event::PromptDone(id)),
            Playing::Tone(options) => {
                self.start_recording(options);
                None
            }
            Playing::Ringback => {
                if self.transferring {
                    self.play(crate::media::ringback::cadence().into(), Playing::Ringback);
                }
                None
            }
        }
    }

    fn on_resolved(&mut self, resolved: Resolved) -> Option<Event> {
        if resolved.generation != self.generation {
            return None;
        }
        self.resolving = None;
        match resolved.audio {
            Ok(audio) if !audio.is_empty() => {
                self.play(
                    audio,
                    Playing::Prompt {
                        id: resolved.id,
                        barge_in: resolved.barge_in,
                    },
                );
                None
            }
            Ok(_) => Some(Event::PromptDone(resolved.id)),
            Err(error) => {
                // A prompt that cannot be played must not hold the caller: the machine goes on
                // as if it had been heard.
                warn!(%error, "prompt not playable; skipped");
                Some(Event::PromptDone(resolved.id))
            }
        }
    }

    fn play(&mut self, audio: Audio, what: Playing) {
        let playback = self.media.play(audio);
        self.on_air = Some(OnAir { what, playback });
    }

    /// Stops whatever plays (prompt, tone, ringback) and drops a prompt still being made.
    fn stop_playback(&mut self) {
        self.generation += 1;
        self.resolving = None;
        if self.on_air.take().is_some() {
            self.media.stop_playback();
        }
    }

    fn start_recording(&mut self, options: RecordOptions) {
        debug!(max = ?options.max_duration, "recording started");
        self.media.record(options);
        self.handler.recording_started();
    }

    async fn hang_up(&mut self) {
        if !self.call_over {
            self.call_over = true;
            send(&self.commands, LegCommand::HangUp).await;
        }
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Play {
                id,
                prompt,
                barge_in,
            } => self.play_prompt(id, prompt, barge_in).await,
            Action::StopPlayback => {
                // The machine stops its prompt; the tone and ringback are the loop's.
                let prompt = matches!(
                    self.on_air,
                    Some(OnAir {
                        what: Playing::Prompt { .. },
                        ..
                    })
                );
                if prompt || self.resolving.is_some() {
                    self.stop_playback();
                }
            }
            Action::Record {
                max,
                silence_timeout,
                beep_first,
            } => {
                let options = self.handler.record_options(max, silence_timeout);
                self.stop_playback();
                let tone = if beep_first {
                    self.handler.tone(self.machine.lang()).await
                } else {
                    None
                };
                match tone {
                    Some(tone) if !tone.is_empty() => {
                        self.play(tone.into(), Playing::Tone(options));
                    }
                    _ => self.start_recording(options),
                }
            }
            Action::StopRecording => {
                if let Some(OnAir {
                    what: Playing::Tone(_),
                    ..
                }) = self.on_air
                {
                    // Stopped during the tone: nothing was recorded.
                    self.stop_playback();
                    self.handler.recording_stopped_at_tone();
                    self.pending.push_back(Event::RecordingDone {
                        duration_ms: 0,
                        speech_ms: 0,
                        ended_by: RecordingEnd::Stopped,
                    });
                } else {
                    self.media.stop_recording();
                }
            }
            Action::DiscardRecording => self.handler.discard_recording(),
            Action::Transfer { number } => {
                info!(%number, "transferring the caller");
                send(&self.commands, LegCommand::Transfer { number }).await;
                // The caller hears ringback until the SIP side takes the call away (bridged,
                // or REFER accepted: our events end) or says the transfer failed.
                self.stop_playback();
                self.transferring = true;
                self.play(crate::media::ringback::cadence().into(), Playing::Ringback);
            }
            Action::HangUp => self.hang_up().await,
            Action::Notify { user, message } => self.handler.notify(user, message),
            Action::Store(request) => {
                let reply = self.handler.store(request).await;
                self.pending.push_back(Event::StoreReply(reply));
            }
        }
    }

    /// A `Play`: whatever played stops, and the prompt plays when its audio is there.
    async fn play_prompt(&mut self, id: PlayId, prompt: Prompt, barge_in: bool) {
        self.stop_playback();
        match self.handler.prompt(prompt).await {
            PromptAudio::Ready(audio) if !audio.is_empty() => {
                self.play(audio, Playing::Prompt { id, barge_in });
            }
            PromptAudio::Ready(_) | PromptAudio::Nothing => {
                // Nothing to hear: the prompt is over at once, so the caller is never left
                // waiting in silence for a report that cannot come.
                self.pending.push_back(Event::PromptDone(id));
            }
            PromptAudio::Pending(audio) => {
                self.resolving = Some((id, barge_in));
                let generation = self.generation;
                let tx = self.resolved_tx.clone();
                tokio::spawn(
                    async move {
                        let audio = audio.await;
                        let _ = tx
                            .send(Resolved {
                                generation,
                                id,
                                barge_in,
                                audio,
                            })
                            .await;
                    }
                    .in_current_span(),
                );
            }
        }
    }
}

async fn send(commands: &mpsc::Sender<LegCommand>, command: LegCommand) {
    if commands.send(command).await.is_err() {
        debug!("SIP side gone; command dropped");
    }
}

async fn sleep_until(deadline: Option<TokioInstant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
