//! The recording spool: where a message lives while the caller speaks and until it is stored.
//! It is written to disk as it arrives, so a crash or a `kill -9` mid-message loses at most the
//! last chunk; at the next start the spooled recordings are stored as messages. And it is the
//! only copy: the recorder hands its settled audio over for good
//! (`RecordOptions::stream_interval`), and the save and the caller's replay read it back from
//! here, so a call does not hold its message in RAM (16 KB per second of speech).
//!
//! One recording is two files in the spool directory (`<data_dir>/spool`): `<id>.json`, the
//! envelope (mailbox, caller, time), written before the first sample, and `<id>.pcm`, raw
//! 8 kHz 16-bit little-endian mono, appended chunk by chunk with `fdatasync` after each. Raw
//! samples rather than a WAV because a WAV's header carries the length and would be wrong
//! after a crash; the store gets a proper WAV (header + these bytes) when the message is saved
//! or recovered. Both files are removed once the message is in the store (or the machine
//! discarded it).
//!
//! Without a spool directory (unit tests, or a directory that could not be created), or after
//! the disk failed, the recording is kept in memory instead: the message matters more than the
//! memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::cluster::spool_share::{SharedTake, SpoolShare, TakeInfo};
use crate::domain::model::{NewVoicemail, UserId};
use crate::media::decode::{self, wav_header, WAV_HEADER_LEN};
use crate::media::vad::SpeechSummary;
use crate::store::Store;

/// Where this server spools recordings: a directory `serve` creates under `data_dir`, or none
/// (unit tests, or a directory that could not be created), when recordings stay in memory.
/// Handed to the deposit driver with its other dependencies; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SpoolDir {
    dir: Option<Arc<Path>>,
    /// Several nodes on one store: each recording is mirrored there too, for a survivor
    /// (issue #20, `cluster::spool_share`).
    share: Option<SpoolShare>,
}

impl SpoolDir {
    /// Spools into `dir`, created if missing.
    pub fn create(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(SpoolDir {
            dir: Some(dir.into()),
            share: None,
        })
    }

    /// No spool directory: recordings are kept in memory.
    pub fn memory() -> Self {
        SpoolDir::default()
    }

    /// Also mirrors every recording to the store through `share`.
    pub fn with_share(mut self, share: SpoolShare) -> Self {
        self.share = Some(share);
        self
    }

    /// The store mirror, if any: a voicemail call's dialog is shared through it too.
    pub fn share(&self) -> Option<&SpoolShare> {
        self.share.as_ref()
    }

    fn path(&self) -> Option<PathBuf> {
        self.dir.as_deref().map(Path::to_path_buf)
    }
}

/// Shortest spooled recording kept at recovery (the deposit's default minimum).
const MIN_SAMPLES: usize = 8000;

/// Bytes per sample in the `.pcm` file.
const SAMPLE_BYTES: usize = 2;

/// The envelope of a spooled recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Envelope {
    /// Mailbox owner.
    pub user_id: i64,
    /// Calling number.
    pub caller_number: Option<String>,
    /// Calling name.
    pub caller_name: Option<String>,
    /// When recording began.
    pub received_at: DateTime<Utc>,
    /// The call's Call-ID (empty in spools written before it was kept).
    #[serde(default)]
    pub call_id: String,
    /// The recording's id in the store when it is mirrored there (`cluster::spool_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_id: Option<String>,
}

/// What the driver asks of the spool task, carried out in order.
enum Op {
    /// Append samples.
    Audio(Vec<i16>),
    /// Keep only the first this many samples (trailing silence trimmed after streaming).
    Truncate(usize),
    /// The recording as a WAV file, once everything before is written.
    Wav(oneshot::Sender<Option<Vec<u8>>>),
    /// The recording as samples, for playing it back to the caller.
    Pcm(oneshot::Sender<Option<Arc<[i16]>>>),
    /// The recording is stored or discarded.
    Remove,
}

/// Where the samples are.
enum Backing {
    /// The spool files.
    File {
        meta: PathBuf,
        pcm: PathBuf,
        /// Samples written (and synced) so far.
        samples: usize,
    },
    /// No spool, or the disk failed: in memory, as the recorder used to hold them.
    Memory(Vec<i16>),
}

/// One recording in the spool. Writes and reads happen in order on a task of their own, each
/// on the blocking pool: a chunk a second, never a write per packet on a runtime worker.
pub(super) struct Spool {
    ops: mpsc::UnboundedSender<Op>,
}

impl Spool {
    /// Starts spooling a recording: on disk when there is a spool directory, else in memory.
    pub(super) fn start(dir: &SpoolDir, envelope: Envelope) -> Self {
        Self::start_shared(dir.path(), dir.share.as_ref(), envelope)
    }

    #[cfg(test)]
    fn start_in(dir: Option<PathBuf>, envelope: Envelope) -> Self {
        Self::start_shared(dir, None, envelope)
    }

    fn start_shared(
        dir: Option<PathBuf>,
        share: Option<&SpoolShare>,
        mut envelope: Envelope,
    ) -> Self {
        let mirror = share.map(|share| {
            share.begin(TakeInfo {
                call_id: envelope.call_id.clone(),
                user_id: envelope.user_id,
                caller_number: envelope.caller_number.clone(),
                caller_name: envelope.caller_name.clone(),
                received_at: envelope.received_at,
            })
        });
        envelope.shared_id = mirror.as_ref().map(|m| m.id().to_owned());
        let (ops, rx) = mpsc::unbounded_channel::<Op>();
        tokio::spawn(run(dir, envelope, mirror, rx));
        Spool { ops }
    }

    /// Appends recorded audio.
    pub(super) fn append(&self, samples: Vec<i16>) {
        let _ = self.ops.send(Op::Audio(samples));
    }

    /// Cuts the recording to its first `samples` samples.
    pub(super) fn truncate(&self, samples: usize) {
        let _ = self.ops.send(Op::Truncate(samples));
    }

    /// The recording as the WAV file to store, after every earlier write; `None` when it
    /// cannot be read. The one moment the message is in memory whole, briefly.
    pub(super) fn wav(
        &self,
    ) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let _ = self.ops.send(Op::Wav(reply));
        async move { answer.await.ok().flatten() }
    }

    /// The recording as samples, after every earlier write, for playing it back.
    pub(super) fn pcm(
        &self,
    ) -> impl std::future::Future<Output = Option<Arc<[i16]>>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let _ = self.ops.send(Op::Pcm(reply));
        async move { answer.await.ok().flatten() }
    }

    /// The recording is stored (or discarded): the spool files go.
    pub(super) fn remove(self) {
        let _ = self.ops.send(Op::Remove);
    }
}

/// The spool task of one recording.
async fn run(
    dir: Option<PathBuf>,
    envelope: Envelope,
    mirror: Option<SharedTake>,
    mut rx: mpsc::UnboundedReceiver<Op>,
) {
    let mut backing = match dir {
        Some(dir) => {
            let id = crate::sip::message::new_tag();
            let meta = dir.join(format!("{id}.json"));
            let pcm = dir.join(format!("{id}.pcm"));
            let written = tokio::task::spawn_blocking({
                let (meta, pcm) = (meta.clone(), pcm.clone());
                move || write_envelope(&meta, &pcm, &envelope)
            })
            .await;
            if matches!(written, Ok(Ok(()))) {
                Backing::File {
                    meta,
                    pcm,
                    samples: 0,
                }
            } else {
                warn!(path = %meta.display(), "recording not spooled; kept in memory");
                let _ = std::fs::remove_file(&pcm);
                let _ = std::fs::remove_file(&meta);
                Backing::Memory(Vec::new())
            }
        }
        None => Backing::Memory(Vec::new()),
    };
    while let Some(op) = rx.recv().await {
        if let Some(mirror) = &mirror {
            match &op {
                Op::Audio(chunk) => mirror.append(chunk),
                Op::Truncate(len) => mirror.truncate(*len),
                Op::Remove => mirror.remove(),
                Op::Wav(_) | Op::Pcm(_) => {}
            }
        }
        match (&mut backing, op) {
            (Backing::Memory(samples), op) => match op {
                Op::Audio(chunk) => samples.extend_from_slice(&chunk),
                Op::Truncate(len) => samples.truncate(len),
                Op::Wav(reply) => {
                    let wav = wav_header(samples.len() * SAMPLE_BYTES).map(|header| {
                        let mut wav = header.to_vec();
                        wav.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
                        wav
                    });
                    let _ = reply.send(wav);
                }
                Op::Pcm(reply) => {
                    let _ = reply.send(Some(Arc::from(samples.as_slice())));
                }
                Op::Remove => return,
            },
            (Backing::File { meta, pcm, samples }, op) => {
                let written = *samples;
                let (meta, pcm) = (meta.clone(), pcm.clone());
                match op {
                    Op::Audio(chunk) => {
                        let len = chunk.len();
                        let path = pcm.clone();
                        let failed = tokio::task::spawn_blocking(move || {
                            append(&path, &chunk).err().map(|_| chunk)
                        })
                        .await;
                        match failed {
                            Ok(None) => *samples += len,
                            Ok(Some(chunk)) => {
                                warn!(path = %pcm.display(), "spool write failed; kept in memory");
                                backing = fall_back(&meta, &pcm, written).await;
                                if let Backing::Memory(samples) = &mut backing {
                                    samples.extend_from_slice(&chunk);
                                }
                            }
                            Err(_) => {
                                warn!(path = %pcm.display(), "spool write lost; kept in memory");
                                backing = fall_back(&meta, &pcm, written).await;
                            }
                        }
                    }
                    Op::Truncate(len) => {
                        let path = pcm.clone();
                        if blocking(move || truncate(&path, len)).await {
                            *samples = written.min(len);
                        } else {
                            warn!(path = %pcm.display(), "spool truncation failed; kept in memory");
                            backing = fall_back(&meta, &pcm, written.min(len)).await;
                        }
                    }
                    Op::Wav(reply) => {
                        let wav = tokio::task::spawn_blocking(move || read_wav(&pcm))
                            .await
                            .ok()
                            .and_then(Result::ok);
                        let _ = reply.send(wav);
                    }
                    Op::Pcm(reply) => {
                        let samples = tokio::task::spawn_blocking(move || read_samples(&pcm))
                            .await
                            .ok()
                            .and_then(Result::ok);
                        let _ = reply.send(samples.map(Arc::from));
                    }
                    Op::Remove => {
                        let _ = blocking(move || {
                            let _ = std::fs::remove_file(&pcm);
                            std::fs::remove_file(&meta)
                        })
                        .await;
                        return;
                    }
                }
            }
        }
    }
}

/// Runs a file operation on the blocking pool; whether it succeeded.
async fn blocking(f: impl FnOnce() -> std::io::Result<()> + Send + 'static) -> bool {
    matches!(tokio::task::spawn_blocking(f).await, Ok(Ok(())))
}

/// The disk failed under a recording: the first `written` samples of the file (those known
/// whole) move to memory and the files go (a later save from memory must not leave a copy for
/// recovery to store twice).
async fn fall_back(meta: &Path, pcm: &Path, written: usize) -> Backing {
    let (meta, pcm) = (meta.to_owned(), pcm.to_owned());
    let samples = tokio::task::spawn_blocking(move || {
        let mut samples = read_samples(&pcm).unwrap_or_default();
        samples.truncate(written);
        let _ = std::fs::remove_file(&pcm);
        let _ = std::fs::remove_file(&meta);
        samples
    })
    .await
    .unwrap_or_default();
    Backing::Memory(samples)
}

fn write_envelope(meta: &Path, pcm: &Path, envelope: &Envelope) -> std::io::Result<()> {
    std::fs::File::create(pcm)?.sync_all()?;
    let json = serde_json::to_vec(envelope).map_err(std::io::Error::other)?;
    let mut file = std::fs::File::create(meta)?;
    file.write_all(&json)?;
    file.sync_all()
}

fn append(pcm: &Path, samples: &[i16]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().append(true).open(pcm)?;
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    file.write_all(&bytes)?;
    file.sync_data()
}

fn truncate(pcm: &Path, samples: usize) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(pcm)?;
    let bytes = u64::try_from(samples * SAMPLE_BYTES).map_err(std::io::Error::other)?;
    if file.metadata()?.len() > bytes {
        file.set_len(bytes)?;
        file.sync_data()?;
    }
    Ok(())
}

/// The `.pcm` file as a WAV: header, then the file's bytes read straight behind it (one
/// buffer, no decoding). A half-written last sample (a crash mid-write) is dropped.
fn read_wav(pcm: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(pcm)?;
    let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
    let mut wav = Vec::with_capacity(WAV_HEADER_LEN + len);
    wav.extend_from_slice(&[0; WAV_HEADER_LEN]);
    file.read_to_end(&mut wav)?;
    let data = (wav.len() - WAV_HEADER_LEN) / SAMPLE_BYTES * SAMPLE_BYTES;
    wav.truncate(WAV_HEADER_LEN + data);
    let header = wav_header(data).ok_or_else(|| std::io::Error::other("recording too long"))?;
    wav[..WAV_HEADER_LEN].copy_from_slice(&header);
    Ok(wav)
}

fn read_samples(pcm: &Path) -> std::io::Result<Vec<i16>> {
    Ok(std::fs::read(pcm)?
        .chunks_exact(SAMPLE_BYTES)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect())
}

/// Stores every recording left in the spool by a previous run as a new message, then removes
/// its files; returns how many were stored. Recordings shorter than a second are dropped, as
/// the deposit drops them. A recording the store refuses stays in the spool for next time.
pub async fn recover(dir: &SpoolDir, store: &Store) -> usize {
    let Some(dir) = dir.path() else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut stored = 0;
    for entry in entries.flatten() {
        let meta = entry.path();
        if meta.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let pcm = meta.with_extension("pcm");
        let envelope: Envelope = match std::fs::read(&meta)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(envelope) => envelope,
            None => {
                warn!(path = %meta.display(), "unreadable spool envelope left in place");
                continue;
            }
        };
        if let Some(id) = &envelope.shared_id {
            // Mirrored to the store too: the local copy is stored only if no survivor has
            // taken the store's (issue #20), so the message is stored once.
            match store.shared_recording_reclaim(id).await {
                Ok(true) => {}
                Ok(false) => {
                    info!(path = %meta.display(), "spooled recording stored by another node");
                    let _ = std::fs::remove_file(&pcm);
                    let _ = std::fs::remove_file(&meta);
                    continue;
                }
                Err(error) => {
                    warn!(%error, path = %meta.display(), "spooled recording not reclaimed; kept");
                    continue;
                }
            }
        }
        let audio = read_wav(&pcm).unwrap_or_default();
        let left = left_behind(audio);
        if left.is_none() {
            info!(path = %meta.display(), "spooled recording without a message; not stored");
        }
        if let Some((audio, duration_ms)) = left {
            let message = NewVoicemail {
                user_id: UserId(envelope.user_id),
                caller_number: envelope.caller_number,
                caller_name: envelope.caller_name,
                received_at: envelope.received_at,
                duration_ms,
                audio,
            };
            match store.voicemail_insert(&message).await {
                Ok(row) => {
                    info!(voicemail_id = %row.id, duration_ms = row.duration_ms, "message recovered from the spool");
                    stored += 1;
                }
                Err(error) => {
                    warn!(%error, path = %meta.display(), "spooled message not stored; kept");
                    continue;
                }
            }
        }
        let _ = std::fs::remove_file(&pcm);
        let _ = std::fs::remove_file(&meta);
    }
    stored
}

/// A recording whose call did not end it (a crash, a dead node) as the message to store,
/// judged like a message whose call did not crash (issue #18): no speech, no message; else
/// cut to the speech and its margins, and at least a second long. The WAV and its duration
/// in milliseconds.
pub fn left_behind(wav: Vec<u8>) -> Option<(Vec<u8>, u64)> {
    let speech = crate::media::vad::analyse(&samples_of(&wav));
    if !speech.is_message() {
        return None;
    }
    let audio = trimmed(wav, &speech)?;
    let samples = audio.len().saturating_sub(WAV_HEADER_LEN) / SAMPLE_BYTES;
    (samples >= MIN_SAMPLES).then_some((audio, samples as u64 / 8))
}

/// The 16-bit samples of a spooled WAV.
fn samples_of(wav: &[u8]) -> Vec<i16> {
    wav.get(WAV_HEADER_LEN..)
        .unwrap_or_default()
        .chunks_exact(SAMPLE_BYTES)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// `wav` (a spooled recording, [`WAV_HEADER_LEN`] bytes of header then 16-bit samples) cut to
/// the speech and its margins. `None` when nothing is left: no speech.
pub(super) fn trimmed(wav: Vec<u8>, speech: &SpeechSummary) -> Option<Vec<u8>> {
    let samples = wav.len().saturating_sub(WAV_HEADER_LEN) / 2;
    let keep = speech.trim(samples);
    if keep.is_empty() {
        warn!("no speech to save");
        return None;
    }
    if keep == (0..samples) {
        return Some(wav);
    }
    let data = wav.get(WAV_HEADER_LEN + 2 * keep.start..WAV_HEADER_LEN + 2 * keep.end)?;
    let mut out = Vec::with_capacity(WAV_HEADER_LEN + data.len());
    out.extend_from_slice(&decode::wav_header(data.len())?);
    out.extend_from_slice(data);
    debug!(
        from = samples,
        to = keep.len(),
        "recording trimmed to its speech"
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::decode::wav_bytes;

    fn envelope() -> Envelope {
        Envelope {
            user_id: 7,
            caller_number: Some("4512345678".into()),
            caller_name: None,
            received_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            call_id: "c1".into(),
            shared_id: None,
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Appends two chunks, trims into the second, and checks both readings.
    async fn write_and_read(spool: &Spool) {
        spool.append(vec![1; 8000]);
        spool.append((0..4000).map(|i| i as i16).collect());
        spool.truncate(10_000);
        let expected: Vec<i16> = std::iter::repeat_n(1, 8000).chain(0..2000).collect();
        assert_eq!(spool.wav().await, Some(wav_bytes(&expected).unwrap()));
        assert_eq!(spool.pcm().await.as_deref(), Some(&expected[..]));
    }

    #[tokio::test]
    async fn a_recording_is_written_to_disk_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::start_in(Some(dir.path().to_owned()), envelope());
        write_and_read(&spool).await;
        let names = files(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        let pcm = dir
            .path()
            .join(names.iter().find(|n| n.ends_with(".pcm")).unwrap());
        assert_eq!(std::fs::metadata(pcm).unwrap().len(), 20_000);
        spool.remove();
        for _ in 0..100 {
            if files(dir.path()).is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("spool files left: {:?}", files(dir.path()));
    }

    #[tokio::test]
    async fn without_a_spool_directory_the_recording_is_kept_in_memory() {
        let spool = Spool::start_in(None, envelope());
        write_and_read(&spool).await;
    }

    #[tokio::test]
    async fn a_failing_disk_moves_the_recording_to_memory() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::start_in(Some(dir.path().to_owned()), envelope());
        spool.append(vec![1; 800]);
        assert!(spool.wav().await.is_some());
        // The file goes away under the recording (a full or failed disk is the same here).
        for name in files(dir.path()) {
            std::fs::remove_file(dir.path().join(name)).unwrap();
        }
        spool.append(vec![2; 800]);
        spool.append(vec![3; 800]);
        let pcm = spool.pcm().await.unwrap();
        assert_eq!(pcm.len(), 1600, "what came after the failure is kept");
        assert!(files(dir.path()).is_empty());
    }
}
