//! What the voicemail drivers share across calls ([`VoicemailShared`]), in a file of its own
//! because the IVR seam (`runtime::leg::IvrDeps`) carries it: the seam then depends on the
//! spool and the publisher, not on the deposit driver that itself runs over the seam (no
//! import cycle between `leg`, `ivr_driver` and `voicemail`).

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::spool::SpoolDir;
use crate::notify::VoicemailChanged;

/// Messages being saved at once, process-wide. A save is the one moment a call holds its
/// message in memory whole (the WAV read from the spool, and the store's copy while it is
/// inserted); callers hang up together (a load test's do, to the second), and a thousand
/// saves at once would hold a thousand messages. The store writes one at a time on SQLite
/// anyway, and each save takes milliseconds, so the queue costs little time; waiting callers
/// hold nothing but their spool file meanwhile.
pub(super) const SAVE_CONCURRENCY: usize = 4;

/// What the voicemail drivers share across calls, created once by `serve` and handed to each
/// call with its other dependencies (`IvrDeps::voicemail`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct VoicemailShared {
    /// Where recordings are spooled while the caller speaks.
    pub spool: SpoolDir,
    /// The permits of [`SAVE_CONCURRENCY`]: messages being saved at once, server-wide.
    pub save_slots: Arc<Semaphore>,
    /// Publishes a user's message counts after a change.
    pub changed: VoicemailChanged,
    /// `/metrics`: messages stored and dropped, insert latency, RTP packets lost.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl VoicemailShared {
    /// Spooling into `spool`, [`SAVE_CONCURRENCY`] saves at once, counts published by
    /// `changed`.
    pub fn new(spool: SpoolDir, changed: VoicemailChanged) -> Self {
        VoicemailShared {
            spool,
            save_slots: Arc::new(Semaphore::new(SAVE_CONCURRENCY)),
            changed,
            metrics: None,
        }
    }

    /// Counts in `metrics` too.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}
