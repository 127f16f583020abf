//! Text out of bytes: character-set guessing for plain files (UTF-8, UTF-16 with a BOM,
//! Shift_JIS — what Japanese Excel writes CSV in) and tag stripping for HTML and the XML
//! parts of DOCX, XLSX and PPTX.
//!
//! Cell, paragraph and row ends become tabs and newlines so that numbers from neighbouring
//! cells never run together into one long number.

/// Decodes a text file whose charset is unknown.
pub fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    if bytes.starts_with(b"\xff\xfe") {
        return encoding_rs::UTF_16LE.decode(bytes).0.into_owned();
    }
    if bytes.starts_with(b"\xfe\xff") {
        return encoding_rs::UTF_16BE.decode(bytes).0.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let (text, _, sjis_errors) = encoding_rs::SHIFT_JIS.decode(bytes);
            if !sjis_errors {
                return text.into_owned();
            }
            let (euc, _, euc_errors) = encoding_rs::EUC_JP.decode(bytes);
            if !euc_errors {
                return euc.into_owned();
            }
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// Which closing or empty tags separate text, and with what.
fn separator(tag: &str) -> Option<char> {
    let local = tag.rsplit(':').next().unwrap_or(tag).to_ascii_lowercase();
    match local.as_str() {
        // OOXML: paragraphs, rows, shared strings, line breaks; HTML blocks.
        "p" | "row" | "si" | "br" | "tr" | "li" | "div" | "h1" | "h2" | "h3" | "h4" | "table"
        | "title" | "cr" => Some('\n'),
        // OOXML cells, tabs; HTML cells.
        "c" | "tab" | "td" | "th" | "v" | "is" => Some('\t'),
        _ => None,
    }
}

/// Strips tags and decodes entities; `<script>` and `<style>` content is dropped.
pub fn strip_tags(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len() / 2);
    let mut rest = markup;
    let mut skip_until: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if skip_until.is_none() {
            push_decoded(&mut out, &rest[..lt]);
        }
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = &after[..gt];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/' && *c != '>')
            .collect();
        let lname = name.to_ascii_lowercase();
        if let Some(end) = skip_until {
            if closing && lname == end {
                skip_until = None;
            }
        } else if !closing && (lname == "script" || lname == "style") && !tag.ends_with('/') {
            skip_until = Some(if lname == "script" { "script" } else { "style" });
        } else if closing || tag.ends_with('/') || lname == "br" {
            if let Some(sep) = separator(&name) {
                out.push(sep);
            }
        }
        rest = &after[gt + 1..];
    }
    if skip_until.is_none() {
        push_decoded(&mut out, rest);
    }
    out
}

fn push_decoded(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let entity = &after[..e];
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let num = entity.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Folds the characters people type in personal data to their plain forms: full-width
/// digits and letters, the many dashes, the ideographic space. Detectors then match ASCII.
pub fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '＠' | '．' | '（' | '）' | '＋' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            '－' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | 'ｰ' => '-',
            '\u{3000}' | '\u{a0}' => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_jis_csv_is_decoded() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,住所\n山田,東京都千代田区\n");
        assert_eq!(decode(&bytes), "氏名,住所\n山田,東京都千代田区\n");
        assert_eq!(decode("utf8 テキスト".as_bytes()), "utf8 テキスト");
        assert_eq!(decode(b"\xef\xbb\xbfbom"), "bom");
    }

    #[test]
    fn cells_and_paragraphs_stay_apart() {
        let xml = r#"<row r="1"><c r="A1"><v>1234</v></c><c r="B1"><v>5678</v></c></row><si><t>山田&amp;花子</t></si>"#;
        let text = strip_tags(xml);
        assert!(text.contains("1234\t"), "{text:?}");
        assert!(!text.contains("12345678"), "{text:?}");
        assert!(text.contains("山田&花子"), "{text:?}");
        let docx = r#"<w:p><w:r><w:t>123456</w:t></w:r><w:r><w:t>789012</w:t></w:r></w:p><w:p><w:r><w:t>x</w:t></w:r></w:p>"#;
        assert_eq!(strip_tags(docx), "123456789012\nx\n");
        assert_eq!(strip_tags("<p>a<script>var x='<b>';</script>b</p>"), "ab\n");
    }

    #[test]
    fn fold_maps_full_width_forms() {
        assert_eq!(fold("０９０－１２３４－５６７８"), "090-1234-5678");
        assert_eq!(fold("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ"), "taro@example.jp");
    }
}
