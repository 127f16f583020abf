//! `@rx`: ModSecurity's regular expressions (PCRE, compiled with `PCRE_DOTALL` and
//! `PCRE_DOLLAR_ENDONLY`, no UTF mode) on the linear-time `regex` crate.
//!
//! [`translate`] rewrites the PCRE syntax the `regex` crate reads differently or not at all:
//! a `[` inside a class is a literal for PCRE (a nested class for `regex`); `&&`, `--`, `~~`
//! inside a class are literals (set operations for `regex`); `\<`/`\>` are literal angle
//! brackets (word boundaries for `regex`); `\v` is vertical whitespace (a vertical tab for
//! `regex`); `\h`, `\R`, `\N`, `\e`, `\Q…\E`, `(?#…)`, octal escapes and PCRE1's "unknown
//! letter escape is the letter"; a `{` that does not start a quantifier is a literal.
//! Possessive quantifiers (`*+`) and atomic groups (`(?>…)`) only limit backtracking, which a
//! linear-time engine does not do; they become greedy quantifiers and plain groups (this can
//! only make a pattern match in more cases, never fewer). Every non-ASCII character of the
//! pattern is spelled as its UTF-8 bytes, because PCRE without UTF mode sees bytes: `[’]` is a
//! class of three bytes.
//!
//! A pattern that needs backtracking (look-around, back-references — CRS 3.3 has a few) runs
//! on `fancy-regex`, with a cap on the work per evaluation ([`BACKTRACK_LIMIT`]); over the cap
//! it does not match. `fancy-regex` works on text: bytes that are not UTF-8 are replaced
//! before it sees them, which keeps the ASCII structure attacks are written in.

use regex::bytes::{Regex, RegexBuilder};

/// Backtracking steps a look-around pattern may take per evaluation.
pub const BACKTRACK_LIMIT: usize = 100_000;
/// Compiled-program and lazy-DFA cache sizes: CRS's largest patterns (the 932 command lists)
/// need more than the `regex` defaults.
const SIZE_LIMIT: usize = 64 << 20;
/// ModSecurity sets `TX.0`..`TX.9`: the whole match and nine groups.
const MAX_CAPTURES: usize = 10;

/// A compiled `@rx` pattern.
#[derive(Debug, Clone)]
pub(crate) enum Rx {
    /// A pattern that matches every input whole (`^.*$`: with `PCRE_DOTALL` and
    /// `PCRE_DOLLAR_ENDONLY` the dot takes newlines too): CRS uses it to capture a value.
    Anything,
    Linear(Regex),
    Backtracking(Box<fancy_regex::Regex>),
}

impl Rx {
    /// Compiles a PCRE pattern as ModSecurity does; `multiline` adds `PCRE_MULTILINE` (used
    /// by `@verifyCC`).
    pub(crate) fn compile(pattern: &str, multiline: bool) -> Result<Rx, String> {
        if !multiline && matches!(pattern, "^.*$" | "^.*" | ".*" | "^.*\\z") {
            return Ok(Rx::Anything);
        }
        let linear = translate(pattern, false).and_then(|p| {
            RegexBuilder::new(&p)
                .unicode(false)
                .dot_matches_new_line(true)
                .multi_line(multiline)
                .size_limit(SIZE_LIMIT)
                .dfa_size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| last_line(&e.to_string()))
        });
        let first = match linear {
            Ok(re) => return Ok(Rx::Linear(re)),
            Err(e) => e,
        };
        let flags = if multiline { "(?sm)" } else { "(?s)" };
        let p = translate(pattern, true)?;
        fancy_regex::RegexBuilder::new(&format!("{flags}{p}"))
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map(|re| Rx::Backtracking(Box::new(re)))
            .map_err(|e| format!("regular expression does not compile: {first} / {e}"))
    }

    pub(crate) fn is_match(&self, input: &[u8]) -> bool {
        match self {
            Rx::Anything => true,
            Rx::Linear(re) => re.is_match(input),
            Rx::Backtracking(re) => re
                .is_match(&String::from_utf8_lossy(input))
                .unwrap_or(false),
        }
    }

    /// The whole match and up to nine groups (a group that did not take part is empty).
    pub(crate) fn captures(&self, input: &[u8]) -> Option<Vec<Vec<u8>>> {
        match self {
            Rx::Anything => Some(vec![input.to_vec()]),
            Rx::Linear(re) => {
                let c = re.captures(input)?;
                Some(
                    c.iter()
                        .take(MAX_CAPTURES)
                        .map(|g| g.map(|m| m.as_bytes().to_vec()).unwrap_or_default())
                        .collect(),
                )
            }
            Rx::Backtracking(re) => {
                let text = String::from_utf8_lossy(input);
                let c = re.captures(&text).ok()??;
                Some(
                    c.iter()
                        .take(MAX_CAPTURES)
                        .map(|g| {
                            g.map(|m| m.as_str().as_bytes().to_vec())
                                .unwrap_or_default()
                        })
                        .collect(),
                )
            }
        }
    }

    /// Each match, left to right, non-overlapping (for `@verifyCC`).
    pub(crate) fn for_each_match(&self, input: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> bool {
        match self {
            Rx::Anything => f(input),
            Rx::Linear(re) => re.find_iter(input).any(|m| f(m.as_bytes())),
            Rx::Backtracking(re) => {
                let text = String::from_utf8_lossy(input);
                re.find_iter(&text)
                    .any(|m| m.is_ok_and(|m| f(m.as_str().as_bytes())))
            }
        }
    }

    /// Whether this pattern runs on the linear-time engine.
    pub(crate) fn is_linear(&self) -> bool {
        matches!(self, Rx::Linear(_) | Rx::Anything)
    }
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Rewrites a PCRE pattern for the `regex` crate (see the module doc). With `backtracking`,
/// look-around and back-references are kept (for `fancy-regex`) instead of refused.
pub(crate) fn translate(p: &str, backtracking: bool) -> Result<String, String> {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 16);
    let mut i = 0;
    let mut in_class = false;
    // Index of the first member of the current class (a `]` there is a literal).
    let mut class_start = 0;
    // The last thing written was a quantifier: a `+` now is possessive.
    let mut after_quant = false;
    while let Some(&c) = b.get(i) {
        if in_class {
            match c {
                b']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                    i += 1;
                }
                b'[' => {
                    // A POSIX class `[:alpha:]` is the same in both; any other `[` a literal.
                    if let Some(end) = posix_class_end(&b[i..]) {
                        out.push_str(&p[i..i + end]);
                        i += end;
                    } else {
                        out.push_str("\\[");
                        i += 1;
                    }
                }
                b'&' | b'~' => {
                    push_literal(&mut out, c);
                    i += 1;
                }
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    out.push_str("\\-");
                    i += 1;
                }
                b'\\' => i = escape(p, i, true, backtracking, &mut out)?,
                _ => {
                    push_byte(&mut out, c);
                    i += 1;
                }
            }
            continue;
        }
        let was_quant = after_quant;
        after_quant = false;
        match c {
            b'\\' => i = escape(p, i, false, backtracking, &mut out)?,
            b'[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if b.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = i;
                if b.get(i) == Some(&b']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            b'(' => i = group_open(p, i, backtracking, &mut out)?,
            b'*' | b'+' | b'?' => {
                if was_quant && c == b'+' {
                    // Possessive: greedy is the same language.
                } else if was_quant && c == b'?' {
                    out.push('?');
                } else {
                    out.push(c as char);
                    after_quant = true;
                }
                i += 1;
            }
            b'{' => match quantifier_len(&b[i..]) {
                Some(n) => {
                    out.push_str(&p[i..i + n]);
                    i += n;
                    after_quant = true;
                }
                None => {
                    out.push_str("\\{");
                    i += 1;
                }
            },
            b'}' => {
                out.push_str("\\}");
                i += 1;
            }
            _ => {
                push_byte(&mut out, c);
                i += 1;
            }
        }
    }
    if in_class {
        return Err("missing terminating ] for character class".into());
    }
    Ok(out)
}

/// Writes an unescaped pattern byte: ASCII means the same to both engines; a non-ASCII byte
/// (part of a character in the pattern) is matched as that byte, as PCRE without UTF does.
fn push_byte(out: &mut String, c: u8) {
    if c.is_ascii() {
        out.push(c as char);
    } else {
        out.push_str(&format!("\\x{c:02X}"));
    }
}

/// Writes a byte that must be read literally, whatever it is.
fn push_literal(out: &mut String, c: u8) {
    if c.is_ascii_alphanumeric() {
        out.push(c as char);
    } else {
        out.push_str(&format!("\\x{c:02X}"));
    }
}

fn posix_class_end(s: &[u8]) -> Option<usize> {
    let rest = s.strip_prefix(b"[:")?;
    let rest = rest.strip_prefix(b"^").unwrap_or(rest);
    let n = rest.iter().take_while(|c| c.is_ascii_lowercase()).count();
    rest.get(n..n + 2).filter(|t| *t == b":]")?;
    Some(s.len() - rest.len() + n + 2)
}

/// Length of a PCRE quantifier `{n}`, `{n,}`, `{n,m}` at the start of `s`.
fn quantifier_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    let d1 = s
        .get(i..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if d1 == 0 {
        return None;
    }
    i += d1;
    if s.get(i) == Some(&b',') {
        i += 1;
        i += s
            .get(i..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    }
    (s.get(i) == Some(&b'}')).then_some(i + 1)
}

/// Translates a `(`: groups, flags, comments; returns the index after what it consumed.
fn group_open(p: &str, i: usize, backtracking: bool, out: &mut String) -> Result<usize, String> {
    let rest = &p[i..];
    if rest.starts_with("(?#") {
        return match rest.find(')') {
            Some(end) => Ok(i + end + 1),
            None => Err("missing ) after comment".into()),
        };
    }
    if rest.starts_with("(?>") {
        out.push_str("(?:");
        return Ok(i + 3);
    }
    let needs_backtracking = ["(?=", "(?!", "(?<=", "(?<!"]
        .iter()
        .any(|s| rest.starts_with(s));
    if needs_backtracking && !backtracking {
        return Err("look-around needs a backtracking engine".into());
    }
    if rest.starts_with("(?|")
        || rest.starts_with("(?R")
        || rest.starts_with("(?P>")
        || rest.starts_with("(?'")
    {
        return Err(format!("unsupported group syntax {:?}", &rest[..3]));
    }
    if rest
        .as_bytes()
        .get(2)
        .is_some_and(|c| c.is_ascii_digit() || *c == b'+' || *c == b'&')
        && rest.starts_with("(?")
    {
        return Err("recursion is not supported".into());
    }
    out.push('(');
    Ok(i + 1)
}

/// Translates the escape at `p[i] == '\\'`; returns the index after it.
fn escape(
    p: &str,
    i: usize,
    in_class: bool,
    backtracking: bool,
    out: &mut String,
) -> Result<usize, String> {
    let b = p.as_bytes();
    let Some(&n) = b.get(i + 1) else {
        return Err("\\ at end of pattern".into());
    };
    let mut next = i + 2;
    match n {
        b'0' => {
            // Octal: `\0` and up to two more octal digits.
            let digits = b[next..]
                .iter()
                .take(2)
                .take_while(|c| (b'0'..=b'7').contains(c))
                .count();
            let v = octal(&b[i + 1..next + digits]);
            next += digits;
            push_literal(out, v);
        }
        b'1'..=b'9' if in_class => {
            let digits = b[i + 1..]
                .iter()
                .take(3)
                .take_while(|c| (b'0'..=b'7').contains(c))
                .count();
            if digits == 0 {
                push_literal(out, n);
            } else {
                push_literal(out, octal(&b[i + 1..i + 1 + digits]));
                next = i + 1 + digits;
            }
        }
        b'1'..=b'9' => {
            if !backtracking {
                return Err("back-references need a backtracking engine".into());
            }
            out.push('\\');
            out.push(n as char);
        }
        b'x' => {
            let (v, used) = if b.get(next) == Some(&b'{') {
                let end = p[next..].find('}').ok_or("missing } in \\x{")?;
                let v = u32::from_str_radix(&p[next + 1..next + end], 16)
                    .map_err(|_| "bad \\x{} escape")?;
                (v, end + 1)
            } else {
                let digits = b[next..]
                    .iter()
                    .take(2)
                    .take_while(|c| c.is_ascii_hexdigit())
                    .count();
                let v = u32::from_str_radix(&p[next..next + digits], 16).unwrap_or(0);
                (v, digits)
            };
            next += used;
            let v = u8::try_from(v).map_err(|_| "character value above \\xff in non-UTF mode")?;
            push_literal(out, v);
        }
        b'c' => {
            let ch = *b.get(next).ok_or("\\c at end of pattern")?;
            next += 1;
            push_literal(out, ch.to_ascii_uppercase() ^ 0x40);
        }
        b'a' => push_literal(out, 0x07),
        b'e' => push_literal(out, 0x1b),
        b'f' => push_literal(out, 0x0c),
        b'n' => out.push_str("\\n"),
        b'r' => out.push_str("\\r"),
        b't' => out.push_str("\\t"),
        b'd' | b'D' | b's' | b'S' | b'w' | b'W' => {
            out.push('\\');
            out.push(n as char);
        }
        b'b' if in_class => push_literal(out, 0x08),
        b'b' | b'B' | b'A' | b'z' => {
            out.push('\\');
            out.push(n as char);
        }
        b'Z' if !in_class => out.push_str("(?:\\n?\\z)"),
        b'h' => out.push_str(if in_class { "\\t \\xA0" } else { "[\\t \\xA0]" }),
        b'H' if !in_class => out.push_str("[^\\t \\xA0]"),
        b'v' => out.push_str(if in_class {
            "\\n\\x0B\\x0C\\r\\x85"
        } else {
            "[\\n\\x0B\\x0C\\r\\x85]"
        }),
        b'V' if !in_class => out.push_str("[^\\n\\x0B\\x0C\\r\\x85]"),
        b'R' if !in_class => out.push_str("(?:\\r\\n|[\\n\\x0B\\x0C\\r\\x85])"),
        b'N' if !in_class => out.push_str("[^\\n]"),
        b'Q' => {
            let end = p[next..].find("\\E").map_or(p.len(), |e| next + e);
            for &c in &b[next..end] {
                push_literal(out, c);
            }
            next = (end + 2).min(p.len());
        }
        b'E' => {}
        b'G' | b'K' | b'X' | b'C' | b'g' | b'k' | b'p' | b'P' | b'o' | b'Z' | b'H' | b'V'
        | b'R' | b'N' => {
            return Err(format!("unsupported escape \\{}", n as char));
        }
        _ if n.is_ascii_alphabetic() => push_literal(out, n),
        _ if n.is_ascii() => push_literal(out, n),
        _ => {
            // An escaped non-ASCII character: its bytes, literally.
            let len = p[i + 1..].chars().next().map_or(1, char::len_utf8);
            for &c in &b[i + 1..i + 1 + len] {
                push_literal(out, c);
            }
            next = i + 1 + len;
        }
    }
    Ok(next)
}

fn octal(digits: &[u8]) -> u8 {
    digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0')) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rx(p: &str) -> Rx {
        Rx::compile(p, false).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn pcre_class_syntax_is_read_as_pcre_does() {
        assert_eq!(translate(r"[^a[\]b]", false).unwrap(), r"[^a\[\x5Db]");
        assert!(rx(r"[a[]").is_match(b"["));
        assert!(rx(r"[]a]").is_match(b"]"));
        assert!(rx(r"[a&&b]").is_match(b"&"));
        assert!(rx(r"[a--]").is_match(b"-"));
        assert!(rx(r"[[:digit:]x]").is_match(b"7"));
        assert!(rx(r#"^[^"(),/:;<=>?![\x5c\]{}]+$"#).is_match(b"text"));
    }

    #[test]
    fn possessive_and_atomic_become_greedy() {
        assert_eq!(translate(r"\s*+x++(?>a)", false).unwrap(), r"\s*x+(?:a)");
        assert_eq!(translate(r"\*+", false).unwrap(), r"\x2A+");
        assert_eq!(translate(r"a*?b", false).unwrap(), "a*?b");
        assert!(rx(r"a{2,}+b").is_match(b"aaab"));
    }

    #[test]
    fn escapes_mean_what_pcre_means() {
        assert!(rx(r"\<script\>").is_match(b"<script>"));
        assert!(!rx(r"a\<").is_match(b"a b"));
        assert!(rx(r"a\vb").is_match(b"a\nb"));
        assert!(rx(r"a\hb").is_match(b"a\tb"));
        assert!(rx(r"\e\a\cA").is_match(b"\x1b\x07\x01"));
        assert!(rx(r"\012").is_match(b"\n"));
        assert!(rx(r"[\012]").is_match(b"\n"));
        assert!(rx(r"\Qa.b\E").is_match(b"a.b"));
        assert!(!rx(r"\Qa.b\E").is_match(b"axb"));
        assert!(rx(r"\i\/").is_match(b"i/"));
        assert!(rx(r"a{foo}").is_match(b"a{foo}"));
        assert!(rx(r"x{,2}").is_match(b"x{,2}"));
        assert!(rx(r"a(?#comment)b").is_match(b"ab"));
        assert!(rx(r"ab\Z").is_match(b"ab\n"));
    }

    #[test]
    fn dot_matches_newline_and_dollar_only_at_end() {
        assert!(rx("a.b").is_match(b"a\nb"));
        assert!(!rx("a$").is_match(b"a\n"));
        assert!(rx("a$").is_match(b"xa"));
    }

    #[test]
    fn non_utf_mode_sees_bytes() {
        assert_eq!(translate("[’]", false).unwrap(), r"[\xE2\x80\x99]");
        assert!(rx("[’]").is_match(b"\x80"));
        assert!(rx(r"\x{e2}\x80").is_match("’".as_bytes()));
        assert!(rx("(?i)é").is_match("é".as_bytes()));
        assert!(rx(r"^.$").is_match(b"\xff"));
        assert!(rx(r"\w").is_match(b"a"));
        assert!(!rx(r"\w").is_match("é".as_bytes()));
    }

    #[test]
    fn look_around_runs_with_a_backtracking_cap() {
        let r = rx(r"a(?!b)");
        assert!(!r.is_linear());
        assert!(r.is_match(b"ac"));
        assert!(!r.is_match(b"ab"));
        let back = rx(r"(a)\1");
        assert!(back.is_match(b"xaa"));
        // Catastrophic backtracking gives up (no match) instead of hanging.
        let evil = rx(r"^(a+)+(?=b)\1$");
        assert!(!evil.is_match(&[b'a'; 64]));
    }

    #[test]
    fn captures_whole_match_and_groups() {
        let c = rx("(a+)(x)?(b)").captures(b"zaab").unwrap();
        assert_eq!(
            c,
            vec![b"aab".to_vec(), b"aa".to_vec(), Vec::new(), b"b".to_vec()]
        );
        let many = rx("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)")
            .captures(b"abcdefghijk")
            .unwrap();
        assert_eq!(many.len(), 10);
    }

    #[test]
    fn a_pattern_matching_everything_captures_the_whole_value() {
        for p in ["^.*$", ".*"] {
            let re = rx(p);
            assert!(matches!(re, Rx::Anything));
            assert!(re.is_match(b""));
            assert_eq!(re.captures(b"a\nb"), Some(vec![b"a\nb".to_vec()]));
        }
        // As the regex engine reads it, with the dot taking newlines.
        let full = Rx::compile("^(?:.*)$", false).unwrap();
        assert_eq!(full.captures(b"a\nb"), rx("^.*$").captures(b"a\nb"));
    }

    #[test]
    fn broken_patterns_are_errors() {
        assert!(Rx::compile("(a", false).is_err());
        assert!(Rx::compile("[a", false).is_err());
        assert!(Rx::compile("a\\", false).is_err());
    }
}
