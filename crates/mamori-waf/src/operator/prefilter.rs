//! Prefilters: literals one of which every value an operator matches must contain, so the
//! engine can skip rules with one Aho-Corasick pass over a value instead of running each
//! regex.
//!
//! GUARANTEE: if [`Prefilter::may_match`] is false for a value, the operator does not match
//! that value (before negation — a negated rule must still run). Literals are lowercased
//! ASCII and compared ASCII-case-insensitively, so a literal from a case-sensitive pattern is
//! still a sound (if looser) filter. No literal is empty. The converse does not hold:
//! containing a literal says nothing.
//!
//! For `@rx` the set comes from a small parse of the PCRE pattern ([`from_pcre`]): exact
//! literal sets are combined through concatenation (cross products, capped), alternation
//! (unions) and one-or-more repetition; anything the parse does not fully understand
//! (extended mode `(?x)`, nesting deeper than [`MAX_DEPTH`], unusual syntax) gives `None`,
//! never a wrong set.

/// Nesting depth of groups the parse follows before giving up.
pub const MAX_DEPTH: usize = 64;
/// Most strings an exact set or a prefilter may hold.
const MAX_SET: usize = 64;
/// Longest exact string kept; longer ones make the node "contains", not "equals".
const MAX_LEN: usize = 64;
/// Largest class expanded into its members (`[aA]`, `[-_]`).
const MAX_CLASS: usize = 4;

/// A set of required literals (lowercased, none empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefilter {
    literals: Vec<Vec<u8>>,
}

impl Prefilter {
    /// A prefilter from literals, or `None` if any is empty (an empty literal filters
    /// nothing).
    pub fn new(literals: Vec<Vec<u8>>) -> Option<Prefilter> {
        if literals.is_empty() || literals.iter().any(Vec::is_empty) {
            return None;
        }
        let mut literals: Vec<Vec<u8>> = literals
            .into_iter()
            .map(|l| l.to_ascii_lowercase())
            .collect();
        literals.sort();
        literals.dedup();
        Some(Prefilter { literals })
    }

    /// The literals, lowercased.
    pub fn literals(&self) -> &[Vec<u8>] {
        &self.literals
    }

    /// False only when no literal occurs in `input` (ASCII case-insensitively).
    pub fn may_match(&self, input: &[u8]) -> bool {
        self.literals
            .iter()
            .any(|l| input.windows(l.len()).any(|w| w.eq_ignore_ascii_case(l)))
    }
}

/// What is known about the strings a piece of pattern matches.
#[derive(Debug, Clone, Default)]
struct Info {
    /// Every match is exactly one of these (lowercased).
    exact: Option<Vec<Vec<u8>>>,
    /// Every match contains one of these (lowercased, none empty).
    required: Option<Vec<Vec<u8>>>,
}

impl Info {
    fn exact(set: Vec<Vec<u8>>) -> Info {
        Info {
            exact: Some(set),
            required: None,
        }
    }
    fn unknown() -> Info {
        Info::default()
    }
    fn empty() -> Info {
        Info::exact(vec![Vec::new()])
    }
    /// The best "contains one of" set this node offers.
    fn best(&self) -> Option<Vec<Vec<u8>>> {
        let from_exact = self.exact.clone().filter(|s| !s.iter().any(Vec::is_empty));
        better(from_exact, self.required.clone())
    }
}

/// The more selective of two required sets: longer shortest literal, then fewer literals.
fn better(a: Option<Vec<Vec<u8>>>, b: Option<Vec<Vec<u8>>>) -> Option<Vec<Vec<u8>>> {
    let score = |s: &Vec<Vec<u8>>| {
        (
            s.iter().map(Vec::len).min().unwrap_or(0).min(8),
            usize::MAX - s.len(),
        )
    };
    match (a, b) {
        (Some(a), Some(b)) => Some(if score(&b) > score(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn cross(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len() * b.len() > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            if x.len() + y.len() > MAX_LEN {
                return None;
            }
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// The prefilter of a PCRE pattern, when one can be derived.
pub fn from_pcre(pattern: &str) -> Option<Prefilter> {
    if pattern.contains("(?x") || pattern.contains("(?-") {
        // Extended mode changes what whitespace means; flag removal inside groups we do not
        // track. Both are rare in CRS; be safe.
        return None;
    }
    let mut p = Parser {
        b: pattern.as_bytes(),
        i: 0,
        just_counted: false,
    };
    let info = p.alternation(0)?;
    if p.i != p.b.len() {
        return None;
    }
    let set = info.best()?;
    if set.len() > MAX_SET {
        return None;
    }
    Prefilter::new(set)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    /// The quantifier just read was `{…}` (already consumed).
    just_counted: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn alternation(&mut self, depth: usize) -> Option<Info> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut alts = vec![self.concat(depth)?];
        while self.peek() == Some(b'|') {
            self.i += 1;
            alts.push(self.concat(depth)?);
        }
        if alts.len() == 1 {
            return alts.pop();
        }
        let mut exact: Option<Vec<Vec<u8>>> = Some(Vec::new());
        let mut required: Option<Vec<Vec<u8>>> = Some(Vec::new());
        for a in &alts {
            exact = match (exact, &a.exact) {
                (Some(mut e), Some(x)) if e.len() + x.len() <= MAX_SET => {
                    e.extend(x.iter().cloned());
                    Some(e)
                }
                _ => None,
            };
            required = match (required, a.best()) {
                (Some(mut r), Some(x)) if r.len() + x.len() <= MAX_SET * 4 => {
                    r.extend(x);
                    Some(r)
                }
                _ => None,
            };
        }
        Some(Info { exact, required })
    }

    fn concat(&mut self, depth: usize) -> Option<Info> {
        let mut run: Option<Vec<Vec<u8>>> = Some(vec![Vec::new()]);
        let mut all_exact = true;
        let mut best: Option<Vec<Vec<u8>>> = None;
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let atom = self.atom(depth)?;
            let piece = self.quantified(atom)?;
            match (&run, &piece.exact) {
                (Some(r), Some(x)) => match cross(r, x) {
                    Some(next) => run = Some(next),
                    None => {
                        // Too many combinations: keep what we had as a candidate and
                        // restart the run from this piece.
                        best = better(best, Info::exact(r.clone()).best());
                        run = Some(x.clone());
                        all_exact = false;
                    }
                },
                (r, x) => {
                    if let Some(r) = r {
                        best = better(best, Info::exact(r.clone()).best());
                    }
                    all_exact = false;
                    run = x.clone();
                }
            }
            if piece.exact.is_none() {
                best = better(best, piece.required.clone());
                run = Some(vec![Vec::new()]);
            }
        }
        if let Some(r) = &run {
            best = better(best, Info::exact(r.clone()).best());
        }
        Some(Info {
            exact: if all_exact { run } else { None },
            required: best,
        })
    }

    fn quantified(&mut self, atom: Info) -> Option<Info> {
        let (min, max) = match self.peek() {
            Some(b'*') => (0, None),
            Some(b'+') => (1, None),
            Some(b'?') => (0, Some(1)),
            Some(b'{') => match self.counted() {
                Some(mm) => mm,
                None => return Some(atom),
            },
            _ => return Some(atom),
        };
        // `*`, `+`, `?` are one byte; `counted` already consumed a brace quantifier.
        if matches!(self.b.get(self.i), Some(b'*' | b'+' | b'?')) && !self.just_counted {
            self.i += 1;
        }
        self.just_counted = false;
        // Lazy or possessive suffix.
        if matches!(self.peek(), Some(b'?' | b'+')) {
            self.i += 1;
        }
        Some(match (min, max) {
            (0, Some(1)) => Info {
                exact: atom.exact.map(|mut e| {
                    e.push(Vec::new());
                    e
                }),
                required: None,
            },
            (0, _) => Info::unknown(),
            (1, Some(1)) => atom,
            _ => Info {
                exact: None,
                required: atom.best(),
            },
        })
    }

    /// `{n}`, `{n,}`, `{n,m}` at the cursor (consumed); `None` (not consumed) if it is a
    /// literal brace.
    fn counted(&mut self) -> Option<(u32, Option<u32>)> {
        let rest = self.b.get(self.i..)?;
        let close = rest.iter().position(|&c| c == b'}')?;
        let body = std::str::from_utf8(rest.get(1..close)?).ok()?;
        let (a, b) = match body.split_once(',') {
            Some((a, b)) => (
                a.parse().ok()?,
                if b.is_empty() {
                    None
                } else {
                    Some(b.parse().ok()?)
                },
            ),
            None => {
                let n = body.parse().ok()?;
                (n, Some(n))
            }
        };
        self.i += close + 1;
        self.just_counted = true;
        Some((a, b))
    }

    fn atom(&mut self, depth: usize) -> Option<Info> {
        let c = self.peek()?;
        self.i += 1;
        Some(match c {
            b'(' => {
                let rest = self.b.get(self.i..)?;
                let zero_width = [&b"?="[..], b"?!", b"?<=", b"?<!"]
                    .iter()
                    .any(|p| rest.starts_with(p));
                if rest.starts_with(b"?#") {
                    let end = rest.iter().position(|&c| c == b')')?;
                    self.i += end + 1;
                    return Some(Info::empty());
                }
                if rest.starts_with(b"?") && !zero_width {
                    // Flags `(?i)`, or a group `(?:`, `(?i:`, `(?<name>`, `(?P<name>`, `(?>`.
                    let n = rest
                        .iter()
                        .position(|&c| c == b')' || c == b':' || c == b'>')?;
                    let stop = rest[n];
                    let head = &rest[1..n];
                    let flags = head.iter().all(|c| c.is_ascii_alphabetic() || *c == b'-');
                    let named = (head.starts_with(b"<") || head.starts_with(b"P<"))
                        && head
                            .iter()
                            .skip_while(|c| **c != b'<')
                            .skip(1)
                            .all(|c| c.is_ascii_alphanumeric() || *c == b'_');
                    if !(flags || (named && stop == b'>')) {
                        return None;
                    }
                    self.i += n + 1;
                    if stop == b')' {
                        return Some(Info::empty());
                    }
                }
                if zero_width {
                    let skip = if rest.starts_with(b"?<") { 3 } else { 2 };
                    self.i += skip;
                }
                let inner = self.alternation(depth + 1)?;
                if self.peek() != Some(b')') {
                    return None;
                }
                self.i += 1;
                if zero_width {
                    Info::empty()
                } else {
                    inner
                }
            }
            b'[' => self.class()?,
            b'.' => Info::unknown(),
            b'^' | b'$' => Info::empty(),
            b'\\' => self.escape()?,
            b'*' | b'+' | b'?' | b')' | b'|' => return None,
            _ => Info::exact(vec![vec![c.to_ascii_lowercase()]]),
        })
    }

    fn escape(&mut self) -> Option<Info> {
        let n = self.peek()?;
        self.i += 1;
        let byte = |v: u8| Some(Info::exact(vec![vec![v.to_ascii_lowercase()]]));
        match n {
            b'b' | b'B' | b'A' | b'z' | b'Z' | b'G' | b'E' => Some(Info::empty()),
            b'd' | b'D' | b's' | b'S' | b'w' | b'W' | b'h' | b'H' | b'v' | b'V' | b'R' | b'N'
            | b'X' | b'C' | b'p' | b'P' => {
                if matches!(n, b'p' | b'P') && self.peek() == Some(b'{') {
                    let end = self.b.get(self.i..)?.iter().position(|&c| c == b'}')?;
                    self.i += end + 1;
                } else if matches!(n, b'p' | b'P') {
                    self.i += 1;
                }
                Some(Info::unknown())
            }
            b'1'..=b'9' | b'g' | b'k' | b'K' => None,
            b'n' => byte(b'\n'),
            b'r' => byte(b'\r'),
            b't' => byte(b'\t'),
            b'f' => byte(0x0c),
            b'a' => byte(0x07),
            b'e' => byte(0x1b),
            b'0' => {
                let digits = self
                    .b
                    .get(self.i..)?
                    .iter()
                    .take(2)
                    .take_while(|c| (b'0'..=b'7').contains(c))
                    .count();
                let v = self.b[self.i..self.i + digits]
                    .iter()
                    .fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                self.i += digits;
                byte(v as u8)
            }
            b'x' => {
                let rest = self.b.get(self.i..)?;
                let (v, used) = if rest.first() == Some(&b'{') {
                    let end = rest.iter().position(|&c| c == b'}')?;
                    (
                        u32::from_str_radix(std::str::from_utf8(&rest[1..end]).ok()?, 16).ok()?,
                        end + 1,
                    )
                } else {
                    let d = rest
                        .iter()
                        .take(2)
                        .take_while(|c| c.is_ascii_hexdigit())
                        .count();
                    (
                        u32::from_str_radix(std::str::from_utf8(&rest[..d]).ok()?, 16).unwrap_or(0),
                        d,
                    )
                };
                self.i += used;
                byte(u8::try_from(v).ok()?)
            }
            b'c' => {
                let ch = self.peek()?;
                self.i += 1;
                byte(ch.to_ascii_uppercase() ^ 0x40)
            }
            b'Q' => {
                let rest = self.b.get(self.i..)?;
                let end = rest
                    .windows(2)
                    .position(|w| w == b"\\E")
                    .unwrap_or(rest.len());
                let lit = rest[..end].to_ascii_lowercase();
                self.i += (end + 2).min(rest.len());
                Some(Info::exact(vec![lit]))
            }
            _ => byte(n),
        }
    }

    /// A bracket class: its members when few and simple, else unknown.
    fn class(&mut self) -> Option<Info> {
        let negated = self.peek() == Some(b'^');
        if negated {
            self.i += 1;
        }
        let mut members: Vec<u8> = Vec::new();
        let mut simple = !negated;
        let mut first = true;
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b']' if !first => break,
                b'[' if self.peek() == Some(b':') => {
                    let end = self.b.get(self.i..)?.windows(2).position(|w| w == b":]")?;
                    self.i += end + 2;
                    simple = false;
                }
                b'\\' => {
                    let n = self.peek()?;
                    self.i += 1;
                    match n {
                        b'x' => {
                            let rest = self.b.get(self.i..)?;
                            if rest.first() == Some(&b'{') {
                                let end = rest.iter().position(|&c| c == b'}')?;
                                let v = u32::from_str_radix(
                                    std::str::from_utf8(&rest[1..end]).ok()?,
                                    16,
                                )
                                .ok()?;
                                self.i += end + 1;
                                members.push(u8::try_from(v).ok()?);
                            } else {
                                let d = rest
                                    .iter()
                                    .take(2)
                                    .take_while(|c| c.is_ascii_hexdigit())
                                    .count();
                                let v =
                                    u32::from_str_radix(std::str::from_utf8(&rest[..d]).ok()?, 16)
                                        .unwrap_or(0);
                                self.i += d;
                                members.push(v as u8);
                            }
                        }
                        b'n' => members.push(b'\n'),
                        b'r' => members.push(b'\r'),
                        b't' => members.push(b'\t'),
                        _ if n.is_ascii_alphanumeric() => simple = false,
                        _ => members.push(n),
                    }
                }
                b'-' if !first && self.peek() != Some(b']') => {
                    // A range: too wide to list, unless tiny.
                    let lo = members.pop();
                    let hi = self.peek()?;
                    self.i += 1;
                    match (lo, hi) {
                        (Some(lo), hi)
                            if hi != b'\\'
                                && hi != b'['
                                && hi >= lo
                                && usize::from(hi - lo) < MAX_CLASS =>
                        {
                            members.extend(lo..=hi);
                        }
                        _ => {
                            simple = false;
                            if hi == b'\\' {
                                self.i += 1;
                            }
                        }
                    }
                }
                _ => members.push(c),
            }
            first = false;
        }
        if !simple {
            return Some(Info::unknown());
        }
        let mut set: Vec<Vec<u8>> = members
            .iter()
            .map(|c| vec![c.to_ascii_lowercase()])
            .collect();
        set.sort();
        set.dedup();
        Some(if set.len() <= MAX_CLASS {
            Info::exact(set)
        } else {
            Info::unknown()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &str) -> Option<Vec<String>> {
        from_pcre(p).map(|f| {
            f.literals()
                .iter()
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect()
        })
    }

    #[test]
    fn literals_come_from_concatenations_and_alternations() {
        assert_eq!(lits("(?i)union\\s+select"), Some(vec!["select".into()]));
        assert_eq!(lits("abc"), Some(vec!["abc".into()]));
        assert_eq!(
            lits("(?i)(?:foo|bar)baz"),
            Some(vec!["barbaz".into(), "foobaz".into()])
        );
        assert_eq!(
            lits("a(?:b|c)?d"),
            Some(vec!["abd".into(), "acd".into(), "ad".into()])
        );
        assert_eq!(lits("<script[^>]*>"), Some(vec!["<script".into()]));
        assert_eq!(lits("\\.\\./"), Some(vec!["../".into()]));
        assert_eq!(lits("x(?:ab)+y"), Some(vec!["ab".into()]));
        assert_eq!(lits("[Ee]val\\("), Some(vec!["eval(".into()]));
    }

    #[test]
    fn unknowable_patterns_give_none() {
        assert_eq!(lits(".*"), None);
        assert_eq!(lits("a|.*"), None);
        assert_eq!(lits("\\d+"), None);
        assert_eq!(lits("(?x) a b"), None);
        assert_eq!(lits("(a)\\1"), None);
        assert_eq!(lits("(?|a|b)c"), None);
        assert_eq!(lits("a{2}b"), Some(vec!["a".into()]));
        assert_eq!(lits("a{0,2}bc"), Some(vec!["bc".into()]));
        assert_eq!(lits("x*"), None);
    }

    #[test]
    fn may_match_is_case_insensitive() {
        let p = from_pcre("(?i)select").unwrap();
        assert!(p.may_match(b"xSeLeCt"));
        assert!(!p.may_match(b"selec"));
    }

    #[test]
    fn deep_nesting_gives_up() {
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(from_pcre(&deep), None);
    }
}
