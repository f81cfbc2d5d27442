//! Which digest algorithms a challenge offers to a given phone (RFC 8760 §2.4, RFC 3261
//! §22.4).
//!
//! # Why per phone
//! RFC 8760 §2.4 has a server send one challenge per algorithm, most preferred first, and a
//! client use the first it supports. Not every phone does: baresip 1.0 (Debian bookworm) and
//! some older desk phones read only one `WWW-Authenticate`, and give up for good when that one
//! names an algorithm they lack, or when another challenge follows it. For them no order of
//! the global `sip.digest_algorithms` list works; offering MD5 alone does. Everyone else keeps
//! SHA-256 first.
//!
//! The rule is chosen by the request's `User-Agent` (a case-insensitive substring, first rule
//! wins), the only thing a phone tells us about itself before it has authenticated. A rule
//! narrows only the challenge; verification accepts any algorithm we implement, as before.

use super::DigestAlgorithm;

/// One `[[sip.digest_user_agents]]` rule: phones whose `User-Agent` contains `user_agent`
/// (ignoring ASCII case) are offered exactly `algorithms`, in that order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentAlgorithms {
    /// A fragment of the `User-Agent` header, e.g. `"baresip v1."`.
    pub user_agent: String,
    /// The algorithms offered to those phones, most preferred first.
    pub algorithms: Vec<DigestAlgorithm>,
}

/// The algorithms to offer a phone that sent `user_agent` (none when absent): those of the
/// first matching rule, else `default`.
pub fn algorithms_for<'a>(
    rules: &'a [AgentAlgorithms],
    default: &'a [DigestAlgorithm],
    user_agent: Option<&str>,
) -> &'a [DigestAlgorithm] {
    let Some(user_agent) = user_agent else {
        return default;
    };
    let haystack = user_agent.to_ascii_lowercase();
    rules
        .iter()
        .find(|rule| {
            !rule.user_agent.is_empty()
                && !rule.algorithms.is_empty()
                && haystack.contains(&rule.user_agent.to_ascii_lowercase())
        })
        .map_or(default, |rule| rule.algorithms.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<AgentAlgorithms> {
        vec![
            AgentAlgorithms {
                user_agent: "baresip v1.".into(),
                algorithms: vec![DigestAlgorithm::Md5],
            },
            AgentAlgorithms {
                user_agent: "baresip".into(),
                algorithms: vec![DigestAlgorithm::Sha256],
            },
        ]
    }

    #[test]
    fn the_first_matching_rule_wins_ignoring_case() {
        let rules = rules();
        let default = DigestAlgorithm::ALL;
        assert_eq!(
            algorithms_for(&rules, &default, Some("BareSIP v1.0.0 (x86_64/linux)")),
            &[DigestAlgorithm::Md5]
        );
        assert_eq!(
            algorithms_for(&rules, &default, Some("baresip v3.10.1 (x86_64/linux)")),
            &[DigestAlgorithm::Sha256]
        );
    }

    #[test]
    fn other_phones_and_no_user_agent_get_the_default() {
        let rules = rules();
        let default = DigestAlgorithm::ALL;
        assert_eq!(
            algorithms_for(&rules, &default, Some("Yealink SIP-T46U 108.86")),
            &default
        );
        assert_eq!(algorithms_for(&rules, &default, None), &default);
    }

    #[test]
    fn an_empty_rule_matches_nothing() {
        let rules = vec![
            AgentAlgorithms {
                user_agent: String::new(),
                algorithms: vec![DigestAlgorithm::Md5],
            },
            AgentAlgorithms {
                user_agent: "phone".into(),
                algorithms: vec![],
            },
        ];
        let default = DigestAlgorithm::ALL;
        assert_eq!(algorithms_for(&rules, &default, Some("phone")), &default);
    }
}
