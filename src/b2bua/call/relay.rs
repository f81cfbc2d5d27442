//! Mid-call requests relayed across the B2BUA: re-INVITE (hold/resume, session refresh),
//! UPDATE (RFC 3311) and INFO (RFC 6086) from one leg become a new request in the other leg's
//! dialog, and the answer comes back on the original server transaction.
//!
//! A B2BUA is a UA on each leg (RFC 7092 §3.1), so nothing is forwarded as is: our request has
//! the other dialog's Call-ID, tags, route set and next local CSeq (§12.2.1.1); only the body
//! (SDP, rewritten to our relay when the media is anchored, as in the initial offer/answer;
//! see `media`) and the headers that describe it or the session timer travel across. For a re-INVITE the 2xx is relayed back, and the ACK for it is
//! sent on the far leg when the near side ACKs (§13.2.2.4): an offerless re-INVITE carries its
//! answer in that ACK, so we cannot ACK earlier. The far side's 2xx retransmissions are relayed
//! onwards until then, which keeps the near side's retransmission going end to end.
//!
//! Glare (§14.1, §14.2): an INVITE on a leg where our own re-INVITE is in progress gets 491;
//! a second INVITE from the same side before the first is answered gets 500 with Retry-After.

use std::time::Instant;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::debug;

use super::session_timer::{self, SessionTimer, TooSmall};
use super::{media, via, Call, Leg, LegState, Side, State};
use crate::b2bua::call::Action;
use crate::media::relay::Party;
use crate::sip::dialog::{self, Dialog};
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};

/// Relayed requests in flight at once; more are refused with 500 + Retry-After so a peer
/// cannot make the call hold unbounded state.
const MAX_RELAYS: usize = 16;

/// Request headers that travel with a relayed request: the body's description, the session
/// timer (RFC 4028) and INFO packages (RFC 6086). Supported/Require are rebuilt, not copied
/// (see [`option_tags`]).
const REQUEST_HEADERS: &[&str] = &[
    "Content-Type",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Session-Expires",
    "Min-SE",
    "Info-Package",
    "Recv-Info",
    "Accept",
    "Reason",
];

/// Response headers relayed back: the body's description, the session timer, and what tells
/// the sender when or how to retry (491/500 Retry-After, 422 Min-SE, 415 Accept, Warning).
const RESPONSE_HEADERS: &[&str] = &[
    "Content-Type",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Session-Expires",
    "Min-SE",
    "Retry-After",
    "Warning",
    "Accept",
    "Recv-Info",
];

/// One request relayed from leg `from` to leg `to`.
#[derive(Debug, Clone)]
pub(super) struct Relay {
    /// Where the request came from.
    from: Side,
    /// Its server transaction there.
    transaction: TransactionId,
    /// The request as received (responses are built from it).
    request: Request,
    /// Where our copy went.
    to: Side,
    /// Our copy's CSeq on that leg (responses match on it; the ACK reuses it).
    cseq: u32,
    state: RelayState,
    /// When the request carried an offer that moved the sender's media: where the relay sent
    /// before, to go back to if the offer is refused (RFC 3264 §8).
    restore: Option<(Party, Option<std::net::SocketAddr>)>,
}

#[derive(Debug, Clone, PartialEq)]
enum RelayState {
    /// Sent; no final response yet.
    Pending,
    /// A re-INVITE's 2xx went back; waiting for the near side's ACK.
    Answered,
    /// ACKed on the far leg with this ACK (sent again if the 2xx is retransmitted).
    Acked(Box<Request>),
}

impl Relay {
    fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }

    /// An INVITE transaction still in progress in the sense of §14.1 (not yet ACKed).
    fn invite_in_progress(&self) -> bool {
        self.is_invite() && !matches!(self.state, RelayState::Acked(_))
    }
}

impl Call {
    /// The other end of a mid-call request from `side`: the answered call's other leg.
    fn peer(&self, side: Side) -> Option<Side> {
        let State::Answered { winner } = self.state else {
            return None;
        };
        let winner_up = self.leg(winner).map(|l| l.state) == Some(LegState::Confirmed);
        match side {
            Side::Caller if winner_up => Some(Side::Callee(winner)),
            Side::Callee(id) if id == winner && winner_up => Some(Side::Caller),
            _ => None,
        }
    }

    /// A re-INVITE, UPDATE or INFO (already matched to its dialog, CSeq checked).
    pub(super) fn on_mid_call(&mut self, side: Side, transaction: TransactionId, request: Request) {
        let Some(to) = self.peer(side) else {
            self.reply(transaction, &request, 481);
            return;
        };
        let method = request.method;
        if method == Method::Refer {
            // A transfer: carried by the driver with a new call (`transferee`).
            self.on_refer(side, transaction, request);
            return;
        }
        if !matches!(method, Method::Invite | Method::Update | Method::Info) {
            // PRACK and the like would need state we do not keep (RAck numbering): 501
            // leaves the session as it is.
            self.reply(transaction, &request, 501);
            return;
        }
        if matches!(method, Method::Invite | Method::Update)
            && session_timer::check_interval(&request) == TooSmall::Reject
        {
            // RFC 4028 §6: 422 with our Min-SE, on refreshes as on the initial INVITE.
            let mut response = self.reply_response(&request, 422);
            response.headers.push(session_timer::min_se_header());
            self.actions.push_back(Action::Respond {
                transaction,
                response,
            });
            return;
        }
        if method == Method::Invite {
            // §14.2: "A UAS that receives an INVITE on a dialog while an INVITE it had sent on
            // that dialog is in progress MUST return a 491 (Request Pending)". Our 2xx to the
            // caller's INVITE counts until its ACK (§14.1: no re-INVITE before that).
            let ours_pending = self
                .relays
                .iter()
                .any(|r| r.to == side && r.invite_in_progress());
            let initial_unacked =
                to == Side::Caller && !self.a.leg.as_ref().is_some_and(|l| l.is_acked());
            if ours_pending || initial_unacked {
                self.reply(transaction, &request, 491);
                return;
            }
            // "A UAS that receives a second INVITE before it sends the final response to a
            // first INVITE with a lower CSeq sequence number on the same dialog MUST return a
            // 500 (Server Internal Error) response and MUST include a Retry-After header field
            // with a randomly chosen value of between 0 and 10 seconds."
            if self
                .relays
                .iter()
                .any(|r| r.from == side && r.invite_in_progress())
            {
                self.reply_retry(transaction, &request, 500);
                return;
            }
            // An older, ACKed re-INVITE towards `to` is no longer needed for ACK replays.
            self.relays.retain(|r| !(r.to == to && r.is_invite()));
        }
        if self.relays.len() >= MAX_RELAYS {
            self.reply_retry(transaction, &request, 500);
            return;
        }
        let (destination, transport) = self.address(to);
        let via = via(&self.config, transport);
        let contact = self.config.contact.clone();
        let Some(dialog) = self.dialog_mut(to) else {
            self.reply(transaction, &request, 481);
            return;
        };
        let mut out = match dialog.request(method, &via) {
            Ok(r) => r,
            Err(error) => {
                debug!(%error, "cannot build the relayed request");
                self.reply(transaction, &request, 500);
                return;
            }
        };
        let cseq = dialog.local_cseq.unwrap_or(1);
        let mut extra = pass_headers(&request.headers, REQUEST_HEADERS);
        extra.extend(option_tags(&request.headers, "Supported"));
        if matches!(method, Method::Invite | Method::Update) {
            // §12.2.1.1 / RFC 3311 §5.1: target refresh requests carry our Contact.
            extra.push(Header::Contact(headers::Contact::new(format!(
                "<{contact}>"
            ))));
        }
        let sender = media::party(side);
        let before = self.media_told(sender);
        let body = self.media_body(side, &request.body);
        let restore = (self.media_told(sender) != before).then_some((sender, before));
        set_body(&mut out.headers, &mut out.body, extra, &body);
        debug!(%method, ?side, ?to, cseq, "relaying mid-call request");
        self.actions.push_back(Action::SendRequest {
            side: to,
            request: out,
            destination,
            transport,
        });
        self.relays.push(Relay {
            from: side,
            transaction,
            request,
            to,
            cseq,
            state: RelayState::Pending,
            restore,
        });
    }

    /// A response on `side` to one of our relayed requests; false if it is not one.
    pub(super) fn on_relay_response(
        &mut self,
        now: Instant,
        side: Side,
        response: &Response,
    ) -> bool {
        let Ok(cseq) = dialog::cseq_number(&response.headers) else {
            return false;
        };
        let method = dialog::header_value(&response.headers, "CSeq")
            .ok()
            .and_then(|c| c.split_whitespace().nth(1).map(str::to_ascii_uppercase));
        let Some(i) = self.relays.iter().position(|r| {
            r.to == side
                && r.cseq == cseq
                && method.as_deref() == Some(r.request.method.to_string().as_str())
        }) else {
            return false;
        };
        let code = response.status_code.code();
        if code == 100 {
            // Hop by hop (§8.2.6.1): the server transaction sends its own.
            return true;
        }
        let success = (200..300).contains(&code);
        match self.relays[i].state.clone() {
            RelayState::Pending => {}
            RelayState::Answered => {
                // The far side retransmits its 2xx until ACKed; so does the near side get it
                // again (RFC 6026 §8.5: the transaction passes it in Accepted).
                if success {
                    let request = self.relays[i].request.clone();
                    let out = self.relayed_response(side, &request, response);
                    let transaction = self.relays[i].transaction;
                    self.actions.push_back(Action::Respond {
                        transaction,
                        response: out,
                    });
                }
                return true;
            }
            RelayState::Acked(ack) => {
                if success {
                    // §13.2.2.4: every retransmitted 2xx is ACKed again.
                    let (destination, transport) = self.address(side);
                    self.actions.push_back(Action::SendAck {
                        request: *ack,
                        destination,
                        transport,
                    });
                }
                return true;
            }
        }
        let relay = self.relays[i].clone();
        let mut out = self.relayed_response(side, &relay.request, response);
        let refresh = matches!(relay.request.method, Method::Invite | Method::Update);
        if success && refresh {
            self.after_refresh(now, &relay, response, &mut out);
        }
        self.actions.push_back(Action::Respond {
            transaction: relay.transaction,
            response: out,
        });
        if code < 200 {
            return true;
        }
        if !success {
            if let Some((party, remote)) = relay.restore {
                self.restore_media(party, remote);
            }
        }
        if success && relay.is_invite() {
            self.relays[i].state = RelayState::Answered;
        } else {
            self.relays.remove(i);
        }
        if code == 481 {
            // §12.2.1.2: "If the response for a request within a dialog is a 481
            // (Call/Transaction Does Not Exist) or a 408 (Request Timeout), the UAC SHOULD
            // terminate the dialog." Without that leg the call is over.
            debug!(?side, "far leg lost its dialog: ending the call");
            self.hang_up_both(now);
        }
        true
    }

    /// A relayed request got no final response (Timer B/F or transport error); false if
    /// `side`/`method` has no relayed request pending.
    pub(super) fn on_relay_failed(&mut self, now: Instant, side: Side, method: Method) -> bool {
        let Some(i) = self.relays.iter().position(|r| {
            r.to == side && r.request.method == method && r.state == RelayState::Pending
        }) else {
            return false;
        };
        let relay = self.relays.remove(i);
        // §8.1.3.1: a timeout is a 408; §12.2.1.2/§14.1: the dialog is then terminated.
        self.reply(relay.transaction, &relay.request, 408);
        self.hang_up_both(now);
        true
    }

    /// An ACK outside a transaction on `side`: for our 2xx to the initial INVITE, or for a
    /// relayed re-INVITE's 2xx (then ACK the far leg, with the ACK's body if it has one).
    pub(super) fn on_dialog_ack(&mut self, now: Instant, side: Side, request: &Request) {
        let cseq = dialog::cseq_number(&request.headers).ok();
        let initial = dialog::cseq_number(&self.a.inbound.invite.headers).ok();
        if side == Side::Caller && cseq == initial {
            self.on_initial_ack(now);
            return;
        }
        let Some(i) = self.relays.iter().position(|r| {
            r.from == side && r.is_invite() && dialog::cseq_number(&r.request.headers).ok() == cseq
        }) else {
            debug!(?side, "ACK for no relayed re-INVITE; dropped");
            return;
        };
        let relay = self.relays[i].clone();
        let ack = match relay.state {
            RelayState::Pending => return,
            // A retransmitted ACK (the near side saw our 2xx again): send ours again too.
            RelayState::Acked(ack) => *ack,
            RelayState::Answered => {
                let body = self.media_body(side, &request.body);
                let (_, transport) = self.address(relay.to);
                let via = via(&self.config, transport);
                let Some(dialog) = self.dialog_mut(relay.to) else {
                    return;
                };
                let mut ack = match dialog.ack(relay.cseq, &via) {
                    Ok(a) => a,
                    Err(error) => {
                        debug!(%error, "cannot build the ACK for a relayed re-INVITE");
                        return;
                    }
                };
                // An offerless re-INVITE's answer travels in the ACK (RFC 3264 §5, RFC 3261
                // §13.2.1).
                let extra = pass_headers(&request.headers, REQUEST_HEADERS);
                set_body(&mut ack.headers, &mut ack.body, extra, &body);
                self.relays[i].state = RelayState::Acked(Box::new(ack.clone()));
                ack
            }
        };
        let (destination, transport) = self.address(relay.to);
        self.actions.push_back(Action::SendAck {
            request: ack,
            destination,
            transport,
        });
    }

    /// Answers every relayed request still waiting with 487: the dialog is ending (§15.1.2:
    /// "The UAS MUST still respond to any pending requests received for that dialog. It is
    /// RECOMMENDED that a 487 (Request Terminated) response be generated").
    pub(super) fn end_relays(&mut self) {
        for relay in std::mem::take(&mut self.relays) {
            if relay.state == RelayState::Pending {
                self.reply(relay.transaction, &relay.request, 487);
            }
        }
    }

    /// A successful session refresh or target refresh (§12.2.1.2, §12.2.2, RFC 4028 §10).
    fn after_refresh(
        &mut self,
        now: Instant,
        relay: &Relay,
        response: &Response,
        out: &mut Response,
    ) {
        // Target refresh: each side's Contact, if it sent one, is its new remote target.
        if let Some(contact) = dialog::contact_uri(&relay.request.headers) {
            if let Some(d) = self.dialog_mut(relay.from) {
                d.remote_target = contact;
            }
        }
        if let Some(contact) = dialog::contact_uri(&response.headers) {
            if let Some(d) = self.dialog_mut(relay.to) {
                d.remote_target = contact;
            }
        }
        let Some(timer) = self.session else {
            return;
        };
        let delta = match session_timer::session_expires(&response.headers) {
            Some(se) => Some(se.delta),
            None if timer.inserted && relay.from == Side::Caller => {
                // We told the caller to refresh (the callee does not know the extension):
                // its refresh's 2xx must say so again (RFC 4028 §9).
                session_timer::insert_into_2xx(&relay.request, out)
            }
            // §7.4/§9: a 2xx without Session-Expires means no session timer from now on.
            None => None,
        };
        self.session = delta.map(|d| SessionTimer::start(now, d, timer.inserted));
        debug!(interval = ?self.session.map(|s| s.interval), "session refreshed");
    }

    /// Our response on the near leg carrying the far leg's `response` (which came on `from`).
    fn relayed_response(&mut self, from: Side, request: &Request, response: &Response) -> Response {
        let code = response.status_code.code();
        let mut out = self.reply_response(request, code);
        let mut extra = pass_headers(&response.headers, RESPONSE_HEADERS);
        extra.extend(option_tags(&response.headers, "Require"));
        extra.extend(option_tags(&response.headers, "Supported"));
        if (101..300).contains(&code) && matches!(request.method, Method::Invite | Method::Update) {
            extra.push(Header::Contact(headers::Contact::new(format!(
                "<{}>",
                self.config.contact
            ))));
        }
        let body = self.media_body(from, &response.body);
        set_body(&mut out.headers, &mut out.body, extra, &body);
        out
    }

    /// A response to an in-dialog `request` (its To tag is already ours) with our Server.
    pub(super) fn reply_response(&self, request: &Request, code: u16) -> Response {
        let mut response = response_to(request, code, None);
        response.headers.push(Header::Server(headers::Server::new(
            self.config.server.clone(),
        )));
        response
    }

    /// 500/491 with a Retry-After of 0–10 s (§14.2 asks for a random value).
    fn reply_retry(&mut self, transaction: TransactionId, request: &Request, code: u16) {
        let mut response = self.reply_response(request, code);
        let seconds = rand::random::<u8>() % 11;
        response
            .headers
            .push(Header::RetryAfter(headers::RetryAfter::new(
                seconds.to_string(),
            )));
        self.actions.push_back(Action::Respond {
            transaction,
            response,
        });
    }

    /// Where requests on `side` go.
    fn address(&self, side: Side) -> (std::net::SocketAddr, TransportKind) {
        match side {
            Side::Caller => (self.a.inbound.source, self.a.inbound.transport),
            Side::Callee(id) => self.leg(id).map_or(
                (self.a.inbound.source, self.a.inbound.transport),
                |l: &Leg| (l.target.destination, l.target.transport),
            ),
        }
    }

    fn dialog_mut(&mut self, side: Side) -> Option<&mut Dialog> {
        match side {
            Side::Caller => self.a.leg.as_mut().map(|l| l.dialog_mut()),
            Side::Callee(id) => self.leg_mut(id).and_then(|l| l.dialog.as_mut()),
        }
    }
}

/// Copies of the headers of `from` whose names are in `names`.
fn pass_headers(from: &rsip::Headers, names: &[&str]) -> Vec<Header> {
    from.iter()
        .filter(|h| {
            let text = h.to_string();
            text.split_once(':')
                .is_some_and(|(n, _)| names.iter().any(|x| n.trim().eq_ignore_ascii_case(x)))
        })
        .cloned()
        .collect()
}

/// `Supported`/`Require` reduced to the option tags the B2BUA relays faithfully: only `timer`.
/// Anything else (100rel, replaces, ...) needs per-leg state we do not keep, so it must not be
/// promised across.
fn option_tags(from: &rsip::Headers, header: &str) -> Option<Header> {
    if !session_timer::lists_timer(from, header) {
        return None;
    }
    Some(if header.eq_ignore_ascii_case("Require") {
        Header::Require(headers::Require::new("timer"))
    } else {
        Header::Supported(headers::Supported::new("timer"))
    })
}

/// Replaces Content-Length (and any Content-Type) with `extra` headers and `body`.
fn set_body(headers: &mut rsip::Headers, body_out: &mut Vec<u8>, extra: Vec<Header>, body: &[u8]) {
    let mut out: Vec<Header> = headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
        .cloned()
        .collect();
    let has_type = extra.iter().any(|h| matches!(h, Header::ContentType(_)));
    out.extend(extra);
    let body = if has_type { body.to_vec() } else { Vec::new() };
    out.push(Header::ContentLength(headers::ContentLength::new(
        body.len().to_string(),
    )));
    *headers = out.into();
    *body_out = body;
}
