//! Reading vCards: the files Outlook, Apple Contacts, Google and most CRMs export for the
//! shared phonebook import, and the answer format of an external directory that speaks vCard.
//! Versions 4.0 (RFC 6350) and 3.0 (RFC 2426); 2.1's quoted-printable values (what older
//! Outlook writes) are decoded too, since the rest of a 2.1 card reads the same.
//!
//! - Unfolding, RFC 6350 §3.2: "a long line can be split between any two characters by
//!   inserting a CRLF immediately followed by a single white space character"; unfolding
//!   removes the CRLF and that one character. Bare LF line ends are accepted as well.
//! - Escaping, RFC 6350 §3.4: in a value, `\\`, `\,`, `\;` and `\n`/`\N` stand for a backslash,
//!   comma, semicolon and newline; `;` separates the components of a structured value (`N`,
//!   `ORG`) and is split on before unescaping, so `ORG:Hansen\; Søn;Workshop` is one company.
//! - Parameters, RFC 6350 §5: `NAME=v1,v2`, double-quoted values may hold `:`, `;` and `,`,
//!   and RFC 6868 `^n`, `^^`, `^'` are decoded; 2.1's bare `TEL;WORK;VOICE:` is read as TYPE.
//!
//! Each card is its own result, so one broken card is reported by its line and the rest of
//! the file still imports.

/// A parameter of a property: upper-case name, its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Upper-cased name (`TYPE`, `VALUE`, `ENCODING`, ...).
    pub name: String,
    /// Values, unquoted and RFC 6868-decoded.
    pub values: Vec<String>,
}

/// One content line after unfolding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Upper-cased name, group removed (`item1.TEL` is `TEL`).
    pub name: String,
    /// Its parameters.
    pub params: Vec<Param>,
    /// The value as written (still escaped; quoted-printable already decoded).
    pub raw: String,
}

/// One `BEGIN:VCARD` … `END:VCARD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// The line (1-based) of its `BEGIN:VCARD`, for the import report.
    pub line: usize,
    /// Its `VERSION`, if given.
    pub version: Option<String>,
    /// Every other property, in order.
    pub properties: Vec<Property>,
}

/// A card that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CardError {
    /// The line (1-based) where the problem is.
    pub line: usize,
    /// What is wrong.
    pub reason: CardProblem,
}

/// What is wrong with a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardProblem {
    /// `BEGIN:VCARD` with no `END:VCARD` before the next card or the end of the file.
    #[error("BEGIN:VCARD without END:VCARD")]
    Unterminated,
    /// A content line without `:` between name and value.
    #[error("a line without ':' ({0})")]
    NoColon(String),
    /// A version this reader does not know.
    #[error("unsupported vCard version {0}")]
    Version(String),
    /// Text outside any card (not whitespace).
    #[error("text outside BEGIN:VCARD … END:VCARD")]
    Outside,
}

impl Property {
    /// The first value of parameter `name` (upper-case).
    pub fn param<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |p| p.name == name)
            .flat_map(|p| p.values.iter().map(String::as_str))
    }

    /// The value as text, unescaped (§3.4).
    pub fn text(&self) -> String {
        unescape(&self.raw)
    }

    /// The components of a structured value (`N`, `ORG`), each unescaped.
    pub fn components(&self) -> Vec<String> {
        split_unescaped(&self.raw, ';')
            .into_iter()
            .map(|c| unescape(&c))
            .collect()
    }

    /// The `TYPE` values, lower-cased (`work`, `cell`, `voice`, `fax`, ...).
    pub fn types(&self) -> Vec<String> {
        self.param("TYPE")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

impl Card {
    /// Every property called `name` (upper-case).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> {
        self.properties.iter().filter(move |p| p.name == name)
    }

    /// The first property called `name`, as text, trimmed, if not empty.
    pub fn first_text(&self, name: &str) -> Option<String> {
        self.all(name)
            .map(|p| p.text().trim().to_owned())
            .find(|t| !t.is_empty())
    }

    /// The company: the first component of `ORG`.
    pub fn organisation(&self) -> Option<String> {
        self.all("ORG")
            .filter_map(|p| p.components().into_iter().next())
            .map(|c| c.trim().to_owned())
            .find(|c| !c.is_empty())
    }

    /// The name to show: `FN`, else `N` as "given additional family", else the company.
    pub fn display_name(&self) -> Option<String> {
        if let Some(name) = self.first_text("FN") {
            return Some(name);
        }
        if let Some(n) = self.all("N").next() {
            // N: family; given; additional; prefixes; suffixes (RFC 6350 §6.2.2).
            let c = n.components();
            let part = |i: usize| c.get(i).map(|s| s.trim()).unwrap_or_default();
            let name = [part(3), part(1), part(2), part(0), part(4)]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if !name.is_empty() {
                return Some(name);
            }
        }
        self.organisation()
    }
}

/// Reads every card of `text`; each is a card or the reason it is not.
pub fn parse(text: &str) -> Vec<Result<Card, CardError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut current: Option<(Card, bool)> = None;
    let mut outside_reported = false;
    for (line, content) in unfold(text) {
        if content.trim().is_empty() {
            continue;
        }
        let property = parse_line(&content);
        let Some((card, broken)) = current.as_mut() else {
            match &property {
                Ok(p) if p.name == "BEGIN" && p.raw.trim().eq_ignore_ascii_case("VCARD") => {
                    current = Some((
                        Card {
                            line,
                            version: None,
                            properties: Vec::new(),
                        },
                        false,
                    ));
                }
                _ if !outside_reported => {
                    outside_reported = true;
                    out.push(Err(CardError {
                        line,
                        reason: CardProblem::Outside,
                    }));
                }
                _ => {}
            }
            continue;
        };
        let property = match property {
            Ok(p) => p,
            Err(reason) => {
                if !*broken {
                    *broken = true;
                    out.push(Err(CardError { line, reason }));
                }
                continue;
            }
        };
        match property.name.as_str() {
            "BEGIN" => {
                // A new card before this one ended: this one is cut off.
                if !*broken {
                    out.push(Err(CardError {
                        line: card.line,
                        reason: CardProblem::Unterminated,
                    }));
                }
                current = Some((
                    Card {
                        line,
                        version: None,
                        properties: Vec::new(),
                    },
                    false,
                ));
            }
            "END" => {
                if let Some((card, broken)) = current.take() {
                    if !broken {
                        out.push(check_version(card));
                    }
                }
            }
            "VERSION" => card.version = Some(property.raw.trim().to_owned()),
            _ => card.properties.push(property),
        }
    }
    if let Some((card, broken)) = current {
        if !broken {
            out.push(Err(CardError {
                line: card.line,
                reason: CardProblem::Unterminated,
            }));
        }
    }
    out
}

fn check_version(card: Card) -> Result<Card, CardError> {
    match card.version.as_deref() {
        None | Some("2.1" | "3.0" | "4.0") => Ok(card),
        Some(other) => Err(CardError {
            line: card.line,
            reason: CardProblem::Version(other.chars().take(10).collect()),
        }),
    }
}

/// Logical lines with the number of their first physical line (§3.2), joining 2.1's
/// quoted-printable soft line breaks (`=` at the end) as well.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut soft_break = false;
    for (i, physical) in text.split('\n').enumerate() {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        if let (Some(last), true) = (out.last_mut(), soft_break) {
            last.1.push_str(physical);
        } else if let (Some(last), Some(rest)) = (
            out.last_mut(),
            physical
                .strip_prefix(' ')
                .or_else(|| physical.strip_prefix('\t')),
        ) {
            last.1.push_str(rest);
        } else {
            out.push((i + 1, physical.to_owned()));
        }
        soft_break = out.last().is_some_and(|(_, l)| {
            l.ends_with('=') && l.to_ascii_uppercase().contains("QUOTED-PRINTABLE")
        });
        if soft_break {
            if let Some(last) = out.last_mut() {
                last.1.pop();
            }
        }
    }
    out
}

/// `[group.]name *(;param) : value`.
fn parse_line(line: &str) -> Result<Property, CardProblem> {
    let colon = find_unquoted(line, ':')
        .ok_or_else(|| CardProblem::NoColon(line.chars().take(30).collect()))?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_quoted(head, ';').into_iter();
    let name = parts.next().unwrap_or_default();
    let name = name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    let mut params = Vec::new();
    for part in parts {
        let (key, values) = match part.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_uppercase(), v.to_owned()),
            // vCard 2.1: `TEL;WORK;VOICE:` — bare words are types.
            None => ("TYPE".to_owned(), part.clone()),
        };
        let values = split_quoted(&values, ',')
            .into_iter()
            .map(|v| caret_decode(v.trim().trim_matches('"')))
            .collect();
        params.push(Param { name: key, values });
    }
    let mut property = Property {
        name,
        params,
        raw: value.to_owned(),
    };
    if property
        .param("ENCODING")
        .any(|e| e.eq_ignore_ascii_case("QUOTED-PRINTABLE"))
    {
        property.raw = quoted_printable(&property.raw);
    }
    Ok(property)
}

/// The byte index of the first `c` outside double quotes.
fn find_unquoted(s: &str, c: char) -> Option<usize> {
    let mut quoted = false;
    for (i, ch) in s.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            ch if ch == c && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Splits on `sep` outside double quotes.
fn split_quoted(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in s.chars() {
        match ch {
            ch if ch == sep && !quoted => out.push(String::new()),
            ch => {
                if ch == '"' {
                    quoted = !quoted;
                }
                if let Some(last) = out.last_mut() {
                    last.push(ch);
                }
            }
        }
    }
    out
}

/// Splits on `sep` not preceded by an escaping backslash; the parts stay escaped.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch == sep {
            out.push(String::new());
            continue;
        }
        let Some(last) = out.last_mut() else {
            continue;
        };
        last.push(ch);
        if ch == '\\' {
            if let Some(next) = chars.next() {
                last.push(next);
            }
        }
    }
    out
}

/// RFC 6350 §3.4 unescaping.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            // `\\`, `\,`, `\;`, and (3.0 writers) `\:`: the character itself.
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// RFC 6868 parameter value decoding: `^n` newline, `^^` caret, `^'` double quote.
fn caret_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, chars.peek()) {
            ('^', Some('n')) => {
                chars.next();
                out.push('\n');
            }
            ('^', Some('^')) => {
                chars.next();
                out.push('^');
            }
            ('^', Some('\'')) => {
                chars.next();
                out.push('"');
            }
            _ => out.push(ch),
        }
    }
    out
}

/// vCard 2.1 quoted-printable (RFC 2045 §6.7) to text: UTF-8 when the bytes are UTF-8, else
/// Latin-1 (what a 2.1 writer without CHARSET meant).
fn quoted_printable(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out.clone()).unwrap_or_else(|_| out.iter().map(|&b| char::from(b)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_lines_are_unfolded_by_removing_crlf_and_one_space() {
        // RFC 6350 §3.2's own example: the note reads as one line.
        let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nNOTE:This is a long description\r\n  that exists o\r\n n a long line.\r\nFN:A\r\nEND:VCARD\r\n";
        let cards = parse(text);
        let card = cards[0].as_ref().unwrap();
        assert_eq!(
            card.first_text("NOTE").unwrap(),
            "This is a long description that exists on a long line."
        );
    }

    #[test]
    fn escapes_and_structured_values() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nN:Hansen;Jens;Peter;Dr.;\nORG:Hansen\\; Søn\\, VVS;Værksted\nNOTE:Line one\\nline two\\\\end\nEND:VCARD\n";
        let card = parse(text).remove(0).unwrap();
        assert_eq!(card.display_name().unwrap(), "Dr. Jens Peter Hansen");
        assert_eq!(card.organisation().unwrap(), "Hansen; Søn, VVS");
        assert_eq!(card.first_text("NOTE").unwrap(), "Line one\nline two\\end");
    }

    #[test]
    fn parameters_quoted_grouped_and_bare() {
        let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\nitem1.TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+45-22-33-44-55\r\nTEL;TYPE=cell:+4520304050\r\nLABEL;X-NOTE=\"a:b;c\":x\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nN:Jensen;Ole\r\nTEL;WORK;VOICE:70 10 00 02\r\nNOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:K=C3=B8b =\r\nhos os\r\nEND:VCARD\r\n";
        let cards: Vec<Card> = parse(text).into_iter().map(Result::unwrap).collect();
        let tels: Vec<_> = cards[0].all("TEL").collect();
        assert_eq!(tels[0].types(), vec!["work", "voice"]);
        assert_eq!(tels[0].raw, "tel:+45-22-33-44-55");
        assert_eq!(tels[1].types(), vec!["cell"]);
        assert_eq!(cards[0].all("LABEL").next().unwrap().raw, "x");
        assert_eq!(cards[1].display_name().unwrap(), "Ole Jensen");
        let tel = cards[1].all("TEL").next().unwrap();
        assert_eq!(tel.types(), vec!["work", "voice"]);
        assert_eq!(cards[1].first_text("NOTE").unwrap(), "Køb hos os");
    }

    #[test]
    fn broken_cards_are_reported_by_line_and_the_rest_read() {
        let text = "BEGIN:VCARD\nVERSION:4.0\nFN:One\nthis line has no colon\nEND:VCARD\nBEGIN:VCARD\nVERSION:5.0\nFN:Two\nEND:VCARD\nBEGIN:VCARD\nFN:Three\nBEGIN:VCARD\nFN:Four\nEND:VCARD\nBEGIN:VCARD\nFN:Five\n";
        let out = parse(text);
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(out[0].as_ref().unwrap_err().line, 4);
        assert!(matches!(
            out[0].as_ref().unwrap_err().reason,
            CardProblem::NoColon(_)
        ));
        assert_eq!(
            out[1].as_ref().unwrap_err().reason,
            CardProblem::Version("5.0".into())
        );
        assert_eq!(
            out[2].as_ref().unwrap_err(),
            &CardError {
                line: 10,
                reason: CardProblem::Unterminated
            }
        );
        assert_eq!(out[3].as_ref().unwrap().display_name().unwrap(), "Four");
        assert_eq!(out[4].as_ref().unwrap_err().line, 15);
    }
}
