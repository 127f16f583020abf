//! SecLang parser: ModSecurity's rule language read into [`Directive`]s, as CRS v3/v4 and
//! Debian's `modsecurity.conf-recommended` write it.
//!
//! - A directive is a name and its arguments, with the file and line it starts on, so every
//!   later error can point there.
//! - Lines ending in `\` continue on the next line (the backslash and line break are
//!   dropped, the next line's indentation is kept, as ModSecurity does); `#` starts a
//!   comment line.
//! - Arguments are separated by blanks; a double- (or single-) quoted argument may hold
//!   blanks and `\"`; every other backslash is kept as written (regexes need them).
//! - `Include`/`IncludeOptional` take a path or a glob (`rules/*.conf`, `*`/`?`/`[..]` in
//!   any component), relative to the including file; files are read in sorted order;
//!   includes nest at most [`MAX_INCLUDE_DEPTH`] deep. A missing non-glob `Include` is an
//!   error, a missing `IncludeOptional` is not.
//!
//! [`split_actions`], [`parse_targets`] and [`parse_operator`] split a `SecRule`'s three
//! arguments into their parts (syntax only; the engine gives them meaning).
//!
//! Pure: no I/O but reading the files named and included.

use crate::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Includes nest at most this deep.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Longest logical line (after joining continuations).
pub const MAX_LINE: usize = 4 << 20;

/// One directive as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub name: String,
    pub args: Vec<String>,
}

impl Directive {
    /// A load error pointing at this directive.
    pub fn error(&self, word: &str, reason: impl Into<String>) -> Error {
        Error::Load {
            file: self.file.display().to_string(),
            line: self.line,
            word: shorten(word),
            reason: reason.into(),
        }
    }

    /// The directory of the file this directive is in (for `@pmFromFile` and includes).
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }
}

fn shorten(word: &str) -> String {
    if word.chars().count() > 80 {
        let mut s: String = word.chars().take(77).collect();
        s.push_str("...");
        s
    } else {
        word.to_string()
    }
}

/// Reads `path` and everything it includes.
pub fn parse_file(path: &Path) -> Result<Vec<Directive>, Error> {
    let mut out = Vec::new();
    read_file_at(path, &mut out, 0)?;
    Ok(out)
}

/// Parses `text` as if it were the file `name` in `base_dir` (includes resolve there).
pub fn parse_str(text: &str, base_dir: &Path, name: &str) -> Result<Vec<Directive>, Error> {
    let mut out = Vec::new();
    parse_text(text, Arc::new(base_dir.join(name)), &mut out, 0)?;
    Ok(out)
}

fn read_file_at(path: &Path, out: &mut Vec<Directive>, depth: usize) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    parse_text(&text, Arc::new(path.to_path_buf()), out, depth)
}

fn parse_text(
    text: &str,
    file: Arc<PathBuf>,
    out: &mut Vec<Directive>,
    depth: usize,
) -> Result<(), Error> {
    let mut logical = String::new();
    let mut start_line = 0;
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if logical.is_empty() {
            start_line = i + 1;
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            if logical.len() > MAX_LINE {
                return Err(Error::Load {
                    file: file.display().to_string(),
                    line: start_line,
                    word: String::new(),
                    reason: "directive longer than 4 MiB".into(),
                });
            }
            if lines.peek().is_some() {
                continue;
            }
        } else {
            logical.push_str(line);
        }
        let d = tokenize(&logical, &file, start_line)?;
        logical.clear();
        if let Some(d) = d {
            if d.name.eq_ignore_ascii_case("Include")
                || d.name.eq_ignore_ascii_case("IncludeOptional")
            {
                include(&d, out, depth)?;
            } else {
                out.push(d);
            }
        }
    }
    Ok(())
}

fn include(d: &Directive, out: &mut Vec<Directive>, depth: usize) -> Result<(), Error> {
    let optional = d.name.eq_ignore_ascii_case("IncludeOptional");
    let Some(target) = d.args.first() else {
        return Err(d.error(&d.name, "needs a path"));
    };
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(d.error(target, "includes nest too deep"));
    }
    let pattern = if Path::new(target).is_absolute() {
        PathBuf::from(target)
    } else {
        d.dir().join(target)
    };
    let is_glob = target.contains(['*', '?', '[']);
    let files = expand_glob(&pattern);
    if files.is_empty() && !is_glob && !optional {
        return Err(d.error(target, "no such file"));
    }
    for f in files {
        read_file_at(&f, out, depth + 1)?;
    }
    Ok(())
}

/// Files matching a path whose components may hold `*`, `?` and `[...]`; sorted.
pub fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    let comps: Vec<_> = pattern.components().collect();
    for (n, c) in comps.iter().enumerate() {
        let last = n + 1 == comps.len();
        let s = c.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        if s.contains(['*', '?', '[']) {
            for dir in &current {
                let read = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir.as_path()
                };
                let Ok(rd) = std::fs::read_dir(read) else {
                    continue;
                };
                let mut found: Vec<PathBuf> = rd
                    .flatten()
                    .filter(|e| {
                        glob_match(s.as_bytes(), e.file_name().to_string_lossy().as_bytes())
                    })
                    .map(|e| dir.join(e.file_name()))
                    .filter(|p| if last { p.is_file() } else { p.is_dir() })
                    .collect();
                found.sort();
                next.extend(found);
            }
        } else {
            for dir in &current {
                let p = dir.join(c.as_os_str());
                if last && !p.is_file() {
                    continue;
                }
                next.push(p);
            }
        }
        current = next;
    }
    current
}

/// Shell-style matching of one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some(b'?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some(b'[') => {
                let Some(close) = p.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                    return n.first() == Some(&b'[') && go(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let mut set = &p[1..close];
                let neg = matches!(set.first(), Some(b'!' | b'^'));
                if neg {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= (set[i]..=set[i + 2]).contains(&c);
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[close + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(pat, name)
}

/// Splits one logical line into a directive; `None` for a comment or a blank line.
fn tokenize(line: &str, file: &Arc<PathBuf>, line_no: usize) -> Result<Option<Directive>, Error> {
    let mut args: Vec<String> = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        if args.is_empty() && b[i] == b'#' {
            return Ok(None);
        }
        let mut arg = Vec::new();
        if b[i] == b'"' || (b[i] == b'\'' && !args.is_empty()) {
            let q = b[i];
            i += 1;
            let mut closed = false;
            while i < b.len() {
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == q {
                    arg.push(q);
                    i += 2;
                    continue;
                }
                if b[i] == q {
                    closed = true;
                    i += 1;
                    break;
                }
                arg.push(b[i]);
                i += 1;
            }
            if !closed {
                return Err(Error::Load {
                    file: file.display().to_string(),
                    line: line_no,
                    word: shorten(&String::from_utf8_lossy(&arg)),
                    reason: "unterminated quote".into(),
                });
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                arg.push(b[i]);
                i += 1;
            }
        }
        args.push(String::from_utf8_lossy(&arg).into_owned());
    }
    if args.is_empty() {
        return Ok(None);
    }
    let name = args.remove(0);
    Ok(Some(Directive {
        file: file.clone(),
        line: line_no,
        name,
        args,
    }))
}

/// One action as written: `name` or `name:value` (the value unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    pub name: String,
    pub value: Option<String>,
}

/// Splits an action list (`id:1,phase:2,msg:'a, b',t:none`) at commas outside single
/// quotes; `\'` inside quotes is a quote. Values lose their surrounding quotes.
pub fn split_actions(s: &str) -> Vec<ActionSpec> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted && chars.peek() == Some(&'\'') => {
                cur.push('\\');
                cur.push('\'');
                chars.next();
            }
            '\'' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                push_action(&mut out, &cur);
                cur.clear();
            }
            c => cur.push(c),
        }
    }
    push_action(&mut out, &cur);
    out
}

fn push_action(out: &mut Vec<ActionSpec>, raw: &str) {
    let raw = raw.trim();
    if raw.is_empty() {
        return;
    }
    match raw.split_once(':') {
        Some((name, value)) => {
            let v = value.trim();
            let v = match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                Some(inner) => inner.replace("\\'", "'"),
                None => v.replace("\\'", "'"),
            };
            out.push(ActionSpec {
                name: name.trim().to_string(),
                value: Some(v),
            });
        }
        None => out.push(ActionSpec {
            name: raw.to_string(),
            value: None,
        }),
    }
}

/// One target of a rule as written: `ARGS`, `!ARGS:foo`, `&TX:x`, `REQUEST_HEADERS:/^x-/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// `!`: an exclusion.
    pub negated: bool,
    /// `&`: the number of values instead of the values.
    pub count: bool,
    /// The variable's name as written (`ARGS`).
    pub name: String,
    /// After `:`, unquoted; `None` when absent or empty.
    pub selector: Option<String>,
    /// The selector was written `/regex/` (then `selector` is the regex without slashes).
    pub regex: bool,
}

/// Parses a target list: `ARGS|!ARGS:foo|&TX:x|REQUEST_HEADERS:/^x-/|XML:/*`.
pub fn parse_targets(spec: &str) -> Result<Vec<TargetSpec>, String> {
    let mut out = Vec::new();
    for part in split_targets(spec) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (negated, rest) = match part.strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, part),
        };
        let (count, rest) = match rest.strip_prefix('&') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (name, sel) = match rest.split_once(':') {
            Some((n, s)) => (n.trim(), Some(s)),
            None => (rest.trim(), None),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("bad variable name {name:?}"));
        }
        let is_xml = name.eq_ignore_ascii_case("XML");
        let (selector, regex) = match sel.map(str::trim) {
            None | Some("") => (None, false),
            Some(s) if !is_xml && s.len() >= 2 && s.starts_with('/') && s.ends_with('/') => {
                (Some(s[1..s.len() - 1].replace("\\/", "/")), true)
            }
            Some(s) => {
                let s = s
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .unwrap_or(s);
                (Some(s.to_string()), false)
            }
        };
        out.push(TargetSpec {
            negated,
            count,
            name: name.to_string(),
            selector,
            regex,
        });
    }
    if out.is_empty() {
        return Err("no variables".into());
    }
    Ok(out)
}

/// Splits at `|` outside `/regex/` selectors and quotes.
fn split_targets(spec: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = spec.as_bytes();
    let mut start = 0;
    let mut in_re = false;
    let mut in_q = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' if !in_re => in_q = !in_q,
            b'/' if !in_re && !in_q && i > 0 && b[i - 1] == b':' => {
                let name = spec[start..i - 1].trim().trim_start_matches(['!', '&']);
                if !name.eq_ignore_ascii_case("XML") {
                    in_re = true;
                }
            }
            b'\\' if in_re => i += 1,
            b'/' if in_re => in_re = false,
            b'|' if !in_re && !in_q => {
                out.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&spec[start..]);
    out
}

/// A rule's operator as written: `!@rx foo`, `@unconditionalMatch`, or a bare regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSpec {
    pub negated: bool,
    /// Without the `@` (`rx` when the operator was a bare regex).
    pub name: String,
    pub arg: String,
}

/// Parses the operator argument of a `SecRule`.
pub fn parse_operator(text: &str) -> OperatorSpec {
    let t = text.trim_start();
    let (negated, t) = match t.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, t),
    };
    match t.strip_prefix('@') {
        Some(r) => {
            let (name, arg) = match r.find(|c: char| c.is_ascii_whitespace()) {
                Some(p) => (&r[..p], r[p..].trim_start()),
                None => (r, ""),
            };
            OperatorSpec {
                negated,
                name: name.to_string(),
                arg: arg.to_string(),
            }
        }
        None => OperatorSpec {
            negated,
            name: "rx".into(),
            arg: t.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Directive> {
        parse_str(text, Path::new("/tmp"), "x.conf").unwrap()
    }

    #[test]
    fn continuations_quotes_and_comments() {
        let d = parse(
            "# comment\nSecRule ARGS \"@rx a\\\"b\\d\" \\\n    \"id:1,\\\n    phase:2,msg:'x, y'\"\n\n  SecRuleEngine On\r\n",
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].name, "SecRule");
        assert_eq!(d[0].line, 2);
        assert_eq!(d[0].args[1], "@rx a\"b\\d");
        assert_eq!(d[0].args[2], "id:1,    phase:2,msg:'x, y'");
        assert_eq!(d[1].args, vec!["On"]);
        assert_eq!(d[1].line, 6);
    }

    #[test]
    fn actions_split_outside_quotes() {
        let a = split_actions(
            "id:1, phase:2,msg:'a, b',t:none,setvar:'tx.x=+%{tx.y}',chain,msg:'it\\'s'",
        );
        assert_eq!(a[2].value.as_deref(), Some("a, b"));
        assert_eq!(a[4].value.as_deref(), Some("tx.x=+%{tx.y}"));
        assert_eq!(a[5].name, "chain");
        assert_eq!(a[5].value, None);
        assert_eq!(a[6].value.as_deref(), Some("it's"));
    }

    #[test]
    fn targets_with_exclusions_counts_regexes_and_xpath() {
        let t = parse_targets(
            "ARGS|!ARGS:foo|&TX:x|REQUEST_HEADERS:/^x-a|b/|XML:/*|!REQUEST_COOKIES:'/__utm/'",
        )
        .unwrap();
        assert_eq!(t.len(), 6);
        assert!(t[1].negated);
        assert!(t[2].count);
        assert_eq!(t[3].selector.as_deref(), Some("^x-a|b"));
        assert!(t[3].regex);
        assert_eq!(t[4].selector.as_deref(), Some("/*"));
        assert!(!t[4].regex);
        assert_eq!(t[5].selector.as_deref(), Some("/__utm/"));
        assert!(parse_targets("AR GS").is_err());
    }

    #[test]
    fn operators() {
        assert_eq!(
            parse_operator("!@rx ^a b"),
            OperatorSpec {
                negated: true,
                name: "rx".into(),
                arg: "^a b".into()
            }
        );
        assert_eq!(parse_operator("^GET$").name, "rx");
        assert_eq!(parse_operator("@unconditionalMatch").arg, "");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse_str("\nSecRule ARGS \"@rx a", Path::new("/r"), "a.conf").unwrap_err();
        assert!(e.to_string().starts_with("/r/a.conf:2:"), "{e}");
        let e = parse_str("Include nope.conf\n", Path::new("/nonexistent"), "b.conf").unwrap_err();
        assert!(e.to_string().contains("b.conf:1: nope.conf"), "{e}");
        assert!(parse_str(
            "IncludeOptional nope.conf\n",
            Path::new("/nonexistent"),
            "b.conf"
        )
        .is_ok());
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*.conf", b"REQUEST-901.conf"));
        assert!(!glob_match(b"*.conf", b"x.conf.example"));
        assert!(glob_match(b"REQ[A-Z]EST-9??.conf", b"REQUEST-901.conf"));
        assert!(!glob_match(b"*", b".hidden"));
    }
}
