//! Splitting a rule's option list `(msg:"x"; content:"y"; nocase;)` into keywords and values,
//! and the small value parsers the keywords share (quoted strings, numbers, comparisons).
//!
//! Like Suricata, an option ends at the first `;` not escaped by a backslash; quotes do not
//! protect a `;` (rule writers escape it as `\;` or `|3b|`).

use crate::error::{bail, RResult, RuleError};

/// One `keyword[:value]` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt<'a> {
    pub keyword: &'a str,
    pub value: Option<&'a str>,
}

/// Split an option list body (the text between the outer parentheses).
pub fn split_options(body: &str) -> RResult<Vec<Opt<'_>>> {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b';' => {
                push_opt(&body[start..i], &mut out)?;
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    let rest = body.get(start..).unwrap_or("").trim();
    if !rest.is_empty() {
        return Err(RuleError::header(format!(
            "option {rest:?} is not terminated by ';'"
        )));
    }
    Ok(out)
}

fn push_opt<'a>(text: &'a str, out: &mut Vec<Opt<'a>>) -> RResult<()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(());
    }
    let (keyword, value) = match text.split_once(':') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (text, None),
    };
    if keyword.is_empty()
        || !keyword
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(RuleError::header(format!("invalid option {text:?}")));
    }
    out.push(Opt { keyword, value });
    Ok(())
}

/// The value of an option that requires one.
pub fn required<'a>(kw: &str, v: Option<&'a str>) -> RResult<&'a str> {
    match v {
        Some(s) if !s.is_empty() => Ok(s),
        _ => bail!(kw, "needs a value"),
    }
}

/// Strip surrounding double quotes and undo `\"`, `\\`, `\;`, `\:` escapes.
pub fn unquote(kw: &str, v: &str) -> RResult<String> {
    let v = v.trim();
    let inner = match v.strip_prefix('"') {
        Some(rest) => match rest.strip_suffix('"') {
            Some(i) if !rest.is_empty() => i,
            _ => bail!(kw, "unterminated quoted string"),
        },
        None => v,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => out.push(n),
                None => bail!(kw, "trailing backslash"),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Parse a signed integer, allowing surrounding spaces.
pub fn int(kw: &str, v: &str) -> RResult<i64> {
    let t = v.trim();
    let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        t.parse::<i64>().ok()
    };
    match parsed {
        Some(n) => Ok(n),
        None => bail!(kw, "invalid number {t:?}"),
    }
}

/// Parse an unsigned integer no larger than `max`.
pub fn uint(kw: &str, v: &str, max: u64) -> RResult<u64> {
    let n = int(kw, v)?;
    if n < 0 || n as u64 > max {
        bail!(kw, "number {n} out of range 0..={max}");
    }
    Ok(n as u64)
}

/// A numeric comparison as written for `dsize`, `urilen`, `itype`, `ttl`, `bsize`, ...:
/// `N`, `=N`, `!N`, `<N`, `>N`, `<=N`, `>=N`, `A<>B` (exclusive range), `A-B` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq(u64),
    Ne(u64),
    Lt(u64),
    Gt(u64),
    Le(u64),
    Ge(u64),
    /// Strictly between the two bounds.
    Between(u64, u64),
}

impl Cmp {
    pub fn parse(kw: &str, v: &str, max: u64) -> RResult<Cmp> {
        let t = v.trim();
        let num = |s: &str| uint(kw, s, max);
        let c = if let Some((a, b)) = t.split_once("<>") {
            Cmp::Between(num(a)?, num(b)?)
        } else if let Some(r) = t.strip_prefix("<=") {
            Cmp::Le(num(r)?)
        } else if let Some(r) = t.strip_prefix(">=") {
            Cmp::Ge(num(r)?)
        } else if let Some(r) = t.strip_prefix('<') {
            Cmp::Lt(num(r)?)
        } else if let Some(r) = t.strip_prefix('>') {
            Cmp::Gt(num(r)?)
        } else if let Some(r) = t.strip_prefix('!') {
            Cmp::Ne(num(r)?)
        } else if let Some(r) = t.strip_prefix('=') {
            Cmp::Eq(num(r)?)
        } else if let Some((a, b)) = t.split_once('-').filter(|(a, _)| !a.trim().is_empty()) {
            Cmp::Between(num(a)?, num(b)?)
        } else {
            Cmp::Eq(num(t)?)
        };
        if let Cmp::Between(a, b) = c {
            if a >= b {
                bail!(kw, "range {a}<>{b} is empty");
            }
        }
        Ok(c)
    }

    pub fn test(self, x: u64) -> bool {
        match self {
            Cmp::Eq(n) => x == n,
            Cmp::Ne(n) => x != n,
            Cmp::Lt(n) => x < n,
            Cmp::Gt(n) => x > n,
            Cmp::Le(n) => x <= n,
            Cmp::Ge(n) => x >= n,
            Cmp::Between(a, b) => x > a && x < b,
        }
    }
}

/// Split a comma-separated value into trimmed parts.
pub fn parts(v: &str) -> Vec<&str> {
    v.split(',').map(str::trim).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_unescaped_semicolons_only() {
        let o = split_options(r#"msg:"a\;b"; content:"x|3b|"; nocase; sid:1;"#).unwrap();
        assert_eq!(o.len(), 4);
        assert_eq!(
            o[0],
            Opt {
                keyword: "msg",
                value: Some(r#""a\;b""#)
            }
        );
        assert_eq!(
            o[2],
            Opt {
                keyword: "nocase",
                value: None
            }
        );
        assert!(
            split_options("msg:\"x\"; sid:1").is_err(),
            "missing final ';'"
        );
        assert!(split_options("msg:\"x\"; bad kw;").is_err());
    }

    #[test]
    fn unquote_handles_escapes() {
        assert_eq!(unquote("msg", r#""a \"b\" \; c""#).unwrap(), r#"a "b" ; c"#);
        assert!(unquote("msg", "\"abc").is_err());
        assert!(unquote("msg", "\"").is_err());
    }

    #[test]
    fn comparisons() {
        let c = |s| Cmp::parse("dsize", s, 65535).unwrap();
        assert!(c("10").test(10) && !c("10").test(11));
        assert!(c("<10").test(9) && !c("<10").test(10));
        assert!(c(">10").test(11) && !c(">10").test(10));
        assert!(c("9<>18").test(10) && !c("9<>18").test(9) && !c("9<>18").test(18));
        assert!(c("!5").test(6) && !c("!5").test(5));
        assert!(c(">=3").test(3) && c("<=3").test(3));
        assert!(Cmp::parse("dsize", "18<>9", 65535).is_err());
        assert!(Cmp::parse("dsize", "x", 65535).is_err());
        assert!(Cmp::parse("itype", "256", 255).is_err());
    }
}
