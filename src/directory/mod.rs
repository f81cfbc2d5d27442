//! The directory (issue #23): who a number is, and the organisation's shared phonebook.
//!
//! - [`lookup`]: THE lookup of a number's name, in the order colleague → personal contact →
//!   shared contact → external directory; every place that shows or says a caller uses it.
//! - [`external`]: the pluggable external directory (`[directory]`), an HTTP lookup with
//!   timeouts and a cache of hits and misses, never on a call's critical path.
//! - [`import`]: a vCard or CSV export to shared contacts, with a report of rejected records;
//!   [`vcard`] (RFC 6350) and [`csv`] (RFC 4180) read the files.
//!
//! The shared contacts themselves are stored by `store::directory` (migration 0004).

pub mod csv;
pub mod external;
pub mod import;
pub mod lookup;
pub mod vcard;

pub use external::ExternalDirectory;
pub use lookup::{CallerName, External, NameSource, Names, Viewer};
