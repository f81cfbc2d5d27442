//! Reading CSV contact exports (RFC 4180, as Outlook and spreadsheets write it): a header
//! row, fields separated by `,` — or `;`, which Danish and Swedish Excel write because `,`
//! is their decimal mark, detected from the header row — double-quoted fields holding
//! separators, `""` for a quote and line breaks (a multi-line note), CRLF or LF line ends and
//! an optional UTF-8 byte-order mark.
//!
//! A small reader of our own rather than a crate: the import needs exactly this and the line
//! number each record starts on, for the report of rejected rows.

/// One record and the line (1-based) it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Line of the record's first character.
    pub line: usize,
    /// Its fields, unquoted.
    pub fields: Vec<String>,
}

/// Why a file is not CSV we can read (a record-level problem is the importer's to report).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A quoted field still open at the end of the file.
    #[error("line {0}: a quoted field is not closed")]
    Unclosed(usize),
    /// Nothing but blank lines.
    #[error("no header row")]
    Empty,
}

/// The separator of a file: `;` when the header row has more of them than `,` outside quotes.
pub fn separator(text: &str) -> char {
    let header = text.lines().next().unwrap_or_default();
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for ch in header.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        ';'
    } else {
        ','
    }
}

/// Every record of `text` (the header first), blank lines skipped.
pub fn parse(text: &str) -> Result<Vec<Record>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let sep = separator(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    // Whether the current field was quoted (text after its closing quote is kept, as
    // spreadsheets do with `"a"b`).
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                ch => field.push(ch),
            }
            continue;
        }
        match ch {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ch if ch == sep => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                fields.push(std::mem::take(&mut field));
                push_record(&mut records, start, std::mem::take(&mut fields));
                line += 1;
                start = line;
                at_field_start = true;
            }
            ch => {
                field.push(ch);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(CsvError::Unclosed(start));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        push_record(&mut records, start, fields);
    }
    if records.is_empty() {
        return Err(CsvError::Empty);
    }
    Ok(records)
}

/// Keeps a record unless it is a blank line.
fn push_record(records: &mut Vec<Record>, line: usize, fields: Vec<String>) {
    if fields.iter().all(|f| f.trim().is_empty()) {
        return;
    }
    records.push(Record { line, fields });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_separators_and_line_breaks_inside_fields() {
        let text = "\u{feff}Name,Note,Phone\r\n\"Hansen, Jens\",\"Says \"\"hi\"\"\r\ntwice\",+45 22 33 44 55\r\n\r\nOle,,70100002";
        let records = parse(text).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].fields, vec!["Name", "Note", "Phone"]);
        assert_eq!(records[1].line, 2);
        assert_eq!(
            records[1].fields,
            vec!["Hansen, Jens", "Says \"hi\"\ntwice", "+45 22 33 44 55"]
        );
        // The record after a two-line field and a blank line starts on line 5.
        assert_eq!(records[2].line, 5);
        assert_eq!(records[2].fields, vec!["Ole", "", "70100002"]);
    }

    #[test]
    fn semicolons_are_detected_from_the_header() {
        let text = "Navn;Firma;Telefon\nJens;VVS, Aps;22334455\n";
        assert_eq!(separator(text), ';');
        let records = parse(text).unwrap();
        assert_eq!(records[1].fields, vec!["Jens", "VVS, Aps", "22334455"]);
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        assert_eq!(parse("a,b\n1,\"open\n2,3\n"), Err(CsvError::Unclosed(2)));
        assert_eq!(parse("\n\n"), Err(CsvError::Empty));
    }
}
