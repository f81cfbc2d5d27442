//! Our requests in the caller's dialog (RFC 3261 §12.2.1.1) and their answers: BYE ending the
//! call (§15.1.1), REFER transferring the caller (RFC 3515: on its answer the owner decides
//! what follows) and a re-INVITE moving the caller's media (§14.1), whose 2xx we ACK at once
//! (§13.2.2.4: the UAC core, not the transaction, ACKs a 2xx).

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::debug;

use super::{Phase, UasAction, UasLeg};
use crate::sip::dialog;

impl UasLeg {
    /// BYE now, whatever the ACK (the callers checked §15 already).
    pub(super) fn send_bye(&mut self) {
        if matches!(self.phase, Phase::Ending | Phase::Closed) {
            return;
        }
        self.retransmit = None;
        self.session = None;
        self.phase = Phase::Ending;
        self.actions.push_back(UasAction::Ending);
        let via = self.via();
        match self.dialog.request(Method::Bye, &via) {
            Ok(bye) => {
                debug!(call_id = %self.dialog.call_id, "ending the call (BYE)");
                self.send(bye);
            }
            Err(error) => {
                debug!(%error, "cannot build BYE towards the caller");
                self.close();
            }
        }
    }

    /// REFER naming `refer_to` (RFC 3515 §2.4.1), Referred-By us (RFC 3892) and our Contact.
    /// A REFER that cannot be built is answered at once as refused.
    pub(super) fn refer(&mut self, refer_to: &str) {
        if self.phase != Phase::Up || self.referring {
            return;
        }
        let via = self.via();
        let mut refer = match self.dialog.request(Method::Refer, &via) {
            Ok(refer) => refer,
            Err(error) => {
                debug!(%error, "cannot build REFER");
                self.actions
                    .push_back(UasAction::ReferAnswered { accepted: false });
                return;
            }
        };
        let extra = [
            Header::Other("Refer-To".into(), format!("<{refer_to}>")),
            Header::Other("Referred-By".into(), self.dialog.local_uri.clone()),
            self.contact(),
        ];
        insert_before_content_length(&mut refer, extra, None);
        self.retransmit = None;
        self.referring = true;
        self.send(refer);
    }

    /// A re-INVITE offering `sdp` (RFC 3264 §8); it becomes our SDP of the session.
    pub(super) fn reinvite(&mut self, sdp: String) {
        if self.phase != Phase::Up || self.reinvite.is_some() {
            self.actions
                .push_back(UasAction::ReinviteAnswered { accepted: false });
            return;
        }
        let via = self.via();
        let mut invite = match self.dialog.request(Method::Invite, &via) {
            Ok(invite) => invite,
            Err(error) => {
                debug!(%error, "cannot build the re-INVITE");
                self.actions
                    .push_back(UasAction::ReinviteAnswered { accepted: false });
                return;
            }
        };
        let cseq = dialog::cseq_number(&invite.headers).unwrap_or(1);
        let extra = [
            self.contact(),
            crate::sip::message::allow_header(),
            Header::ContentType(headers::ContentType::new("application/sdp")),
        ];
        insert_before_content_length(&mut invite, extra, Some(sdp.clone().into_bytes()));
        self.local_sdp = sdp;
        self.reinvite = Some(cseq);
        self.send(invite);
    }

    pub(super) fn on_response(&mut self, response: &Response) {
        let code = response.status_code.code();
        if code < 200 {
            return;
        }
        let method = dialog::header_value(&response.headers, "CSeq")
            .ok()
            .and_then(|c| c.split_whitespace().nth(1).map(str::to_ascii_uppercase));
        match method.as_deref() {
            Some("BYE") => self.close(),
            Some("REFER") => self.refer_answered(code < 300),
            Some("INVITE") => {
                let Some(cseq) = self.reinvite.take() else {
                    return;
                };
                if (200..300).contains(&code) {
                    self.ack(cseq);
                }
                self.actions.push_back(UasAction::ReinviteAnswered {
                    accepted: (200..300).contains(&code),
                });
            }
            _ => {}
        }
    }

    pub(super) fn on_request_failed(&mut self, method: rsip::Method) {
        match method {
            Method::Bye => self.close(),
            Method::Refer => self.refer_answered(false),
            Method::Invite if self.reinvite.take().is_some() => {
                self.actions
                    .push_back(UasAction::ReinviteAnswered { accepted: false });
            }
            _ => {}
        }
    }

    /// The REFER's final answer. The ACK no longer matters: a BYE that follows goes at once.
    fn refer_answered(&mut self, accepted: bool) {
        if !self.referring {
            return;
        }
        self.referring = false;
        self.acked = true;
        self.actions
            .push_back(UasAction::ReferAnswered { accepted });
    }

    fn ack(&mut self, cseq: u32) {
        let via = self.via();
        match self.dialog.ack(cseq, &via) {
            Ok(ack) => self.actions.push_back(UasAction::SendAck {
                request: ack,
                destination: self.source,
                transport: self.transport,
            }),
            Err(error) => debug!(%error, "cannot build the ACK for the caller's 2xx"),
        }
    }

    fn send(&mut self, request: Request) {
        self.actions.push_back(UasAction::SendRequest {
            request,
            destination: self.source,
            transport: self.transport,
        });
    }

    fn close(&mut self) {
        self.phase = super::Phase::Closed;
        self.retransmit = None;
        self.session = None;
        self.pending = None;
        self.actions.push_back(UasAction::Closed);
    }
}

/// Adds `extra` headers before Content-Length and, when given, a body (Content-Length set).
fn insert_before_content_length<const N: usize>(
    request: &mut Request,
    extra: [Header; N],
    body: Option<Vec<u8>>,
) {
    let mut out: Vec<Header> = request
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_)))
        .cloned()
        .collect();
    out.extend(extra);
    let body = body.unwrap_or_default();
    out.push(Header::ContentLength(headers::ContentLength::new(
        body.len().to_string(),
    )));
    request.headers = out.into();
    request.body = body;
}
