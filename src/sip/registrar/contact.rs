//! Reading `Contact` (and `To`) header values and comparing URIs, for the registrar.
//!
//! rsip 0.4 parses one `name-addr` per header and fails on the comma-separated lists phones
//! send (`Contact: <sip:a@x>;q=1, <sip:b@y>;q=0.5`), and does not know the compact form `m`.
//! So the list is split here (RFC 3261 §7.3.1: commas inside quotes or `<…>` do not separate),
//! each element's URI is parsed by rsip where it can be, and the header parameters are read
//! here. rsip 0.4 cannot parse IPv6 references (`sip:alice@[2001:db8::1]`); such contacts are
//! still accepted and compared by their text.

use rsip::common::uri::Param;

/// One element of a Contact (or To) header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ContactElement {
    /// `*`: every binding of the address-of-record (REGISTER only, RFC 3261 §10.2.2).
    Wildcard,
    /// A `name-addr` or `addr-spec` with its header parameters (boxed: much larger than `*`).
    Address(Box<ContactAddress>),
}

/// A contact address: the URI (as written and parsed) and the header parameters after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContactAddress {
    /// The URI text, exactly as sent: echoed back in the 200 and stored.
    pub text: String,
    /// The parsed URI, for comparisons; `None` where rsip cannot parse it (IPv6 hosts).
    pub uri: Option<rsip::Uri>,
    /// Header parameters (`expires`, `q`, `+sip.instance`, …): lower-cased names, unquoted
    /// values.
    pub params: Vec<(String, Option<String>)>,
}

impl ContactAddress {
    /// The value of a header parameter (names are case-insensitive, RFC 3261 §7.3.1).
    pub(crate) fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref())
    }
}

/// Why a Contact/To value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ContactSyntax {
    /// A quote or `<` is never closed.
    Unterminated,
    /// An empty element (`<a>,,<b>` is tolerated; an element with nothing but parameters is
    /// not).
    Empty,
    /// The URI contains whitespace or control characters.
    BadUri,
    /// Not a `sip:` or `sips:` URI: nothing we could send a request to.
    UnsupportedScheme,
}

/// Splits a header value into its elements.
pub(super) fn parse_list(value: &str) -> Result<Vec<ContactElement>, ContactSyntax> {
    split_top_level(value, ',')?
        .into_iter()
        .map(str::trim)
        .filter(|element| !element.is_empty())
        .map(parse_element)
        .collect()
}

/// Parses one `name-addr` / `addr-spec` (or `*`) with its parameters.
pub(super) fn parse_element(element: &str) -> Result<ContactElement, ContactSyntax> {
    let element = element.trim();
    if element == "*" {
        return Ok(ContactElement::Wildcard);
    }
    let (uri_text, params_text) = match find_top_level(element, '<') {
        // name-addr: the URI is inside the angle brackets, parameters follow `>`.
        Some(open) => {
            let close = element[open..]
                .find('>')
                .map(|i| open + i)
                .ok_or(ContactSyntax::Unterminated)?;
            (&element[open + 1..close], &element[close + 1..])
        }
        // addr-spec: RFC 3261 §20.10 — parameters after the URI are header parameters, since
        // an addr-spec cannot carry `;` without angle brackets.
        None => match element.find(';') {
            Some(semicolon) => (&element[..semicolon], &element[semicolon..]),
            None => (element, ""),
        },
    };
    let uri_text = uri_text.trim();
    if uri_text.is_empty() {
        return Err(ContactSyntax::Empty);
    }
    let has_sip_scheme = ["sip:", "sips:"].iter().any(|scheme| {
        uri_text
            .get(..scheme.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    });
    if !has_sip_scheme {
        return Err(ContactSyntax::UnsupportedScheme);
    }
    // rsip parses the longest valid prefix and ignores the rest, so reject what no URI holds.
    if uri_text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ContactSyntax::BadUri);
    }
    let uri = rsip::Uri::try_from(uri_text).ok();
    let mut params = Vec::new();
    for param in split_top_level(params_text, ';')?.into_iter().skip(1) {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
            None => (param, None),
        };
        params.push((name.to_ascii_lowercase(), value));
    }
    Ok(ContactElement::Address(Box::new(ContactAddress {
        text: uri_text.to_owned(),
        uri,
        params,
    })))
}

/// Whether two URI texts designate the same contact: identical text, or equal under
/// [`uri_equivalent`] when rsip can parse both.
pub(super) fn same_uri(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (rsip::Uri::try_from(a), rsip::Uri::try_from(b)) {
        (Ok(a), Ok(b)) => uri_equivalent(&a, &b),
        _ => false,
    }
}

/// RFC 3261 §19.1.4 URI equality, the rule §10.3 step 7 uses to find an existing binding.
///
/// Scheme, user and password compare case-sensitively after unescaping; the host ignores
/// case; a port must be present in both or neither (`sip:a@h` is not `sip:a@h:5060`); the
/// `user`, `ttl`, `method`, `maddr` and `transport` parameters must match if either URI has
/// them; other parameters must match only when both have them. URI headers are not compared
/// (contacts never carry them).
pub(super) fn uri_equivalent(a: &rsip::Uri, b: &rsip::Uri) -> bool {
    let user = |uri: &rsip::Uri| uri.auth.as_ref().map(|auth| unescape(&auth.user));
    let password = |uri: &rsip::Uri| {
        uri.auth
            .as_ref()
            .and_then(|auth| auth.password.as_deref().map(unescape))
    };
    if a.scheme != b.scheme
        || user(a) != user(b)
        || password(a) != password(b)
        || !a
            .host()
            .to_string()
            .eq_ignore_ascii_case(&b.host().to_string())
        || a.port().map(|p| *p.value()) != b.port().map(|p| *p.value())
    {
        return false;
    }
    let params_a = uri_params(&a.params);
    let params_b = uri_params(&b.params);
    let find = |params: &[(String, String)], name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    for name in ["user", "ttl", "method", "maddr", "transport"] {
        let (x, y) = (find(&params_a, name), find(&params_b, name));
        match (x, y) {
            (None, None) => {}
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y) => {}
            _ => return false,
        }
    }
    params_a.iter().all(|(name, value)| {
        find(&params_b, name).is_none_or(|other| other.eq_ignore_ascii_case(value))
    })
}

/// URI parameters as (lower-case name, unescaped value) pairs, from rsip's typed list.
fn uri_params(params: &[Param]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|param| {
            // Param's Display is `;name[=value]`; going through it covers every variant.
            let text = param.to_string();
            let text = text.trim_start_matches(';');
            match text.split_once('=') {
                Some((name, value)) => (name.to_ascii_lowercase(), unescape(value)),
                None => (text.to_ascii_lowercase(), String::new()),
            }
        })
        .collect()
}

/// Resolves `%HH` escapes (RFC 3261 §19.1.4: escaped and unescaped forms are equal). Invalid
/// escapes are kept as written.
pub(super) fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let (b'%', Some(&high), Some(&low)) = (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            if let (Some(high), Some(low)) = (hex_value(high), hex_value(low)) {
                out.push(high << 4 | low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// Removes surrounding quotes and resolves `\` escapes of a quoted-string; tokens pass as is.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The elements of a comma-separated header value (Path, Route), trimmed, empty ones left
/// out; `None` when a quote or `<` is never closed.
pub(super) fn split_values(value: &str) -> Option<Vec<&str>> {
    Some(
        split_top_level(value, ',')
            .ok()?
            .into_iter()
            .map(str::trim)
            .filter(|element| !element.is_empty())
            .collect(),
    )
}

/// Splits on `separator` where it is outside quoted strings and angle brackets.
fn split_top_level(text: &str, separator: char) -> Result<Vec<&str>, ContactSyntax> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_quotes {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => in_angle = true,
            '>' => in_angle = false,
            c if c == separator && !in_angle => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if in_quotes || in_angle {
        return Err(ContactSyntax::Unterminated);
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// Position of `wanted` outside quoted strings.
fn find_top_level(text: &str, wanted: char) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_quotes {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_quotes = false,
                _ => {}
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == wanted {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(element: ContactElement) -> ContactAddress {
        match element {
            ContactElement::Address(address) => *address,
            ContactElement::Wildcard => panic!("unexpected wildcard"),
        }
    }

    #[test]
    fn splits_lists_respecting_quotes_and_brackets() {
        let list = parse_list(
            "\"Smith, J\" <sip:j@10.0.0.1:5062;transport=tcp>;expires=60;q=0.5, \
             sip:k@host;expires=20, <sip:l@h>;+sip.instance=\"<urn:uuid:1,2>\"",
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        let first = address(list[0].clone());
        assert_eq!(first.text, "sip:j@10.0.0.1:5062;transport=tcp");
        assert_eq!(first.param("expires"), Some(Some("60")));
        assert_eq!(first.param("q"), Some(Some("0.5")));
        let second = address(list[1].clone());
        assert_eq!(
            second.text, "sip:k@host",
            "addr-spec parameters belong to the header"
        );
        assert_eq!(second.param("expires"), Some(Some("20")));
        let third = address(list[2].clone());
        assert_eq!(third.param("+sip.instance"), Some(Some("<urn:uuid:1,2>")));
    }

    #[test]
    fn wildcard_and_errors() {
        assert_eq!(parse_list(" * ").unwrap(), vec![ContactElement::Wildcard]);
        assert_eq!(parse_list("<sip:a@b"), Err(ContactSyntax::Unterminated));
        assert_eq!(
            parse_list("\"open <sip:a@b>"),
            Err(ContactSyntax::Unterminated)
        );
        assert_eq!(parse_list("<>;expires=1"), Err(ContactSyntax::Empty));
        assert_eq!(
            parse_list("<not a uri>"),
            Err(ContactSyntax::UnsupportedScheme)
        );
        assert_eq!(
            parse_list("<tel:+4512345678>"),
            Err(ContactSyntax::UnsupportedScheme)
        );
        assert_eq!(
            parse_list("<sip:alice@192.0.2.1 junk>"),
            Err(ContactSyntax::BadUri)
        );
        let ipv6 = address(parse_element("<SIP:alice@[2001:db8::1]:5062>").unwrap());
        assert_eq!(
            (ipv6.text.as_str(), ipv6.uri),
            ("SIP:alice@[2001:db8::1]:5062", None)
        );
    }

    fn uri(text: &str) -> rsip::Uri {
        rsip::Uri::try_from(text).unwrap()
    }

    #[test]
    fn uri_comparison_follows_rfc3261_19_1_4() {
        let same = [
            ("sip:alice@PHONE.example", "sip:alice@phone.example"),
            ("sip:%61lice@h", "sip:alice@h"),
            ("sip:a@h;transport=TCP", "sip:a@h;transport=tcp"),
            ("sip:a@h;foo=1", "sip:a@h"),
            ("sip:a@h;foo=1;bar=2", "sip:a@h;bar=2"),
        ];
        for (x, y) in same {
            assert!(uri_equivalent(&uri(x), &uri(y)), "{x} == {y}");
            assert!(uri_equivalent(&uri(y), &uri(x)), "{y} == {x}");
        }
        let different = [
            ("sip:Alice@h", "sip:alice@h"),
            ("sip:a@h", "sip:a@h:5060"),
            ("sip:a@h", "sips:a@h"),
            ("sip:a@h;transport=tcp", "sip:a@h"),
            ("sip:a@h;foo=1", "sip:a@h;foo=2"),
            ("sip:a@10.0.0.1:5060", "sip:a@10.0.0.1:5062"),
        ];
        for (x, y) in different {
            assert!(!uri_equivalent(&uri(x), &uri(y)), "{x} != {y}");
            assert!(!uri_equivalent(&uri(y), &uri(x)), "{y} != {x}");
        }
    }

    #[test]
    fn same_uri_falls_back_to_text() {
        assert!(same_uri("sip:a@[2001:db8::1]", "sip:a@[2001:db8::1]"));
        assert!(!same_uri("sip:a@[2001:db8::1]", "sip:a@[2001:db8::2]"));
        assert!(same_uri("sip:a@H", "sip:a@h"));
    }

    #[test]
    fn unescape_is_total() {
        assert_eq!(unescape("Bob%41"), "BobA");
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%4"), "%4");
        assert_eq!(unescape("%zz"), "%zz");
        assert_eq!(unescape("%C3%B8"), "ø");
        assert_eq!(
            unescape("%aø"),
            "%aø",
            "no slicing inside a multi-byte character"
        );
    }
}
