//! OneStatus: a presence-aware SIP B2BUA with the OneVoicemail IVR.
//!
//! # Layout
//! A call arrives as bytes on a socket ([`sip::transport`]), becomes a transaction
//! ([`sip::transaction`], the four RFC 3261 §17 machines, sans-I/O), and — once the B2BUA has
//! asked [`routing::decide`] what the user's state means *now* — rings the user's devices,
//! forwards the call, or hands it to the voicemail IVR, which plays prompts stitched by
//! [`speech`] over RTP ([`media`]) and stores the message ([`store`]).
//!
//! The cores (`sip::transaction`, `routing`, `speech`, `media` codecs) do no I/O and never
//! read a clock: `now` is a parameter. The drivers ([`runtime`]) own sockets and timers.
//!
//! One loader, [`user_state`], reads a user's state from the store; the call driver routes
//! from it and the HTTP API ([`api`]) shows presence and timelines from the very same state
//! (`routing::presence`), so neither depends on the other.

#![forbid(unsafe_code)]

pub mod api;
pub mod b2bua;
pub mod calendar;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod directory;
pub mod domain;
pub mod http_ops;
pub mod ivr;
pub mod log_json;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod number;
pub mod originate;
pub mod pin;
pub mod presence;
pub mod routing;
pub mod runtime;
pub mod shutdown;
pub mod sip;
pub mod speech;
pub mod spoken_name;
pub mod store;
pub mod toll_fraud;
pub mod user_state;
