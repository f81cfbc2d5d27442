//! "The voicemail changed": the one publisher of a user's message counts to the live web
//! client ([`PresenceEvent::Voicemail`]), after a deposit stored a message
//! (`runtime::voicemail`), after the phone mailbox heard, saved or deleted one
//! (`runtime::mailbox`), and after the web client did (`api::voicemail`).
//!
//! The counts are read from the store at the moment of publishing rather than adjusted by the
//! caller, so two changes at once (the phone and the web on the same mailbox) cannot leave the
//! client showing a count that no longer holds. The message-waiting NOTIFYs (RFC 3842) are the
//! SIP task's job; the drivers ask for them beside this.

use crate::domain::model::UserId;
use crate::presence::{Presence, PresenceEvent};
use crate::store::{Store, StoreError};

/// Reads a user's counts and publishes them. Cheap to clone (a store handle and the bus).
#[derive(Debug, Clone)]
pub struct VoicemailChanged {
    store: Store,
    presence: Presence,
}

impl VoicemailChanged {
    /// A publisher reading `store` and publishing on `presence`.
    pub fn new(store: Store, presence: Presence) -> Self {
        VoicemailChanged { store, presence }
    }

    /// Publishes `user`'s counts as they are now in the store; returns them (new, old).
    pub async fn publish(&self, user: UserId) -> Result<(u32, u32), StoreError> {
        let (new, old) = self.store.voicemail_counts(user).await?;
        tracing::debug!(user_id = user.0, new, old, "voicemail counts published");
        self.presence.publish(PresenceEvent::Voicemail {
            user_id: user.0,
            new,
            old,
            here: true,
        });
        Ok((new, old))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::{demo, NewVoicemail};

    #[tokio::test]
    async fn publishes_the_counts_read_from_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("vm.db").display());
        let store = Store::connect(&url).await.expect("store");
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        demo::seed_at(&store, now).await.expect("demo data");
        let hans = store
            .user_by_local_number("1000001")
            .await
            .expect("Hans")
            .id;
        let presence = Presence::new();
        let mut events = presence.subscribe();
        let changed = VoicemailChanged::new(store.clone(), presence);

        assert_eq!(changed.publish(hans).await.expect("counts"), (0, 0));
        store
            .voicemail_insert(&NewVoicemail {
                user_id: hans,
                caller_number: Some("4512345678".into()),
                caller_name: None,
                received_at: now,
                duration_ms: 1000,
                audio: vec![0; 44],
            })
            .await
            .expect("message");
        assert_eq!(changed.publish(hans).await.expect("counts"), (1, 0));
        for expected in [0, 1] {
            let event = events.try_recv().expect("an event per publish");
            assert_eq!(
                event,
                PresenceEvent::Voicemail {
                    user_id: hans.0,
                    new: expected,
                    old: 0,
                    here: true,
                }
            );
        }
    }
}
