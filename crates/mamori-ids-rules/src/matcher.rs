//! Inspection of one buffer by one rule's keyword list — the heart of matching.
//!
//! This follows Suricata's `DetectEngineContentInspection`: keywords are tried in rule
//! order; each match moves the buffer position (end of a content or pcre match, target of
//! a byte_jump) that relative keywords (`distance`, `within`, pcre `R`, `relative`) start
//! from. When a later relative keyword fails, an earlier content (if the next keyword is a
//! content with `within`) or pcre (if the next keyword is relative) is retried at its next
//! occurrence. Every step spends from a budget of [`RECURSION_LIMIT`] so that a payload with
//! many partial matches cannot make inspection quadratic without bound.

use crate::bytes::{ByteExtract, ByteJump, ByteTest};
use crate::content::{Content, Num};
use crate::options::Cmp;
use crate::pcre::Pcre;

/// Suricata's default `detect.inspection-recursion-limit`.
pub const RECURSION_LIMIT: u32 = 3000;

/// One keyword in a buffer's inspection list.
#[derive(Debug, Clone)]
pub enum Op {
    Content(Box<Content>),
    Pcre(Box<Pcre>),
    IsDataAt {
        at: Num,
        relative: bool,
        negated: bool,
    },
    ByteTest(Box<ByteTest>),
    ByteJump(Box<ByteJump>),
    ByteExtract(Box<ByteExtract>),
    /// `bsize`, `urilen`: the buffer's length.
    Len(Cmp),
    /// `tls.fingerprint:"..."` and friends: the whole buffer equals this (ASCII case-insensitive).
    Equals(Vec<u8>),
}

impl Op {
    /// Whether the keyword starts from the previous match's end.
    pub fn is_relative(&self) -> bool {
        match self {
            Op::Content(c) => c.is_relative(),
            Op::Pcre(p) => p.relative,
            Op::IsDataAt { relative, .. } => *relative,
            Op::ByteTest(t) => t.relative,
            Op::ByteJump(j) => j.relative,
            Op::ByteExtract(e) => e.relative,
            Op::Len(_) | Op::Equals(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Match,
    NoMatch,
    /// No match, and retrying earlier keywords cannot help.
    Stop,
}

struct Scan<'a, 'v> {
    buf: &'a [u8],
    lower: &'a [u8],
    vars: &'v mut [u64],
    budget: u32,
}

/// Inspect `buf` with `ops`; `lower` is `buf` lower-cased (needed only when a content is `nocase`).
pub fn inspect(ops: &[Op], buf: &[u8], lower: &[u8], vars: &mut [u64]) -> bool {
    let mut s = Scan {
        buf,
        lower,
        vars,
        budget: RECURSION_LIMIT,
    };
    run(ops, 0, 0, &mut s) == Outcome::Match
}

fn next(ops: &[Op], i: usize, pos: usize, s: &mut Scan<'_, '_>) -> Outcome {
    if i + 1 >= ops.len() {
        Outcome::Match
    } else {
        run(ops, i + 1, pos, s)
    }
}

fn run(ops: &[Op], i: usize, cur: usize, s: &mut Scan<'_, '_>) -> Outcome {
    if s.budget == 0 {
        return Outcome::Stop;
    }
    s.budget -= 1;
    let Some(op) = ops.get(i) else {
        return Outcome::Match;
    };
    let len = s.buf.len();
    match op {
        Op::Content(c) => content(ops, i, c, cur, s),
        Op::Pcre(p) => pcre(ops, i, p, cur, s),
        Op::IsDataAt {
            at,
            relative,
            negated,
        } => {
            let at = at.get(s.vars);
            let present = if *relative {
                (cur as i64).saturating_add(at) <= len as i64
            } else {
                at < len as i64
            };
            if present != *negated {
                next(ops, i, cur, s)
            } else {
                Outcome::Stop
            }
        }
        Op::ByteTest(t) => {
            if t.test(s.buf, cur, s.vars) {
                next(ops, i, cur, s)
            } else {
                Outcome::NoMatch
            }
        }
        Op::ByteJump(j) => match j.jump(s.buf, cur, s.vars) {
            Some(p) => next(ops, i, p, s),
            None => Outcome::NoMatch,
        },
        Op::ByteExtract(e) => match e.run(s.buf, cur, s.vars) {
            Some(p) => next(ops, i, p, s),
            None => Outcome::NoMatch,
        },
        Op::Len(cmp) => {
            if cmp.test(len as u64) {
                next(ops, i, cur, s)
            } else {
                Outcome::Stop
            }
        }
        Op::Equals(v) => {
            if s.buf.eq_ignore_ascii_case(v) {
                next(ops, i, cur, s)
            } else {
                Outcome::Stop
            }
        }
    }
}

fn content(ops: &[Op], i: usize, c: &Content, cur: usize, s: &mut Scan<'_, '_>) -> Outcome {
    let len = s.buf.len() as i64;
    let plen = c.pattern.len();
    let relative = c.is_relative();
    let mut retry_from: usize = 0;
    loop {
        let (mut offset, mut depth): (i64, i64);
        if relative {
            offset = cur as i64;
            depth = len;
            let distance = c.distance.map_or(0, |d| d.get(s.vars));
            if c.distance.is_some() {
                offset = if distance < 0 && -distance > offset {
                    0
                } else {
                    offset + distance
                };
            }
            if let Some(w) = c.within {
                let limit = cur as i64 + w.get(s.vars) + distance;
                if depth > limit {
                    depth = limit;
                }
            }
        } else {
            offset = c.offset.map_or(0, |o| o.get(s.vars));
            depth = match c.depth {
                Some(d) => offset.saturating_add(d.get(s.vars)),
                None => len,
            };
        }
        if retry_from != 0 {
            offset = retry_from as i64;
        }
        if depth > len {
            depth = len;
        }
        if offset > depth || depth <= 0 || offset < 0 {
            return if c.negated {
                next(ops, i, cur, s)
            } else {
                Outcome::NoMatch
            };
        }
        let (from, to) = (offset as usize, depth as usize);
        let hay = if c.nocase { s.lower } else { s.buf };
        let found = if c.endswith && to < s.buf.len() {
            None
        } else {
            c.find(hay, from, to)
        };
        let Some(at) = found else {
            if c.negated {
                return next(ops, i, cur, s);
            }
            return if relative {
                Outcome::NoMatch
            } else {
                Outcome::Stop
            };
        };
        let end = at + plen;
        if c.negated {
            if c.endswith && end != s.buf.len() {
                return next(ops, i, cur, s);
            }
            return if !relative && !c.within_next {
                Outcome::Stop
            } else {
                Outcome::NoMatch
            };
        }
        if !c.endswith || end == s.buf.len() {
            if i + 1 >= ops.len() {
                return Outcome::Match;
            }
            match run(ops, i + 1, end, s) {
                Outcome::Match => return Outcome::Match,
                Outcome::Stop => return Outcome::Stop,
                Outcome::NoMatch => {}
            }
            if !c.within_next {
                return Outcome::Stop;
            }
            if s.budget == 0 {
                return Outcome::Stop;
            }
        }
        retry_from = at + 1;
    }
}

fn pcre(ops: &[Op], i: usize, p: &Pcre, cur: usize, s: &mut Scan<'_, '_>) -> Outcome {
    let base = if p.relative { cur } else { 0 };
    let Some(sub) = s.buf.get(base..).filter(|b| !b.is_empty()) else {
        return Outcome::NoMatch;
    };
    if i + 1 >= ops.len() {
        // Last keyword: only whether it matches counts, not where, which the regex
        // answers without locating the match.
        return if p.is_match(sub) != p.negated {
            Outcome::Match
        } else {
            Outcome::NoMatch
        };
    }
    let relative_next = ops.get(i + 1).is_some_and(Op::is_relative);
    let mut start = 0;
    loop {
        let found = p.find_at(sub, start);
        let (pos, retry) = match (found, p.negated) {
            (Some((ms, me)), false) => (base + me, Some(ms + 1)),
            (None, true) => (cur, None),
            _ => return Outcome::NoMatch,
        };
        if !relative_next {
            return next(ops, i, pos, s);
        }
        match next(ops, i, pos, s) {
            Outcome::Match => return Outcome::Match,
            Outcome::Stop => return Outcome::Stop,
            Outcome::NoMatch => {}
        }
        match retry {
            Some(r) if r <= sub.len() && s.budget > 0 => start = r,
            _ => return Outcome::NoMatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::MAX_VARS;

    fn c(pat: &str) -> Content {
        Content::parse("content", &format!("\"{pat}\"")).unwrap()
    }

    fn ops(list: Vec<Content>) -> Vec<Op> {
        let mut v: Vec<Op> = list.into_iter().map(|c| Op::Content(Box::new(c))).collect();
        finish(&mut v);
        v
    }

    fn finish(v: &mut [Op]) {
        let n = v.len();
        for k in 0..n {
            let wn = k + 1 < n && matches!(&v[k + 1], Op::Content(c) if c.within.is_some());
            if let Op::Content(c) = &mut v[k] {
                c.within_next = wn;
                c.finish().unwrap();
            }
        }
    }

    fn hit(ops: &[Op], buf: &[u8]) -> bool {
        let mut vars = [0u64; MAX_VARS];
        inspect(ops, buf, &buf.to_ascii_lowercase(), &mut vars)
    }

    #[test]
    fn offset_and_depth_bound_the_search() {
        let mut a = c("abc");
        a.offset = Some(Num::Lit(2));
        a.depth = Some(Num::Lit(3));
        let o = ops(vec![a]);
        assert!(hit(&o, b"xxabc"));
        assert!(!hit(&o, b"xxxabc"), "outside offset+depth");
        assert!(!hit(&o, b"xabc"), "before offset");
    }

    #[test]
    fn nocase_uses_lowered_buffer() {
        let mut a = c("AbC");
        a.nocase = true;
        assert!(hit(&ops(vec![a]), b"zzABCzz"));
        assert!(!hit(&ops(vec![c("AbC")]), b"zzABCzz"));
    }

    #[test]
    fn distance_and_within_are_relative_to_previous_match() {
        let mut b = c("def");
        b.distance = Some(Num::Lit(1));
        b.within = Some(Num::Lit(4));
        let o = ops(vec![c("abc"), b]);
        assert!(hit(&o, b"abcXdef"));
        assert!(!hit(&o, b"abcdef"), "distance 1 skips one byte");
        assert!(
            hit(&o, b"abcXXdef"),
            "within counts from the previous match plus distance"
        );
        assert!(!hit(&o, b"abcXXXdef"), "outside distance+within");
    }

    #[test]
    fn relative_failure_retries_earlier_occurrence() {
        // First "abc" is followed by junk, the second by "def": Suricata retries.
        let mut b = c("def");
        b.distance = Some(Num::Lit(0));
        b.within = Some(Num::Lit(3));
        let o = ops(vec![c("abc"), b]);
        assert!(hit(&o, b"abcXXXXabcdef"));
        assert!(!hit(&o, b"abcXXXXabcXdef"));
    }

    #[test]
    fn negated_content() {
        let mut n = c("evil");
        n.negated = true;
        assert!(hit(&ops(vec![c("GET"), n.clone()]), b"GET /good"));
        assert!(!hit(&ops(vec![c("GET"), n.clone()]), b"GET /evil"));
        // A negated relative content only looks after the previous match.
        let mut n2 = n.clone();
        n2.distance = Some(Num::Lit(0));
        assert!(hit(&ops(vec![c("GET"), n2]), b"evil GET /good"));
    }

    #[test]
    fn startswith_and_endswith() {
        let mut a = c("GET");
        a.startswith = true;
        let o = ops(vec![a]);
        assert!(hit(&o, b"GET /"));
        assert!(!hit(&o, b" GET /"));
        let mut e = c(".exe");
        e.endswith = true;
        let o = ops(vec![e]);
        assert!(hit(&o, b"/a.exe.exe"));
        assert!(!hit(&o, b"/a.exe?x"));
    }

    #[test]
    fn isdataat_absolute_relative_and_negated() {
        let mut v = ops(vec![c("ab")]);
        v.push(Op::IsDataAt {
            at: Num::Lit(1),
            relative: true,
            negated: true,
        });
        assert!(hit(&v, b"xxab"), "nothing after ab");
        assert!(!hit(&v, b"xxabc"));
        let v = vec![Op::IsDataAt {
            at: Num::Lit(3),
            relative: false,
            negated: false,
        }];
        assert!(hit(&v, b"abcd") && !hit(&v, b"abc"));
    }

    #[test]
    fn pcre_relative_starts_after_previous_match() {
        let mut v = ops(vec![c("id=")]);
        v.push(Op::Pcre(Box::new(Pcre::parse(r#""/^\d+$/R""#).unwrap())));
        assert!(hit(&v, b"?id=123"));
        assert!(!hit(&v, b"?id=12a"));
    }

    #[test]
    fn pcre_retries_when_relative_follower_fails() {
        let mut v = vec![Op::Pcre(Box::new(Pcre::parse(r#""/a./""#).unwrap()))];
        let mut z = c("Z");
        z.distance = Some(Num::Lit(0));
        z.within = Some(Num::Lit(1));
        v.extend(ops(vec![z]));
        assert!(hit(&v, b"abXacZ"));
    }

    #[test]
    fn byte_jump_then_relative_content() {
        let mut v = vec![Op::ByteJump(Box::new(ByteJump::parse("1,0", &[]).unwrap()))];
        let mut z = c("OK");
        z.distance = Some(Num::Lit(0));
        z.within = Some(Num::Lit(2));
        v.extend(ops(vec![z]));
        assert!(hit(&v, b"\x02xxOK"));
        assert!(!hit(&v, b"\x01xxOK"));
    }

    #[test]
    fn recursion_is_bounded() {
        // Many "a" with a within-relative follower that never matches: bounded work.
        let mut b = c("b");
        b.distance = Some(Num::Lit(0));
        b.within = Some(Num::Lit(1));
        let mut b2 = c("c");
        b2.distance = Some(Num::Lit(0));
        b2.within = Some(Num::Lit(1));
        let o = ops(vec![c("a"), b, b2]);
        let buf = b"ab".repeat(100_000);
        assert!(!hit(&o, &buf));
    }

    #[test]
    fn len_and_equals() {
        let v = vec![Op::Len(Cmp::Gt(3))];
        assert!(hit(&v, b"abcd") && !hit(&v, b"abc"));
        let v = vec![Op::Equals(b"ab:cd".to_vec())];
        assert!(hit(&v, b"AB:CD") && !hit(&v, b"ab:cde"));
    }
}
