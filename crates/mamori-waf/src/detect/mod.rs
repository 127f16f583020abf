//! Our own SQL-injection and XSS detection, the job libinjection does for ModSecurity
//! (`@detectSQLi`, `@detectXSS`).
//!
//! [`sqli`] tokenizes the value as SQL three times — as it is, and as if it continued a
//! single- or double-quoted string (an injected value usually starts by closing one) — and
//! looks for the shapes injections take: a closed string followed by a comment or a boolean
//! operator (`' or 1=1--`, `admin'--`), a tautology (`1 or 1=1`), `UNION [ALL] SELECT`, stacked
//! statements (`; drop table`), `SELECT x FROM y`, and the time/file functions used blind
//! (`sleep(`, `benchmark(`, `waitfor delay`, `load_file(`). It returns a short fingerprint of
//! the tokens (one letter per token: `s` string, `1` number, `n` name, `k` keyword, `&`
//! logic, `o` operator, `c` comment, `(` `)` `,` `;`), as libinjection does.
//!
//! [`xss`] looks for what would run script in an HTML page: script-capable tags, event-handler
//! attributes, `javascript:`/`vbscript:`/`data:text/html` URLs and CSS `expression(`, also
//! when the value starts inside an attribute (`" onmouseover=alert(1)`).
//!
//! Both are linear in the input, look at most [`MAX_SCAN`] bytes and [`MAX_TOKENS`] tokens,
//! and have a fast path for values without SQL or HTML metacharacters.

/// Bytes of a value examined.
pub const MAX_SCAN: usize = 8 * 1024;
/// Tokens examined per context.
pub const MAX_TOKENS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Str,
    Num,
    Name,
    Kw(Kw),
    Logic,
    Cmp,
    Op,
    Comment,
    Open,
    Close,
    Comma,
    Semi,
    Var,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Select,
    Union,
    All,
    From,
    Where,
    Insert,
    Update,
    Delete,
    Drop,
    Exec,
    Order,
    Group,
    By,
    Having,
    Into,
    Values,
    Like,
    Null,
    Sleepy,
    Other,
}

impl Tok {
    fn letter(self) -> char {
        match self {
            Tok::Str => 's',
            Tok::Num => '1',
            Tok::Name => 'n',
            Tok::Kw(Kw::Union) => 'U',
            Tok::Kw(Kw::Sleepy) => 'f',
            Tok::Kw(_) => 'k',
            Tok::Logic => '&',
            Tok::Cmp => '=',
            Tok::Op => 'o',
            Tok::Comment => 'c',
            Tok::Open => '(',
            Tok::Close => ')',
            Tok::Comma => ',',
            Tok::Semi => ';',
            Tok::Var => 'v',
        }
    }
}

fn keyword(word: &[u8]) -> Option<Tok> {
    let w = word.to_ascii_lowercase();
    Some(match w.as_slice() {
        b"select" => Tok::Kw(Kw::Select),
        b"union" => Tok::Kw(Kw::Union),
        b"all" | b"distinct" => Tok::Kw(Kw::All),
        b"from" => Tok::Kw(Kw::From),
        b"where" => Tok::Kw(Kw::Where),
        b"insert" => Tok::Kw(Kw::Insert),
        b"update" => Tok::Kw(Kw::Update),
        b"delete" => Tok::Kw(Kw::Delete),
        b"drop" | b"truncate" | b"alter" | b"create" | b"shutdown" | b"declare" => {
            Tok::Kw(Kw::Drop)
        }
        b"exec" | b"execute" | b"xp_cmdshell" => Tok::Kw(Kw::Exec),
        b"order" => Tok::Kw(Kw::Order),
        b"group" => Tok::Kw(Kw::Group),
        b"by" => Tok::Kw(Kw::By),
        b"having" => Tok::Kw(Kw::Having),
        b"into" => Tok::Kw(Kw::Into),
        b"values" => Tok::Kw(Kw::Values),
        b"like" | b"rlike" | b"regexp" | b"sounds" | b"between" | b"in" | b"is" => {
            Tok::Kw(Kw::Like)
        }
        b"null" | b"true" | b"false" => Tok::Kw(Kw::Null),
        b"sleep" | b"benchmark" | b"pg_sleep" | b"waitfor" | b"delay" | b"load_file"
        | b"extractvalue" | b"updatexml" | b"dbms_pipe" | b"utl_inaddr" => Tok::Kw(Kw::Sleepy),
        b"or" | b"and" | b"xor" | b"not" | b"div" | b"mod" => Tok::Logic,
        b"case"
        | b"when"
        | b"then"
        | b"else"
        | b"end"
        | b"limit"
        | b"offset"
        | b"procedure"
        | b"table"
        | b"information_schema"
        | b"char"
        | b"concat"
        | b"version"
        | b"database"
        | b"user"
        | b"if"
        | b"ascii"
        | b"substring"
        | b"cast" => Tok::Kw(Kw::Other),
        _ => return None,
    })
}

/// SQL tokens of `s`; `open_quote` starts inside a string closed by that quote.
fn tokenize(s: &[u8], open_quote: Option<u8>) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    if let Some(q) = open_quote {
        // The rest of an already-open string.
        match memchr::memchr(q, s) {
            Some(end) => {
                toks.push(Tok::Str);
                i = end + 1;
            }
            None => return vec![Tok::Str],
        }
    }
    while i < s.len() && toks.len() < MAX_TOKENS {
        let c = s[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0 | b'+'
                if c != b'+'
                    || toks.is_empty()
                    || matches!(toks.last(), Some(Tok::Logic | Tok::Kw(_) | Tok::Cmp)) =>
            {
                i += 1;
            }
            b'\'' | b'"' | b'`' => {
                match memchr::memchr(c, &s[i + 1..]) {
                    Some(end) => i += end + 2,
                    None => i = s.len(),
                }
                toks.push(if c == b'`' { Tok::Name } else { Tok::Str });
            }
            b'0'..=b'9' => {
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.') {
                    i += 1;
                }
                toks.push(Tok::Num);
            }
            b'-' if s.get(i + 1) == Some(&b'-') => {
                toks.push(Tok::Comment);
                i = s.len();
            }
            b'#' => {
                toks.push(Tok::Comment);
                i = s.len();
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                toks.push(Tok::Comment);
                match memchr::memmem::find(&s[i + 2..], b"*/") {
                    Some(end) => i += end + 4,
                    None => i = s.len(),
                }
            }
            b'(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            b')' => {
                toks.push(Tok::Close);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b';' => {
                toks.push(Tok::Semi);
                i += 1;
            }
            b'@' => {
                while i < s.len() && (s[i] == b'@' || s[i].is_ascii_alphanumeric() || s[i] == b'_')
                {
                    i += 1;
                }
                toks.push(Tok::Var);
            }
            b'=' | b'<' | b'>' | b'!' => {
                while i < s.len() && matches!(s[i], b'=' | b'<' | b'>' | b'!') {
                    i += 1;
                }
                toks.push(Tok::Cmp);
            }
            b'|' | b'&' => {
                let doubled = s.get(i + 1) == Some(&c);
                i += 1 + doubled as usize;
                toks.push(if doubled { Tok::Logic } else { Tok::Op });
            }
            b'*' | b'/' | b'%' | b'^' | b'~' | b'-' | b'+' => {
                toks.push(Tok::Op);
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let start = i;
                while i < s.len()
                    && (s[i].is_ascii_alphanumeric() || matches!(s[i], b'_' | b'$' | b'.'))
                {
                    i += 1;
                }
                toks.push(keyword(&s[start..i]).unwrap_or(Tok::Name));
            }
            _ => {
                // Anything else (non-ASCII text, punctuation) separates words.
                i += 1;
            }
        }
    }
    toks
}

fn operand(t: Tok) -> bool {
    matches!(
        t,
        Tok::Str | Tok::Num | Tok::Name | Tok::Var | Tok::Kw(Kw::Null) | Tok::Close
    )
}

/// Whether the token stream has an injection shape.
fn injection(t: &[Tok], quoted: bool) -> bool {
    let at = |i: usize| t.get(i).copied();
    for i in 0..t.len() {
        let w = (at(i), at(i + 1), at(i + 2), at(i + 3));
        match w {
            // UNION [ALL] SELECT
            (Some(Tok::Kw(Kw::Union)), Some(Tok::Kw(Kw::Select)), ..)
            | (Some(Tok::Kw(Kw::Union)), Some(Tok::Kw(Kw::All)), Some(Tok::Kw(Kw::Select)), _)
            | (Some(Tok::Kw(Kw::Union)), Some(Tok::Open), Some(Tok::Kw(Kw::Select)), _) => {
                return true
            }
            // stacked statements
            (
                Some(Tok::Semi),
                Some(Tok::Kw(
                    Kw::Select | Kw::Insert | Kw::Update | Kw::Delete | Kw::Drop | Kw::Exec,
                )),
                ..,
            ) => return true,
            // blind-injection functions called
            (Some(Tok::Kw(Kw::Sleepy)), Some(Tok::Open), ..) => return true,
            (
                Some(Tok::Kw(Kw::Sleepy)),
                Some(Tok::Kw(Kw::Sleepy)),
                Some(Tok::Str | Tok::Num),
                _,
            ) => return true,
            // tautology: x OR y = z
            (Some(a), Some(Tok::Logic), Some(b), Some(Tok::Cmp))
                if operand(a) && operand(b) && at(i + 4).is_some_and(operand) =>
            {
                return true
            }
            (Some(a), Some(Tok::Logic), Some(Tok::Open), Some(b))
                if operand(a) && operand(b) && at(i + 4) == Some(Tok::Cmp) =>
            {
                return true
            }
            // x OR y (LIKE|IS) z
            (Some(a), Some(Tok::Logic), Some(b), Some(Tok::Kw(Kw::Like)))
                if operand(a) && operand(b) =>
            {
                return true
            }
            // SELECT list FROM name
            (
                Some(Tok::Kw(Kw::Select)),
                Some(a),
                Some(Tok::Kw(Kw::From)),
                Some(Tok::Name | Tok::Kw(_)),
            ) if operand(a) || a == Tok::Op => return true,
            (Some(Tok::Kw(Kw::Select)), Some(a), Some(Tok::Comma), Some(b))
                if operand(a) && operand(b) =>
            {
                return true
            }
            (Some(Tok::Kw(Kw::Insert)), Some(Tok::Kw(Kw::Into)), Some(Tok::Name), _) => {
                return true
            }
            (Some(Tok::Kw(Kw::Drop)), Some(Tok::Kw(Kw::Other)), Some(Tok::Name), _) => return true,
            (Some(Tok::Kw(Kw::Delete)), Some(Tok::Kw(Kw::From)), Some(Tok::Name), _) => {
                return true
            }
            _ => {}
        }
    }
    if quoted {
        // The value closed a string: what follows decides.
        match (at(0), at(1), at(2), at(3)) {
            (Some(Tok::Str), Some(Tok::Comment), ..) => return true,
            (Some(Tok::Str), Some(Tok::Semi), ..) => return true,
            (Some(Tok::Str), Some(Tok::Logic), Some(b), _) if operand(b) || b == Tok::Open => {
                return true
            }
            (Some(Tok::Str), Some(Tok::Close), Some(Tok::Logic | Tok::Comment | Tok::Semi), _) => {
                return true
            }
            (Some(Tok::Str), Some(Tok::Kw(Kw::Order | Kw::Group)), Some(Tok::Kw(Kw::By)), _) => {
                return true
            }
            (Some(Tok::Str), Some(Tok::Kw(Kw::Having | Kw::Where)), ..) => return true,
            (Some(Tok::Str), Some(Tok::Op), Some(Tok::Kw(Kw::Sleepy)), _) => return true,
            _ => {}
        }
    }
    false
}

/// The fingerprint of the SQL injection in `input`, if any.
pub fn sqli(input: &[u8]) -> Option<String> {
    let s = &input[..input.len().min(MAX_SCAN)];
    // Fast path: no quote, comment, operator or parenthesis means no injection shape
    // beyond bare keywords, which the shapes below need anyway.
    if !s.iter().any(|&c| {
        matches!(
            c,
            b'\''
                | b'"'
                | b'`'
                | b'-'
                | b'#'
                | b'/'
                | b'('
                | b';'
                | b'='
                | b'<'
                | b'>'
                | b'|'
                | b'&'
                | b' '
                | b'+'
                | b'@'
                | b'\t'
                | b'\n'
                | b'\r'
                | 0x0b
                | 0x0c
        )
    }) {
        return None;
    }
    for quote in [None, Some(b'\''), Some(b'"')] {
        if quote.is_some_and(|q| !s.contains(&q)) {
            continue;
        }
        let toks = tokenize(s, quote);
        if injection(&toks, quote.is_some()) {
            return Some(toks.iter().take(5).map(|t| t.letter()).collect());
        }
    }
    None
}

const SCRIPT_TAGS: &[&[u8]] = &[
    b"script",
    b"iframe",
    b"frame",
    b"frameset",
    b"object",
    b"embed",
    b"applet",
    b"svg",
    b"math",
    b"img",
    b"image",
    b"body",
    b"video",
    b"audio",
    b"source",
    b"input",
    b"form",
    b"button",
    b"link",
    b"meta",
    b"style",
    b"base",
    b"details",
    b"marquee",
    b"isindex",
    b"xml",
    b"xss",
    b"a",
    b"div",
    b"span",
    b"table",
    b"td",
    b"select",
    b"textarea",
    b"keygen",
    b"bgsound",
    b"layer",
    b"ilayer",
    b"animate",
    b"set",
    b"template",
    b"x",
];

fn lower(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|&&c| c != 0)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `on<letters>` followed by optional space and `=`: an event-handler attribute.
fn event_handler(s: &[u8]) -> bool {
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(&s[from..], b"on") {
        let at = from + p;
        let boundary = at == 0
            || matches!(
                s[at - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'"' | b'\'' | b';' | 0x0c
            );
        let mut j = at + 2;
        while j < s.len() && s[j].is_ascii_alphabetic() {
            j += 1;
        }
        let name_len = j - at - 2;
        while j < s.len() && matches!(s[j], b' ' | b'\t' | b'\n' | b'\r' | 0x0c) {
            j += 1;
        }
        if boundary && name_len >= 3 && s.get(j) == Some(&b'=') {
            return true;
        }
        from = at + 2;
    }
    false
}

fn script_url(s: &[u8]) -> bool {
    // Browsers ignore whitespace and control characters inside the scheme.
    let compact: Vec<u8> = s
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace() && *c >= 0x20)
        .collect();
    [
        &b"javascript:"[..],
        b"vbscript:",
        b"livescript:",
        b"data:text/html",
        b"data:image/svg+xml",
        b"data:application/x-javascript",
    ]
    .iter()
    .any(|p| memchr::memmem::find(&compact, p).is_some())
}

/// Whether `input` is an XSS attempt.
pub fn xss(input: &[u8]) -> bool {
    let raw = &input[..input.len().min(MAX_SCAN)];
    if !raw
        .iter()
        .any(|&c| matches!(c, b'<' | b'>' | b'"' | b'\'' | b':' | b'=' | b'(' | b'`'))
    {
        return false;
    }
    let s = lower(raw);
    // Tags that can carry script.
    let mut from = 0;
    while let Some(p) = memchr::memchr(b'<', &s[from..]) {
        let at = from + p + 1;
        let mut j = at;
        if s.get(j) == Some(&b'/') {
            j += 1;
        }
        let start = j;
        while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b':' || s[j] == b'-') {
            j += 1;
        }
        let name = &s[start..j];
        let name = name.rsplit(|&c| c == b':').next().unwrap_or(name);
        if name == b"script"
            || name == b"iframe"
            || name == b"object"
            || name == b"embed"
            || name == b"applet"
            || name == b"meta"
            || name == b"base"
        {
            return true;
        }
        if !name.is_empty() && SCRIPT_TAGS.contains(&name)
            || (!name.is_empty() && name.iter().all(u8::is_ascii_alphanumeric))
        {
            let tag_end = memchr::memchr(b'>', &s[j..]).map_or(s.len(), |e| j + e);
            let attrs = &s[j..tag_end];
            if event_handler(attrs)
                || script_url(attrs)
                || memchr::memmem::find(attrs, b"expression(").is_some()
            {
                return true;
            }
        }
        if s[at..].starts_with(b"!--") && memchr::memmem::find(&s[at..], b"<script").is_some() {
            return true;
        }
        from = at;
    }
    // A value that lands inside an attribute: it closes the quote (or is unquoted) and adds
    // a handler or a script URL.
    let trimmed = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .map_or(&s[..0], |p| &s[p..]);
    if matches!(trimmed.first(), Some(b'"' | b'\'' | b'`'))
        && (event_handler(&trimmed[1..])
            || memchr::memmem::find(trimmed, b"style=")
                .is_some_and(|_| memchr::memmem::find(trimmed, b"expression(").is_some()))
    {
        return true;
    }
    if script_url(trimmed)
        && (trimmed.starts_with(b"javascript")
            || trimmed.starts_with(b"vbscript")
            || trimmed.starts_with(b"data:")
            || trimmed.starts_with(b"\"")
            || trimmed.starts_with(b"'"))
    {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_injections_are_found() {
        for attack in [
            "1' or '1'='1",
            "' or 1=1--",
            "admin'--",
            "1 or 1=1",
            "1 union select password from users",
            "1 UNION ALL SELECT null,null--",
            "1; drop table users",
            "1' and sleep(5)#",
            "1) or (1=1",
            "' having 1=1--",
            "x' order by 3--",
            "1'; exec xp_cmdshell('dir')--",
            "1 and benchmark(5000000,md5(1))",
            "\" or \"\"=\"",
            "-1' union select 1,2,3 from dual--",
        ] {
            assert!(sqli(attack.as_bytes()).is_some(), "{attack}");
        }
    }

    #[test]
    fn ordinary_text_is_not_sql() {
        for text in [
            "O'Reilly",
            "hello world",
            "I'll select a car from the shop and go home",
            "田中太郎",
            "taro@example.co.jp",
            "2026-11-23",
            "Tom & Jerry",
            "rock and roll",
            "what's up",
            "50% off - today only",
            "1+1",
            "{\"a\": 1}",
            "https://www.example.com/path?x=1",
            "you or me",
        ] {
            assert!(
                sqli(text.as_bytes()).is_none(),
                "{text}: {:?}",
                sqli(text.as_bytes())
            );
        }
    }

    #[test]
    fn script_in_html_is_found() {
        for attack in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<svg/onload=alert(1)>",
            "\" onmouseover=\"alert(1)",
            "javascript:alert(1)",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<iframe src=//evil>",
            "<body onload=alert(1)>",
            "<div style=\"width:expression(alert(1))\">",
            "<ScRiPt>alert(1)</sCrIpT>",
        ] {
            assert!(xss(attack.as_bytes()), "{attack}");
        }
    }

    #[test]
    fn ordinary_text_is_not_script() {
        for text in [
            "hello <world>",
            "a < b and c > d",
            "I'm online",
            "price: 100",
            "<b>bold</b>",
            "x=1",
            "https://example.com/a?b=c",
            "mention: online=yes",
        ] {
            assert!(!xss(text.as_bytes()), "{text}");
        }
    }
}
