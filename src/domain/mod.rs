//! Vocabulary shared by every layer: the routing core, the store, the API and the IVR all speak
//! of the same absence reasons, origins and destinations, so they are defined once here.
//!
//! Each enum has a stable lower-case text form (`as_str` / `FromStr`) because that form is what
//! the database columns and the JSON API carry; changing a spelling is a migration.
//!
//! [`model`] holds the typed records built from this vocabulary (users, organisations, calendar
//! entries, voicemail, ...), which the store persists.

pub mod model;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a user is away. Drives the greeting ("is at lunch", "is in a meeting", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// At lunch.
    Lunch,
    /// On a short break.
    Break,
    /// In a meeting (also the reason of a Busy calendar entry).
    Meeting,
    /// Off sick.
    Sick,
    /// Gone for the day.
    GoneForToday,
    /// On holiday.
    Holiday,
    /// Out of office (an Exchange OOF entry without a more precise reason).
    OutOfOffice,
    /// Anything else; the free text says what.
    Custom,
}

/// Where an absence came from, shown to colleagues: `OL` (Outlook/Exchange import), `WEB`
/// (the user in the web client or by phone), or the initials of the receptionist who set it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Origin {
    /// Imported from Outlook / Exchange.
    Outlook,
    /// Set by the user themself (web client, phone).
    Web,
    /// Set by a receptionist, shown as their initials (2–5 letters).
    Receptionist(String),
}

/// What happens to calls while an absence is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// Calls go to OneVoicemail, which tells the caller the reason and when the user is back.
    Voicemail,
    /// Calls are forwarded to a number (colleague, group, external).
    Number,
    /// The absence is shown to colleagues but calls still ring the user ("keep phone open").
    Open,
}

/// Exchange's free/busy status of a calendar entry (`X-MICROSOFT-CDO-BUSYSTATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusyStatus {
    /// Free: never routes, not shown.
    Free,
    /// Tentative: never routes, not shown.
    Tentative,
    /// Busy: calls to voicemail, shown.
    Busy,
    /// Out of office: calls to voicemail, shown.
    OutOfOffice,
    /// Working elsewhere: reachable, so the phone stays open (shown to colleagues).
    WorkingElsewhere,
}

/// A user's role in their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An ordinary user.
    User,
    /// A receptionist: may set absences for others and sees receptionist notes.
    Receptionist,
}

/// The state of a voicemail message as the user manages it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Not yet heard; lights the message-waiting lamp.
    New,
    /// Heard, kept in the new/old list.
    Read,
    /// Explicitly saved.
    Saved,
}

/// A prompt language. Danish is the product's home language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Danish.
    #[default]
    Da,
    /// Swedish.
    Sv,
    /// English.
    En,
}

/// A text form that did not name any variant of the enum it was parsed into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownVariant {
    /// Which enum was being parsed ("reason", "origin", ...).
    pub kind: &'static str,
    /// The text that did not match.
    pub value: String,
}

/// Implements `as_str`, `Display` and `FromStr` for a fieldless enum from one table, so the
/// database and JSON spellings cannot drift apart.
macro_rules! text_enum {
    ($ty:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable text form stored in the database and sent in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(UnknownVariant { kind: $kind, value: s.to_owned() }),
                }
            }
        }
    };
}

text_enum!(Reason, "reason", {
    Lunch => "lunch", Break => "break", Meeting => "meeting", Sick => "sick",
    GoneForToday => "gone_for_today", Holiday => "holiday", OutOfOffice => "out_of_office",
    Custom => "custom",
});
text_enum!(DestinationKind, "destination kind", {
    Voicemail => "voicemail", Number => "number", Open => "open",
});
text_enum!(BusyStatus, "busy status", {
    Free => "free", Tentative => "tentative", Busy => "busy", OutOfOffice => "out_of_office",
    WorkingElsewhere => "working_elsewhere",
});
text_enum!(Role, "role", { User => "user", Receptionist => "receptionist" });
text_enum!(MessageState, "message state", { New => "new", Read => "read", Saved => "saved" });
text_enum!(Lang, "language", { Da => "da", Sv => "sv", En => "en" });

impl Origin {
    /// The text shown to colleagues and stored: `OL`, `WEB` or the initials.
    pub fn as_str(&self) -> &str {
        match self {
            Origin::Outlook => "OL",
            Origin::Web => "WEB",
            Origin::Receptionist(initials) => initials,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Origin {
    type Err = UnknownVariant;

    /// `OL` and `WEB` are reserved; anything else of 2–5 ASCII letters is a receptionist's
    /// initials (upper-cased, since initials are shown in capitals).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "OL" => Ok(Origin::Outlook),
            "WEB" => Ok(Origin::Web),
            _ if (2..=5).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic()) => {
                Ok(Origin::Receptionist(s.to_ascii_uppercase()))
            }
            _ => Err(UnknownVariant {
                kind: "origin",
                value: s.to_owned(),
            }),
        }
    }
}

impl From<Origin> for String {
    fn from(origin: Origin) -> String {
        origin.as_str().to_owned()
    }
}

impl TryFrom<String> for Origin {
    type Error = UnknownVariant;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), *r);
        }
        for b in BusyStatus::ALL {
            assert_eq!(b.as_str().parse::<BusyStatus>().unwrap(), *b);
        }
        assert_eq!("gone_for_today".parse::<Reason>(), Ok(Reason::GoneForToday));
        assert!("lunchbreak".parse::<Reason>().is_err());
    }

    #[test]
    fn origins_parse_initials() {
        assert_eq!("OL".parse::<Origin>().unwrap(), Origin::Outlook);
        assert_eq!("WEB".parse::<Origin>().unwrap(), Origin::Web);
        assert_eq!(
            "hh".parse::<Origin>().unwrap(),
            Origin::Receptionist("HH".into())
        );
        assert!("H".parse::<Origin>().is_err());
        assert!("H1".parse::<Origin>().is_err());
    }

    #[test]
    fn serde_uses_the_text_forms() {
        assert_eq!(
            serde_json::to_string(&Reason::GoneForToday).unwrap(),
            "\"gone_for_today\""
        );
        assert_eq!(serde_json::to_string(&Origin::Outlook).unwrap(), "\"OL\"");
        let o: Origin = serde_json::from_str("\"KB\"").unwrap();
        assert_eq!(o, Origin::Receptionist("KB".into()));
    }
}
