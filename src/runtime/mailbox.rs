//! The driver of the voicemail retrieval IVR: runs [`crate::ivr::Retrieve`] over one answered
//! call's media session and the store.
//!
//! In the call flow: the SIP side answers a call to the voicemail access number (or a user's
//! call to their own OneNumber from their own device), opens the RTP session and hands us the
//! [`IvrLeg`]; [`run_retrieve`] then owns the call until the machine is finished. The loop that
//! feeds the machine and carries out what it decides, in the order it was polled (style guide
//! §7.3), is the one both IVRs share (`runtime::ivr_driver`); this file is the retrieval's
//! handler in it:
//!
//! - prompts are resolved to 8 kHz PCM (rendered speech stitched from the fragment cache, a
//!   message's stored WAV decoded, the take just recorded) and played; a `PlaybackDone` of the
//!   engine becomes `PromptDone` of the `Play` it belongs to;
//! - keys come from RFC 4733 telephone-events (`MediaEvent::Digit`) and SIP INFO
//!   (`LegEvent::Digit`) alike; a barge-in prompt is stopped before the key is delivered;
//! - store requests are answered: logins checked against the argon2 PIN hash with the same
//!   failure counting and lockout as the web login, message state written at once, deletes
//!   when the machine sends them (after the caller leaves), names, greetings and PINs saved;
//! - after any change of message state the user's counts are published to the live web client
//!   and the SIP side is asked to send message-waiting NOTIFYs (RFC 3842), so the lamp goes out
//!   when no new message remains.
//!
//! Nothing is given up on a hang-up: the machine is fed `Event::Hangup` and its remaining
//! actions (the deletes held in the call) are carried out before the driver returns.

use std::sync::Arc;

use tracing::{debug, info, warn, Instrument};

use crate::domain::model::{RecordingKind, User, UserId, VoicemailId};
use crate::domain::Lang;
use crate::ivr::{
    LoginResult, Mailbox, MailboxInfo, Pin, Prompt, Retrieve, RetrieveSetup, StoreReply,
    StoreRequest,
};
use crate::media::decode::{self, DecodeLimits};
use crate::media::engine::Closed;
use crate::media::recorder::Recording;
use crate::pin::{check::CheckError, Verdict};
use crate::speech::{self, fragment as f, Segment};
use crate::store::StoreError;

use super::ivr_driver::{Handler, IvrDriver, PromptAudio};
use super::leg::{IvrDeps, IvrLeg};

/// Runs the retrieval IVR on an answered call until it is finished: the caller left the
/// mailbox (`LegCommand::HangUp` sent), was transferred (`LegCommand::Transfer` sent, and the
/// SIP side moved the call) or hung up (`LegEvent::Hangup` received). Closes the media session
/// before returning.
pub async fn run_retrieve(leg: IvrLeg, setup: RetrieveSetup, deps: IvrDeps) {
    let span = tracing::info_span!(
        "retrieve",
        call_id = %leg.call_id,
        user = tracing::field::Empty
    );
    async move {
        let IvrLeg {
            media,
            events,
            commands,
            origin,
            ..
        } = leg;
        let machine = Retrieve::new(deps.clock.instant(), deps.clock.now(), setup);
        let clock = deps.clock.clone();
        let handler = RetrieveHandler {
            deps,
            user: None,
            take: None,
            message_cache: None,
            counts_changed: None,
            origin,
        };
        IvrDriver::new(machine, handler, media, events, commands, clock)
            .run()
            .await;
    }
    .instrument(span)
    .await
}

/// What the retrieval does that the deposit does not: prompts from the store (messages, the
/// owner's recordings), the take kept in memory until saved as a name or greeting, the
/// mailbox operations. The loop itself is [`IvrDriver`]'s.
struct RetrieveHandler {
    deps: IvrDeps,
    /// The mailbox owner, once logged in: every store request must be about them.
    user: Option<UserId>,
    /// The last recording (name or greeting), until saved or discarded.
    take: Option<Arc<[i16]>>,
    /// The last message decoded, so "replay" does not decode it again.
    message_cache: Option<(VoicemailId, Arc<[i16]>)>,
    /// Message state changed for this user: publish counts and MWI once the batch is done.
    counts_changed: Option<UserId>,
    /// The caller's address and caller ID: wrong PINs count against them too.
    origin: Vec<crate::pin::sources::SourceKey>,
}

impl Handler for RetrieveHandler {
    async fn prompt(&mut self, prompt: Prompt) -> PromptAudio {
        match self.resolve(&prompt).await {
            Ok(Some(pcm)) => PromptAudio::Ready(pcm.into()),
            Ok(None) => PromptAudio::Nothing,
            Err(error) => {
                warn!(?prompt, %error, "prompt cannot be played; skipped");
                PromptAudio::Nothing
            }
        }
    }

    async fn tone(&mut self, lang: Lang) -> Option<Arc<[i16]>> {
        match self.beep(lang).await {
            Ok(beep) => Some(beep),
            Err(error) => {
                warn!(%error, "record tone unavailable; recording without it");
                None
            }
        }
    }

    fn recording_started(&mut self) {
        self.take = None;
    }

    fn recording_done(&mut self, recording: Recording) -> (u64, u64) {
        let duration_ms = recording.pcm.len() as u64 / 8;
        self.take = Some(recording.pcm.into());
        // The owner's name and greeting are judged by the owner, who listens to the take
        // before accepting it; the speech measure is for callers' messages.
        (duration_ms, duration_ms)
    }

    fn recording_stopped_at_tone(&mut self) {
        self.take = Some(Arc::from(Vec::new()));
    }

    fn discard_recording(&mut self) {
        self.take = None;
    }

    async fn store(&mut self, request: StoreRequest) -> StoreReply {
        self.answer(request).await
    }

    /// Publishes changed message counts once per batch of actions.
    async fn actions_done(&mut self) {
        if let Some(user) = self.counts_changed.take() {
            self.publish_counts(user).await;
        }
    }

    /// A name or greeting still recording is not wanted (only an accepted take is kept).
    async fn finish(&mut self, closed: Closed) {
        if let Some(metrics) = &self.deps.voicemail.metrics {
            metrics.rtp_packets_lost(closed.lost);
        }
        debug!("retrieval finished");
    }
}

impl RetrieveHandler {
    /// The PCM of a prompt; `Ok(None)` when there is nothing to play (no such recording).
    async fn resolve(&mut self, prompt: &Prompt) -> Result<Option<Arc<[i16]>>, DriverError> {
        match prompt {
            Prompt::Speech {
                utterance,
                lang,
                own_name,
            } => {
                let segments = speech::render(utterance, *lang);
                let name = self.name_audio(&segments, *own_name).await;
                let cache = self.deps.prompts.clone();
                let pcm = tokio::task::spawn_blocking(move || {
                    cache.stitch(&segments, name.as_deref().or(Some(&[])))
                })
                .await
                .map_err(|e| DriverError::Task(e.to_string()))??;
                Ok(Some(pcm))
            }
            Prompt::Message(id) => {
                let user = self.user.ok_or(DriverError::NotLoggedIn)?;
                if let Some((cached, pcm)) = &self.message_cache {
                    if cached == id {
                        return Ok(Some(pcm.clone()));
                    }
                }
                let wav = self.deps.store.voicemail_audio(user, *id).await?;
                let pcm = decode_wav(wav).await?;
                self.message_cache = Some((*id, pcm.clone()));
                Ok(Some(pcm))
            }
            Prompt::Recording(kind) => {
                let user = self.user.ok_or(DriverError::NotLoggedIn)?;
                match self.deps.store.recording(user, *kind).await? {
                    Some(wav) => Ok(Some(decode_wav(wav).await?)),
                    None => Ok(None),
                }
            }
            Prompt::Take => Ok(self.take.clone()),
        }
    }

    /// The audio for a `Segment::Name` in `segments`: the user's own recorded name when asked
    /// for and present. Without one the name is left out (retrieval prompts name nobody).
    async fn name_audio(&self, segments: &[Segment], own_name: bool) -> Option<Vec<i16>> {
        let user = segments.iter().find_map(|s| match s {
            Segment::Name(user) => Some(UserId(*user)),
            _ => None,
        })?;
        if !own_name {
            return None;
        }
        match self.deps.store.recording(user, RecordingKind::Name).await {
            Ok(Some(wav)) => decode_wav(wav).await.ok().map(|pcm| pcm.to_vec()),
            Ok(None) => None,
            Err(error) => {
                warn!(user = user.0, %error, "recorded name unavailable");
                None
            }
        }
    }

    async fn beep(&self, lang: Lang) -> Result<Arc<[i16]>, DriverError> {
        let cache = self.deps.prompts.clone();
        let pcm = tokio::task::spawn_blocking(move || {
            let path = cache.library().path(&f::BEEP, lang)?;
            cache.load(&path)
        })
        .await
        .map_err(|e| DriverError::Task(e.to_string()))??;
        Ok(pcm)
    }

    // ---- store -----------------------------------------------------------------------------

    async fn answer(&mut self, request: StoreRequest) -> StoreReply {
        match request {
            StoreRequest::Login { mailbox, pin } => match self.login(mailbox, pin).await {
                Ok(result) => StoreReply::Login(result),
                Err(error) => {
                    warn!(%error, "login check failed");
                    StoreReply::Failed
                }
            },
            StoreRequest::LoadMessages { user } => {
                match self.mine(user) {
                    Ok(()) => {}
                    Err(error) => return failed("load messages", error),
                }
                match self.deps.store.voicemails(user).await {
                    Ok(messages) => {
                        debug!(count = messages.len(), "messages loaded");
                        StoreReply::Messages(messages)
                    }
                    Err(error) => failed("load messages", error.into()),
                }
            }
            StoreRequest::SetState { user, id, state } => {
                let result = match self.mine(user) {
                    Ok(()) => self
                        .deps
                        .store
                        .voicemail_set_state(user, id, state)
                        .await
                        .map_err(DriverError::from),
                    Err(error) => Err(error),
                };
                match result {
                    Ok(()) => {
                        debug!(message = id.0, state = state.as_str(), "message state set");
                        self.counts_changed = Some(user);
                        StoreReply::Written
                    }
                    Err(error) => failed("set message state", error),
                }
            }
            StoreRequest::Delete { user, id } => {
                let result = match self.mine(user) {
                    Ok(()) => self
                        .deps
                        .store
                        .voicemail_delete(user, id)
                        .await
                        .map_err(DriverError::from),
                    Err(error) => Err(error),
                };
                if self.message_cache.as_ref().is_some_and(|(c, _)| *c == id) {
                    self.message_cache = None;
                }
                match result {
                    Ok(()) => {
                        info!(message = id.0, "message deleted by phone");
                        self.counts_changed = Some(user);
                        StoreReply::Written
                    }
                    Err(error) => failed("delete message", error),
                }
            }
            StoreRequest::SaveRecording { user, kind } => {
                match self.save_recording(user, kind).await {
                    Ok(()) => {
                        info!(kind = kind.as_str(), "recording saved by phone");
                        StoreReply::Written
                    }
                    Err(error) => failed("save recording", error),
                }
            }
            StoreRequest::ChangePin { user, pin } => match self.change_pin(user, pin).await {
                Ok(()) => {
                    info!("PIN changed by phone");
                    StoreReply::Written
                }
                Err(error) => failed("change PIN", error),
            },
            StoreRequest::SaveMessage { user, .. } => {
                failed("save message", DriverError::Unexpected(user))
            }
        }
    }

    /// Store requests are only ever about the mailbox the caller logged in to.
    fn mine(&self, user: UserId) -> Result<(), DriverError> {
        match self.user {
            Some(owner) if owner == user => Ok(()),
            _ => Err(DriverError::NotLoggedIn),
        }
    }

    /// Checks a login with the one PIN check the web login uses ([`crate::pin::check`]): an
    /// unknown mailbox costs the same argon2 work as a known one and answers the same
    /// `WrongPin`; a locked mailbox is refused without looking at the PIN; each wrong PIN is
    /// counted in the store, so the lockout holds across calls, the web and restarts.
    async fn login(
        &mut self,
        mailbox: Mailbox,
        pin: Option<Pin>,
    ) -> Result<LoginResult, DriverError> {
        let user = match &mailbox {
            Mailbox::Own(id) => found(self.deps.store.user(*id).await)?,
            Mailbox::LocalNumber(number)
                if number.len() == crate::ivr::retrieve::LOCAL_NUMBER_LEN
                    && number.bytes().all(|b| b.is_ascii_digit()) =>
            {
                found(self.deps.store.user_by_local_number(number).await)?
            }
            Mailbox::LocalNumber(_) => None,
        };
        let now = self.deps.clock.now();
        let Some(pin) = pin else {
            return self.login_without_pin(&mailbox, user).await;
        };
        match self
            .deps
            .pin_check
            .check_from(user, pin.as_str(), now, &self.origin)
            .await?
        {
            Verdict::Granted(user) => self.granted(user).await,
            Verdict::SourceBanned => {
                warn!(origin = ?self.origin, "voicemail login from a banned source");
                Ok(LoginResult::Locked)
            }
            Verdict::Unknown => {
                warn!(?mailbox, "voicemail login to an unknown mailbox");
                Ok(LoginResult::WrongPin)
            }
            Verdict::Locked(user) => {
                warn!(user = user.id.0, locked_until = ?user.locked_until, "voicemail login to a locked mailbox");
                Ok(LoginResult::Locked)
            }
            Verdict::Wrong { user, locked } => {
                warn!(
                    user = user.id.0,
                    local_number = %user.local_number,
                    failures = user.failed_pin_attempts,
                    locked,
                    "wrong voicemail PIN"
                );
                Ok(if locked {
                    LoginResult::Locked
                } else {
                    LoginResult::WrongPin
                })
            }
        }
    }

    /// `pin: None`: only from the owner's own device with the PIN turned off there. The
    /// settings are read again rather than trusted from the call's setup.
    async fn login_without_pin(
        &mut self,
        mailbox: &Mailbox,
        user: Option<User>,
    ) -> Result<LoginResult, DriverError> {
        let (Mailbox::Own(_), Some(user)) = (mailbox, user) else {
            return Ok(LoginResult::WrongPin);
        };
        let settings = self.settings(user.id).await?;
        if settings.pin_required_from_own_device {
            warn!(user = user.id.0, "login without PIN refused: PIN required");
            return Ok(LoginResult::WrongPin);
        }
        if crate::pin::check::is_locked(user.locked_until, self.deps.clock.now()) {
            return Ok(LoginResult::Locked);
        }
        self.granted(user).await
    }

    async fn granted(&mut self, user: User) -> Result<LoginResult, DriverError> {
        let org = self.deps.store.org(user.org_id).await?;
        let settings = self.settings(user.id).await?;
        self.user = Some(user.id);
        tracing::Span::current().record("user", user.id.0);
        info!(local_number = %user.local_number, "mailbox opened");
        Ok(LoginResult::Granted(MailboxInfo {
            user: user.id,
            local_number: user.local_number,
            lang: user.profile.lang,
            timezone: org.timezone,
            quick_listen: settings.quick_listen,
            pin_must_change: user.pin_must_change,
            pin_min_length: self.deps.pin_check.rules().min_len,
        }))
    }

    /// A user's voicemail settings; the defaults when the row is missing.
    async fn settings(
        &self,
        user: UserId,
    ) -> Result<crate::domain::model::VoicemailSettings, DriverError> {
        match self.deps.store.voicemail_settings(user).await {
            Ok(settings) => Ok(settings),
            Err(StoreError::NotFound(_)) => Ok(Default::default()),
            Err(error) => Err(error.into()),
        }
    }

    /// The take becomes the user's name or greeting, and is switched on: a greeting recorded
    /// by phone is meant to be heard (the API shows both at once).
    async fn save_recording(
        &mut self,
        user: UserId,
        kind: RecordingKind,
    ) -> Result<(), DriverError> {
        self.mine(user)?;
        let take = self.take.take().ok_or(DriverError::NoTake)?;
        let wav = decode::wav_bytes(&take).map_err(|e| DriverError::Wav(e.to_string()))?;
        let now = self.deps.clock.now();
        self.deps.store.recording_set(user, kind, &wav, now).await?;
        let mut settings = self.settings(user).await?;
        match kind {
            RecordingKind::Name => settings.use_own_name = true,
            RecordingKind::Greeting => settings.use_own_greeting = true,
        }
        self.deps
            .store
            .voicemail_settings_update(user, &settings)
            .await?;
        Ok(())
    }

    /// Checks the PIN rules again (the machine did; the store is the last line), hashes off the
    /// async threads and stores; "must change" is cleared.
    async fn change_pin(&mut self, user: UserId, pin: Pin) -> Result<(), DriverError> {
        self.mine(user)?;
        let owner = self.deps.store.user(user).await?;
        self.deps
            .pin_check
            .rules()
            .validate(pin.as_str(), &owner.local_number)?;
        let typed = pin.as_str().to_owned();
        let hash = tokio::task::spawn_blocking(move || crate::pin::hash_pin(&typed))
            .await
            .map_err(|e| DriverError::Task(e.to_string()))?;
        self.deps
            .store
            .user_set_pin_hash(user, &hash, false)
            .await?;
        Ok(())
    }

    /// The user's counts changed: tell the live web client and have the SIP side NOTIFY the
    /// user's phones (RFC 3842 `Voice-Message: new/old`), which turns the lamp off at zero new.
    async fn publish_counts(&self, user: UserId) {
        if let Err(error) = self.deps.voicemail.changed.publish(user).await {
            warn!(%error, "message counts unavailable");
        }
    }
}

/// Why a store request or a prompt could not be carried out; logged, never spoken.
#[derive(Debug, thiserror::Error)]
enum DriverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prompt(#[from] decode::PromptError),
    #[error(transparent)]
    Decode(#[from] decode::DecodeError),
    #[error(transparent)]
    Pin(#[from] crate::pin::PinError),
    #[error(transparent)]
    PinCheck(#[from] CheckError),
    #[error("WAV encoding: {0}")]
    Wav(String),
    #[error("blocking task: {0}")]
    Task(String),
    #[error("no mailbox is open, or the request is about another one")]
    NotLoggedIn,
    #[error("no recording to save")]
    NoTake,
    #[error("request not part of retrieval (user {})", .0 .0)]
    Unexpected(UserId),
}

fn failed(what: &str, error: DriverError) -> StoreReply {
    warn!(%error, "{what} failed");
    StoreReply::Failed
}

/// `NotFound` is an answer (no such user), anything else an error.
fn found(result: Result<User, StoreError>) -> Result<Option<User>, DriverError> {
    match result {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// A stored WAV (message, name, greeting) to 8 kHz PCM, on a blocking thread.
async fn decode_wav(wav: Vec<u8>) -> Result<Arc<[i16]>, DriverError> {
    let pcm = tokio::task::spawn_blocking(move || {
        decode::decode(wav, Some("wav"), &DecodeLimits::default())
    })
    .await
    .map_err(|e| DriverError::Task(e.to_string()))??;
    Ok(pcm.into())
}
