//! Decoders: URL (`%xx`, IIS `%uXXXX`), JavaScript and C escapes, HTML entities, CSS escapes,
//! Base64, hex, SQL hex literals, and `utf8toUnicode`'s `%uXXXX` encoding.
//!
//! Each follows ModSecurity v3's byte-level rules, quirks included, because CRS's patterns
//! were written against them: a decoded code point keeps only its low byte, full-width ASCII
//! (U+FF01–U+FF5E) maps to ASCII, invalid escapes are left as they are. Each borrows the
//! input when there is nothing to decode.

use super::{is_c_space, x2c};
use std::borrow::Cow;

/// The low byte of a `%uXXXX`/`\uXXXX`/CSS escape, with full-width ASCII (`FFxx`, `xx` in
/// 01..5E) shifted to ASCII, as ModSecurity does: `hi` are the first two hex digits.
fn unicode_low_byte(hi: (u8, u8), lo: (u8, u8)) -> u8 {
    let b = x2c(lo.0, lo.1);
    let full_width = hi.0.eq_ignore_ascii_case(&b'f') && hi.1.eq_ignore_ascii_case(&b'f');
    if b > 0 && b < 0x5f && full_width {
        b + 0x20
    } else {
        b
    }
}

fn hex(b: Option<&u8>) -> bool {
    b.is_some_and(u8::is_ascii_hexdigit)
}

fn finish(input: &[u8], out: Vec<u8>, changed: bool) -> Cow<'_, [u8]> {
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(input)
    }
}

/// `urlDecode`: `%xx` with two hex digits becomes the byte, `+` a space; an invalid or
/// truncated `%` stays.
pub fn url_decode(input: &[u8]) -> Cow<'_, [u8]> {
    url_decode_impl(input, false)
}

/// `urlDecodeUni`: `urlDecode` plus IIS's `%uXXXX`, of which the low byte is kept (full-width
/// ASCII `%uFF01`–`%uFF5E` becomes `!`–`~`); an invalid `%u` stays as `%u`.
pub fn url_decode_uni(input: &[u8]) -> Cow<'_, [u8]> {
    url_decode_impl(input, true)
}

fn url_decode_impl(input: &[u8], uni: bool) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            b'%' if uni && matches!(input.get(i + 1), Some(b'u' | b'U')) => {
                let digits = input.get(i + 2..i + 6);
                match digits {
                    Some(&[a, b, c2, d]) if [a, b, c2, d].iter().all(u8::is_ascii_hexdigit) => {
                        out.push(unicode_low_byte((a, b), (c2, d)));
                        i += 6;
                        changed = true;
                    }
                    _ => {
                        out.extend_from_slice(&input[i..i + 2]);
                        i += 2;
                    }
                }
            }
            b'%' => {
                if hex(input.get(i + 1)) && hex(input.get(i + 2)) {
                    out.push(x2c(input[i + 1], input[i + 2]));
                    i += 3;
                    changed = true;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            b'+' => {
                out.push(b' ');
                changed = true;
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    finish(input, out, changed)
}

/// `jsDecode`: `\uHHHH` (low byte, full-width mapped), `\xHH`, octal `\OOO` (at most one
/// byte: a third digit only when the first is 0–3), `\a \b \f \n \r \t \v`, and any other
/// `\c` becomes `c`. A lone trailing `\` stays.
pub fn js_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = input.get(i + 1) else {
            out.push(c);
            break;
        };
        if n == b'u' {
            if let Some(&[a, b, c2, d]) = input.get(i + 2..i + 6) {
                if [a, b, c2, d].iter().all(u8::is_ascii_hexdigit) {
                    out.push(unicode_low_byte((a, b), (c2, d)));
                    i += 6;
                    continue;
                }
            }
        }
        if n == b'x' && hex(input.get(i + 2)) && hex(input.get(i + 3)) {
            out.push(x2c(input[i + 2], input[i + 3]));
            i += 4;
            continue;
        }
        if is_odigit(n) {
            let mut j = input[i + 1..]
                .iter()
                .take(3)
                .take_while(|c| is_odigit(**c))
                .count();
            if j == 3 && n > b'3' {
                j = 2;
            }
            out.push(octal(&input[i + 1..i + 1 + j]) as u8);
            i += 1 + j;
            continue;
        }
        out.push(simple_escape(n).unwrap_or(n));
        i += 2;
    }
    Cow::Owned(out)
}

fn is_odigit(c: u8) -> bool {
    (b'0'..=b'7').contains(&c)
}

fn octal(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |v, d| v * 8 + u32::from(d - b'0'))
}

fn simple_escape(n: u8) -> Option<u8> {
    Some(match n {
        b'a' => 0x07,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'v' => 0x0b,
        _ => return None,
    })
}

/// `escapeSeqDecode`: ANSI C escapes — `\a \b \f \n \r \t \v \\ \? \' \"`, `\xHH` (`\X`
/// too), octal `\O`..`\OOO` (low byte); an unknown or invalid escape drops the backslash.
pub fn escape_seq_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        let Some(&n) = input.get(i + 1).filter(|_| c == b'\\') else {
            out.push(c);
            i += 1;
            continue;
        };
        if let Some(v) = simple_escape(n).or(matches!(n, b'\\' | b'?' | b'\'' | b'"').then_some(n))
        {
            out.push(v);
            i += 2;
        } else if matches!(n, b'x' | b'X') && hex(input.get(i + 2)) && hex(input.get(i + 3)) {
            out.push(x2c(input[i + 2], input[i + 3]));
            i += 4;
        } else if is_odigit(n) {
            let j = input[i + 1..]
                .iter()
                .take(3)
                .take_while(|c| is_odigit(**c))
                .count();
            out.push(octal(&input[i + 1..i + 1 + j]) as u8);
            i += 1 + j;
        } else {
            out.push(n);
            i += 2;
        }
    }
    Cow::Owned(out)
}

/// `htmlEntityDecode`: `&#DDD;`, `&#xHH;` (any number of digits, the value's low byte; the
/// `;` is optional) and the named entities `quot amp lt gt nbsp` (case-insensitive, matched
/// as a prefix of the entity name, which is consumed whole: `&ltfoo;` is `<`). Anything else
/// stays as written.
pub fn html_entity_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'&') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'&' || i + 1 >= input.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let (value, end, copy) = entity(input, i + 1);
        match value {
            Some(v) => {
                out.push(v);
                i = if input.get(end) == Some(&b';') {
                    end + 1
                } else {
                    end
                };
                changed = true;
            }
            None => {
                out.extend_from_slice(&input[i..i + copy]);
                i += copy;
            }
        }
    }
    finish(input, out, changed)
}

/// Decodes the entity after `&` at `j`: (byte, end of the name or digits, bytes to copy
/// verbatim when it is not an entity).
fn entity(input: &[u8], j: usize) -> (Option<u8>, usize, usize) {
    if input.get(j) == Some(&b'#') {
        let is_hex = matches!(input.get(j + 1), Some(b'x' | b'X'));
        let start = if is_hex { j + 2 } else { j + 1 };
        let radix = if is_hex { 16 } else { 10 };
        if start >= input.len() {
            return (None, 0, if is_hex { 3 } else { 2 });
        }
        let n = input[start..]
            .iter()
            .take_while(|c| {
                if is_hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if n == 0 {
            return (None, 0, if is_hex { 3 } else { 2 });
        }
        // strtol saturates at LONG_MAX (low byte 0xff).
        let mut v: u64 = 0;
        for &d in &input[start..start + n] {
            v = v
                .saturating_mul(radix)
                .saturating_add(u64::from((d as char).to_digit(radix as u32).unwrap_or(0)));
        }
        let v = v.min(i64::MAX as u64);
        return (Some(v as u8), start + n, 0);
    }
    let n = input[j..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if n == 0 {
        return (None, 0, 1);
    }
    let name = &input[j..];
    let starts = |p: &[u8]| {
        name.get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    let v = if starts(b"quot") {
        b'"'
    } else if starts(b"amp") {
        b'&'
    } else if starts(b"lt") {
        b'<'
    } else if starts(b"gt") {
        b'>'
    } else if starts(b"nbsp") {
        0xa0
    } else {
        return (None, 0, n + 1);
    };
    (Some(v), j + n, 0)
}

/// `cssDecode`: CSS 2 escapes. `\` and 1–6 hex digits: the low byte of the value (full-width
/// ASCII mapped when the value is `FFxx`), one whitespace after the digits is dropped; `\`
/// and a newline vanish; `\` and another character is that character; a trailing `\` is
/// dropped.
pub fn css_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&n) = input.get(i) else {
            break;
        };
        let j = input[i..]
            .iter()
            .take(6)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if j > 0 {
            let d = &input[i..i + j];
            let last_two = || x2c(d[j - 2], d[j - 1]);
            let full_check = match j {
                4 => true,
                5 => d[0] == b'0',
                6 => d[0] == b'0' && d[1] == b'0',
                _ => false,
            };
            let v = match j {
                1 => super::hex_digit(d[0]),
                _ if full_check => unicode_low_byte((d[j - 4], d[j - 3]), (d[j - 2], d[j - 1])),
                _ => last_two(),
            };
            out.push(v);
            let mut used = j;
            if input.get(i + j).is_some_and(|&w| is_c_space(w)) {
                used += 1;
            }
            i += used;
        } else if n == b'\n' {
            i += 1;
        } else {
            out.push(n);
            i += 1;
        }
    }
    Cow::Owned(out)
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// `base64Decode`, strict as ModSecurity's (mbed TLS) decoder: the value up to its first NUL
/// must be valid Base64 — line breaks and trailing spaces allowed, at most two `=` and only at
/// the end — or the result is empty. Only complete groups of four are decoded.
pub fn base64_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    let data = input.split(|&b| b == 0).next().unwrap_or_default();
    if !base64_valid(data) {
        return Cow::Owned(Vec::new());
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3);
    let (mut acc, mut n, mut equals) = (0u32, 0, 0);
    for &c in data {
        if matches!(c, b'\r' | b'\n' | b' ') {
            continue;
        }
        acc <<= 6;
        match b64_value(c) {
            Some(v) => acc |= u32::from(v),
            None => equals += 1,
        }
        n += 1;
        if n == 4 {
            n = 0;
            out.push((acc >> 16) as u8);
            if equals <= 1 {
                out.push((acc >> 8) as u8);
            }
            if equals == 0 {
                out.push(acc as u8);
            }
            acc = 0;
        }
    }
    Cow::Owned(out)
}

fn base64_valid(data: &[u8]) -> bool {
    let (mut n, mut equals, mut i) = (0usize, 0, 0);
    while i < data.len() {
        let mut spaces = false;
        while data.get(i) == Some(&b' ') {
            i += 1;
            spaces = true;
        }
        let Some(&c) = data.get(i) else { break };
        if c == b'\n' || (c == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            i += 1;
            continue;
        }
        if spaces {
            return false;
        }
        if c == b'=' {
            equals += 1;
            if equals > 2 {
                return false;
            }
        } else if equals != 0 || b64_value(c).is_none() {
            return false;
        }
        n += 1;
        i += 1;
    }
    !(equals != 0 && n % 4 != 0)
}

/// `base64DecodeExt`: forgiving Base64 — characters outside the alphabet are skipped, a
/// trailing partial group gives its complete bytes; a `=` where only one character of a group
/// was seen (a group of one sextet cannot be padded) makes the result empty.
pub fn base64_decode_ext(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    let (mut acc, mut bits, mut count) = (0u32, 0u32, 0usize);
    let mut last_pad = false;
    for (k, &c) in input.iter().enumerate() {
        if c == b'=' {
            last_pad = true;
            if input.get(k + 1) != Some(&b'=') && count % 4 == 1 {
                return Cow::Owned(Vec::new());
            }
            continue;
        }
        last_pad = false;
        let Some(v) = b64_value(c) else { continue };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        count += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if last_pad && count % 4 == 1 {
        return Cow::Owned(Vec::new());
    }
    Cow::Owned(out)
}

/// `hexDecode`: each pair of characters is one byte (not validated, as ModSecurity); an odd
/// last character is dropped.
pub fn hex_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(input.chunks_exact(2).map(|p| x2c(p[0], p[1])).collect())
}

/// `sqlHexDecode`: MySQL hex literals `0x4142` become their bytes (`AB`); at least two hex
/// digits after `0x`, then as many complete pairs as follow.
pub fn sql_hex_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'0', input).is_none() {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'0'
            && matches!(input.get(i + 1), Some(b'x' | b'X'))
            && hex(input.get(i + 2))
            && hex(input.get(i + 3))
        {
            i += 2;
            while hex(input.get(i)) && hex(input.get(i + 1)) {
                out.push(x2c(input[i], input[i + 1]));
                i += 2;
            }
            changed = true;
        } else {
            out.push(c);
            i += 1;
        }
    }
    finish(input, out, changed)
}

/// `utf8toUnicode`: each well-formed 2–4 byte UTF-8 sequence becomes `%u` and its code point
/// in lowercase hex, at least four digits (`é` → `%u00e9`, `😀` → `%u1f600`); ASCII stays.
/// ModSecurity's quirks are kept: a NUL that is not the last byte is dropped; a lead byte
/// whose continuation bytes are missing or wrong is dropped; an overlong form or a surrogate
/// is followed by its raw lead byte; lead bytes F5–F7 are also copied before the escape;
/// stray continuation bytes and F8–FF are copied.
pub fn utf8_to_unicode(input: &[u8]) -> Cow<'_, [u8]> {
    let last = input.len().saturating_sub(1);
    let plain = input
        .iter()
        .enumerate()
        .all(|(k, &b)| b < 0x80 && (b != 0 || k == last));
    if plain {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len() * 2);
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        let cont = |k: usize| input.get(i + k).is_some_and(|b| b & 0xc0 == 0x80);
        let bits = |k: usize| u32::from(input.get(i + k).map_or(0, |b| b & 0x3f));
        let (len, cp): (usize, Option<u32>) = if c & 0x80 == 0 {
            if c != 0 || i + 1 >= input.len() {
                out.push(c);
            }
            (1, None)
        } else if c & 0xe0 == 0xc0 {
            if input.len() - i >= 2 && cont(1) {
                (2, Some((u32::from(c & 0x1f) << 6) | bits(1)))
            } else {
                (0, None)
            }
        } else if c & 0xf0 == 0xe0 {
            if input.len() - i >= 3 && cont(1) && cont(2) {
                (
                    3,
                    Some((u32::from(c & 0x0f) << 12) | (bits(1) << 6) | bits(2)),
                )
            } else {
                (0, None)
            }
        } else if c & 0xf8 == 0xf0 {
            if c >= 0xf5 {
                out.push(c);
            }
            if input.len() - i >= 4 && cont(1) && cont(2) && cont(3) {
                (
                    4,
                    Some((u32::from(c & 0x07) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3)),
                )
            } else {
                (0, None)
            }
        } else {
            out.push(c);
            (1, None)
        };
        if let Some(d) = cp {
            out.extend_from_slice(format!("%u{d:04x}").as_bytes());
            if (0xd800..=0xdfff).contains(&d) {
                out.push(c);
            }
            let overlong =
                (len == 4 && d < 0x1_0000) || (len == 3 && d < 0x800) || (len == 2 && d < 0x80);
            if overlong {
                out.push(c);
            }
        }
        i += len.max(1);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(c: Cow<'_, [u8]>) -> Vec<u8> {
        c.into_owned()
    }

    #[test]
    fn url_decode_decodes_valid_escapes_and_keeps_invalid_ones() {
        assert_eq!(s(url_decode(b"a%20b+c%3d")), b"a b c=");
        assert_eq!(s(url_decode(b"%zz%4%")), b"%zz%4%");
        assert_eq!(s(url_decode(b"%u0041")), b"%u0041");
        assert_eq!(s(url_decode(b"%00")), b"\0");
        assert!(matches!(url_decode(b"%zz"), Cow::Borrowed(_)));
    }

    #[test]
    fn url_decode_uni_keeps_the_low_byte_and_maps_full_width() {
        assert_eq!(s(url_decode_uni(b"%u0027")), b"'");
        assert_eq!(s(url_decode_uni(b"%u2215")), b"\x15");
        assert_eq!(s(url_decode_uni(b"%uff1c%uFF0E%uff5f")), b"<.\x5f");
        assert_eq!(s(url_decode_uni(b"%U0041")), b"A");
        assert_eq!(s(url_decode_uni(b"%u004%u12")), b"%u004%u12");
        assert_eq!(s(url_decode_uni(b"%uzzzz+%41")), b"%uzzzz A");
    }

    #[test]
    fn js_decode_handles_all_escape_forms() {
        assert_eq!(s(js_decode(b"\\x41\\u0042\\101\\n\\'")), b"ABA\n'");
        assert_eq!(s(js_decode(b"\\uff1c")), b"<");
        // A third octal digit only when the value stays a byte.
        assert_eq!(s(js_decode(b"\\477")), b"'7");
        assert_eq!(s(js_decode(b"\\x4g")), b"x4g");
        assert_eq!(s(js_decode(b"a\\")), b"a\\");
    }

    #[test]
    fn escape_seq_decode_handles_ansi_c_escapes() {
        assert_eq!(
            s(escape_seq_decode(b"\\x41\\X42\\101\\t\\?\\q")),
            b"ABA\t?q"
        );
        assert_eq!(s(escape_seq_decode(b"\\xZZ")), b"xZZ");
        assert_eq!(s(escape_seq_decode(b"\\777")), [0o777u32 as u8]);
        assert_eq!(s(escape_seq_decode(b"end\\")), b"end\\");
    }

    #[test]
    fn html_entities_decode_as_modsecurity_does() {
        assert_eq!(
            s(html_entity_decode(b"&lt;script&gt;&#x41;&#66;&quot&amp;x")),
            b"<script>AB\"&x"
        );
        assert_eq!(s(html_entity_decode(b"&#0000060;&#x00003c")), b"<<");
        assert_eq!(s(html_entity_decode(b"&LT;&nbsp;")), b"<\xa0");
        assert_eq!(s(html_entity_decode(b"&ltfoo;x")), b"<x");
        assert_eq!(
            s(html_entity_decode(b"&apos;&copy;&#;&#x;& &")),
            b"&apos;&copy;&#;&#x;& &"
        );
        assert_eq!(s(html_entity_decode(b"&#x1F600;")), b"\x00");
        assert!(matches!(html_entity_decode(b"a & b"), Cow::Borrowed(_)));
    }

    #[test]
    fn css_escapes_decode_to_bytes() {
        assert_eq!(s(css_decode(b"\\3c script\\>")), b"<script>");
        assert_eq!(s(css_decode(b"\\00003C")), b"<");
        assert_eq!(s(css_decode(b"\\ff1c")), b"<");
        assert_eq!(s(css_decode(b"\\6a\\61vascript")), b"javascript");
        assert_eq!(s(css_decode(b"a\\\nb\\")), b"ab");
        assert_eq!(s(css_decode(b"\\e")), b"\x0e");
    }

    #[test]
    fn base64_decode_is_strict() {
        assert_eq!(s(base64_decode(b"aGVsbG8=")), b"hello");
        assert_eq!(s(base64_decode(b"aGVs\r\nbG8=")), b"hello");
        assert_eq!(s(base64_decode(b"aGVsbG8")), b"hel");
        assert_eq!(s(base64_decode(b"aGV*bG8=")), b"");
        assert_eq!(s(base64_decode(b"aGVsbG8=x")), b"");
        assert_eq!(s(base64_decode(b"aGVs bG8=")), b"");
        assert_eq!(s(base64_decode(b"aGVsbG8=\0junk")), b"hello");
    }

    #[test]
    fn base64_decode_ext_skips_what_is_not_base64() {
        assert_eq!(s(base64_decode_ext(b"aGV*sb.G8")), b"hello");
        assert_eq!(s(base64_decode_ext(b"QQ")), b"A");
        assert_eq!(s(base64_decode_ext(b"Q=")), b"");
    }

    #[test]
    fn hex_and_sql_hex_decode() {
        assert_eq!(s(hex_decode(b"414243")), b"ABC");
        assert_eq!(s(hex_decode(b"41424")), b"AB");
        assert_eq!(
            s(sql_hex_decode(b"select 0x414243, 0X41")),
            b"select ABC, A"
        );
        assert_eq!(s(sql_hex_decode(b"0x4 0x")), b"0x4 0x");
        assert_eq!(s(sql_hex_decode(b"0x41424")), b"AB4");
    }

    #[test]
    fn utf8_to_unicode_writes_percent_u_code_points() {
        assert_eq!(s(utf8_to_unicode("aé’".as_bytes())), b"a%u00e9%u2019");
        assert_eq!(s(utf8_to_unicode("😀".as_bytes())), b"%u1f600");
        assert_eq!(s(utf8_to_unicode(b"a\0b\0")), b"ab\0");
        // Overlong `/`: the escape and the raw lead byte.
        assert_eq!(s(utf8_to_unicode(b"\xc0\xaf")), b"%u002f\xc0");
        // A lead byte without its continuation is dropped; the stray byte is copied.
        assert_eq!(s(utf8_to_unicode(b"\xe2x\x80")), b"x\x80");
        assert!(matches!(utf8_to_unicode(b"plain"), Cow::Borrowed(_)));
    }
}
