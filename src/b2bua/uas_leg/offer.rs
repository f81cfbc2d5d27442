//! Offers from the caller inside the dialog: a re-INVITE (RFC 3261 §14) or UPDATE (RFC 3311),
//! a session refresh (RFC 4028) or a hold. Without an offer, or with an offer whose `o=`
//! version is the one we answered (RFC 3264 §8: the same session), the answer is 200 with our
//! SDP as it was (an UPDATE without an offer gets 200 without a body, RFC 3311 §5.2). A changed
//! offer is handed up ([`UasAction::Offer`]) and answered when [`UasEvent::Answer`] comes
//! back; meanwhile a second offer gets 491 (§14.2). A Session-Expires below our minimum from a
//! UAC that supports timers gets 422 with our Min-SE (RFC 4028 §6); one we accept is echoed in
//! the 2xx and arms the session expiry.
//!
//! [`UasEvent::Answer`]: super::UasEvent::Answer

use std::time::Instant;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::debug;

use super::{PendingOffer, UasAction, UasLeg};
use crate::b2bua::call::session_timer::{self, Refresher, SessionTimer, TooSmall};
use crate::media::sdp::SessionDescription;
use crate::sip::dialog;
use crate::sip::transaction::TransactionId;

impl UasLeg {
    pub(super) fn on_offer(&mut self, now: Instant, transaction: TransactionId, request: Request) {
        if self.pending.is_some() {
            self.reply(transaction, &request, 491);
            return;
        }
        if session_timer::check_interval(&request) == TooSmall::Reject {
            let mut response = self.response(&request, 422);
            response.headers.push(session_timer::min_se_header());
            self.actions.push_back(UasAction::Respond {
                transaction,
                response,
            });
            return;
        }
        if request.body.is_empty() {
            let body = (request.method == Method::Invite).then(|| self.local_sdp.clone());
            self.answer_offer(now, transaction, &request, body);
            return;
        }
        let offer = match SessionDescription::parse(&String::from_utf8_lossy(&request.body)) {
            Ok(offer) => offer,
            Err(error) => {
                debug!(%error, "new offer not usable; the session stays as it was");
                self.reply(transaction, &request, error.sip_status());
                return;
            }
        };
        let version = offer.origin.session_version;
        if self.remote_version == Some(version) {
            debug!(method = %request.method, "same session: answered as before");
            let body = Some(self.local_sdp.clone());
            self.answer_offer(now, transaction, &request, body);
            return;
        }
        let id = self.next_offer;
        self.next_offer += 1;
        debug!(method = %request.method, id, "new offer handed up");
        self.pending = Some(PendingOffer {
            id,
            transaction,
            request,
            version,
        });
        self.actions.push_back(UasAction::Offer {
            id,
            offer: Box::new(offer),
        });
    }

    /// The answer to a changed offer: 200 with the new SDP, or 488 (§14.2: the session stays
    /// as it was).
    pub(super) fn on_answer(&mut self, now: Instant, id: u64, sdp: Option<String>) {
        let Some(pending) = self.pending.take_if(|p| p.id == id) else {
            return;
        };
        match sdp {
            Some(sdp) => {
                self.local_sdp = sdp.clone();
                self.remote_version = Some(pending.version);
                self.remote_sdp = pending.request.body.clone();
                self.answer_offer(now, pending.transaction, &pending.request, Some(sdp));
            }
            None => self.reply(pending.transaction, &pending.request, 488),
        }
    }

    /// The offer could not be handed on: 500, the session stays as it was.
    pub(super) fn on_offer_lost(&mut self, id: u64) {
        if let Some(pending) = self.pending.take_if(|p| p.id == id) {
            self.reply(pending.transaction, &pending.request, 500);
        }
    }

    fn answer_offer(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        request: &Request,
        body: Option<String>,
    ) {
        let response = self.refresh_answer(request, body);
        let se = session_timer::session_expires(&response.headers);
        if let Some(se) = se.filter(|se| se.refresher != Some(Refresher::Uas)) {
            // RFC 4028 §10: the caller refreshes; without a refresh in time the session ends.
            // (A caller naming us the refresher gets its value echoed, but we do not refresh
            // and leave the expiry to it.)
            self.session = Some(SessionTimer::start(
                now,
                se.delta.max(session_timer::MIN_SE),
                false,
            ));
        }
        self.actions.push_back(UasAction::Respond {
            transaction,
            response,
        });
    }

    /// 200 to a re-INVITE/UPDATE: Contact (the dialog's remote target, §12.2.2), our SDP when
    /// given, and the session timer echoed (RFC 4028 §9: a UAS that supports timers copies
    /// Session-Expires into the 2xx, the refresher being the caller unless it said otherwise,
    /// and then requires "timer").
    fn refresh_answer(&self, request: &Request, body: Option<String>) -> Response {
        let mut response = self.response(request, 200);
        let mut out: Vec<Header> = response
            .headers
            .iter()
            .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
            .cloned()
            .collect();
        out.push(self.contact());
        if let Ok(expires) = dialog::header_value(&request.headers, "Session-Expires") {
            let value = if expires.to_ascii_lowercase().contains("refresher=") {
                expires
            } else {
                format!("{expires};refresher=uac")
            };
            out.push(Header::Other("Session-Expires".into(), value));
            out.push(Header::Require(headers::Require::new("timer")));
        }
        let body = body.unwrap_or_default().into_bytes();
        if !body.is_empty() {
            out.push(Header::ContentType(headers::ContentType::new(
                "application/sdp",
            )));
        }
        out.push(Header::ContentLength(headers::ContentLength::new(
            body.len().to_string(),
        )));
        response.headers = out.into();
        response.body = body;
        response
    }
}
