//! Recognising SIP scanners by their `User-Agent`. Tools such as SIPVicious announce
//! themselves; dropping their requests silently (no 401, no 404) gives them nothing to
//! enumerate and costs us no hashing. A cheap first filter only: the ban list does the rest.

/// Substrings of `User-Agent` values sent by known scanners and toll-fraud tools, matched
/// case-insensitively. None of them occurs in a real phone's or PBX's User-Agent.
pub const DEFAULT_SCANNER_PATTERNS: &[&str] = &[
    "friendly-scanner", // SIPVicious svmap/svwar default
    "friendly-request",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipscan",
    "vaxsipuseragent", // VaxVoIP SDK, common in fraud tooling
    "vaxipuseragent",
    "iwar",
    "sundayddr",
    "sivus",
    "siparmyknife",
    "pplsip",
];

/// Whether `user_agent` contains any of `patterns`, ignoring ASCII case.
pub fn is_scanner(user_agent: &str, patterns: &[&str]) -> bool {
    let haystack = user_agent.as_bytes();
    patterns.iter().any(|pattern| {
        let needle = pattern.as_bytes();
        !needle.is_empty()
            && haystack
                .windows(needle.len())
                .any(|window| window.eq_ignore_ascii_case(needle))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scanners_are_recognised_in_any_case() {
        for user_agent in [
            "friendly-scanner",
            "Friendly-Scanner 1.0",
            "sipvicious",
            "SIPVicious/0.3.4",
            "sipcli/v1.8",
            "VaxSIPUserAgent/3.1",
            "iWar",
            "sundayddr",
            "sip-scan",
        ] {
            assert!(
                is_scanner(user_agent, DEFAULT_SCANNER_PATTERNS),
                "{user_agent}"
            );
        }
    }

    #[test]
    fn real_phones_pass() {
        for user_agent in [
            "Yealink SIP-T46S 66.86.0.15",
            "PolycomVVX-VVX_411-UA/6.4.3.5018",
            "Grandstream GXP2170 1.0.11.3",
            "snom D785/10.1.73.16",
            "Linphone/5.2.0 (belle-sip/5.2.0)",
            "Asterisk PBX 20.5.0",
            "Cisco-SIPGateway/IOS-15.x",
            "",
        ] {
            assert!(
                !is_scanner(user_agent, DEFAULT_SCANNER_PATTERNS),
                "{user_agent}"
            );
        }
    }

    #[test]
    fn custom_patterns_and_empty_pattern() {
        assert!(is_scanner("evil-bot 2", &["EVIL-BOT"]));
        assert!(
            !is_scanner("anything", &[""]),
            "an empty pattern must not match everything"
        );
        assert!(!is_scanner("ø", &["øø"]));
    }
}
