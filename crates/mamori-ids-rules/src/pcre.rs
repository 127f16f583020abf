//! `pcre:"/regex/flags"`: PCRE syntax translated to the `regex` crate's, compiled once.
//!
//! The `regex` crate runs in time linear in the input, so attacker-controlled payloads
//! cannot trigger catastrophic backtracking. The price is that PCRE features needing
//! backtracking — look-around, backreferences, atomic groups, possessive quantifiers — are
//! not available; rules using them are skipped with a reason starting `pcre: unsupported`.
//!
//! Translation handles the PCRE/`regex` differences that ET rules hit: `$` (end or before a
//! final newline), `\Z`, `\h`, `\R`, `\e`, octal escapes, `\/`, literal `{` that is not a
//! quantifier, literal `[` / `&&` / `--` / `~~` inside classes, `(?#...)` comments, and
//! non-ASCII pattern characters (PCRE without UTF treats them as their bytes).

use regex::bytes::{Regex, RegexBuilder};

use crate::buffer::Buffer;
use crate::error::{bail, RResult};

/// Compiled size limits: a rule cannot make the engine allocate without bound.
const REGEX_SIZE_LIMIT: usize = 4 << 20;
const DFA_SIZE_LIMIT: usize = 1 << 20;

/// A compiled `pcre` option.
#[derive(Debug, Clone)]
pub struct Pcre {
    pub negated: bool,
    /// `R`: match starts at the end of the previous match in the same buffer.
    pub relative: bool,
    /// The buffer a buffer flag (`U`, `H`, ...) selects; `None` = current sticky buffer.
    pub buffer: Option<Buffer>,
    /// Lower-cased literals one of which starts every match (see [`prefix_literals`]);
    /// `None` when the regex has no such small set.
    pub prefixes: Option<Vec<Vec<u8>>>,
    regex: Regex,
}

impl Pcre {
    /// Parse `"/re/flags"` or `!"/re/flags"`.
    pub fn parse(value: &str) -> RResult<Pcre> {
        let v = value.trim();
        let (negated, v) = match v.strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, v),
        };
        // Suricata also takes the regex unquoted (`pcre:/one/U;`).
        let quoted = v
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .filter(|_| v.len() >= 2);
        let Some(inner) = quoted.or_else(|| v.starts_with('/').then_some(v)) else {
            bail!("pcre", "value must be \"/regex/flags\"");
        };
        // Undo the rule-level escapes of '"' and ';' (the regex keeps its own backslashes).
        let inner = inner.replace("\\\"", "\"").replace("\\;", ";");
        let Some(body) = inner.strip_prefix('/') else {
            bail!("pcre", "regex must start with '/'");
        };
        let Some(end) = body.rfind('/') else {
            bail!("pcre", "regex must end with '/'");
        };
        let (pattern, flags) = (&body[..end], &body[end + 1..]);
        let mut b = Builder::default();
        let mut buffer = None;
        let mut relative = false;
        for f in flags.chars() {
            match f {
                'i' => b.caseless = true,
                's' => b.dotall = true,
                'm' => b.multiline = true,
                'x' => b.extended = true,
                'A' => b.anchored = true,
                'E' => b.dollar_endonly = true,
                'G' => b.ungreedy = true,
                'R' => relative = true,
                'O' | 'B' => {}
                c => match Buffer::from_pcre_flag(c) {
                    Some(buf) => {
                        if buffer.is_some_and(|x| x != buf) {
                            bail!("pcre", "more than one buffer flag in {flags:?}");
                        }
                        buffer = Some(buf);
                    }
                    None => bail!("pcre", "unknown flag {c:?}"),
                },
            }
        }
        let translated = translate(pattern, &b)?;
        let regex = RegexBuilder::new(&translated)
            .unicode(false)
            .case_insensitive(b.caseless)
            .dot_matches_new_line(b.dotall)
            .multi_line(b.multiline)
            .ignore_whitespace(b.extended)
            .swap_greed(b.ungreedy)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(DFA_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let last = msg
                    .lines()
                    .rev()
                    .find(|l| l.trim_start().starts_with("error:"))
                    .unwrap_or("invalid regex");
                crate::error::RuleError::new("pcre", format!("pcre: {}", last.trim()))
            })?;
        let prefixes = if negated {
            None
        } else {
            prefix_literals(&translated, &b)
        };
        Ok(Pcre {
            negated,
            relative,
            buffer,
            prefixes,
            regex,
        })
    }

    /// Whether `hay` holds a match (the regex stops at the first one it is sure of).
    pub fn is_match(&self, hay: &[u8]) -> bool {
        self.regex.is_match(hay)
    }

    /// Find the first match in `hay` starting at or after `start`; positions are in `hay`.
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        if start > hay.len() {
            return None;
        }
        self.regex.find_at(hay, start).map(|m| (m.start(), m.end()))
    }
}

/// At most this many prefix literals stand in for a regex in the prefilter.
const MAX_PREFIXES: usize = 256;

/// The literals one of which every match of the regex starts with, lower-cased, when there
/// is a small set of them each at least two bytes long.
///
/// Rules whose only detection is a `pcre` (credit-card and SSN patterns, word lists) would
/// otherwise run their regex over every packet; with these literals in the prefilter they
/// run only where a match can start. The regex is read case-sensitively on purpose: the
/// prefilter ignores ASCII case itself, and expanding `/i` into every case variant would
/// blow the literal set past its limits.
fn prefix_literals(translated: &str, b: &Builder) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .multi_line(b.multiline)
        .dot_matches_new_line(b.dotall)
        .ignore_whitespace(b.extended)
        .swap_greed(b.ungreedy)
        .build()
        .parse(translated)
        .ok()?;
    // Expanding classes gives longer literals but can overflow the extractor's limits (it
    // then keeps only a useless one-byte prefix): try wide expansion first, then narrower.
    let literals = [10, 4, 1].into_iter().find_map(|limit_class| {
        let mut extractor = regex_syntax::hir::literal::Extractor::new();
        extractor.limit_class(limit_class);
        let seq = extractor.extract(&hir);
        let literals = seq.literals()?;
        let usable = !literals.is_empty()
            && literals.len() <= MAX_PREFIXES
            && literals.iter().all(|l| l.as_bytes().len() >= 2);
        usable.then(|| literals.to_vec())
    })?;
    let mut out: Vec<Vec<u8>> = literals
        .iter()
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect();
    out.sort_unstable();
    out.dedup();
    Some(out)
}

#[derive(Default)]
struct Builder {
    caseless: bool,
    dotall: bool,
    multiline: bool,
    extended: bool,
    anchored: bool,
    dollar_endonly: bool,
    ungreedy: bool,
}

fn unsupported(what: &str) -> crate::error::RuleError {
    crate::error::RuleError::new("pcre", format!("pcre: unsupported {what}"))
}

/// Rewrite PCRE syntax into `regex` syntax (non-Unicode, byte-oriented).
fn translate(p: &str, b: &Builder) -> RResult<String> {
    let bytes = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 16);
    if b.anchored {
        out.push_str(r"\A(?:");
    }
    let mut i = 0;
    // Whether the previous token can take a quantifier (to spot possessive `++`).
    let mut after_quant = false;
    while i < bytes.len() {
        let c = bytes[i];
        let was_quant = after_quant;
        after_quant = false;
        match c {
            b'\\' => {
                i = escape(bytes, i, &mut out, false)?;
                continue;
            }
            b'[' => {
                i = class(bytes, i, &mut out)?;
                continue;
            }
            b'(' => {
                let rest = &bytes[i + 1..];
                if rest.starts_with(b"?=")
                    || rest.starts_with(b"?!")
                    || rest.starts_with(b"?<=")
                    || rest.starts_with(b"?<!")
                {
                    return Err(unsupported("look-around"));
                }
                if rest.starts_with(b"?>") {
                    return Err(unsupported("atomic group"));
                }
                if rest.starts_with(b"?P=") {
                    return Err(unsupported("backreference"));
                }
                if rest.starts_with(b"?|")
                    || rest.starts_with(b"?R")
                    || rest.first() == Some(&b'*')
                    || rest.starts_with(b"?&")
                    || rest.starts_with(b"?P>")
                {
                    return Err(unsupported("group construct"));
                }
                if rest.starts_with(b"?#") {
                    match rest.iter().position(|&x| x == b')') {
                        Some(end) => {
                            i += end + 2;
                            continue;
                        }
                        None => bail!("pcre", "unterminated (?# comment"),
                    }
                }
                if rest.first() == Some(&b'?') && rest.get(1).is_some_and(u8::is_ascii_digit) {
                    return Err(unsupported("recursion"));
                }
                out.push('(');
            }
            b'{' => {
                let q = quantifier_len(&bytes[i..]);
                if q > 0 {
                    out.push_str(&p[i..i + q]);
                    i += q;
                    after_quant = true;
                    continue;
                }
                out.push_str(r"\{");
            }
            b'}' => out.push_str(r"\}"),
            b'*' | b'?' => {
                if c == b'?' && was_quant {
                    out.push('?');
                } else {
                    out.push(c as char);
                    after_quant = true;
                }
            }
            b'+' => {
                if was_quant {
                    return Err(unsupported("possessive quantifier"));
                }
                out.push('+');
                after_quant = true;
            }
            b'$' if !b.multiline && !b.dollar_endonly => out.push_str(r"(?:\n?\z)"),
            b'#' if b.extended => {
                // A comment to end of line; keep it out of the translated pattern.
                let end = bytes[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(bytes.len(), |e| i + e);
                i = end;
                continue;
            }
            _ if c >= 0x80 => push_byte(&mut out, c),
            _ => out.push(c as char),
        }
        i += 1;
    }
    // A `?` right after a quantifier is lazy (fine); check trailing possessive on `}` too.
    if b.anchored {
        if b.extended {
            out.push('\n');
        }
        out.push(')');
    }
    Ok(out)
}

fn push_byte(out: &mut String, b: u8) {
    out.push_str(&format!(r"\x{b:02X}"));
}

/// Length of a valid `{n}`, `{n,}`, `{n,m}` quantifier at the start of `s`, or 0.
fn quantifier_len(s: &[u8]) -> usize {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > st
    };
    if !digits(&mut i) {
        return 0;
    }
    if s.get(i) == Some(&b',') {
        i += 1;
        digits(&mut i);
    }
    if s.get(i) == Some(&b'}') {
        i + 1
    } else {
        0
    }
}

/// Translate the escape at `bytes[i]` (a backslash); returns the index after it.
fn escape(bytes: &[u8], i: usize, out: &mut String, in_class: bool) -> RResult<usize> {
    let Some(&n) = bytes.get(i + 1) else {
        bail!("pcre", "trailing backslash");
    };
    let mut next = i + 2;
    match n {
        // \1..\9 are backreferences; longer numbers are octal when there are not that
        // many groups, which in ET rules is always the case.
        b'1'..=b'9' if !in_class && !bytes.get(i + 2).is_some_and(u8::is_ascii_digit) => {
            return Err(unsupported("backreference"))
        }
        b'g' | b'k' if !in_class => return Err(unsupported("backreference")),
        b'0' | b'1'..=b'7' => {
            // Octal: \0, \0nn, and (in classes) \nnn.
            let mut v: u32 = 0;
            let mut j = i + 1;
            while j < bytes.len() && j < i + 4 && (b'0'..=b'7').contains(&bytes[j]) {
                v = v * 8 + u32::from(bytes[j] - b'0');
                j += 1;
            }
            push_byte(out, (v & 0xff) as u8);
            next = j;
        }
        b'x' => {
            if bytes.get(i + 2) == Some(&b'{') {
                let Some(end) = bytes[i + 3..].iter().position(|&x| x == b'}') else {
                    bail!("pcre", "unterminated \\x{{...}}");
                };
                let hex = std::str::from_utf8(&bytes[i + 3..i + 3 + end]).unwrap_or("");
                let v = u32::from_str_radix(hex, 16)
                    .map_err(|_| crate::error::RuleError::new("pcre", "invalid \\x{...} escape"))?;
                if v > 0xff {
                    return Err(unsupported("code point above \\xff"));
                }
                push_byte(out, v as u8);
                next = i + 4 + end;
            } else {
                let mut v = 0u32;
                let mut j = i + 2;
                while j < bytes.len() && j < i + 4 && bytes[j].is_ascii_hexdigit() {
                    v = v * 16 + (bytes[j] as char).to_digit(16).unwrap_or(0);
                    j += 1;
                }
                push_byte(out, v as u8);
                next = j;
            }
        }
        b'Z' if !in_class => out.push_str(r"(?:\n?\z)"),
        b'z' | b'A' | b'b' | b'B' if !in_class => {
            out.push('\\');
            out.push(n as char);
        }
        b'b' => out.push_str(r"\x08"),
        b'G' | b'K' | b'X' | b'C' | b'N' => {
            return Err(unsupported(&format!("escape \\{}", n as char)))
        }
        b'h' => out.push_str(if in_class { r" \t" } else { r"[ \t]" }),
        b'H' if !in_class => out.push_str(r"[^ \t]"),
        b'v' => out.push_str(if in_class {
            r"\x0A-\x0D"
        } else {
            r"[\x0A-\x0D]"
        }),
        b'V' if !in_class => out.push_str(r"[^\x0A-\x0D]"),
        b'R' if !in_class => out.push_str(r"(?:\r\n|\n|\r)"),
        b'e' => out.push_str(r"\x1B"),
        b'a' => out.push_str(r"\x07"),
        b'f' => out.push_str(r"\x0C"),
        b'n' | b'r' | b't' | b'd' | b'D' | b'w' | b'W' | b's' | b'S' => {
            out.push('\\');
            out.push(n as char);
        }
        b'Q' => {
            // \Q...\E: everything literal.
            let rest = &bytes[i + 2..];
            let end = rest
                .windows(2)
                .position(|w| w == b"\\E")
                .unwrap_or(rest.len());
            for &b in &rest[..end] {
                push_byte(out, b);
            }
            next = i + 2 + end + if end < rest.len() { 2 } else { 0 };
        }
        b'E' => {}
        b'c' => match bytes.get(i + 2) {
            Some(&x) => {
                push_byte(out, x.to_ascii_uppercase() ^ 0x40);
                next = i + 3;
            }
            None => bail!("pcre", "\\c at end of pattern"),
        },
        _ if n.is_ascii_alphanumeric() => {
            return Err(unsupported(&format!("escape \\{}", n as char)))
        }
        // Any other escaped character is that literal byte.
        _ => push_byte(out, n),
    }
    Ok(next)
}

/// Translate a character class starting at `bytes[i] == b'['`; returns the index after it.
fn class(bytes: &[u8], i: usize, out: &mut String) -> RResult<usize> {
    let mut j = i + 1;
    out.push('[');
    if bytes.get(j) == Some(&b'^') {
        out.push('^');
        j += 1;
    }
    if bytes.get(j) == Some(&b']') {
        out.push_str(r"\]");
        j += 1;
    }
    loop {
        let Some(&c) = bytes.get(j) else {
            bail!("pcre", "unterminated character class");
        };
        match c {
            b']' => {
                out.push(']');
                return Ok(j + 1);
            }
            b'\\' => j = escape(bytes, j, out, true)?,
            b'[' if bytes.get(j + 1) == Some(&b':') => {
                let Some(end) = bytes[j..].windows(2).position(|w| w == b":]") else {
                    bail!("pcre", "unterminated POSIX class");
                };
                out.push_str(std::str::from_utf8(&bytes[j..j + end + 2]).unwrap_or(""));
                j += end + 2;
            }
            b'[' | b'&' | b'~' => {
                push_byte(out, c);
                j += 1;
            }
            b'-' if bytes.get(j + 1) == Some(&b'-') => {
                out.push_str(r"\x2D");
                j += 1;
            }
            _ if c >= 0x80 => {
                push_byte(out, c);
                j += 1;
            }
            _ => {
                out.push(c as char);
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, hay: &[u8]) -> bool {
        Pcre::parse(p).unwrap().find_at(hay, 0).is_some()
    }

    #[test]
    fn flags_and_buffers() {
        let p = Pcre::parse(r#""/^GET\s+\/x/Ui""#).unwrap();
        assert_eq!(p.buffer, Some(Buffer::HttpUri));
        assert!(!p.relative);
        assert!(m(r#""/^get\s+\/x/Ui""#, b"GET /x"));
        let p = Pcre::parse(r#"!"/abc/R""#).unwrap();
        assert!(p.negated && p.relative);
        assert!(Pcre::parse(r#""/a/UH""#).is_err());
        assert!(Pcre::parse(r#""/a/q""#)
            .unwrap_err()
            .reason
            .contains("flag"));
        assert!(Pcre::parse(r#""a""#).is_err());
    }

    fn prefixes(p: &str) -> Option<Vec<String>> {
        Pcre::parse(p).unwrap().prefixes.map(|v| {
            v.into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        })
    }

    #[test]
    fn prefix_literals_start_every_match() {
        // ET's 14-digit card number rule: a space, then 30[0-5]x, 36xx or 38xx.
        let cc = prefixes(r#""/ (30[0-5]\d|36\d{2}|38\d{2})\d{10} /""#).unwrap();
        assert!(cc.iter().all(|l| l.starts_with(" 3")), "{cc:?}");
        assert!(cc.iter().any(|l| l.starts_with(" 36")));
        // `/i`: one lower-cased spelling stands for every case (the prefilter folds case).
        let words = prefixes(r#""/ (FREE XXX|dildo|tits)\b/i""#).unwrap();
        assert_eq!(words, [" dildo", " free xxx", " tits"]);
        // No small set, or nothing to say: no prefixes.
        assert_eq!(prefixes(r#""/.*abc/""#), None);
        assert_eq!(prefixes(r#""/[a-z]+x/""#), None);
        assert_eq!(
            prefixes(r#""/a|bc/""#),
            None,
            "a one-byte literal is no filter"
        );
        assert_eq!(
            prefixes(r#"!"/abc/""#),
            None,
            "a negated regex requires nothing"
        );
    }

    #[test]
    fn the_regex_may_be_unquoted_as_suricata_allows() {
        let p = Pcre::parse("/(oneself)+/U").unwrap();
        assert_eq!(p.buffer, Some(Buffer::HttpUri));
        assert!(m("/one/i", b"xONEx"));
        assert!(Pcre::parse("one").is_err());
    }

    #[test]
    fn pcre_dollar_matches_before_final_newline() {
        assert!(m(r#""/abc$/""#, b"xabc\n"));
        assert!(!m(r#""/abc$/E""#, b"xabc\n"));
        assert!(m(r#""/abc$/m""#, b"abc\nzzz"));
        assert!(m(r#""/abc\Z/""#, b"abc\n"));
    }

    #[test]
    fn syntax_differences_are_translated() {
        assert!(m(r#""/a{b/""#, b"a{b"));
        assert!(m(r#""/a{2}/""#, b"aa"));
        assert!(m(r#""/[[]x/""#, b"[x"));
        assert!(m(r#""/[a&&b]/""#, b"&"));
        assert!(m(r#""/\x41\101\e/""#, b"AA\x1b"));
        assert!(m(r#""/\h\/(?#comment)z/""#, b"\t/z"));
        assert!(m(r#""/[\x80-\xff]{2}/""#, b"\xc3\xa9"));
        assert!(m(r#""/[[:digit:]]+/""#, b"42"));
        assert!(m(r#""/a b # comment/x""#, b"ab"));
        assert!(m(r#""/\Qa.b\E/""#, b"a.b"));
        assert!(!m(r#""/\Qa.b\E/""#, b"axb"));
        assert!(m(r#""/a.c/s""#, b"a\nc"));
        assert!(!m(r#""/a.c/""#, b"a\nc"));
        assert!(m(r#""/A+?b/G""#, b"AAb"));
    }

    #[test]
    fn anchored_flag_anchors_at_start() {
        assert!(m(r#""/bc/A""#, b"bcd"));
        assert!(!m(r#""/bc/A""#, b"abcd"));
    }

    #[test]
    fn backtracking_features_are_reported_unsupported() {
        for p in [
            r#""/a(?=b)/""#,
            r#""/(a)\1/""#,
            r#""/a++/""#,
            r#""/(?>a)/""#,
            r#""/(?<!a)b/""#,
        ] {
            let e = Pcre::parse(p).unwrap_err();
            assert!(
                e.reason.starts_with("pcre: unsupported"),
                "{p}: {}",
                e.reason
            );
        }
    }
}
