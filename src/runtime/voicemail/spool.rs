//! The recording spool: a message is written to disk while the caller speaks, so a crash or a
//! `kill -9` mid-message loses at most the last second; at the next start the spooled
//! recordings are stored as messages.
//!
//! One recording is two files in the spool directory (`<data_dir>/spool`): `<id>.json`, the
//! envelope (mailbox, caller, time), written before the first sample, and `<id>.pcm`, raw
//! 8 kHz 16-bit little-endian mono, appended chunk by chunk with `fdatasync` after each. Raw
//! samples rather than a WAV because a WAV's header carries the length and would be wrong
//! after a crash; the store gets a proper WAV at recovery. Both files are removed once the
//! message is in the store (or the machine discarded it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::media::decode;
use crate::store::model::{NewVoicemail, UserId};
use crate::store::Store;

/// The spool directory of this process, set once by `serve` before calls are taken. A
/// process-wide setting rather than a field of `IvrDeps`, whose shape is shared with the
/// retrieval driver being written alongside; unset (unit tests), nothing is spooled.
static SPOOL_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Sets the spool directory (created if missing). Later calls are ignored.
pub fn set_dir(dir: PathBuf) -> std::io::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let _ = SPOOL_DIR.set(dir);
    Ok(())
}

/// Shortest spooled recording kept at recovery (the deposit's default minimum).
const MIN_SAMPLES: usize = 8000;

/// The envelope of a spooled recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Mailbox owner.
    pub user_id: i64,
    /// Calling number.
    pub caller_number: Option<String>,
    /// Calling name.
    pub caller_name: Option<String>,
    /// When recording began.
    pub received_at: DateTime<Utc>,
}

enum Op {
    Audio(Vec<i16>),
    Remove,
}

/// A recording being spooled; writes happen in order on a task of their own.
pub struct SpoolWriter {
    ops: mpsc::UnboundedSender<Op>,
}

impl SpoolWriter {
    /// Starts spooling a recording, or `None` when no spool is configured.
    pub fn start(envelope: Envelope) -> Option<Self> {
        let dir = SPOOL_DIR.get()?.clone();
        let id = crate::sip::message::new_tag();
        let (ops, mut rx) = mpsc::unbounded_channel::<Op>();
        tokio::spawn(async move {
            let meta = dir.join(format!("{id}.json"));
            let pcm = dir.join(format!("{id}.pcm"));
            let written = tokio::task::spawn_blocking({
                let (meta, pcm) = (meta.clone(), pcm.clone());
                move || write_envelope(&meta, &pcm, &envelope)
            })
            .await;
            if !matches!(written, Ok(Ok(()))) {
                warn!(path = %meta.display(), "recording not spooled");
                return;
            }
            while let Some(op) = rx.recv().await {
                let (pcm_path, meta_path) = (pcm.clone(), meta.clone());
                let result = tokio::task::spawn_blocking(move || match op {
                    Op::Audio(samples) => append(&pcm_path, &samples),
                    Op::Remove => {
                        let _ = std::fs::remove_file(&pcm_path);
                        std::fs::remove_file(&meta_path)
                    }
                })
                .await;
                if !matches!(result, Ok(Ok(()))) {
                    warn!(path = %pcm.display(), "spool write failed");
                }
            }
        });
        Some(SpoolWriter { ops })
    }

    /// Appends recorded audio.
    pub fn append(&self, samples: &[i16]) {
        let _ = self.ops.send(Op::Audio(samples.to_vec()));
    }

    /// The recording is stored (or discarded): the spool files go.
    pub fn remove(self) {
        let _ = self.ops.send(Op::Remove);
    }
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

/// Stores every recording left in the spool by a previous run as a new message, then removes
/// its files; returns how many were stored. Recordings shorter than a second are dropped, as
/// the deposit drops them. A recording the store refuses stays in the spool for next time.
pub async fn recover(store: &Store) -> usize {
    let Some(dir) = SPOOL_DIR.get().cloned() else {
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
        let samples: Vec<i16> = std::fs::read(&pcm)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        if samples.len() >= MIN_SAMPLES {
            let Ok(audio) = decode::wav_bytes(&samples) else {
                continue;
            };
            let message = NewVoicemail {
                user_id: UserId(envelope.user_id),
                caller_number: envelope.caller_number,
                caller_name: envelope.caller_name,
                received_at: envelope.received_at,
                duration_ms: samples.len() as u64 / 8,
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
