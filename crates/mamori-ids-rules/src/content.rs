//! `content` and its modifiers: `nocase`, `offset`, `depth`, `distance`, `within`,
//! `startswith`, `endswith`, `fast_pattern`, negation.
//!
//! A pattern is searched with `memchr::memmem`; a `nocase` pattern is stored lower-cased
//! and searched in a lower-cased copy of the buffer that the matcher makes once per buffer
//! per inspection, so no per-byte case folding happens in the search loop.

use memchr::memmem::Finder;

use crate::error::{bail, RResult};

/// The longest content accepted (Suricata's limit is the same order).
pub const MAX_CONTENT_LEN: usize = 65_535;

/// A number written literally or naming a `byte_extract` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Num {
    Lit(i64),
    Var(u8),
}

impl Num {
    pub fn get(self, vars: &[u64]) -> i64 {
        match self {
            Num::Lit(n) => n,
            Num::Var(i) => vars
                .get(i as usize)
                .map_or(0, |&v| v.min(i64::MAX as u64) as i64),
        }
    }
}

/// `fast_pattern` as written on a content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FastPatternSpec {
    /// `fast_pattern:only` (accepted for old rules; the content is still verified).
    pub only: bool,
    /// `fast_pattern:offset,length`: use only this part of the pattern.
    pub part: Option<(usize, usize)>,
}

/// One `content` option with its modifiers.
#[derive(Debug, Clone)]
pub struct Content {
    /// The bytes as written (case preserved).
    pub pattern: Vec<u8>,
    pub nocase: bool,
    pub negated: bool,
    pub offset: Option<Num>,
    pub depth: Option<Num>,
    pub distance: Option<Num>,
    pub within: Option<Num>,
    pub startswith: bool,
    pub endswith: bool,
    pub fast_pattern: Option<FastPatternSpec>,
    /// Set when compiling: the next keyword in the same buffer is a content with `within`
    /// relative to this one, so a failure there is worth retrying at this content's next
    /// occurrence (Suricata's `DETECT_CONTENT_WITHIN_NEXT`).
    pub(crate) within_next: bool,
    finder: Option<Finder<'static>>,
}

impl Content {
    /// Parse a content value: `"abc|0d 0a|"` or `!"abc"`.
    pub fn parse(kw: &str, value: &str) -> RResult<Content> {
        let v = value.trim();
        let (negated, v) = match v.strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, v),
        };
        let pattern = parse_pattern(kw, v)?;
        Ok(Content {
            pattern,
            nocase: false,
            negated,
            offset: None,
            depth: None,
            distance: None,
            within: None,
            startswith: false,
            endswith: false,
            fast_pattern: None,
            within_next: false,
            finder: None,
        })
    }

    /// A literal content (used by `ssh.softwareversion` and tests).
    pub fn literal(pattern: &[u8]) -> Content {
        Content {
            pattern: pattern.to_vec(),
            nocase: false,
            negated: false,
            offset: None,
            depth: None,
            distance: None,
            within: None,
            startswith: false,
            endswith: false,
            fast_pattern: None,
            within_next: false,
            finder: None,
        }
    }

    /// Whether position depends on the previous match (`distance`/`within`).
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }

    /// Check modifier combinations and build the searcher. Called once the rule is parsed.
    pub(crate) fn finish(&mut self) -> RResult<()> {
        let len = self.pattern.len() as i64;
        if (self.offset.is_some() || self.depth.is_some()) && self.is_relative() {
            bail!(
                "content",
                "depth/offset can't be combined with distance/within on the same content"
            );
        }
        if let Some(Num::Lit(d)) = self.depth {
            if d < len {
                bail!(
                    "depth",
                    "depth {d} is smaller than the content length {len}"
                );
            }
        }
        if let Some(Num::Lit(w)) = self.within {
            if w < len {
                bail!(
                    "within",
                    "within {w} is smaller than the content length {len}"
                );
            }
        }
        if let Some(Num::Lit(o)) = self.offset {
            if o < 0 {
                bail!("offset", "negative offset {o}");
            }
        }
        if self.startswith {
            if self.offset.is_some() || self.depth.is_some() || self.is_relative() {
                bail!(
                    "startswith",
                    "can't be combined with offset/depth/distance/within"
                );
            }
            self.depth = Some(Num::Lit(len));
        }
        if let Some(FastPatternSpec {
            part: Some((o, l)), ..
        }) = self.fast_pattern
        {
            if o.checked_add(l).is_none_or(|end| end > self.pattern.len()) || l == 0 {
                bail!(
                    "fast_pattern",
                    "part {o},{l} is outside the content of length {len}"
                );
            }
        }
        let needle = if self.nocase {
            self.pattern.to_ascii_lowercase()
        } else {
            self.pattern.clone()
        };
        self.finder = Some(Finder::new(&needle).into_owned());
        Ok(())
    }

    /// Search `hay` (already lower-cased when `nocase`) between `from` and `to`.
    pub(crate) fn find(&self, hay: &[u8], from: usize, to: usize) -> Option<usize> {
        let window = hay.get(from..to)?;
        match &self.finder {
            Some(f) => f.find(window).map(|p| p + from),
            None => None,
        }
    }

    /// The bytes handed to the prefilter: the `fast_pattern:o,l` part or the whole pattern.
    pub fn fast_bytes(&self) -> &[u8] {
        match self.fast_pattern.and_then(|f| f.part) {
            Some((o, l)) => self.pattern.get(o..o + l).unwrap_or(&self.pattern),
            None => &self.pattern,
        }
    }
}

/// Decode the quoted pattern: text with `\` escapes and `|hex|` sections.
fn parse_pattern(kw: &str, v: &str) -> RResult<Vec<u8>> {
    let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        bail!(kw, "value must be a quoted string, got {v:?}");
    };
    if v.len() < 2 {
        bail!(kw, "unterminated quoted string");
    }
    let mut out = Vec::with_capacity(inner.len());
    let bytes = inner.as_bytes();
    let mut hex = false;
    let mut nibble: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if hex {
            match b {
                b'|' => {
                    if nibble.is_some() {
                        bail!(kw, "odd number of hex digits in |...| section");
                    }
                    hex = false;
                }
                b' ' | b'\t' => {}
                _ => {
                    let Some(d) = (b as char).to_digit(16) else {
                        bail!(kw, "invalid hex digit {:?} in |...| section", b as char);
                    };
                    match nibble.take() {
                        Some(h) => out.push(h << 4 | d as u8),
                        None => nibble = Some(d as u8),
                    }
                }
            }
        } else {
            match b {
                b'|' => hex = true,
                b'\\' => {
                    i += 1;
                    match bytes.get(i) {
                        Some(&n) => out.push(n),
                        None => bail!(kw, "trailing backslash"),
                    }
                }
                b'"' => bail!(kw, "unescaped '\"' inside the pattern"),
                _ => out.push(b),
            }
        }
        i += 1;
    }
    if hex {
        bail!(kw, "unterminated |...| hex section");
    }
    if out.is_empty() {
        bail!(kw, "empty pattern");
    }
    if out.len() > MAX_CONTENT_LEN {
        bail!(kw, "pattern longer than {MAX_CONTENT_LEN} bytes");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_escapes_decode() {
        let c = Content::parse("content", r#""GET |20 2f|x\"y\;|0d0a|""#).unwrap();
        assert_eq!(c.pattern, b"GET  /x\"y;\r\n");
        assert!(!c.negated);
        let n = Content::parse("content", r#"!"abc""#).unwrap();
        assert!(n.negated);
        assert_eq!(n.pattern, b"abc");
    }

    #[test]
    fn bad_patterns_are_rejected_with_reason() {
        for (v, why) in [
            ("abc", "quoted"),
            (r#""|4""#, "hex"),
            (r#""|4|""#, "odd"),
            (r#""|zz|""#, "hex digit"),
            (r#""""#, "empty"),
            (r#""a"b""#, "unescaped"),
        ] {
            let e = Content::parse("content", v).unwrap_err();
            assert!(e.reason.contains(why), "{v}: {}", e.reason);
        }
    }

    #[test]
    fn finish_validates_modifier_combinations() {
        let mut c = Content::parse("content", "\"abcd\"").unwrap();
        c.depth = Some(Num::Lit(2));
        assert!(c.finish().unwrap_err().reason.contains("smaller"));
        let mut c = Content::parse("content", "\"abcd\"").unwrap();
        c.depth = Some(Num::Lit(10));
        c.distance = Some(Num::Lit(0));
        assert!(c.finish().is_err());
        let mut c = Content::parse("content", "\"abcd\"").unwrap();
        c.fast_pattern = Some(FastPatternSpec {
            only: false,
            part: Some((2, 5)),
        });
        assert!(c.finish().is_err());
        let mut c = Content::parse("content", "\"abcd\"").unwrap();
        c.fast_pattern = Some(FastPatternSpec {
            only: false,
            part: Some((1, 2)),
        });
        c.finish().unwrap();
        assert_eq!(c.fast_bytes(), b"bc");
    }

    #[test]
    fn find_respects_window() {
        let mut c = Content::parse("content", "\"ab\"").unwrap();
        c.finish().unwrap();
        assert_eq!(c.find(b"xxabxxab", 0, 8), Some(2));
        assert_eq!(c.find(b"xxabxxab", 3, 8), Some(6));
        assert_eq!(c.find(b"xxabxxab", 3, 7), None);
        assert_eq!(c.find(b"xxab", 5, 4), None);
    }
}
