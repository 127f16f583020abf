//! The injection grammar: parses a token stream as the continuation of a SQL query that an
//! injected value would be, and records which SQL constructs it managed to parse.
//!
//! The idea: honest input almost never lexes into *well-formed* SQL beyond a lone value,
//! while an injection must be well-formed to work. So the parser walks the tokens as an
//! expression (operands, binary operators, function calls, `CASE`, sub-selects) followed by
//! statement-level continuations (closing parentheses of the original query, `UNION SELECT`,
//! `ORDER BY`, `;` plus a new statement, a trailing comment) and stops at the first token
//! that cannot continue. What it parsed up to there is summarised as [`Features`]; the
//! verdict over those features is in [`super::verdict`]. There is no table of fingerprints.
//!
//! Recursion (parentheses, function arguments, sub-selects) is bounded by [`MAX_DEPTH`].

use super::lex::{Func, Kw, Tok};

/// Nesting of parentheses and sub-expressions followed.
pub const MAX_DEPTH: u8 = 12;

/// Constructs found in the parsed prefix. Each bit is set only when its construct parsed
/// through its minimal shape (`UNION` alone is not `UNION_SELECT`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Features(pub u32);

impl Features {
    pub const UNION_SELECT: u32 = 1;
    /// `(SELECT …)` inside an expression.
    pub const SUBSELECT: u32 = 1 << 1;
    /// `; <statement>`.
    pub const STACKED: u32 = 1 << 2;
    /// A call of a blind/out-of-band function, or `WAITFOR DELAY`.
    pub const DANGER_FN: u32 = 1 << 3;
    /// A call of a function extraction payloads use.
    pub const KNOWN_FN: u32 = 1 << 4;
    /// `AND`/`OR`/`XOR` with a parsed right operand.
    pub const LOGIC: u32 = 1 << 5;
    /// The right operand of a logic operator started with a literal, not a bare name.
    pub const LOGIC_LITERAL: u32 = 1 << 6;
    pub const CMP: u32 = 1 << 7;
    /// A comparison after a logic operator (`… OR x=y`).
    pub const LOGIC_CMP: u32 = 1 << 8;
    pub const ARITH: u32 = 1 << 9;
    /// `ORDER BY`, `GROUP BY`, `HAVING`, `LIMIT`, `PROCEDURE`, `WHERE` after the value.
    pub const CLAUSE: u32 = 1 << 10;
    /// `ORDER BY`/`GROUP BY`/`LIMIT` with a number: column probing.
    pub const CLAUSE_NUM: u32 = 1 << 11;
    /// `--` or unclosed `/*` ends the value.
    pub const END_COMMENT: u32 = 1 << 12;
    /// `#` ends the value.
    pub const END_HASH: u32 = 1 << 13;
    pub const EVIL: u32 = 1 << 14;
    /// A `)` closing a parenthesis of the original query.
    pub const CLOSE_OUTER: u32 = 1 << 15;
    /// Ends with an unclosed string of the context's quote: the query's own closing quote
    /// will close it (`' or 'a'='a`).
    pub const REQUOTE: u32 = 1 << 16;
    /// A complete statement head: `SELECT … FROM t`, `INSERT INTO t`, `DROP TABLE t` …
    pub const STATEMENT: u32 = 1 << 17;
    /// `;` ends the value.
    pub const SEMI_END: u32 = 1 << 18;
    /// `INTO OUTFILE`/`DUMPFILE`.
    pub const OUTFILE: u32 = 1 << 19;
    /// `IN`/`LIKE`/`BETWEEN`/`IS` and the like.
    pub const WORD_OP: u32 = 1 << 20;
    /// `FROM <table>` parsed.
    pub const FROM: u32 = 1 << 21;
    /// A bare name was parsed as an operand.
    pub const NAME: u32 = 1 << 22;
    /// The value ends with a comment that cuts nothing off (`admin'#`, `1-- `).
    pub const BARE_COMMENT: u32 = 1 << 23;
    /// A known function called inside parentheses: `ascii(substring(user(),1,1))`.
    pub const NESTED_FN: u32 = 1 << 24;

    pub fn has(self, bits: u32) -> bool {
        self.0 & bits != 0
    }
}

/// How the parse started: what the value's first operand was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lead {
    /// The rest of the string the value was injected into.
    ClosedString,
    Number,
    String,
    Name,
    /// A parenthesised expression or a function call.
    Group,
    /// The value starts with an operator, `)` or a clause: it continues an operand the
    /// query supplied.
    Continuation,
    /// The value starts a statement (`SELECT …`, `DROP …`).
    Statement,
}

#[derive(Debug, Clone, Copy)]
pub struct Parse {
    pub lead: Lead,
    pub features: Features,
    /// Tokens parsed before the first one that could not continue.
    pub parsed: usize,
    /// Every token parsed (or the rest was a comment).
    pub complete: bool,
}

struct Parser<'a> {
    t: &'a [Tok],
    i: usize,
    f: u32,
    quote: Option<u8>,
    depth: u8,
    outer_closes: u8,
}

/// Parses `t`, lexed in the context `quote` (`None`: as-is).
pub fn parse(t: &[Tok], quote: Option<u8>) -> Parse {
    let mut p = Parser {
        t,
        i: 0,
        f: 0,
        quote,
        depth: 0,
        outer_closes: 0,
    };
    let (lead, ok) = p.lead();
    if ok {
        p.tail();
    }
    Parse {
        lead,
        features: Features(p.f),
        parsed: p.i,
        complete: p.i >= t.len(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<Tok> {
        self.t.get(self.i).copied()
    }

    fn peek2(&self) -> Option<Tok> {
        self.t.get(self.i + 1).copied()
    }

    fn eat(&mut self, t: Tok) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn set(&mut self, bits: u32) {
        self.f |= bits;
    }

    /// The value's first operand, and whether it parsed (what a failed one found still
    /// counts: `(select count(*) from a t1, b t2` never closes but is no less SQL).
    fn lead(&mut self) -> (Lead, bool) {
        let Some(first) = self.peek() else {
            return (Lead::Name, false);
        };
        if self.quote.is_some() {
            // The lexer put the rest of the open string first.
            self.i = 1;
            return (Lead::ClosedString, true);
        }
        match first {
            Tok::Kw(
                Kw::Select
                | Kw::Insert
                | Kw::Update
                | Kw::Delete
                | Kw::Ddl
                | Kw::Shutdown
                | Kw::Exec
                | Kw::Declare
                | Kw::Waitfor,
            ) => (Lead::Statement, self.statement()),
            Tok::Num => (Lead::Number, self.operand()),
            Tok::Str { .. } => (Lead::String, self.operand()),
            Tok::Name(Func::Any) if self.peek2() != Some(Tok::Open) => (Lead::Name, self.operand()),
            Tok::Open | Tok::Name(_) => (Lead::Group, self.operand()),
            Tok::Sign | Tok::Not => (Lead::Number, self.operand()),
            Tok::Logic
            | Tok::Cmp
            | Tok::Close
            | Tok::Semi
            | Tok::Kw(
                Kw::Union
                | Kw::Order
                | Kw::Group
                | Kw::Having
                | Kw::Limit
                | Kw::Procedure
                | Kw::WordOp,
            ) => (Lead::Continuation, true),
            Tok::Var | Tok::Kw(Kw::Null | Kw::Case | Kw::Prefix) => (Lead::Number, self.operand()),
            _ => (Lead::Name, false),
        }
    }

    /// Statement-level continuations after an operand, until a token that cannot continue.
    fn tail(&mut self) {
        while let Some(t) = self.peek() {
            let ok = match t {
                Tok::EndComment { hash, empty } => {
                    self.i += 1;
                    self.set(if hash {
                        Features::END_HASH
                    } else {
                        Features::END_COMMENT
                    });
                    if empty {
                        self.set(Features::BARE_COMMENT);
                    }
                    return;
                }
                Tok::Evil => {
                    self.i += 1;
                    self.set(Features::EVIL);
                    true
                }
                Tok::Close => {
                    // A parenthesis the original query opened.
                    self.outer_closes += 1;
                    self.i += 1;
                    self.set(Features::CLOSE_OUTER);
                    self.outer_closes <= 8
                }
                Tok::Semi => {
                    self.i += 1;
                    match self.peek() {
                        None | Some(Tok::EndComment { .. }) => {
                            self.set(Features::SEMI_END);
                            true
                        }
                        Some(Tok::Semi) => true,
                        Some(_) => {
                            let before = self.f;
                            let ok = self.statement();
                            if self.f & Features::STATEMENT != 0 {
                                self.set(Features::STACKED);
                            } else {
                                self.f = before | (self.f & Features::DANGER_FN);
                            }
                            ok
                        }
                    }
                }
                Tok::Kw(Kw::Union) => self.union(),
                // T-SQL runs `'; exec …` without the `;` too.
                Tok::Kw(
                    Kw::Exec | Kw::Declare | Kw::Ddl | Kw::Shutdown | Kw::Insert | Kw::Delete,
                )
                | Tok::Kw(Kw::Select | Kw::Update | Kw::Set) => {
                    let ok = self.statement();
                    if self.f & Features::STATEMENT != 0 {
                        self.set(Features::STACKED);
                    }
                    ok
                }
                Tok::Kw(Kw::Begin) => {
                    self.i += 1;
                    true
                }
                // `x' sleep(5) '` once `+` was decoded to a space: the call is the point.
                Tok::Open | Tok::Name(Func::Danger) => self.operand(),
                Tok::Kw(Kw::Order | Kw::Group) => {
                    self.i += 1;
                    self.eat(Tok::Kw(Kw::By)) && self.by_list()
                }
                Tok::Kw(Kw::Having | Kw::Where) => {
                    self.i += 1;
                    let ok = self.expr();
                    if ok {
                        self.set(Features::CLAUSE);
                    }
                    ok
                }
                Tok::Kw(Kw::Limit) => {
                    self.i += 1;
                    let ok = self.eat(Tok::Num)
                        && (!(self.eat(Tok::Comma) || self.eat(Tok::Kw(Kw::Offset)))
                            || self.eat(Tok::Num));
                    if ok {
                        self.set(Features::CLAUSE | Features::CLAUSE_NUM);
                    }
                    ok
                }
                Tok::Kw(Kw::Offset) => {
                    self.i += 1;
                    self.eat(Tok::Num)
                }
                Tok::Kw(Kw::Procedure) => {
                    self.i += 1;
                    let ok = matches!(self.peek(), Some(Tok::Name(_))) && self.operand();
                    if ok {
                        self.set(Features::CLAUSE);
                    }
                    ok
                }
                Tok::Kw(Kw::Into) => self.into(),
                Tok::Kw(Kw::From) => self.from(),
                Tok::Kw(Kw::Join) => {
                    while self.eat(Tok::Kw(Kw::Join)) {}
                    self.table_ref()
                }
                Tok::Kw(Kw::On) => {
                    self.i += 1;
                    self.expr()
                }
                Tok::Kw(Kw::Waitfor) => self.waitfor(),
                Tok::Kw(Kw::As) => {
                    self.i += 1;
                    matches!(self.peek(), Some(Tok::Name(_) | Tok::Str { .. })) && {
                        self.i += 1;
                        true
                    }
                }
                Tok::Kw(Kw::Dir) => {
                    self.i += 1;
                    true
                }
                Tok::Comma => {
                    // `…' , (select …))`: a value inside a list the query built.
                    self.i += 1;
                    self.expr()
                }
                _ => self.binop_operand(),
            };
            if !ok {
                return;
            }
        }
    }

    fn union(&mut self) -> bool {
        self.i += 1;
        self.eat(Tok::Kw(Kw::All));
        let mut opens = 0;
        while self.eat(Tok::Open) {
            opens += 1;
        }
        if opens > 4 || !self.eat(Tok::Kw(Kw::Select)) {
            return false;
        }
        self.set(Features::UNION_SELECT);
        self.select_body()
    }

    fn by_list(&mut self) -> bool {
        let num = self.peek() == Some(Tok::Num);
        let ok = self.expr_list();
        if ok {
            self.set(Features::CLAUSE);
            if num {
                self.set(Features::CLAUSE_NUM);
            }
        }
        ok
    }

    fn into(&mut self) -> bool {
        self.i += 1;
        if self.eat(Tok::Kw(Kw::Outfile)) {
            let ok = matches!(self.peek(), Some(Tok::Str { .. }));
            if ok {
                self.i += 1;
                self.set(Features::OUTFILE);
            }
            return ok;
        }
        matches!(self.peek(), Some(Tok::Var)) && self.expr_list()
    }

    fn from(&mut self) -> bool {
        self.i += 1;
        let ok = self.table_ref();
        if ok {
            self.set(Features::FROM);
        }
        while ok && self.eat(Tok::Comma) {
            if !self.table_ref() {
                return false;
            }
        }
        ok
    }

    fn table_ref(&mut self) -> bool {
        match self.peek() {
            Some(Tok::Name(_) | Tok::Kw(Kw::Object)) => {
                self.i += 1;
                // `AS alias` or a bare alias (`from users u`).
                let alias = self.eat(Tok::Kw(Kw::As));
                if matches!(self.peek(), Some(Tok::Name(_))) {
                    self.i += 1;
                    return true;
                }
                !alias
            }
            Some(Tok::Open) => self.operand(),
            _ => false,
        }
    }

    fn waitfor(&mut self) -> bool {
        self.i += 1;
        let ok = self.eat(Tok::Kw(Kw::Delay)) && matches!(self.peek(), Some(Tok::Str { .. }));
        if ok {
            self.i += 1;
            self.set(Features::DANGER_FN | Features::STATEMENT);
        }
        ok
    }

    /// A statement head; sets `STATEMENT` when its minimal shape parsed.
    fn statement(&mut self) -> bool {
        let Some(Tok::Kw(kw)) = self.peek() else {
            return false;
        };
        self.i += 1;
        match kw {
            Kw::Select => {
                let start = self.f;
                let ok = self.select_body();
                let strong = Features::KNOWN_FN | Features::DANGER_FN | Features::SUBSELECT;
                if ok && (self.peek() == Some(Tok::Kw(Kw::From)) || (self.f & !start) & strong != 0)
                {
                    if self.peek() == Some(Tok::Kw(Kw::From)) {
                        let ok = self.from();
                        if ok {
                            self.set(Features::STATEMENT);
                        }
                        return ok;
                    }
                    self.set(Features::STATEMENT);
                }
                ok
            }
            Kw::Insert => {
                let ok = self.eat(Tok::Kw(Kw::Into)) && matches!(self.peek(), Some(Tok::Name(_)));
                if ok {
                    self.i += 1;
                    self.set(Features::STATEMENT);
                }
                ok
            }
            Kw::Update => {
                let ok = matches!(self.peek(), Some(Tok::Name(_)))
                    && self.peek2() == Some(Tok::Kw(Kw::Set));
                if ok {
                    self.i += 2;
                    self.set(Features::STATEMENT);
                    return self.expr_list();
                }
                ok
            }
            Kw::Delete => {
                let ok = self.eat(Tok::Kw(Kw::From)) && matches!(self.peek(), Some(Tok::Name(_)));
                if ok {
                    self.i += 1;
                    self.set(Features::STATEMENT);
                }
                ok
            }
            Kw::Ddl => {
                let ok = self.eat(Tok::Kw(Kw::Object))
                    && matches!(self.peek(), Some(Tok::Name(_) | Tok::Var));
                if ok {
                    self.i += 1;
                    self.set(Features::STATEMENT);
                }
                ok
            }
            Kw::Shutdown => {
                let ok = matches!(self.peek(), None | Some(Tok::EndComment { .. } | Tok::Semi));
                if ok {
                    self.set(Features::STATEMENT);
                }
                ok
            }
            Kw::Exec => {
                let ok = matches!(self.peek(), Some(Tok::Name(_) | Tok::Var | Tok::Open));
                if ok {
                    self.set(Features::STATEMENT);
                    if let Some(Tok::Name(Func::Danger)) = self.peek() {
                        self.set(Features::DANGER_FN);
                    }
                    self.i += 1;
                    if matches!(self.peek(), Some(Tok::Str { .. } | Tok::Var | Tok::Num)) {
                        return self.expr_list();
                    }
                }
                ok
            }
            Kw::Declare => {
                let ok = matches!(self.peek(), Some(Tok::Var));
                if ok {
                    self.i += 1;
                    self.set(Features::STATEMENT);
                }
                ok
            }
            Kw::Waitfor => {
                self.i -= 1;
                self.waitfor()
            }
            Kw::Set => {
                let ok = matches!(self.peek(), Some(Tok::Var)) && self.peek2() == Some(Tok::Cmp);
                if ok {
                    self.set(Features::STATEMENT);
                    return self.expr();
                }
                ok
            }
            _ => false,
        }
    }

    /// `[ALL|DISTINCT] [TOP n] list`. A select list the grammar cannot follow (MSSQL's
    /// `cast(a as nvarchar) ':' cast(b …)` once `+` became a space) is skipped to its `FROM`:
    /// `SELECT … FROM table` is SQL whatever sits between.
    fn select_body(&mut self) -> bool {
        self.eat(Tok::Kw(Kw::All));
        if self.eat(Tok::Kw(Kw::Limit)) && !self.eat(Tok::Num) {
            return false;
        }
        self.eat(Tok::Kw(Kw::All));
        let start = self.i;
        if self.expr_list() {
            return true;
        }
        self.i = start;
        let mut depth = 0u8;
        for _ in 0..24 {
            match self.peek() {
                Some(Tok::Kw(Kw::From)) if depth == 0 => return true,
                Some(Tok::Open) => depth = depth.saturating_add(1),
                Some(Tok::Close) if depth == 0 => return false,
                Some(Tok::Close) => depth -= 1,
                None | Some(Tok::EndComment { .. } | Tok::Semi) => return false,
                _ => {}
            }
            self.i += 1;
        }
        false
    }

    fn expr_list(&mut self) -> bool {
        loop {
            if !self.expr() {
                return false;
            }
            if self.eat(Tok::Kw(Kw::As)) {
                if !matches!(self.peek(), Some(Tok::Name(_) | Tok::Str { .. })) {
                    return false;
                }
                self.i += 1;
            }
            if !self.eat(Tok::Comma) {
                return true;
            }
        }
    }

    fn expr(&mut self) -> bool {
        if !self.operand() {
            return false;
        }
        while self.is_binop() {
            if !self.binop_operand() {
                return false;
            }
        }
        true
    }

    fn is_binop(&self) -> bool {
        matches!(
            self.peek(),
            Some(
                Tok::Arith
                    | Tok::Sign
                    | Tok::Star
                    | Tok::Cmp
                    | Tok::Logic
                    | Tok::Not
                    | Tok::Kw(Kw::WordOp | Kw::In | Kw::Is)
            )
        )
    }

    /// A binary operator and its right operand.
    fn binop_operand(&mut self) -> bool {
        let Some(op) = self.peek() else {
            return false;
        };
        let bit = match op {
            Tok::Arith | Tok::Sign | Tok::Star => Features::ARITH,
            Tok::Cmp => Features::CMP,
            Tok::Logic => Features::LOGIC,
            Tok::Kw(Kw::WordOp | Kw::In | Kw::Is) => Features::WORD_OP,
            // `NOT LIKE`, `NOT IN`, `NOT BETWEEN`.
            Tok::Not if matches!(self.peek2(), Some(Tok::Kw(Kw::WordOp | Kw::In | Kw::Is))) => {
                self.i += 1;
                Features::WORD_OP
            }
            _ => return false,
        };
        self.i += 1;
        if op == Tok::Kw(Kw::Is) {
            self.eat(Tok::Not);
        }
        let rhs = self.peek();
        if !self.operand() {
            return false;
        }
        self.set(bit);
        let bare_name = matches!(rhs, Some(Tok::Name(Func::Any)))
            && self.t.get(self.i) != Some(&Tok::Open)
            && self.t.get(self.i.wrapping_sub(1)) == rhs.as_ref();
        if bit == Features::LOGIC && !bare_name {
            self.set(Features::LOGIC_LITERAL);
        }
        if bit == Features::CMP && self.f & Features::LOGIC != 0 {
            self.set(Features::LOGIC_CMP);
        }
        true
    }

    /// Unary prefixes, a primary, and nothing else: binary operators are the caller's.
    fn operand(&mut self) -> bool {
        let mut unary = 0;
        while matches!(
            self.peek(),
            Some(Tok::Sign | Tok::Not | Tok::Kw(Kw::Prefix | Kw::All))
        ) {
            self.i += 1;
            unary += 1;
            if unary > 16 {
                return false;
            }
        }
        let Some(t) = self.peek() else {
            return false;
        };
        self.i += 1;
        match t {
            Tok::Num | Tok::Var | Tok::Kw(Kw::Null) => true,
            Tok::Str { closed, quote } => {
                if !closed {
                    // Only the query's own closing quote can end it.
                    let ok = self.quote == Some(quote);
                    if ok {
                        self.set(Features::REQUOTE);
                    }
                    return ok;
                }
                // Adjacent strings concatenate.
                while let Some(Tok::Str { closed: true, .. }) = self.peek() {
                    self.i += 1;
                }
                true
            }
            Tok::Star => matches!(
                self.peek(),
                None | Some(Tok::Comma | Tok::Close | Tok::Kw(Kw::From))
            ),
            // Keywords that are also functions: `user()`, `database()`, `left(…)`.
            Tok::Kw(Kw::Object | Kw::Insert | Kw::Join | Kw::Delay | Kw::WordOp)
                if self.peek() == Some(Tok::Open) =>
            {
                self.i += 1;
                self.call(Func::Known)
            }
            Tok::Name(class) => {
                if self.peek() != Some(Tok::Open) {
                    self.set(Features::NAME);
                    return true;
                }
                self.i += 1;
                self.call(class)
            }
            Tok::Open => self.group_rest(),
            Tok::Kw(Kw::Case) => self.case(),
            _ => false,
        }
    }

    /// After `name(`: the arguments and `)`.
    fn call(&mut self, class: Func) -> bool {
        {
            {
                // The call decides even if its arguments are junk: `sleep(20.to_i)`.
                match class {
                    Func::Danger => self.set(Features::DANGER_FN),
                    Func::Known if self.depth > 0 => {
                        self.set(Features::KNOWN_FN | Features::NESTED_FN)
                    }
                    Func::Known => self.set(Features::KNOWN_FN),
                    Func::Any => {}
                }
                self.group_rest()
            }
        }
    }

    /// After `(`: a sub-select, an expression list, or nothing, then `)`. The value may end
    /// inside: the query's own `)` closes it.
    fn group_rest(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            return false;
        }
        self.depth += 1;
        let ok = if self.eat(Tok::Close) {
            true
        } else {
            let ok = if self.peek() == Some(Tok::Kw(Kw::Select)) {
                self.i += 1;
                self.sub_select()
            } else {
                self.expr_list() && self.substring_range()
            };
            ok && (self.eat(Tok::Close) || self.peek().is_none())
        };
        self.depth -= 1;
        ok
    }

    /// `(SELECT …)`: counts as SQL when it reads from a table or calls a function, which
    /// "(select one)" in prose does not.
    fn sub_select(&mut self) -> bool {
        let before = self.f;
        self.f &= !(Features::FROM | Features::KNOWN_FN | Features::DANGER_FN);
        let ok = self.select_body() && self.select_clauses();
        if self.f & (Features::FROM | Features::KNOWN_FN | Features::DANGER_FN) != 0 {
            self.set(Features::SUBSELECT);
        }
        self.f |= before;
        ok
    }

    /// `substring(x FROM 1 FOR 2)`.
    fn substring_range(&mut self) -> bool {
        if self.eat(Tok::Kw(Kw::From)) && !self.expr() {
            return false;
        }
        !self.eat(Tok::Kw(Kw::For)) || self.expr()
    }

    /// `FROM`, `WHERE`, `GROUP BY`, `ORDER BY`, `LIMIT` of a sub-select.
    fn select_clauses(&mut self) -> bool {
        loop {
            let ok = match self.peek() {
                Some(Tok::Kw(Kw::From)) => self.from(),
                Some(Tok::Kw(Kw::Where | Kw::Having)) => {
                    self.i += 1;
                    self.expr()
                }
                Some(Tok::Kw(Kw::Group | Kw::Order)) => {
                    self.i += 1;
                    self.eat(Tok::Kw(Kw::By)) && self.expr_list()
                }
                Some(Tok::Kw(Kw::Limit)) => {
                    self.i += 1;
                    self.eat(Tok::Num) && (!self.eat(Tok::Comma) || self.eat(Tok::Num))
                }
                Some(Tok::Kw(Kw::Offset)) => {
                    self.i += 1;
                    self.eat(Tok::Num)
                }
                Some(Tok::Kw(Kw::Dir)) => {
                    self.i += 1;
                    true
                }
                Some(Tok::Kw(Kw::Union)) => self.union(),
                _ => return true,
            };
            if !ok {
                return false;
            }
        }
    }

    fn case(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            return false;
        }
        self.depth += 1;
        let ok = self.case_rest();
        self.depth -= 1;
        ok
    }

    fn case_rest(&mut self) -> bool {
        if self.peek() != Some(Tok::Kw(Kw::When)) && !self.expr() {
            return false;
        }
        let mut arms = 0;
        while self.eat(Tok::Kw(Kw::When)) {
            arms += 1;
            if arms > 16 || !self.expr() || !self.eat(Tok::Kw(Kw::Then)) || !self.expr() {
                return false;
            }
        }
        if self.eat(Tok::Kw(Kw::Else)) && !self.expr() {
            return false;
        }
        arms > 0 && self.eat(Tok::Kw(Kw::End))
    }
}
