//! The media driver: UDP sockets, the clock and one timer for every call's RTP session.
//!
//! In the call flow: the SIP side hands an INVITE's SDP offer to [`MediaEngine::open_session`],
//! which binds an even port from `[rtp]` (RFC 3550 §11: RTP on an even port, RTCP on the odd
//! one above), answers the offer (RFC 3264) and returns a [`MediaHandle`]; the IVR plays,
//! records and reads [`MediaEvent`]s through the handle and closes it on hang-up.
//!
//! Scaling: a driver owns its share of the [`MediaSession`]s and a binary heap of their
//! next frame deadlines, and sleeps until the earliest. Each wake-up serves every session that
//! is due, so a thousand calls cost one timer, not a thousand tasks waking every 20 ms. There
//! is one driver per core (sessions dealt out round-robin): one driver saturated one core at
//! 2,000 calls (100,000 packets a second each way) while the other core had room.
//!
//! Each driver is an OS thread of its own, not a task on tokio's workers. A packet's pacing is
//! a real-time promise (RFC 3550 §5.1: the receiver's jitter is measured against it), and on
//! the workers it shared them with SIP, the IVRs and the store: whatever held a worker (a
//! burst of saves, a blocking call in a handler) held every call's audio with it, and the
//! voicemail bench saw gaps of up to 2.6 s at 2,000 calls while the server used 57 % of a
//! core. A thread that sleeps on its own deadline is woken by the kernel, not by a busy
//! runtime, and its sleep has the kernel timer's precision rather than tokio's 1 ms wheel.
//! Wake-ups are coalesced instead: a round serves every frame due within [`SLACK`], so a
//! driver wakes at most 1/[`SLACK`] times a second however many calls it carries, and a
//! packet leaves at most [`SLACK`] early. Commands come over a `std` channel the thread waits
//! on with the next deadline as its timeout; events and replies go back over tokio channels,
//! which wake the IVR task from any thread. The threads ask for a raised priority
//! (`priority`), so that a busy machine delays signalling before it delays audio.
//! The driver also reads each session's socket at that session's frame deadline (one
//! `recvmmsg` for whatever is queued, `recv_batch`), so a datagram costs its share of that
//! call and nothing else: no
//! receive task to wake per packet, no copy, no channel hop (at 2,000 calls those were 100,000
//! task wake-ups a second). What arrived is at most one ptime old when the session sees it.
//! The sockets are plain non-blocking `std` sockets, not registered with tokio's reactor:
//! nothing waits on their readiness, and a registered socket cost an epoll event per arriving
//! datagram and woke a parked worker thread for it (benches/README.md, "Media syscalls").
//! Sends are non-blocking `send_to`, which never blocks on a UDP socket in practice and drops
//! the packet when the kernel buffer is full rather than delay every other call.
//!
//! The sessions' pacing is exact (deadline = start + n·ptime, see `session`); the driver's
//! wake-ups only decide how far from it a packet leaves: up to [`SLACK`] early, and late by
//! the kernel's wake-up latency plus the time the round takes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self as std_mpsc, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::config::RtpConfig;
use crate::media::audio::Audio;
use crate::media::recorder::{RecordOptions, RecordStop, Recording};
use crate::media::recv_batch;
use crate::media::sdp::{self, Direction, LocalMedia, SdpError, SessionDescription};
use crate::media::session::{MediaEvent, MediaSession, PlaybackId, SessionConfig, SessionStats};
use crate::shutdown::ShutdownListener;

/// Datagrams read from one socket per visit, so that a flood on one call cannot hold the
/// driver from every other (4 s of 20 ms packets; the rest waits in the kernel's buffer).
const READ_MAX: usize = 200;

/// Events queued per handle; an IVR that stops reading loses digits past this, not memory.
/// Other events wait in the driver instead ([`Entry::held`]): streamed recording audio is
/// held nowhere else.
const EVENT_QUEUE: usize = 256;
/// Driver threads at most, however many cores.
const MAX_DRIVERS: usize = 16;
/// Commands served per driver round besides the one that woke it (see `drive`).
const COMMAND_BATCH: usize = 256;
/// How early a frame may leave so that the round that sends it can serve its neighbours too:
/// at most 2,000 wake-ups a second per driver, and a pacing error of at most half a
/// millisecond from it (issue #22's target at 1,000 calls is a p99 under 2 ms).
const SLACK: Duration = Duration::from_micros(500);
/// How long an idle driver sleeps before it looks at the shutdown flag again.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// Why a session could not be opened.
#[derive(Debug, Error)]
pub enum MediaError {
    /// The offer cannot be answered (the SIP side replies with [`SdpError::sip_status`]).
    #[error(transparent)]
    Sdp(#[from] SdpError),
    /// Every even port of the range is in use (or the range holds none).
    #[error("no free RTP port in {min}..={max}")]
    NoFreePort {
        /// `rtp.port_min`.
        min: u16,
        /// `rtp.port_max`.
        max: u16,
    },
    /// A socket operation other than "address in use" failed.
    #[error("RTP socket: {0}")]
    Socket(#[source] io::Error),
    /// Shutdown has begun: no new calls get media.
    #[error("media engine is shutting down")]
    ShuttingDown,
    /// The driver thread has ended (or could not be started).
    #[error("media engine has stopped")]
    Stopped,
}

impl MediaError {
    /// The SIP status an INVITE gets when its media cannot be set up: the SDP error's own
    /// status, else 503 (RFC 3261 §21.5.4: a temporary overload or a server going down).
    pub fn sip_status(&self) -> u16 {
        match self {
            Self::Sdp(error) => error.sip_status(),
            _ => 503,
        }
    }
}

/// Identifies a session inside the driver.
type SessionId = u64;

/// Requests from handles to the driver.
enum Command {
    Open {
        id: SessionId,
        session: Box<MediaSession>,
        socket: UdpSocket,
        events: mpsc::Sender<MediaEvent>,
    },
    Play {
        id: SessionId,
        pcm: Audio,
        playback: PlaybackId,
    },
    StopPlayback {
        id: SessionId,
    },
    Record {
        id: SessionId,
        options: RecordOptions,
    },
    StopRecording {
        id: SessionId,
    },
    Renegotiate {
        id: SessionId,
        negotiated: sdp::Negotiated,
    },
    Close {
        id: SessionId,
        reply: Option<oneshot::Sender<Closed>>,
    },
}

/// What [`MediaHandle::close`] hands back, so that nothing recorded is lost to the close.
#[derive(Debug, Default)]
pub struct Closed {
    /// Events the IVR had not read yet, in order: among them, the last streamed chunks
    /// (`MediaEvent::RecordingAudio`) of the recording below, which exist nowhere else.
    pub events: Vec<MediaEvent>,
    /// The recording still running, ended with [`RecordStop::Hangup`].
    pub recording: Option<Recording>,
    /// RTP packets of the peer's stream that never arrived (its sequence gaps, RFC 3550
    /// A.3), for `/metrics`.
    pub lost: u64,
}

/// The media engine: cheap to clone, a driver thread per core behind it.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    inner: Arc<EngineInner>,
}

/// Where one driver thread takes its work.
#[derive(Debug)]
struct Driver {
    commands: std_mpsc::Sender<Command>,
}

#[derive(Debug)]
struct EngineInner {
    /// At least one; a session belongs to `drivers[id % len]` for its life.
    drivers: Vec<Driver>,
    ports: PortRange,
    session_config: SessionConfig,
    next_id: AtomicU64,
    shutdown: ShutdownListener,
}

/// The even ports of `[rtp]`, handed out round-robin so a port just released is not reused
/// while the previous call's stray packets may still arrive.
#[derive(Debug)]
pub(crate) struct PortRange {
    min: u16,
    max: u16,
    /// Index of the next even port to try.
    cursor: Mutex<u32>,
}

impl PortRange {
    pub(crate) fn new(min: u16, max: u16) -> Self {
        Self {
            min,
            max,
            cursor: Mutex::new(0),
        }
    }

    /// The lowest even port and how many even ports have their odd RTCP neighbour in range.
    fn evens(&self) -> (u32, u32) {
        let first = u32::from(self.min) + u32::from(self.min) % 2;
        let max = u32::from(self.max);
        if first == 0 || first + 1 > max {
            return (first, 0);
        }
        (first, (max - 1 - first) / 2 + 1)
    }

    /// Binds the next free even port on `ip`'s wildcard address.
    pub(crate) fn bind(&self, ip: IpAddr) -> Result<std::net::UdpSocket, MediaError> {
        let (first, count) = self.evens();
        let start = {
            let mut cursor = self
                .cursor
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let start = *cursor;
            *cursor = cursor.wrapping_add(1);
            start
        };
        let wildcard = match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        for attempt in 0..count {
            let index = (start.wrapping_add(attempt)) % count;
            // first + 2·index ≤ max - 1 < 65536 by the count computed in `evens`.
            let port = (first + 2 * index) as u16;
            match std::net::UdpSocket::bind(SocketAddr::new(wildcard, port)) {
                Ok(socket) => {
                    let mut cursor = self
                        .cursor
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *cursor = index.wrapping_add(1);
                    return Ok(socket);
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => continue,
                Err(e) => return Err(MediaError::Socket(e)),
            }
        }
        Err(MediaError::NoFreePort {
            min: self.min,
            max: self.max,
        })
    }
}

/// The driver's clock: the real one, as the packets leave in real time.
#[allow(clippy::disallowed_methods)] // a driver: CONTRIBUTING.md rule 5
fn now() -> Instant {
    Instant::now()
}

impl EngineInner {
    /// The driver session `id` belongs to; `None` if no driver thread could be started.
    fn driver(&self, id: SessionId) -> Option<&Driver> {
        let index = usize::try_from(id).unwrap_or(0) % self.drivers.len().max(1);
        self.drivers.get(index)
    }
}

impl MediaEngine {
    /// Starts the driver threads with the default session settings and `config`'s ptime.
    pub fn start(config: &RtpConfig, shutdown: ShutdownListener) -> Self {
        Self::start_with(
            config,
            SessionConfig::with_ptime_ms(config.ptime_ms),
            shutdown,
        )
    }

    /// Starts the driver threads with explicit session settings (media timeout, burst limit).
    /// A thread ends once every handle and engine clone is gone, or after a shutdown once its
    /// last session has closed.
    pub fn start_with(
        config: &RtpConfig,
        session_config: SessionConfig,
        shutdown: ShutdownListener,
    ) -> Self {
        let count = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_DRIVERS);
        let drivers = (0..count)
            .filter_map(|index| {
                let (commands, command_rx) = std_mpsc::channel();
                let shutdown = shutdown.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("rtp-driver-{index}"))
                    .spawn(move || drive(&command_rx, &shutdown));
                match spawned {
                    Ok(_) => Some(Driver { commands }),
                    Err(e) => {
                        // Fewer drivers carry the calls; none at all refuses them (503).
                        tracing::error!(error = %e, "media driver thread not started");
                        None
                    }
                }
            })
            .collect();
        Self {
            inner: Arc::new(EngineInner {
                drivers,
                ports: PortRange::new(config.port_min, config.port_max),
                session_config,
                next_id: AtomicU64::new(1),
                shutdown,
            }),
        }
    }

    /// Answers `offer` with a session on a fresh even port reachable at `local_ip` (the
    /// address written in the answer's `c=`; the socket listens on all addresses of its
    /// family). Returns the handle and our SDP answer.
    pub fn open_session(
        &self,
        offer: &SessionDescription,
        local_ip: IpAddr,
    ) -> Result<(MediaHandle, SessionDescription), MediaError> {
        if self.inner.shutdown.is_shutdown() {
            return Err(MediaError::ShuttingDown);
        }
        let session_id = u64::from(rand::random::<u32>());
        let mut local = LocalMedia {
            address: local_ip,
            port: 0,
            session_id,
            session_version: 1,
            direction: Direction::SendRecv,
        };
        // Refuse an unanswerable offer before taking a port.
        sdp::answer(offer, &local)?;
        let socket = self.inner.ports.bind(local_ip)?;
        socket.set_nonblocking(true).map_err(MediaError::Socket)?;
        let local_port = socket.local_addr().map_err(MediaError::Socket)?.port();
        local.port = local_port;
        let answer = sdp::answer(offer, &local)?;

        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let driver = self.inner.driver(id).ok_or(MediaError::Stopped)?;
        let session = MediaSession::new(
            answer.negotiated,
            self.inner.session_config,
            rand::random(),
            now(),
        );
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        driver
            .commands
            .send(Command::Open {
                id,
                session: Box::new(session),
                socket,
                events: events_tx,
            })
            .map_err(|_| MediaError::Stopped)?;
        tracing::debug!(
            session = id,
            port = local_port,
            codec = answer.negotiated.codec.encoding_name(),
            remote = ?answer.negotiated.remote,
            "RTP session opened"
        );
        let handle = MediaHandle {
            id,
            local,
            local_addr: SocketAddr::new(local_ip, local_port),
            commands: driver.commands.clone(),
            events,
            plays: 0,
            closed: false,
        };
        Ok((handle, answer.sdp))
    }
}

/// One call's media, as the IVR sees it. Dropping it closes the session; [`Self::close`] does
/// too and returns a recording cut short by the hang-up.
#[derive(Debug)]
#[must_use = "dropping the handle closes the media session"]
pub struct MediaHandle {
    id: SessionId,
    /// What our answers say, for re-INVITEs.
    local: LocalMedia,
    local_addr: SocketAddr,
    commands: std_mpsc::Sender<Command>,
    events: mpsc::Receiver<MediaEvent>,
    /// Prompts played so far: the next [`PlaybackId`].
    plays: u64,
    closed: bool,
}

impl MediaHandle {
    /// Our RTP address as written in the SDP answer.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Plays `pcm` (8 kHz mono) from the next frame, replacing any prompt playing;
    /// [`MediaEvent::PlaybackDone`] with the returned id follows when it has all been sent.
    pub fn play(&mut self, pcm: impl Into<Audio>) -> PlaybackId {
        self.plays += 1;
        let playback = PlaybackId(self.plays);
        self.send(Command::Play {
            id: self.id,
            pcm: pcm.into(),
            playback,
        });
        playback
    }

    /// Stops the prompt (no `PlaybackDone`).
    pub fn stop_playback(&self) {
        self.send(Command::StopPlayback { id: self.id });
    }

    /// Records what the caller sends until silence, the maximum length or
    /// [`Self::stop_recording`]; [`MediaEvent::RecordingDone`] carries the audio.
    pub fn record(&self, options: RecordOptions) {
        self.send(Command::Record {
            id: self.id,
            options,
        });
    }

    /// Ends the recording now (the caller pressed `#`).
    pub fn stop_recording(&self) {
        self.send(Command::StopRecording { id: self.id });
    }

    /// Answers a re-INVITE's offer on the same port, keeping our stream (RFC 3264 §8: the
    /// `o=` version increases). Handles hold (sendonly/inactive) and a moved peer.
    pub fn renegotiate(
        &mut self,
        offer: &SessionDescription,
    ) -> Result<SessionDescription, MediaError> {
        self.local.session_version += 1;
        let answer = sdp::answer(offer, &self.local)?;
        self.send(Command::Renegotiate {
            id: self.id,
            negotiated: answer.negotiated,
        });
        Ok(answer.sdp)
    }

    /// The next event; `None` once the engine has stopped.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// Closes the session and releases its port. A recording still running is returned
    /// (reason [`RecordStop::Hangup`]) with the events not read yet, its streamed chunks among
    /// them, so a message left before the hang-up is kept.
    pub async fn close(mut self) -> Closed {
        self.closed = true;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Close {
            id: self.id,
            reply: Some(reply),
        });
        let held = answer.await.unwrap_or_default();
        // The driver has dropped the session (and its sender) before replying: the queue
        // holds everything it sent, and it sent these before the events it still held.
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events.extend(held.events);
        Closed {
            events,
            recording: held.recording,
            lost: held.lost,
        }
    }

    fn send(&self, command: Command) {
        // A stopped engine has nothing left to do with commands; next_event reports it.
        let _ = self.commands.send(command);
    }
}

impl Drop for MediaHandle {
    fn drop(&mut self) {
        if !self.closed {
            self.send(Command::Close {
                id: self.id,
                reply: None,
            });
        }
    }
}

/// A session as the driver holds it.
struct Entry {
    session: Box<MediaSession>,
    /// Non-blocking, and not registered with the reactor: read at the session's deadlines.
    socket: UdpSocket,
    events: mpsc::Sender<MediaEvent>,
    /// Events the handle's queue had no room for, oldest first, sent before any newer one.
    /// Digits are dropped instead (a flood must not grow memory); recording audio, the end of
    /// a recording or a prompt and a media timeout wait here: the IVR cannot do without them,
    /// and they are few (a recording chunk a second).
    held: VecDeque<MediaEvent>,
    /// Packets the socket would not take.
    send_failures: u64,
}

impl Entry {
    /// Reads what the socket holds (at most [`READ_MAX`]) into the session, as arrived at
    /// `now`: one `recvmmsg` for up to [`recv_batch::BATCH`] datagrams, and a short batch
    /// tells that nothing more is queued (a `recvfrom` loop needed one more call, failing
    /// with `EAGAIN`, for that).
    fn read(&mut self, now: Instant) {
        let session = &mut self.session;
        let read = recv_batch::recv_each(&self.socket, READ_MAX, |from, datagram| {
            session.handle_datagram(now, from, datagram);
        });
        if let Err(e) = read {
            tracing::debug!(error = %e, "RTP receive failed");
        }
    }

    /// Reads what arrived, sends what is due by `horizon` (at most [`SLACK`] after `now`) and
    /// forwards events.
    fn run(&mut self, now: Instant, horizon: Instant) {
        self.read(now);
        self.session.handle_timeout(now);
        while let Some(transmit) = self.session.poll_transmit(horizon) {
            if let Err(e) = self.socket.send_to(&transmit.payload, transmit.destination) {
                self.send_failures += 1;
                if self.send_failures == 1 {
                    tracing::debug!(error = %e, to = %transmit.destination, "RTP send failed");
                }
            }
        }
        self.flush_events();
    }

    fn flush_events(&mut self) {
        while let Some(event) = self.held.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.held.push_front(event);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => self.held.clear(),
            }
        }
        while let Some(event) = self.session.poll_event() {
            if !self.held.is_empty() {
                self.hold(event);
                continue;
            }
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => self.hold(event),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Keeps an event the queue has no room for, unless it is a digit.
    fn hold(&mut self, event: MediaEvent) {
        if matches!(event, MediaEvent::Digit(_)) {
            // Which key is not logged: it may be part of a PIN (issue #19).
            tracing::warn!("media event queue full; digit dropped");
        } else {
            self.held.push_back(event);
        }
    }

    /// Ends the session, handing over every event the IVR has not had: the held ones, then
    /// those the session still queues (the datagrams a close reads can end a streamed chunk,
    /// which exists nowhere else).
    fn close(self, reason: RecordStop) -> (Closed, SessionStats) {
        let mut session = self.session;
        let mut events: Vec<MediaEvent> = self.held.into();
        events.extend(std::iter::from_fn(|| session.poll_event()));
        let closed = Closed {
            events,
            recording: session.take_recording(reason),
            lost: u64::try_from(session.receiver().cumulative_lost()).unwrap_or(0),
        };
        (closed, session.stats())
    }
}

/// One driver thread: its share of the sessions, one deadline to sleep until.
fn drive(commands: &std_mpsc::Receiver<Command>, shutdown: &ShutdownListener) {
    crate::media::priority::raise_current_thread();
    let mut sessions: HashMap<SessionId, Entry> = HashMap::new();
    // Next deadline of each session; exactly one heap entry per live session.
    let mut timers: BinaryHeap<Reverse<(Instant, SessionId)>> = BinaryHeap::new();
    let mut shutting_down = false;
    loop {
        let wait = timers.peek().map_or(IDLE_WAIT, |Reverse((deadline, _))| {
            deadline.saturating_duration_since(now())
        });
        match commands.recv_timeout(wait) {
            Ok(command) => handle_command(command, &mut sessions, &mut timers),
            Err(RecvTimeoutError::Timeout) => {}
            // Every handle and engine is gone: a handle's drop sends its close before its
            // sender goes, so no session is left open behind this.
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Whichever woke us, one round serves commands and due sessions, each bounded: a
        // driver that is behind always has a deadline due, and at 2,000 voicemail calls on one
        // free core a loop that served deadlines first answered no close, recorded nothing and
        // left every call hung at its hang-up.
        for _ in 0..COMMAND_BATCH {
            match commands.try_recv() {
                Ok(command) => handle_command(command, &mut sessions, &mut timers),
                Err(_) => break,
            }
        }
        let now = now();
        let horizon = now + SLACK;
        while let Some(&Reverse((deadline, id))) = timers.peek() {
            if deadline > horizon {
                break;
            }
            timers.pop();
            if let Some(entry) = sessions.get_mut(&id) {
                entry.run(now, horizon);
                timers.push(Reverse((entry.session.poll_timeout(), id)));
            }
        }
        if !shutting_down && shutdown.is_shutdown() {
            shutting_down = true;
        }
        if shutting_down && sessions.is_empty() {
            break;
        }
    }
    tracing::debug!("media engine stopped");
}

fn handle_command(
    command: Command,
    sessions: &mut HashMap<SessionId, Entry>,
    timers: &mut BinaryHeap<Reverse<(Instant, SessionId)>>,
) {
    let id = match &command {
        Command::Open { id, .. }
        | Command::Play { id, .. }
        | Command::StopPlayback { id }
        | Command::Record { id, .. }
        | Command::StopRecording { id }
        | Command::Renegotiate { id, .. }
        | Command::Close { id, .. } => *id,
    };
    match command {
        Command::Open {
            id,
            session,
            socket,
            events,
        } => {
            timers.push(Reverse((session.poll_timeout(), id)));
            sessions.insert(
                id,
                Entry {
                    session,
                    socket,
                    events,
                    held: VecDeque::new(),
                    send_failures: 0,
                },
            );
            return;
        }
        // The caller's last words may still be in the socket when the hang-up closes the
        // session (under load, seconds of them: at 1,000 concurrent messages a close that did
        // not read them cut 3-5 s off most): they are read first.
        Command::Close { id, reply } => {
            if let Some(entry) = sessions.get_mut(&id) {
                entry.read(now());
            }
            close_now(id, reply, sessions);
            return;
        }
        _ => {}
    }
    let Some(entry) = sessions.get_mut(&id) else {
        return;
    };
    match command {
        Command::Play { pcm, playback, .. } => entry.session.play(pcm, playback, now()),
        Command::StopPlayback { .. } => entry.session.stop_playback(),
        Command::Record { options, .. } => entry.session.record(options, now()),
        Command::StopRecording { .. } => entry.session.stop_recording(),
        Command::Renegotiate { negotiated, .. } => entry.session.renegotiate(negotiated),
        Command::Open { .. } | Command::Close { .. } => {}
    }
    entry.flush_events();
}

/// Ends a session at once and answers the close.
fn close_now(
    id: SessionId,
    reply: Option<oneshot::Sender<Closed>>,
    sessions: &mut HashMap<SessionId, Entry>,
) {
    let closed = sessions
        .remove(&id)
        .map(|entry| {
            let send_failures = entry.send_failures;
            let (closed, stats) = entry.close(RecordStop::Hangup);
            tracing::debug!(session = id, ?stats, send_failures, "RTP session closed");
            closed
        })
        .unwrap_or_default();
    if let Some(reply) = reply {
        let _ = reply.send(closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_with_room_for_rtcp() {
        assert_eq!(PortRange::new(10_000, 10_009).evens(), (10_000, 5));
        assert_eq!(PortRange::new(10_001, 10_010).evens(), (10_002, 4));
        assert_eq!(PortRange::new(10_000, 10_000).evens(), (10_000, 0));
        assert_eq!(PortRange::new(0, 3).evens(), (0, 0));
        assert_eq!(PortRange::new(65_534, 65_535).evens(), (65_534, 1));
    }

    #[test]
    fn ports_in_use_are_skipped_and_exhaustion_is_reported() {
        // Find two adjacent free even ports by binding in a high range.
        let range = PortRange::new(47_100, 47_103);
        let first = range.bind(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let second = range.bind(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let ports = [
            first.local_addr().unwrap().port(),
            second.local_addr().unwrap().port(),
        ];
        assert!(
            ports.contains(&47_100) && ports.contains(&47_102),
            "{ports:?}"
        );
        assert!(matches!(
            range.bind(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Err(MediaError::NoFreePort {
                min: 47_100,
                max: 47_103
            })
        ));
        drop(first);
        assert!(range.bind(IpAddr::V4(Ipv4Addr::LOCALHOST)).is_ok());
    }
}
