//! Requests from the caller inside the leg's dialog (RFC 3261 §12.2.2): matched to the dialog
//! (481 otherwise) and checked for CSeq order (500), then BYE (§15.1.2: 200, the dialog is
//! over), INFO key presses (RFC 6086 with `application/dtmf-relay` or `application/dtmf`),
//! NOTIFYs reporting our REFER (RFC 3515 §2.4.5, acknowledged only), re-INVITE and UPDATE
//! (`offer`) and REFER (handed up). Anything else gets 501 and leaves the session as it was.

use std::time::Instant;

use rsip::headers::{Header, UntypedHeader};
use rsip::{Method, Request};
use tracing::debug;

use super::{Phase, UasAction, UasLeg};
use crate::media::dtmf::{parse_info_body, InfoDtmfError};
use crate::sip::dialog;
use crate::sip::transaction::TransactionId;

impl UasLeg {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        request: Request,
    ) {
        let call_id = dialog::header_value(&request.headers, "Call-ID").unwrap_or_default();
        let from_tag = tag_of(&request, "From");
        let to_tag = tag_of(&request, "To");
        let unmatched = !self.relay && !self.dialog.matches_request(&call_id, &from_tag, &to_tag);
        if self.phase == Phase::Closed || unmatched {
            // §12.2.2: "If the UAS receives a request that does not match any dialog ... it
            // SHOULD return a 481 (Call/Transaction Does Not Exist)".
            self.reply(transaction, &request, 481);
            return;
        }
        if let Ok(cseq) = dialog::cseq_number(&request.headers) {
            if self.dialog.accept_remote_cseq(cseq).is_err() {
                // §12.2.2: out of order.
                self.reply(transaction, &request, 500);
                return;
            }
        }
        match request.method {
            Method::Bye => {
                self.reply(transaction, &request, 200);
                debug!(call_id = %self.dialog.call_id, "caller hung up (BYE)");
                self.retransmit = None;
                self.session = None;
                self.phase = Phase::Closed;
                self.actions.push_back(UasAction::HungUp);
            }
            _ if self.relay => self.actions.push_back(UasAction::Request {
                transaction,
                request: Box::new(request),
            }),
            Method::Info => self.on_info(transaction, &request),
            // Progress of our REFER (RFC 3515 §2.4.5); the call ends on the REFER's answer,
            // so the report is only acknowledged.
            Method::Notify => self.reply(transaction, &request, 200),
            Method::Invite | Method::Update => self.on_offer(now, transaction, request),
            Method::Refer => self.actions.push_back(UasAction::Refer {
                transaction,
                request: Box::new(request),
            }),
            _ => self.reply(transaction, &request, 501),
        }
    }

    /// INFO with a key press: 200 and [`UasAction::Digit`]; another body type gets 415 with
    /// Accept (RFC 6086 §4.2.2), a body that names no key 400, an empty INFO (a keep-alive
    /// probe some phones send) 200.
    fn on_info(&mut self, transaction: TransactionId, request: &Request) {
        if request.body.is_empty() {
            self.reply(transaction, request, 200);
            return;
        }
        let content_type = request
            .headers
            .iter()
            .find_map(|h| match h {
                Header::ContentType(c) => Some(c.value().to_owned()),
                _ => None,
            })
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&request.body);
        match parse_info_body(&content_type, &body) {
            Ok(info) => {
                self.reply(transaction, request, 200);
                // Not which key: a PIN digit never goes to the log (issue #19).
                debug!(call_id = %self.dialog.call_id, "key pressed (INFO)");
                self.actions.push_back(UasAction::Digit(info.digit));
            }
            Err(InfoDtmfError::UnsupportedContentType) => {
                let mut response = self.response(request, 415);
                response.headers.push(Header::Other(
                    "Accept".into(),
                    "application/dtmf-relay, application/dtmf".into(),
                ));
                self.actions.push_back(UasAction::Respond {
                    transaction,
                    response,
                });
            }
            Err(error) => {
                debug!(%error, "INFO names no key");
                self.reply(transaction, request, 400);
            }
        }
    }
}

fn tag_of(request: &Request, header: &'static str) -> String {
    dialog::header_value(&request.headers, header)
        .ok()
        .and_then(|v| dialog::split_tag(&v).1)
        .unwrap_or_default()
}
