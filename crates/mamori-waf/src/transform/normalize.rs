//! Evasion normalisations: case, whitespace, NULs, comments, command lines, paths, parity.
//!
//! ModSecurity v3's byte-level rules, quirks included (whitespace is C's `isspace`:
//! space, `\t \n \v \f \r`; `removeWhitespace` also drops 0xA0 and 0xC2, the bytes of a UTF-8
//! non-breaking space). Each borrows the input when nothing changes.

use super::is_c_space;
use std::borrow::Cow;

/// Keeps the bytes `keep` accepts; borrows when it accepts all.
fn filter(input: &[u8], keep: impl Fn(u8) -> bool) -> Cow<'_, [u8]> {
    match input.iter().position(|&b| !keep(b)) {
        None => Cow::Borrowed(input),
        Some(first) => {
            let mut out = Vec::with_capacity(input.len());
            out.extend_from_slice(&input[..first]);
            out.extend(input[first..].iter().copied().filter(|&b| keep(b)));
            Cow::Owned(out)
        }
    }
}

/// Maps each byte; borrows when `changes` finds nothing to change.
fn map(input: &[u8], changes: impl Fn(u8) -> bool, f: impl Fn(u8) -> u8) -> Cow<'_, [u8]> {
    if input.iter().any(|&b| changes(b)) {
        Cow::Owned(input.iter().map(|&b| f(b)).collect())
    } else {
        Cow::Borrowed(input)
    }
}

/// `lowercase`: ASCII letters only (C locale).
pub fn lowercase(input: &[u8]) -> Cow<'_, [u8]> {
    map(
        input,
        |b| b.is_ascii_uppercase(),
        |b| b.to_ascii_lowercase(),
    )
}

/// `uppercase`: ASCII letters only (C locale).
pub fn uppercase(input: &[u8]) -> Cow<'_, [u8]> {
    map(
        input,
        |b| b.is_ascii_lowercase(),
        |b| b.to_ascii_uppercase(),
    )
}

/// `removeNulls`.
pub fn remove_nulls(input: &[u8]) -> Cow<'_, [u8]> {
    filter(input, |b| b != 0)
}

/// `replaceNulls`: NUL becomes a space.
pub fn replace_nulls(input: &[u8]) -> Cow<'_, [u8]> {
    map(input, |b| b == 0, |b| if b == 0 { b' ' } else { b })
}

/// `removeWhitespace`: drops `isspace` bytes, 0xA0 and 0xC2.
pub fn remove_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    filter(input, |b| !(is_c_space(b) || b == 0xa0 || b == 0xc2))
}

/// `compressWhitespace`: each run of `isspace` bytes becomes one space.
pub fn compress_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    let needs = input.iter().enumerate().any(|(k, &b)| {
        is_c_space(b) && (b != b' ' || input.get(k + 1).is_some_and(|&n| is_c_space(n)))
    });
    if !needs {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut in_space = false;
    for &b in input {
        if is_c_space(b) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(b);
            in_space = false;
        }
    }
    Cow::Owned(out)
}

/// `trim`, `trimLeft`, `trimRight`: `isspace` bytes at the ends.
pub fn trim(input: &[u8], left: bool, right: bool) -> Cow<'_, [u8]> {
    let mut s = input;
    if left {
        let n = s.iter().take_while(|&&b| is_c_space(b)).count();
        s = &s[n..];
    }
    if right {
        let n = s.iter().rev().take_while(|&&b| is_c_space(b)).count();
        s = &s[..s.len() - n];
    }
    Cow::Borrowed(s)
}

/// `cmdLine`: Windows and Unix command-line evasion — deletes `\ " ' ^`; each run of spaces,
/// tabs, CR, LF, `,` and `;` becomes one space; a space before `/` or `(` is removed;
/// everything is lowercased.
pub fn cmd_line(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut space = false;
    for &b in input {
        match b {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b' ' | b',' | b';' | b'\t' | b'\r' | b'\n' => {
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
                out.push(b.to_ascii_lowercase());
                space = false;
            }
        }
    }
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

/// `removeComments`: drops `/* … */` and `<!-- … -->` (either end closes either kind); the
/// byte right after a closing marker is copied without being examined; `--` or `#` ends the
/// value there; an unclosed comment becomes one space.
pub fn remove_comments(input: &[u8]) -> Cow<'_, [u8]> {
    let has = |p: &[u8]| memchr::memmem::find(input, p).is_some();
    if !(has(b"/*") || has(b"<!--") || has(b"--") || input.contains(&b'#')) {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut in_comment = false;
    let mut i = 0;
    while i < input.len() {
        let r = &input[i..];
        if !in_comment {
            if r.starts_with(b"/*") {
                in_comment = true;
                i += 2;
            } else if r.starts_with(b"<!--") {
                in_comment = true;
                i += 4;
            } else if r.starts_with(b"--") || r[0] == b'#' {
                break;
            } else {
                out.push(r[0]);
                i += 1;
            }
        } else {
            let close = if r.starts_with(b"*/") {
                2
            } else if r.starts_with(b"-->") {
                3
            } else {
                0
            };
            if close == 0 {
                i += 1;
                continue;
            }
            in_comment = false;
            i += close;
            if let Some(&next) = input.get(i) {
                out.push(next);
            }
            i += 1;
        }
    }
    if in_comment {
        out.push(b' ');
    }
    Cow::Owned(out)
}

/// `replaceComments`: each `/* … */` becomes one space; an unclosed one too.
pub fn replace_comments(input: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memmem::find(input, b"/*").is_none() {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut in_comment = false;
    let mut i = 0;
    while i < input.len() {
        let r = &input[i..];
        if !in_comment {
            if r.starts_with(b"/*") {
                in_comment = true;
                i += 2;
            } else {
                out.push(r[0]);
                i += 1;
            }
        } else if r.starts_with(b"*/") {
            in_comment = false;
            out.push(b' ');
            i += 2;
        } else {
            i += 1;
        }
    }
    if in_comment {
        out.push(b' ');
    }
    Cow::Owned(out)
}

/// `removeCommentsChar`: deletes the comment markers `/*`, `*/`, `<!--`, `-->`, `--`, `#`.
pub fn remove_comments_char(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let r = &input[i..];
        let skip = if r.starts_with(b"/*") || r.starts_with(b"*/") {
            2
        } else if r.starts_with(b"<!--") {
            4
        } else if r.starts_with(b"-->") {
            3
        } else if r.starts_with(b"--") {
            2
        } else if r[0] == b'#' {
            1
        } else {
            0
        };
        if skip == 0 {
            out.push(r[0]);
            i += 1;
        } else {
            i += skip;
        }
    }
    if out.len() == input.len() {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

/// `normalizePath` (`normalizePathWin` also turns `\` into `/` first): removes `./` and
/// empty segments, resolves `../` against the previous segment (never above the root of an
/// absolute path; a relative path keeps the `..` it cannot resolve), collapses `//`, and keeps
/// a trailing `/` only if the input had one.
pub fn normalize_path(input: &[u8], win: bool) -> Cow<'_, [u8]> {
    let has_backslash = win && input.contains(&b'\\');
    let clean = !input.contains(&b'.') && memchr::memmem::find(input, b"//").is_none();
    if input.is_empty() || (clean && !has_backslash) {
        // Without dots, double slashes or backslashes the state machine changes nothing but
        // a leading slash of a relative path, which cannot exist here.
        return Cow::Borrowed(input);
    }
    let src: Vec<u8> = if has_backslash {
        input
            .iter()
            .map(|&b| if b == b'\\' { b'/' } else { b })
            .collect()
    } else {
        input.to_vec()
    };
    let out = normalize_path_bytes(&src);
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

/// The path state machine on a `/`-only, non-empty path: ModSecurity's
/// `normalize_path_inplace` re-expressed with an output buffer. `s` reads the input, `d`
/// writes the output; only the end of a segment (the byte before a `/`, or the last byte)
/// is looked at.
fn normalize_path_bytes(src: &[u8]) -> Vec<u8> {
    let Some(end) = src.len().checked_sub(1) else {
        return Vec::new();
    };
    let relative = src[0] != b'/';
    let trailing = src[end] == b'/';
    let mut out = vec![0u8; src.len()];
    let (mut s, mut d) = (0usize, 0usize);
    let mut hit_root = false;
    let mut done = false;
    while !done && s <= end && d <= end {
        let mut normalise = true;
        if s == end {
            done = true;
        } else if src[s + 1] != b'/' {
            normalise = false;
        }
        if normalise && !(s != end && src[s] == b'/') {
            if src[s] == b'.' {
                if d > 0 && out[d - 1] == b'.' {
                    // `..`: drop it and the previous segment, unless a relative path has
                    // nothing left to drop.
                    if !(relative && (hit_root || d <= 2)) {
                        let mut nd = d as isize - 3;
                        while nd > 0 && out.get(nd as usize) != Some(&b'/') {
                            nd -= 1;
                        }
                        let mut nd = nd.max(0) as usize;
                        if nd == 0 {
                            hit_root = true;
                            if !relative && s == end {
                                nd = 1;
                            }
                        }
                        d = nd;
                        if done {
                            continue;
                        }
                        s += 1;
                    } else {
                        hit_root = true;
                    }
                } else if d == 0 {
                    // A leading `./`.
                    if done {
                        continue;
                    }
                    s += 1;
                } else if out[d - 1] == b'/' {
                    // `/./`.
                    if done {
                        continue;
                    }
                    d -= 1;
                    s += 1;
                }
            } else if d > 0 {
                hit_root = false;
            }
        }
        let Some(&c) = src.get(s) else { break };
        if c == b'/' {
            while s < end && src[s + 1] == b'/' {
                s += 1;
            }
            if relative && d == 0 {
                s += 1;
                continue;
            }
        }
        if let (Some(slot), Some(&c)) = (out.get_mut(d), src.get(s)) {
            *slot = c;
        }
        d += 1;
        s += 1;
    }
    out.truncate(d.min(src.len()));
    if !trailing && out.last() == Some(&b'/') {
        out.pop();
    }
    out
}

/// Which parity `parity*7bit` gives each byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    Even,
    Odd,
    Zero,
}

/// `parityEven7bit`/`parityOdd7bit`/`parityZero7bit`: set or clear bit 7 so the byte has even
/// or odd parity, or clear it.
pub fn parity(input: &[u8], p: Parity) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(
        input
            .iter()
            .map(|&x| {
                let odd = x.count_ones() % 2 == 1;
                let set = match p {
                    Parity::Even => odd,
                    Parity::Odd => !odd,
                    Parity::Zero => false,
                };
                if set {
                    x | 0x80
                } else {
                    x & 0x7f
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(c: Cow<'_, [u8]>) -> String {
        String::from_utf8_lossy(&c).into_owned()
    }

    #[test]
    fn cmd_line_normalises_shell_evasions() {
        assert_eq!(
            s(cmd_line(b"C:\\WiNd\"ows\\sys^tem32 ,  /c")),
            "c:windowssystem32/c"
        );
        assert_eq!(s(cmd_line(b"ec'h'o;;id")), "echo id");
        assert_eq!(s(cmd_line(b"cat  (x)")), "cat(x)");
        assert_eq!(s(cmd_line(b"a\x0bb")), "a\x0bb");
        assert!(matches!(cmd_line(b"ls -la"), Cow::Borrowed(_)));
    }

    #[test]
    fn whitespace_transforms_use_c_isspace() {
        assert_eq!(s(compress_whitespace(b"a \t\n\x0b b")), "a b");
        assert_eq!(s(compress_whitespace(b"a\xa0\xa0b")), "a\u{fffd}\u{fffd}b");
        assert_eq!(s(remove_whitespace(b" a b\t\xc2\xa0c")), "abc");
        assert_eq!(s(trim(b" \t x y \r\n", true, true)), "x y");
        assert_eq!(s(trim(b"  x  ", true, false)), "x  ");
        assert_eq!(s(trim(b"  x  ", false, true)), "  x");
        assert!(matches!(compress_whitespace(b"a b c"), Cow::Borrowed(_)));
    }

    #[test]
    fn nulls_are_removed_or_replaced() {
        assert_eq!(remove_nulls(b"a\0b\0").into_owned(), b"ab");
        assert_eq!(replace_nulls(b"a\0b").into_owned(), b"a b");
    }

    #[test]
    fn comments_are_removed_as_modsecurity_does() {
        assert_eq!(s(remove_comments(b"un/**/ion sel/*x*/ect")), "union select");
        assert_eq!(s(remove_comments(b"1 or 1=1-- x")), "1 or 1=1");
        assert_eq!(s(remove_comments(b"1 #x")), "1 ");
        assert_eq!(s(remove_comments(b"a<!-- b -->c")), "ac");
        assert_eq!(s(remove_comments(b"a/* open")), "a ");
        // The byte after a closing marker is copied unexamined.
        assert_eq!(s(remove_comments(b"/**/#x")), "#x");
        assert_eq!(s(replace_comments(b"un/**/ion/*")), "un ion ");
        assert_eq!(s(replace_comments(b"a */ b")), "a */ b");
        assert_eq!(s(remove_comments_char(b"/*a*/b--c#d<!--e-->")), "abcde");
    }

    #[test]
    fn paths_normalise_like_modsecurity() {
        let n = |p: &str| s(normalize_path(p.as_bytes(), false));
        assert_eq!(n("/a/./b/../../../etc//passwd"), "/etc/passwd");
        assert_eq!(n("/foo/bar/../baz"), "/foo/baz");
        assert_eq!(n("/a//b///c"), "/a/b/c");
        assert_eq!(n("/a/b/"), "/a/b/");
        assert_eq!(n("/a/b/.."), "/a");
        // ModSecurity drops the root slash too when nothing follows it.
        assert_eq!(n("/.."), "");
        assert_eq!(n("./a"), "a");
        assert_eq!(n("../../etc/passwd"), "../../etc/passwd");
        assert_eq!(n("a/../../b"), "../b");
        // ModSecurity drops the root slash too when nothing follows it.
        assert_eq!(n("/.."), "");
        assert_eq!(n("/index.php"), "/index.php");
        assert_eq!(
            s(normalize_path(b"..\\..\\windows\\win.ini", true)),
            "../../windows/win.ini"
        );
        assert_eq!(s(normalize_path(b"c:\\a\\..\\b", true)), "c:/b");
        assert!(matches!(normalize_path(b"/a/b.c", false), Cow::Borrowed(_)));
    }

    #[test]
    fn parity_sets_the_high_bit() {
        assert_eq!(parity(b"\x01\x03", Parity::Even).into_owned(), [0x81, 0x03]);
        assert_eq!(parity(b"\x01\x03", Parity::Odd).into_owned(), [0x01, 0x83]);
        assert_eq!(parity(b"\x81", Parity::Zero).into_owned(), [0x01]);
    }
}
