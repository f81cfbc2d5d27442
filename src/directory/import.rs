//! From an exported file to shared contacts and a report: what a receptionist uploads (API)
//! or an administrator hands the CLI. vCard 3.0/4.0 (and 2.1) through [`super::vcard`];
//! CSV through [`super::csv`] with its header row mapped to our fields — Outlook's export
//! headers ("First Name", "Business Phone", "Mobile Phone", ...), the usual generic ones
//! ("Name", "Company", "Phone", "Mobile", "E-mail", "Note") in English, Danish and Swedish,
//! or columns named explicitly ([`ColumnMap`]).
//!
//! Every number is normalised with the organisation's plan (`crate::number`), so "22 33 44 55",
//! "+45 22334455" and "004522334455" are one number. A record is rejected, with its line and
//! record number and the reason, when it has no name, no number, or a number that is not one;
//! the others are imported. Fax numbers are left out: a fax never calls.

use serde::Serialize;

use super::{csv, vcard};
use crate::number::{self, Plan};
use crate::store::{ContactNumber, ImportCounts, NumberKind, OrgId, SharedContactData};

/// Most records one file may hold.
pub const MAX_RECORDS: usize = 20_000;
/// Longest name, company or e-mail kept.
pub const MAX_FIELD_CHARS: usize = 200;
/// Longest note kept.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// vCard (`BEGIN:VCARD`).
    Vcard,
    /// CSV with a header row.
    Csv,
}

/// A field of a shared contact a CSV column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The whole name.
    Name,
    /// Given name.
    FirstName,
    /// Middle name.
    MiddleName,
    /// Family name.
    LastName,
    /// Company.
    Company,
    /// E-mail.
    Email,
    /// A number of this kind.
    Number(NumberKind),
    /// Note.
    Note,
}

impl Field {
    /// The field named in an explicit mapping (`name`, `work`, `mobile`, ...).
    pub fn from_key(key: &str) -> Option<Field> {
        Some(match key.trim().to_ascii_lowercase().as_str() {
            "name" => Field::Name,
            "first_name" => Field::FirstName,
            "middle_name" => Field::MiddleName,
            "last_name" => Field::LastName,
            "company" => Field::Company,
            "email" => Field::Email,
            "work" => Field::Number(NumberKind::Work),
            "mobile" => Field::Number(NumberKind::Mobile),
            "home" => Field::Number(NumberKind::Home),
            "other" => Field::Number(NumberKind::Other),
            "note" => Field::Note,
            _ => return None,
        })
    }

    /// The field a known header names (case-insensitive), if any.
    fn from_header(header: &str) -> Option<Field> {
        let h = header.trim().to_lowercase();
        let work = Field::Number(NumberKind::Work);
        let mobile = Field::Number(NumberKind::Mobile);
        let home = Field::Number(NumberKind::Home);
        let other = Field::Number(NumberKind::Other);
        Some(match h.as_str() {
            "name" | "full name" | "display name" | "contact" | "navn" | "fulde navn" | "namn"
            | "kontakt" => Field::Name,
            "first name" | "given name" | "fornavn" | "förnamn" => Field::FirstName,
            "middle name" | "mellemnavn" | "mellannamn" => Field::MiddleName,
            "last name" | "family name" | "surname" | "efternavn" | "efternamn" => Field::LastName,
            "company" | "organization" | "organisation" | "firma" | "virksomhed" | "företag" => {
                Field::Company
            }
            "e-mail address" | "e-mail" | "email" | "email address" | "mail" | "e-mail-adresse"
            | "mailadresse" | "e-postadress" | "e-post" => Field::Email,
            "business phone" | "business phone 2" | "company main phone" | "primary phone"
            | "phone" | "telephone" | "work phone" | "work" | "telefon" | "arbejdstelefon"
            | "firmatelefon" | "arbetstelefon" | "tlf" | "tlf." => work,
            "mobile phone" | "mobile" | "cell" | "cell phone" | "mobil" | "mobiltelefon"
            | "mobilnummer" => mobile,
            "home phone" | "home phone 2" | "home" | "privattelefon" | "hjemmetelefon"
            | "hemtelefon" => home,
            "other phone" | "car phone" | "assistant's phone" | "callback" | "radio phone"
            | "anden telefon" | "annan telefon" => other,
            "notes" | "note" | "noter" | "bemærkninger" | "anteckningar" => Field::Note,
            _ => return None,
        })
    }
}

/// Explicitly named CSV columns (`work=Tlf` says the column headed "Tlf" is the work
/// number); they come before the known headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap(pub Vec<(Field, String)>);

impl ColumnMap {
    /// Parses `field=Header` pairs separated by `;` (`name=Kunde;work=Tlf`).
    pub fn parse(text: &str) -> Result<ColumnMap, ImportError> {
        let mut out = Vec::new();
        for pair in text.split(';').filter(|p| !p.trim().is_empty()) {
            let (key, header) = pair
                .split_once('=')
                .ok_or_else(|| ImportError::Mapping(pair.trim().to_owned()))?;
            let field =
                Field::from_key(key).ok_or_else(|| ImportError::Mapping(key.trim().to_owned()))?;
            out.push((field, header.trim().to_owned()));
        }
        Ok(ColumnMap(out))
    }
}

/// Why a record was left out, for a client to say in its own language (`reason` says it in
/// English, with the detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Neither a name nor a company.
    NoName,
    /// No telephone number (faxes do not count).
    NoNumber,
    /// A number that is not one.
    BadNumber,
    /// A vCard that could not be read (no END, a line without ':', an unknown version).
    Unreadable,
}

/// A record left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The file line the record starts on (1-based).
    pub line: usize,
    /// Its number among the file's records (1-based; the CSV header is not one).
    pub record: usize,
    /// Its name, when it has one, so the receptionist finds it.
    pub name: Option<String>,
    /// What is wrong, as a code.
    pub code: RejectCode,
    /// What is wrong, in words (English), with the offending value.
    pub reason: String,
}

/// What reading a file gave.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// vCard or CSV.
    pub format: ImportFormat,
    /// Records read (accepted + rejected).
    pub records: usize,
    /// The contacts to store, in file order.
    pub contacts: Vec<SharedContactData>,
    /// The records left out.
    pub rejected: Vec<Rejected>,
}

/// The import's answer: what was read, stored and left out.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// vCard or CSV.
    pub format: ImportFormat,
    /// Records in the file.
    pub records: usize,
    /// Contacts added.
    pub added: u32,
    /// Contacts equal to one already there, not added again.
    pub duplicates: u32,
    /// Contacts removed first (replace mode).
    pub removed: u32,
    /// Records left out, with line, record number and reason.
    pub rejected: Vec<Rejected>,
}

impl ImportReport {
    /// The report of `parsed` once the store wrote it.
    pub fn new(parsed: Parsed, counts: ImportCounts) -> ImportReport {
        ImportReport {
            format: parsed.format,
            records: parsed.records,
            added: counts.added,
            duplicates: counts.duplicates,
            removed: counts.removed,
            rejected: parsed.rejected,
        }
    }
}

/// Why a whole file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Not text in an encoding an export uses.
    #[error("the file is not text (UTF-8, UTF-16 with a byte-order mark, or Windows-1252)")]
    NotText,
    /// The CSV could not be read.
    #[error("{0}")]
    Csv(#[from] csv::CsvError),
    /// No column gives a name.
    #[error("no name column: the header needs Name, First Name/Last Name or Company (found: {0})")]
    NoNameColumn(String),
    /// No column gives a number.
    #[error("no number column: the header needs Phone, Business Phone, Mobile, ... (found: {0})")]
    NoNumberColumn(String),
    /// An explicit mapping names an unknown field or has no `=`.
    #[error("column mapping {0:?}: use field=Header with field one of name, first_name, middle_name, last_name, company, email, work, mobile, home, other, note")]
    Mapping(String),
    /// An explicit mapping names a header the file does not have.
    #[error("column {0:?} is not in the file's header")]
    MissingColumn(String),
    /// More than [`MAX_RECORDS`].
    #[error("more than {MAX_RECORDS} records")]
    TooMany,
    /// Nothing in it.
    #[error("the file holds no contacts")]
    Empty,
}

/// Reads `bytes` (vCard or CSV, told apart by `BEGIN:VCARD`) into contacts of `org`, numbers
/// normalised with `plan`; `columns` names CSV columns explicitly.
pub fn parse_file(
    bytes: &[u8],
    org: OrgId,
    plan: &Plan,
    columns: &ColumnMap,
) -> Result<Parsed, ImportError> {
    let text = decode(bytes)?;
    let text = text.as_str();
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if body.is_empty() {
        return Err(ImportError::Empty);
    }
    let parsed = if body
        .get(..11)
        .is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCARD"))
    {
        from_vcards(text, org, plan)?
    } else {
        from_csv(text, org, plan, columns)?
    };
    if parsed.records == 0 {
        return Err(ImportError::Empty);
    }
    Ok(parsed)
}

/// The file as text. Exports come as UTF-8 (vCard 4.0 requires it), UTF-16 with a byte-order
/// mark (Outlook's and Excel's "Unicode" exports), or — Danish and Swedish Excel's "CSV
/// (semicolon separated)" — Windows-1252, where "Søren" is `53 F8 72 65 6E`: not UTF-8, so
/// that is the fallback.
fn decode(bytes: &[u8]) -> Result<String, ImportError> {
    let utf16 = |big_endian: bool| {
        let rest = &bytes[2..];
        if !rest.len().is_multiple_of(2) {
            return Err(ImportError::NotText);
        }
        let units = rest.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| ImportError::NotText)
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(false),
        [0xFE, 0xFF, ..] => utf16(true),
        _ => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => Ok(bytes.iter().map(|&b| windows_1252(b)).collect()),
        },
    }
}

/// One Windows-1252 byte as a character: Latin-1, except 0x80–0x9F, which hold the euro sign,
/// typographic quotes and dashes (the five unassigned bytes map to their C1 controls).
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// A contact being assembled from one record.
#[derive(Default)]
struct Draft {
    name: String,
    first: Vec<String>,
    company: Option<String>,
    email: Option<String>,
    note: Option<String>,
    numbers: Vec<(NumberKind, String, String)>,
}

impl Draft {
    /// The contact, or the reason it is rejected.
    fn finish(
        self,
        org: OrgId,
        plan: &Plan,
    ) -> Result<SharedContactData, (Option<String>, RejectCode, String)> {
        let mut name = clip(&self.name, MAX_FIELD_CHARS);
        if name.is_empty() {
            name = clip(&self.first.join(" "), MAX_FIELD_CHARS);
        }
        let company = self
            .company
            .map(|c| clip(&c, MAX_FIELD_CHARS))
            .filter(|c| !c.is_empty());
        if name.is_empty() {
            // A company-only record (a supplier's switchboard) is named by its company.
            name = company.clone().unwrap_or_default();
        }
        let shown = Some(name.clone()).filter(|n| !n.is_empty());
        if name.is_empty() {
            return Err((None, RejectCode::NoName, "no name".to_owned()));
        }
        let mut numbers: Vec<ContactNumber> = Vec::new();
        for (kind, label, typed) in self.numbers {
            let normalised = number::normalise(&typed, plan).map_err(|e| {
                let typed: String = typed.chars().take(40).collect();
                (
                    shown.clone(),
                    RejectCode::BadNumber,
                    format!("{label} {typed:?} is not a telephone number: {e}"),
                )
            })?;
            if !numbers.iter().any(|n| n.number == normalised) {
                numbers.push(ContactNumber {
                    kind,
                    number: normalised,
                });
            }
        }
        if numbers.is_empty() {
            return Err((
                shown,
                RejectCode::NoNumber,
                "no telephone number".to_owned(),
            ));
        }
        Ok(SharedContactData {
            org_id: org,
            name,
            company,
            email: self
                .email
                .map(|e| clip(&e, MAX_FIELD_CHARS))
                .filter(|e| !e.is_empty()),
            note: self
                .note
                .map(|n| clip(&n, MAX_NOTE_CHARS))
                .filter(|n| !n.is_empty()),
            numbers,
        })
    }
}

/// Trimmed, control characters other than newlines dropped, at most `max` characters.
fn clip(text: &str, max: usize) -> String {
    text.trim()
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Records become contacts or rejections.
fn collect(
    format: ImportFormat,
    drafts: Vec<(usize, Result<Draft, String>)>,
    org: OrgId,
    plan: &Plan,
) -> Parsed {
    let mut parsed = Parsed {
        format,
        records: drafts.len(),
        contacts: Vec::new(),
        rejected: Vec::new(),
    };
    for (index, (line, draft)) in drafts.into_iter().enumerate() {
        let result = draft
            .map_err(|reason| (None, RejectCode::Unreadable, reason))
            .and_then(|d| d.finish(org, plan));
        match result {
            Ok(contact) => parsed.contacts.push(contact),
            Err((name, code, reason)) => parsed.rejected.push(Rejected {
                line,
                record: index + 1,
                name,
                code,
                reason,
            }),
        }
    }
    parsed
}

fn from_vcards(text: &str, org: OrgId, plan: &Plan) -> Result<Parsed, ImportError> {
    let cards = vcard::parse(text);
    if cards.len() > MAX_RECORDS {
        return Err(ImportError::TooMany);
    }
    let drafts = cards
        .into_iter()
        .map(|card| match card {
            Err(e) => (e.line, Err(e.reason.to_string())),
            Ok(card) => (card.line, Ok(draft_of_card(&card))),
        })
        .collect();
    Ok(collect(ImportFormat::Vcard, drafts, org, plan))
}

fn draft_of_card(card: &vcard::Card) -> Draft {
    let mut draft = Draft {
        name: card.display_name().unwrap_or_default(),
        company: card.organisation(),
        email: card.first_text("EMAIL"),
        note: card.first_text("NOTE"),
        ..Draft::default()
    };
    for tel in card.all("TEL") {
        let types = tel.types();
        if types.iter().any(|t| t == "fax") {
            continue;
        }
        let kind = if types.iter().any(|t| t == "cell" || t == "mobile") {
            NumberKind::Mobile
        } else if types.iter().any(|t| t == "work") {
            NumberKind::Work
        } else if types.iter().any(|t| t == "home") {
            NumberKind::Home
        } else {
            NumberKind::Other
        };
        // vCard 4.0 writes TEL as a tel: URI (RFC 3966): drop the scheme and any ";ext=".
        let value = tel.text();
        let value = value.trim();
        let value = value
            .strip_prefix("tel:")
            .or_else(|| value.strip_prefix("TEL:"))
            .unwrap_or(value);
        let value = value.split(';').next().unwrap_or_default().trim();
        if !value.is_empty() {
            draft
                .numbers
                .push((kind, "TEL".to_owned(), value.to_owned()));
        }
    }
    draft
}

fn from_csv(
    text: &str,
    org: OrgId,
    plan: &Plan,
    columns: &ColumnMap,
) -> Result<Parsed, ImportError> {
    let mut records = csv::parse(text)?.into_iter();
    let header = records.next().ok_or(ImportError::Empty)?;
    let mut fields: Vec<Option<Field>> = header
        .fields
        .iter()
        .map(|h| Field::from_header(h))
        .collect();
    for (field, name) in &columns.0 {
        let index = header
            .fields
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| ImportError::MissingColumn(name.clone()))?;
        fields[index] = Some(*field);
    }
    let found = || {
        header
            .fields
            .iter()
            .map(|h| h.trim())
            .collect::<Vec<_>>()
            .join(", ")
            .chars()
            .take(300)
            .collect::<String>()
    };
    let has = |f: fn(&Field) -> bool| fields.iter().flatten().any(f);
    if !has(|f| {
        matches!(
            f,
            Field::Name | Field::FirstName | Field::LastName | Field::Company
        )
    }) {
        return Err(ImportError::NoNameColumn(found()));
    }
    if !has(|f| matches!(f, Field::Number(_))) {
        return Err(ImportError::NoNumberColumn(found()));
    }
    let records: Vec<csv::Record> = records.collect();
    if records.len() > MAX_RECORDS {
        return Err(ImportError::TooMany);
    }
    let drafts = records
        .into_iter()
        .map(|record| {
            let mut draft = Draft::default();
            let (mut first, mut middle, mut last) = (None, None, None);
            for (index, value) in record.fields.iter().enumerate() {
                let value = value.trim();
                let Some(Some(field)) = fields.get(index) else {
                    continue;
                };
                if value.is_empty() {
                    continue;
                }
                match field {
                    Field::Name => draft.name = value.to_owned(),
                    Field::FirstName => first = Some(value.to_owned()),
                    Field::MiddleName => middle = Some(value.to_owned()),
                    Field::LastName => last = Some(value.to_owned()),
                    Field::Company => draft.company = Some(value.to_owned()),
                    Field::Email => draft.email = Some(value.to_owned()),
                    Field::Note => draft.note = Some(value.to_owned()),
                    Field::Number(kind) => {
                        let label = header.fields.get(index).map_or("", |h| h.trim());
                        draft
                            .numbers
                            .push((*kind, label.to_owned(), value.to_owned()));
                    }
                }
            }
            draft.first = [first, middle, last].into_iter().flatten().collect();
            (record.line, Ok(draft))
        })
        .collect();
    Ok(collect(ImportFormat::Csv, drafts, org, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: OrgId = OrgId(1);

    fn parse(text: &str) -> Parsed {
        parse_file(text.as_bytes(), ORG, &Plan::DK, &ColumnMap::default()).unwrap()
    }

    #[test]
    fn an_outlook_csv_export_is_read_with_its_headers() {
        let text = "\u{feff}\"First Name\",\"Middle Name\",\"Last Name\",\"Company\",\"E-mail Address\",\"Business Phone\",\"Business Fax\",\"Mobile Phone\",\"Notes\"\r\n\
                    \"Jens\",\"\",\"Jensen\",\"VVS ApS\",\"jens@vvs.example\",\"+45 22 33 44 55\",\"+45 22 33 44 56\",\"20304050\",\"Ring efter kl. 8\"\r\n\
                    \"\",\"\",\"\",\"Tømrer & Co\",\"\",\"70 10 20 30\",\"\",\"\",\"\"\r\n\
                    \"Ole\",\"\",\"Uden Nummer\",\"\",\"\",\"\",\"\",\"\",\"\"\r\n\
                    \"Bad\",\"\",\"Number\",\"\",\"\",\"22 33 ab\",\"\",\"\",\"\"\r\n";
        let parsed = parse(text);
        assert_eq!(parsed.format, ImportFormat::Csv);
        assert_eq!(parsed.records, 4);
        assert_eq!(parsed.contacts.len(), 2);
        let jens = &parsed.contacts[0];
        assert_eq!(jens.name, "Jens Jensen");
        assert_eq!(jens.company.as_deref(), Some("VVS ApS"));
        assert_eq!(
            jens.numbers,
            vec![
                ContactNumber {
                    kind: NumberKind::Work,
                    number: "4522334455".into()
                },
                ContactNumber {
                    kind: NumberKind::Mobile,
                    number: "4520304050".into()
                },
            ],
            "normalised, and the fax left out"
        );
        assert_eq!(parsed.contacts[1].name, "Tømrer & Co");
        assert_eq!(
            parsed.rejected,
            vec![
                Rejected {
                    line: 4,
                    record: 3,
                    name: Some("Ole Uden Nummer".into()),
                    code: RejectCode::NoNumber,
                    reason: "no telephone number".into()
                },
                Rejected {
                    line: 5,
                    record: 4,
                    name: Some("Bad Number".into()),
                    code: RejectCode::BadNumber,
                    reason: "Business Phone \"22 33 ab\" is not a telephone number: 'a' is not \
                             part of a telephone number"
                        .into()
                },
            ]
        );
    }

    #[test]
    fn a_generic_csv_with_named_columns_and_semicolons() {
        let text = "Kunde;Tlf;Bemærkning\nHansen VVS;22 33 44 55;Hovednummer\n;11223344;\n";
        let columns = ColumnMap::parse("name=Kunde; work=Tlf").unwrap();
        let parsed = parse_file(text.as_bytes(), ORG, &Plan::DK, &columns).unwrap();
        assert_eq!(parsed.contacts.len(), 1);
        assert_eq!(parsed.contacts[0].numbers[0].number, "4522334455");
        assert_eq!(parsed.rejected[0].line, 3);
        assert_eq!(parsed.rejected[0].reason, "no name");
        // Without the mapping the header says nothing we know.
        assert!(matches!(
            parse_file(text.as_bytes(), ORG, &Plan::DK, &ColumnMap::default()),
            Err(ImportError::NoNameColumn(found)) if found.contains("Kunde")
        ));
        assert!(matches!(
            ColumnMap::parse("fax=Fax"),
            Err(ImportError::Mapping(_))
        ));
    }

    #[test]
    fn vcards_of_versions_3_and_4_with_a_report_of_the_broken_ones() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Jensen;Jens;;;\r\nFN:Jens Jensen\r\nORG:VVS ApS\r\nTEL;TYPE=WORK,VOICE:+45 22 33 44 55\r\nTEL;TYPE=CELL:20 30 40 50\r\nTEL;TYPE=FAX:22334456\r\nEMAIL;TYPE=INTERNET:jens@vvs.example\r\nEND:VCARD\r\n\
                    BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Karin\r\n  Berg\r\nTEL;VALUE=uri;TYPE=cell:tel:+46-70-123-45-67\r\nEND:VCARD\r\n\
                    BEGIN:VCARD\r\nVERSION:4.0\r\nFN:No Number\r\nEND:VCARD\r\n\
                    BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Cut off\r\n";
        let parsed = parse(text);
        assert_eq!(parsed.format, ImportFormat::Vcard);
        assert_eq!(parsed.records, 4);
        assert_eq!(parsed.contacts.len(), 2);
        assert_eq!(parsed.contacts[0].name, "Jens Jensen");
        assert_eq!(parsed.contacts[0].numbers.len(), 2);
        assert_eq!(parsed.contacts[0].numbers[1].kind, NumberKind::Mobile);
        assert_eq!(parsed.contacts[1].name, "Karin Berg");
        assert_eq!(parsed.contacts[1].numbers[0].number, "46701234567");
        assert_eq!(parsed.rejected.len(), 2);
        assert_eq!(parsed.rejected[0].record, 3);
        assert_eq!(parsed.rejected[0].line, 17);
        assert_eq!(parsed.rejected[1].line, 21);
        assert!(parsed.rejected[1].reason.contains("END:VCARD"));
        assert_eq!(parsed.rejected[1].code, RejectCode::Unreadable);
    }

    /// Danish Excel's semicolon CSV is Windows-1252; Outlook's "Unicode" export is UTF-16.
    #[test]
    fn windows_1252_and_utf16_exports_are_read() {
        let latin = b"Navn;Firma;Telefon\r\nS\xf8ren \x96 \xc6bler;Bl\xe5 VVS;22 33 44 55\r\n";
        let parsed = parse_file(latin, ORG, &Plan::DK, &ColumnMap::default()).unwrap();
        assert_eq!(parsed.contacts[0].name, "Søren – Æbler");
        assert_eq!(parsed.contacts[0].company.as_deref(), Some("Blå VVS"));
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "Name,Phone\r\nÅse,70100002\r\n".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        let parsed = parse_file(&utf16, ORG, &Plan::DK, &ColumnMap::default()).unwrap();
        assert_eq!(parsed.contacts[0].name, "Åse");
        assert_eq!(parsed.contacts[0].numbers[0].number, "4570100002");
    }

    #[test]
    fn whole_file_refusals() {
        let refuse = |b: &[u8]| parse_file(b, ORG, &Plan::DK, &ColumnMap::default()).unwrap_err();
        assert_eq!(refuse(b"\xff\xfe"), ImportError::Empty);
        assert_eq!(refuse(b"\xff\xfe\x41"), ImportError::NotText);
        assert_eq!(refuse(b"  \n"), ImportError::Empty);
        assert!(matches!(
            refuse(b"Name,Company\nA,B\n"),
            ImportError::NoNumberColumn(_)
        ));
    }
}
