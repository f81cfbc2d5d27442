//! What an event's free/busy properties mean as a [`BusyStatus`], the input routing maps to
//! "phone open" or "calls to voicemail" (see [`routing::calendar`](crate::routing::calendar)).
//!
//! Exchange writes its own status in `X-MICROSOFT-CDO-BUSYSTATUS` (the attendee's "Show as")
//! and the organiser's in `X-MICROSOFT-CDO-INTENDEDSTATUS`; other servers only have RFC 5545
//! `TRANSP` (§3.8.2.7: `OPAQUE`, the default, blocks time; `TRANSPARENT` does not) and
//! `STATUS` (§3.8.1.11). The most specific one present wins:
//!
//! | present                         | value                 | BusyStatus         |
//! |---------------------------------|-----------------------|--------------------|
//! | `X-MICROSOFT-CDO-BUSYSTATUS`    | `FREE`                | Free               |
//! |                                 | `TENTATIVE`           | Tentative          |
//! |                                 | `BUSY`                | Busy               |
//! |                                 | `OOF`                 | OutOfOffice        |
//! |                                 | `WORKINGELSEWHERE`    | WorkingElsewhere   |
//! | else `…-INTENDEDSTATUS`         | same values           | same               |
//! | else `TRANSP`                   | `TRANSPARENT`         | Free               |
//! | else `STATUS`                   | `TENTATIVE`           | Tentative          |
//! | otherwise (`OPAQUE` or nothing) |                       | Busy               |
//!
//! `WORKINGELSEWHERE` (Outlook's "Working elsewhere") means the user works, reachable, from
//! another place: routing keeps the phone open and does not announce an absence, and the
//! presence view may still show where they are. Unknown CDO values fall through to the next
//! row rather than failing the feed: Microsoft has added values before.
//!
//! `STATUS:CANCELLED` is not a busy status: a cancelled event or instance is dropped by the
//! importer (see [`ics`](super::ics)) so it neither routes nor shows.

use crate::domain::BusyStatus;

/// Maps one CDO status value; `None` for values we do not know.
pub fn from_cdo(value: &str) -> Option<BusyStatus> {
    match value.trim().to_ascii_uppercase().as_str() {
        "FREE" => Some(BusyStatus::Free),
        "TENTATIVE" => Some(BusyStatus::Tentative),
        "BUSY" => Some(BusyStatus::Busy),
        "OOF" => Some(BusyStatus::OutOfOffice),
        "WORKINGELSEWHERE" => Some(BusyStatus::WorkingElsewhere),
        _ => None,
    }
}

/// The busy status of an event from its properties, per the table in the module doc.
pub fn busy_status(
    cdo_busy: Option<&str>,
    cdo_intended: Option<&str>,
    transp: Option<&str>,
    status: Option<&str>,
) -> BusyStatus {
    if let Some(b) = cdo_busy.and_then(from_cdo) {
        return b;
    }
    if let Some(b) = cdo_intended.and_then(from_cdo) {
        return b;
    }
    if transp.is_some_and(|t| t.trim().eq_ignore_ascii_case("TRANSPARENT")) {
        return BusyStatus::Free;
    }
    if status.is_some_and(|s| s.trim().eq_ignore_ascii_case("TENTATIVE")) {
        return BusyStatus::Tentative;
    }
    BusyStatus::Busy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdo_wins_then_intended_then_transp_then_status() {
        assert_eq!(
            busy_status(Some("OOF"), Some("BUSY"), Some("TRANSPARENT"), None),
            BusyStatus::OutOfOffice
        );
        assert_eq!(
            busy_status(Some("workingelsewhere"), None, None, None),
            BusyStatus::WorkingElsewhere
        );
        assert_eq!(
            busy_status(Some("SOMETHINGNEW"), Some("FREE"), None, None),
            BusyStatus::Free
        );
        assert_eq!(
            busy_status(None, None, Some("TRANSPARENT"), None),
            BusyStatus::Free
        );
        assert_eq!(
            busy_status(None, None, Some("OPAQUE"), Some("TENTATIVE")),
            BusyStatus::Tentative
        );
        assert_eq!(
            busy_status(None, None, Some("OPAQUE"), None),
            BusyStatus::Busy
        );
        assert_eq!(busy_status(None, None, None, None), BusyStatus::Busy);
    }
}
