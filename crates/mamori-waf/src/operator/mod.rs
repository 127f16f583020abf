//! Operators (`@rx`, `@pm`, `@eq`, `@detectSQLi`, ...): compiled once at rule load, then
//! evaluated against each (transformed) variable value.
//!
//! CONTRACT (used by the engine):
//! - [`Operator::compile`]`(name, arg, base_dir)`: `name` without the `@` (case-insensitive,
//!   e.g. `rx`, `pmFromFile`), `arg` the operator argument after macro expansion, `base_dir`
//!   the directory of the rule file (for `@pmFromFile`/`@ipMatchFromFile`). Cheap for the
//!   non-regex operators, because the engine recompiles operators whose argument contains a
//!   macro (`%{tx.allowed_methods}`) per transaction.
//! - [`Operator::eval`]`(input, capture)`: `None` when it does not match; with `capture` the
//!   match carries `captures` (`TX.0` = whole match, `TX.1`... groups; `@detectSQLi` puts
//!   the fingerprint in `TX.0`). Negation (`!@rx`) is the engine's job.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

/// What a matching operator reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpMatch {
    pub captures: Vec<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Operator {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Streq(Vec<u8>),
    Unconditional,
}

impl Operator {
    pub fn compile(name: &str, arg: &str, _base_dir: &Path) -> Result<Operator, OpError> {
        let kind = match name.to_ascii_lowercase().as_str() {
            "streq" => Kind::Streq(arg.as_bytes().to_vec()),
            "unconditionalmatch" => Kind::Unconditional,
            other => return Err(OpError(format!("unsupported operator @{other}"))),
        };
        Ok(Operator { kind })
    }

    pub fn eval(&self, input: &[u8], capture: bool) -> Option<OpMatch> {
        let hit = match &self.kind {
            Kind::Streq(s) => input == s.as_slice(),
            Kind::Unconditional => true,
        };
        hit.then(|| OpMatch {
            captures: if capture {
                vec![input.to_vec()]
            } else {
                Vec::new()
            },
        })
    }
}
