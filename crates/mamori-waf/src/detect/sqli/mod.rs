//! SQL-injection detection: lexes a value as SQL in each context an injected value can
//! start in, parses it with the injection grammar, and decides on what parsed.
//!
//! - [`lex`] turns bytes into token kinds (no allocation, bounded token count);
//! - [`grammar`] parses tokens as the continuation of a query and records the SQL
//!   constructs it found;
//! - [`verdict`] decides whether those constructs make an injection.
//!
//! Contexts, as libinjection runs them: the value as-is (a number or keyword context), and,
//! when the value contains the quote, as the rest of a `'…'` or `"…"` literal. The returned
//! fingerprint is one letter per token of the context that matched (see
//! [`lex::Tok::letter`]), for the audit log; it is not compatible with libinjection's.

mod grammar;
mod lex;
mod verdict;

/// Longest fingerprint returned.
const FINGERPRINT_LEN: usize = 8;

/// Whether any byte could make the value more than one SQL token or a string: without
/// one, there is nothing to parse.
fn may_be_sql(s: &[u8]) -> bool {
    s.iter().any(|&c| {
        !(c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'.' | b'_' | b'$' | b'\0'))
    })
}

/// The fingerprint of the SQL injection in `s`, if any.
pub fn detect(s: &[u8]) -> Option<String> {
    if !may_be_sql(s) {
        return None;
    }
    for quote in [None, Some(b'\''), Some(b'"')] {
        if let Some(q) = quote {
            if memchr::memchr(q, s).is_none() {
                continue;
            }
        }
        let tokens = lex::lex(s, quote);
        let parse = grammar::parse(tokens.as_slice(), quote);
        // A comment opened inside a comment means nothing honest in any context.
        let evil = tokens.as_slice().contains(&lex::Tok::Evil);
        if evil || verdict::is_injection(&parse) {
            return Some(
                tokens
                    .as_slice()
                    .iter()
                    .take(FINGERPRINT_LEN)
                    .map(|t| t.letter())
                    .collect(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests;
