//! The toll-fraud policy: whether a number outside the organisation may be dialled through the
//! trunk (issue #19, findings 1 and 7). Pure: no I/O, no clock, no store.
//!
//! # In the call flow
//! Every number that can make the server dial out is checked here twice: when it is stored
//! (a forward, the mobile for parallel ringing, a group or receptionist number, a calendar
//! code's target) and again when it is dialled (forwarding, parallel ringing, click-to-call,
//! transfers), because a stored number may predate a policy change. The caller first decides
//! whether the number is *internal* (a user or group of the same organisation, which never
//! leaves through the trunk); only external numbers come here.
//!
//! # Rules, in order
//! 1. The number must be a dialable number: digits, optionally `+` or the international
//!    prefix `00` in front, spaces and `-().` / tolerated as separators, at most 15 digits in
//!    international form (ITU-T E.164 §6.1) — else [`TollFraudError::NotANumber`].
//! 2. The organisation's external-calls switch ([`OrgPolicy::external_calls_allowed`], the
//!    organisation's `allow_external_forwarding`) must be on — else
//!    [`TollFraudError::ExternalCallsNotAllowed`].
//! 3. The number, in international form, must not start with a prefix of the
//!    [`DenyList`] — else [`TollFraudError::Denied`] — unless the organisation's own
//!    [`OrgPolicy::allow_list`] holds a prefix of it (a shipping company that calls its
//!    vessels on Inmarsat allow-lists `+870`).
//!
//! # The shipped deny-list ([`DEFAULT_DENY_LIST`])
//! - Satellite and international networks, ITU-T E.164 "assigned country codes" list: `+870`
//!   (Inmarsat SNAC), `+881` (Global Mobile Satellite System: Iridium, Globalstar, …), `+882`
//!   and `+883` (International Networks: satellite and maritime operators, and the ranges most
//!   sold for international revenue-share fraud; the issue's probe dialled `+882 13…`).
//! - `+979`: International Premium Rate Service (ITU-T E.169.2).
//! - Denmark, national premium rate: `90xx xxxx` (the Danish numbering plan, SDFI
//!   "Den samlede danske nummerplan": 90 is "overtakserede tjenester") → `+4590`.
//! - Sweden, premium rate ("betalteletjänster", PTS numbering plan; listed by
//!   Telekområdgivarna): `0900`, `0939`, `0944` and the mass-calling range `099` → `+46900`,
//!   `+46939`, `+46944`, `+4699`.
//!
//! The list is configuration (E.164 prefixes as strings, `+` optional); an operator adds the
//! premium ranges of other countries it serves.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefixes refused by default, with why (module doc for the sources).
pub const DEFAULT_DENY_LIST: [(&str, Category); 10] = [
    ("870", Category::Satellite),
    ("881", Category::Satellite),
    ("882", Category::InternationalNetwork),
    ("883", Category::InternationalNetwork),
    ("979", Category::InternationalPremium),
    ("4590", Category::NationalPremium),
    ("46900", Category::NationalPremium),
    ("46939", Category::NationalPremium),
    ("46944", Category::NationalPremium),
    ("4699", Category::NationalPremium),
];

/// Most digits of an international number (ITU-T E.164 §6.1: country code + national
/// significant number ≤ 15).
pub const MAX_DIGITS: usize = 15;

/// Why a number may not be dialled. The text is fit for an API error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TollFraudError {
    /// Not a dialable number (letters, `*`/`#`, empty, too long).
    #[error("not a dialable number")]
    NotANumber,
    /// The organisation does not allow calls or forwards to numbers outside it.
    #[error("the organisation does not allow calls to numbers outside it")]
    ExternalCallsNotAllowed,
    /// The number is in a denied range and the organisation has not allow-listed it.
    #[error("calls to {category} numbers (+{prefix}…) are not allowed")]
    Denied {
        /// The deny-list prefix it matched (international digits, no `+`).
        prefix: String,
        /// What kind of range that is.
        category: Category,
    },
}

/// What kind of range a deny-list prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Satellite telephony (`+870`, `+881`).
    Satellite,
    /// ITU "International Networks" (`+882`, `+883`).
    InternationalNetwork,
    /// International premium rate (`+979`).
    InternationalPremium,
    /// A country's premium-rate range.
    NationalPremium,
    /// A prefix an operator added.
    Configured,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Satellite => "satellite",
            Category::InternationalNetwork => "international network",
            Category::InternationalPremium => "international premium-rate",
            Category::NationalPremium => "premium-rate",
            Category::Configured => "blocked",
        })
    }
}

/// How numbers are written in the organisation's country, to bring national numbers to
/// international form (`90 12 34 56` in Denmark is `+45 90 12 34 56`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberingPlan {
    /// Country calling code, digits (`45`).
    pub country_code: String,
    /// National (trunk) prefix dialled before an area code: none in Denmark's closed plan,
    /// `0` in Sweden.
    pub trunk_prefix: String,
    /// International prefix: `00` in both (ITU-T E.164 Annex, and the EU's common `00`).
    pub international_prefix: String,
}

impl NumberingPlan {
    /// Denmark: `+45`, closed 8-digit plan, no trunk prefix.
    pub fn denmark() -> Self {
        Self {
            country_code: "45".into(),
            trunk_prefix: String::new(),
            international_prefix: "00".into(),
        }
    }

    /// Sweden: `+46`, trunk prefix `0`.
    pub fn sweden() -> Self {
        Self {
            country_code: "46".into(),
            trunk_prefix: "0".into(),
            international_prefix: "00".into(),
        }
    }

    /// `number` in international form (digits, no `+`), or `None` if it is not a number.
    pub fn international(&self, number: &str) -> Option<String> {
        let trimmed = number.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' | '.' | '/' => {}
                _ => return None,
            }
        }
        let international = if plus {
            digits
        } else if let Some(rest) = digits
            .strip_prefix(self.international_prefix.as_str())
            .filter(|_| !self.international_prefix.is_empty())
        {
            rest.to_owned()
        } else if let Some(rest) = digits
            .strip_prefix(self.trunk_prefix.as_str())
            .filter(|_| !self.trunk_prefix.is_empty())
        {
            format!("{}{rest}", self.country_code)
        } else {
            format!("{}{digits}", self.country_code)
        };
        let national_part = international.len().saturating_sub(self.country_code.len());
        (!international.is_empty()
            && international.len() <= MAX_DIGITS
            && !international.starts_with('0')
            && national_part > 0)
            .then_some(international)
    }
}

/// An E.164 prefix as configured (`"+882"`, `"4590"`): digits, `+` optional.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix(String);

impl Prefix {
    /// The digits.
    pub fn digits(&self) -> &str {
        &self.0
    }

    fn matches(&self, international: &str) -> bool {
        international.starts_with(&self.0)
    }
}

/// Why a configured prefix does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an E.164 prefix (digits, optionally after +): {0:?}")]
pub struct BadPrefix(String);

impl FromStr for Prefix {
    type Err = BadPrefix;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.trim().strip_prefix('+').unwrap_or(s.trim());
        if digits.is_empty()
            || digits.len() > MAX_DIGITS
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(BadPrefix(s.chars().take(20).collect()));
        }
        Ok(Prefix(digits.to_owned()))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The ranges refused to every organisation unless it allow-lists them. Configured as a list
/// of prefixes; [`Default`] is [`DEFAULT_DENY_LIST`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyList {
    rules: Vec<(Prefix, Category)>,
}

impl DenyList {
    /// A list of `prefixes`; those of [`DEFAULT_DENY_LIST`] keep their category, others are
    /// [`Category::Configured`].
    pub fn new(prefixes: impl IntoIterator<Item = Prefix>) -> Self {
        let rules = prefixes
            .into_iter()
            .map(|p| {
                let category = DEFAULT_DENY_LIST
                    .iter()
                    .find(|(d, _)| *d == p.digits())
                    .map_or(Category::Configured, |(_, c)| *c);
                (p, category)
            })
            .collect();
        Self { rules }
    }

    /// The prefixes, as configured.
    pub fn prefixes(&self) -> impl Iterator<Item = &Prefix> {
        self.rules.iter().map(|(p, _)| p)
    }

    /// The prefixes with their category, as configured (shown to the organisation by the
    /// API, `GET /api/v1/org/toll-fraud`).
    pub fn rules(&self) -> impl Iterator<Item = (&Prefix, Category)> {
        self.rules.iter().map(|(p, c)| (p, *c))
    }

    /// The longest rule `international` starts with.
    fn matching(&self, international: &str) -> Option<&(Prefix, Category)> {
        self.rules
            .iter()
            .filter(|(p, _)| p.matches(international))
            .max_by_key(|(p, _)| p.0.len())
    }
}

impl Default for DenyList {
    fn default() -> Self {
        DenyList::new(
            DEFAULT_DENY_LIST
                .iter()
                .map(|(p, _)| Prefix((*p).to_owned())),
        )
    }
}

impl Serialize for DenyList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.prefixes())
    }
}

impl<'de> Deserialize<'de> for DenyList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(DenyList::new(Vec::<Prefix>::deserialize(deserializer)?))
    }
}

/// One organisation's side of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicy {
    /// The organisation's switch for calls and forwards to numbers outside it.
    pub external_calls_allowed: bool,
    /// Prefixes this organisation may dial although the deny-list names them.
    pub allow_list: Vec<Prefix>,
    /// How national numbers are written where the organisation is.
    pub plan: NumberingPlan,
}

impl From<&crate::number::Plan> for NumberingPlan {
    /// The same country in this module's terms (`00` is the international prefix of every
    /// country `number::Plan` knows).
    fn from(plan: &crate::number::Plan) -> Self {
        Self {
            country_code: plan.country_code.to_owned(),
            trunk_prefix: plan.trunk_prefix.map(String::from).unwrap_or_default(),
            international_prefix: "00".into(),
        }
    }
}

impl OrgPolicy {
    /// The policy of a stored organisation: its external-calls switch, its allow-list
    /// (`organisations.toll_fraud_allow_list`; an unreadable entry is skipped, never widened)
    /// and the numbering plan of its time zone.
    pub fn for_org(org: &crate::store::Organisation) -> Self {
        Self {
            external_calls_allowed: org.allow_external_forwarding,
            allow_list: org
                .toll_fraud_allow_list
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            plan: (&crate::number::Plan::for_timezone(org.timezone)).into(),
        }
    }
}

/// [`check`] for a number in its stored form (`number::normalise`: E.164 digits without the
/// `+`), as the store keeps forwards, mobiles and receptionist numbers: read as international
/// so `4520123456` is not taken for a national number and prefixed again.
pub fn check_stored(number: &str, org: &OrgPolicy, deny: &DenyList) -> Result<(), TollFraudError> {
    match number.trim().strip_prefix('+') {
        Some(_) => check(number, org, deny),
        None => check(&format!("+{}", number.trim()), org, deny),
    }
}

/// Whether the external `number` may be dialled (or stored to be dialled) for an organisation
/// with policy `org`, given the operator's `deny` list. The rules are in the module doc.
pub fn check(number: &str, org: &OrgPolicy, deny: &DenyList) -> Result<(), TollFraudError> {
    let international = org
        .plan
        .international(number)
        .ok_or(TollFraudError::NotANumber)?;
    if !org.external_calls_allowed {
        return Err(TollFraudError::ExternalCallsNotAllowed);
    }
    let Some((prefix, category)) = deny.matching(&international) else {
        return Ok(());
    };
    if org.allow_list.iter().any(|p| p.matches(&international)) {
        return Ok(());
    }
    Err(TollFraudError::Denied {
        prefix: prefix.0.clone(),
        category: *category,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(plan: NumberingPlan) -> OrgPolicy {
        OrgPolicy {
            external_calls_allowed: true,
            allow_list: Vec::new(),
            plan,
        }
    }

    fn denied(prefix: &str, category: Category) -> Result<(), TollFraudError> {
        Err(TollFraudError::Denied {
            prefix: prefix.into(),
            category,
        })
    }

    #[test]
    fn national_and_international_forms() {
        let dk = NumberingPlan::denmark();
        let se = NumberingPlan::sweden();
        assert_eq!(
            dk.international("90 12 34 56").as_deref(),
            Some("4590123456")
        );
        assert_eq!(
            dk.international("+45 2012-3456").as_deref(),
            Some("4520123456")
        );
        assert_eq!(
            dk.international("0088213000000").as_deref(),
            Some("88213000000")
        );
        assert_eq!(
            se.international("0900-123 45 67").as_deref(),
            Some("469001234567")
        );
        assert_eq!(se.international("08 123 456").as_deref(), Some("468123456"));
        assert_eq!(
            se.international("0046 8 123 456").as_deref(),
            Some("468123456")
        );
        for bad in [
            "",
            "+",
            "00",
            "12a4",
            "*21#",
            "+0045",
            "1234567890123456789",
            "sip:x",
        ] {
            assert_eq!(dk.international(bad), None, "{bad}");
        }
    }

    /// Rule 1.
    #[test]
    fn a_number_must_be_a_number() {
        let org = open(NumberingPlan::denmark());
        for bad in ["", "abc", "*88#", "+45 12 34 56 78 90 12 34 56"] {
            assert_eq!(
                check(bad, &org, &DenyList::default()),
                Err(TollFraudError::NotANumber),
                "{bad}"
            );
        }
    }

    /// Rule 2: issue #19 finding 1, the mobile number that bypassed the switch.
    #[test]
    fn the_organisation_switch_comes_first() {
        let mut org = open(NumberingPlan::denmark());
        org.external_calls_allowed = false;
        for number in ["20123456", "+4520123456", "0088213000000"] {
            assert_eq!(
                check(number, &org, &DenyList::default()),
                Err(TollFraudError::ExternalCallsNotAllowed),
                "{number}"
            );
        }
    }

    /// Rule 3: issue #19 finding 7, click-to-call to +882 went out through the trunk.
    #[test]
    fn satellite_and_international_networks_are_denied() {
        let org = open(NumberingPlan::denmark());
        let deny = DenyList::default();
        assert_eq!(
            check("0088213000000", &org, &deny),
            denied("882", Category::InternationalNetwork)
        );
        assert_eq!(
            check("+883 140 000 000", &org, &deny),
            denied("883", Category::InternationalNetwork)
        );
        assert_eq!(
            check("+8816 12345678", &org, &deny),
            denied("881", Category::Satellite)
        );
        assert_eq!(
            check("+870 773 100 000", &org, &deny),
            denied("870", Category::Satellite)
        );
        assert_eq!(
            check("+979 1234 5678", &org, &deny),
            denied("979", Category::InternationalPremium)
        );
        // Ordinary numbers pass: a Danish mobile, a Swedish landline, freephone +800.
        for ok in [
            "20 12 34 56",
            "+46 8 123 456",
            "+800 1234 5678",
            "+1 212 555 0100",
        ] {
            assert_eq!(check(ok, &org, &deny), Ok(()), "{ok}");
        }
    }

    #[test]
    fn national_premium_ranges_are_denied_as_written_locally() {
        let deny = DenyList::default();
        let dk = open(NumberingPlan::denmark());
        assert_eq!(
            check("90 12 34 56", &dk, &deny),
            denied("4590", Category::NationalPremium)
        );
        assert_eq!(
            check("+46 900 123 4567", &dk, &deny),
            denied("46900", Category::NationalPremium)
        );
        let se = open(NumberingPlan::sweden());
        for (number, prefix) in [
            ("0900-123 45 67", "46900"),
            ("0939 12 34 56", "46939"),
            ("0944 12 34 56", "46944"),
            ("099 123 45", "4699"),
            ("+45 90 12 34 56", "4590"),
        ] {
            assert_eq!(
                check(number, &se, &deny),
                denied(prefix, Category::NationalPremium),
                "{number}"
            );
        }
        // 0700 (shared rate) and 020 (freephone) in Sweden, 80 (freephone) in Denmark pass.
        assert_eq!(check("020 123 456", &se, &deny), Ok(()));
        assert_eq!(check("80 12 34 56", &dk, &deny), Ok(()));
    }

    #[test]
    fn the_organisation_allow_list_opens_a_denied_range() {
        let mut org = open(NumberingPlan::denmark());
        org.allow_list = vec!["+870".parse().unwrap()];
        let deny = DenyList::default();
        assert_eq!(check("+870 773 100 000", &org, &deny), Ok(()));
        assert_eq!(
            check("+881 6 1234 5678", &org, &deny),
            denied("881", Category::Satellite)
        );
        // The allow-list never opens the organisation switch.
        org.external_calls_allowed = false;
        assert_eq!(
            check("+870 773 100 000", &org, &deny),
            Err(TollFraudError::ExternalCallsNotAllowed)
        );
    }

    #[test]
    fn the_deny_list_is_configuration() {
        let deny: DenyList = serde_json::from_str(r#"["+882", "4790", "+4420"]"#).unwrap();
        let org = open(NumberingPlan::denmark());
        assert_eq!(
            check("+47 90 12 34 56", &org, &deny),
            denied("4790", Category::Configured)
        );
        assert_eq!(
            check("0088213000000", &org, &deny),
            denied("882", Category::InternationalNetwork)
        );
        // The defaults are not added to a configured list.
        assert_eq!(check("+979 1234 5678", &org, &deny), Ok(()));
        assert_eq!(
            serde_json::to_string(&deny).unwrap(),
            r#"["+882","+4790","+4420"]"#
        );
        for bad in [r#"["0045"]"#, r#"["+"]"#, r#"["12x"]"#] {
            assert!(serde_json::from_str::<DenyList>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DenyList::default().prefixes().count(),
            DEFAULT_DENY_LIST.len()
        );
    }

    #[test]
    fn stored_numbers_are_international() {
        let org = open(NumberingPlan::denmark());
        let deny = DenyList::default();
        assert_eq!(check_stored("4520123456", &org, &deny), Ok(()));
        assert_eq!(
            check_stored("88213000000", &org, &deny),
            denied("882", Category::InternationalNetwork)
        );
        assert_eq!(
            check_stored("4590123456", &org, &deny),
            denied("4590", Category::NationalPremium)
        );
        let se: NumberingPlan = (&crate::number::Plan::SE).into();
        assert_eq!(se, NumberingPlan::sweden());
    }
}
