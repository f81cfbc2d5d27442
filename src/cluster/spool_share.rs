//! A recording in progress mirrored to the store, so that any node can finish it (issue #20;
//! CONTRIBUTING.md rule 12: nothing the caller leaves is lost).
//!
//! The local spool (`runtime::voicemail::spool`) keeps a recording on this node's disk, which
//! only this node reads again, and only once it is back on the same disk. With several nodes
//! on one PostgreSQL store the spool also writes each settled chunk of audio to the store as
//! it arrives (one row a second of speech, the recorder's `stream_interval`): the recording
//! is announced (`cluster_recordings`: mailbox, caller, start, format) before its first chunk,
//! and each chunk (`cluster_recording_chunks`) says where its samples go, so a truncation (the
//! trailing silence trimmed when recording ends) is one more, empty, row. When the message is
//! stored (or discarded) here, the rows go. When this node dies first, a survivor
//! ([`super::orphans`]) claims them, makes the message through the deposit's save path and
//! deletes them in the message's transaction.
//!
//! The writes run on a task of their own, in order, off the recording's path: a slow or
//! failing store delays nothing the caller hears, and the local spool stays the working copy
//! (a failed write is logged; that chunk is then missing only if this node dies too). What a
//! `kill -9` loses is the chunk not yet settled: at most the recorder's stream interval (a
//! second) of speech.
//!
//! On SQLite (one node) nothing is mirrored: the local spool is the whole story there.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::clock::Clock;
use crate::store::{RecordingChunk, SharedRecording, Store};

/// Mirrors this node's recordings to the store. Cheap to clone; one per node.
#[derive(Clone)]
pub struct SpoolShare {
    store: Store,
    node: String,
    clock: Arc<dyn Clock>,
    /// The dialogs of voicemail calls, for a survivor's BYE (`super::dialog_share`).
    dialogs: Option<super::dialog_share::DialogShare>,
}

impl std::fmt::Debug for SpoolShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolShare")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Who and when, as the spool's envelope has it.
#[derive(Debug, Clone)]
pub struct TakeInfo {
    /// The call's Call-ID.
    pub call_id: String,
    /// Mailbox owner.
    pub user_id: i64,
    /// Calling number.
    pub caller_number: Option<String>,
    /// Calling name.
    pub caller_name: Option<String>,
    /// When recording began.
    pub received_at: DateTime<Utc>,
}

impl SpoolShare {
    /// Mirrors into `store` as node `node`.
    pub fn new(store: Store, node: String, clock: Arc<dyn Clock>) -> Self {
        SpoolShare {
            store,
            node,
            clock,
            dialogs: None,
        }
    }

    /// Also records the caller's dialog of each voicemail call.
    pub fn with_dialogs(mut self, dialogs: super::dialog_share::DialogShare) -> Self {
        self.dialogs = Some(dialogs);
        self
    }

    /// The dialogs' share, if any.
    pub fn dialogs(&self) -> Option<&super::dialog_share::DialogShare> {
        self.dialogs.as_ref()
    }

    /// Starts mirroring one take.
    pub fn begin(&self, info: TakeInfo) -> SharedTake {
        let id = format!("{}-{}", self.node, crate::sip::message::new_tag());
        let recording = SharedRecording {
            id: id.clone(),
            node_id: self.node.clone(),
            call_id: info.call_id,
            user_id: info.user_id,
            caller_number: info.caller_number,
            caller_name: info.caller_name,
            received_at: info.received_at,
            format: SharedRecording::PCM.to_owned(),
        };
        let (ops, rx) = mpsc::unbounded_channel();
        tokio::spawn(mirror(self.store.clone(), recording, self.clock.now(), rx));
        SharedTake { id, ops }
    }
}

/// What the spool tells the mirror, in order.
#[derive(Debug)]
enum Op {
    Append(Vec<u8>),
    Truncate(usize),
    Remove,
}

/// One take being mirrored.
#[derive(Debug)]
pub struct SharedTake {
    id: String,
    ops: mpsc::UnboundedSender<Op>,
}

impl SharedTake {
    /// The recording's id in the store.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Samples appended to the take.
    pub fn append(&self, samples: &[i16]) {
        let bytes = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let _ = self.ops.send(Op::Append(bytes));
    }

    /// The take cut to its first `samples` samples.
    pub fn truncate(&self, samples: usize) {
        let _ = self.ops.send(Op::Truncate(samples));
    }

    /// The take is stored or discarded here: its rows go.
    pub fn remove(&self) {
        let _ = self.ops.send(Op::Remove);
    }
}

/// The mirror task of one take.
async fn mirror(
    store: Store,
    recording: SharedRecording,
    now: DateTime<Utc>,
    mut ops: mpsc::UnboundedReceiver<Op>,
) {
    let id = recording.id.clone();
    let mut announced = match store.shared_recording_begin(&recording, now).await {
        Ok(()) => true,
        Err(error) => {
            warn!(%error, recording = %id, "recording not announced to the store; only this node has it");
            false
        }
    };
    let (mut seq, mut len) = (0i64, 0usize);
    while let Some(op) = ops.recv().await {
        let chunk = match op {
            Op::Append(audio) => {
                let chunk = RecordingChunk {
                    seq,
                    offset_samples: i64::try_from(len).unwrap_or(i64::MAX),
                    audio,
                };
                len += chunk.audio.len() / 2;
                chunk
            }
            Op::Truncate(samples) if samples < len => {
                len = samples;
                RecordingChunk {
                    seq,
                    offset_samples: i64::try_from(samples).unwrap_or(i64::MAX),
                    audio: Vec::new(),
                }
            }
            Op::Truncate(_) => continue,
            Op::Remove => {
                if let Err(error) = store.shared_recording_remove(&id).await {
                    warn!(%error, recording = %id, "stored recording's chunks not deleted");
                }
                return;
            }
        };
        seq += 1;
        if !announced {
            continue;
        }
        if let Err(error) = store.shared_recording_chunk(&id, &chunk).await {
            warn!(%error, recording = %id, "recording chunk not written to the store");
            // Try the announcement again: a store that came back takes the next chunks.
            announced = store.shared_recording_begin(&recording, now).await.is_ok();
        } else {
            debug!(recording = %id, seq = chunk.seq, bytes = chunk.audio.len(), "chunk shared");
        }
    }
}

/// The samples of a take from its chunks, replayed in write order: each chunk puts its audio
/// at its offset and drops what followed. At most `max_samples` (a bound on what a row can
/// make us allocate).
pub fn assemble(chunks: &[RecordingChunk], max_samples: usize) -> Vec<i16> {
    let mut samples: Vec<i16> = Vec::new();
    for chunk in chunks {
        let offset = usize::try_from(chunk.offset_samples)
            .unwrap_or(0)
            .min(max_samples);
        samples.resize(offset, 0);
        samples.extend(
            chunk
                .audio
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]])),
        );
        samples.truncate(max_samples);
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(seq: i64, offset: i64, samples: &[i16]) -> RecordingChunk {
        RecordingChunk {
            seq,
            offset_samples: offset,
            audio: samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn chunks_are_replayed_in_order_with_truncations() {
        let chunks = [
            chunk(0, 0, &[1, 2, 3]),
            chunk(1, 3, &[4, 5]),
            chunk(2, 4, &[]),
            chunk(3, 4, &[9]),
        ];
        assert_eq!(assemble(&chunks, 100), vec![1, 2, 3, 4, 9]);
        assert_eq!(assemble(&chunks, 2), vec![1, 2]);
        // A chunk lost in between leaves silence, not a shift.
        assert_eq!(
            assemble(&[chunk(0, 0, &[1]), chunk(2, 3, &[7])], 100),
            vec![1, 0, 0, 7]
        );
    }

    #[tokio::test]
    async fn a_take_is_mirrored_chunk_by_chunk_and_removed_once_stored() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let share = SpoolShare::new(store.clone(), "a".into(), clock);
        let take = share.begin(TakeInfo {
            call_id: "c1".into(),
            user_id: 7,
            caller_number: Some("4512345678".into()),
            caller_name: None,
            received_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        });
        take.append(&[1; 8000]);
        take.append(&[2; 8000]);
        take.truncate(12_000);
        take.append(&[3; 10]);
        let id = take.id().to_owned();
        let mut loaded = None;
        for _ in 0..200 {
            if let Ok((r, chunks)) = store.shared_recording_load(&id).await {
                if chunks.len() == 4 {
                    loaded = Some((r, chunks));
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (recording, chunks) = loaded.expect("four chunks in the store");
        assert_eq!(recording.user_id, 7);
        assert_eq!(recording.call_id, "c1");
        let samples = assemble(&chunks, usize::MAX);
        assert_eq!(samples.len(), 12_010);
        assert_eq!(samples[11_999], 2);
        assert_eq!(samples[12_000], 3);
        take.remove();
        for _ in 0..200 {
            if store.shared_recording_load(&id).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the stored take's rows are still there");
    }
}
