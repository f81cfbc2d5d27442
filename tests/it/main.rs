//! The integration tests, as one test binary: each module was a test crate of its own, and
//! every one of them linked the whole server (23 links on each change of `src/`). One binary
//! links once; filter by module as before (`cargo test --test it api::`, `--test it
//! voicemail::`).
//!
//! They start the real `onestatus` binary (or `serve` in-process on port-0 listeners) and talk
//! to it over real sockets (CONTRIBUTING.md rule 2). `support` holds what several of them
//! share: starting the server, SIPp, the RTP peer, the SMTP receiver and the voicemail
//! helpers. `tests/bench_smoke.rs` stays a binary of its own (`harness = false`, its own main).

mod support;

mod api;
mod api_http;
mod baresip_mwi;
mod baresip_transfer;
mod browser;
mod calendar;
mod calendar_bounds;
mod calendar_calls;
mod calendar_fetch;
mod caller_numbers;
mod calls;
mod calls_media;
mod cli;
mod click_to_call;
mod delivery;
mod digest_agents;
mod directory;
mod directory_e2e;
mod groups;
mod ipv6;
mod mailbox;
mod media;
mod metrics;
mod mwi;
mod nat_address;
mod nodes;
mod nodes_bans;
mod nodes_lost;
mod nodes_path;
mod nodes_tcp_reach;
mod notify;
mod security;
mod serve;
mod sip;
mod sip_corpus;
mod sip_fuzz;
mod sip_rfc5118;
mod store;
mod store_groups;
mod transfer_attended;
mod transfer_sipp;
mod vm_deposit_sipp;
mod vm_retrieve_sipp;
mod voicemail;
