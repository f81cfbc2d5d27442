//! The SIP task and what its owners share.
//!
//! - [`service`]: the task itself — sockets in and out, the transaction layer's driver, and
//!   the router that hands each event to its owner after one look-up in [`owners`].
//! - [`owners`]: the index from transactions and dialogs to their owners.
//! - [`context`]: what an owner gets when it handles an event (the layer, the clock, the
//!   completion channel, the configuration), and the work it leaves for other owners.
//! - [`completion`]: the answers spawned work sends back to the loop.
//! - [`reply`]: Allow, Supported, Server, and a response with our To tag.
//!
//! The owners themselves live beside this module: `runtime::calls` (B2BUA calls),
//! `runtime::ivr_leg` (calls answered for an IVR), `runtime::click_to_call` and
//! `runtime::register`. They import `context`, `owners`, `completion` and `reply`, never
//! `service`.

pub mod completion;
pub mod context;
pub mod owners;
pub mod reply;
pub mod service;

pub use service::SipService;
