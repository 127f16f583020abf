//! The Sigma `condition:` expression: `and`, `or`, `not`, parentheses, `1 of x*`,
//! `all of x*`, `1 of them`, `all of them`, over the rule's selection names.
//!
//! Pure parser: it resolves name patterns against the selections the rule defines and returns
//! an [`Expr`] naming selections; the rule compiler substitutes the compiled selections.
//! Nesting is bounded ([`MAX_DEPTH`]) so a hostile rule cannot exhaust the stack. The old
//! aggregation tail (`| count() by X > N`) is split off by the caller (see `rule.rs`).

/// Deepest parenthesis / `not` nesting accepted.
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Sel(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// `1 of` (also `any of`).
    OneOf,
    AllOf,
    Ident(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let words: Vec<String> = s
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let lw = w.to_ascii_lowercase();
        let next_is_of = words
            .get(i + 1)
            .is_some_and(|n| n.eq_ignore_ascii_case("of"));
        match lw.as_str() {
            "(" => out.push(Tok::LParen),
            ")" => out.push(Tok::RParen),
            "and" => out.push(Tok::And),
            "or" => out.push(Tok::Or),
            "not" => out.push(Tok::Not),
            "1" | "any" if next_is_of => {
                out.push(Tok::OneOf);
                i += 1;
            }
            "all" if next_is_of => {
                out.push(Tok::AllOf);
                i += 1;
            }
            _ if lw.chars().all(|c| c.is_ascii_digit()) && next_is_of => {
                return Err(format!(
                    "`{w} of` is not supported (only `1 of` and `all of`)"
                ));
            }
            _ => out.push(Tok::Ident(w.clone())),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    names: &'a [String],
}

/// Parses `cond` over the selections `names` (in definition order).
pub(crate) fn parse(cond: &str, names: &[String]) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(cond)?,
        pos: 0,
        names,
    };
    let e = p.or(0)?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected `{:?}` in condition", p.toks.get(p.pos)));
    }
    Ok(e)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, String> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, String> {
        let mut items = vec![self.unary(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if depth >= MAX_DEPTH {
            return Err("condition nested too deep".into());
        }
        let Some(t) = self.peek().cloned() else {
            return Err("condition ends early".into());
        };
        self.pos += 1;
        match t {
            Tok::Not => Ok(Expr::Not(Box::new(self.unary(depth + 1)?))),
            Tok::LParen => {
                let e = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("missing `)` in condition".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::OneOf | Tok::AllOf => {
                let Some(Tok::Ident(pat)) = self.peek().cloned() else {
                    return Err("`of` needs a selection name or pattern".into());
                };
                self.pos += 1;
                let sels = self.resolve(&pat)?;
                let items = sels.into_iter().map(Expr::Sel).collect();
                Ok(if t == Tok::OneOf {
                    Expr::Or(items)
                } else {
                    Expr::And(items)
                })
            }
            Tok::Ident(name) => {
                if self.names.contains(&name) {
                    Ok(Expr::Sel(name))
                } else {
                    Err(format!("condition names unknown selection `{name}`"))
                }
            }
            Tok::RParen | Tok::And | Tok::Or => Err(format!("unexpected {t:?} in condition")),
        }
    }

    /// `them` (all selections not starting with `_`) or a name pattern with `*`.
    fn resolve(&self, pat: &str) -> Result<Vec<String>, String> {
        let found: Vec<String> = if pat == "them" {
            self.names
                .iter()
                .filter(|n| !n.starts_with('_'))
                .cloned()
                .collect()
        } else {
            self.names
                .iter()
                .filter(|n| name_glob(pat, n))
                .cloned()
                .collect()
        };
        if found.is_empty() {
            return Err(format!("`of {pat}` matches no selection"));
        }
        Ok(found)
    }
}

/// Selection-name patterns: `*` matches any run of characters.
fn name_glob(pat: &str, name: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i + 1 == parts.len() {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = rest.get(at + part.len()..).unwrap_or(""),
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let n = names(&["a", "b", "c"]);
        let e = parse("a or b and not c", &n).unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::Sel("a".into()),
                Expr::And(vec![
                    Expr::Sel("b".into()),
                    Expr::Not(Box::new(Expr::Sel("c".into())))
                ])
            ])
        );
    }

    #[test]
    fn of_patterns_and_them_expand_to_selections() {
        let n = names(&["selection_img", "selection_cli", "filter_main", "_private"]);
        let e = parse("all of selection_* and not 1 of filter_*", &n).unwrap();
        assert_eq!(
            e,
            Expr::And(vec![
                Expr::And(vec![
                    Expr::Sel("selection_img".into()),
                    Expr::Sel("selection_cli".into())
                ]),
                Expr::Not(Box::new(Expr::Or(vec![Expr::Sel("filter_main".into())])))
            ])
        );
        let them = parse("1 of them", &n).unwrap();
        assert_eq!(
            them,
            Expr::Or(vec![
                Expr::Sel("selection_img".into()),
                Expr::Sel("selection_cli".into()),
                Expr::Sel("filter_main".into())
            ])
        );
    }

    #[test]
    fn bad_conditions_are_errors_not_panics() {
        let n = names(&["a"]);
        assert!(parse("a and", &n).is_err());
        assert!(parse("(a", &n).is_err());
        assert!(parse("b", &n).is_err());
        assert!(parse("1 of x*", &n).is_err());
        let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep, &n).unwrap_err().contains("deep"));
        let nots = format!("{}a", "not ".repeat(500));
        assert!(parse(&nots, &n).is_err());
    }
}
