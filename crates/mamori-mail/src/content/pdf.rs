//! Best-effort text from PDF files, for the personal-data scan.
//!
//! Finds each `stream … endstream`, inflates it when its dictionary names `FlateDecode`,
//! keeps it when it holds text operators (`BT … ET`), and collects the literal strings
//! (`(…)` with escapes) and plain hex strings shown by `Tj`/`TJ`. Text written through CID
//! fonts without a ToUnicode lookup — common in Japanese PDFs — cannot be recovered this
//! way; what is recovered is numbers and Latin text, which is what card and My Number
//! detection needs. Stream count and inflated bytes are limited by the caller's budget.

use super::magic::find;
use super::Budget;
use miniz_oxide::inflate::{decompress_to_vec_with_limit, decompress_to_vec_zlib_with_limit};

const MAX_STREAMS: usize = 4096;

/// The text that could be recovered.
pub fn text(data: &[u8], max_stream_bytes: usize, budget: &mut Budget) -> String {
    let mut out = String::new();
    let mut pos = 0usize;
    let mut streams = 0usize;
    while let Some(found) = data.get(pos..).and_then(|rest| find(rest, b"stream")) {
        let keyword = pos + found;
        streams += 1;
        if streams > MAX_STREAMS || budget.exhausted() {
            break;
        }
        // `endstream` also contains `stream`; skip it.
        if keyword >= 3 && data.get(keyword - 3..keyword) == Some(b"end") {
            pos = keyword + 6;
            continue;
        }
        let mut start = keyword + 6;
        if data.get(start) == Some(&b'\r') {
            start += 1;
        }
        if data.get(start) == Some(&b'\n') {
            start += 1;
        }
        let end = data
            .get(start..)
            .and_then(|rest| find(rest, b"endstream"))
            .map_or(data.len(), |e| start + e);
        let dict_start = data
            .get(..keyword)
            .and_then(|before| rfind(before, b"obj"))
            .unwrap_or(keyword.saturating_sub(512));
        let dict = data.get(dict_start..keyword).unwrap_or_default();
        let raw = data.get(start..end).unwrap_or_default();
        pos = end.max(start);
        let limit = max_stream_bytes.min(budget.remaining());
        let content = if find(dict, b"FlateDecode").is_some() {
            match decompress_to_vec_zlib_with_limit(raw, limit) {
                Ok(v) => v,
                Err(e) if !e.output.is_empty() => e.output,
                Err(_) => match decompress_to_vec_with_limit(raw, limit) {
                    Ok(v) => v,
                    Err(e) => e.output,
                },
            }
        } else if find(dict, b"/Filter").is_none() {
            raw[..raw.len().min(limit)].to_vec()
        } else {
            continue;
        };
        budget.spend(content.len());
        if find(&content, b"BT").is_some() {
            show_strings(&content, &mut out);
        }
    }
    out
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if haystack.len() < needle.len() {
        return None;
    }
    (0..=haystack.len() - needle.len())
        .rev()
        .take(4096)
        .find(|&i| haystack.get(i..i + needle.len()) == Some(needle))
}

/// Appends the strings of a content stream; text-positioning operators start a new line.
fn show_strings(content: &[u8], out: &mut String) {
    let mut i = 0usize;
    let mut line = Vec::<u8>::new();
    let flush = |line: &mut Vec<u8>, out: &mut String| {
        if !line.is_empty() {
            out.push_str(&super::text::decode(line));
            out.push('\n');
            line.clear();
        }
    };
    while i < content.len() {
        match content[i] {
            b'(' => {
                let mut depth = 1usize;
                i += 1;
                while i < content.len() && depth > 0 {
                    match content[i] {
                        b'\\' => {
                            i += 1;
                            match content.get(i) {
                                Some(b'n') => line.push(b'\n'),
                                Some(b'r') | Some(b't') => line.push(b' '),
                                Some(d @ b'0'..=b'7') => {
                                    let mut v = u32::from(d - b'0');
                                    let mut k = 1;
                                    while k < 3 {
                                        match content.get(i + 1) {
                                            Some(d @ b'0'..=b'7') => {
                                                v = v * 8 + u32::from(d - b'0');
                                                i += 1;
                                                k += 1;
                                            }
                                            _ => break,
                                        }
                                    }
                                    line.push(v as u8);
                                }
                                Some(b'\r') | Some(b'\n') => {}
                                Some(c) => line.push(*c),
                                None => {}
                            }
                        }
                        b'(' => {
                            depth += 1;
                            line.push(b'(');
                        }
                        b')' => {
                            depth -= 1;
                            if depth > 0 {
                                line.push(b')');
                            }
                        }
                        c => line.push(c),
                    }
                    i += 1;
                }
            }
            b'<' if content.get(i + 1) != Some(&b'<') => {
                let end = content[i..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(content.len(), |e| i + e);
                let hex: Vec<u8> = content[i + 1..end]
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_hexdigit)
                    .collect();
                let bytes: Vec<u8> = hex
                    .chunks(2)
                    .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
                    .collect();
                if let Some(utf16) = bytes.strip_prefix(b"\xfe\xff") {
                    let units: Vec<u16> = utf16
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    line.extend_from_slice(String::from_utf16_lossy(&units).as_bytes());
                } else if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                    line.extend_from_slice(&bytes);
                }
                i = end + 1;
            }
            b'T' if matches!(content.get(i + 1), Some(b'*' | b'd' | b'D' | b'm')) => {
                flush(&mut line, out);
                i += 2;
            }
            b'E' if content.get(i + 1) == Some(&b'T') => {
                flush(&mut line, out);
                i += 2;
            }
            b'\'' | b'"' => {
                flush(&mut line, out);
                i += 1;
            }
            _ => i += 1,
        }
    }
    flush(&mut line, out);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-page PDF whose content stream shows `lines`, Flate-compressed when asked.
    pub(crate) fn build(lines: &[&str], compress: bool) -> Vec<u8> {
        let mut content = String::from("BT /F1 10 Tf 50 800 Td\n");
        for l in lines {
            let escaped = l
                .replace('\\', "\\\\")
                .replace('(', "\\(")
                .replace(')', "\\)");
            content.push_str(&format!("({escaped}) Tj T*\n"));
        }
        content.push_str("ET\n");
        let (body, filter) = if compress {
            (
                miniz_oxide::deflate::compress_to_vec_zlib(content.as_bytes(), 6),
                "/Filter /FlateDecode ",
            )
        } else {
            (content.into_bytes(), "")
        };
        let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".to_vec();
        pdf.extend_from_slice(
            format!("4 0 obj << {filter}/Length {} >>\nstream\n", body.len()).as_bytes(),
        );
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
        pdf
    }

    #[test]
    fn literal_strings_come_out_of_plain_and_flate_streams() {
        for compress in [false, true] {
            let pdf = build(&["Card 4111 1111 1111 1111", "a (b) c"], compress);
            let mut budget = Budget::new(1 << 20);
            let t = text(&pdf, 1 << 20, &mut budget);
            assert!(t.contains("Card 4111 1111 1111 1111\n"), "{t:?}");
            assert!(t.contains("a (b) c"), "{t:?}");
        }
    }

    #[test]
    fn hex_strings_and_escapes_are_decoded() {
        let mut out = String::new();
        show_strings(b"BT <48656c6c6f> Tj T* (\\101\\(x) Tj ET", &mut out);
        assert_eq!(out, "Hello\nA(x\n");
    }

    #[test]
    fn truncated_pdfs_never_panic() {
        let pdf = build(&["x"], true);
        for cut in 0..pdf.len() {
            let mut budget = Budget::new(1 << 20);
            let _ = text(&pdf[..cut], 1 << 20, &mut budget);
        }
    }
}
