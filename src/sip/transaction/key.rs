//! Transaction matching: which transaction an incoming message belongs to.
//!
//! * Responses are matched to client transactions by §17.1.3: the branch of the top Via and the
//!   CSeq method. The method matters because a CANCEL carries the branch of the INVITE it
//!   cancels (§9.1), so the 200 to the CANCEL and the 487 to the INVITE share a branch.
//! * Requests are matched to server transactions by §17.2.3: when the top Via branch starts with
//!   the magic cookie `z9hG4bK`, by branch + sent-by + method, where an ACK matches the INVITE;
//!   otherwise by the RFC 2543 rules (Request-URI, To tag, From tag, Call-ID, CSeq, top Via).
//! * A CANCEL is its own server transaction (key method CANCEL) and finds the transaction it
//!   cancels through [`ServerKey::cancelled_invite`] (§9.2: "the same key except the method").

use rsip::{Method, Request, Response};

use super::fields;
use super::TransactionError;

/// The key of a client transaction (§17.1.3): the branch we put in the top Via and the method
/// of the request we sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// Branch parameter of the top Via of the request we sent.
    pub branch: String,
    /// Method of that request (the CSeq method of its responses).
    pub method: String,
}

impl ClientKey {
    /// The key of a request we are about to send. The branch must be an RFC 3261 one: we never
    /// originate RFC 2543 transactions.
    pub fn from_request(request: &Request) -> Result<Self, TransactionError> {
        let via = fields::top_via(&request.headers)?;
        let branch = fields::branch(&via).ok_or(TransactionError::MissingBranch)?;
        if !branch.starts_with(fields::MAGIC_COOKIE) {
            return Err(TransactionError::BranchWithoutMagicCookie(branch));
        }
        Ok(Self {
            branch,
            method: request.method.to_string(),
        })
    }

    /// The key a received response belongs to (§17.1.3): "the response matches a client
    /// transaction if ... the branch parameter in the top Via ... and the method parameter in
    /// the CSeq header field match".
    pub fn from_response(response: &Response) -> Result<Self, TransactionError> {
        let via = fields::top_via(&response.headers)?;
        let branch = fields::branch(&via).ok_or(TransactionError::MissingBranch)?;
        let (_, method) = fields::cseq(&response.headers)?;
        Ok(Self {
            branch,
            method: method.to_string(),
        })
    }
}

/// The key of a server transaction (§17.2.3), in its two forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// The request's top Via branch starts with `z9hG4bK`.
    Rfc3261 {
        /// Top Via branch parameter.
        branch: String,
        /// Top Via sent-by (host lower-cased, port as sent).
        sent_by: String,
        /// Request method, with ACK folded onto INVITE (§17.2.3: "the method of the request
        /// matches the one that created the transaction, except for ACK, where the method of
        /// the request that created the transaction is INVITE").
        method: String,
    },
    /// An RFC 2543 peer: no magic cookie, so the transaction is identified by the fields
    /// §17.2.3 lists for backwards compatibility.
    Rfc2543 {
        /// Request-URI as text.
        request_uri: String,
        /// To tag of the request (for an ACK: the tag it is looked up under, see
        /// [`ServerKey::for_request`]).
        to_tag: Option<String>,
        /// From tag.
        from_tag: Option<String>,
        /// Call-ID.
        call_id: String,
        /// CSeq number.
        cseq: u32,
        /// CSeq method, ACK folded onto INVITE as for RFC 3261 keys.
        method: String,
        /// The whole top Via value, re-serialised so spacing differences do not matter.
        top_via: String,
    },
}

impl ServerKey {
    /// The key of a received request.
    ///
    /// For an RFC 2543 ACK the To tag is the one of the response the server sent, not of the
    /// INVITE, so [`ServerKey::ack_candidates`] gives the keys to try.
    pub fn for_request(request: &Request) -> Result<Self, TransactionError> {
        let via = fields::top_via(&request.headers)?;
        let method = match request.method {
            Method::Ack => Method::Invite.to_string(),
            ref m => m.to_string(),
        };
        match fields::branch(&via) {
            Some(branch) if branch.starts_with(fields::MAGIC_COOKIE) => Ok(Self::Rfc3261 {
                branch,
                sent_by: fields::sent_by(&via),
                method,
            }),
            _ => {
                let (cseq, _) = fields::cseq(&request.headers)?;
                Ok(Self::Rfc2543 {
                    request_uri: request.uri.to_string(),
                    to_tag: fields::to_tag(&request.headers)?,
                    from_tag: fields::from_tag(&request.headers)?,
                    call_id: fields::call_id(&request.headers)?,
                    cseq,
                    method,
                    top_via: via.to_string(),
                })
            }
        }
    }

    /// The keys under which the INVITE transaction an ACK belongs to may be stored.
    ///
    /// RFC 3261 keys do not involve the To tag, so there is one. For RFC 2543, §17.2.3 matches
    /// an ACK when "the To tag of the ACK matches the To tag of the response sent by the server
    /// transaction": the INVITE had either the same To tag (a re-INVITE inside a dialog) or
    /// none (the initial INVITE; the tag was added by our response), so both are tried and the
    /// caller then checks the tag of the response actually sent.
    pub fn ack_candidates(&self) -> Vec<Self> {
        match self {
            Self::Rfc3261 { .. } => vec![self.clone()],
            Self::Rfc2543 { to_tag: None, .. } => vec![self.clone()],
            Self::Rfc2543 { .. } => {
                let mut untagged = self.clone();
                if let Self::Rfc2543 { to_tag, .. } = &mut untagged {
                    *to_tag = None;
                }
                vec![self.clone(), untagged]
            }
        }
    }

    /// For a CANCEL's key, the key of the INVITE it cancels (§9.2): identical except for the
    /// method.
    pub fn cancelled_invite(&self) -> Self {
        let mut key = self.clone();
        match &mut key {
            Self::Rfc3261 { method, .. } | Self::Rfc2543 { method, .. } => {
                *method = Method::Invite.to_string()
            }
        }
        key
    }

    /// Whether this is an RFC 2543 (cookie-less) key.
    pub fn is_rfc2543(&self) -> bool {
        matches!(self, Self::Rfc2543 { .. })
    }
}
