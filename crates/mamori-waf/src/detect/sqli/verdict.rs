//! The verdict: which [`Features`] of a parsed value make it an injection, depending on
//! how the value started ([`Lead`]).
//!
//! Written as rules a reviewer can argue with, not as a learned table. The principle: a
//! value is an injection when it breaks out of its literal (closes the string, or follows
//! the number with more SQL) *and* what follows changes the query's logic or structure.
//! Plain prose fails the first part (it does not lex into well-formed SQL) or the second (a
//! lone comparison such as `x=1` changes nothing). Constructs that are only suspicious
//! (a tautology, a trailing comment) count only when the whole value parsed: a working
//! injection is well-formed to its end, while prose that happens to start like SQL
//! (`16" or 18"`, `1950' and 60's coats`) breaks down a token later.

use super::grammar::{Features as F, Lead, Parse};

/// Constructs that are an injection wherever they parse.
const STRONG: u32 = F::UNION_SELECT
    | F::SUBSELECT
    | F::STACKED
    | F::DANGER_FN
    | F::EVIL
    | F::STATEMENT
    | F::OUTFILE;

pub fn is_injection(p: &Parse) -> bool {
    let f = p.features;
    if f.has(STRONG) {
        return true;
    }
    if p.parsed < 2 {
        return false;
    }
    let commented = f.has(F::END_COMMENT | F::END_HASH);
    // Parsed to the end: nothing left over that SQL would choke on.
    let clean = p.complete;
    match p.lead {
        // The value closed the string it was put in; whatever SQL follows is injected.
        Lead::ClosedString => {
            clean && f.has(F::LOGIC) && f.has(F::LOGIC_LITERAL | F::LOGIC_CMP | F::KNOWN_FN)
                || clean && f.has(F::CLAUSE)
                // `admin'--`; `#` only when it cuts nothing (`7" #2 needle` is prose).
                || f.has(F::END_COMMENT)
                || f.has(F::END_HASH) && f.has(F::BARE_COMMENT)
                || clean && f.has(F::CMP) && (f.has(F::REQUOTE) || commented)
                || clean && f.has(F::ARITH) && f.has(F::KNOWN_FN)
                || clean && f.has(F::SEMI_END) && f.has(F::CLOSE_OUTER)
                || clean && f.has(F::NESTED_FN)
        }
        Lead::Number | Lead::Group | Lead::Continuation => {
            clean && f.has(F::LOGIC) && f.has(F::CMP | F::KNOWN_FN | F::WORD_OP)
                // Junk after a tautology with extraction functions or a clause is still one
                // (`1 and substring(@@version,1,1)=5//true`, `18 and 1=1 order by 25FALSE`).
                || f.has(F::LOGIC) && f.has(F::CMP) && f.has(F::KNOWN_FN | F::CLAUSE)
                || clean && f.has(F::NESTED_FN)
                // `1--`, `1*1--`; `1#` is too common in prose ("room 1# 2"), and a name
                // before the comment makes it prose or an identifier (`1611-abc--`).
                || f.has(F::END_COMMENT) && !f.has(F::NAME)
                || clean && f.has(F::CLAUSE_NUM)
                || f.has(F::CLAUSE) && commented
                || clean && f.has(F::ARITH) && f.has(F::KNOWN_FN)
                || clean && f.has(F::SEMI_END) && f.has(F::CLOSE_OUTER)
        }
        // A leading string or bare word is usually prose: ask for a comparison after the
        // logic operator.
        Lead::String | Lead::Name => {
            clean && f.has(F::LOGIC_CMP) && (f.has(F::LOGIC_LITERAL) || commented)
                || f.has(F::CLAUSE_NUM) && commented
        }
        Lead::Statement => false,
    }
}
