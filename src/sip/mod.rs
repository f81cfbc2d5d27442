//! The SIP stack (RFC 3261): message façade over `rsip`, the §17 transaction machines,
//! transports (§18), digest authentication and the registrar (§10).

pub mod answer_retransmit;
pub mod auth;
pub mod client;
pub mod dialog;
pub mod flood;
pub mod fuzz;
pub mod message;
pub mod registrar;
pub mod subscription;
pub mod transaction;
pub mod transport;
pub mod via;
