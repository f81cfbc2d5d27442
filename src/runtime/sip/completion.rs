//! The answers spawned work sends back to the SIP task, which owns the transaction layer and
//! every call: store look-ups (a REGISTER's credentials, a new call's route, a mailbox's
//! message counts), an IVR driver's commands, a media relay's timeout. The loop never awaits
//! the store; it hands each [`Completion`] to its owner when it arrives.

use std::net::SocketAddr;

use crate::b2bua::{CallerInfo, Plan};
use crate::domain::model::{Device, Registration, User};
use crate::ivr::RetrieveSetup;
use crate::notify::MwiTarget;
use crate::sip::auth::DigestResponse;
use crate::sip::transaction::{TransactionId, TransportKind};
use crate::store::StoreError;

use super::super::leg::LegCommand;
use super::owners::{CallKey, LegKey};

/// Answers from spawned work, handled back in the loop that owns the layer.
#[derive(Debug)]
pub enum Completion {
    /// Send this response in this server transaction.
    Respond {
        /// The transaction.
        transaction: TransactionId,
        /// The response.
        response: rsip::Response,
    },
    /// The store answered a REGISTER's credential and binding look-up.
    Register(Box<RegisterLookup>),
    /// Routing decided for a new call.
    Routed(Box<RouteLookup>),
    /// An IVR driver asks for something only the SIP side can do.
    Leg(LegKey, LegCommand),
    /// An IVR driver has ended.
    LegDone(LegKey),
    /// The store answered for a message-waiting update.
    Mwi(Box<MwiLookup>),
    /// The store answered a SUBSCRIBE's credential look-up (RFC 6665, `message-summary`).
    Subscribe(Box<SubscribeLookup>),
    /// An anchored call's relay carried no RTP either way for the RTP timeout.
    MediaTimeout(CallKey),
}

/// Where the routing task sends a call.
#[derive(Debug)]
pub(in crate::runtime) enum Routed {
    /// Through the B2BUA.
    Plan(Plan),
    /// To the mailbox (the access number, or one's own number from one's own device): the
    /// retrieval IVR answers it.
    Mailbox(RetrieveSetup),
}

/// What the spawned routing task found out.
#[derive(Debug)]
pub struct RouteLookup {
    pub(in crate::runtime) key: CallKey,
    pub(in crate::runtime) outcome: Routed,
    pub(in crate::runtime) caller: CallerInfo,
    /// Set when the From user is one of our devices: the INVITE must then be authenticated.
    pub(in crate::runtime) caller_device: Option<Device>,
}

/// What the store said about a REGISTER's credentials and the AOR's current bindings.
#[derive(Debug)]
pub struct RegisterLookup {
    pub(in crate::runtime) transaction: TransactionId,
    pub(in crate::runtime) request: rsip::Request,
    pub(in crate::runtime) source: SocketAddr,
    pub(in crate::runtime) transport: TransportKind,
    pub(in crate::runtime) aor: String,
    pub(in crate::runtime) digest: DigestResponse,
    pub(in crate::runtime) found: Result<(Device, User, Vec<Registration>), StoreError>,
}

/// What the store said about a new SUBSCRIBE's credentials, and the mailbox's counts.
#[derive(Debug)]
pub struct SubscribeLookup {
    pub(in crate::runtime) transaction: TransactionId,
    pub(in crate::runtime) request: rsip::Request,
    pub(in crate::runtime) source: SocketAddr,
    pub(in crate::runtime) transport: TransportKind,
    pub(in crate::runtime) digest: DigestResponse,
    /// The device, its owner and the owner's counts (new, old).
    #[allow(clippy::type_complexity)] // One look-up's three answers.
    pub(in crate::runtime) found: Result<(Device, User, (u32, u32)), StoreError>,
}

/// The store's answer for a message-waiting update.
#[derive(Debug)]
pub struct MwiLookup {
    /// The mailbox owner.
    pub user_id: i64,
    /// Unheard messages.
    pub new: u32,
    /// Heard or saved messages.
    pub old: u32,
    /// The owner's registered contacts.
    pub targets: Vec<MwiTarget>,
}
