//! Who owns what the transaction layer reports: one index from each transaction and each
//! dialog's Call-ID to its [`Owner`], as quinn's `Endpoint` keeps one map from connection ids
//! to connections. The SIP task looks an event's owner up once and hands it over; nobody asks
//! the owners in turn whose it is.
//!
//! Owners register what they start: a call its caller's INVITE, its B legs' transactions and
//! Call-IDs; an IVR leg the caller's dialog it answered and its BYE/REFER; a click-to-call its
//! desk INVITE and the desk's dialog. REGISTER, OPTIONS and the message-waiting NOTIFYs have
//! no owner: they are answered (or sent) at once and nothing comes back for them.
//!
//! One dialog can pass from owner to owner: a call handed to voicemail gives its caller's
//! dialog to the IVR leg that answers it. A click-to-call keeps its desk's dialog for its whole
//! life, and hands what it does not handle itself (once bridged) to its target call; the rank
//! of [`Owner`]s decides which binding wins.

use std::collections::HashMap;

use crate::sip::transaction::TransactionId;

/// Key of a call ([`crate::b2bua::Call`]) in the SIP task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub(in crate::runtime) u64);

/// Key of a call answered for an IVR in the SIP task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegKey(pub(in crate::runtime) u64);

/// What a transaction or a dialog belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A B2BUA call: its caller's INVITE, its B legs, BYEs either way.
    Call(CallKey),
    /// A call we answered for an IVR: the caller's dialog, our BYE and REFER.
    IvrLeg(LegKey),
    /// A click-to-call (RFC 3725), by its id: the INVITE to the desk and the desk's dialog.
    ClickToCall(String),
}

impl Owner {
    /// Which of two owners keeps a dialog both bind: a click-to-call keeps its desk's dialog
    /// (it passes on what it does not handle), an IVR leg takes the caller's dialog from the
    /// call that handed it over.
    fn rank(&self) -> u8 {
        match self {
            Owner::Call(_) => 0,
            Owner::IvrLeg(_) => 1,
            Owner::ClickToCall(_) => 2,
        }
    }
}

/// The index.
#[derive(Debug, Default)]
pub struct Owners {
    /// Client and server transactions of every owner.
    transactions: HashMap<TransactionId, Owner>,
    /// Dialogs by Call-ID: in-dialog requests, ACKs for 2xx, stray 2xx retransmissions.
    dialogs: HashMap<String, Owner>,
    /// An INVITE we made ourselves that an IVR leg answers or a transfer's call is fed
    /// (`ivr_leg`, `ivr_leg::transfer`, `calls::refer` speak transaction ids) has no server
    /// transaction, only an id from the top of the id space (the layer counts up from 0), and
    /// the responses given to it go to the owner it names. (A click-to-call's target call
    /// needs none: the call is fed `CallerSide::Originated`.)
    originated: HashMap<TransactionId, String>,
    /// Ids handed out for `originated`, counting down from the top.
    next_originated: u64,
}

impl Owners {
    /// The owner of a transaction.
    pub fn transaction(&self, id: TransactionId) -> Option<&Owner> {
        self.transactions.get(&id)
    }

    /// Enters a transaction an owner started (or was given).
    pub fn bind_transaction(&mut self, id: TransactionId, owner: Owner) {
        self.transactions.insert(id, owner);
    }

    /// Forgets a transaction (terminated, failed, or its owner is gone); returns its owner.
    pub fn release_transaction(&mut self, id: TransactionId) -> Option<Owner> {
        self.transactions.remove(&id)
    }

    /// The owner of the dialog with this Call-ID.
    pub fn dialog(&self, call_id: &str) -> Option<&Owner> {
        self.dialogs.get(call_id)
    }

    /// Enters a dialog; an owner of higher rank that has it already keeps it.
    pub fn bind_dialog(&mut self, call_id: String, owner: Owner) {
        match self.dialogs.get(&call_id) {
            Some(current) if current.rank() > owner.rank() => {}
            _ => {
                self.dialogs.insert(call_id, owner);
            }
        }
    }

    /// Forgets a dialog if `owner` still has it (another may have taken it over).
    pub fn release_dialog(&mut self, call_id: &str, owner: &Owner) {
        if self.dialogs.get(call_id) == Some(owner) {
            self.dialogs.remove(call_id);
        }
    }

    /// A new id for an originated INVITE whose responses go to `click_to_call`.
    pub fn originate(&mut self, click_to_call: &str) -> TransactionId {
        self.next_originated += 1;
        let id = TransactionId(u64::MAX - self.next_originated);
        self.originated.insert(id, click_to_call.to_owned());
        id
    }

    /// The click-to-call whose originated INVITE this is.
    pub fn originated(&self, id: TransactionId) -> Option<&str> {
        self.originated.get(&id).map(String::as_str)
    }

    /// Forgets an originated INVITE.
    pub fn release_originated(&mut self, id: TransactionId) {
        self.originated.remove(&id);
    }

    /// Forgets every originated INVITE whose responses go to `name`.
    pub fn release_originated_of(&mut self, name: &str) {
        self.originated.retain(|_, owner| owner != name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lookup_finds_each_owner() {
        let mut owners = Owners::default();
        owners.bind_transaction(TransactionId(1), Owner::Call(CallKey(1)));
        owners.bind_transaction(TransactionId(2), Owner::IvrLeg(LegKey(1)));
        owners.bind_transaction(TransactionId(3), Owner::ClickToCall("c2c-a".into()));
        assert_eq!(
            owners.transaction(TransactionId(1)),
            Some(&Owner::Call(CallKey(1)))
        );
        assert_eq!(
            owners.transaction(TransactionId(3)),
            Some(&Owner::ClickToCall("c2c-a".into()))
        );
        assert_eq!(
            owners.release_transaction(TransactionId(2)),
            Some(Owner::IvrLeg(LegKey(1)))
        );
        assert_eq!(owners.transaction(TransactionId(2)), None);
    }

    #[test]
    fn a_dialog_passes_to_the_ivr_but_a_desk_dialog_stays_with_its_click_to_call() {
        let mut owners = Owners::default();
        // A call handed to voicemail: the IVR leg takes the caller's dialog, and the call's
        // release afterwards does not take it away again.
        owners.bind_dialog("a".into(), Owner::Call(CallKey(1)));
        owners.bind_dialog("a".into(), Owner::IvrLeg(LegKey(7)));
        owners.release_dialog("a", &Owner::Call(CallKey(1)));
        assert_eq!(owners.dialog("a"), Some(&Owner::IvrLeg(LegKey(7))));
        owners.release_dialog("a", &Owner::IvrLeg(LegKey(7)));
        assert_eq!(owners.dialog("a"), None);

        // A click-to-call's desk dialog: the target call and the IVR do not take it.
        owners.bind_dialog("d".into(), Owner::ClickToCall("c2c-b".into()));
        owners.bind_dialog("d".into(), Owner::Call(CallKey(2)));
        owners.bind_dialog("d".into(), Owner::IvrLeg(LegKey(8)));
        assert_eq!(
            owners.dialog("d"),
            Some(&Owner::ClickToCall("c2c-b".into()))
        );
    }

    #[test]
    fn originated_invites_count_down_from_the_top() {
        let mut owners = Owners::default();
        let first = owners.originate("c2c-a");
        let second = owners.originate("c2c-b");
        assert!(first.0 > second.0 && first.0 > u64::MAX / 2);
        assert_eq!(owners.originated(first), Some("c2c-a"));
        owners.release_originated(first);
        assert_eq!(owners.originated(first), None);
        assert_eq!(owners.originated(second), Some("c2c-b"));
    }
}
