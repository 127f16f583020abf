//! Reading SecLang files into directives: line continuations, comments, quoting, `Include`.
//!
//! A directive is a name and its arguments, with the file and line it starts on so that every
//! later error can point there. Quoting follows ModSecurity: arguments are separated by
//! whitespace; a double-quoted argument may contain spaces and `\"`; every other backslash
//! is kept as written (regular expressions need them). `Include` takes a path or a glob
//! (`rules/*.conf`) relative to the including file; includes nest at most 16 deep.

use super::RuleError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One directive as written.
#[derive(Debug, Clone)]
pub struct Directive {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub name: String,
    pub args: Vec<String>,
}

impl Directive {
    pub fn error(&self, word: &str, reason: impl Into<String>) -> RuleError {
        RuleError::Load {
            file: self.file.display().to_string(),
            line: self.line,
            word: word.to_string(),
            reason: reason.into(),
        }
    }
}

const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_LINE: usize = 1 << 20;

/// Reads `path` (and what it includes).
pub fn read_file(path: &Path, out: &mut Vec<Directive>) -> Result<(), RuleError> {
    read_file_at(path, out, 0)
}

fn read_file_at(path: &Path, out: &mut Vec<Directive>, depth: usize) -> Result<(), RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuleError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_text(&text, Arc::new(path.to_path_buf()), out, depth)
}

/// Parses `text` as if it were the file `name` (includes resolve next to it).
pub fn parse_str(text: &str, name: &Path, out: &mut Vec<Directive>) -> Result<(), RuleError> {
    parse_text(text, Arc::new(name.to_path_buf()), out, 0)
}

fn parse_text(
    text: &str,
    file: Arc<PathBuf>,
    out: &mut Vec<Directive>,
    depth: usize,
) -> Result<(), RuleError> {
    let mut logical = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
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
                return Err(RuleError::Load {
                    file: file.display().to_string(),
                    line: start_line,
                    word: String::new(),
                    reason: "directive longer than 1 MiB".into(),
                });
            }
            continue;
        }
        logical.push_str(line);
        let d = tokenize(&logical, &file, start_line)?;
        logical.clear();
        if let Some(d) = d {
            if d.name.eq_ignore_ascii_case("Include") {
                include(&d, out, depth)?;
            } else {
                out.push(d);
            }
        }
    }
    if !logical.trim().is_empty() {
        if let Some(d) = tokenize(&logical, &file, start_line)? {
            out.push(d);
        }
    }
    Ok(())
}

fn include(d: &Directive, out: &mut Vec<Directive>, depth: usize) -> Result<(), RuleError> {
    let Some(target) = d.args.first() else {
        return Err(d.error("Include", "needs a path"));
    };
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(d.error(target, "includes nest too deep"));
    }
    let base = d.file.parent().unwrap_or(Path::new("."));
    let pattern = if Path::new(target).is_absolute() {
        PathBuf::from(target)
    } else {
        base.join(target)
    };
    let files = expand_glob(&pattern).map_err(|e| d.error(target, e))?;
    if files.is_empty() && !target.contains('*') {
        return Err(d.error(target, "no such file"));
    }
    for f in files {
        read_file_at(&f, out, depth + 1)?;
    }
    Ok(())
}

/// `dir/*.conf`-style globs: a `*` only in the last component.
fn expand_glob(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') {
        return Ok(if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| {
                n.starts_with(prefix)
                    && n.ends_with(suffix)
                    && n.len() >= prefix.len() + suffix.len()
            })
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Splits one logical line into a directive; `None` for a comment.
fn tokenize(
    line: &str,
    file: &Arc<PathBuf>,
    line_no: usize,
) -> Result<Option<Directive>, RuleError> {
    let mut args = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
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
        if b[i] == b'"' || b[i] == b'\'' {
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
                return Err(RuleError::Load {
                    file: file.display().to_string(),
                    line: line_no,
                    word: String::from_utf8_lossy(&arg).chars().take(40).collect(),
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

/// Splits an action list (`id:1,phase:2,msg:'a, b',t:none`) at commas outside single quotes.
pub fn split_actions(s: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted && chars.peek() == Some(&'\'') => {
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

fn push_action(out: &mut Vec<(String, Option<String>)>, raw: &str) {
    let raw = raw.trim();
    if raw.is_empty() {
        return;
    }
    match raw.split_once(':') {
        Some((name, value)) => {
            let v = value.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            out.push((name.trim().to_string(), Some(v.to_string())));
        }
        None => out.push((raw.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Directive> {
        let mut out = Vec::new();
        parse_str(text, Path::new("/tmp/x.conf"), &mut out).unwrap();
        out
    }

    #[test]
    fn continuations_quotes_and_comments() {
        let d = parse(
            "# comment\nSecRule ARGS \"@rx a\\\"b\\d\" \\\n    \"id:1,\\\n    phase:2,msg:'x, y'\"\n\nSecRuleEngine On\n",
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].name, "SecRule");
        assert_eq!(d[0].line, 2);
        assert_eq!(d[0].args[1], "@rx a\"b\\d");
        assert_eq!(d[0].args[2], "id:1,    phase:2,msg:'x, y'");
        assert_eq!(d[1].args, vec!["On"]);
    }

    #[test]
    fn actions_split_outside_quotes() {
        let a = split_actions("id:1, phase:2,msg:'a, b',t:none,setvar:'tx.x=+%{tx.y}',chain");
        assert_eq!(a[2], ("msg".into(), Some("a, b".into())));
        assert_eq!(a[4], ("setvar".into(), Some("tx.x=+%{tx.y}".into())));
        assert_eq!(a[5], ("chain".into(), None));
    }

    #[test]
    fn an_unterminated_quote_names_file_and_line() {
        let mut out = Vec::new();
        let e = parse_str("\nSecRule ARGS \"@rx a", Path::new("/r.conf"), &mut out).unwrap_err();
        assert!(e.to_string().contains("/r.conf:2"), "{e}");
    }
}
