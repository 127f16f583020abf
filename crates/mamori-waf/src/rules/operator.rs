//! Operators (`@rx`, `@pm`, `@eq`, `@detectSQLi`, …) as the rule engine uses them: the
//! crate's [`crate::operator::Operator`] (ModSecurity's semantics, PCRE syntax rewritten for
//! the linear-time engine), plus the operators that need outside services (`@rbl`,
//! `@geoLookup`, …), which load but never match here.

use std::path::Path;

#[derive(Debug)]
pub enum Op {
    Real(crate::operator::Operator),
    /// Needs an outside service or database we do not query.
    NoMatch,
}

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

const INERT: &[&str] = &["rbl", "geolookup", "gsblookup", "inspectfile", "fuzzyhash", "validatedtd", "validateschema", "validatehash", "verifycpf", "verifyssn", "verifysvnr"];

impl Op {
    /// `name` without `@`, `arg` after macro expansion, `dir` of the rule file.
    pub fn compile(name: &str, arg: &str, dir: &Path) -> Result<Op, String> {
        let lower = name.to_ascii_lowercase();
        if lower == "nomatch" || INERT.contains(&lower.as_str()) {
            return Ok(Op::NoMatch);
        }
        crate::operator::Operator::compile(name, arg, dir)
            .map(Op::Real)
            .map_err(|e| e.to_string())
    }

    /// Whether `input` matches; with `capture`, what it captured.
    pub fn eval(&self, input: &[u8], capture: bool, caps: &mut Captures) -> bool {
        match self {
            Op::NoMatch => false,
            Op::Real(op) => match op.eval(input, capture) {
                Some(m) => {
                    if capture {
                        *caps = m.captures;
                    }
                    true
                }
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_operators_load_and_never_match() {
        let o = Op::compile("rbl", "sbl.example", Path::new(".")).unwrap();
        assert!(!o.eval(b"1.2.3.4", false, &mut Vec::new()));
        assert!(Op::compile("nope", "", Path::new(".")).is_err());
        assert_eq!(to_int(b" 42abc"), 42);
    }
}
