//! Answering a call for an IVR: the caller's INVITE (from the B2BUA's voicemail hand-off, or
//! a call to the access number) gets an RTP session answering its offer (RFC 3264 §6), our
//! 200 with that SDP in its dialog (RFC 3261 §12.1.1), carried by a new
//! [`UasLeg`](crate::b2bua::uas_leg::UasLeg), and the IVR driver task over the media session.
//! What cannot be answered is refused with the status that says why (480, 488, 503, 400).

use rsip::headers::UntypedHeader;
use rsip::Header;
use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

use super::{drive, transfer, AnsweredLeg, IvrLegs};
use crate::b2bua::uas_leg::{self, Answered, UasConfig, UasLeg};
use crate::media::sdp::SessionDescription;
use crate::runtime::leg::{Answer, IvrKind, IvrLeg, LegCommand};
use crate::runtime::sip::completion::Completion;
use crate::runtime::sip::context::Context;
use crate::runtime::sip::owners::{LegKey, Owner};
use crate::runtime::sip::reply::SERVER;
use crate::sip::message;
use crate::sip::transaction::fields::response_to;

/// Answers the caller's INVITE ourselves and starts the IVR: an RTP session answering the
/// offer (RFC 3264), 200 OK with our SDP in the caller's dialog, the driver task.
///
/// An INVITE without an offer gets 488: offer-less INVITEs (the offer in our 2xx, the answer
/// in the ACK) are not supported here. An offer the engine cannot answer gets the status the
/// SDP error names (488), a full port range 503.
pub fn answer(cx: &mut Context, legs: &mut IvrLegs, call: Answer, kind: IvrKind) {
    let span = tracing::info_span!("ivr", call_id = %call.call_id);
    let _enter = span.enter();
    if cx.owners.originated(call.transaction).is_some_and(|id| {
        transfer::leg_of(id).is_some() || crate::runtime::calls::refer_call_of(id).is_some()
    }) {
        // A transfer's destination went to its own voicemail: a caller from our IVR goes back
        // to ours, a REFER's transferee stays with the transferor (`b2bua::transfer`), so this
        // is a no-answer.
        reject(cx, &call, 480, "transfer destination not answering");
        return;
    }
    let Some(ivr) = legs.runtime.as_ref() else {
        reject(cx, &call, 480, "voicemail not available");
        return;
    };
    if call.invite.body.is_empty() {
        reject(cx, &call, 488, "no SDP offer");
        return;
    }
    let offer = match SessionDescription::parse(&String::from_utf8_lossy(&call.invite.body)) {
        Ok(offer) => offer,
        Err(error) => {
            info!(%error, "SDP offer not usable");
            reject(cx, &call, error.sip_status(), "SDP offer not usable");
            return;
        }
    };
    let ip = cx.media_ip(&call.invite);
    let (media, sdp) = match ivr.media.open_session(&offer, ip) {
        Ok(opened) => opened,
        Err(error) => {
            warn!(%error, "no media session for the IVR");
            reject(cx, &call, error.sip_status(), "no media");
            return;
        }
    };
    let deps = ivr.deps.clone();
    let config = uas_config(cx);
    let body = cx.advertised_sdp(sdp.to_string()).into_bytes();
    let response = uas_leg::ok_with_sdp(&config, &call.invite, &call.local_tag, body);
    let uas = match UasLeg::new(
        cx.instant(),
        config,
        Answered {
            invite: call.invite.clone(),
            local_tag: call.local_tag.clone(),
            source: call.source,
            transport: call.transport,
            answer: response,
        },
    ) {
        Ok(uas) => uas,
        Err(error) => {
            // §8.1.1.8: an INVITE MUST carry a Contact; without it there is no dialog to keep.
            info!(%error, "INVITE cannot start a dialog");
            reject(cx, &call, 400, "no dialog");
            return;
        }
    };

    let key = LegKey(legs.next);
    legs.next += 1;
    let (events_tx, events_rx) = mpsc::channel(32);
    let (commands_tx, mut commands_rx) = mpsc::channel::<LegCommand>(32);
    legs.by_call_id.insert(call.call_id.clone(), key);
    cx.owners
        .bind_dialog(call.call_id.clone(), Owner::IvrLeg(key));
    legs.legs.insert(
        key,
        AnsweredLeg {
            uas,
            invite: call.transaction,
            events: events_tx,
            span: span.clone(),
            _media_counted: cx.metrics.as_ref().map(|m| m.rtp_session_opened()),
        },
    );
    drive(cx, legs, key);
    info!(rtp = %media.local_addr(), "answered for the IVR");

    // The leg's commands come back into the SIP loop tagged with the leg; when the driver
    // ends, `LegDone` makes sure the call ends too.
    let completions = cx.completions.clone();
    tokio::spawn(async move {
        while let Some(command) = commands_rx.recv().await {
            if completions
                .send(Completion::Leg(key, command))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = completions.send(Completion::LegDone(key)).await;
    });
    let mut origin = vec![crate::pin::sources::SourceKey::Address(
        crate::sip::client::client_ip(
            &cx.config.security.trusted(),
            call.source.ip(),
            &call.invite,
        ),
    )];
    origin.extend(
        crate::sip::client::caller_user(&call.invite)
            .and_then(|user| crate::pin::sources::SourceKey::caller_id(&user)),
    );
    let leg = IvrLeg {
        call_id: call.call_id.clone(),
        media,
        events: events_rx,
        commands: commands_tx,
        origin,
    };
    // The drain guard lives as long as the driver: a message being saved holds the shutdown.
    let guard = cx.shutdown.as_ref().map(|s| s.call_started());
    tokio::spawn(
        async move {
            match kind {
                IvrKind::Deposit(request) => {
                    crate::runtime::voicemail::run_deposit(leg, *request, deps).await;
                }
                IvrKind::Retrieve(setup) => {
                    crate::runtime::mailbox::run_retrieve(leg, setup, deps).await
                }
            }
            drop(guard);
        }
        .instrument(span.clone()),
    );
}

/// Our addressing and timers, for the leg.
fn uas_config(cx: &Context) -> UasConfig {
    let sent_by = cx.sent_by();
    UasConfig {
        contact: format!("sip:onestatus@{sent_by}"),
        via_sent_by: sent_by,
        server: SERVER.into(),
        t1: cx.config.sip.t1,
        t2: cx.config.sip.t2,
    }
}

fn reject(cx: &mut Context, call: &Answer, code: u16, why: &str) {
    info!(code, why, "IVR call refused");
    let mut response = response_to(&call.invite, code, Some(&call.local_tag));
    response.status_code = rsip::StatusCode::Other(code, message::canonical_reason(code).into());
    if code == 488 {
        // RFC 3261 §21.4.26: say what would be acceptable.
        response.headers.push(Header::Other(
            "Warning".into(),
            "304 onestatus \"Media type not available\"".into(),
        ));
    }
    response
        .headers
        .push(Header::Server(rsip::headers::Server::new(SERVER)));
    cx.respond(call.transaction, response);
}
