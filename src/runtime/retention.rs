//! The retention sweeper: every `[retention] sweep_secs` it deletes the voice messages older
//! than `voicemail_days` (`Store::voicemail_expire`) and publishes each changed mailbox's
//! counts through [`VoicemailChanged`], the one path every mailbox change takes, so the
//! owner's lamps (`runtime::mwi`) and web client follow an expiry as they follow a delete.
//! A thin driver: it reads the clock and sleeps; the store decides what is old.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::clock::Clock;
use crate::notify::VoicemailChanged;
use crate::shutdown::ShutdownListener;
use crate::store::{Store, StoreError};

/// The sweeper's parts.
pub(super) struct RetentionSweeper {
    /// The messages.
    pub store: Store,
    /// Where changed counts go.
    pub changed: VoicemailChanged,
    /// "Now".
    pub clock: Arc<dyn Clock>,
    /// How long messages are kept.
    pub keep: chrono::Duration,
    /// Between sweeps.
    pub every: Duration,
}

impl RetentionSweeper {
    /// Runs until shutdown.
    pub(super) async fn run(self, mut shutdown: ShutdownListener) {
        loop {
            if let Err(error) = self.sweep().await {
                warn!(%error, "voicemail retention sweep failed");
            }
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                () = shutdown.recv() => return,
            }
        }
    }

    /// One sweep; returns how many mailboxes changed.
    pub(super) async fn sweep(&self) -> Result<usize, StoreError> {
        let before = self.clock.now() - self.keep;
        let owners = self.store.voicemail_expire(before).await?;
        for user in &owners {
            self.changed.publish(*user).await?;
        }
        if !owners.is_empty() {
            info!(mailboxes = owners.len(), %before, "expired voice messages deleted");
        }
        Ok(owners.len())
    }
}
