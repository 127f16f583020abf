//! SQL lexer over untrusted bytes: splits a value into the token kinds the injection grammar
//! ([`super::grammar`]) reasons about.
//!
//! It knows the lexical rules of the dialects attacks target (MySQL, PostgreSQL, MSSQL,
//! Oracle, SQLite) loosely: `'…'`/`"…"` strings with doubled quotes and backslash escapes,
//! back-quoted and `[bracketed]` names, numbers (decimal, float, hex, binary), `@var`,
//! `--`/`#`/`/* */` comments, and MySQL's `/*! … */` whose body MySQL executes, so it is
//! lexed as SQL. It does not keep token text: the grammar only needs kinds, and keeping none
//! means no allocation. It stops after [`MAX_TOKENS`] tokens.

/// Tokens lexed per context; injections show their shape well before this.
pub const MAX_TOKENS: usize = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    Select,
    Union,
    /// `ALL`, `DISTINCT`: optional after `UNION`/`SELECT`.
    All,
    From,
    Where,
    Group,
    Order,
    By,
    Having,
    Limit,
    Offset,
    Into,
    /// `OUTFILE`, `DUMPFILE`.
    Outfile,
    Procedure,
    Insert,
    Update,
    Delete,
    /// `DROP`, `TRUNCATE`, `ALTER`, `CREATE`, `RENAME`, `GRANT`, `REVOKE`.
    Ddl,
    /// `TABLE`, `DATABASE`, `USER`, `VIEW`, `INDEX`, `FUNCTION`, `SCHEMA`, `LOGIN`.
    Object,
    Shutdown,
    Exec,
    Declare,
    Waitfor,
    /// `DELAY`, `TIME` after `WAITFOR`.
    Delay,
    Values,
    Set,
    /// Binary operators spelled as words: `LIKE`, `RLIKE`, `REGEXP`, `BETWEEN`, `DIV`,
    /// `MOD`, `ESCAPE`, `COLLATE`, `SOUNDS`.
    WordOp,
    In,
    Is,
    /// `NULL`, `TRUE`, `FALSE`, `UNKNOWN`, `CURRENT_USER` and the like: literal values.
    Null,
    Case,
    When,
    Then,
    Else,
    End,
    /// `ASC`, `DESC`.
    Dir,
    As,
    /// Unary prefix words: `EXISTS`, `BINARY`, `DISTINCT` in expressions, `INTERVAL`.
    Prefix,
    Join,
    On,
    /// T-SQL `BEGIN`: opens a block of statements.
    Begin,
    For,
}

/// What a name is when called: a function attackers use for blind or error-based
/// extraction (`Danger`), a function common in extraction payloads (`Known`), or anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Any,
    Known,
    Danger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// A string; `closed` is false when it runs to the end of the input.
    Str {
        closed: bool,
        quote: u8,
    },
    Num,
    Name(Func),
    Var,
    Kw(Kw),
    /// `AND`, `OR`, `XOR`, `&&`, `||`.
    Logic,
    /// `NOT`, `!`.
    Not,
    /// `=`, `<>`, `!=`, `<`, `>`, `<=`, `>=`, `<=>`, `:=`.
    Cmp,
    /// `/ % ^ & | << >> ::`: binary only.
    Arith,
    /// `+ - ~`: binary or unary.
    Sign,
    /// `*`: multiplication or "all columns".
    Star,
    Open,
    Close,
    Comma,
    Semi,
    /// A comment running to the end of the input: `--`, `#` (`hash`), or an unclosed `/*`;
    /// `empty` when only whitespace follows its opener.
    EndComment {
        hash: bool,
        empty: bool,
    },
    /// A comment opened inside a comment: a parser-confusion trick, never in honest input.
    Evil,
    /// Anything else (`?`, `\`, `{`, stray `:`): not SQL a value could continue into.
    Other,
}

impl Tok {
    /// The fingerprint letter.
    pub fn letter(self) -> char {
        match self {
            Tok::Str { .. } => 's',
            Tok::Num => '1',
            Tok::Name(Func::Any) => 'n',
            Tok::Name(_) => 'f',
            Tok::Var => 'v',
            Tok::Kw(Kw::Union) => 'U',
            Tok::Kw(Kw::Select) => 'E',
            Tok::Kw(_) => 'k',
            Tok::Logic => '&',
            Tok::Not => '!',
            Tok::Cmp => '=',
            Tok::Arith | Tok::Sign | Tok::Star => 'o',
            Tok::Open => '(',
            Tok::Close => ')',
            Tok::Comma => ',',
            Tok::Semi => ';',
            Tok::EndComment { .. } => 'c',
            Tok::Evil => 'X',
            Tok::Other => '?',
        }
    }
}

/// Fixed-capacity token buffer: lexing allocates nothing.
pub struct Tokens {
    buf: [Tok; MAX_TOKENS],
    len: usize,
    /// A closed `/* … */` was skipped (`UNION/**/SELECT`).
    pub inline_comment: bool,
}

impl Tokens {
    pub fn as_slice(&self) -> &[Tok] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn push(&mut self, t: Tok) -> bool {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = t;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_word(c: u8) -> bool {
    is_word_start(c) || c.is_ascii_digit()
}

fn is_space(c: u8) -> bool {
    // 0xa0: a Latin-1 no-break space, which MySQL accepts as whitespace.
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0 | 0)
}

/// Lexes `s`. With `open_quote`, the value starts inside a string closed by that quote (the
/// injected value continues a quoted literal), so the first token is that string's rest.
pub fn lex(s: &[u8], open_quote: Option<u8>) -> Tokens {
    let mut out = Tokens {
        buf: [Tok::Other; MAX_TOKENS],
        len: 0,
        inline_comment: false,
    };
    let mut i = 0;
    if let Some(q) = open_quote {
        let (end, closed) = string_end(s, 0, q);
        out.push(Tok::Str { closed, quote: q });
        i = end;
    }
    // Inside MySQL's `/*! … */` the closing `*/` is whitespace.
    let mut in_exec_comment = false;
    while let Some(&c) = s.get(i) {
        if out.len >= MAX_TOKENS {
            break;
        }
        let next = s.get(i + 1).copied();
        let tok = match c {
            c if is_space(c) => {
                i += 1;
                continue;
            }
            b'\'' | b'"' => {
                let (end, closed) = string_end(s, i + 1, c);
                i = end;
                Tok::Str { closed, quote: c }
            }
            b'`' => {
                i = memchr::memchr(b'`', s.get(i + 1..).unwrap_or(&[]))
                    .map_or(s.len(), |e| i + e + 2);
                Tok::Name(Func::Any)
            }
            b'[' => {
                // MSSQL's [quoted name]; a lone bracket is not SQL.
                let rest = s.get(i + 1..).unwrap_or(&[]);
                match memchr::memchr(b']', rest) {
                    Some(e) if e < 128 => {
                        i += e + 2;
                        Tok::Name(Func::Any)
                    }
                    _ => {
                        i += 1;
                        Tok::Other
                    }
                }
            }
            b'0'..=b'9' => {
                i = number_end(s, i);
                Tok::Num
            }
            b'.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                i = number_end(s, i);
                Tok::Num
            }
            // MySQL's rule: `--` opens a comment only before whitespace, a control
            // character or the end; `--1` and `--INFANT` are two minus signs. The other
            // dialects are looser, but their attacks write `-- ` too.
            b'-' if next == Some(b'-')
                && s.get(i + 2)
                    .is_none_or(|&n| n <= b' ' || n == b'-' || n == 0xa0) =>
            {
                let empty = rest_is_blank(s, i + 2);
                i = s.len();
                Tok::EndComment { hash: false, empty }
            }
            b'#' => {
                let empty = rest_is_blank(s, i + 1);
                i = s.len();
                Tok::EndComment { hash: true, empty }
            }
            b'/' if next == Some(b'*') => {
                if s.get(i + 2) == Some(&b'!') {
                    // MySQL runs the body of `/*!NNNNN … */`: lex it.
                    i += 3;
                    while s.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    in_exec_comment = true;
                    continue;
                }
                let body = s.get(i + 2..).unwrap_or(&[]);
                match memchr::memmem::find(body, b"*/") {
                    Some(e) => {
                        // Up to and including the closer's `*`: in `/*/*/` the second
                        // opener shares it, and dialects disagree on where that ends.
                        let inner = body.get(..e + 1).unwrap_or(&[]);
                        if memchr::memmem::find(inner, b"/*").is_some() {
                            i += e + 4;
                            Tok::Evil
                        } else {
                            out.inline_comment = true;
                            i += e + 4;
                            continue;
                        }
                    }
                    None => {
                        let empty = rest_is_blank(s, i + 2);
                        i = s.len();
                        Tok::EndComment { hash: false, empty }
                    }
                }
            }
            b'*' if next == Some(b'/') && in_exec_comment => {
                in_exec_comment = false;
                i += 2;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b';' => {
                i += 1;
                Tok::Semi
            }
            b'*' => {
                i += 1;
                Tok::Star
            }
            b'@' => {
                i += 1;
                while s
                    .get(i)
                    .is_some_and(|&c| c == b'@' || c == b'.' || is_word(c))
                {
                    i += 1;
                }
                Tok::Var
            }
            b'=' => {
                i += 1;
                if s.get(i) == Some(&b'=') {
                    i += 1;
                }
                Tok::Cmp
            }
            b'<' | b'>' => {
                i += 1;
                while s.get(i).is_some_and(|&c| matches!(c, b'=' | b'>')) && i < s.len() {
                    i += 1;
                }
                if c == b'<' && s.get(i) == Some(&b'<') || c == b'>' && s.get(i) == Some(&b'>') {
                    i += 1;
                    Tok::Arith
                } else {
                    Tok::Cmp
                }
            }
            b'!' => {
                if next == Some(b'=') || next == Some(b'<') || next == Some(b'>') {
                    i += 2;
                    Tok::Cmp
                } else {
                    i += 1;
                    Tok::Not
                }
            }
            b':' => match next {
                Some(b'=') => {
                    i += 2;
                    Tok::Cmp
                }
                Some(b':') => {
                    i += 2;
                    Tok::Arith
                }
                _ => {
                    i += 1;
                    Tok::Other
                }
            },
            b'|' | b'&' => {
                if next == Some(c) {
                    i += 2;
                    Tok::Logic
                } else {
                    i += 1;
                    Tok::Arith
                }
            }
            b'+' | b'-' | b'~' => {
                i += 1;
                Tok::Sign
            }
            b'/' | b'%' | b'^' => {
                i += 1;
                Tok::Arith
            }
            c if is_word_start(c) => {
                let start = i;
                while s
                    .get(i)
                    .is_some_and(|&c| is_word(c) || c == b'.' && s.get(i + 1) != Some(&b'.'))
                {
                    i += 1;
                }
                // MSSQL's `master..xp_cmdshell`.
                while s.get(i) == Some(&b'.') && s.get(i + 1) == Some(&b'.') {
                    i += 2;
                    while s.get(i).is_some_and(|&c| is_word(c)) {
                        i += 1;
                    }
                }
                let word = s.get(start..i).unwrap_or(&[]);
                // `x'41'`, `N'text'`, `_utf8'text'`: a prefixed string literal.
                if let Some(&q @ (b'\'' | b'"')) = s.get(i) {
                    if string_prefix(word) {
                        let (end, closed) = string_end(s, i + 1, q);
                        i = end;
                        out.push(Tok::Str { closed, quote: q });
                        continue;
                    }
                }
                classify(word)
            }
            _ => {
                i += 1;
                Tok::Other
            }
        };
        out.push(tok);
    }
    out
}

fn rest_is_blank(s: &[u8], from: usize) -> bool {
    s.get(from..).unwrap_or(&[]).iter().all(|&c| is_space(c))
}

fn string_prefix(word: &[u8]) -> bool {
    matches!(word, b"x" | b"X" | b"b" | b"B" | b"n" | b"N" | b"e" | b"E")
        || word.first() == Some(&b'_') && word.len() <= 10
}

/// End of a string whose body starts at `from`, and whether the closing quote was found.
/// Doubled quotes and backslash escapes stay inside.
fn string_end(s: &[u8], from: usize, q: u8) -> (usize, bool) {
    let mut i = from;
    loop {
        let rest = s.get(i..).unwrap_or(&[]);
        match memchr::memchr2(q, b'\\', rest) {
            None => return (s.len(), false),
            Some(p) => {
                let at = i + p;
                // A backslash escapes the next byte; a doubled quote is a quote.
                if s.get(at) == Some(&b'\\') || s.get(at + 1) == Some(&q) {
                    i = at + 2;
                } else {
                    return (at + 1, true);
                }
            }
        }
    }
}

fn number_end(s: &[u8], mut i: usize) -> usize {
    if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'x' | b'X' | b'b' | b'B')) {
        let hex = matches!(s.get(i + 1), Some(b'x' | b'X'));
        let mut j = i + 2;
        while s.get(j).is_some_and(|c| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                matches!(c, b'0' | b'1')
            }
        }) {
            j += 1;
        }
        if j > i + 2 {
            return j;
        }
    }
    while s.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
    }
    i
}

/// Keyword, operator word, or name.
fn classify(word: &[u8]) -> Tok {
    let mut low = [0u8; 32];
    let Some(dst) = low.get_mut(..word.len()) else {
        return Tok::Name(Func::Any);
    };
    for (d, s) in dst.iter_mut().zip(word) {
        *d = s.to_ascii_lowercase();
    }
    let w: &[u8] = dst;
    use Kw::*;
    let kw = match w {
        b"select" => Select,
        b"union" => Union,
        b"all" | b"distinct" | b"distinctrow" => All,
        b"from" => From,
        b"where" => Where,
        b"group" => Group,
        b"order" => Order,
        b"by" => By,
        b"having" => Having,
        b"limit" | b"top" => Limit,
        b"offset" => Offset,
        b"into" => Into,
        b"outfile" | b"dumpfile" => Outfile,
        b"procedure" => Procedure,
        b"insert" | b"replace" => Insert,
        b"update" => Update,
        b"delete" => Delete,
        b"drop" | b"truncate" | b"alter" | b"create" | b"rename" | b"grant" | b"revoke" => Ddl,
        b"table" | b"database" | b"view" | b"index" | b"function" | b"schema" | b"login"
        | b"trigger" => Object,
        b"shutdown" => Shutdown,
        b"exec" | b"execute" => Exec,
        b"declare" => Declare,
        b"waitfor" => Waitfor,
        b"delay" | b"time" => Delay,
        b"values" => Values,
        b"set" => Set,
        b"like" | b"rlike" | b"regexp" | b"ilike" | b"between" | b"div" | b"mod" | b"escape"
        | b"collate" | b"sounds" | b"glob" => WordOp,
        b"in" => In,
        b"is" => Is,
        b"null" | b"true" | b"false" | b"unknown" | b"current_user" | b"session_user"
        | b"system_user" | b"current_date" | b"current_time" | b"current_timestamp" => Null,
        b"case" => Case,
        b"when" => When,
        b"then" => Then,
        b"else" => Else,
        b"end" => End,
        b"asc" | b"desc" => Dir,
        b"as" => As,
        b"exists" | b"binary" | b"interval" => Prefix,
        b"join" | b"inner" | b"outer" | b"cross" | b"natural" | b"straight_join" => Join,
        b"on" | b"using" => On,
        b"begin" => Begin,
        b"for" => For,
        b"and" | b"or" | b"xor" => return Tok::Logic,
        b"not" => return Tok::Not,
        _ => return Tok::Name(function_class(w)),
    };
    Tok::Kw(kw)
}

/// Functions that make a request slow or the server talk: the blind and out-of-band
/// probes. Called anywhere in a value that parses as SQL, they decide on their own.
const DANGER: &[&[u8]] = &[
    b"sleep",
    b"benchmark",
    b"pg_sleep",
    b"load_file",
    b"extractvalue",
    b"updatexml",
    b"name_const",
    b"xp_cmdshell",
    b"sys_exec",
    b"sys_eval",
    b"get_lock",
    b"randomblob",
    b"dbms_pipe.receive_message",
    b"dbms_lock.sleep",
    b"utl_inaddr.get_host_name",
    b"utl_inaddr.get_host_address",
    b"utl_http.request",
    b"ctxsys.drithsx.sn",
    b"dbms_xmlgen.getxml",
    b"pg_read_file",
    b"lo_import",
    b"geometrycollection",
    b"multipoint",
    b"polygon",
    b"linestring",
    b"multipolygon",
    b"multilinestring",
];

/// Functions extraction payloads lean on: string building, metadata, conditionals.
const KNOWN: &[&[u8]] = &[
    b"char",
    b"chr",
    b"nchar",
    b"concat",
    b"concat_ws",
    b"group_concat",
    b"string_agg",
    b"version",
    b"database",
    b"schema",
    b"user",
    b"current_user",
    b"system_user",
    b"session_user",
    b"db_name",
    b"ascii",
    b"ord",
    b"substring",
    b"substr",
    b"mid",
    b"hex",
    b"unhex",
    b"cast",
    b"convert",
    b"if",
    b"iif",
    b"ifnull",
    b"nullif",
    b"isnull",
    b"coalesce",
    b"count",
    b"length",
    b"len",
    b"rand",
    b"floor",
    b"md5",
    b"sha1",
    b"elt",
    b"make_set",
    b"export_set",
    b"row",
    b"exp",
    b"json_keys",
    b"instr",
    b"locate",
    b"position",
    b"left",
    b"right",
    b"reverse",
    b"replace",
    b"lower",
    b"upper",
    b"strcmp",
    b"now",
    b"sysdate",
    b"@@version",
    b"waitfor",
    b"unicode",
    b"to_char",
    b"utl_raw.cast_to_varchar2",
];

fn function_class(w: &[u8]) -> Func {
    if DANGER.contains(&w) {
        Func::Danger
    } else if KNOWN.contains(&w) {
        Func::Known
    } else {
        Func::Any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> String {
        lex(s.as_bytes(), None)
            .as_slice()
            .iter()
            .map(|t| t.letter())
            .collect()
    }

    #[test]
    fn mysql_executable_comment_body_is_lexed_as_sql() {
        assert_eq!(kinds("1 /*!50000union*/ select"), "1UE");
    }

    #[test]
    fn inline_comment_separates_tokens_without_a_token() {
        assert_eq!(kinds("union/**/select"), "UE");
    }

    #[test]
    fn double_dash_before_a_digit_is_negation() {
        assert_eq!(kinds("--1 or 1"), "oo1&1");
        assert_eq!(kinds("1 -- x"), "1c");
        assert_eq!(kinds("a --b"), "noon");
    }

    #[test]
    fn nested_comment_is_evil() {
        assert_eq!(kinds("1 /* /* */ */ 2"), "1Xoo1");
    }

    #[test]
    fn strings_keep_doubled_and_escaped_quotes() {
        assert_eq!(kinds("'it''s' 'a\\'b'"), "ss");
    }

    #[test]
    fn prefixed_strings_are_strings() {
        assert_eq!(kinds("x'41' N'abc' _utf8'x'"), "sss");
    }

    #[test]
    fn token_count_is_bounded() {
        let long = "1,".repeat(1000);
        assert_eq!(lex(long.as_bytes(), None).as_slice().len(), MAX_TOKENS);
    }

    #[test]
    fn dotted_and_mssql_names_are_one_name() {
        assert_eq!(kinds("exec master..xp_cmdshell"), "kn");
        assert_eq!(kinds("dbms_pipe.receive_message(1)"), "f(1)");
    }
}
