//! XSS detection: walks the value with the HTML tokenizer ([`html`]) from each place a
//! reflected value can land — page text, and inside an attribute value unquoted or quoted
//! with `"`, `'` or `` ` `` — and flags what would make a browser run script:
//!
//! - tags that run or load script or change how the page is parsed (`<script>`, `<iframe>`,
//!   `<object>`, `<embed>`, `<svg>`, `<math>`, `<base>`, `<meta>`, `<link>`, `<style>` …);
//! - event-handler attributes (`on…=`), `srcdoc`, and `style` values with `expression(`,
//!   `behavior:`, `-moz-binding`, `@import` or a script URL;
//! - attribute values that are `javascript:`/`vbscript:`/`data:` URLs (browsers ignore
//!   whitespace and control bytes inside the scheme, and decode character references
//!   first, so the match does too);
//! - comments with Internet Explorer's conditional syntax, `<!DOCTYPE`/`<!ENTITY`, and
//!   `<?xml-stylesheet`/`<?import` processing instructions.
//!
//! It does not judge script *content* (`alert(1)` in plain text is harmless), and ordinary
//! tags with ordinary attributes (`<b>`, `<a href="https://…">`) pass.

mod html;

use html::{Event, Start};

/// Tags that run or load active content, or change parsing enough to smuggle it.
const DANGEROUS_TAGS: &[&[u8]] = &[
    b"script",
    b"iframe",
    b"frame",
    b"frameset",
    b"object",
    b"embed",
    b"applet",
    b"base",
    b"link",
    b"meta",
    b"style",
    b"svg",
    b"math",
    b"xml",
    b"xss",
    b"import",
    b"vmlframe",
    b"handler",
    b"listener",
    b"isindex",
    b"comment",
    b"xmp",
    b"plaintext",
    b"noscript",
    b"template",
];

/// Words starting with "on" that are not event handlers; seen as attribute names when
/// prose lands in an unquoted attribute ("status online=yes").
const NOT_HANDLERS: &[&[u8]] = &[
    b"one", b"ones", b"only", b"onto", b"online", b"onion", b"onset", b"onward", b"onwards",
    b"ongoing", b"onsite", b"onboard",
];

pub fn detect(s: &[u8]) -> bool {
    if !s
        .iter()
        .any(|&c| matches!(c, b'<' | b'"' | b'\'' | b'`' | b'=' | b':'))
    {
        return false;
    }
    let starts = [
        (Start::Text, None),
        (Start::Value(None), None),
        (Start::Value(Some(b'"')), Some(b'"')),
        (Start::Value(Some(b'\'')), Some(b'\'')),
        (Start::Value(Some(b'`')), Some(b'`')),
    ];
    starts.iter().any(|&(start, needs)| {
        needs.is_none_or(|q| memchr::memchr(q, s).is_some()) && html::walk(s, start, dangerous)
    })
}

fn dangerous(e: Event<'_>) -> bool {
    match e {
        Event::Tag { name } => tag_is_dangerous(name),
        Event::Attr { name, value } => attr_is_dangerous(name, value),
        Event::Comment(body) => {
            // IE conditional comments run their content; a back-quote ends attribute
            // values in old IE parsers.
            contains_ci(body, b"[if") || contains_ci(body, b"<![endif") || body.contains(&b'`')
        }
        Event::Bang(body) => {
            starts_ci(body, b"doctype") || starts_ci(body, b"entity") || starts_ci(body, b"[cdata[")
        }
        Event::Pi(body) => {
            starts_ci(body, b"xml-stylesheet")
                || starts_ci(body, b"xml:namespace")
                || starts_ci(body, b"import")
                || script_url_in(body)
        }
    }
}

fn tag_is_dangerous(name: &[u8]) -> bool {
    // `<svg:script>`, `<x:script>`: the local name counts, and so does the prefix.
    let local = name.rsplit(|&c| c == b':').next().unwrap_or(name);
    DANGEROUS_TAGS.iter().any(|t| local.eq_ignore_ascii_case(t))
        || [name, local]
            .iter()
            .any(|n| starts_ci(n, b"svg") || starts_ci(n, b"xsl"))
}

/// `on<letters>=`, after optional spacing.
fn handler_assignment(v: &[u8]) -> bool {
    let v = v
        .get(v.iter().take_while(|c| c.is_ascii_whitespace()).count()..)
        .unwrap_or(&[]);
    if !starts_ci(v, b"on") {
        return false;
    }
    let letters = v
        .iter()
        .skip(2)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let name = v.get(..2 + letters).unwrap_or(&[]);
    letters >= 2
        && v.get(2 + letters) == Some(&b'=')
        && !NOT_HANDLERS.iter().any(|w| name.eq_ignore_ascii_case(w))
}

fn attr_is_dangerous(name: &[u8], value: Option<&[u8]>) -> bool {
    if starts_ci(name, b"on") && name.len() >= 4 && value.is_some() {
        let handler = name
            .get(2..)
            .unwrap_or(&[])
            .iter()
            .all(u8::is_ascii_alphabetic);
        if handler && !NOT_HANDLERS.iter().any(|w| name.eq_ignore_ascii_case(w)) {
            return true;
        }
    }
    let Some(value) = value else {
        return false;
    };
    if name.is_empty() && handler_assignment(value) {
        // The value itself is `onerror=…`: it lands where an attribute name goes.
        return true;
    }
    if [&b"srcdoc"[..], b"datasrc", b"datafld", b"dataformatas"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
    {
        // `srcdoc` is a whole document; the data-binding trio renders fetched HTML (IE).
        return true;
    }
    if name.eq_ignore_ascii_case(b"attributename")
        && (starts_ci(value, b"on") || contains_ci(value, b"href"))
    {
        // SVG/SMIL `<set attributeName=onload to=…>` writes a handler or a link.
        return true;
    }
    if name.eq_ignore_ascii_case(b"style") {
        return style_is_dangerous(value);
    }
    if name.eq_ignore_ascii_case(b"content") && script_url_in(value) {
        // `<meta http-equiv=refresh content="0;url=javascript:…">`.
        return true;
    }
    script_url_at_start(value)
}

/// CSS that runs script (`expression(`, `behavior:`, `-moz-binding`), loads something
/// (`url(`, `@import`), or is obfuscated the way only attacks bother to (escapes, comments,
/// braces and brackets that re-synchronise a lax CSS parser). Honest form input rarely
/// carries inline styles at all.
fn style_is_dangerous(v: &[u8]) -> bool {
    [
        &b"expression"[..],
        b"behavio",
        b"binding",
        b"@import",
        b"url(",
        b"/*",
        b"&#",
    ]
    .iter()
    .any(|n| contains_ci(v, n))
        || v.iter().any(|&c| matches!(c, b'\\' | b'{' | b'}' | b'['))
        || script_url_in(v)
}

fn starts_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn contains_ci(s: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let mut from = 0;
    while let Some(p) = memchr::memchr2(
        first,
        first.to_ascii_uppercase(),
        s.get(from..).unwrap_or(&[]),
    ) {
        let at = from + p;
        if starts_ci(s.get(at..).unwrap_or(&[]), needle) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Decodes the start of a URL the way a browser reads its scheme: character references
/// decoded, whitespace and control bytes dropped, lower-cased. Bounded to `N` bytes out.
fn scheme_view<const N: usize>(s: &[u8]) -> ([u8; N], usize) {
    let mut out = [0u8; N];
    let mut n = 0;
    let mut i = 0;
    while n < N {
        let Some(&c) = s.get(i) else { break };
        let (byte, used) = if c == b'&' {
            char_ref(s.get(i..).unwrap_or(&[]))
        } else {
            (Some(c), 1)
        };
        i += used;
        match byte {
            Some(b) if b <= 0x20 || b == 0x7f => {}
            Some(b) => {
                if let Some(slot) = out.get_mut(n) {
                    *slot = b.to_ascii_lowercase();
                }
                n += 1;
            }
            None => {}
        }
    }
    (out, n)
}

/// A character reference at the start of `s` (`&#106;`, `&#x6A;`, `&colon;`, `&Tab;`):
/// the ASCII byte it stands for and the bytes it used.
fn char_ref(s: &[u8]) -> (Option<u8>, usize) {
    let body_end = s.iter().take(12).position(|&c| c == b';');
    let named: &[(&[u8], u8)] = &[
        (b"&colon", b':'),
        (b"&tab", b'\t'),
        (b"&newline", b'\n'),
        (b"&lpar", b'('),
    ];
    for (name, b) in named {
        if starts_ci(s, name) {
            let used = name.len() + (s.get(name.len()) == Some(&b';')) as usize;
            return (Some(*b), used);
        }
    }
    if s.get(1) == Some(&b'#') {
        let hex = matches!(s.get(2), Some(b'x' | b'X'));
        let digits_from = if hex { 3 } else { 2 };
        let mut v: u32 = 0;
        let mut j = digits_from;
        while let Some(d) = s
            .get(j)
            .and_then(|&c| (c as char).to_digit(if hex { 16 } else { 10 }))
        {
            v = v
                .saturating_mul(if hex { 16 } else { 10 })
                .saturating_add(d);
            j += 1;
            if j > 16 {
                break;
            }
        }
        if j > digits_from {
            if s.get(j) == Some(&b';') {
                j += 1;
            }
            return (u8::try_from(v).ok().filter(u8::is_ascii), j);
        }
    }
    let _ = body_end;
    (Some(b'&'), 1)
}

const SCRIPT_SCHEMES: &[&[u8]] = &[b"javascript:", b"vbscript:", b"livescript:", b"mocha:"];

/// `data:` URLs that render as a document or run script; images are fine.
fn dangerous_data_url(view: &[u8]) -> bool {
    // A media type (`data:text/html`) or none (`data:,…`): "data: 1, 2, 3" is prose.
    let rest = view.get(5..).unwrap_or(&[]);
    let letters = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let media = rest.first() == Some(&b',') || letters > 0 && rest.get(letters) == Some(&b'/');
    starts_ci(view, b"data:")
        && media
        && !(starts_ci(view, b"data:image/png")
            || starts_ci(view, b"data:image/jpeg")
            || starts_ci(view, b"data:image/gif")
            || starts_ci(view, b"data:image/webp"))
}

fn script_url_at_start(value: &[u8]) -> bool {
    let (buf, n) = scheme_view::<24>(value);
    let view = buf.get(..n).unwrap_or(&[]);
    SCRIPT_SCHEMES.iter().any(|p| view.starts_with(p)) || dangerous_data_url(view)
}

/// A script URL anywhere in `s` (CSS `url(javascript:…)`, a refresh target).
fn script_url_in(s: &[u8]) -> bool {
    let mut from = 0;
    while let Some(p) = memchr::memchr(b':', s.get(from..).unwrap_or(&[])) {
        let colon = from + p;
        // The scheme is at most 12 bytes (plus spacing tricks) before the colon.
        let back = colon.saturating_sub(24);
        for start in back..colon {
            if script_url_at_start(s.get(start..).unwrap_or(&[])) {
                return true;
            }
        }
        from = colon + 1;
    }
    false
}

#[cfg(test)]
mod tests;
