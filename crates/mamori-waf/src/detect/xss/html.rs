//! A small HTML5-style tokenizer over untrusted bytes: reports tags, attributes (name and
//! raw value), comments, `<!…>` declarations and `<?…>` processing instructions, in the
//! order a browser would see them.
//!
//! It follows the HTML5 tokenizer's states loosely — data, tag open, tag name, attribute
//! name, attribute value (unquoted, `"`, `'`) — plus the back-quote as a quote, which old
//! Internet Explorer honoured and attacks still use. It can start inside an attribute value
//! ([`Start`]) because that is where a reflected value often lands. It does not decode
//! entities, build a tree, or know about `<script>`/`<style>` raw-text content: the
//! detector stops at the first dangerous construct, and a `<script>` tag is one.

/// Where the value lands in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Between tags.
    Text,
    /// Inside an attribute value, unquoted or quoted with the given byte.
    Value(Option<u8>),
}

pub enum Event<'a> {
    /// `<name` or `</name`; `name` may hold upper-case letters.
    Tag { name: &'a [u8] },
    /// An attribute of the current tag; `name` is empty for the value the input starts in.
    Attr {
        name: &'a [u8],
        value: Option<&'a [u8]>,
    },
    /// `<!-- body -->`.
    Comment(&'a [u8]),
    /// `<!body>`: doctype, CDATA, bogus comment.
    Bang(&'a [u8]),
    /// `<?body>`.
    Pi(&'a [u8]),
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b | 0)
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|p| from + p)
}

fn find_byte(hay: &[u8], from: usize, b: u8) -> Option<usize> {
    memchr::memchr(b, hay.get(from..)?).map(|p| from + p)
}

/// Calls `visit` for each event until it returns true (found); returns whether it did.
/// Every step consumes input, so the walk is linear.
pub fn walk(s: &[u8], start: Start, mut visit: impl FnMut(Event<'_>) -> bool) -> bool {
    let mut i = 0;
    if let Start::Value(quote) = start {
        let (value, next) = attr_value(s, 0, quote);
        if visit(Event::Attr {
            name: &[],
            value: Some(value),
        }) {
            return true;
        }
        let (found, next) = attributes(s, next, &mut visit);
        if found {
            return true;
        }
        i = next;
    }
    while let Some(lt) = find_byte(s, i, b'<') {
        i = lt + 1;
        let Some(&c) = s.get(i) else { break };
        if c == b'!' {
            if s.get(i + 1..i + 3) == Some(b"--") {
                let body_from = i + 3;
                // HTML5 ends a comment at `-->` and also at `--!>`.
                let (end, close) = match (find(s, body_from, b"-->"), find(s, body_from, b"--!>")) {
                    (Some(a), Some(b)) if b < a => (b, 4),
                    (Some(a), _) => (a, 3),
                    (None, Some(b)) => (b, 4),
                    (None, None) => (s.len(), 3),
                };
                if visit(Event::Comment(s.get(body_from..end).unwrap_or(&[]))) {
                    return true;
                }
                i = end + close;
            } else {
                let end = find_byte(s, i, b'>').unwrap_or(s.len());
                if visit(Event::Bang(s.get(i + 1..end).unwrap_or(&[]))) {
                    return true;
                }
                i = end + 1;
            }
            continue;
        }
        if c == b'?' {
            let end = find_byte(s, i, b'>').unwrap_or(s.len());
            if visit(Event::Pi(s.get(i + 1..end).unwrap_or(&[]))) {
                return true;
            }
            i = end + 1;
            continue;
        }
        let end_tag = c == b'/';
        let name_from = i + end_tag as usize;
        if !s.get(name_from).is_some_and(u8::is_ascii_alphabetic) {
            // `a < b`, `<3`: text.
            continue;
        }
        let mut j = name_from;
        while s
            .get(j)
            .is_some_and(|&c| !is_space(c) && c != b'/' && c != b'>')
        {
            j += 1;
        }
        if visit(Event::Tag {
            name: s.get(name_from..j).unwrap_or(&[]),
        }) {
            return true;
        }
        let (found, next) = attributes(s, j, &mut visit);
        if found {
            return true;
        }
        i = next;
    }
    false
}

/// The attributes from `i` to the end of the tag; returns (found, index after `>`).
fn attributes(s: &[u8], mut i: usize, visit: &mut impl FnMut(Event<'_>) -> bool) -> (bool, usize) {
    loop {
        while s.get(i).is_some_and(|&c| is_space(c) || c == b'/') {
            i += 1;
        }
        match s.get(i) {
            None => return (false, i),
            Some(b'>') => return (false, i + 1),
            Some(_) => {}
        }
        let name_from = i;
        // An attribute name may start with `=` (HTML5), then runs to space, `/`, `>`, `=`.
        i += 1;
        while s
            .get(i)
            .is_some_and(|&c| !is_space(c) && !matches!(c, b'/' | b'>' | b'='))
        {
            i += 1;
        }
        let name = s.get(name_from..i).unwrap_or(&[]);
        let mut j = i;
        while s.get(j).is_some_and(|&c| is_space(c)) {
            j += 1;
        }
        let value = if s.get(j) == Some(&b'=') {
            j += 1;
            while s.get(j).is_some_and(|&c| is_space(c)) {
                j += 1;
            }
            let quote = match s.get(j) {
                Some(&q @ (b'"' | b'\'' | b'`')) => {
                    j += 1;
                    Some(q)
                }
                _ => None,
            };
            let (v, next) = attr_value(s, j, quote);
            i = next;
            Some(v)
        } else {
            None
        };
        if visit(Event::Attr { name, value }) {
            return (true, i);
        }
    }
}

/// The value starting at `i` and the index after it (past its closing quote).
fn attr_value(s: &[u8], i: usize, quote: Option<u8>) -> (&[u8], usize) {
    match quote {
        Some(q) => {
            let end = find_byte(s, i, q).unwrap_or(s.len());
            (s.get(i..end).unwrap_or(&[]), end + 1)
        }
        None => {
            let mut end = i;
            while s.get(end).is_some_and(|&c| !is_space(c) && c != b'>') {
                end += 1;
            }
            (s.get(i..end).unwrap_or(&[]), end)
        }
    }
}
