//! Our own SQL-injection and XSS detection, the job libinjection does for ModSecurity
//! (`@detectSQLi`, `@detectXSS`). Input: one already-transformed value (an argument, a
//! cookie, a header), as the rule engine hands it over; no I/O.
//!
//! [`sqli`] lexes the value as SQL three times — as it is, and as the rest of a `'…'` or
//! `"…"` literal (an injected value usually starts by closing one) — and parses each token
//! stream with a small grammar of what an injected fragment looks like: an expression that
//! continues the query's, then `)`s closing the query's parentheses, `UNION SELECT`,
//! `ORDER BY`, `;` and a new statement, a trailing comment. The verdict is a rule over what
//! parsed (see `sqli/verdict.rs`), not a fingerprint table: ordinary text fails to parse as
//! SQL long before it shows an injection's shape. It returns a short fingerprint of the
//! tokens (one letter per token: `s` string, `1` number, `n` name, `f` function, `k`
//! keyword, `U` union, `E` select, `&` logic, `=` comparison, `o` operator, `c` comment,
//! `(` `)` `,` `;`).
//!
//! [`xss`] tokenizes the value as HTML in each place it can land — text, and an attribute
//! value unquoted, single-, double- or back-quoted — and flags what would run script:
//! script-capable tags, event-handler attributes, `javascript:`/`vbscript:`/`data:` URLs in
//! URL attributes, CSS `expression(`, and comment/doctype tricks.
//!
//! Both look at most [`MAX_SCAN`] bytes, run in linear time without allocating per byte,
//! and have a fast path for values without SQL or HTML metacharacters.

mod sqli;
mod xss;

/// Bytes of a value examined.
pub const MAX_SCAN: usize = 8 * 1024;

fn bounded(input: &[u8]) -> &[u8] {
    input.get(..MAX_SCAN).unwrap_or(input)
}

/// The fingerprint of the SQL injection in `input`, if any.
pub fn sqli(input: &[u8]) -> Option<String> {
    sqli::detect(bounded(input))
}

/// Whether `input` is an XSS attempt.
pub fn xss(input: &[u8]) -> bool {
    xss::detect(bounded(input))
}
