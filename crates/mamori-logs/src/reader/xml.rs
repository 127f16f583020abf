//! A small, bounded XML tokenizer for Windows event records — just what `<Event>` exports
//! (wevtutil, `Get-WinEvent | ForEach ToXml()`, Event Viewer "Save as XML") need.
//!
//! It does not validate, does not resolve namespaces (prefixes are dropped) and expands only
//! the five predefined entities and numeric character references: a DOCTYPE is skipped with
//! its entity definitions unused, so a record cannot make it allocate more than its own size
//! (no "billion laughs"). Element nesting is bounded by [`MAX_DEPTH`].

use std::borrow::Cow;

/// Deeper nesting than any Windows event has; beyond it a record is refused.
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// A start tag; `empty` for `<x/>`.
    Start {
        name: &'a str,
        attrs: Vec<(&'a str, String)>,
        empty: bool,
    },
    End(&'a str),
    Text(Cow<'a, str>),
}

/// Splits an XML text into tokens; comments, processing instructions and DOCTYPE are skipped.
pub(crate) struct Tokenizer<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Tokenizer { s, i: 0 }
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or_default()
    }

    /// Skips past `end`, or to the end of input; an unterminated construct is an error.
    fn skip_past(&mut self, end: &str) -> Result<(), String> {
        match self.rest().find(end) {
            Some(p) => {
                self.i += p + end.len();
                Ok(())
            }
            None => Err(format!("unterminated markup, expected {end:?}")),
        }
    }

    pub(crate) fn next_token(&mut self) -> Option<Result<Token<'a>, String>> {
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return None;
            }
            if !rest.starts_with('<') {
                let end = rest.find('<').unwrap_or(rest.len());
                self.i += end;
                let raw = rest.get(..end).unwrap_or_default();
                return Some(Ok(Token::Text(decode_entities(raw))));
            }
            if rest.starts_with("<!--") {
                if let Err(e) = self.skip_past("-->") {
                    return Some(Err(e));
                }
                continue;
            }
            if let Some(body) = rest.strip_prefix("<![CDATA[") {
                let Some(p) = body.find("]]>") else {
                    return Some(Err("unterminated CDATA section".into()));
                };
                self.i += 9 + p + 3;
                return Some(Ok(Token::Text(Cow::Borrowed(
                    body.get(..p).unwrap_or_default(),
                ))));
            }
            if rest.starts_with("<?") {
                if let Err(e) = self.skip_past("?>") {
                    return Some(Err(e));
                }
                continue;
            }
            if rest.starts_with("<!") {
                // DOCTYPE: skipped whole, internal subset included, entity definitions unused.
                let end = if let Some(open) = rest
                    .find('[')
                    .filter(|&o| rest.find('>').is_none_or(|gt| o < gt))
                {
                    rest.get(open..)
                        .and_then(|r| r.find("]>"))
                        .map(|p| open + p + 2)
                } else {
                    rest.find('>').map(|p| p + 1)
                };
                match end {
                    Some(e) => {
                        self.i += e;
                        continue;
                    }
                    None => return Some(Err("unterminated DOCTYPE".into())),
                }
            }
            return Some(self.tag());
        }
    }

    fn tag(&mut self) -> Result<Token<'a>, String> {
        let rest = self.rest();
        let Some(gt) = find_tag_end(rest) else {
            return Err("unterminated tag".into());
        };
        self.i += gt + 1;
        let inner = rest.get(1..gt).unwrap_or_default();
        if let Some(name) = inner.strip_prefix('/') {
            return Ok(Token::End(local_name(name.trim())));
        }
        let (inner, empty) = match inner.strip_suffix('/') {
            Some(i) => (i, true),
            None => (inner, false),
        };
        let name_end = inner
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(inner.len());
        let name = inner.get(..name_end).unwrap_or_default();
        if name.is_empty() {
            return Err("tag without a name".into());
        }
        let attrs = parse_attrs(inner.get(name_end..).unwrap_or_default())?;
        Ok(Token::Start {
            name: local_name(name),
            attrs,
            empty,
        })
    }
}

/// The `>` closing a tag, skipping any inside quoted attribute values.
fn find_tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn parse_attrs(mut s: &str) -> Result<Vec<(&str, String)>, String> {
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(attrs);
        }
        let eq = s.find('=').ok_or("attribute without a value")?;
        let name = s.get(..eq).unwrap_or_default().trim();
        let after = s.get(eq + 1..).unwrap_or_default().trim_start();
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        let quote = quote.ok_or("unquoted attribute value")?;
        let body = after.get(1..).unwrap_or_default();
        let end = body.find(quote).ok_or("unterminated attribute value")?;
        let value = decode_entities(body.get(..end).unwrap_or_default()).into_owned();
        // `xmlns` and `xmlns:x` declare namespaces; they are no part of the event.
        if name != "xmlns" && !name.starts_with("xmlns:") {
            attrs.push((local_name(name), value));
        }
        s = body.get(end + 1..).unwrap_or_default();
    }
}

/// Expands `&lt; &gt; &amp; &quot; &apos;` and `&#N;`/`&#xH;`; anything else stays as written.
pub(crate) fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let tail = rest.get(amp..).unwrap_or_default();
        // Entity names are short; a `;` further away means this `&` is literal.
        let semi = tail.get(..tail.len().min(12)).and_then(|t| t.find(';'));
        let decoded = semi.and_then(|semi| {
            let name = tail.get(1..semi)?;
            let c = match name {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, semi + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = tail.get(used..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_expand_only_predefined_and_numeric() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &amp;&#65;&#x42; &foo; & x"),
            "a <b> &AB &foo; & x"
        );
    }

    #[test]
    fn doctype_entities_are_not_expanded() {
        let xml = r#"<!DOCTYPE x [<!ENTITY a "aaaaaaaa">]><x y='1 > 0'>&a;</x>"#;
        let mut t = Tokenizer::new(xml);
        let mut toks = Vec::new();
        while let Some(tok) = t.next_token() {
            toks.push(tok.unwrap());
        }
        assert_eq!(
            toks,
            vec![
                Token::Start {
                    name: "x",
                    attrs: vec![("y", "1 > 0".into())],
                    empty: false
                },
                Token::Text("&a;".into()),
                Token::End("x"),
            ]
        );
    }

    #[test]
    fn unterminated_tag_is_an_error() {
        let mut t = Tokenizer::new("<Event xmlns='x'");
        assert!(t.next_token().unwrap().is_err());
    }
}
