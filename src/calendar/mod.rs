//! Calendar integration (in progress).
pub mod busy_status;
pub mod codes;
pub mod expand;
pub mod ics;
pub mod timezone;
