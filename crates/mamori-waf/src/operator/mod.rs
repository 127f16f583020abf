//! Operators (`@rx`, `@pm`, `@eq`, `@detectSQLi`, ...): compiled once at rule load, then
//! evaluated against each (transformed) variable value, with ModSecurity v3's semantics.
//!
//! CONTRACT (used by the engine):
//! - [`Operator::compile`]`(name, arg, base_dir)`: `name` without the `@` (case-insensitive,
//!   e.g. `rx`, `pmFromFile`), `arg` the operator argument after macro expansion, `base_dir`
//!   the directory of the rule file (for `@pmFromFile`/`@ipMatchFromFile`). Cheap for the
//!   non-regex operators, because the engine recompiles operators whose argument contains a
//!   macro (`%{tx.allowed_methods}`) per transaction.
//! - [`Operator::eval`]`(input, capture)`: `None` when it does not match; with `capture` the
//!   match carries `captures` (`TX.0` = whole match, `TX.1`... groups; `@detectSQLi` puts
//!   the fingerprint in `TX.0`). Negation (`!@rx`) is the engine's job.
//!
//! Captures: only the operators that set `TX.0`.. in ModSecurity fill `captures` — `@rx`
//! (whole match and up to nine groups), `@pm`/`@pmFromFile` (the phrase as listed),
//! `@detectSQLi` (the fingerprint), `@verifyCC` (the card number as matched). For the others
//! `captures` is empty and the engine leaves `TX.0`.. alone, as ModSecurity does.
//!
//! Operators that need outside services or databases (`@rbl`, `@geoLookup`, `@gsbLookup`,
//! `@inspectFile`, `@fuzzyHash`, `@validateDTD`, `@validateSchema`, ...) are an [`OpError`]
//! saying so; the engine reports it with the rule's file and line.
//!
//! [`Operator::prefilter`] tells the engine which literals a value must contain to possibly
//! match, so it can skip rules cheaply (see [`prefilter`] for the guarantee).

mod ip;
mod phrase;
pub mod prefilter;
mod rx;
mod validate;

use std::path::Path;

pub use prefilter::Prefilter;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

/// What a matching operator reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpMatch {
    pub captures: Vec<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Operator {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Rx(rx::Rx, Option<Prefilter>),
    Pm(phrase::PhraseSet),
    Streq(Vec<u8>),
    Contains(Vec<u8>),
    ContainsWord(Vec<u8>),
    BeginsWith(Vec<u8>),
    EndsWith(Vec<u8>),
    Within(Vec<u8>),
    StrMatch(Vec<u8>),
    /// `@eq` parses both sides as a C `int` with `std::stoi`.
    Eq(i32),
    /// `@ge`/`@gt`/`@lt`/`@le` parse both sides with `atoll`.
    Cmp(CmpOp, i64),
    IpMatch(ip::IpSet),
    DetectSqli,
    DetectXss,
    ValidateByteRange(validate::ByteRange),
    ValidateUrlEncoding,
    ValidateUtf8Encoding,
    VerifyCc(rx::Rx),
    Unconditional,
    NoMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Ge,
    Gt,
    Lt,
    Le,
}

impl Operator {
    pub fn compile(name: &str, arg: &str, base_dir: &Path) -> Result<Operator, OpError> {
        let bytes = || arg.as_bytes().to_vec();
        let kind = match name.to_ascii_lowercase().as_str() {
            "rx" => {
                let re = rx::Rx::compile(arg, false).map_err(OpError)?;
                Kind::Rx(re, prefilter::from_pcre(arg))
            }
            "pm" => Kind::Pm(
                phrase::parse_pm_arg(arg)
                    .and_then(phrase::PhraseSet::new)
                    .map_err(|e| OpError(format!("@pm: {e}")))?,
            ),
            "pmf" | "pmfromfile" => Kind::Pm(
                phrase::phrases_from_files(arg, base_dir)
                    .and_then(phrase::PhraseSet::new)
                    .map_err(|e| OpError(format!("@{name}: {e}")))?,
            ),
            "streq" => Kind::Streq(bytes()),
            "contains" => Kind::Contains(bytes()),
            "containsword" => Kind::ContainsWord(bytes()),
            "beginswith" => Kind::BeginsWith(bytes()),
            "endswith" => Kind::EndsWith(bytes()),
            "within" => Kind::Within(bytes()),
            "strmatch" => Kind::StrMatch(bytes()),
            "eq" => Kind::Eq(stoi(arg.as_bytes())),
            "ge" => Kind::Cmp(CmpOp::Ge, atoll(arg.as_bytes())),
            "gt" => Kind::Cmp(CmpOp::Gt, atoll(arg.as_bytes())),
            "lt" => Kind::Cmp(CmpOp::Lt, atoll(arg.as_bytes())),
            "le" => Kind::Cmp(CmpOp::Le, atoll(arg.as_bytes())),
            "ipmatch" => Kind::IpMatch(
                ip::IpSet::parse_list(arg).map_err(|e| OpError(format!("@ipMatch: {e}")))?,
            ),
            "ipmatchf" | "ipmatchfromfile" => Kind::IpMatch(
                ip::IpSet::from_file(arg, base_dir)
                    .map_err(|e| OpError(format!("@{name}: {e}")))?,
            ),
            "detectsqli" => Kind::DetectSqli,
            "detectxss" => Kind::DetectXss,
            "validatebyterange" => Kind::ValidateByteRange(
                validate::ByteRange::parse(arg)
                    .map_err(|e| OpError(format!("@validateByteRange: {e}")))?,
            ),
            "validateurlencoding" => Kind::ValidateUrlEncoding,
            "validateutf8encoding" => Kind::ValidateUtf8Encoding,
            "verifycc" => Kind::VerifyCc(
                rx::Rx::compile(arg, true).map_err(|e| OpError(format!("@verifyCC: {e}")))?,
            ),
            "unconditionalmatch" => Kind::Unconditional,
            "nomatch" => Kind::NoMatch,
            "rbl" | "geolookup" | "gsblookup" | "inspectfile" | "fuzzyhash" | "validatedtd"
            | "validateschema" | "validatehash" | "verifycpf" | "verifyssn" | "verifysvnr"
            | "rsub" | "rxglobal" => {
                return Err(OpError(format!("operator @{name} is not supported")));
            }
            _ => return Err(OpError(format!("unknown operator @{name}"))),
        };
        Ok(Operator { kind })
    }

    /// Whether running this operator costs more than looking its answer up (see
    /// `engine::memo`): pattern and phrase searches, the SQLi/XSS detectors.
    pub fn worth_remembering(&self) -> bool {
        match &self.kind {
            Kind::Rx(re, _) => !matches!(re, rx::Rx::Anything),
            Kind::Pm(_) | Kind::DetectSqli | Kind::DetectXss | Kind::VerifyCc(_) => true,
            _ => false,
        }
    }

    pub fn eval(&self, input: &[u8], capture: bool) -> Option<OpMatch> {
        let hit = |yes: bool| yes.then(OpMatch::default);
        match &self.kind {
            Kind::Rx(re, _) => {
                if !capture {
                    return hit(re.is_match(input));
                }
                re.captures(input).map(|captures| OpMatch { captures })
            }
            Kind::Pm(set) => set.find(input).map(|p| OpMatch {
                captures: if capture {
                    vec![p.to_vec()]
                } else {
                    Vec::new()
                },
            }),
            Kind::Streq(s) => hit(input == s.as_slice()),
            Kind::Contains(s) | Kind::StrMatch(s) => hit(find(input, s)),
            Kind::ContainsWord(s) => hit(contains_word(input, s)),
            Kind::BeginsWith(s) => hit(input.starts_with(s)),
            Kind::EndsWith(s) => hit(input.ends_with(s)),
            // The input is the needle, the argument the haystack; an empty input is found
            // everywhere (ModSecurity: "the empty string always matches").
            Kind::Within(s) => hit(input.is_empty() || find(s, input)),
            Kind::Eq(n) => hit(stoi(input) == *n),
            Kind::Cmp(op, n) => {
                let v = atoll(input);
                hit(match op {
                    CmpOp::Ge => v >= *n,
                    CmpOp::Gt => v > *n,
                    CmpOp::Lt => v < *n,
                    CmpOp::Le => v <= *n,
                })
            }
            Kind::IpMatch(set) => hit(set.contains(input)),
            Kind::DetectSqli => crate::detect::sqli(input).map(|fp| OpMatch {
                captures: if capture {
                    vec![fp.into_bytes()]
                } else {
                    Vec::new()
                },
            }),
            Kind::DetectXss => hit(crate::detect::xss(input)),
            Kind::ValidateByteRange(r) => hit(r.first_invalid(input).is_some()),
            Kind::ValidateUrlEncoding => hit(validate::invalid_url_encoding(input)),
            Kind::ValidateUtf8Encoding => hit(validate::invalid_utf8(input)),
            Kind::VerifyCc(re) => {
                let mut found = None;
                re.for_each_match(input, |m| {
                    let ok = luhn(m);
                    if ok {
                        found = Some(m.to_vec());
                    }
                    ok
                });
                found.map(|m| OpMatch {
                    captures: if capture { vec![m] } else { Vec::new() },
                })
            }
            Kind::Unconditional => hit(true),
            Kind::NoMatch => None,
        }
    }

    /// Literals one of which every matching value contains (see [`prefilter`]); `None` when
    /// no such set is known, and always `None` for negatable-by-nature operators such as
    /// `@validateByteRange` or `@lt`.
    pub fn prefilter(&self) -> Option<&Prefilter> {
        match &self.kind {
            Kind::Rx(_, p) => p.as_ref(),
            _ => None,
        }
    }

    /// Literals (lowercased) one of which every matching value contains, for the operators
    /// where that is known: `@rx` (from the pattern), `@pm` (the phrases), `@contains`,
    /// `@containsWord`, `@streq`, `@beginsWith`, `@endsWith`, `@strmatch` (the argument).
    /// `None` means "unknown": the operator must run. An empty literal never appears: an
    /// operator that can match anything (an empty `@contains` argument) gives `None`.
    pub fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        let one = |s: &[u8]| (!s.is_empty()).then(|| vec![s.to_ascii_lowercase()]);
        match &self.kind {
            Kind::Rx(_, p) => p.as_ref().map(|p| p.literals().to_vec()),
            Kind::Pm(set) => {
                let all: Vec<Vec<u8>> = set
                    .phrases()
                    .iter()
                    .map(|p| p.to_ascii_lowercase())
                    .collect();
                (!all.iter().any(Vec::is_empty)).then_some(all)
            }
            Kind::Streq(s)
            | Kind::Contains(s)
            | Kind::ContainsWord(s)
            | Kind::BeginsWith(s)
            | Kind::EndsWith(s)
            | Kind::StrMatch(s) => one(s),
            _ => None,
        }
    }

    /// Whether `@rx` runs on the linear-time engine (false for the few look-around patterns).
    pub fn is_linear(&self) -> bool {
        match &self.kind {
            Kind::Rx(re, _) | Kind::VerifyCc(re) => re.is_linear(),
            _ => true,
        }
    }
}

/// Whether `needle` occurs in `hay`. Short haystacks (CRS's `@within` lists, header values)
/// are searched from the needle's first byte with `memchr`: building a `memmem` finder
/// cost more than the search itself, on every call.
fn find(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if hay.len() > 256 {
        return memchr::memmem::find(hay, needle).is_some();
    }
    memchr::memchr_iter(first, hay).any(|at| hay[at + 1..].starts_with(rest))
}

/// The parameter occurs in the input with no ASCII letter right before or after it
/// (ModSecurity counts only letters as word characters here; digits and `_` are boundaries).
fn contains_word(input: &[u8], word: &[u8]) -> bool {
    if word.is_empty() {
        return true;
    }
    let letter = |i: Option<&u8>| i.is_some_and(u8::is_ascii_alphabetic);
    memchr::memmem::find_iter(input, word).any(|at| {
        let before = at.checked_sub(1).and_then(|b| input.get(b));
        !letter(before) && !letter(input.get(at + word.len()))
    })
}

/// C's `isspace`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Leading blanks, an optional sign, then digits; `None` when there are no digits, else the
/// value and whether it overflowed an `i64`.
fn leading_int(s: &[u8]) -> Option<(i64, bool)> {
    let start = s.iter().position(|&b| !is_c_space(b)).unwrap_or(s.len());
    let s = s.get(start..).unwrap_or_default();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    };
    let n = digits.iter().take_while(|d| d.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: i64 = 0;
    let mut overflow = false;
    for &d in digits.get(..n).unwrap_or_default() {
        let digit = i64::from(d - b'0');
        match v.checked_mul(10).and_then(|x| {
            if neg {
                x.checked_sub(digit)
            } else {
                x.checked_add(digit)
            }
        }) {
            Some(x) => v = x,
            None => {
                overflow = true;
                v = if neg { i64::MIN } else { i64::MAX };
                break;
            }
        }
    }
    Some((v, overflow))
}

/// `std::stoi` as `@eq` uses it: no digits or out of `int` range → 0.
fn stoi(s: &[u8]) -> i32 {
    match leading_int(s) {
        Some((v, false)) => i32::try_from(v).unwrap_or(0),
        _ => 0,
    }
}

/// `atoll` (glibc: `strtoll`, saturating): no digits → 0.
fn atoll(s: &[u8]) -> i64 {
    leading_int(s).map_or(0, |(v, _)| v)
}

/// Luhn check over the digits of a match (other characters are skipped); at least one digit.
fn luhn(s: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut digits = 0usize;
    for d in s
        .iter()
        .rev()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
    {
        sum += if digits % 2 == 1 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
        digits += 1;
    }
    digits > 0 && sum % 10 == 0
}

#[cfg(test)]
mod tests;
