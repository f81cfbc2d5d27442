//! What a transfer asked for inside a bridged call (REFER, RFC 3515) needs of the [`Call`]:
//! the REFER itself goes to the driver ([`Action::Refer`]), which carries the transfer with a
//! new call (`runtime::calls::refer`, the same [`crate::b2bua::transfer`] machine as "press
//! 9"); this call gives it the dialogs it keeps, requests in them (the sipfrag NOTIFYs to the
//! transferor, the re-INVITE moving the transferee's media), and, once the transferee talks to
//! the new call, lets go of the transferee without a BYE ([`Call::detach`]).

use std::net::SocketAddr;

use rsip::{Method, Request};

use super::{via, Action, Call, LegState, Side, State};
use crate::b2bua::uas_leg::UasLeg;
use crate::sip::dialog::Dialog;
use crate::sip::transaction::{TransactionId, TransportKind};

impl Call {
    /// A REFER from `side` of an answered call: for the driver.
    pub(super) fn on_refer(&mut self, side: Side, transaction: TransactionId, request: Request) {
        self.actions.push_back(Action::Refer {
            side,
            transaction,
            request: Box::new(request),
        });
    }

    /// The other party of an answered call, seen from `side` (the transferee of a REFER).
    pub fn other_side(&self, side: Side) -> Option<Side> {
        let State::Answered { winner } = self.state else {
            return None;
        };
        match side {
            Side::Caller => Some(Side::Callee(winner)),
            Side::Callee(id) if id == winner => Some(Side::Caller),
            Side::Callee(_) => None,
        }
    }

    /// Our dialog with `side`, once confirmed.
    pub fn dialog_with(&self, side: Side) -> Option<&Dialog> {
        match side {
            Side::Caller => self.a.leg.as_ref().map(|l| l.dialog()),
            Side::Callee(id) => self
                .leg(id)
                .filter(|l| l.state == LegState::Confirmed)
                .and_then(|l| l.dialog.as_ref()),
        }
    }

    /// A new request in our dialog with `side` (§12.2.1.1, our next CSeq), and where it goes.
    pub fn request_to(
        &mut self,
        side: Side,
        method: Method,
    ) -> Option<(Request, SocketAddr, TransportKind)> {
        match side {
            Side::Caller => {
                let (destination, transport) = (self.a.inbound.source, self.a.inbound.transport);
                let via = via(&self.config, transport);
                let request = self
                    .a
                    .leg
                    .as_mut()?
                    .dialog_mut()
                    .request(method, &via)
                    .ok()?;
                Some((request, destination, transport))
            }
            Side::Callee(id) => {
                let leg = self.leg(id).filter(|l| l.state == LegState::Confirmed)?;
                let (destination, transport) = (leg.target.destination, leg.target.transport);
                let via = via(&self.config, transport);
                let request = self
                    .leg_mut(id)?
                    .dialog
                    .as_mut()?
                    .request(method, &via)
                    .ok()?;
                Some((request, destination, transport))
            }
        }
    }

    /// `side`'s SDP as it sent it (the caller's offer, a device's answer; before any
    /// anchoring): what a call placed for it as a transfer's transferee offers.
    pub fn sdp_of(&self, side: Side) -> Option<&[u8]> {
        match side {
            Side::Caller => self.a.offer.as_ref().map(|(_, body)| body.as_slice()),
            Side::Callee(id) => self.leg(id).map(|l| l.answer.as_slice()),
        }
    }

    /// Where `side` is sent to, and over which transport.
    pub fn address_of(&self, side: Side) -> Option<(SocketAddr, TransportKind)> {
        match side {
            Side::Caller => Some((self.a.inbound.source, self.a.inbound.transport)),
            Side::Callee(id) => self
                .leg(id)
                .map(|l| (l.target.destination, l.target.transport)),
        }
    }

    /// Our relay endpoint facing `side` when the media is anchored.
    pub fn anchor_facing(&self, side: Side) -> Option<SocketAddr> {
        let anchor = self.anchor.as_ref()?;
        Some(match side {
            Side::Caller => anchor.caller_facing,
            Side::Callee(_) => anchor.callee_facing,
        })
    }

    /// `side` of this call is taken over by a party of another call (attended transfer, RFC
    /// 3891 semantics): our dialog with it and where it is sent to become that party's; the
    /// old party must have been sent its BYE already.
    pub fn replace_party(
        &mut self,
        side: Side,
        dialog: Dialog,
        address: (SocketAddr, TransportKind),
    ) {
        match side {
            Side::Caller => {
                // `a.call_id` stays: presence and history know the call by it.
                let leg = UasLeg::adopted(self.uas_config(), dialog, address.0, address.1);
                self.a.leg = Some(leg.relaying());
                self.a.inbound.source = address.0;
                self.a.inbound.transport = address.1;
            }
            Side::Callee(id) => {
                if let Some(leg) = self.leg_mut(id) {
                    leg.dialog = Some(dialog);
                    leg.target.destination = address.0;
                    leg.target.transport = address.1;
                }
            }
        }
    }

    /// `side` now talks to another call (transferred): nothing more is sent to it, so ending
    /// this call ends the other party only.
    pub fn detach(&mut self, side: Side) {
        match side {
            Side::Caller => {
                self.a.leg = None;
            }
            Side::Callee(id) => {
                if let Some(leg) = self.leg_mut(id) {
                    leg.state = LegState::Done(200);
                }
            }
        }
    }
}
