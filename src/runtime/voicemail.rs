//! The deposit driver: runs [`ivr::Deposit`] for one call the SIP side answered, over the
//! call's RTP session, the store and the notifier.
//!
//! In the call flow: routing sent the call to voicemail, the B2BUA handed it off, the SIP task
//! answered the caller's INVITE with our SDP (`ivr_leg`) and spawned [`run_deposit`]. The
//! loop that feeds the machine and plays, records and hangs up is the one both IVRs share
//! (`runtime::ivr_driver`); this file is the deposit's handler in it:
//!
//! - `Play` → the utterance is rendered (`speech::render`) and stitched from the decoded
//!   fragments (`PromptCache::stitch`, on the blocking pool since a cold fragment is decoded
//!   from disk) and handed to the media session; its `PlaybackDone` becomes `PromptDone`.
//! - `Record` → the record tone, then `MediaHandle::record` from the tone's last sample, so no
//!   word said after the tone is lost. The settled audio arrives in one-second chunks that the
//!   session no longer holds, and goes straight to the recording's [`spool`] file; the end of
//!   the recording brings the last unsettled moment. The call holds no copy of the message:
//!   the spool is the message (a recorder that never reports its end still leaves one).
//! - `SaveMessage` → the spool read back as a WAV file into the store (retried: the message is
//!   the one thing that must not be lost), then `Notify` → e-mail/SMS, the message-waiting
//!   NOTIFYs and the live web client's counters. Playing the take back reads the spool too.
//!
//! A caller who hangs up mid-message still leaves it: the hang-up stops the recording, the
//! machine saves it, and only then does the task end. Whatever is left in the session when it
//! closes (a hang-up that raced the stop: its last chunks and its tail) is spooled and saved
//! too.

pub(super) mod shared;
mod spool;

pub use shared::VoicemailShared;
pub use spool::{left_behind as message_left_behind, recover as recover_spool, SpoolDir};

use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use tracing::{debug, info, warn, Instrument};

use self::spool::{trimmed, Envelope, Spool};
use super::ivr_driver::{Handler, IvrDriver, PromptAudio};
use super::leg::{IvrDeps, IvrLeg};
use crate::b2bua::VoicemailRequest;
use crate::domain::model::{
    NewVoicemail, RecordingKind, User, UserId, VoicemailId, VoicemailMessage, VoicemailSettings,
};
use crate::ivr::{
    Caller, Deposit, DepositSetup, Prompt, RecordingLimits, StoreReply, StoreRequest,
};
use crate::media::audio::Audio;
use crate::media::decode::{self, DecodeLimits, WAV_HEADER_LEN};
use crate::media::engine::Closed;
use crate::media::recorder::{RecordOptions, Recording};
use crate::media::session::MediaEvent;
use crate::media::vad::SpeechSummary;
use crate::speech::{self, fragment as f, Segment};
use crate::store::StoreError;

/// With messages off but options offered, how long the caller has to press a key.
const OPTION_WAIT: Duration = Duration::from_secs(5);
/// Recorded audio is handed over this often while recording and written to the spool: one
/// write and `fdatasync` a second, and what a crash can lose.
const STREAM_INTERVAL: Duration = Duration::from_secs(1);
/// Attempts at storing a message before the caller is told it failed; the store's pool may be
/// momentarily exhausted or a Postgres fail-over under way.
const SAVE_ATTEMPTS: u32 = 4;
/// First wait between save attempts; doubled each time.
const SAVE_BACKOFF: Duration = Duration::from_millis(250);

/// Runs the deposit IVR for `req` on `leg` until the machine is finished and the message, if
/// any, is stored. Never panics on what the caller sends; store failures are logged and the
/// caller is told nothing untrue.
pub async fn run_deposit(leg: IvrLeg, req: VoicemailRequest, deps: IvrDeps) {
    let span = tracing::info_span!("voicemail", call_id = %leg.call_id, user_id = req.user_id);
    async move {
        let mailbox = load_mailbox(&deps, &req).await;
        let setup = deposit_setup(&req, &mailbox, deps.limits);
        info!(
            status = ?setup.status,
            allow_messages = setup.allow_messages,
            lang = %setup.lang,
            "voicemail deposit answered"
        );
        let tone = load_tone(&deps, setup.lang).await;
        let min_ms = u64::try_from(setup.limits.min.as_millis()).unwrap_or(u64::MAX);
        let caller = setup.caller.clone();
        let machine = Deposit::new(deps.clock.instant(), deps.clock.now(), setup);
        let clock = deps.clock.clone();
        let IvrLeg {
            call_id,
            media,
            events,
            commands,
            ..
        } = leg;
        // Several nodes: the caller's dialog, for a survivor's BYE (issue #20).
        let shared = crate::cluster::dialog_share::voicemail_call(&deps.voicemail.spool, &req);
        let handler = DepositHandler::new(call_id, deps, mailbox, caller, tone, min_ms);
        IvrDriver::new(machine, handler, media, events, commands, clock)
            .run()
            .await;
        drop(shared);
    }
    .instrument(span)
    .await
}

/// What the store says about the mailbox, loaded once when the call is answered.
struct MailboxData {
    user_id: UserId,
    user: Option<User>,
    timezone: Tz,
    /// The organisation's receptionist group, reached by 9 when the user names none.
    org_receptionist: Option<String>,
    settings: VoicemailSettings,
    /// The owner's recorded name, decoded.
    name: Option<Arc<[i16]>>,
    /// The owner's name as espeak-ng said it (`spoken_name`), decoded: the greeting's name
    /// when no recorded one is used.
    spoken_name: Option<Arc<[i16]>>,
    /// The owner's recorded greeting, decoded.
    greeting: Option<Arc<[i16]>>,
}

/// Loads the user, the organisation's timezone, the voicemail settings and the recordings. A
/// store failure falls back to the defaults: the caller still hears the truth the routing
/// decided and can still leave a message.
async fn load_mailbox(deps: &IvrDeps, req: &VoicemailRequest) -> MailboxData {
    let user_id = UserId(req.user_id);
    let user = match deps.store.user(user_id).await {
        Ok(user) => Some(user),
        Err(error) => {
            warn!(%error, "mailbox owner not loaded; greeting with defaults");
            None
        }
    };
    let org = match &user {
        Some(user) => match deps.store.org(user.org_id).await {
            Ok(org) => Some(org),
            Err(error) => {
                warn!(%error, "organisation not loaded; times in UTC");
                None
            }
        },
        None => None,
    };
    let timezone = org.as_ref().map_or(chrono_tz::UTC, |org| org.timezone);
    let mut settings = deps
        .store
        .voicemail_settings(user_id)
        .await
        .unwrap_or_else(|error| {
            warn!(%error, "voicemail settings not loaded; using the defaults");
            VoicemailSettings::default()
        });
    // "Press 9" transfers the caller: to a number the toll-fraud policy allows only (issue
    // #19), checked again here because a stored number may predate a policy change.
    let mut org_receptionist = None;
    if let Some(org) = &org {
        if let Some(n) = settings.receptionist_group_number.take() {
            if transfer_allowed(deps, org, &n).await {
                settings.receptionist_group_number = Some(n);
            }
        }
        if let Some(n) = &org.receptionist_group_number {
            if transfer_allowed(deps, org, n).await {
                org_receptionist = Some(n.clone());
            }
        }
    } else {
        settings.receptionist_group_number = None;
    }
    let name = if settings.use_own_name {
        recording(deps, user_id, RecordingKind::Name).await
    } else {
        None
    };
    let greeting = if settings.use_own_greeting {
        recording(deps, user_id, RecordingKind::Greeting).await
    } else {
        None
    };
    let spoken_name = spoken_name(deps, user_id).await;
    MailboxData {
        user_id,
        user,
        timezone,
        org_receptionist,
        settings,
        name,
        greeting,
        spoken_name,
    }
}

/// The owner's generated spoken name decoded, or `None` (none made: espeak-ng missing, or the
/// user predates it; then the number is read).
async fn spoken_name(deps: &IvrDeps, user: UserId) -> Option<Arc<[i16]>> {
    let bytes = match deps.store.generated_name(user).await {
        Ok(Some(name)) => name.audio,
        Ok(None) => return None,
        Err(error) => {
            warn!(%error, "spoken name not loaded");
            return None;
        }
    };
    let decoded =
        tokio::task::spawn_blocking(move || decode::decode(bytes, None, &DecodeLimits::default()))
            .await;
    match decoded {
        Ok(Ok(pcm)) if !pcm.is_empty() => Some(pcm.into()),
        Ok(Ok(_)) => None,
        Ok(Err(error)) => {
            warn!(%error, "spoken name not decodable; the number is read");
            None
        }
        Err(error) => {
            warn!(%error, "decoding task failed");
            None
        }
    }
}

/// Whether "press 9" may transfer to `number`: a user or group of `org` always (it never
/// leaves through the trunk), any other number only if [`crate::toll_fraud::check`] allows it
/// with the configured deny-list. A store failure refuses: no transfer is better than one the
/// policy never saw.
async fn transfer_allowed(deps: &IvrDeps, org: &crate::store::Organisation, number: &str) -> bool {
    let plan = crate::number::Plan::for_timezone(org.timezone);
    let Ok(number) = crate::number::normalise(number, &plan) else {
        return false;
    };
    let internal = match deps.store.group_by_number(&number).await {
        Ok(group) => Ok(group.org_id == org.id),
        Err(crate::store::StoreError::NotFound(_)) => {
            match deps.store.user_by_one_number(&number).await {
                Ok(user) => Ok(user.org_id == org.id),
                Err(crate::store::StoreError::NotFound(_)) => {
                    match deps.store.user_by_local_number(&number).await {
                        Ok(user) => Ok(user.org_id == org.id),
                        Err(crate::store::StoreError::NotFound(_)) => Ok(false),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    match internal {
        Ok(true) => true,
        Ok(false) => match crate::toll_fraud::check_stored(
            &number,
            &crate::toll_fraud::OrgPolicy::for_org(org),
            &deps.deny_list,
        ) {
            Ok(()) => true,
            Err(error) => {
                info!(to = %number, %error, "toll-fraud policy: no transfer to the receptionist");
                false
            }
        },
        Err(error) => {
            warn!(%error, "receptionist number not checked; no transfer");
            false
        }
    }
}

/// One of the owner's recordings decoded to 8 kHz, or `None` (none stored, or undecodable:
/// then the generated prompt is played instead).
async fn recording(deps: &IvrDeps, user: UserId, kind: RecordingKind) -> Option<Arc<[i16]>> {
    let bytes = match deps.store.recording(user, kind).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return None,
        Err(error) => {
            warn!(%error, ?kind, "recording not loaded");
            return None;
        }
    };
    let decoded =
        tokio::task::spawn_blocking(move || decode::decode(bytes, None, &DecodeLimits::default()))
            .await;
    match decoded {
        Ok(Ok(pcm)) => Some(pcm.into()),
        Ok(Err(error)) => {
            warn!(%error, ?kind, "recording not decodable; using the generated prompt");
            None
        }
        Err(error) => {
            warn!(%error, ?kind, "decoding task failed");
            None
        }
    }
}

/// The machine's facts from the hand-off and the mailbox. `limits` are the server's (`[calls]
/// max_message_secs`, `min_message_ms`); the user's own `max_message_secs` can only shorten
/// the longest message.
fn deposit_setup(
    req: &VoicemailRequest,
    mailbox: &MailboxData,
    limits: RecordingLimits,
) -> DepositSetup {
    let settings = &mailbox.settings;
    let lang = mailbox
        .user
        .as_ref()
        .map_or(req.lang, |user| user.profile.lang);
    let receptionist = if settings.receptionist_option {
        settings
            .receptionist_group_number
            .clone()
            .or_else(|| mailbox.org_receptionist.clone())
            .filter(|n| !n.trim().is_empty())
    } else {
        None
    };
    DepositSetup {
        user: mailbox.user_id,
        lang,
        timezone: mailbox.timezone,
        status: req.info.status.clone(),
        allow_messages: req.info.allow_messages,
        own_name: settings.use_own_name && mailbox.name.is_some(),
        own_greeting: settings.use_own_greeting && mailbox.greeting.is_some(),
        secondary_lang: settings.secondary_lang,
        receptionist,
        caller: Caller {
            number: Some(req.caller.number.clone()).filter(|n| !n.is_empty()),
            name: req.caller.name.clone(),
            // A caller the routing look-up found among our users is a colleague.
            external: req.caller.user_id.is_none(),
        },
        limits: RecordingLimits {
            max: Duration::from_secs(u64::from(settings.max_message_secs.max(1))).min(limits.max),
            ..limits
        },
        option_wait: OPTION_WAIT,
    }
}

/// The message stored in this call, for the notification.
struct Saved {
    message: VoicemailMessage,
    /// The stored WAV until the notification takes it (to attach to the e-mail).
    wav: Option<Vec<u8>>,
}

/// What the deposit does that the retrieval does not: prompts from the mailbox's recordings
/// and stitched speech, the recording spooled to disk as it arrives, the message saved from
/// the spool and notified. The loop itself is [`IvrDriver`]'s.
struct DepositHandler {
    call_id: String,
    deps: IvrDeps,
    mailbox: MailboxData,
    /// The record tone, decoded once.
    tone: Option<Arc<[i16]>>,
    /// The shortest message kept (`[calls] min_message_ms` or the user's), for a recording
    /// the session still held when it closed.
    min_ms: u64,
    recording: bool,
    /// Length in samples of the last finished recording (in the spool), until saved or
    /// discarded.
    take: Option<usize>,
    saved: Option<Saved>,
    /// The recording in progress (or not yet saved): its only copy.
    spool: Option<Spool>,
    /// Samples of the recording in progress sent to the spool.
    spooled: usize,
    /// Who is calling, for the spool's envelope.
    caller: Caller,
    /// Where the last recording's speech is (its voice activity), to trim what is stored;
    /// `None` when the recorder never reported (then all of the spool is kept).
    speech: Option<SpeechSummary>,
}

impl DepositHandler {
    fn new(
        call_id: String,
        deps: IvrDeps,
        mailbox: MailboxData,
        caller: Caller,
        tone: Option<Arc<[i16]>>,
        min_ms: u64,
    ) -> Self {
        DepositHandler {
            call_id,
            deps,
            mailbox,
            tone,
            min_ms,
            recording: false,
            take: None,
            saved: None,
            spool: None,
            spooled: 0,
            caller,
            speech: None,
        }
    }

    /// A streamed chunk of the recording in progress: to the spool, the only place it is kept.
    fn spool_chunk(&mut self, chunk: Vec<i16>) {
        match &self.spool {
            Some(spool) if self.recording => {
                self.spooled += chunk.len();
                spool.append(chunk);
            }
            _ => debug!(
                samples = chunk.len(),
                "recording audio with no recording; dropped"
            ),
        }
    }

    /// The end of a recording: the streamed part cut to what belongs to the message (trailing
    /// silence), then the rest that was still unsettled.
    fn spool_rest(&mut self, recording: Recording) {
        let Some(spool) = &self.spool else {
            warn!("recording ended with no spool; its tail is lost");
            return;
        };
        if recording.streamed < self.spooled {
            spool.truncate(recording.streamed);
        } else if recording.streamed > self.spooled {
            warn!(
                streamed = recording.streamed,
                spooled = self.spooled,
                "recording audio missing from the spool"
            );
        }
        self.spooled = recording.len();
        if !recording.pcm.is_empty() {
            spool.append(recording.pcm);
        }
    }

    /// With neither a recorded nor a spoken name (espeak-ng missing when the user was made), the
    /// caller hears the number they dialled, digit by digit, once
    /// ([`speech::name_as_number`]): true, and grammatical in every language.
    fn spell_names(&self, segments: Vec<Segment>, lang: crate::domain::Lang) -> Vec<Segment> {
        let number = self
            .mailbox
            .user
            .as_ref()
            .map(|u| u.one_number.clone())
            .unwrap_or_default();
        speech::name_as_number(segments, &number, lang)
    }

    /// A message stored, or a recording that did not become one, in `/metrics`.
    fn count(&self, stored: bool) {
        if let Some(metrics) = &self.deps.voicemail.metrics {
            if stored {
                metrics.voicemail_stored();
            } else {
                metrics.voicemail_dropped();
            }
        }
    }

    /// Stores the recording in the spool as `message`'s audio, within one of the
    /// [`VoicemailShared::save_slots`]; its duration is capped by the audio there. `None`: no audio, or not
    /// stored.
    async fn save_spooled(&self, mut message: NewVoicemail) -> Option<Saved> {
        let Some(spool) = &self.spool else {
            warn!("no recording to save");
            return None;
        };
        let _slot = self.deps.voicemail.save_slots.acquire().await;
        let Some(wav) = spool.wav().await else {
            warn!("recording not readable from the spool");
            return None;
        };
        let wav = match &self.speech {
            Some(speech) => trimmed(wav, speech)?,
            None => wav,
        };
        let samples = wav.len().saturating_sub(WAV_HEADER_LEN) / 2;
        if samples == 0 {
            warn!("no audio to save");
            return None;
        }
        message.duration_ms = message.duration_ms.min(samples as u64 / 8);
        message.audio = wav;
        self.save(message).await
    }

    /// Writes the message, retrying with backoff: a failed save loses what the caller said,
    /// unless the spool keeps it for the next start.
    async fn save(&self, message: NewVoicemail) -> Option<Saved> {
        let mut backoff = SAVE_BACKOFF;
        for attempt in 1..=SAVE_ATTEMPTS {
            let insert = self.deps.store.voicemail_insert(&message);
            let metrics = self.deps.voicemail.metrics.as_deref();
            match crate::metrics::timed(metrics, crate::metrics::StoreOp::Voicemail, insert).await {
                Ok(row) => {
                    info!(
                        voicemail_id = %row.id,
                        duration_ms = row.duration_ms,
                        "voicemail message stored"
                    );
                    return Some(Saved {
                        message: row,
                        wav: Some(message.audio),
                    });
                }
                Err(error @ StoreError::Invalid { .. }) => {
                    warn!(%error, "message refused by the store");
                    return None;
                }
                Err(error) => {
                    warn!(%error, attempt, "message not stored; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
        warn!(call_id = %self.call_id, "message lost after every store attempt");
        None
    }

    /// Saves a recording the session still held when it closed, from the spool.
    async fn save_leftover(&mut self, ms: u64) {
        info!(duration_ms = ms, "saving a recording left in the session");
        let message = NewVoicemail {
            user_id: self.mailbox.user_id,
            caller_number: None,
            caller_name: None,
            received_at: self.deps.clock.now()
                - chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(0)),
            duration_ms: ms,
            audio: Vec::new(),
        };
        if let Some(saved) = self.save_spooled(message).await {
            let id = saved.message.id;
            self.saved = Some(saved);
            if let Some(spool) = self.spool.take() {
                spool.remove();
            }
            self.notify(self.mailbox.user_id, id);
        }
    }
}

impl Handler for DepositHandler {
    async fn prompt(&mut self, prompt: Prompt) -> PromptAudio {
        if let (Prompt::Take, Some(_), Some(spool)) = (&prompt, self.take, &self.spool) {
            // The take is played back from the spool: the message is in memory only while it
            // plays.
            let pcm = spool.pcm();
            return PromptAudio::Pending(Box::pin(async move {
                pcm.await
                    .map(Audio::from)
                    .ok_or_else(|| "recording not readable".to_owned())
            }));
        }
        let ready: Option<Arc<[i16]>> = match &prompt {
            Prompt::Recording(RecordingKind::Greeting) => self.mailbox.greeting.clone(),
            Prompt::Recording(RecordingKind::Name) => self.mailbox.name.clone(),
            Prompt::Take | Prompt::Message(_) | Prompt::Speech { .. } => None,
        };
        if let Some(pcm) = ready {
            return PromptAudio::Ready(pcm.into());
        }
        let Prompt::Speech {
            utterance,
            lang,
            own_name,
        } = prompt
        else {
            warn!(?prompt, "prompt has no audio here; skipped");
            return PromptAudio::Nothing;
        };
        let segments = speech::render(&utterance, lang);
        // The recorded name where the owner uses it, else the spoken one, else (below) the
        // number (issue #18: every greeting says the name).
        let name = if own_name {
            self.mailbox.name.clone()
        } else {
            self.mailbox.spoken_name.clone()
        };
        let segments = match name {
            Some(_) => segments,
            None => self.spell_names(segments, lang),
        };
        debug!(lang = %lang, ?segments, "stitching prompt");
        let cache = self.deps.prompts.clone();
        PromptAudio::Pending(Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                cache
                    .stitch_shared(&segments, name.as_ref())
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        }))
    }

    async fn tone(&mut self, _lang: crate::domain::Lang) -> Option<Arc<[i16]>> {
        self.tone.clone()
    }

    fn record_options(&self, max: Duration, silence_timeout: Duration) -> RecordOptions {
        RecordOptions {
            max_duration: max,
            silence_timeout: Some(silence_timeout),
            stream_interval: Some(STREAM_INTERVAL),
            ..RecordOptions::default()
        }
    }

    /// Records from now, spooling the audio to disk as it arrives.
    fn recording_started(&mut self) {
        self.recording = true;
        if let Some(old) = self.spool.take() {
            old.remove();
        }
        self.spooled = 0;
        self.spool = Some(Spool::start(
            &self.deps.voicemail.spool,
            Envelope {
                user_id: self.mailbox.user_id.0,
                caller_number: self.caller.number.clone(),
                caller_name: self.caller.name.clone(),
                received_at: self.deps.clock.now(),
                call_id: self.call_id.clone(),
                shared_id: None,
            },
        ));
    }

    fn recording_audio(&mut self, chunk: Vec<i16>) {
        self.spool_chunk(chunk);
    }

    fn recording_done(&mut self, recording: Recording) -> (u64, u64) {
        self.recording = false;
        // The message is what the trim keeps: the speech and its margins (`media::vad`).
        let kept = recording.speech.trim(recording.len());
        let duration_ms = kept.len() as u64 / 8;
        let speech_ms = u64::try_from(recording.speech.speech().as_millis()).unwrap_or(u64::MAX);
        self.speech = Some(recording.speech);
        self.take = Some(recording.len());
        self.spool_rest(recording);
        (duration_ms, speech_ms)
    }

    fn recording_stopped_at_tone(&mut self) {
        self.take = Some(0);
    }

    fn discard_recording(&mut self) {
        self.take = None;
        if let Some(spool) = self.spool.take() {
            spool.remove();
        }
    }

    async fn store(&mut self, request: StoreRequest) -> StoreReply {
        match request {
            StoreRequest::SaveMessage {
                user,
                caller_number,
                caller_name,
                received_at,
                duration_ms,
            } => {
                if self.take.take() == Some(0) {
                    warn!("no audio to save");
                    self.count(false);
                    return StoreReply::Failed;
                }
                // The recording is in the spool: the take when the recorder reported its end,
                // else what its chunks brought (a recorder that never reported).
                let message = NewVoicemail {
                    user_id: user,
                    caller_number,
                    caller_name,
                    received_at,
                    duration_ms,
                    audio: Vec::new(),
                };
                let saved = self.save_spooled(message).await;
                self.count(saved.is_some());
                match saved {
                    Some(saved) => {
                        let id = saved.message.id;
                        self.saved = Some(saved);
                        if let Some(spool) = self.spool.take() {
                            spool.remove();
                        }
                        StoreReply::MessageSaved(id)
                    }
                    // The spool keeps the recording; the next start stores it.
                    None => StoreReply::Failed,
                }
            }
            other => {
                warn!(request = ?other, "store request not handled by the deposit driver");
                StoreReply::Failed
            }
        }
    }

    /// E-mail/SMS, message-waiting lamps and the web client's counters. Runs on its own: a
    /// slow relay must not hold the call.
    fn notify(&mut self, user: UserId, message: VoicemailId) {
        let Some(saved) = self.saved.as_mut().filter(|s| s.message.id == message) else {
            return;
        };
        let message = saved.message.clone();
        // Moved, not copied: the call keeps no copy of the message.
        let wav = saved.wav.take();
        let owner = self.mailbox.user.clone();
        let timezone = self.mailbox.timezone;
        let settings = self.mailbox.settings.clone();
        let deps = self.deps.clone();
        tokio::spawn(
            async move {
                if let Err(error) = deps.voicemail.changed.publish(user).await {
                    warn!(%error, "voicemail counts not read");
                }
                if let Some(owner) = owner {
                    let delivery = deps
                        .notifier
                        .notify_new_voicemail(
                            deps.clock.now(),
                            &owner,
                            timezone,
                            &settings,
                            &message,
                            wav.as_deref(),
                        )
                        .await;
                    debug!(?delivery, "new-message notification done");
                }
            }
            .in_current_span(),
        );
    }

    /// The machine is done and the media closed: keep anything a hang-up left in it.
    async fn finish(&mut self, closed: Closed) {
        if let Some(metrics) = &self.deps.voicemail.metrics {
            metrics.rtp_packets_lost(closed.lost);
        }
        // Chunks the loop had not read yet belong to the recording still running, if any.
        for event in closed.events {
            if let MediaEvent::RecordingAudio(chunk) = event {
                self.spool_chunk(chunk);
            }
        }
        if let Some(recording) = closed.recording.filter(|_| self.recording) {
            let speech = recording.speech;
            let ms = speech.trim(recording.len()).len() as u64 / 8;
            self.speech = Some(speech);
            self.spool_rest(recording);
            if self.saved.is_none() && ms >= self.min_ms && speech.is_message() {
                self.save_leftover(ms).await;
            } else if let Some(spool) = self.spool.take() {
                info!(
                    speech_ms = speech.speech().as_millis(),
                    "recording left in the session has no message; not stored"
                );
                spool.remove();
            }
        }
        debug!("deposit over");
    }
}

/// The record tone in `lang`, decoded once per call; `None` records without it.
async fn load_tone(deps: &IvrDeps, lang: crate::domain::Lang) -> Option<Arc<[i16]>> {
    let cache = deps.prompts.clone();
    let segments = vec![Segment::Fragment { id: f::BEEP, lang }];
    match tokio::task::spawn_blocking(move || cache.stitch(&segments, None)).await {
        Ok(Ok(pcm)) => Some(pcm),
        Ok(Err(error)) => {
            warn!(%error, "record tone not available; recording without it");
            None
        }
        Err(error) => {
            warn!(%error, "record tone task failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b2bua::CallerInfo;
    use crate::domain::Lang;
    use crate::routing::{GreetingStatus, VoicemailInfo};
    use crate::sip::transaction::TransportKind;

    fn request(user_id: Option<i64>) -> VoicemailRequest {
        let invite = crate::sip::message::parse(
            b"INVITE sip:1@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:1@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .ok()
        .and_then(|m| match m {
            rsip::SipMessage::Request(r) => Some(r),
            _ => None,
        })
        .unwrap();
        VoicemailRequest {
            call_id: "c".into(),
            user_id: 7,
            lang: Lang::Sv,
            info: VoicemailInfo {
                status: GreetingStatus::NotAvailable,
                allow_messages: true,
            },
            caller: CallerInfo {
                number: "4512345678".into(),
                name: None,
                user_id,
            },
            side: crate::b2bua::CallerSide::Transaction(crate::sip::transaction::TransactionId(1)),
            invite,
            local_tag: "t".into(),
            source: "127.0.0.1:5060".parse().unwrap(),
            transport: TransportKind::Udp,
            offer: None,
        }
    }

    fn mailbox(settings: VoicemailSettings) -> MailboxData {
        MailboxData {
            user_id: UserId(7),
            user: None,
            timezone: chrono_tz::Europe::Copenhagen,
            org_receptionist: Some("4570100000".into()),
            settings,
            name: None,
            greeting: None,
            spoken_name: None,
        }
    }

    #[test]
    fn setup_follows_the_settings_and_the_route() {
        let settings = VoicemailSettings {
            secondary_lang: Some(Lang::En),
            receptionist_option: true,
            receptionist_group_number: Some("4570100099".into()),
            use_own_name: true,
            max_message_secs: 60,
            ..VoicemailSettings::default()
        };
        let setup = deposit_setup(
            &request(None),
            &mailbox(settings),
            RecordingLimits::default(),
        );
        assert_eq!(
            setup.lang,
            Lang::Sv,
            "no user loaded: the hand-off's language"
        );
        assert_eq!(setup.secondary_lang, Some(Lang::En));
        assert_eq!(setup.receptionist.as_deref(), Some("4570100099"));
        assert!(!setup.own_name, "no recorded name: the generated one");
        assert!(setup.caller.external);
        assert_eq!(setup.limits.max, Duration::from_secs(60));
        assert_eq!(setup.caller.number.as_deref(), Some("4512345678"));

        let colleague = deposit_setup(
            &request(Some(3)),
            &mailbox(VoicemailSettings::default()),
            RecordingLimits::default(),
        );
        assert!(!colleague.caller.external);
        assert_eq!(colleague.receptionist, None, "option off");
        let org_group = deposit_setup(
            &request(None),
            &mailbox(VoicemailSettings {
                receptionist_option: true,
                ..VoicemailSettings::default()
            }),
            RecordingLimits::default(),
        );
        assert_eq!(org_group.receptionist.as_deref(), Some("4570100000"));

        // The server's limits: its maximum caps the user's, its minimum is used as it is.
        let server = RecordingLimits {
            max: Duration::from_secs(30),
            min: Duration::from_millis(2500),
            silence: Duration::from_secs(5),
        };
        let capped = deposit_setup(
            &request(None),
            &mailbox(VoicemailSettings::default()),
            server,
        );
        assert_eq!(capped.limits.max, Duration::from_secs(30), "180 s capped");
        assert_eq!(capped.limits.min, Duration::from_millis(2500));
    }

    #[test]
    fn the_stored_wav_is_cut_to_the_speech_and_its_margins() {
        let pcm: Vec<i16> = (0..40_000).map(|i| (i % 100) as i16).collect();
        let wav = decode::wav_bytes(&pcm).unwrap();
        // Speech from 1.0 s to 2.0 s: kept from 0.7 s to 2.5 s.
        let speech = SpeechSummary {
            speech_frames: 50,
            first_speech: Some(8000),
            last_speech_end: Some(16_000),
        };
        let cut = trimmed(wav.clone(), &speech).unwrap();
        let samples: Vec<i16> = cut[WAV_HEADER_LEN..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(samples, pcm[5600..20_000]);
        assert_eq!(
            cut[..WAV_HEADER_LEN],
            decode::wav_header(14_400 * 2).unwrap()
        );
        // Speech to the very end: nothing to cut, the same bytes.
        let whole = SpeechSummary {
            speech_frames: 250,
            first_speech: Some(0),
            last_speech_end: Some(40_000),
        };
        assert_eq!(trimmed(wav.clone(), &whole).unwrap(), wav);
        assert_eq!(trimmed(wav, &SpeechSummary::default()), None);
    }
}
