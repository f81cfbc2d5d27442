//! The shared loop under tokio's paused clock (CONTRIBUTING.md rule 5), with a scripted
//! machine, handler and media session: what the loop itself promises, whatever the IVR.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::*;
use crate::ivr::{Action, Event, Machine, PlayId, Prompt, StoreReply, StoreRequest};
use crate::media::dtmf::Digit;
use crate::media::vad::SpeechSummary;
use crate::speech::Utterance;

/// Monotonic time that is tokio's, so the paused clock moves it.
struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }
    fn instant(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

type React = Box<dyn FnMut(Instant, &Event) -> Vec<Action> + Send>;

/// A machine that answers each event with the actions `react` gives; `Action::HangUp` finishes
/// it, and `Action::Transfer` too unless it waits for the outcome (as the deposit does).
struct Scripted {
    out: std::collections::VecDeque<Action>,
    waits_for_transfer: bool,
    deadline: Option<Instant>,
    finished: bool,
    heard: Arc<Mutex<Vec<String>>>,
    react: React,
}

impl Scripted {
    fn new(first: Vec<Action>, heard: Arc<Mutex<Vec<String>>>, react: React) -> Self {
        let mut machine = Scripted {
            out: Default::default(),
            waits_for_transfer: false,
            deadline: None,
            finished: false,
            heard,
            react,
        };
        machine.push(first);
        machine
    }

    fn push(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::HangUp => self.finished = true,
                Action::Transfer { .. } if !self.waits_for_transfer => self.finished = true,
                _ => {}
            }
            self.out.push_back(action);
        }
    }
}

impl Machine for Scripted {
    fn handle(&mut self, now: Instant, event: Event) {
        if event == Event::Timeout {
            self.deadline = None;
        }
        self.heard.lock().unwrap().push(format!("{event:?}"));
        let actions = (self.react)(now, &event);
        self.push(actions);
    }
    fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
    fn is_finished(&self) -> bool {
        self.finished && self.out.is_empty()
    }
    fn lang(&self) -> Lang {
        Lang::En
    }
}

/// A media session whose every command is reported to the test, and whose events the test
/// sends.
struct FakeMedia {
    did: mpsc::UnboundedSender<String>,
    events: mpsc::UnboundedReceiver<MediaEvent>,
    plays: u64,
}

impl IvrMedia for FakeMedia {
    fn play(&mut self, _audio: Audio) -> PlaybackId {
        self.plays += 1;
        let _ = self.did.send(format!("play {}", self.plays));
        PlaybackId(self.plays)
    }
    fn stop_playback(&self) {
        let _ = self.did.send("stop".into());
    }
    fn record(&self, _options: RecordOptions) {
        let _ = self.did.send("record".into());
    }
    fn stop_recording(&self) {
        let _ = self.did.send("stop recording".into());
    }
    fn answer(&mut self, id: u64, _offer: &SessionDescription) -> LegCommand {
        LegCommand::Answer { id, sdp: None }
    }
    async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }
    async fn close(self) -> Closed {
        let _ = self.did.send("close".into());
        Closed::default()
    }
}

/// A handler that writes down what it is asked and answers every store request.
struct Notes {
    log: Arc<Mutex<Vec<String>>>,
}

impl Handler for Notes {
    async fn prompt(&mut self, _prompt: Prompt) -> PromptAudio {
        PromptAudio::Ready(Audio::from(vec![1i16; 160]))
    }
    async fn tone(&mut self, _lang: Lang) -> Option<Arc<[i16]>> {
        Some(Arc::from(vec![1i16; 80]))
    }
    fn recording_done(&mut self, recording: Recording) -> (u64, u64) {
        self.log.lock().unwrap().push("take".into());
        (recording.len() as u64 / 8, 0)
    }
    fn recording_stopped_at_tone(&mut self) {
        self.log.lock().unwrap().push("empty take".into());
    }
    fn discard_recording(&mut self) {}
    async fn store(&mut self, request: StoreRequest) -> StoreReply {
        // A store that takes its time: the loop must still wait for it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.log.lock().unwrap().push(format!("store {request:?}"));
        StoreReply::MessageSaved(VoicemailId(1))
    }
    async fn finish(&mut self, _closed: Closed) {
        self.log.lock().unwrap().push("finish".into());
    }
}

struct Call {
    /// What the media session was told.
    did: mpsc::UnboundedReceiver<String>,
    media: mpsc::UnboundedSender<MediaEvent>,
    leg: mpsc::Sender<LegEvent>,
    commands: mpsc::Receiver<LegCommand>,
    /// What the machine heard.
    heard: Arc<Mutex<Vec<String>>>,
    /// What the handler was asked.
    log: Arc<Mutex<Vec<String>>>,
    driver: tokio::task::JoinHandle<()>,
}

fn start(first: Vec<Action>, react: React) -> Call {
    start_with(first, None, react)
}

fn start_with(first: Vec<Action>, deadline: Option<Instant>, react: React) -> Call {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let mut machine = Scripted::new(first, heard.clone(), react);
    machine.deadline = deadline;
    launch(machine, heard)
}

fn launch(machine: Scripted, heard: Arc<Mutex<Vec<String>>>) -> Call {
    let (did_tx, did) = mpsc::unbounded_channel();
    let (media, media_rx) = mpsc::unbounded_channel();
    let (leg, events) = mpsc::channel(8);
    let (commands_tx, commands) = mpsc::channel(8);
    let log = Arc::new(Mutex::new(Vec::new()));
    let driver = IvrDriver::new(
        machine,
        Notes { log: log.clone() },
        FakeMedia {
            did: did_tx,
            events: media_rx,
            plays: 0,
        },
        events,
        commands_tx,
        Arc::new(TokioClock),
    );
    let driver = tokio::spawn(async move {
        driver.run().await;
    });
    Call {
        did,
        media,
        leg,
        commands,
        heard,
        log,
        driver,
    }
}

impl Call {
    async fn did(&mut self) -> String {
        self.did
            .recv()
            .await
            .expect("the media session is told something")
    }
}

fn record(beep_first: bool) -> Action {
    Action::Record {
        max: Duration::from_secs(60),
        silence_timeout: Duration::from_secs(5),
        beep_first,
    }
}

fn save() -> Action {
    Action::Store(StoreRequest::SaveMessage {
        user: UserId(7),
        caller_number: None,
        caller_name: None,
        received_at: DateTime::<Utc>::UNIX_EPOCH,
        duration_ms: 0,
    })
}

fn recording(reason: RecordStop, samples: usize) -> MediaEvent {
    MediaEvent::RecordingDone(Recording {
        streamed: 0,
        pcm: vec![0; samples],
        reason,
        speech: SpeechSummary::default(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_hang_up_while_recording_saves_the_message_before_the_task_ends() {
    // The deposit's shape: record after the tone; the hang-up stops the recorder, the take
    // is saved, and only then is the machine finished.
    let mut call = start(
        vec![record(true)],
        Box::new(|_, event| match event {
            Event::Hangup => vec![Action::StopRecording],
            Event::RecordingDone { .. } => vec![save()],
            Event::StoreReply(_) => vec![Action::HangUp],
            _ => vec![],
        }),
    );
    assert_eq!(call.did().await, "play 1", "the tone");
    call.media
        .send(MediaEvent::PlaybackDone(PlaybackId(1)))
        .unwrap();
    assert_eq!(call.did().await, "record", "from the tone's last sample");
    call.leg.send(LegEvent::Hangup).await.unwrap();
    assert_eq!(call.did().await, "stop recording");
    call.media
        .send(recording(RecordStop::Stopped, 16_000))
        .unwrap();
    assert_eq!(call.did().await, "close");
    call.driver.await.unwrap();
    let log = call.log.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0], "take");
    assert!(log[1].starts_with("store SaveMessage"), "{log:?}");
    assert_eq!(log[2], "finish");
    let heard = call.heard.lock().unwrap().clone();
    assert_eq!(heard[0], "Hangup");
    assert!(
        heard[1].starts_with("RecordingDone { duration_ms: 2000"),
        "{heard:?}"
    );
    assert!(heard[2].starts_with("StoreReply(MessageSaved"), "{heard:?}");
    // The caller hung up: no BYE from us, nothing else asked of the SIP side.
    assert_eq!(call.commands.try_recv().ok(), None);
}

#[tokio::test(start_paused = true)]
async fn the_hang_up_is_fed_once_whoever_reports_it() {
    // The RTP timeout and the BYE both say the caller is gone: the machine hears it once, and
    // we send the BYE the SIP side has not seen.
    let mut call = start(
        vec![],
        Box::new(|_, event| match event {
            Event::Hangup => vec![Action::Store(StoreRequest::Delete {
                user: UserId(7),
                id: VoicemailId(3),
            })],
            Event::StoreReply(_) => vec![Action::HangUp],
            _ => vec![],
        }),
    );
    call.media.send(MediaEvent::MediaTimeout).unwrap();
    assert_eq!(call.commands.recv().await, Some(LegCommand::HangUp));
    call.leg.send(LegEvent::Hangup).await.unwrap();
    call.driver.await.unwrap();
    let heard = call.heard.lock().unwrap().clone();
    assert_eq!(
        heard.iter().filter(|e| *e == "Hangup").count(),
        1,
        "{heard:?}"
    );
    let log = call.log.lock().unwrap().clone();
    assert!(log.iter().any(|l| l.starts_with("store Delete")), "{log:?}");
    assert_eq!(call.commands.try_recv().ok(), None, "one BYE");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_is_reached_in_virtual_time() {
    let (fired_tx, mut fired) = mpsc::unbounded_channel();
    let t0 = TokioClock.instant();
    let mut call = start_with(
        vec![],
        Some(t0 + Duration::from_secs(10)),
        Box::new(move |now, event| match event {
            Event::Timeout => {
                let _ = fired_tx.send(now);
                vec![Action::HangUp]
            }
            _ => vec![],
        }),
    );
    assert_eq!(call.commands.recv().await, Some(LegCommand::HangUp));
    let at = fired.recv().await.expect("the deadline was reached");
    assert!(at >= t0 + Duration::from_secs(10), "not early");
    call.driver.await.unwrap();
    assert_eq!(call.heard.lock().unwrap().as_slice(), ["Timeout"]);
}

#[tokio::test(start_paused = true)]
async fn a_barge_in_key_stops_the_prompt_before_the_machine_hears_it() {
    let mut call = start(
        vec![Action::Play {
            id: PlayId(0),
            prompt: Prompt::Speech {
                utterance: Utterance::new(),
                lang: Lang::En,
                own_name: false,
            },
            barge_in: true,
        }],
        Box::new(|_, event| match event {
            Event::Digit(_) => vec![Action::HangUp],
            _ => vec![],
        }),
    );
    assert_eq!(call.did().await, "play 1");
    call.media
        .send(MediaEvent::Digit(Digit::from_char('1').unwrap()))
        .unwrap();
    assert_eq!(call.did().await, "stop", "stopped by the key");
    assert_eq!(call.commands.recv().await, Some(LegCommand::HangUp));
    // The stopped prompt's end, crossing the stop, is not the machine's business.
    let _ = call.media.send(MediaEvent::PlaybackDone(PlaybackId(1)));
    call.driver.await.unwrap();
    let heard = call.heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert!(heard[0].starts_with("Digit"), "{heard:?}");
}

#[tokio::test(start_paused = true)]
async fn a_record_stopped_during_the_tone_ends_with_an_empty_take() {
    let mut call = start(
        vec![record(true)],
        Box::new(|_, event| match event {
            Event::Digit(_) => vec![Action::StopRecording],
            Event::RecordingDone { .. } => vec![Action::HangUp],
            _ => vec![],
        }),
    );
    assert_eq!(call.did().await, "play 1", "the tone");
    call.leg
        .send(LegEvent::Digit(Digit::from_char('#').unwrap()))
        .await
        .unwrap();
    assert_eq!(
        call.did().await,
        "stop",
        "the tone stops, nothing is recorded"
    );
    assert_eq!(call.commands.recv().await, Some(LegCommand::HangUp));
    call.driver.await.unwrap();
    assert_eq!(
        call.log.lock().unwrap().as_slice(),
        ["empty take", "finish"]
    );
    let heard = call.heard.lock().unwrap().clone();
    assert_eq!(
        heard[1],
        "RecordingDone { duration_ms: 0, speech_ms: 0, ended_by: Stopped }"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_last_transfer_the_caller_hears_ringback_until_it_fails() {
    // The retrieval's shape: the machine is finished once it asked for the transfer; if the
    // transfer fails there is nothing to go back to, and the call ends.
    let mut call = start(
        vec![Action::Transfer {
            number: "4512345678".into(),
        }],
        Box::new(|_, _| vec![]),
    );
    assert_eq!(
        call.commands.recv().await,
        Some(LegCommand::Transfer {
            number: "4512345678".into()
        })
    );
    assert_eq!(call.did().await, "play 1", "ringback");
    call.media
        .send(MediaEvent::PlaybackDone(PlaybackId(1)))
        .unwrap();
    assert_eq!(call.did().await, "play 2", "ringback again");
    call.leg.send(LegEvent::TransferFailed).await.unwrap();
    assert_eq!(call.did().await, "stop");
    assert_eq!(call.commands.recv().await, Some(LegCommand::HangUp));
    call.driver.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_failed_transfer_goes_back_to_a_machine_still_running() {
    // The deposit's shape: the machine waits for the outcome and goes on.
    let heard = Arc::new(Mutex::new(Vec::new()));
    let mut machine = Scripted::new(
        vec![],
        heard.clone(),
        Box::new(|_, event| match event {
            Event::TransferFailed => vec![Action::HangUp],
            _ => vec![],
        }),
    );
    machine.waits_for_transfer = true;
    machine.push(vec![Action::Transfer {
        number: "4512345678".into(),
    }]);
    let mut call = launch(machine, heard);
    assert!(matches!(
        call.commands.recv().await,
        Some(LegCommand::Transfer { .. })
    ));
    assert_eq!(call.did().await, "play 1", "ringback");
    call.leg.send(LegEvent::TransferFailed).await.unwrap();
    assert_eq!(call.did().await, "stop", "ringback stops");
    assert_eq!(call.commands.recv().await, Some(LegCommand::HangUp));
    call.driver.await.unwrap();
    assert_eq!(call.heard.lock().unwrap().as_slice(), ["TransferFailed"]);
}
