//! What another node needs to end this call if the node carrying it dies (issue #20): the
//! dialog of each leg (RFC 3261 §12: Call-ID, tags, URIs, CSeqs, remote target, route set)
//! with where its requests go, so a survivor can send BYE on both (§15.1.1), and the history
//! rows the call's end would have written, with the outcome `"interrupted"`.
//!
//! Read once the call is answered ([`Call::takeover`]); the driver hands it to
//! `cluster::dialog_share`. The core only reads its own state here.

use std::net::SocketAddr;

use super::{Call, State};
use crate::domain::model::{CallData, CallDirection, UserId};
use crate::sip::dialog::Dialog;
use crate::sip::transaction::TransportKind;

/// A leg as a survivor reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeoverLeg {
    /// Our dialog with it.
    pub dialog: Dialog,
    /// Where our requests to it go.
    pub destination: SocketAddr,
    /// Over which transport.
    pub transport: TransportKind,
}

/// An answered call as a survivor ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The caller's leg, then the callee's.
    pub legs: Vec<TakeoverLeg>,
    /// The history rows, `ended_at` left for the survivor to fill.
    pub history: Vec<CallData>,
}

/// The history outcome of a call whose node died while it was answered.
pub const INTERRUPTED: &str = "interrupted";

impl Call {
    /// The call's takeover state while it is answered (both dialogs confirmed); `None`
    /// before and after.
    pub fn takeover(&self) -> Option<Takeover> {
        let State::Answered { winner } = self.state else {
            return None;
        };
        let caller = self.a.leg.as_ref()?.dialog().clone();
        let leg = self.legs.get(usize::try_from(winner.0).ok()?)?;
        let callee = leg.dialog.clone()?;
        let legs = vec![
            TakeoverLeg {
                dialog: caller,
                destination: self.a.inbound.source,
                transport: self.a.inbound.transport,
            },
            TakeoverLeg {
                dialog: callee,
                destination: leg.target.destination,
                transport: leg.target.transport,
            },
        ];
        let answered_at = self.answered_at.map(|t| {
            self.started_wall
                + chrono::Duration::from_std(t.saturating_duration_since(self.started))
                    .unwrap_or_default()
        });
        let row = |user_id: i64, direction: CallDirection, other: String, name: Option<String>| {
            CallData {
                user_id: UserId(user_id),
                direction,
                other_number: other,
                other_name: name,
                started_at: self.started_wall,
                answered_at,
                ended_at: None,
                route: Some(INTERRUPTED.to_owned()),
            }
        };
        let mut history = Vec::new();
        if let Some(callee) = &self.callee {
            history.push(row(
                callee.user_id,
                CallDirection::In,
                self.caller.number.clone(),
                self.caller.name.clone(),
            ));
        }
        if let Some(user_id) = self.caller.user_id {
            let other = self
                .callee
                .as_ref()
                .map(|c| c.number.clone())
                .unwrap_or_else(|| self.a.inbound.invite.uri.user().unwrap_or("").to_owned());
            history.push(row(user_id, CallDirection::Out, other, None));
        }
        Some(Takeover { legs, history })
    }
}
