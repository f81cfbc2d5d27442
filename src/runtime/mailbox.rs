//! The retrieval driver (being written): runs [`crate::ivr::Retrieve`] for a caller who
//! dialled the voicemail access number or their own number. Until it lands, the call is
//! answered and ended at once.

use super::ivr_leg::{IvrDeps, IvrLeg, LegCommand};

/// Runs the retrieval IVR on `leg`. Stub: plays nothing and hangs up.
pub async fn run_retrieve(leg: IvrLeg, setup: crate::ivr::RetrieveSetup, deps: IvrDeps) {
    let _ = (setup, deps);
    let _ = leg.commands.send(LegCommand::HangUp).await;
    drop(leg.media.close().await);
}
