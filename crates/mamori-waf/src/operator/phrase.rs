//! `@pm`, `@pmf`/`@pmFromFile`: case-insensitive multi-phrase matching (Aho-Corasick), as
//! ModSecurity's `acmp` does it.
//!
//! `@pm`'s argument is a whitespace-separated list of phrases; it may be wrapped in double
//! quotes, `\` makes the next character literal and `|41 42|` spells bytes in hex (Snort-style
//! content, as ModSecurity's `parse_pm_content` reads it). A phrase file has one phrase per
//! line, kept as written (only a trailing `\r` is dropped); empty lines and lines whose first
//! non-blank character is `#` are skipped. ModSecurity v3 reads one file per `@pmFromFile`;
//! we also accept several, separated by spaces, as v2 did. Files are read once, at compile.

use aho_corasick::{AhoCorasick, MatchKind};
use std::path::Path;

/// A compiled phrase set; a match reports the phrase as written in the list.
#[derive(Debug, Clone)]
pub(crate) struct PhraseSet {
    ac: AhoCorasick,
    phrases: Vec<Vec<u8>>,
}

impl PhraseSet {
    pub(crate) fn new(phrases: Vec<Vec<u8>>) -> Result<PhraseSet, String> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            // acmp stops at the first phrase that ends; a standard search does the same.
            .match_kind(MatchKind::Standard)
            .build(&phrases)
            .map_err(|e| format!("phrase list does not compile: {e}"))?;
        Ok(PhraseSet { ac, phrases })
    }

    /// The first matching phrase, if any.
    pub(crate) fn find(&self, input: &[u8]) -> Option<&[u8]> {
        let m = self.ac.find(input)?;
        self.phrases.get(m.pattern().as_usize()).map(Vec::as_slice)
    }

    pub(crate) fn phrases(&self) -> &[Vec<u8>] {
        &self.phrases
    }
}

/// Splits `@pm`'s argument into phrases.
pub(crate) fn parse_pm_arg(arg: &str) -> Result<Vec<Vec<u8>>, String> {
    let content = parse_content(arg)?;
    Ok(content
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// Snort-style content: optional enclosing quotes, `\x` escapes, `|hex|` bytes.
fn parse_content(arg: &str) -> Result<Vec<u8>, String> {
    let mut s = arg.trim_start().as_bytes();
    if let Some(inner) = s.strip_prefix(b"\"") {
        s = inner.strip_suffix(b"\"").unwrap_or(inner);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut hex = false;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if hex {
            match c {
                b'|' => hex = false,
                b' ' => {}
                _ => {
                    let pair = s.get(i..i + 2).ok_or("odd number of hex digits in |…|")?;
                    let v = std::str::from_utf8(pair)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or("invalid hex digit in |…|")?;
                    out.push(v);
                    i += 1;
                }
            }
        } else {
            match c {
                b'|' => hex = true,
                b'\\' => {
                    if let Some(&n) = s.get(i + 1) {
                        out.push(n);
                        i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        i += 1;
    }
    if hex {
        return Err("unterminated |…| hex content".into());
    }
    Ok(out)
}

/// Reads the phrases of each file named in `arg` (relative to `base_dir`).
pub(crate) fn phrases_from_files(arg: &str, base_dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let mut all = Vec::new();
    for name in arg.split_whitespace() {
        if name.starts_with("https://") || name.starts_with("http://") {
            return Err(format!("{name}: phrase lists from URLs are not supported"));
        }
        let path = base_dir.join(name);
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        all.extend(phrases_from_text(&data));
    }
    // An empty list loads and never matches, as in ModSecurity.
    Ok(all)
}

fn phrases_from_text(data: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    data.split(|&b| b == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let first = line.iter().position(|b| !b.is_ascii_whitespace());
        match first {
            Option::None if line.is_empty() => None,
            Some(f) if line.get(f) == Some(&b'#') => None,
            _ => Some(line.to_vec()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(arg: &str) -> PhraseSet {
        PhraseSet::new(parse_pm_arg(arg).unwrap()).unwrap()
    }

    #[test]
    fn phrases_match_case_insensitively_and_report_the_listed_phrase() {
        let s = set("Select union");
        assert_eq!(s.find(b"x UNION y"), Some(&b"union"[..]));
        assert_eq!(s.find(b"SELECT"), Some(&b"Select"[..]));
        assert_eq!(s.find(b"nothing"), None);
    }

    #[test]
    fn pm_argument_reads_quotes_escapes_and_hex() {
        assert_eq!(
            parse_pm_arg("\"a b\"").unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(parse_pm_arg("|41 42|c").unwrap(), vec![b"ABc".to_vec()]);
        assert_eq!(parse_pm_arg(r"a\|b").unwrap(), vec![b"a|b".to_vec()]);
        assert!(parse_pm_arg("|4").is_err());
    }

    #[test]
    fn phrase_files_skip_comments_and_empty_lines() {
        let text = b"# header\n\nfoo bar\r\n  # indented comment\nbaz#x\n";
        let got: Vec<Vec<u8>> = phrases_from_text(text).collect();
        assert_eq!(got, vec![b"foo bar".to_vec(), b"baz#x".to_vec()]);
    }

    #[test]
    fn phrase_files_resolve_against_the_rule_directory() {
        let dir = mamori_core::scratch::dir("pm");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("list.data"), "nikto\nsqlmap\n").unwrap();
        let phrases = phrases_from_files("list.data", &dir).unwrap();
        assert_eq!(phrases.len(), 2);
        assert!(phrases_from_files("missing.data", &dir).is_err());
        assert!(phrases_from_files("https://example.com/x", &dir).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
