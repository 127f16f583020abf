//! Macro templates: `%{tx.score}`, `%{MATCHED_VAR}`, `%{REQUEST_HEADERS.host}`,
//! `%{rule.id}`... parsed once at load, expanded per transaction.

use super::vars::Var;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(Vec<u8>),
    /// A variable, with a key (lowercase) for collections.
    Var(Var, Option<Vec<u8>>),
    /// `%{rule.id}`, `%{rule.msg}`...: the field name, lowercase.
    Rule(String),
}

/// A string with macros.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    /// Whether the template reads nothing but `TX`, `MATCHED_VAR(S)` and the rule's own
    /// fields.
    pub fn reads_only_tx(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Lit(_) | Part::Rule(_) => true,
            Part::Var(v, _) => matches!(
                v,
                Var::Tx
                    | Var::MatchedVar
                    | Var::MatchedVarName
                    | Var::MatchedVars
                    | Var::MatchedVarsNames
            ),
        })
    }

    pub fn parse(s: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = s;
        let mut lit = Vec::new();
        while let Some(start) = rest.find("%{") {
            lit.extend_from_slice(&rest.as_bytes()[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                lit.extend_from_slice(&rest.as_bytes()[start..]);
                rest = "";
                break;
            };
            let name = after[..end].trim();
            let (coll, key) = match name.split_once(['.', ':']) {
                Some((c, k)) => (c, Some(k)),
                None => (name, None),
            };
            let part = if coll.eq_ignore_ascii_case("rule") {
                key.map(|k| Part::Rule(k.to_ascii_lowercase()))
            } else {
                Var::parse(coll)
                    .map(|v| Part::Var(v, key.map(|k| k.to_ascii_lowercase().into_bytes())))
            };
            match part {
                Some(p) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(p);
                }
                None => lit.extend_from_slice(&rest.as_bytes()[start..start + 2 + end + 1]),
            }
            rest = &after[end + 1..];
        }
        lit.extend_from_slice(rest.as_bytes());
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Template { parts }
    }

    /// The text when there is no macro.
    pub fn literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(b""),
            [Part::Lit(l)] => Some(l),
            _ => None,
        }
    }

    pub fn has_macros(&self) -> bool {
        self.literal().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_macros() {
        let t = Template::parse("a %{tx.Score} b %{MATCHED_VAR}%{rule.id} %{nope.x} %{");
        assert_eq!(
            t.parts,
            vec![
                Part::Lit(b"a ".to_vec()),
                Part::Var(Var::Tx, Some(b"score".to_vec())),
                Part::Lit(b" b ".to_vec()),
                Part::Var(Var::MatchedVar, None),
                Part::Rule("id".into()),
                Part::Lit(b" %{nope.x} %{".to_vec()),
            ]
        );
        assert_eq!(Template::parse("x").literal(), Some(&b"x"[..]));
    }
}
