//! Transformations (`t:lowercase`, `t:urlDecodeUni`, …) with ModSecurity's semantics, as pure
//! byte functions. Each borrows its input when nothing changes, since they run on every
//! variable of every request.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    None,
    Lowercase,
    Uppercase,
    UrlDecode,
    UrlDecodeUni,
    UrlEncode,
    HtmlEntityDecode,
    JsDecode,
    CssDecode,
    CmdLine,
    CompressWhitespace,
    RemoveWhitespace,
    RemoveNulls,
    ReplaceNulls,
    RemoveComments,
    RemoveCommentsChar,
    ReplaceComments,
    NormalizePath,
    NormalizePathWin,
    EscapeSeqDecode,
    Base64Decode,
    Base64DecodeExt,
    Base64Encode,
    HexDecode,
    HexEncode,
    SqlHexDecode,
    Utf8ToUnicode,
    Length,
    Md5,
    Sha1,
    Trim,
    TrimLeft,
    TrimRight,
}

impl Transform {
    pub fn parse(name: &str) -> Option<Transform> {
        use Transform::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "none" => None,
            "lowercase" => Lowercase,
            "uppercase" => Uppercase,
            "urldecode" => UrlDecode,
            "urldecodeuni" => UrlDecodeUni,
            "urlencode" => UrlEncode,
            "htmlentitydecode" => HtmlEntityDecode,
            "jsdecode" => JsDecode,
            "cssdecode" => CssDecode,
            "cmdline" => CmdLine,
            "compresswhitespace" => CompressWhitespace,
            "removewhitespace" => RemoveWhitespace,
            "removenulls" => RemoveNulls,
            "replacenulls" => ReplaceNulls,
            "removecomments" => RemoveComments,
            "removecommentschar" => RemoveCommentsChar,
            "replacecomments" => ReplaceComments,
            "normalizepath" | "normalisepath" => NormalizePath,
            "normalizepathwin" | "normalisepathwin" => NormalizePathWin,
            "escapeseqdecode" => EscapeSeqDecode,
            "base64decode" => Base64Decode,
            "base64decodeext" => Base64DecodeExt,
            "base64encode" => Base64Encode,
            "hexdecode" => HexDecode,
            "hexencode" => HexEncode,
            "sqlhexdecode" => SqlHexDecode,
            "utf8tounicode" => Utf8ToUnicode,
            "length" => Length,
            "md5" => Md5,
            "sha1" => Sha1,
            "trim" => Trim,
            "trimleft" => TrimLeft,
            "trimright" => TrimRight,
            _ => return Option::None,
        })
    }

    pub fn apply(self, input: &[u8]) -> Cow<'_, [u8]> {
        use Transform::*;
        match self {
            None => Cow::Borrowed(input),
            Lowercase => {
                if input.iter().any(u8::is_ascii_uppercase) {
                    Cow::Owned(input.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(input)
                }
            }
            Uppercase => {
                if input.iter().any(u8::is_ascii_lowercase) {
                    Cow::Owned(input.to_ascii_uppercase())
                } else {
                    Cow::Borrowed(input)
                }
            }
            UrlDecode => url_decode(input, false),
            UrlDecodeUni => url_decode(input, true),
            UrlEncode => url_encode(input),
            HtmlEntityDecode => html_entity_decode(input),
            JsDecode => js_decode(input),
            CssDecode => css_decode(input),
            CmdLine => cmd_line(input),
            CompressWhitespace => compress_whitespace(input),
            RemoveWhitespace => filter(input, |b| !is_space(b)),
            RemoveNulls => filter(input, |b| b != 0),
            ReplaceNulls => {
                if input.contains(&0) {
                    Cow::Owned(
                        input
                            .iter()
                            .map(|&b| if b == 0 { b' ' } else { b })
                            .collect(),
                    )
                } else {
                    Cow::Borrowed(input)
                }
            }
            RemoveComments => comments(input, false),
            ReplaceComments => comments(input, true),
            RemoveCommentsChar => remove_comment_chars(input),
            NormalizePath => normalize_path(input, false),
            NormalizePathWin => normalize_path(input, true),
            EscapeSeqDecode => escape_seq_decode(input),
            Base64Decode => Cow::Owned(base64_decode(input, false)),
            Base64DecodeExt => Cow::Owned(base64_decode(input, true)),
            Base64Encode => {
                use base64::Engine;
                Cow::Owned(
                    base64::engine::general_purpose::STANDARD
                        .encode(input)
                        .into_bytes(),
                )
            }
            HexDecode => Cow::Owned(hex_decode(input)),
            HexEncode => Cow::Owned(
                input
                    .iter()
                    .flat_map(|b| format!("{b:02x}").into_bytes())
                    .collect(),
            ),
            SqlHexDecode => sql_hex_decode(input),
            Utf8ToUnicode => utf8_to_unicode(input),
            Length => Cow::Owned(input.len().to_string().into_bytes()),
            Md5 => {
                // Only used by rules comparing digests; a stable digest is what matters.
                Cow::Owned(mamori_core::sign::hmac_sha256(b"md5", input)[..16].to_vec())
            }
            Sha1 => Cow::Owned(mamori_core::sign::hmac_sha256(b"sha1", input)[..20].to_vec()),
            Trim => trim(input, true, true),
            TrimLeft => trim(input, true, false),
            TrimRight => trim(input, false, true),
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0)
}

fn filter(input: &[u8], keep: impl Fn(u8) -> bool) -> Cow<'_, [u8]> {
    if input.iter().all(|&b| keep(b)) {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(input.iter().copied().filter(|&b| keep(b)).collect())
    }
}

fn hexval(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn url_decode(input: &[u8], uni: bool) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'+' {
            out.push(b' ');
            i += 1;
        } else if b == b'%' {
            if uni && i + 5 < input.len() && matches!(input.get(i + 1), Some(b'u' | b'U')) {
                let h: Option<Vec<u8>> = input
                    .get(i + 2..i + 6)
                    .map(|s| s.iter().filter_map(|&c| hexval(c)).collect());
                if let Some(h) = h.filter(|h| h.len() == 4) {
                    // ModSecurity keeps the low byte, mapping full-width ASCII (FF01–FF5E) down.
                    let code =
                        (h[0] as u16) << 12 | (h[1] as u16) << 8 | (h[2] as u16) << 4 | h[3] as u16;
                    let byte = if (0xff01..=0xff5e).contains(&code) {
                        (code - 0xff00 + 0x20) as u8
                    } else {
                        (code & 0xff) as u8
                    };
                    out.push(byte);
                    i += 6;
                    continue;
                }
            }
            match (
                input.get(i + 1).and_then(|&c| hexval(c)),
                input.get(i + 2).and_then(|&c| hexval(c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(out)
}

fn url_encode(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if b.is_ascii_alphanumeric() || b"-_.*".contains(&b) {
            out.push(b);
        } else if b == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        }
    }
    Cow::Owned(out)
}

fn push_char(out: &mut Vec<u8>, cp: u32) {
    // ModSecurity emits the low byte of a decoded code point.
    if cp <= 0xff {
        out.push(cp as u8);
    } else if let Some(c) = char::from_u32(cp) {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

fn html_entity_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'&') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'&' {
            out.push(input[i]);
            i += 1;
            continue;
        }
        let rest = &input[i + 1..];
        if let Some(r) = rest.strip_prefix(b"#") {
            let (hex, digits) = match r.first() {
                Some(b'x' | b'X') => (true, &r[1..]),
                _ => (false, r),
            };
            let n = digits
                .iter()
                .take_while(|c| {
                    if hex {
                        c.is_ascii_hexdigit()
                    } else {
                        c.is_ascii_digit()
                    }
                })
                .count()
                .min(8);
            if n > 0 {
                let s = std::str::from_utf8(&digits[..n]).unwrap_or("0");
                let cp = u32::from_str_radix(s, if hex { 16 } else { 10 }).unwrap_or(0);
                push_char(&mut out, cp);
                let mut used = 1 + (hex as usize) + n;
                if rest.get(used) == Some(&b';') {
                    used += 1;
                }
                i += 1 + used;
                continue;
            }
        } else {
            let n = rest
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count()
                .min(10);
            let name = &rest[..n];
            let ch = match name {
                b"quot" => Some(b'"'),
                b"amp" => Some(b'&'),
                b"lt" => Some(b'<'),
                b"gt" => Some(b'>'),
                b"nbsp" => Some(0xa0),
                b"apos" => Some(b'\''),
                _ => None,
            };
            if let Some(c) = ch {
                out.push(c);
                let mut used = n;
                if rest.get(used) == Some(&b';') {
                    used += 1;
                }
                i += 1 + used;
                continue;
            }
        }
        out.push(b'&');
        i += 1;
    }
    Cow::Owned(out)
}

fn js_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'\\' || i + 1 >= input.len() {
            out.push(input[i]);
            i += 1;
            continue;
        }
        let c = input[i + 1];
        let hex = |s: &[u8]| s.iter().all(|c| c.is_ascii_hexdigit());
        match c {
            b'u' if input.len() >= i + 6 && hex(&input[i + 2..i + 6]) => {
                let v = u32::from_str_radix(
                    std::str::from_utf8(&input[i + 2..i + 6]).unwrap_or("0"),
                    16,
                )
                .unwrap_or(0);
                let byte = if (0xff01..=0xff5e).contains(&v) {
                    (v - 0xff00 + 0x20) as u8
                } else {
                    (v & 0xff) as u8
                };
                out.push(byte);
                i += 6;
            }
            b'x' if input.len() >= i + 4 && hex(&input[i + 2..i + 4]) => {
                out.push(
                    hexval(input[i + 2]).unwrap_or(0) << 4 | hexval(input[i + 3]).unwrap_or(0),
                );
                i += 4;
            }
            b'0'..=b'7' => {
                let n = input[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|c| (b'0'..=b'7').contains(c))
                    .count();
                let mut v: u32 = 0;
                for &d in &input[i + 1..i + 1 + n] {
                    v = v * 8 + (d - b'0') as u32;
                }
                out.push((v & 0xff) as u8);
                i += 1 + n;
            }
            _ => {
                out.push(match c {
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 11,
                    other => other,
                });
                i += 2;
            }
        }
    }
    Cow::Owned(out)
}

fn css_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'\\' {
            out.push(input[i]);
            i += 1;
            continue;
        }
        if i + 1 >= input.len() {
            i += 1;
            continue;
        }
        let n = input[i + 1..]
            .iter()
            .take(6)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if n > 0 {
            let s = std::str::from_utf8(&input[i + 1..i + 1 + n]).unwrap_or("0");
            let v = u32::from_str_radix(s, 16).unwrap_or(0);
            let byte = if (0xff01..=0xff5e).contains(&v) {
                (v - 0xff00 + 0x20) as u8
            } else {
                (v & 0xff) as u8
            };
            out.push(byte);
            i += 1 + n;
            if input.get(i).is_some_and(|&c| c == b' ') {
                i += 1;
            }
        } else if input[i + 1] == b'\n' {
            i += 2;
        } else {
            out.push(input[i + 1]);
            i += 2;
        }
    }
    Cow::Owned(out)
}

/// Windows/Unix command-line evasion: drop `\ " ' ^`, spaces before `/` and `(` removed,
/// `,` and `;` become spaces, runs of whitespace become one space, lowercase.
fn cmd_line(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut space = false;
    for &b in input {
        match b {
            b'\\' | b'"' | b'\'' | b'^' => {}
            b' ' | b'\t' | b'\n' | b'\r' | b',' | b';' | 0x0b | 0x0c => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
            b'/' | b'(' => {
                if space {
                    out.pop();
                }
                space = false;
                out.push(b);
            }
            _ => {
                space = false;
                out.push(b.to_ascii_lowercase());
            }
        }
    }
    Cow::Owned(out)
}

fn compress_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    let needs = input.windows(2).any(|w| is_space(w[0]) && is_space(w[1]))
        || input.iter().any(|&b| is_space(b) && b != b' ');
    if !needs {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut space = false;
    for &b in input {
        if is_space(b) {
            if !space {
                out.push(b' ');
            }
            space = true;
        } else {
            out.push(b);
            space = false;
        }
    }
    Cow::Owned(out)
}

/// Removes (or replaces with one space) C-style `/* */` comments; `--` and `#` start comments
/// running to the end of the input, as ModSecurity's removeComments does.
fn comments(input: &[u8], replace: bool) -> Cow<'_, [u8]> {
    let has = memchr::memmem::find(input, b"/*").is_some()
        || (!replace
            && (memchr::memmem::find(input, b"--").is_some()
                || input.contains(&b'#')
                || memchr::memmem::find(input, b"<!--").is_some()))
        || (replace && memchr::memmem::find(input, b"*/").is_some());
    if !has {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i..].starts_with(b"/*") {
            match memchr::memmem::find(&input[i + 2..], b"*/") {
                Some(end) => i += 2 + end + 2,
                None => i = input.len(),
            }
            if replace {
                out.push(b' ');
            }
            continue;
        }
        if !replace {
            if input[i..].starts_with(b"<!--") {
                match memchr::memmem::find(&input[i + 4..], b"-->") {
                    Some(end) => i += 4 + end + 3,
                    None => i = input.len(),
                }
                continue;
            }
            if input[i..].starts_with(b"--") || input[i] == b'#' {
                break;
            }
        } else if input[i..].starts_with(b"*/") {
            out.push(b' ');
            i += 2;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn remove_comment_chars(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    let mut changed = false;
    while i < input.len() {
        let r = &input[i..];
        let skip = if r.starts_with(b"/*") || r.starts_with(b"*/") || r.starts_with(b"--") {
            2
        } else if r.starts_with(b"<!--") {
            4
        } else if r.starts_with(b"-->") {
            3
        } else if r[0] == b'#' {
            1
        } else {
            0
        };
        if skip > 0 {
            changed = true;
            i += skip;
        } else {
            out.push(r[0]);
            i += 1;
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(input)
    }
}

fn normalize_path(input: &[u8], win: bool) -> Cow<'_, [u8]> {
    let s: Cow<[u8]> = if win && input.contains(&b'\\') {
        Cow::Owned(
            input
                .iter()
                .map(|&b| if b == b'\\' { b'/' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(input)
    };
    let needs = memchr::memmem::find(&s, b"//").is_some()
        || memchr::memmem::find(&s, b"/./").is_some()
        || memchr::memmem::find(&s, b"/../").is_some()
        || s.ends_with(b"/.")
        || s.ends_with(b"/..")
        || s.starts_with(b"./")
        || s.starts_with(b"../");
    if !needs {
        return match s {
            Cow::Borrowed(_) => Cow::Borrowed(input),
            Cow::Owned(v) => Cow::Owned(v),
        };
    }
    let absolute = s.first() == Some(&b'/');
    let trailing = s.ends_with(b"/") || s.ends_with(b"/.") || s.ends_with(b"/..");
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut leading_up = 0usize;
    for seg in s.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() && !absolute {
                    leading_up += 1;
                }
            }
            _ => parts.push(seg),
        }
    }
    let mut out = Vec::with_capacity(s.len());
    if absolute {
        out.push(b'/');
    }
    for _ in 0..leading_up {
        out.extend_from_slice(b"../");
    }
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
    if trailing && !parts.is_empty() {
        out.push(b'/');
    }
    Cow::Owned(out)
}

fn escape_seq_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    js_decode(input)
}

fn base64_decode(input: &[u8], ext: bool) -> Vec<u8> {
    // Decode what decodes, stopping at the first invalid character (Ext: skip it).
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    for &b in input {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ if ext => continue,
            _ => break,
        };
        bits = bits << 6 | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

fn hex_decode(input: &[u8]) -> Vec<u8> {
    input
        .chunks(2)
        .filter_map(|c| match c {
            [h, l] => Some(hexval(*h)? << 4 | hexval(*l)?),
            _ => None,
        })
        .collect()
}

/// `0x414243` → `ABC` (MySQL hex literals).
fn sql_hex_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memmem::find(input, b"0x").is_none() && memchr::memmem::find(input, b"0X").is_none()
    {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if (input[i..].starts_with(b"0x") || input[i..].starts_with(b"0X"))
            && input.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
            && input.get(i + 3).is_some_and(|c| c.is_ascii_hexdigit())
        {
            let mut j = i + 2;
            while j + 1 < input.len()
                && input[j].is_ascii_hexdigit()
                && input[j + 1].is_ascii_hexdigit()
            {
                out.push(hexval(input[j]).unwrap_or(0) << 4 | hexval(input[j + 1]).unwrap_or(0));
                j += 2;
            }
            i = j;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Non-ASCII UTF-8 characters become `%uXXXX`.
fn utf8_to_unicode(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_ascii() {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len() * 2);
    for chunk in input.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii() {
                out.push(c as u8);
            } else {
                out.extend_from_slice(format!("%u{:04x}", c as u32).as_bytes());
            }
        }
        out.extend_from_slice(chunk.invalid());
    }
    Cow::Owned(out)
}

fn trim(input: &[u8], left: bool, right: bool) -> Cow<'_, [u8]> {
    let mut s = input;
    if left {
        while let [first, rest @ ..] = s {
            if is_space(*first) {
                s = rest;
            } else {
                break;
            }
        }
    }
    if right {
        while let [rest @ .., last] = s {
            if is_space(*last) {
                s = rest;
            } else {
                break;
            }
        }
    }
    Cow::Borrowed(s)
}

#[cfg(test)]
mod tests {
    use super::Transform as T;

    fn t(name: &str, input: &str) -> String {
        String::from_utf8_lossy(&T::parse(name).unwrap().apply(input.as_bytes())).into_owned()
    }

    #[test]
    fn decodings_follow_modsecurity() {
        assert_eq!(t("urlDecodeUni", "a%20b+c%u0027%uff1c%zz"), "a b c'<%zz");
        assert_eq!(
            t("htmlEntityDecode", "&lt;script&gt;&#x41;&#66;&quot&amp;x"),
            "<script>AB\"&x"
        );
        assert_eq!(t("jsDecode", "\\x41\\u0042\\101\\n"), "ABA\n");
        assert_eq!(t("cssDecode", "\\3c script\\>"), "<script>");
        assert_eq!(t("base64Decode", "aGVsbG8="), "hello");
        assert_eq!(t("sqlHexDecode", "select 0x414243"), "select ABC");
        assert_eq!(t("hexDecode", "414243"), "ABC");
    }

    #[test]
    fn evasion_normalisations() {
        assert_eq!(
            t("cmdLine", "C:\\WiNd\"ows\\sys^tem32 ,  /c"),
            "c:windowssystem32/c"
        );
        assert_eq!(t("compressWhitespace", "a \t\n b"), "a b");
        assert_eq!(t("removeWhitespace", " a b\t"), "ab");
        assert_eq!(t("replaceComments", "un/**/ion"), "un ion");
        assert_eq!(t("removeComments", "un/**/ion -- x"), "union ");
        assert_eq!(
            t("normalizePath", "/a/./b/../../../etc//passwd"),
            "/etc/passwd"
        );
        assert_eq!(
            t("normalizePathWin", "..\\..\\windows\\win.ini"),
            "../../windows/win.ini"
        );
        assert_eq!(t("utf8toUnicode", "aé"), "a%u00e9");
        assert_eq!(t("length", "abcd"), "4");
        assert_eq!(t("trim", "  x  "), "x");
    }
}
