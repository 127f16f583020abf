//! XML bodies: text content and attribute values, bounded, no DTD.

use super::{xml_unescape, Limits};

/// What `XML:/*` (text nodes) and `XML://@*` (attribute values) read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Xml {
    pub text: Vec<Vec<u8>>,
    pub attrs: Vec<Vec<u8>>,
}

/// Reads an XML document's text and attribute values (entities: the predefined and numeric
/// ones only). `Err` for a document with a DTD declaring entities, unbalanced tags, nesting
/// deeper than the limit, or no element at all.
pub fn xml(body: &[u8], limits: Limits) -> Result<Xml, String> {
    let mut out = Xml::default();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    let mut seen_element = false;
    while i < body.len() {
        if body[i] == b'<' {
            let rest = &body[i..];
            if rest.starts_with(b"<!--") {
                let end = memchr::memmem::find(&rest[4..], b"-->")
                    .ok_or("XML parsing error: unclosed comment")?;
                i += 4 + end + 3;
                continue;
            }
            if rest.starts_with(b"<![CDATA[") {
                let end = memchr::memmem::find(&rest[9..], b"]]>")
                    .ok_or("XML parsing error: unclosed CDATA")?;
                let text = &rest[9..9 + end];
                if !text.trim_ascii().is_empty() && out.text.len() < limits.max_args {
                    out.text.push(text.to_vec());
                }
                i += 9 + end + 3;
                continue;
            }
            if rest.starts_with(b"<!DOCTYPE") || rest.starts_with(b"<!doctype") {
                let end = doctype_end(rest).ok_or("XML parsing error: unclosed DOCTYPE")?;
                if memchr::memmem::find(&rest[..end], b"<!ENTITY").is_some() {
                    return Err("XML parsing error: entity declarations are refused".into());
                }
                i += end;
                continue;
            }
            let end = tag_end(rest).ok_or("XML parsing error: unclosed tag")?;
            let tag = &rest[1..end];
            i += end + 1;
            if tag.starts_with(b"?") || tag.starts_with(b"!") {
                continue;
            }
            if let Some(name) = tag.strip_prefix(b"/") {
                let name = name.trim_ascii();
                match stack.pop() {
                    Some(open) if open == name => {}
                    _ => return Err("XML parsing error: mismatched closing tag".into()),
                }
                continue;
            }
            if !stack.is_empty() || !seen_element {
                seen_element = true;
            } else {
                return Err("XML parsing error: extra content at the end of the document".into());
            }
            let name_end = tag
                .iter()
                .position(|c| c.is_ascii_whitespace() || *c == b'/')
                .unwrap_or(tag.len());
            let name = tag[..name_end].to_vec();
            if name.is_empty() {
                return Err("XML parsing error: empty tag name".into());
            }
            // Attribute values.
            let mut in_q: Option<u8> = None;
            let mut start = 0;
            for (j, &c) in tag.iter().enumerate().skip(name_end) {
                match in_q {
                    Some(q) if c == q => {
                        if out.attrs.len() < limits.max_args {
                            out.attrs.push(xml_unescape(&tag[start..j]));
                        }
                        in_q = None;
                    }
                    None if c == b'"' || c == b'\'' => {
                        in_q = Some(c);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            if !tag.ends_with(b"/") {
                stack.push(name);
                if stack.len() > limits.max_depth {
                    return Err("XML parsing error: nested too deep".into());
                }
            }
        } else {
            let end = memchr::memchr(b'<', &body[i..]).map_or(body.len(), |p| p + i);
            let text = &body[i..end];
            if !text.trim_ascii().is_empty() {
                if stack.is_empty() {
                    return Err("XML parsing error: text outside the root element".into());
                }
                if out.text.len() < limits.max_args {
                    out.text.push(xml_unescape(text));
                }
            }
            i = end;
        }
    }
    if !seen_element || !stack.is_empty() {
        return Err("XML parsing error: not a complete document".into());
    }
    Ok(out)
}

/// End of a tag (index of `>`), skipping `>` inside quoted attribute values.
fn tag_end(s: &[u8]) -> Option<usize> {
    let mut q: Option<u8> = None;
    for (i, &c) in s.iter().enumerate().skip(1) {
        match q {
            Some(x) if c == x => q = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => q = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// End (exclusive) of a `<!DOCTYPE ...>` with an optional `[...]` internal subset.
fn doctype_end(s: &[u8]) -> Option<usize> {
    let mut depth = 0i32;
    for (i, &c) in s.iter().enumerate() {
        match c {
            b'[' => depth += 1,
            b']' => depth -= 1,
            b'>' if depth <= 0 => return Some(i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes() {
        let x = xml(
            b"<?xml version=\"1.0\"?><a k=\"v&amp;\"><b>t &lt;x</b><!-- c --><c/></a>",
            Limits::default(),
        )
        .unwrap();
        assert_eq!(x.attrs, vec![b"v&".to_vec()]);
        assert_eq!(x.text, vec![b"t <x".to_vec()]);
        assert!(xml(b"<a><b></a>", Limits::default()).is_err());
        assert!(xml(
            b"<!DOCTYPE x [<!ENTITY e \"z\">]><a>&e;</a>",
            Limits::default()
        )
        .is_err());
        assert!(xml(b"not xml", Limits::default()).is_err());
    }
}
