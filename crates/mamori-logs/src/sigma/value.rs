//! One Sigma detection value with its modifiers (`CommandLine|windash|contains: -enc`)
//! compiled into [`Matcher`]s that test one field value.
//!
//! Strings match case-insensitively unless `cased`: both sides are lowercased once (patterns at
//! load time, event values once per event by the caller), so a test is a plain byte search.
//! Wildcards `*` and `?` follow the Sigma spec (`\*`, `\?`, `\\` escape them); `re` uses the
//! `regex` crate with size limits, so PCRE-only syntax (look-around, back-references) makes a
//! rule fail to load with that reason. `expand` placeholders (`%name%`) have no values here
//! (no placeholder configuration): such a value never matches, as the coverage report says.

use base64::Engine;
use memchr::memmem;
use std::net::IpAddr;

/// Compiled regexes may use this much memory each (a bound against hostile rules; Unicode
/// classes such as `\w{1,64}` in SigmaHQ rules need a few MiB).
const REGEX_SIZE_LIMIT: usize = 8 << 20;

/// How a string pattern is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

/// A compiled string pattern (lowercased unless `cased`).
#[derive(Debug, Clone)]
pub(crate) enum StrPat {
    Exact(String),
    Contains(Box<memmem::Finder<'static>>),
    StartsWith(String),
    EndsWith(String),
    /// Literal pieces separated by `*` (no `?`): first anchored at the start unless the
    /// pattern starts with `*`, last at the end unless it ends with `*`.
    Pieces {
        pieces: Vec<String>,
        open_start: bool,
        open_end: bool,
    },
    /// A pattern with `?`: matched char by char.
    Glob(Vec<GlobTok>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GlobTok {
    Char(char),
    Any,
    Star,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// One value test.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Str {
        pat: StrPat,
        cased: bool,
        /// The longest literal a matching value must contain (lowercased), for the prefilter.
        atom: Option<String>,
    },
    Regex(regex::Regex),
    Cidr(Cidr),
    Num(Cmp, f64),
    /// `exists: true/false`.
    Exists(bool),
    /// `null`: the field is absent or empty.
    Null,
    /// `fieldref`: compares with another field of the same event (normalized name).
    FieldRef {
        field: String,
        anchor: Anchor,
        cased: bool,
    },
    /// A value that can never match (an `expand` placeholder without a value).
    Never,
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip.trim(), p.trim().parse::<u8>().ok()?),
            None => {
                let ip: IpAddr = s.trim().parse().ok()?;
                let p = if ip.is_ipv4() { 32 } else { 128 };
                return Some(Cidr { net: ip, prefix: p });
            }
        };
        let net: IpAddr = ip.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    pub(crate) fn contains(&self, ip: &IpAddr) -> bool {
        fn masked(a: u128, b: u128, prefix: u8, bits: u8) -> bool {
            if prefix == 0 {
                return true;
            }
            let shift = u32::from(bits - prefix);
            (a >> shift) == (b >> shift)
        }
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => masked(
                u128::from(u32::from(n)),
                u128::from(u32::from(*a)),
                self.prefix,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), u128::from(*a), self.prefix, 128)
            }
            // IPv4-mapped IPv6 addresses as logged by dual-stack sockets.
            (IpAddr::V4(_), IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => self.contains(&IpAddr::V4(v4)),
                None => false,
            },
            _ => false,
        }
    }
}

impl Matcher {
    /// Whether this test holds for `value` (`lower` is its lowercased form); `None` when the
    /// field is absent. `field_ref` looks up another field (original, lowercased).
    pub(crate) fn test<'e>(
        &self,
        value: Option<(&str, &str)>,
        field_ref: &mut dyn FnMut(&str) -> Option<(&'e str, &'e str)>,
    ) -> bool {
        match self {
            Matcher::Exists(want) => value.is_some() == *want,
            Matcher::Null => value.is_none_or(|(v, _)| v.is_empty()),
            Matcher::Never => false,
            Matcher::Str { pat, cased, .. } => match value {
                Some((orig, lower)) => pat.test(if *cased { orig } else { lower }),
                None => false,
            },
            Matcher::Regex(re) => value.is_some_and(|(v, _)| re.is_match(v)),
            Matcher::Cidr(c) => value
                .is_some_and(|(v, _)| v.trim().parse::<IpAddr>().is_ok_and(|ip| c.contains(&ip))),
            Matcher::Num(cmp, n) => {
                value
                    .and_then(|(v, _)| parse_num(v))
                    .is_some_and(|x| match cmp {
                        Cmp::Gt => x > *n,
                        Cmp::Gte => x >= *n,
                        Cmp::Lt => x < *n,
                        Cmp::Lte => x <= *n,
                    })
            }
            Matcher::FieldRef {
                field,
                anchor,
                cased,
            } => {
                let Some((orig, lower)) = value else {
                    return false;
                };
                let Some((other, other_lower)) = field_ref(field) else {
                    return false;
                };
                let (a, b) = if *cased {
                    (orig, other)
                } else {
                    (lower, other_lower)
                };
                match anchor {
                    Anchor::Exact => a == b,
                    Anchor::Contains => a.contains(b),
                    Anchor::StartsWith => a.starts_with(b),
                    Anchor::EndsWith => a.ends_with(b),
                }
            }
        }
    }

    /// The literal a matching value must contain, for the prefilter.
    pub(crate) fn atom(&self) -> Option<&str> {
        match self {
            Matcher::Str { atom, .. } => atom.as_deref(),
            _ => None,
        }
    }
}

/// Numbers as Windows logs them: decimal, or hexadecimal with `0x`.
pub(crate) fn parse_num(v: &str) -> Option<f64> {
    let v = v.trim();
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|n| n as f64);
    }
    v.parse::<f64>().ok()
}

impl StrPat {
    pub(crate) fn test(&self, v: &str) -> bool {
        match self {
            StrPat::Exact(p) => v == p,
            StrPat::Contains(f) => f.find(v.as_bytes()).is_some(),
            StrPat::StartsWith(p) => v.starts_with(p.as_str()),
            StrPat::EndsWith(p) => v.ends_with(p.as_str()),
            StrPat::Pieces {
                pieces,
                open_start,
                open_end,
            } => pieces_match(pieces, *open_start, *open_end, v),
            StrPat::Glob(toks) => glob_match(toks, v),
        }
    }
}

fn pieces_match(pieces: &[String], open_start: bool, open_end: bool, v: &str) -> bool {
    let mut rest = v;
    let n = pieces.len();
    for (i, p) in pieces.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == n;
        if first && !open_start {
            match rest.strip_prefix(p.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
            if last && !open_end {
                return rest.is_empty();
            }
            continue;
        }
        if last && !open_end {
            return rest.len() >= p.len() && rest.ends_with(p.as_str());
        }
        match memmem::find(rest.as_bytes(), p.as_bytes()) {
            Some(at) => rest = rest.get(at + p.len()..).unwrap_or(""),
            None => return false,
        }
    }
    true
}

/// Wildcard match with `*` and `?`; iterative with one backtrack point, so linear in practice
/// and O(n·m) at worst (both bounded by value and pattern sizes).
fn glob_match(toks: &[GlobTok], v: &str) -> bool {
    let chars: Vec<char> = v.chars().collect();
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < chars.len() {
        match toks.get(p) {
            Some(GlobTok::Star) => {
                star = Some((p, s));
                p += 1;
                continue;
            }
            Some(GlobTok::Any) => {
                p += 1;
                s += 1;
                continue;
            }
            Some(GlobTok::Char(c)) if chars.get(s) == Some(c) => {
                p += 1;
                s += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, ss)) => {
                p = sp + 1;
                s = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    toks.get(p..)
        .is_some_and(|rest| rest.iter().all(|t| *t == GlobTok::Star))
}

/// A Sigma string split into wildcard-aware tokens.
fn tokenize(s: &str) -> Vec<GlobTok> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    it.next();
                    out.push(GlobTok::Char(n));
                }
                _ => out.push(GlobTok::Char('\\')),
            },
            '*' => out.push(GlobTok::Star),
            '?' => out.push(GlobTok::Any),
            c => out.push(GlobTok::Char(c)),
        }
    }
    out
}

/// The transformations a value goes through before matching, in modifier order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Modifiers {
    pub anchor: Option<Anchor>,
    pub all: bool,
    pub cased: bool,
    pub re: bool,
    pub re_i: bool,
    pub re_m: bool,
    pub re_s: bool,
    pub cidr: bool,
    pub exists: bool,
    pub fieldref: bool,
    pub expand: bool,
    pub cmp: Option<Cmp>,
    /// Byte-level encodings applied in order (`wide`, `base64`, `base64offset`, `windash`).
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Utf16Le,
    Utf16Be,
    /// UTF-16 little-endian with a byte-order mark.
    Utf16,
    Base64,
    Base64Offset,
    Windash,
}

impl Modifiers {
    /// Parses the `|`-separated modifiers after a field name.
    pub(crate) fn parse<'a>(mods: impl Iterator<Item = &'a str>) -> Result<Modifiers, String> {
        let mut m = Modifiers::default();
        for raw in mods {
            match raw.trim().to_ascii_lowercase().as_str() {
                "contains" => m.anchor = Some(Anchor::Contains),
                "startswith" => m.anchor = Some(Anchor::StartsWith),
                "endswith" => m.anchor = Some(Anchor::EndsWith),
                "all" => m.all = true,
                "cased" => m.cased = true,
                "re" => m.re = true,
                "i" => m.re_i = true,
                "m" => m.re_m = true,
                "s" => m.re_s = true,
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "fieldref" => m.fieldref = true,
                "expand" => m.expand = true,
                "gt" => m.cmp = Some(Cmp::Gt),
                "gte" => m.cmp = Some(Cmp::Gte),
                "lt" => m.cmp = Some(Cmp::Lt),
                "lte" => m.cmp = Some(Cmp::Lte),
                "utf16le" | "wide" => m.steps.push(Step::Utf16Le),
                "utf16be" => m.steps.push(Step::Utf16Be),
                "utf16" => m.steps.push(Step::Utf16),
                "base64" => m.steps.push(Step::Base64),
                "base64offset" => m.steps.push(Step::Base64Offset),
                "windash" => m.steps.push(Step::Windash),
                other => return Err(format!("unknown modifier `{other}`")),
            }
        }
        Ok(m)
    }
}

/// A YAML scalar of a detection (`null` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
}

/// Compiles one value under `mods` into matchers (several when an encoding has variants:
/// `base64offset` gives three, `windash` five); they are alternatives.
pub(crate) fn compile(value: &Scalar, mods: &Modifiers) -> Result<Vec<Matcher>, String> {
    if mods.exists {
        let want = match value {
            Scalar::Bool(b) => *b,
            Scalar::Str(s) => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes"),
            _ => return Err("`exists` needs true or false".into()),
        };
        return Ok(vec![Matcher::Exists(want)]);
    }
    let text = match value {
        Scalar::Null => return Ok(vec![Matcher::Null]),
        Scalar::Str(s) | Scalar::Num(s) => s.clone(),
        Scalar::Bool(b) => b.to_string(),
    };
    if let Some(cmp) = mods.cmp {
        let n = parse_num(&text).ok_or_else(|| format!("`{text}` is not a number"))?;
        return Ok(vec![Matcher::Num(cmp, n)]);
    }
    if mods.cidr {
        let c = Cidr::parse(&text).ok_or_else(|| format!("`{text}` is not a CIDR network"))?;
        return Ok(vec![Matcher::Cidr(c)]);
    }
    if mods.fieldref {
        return Ok(vec![Matcher::FieldRef {
            field: super::rule::normalize_field(&text),
            anchor: mods.anchor.unwrap_or(Anchor::Exact),
            cased: mods.cased,
        }]);
    }
    if mods.re {
        let re = regex::RegexBuilder::new(&text)
            .case_insensitive(mods.re_i)
            .multi_line(mods.re_m)
            .dot_matches_new_line(mods.re_s)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("regex `{text}`: {}", first_line(&e.to_string())))?;
        return Ok(vec![Matcher::Regex(re)]);
    }
    if mods.expand && text.contains('%') {
        return Ok(vec![Matcher::Never]);
    }
    // Encodings work on the literal text with wildcards kept as tokens only when no byte-level
    // step applies (base64 of a wildcard is meaningless: wildcards are then taken literally).
    let mut variants: Vec<Vec<GlobTok>> = vec![tokenize(&text)];
    for step in &mods.steps {
        variants = apply_step(*step, variants)?;
    }
    let anchor = mods.anchor.unwrap_or(Anchor::Exact);
    Ok(variants
        .into_iter()
        .map(|toks| str_matcher(toks, anchor, mods.cased))
        .collect())
}

fn first_line(s: &str) -> String {
    let l: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    l.last().unwrap_or(&"").trim().to_string()
}

fn literal(toks: &[GlobTok]) -> String {
    toks.iter()
        .map(|t| match t {
            GlobTok::Char(c) => *c,
            GlobTok::Any => '?',
            GlobTok::Star => '*',
        })
        .collect()
}

fn chars(s: &str) -> Vec<GlobTok> {
    s.chars().map(GlobTok::Char).collect()
}

fn apply_step(step: Step, variants: Vec<Vec<GlobTok>>) -> Result<Vec<Vec<GlobTok>>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for toks in variants {
        match step {
            Step::Windash => {
                // A dash or slash that starts an option (not after a word character, followed by
                // one) is a switch: every variant uses one of the characters Windows programs
                // accept for it.
                let word = |t: Option<&GlobTok>| matches!(t, Some(GlobTok::Char(c)) if c.is_alphanumeric() || *c == '_');
                let switch: Vec<bool> = (0..toks.len())
                    .map(|i| {
                        matches!(toks.get(i), Some(GlobTok::Char('-' | '/')))
                            && !word(i.checked_sub(1).and_then(|p| toks.get(p)))
                            && word(toks.get(i + 1))
                    })
                    .collect();
                for dash in ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'] {
                    let v: Vec<GlobTok> = toks
                        .iter()
                        .zip(&switch)
                        .map(|(t, sw)| if *sw { GlobTok::Char(dash) } else { t.clone() })
                        .collect();
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            Step::Utf16Le | Step::Utf16Be | Step::Utf16 => {
                // Bytes carried as chars U+0000..U+00FF until a base64 step encodes them.
                let s = literal(&toks);
                let mut bytes: Vec<u8> = Vec::new();
                if step == Step::Utf16 {
                    bytes.extend([0xFF, 0xFE]);
                }
                for u in s.encode_utf16() {
                    let [a, b] = if step == Step::Utf16Be {
                        u.to_be_bytes()
                    } else {
                        u.to_le_bytes()
                    };
                    bytes.extend([a, b]);
                }
                out.push(
                    bytes
                        .iter()
                        .map(|b| GlobTok::Char(char::from(*b)))
                        .collect(),
                );
            }
            Step::Base64 | Step::Base64Offset => {
                let bytes = to_bytes(&toks);
                if step == Step::Base64 {
                    out.push(chars(&b64.encode(&bytes)));
                    continue;
                }
                for shift in 0..3usize {
                    let mut padded = vec![b' '; shift];
                    padded.extend_from_slice(&bytes);
                    let enc = b64.encode(&padded);
                    let start = [0usize, 2, 3][shift];
                    let end_trim = [0usize, 3, 2][(bytes.len() + shift) % 3];
                    let end = enc.len().saturating_sub(end_trim);
                    if let Some(s) = enc.get(start..end) {
                        if !s.is_empty() {
                            out.push(chars(s));
                        }
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err("value encodes to nothing".into());
    }
    Ok(out)
}

/// Tokens to bytes: chars below U+0100 are bytes (from a UTF-16 step), others UTF-8.
fn to_bytes(toks: &[GlobTok]) -> Vec<u8> {
    let s = literal(toks);
    if s.chars().all(|c| (c as u32) < 0x100) && toks.contains(&GlobTok::Char('\0')) {
        s.chars().map(|c| c as u32 as u8).collect()
    } else {
        s.into_bytes()
    }
}

/// Builds the string matcher for one token sequence.
fn str_matcher(mut toks: Vec<GlobTok>, anchor: Anchor, cased: bool) -> Matcher {
    match anchor {
        Anchor::Contains => {
            toks.insert(0, GlobTok::Star);
            toks.push(GlobTok::Star);
        }
        Anchor::StartsWith => toks.push(GlobTok::Star),
        Anchor::EndsWith => toks.insert(0, GlobTok::Star),
        Anchor::Exact => {}
    }
    if !cased {
        toks = toks
            .into_iter()
            .flat_map(|t| match t {
                GlobTok::Char(c) => c.to_lowercase().map(GlobTok::Char).collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
    }
    // Collapse runs of stars.
    toks.dedup_by(|a, b| *a == GlobTok::Star && *b == GlobTok::Star);
    // Literal pieces between stars (a `?` makes it a general glob).
    let has_any = toks.contains(&GlobTok::Any);
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::new();
    for t in &toks {
        match t {
            GlobTok::Char(c) => cur.push(*c),
            GlobTok::Star | GlobTok::Any => {
                if !cur.is_empty() {
                    pieces.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    let atom = pieces
        .iter()
        .max_by_key(|p| p.len())
        .map(|p| p.to_lowercase());
    let open_start = toks.first() == Some(&GlobTok::Star);
    let open_end = toks.last() == Some(&GlobTok::Star);
    let stars = toks.iter().filter(|t| **t == GlobTok::Star).count();
    let pat = if has_any {
        StrPat::Glob(toks)
    } else if pieces.is_empty() {
        // Only stars (matches anything) or the empty string.
        if stars > 0 {
            StrPat::Pieces {
                pieces: vec![],
                open_start: true,
                open_end: true,
            }
        } else {
            StrPat::Exact(String::new())
        }
    } else if pieces.len() == 1 {
        let p = pieces.remove(0);
        match (open_start, open_end) {
            (false, false) => StrPat::Exact(p),
            (true, true) => {
                StrPat::Contains(Box::new(memmem::Finder::new(p.as_bytes()).into_owned()))
            }
            (false, true) => StrPat::StartsWith(p),
            (true, false) => StrPat::EndsWith(p),
        }
    } else {
        StrPat::Pieces {
            pieces,
            open_start,
            open_end,
        }
    };
    Matcher::Str { pat, cased, atom }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(value: &str, mods: &str) -> Vec<Matcher> {
        let mods = Modifiers::parse(mods.split('|').filter(|s| !s.is_empty())).unwrap();
        compile(&Scalar::Str(value.into()), &mods).unwrap()
    }

    fn hit(ms: &[Matcher], v: &str) -> bool {
        let lower = v.to_lowercase();
        ms.iter().any(|m| m.test(Some((v, &lower)), &mut |_| None))
    }

    #[test]
    fn plain_values_match_whole_value_case_insensitively() {
        let ms = m("C:\\Windows\\System32\\cmd.exe", "");
        assert!(hit(&ms, "c:\\windows\\system32\\CMD.EXE"));
        assert!(!hit(&ms, "c:\\windows\\system32\\cmd.exe2"));
    }

    #[test]
    fn anchors_and_wildcards_follow_sigma() {
        assert!(hit(&m("\\rundll32.exe", "endswith"), "C:\\x\\RunDll32.exe"));
        assert!(hit(&m("C:\\Users\\", "startswith"), "c:\\users\\bob"));
        assert!(hit(&m("-enc", "contains"), "powershell -ENC aGk="));
        assert!(hit(&m("*\\temp\\\\*.exe", ""), "C:\\Temp\\a.exe"));
        assert!(!hit(&m("*\\temp\\\\*.exe", ""), "C:\\Temp\\a.exe.txt"));
        assert!(hit(&m("*\\temp\\*.exe", ""), "C:\\Temp*.exe"));
        assert!(hit(&m("a?c", ""), "abc"));
        assert!(!hit(&m("a?c", ""), "abbc"));
        // Escaped wildcards are literal.
        assert!(hit(&m("a\\*b", ""), "a*b"));
        assert!(!hit(&m("a\\*b", ""), "axxb"));
        // A backslash before an ordinary character stays a backslash.
        assert!(hit(&m("\\\\server\\share", ""), "\\server\\share"));
    }

    #[test]
    fn cased_and_regex_are_case_sensitive() {
        assert!(!hit(&m("Admin", "cased"), "admin"));
        assert!(hit(&m("Admin", "cased"), "Admin"));
        assert!(hit(&m("^a.+z$", "re"), "abcz"));
        assert!(!hit(&m("^a.+z$", "re"), "ABCZ"));
        assert!(hit(&m("^a.+z$", "re|i"), "ABCZ"));
    }

    #[test]
    fn unsupported_regex_syntax_is_a_load_error() {
        let mods = Modifiers::parse(["re"].into_iter()).unwrap();
        let e = compile(&Scalar::Str("(?<!x)y".into()), &mods).unwrap_err();
        assert!(e.contains("regex"), "{e}");
    }

    #[test]
    fn base64offset_finds_the_value_at_any_alignment() {
        use base64::engine::general_purpose::STANDARD;
        let ms = m("http://", "base64offset|contains");
        for prefix in ["", "a", "ab"] {
            let enc = STANDARD.encode(format!("{prefix}http://evil"));
            assert!(hit(&ms, &format!("-e {enc}")), "{prefix}: {enc}");
        }
        let wide = m("iex", "wide|base64offset|contains");
        let enc_bytes: Vec<u8> = "x=iex(1)"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert!(hit(&wide, &STANDARD.encode(enc_bytes)));
    }

    #[test]
    fn windash_accepts_every_switch_character() {
        let ms = m(" -ep bypass", "windash|contains");
        assert!(hit(&ms, "powershell /ep bypass"));
        assert!(hit(&ms, "powershell \u{2013}ep bypass"));
        assert!(hit(&ms, "powershell -ep bypass"));
        // A dash inside a word is not a switch.
        let ms = m("sub-domain", "windash");
        assert!(!hit(&ms, "sub/domain"));
    }

    #[test]
    fn numbers_cidr_and_null() {
        let mods = Modifiers::parse(["gte"].into_iter()).unwrap();
        let ge = compile(&Scalar::Num("10".into()), &mods).unwrap();
        assert!(hit(&ge, "10") && hit(&ge, "0x20") && !hit(&ge, "9"));
        let c = m("10.0.0.0/8", "cidr");
        assert!(hit(&c, "10.1.2.3") && !hit(&c, "11.0.0.1"));
        assert!(hit(&m("2001:db8::/32", "cidr"), "2001:db8::1"));
        let null = compile(&Scalar::Null, &Modifiers::default()).unwrap();
        assert!(null[0].test(None, &mut |_| None));
        assert!(null[0].test(Some(("", "")), &mut |_| None));
        assert!(!null[0].test(Some(("x", "x")), &mut |_| None));
    }

    #[test]
    fn encodings_exists_and_expand() {
        use base64::engine::general_purpose::STANDARD;
        assert!(hit(&m("whoami", "base64"), &STANDARD.encode("whoami")));
        assert!(hit(
            &m("whoami", "base64|contains"),
            &format!("x {} y", STANDARD.encode("whoami"))
        ));
        let be: Vec<u8> = "iex".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert!(hit(&m("iex", "utf16be|base64"), &STANDARD.encode(be)));
        let mut bom = vec![0xFF, 0xFE];
        bom.extend("iex".encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert!(hit(&m("iex", "utf16|base64"), &STANDARD.encode(bom)));
        let exists = Modifiers::parse(["exists"].into_iter()).unwrap();
        let yes = compile(&Scalar::Bool(true), &exists).unwrap();
        assert!(yes[0].test(Some(("", "")), &mut |_| None));
        assert!(!yes[0].test(None, &mut |_| None));
        let no = compile(&Scalar::Bool(false), &exists).unwrap();
        assert!(no[0].test(None, &mut |_| None));
        // No placeholder values are configured: an `expand` value never matches.
        assert!(!hit(&m("%Admins%", "expand"), "%Admins%"));
    }

    #[test]
    fn regex_flags_m_and_s() {
        assert!(hit(&m("^b$", "re|m"), "a\nb"));
        assert!(!hit(&m("^b$", "re"), "a\nb"));
        assert!(hit(&m("a.b", "re|s"), "a\nb"));
        assert!(!hit(&m("a.b", "re"), "a\nb"));
    }

    #[test]
    fn atoms_are_the_longest_literal_piece() {
        let ms = m("*\\temp\\\\*.exe", "");
        assert_eq!(ms[0].atom(), Some("\\temp\\"));
    }
}
