//! Targets: reading a staff list from CSV, as Excel writes it in a Japanese office.
//!
//! The input is an uploaded file: UTF-8 (with or without BOM) or Shift_JIS (Windows-31J),
//! comma- or tab-separated, RFC 4180 quoting (quoted fields may hold commas, quotes and line
//! breaks). The first row names the columns, in Japanese or English (`氏名`/`名前`/`name`,
//! `メール`/`メールアドレス`/`email`, `部署`/`department`, `役職`/`position`); only the e-mail
//! column is required. Each bad row becomes an error naming its line; the rest is imported.
//! Rows with the same address (case-insensitive) are merged: later rows fill empty fields.
//!
//! Pure: no I/O. The database side is `Drill::import_csv`.

use crate::DrillError;
use serde::Serialize;

/// Largest CSV accepted.
pub const MAX_CSV_BYTES: usize = 5 * 1024 * 1024;
/// Most data rows accepted.
pub const MAX_CSV_ROWS: usize = 10_000;

/// One person to train.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub name: String,
    pub email: String,
    pub department: String,
    pub position: String,
}

/// What a CSV gave: the merged targets, and the rows refused with their line numbers.
#[derive(Debug, Default)]
pub struct ParsedTargets {
    pub targets: Vec<Target>,
    pub errors: Vec<(usize, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Email,
    Department,
    Position,
}

/// Decodes, parses and validates a target CSV.
pub fn parse_csv(bytes: &[u8]) -> Result<ParsedTargets, DrillError> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(DrillError::Csv {
            line: 0,
            message: format!(
                "file is {} bytes, over the {} byte limit",
                bytes.len(),
                MAX_CSV_BYTES
            ),
        });
    }
    let text = decode(bytes);
    let records = split_records(&text);
    let mut records = records.into_iter().filter(|(_, fields)| !is_blank(fields));
    let Some((header_line, header)) = records.next() else {
        return Err(DrillError::Csv {
            line: 1,
            message: "empty file: expected a header row".into(),
        });
    };
    let columns: Vec<Option<Column>> = header.iter().map(|h| column_of(h)).collect();
    if !columns.contains(&Some(Column::Email)) {
        return Err(DrillError::Csv {
            line: header_line,
            message: format!(
                "no e-mail column in the header ({}); expected メールアドレス or email",
                header.join(", ")
            ),
        });
    }
    let mut out = ParsedTargets::default();
    let mut index = std::collections::HashMap::new();
    for (count, (line, fields)) in records.enumerate() {
        if count >= MAX_CSV_ROWS {
            out.errors.push((
                line,
                format!("more than {MAX_CSV_ROWS} rows; the rest is ignored"),
            ));
            break;
        }
        let mut target = Target {
            name: String::new(),
            email: String::new(),
            department: String::new(),
            position: String::new(),
        };
        for (value, column) in fields.iter().zip(&columns) {
            let value = clean(value);
            match column {
                Some(Column::Name) => target.name = value,
                Some(Column::Email) => target.email = value,
                Some(Column::Department) => target.department = value,
                Some(Column::Position) => target.position = value,
                None => {}
            }
        }
        if fields.iter().any(|f| f.contains('\u{FFFD}')) {
            out.errors.push((
                line,
                "characters that are neither UTF-8 nor Shift_JIS".into(),
            ));
            continue;
        }
        if let Err(message) = check_email(&target.email) {
            out.errors.push((line, message));
            continue;
        }
        if target.name.chars().count() > 200
            || target.department.chars().count() > 200
            || target.position.chars().count() > 200
        {
            out.errors
                .push((line, "a field is longer than 200 characters".into()));
            continue;
        }
        target.email = normalize_email(&target.email);
        match index.get(&target.email) {
            Some(&at) => {
                let existing: &mut Target = &mut out.targets[at];
                for (slot, value) in [
                    (&mut existing.name, target.name),
                    (&mut existing.department, target.department),
                    (&mut existing.position, target.position),
                ] {
                    if slot.is_empty() {
                        *slot = value;
                    }
                }
            }
            None => {
                index.insert(target.email.clone(), out.targets.len());
                out.targets.push(target);
            }
        }
    }
    Ok(out)
}

/// UTF-8 (BOM stripped) when valid, otherwise Shift_JIS; undecodable bytes become U+FFFD
/// so the row that holds them is refused by line.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => {
            let (text, _, _) = encoding_rs::SHIFT_JIS.decode(bytes);
            text.into_owned()
        }
    }
}

/// Splits into records of fields, each with the line it starts on (1-based).
fn split_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if !first_line.contains(',') && first_line.contains('\t') {
        '\t'
    } else {
        ','
    };
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start_line = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            c if c == delimiter => fields.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push((start_line, std::mem::take(&mut fields)));
                line += 1;
                start_line = line;
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    records
}

fn is_blank(fields: &[String]) -> bool {
    fields.iter().all(|f| clean(f).is_empty())
}

/// Trims ASCII and ideographic spaces.
fn clean(value: &str) -> String {
    value
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
        .to_string()
}

fn column_of(header: &str) -> Option<Column> {
    let h: String = clean(header)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{3000}' && *c != '_' && *c != '-')
        .collect::<String>()
        .to_lowercase();
    match h.as_str() {
        "name" | "fullname" | "氏名" | "名前" | "氏名(漢字)" | "フルネーム" => {
            Some(Column::Name)
        }
        "email"
        | "mail"
        | "emailaddress"
        | "mailaddress"
        | "メール"
        | "メールアドレス"
        | "eメール"
        | "eメールアドレス"
        | "アドレス" => Some(Column::Email),
        "department" | "dept" | "部署" | "部門" | "所属" | "部署名" => {
            Some(Column::Department)
        }
        "position" | "title" | "jobtitle" | "役職" | "職位" | "役職名" => {
            Some(Column::Position)
        }
        _ => None,
    }
}

/// A plain `local@domain.tld` check: enough to refuse typos and header injection.
pub(crate) fn check_email(email: &str) -> Result<(), String> {
    if email.is_empty() {
        return Err("no e-mail address".into());
    }
    if email.len() > 254 {
        return Err("e-mail address longer than 254 characters".into());
    }
    if email
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "<>,;:\"()[]\\".contains(c))
    {
        return Err(format!(
            "e-mail address {email:?} contains invalid characters"
        ));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(format!("{email:?} is not an e-mail address (no @)"));
    };
    if local.is_empty() || local.contains('@') || local.len() > 64 {
        return Err(format!("{email:?} has an invalid local part"));
    }
    if !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(format!("{email:?} has an invalid domain"));
    }
    Ok(())
}

/// Lower-cases the domain and the local part, so the same person is one target.
fn normalize_email(email: &str) -> String {
    email.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sjis(text: &str) -> Vec<u8> {
        encoding_rs::SHIFT_JIS.encode(text).0.into_owned()
    }

    #[test]
    fn shift_jis_with_japanese_headers_is_read() {
        let csv = "氏名,メールアドレス,部署,役職\r\n山田 太郎,taro@example.jp,営業部,課長\r\n";
        let parsed = parse_csv(&sjis(csv)).unwrap();
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            parsed.targets,
            vec![Target {
                name: "山田 太郎".into(),
                email: "taro@example.jp".into(),
                department: "営業部".into(),
                position: "課長".into(),
            }]
        );
    }

    #[test]
    fn utf8_bom_and_english_headers_are_read() {
        let csv = "\u{FEFF}Name,Email,Department,Position\nAnn,ann@example.com,Sales,Manager\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(parsed.targets.len(), 1);
        assert_eq!(parsed.targets[0].name, "Ann");
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_the_rest_imported() {
        let csv = "名前,メール,部署\n\
                   a,a@example.jp,総務\n\
                   b,not-an-address,総務\n\
                   \n\
                   \"c, quoted\",c@example.jp,\"経理\n部\"\n\
                   d,,総務\n\
                   e,e@example.jp,総務\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        let lines: Vec<usize> = parsed.errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![3, 7]);
        assert!(parsed.errors[0].1.contains("not-an-address"));
        assert_eq!(parsed.targets.len(), 3);
        assert_eq!(parsed.targets[1].name, "c, quoted");
        assert_eq!(parsed.targets[1].department, "経理\n部");
    }

    #[test]
    fn duplicates_are_merged_case_insensitively() {
        let csv = "email,name,department\nA@Example.jp,,Sales\na@example.jp,Ann,Support\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(parsed.targets.len(), 1);
        assert_eq!(parsed.targets[0].email, "a@example.jp");
        assert_eq!(parsed.targets[0].name, "Ann");
        assert_eq!(parsed.targets[0].department, "Sales");
    }

    #[test]
    fn a_header_without_email_is_refused_with_its_line() {
        let err = parse_csv("\n\n氏名,部署\nx,y\n".as_bytes()).unwrap_err();
        assert!(matches!(err, DrillError::Csv { line: 3, .. }), "{err}");
    }

    #[test]
    fn oversized_files_and_too_many_rows_are_refused() {
        let big = vec![b'a'; MAX_CSV_BYTES + 1];
        assert!(parse_csv(&big).is_err());
        let mut csv = String::from("email\n");
        for i in 0..MAX_CSV_ROWS + 5 {
            csv.push_str(&format!("u{i}@example.jp\n"));
        }
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(parsed.targets.len(), MAX_CSV_ROWS);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].0, MAX_CSV_ROWS + 2);
    }

    #[test]
    fn tab_separated_and_header_injection_attempts() {
        let csv = "email\tname\nx@example.jp\tX\n\"y@example.jp\r\nBcc: z@evil.test\"\tY\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(parsed.targets.len(), 1);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].0, 3);
    }
}
