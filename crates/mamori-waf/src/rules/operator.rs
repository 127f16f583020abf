//! Operators (`@rx`, `@pm`, `@eq`, `@detectSQLi`, …), compiled once at load.
//!
//! `@rx` runs on the linear-time `regex` engine with ModSecurity's flags (`.` matches newline,
//! `$` only at the end). Operators that need outside services (`@rbl`, `@geoLookup` without a
//! database) never match; the loader says so once.

use aho_corasick::AhoCorasick;
use std::net::IpAddr;
use std::path::Path;

#[derive(Debug)]
pub enum Op {
    Rx(regex::bytes::Regex),
    /// A pattern with look-around or back-references (CRS 3.3 has a few), on a backtracking
    /// engine whose work per match is capped ([`BACKTRACK_LIMIT`]); over the cap: no match.
    RxFancy(fancy_regex::Regex),
    Pm(AhoCorasick, Vec<Vec<u8>>),
    Streq(Vec<u8>),
    Contains(Vec<u8>),
    ContainsWord(Vec<u8>),
    BeginsWith(Vec<u8>),
    EndsWith(Vec<u8>),
    Within(Vec<u8>),
    StrMatch(Vec<u8>),
    Eq(i64),
    Ge(i64),
    Gt(i64),
    Lt(i64),
    Le(i64),
    IpMatch(Vec<(IpAddr, u8)>),
    DetectSqli,
    DetectXss,
    ValidateByteRange([bool; 256]),
    ValidateUrlEncoding,
    ValidateUtf8Encoding,
    Unconditional,
    NoMatch,
}

/// PCRE syntax the `regex` crate reads differently: `[` inside a class is a literal in PCRE
/// (a nested class for `regex`), `&&`/`--`/`~~` in a class are literals (set operations
/// for `regex`), possessive quantifiers (`*+`) and atomic groups (`(?>`) only limit
/// backtracking, which a linear-time engine does not do: they become greedy/plain groups.
pub fn pcre_to_rust(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && p[i..].starts_with("\\x{") {
            // `\x{e2}` is a code point to the regex crate, a byte to PCRE: write `\xE2`.
            if let Some(end) = p[i + 3..].find('}') {
                if let Ok(v) = u32::from_str_radix(&p[i + 3..i + 3 + end], 16) {
                    if v <= 0xff {
                        out.push_str(&format!("\\x{v:02X}"));
                        i += 3 + end + 1;
                        continue;
                    }
                }
            }
        }
        if c == b'\\' {
            // Copy the escape and the escaped character as they are.
            let next = p[i + 1..].chars().next().map_or(0, char::len_utf8);
            if next > 1 {
                // An escaped non-ASCII character: its bytes, literally.
                for byte in &b[i + 1..i + 1 + next] {
                    out.push_str(&format!("\\x{byte:02X}"));
                }
            } else {
                out.push_str(&p[i..i + 1 + next]);
            }
            i += 1 + next;
            continue;
        }
        if in_class {
            match c {
                b']' if i > class_start => in_class = false,
                b'[' if !p[i..].starts_with("[:") => {
                    out.push_str("\\[");
                    i += 1;
                    continue;
                }
                b'&' | b'-' | b'~' if b.get(i + 1) == Some(&c) => {
                    out.push('\\');
                    out.push(c as char);
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if c.is_ascii() {
                out.push(c as char);
            } else {
                out.push_str(&format!("\\x{c:02X}"));
            }
            i += 1;
            continue;
        }
        match c {
            b'[' => {
                in_class = true;
                out.push('[');
                i += 1;
                // A leading `^` and a first `]` are part of the class.
                if b.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = i;
                if b.get(i) == Some(&b']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            b'+' if i > 0
                && matches!(b[i - 1], b'*' | b'+' | b'?' | b'}')
                && !(i > 1 && b[i - 2] == b'\\') =>
            {
                i += 1;
                continue;
            }
            b'(' if p[i..].starts_with("(?>") => {
                out.push_str("(?:");
                i += 3;
                continue;
            }
            _ => {}
        }
        // PCRE without UTF mode (ModSecurity's) sees a non-ASCII character as its bytes:
        // `[’]` is three one-byte members. Spell them as byte escapes.
        let len = p[i..].chars().next().map_or(1, char::len_utf8);
        if len == 1 {
            out.push(c as char);
        } else {
            for byte in &b[i..i + len] {
                out.push_str(&format!("\\x{byte:02X}"));
            }
        }
        i += len;
    }
    out
}

/// Backtracking steps a look-around pattern may take per evaluation.
pub const BACKTRACK_LIMIT: usize = 100_000;

/// What a match captures: `TX.0` (the matched text) and groups.
pub type Captures = Vec<Vec<u8>>;

/// ModSecurity's integer parsing: optional sign and leading digits; anything else is 0.
pub fn to_int(s: &[u8]) -> i64 {
    let s = s.trim_ascii();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((d - b'0') as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

fn phrases_from_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.as_bytes().to_vec())
        .collect())
}

fn pm(phrases: Vec<Vec<u8>>) -> Result<Op, String> {
    let ac = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(&phrases)
        .map_err(|e| e.to_string())?;
    Ok(Op::Pm(ac, phrases))
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = match s.split_once('/') {
        Some((ip, b)) => (ip.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
        None => {
            let ip: IpAddr = s.parse().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    Some((ip, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits.min(32) as u32)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits.min(128) as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Op {
    /// `name` without `@`, `arg` after macro expansion, `dir` of the rule file.
    pub fn compile(name: &str, arg: &str, dir: &Path) -> Result<Op, String> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "rx" => match regex::bytes::RegexBuilder::new(&pcre_to_rust(arg))
                .unicode(false)
                .dot_matches_new_line(true)
                .size_limit(64 << 20)
                .dfa_size_limit(64 << 20)
                .build()
            {
                Ok(re) => Op::Rx(re),
                Err(first) => Op::RxFancy(
                    fancy_regex::RegexBuilder::new(&format!("(?s){arg}"))
                        .backtrack_limit(BACKTRACK_LIMIT)
                        .build()
                        .map_err(|e| {
                            format!(
                                "regular expression does not compile: {} / {e}",
                                first.to_string().lines().last().unwrap_or("")
                            )
                        })?,
                ),
            },
            "pm" => pm(arg
                .split_whitespace()
                .map(|p| p.as_bytes().to_vec())
                .collect())?,
            "pmf" | "pmfromfile" => {
                let mut all = Vec::new();
                for f in arg.split_whitespace() {
                    all.extend(phrases_from_file(&dir.join(f))?);
                }
                pm(all)?
            }
            "streq" => Op::Streq(arg.as_bytes().to_vec()),
            "contains" => Op::Contains(arg.as_bytes().to_vec()),
            "containsword" => Op::ContainsWord(arg.as_bytes().to_vec()),
            "beginswith" => Op::BeginsWith(arg.as_bytes().to_vec()),
            "endswith" => Op::EndsWith(arg.as_bytes().to_vec()),
            "within" => Op::Within(arg.as_bytes().to_vec()),
            "strmatch" => Op::StrMatch(arg.as_bytes().to_vec()),
            "eq" => Op::Eq(to_int(arg.as_bytes())),
            "ge" => Op::Ge(to_int(arg.as_bytes())),
            "gt" => Op::Gt(to_int(arg.as_bytes())),
            "lt" => Op::Lt(to_int(arg.as_bytes())),
            "le" => Op::Le(to_int(arg.as_bytes())),
            "ipmatch" => Op::IpMatch(
                arg.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        parse_cidr(s.trim())
                            .ok_or_else(|| format!("{s:?} is not an address or CIDR"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "ipmatchf" | "ipmatchfromfile" => {
                let mut nets = Vec::new();
                for line in phrases_from_file(&dir.join(arg.trim()))? {
                    let s = String::from_utf8_lossy(&line).into_owned();
                    nets.push(
                        parse_cidr(&s).ok_or_else(|| format!("{s:?} is not an address or CIDR"))?,
                    );
                }
                Op::IpMatch(nets)
            }
            "detectsqli" => Op::DetectSqli,
            "detectxss" => Op::DetectXss,
            "validatebyterange" => {
                let mut ok = [false; 256];
                for part in arg.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (a, b) = part.split_once('-').unwrap_or((part, part));
                    let a: usize = a
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad byte range {part:?}"))?;
                    let b: usize = b
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad byte range {part:?}"))?;
                    if a > 255 || b > 255 || a > b {
                        return Err(format!("bad byte range {part:?}"));
                    }
                    for x in ok.iter_mut().take(b + 1).skip(a) {
                        *x = true;
                    }
                }
                Op::ValidateByteRange(ok)
            }
            "validateurlencoding" => Op::ValidateUrlEncoding,
            "validateutf8encoding" => Op::ValidateUtf8Encoding,
            "unconditionalmatch" => Op::Unconditional,
            "nomatch" => Op::NoMatch,
            // Need outside services or databases we do not query: never match.
            "rbl" | "geolookup" | "inspectfile" | "fuzzyhash" | "verifycc" | "verifycpf"
            | "verifyssn" | "gsblookup" => Op::NoMatch,
            other => return Err(format!("unsupported operator @{other}")),
        })
    }

    /// Whether `input` matches; with `capture`, what it captured.
    pub fn eval(&self, input: &[u8], capture: bool, caps: &mut Captures) -> bool {
        match self {
            Op::Rx(re) => {
                // Captures cost; most values do not match, so ask the cheap question first.
                if !re.is_match(input) {
                    return false;
                }
                if !capture {
                    return true;
                }
                match re.captures(input) {
                    Some(c) => {
                        caps.clear();
                        for g in c.iter().take(10) {
                            caps.push(g.map(|m| m.as_bytes().to_vec()).unwrap_or_default());
                        }
                        true
                    }
                    None => false,
                }
            }
            Op::RxFancy(re) => {
                // The backtracking engine works on text; bytes that are not UTF-8 are
                // replaced, which keeps the ASCII structure attacks rely on.
                let text = String::from_utf8_lossy(input);
                match re.captures(&text) {
                    Ok(Some(c)) => {
                        if capture {
                            caps.clear();
                            for g in c.iter().take(10) {
                                caps.push(
                                    g.map(|m| m.as_str().as_bytes().to_vec())
                                        .unwrap_or_default(),
                                );
                            }
                        }
                        true
                    }
                    _ => false,
                }
            }
            Op::Pm(ac, phrases) => match ac.find(input) {
                Some(m) => {
                    if capture {
                        caps.clear();
                        caps.push(
                            phrases
                                .get(m.pattern().as_usize())
                                .cloned()
                                .unwrap_or_default(),
                        );
                    }
                    true
                }
                None => false,
            },
            Op::Streq(s) => input == s.as_slice(),
            Op::Contains(s) => memchr::memmem::find(input, s).is_some(),
            Op::ContainsWord(s) => {
                let mut start = 0;
                while let Some(p) = memchr::memmem::find(&input[start..], s) {
                    let at = start + p;
                    let before = at == 0 || !input[at - 1].is_ascii_alphanumeric();
                    let end = at + s.len();
                    let after = end >= input.len() || !input[end].is_ascii_alphanumeric();
                    if before && after {
                        return true;
                    }
                    start = at + 1;
                }
                false
            }
            Op::BeginsWith(s) => input.starts_with(s),
            Op::EndsWith(s) => input.ends_with(s),
            Op::Within(s) => {
                !input.is_empty() && memchr::memmem::find(s, input).is_some()
                    || (input.is_empty() && s.is_empty())
            }
            Op::StrMatch(s) => memchr::memmem::find(input, s).is_some(),
            Op::Eq(n) => to_int(input) == *n,
            Op::Ge(n) => to_int(input) >= *n,
            Op::Gt(n) => to_int(input) > *n,
            Op::Lt(n) => to_int(input) < *n,
            Op::Le(n) => to_int(input) <= *n,
            Op::IpMatch(nets) => std::str::from_utf8(input)
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| nets.iter().any(|(n, b)| in_cidr(ip, *n, *b))),
            Op::DetectSqli => match crate::detect::sqli(input) {
                Some(fp) => {
                    if capture {
                        caps.clear();
                        caps.push(fp.into_bytes());
                    }
                    true
                }
                None => false,
            },
            Op::DetectXss => crate::detect::xss(input),
            Op::ValidateByteRange(ok) => match input.iter().find(|&&b| !ok[b as usize]) {
                Some(&b) => {
                    if capture {
                        caps.clear();
                        caps.push(vec![b]);
                    }
                    true
                }
                None => false,
            },
            Op::ValidateUrlEncoding => {
                let mut i = 0;
                while i < input.len() {
                    if input[i] == b'%' {
                        let ok = input.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                            && input.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                        if !ok {
                            return true;
                        }
                        i += 3;
                    } else {
                        i += 1;
                    }
                }
                false
            }
            Op::ValidateUtf8Encoding => std::str::from_utf8(input).is_err(),
            Op::Unconditional => true,
            Op::NoMatch => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, arg: &str) -> Op {
        Op::compile(name, arg, Path::new(".")).unwrap()
    }

    fn m(o: &Op, input: &str) -> bool {
        o.eval(input.as_bytes(), false, &mut Vec::new())
    }

    #[test]
    fn operators_follow_modsecurity() {
        assert!(m(&op("rx", "(?i)union\\s+select"), "1 UNION  select"));
        assert!(m(&op("rx", "a.b"), "a\nb"));
        assert!(m(&op("pm", "select union"), "xUnIoNx"));
        assert!(m(&op("within", "|GET| |POST|"), "GET"));
        assert!(!m(&op("within", "|GET| |POST|"), "PUT"));
        assert!(m(&op("eq", "0"), "abc"));
        assert!(m(&op("ge", "5"), "7"));
        assert!(m(&op("ipMatch", "127.0.0.1,10.0.0.0/8,::1"), "10.2.3.4"));
        assert!(!m(&op("ipMatch", "10.0.0.0/8"), "11.0.0.1"));
        assert!(m(&op("validateByteRange", "32-126"), "a\u{1}"));
        assert!(!m(&op("validateByteRange", "9,10,13,32-126"), "a b\n"));
        assert!(m(&op("validateUrlEncoding", ""), "%zz"));
        assert!(!m(&op("validateUrlEncoding", ""), "%41"));
        assert!(m(&op("containsWord", "select"), "a select b"));
        assert!(!m(&op("containsWord", "select"), "selection"));
        assert!(Op::compile("nope", "", Path::new(".")).is_err());
    }

    #[test]
    fn pcre_classes_and_possessives_translate() {
        assert_eq!(pcre_to_rust(r"[^a[\]b]"), r"[^a\[\]b]");
        assert_eq!(pcre_to_rust(r"\s*+x++"), r"\s*x+");
        assert_eq!(pcre_to_rust(r"(?>a)[]a]"), r"(?:a)[\]a]");
        assert_eq!(pcre_to_rust("[’]"), r"[\xE2\x80\x99]");
        assert!(m(&op("rx", r#"^[^"(),/:;<=>?![\x5c\]{}]+$"#), "text"));
    }

    #[test]
    fn rx_sees_bytes_as_pcre_does() {
        let o = op(
            "rx",
            r"((?:(?:[!-\+\-:->@\[\]\^`\{-~]|\x{c2}\x{b4}|\x{e2}\x80[\x98\x99])[^!-\+\-:->@\[\]\^`\{-~]*?){12})",
        );
        assert!(m(&o, "1’ OR ’1’=’x’#;--()"), "{:?}", o);
    }

    #[test]
    fn rx_captures_groups_for_tx() {
        let mut caps = Vec::new();
        assert!(op("rx", "(a+)(b)").eval(b"xaab", true, &mut caps));
        assert_eq!(caps, vec![b"aab".to_vec(), b"aa".to_vec(), b"b".to_vec()]);
    }
}
