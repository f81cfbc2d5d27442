//! The voicemail retrieval driver (`runtime::mailbox::run_retrieve`) end to end without SIP:
//! the real media engine on 127.0.0.1, a peer socket playing the phone (RFC 4733 keys out,
//! G.711 in), a temporary SQLite store with the demo organisation and two messages of known
//! audio, and the real prompts. What the caller hears is compared with what should be said:
//! each prompt starts a talkspurt (RTP marker bit, RFC 3551 §4.1), so the received stream is
//! cut at the markers and each piece compared with the stitched prompt or the stored tone.

use crate::support::rtp_peer::PeerStream;
use crate::support::voicemail::{assert_sounds_like, frames_lost_between, snr_db, FRAME, LOST};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onestatus::clock::{Clock, SystemClock};
use onestatus::config::RtpConfig;
use onestatus::domain::{Lang, MessageState};
use onestatus::ivr::{Entry, RetrieveSetup};
use onestatus::media::decode::{wav_bytes, DecodeLimits, PromptCache};
use onestatus::media::dtmf::Digit;
use onestatus::media::engine::MediaEngine;
use onestatus::media::g711::G711;
use onestatus::media::rtp::RtpPacket;
use onestatus::media::sdp::SessionDescription;
use onestatus::notify::Notifier;
use onestatus::presence::{Presence, PresenceEvent};
use onestatus::runtime::ivr_leg::{IvrDeps, IvrLeg, LegCommand, LegEvent};
use onestatus::runtime::mailbox::run_retrieve;
use onestatus::shutdown::Shutdown;
use onestatus::speech::{self, fragment as f, FragmentLibrary, Utterance};
use onestatus::store::{demo, NewVoicemail, Store, User, VoicemailMessage};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

/// Longest wait for anything the IVR should do.
const WAIT: Duration = Duration::from_secs(10);

/// The newer message (heard first): 1 s of 800 Hz.
const NEWER_HZ: f64 = 800.0;
/// The older message: 1 s of 440 Hz.
const OLDER_HZ: f64 = 440.0;

fn tone(hz: f64, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()).round() as i16
        })
        .collect()
}

fn offer(peer: SocketAddr) -> SessionDescription {
    let text = format!(
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n",
        peer.port()
    );
    SessionDescription::parse(&text).unwrap()
}

/// One packet heard by the phone.
struct Heard {
    marker: bool,
    timestamp: u32,
    pcm: Vec<i16>,
}

/// A call to the mailbox, from the phone's side.
struct Call {
    store: Store,
    hans: User,
    messages: Vec<VoicemailMessage>,
    peer: Arc<UdpSocket>,
    engine_addr: SocketAddr,
    heard: Arc<Mutex<Vec<Heard>>>,
    stream: PeerStream,
    leg_events: mpsc::Sender<LegEvent>,
    commands: mpsc::Receiver<LegCommand>,
    presence: broadcast::Receiver<PresenceEvent>,
    prompts: PromptCache,
    task: JoinHandle<()>,
    _receiver: JoinHandle<()>,
    _dir: tempfile::TempDir,
    _shutdown: Shutdown,
}

/// Demo store with Hans's two new messages: the older 440 Hz one from 4522334455 two hours
/// ago, the newer 800 Hz one from 4533445566 an hour ago.
async fn store_with_messages(dir: &Path) -> (Store, User, Vec<VoicemailMessage>) {
    let url = format!("sqlite://{}", dir.join("onestatus.db").display());
    let store = Store::connect(&url).await.unwrap();
    let now = SystemClock.now();
    demo::seed_at(&store, now - chrono::Duration::days(1))
        .await
        .unwrap();
    let hans = store.user_by_local_number("1000001").await.unwrap();
    let mut messages = Vec::new();
    for (hz, caller, ago) in [(OLDER_HZ, "4522334455", 2), (NEWER_HZ, "4533445566", 1)] {
        let message = store
            .voicemail_insert(&NewVoicemail {
                user_id: hans.id,
                caller_number: Some(caller.to_owned()),
                caller_name: None,
                received_at: now - chrono::Duration::hours(ago),
                duration_ms: 1000,
                audio: wav_bytes(&tone(hz, 8000)).unwrap(),
            })
            .await
            .unwrap();
        messages.push(message);
    }
    (store, hans, messages)
}

impl Call {
    /// Opens the media session, starts `run_retrieve` and the phone's receiver.
    async fn start(entry: impl FnOnce(&User) -> Entry, prepare: Prepare) -> Call {
        let dir = tempfile::tempdir().unwrap();
        let (store, hans, messages) = store_with_messages(dir.path()).await;
        prepare.run(&store, &hans).await;

        let peer = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let shutdown = Shutdown::new();
        let engine = MediaEngine::start(
            &RtpConfig {
                // Apart from the ranges of media.rs: the modules share one test process.
                port_min: 45_000,
                port_max: 45_999,
                ptime_ms: 20,
                ..RtpConfig::default()
            },
            shutdown.listener(),
        );
        let (media, answer) = engine
            .open_session(
                &offer(peer.local_addr().unwrap()),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            )
            .unwrap();
        assert_eq!(answer.media[0].formats, vec!["8", "101"], "PCMA chosen");
        let engine_addr = media.local_addr();

        let heard = Arc::new(Mutex::new(Vec::new()));
        let receiver = tokio::spawn({
            let peer = peer.clone();
            let heard = heard.clone();
            async move {
                let mut buffer = [0u8; 2048];
                loop {
                    let Ok((len, _)) = peer.recv_from(&mut buffer).await else {
                        return;
                    };
                    let Ok(packet) = RtpPacket::parse(&buffer[..len]) else {
                        continue;
                    };
                    assert_eq!(packet.payload_type, 8, "PCMA as answered");
                    let pcm = G711::Pcma.decode(packet.payload);
                    let mut heard = heard.lock().unwrap();
                    // A frame the server skipped (a stalled driver) keeps its place, so
                    // that packet k is frame k of the stream.
                    if let Some(previous) = heard.last().map(|h: &Heard| h.timestamp) {
                        let lost = frames_lost_between(previous, packet.timestamp, packet.marker);
                        heard.extend((1..=lost).map(|k| Heard {
                            marker: false,
                            timestamp: previous.wrapping_add((k * FRAME) as u32),
                            pcm: vec![LOST; FRAME],
                        }));
                    }
                    heard.push(Heard {
                        marker: packet.marker,
                        timestamp: packet.timestamp,
                        pcm,
                    });
                }
            }
        });

        let library =
            FragmentLibrary::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap();
        let prompts = PromptCache::new(library, DecodeLimits::default());
        let presence = Presence::new();
        let presence_rx = presence.subscribe();
        let changed = onestatus::notify::VoicemailChanged::new(store.clone(), presence.clone());
        let deps = IvrDeps {
            store: store.clone(),
            prompts: Arc::new(prompts.clone()),
            notifier: Arc::new(Notifier::new(
                None,
                None,
                onestatus::notify::email::mailbox("voicemail@example.com").unwrap(),
                "http://127.0.0.1",
                "8000",
            )),
            presence,
            clock: Arc::new(SystemClock),
            limits: onestatus::ivr::RecordingLimits::default(),
            pin_check: onestatus::pin::PinCheck::new(
                store.clone(),
                onestatus::config::ApiConfig::default().lockout_policy(),
            ),
            voicemail: onestatus::runtime::voicemail::VoicemailShared::new(
                onestatus::runtime::voicemail::SpoolDir::memory(),
                changed,
            ),
            deny_list: Default::default(),
        };
        let (leg_events, events) = mpsc::channel(16);
        let (commands_tx, commands) = mpsc::channel(16);
        let leg = IvrLeg {
            call_id: "retrieve-test@127.0.0.1".to_owned(),
            media,
            events,
            commands: commands_tx,
            origin: Vec::new(),
        };
        let task = tokio::spawn(run_retrieve(
            leg,
            RetrieveSetup::new(entry(&hans), Lang::Da),
            deps,
        ));
        Call {
            store,
            hans,
            messages,
            peer,
            engine_addr,
            heard,
            stream: PeerStream {
                seq: 1000,
                ts: 0,
                ssrc: 0x5EED_0002,
            },
            leg_events,
            commands,
            presence: presence_rx,
            prompts,
            task,
            _receiver: receiver,
            _dir: dir,
            _shutdown: shutdown,
        }
    }

    /// Presses keys as RFC 4733 telephone-events in the RTP stream.
    async fn keys(&mut self, keys: &str) {
        for c in keys.chars() {
            let digit = Digit::from_char(c).unwrap();
            for packet in self.stream.key_press(digit.event()) {
                self.peer.send_to(&packet, self.engine_addr).await.unwrap();
                sleep(Duration::from_millis(5)).await;
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Presses keys as SIP INFO would deliver them.
    async fn info_keys(&self, keys: &str) {
        for c in keys.chars() {
            let digit = Digit::from_char(c).unwrap();
            self.leg_events.send(LegEvent::Digit(digit)).await.unwrap();
        }
    }

    /// Packets heard so far.
    fn position(&self) -> usize {
        self.heard.lock().unwrap().len()
    }

    /// Waits for the next prompt to start at or after packet `after`; its first packet.
    async fn next_prompt(&self, after: usize) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            {
                let heard = self.heard.lock().unwrap();
                // The stream's first packet is marked too (RFC 3551 §4.1); it starts a
                // prompt only if it is not the silence sent before the first prompt.
                let starts_prompt = |i: usize| {
                    heard[i].marker
                        && (i > 0 || heard[i].pcm.iter().any(|s| s.unsigned_abs() > 100))
                };
                if let Some(i) = (after..heard.len()).find(|&i| starts_prompt(i)) {
                    return i;
                }
            }
            assert!(Instant::now() < deadline, "no prompt started after {after}");
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// The audio of `frames` packets from packet `from`, waiting for them to arrive.
    async fn audio(&self, from: usize, frames: usize) -> Vec<i16> {
        let deadline = Instant::now() + WAIT;
        loop {
            {
                let heard = self.heard.lock().unwrap();
                if heard.len() >= from + frames {
                    return heard[from..from + frames]
                        .iter()
                        .flat_map(|h| h.pcm.iter().copied())
                        .collect();
                }
            }
            assert!(Instant::now() < deadline, "audio did not arrive");
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// The prompt `utterance` as the IVR plays it in Danish.
    fn said(&self, utterance: &Utterance) -> Vec<i16> {
        let segments = speech::render(utterance, Lang::Da);
        self.prompts.stitch(&segments, Some(&[])).unwrap().to_vec()
    }

    /// Checks that the prompt starting at packet `at` begins like `utterance` (up to `max`
    /// frames of it).
    async fn assert_prompt(&self, at: usize, utterance: &Utterance, max: usize, what: &str) {
        let expected = self.said(utterance);
        let frames = (expected.len() / FRAME).min(max);
        let received = self.audio(at, frames).await;
        assert_sounds_like(&received, &expected[..frames * FRAME], what);
    }

    /// The next command to the SIP side.
    async fn command(&mut self) -> LegCommand {
        timeout(WAIT, self.commands.recv())
            .await
            .expect("a command in time")
            .expect("driver alive")
    }

    /// Waits for `HangUp`, collecting the commands before it.
    async fn until_hang_up(&mut self) -> Vec<LegCommand> {
        let mut seen = Vec::new();
        loop {
            let command = self.command().await;
            if command == LegCommand::HangUp {
                return seen;
            }
            seen.push(command);
        }
    }

    /// Waits for `run_retrieve` to return. The temporary directory comes back too: the store
    /// may open its database file again after this, so the directory must outlive the checks.
    async fn finished(self) -> (Store, User, Vec<VoicemailMessage>, tempfile::TempDir) {
        timeout(WAIT, self.task)
            .await
            .expect("run_retrieve returns")
            .unwrap();
        (self.store, self.hans, self.messages, self._dir)
    }

    /// The next voicemail counts published on the bus (the web client and, through the SIP
    /// task, the phones' message-waiting lamps follow them).
    async fn voicemail_event(&mut self) -> (u32, u32) {
        loop {
            match timeout(WAIT, self.presence.recv())
                .await
                .expect("counts published in time")
            {
                Ok(PresenceEvent::Voicemail { new, old, .. }) => return (new, old),
                Ok(_) => {}
                Err(error) => panic!("presence bus: {error}"),
            }
        }
    }

    /// The latest voicemail counts published for the live web client.
    fn published_counts(&mut self) -> Option<(u32, u32)> {
        let mut last = None;
        while let Ok(event) = self.presence.try_recv() {
            if let PresenceEvent::Voicemail { new, old, .. } = event {
                last = Some((new, old));
            }
        }
        last
    }
}

/// Store changes made before a call starts.
#[derive(Debug, Clone, Copy)]
enum Prepare {
    /// The demo data and the two messages.
    AsSeeded,
    /// Hans has quick listen on.
    QuickListen,
    /// Hans has this many wrong PINs behind him.
    FailedBefore(u32),
}

impl Prepare {
    async fn run(self, store: &Store, hans: &User) {
        match self {
            Prepare::AsSeeded => {}
            Prepare::QuickListen => {
                let mut settings = store.voicemail_settings(hans.id).await.unwrap();
                settings.quick_listen = true;
                store
                    .voicemail_settings_update(hans.id, &settings)
                    .await
                    .unwrap();
            }
            Prepare::FailedBefore(n) => {
                for _ in 0..n {
                    store
                        .user_record_pin_failure(
                            hans.id,
                            5,
                            chrono::Duration::minutes(15),
                            SystemClock.now(),
                        )
                        .await
                        .unwrap();
                }
            }
        }
    }
}

fn one(id: onestatus::speech::FragmentId) -> Utterance {
    let mut u = Utterance::new();
    u.fragment(id);
    u
}

/// Logs in through the access number (local number by SIP INFO, PIN by RFC 4733) and returns
/// the packet where the prompt after the login starts.
async fn log_in(call: &mut Call, pin: &str) -> usize {
    let first = call.next_prompt(0).await;
    call.assert_prompt(
        first,
        &one(f::PLEASE_ENTER_YOUR_LOCAL_NUMBER),
        25,
        "local number prompt",
    )
    .await;
    // The seventh digit ends the local number by itself; the PIN prompt follows.
    let before = call.position();
    call.info_keys("1000001").await;
    let ask_pin = call.next_prompt(before).await;
    call.assert_prompt(ask_pin, &one(f::PLEASE_ENTER_YOUR_PIN), 20, "PIN prompt")
        .await;
    let before = call.position();
    call.keys(&format!("{pin}#")).await;
    call.next_prompt(before).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_hear_the_count_listen_delete_and_exit() {
    let mut call = Call::start(|_| Entry::AccessNumber, Prepare::AsSeeded).await;
    let after_login = log_in(&mut call, demo::PIN).await;

    // Granted: "you have 2 new messages", then the main menu.
    call.assert_prompt(
        after_login,
        &speech::message_count(2, 0),
        usize::MAX,
        "message count",
    )
    .await;

    // 1: the first (newest) message's envelope; 5 during it: the message itself.
    let before = call.position();
    call.keys("1").await;
    let envelope = call.next_prompt(before).await;
    let mut expected = Utterance::new();
    expected.fragment(f::MESSAGE_NUMBER);
    call.assert_prompt(envelope, &expected, usize::MAX, "envelope")
        .await;
    let before = call.position();
    call.keys("5").await;
    let message = call.next_prompt(before).await;
    let received = call.audio(message, 50).await;
    assert_sounds_like(&received, &tone(NEWER_HZ, 8000), "the newer message");
    assert!(
        snr_db(&received, &tone(OLDER_HZ, 8000)) < 10.0,
        "not the older message"
    );

    // Heard to the end: read, the lamp is told (1 new, 1 old); the message menu follows.
    let menu = call.next_prompt(message + 50).await;
    assert_eq!(call.voicemail_event().await, (1, 1));
    call.assert_prompt(menu, &one(f::MENU_MESSAGE_ENVELOPE), 25, "message menu")
        .await;

    // 7: deleted (undoable until leaving), #: leave; the delete is committed, goodbye.
    let before = call.position();
    call.keys("7").await;
    let deleted = call.next_prompt(before).await;
    call.assert_prompt(deleted, &one(f::MESSAGE_DELETED), usize::MAX, "deleted")
        .await;
    assert!(
        call.store
            .voicemails(call.hans.id)
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == call.messages[1].id),
        "not deleted before leaving the mailbox"
    );
    call.keys("#").await;
    let before_hang_up = call.until_hang_up().await;
    assert!(before_hang_up.is_empty(), "{before_hang_up:?}");
    // MWI after the delete, before the goodbye ends: the counts are on the bus already.
    assert_eq!(call.published_counts(), Some((1, 0)));

    let (store, hans, messages, _dir) = call.finished().await;
    let left = store.voicemails(hans.id).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, messages[0].id, "the older message is kept");
    assert_eq!(left[0].state, MessageState::New);
    assert_eq!(store.voicemail_counts(hans.id).await.unwrap(), (1, 0));
    let hans = store.user(hans.id).await.unwrap();
    assert_eq!(hans.failed_pin_attempts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_pins_end_the_call_and_are_counted() {
    let mut call = Call::start(|_| Entry::AccessNumber, Prepare::AsSeeded).await;
    for attempt in 1..=3 {
        let after = log_in(&mut call, "1111").await;
        let mut expected = Utterance::new();
        expected.fragment(f::WRONG_PIN);
        call.assert_prompt(after, &expected, usize::MAX, "wrong PIN")
            .await;
        let failures = call.store.user(call.hans.id).await.unwrap();
        assert_eq!(failures.failed_pin_attempts, attempt);
        if attempt < 3 {
            // Wait for the login to start over (the next log_in checks the prompt).
            let again = call.next_prompt(after + 1).await;
            let mut heard = call.heard.lock().unwrap();
            // log_in looks for the first marker from 0: forget what came before.
            heard.drain(..again);
        }
    }
    assert_eq!(call.until_hang_up().await, Vec::new());
    let (store, hans, _, _dir) = call.finished().await;
    let hans = store.user(hans.id).await.unwrap();
    assert_eq!(hans.failed_pin_attempts, 3);
    assert_eq!(hans.locked_until, None, "5 failures lock, not 3");
    assert_eq!(store.voicemail_counts(hans.id).await.unwrap(), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_listen_from_own_device_and_hang_up_after_a_delete() {
    let entry = |hans: &User| Entry::OwnDevice {
        user: hans.id,
        pin_required: true,
    };
    let mut call = Call::start(entry, Prepare::QuickListen).await;
    let first = call.next_prompt(0).await;
    call.assert_prompt(first, &one(f::PLEASE_ENTER_YOUR_PIN), 20, "PIN prompt")
        .await;
    let before = call.position();
    call.keys("2580#").await;

    // Quick listen: no count, no menu; straight to the newest new message's envelope.
    let envelope = call.next_prompt(before).await;
    call.assert_prompt(envelope, &one(f::MESSAGE_NUMBER), usize::MAX, "envelope")
        .await;
    let before = call.position();
    call.keys("5").await;
    let message = call.next_prompt(before).await;
    let received = call.audio(message, 50).await;
    assert_sounds_like(&received, &tone(NEWER_HZ, 8000), "the newer message");
    let menu = call.next_prompt(message + 50).await;
    assert_eq!(call.voicemail_event().await, (1, 1));
    call.assert_prompt(menu, &one(f::MENU_MESSAGE_ENVELOPE), 25, "message menu")
        .await;

    // 7, then the caller hangs up: leaving by hanging up commits the delete too.
    let before = call.position();
    call.keys("7").await;
    call.next_prompt(before).await;
    call.leg_events.send(LegEvent::Hangup).await.unwrap();
    assert_eq!(call.voicemail_event().await, (1, 0));
    let mut commands = std::mem::replace(&mut call.commands, mpsc::channel(1).1);
    let (store, hans, messages, _dir) = call.finished().await;
    assert!(
        commands.try_recv().is_err(),
        "no BYE asked for: the caller hung up"
    );
    let left = store.voicemails(hans.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, messages[0].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fifth_wrong_pin_locks_the_mailbox() {
    let mut call = Call::start(|_| Entry::AccessNumber, Prepare::FailedBefore(4)).await;
    let after = log_in(&mut call, "9999").await;
    call.assert_prompt(after, &one(f::MAILBOX_LOCKED), usize::MAX, "locked")
        .await;
    assert_eq!(call.until_hang_up().await, Vec::new());
    let (store, hans, _, _dir) = call.finished().await;
    let hans = store.user(hans.id).await.unwrap();
    assert_eq!(hans.failed_pin_attempts, 5);
    let until = hans.locked_until.expect("locked");
    let minutes = (until - SystemClock.now()).num_minutes();
    assert!(
        (14..=15).contains(&minutes),
        "locked for 15 minutes: {minutes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_mailbox_refuses_even_the_right_pin() {
    let mut call = Call::start(|_| Entry::AccessNumber, Prepare::FailedBefore(5)).await;
    let after = log_in(&mut call, demo::PIN).await;
    call.assert_prompt(after, &one(f::MAILBOX_LOCKED), usize::MAX, "locked")
        .await;
    assert_eq!(call.until_hang_up().await, Vec::new());
    let (store, hans, _, _dir) = call.finished().await;
    let hans = store.user(hans.id).await.unwrap();
    assert_eq!(hans.failed_pin_attempts, 5, "not reset by the right PIN");
    assert!(hans.locked_until.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_listen_to_and_accept_a_greeting() {
    const GREETING_HZ: f64 = 500.0;
    let mut call = Call::start(|_| Entry::AccessNumber, Prepare::AsSeeded).await;
    let after_login = log_in(&mut call, demo::PIN).await;
    call.assert_prompt(after_login, &speech::message_count(2, 0), 20, "count")
        .await;

    // 0: options; 1: greeting. The record prompt plays out, then the tone.
    let before = call.position();
    call.keys("0").await;
    call.next_prompt(before).await;
    let before = call.position();
    call.keys("1").await;
    let record_prompt = call.next_prompt(before).await;
    call.assert_prompt(
        record_prompt,
        &one(f::RECORD_YOUR_GREETING),
        usize::MAX,
        "record prompt",
    )
    .await;
    let beep = call.next_prompt(record_prompt + 1).await;
    call.assert_prompt(beep, &one(f::BEEP), usize::MAX, "record tone")
        .await;
    sleep(Duration::from_millis(500)).await;

    // 1.5 s of "speech", then #.
    let spoken = tone(GREETING_HZ, 12_000);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for frame in spoken.chunks(FRAME) {
        ticker.tick().await;
        let packet = call.stream.audio(frame);
        call.peer.send_to(&packet, call.engine_addr).await.unwrap();
    }
    let before = call.position();
    call.keys("#").await;
    let review = call.next_prompt(before).await;
    call.assert_prompt(review, &one(f::TO_ACCEPT_PRESS), usize::MAX, "review")
        .await;

    // 2: the take is played back as recorded.
    let before = call.position();
    call.keys("2").await;
    let take = call.next_prompt(before).await;
    let heard = call.audio(take, 50).await;
    let best = (0..16)
        .map(|offset| snr_db(&heard[offset + 800..], &tone(GREETING_HZ, 6000)))
        .fold(f64::MIN, f64::max);
    assert!(best > 25.0, "the take played back: SNR {best:.1} dB");

    // 1: accepted; stored and switched on, as the web client sees it.
    let before = call.position();
    call.keys("1").await;
    let options = call.next_prompt(before).await;
    call.assert_prompt(options, &one(f::MENU_OPTIONS_GREETING), 20, "options")
        .await;
    let stored = call
        .store
        .recording(call.hans.id, onestatus::store::RecordingKind::Greeting)
        .await
        .unwrap()
        .expect("greeting stored");
    let pcm =
        onestatus::media::decode::decode(stored, Some("wav"), &DecodeLimits::default()).unwrap();
    assert!(
        (11_000..=14_000).contains(&pcm.len()),
        "about 1.5 s recorded: {} samples",
        pcm.len()
    );
    let settings = call.store.voicemail_settings(call.hans.id).await.unwrap();
    assert!(settings.use_own_greeting);
    assert!(!settings.use_own_name);
    call.leg_events.send(LegEvent::Hangup).await.unwrap();
    call.finished().await;
}
